/**
 * The unit project's own timeout (jest.config.js): Jest takes `testTimeout`
 * from the top-level config only, where it is the integration tests' 180 s.
 * Applies to every unit test and hook; a test that needs longer says so itself.
 */
export const UNIT_TEST_TIMEOUT_MS = 30000;

jest.setTimeout(UNIT_TEST_TIMEOUT_MS);
