/**
 * berth-agent on a host things happen to, black-box against the bundled agent
 * and the real engines of the test bed: two deploys of one service at once
 * (the second waits for the first's lock; one that cannot get it in time
 * fails and touches nothing), a prune started while a deploy waits for health
 * (it waits for the deploy), the engine restarted under a running service
 * (live-restore: the same container keeps serving), a host the bash agent of
 * earlier releases left (same spec hash, its rollback and history carried
 * over), and bad input a real host can produce (a corrupt current.json, an
 * engine socket that is not there, a command line that is wrong).
 *
 * Each scenario has a scratch host of its own (data, config, state roots and
 * lock set). A deploy held in its health wait is gated: its health command
 * passes only once the test writes /www/go into the new container, so the
 * order of events is the test's, not the clock's.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { agentScriptPath } from '../../components/service/agentScript';
import { USAGE } from '../../components/service/agent/cli';
import { agentSpecJson, AgentServiceSpec } from '../../components/service/spec';
import { listTree } from '../support/tree';
import { freePort } from '../support/ports';
import { buildImage, docker, pushImage, restartSecondEngine, run, RunResult, SECOND_ENGINE_HOST, secondEngineUp, startSecondEngine, TEST_REGISTRY, uniqueName } from '../support/docker';

const AGENT = agentScriptPath();
const BASH_AGENT = path.join(__dirname, '..', 'fixtures', 'agent', 'bash-berth-agent');
const HEALTH = 'wget -q -O - http://127.0.0.1:8080/version';
/** Passes only once the test has written /www/go in the container (openGate). */
const GATED_HEALTH = `test -f /www/go && ${HEALTH}`;
/** Long enough never to run out in a passing run: the test opens the gate well before. */
const GATED_TIMEOUT_SECONDS = 150;
const SECOND_ENGINE_SOCKET = SECOND_ENGINE_HOST.replace(/^unix:\/\//, '');
/** An environment no other test run uses, so `prune --env` touches only this file's containers. */
const ENV = `he${process.pid}`;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-host-events-'));
const run36 = uniqueName('hev').split('-').slice(1).join('-');
const repository = `${TEST_REGISTRY}/berth-it/hev-${run36}`;
type Version = 'v1' | 'v2' | 'v3';
const images = {} as Record<Version, { ref: string; id: string }>;

// --- scratch hosts -------------------------------------------------------------

interface Host {
  /** DOCKER_HOST for the agent and for the test's own docker calls; undefined: the default engine. */
  dockerHost?: string;
  roots: { BERTH_DATA_ROOT: string; BERTH_CONFIG_ROOT: string; BERTH_STATE_ROOT: string; BERTH_LOCK_FILE: string; BERTH_DOCKER_CONFIG: string };
  env: NodeJS.ProcessEnv;
  auditLog: string;
}

function scratchHost(label: string, dockerHost?: string): Host {
  const dir = path.join(scratch, label);
  const roots = {
    BERTH_DATA_ROOT: path.join(dir, 'data'),
    BERTH_CONFIG_ROOT: path.join(dir, 'config'),
    BERTH_STATE_ROOT: path.join(dir, 'state'),
    BERTH_LOCK_FILE: path.join(dir, 'berth.lock'),
    // An empty client config: pulls from the test registry are anonymous, whatever /etc/berth/docker holds.
    BERTH_DOCKER_CONFIG: path.join(dir, 'docker'),
  };
  fs.mkdirSync(roots.BERTH_DATA_ROOT, { recursive: true });
  fs.mkdirSync(roots.BERTH_DOCKER_CONFIG, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...roots };
  delete env.DOCKER_HOST;
  if (dockerHost !== undefined) {
    env.DOCKER_HOST = dockerHost;
  }
  return { dockerHost, roots, env, auditLog: path.join(roots.BERTH_DATA_ROOT, 'berth', 'audit.log') };
}

/** docker against the host's engine; never throws. */
function dockerAt(host: Host, ...args: string[]): RunResult {
  return run('docker', args, { env: host.env });
}

/** docker against the host's engine; trimmed stdout, throws with stderr on failure. */
function dockerOk(host: Host, ...args: string[]): string {
  const result = dockerAt(host, ...args);
  if (result.status !== 0) {
    throw new Error(`docker ${args.join(' ')} failed: ${result.stderr}`);
  }
  return result.stdout.trim();
}

function agent(host: Host, args: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}): RunResult {
  return run(AGENT, args, { input, env: { ...host.env, ...extraEnv } });
}

function bashAgent(host: Host, args: string[], input?: string): RunResult {
  return run('bash', [BASH_AGENT, ...args], { input, env: host.env });
}

// --- agents running in the background --------------------------------------------

interface Running {
  child: ChildProcess;
  /** Whether it has exited. */
  exited(): boolean;
  /** Its result, with `order`: the how-manyth agent of this file to exit. */
  done: Promise<RunResult & { order: number }>;
}

let exits = 0;
const background = new Set<ChildProcess>();

function startAgent(host: Host, args: string[], input = '', extraEnv: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(AGENT, args, { env: { ...host.env, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
  background.add(child);
  let stdout = '';
  let stderr = '';
  let order = 0;
  let exited = false;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.once('exit', () => {
    exited = true;
    order = ++exits;
    background.delete(child);
  });
  const done = new Promise<RunResult & { order: number }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ status: code ?? 1, stdout, stderr, order }));
  });
  child.stdin!.end(input);
  return { child, exited: () => exited, done };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `test` holds, failing after `seconds` (or at once when `alive` says the agent it waits on is gone). */
async function until(what: string, test: () => boolean | Promise<boolean>, seconds = 60, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await test())) {
    if (!alive()) {
      throw new Error(`gave up waiting for ${what}: the agent exited`);
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen within ${seconds}s`);
    }
    await sleep(100);
  }
}

const nextName = (name: string) => `berth-${ENV}-${name}-next`;
const finalName = (name: string) => `berth-${ENV}-${name}`;

/** Waits until `deploy`'s new container runs: the deploy holds its locks and waits for health. */
async function waitInHealthWait(host: Host, name: string, deploy: Running): Promise<void> {
  await until(`${nextName(name)} running`, () => dockerAt(host, 'container', 'inspect', '--format', '{{.State.Running}}', nextName(name)).stdout.trim() === 'true', 60, () => !deploy.exited());
}

/** Lets a gated health check pass. */
function openGate(host: Host, name: string): void {
  dockerOk(host, 'exec', nextName(name), 'touch', '/www/go');
}

/**
 * A pause for a started agent to get as far as it can: a run that does not wait
 * for a lock would finish in it. Only a grace period, never a measured duration.
 */
const GRACE_MS = 2500;

// --- what a host shows ------------------------------------------------------------

async function get(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) {
    throw new Error(`GET ${url} answered ${response.status}`);
  }
  return (await response.text()).trim();
}

const version = (port: number) => get(`http://127.0.0.1:${port}/version`);

/** Containers of the service in ENV: "name id state", sorted. */
function containers(host: Host, name: string): string[] {
  const out = dockerOk(host, 'container', 'ls', '--all', '--no-trunc', '--format', '{{.Names}} {{.ID}} {{.State}}', '--filter', `label=berth.service=${name}`, '--filter', `label=berth.env=${ENV}`);
  return out === '' ? [] : out.split('\n').sort();
}

function containerId(host: Host, name: string): string {
  return dockerOk(host, 'container', 'inspect', '--format', '{{.Id}}', finalName(name));
}

function imageIdOf(host: Host, ref: string): string | undefined {
  const result = dockerAt(host, 'image', 'inspect', '--format', '{{.Id}}', ref);
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Everything a refused or timed-out command must leave exactly as it was. */
function footprint(host: Host, name: string): string {
  return JSON.stringify(
    {
      containers: containers(host, name),
      tags: dockerOk(host, 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', `berth/${name}`).split('\n').sort(),
      state: listTree(host.roots.BERTH_STATE_ROOT),
      config: listTree(host.roots.BERTH_CONFIG_ROOT),
      data: listTree(host.roots.BERTH_DATA_ROOT),
    },
    null,
    1,
  );
}

/** The service's audit lines, without their time and with the test repository shown as R. */
function auditSummary(host: Host, name: string): string[] {
  const text = fs.existsSync(host.auditLog) ? fs.readFileSync(host.auditLog, 'utf8') : '';
  return text
    .split('\n')
    .filter((line) => line.includes(` service=${name} `))
    .map((line) => line.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /, '').split(repository).join('R'));
}

const at = (v: Version) => images[v].ref.replace(repository, 'R');

/** Removes every container of the service and its local tags on the host's engine. */
function cleanUp(host: Host, name: string): void {
  const ids = dockerAt(host, 'container', 'ls', '--all', '--quiet', '--no-trunc', '--filter', `label=berth.service=${name}`).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) {
    dockerAt(host, 'container', 'rm', '-f', ...ids);
  }
  const tags = dockerAt(host, 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `berth/${name}`).stdout.split('\n').filter(Boolean);
  if (tags.length > 0) {
    dockerAt(host, 'image', 'rm', ...tags);
  }
}

// --- the test images --------------------------------------------------------------

/** Serves its version on 8080 from /www, where a gated health check also looks for /www/go. */
function startScript(v: Version): string {
  return ['#!/bin/sh', "trap 'exit 0' TERM", 'mkdir -p /www', `echo ${v} > /www/version`, `echo ${run36} > /www/build`, 'httpd -f -p 8080 -h /www &', 'wait', ''].join('\n');
}

interface SpecOptions extends Partial<AgentServiceSpec> {
  gated?: boolean;
}

function spec(name: string, v: Version, port: number, options: SpecOptions = {}): AgentServiceSpec {
  const { gated, ...overrides } = options;
  return {
    name,
    env: ENV,
    image: images[v].ref,
    ports: [`127.0.0.1:${port}:8080`],
    environment: { APP_VERSION: v },
    health: gated ? { cmd: GATED_HEALTH, timeoutSeconds: GATED_TIMEOUT_SECONDS } : { cmd: HEALTH, timeoutSeconds: 30 },
    stopTimeoutSeconds: 5,
    ...overrides,
  };
}

beforeAll(() => {
  if (!secondEngineUp()) {
    startSecondEngine();
  }
  for (const v of ['v1', 'v2', 'v3'] as const) {
    const tag = `${repository}:${v}`;
    const id = buildImage({ tag, instructions: ['COPY start.sh /start.sh', 'CMD ["sh", "/start.sh"]'], files: { 'start.sh': startScript(v) } });
    images[v] = { ref: `${repository}@${pushImage(tag)}`, id };
    // Only the registry keeps the image: each agent pulls it by digest on its engine.
    docker('image', 'rm', tag);
  }
});

afterAll(async () => {
  for (const child of background) {
    child.kill('SIGKILL');
  }
  // The file restarts the second engine: whatever happened, leave it up for the next test.
  if (!secondEngineUp()) {
    startSecondEngine();
  }
  // (Each scenario cleans up after itself; this catches what a failed one left.)
  for (const engine of [scratchHost('cleanup'), scratchHost('cleanup-b', SECOND_ENGINE_HOST)]) {
    for (const name of names) {
      cleanUp(engine, name);
    }
    dockerAt(engine, 'image', 'rm', ...Object.values(images).map((image) => image.ref));
  }
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** Every service name the file uses, for the final clean-up. */
const names: string[] = [];
function serviceName(label: string): string {
  const name = `hev-${label}-${run36}`;
  names.push(name);
  return name;
}


// --- the scenarios ------------------------------------------------------------------

describe('two deploys of one service at the same time', () => {
  const host = scratchHost('concurrent');
  const name = serviceName('concurrent');
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
  });
  afterAll(() => cleanUp(host, name));

  it('the second waits for the first to finish, then deploys: one container, serving the spec deployed last, both audited', async () => {
    const first = startAgent(host, ['deploy'], agentSpecJson(spec(name, 'v1', port, { gated: true })));
    await waitInHealthWait(host, name, first);
    const second = startAgent(host, ['deploy'], agentSpecJson(spec(name, 'v2', port)));
    await sleep(GRACE_MS);
    // The second is waiting for the lock: it has not touched the first one's container.
    expect(second.exited()).toBe(false);
    expect(first.exited()).toBe(false);
    const waiting = containers(host, name);
    expect(waiting).toEqual([expect.stringMatching(new RegExp(`^${nextName(name)} [0-9a-f]{64} running$`))]);

    openGate(host, name);
    const [one, two] = await Promise.all([first.done, second.done]);
    expect(one.stderr).toBe('');
    expect(one.status).toBe(0);
    expect(one.stdout).toContain(`${ENV}/${name}: now running ${images.v1.ref}`);
    expect(two.stderr).toBe('');
    expect(two.status).toBe(0);
    expect(two.stdout).toContain(`${ENV}/${name}: stopping the old container first: it holds host port(s) ${port}`);
    expect(two.stdout).toContain(`${ENV}/${name}: now running ${images.v2.ref}`);
    expect(one.order).toBeLessThan(two.order);

    const id = containerId(host, name);
    expect(containers(host, name)).toEqual([`${finalName(name)} ${id} running`]);
    expect(waiting[0]).not.toContain(id); // the first deploy's container was replaced by the second's
    expect(dockerOk(host, 'container', 'inspect', '--format', '{{index .Config.Labels "berth.image"}}', id)).toBe(images.v2.ref);
    await expect(version(port)).resolves.toBe('v2');
    expect(imageIdOf(host, `berth/${name}:${ENV}-current`)).toBe(images.v2.id);
    expect(imageIdOf(host, `berth/${name}:${ENV}-previous`)).toBe(images.v1.id);
    expect(auditSummary(host, name)).toEqual([
      `action=deploy service=${name} env=${ENV} from=- to=${at('v1')} result=ok`,
      `action=deploy service=${name} env=${ENV} from=${at('v1')} to=${at('v2')} result=ok`,
    ]);
  });

  it('with BERTH_LOCK_WAIT_SECONDS=1, a deploy that cannot get the lock from one in a long health wait exits 1 and changes nothing', async () => {
    const runningId = containerId(host, name);
    const slow = startAgent(host, ['deploy'], agentSpecJson(spec(name, 'v1', port, { gated: true })));
    await waitInHealthWait(host, name, slow);
    const before = footprint(host, name);

    const impatient = agent(host, ['deploy'], agentSpecJson(spec(name, 'v3', port)), { BERTH_LOCK_WAIT_SECONDS: '1' });
    expect(impatient.stderr).toBe(`berth-agent: error: ${ENV}/${name}: another berth-agent held the lock for 1s\n`);
    expect(impatient.stdout).toBe('');
    expect(impatient.status).toBe(1);
    expect(footprint(host, name)).toBe(before);
    expect(slow.exited()).toBe(false);
    // status takes no lock: it answers while the deploy waits.
    expect(agent(host, ['status', '--json', name]).status).toBe(0);

    openGate(host, name);
    const done = await slow.done;
    expect(done.stderr).toBe('');
    expect(done.status).toBe(0);
    const id = containerId(host, name);
    expect(id).not.toBe(runningId);
    expect(containers(host, name)).toEqual([`${finalName(name)} ${id} running`]);
    await expect(version(port)).resolves.toBe('v1');
    // No line for the deploy that never got the lock; v3 was never even pulled.
    expect(auditSummary(host, name).slice(2)).toEqual([`action=deploy service=${name} env=${ENV} from=${at('v2')} to=${at('v1')} result=ok`]);
    expect(imageIdOf(host, images.v3.ref)).toBeUndefined();
  });
});

describe('a prune started while a deploy waits for health (on the second engine)', () => {
  const host = scratchHost('prune', SECOND_ENGINE_HOST);
  const name = serviceName('prune');
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
  });
  afterAll(() => cleanUp(host, name));

  it('waits for the deploy, then keeps the deployed and the rollback image and prints its summary', async () => {
    for (const v of ['v1', 'v2'] as const) {
      const result = agent(host, ['deploy'], agentSpecJson(spec(name, v, port)));
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    }
    // v1 is only kept by its rollback tag now.
    expect(imageIdOf(host, `berth/${name}:${ENV}-previous`)).toBe(images.v1.id);

    const deploy = startAgent(host, ['deploy'], agentSpecJson(spec(name, 'v3', port, { gated: true })));
    await waitInHealthWait(host, name, deploy);
    const prune = startAgent(host, ['prune', '--env', ENV, '--min-age', '0']);
    await sleep(GRACE_MS);
    expect(prune.exited()).toBe(false);
    expect(deploy.exited()).toBe(false);

    openGate(host, name);
    const deployed = await deploy.done;
    const pruned = await prune.done;
    expect(deployed.stderr).toBe('');
    expect(deployed.status).toBe(0);
    expect(pruned.stderr).toBe('');
    expect(pruned.status).toBe(0);
    // The prune finished after the deploy: it waited for the deploy's lock.
    expect(pruned.order).toBeGreaterThan(deployed.order);
    expect(pruned.stdout).toMatch(
      new RegExp(`^berth-agent: summary: scope=${ENV} removed containers=0 images=[1-9][0-9]* layers=[0-9]+ kept_stopped_containers=0 bytes_freed=[0-9]+ \\(containers=0 images=[0-9]+\\)$`, 'm'),
    );
    // It saw the host as the deploy left it: v1 lost its rollback tag to v2 and went, as dangling.
    expect(pruned.stdout).toContain(`berth-agent: removed image ${images.v1.id} refs=${images.v1.ref}\n`);
    expect(imageIdOf(host, images.v1.ref)).toBeUndefined();

    // The deployed image and the rollback-tagged image survive.
    expect(imageIdOf(host, images.v3.ref)).toBe(images.v3.id);
    expect(imageIdOf(host, images.v2.ref)).toBe(images.v2.id);
    expect(imageIdOf(host, `berth/${name}:${ENV}-current`)).toBe(images.v3.id);
    expect(imageIdOf(host, `berth/${name}:${ENV}-previous`)).toBe(images.v2.id);
    expect(pruned.stdout).not.toContain(images.v2.id);
    expect(pruned.stdout).not.toContain(images.v3.id);
    const id = containerId(host, name);
    expect(containers(host, name)).toEqual([`${finalName(name)} ${id} running`]);
    await expect(version(port)).resolves.toBe('v3');

    // And the rollback the tag kept works without a pull.
    const back = agent(host, ['rollback', name, '--env', ENV]);
    expect(back.stderr).toBe('');
    expect(back.status).toBe(0);
    expect(back.stdout).not.toContain('pulling');
    await expect(version(port)).resolves.toBe('v2');
  });
});

describe('an engine restart (live-restore) while a service runs (on the second engine)', () => {
  const host = scratchHost('restart', SECOND_ENGINE_HOST);
  const name = serviceName('restart');
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
  });
  afterAll(() => cleanUp(host, name));

  it('keeps the same container serving; status and a redeploy find it as they left it', async () => {
    expect(dockerOk(host, 'info', '--format', '{{.LiveRestoreEnabled}}')).toBe('true');
    const deployed = agent(host, ['deploy'], agentSpecJson(spec(name, 'v1', port)));
    expect(deployed.stderr).toBe('');
    expect(deployed.status).toBe(0);
    expect(deployed.stdout).toContain(`pulling ${images.v1.ref}`);
    const inspect = (): { Id: string; State: { Pid: number; StartedAt: string; Running: boolean }; NetworkSettings: { IPAddress: string } } =>
      JSON.parse(dockerOk(host, 'container', 'inspect', finalName(name)))[0];
    const before = inspect();
    expect(before.State.Running).toBe(true);
    await expect(version(port)).resolves.toBe('v1');
    const bridgeUrl = `http://${before.NetworkSettings.IPAddress}:8080/version`;
    const oldPid = Number(fs.readFileSync('/run/berth-host-b.pid', 'utf8'));

    let whileDown: RunResult | undefined;
    const newPid = await restartSecondEngine(async () => {
      // No dockerd: the container itself still serves, on its bridge address.
      await expect(get(bridgeUrl)).resolves.toBe('v1');
      whileDown = agent(host, ['status', '--json']);
    });
    expect(newPid).not.toBe(oldPid);
    expect(whileDown?.status).toBe(1);
    expect(whileDown?.stdout).toBe('');
    expect(whileDown?.stderr).toMatch(new RegExp(`^berth-agent: error: cannot reach the Docker engine at ${SECOND_ENGINE_SOCKET}: (ENOENT|ECONNREFUSED); is dockerd running\\?\n$`));

    // Right after: the published port is served again (the engine restores its port proxy).
    await until(`port ${port} serving again`, () => version(port).then((text) => text === 'v1', () => false), 30);
    const after = inspect();
    expect(after.Id).toBe(before.Id);
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).toBe(before.State.Pid);
    expect(after.State.StartedAt).toBe(before.State.StartedAt);
    expect(containers(host, name)).toEqual([`${finalName(name)} ${before.Id} running`]);

    const status = agent(host, ['status', '--json', '--env', ENV, name]);
    expect(status.stderr).toBe('');
    expect(status.status).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual([{ name, env: ENV, image: images.v1.ref, state: 'running', health: 'healthy', previousImage: '', containerId: before.Id }]);

    const again = agent(host, ['deploy'], agentSpecJson(spec(name, 'v1', port)));
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(`berth-agent: ${ENV}/${name}: already running ${images.v1.ref} with this spec; nothing to do\n`);
    expect(containerId(host, name)).toBe(before.Id);
    await expect(version(port)).resolves.toBe('v1');
  });
});

describe('an upgrade from a host the bash agent left', () => {
  const host = scratchHost('upgrade');
  const name = serviceName('upgrade');
  let port = 0;
  const SECRET = 'not-for-logs-5e1d';
  // Every kind of field, so both agents' canonical forms (and so their spec hashes) are compared.
  const upgradeSpec = (v: Version): AgentServiceSpec =>
    spec(name, v, port, {
      volumes: [`${host.roots.BERTH_DATA_ROOT}/${ENV}/${name}/data:/data`],
      environment: { APP_VERSION: v, ZONE: 'eu é' },
      secretEnvironment: { DB_PASSWORD: SECRET },
      configFile: { content: `version=${v}\n\tquoted="yes"\n`, target: '/etc/app/application.properties' },
      log: { driver: 'json-file', options: { 'max-size': '1m', 'max-file': '2' } },
      memoryMiB: 64,
      pidsLimit: 64,
      restart: 'unless-stopped',
    });

  beforeAll(async () => {
    port = await freePort();
  });
  afterAll(() => cleanUp(host, name));

  it('redeploys the same spec as nothing to do, shows the rollback image, rolls back, keeps the history and removes', async () => {
    for (const v of ['v1', 'v2'] as const) {
      const result = bashAgent(host, ['deploy'], agentSpecJson(upgradeSpec(v)));
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    }
    const stateDir = path.join(host.roots.BERTH_STATE_ROOT, ENV, name);
    expect(fs.existsSync(path.join(stateDir, 'current.json'))).toBe(true);
    expect(fs.existsSync(path.join(stateDir, 'previous.json'))).toBe(true);
    expect(imageIdOf(host, `berth/${name}:${ENV}-current`)).toBe(images.v2.id);
    expect(imageIdOf(host, `berth/${name}:${ENV}-previous`)).toBe(images.v1.id);
    const bashLines = fs.readFileSync(host.auditLog, 'utf8').trim().split('\n');
    expect(bashLines.map((line) => line.replace(/^\S+ /, '').split(repository).join('R'))).toEqual([
      `action=deploy service=${name} env=${ENV} from=- to=${at('v1')} result=ok`,
      `action=deploy service=${name} env=${ENV} from=${at('v1')} to=${at('v2')} result=ok`,
    ]);
    const bashId = containerId(host, name);
    await expect(version(port)).resolves.toBe('v2');

    const same = agent(host, ['deploy'], agentSpecJson(upgradeSpec('v2')));
    expect(same.stderr).toBe('');
    expect(same.status).toBe(0);
    expect(same.stdout).toBe(`berth-agent: ${ENV}/${name}: already running ${images.v2.ref} with this spec; nothing to do\n`);
    expect(containerId(host, name)).toBe(bashId);

    const status = agent(host, ['status', '--json', '--env', ENV, name]);
    expect(status.status).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual([{ name, env: ENV, image: images.v2.ref, state: 'running', health: 'healthy', previousImage: images.v1.ref, containerId: bashId }]);

    const back = agent(host, ['rollback', name, '--env', ENV]);
    expect(back.stderr).toBe('');
    expect(back.status).toBe(0);
    await expect(version(port)).resolves.toBe('v1');
    const rolledId = containerId(host, name);
    expect(rolledId).not.toBe(bashId);
    expect(containers(host, name)).toEqual([`${finalName(name)} ${rolledId} running`]);
    expect(dockerOk(host, 'exec', finalName(name), 'cat', '/etc/app/application.properties')).toBe('version=v1\n\tquoted="yes"');
    expect(dockerOk(host, 'exec', finalName(name), 'sh', '-c', 'echo "$DB_PASSWORD $ZONE"')).toBe(`${SECRET} eu é`);
    expect(imageIdOf(host, `berth/${name}:${ENV}-current`)).toBe(images.v1.id);
    expect(imageIdOf(host, `berth/${name}:${ENV}-previous`)).toBe(images.v2.id);

    const history = agent(host, ['history', name, '--env', ENV]);
    expect(history.stderr).toBe('');
    expect(history.status).toBe(0);
    const lines = history.stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(bashLines);
    expect(lines.slice(2).map((line) => line.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /, '').split(repository).join('R'))).toEqual([
      `action=deploy service=${name} env=${ENV} from=${at('v2')} to=${at('v2')} result=unchanged`,
      `action=rollback service=${name} env=${ENV} from=${at('v2')} to=${at('v1')} result=ok`,
    ]);
    expect(history.stdout + same.stdout + back.stdout + status.stdout).not.toContain(SECRET);

    const removed = agent(host, ['remove', name, '--env', ENV]);
    expect(removed.stderr).toBe('');
    expect(removed.status).toBe(0);
    expect(containers(host, name)).toEqual([]);
    expect(imageIdOf(host, `berth/${name}:${ENV}-current`)).toBeUndefined();
    expect(imageIdOf(host, `berth/${name}:${ENV}-previous`)).toBeUndefined();
    expect(fs.existsSync(stateDir)).toBe(false);
    expect(fs.existsSync(path.join(host.roots.BERTH_CONFIG_ROOT, ENV, name))).toBe(false);
    expect(auditSummary(host, name).at(-1)).toBe(`action=remove service=${name} env=${ENV} from=${at('v1')} to=- result=ok`);
    expect(JSON.parse(agent(host, ['status', '--json', '--env', ENV]).stdout)).toEqual([]);
  });
});

describe('bad input on a real host', () => {
  const host = scratchHost('bad-input');
  const name = serviceName('bad-input');
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
  });
  afterAll(() => cleanUp(host, name));

  it('a corrupt current.json: deploy exits 2 naming its path, the running container is untouched and nothing is created', async () => {
    const first = agent(host, ['deploy'], agentSpecJson(spec(name, 'v1', port)));
    expect(first.status).toBe(0);
    const id = containerId(host, name);
    const current = path.join(host.roots.BERTH_STATE_ROOT, ENV, name, 'current.json');
    fs.writeFileSync(current, '{"name": "garbage", \x00\x01 not json\n');
    const before = footprint(host, name);

    for (const v of ['v2', 'v1'] as const) {
      const result = agent(host, ['deploy'], agentSpecJson(spec(name, v, port)));
      expect(result.stdout).toBe('');
      expect(result.stderr.startsWith(`berth-agent: refused: ${current}: the recorded spec is corrupt; nothing was changed. ${current} is not one valid JSON document: `)).toBe(true);
      expect(result.status).toBe(2);
      expect(footprint(host, name)).toBe(before);
      expect(containerId(host, name)).toBe(id);
      expect(containers(host, name)).toEqual([`${finalName(name)} ${id} running`]);
      await expect(version(port)).resolves.toBe('v1');
    }
    expect(imageIdOf(host, `berth/${name}:${ENV}-current`)).toBe(images.v1.id);
    expect(auditSummary(host, name)).toEqual([`action=deploy service=${name} env=${ENV} from=- to=${at('v1')} result=ok`]);
  });

  it('an unreachable Docker socket: status and deploy exit 1 naming the socket', () => {
    const nowhere = { DOCKER_HOST: 'unix:///nonexistent.sock' };
    const message = 'berth-agent: error: cannot reach the Docker engine at /nonexistent.sock: ENOENT; is dockerd running?\n';
    // (A service with a readable state: the corrupt one above is refused before the engine is asked.)
    const other = serviceName('no-engine');
    const audit = () => (fs.existsSync(host.auditLog) ? fs.readFileSync(host.auditLog, 'utf8') : '');
    const before = audit();
    const status = agent(host, ['status'], undefined, nowhere);
    expect(status.stderr).toBe(message);
    expect(status.stdout).toBe('');
    expect(status.status).toBe(1);
    const deploy = agent(host, ['deploy'], agentSpecJson(spec(other, 'v2', port)), nowhere);
    expect(deploy.stderr).toBe(message);
    expect(deploy.stdout).toBe('');
    expect(deploy.status).toBe(1);
    expect(audit()).toBe(before);
    expect(fs.existsSync(path.join(host.roots.BERTH_STATE_ROOT, ENV, other, 'current.json'))).toBe(false);
  });

  it.each([
    ['no command', [], 'a command is required'],
    ['an unknown command', ['frobnicate', name], 'unknown command frobnicate'],
    ['an unknown option of status', ['status', '--all'], 'unknown option --all for status'],
    ['an unknown option of deploy', ['deploy', '--force'], 'unknown option --force for deploy'],
    ['an unknown option of prune', ['prune', '--dry-run'], 'unknown option --dry-run for prune'],
    ['an unknown option of rollback', ['rollback', name, '--env', ENV, '--yes'], 'unknown option --yes for rollback'],
  ])('%s: usage on stderr, exit 2, nothing touched', (_label, args, message) => {
    const before = footprint(host, name);
    const result = agent(host, args, agentSpecJson(spec(name, 'v2', port)));
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${USAGE}berth-agent: refused: ${message}\n`);
    expect(result.status).toBe(2);
    expect(footprint(host, name)).toBe(before);
  });
});
