// Two projects: `unit` runs under Pulumi mocks with no Docker engine;
// `integration` runs host-side code against the real engine and registry
// that test/testbed/setup.sh brings up.
const tsJest = ['ts-jest', { diagnostics: false }];

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests drive a real engine; a deploy with a health gate takes seconds.
  // (Jest reads testTimeout from the top level only; the unit project sets its own below.)
  testTimeout: 180000,
  // With --coverage (npm test): the host agent's lines, which its unit tests
  // against a fake engine must cover; a run below 90% fails.
  collectCoverageFrom: ['<rootDir>/components/service/agent/**/*.ts'],
  coverageReporters: ['text'],
  coverageThreshold: { './components/service/agent/': { lines: 90 } },
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      // 30 s per test and hook: the slowest unit test takes about 12 s on two busy cores
      // (synth CLIs in child processes); a hung evaluation fails in seconds, not minutes.
      setupFilesAfterEnv: ['<rootDir>/test/unit/timeout.setup.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
  ],
};
