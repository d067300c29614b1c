/**
 * runAgent (components/service/agent/main.ts): the command line, the exit
 * status, what goes to stdout and stderr, and the host context it builds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { USAGE } from '../../../components/service/agent/cli';
import type { AgentContext } from '../../../components/service/agent/context';
import { EngineError } from '../../../components/service/agent/engine';
import { HostLocks } from '../../../components/service/agent/locks';
import { AgentIo, hostContext, LOCK_WAIT_SECONDS, runAgent } from '../../../components/service/agent/main';
import { SocketEngine } from '../../../components/service/agent/socketEngine';
import { containerIdFor, imageIdFor, neverHealthy } from './fakeEngine';
import { HEALTH_CMD, IMAGES, removeScratchHosts, SECRET, specText, TestHost, testHost, webSpec } from './testHost';

const { v1, v3 } = IMAGES;

afterEach(removeScratchHosts);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** How many times the context was closed. */
  closed: number;
}

/** Runs the agent with `argv` on the test host (or on a context that must never be built). */
async function agent(argv: string[], host?: TestHost, stdin = '', context?: AgentIo['context']): Promise<Run> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let closed = 0;
  const code = await runAgent({
    argv,
    env: {},
    readStdin: async () => stdin,
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    context:
      context ??
      ((say, warn) => {
        if (host === undefined) {
          throw new Error('the context must not be built for this command');
        }
        return { ...host.context, say, warn, close: () => void closed++ };
      }),
  });
  return { code, stdout: stdout.join(''), stderr: stderr.join(''), closed };
}

describe('the command line', () => {
  it.each([
    [[], 'a command is required'],
    [['bogus'], 'unknown command bogus'],
    [['status', '--bogus'], 'unknown option --bogus for status'],
    [['deploy', '--env', 'prod'], 'unknown option --env for deploy'],
  ])('%j is refused with the usage on stderr: exit 2', async (argv, message) => {
    await expect(agent(argv)).resolves.toEqual({ code: 2, stdout: '', stderr: `${USAGE}berth-agent: refused: ${message}\n`, closed: 0 });
  });

  it('refuses a bad value without the usage', async () => {
    await expect(agent(['rollback', 'web'])).resolves.toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth-agent: refused: rollback needs --env ENV: a host can carry more than one environment\n',
      closed: 0,
    });
  });

  it.each([['help'], ['-h'], ['--help']])('%s prints the usage on stdout: exit 0', async (command) => {
    await expect(agent([command])).resolves.toEqual({ code: 0, stdout: USAGE, stderr: '', closed: 0 });
  });
});

describe('the commands', () => {
  it('deploy reads the spec on stdin and reports progress on stdout, prefixed', async () => {
    const host = testHost();
    host.engine.publish(v1);
    const run = await agent(['deploy', '--deployment', 'web-app-1', '--expect-image', v1], host, specText(webSpec(host, 'v1')));
    expect(run).toEqual({
      code: 0,
      stdout: [
        `berth-agent: prod/web: pulling ${v1}\n`,
        `berth-agent: prod/web: starting ${v1}, waiting up to 10s for health\n`,
        `berth-agent: prod/web: now running ${v1} (000100010001), healthy\n`,
      ].join(''),
      stderr: '',
      closed: 1,
    });
    expect(fs.readFileSync(path.join(host.roots.state, 'prod', 'web', 'deployment'), 'utf8')).toBe('web-app-1\n');
  });

  it('a refused spec: exit 2, the problems on stderr, nothing on the host touched', async () => {
    const host = testHost();
    const run = await agent(['deploy'], host, specText(webSpec(host, 'v1', { image: 'registry.example.com/berth/web:latest' })));
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth-agent: refused: the spec has 1 problem(s):\nspec.image: must be <repository>@sha256:<64 hex> (a tag is refused), got "registry.example.com/berth/web:latest"\n',
      closed: 1,
    });
    expect(host.engine.calls).toEqual([]);
    expect(fs.existsSync(host.roots.data)).toBe(false);
  });

  it('a failed deploy: exit 1, the report and the error on stderr, no secret anywhere', async () => {
    const host = testHost();
    host.engine.addImage(v3);
    host.engine.setHealth(v3, neverHealthy('HTTP/1.1 404 Not Found'));
    const run = await agent(['deploy'], host, specText(webSpec(host, 'v3', { health: { cmd: HEALTH_CMD, timeoutSeconds: 1 } })));
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      [
        `berth-agent: prod/web: ${v3} did not become healthy within 1s`,
        '--- last health check output ---',
        'HTTP/1.1 404 Not Found',
        '--- last 50 log lines of the new container ---',
        '',
        '--- end of the new container logs ---',
        `berth-agent: error: prod/web: deploy of ${v3} failed; there was no previous container to restore`,
        '',
      ].join('\n'),
    );
    expect(run.stdout + run.stderr).not.toContain(SECRET);
  });

  it('rollback: the previous spec through the health gate, exit 0', async () => {
    const host = testHost();
    host.engine.addImage(v1);
    host.engine.addImage(IMAGES.v2);
    await agent(['deploy'], host, specText(webSpec(host, 'v1')));
    await agent(['deploy'], host, specText(webSpec(host, 'v2')));
    const run = await agent(['rollback', 'web', '--env', 'prod'], host);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n').slice(-2)).toEqual([`berth-agent: prod/web: now running ${v1} (000300030003), healthy`, '']);
  });

  it('rollback without history: exit 1, berth-agent: error:', async () => {
    const host = testHost();
    await expect(agent(['rollback', 'web', '--env', 'prod'], host)).resolves.toEqual({
      code: 1,
      stdout: '',
      stderr: `berth-agent: error: prod/web: no previous deploy recorded in ${host.roots.state}/prod/web\n`,
      closed: 1,
    });
  });

  it('status as JSON and as a table, history, remove and prune', async () => {
    const host = testHost();
    host.engine.addImage(v1);
    await agent(['deploy'], host, specText(webSpec(host, 'v1')));

    const json = await agent(['status', '--json', '--env', 'prod', 'web'], host);
    expect(json.code).toBe(0);
    expect(json.stdout).toBe(
      `[\n  {\n    "name": "web",\n    "env": "prod",\n    "image": "${v1}",\n    "state": "running",\n    "health": "healthy",\n    "previousImage": "",\n    "containerId": "${containerIdFor(1)}"\n  }\n]\n`,
    );
    const table = await agent(['status'], host);
    expect(table.stdout).toBe(`NAME                     ENV        STATE      HEALTH     IMAGE  PREVIOUS\nweb                      prod       running    healthy    ${v1}  -\n`);

    const lines = await agent(['history', 'web', '--env', 'prod'], host);
    expect(lines).toEqual({ code: 0, stdout: `2025-06-02T09:14:03Z action=deploy service=web env=prod from=- to=${v1} result=ok\n`, stderr: '', closed: 1 });

    const removed = await agent(['remove', 'web', '--env', 'prod', '--deployment', 'web-app-1'], host);
    expect(removed).toEqual({
      code: 0,
      stdout: `berth-agent: prod/web: removed container 000100010001\nberth-agent: prod/web: removed (data under ${host.roots.data} is kept)\n`,
      stderr: '',
      closed: 1,
    });

    const pruned = await agent(['prune', '--env', 'prod', '--min-age', '0'], host);
    expect(pruned).toEqual({
      code: 0,
      stdout:
        `berth-agent: removed image ${imageIdFor(v1)} refs=${v1}\n` +
        'berth-agent: summary: scope=prod removed containers=0 images=1 layers=0 kept_stopped_containers=0 bytes_freed=1000 (containers=0 images=1000)\n',
      stderr: '',
      closed: 1,
    });
    // Pulled by digest, v1 was dangling once its tag went with the remove.
    expect(host.engine.images.size).toBe(0);
  });

  it('a lock held too long: exit 1', async () => {
    const host = testHost({ lockWaitMs: 100 });
    const held = await new HostLocks(host.roots.lockFile).forService('prod', 'web', 0);
    try {
      await expect(agent(['remove', 'web', '--env', 'prod'], host)).resolves.toEqual({
        code: 1,
        stdout: '',
        stderr: 'berth-agent: error: prod/web: another berth-agent held the lock for 0s\n',
        closed: 1,
      });
    } finally {
      await held.release();
    }
  });

  it('an unexpected error: exit 1 with its stack', async () => {
    const host = testHost();
    host.engine.failNext('listContainers', new TypeError('engine answered nonsense'));
    const run = await agent(['status'], host);
    expect(run.code).toBe(1);
    expect(run.stderr.startsWith('berth-agent: error: unexpected: TypeError: engine answered nonsense\n    at ')).toBe(true);
    expect(run.closed).toBe(1);

    host.engine.failNext('listContainers', 'a thrown string' as unknown as Error);
    await expect(agent(['status'], host)).resolves.toEqual({ code: 1, stdout: '', stderr: 'berth-agent: error: unexpected: a thrown string\n', closed: 1 });
  });

  it('an engine error the command does not handle: exit 1 with its message', async () => {
    const host = testHost();
    host.engine.failNext('listContainers', new EngineError('client version 1.41 is too old', 400));
    await expect(agent(['status'], host)).resolves.toEqual({ code: 1, stdout: '', stderr: 'berth-agent: error: client version 1.41 is too old\n', closed: 1 });
  });
});

describe('the host context', () => {
  const scratchEnv = (host: TestHost, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    BERTH_DATA_ROOT: host.roots.data,
    BERTH_CONFIG_ROOT: host.roots.config,
    BERTH_STATE_ROOT: host.roots.state,
    BERTH_LOCK_FILE: host.roots.lockFile,
    BERTH_DOCKER_CONFIG: host.roots.dockerConfig,
    ...extra,
  });

  it('an engine that cannot be reached: exit 1, naming the socket', async () => {
    const host = testHost();
    const env = scratchEnv(host, { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    await expect(agent(['status'], undefined, '', (say, warn) => hostContext(env, say, warn))).resolves.toEqual({
      code: 1,
      stdout: '',
      stderr: 'berth-agent: error: cannot reach the Docker engine at /nonexistent/docker.sock: ENOENT; is dockerd running?\n',
      closed: 0,
    });
  });

  it('a DOCKER_HOST that is not a unix socket: exit 1', async () => {
    const host = testHost();
    const env = scratchEnv(host, { DOCKER_HOST: 'tcp://127.0.0.1:2375' });
    const run = await agent(['status'], undefined, '', (say, warn) => hostContext(env, say, warn));
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'berth-agent: error: DOCKER_HOST must name a unix socket (unix:///path), got tcp://127.0.0.1:2375\n', closed: 0 });
  });

  it.each(['soon', '', '1.5'])('a BERTH_LOCK_WAIT_SECONDS of %j is refused: exit 2', async (wait) => {
    const host = testHost();
    const env = scratchEnv(host, { BERTH_LOCK_WAIT_SECONDS: wait, DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    await expect(agent(['status'], undefined, '', (say, warn) => hostContext(env, say, warn))).resolves.toEqual({
      code: 2,
      stdout: '',
      stderr: `berth-agent: refused: BERTH_LOCK_WAIT_SECONDS must be whole seconds, got ${wait}\n`,
      closed: 0,
    });
  });

  it('is built from the environment', async () => {
    const host = testHost();
    const said: string[] = [];
    const warned: string[] = [];
    const context: AgentContext & { close(): void } = hostContext(scratchEnv(host, { BERTH_LOCK_WAIT_SECONDS: '3' }), (line) => said.push(line), (text) => warned.push(text));
    expect(context.roots).toEqual(host.roots);
    expect(context.lockWaitMs).toBe(3000);
    expect(context.engine).toBeInstanceOf(SocketEngine);
    expect(context.locks).toBeInstanceOf(HostLocks);
    context.say('a line');
    context.warn('a warning');
    expect([said, warned]).toEqual([['a line'], ['a warning']]);
    const before = Date.now();
    await context.sleep(20);
    expect(Date.now() - before).toBeGreaterThanOrEqual(15);
    expect(Math.abs(context.now() - Date.now())).toBeLessThan(1000);
    // No Docker client config: an anonymous pull.
    await expect(context.credentials(v1)).resolves.toBeUndefined();
    fs.mkdirSync(host.roots.dockerConfig);
    fs.writeFileSync(path.join(host.roots.dockerConfig, 'config.json'), JSON.stringify({ auths: { 'registry.example.com': { identitytoken: 'tok' } } }));
    await expect(context.credentials(v1)).resolves.toEqual({ identitytoken: 'tok', serveraddress: 'registry.example.com' });
    context.close();

    const defaults = hostContext({}, () => undefined, () => undefined);
    expect(defaults.lockWaitMs).toBe(LOCK_WAIT_SECONDS * 1000);
    expect(LOCK_WAIT_SECONDS).toBe(900);
    defaults.close();
  });
});
