/**
 * A scratch host for the agent's unit tests: the fake engine, scratch roots
 * under the system's temporary folder, a fake clock (a health timeout passes
 * at once), the progress and warning lines collected, a credentials stub, and
 * the real HostLocks on a lock file of its own (abstract unix sockets need no
 * Docker). Specs are rendered with agentSpecJson, as ContainerService does.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { AgentContext } from '../../../components/service/agent/context';
import type { RegistryAuth } from '../../../components/service/agent/engine';
import type { Roots } from '../../../components/service/agent/layout';
import { HostLocks } from '../../../components/service/agent/locks';
import { agentSpecJson, AgentServiceSpec } from '../../../components/service/spec';
import { FakeClock, FakeEngine } from './fakeEngine';
import { FakeProxy } from './fakeProxy';
export { filesUnder } from '../../support/tree';

export const REPOSITORY = 'registry.example.com/berth/web';
export const IMAGES = {
  v1: `${REPOSITORY}@sha256:${'a1'.repeat(32)}`,
  v2: `${REPOSITORY}@sha256:${'b2'.repeat(32)}`,
  v3: `${REPOSITORY}@sha256:${'c3'.repeat(32)}`,
} as const;
export const API_IMAGE = `registry.example.com/berth/api@sha256:${'d4'.repeat(32)}`;
export const HEALTH_CMD = 'wget -q -O /dev/null http://127.0.0.1:8080/health';
export const SECRET = 'not-for-logs-7f3a9c';

export interface TestHost {
  context: AgentContext;
  engine: FakeEngine;
  clock: FakeClock;
  roots: Roots;
  scratch: string;
  /** Every `say` line, in order. */
  out: string[];
  /** Every `warn` text, in order. */
  err: string[];
  /** The references the credentials stub was asked about. */
  credentialRequests: string[];
  locks: HostLocks;
  /** The fake host proxy, with `testHost({ proxy: true })`; its calls go into the engine's too, as `proxy <call>`. */
  proxy?: FakeProxy;
  /**
   * Runs after each pause the agent asks for (`context.sleep`), once the fake clock moved on: what
   * happens on the host meanwhile (another service's deploy reloads the proxy while a drain polls).
   */
  afterSleep?: (ms: number) => void | Promise<void>;
}

const scratches: string[] = [];

export function testHost(options: { lockWaitMs?: number; auth?: RegistryAuth; proxy?: boolean } = {}): TestHost {
  const scratch = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-unit-')));
  scratches.push(scratch);
  const roots: Roots = {
    data: path.join(scratch, 'data'),
    config: path.join(scratch, 'config'),
    state: path.join(scratch, 'state'),
    lockFile: path.join(scratch, 'berth.lock'),
    dockerConfig: path.join(scratch, 'docker'),
  };
  const clock = new FakeClock();
  const engine = new FakeEngine(clock);
  const out: string[] = [];
  const err: string[] = [];
  const credentialRequests: string[] = [];
  const locks = new HostLocks(roots.lockFile);
  const context: AgentContext = {
    engine,
    roots,
    locks,
    lockWaitMs: options.lockWaitMs ?? 5000,
    credentials: async (reference) => {
      credentialRequests.push(reference);
      return options.auth;
    },
    say: (line) => out.push(line),
    warn: (text) => err.push(text),
    sleep: async (ms) => {
      await clock.sleep(ms);
      await host.afterSleep?.(ms);
    },
    now: clock.now,
  };
  const host: TestHost = { context, engine, clock, roots, scratch, out, err, credentialRequests, locks };
  if (options.proxy !== true) {
    return host;
  }
  // The proxy's services folder, as the readiness step makes it (the proxy reads it at start).
  const proxy = new FakeProxy(path.join(scratch, 'proxy', 'services'), engine.calls);
  fs.mkdirSync(proxy.servicesDir, { recursive: true });
  context.proxy = { runtime: proxy, servicesDir: proxy.servicesDir };
  host.proxy = proxy;
  return host;
}

/** Removes every scratch host made so far (call in afterEach). */
export function removeScratchHosts(): void {
  for (const scratch of scratches.splice(0)) {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** A realistic spec of service `web` in `prod`, as a service's config renders it. */
export function webSpec(host: TestHost, version: 'v1' | 'v2' | 'v3', overrides: Partial<AgentServiceSpec> = {}): AgentServiceSpec {
  const env = overrides.env ?? 'prod';
  const name = overrides.name ?? 'web';
  return {
    name,
    env,
    image: IMAGES[version],
    ports: ['8080:8080'],
    volumes: [`${host.roots.data}/${env}/${name}/data:/data`],
    environment: { APP_VERSION: version },
    secretEnvironment: { DB_PASSWORD: SECRET },
    configFile: { content: `version=${version}\n`, target: '/etc/app/application.properties' },
    health: { cmd: HEALTH_CMD, timeoutSeconds: 10 },
    stopTimeoutSeconds: 5,
    ...overrides,
  };
}

export const specText = (spec: AgentServiceSpec): string => agentSpecJson(spec);

/** The audit log's lines. */
export function auditLines(host: TestHost): string[] {
  const file = path.join(host.roots.data, 'berth', 'audit.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((line) => line !== '') : [];
}

export const mode = (file: string): number => fs.statSync(file).mode & 0o777;

