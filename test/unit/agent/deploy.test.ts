/**
 * The deploy state machine (components/service/agent/deploy.ts) against the
 * in-memory engine: every path of a deploy and a rollback, the exact calls
 * in their order, the messages, the audit lines and what is left on disk.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { createBody } from '../../../components/service/agent/containerConfig';
import { Failed, Refused } from '../../../components/service/agent/context';
import { deploy, rollback, waitHealthy } from '../../../components/service/agent/deploy';
import { EngineError } from '../../../components/service/agent/engine';
import { loadSpec } from '../../../components/service/agent/specs';
import type { AgentServiceSpec } from '../../../components/service/spec';
import { containerIdFor, healthyAfter, neverHealthy } from './fakeEngine';
import { rejection } from '../../support/rejection';
import { API_IMAGE, auditLines, filesUnder, HEALTH_CMD, IMAGES, mode, removeScratchHosts, SECRET, specText, TestHost, testHost, webSpec } from './testHost';

const { v1, v2, v3 } = IMAGES;
const LIST = 'list {"label":["berth.service=web","berth.env=prod"]}';
const EXEC_NEXT = `exec berth-prod-web-next ["sh","-c","${HEALTH_CMD}"]`;
const CONFIG_HASH = { v1: 'c42b8941e7e7e84a', v2: 'bdbae65bdb330b30', v3: '11e201ff402d69fe' } as const;
const TIME = '2025-06-02T09:14:03Z';

afterEach(removeScratchHosts);

async function expectFailure(promise: Promise<unknown>, type: typeof Failed | typeof Refused, message: string): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(type);
  expect(error.message).toBe(message);
}

/** The canonical text of webSpec(host, version) as the agent must record it. */
function canonical(host: TestHost, version: 'v1' | 'v2' | 'v3', ports = '"8080:8080"'): string {
  return (
    `{"configFile":{"content":"version=${version}\\n","target":"/etc/app/application.properties"},"env":"prod","environment":{"APP_VERSION":"${version}"},` +
    `"health":{"cmd":"${HEALTH_CMD}","timeoutSeconds":10},"image":"${IMAGES[version]}","name":"web","ports":[${ports}],"restart":"unless-stopped",` +
    `"secretEnvironment":{"DB_PASSWORD":"${SECRET}"},"stopTimeoutSeconds":5,"volumes":["${host.roots.data}/prod/web/data:/data"]}`
  );
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const stateFile = (host: TestHost, file: string, env = 'prod', name = 'web'): string => path.join(host.roots.state, env, name, file);
const read = (file: string): string => fs.readFileSync(file, 'utf8');
const configFolders = (host: TestHost, env = 'prod', name = 'web'): string[] => fs.readdirSync(path.join(host.roots.config, env, name)).sort();

/** Deploys `spec` with the image on the host already and forgets what it said and called. */
async function deployed(host: TestHost, spec: AgentServiceSpec, options: { deployment?: string } = {}): Promise<void> {
  host.engine.addImage(spec.image);
  await deploy(host.context, specText(spec), options);
  host.engine.clearCalls();
  host.out.length = 0;
  host.err.length = 0;
}

describe('a first deploy', () => {
  it('pulls the missing image, creates -next, starts it, checks health, tags it current, renames it and records the spec', async () => {
    const host = testHost();
    host.engine.publish(v1);
    await deploy(host.context, specText(webSpec(host, 'v1')), { deployment: 'web-app-1' });

    expect(host.engine.calls).toEqual([
      LIST,
      'inspect berth-prod-web',
      'create berth-prod-web-next',
      `hasImage ${v1}`,
      `pull ${v1}`,
      'create berth-prod-web-next',
      'start berth-prod-web-next',
      `${EXEC_NEXT} 10000`,
      `tag ${v1} berth/web:prod-current`,
      'rename berth-prod-web-next berth-prod-web',
    ]);
    expect(host.out).toEqual([
      `prod/web: pulling ${v1}`,
      `prod/web: starting ${v1}, waiting up to 10s for health`,
      `prod/web: now running ${v1} (000100010001), healthy`,
    ]);
    expect(host.err).toEqual([]);
    expect(host.credentialRequests).toEqual([v1]);
    expect(host.engine.pulls).toEqual([{ reference: v1 }]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(host.engine.tagLines()).toEqual([`berth/web:prod-current -> ${v1}`]);

    const text = canonical(host, 'v1');
    expect(host.engine.bodies.get('berth-prod-web-next')).toEqual({
      Image: v1,
      Labels: { 'berth.service': 'web', 'berth.env': 'prod', 'berth.image': v1, 'berth.spec-hash': sha(text) },
      Env: ['APP_VERSION=v1', `DB_PASSWORD=${SECRET}`],
      ExposedPorts: { '8080/tcp': {} },
      StopTimeout: 5,
      HostConfig: {
        Binds: [
          `${host.roots.data}/prod/web/data:/data`,
          `${host.roots.config}/prod/web/${CONFIG_HASH.v1}/application.properties:/etc/app/application.properties:ro`,
        ],
        PortBindings: { '8080/tcp': [{ HostIp: '', HostPort: '8080' }] },
        RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
        SecurityOpt: ['no-new-privileges'],
      },
    });

    expect(filesUnder(host.roots.state)).toEqual(['prod/web/current.json', 'prod/web/deployment']);
    expect(read(stateFile(host, 'current.json'))).toBe(`${text}\n`);
    expect(read(stateFile(host, 'deployment'))).toBe('web-app-1\n');
    expect(mode(path.join(host.roots.state, 'prod', 'web'))).toBe(0o700);
    expect(mode(stateFile(host, 'current.json'))).toBe(0o600);
    expect(mode(stateFile(host, 'deployment'))).toBe(0o600);
    const configFile = path.join(host.roots.config, 'prod', 'web', CONFIG_HASH.v1, 'application.properties');
    expect(filesUnder(host.roots.config)).toEqual([`prod/web/${CONFIG_HASH.v1}/application.properties`]);
    expect(read(configFile)).toBe('version=v1\n');
    expect(mode(configFile)).toBe(0o644);
    expect(auditLines(host)).toEqual([`${TIME} action=deploy service=web env=prod from=- to=${v1} result=ok`]);
    expect(fs.statSync(path.join(host.roots.data, 'berth', 'audit.log')).mode & 0o777).toBe(0o600);
  });

  it('does not pull an image that is already on the host, and pulls with the credentials for the image', async () => {
    const present = testHost();
    present.engine.addImage(v1);
    await deploy(present.context, specText(webSpec(present, 'v1')), {});
    expect(present.engine.calls.filter((call) => /^(create|hasImage|pull) /.test(call))).toEqual(['create berth-prod-web-next']);
    expect(present.out[0]).toBe(`prod/web: ${v1} is already on this host`);
    expect(present.credentialRequests).toEqual([]);

    const auth = { username: 'AWS', password: 'ecr-token', serveraddress: 'registry.example.com' };
    const withAuth = testHost({ auth });
    withAuth.engine.publish(v1, { auth });
    await deploy(withAuth.context, specText(webSpec(withAuth, 'v1')), {});
    expect(withAuth.engine.pulls).toEqual([{ reference: v1, auth }]);
    expect(withAuth.credentialRequests).toEqual([v1]);
    expect(withAuth.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
  });

  it('waits for health: checks at once, then after pauses growing by 0.1 s, each check given the time left', async () => {
    const host = testHost();
    host.engine.addImage(v1);
    host.engine.setHealth(v1, healthyAfter(3));
    await deploy(host.context, specText(webSpec(host, 'v1')), {});
    expect(host.engine.calls.filter((call) => call.startsWith('exec '))).toEqual([`${EXEC_NEXT} 10000`, `${EXEC_NEXT} 9900`, `${EXEC_NEXT} 9700`]);
    expect(host.clock.sleeps).toEqual([100, 200]);
    expect(host.out[2]).toBe(`prod/web: now running ${v1} (000100010001), healthy`);
  });
});

describe('a redeploy', () => {
  it('of the same spec changes nothing: no create, the tags and the record refreshed, audit unchanged', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    // Spelling a default out is the same spec.
    await deploy(host.context, specText(webSpec(host, 'v1', { restart: 'unless-stopped', environment: { APP_VERSION: 'v1' } })), { deployment: 'web-app-2' });
    expect(host.engine.calls).toEqual([LIST, `tag ${v1} berth/web:prod-current`]);
    expect(host.out).toEqual([`prod/web: already running ${v1} with this spec; nothing to do`]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(read(stateFile(host, 'deployment'))).toBe('web-app-2\n');
    expect(read(stateFile(host, 'current.json'))).toBe(`${canonical(host, 'v1')}\n`);
    expect(auditLines(host)[1]).toBe(`${TIME} action=deploy service=web env=prod from=${v1} to=${v1} result=unchanged`);
  });

  it('of the same spec keeps the rollback image tagged, and warns when it is gone from the host', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    await deployed(host, webSpec(host, 'v2'));
    await deploy(host.context, specText(webSpec(host, 'v2')), {});
    expect(host.engine.calls).toEqual([LIST, `tag ${v1} berth/web:prod-previous`, `tag ${v2} berth/web:prod-current`]);
    expect(host.err).toEqual([]);

    host.engine.deleteImage(v1);
    host.engine.clearCalls();
    await deploy(host.context, specText(webSpec(host, 'v2')), {});
    expect(host.engine.calls).toEqual([LIST, `tag ${v1} berth/web:prod-previous`, `tag ${v2} berth/web:prod-current`]);
    expect(host.err).toEqual([`previous image ${v1} is no longer on this host; rollback will pull it`]);
    expect(host.engine.tagLines()).toEqual([`berth/web:prod-current -> ${v2}`]);
  });

  it('passes an unexpected error of moving the rollback tag through', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    await deployed(host, webSpec(host, 'v2'));
    host.engine.failNext('tagImage', new TypeError('socket hang up'), (source) => source === v1);
    const error = await rejection(deploy(host.context, specText(webSpec(host, 'v2')), {}));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('socket hang up');
    expect(host.err).toEqual([]);
  });

  it('of the same spec replaces the container when it is stopped', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    await host.engine.stopContainer('berth-prod-web');
    host.engine.clearCalls();
    await deploy(host.context, specText(webSpec(host, 'v1')), {});
    expect(host.engine.mutations()).toEqual([
      'create berth-prod-web-next',
      'start berth-prod-web-next',
      `tag ${v1} berth/web:prod-current`,
      'remove berth-prod-web',
      'rename berth-prod-web-next berth-prod-web',
    ]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000200020002 running']);
    expect(fs.existsSync(stateFile(host, 'previous.json'))).toBe(false);
    expect(auditLines(host)[1]).toBe(`${TIME} action=deploy service=web env=prod from=${v1} to=${v1} result=ok`);
  });

  it('replaces a container of the same name that Berth did not label, found by its name', async () => {
    const host = testHost();
    host.engine.addImage(v1);
    host.engine.addImage(v2);
    const body = createBody(webSpec(host, 'v1', { configFile: undefined }), 'hand-made');
    body.Labels = {};
    await host.engine.startContainer(await host.engine.createContainer('berth-prod-web', body));
    host.engine.clearCalls();
    await deploy(host.context, specText(webSpec(host, 'v2')), {});
    expect(host.engine.calls.slice(0, 4)).toEqual([LIST, 'inspect berth-prod-web', 'create berth-prod-web-next', 'inspect berth-prod-web']);
    expect(host.out).toContain('prod/web: stopping the old container first: it holds host port(s) 8080');
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000200020002 running']);
    expect(auditLines(host)).toEqual([`${TIME} action=deploy service=web env=prod from=- to=${v2} result=ok`]);
  });
});

describe('a spec change', () => {
  it('stops the old container just before the start when it holds a wanted host port, then swaps', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1', { ports: ['8080:8080', '9090:9090', '7070:7070'] }));
    host.engine.addImage(v2);
    await deploy(host.context, specText(webSpec(host, 'v2', { ports: ['9090:9090', '8080:8080', '6060:6060'] })), {});
    expect(host.engine.calls).toEqual([
      LIST,
      'create berth-prod-web-next',
      'inspect berth-prod-web',
      'stop berth-prod-web',
      'start berth-prod-web-next',
      `${EXEC_NEXT} 10000`,
      `tag ${v1} berth/web:prod-previous`,
      `tag ${v2} berth/web:prod-current`,
      'remove berth-prod-web',
      'rename berth-prod-web-next berth-prod-web',
    ]);
    expect(host.out).toEqual([
      `prod/web: ${v2} is already on this host`,
      'prod/web: stopping the old container first: it holds host port(s) 8080,9090',
      `prod/web: starting ${v2}, waiting up to 10s for health`,
      `prod/web: now running ${v2} (000200020002), healthy`,
    ]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000200020002 running']);
    expect(host.engine.tagLines()).toEqual([`berth/web:prod-current -> ${v2}`, `berth/web:prod-previous -> ${v1}`]);
    expect(read(stateFile(host, 'current.json'))).toBe(`${canonical(host, 'v2', '"9090:9090","8080:8080","6060:6060"')}\n`);
    expect(read(stateFile(host, 'previous.json'))).toBe(`${canonical(host, 'v1', '"8080:8080","9090:9090","7070:7070"')}\n`);
    expect(mode(stateFile(host, 'previous.json'))).toBe(0o600);
    expect(configFolders(host)).toEqual([CONFIG_HASH.v2, CONFIG_HASH.v1]);
    expect(auditLines(host)[1]).toBe(`${TIME} action=deploy service=web env=prod from=${v1} to=${v2} result=ok`);
  });

  it('keeps the old container serving until the new one is healthy when no port clashes', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    host.engine.addImage(v2);
    host.engine.setHealth(v2, healthyAfter(2));
    await deploy(host.context, specText(webSpec(host, 'v2', { ports: ['8081:8080'] })), {});
    expect(host.engine.calls).toEqual([
      LIST,
      'create berth-prod-web-next',
      'inspect berth-prod-web',
      'start berth-prod-web-next',
      `${EXEC_NEXT} 10000`,
      `${EXEC_NEXT} 9900`,
      `tag ${v1} berth/web:prod-previous`,
      `tag ${v2} berth/web:prod-current`,
      'stop berth-prod-web',
      'remove berth-prod-web',
      'rename berth-prod-web-next berth-prod-web',
    ]);
    expect(host.out).toEqual([
      `prod/web: ${v2} is already on this host`,
      `prod/web: starting ${v2}, waiting up to 10s for health`,
      `prod/web: now running ${v2} (000200020002), healthy`,
    ]);
  });
});

describe('a new container that does not become healthy', () => {
  const REPORT_V3 = [
    `prod/web: ${v3} did not become healthy within 2s`,
    '--- last health check output ---',
    'wget: server returned error: HTTP/1.1 404 Not Found',
    '--- last 50 log lines of the new container ---',
    'v3 starting',
    'v3 is broken: no /www/version to serve',
    '--- end of the new container logs ---',
  ].join('\n');

  /** v1 serving; v3 on the host, never healthy, with a timeout of 2 s. */
  async function v1ThenBrokenV3(host: TestHost): Promise<void> {
    await deployed(host, webSpec(host, 'v1'));
    host.engine.addImage(v3);
    host.engine.setHealth(v3, neverHealthy());
    host.engine.setLogs(v3, 'v3 starting\nv3 is broken: no /www/version to serve\n');
  }
  const deployV3 = (host: TestHost, timeoutSeconds = 2) => deploy(host.context, specText(webSpec(host, 'v3', { health: { cmd: HEALTH_CMD, timeoutSeconds } })), {});

  it('is removed, its logs reported, and the old container started and checked before the deploy fails', async () => {
    const host = testHost();
    await v1ThenBrokenV3(host);
    await expectFailure(deployV3(host), Failed, `prod/web: deploy of ${v3} failed; the previous container is serving again`);
    expect(host.engine.mutations()).toEqual([
      'create berth-prod-web-next',
      'stop berth-prod-web',
      'start berth-prod-web-next',
      'remove berth-prod-web-next',
      'start berth-prod-web',
    ]);
    const timeouts = host.engine.calls.filter((call) => call.startsWith(EXEC_NEXT)).map((call) => call.slice(EXEC_NEXT.length + 1));
    expect(timeouts).toEqual(['2000', '1900', '1700', '1400', '1000', '1000', '1000']);
    expect(host.engine.calls.slice(-4)).toEqual(['logs berth-prod-web-next 50', 'remove berth-prod-web-next', 'start berth-prod-web', `exec berth-prod-web ["sh","-c","${HEALTH_CMD}"] 10000`]);
    expect(host.err).toEqual([REPORT_V3, `prod/web: restoring the previous container (${v1})`]);
    expect(host.out).toEqual([
      `prod/web: ${v3} is already on this host`,
      'prod/web: stopping the old container first: it holds host port(s) 8080',
      `prod/web: starting ${v3}, waiting up to 2s for health`,
    ]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(host.engine.tagLines()).toEqual([`berth/web:prod-current -> ${v1}`]);
    expect(filesUnder(path.join(host.roots.state, 'prod', 'web'))).toEqual(['current.json']);
    expect(read(stateFile(host, 'current.json'))).toBe(`${canonical(host, 'v1')}\n`);
    // The restored container still has its config file.
    expect(configFolders(host)).toEqual([CONFIG_HASH.v3, CONFIG_HASH.v1]);
    expect(auditLines(host)[1]).toBe(`2025-06-02T09:14:05Z action=deploy service=web env=prod from=${v1} to=${v3} result=failed-restored`);
  });

  it('restarts the old container when it was left serving (no port clash), and it serves again', async () => {
    const host = testHost();
    await v1ThenBrokenV3(host);
    await expectFailure(
      deploy(host.context, specText(webSpec(host, 'v3', { ports: ['8081:8080'], health: { cmd: HEALTH_CMD, timeoutSeconds: 1 } })), {}),
      Failed,
      `prod/web: deploy of ${v3} failed; the previous container is serving again`,
    );
    expect(host.engine.mutations()).toEqual(['create berth-prod-web-next', 'start berth-prod-web-next', 'remove berth-prod-web-next', 'start berth-prod-web']);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(auditLines(host)[1]).toMatch(/ result=failed-restored$/);
  });

  it.each([
    ['its health check fails', { exitCode: 1, output: 'old one broke' }, 'old one broke'],
    ['its health check fails silently', { exitCode: 1, output: '' }, 'wget: server returned error: HTTP/1.1 404 Not Found\n'],
  ])('fails as failed-restore-failed when the old container does not come back: %s', async (_label, result, shown) => {
    const host = testHost();
    await v1ThenBrokenV3(host);
    host.engine.setHealth(v1, () => result);
    await expectFailure(deployV3(host), Failed, `prod/web: deploy failed AND the previous container is not healthy: ${shown}`);
    expect(auditLines(host)[1]).toBe(`2025-06-02T09:14:15Z action=deploy service=web env=prod from=${v1} to=${v3} result=failed-restore-failed`);
  });

  it('fails as failed-restore-failed when the old container does not start, and says no output when there was none', async () => {
    const host = testHost();
    await v1ThenBrokenV3(host);
    host.engine.failNext('startContainer', new EngineError('cannot start: no space left on device', 500), (id) => id === containerIdFor(1));
    await expectFailure(deployV3(host), Failed, 'prod/web: deploy failed AND the previous container is not healthy: cannot start: no space left on device');
    expect(auditLines(host)[1]).toBe(`2025-06-02T09:14:05Z action=deploy service=web env=prod from=${v1} to=${v3} result=failed-restore-failed`);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 exited']);

    const silent = testHost();
    await deployed(silent, webSpec(silent, 'v1'));
    silent.engine.addImage(v3);
    silent.engine.setHealth(v3, neverHealthy(''));
    silent.engine.setHealth(v1, () => ({ exitCode: 1, output: '' }));
    await expectFailure(deployV3(silent, 1), Failed, 'prod/web: deploy failed AND the previous container is not healthy: no output');
    expect(silent.err[0].split('\n').slice(1, 3)).toEqual(['--- last health check output ---', '(none)']);
  });

  it('passes an unexpected error of the restore through after starting the old container again, and the service lock is let go', async () => {
    const host = testHost({ lockWaitMs: 200 });
    await v1ThenBrokenV3(host);
    host.engine.failNext('startContainer', new TypeError('socket hang up'), (id) => id === containerIdFor(1));
    const error = await rejection(deployV3(host));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('socket hang up');
    expect(host.err.slice(-1)).toEqual([`prod/web: the deploy stopped on an error (socket hang up); the previous container (${v1}) is running`]);
    expect(host.engine.calls.slice(-2)).toEqual(['start berth-prod-web', 'start berth-prod-web']);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(auditLines(host)).toHaveLength(1);
    await deploy(host.context, specText(webSpec(host, 'v1')), {});
    expect(host.out.slice(-1)).toEqual([`prod/web: already running ${v1} with this spec; nothing to do`]);
  });

  it('restores an old container without a recorded spec without checking it', async () => {
    const host = testHost();
    await v1ThenBrokenV3(host);
    fs.rmSync(stateFile(host, 'current.json'));
    await expectFailure(deployV3(host, 1), Failed, `prod/web: deploy of ${v3} failed; the previous container is serving again`);
    expect(host.engine.calls.filter((call) => call.startsWith('exec berth-prod-web '))).toEqual([]);
    expect(host.engine.calls.slice(-1)).toEqual(['start berth-prod-web']);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
  });

  it('with no previous container: removed, nothing to restore, audit failed', async () => {
    const host = testHost();
    host.engine.addImage(v3);
    host.engine.setHealth(v3, neverHealthy());
    host.engine.failNext('logs', new EngineError('configured logging driver does not support reading', 501));
    await expectFailure(
      deploy(host.context, specText(webSpec(host, 'v3', { health: { cmd: HEALTH_CMD, timeoutSeconds: 1 } })), {}),
      Failed,
      `prod/web: deploy of ${v3} failed; there was no previous container to restore`,
    );
    expect(host.engine.mutations()).toEqual(['create berth-prod-web-next', 'start berth-prod-web-next', 'remove berth-prod-web-next']);
    expect(host.err).toEqual([
      [
        `prod/web: ${v3} did not become healthy within 1s`,
        '--- last health check output ---',
        'wget: server returned error: HTTP/1.1 404 Not Found',
        '--- last 50 log lines of the new container ---',
        '(no logs: configured logging driver does not support reading)',
        '--- end of the new container logs ---',
      ].join('\n'),
    ]);
    expect(host.engine.containerLines()).toEqual([]);
    expect(fs.existsSync(stateFile(host, 'current.json'))).toBe(false);
    expect(auditLines(host)).toEqual([`2025-06-02T09:14:04Z action=deploy service=web env=prod from=- to=${v3} result=failed`]);
  });

  it('that cannot start because another service holds the port names the holder', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1', { name: 'api', image: API_IMAGE, configFile: undefined }));
    host.engine.addImage(v1);
    await expectFailure(
      deploy(host.context, specText(webSpec(host, 'v1', { ports: ['8080:8080', '9090:9090'] })), {}),
      Failed,
      `prod/web: deploy of ${v1} failed; there was no previous container to restore`,
    );
    expect(host.err).toEqual([
      [
        `prod/web: ${v1} did not become healthy within 10s`,
        '--- last health check output ---',
        `driver failed programming external connectivity on endpoint berth-prod-web-next (${'0002'.repeat(16)}): Bind for 0.0.0.0:8080 failed: port is already allocated`,
        'host port 8080 is held by: berth-prod-api',
        '--- last 50 log lines of the new container ---',
        '',
        '--- end of the new container logs ---',
      ].join('\n'),
    ]);
    expect(host.engine.calls.filter((call) => call.startsWith('list {"publish"'))).toEqual(['list {"publish":["8080"]}', 'list {"publish":["9090"]}']);
    expect(host.engine.calls.filter((call) => call.startsWith('exec '))).toEqual([]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-api 000100010001 running']);
  });

  it('passes an unexpected error of the start through', async () => {
    const host = testHost();
    host.engine.addImage(v1);
    host.engine.failNext('startContainer', new RangeError('bad id'));
    const error = await rejection(deploy(host.context, specText(webSpec(host, 'v1')), {}));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe('bad id');
    expect(host.err).toEqual([]);
  });
});

describe('an error no step expected, once the old container may be stopped', () => {
  /** v1 serving; a deploy of v2 (same port) whose start of the new container fails with `error`. */
  async function interrupted(host: TestHost, error: Error, restartFailures: EngineError[] = []): Promise<Error> {
    await deployed(host, webSpec(host, 'v1'));
    for (const failure of restartFailures) {
      host.engine.failNext('startContainer', failure, (id) => id === containerIdFor(1));
    }
    host.engine.addImage(v2);
    host.engine.failNext('startContainer', error, (id) => id === containerIdFor(2));
    return rejection(deploy(host.context, specText(webSpec(host, 'v2')), {}));
  }

  it('starts the old container again before passing the error on', async () => {
    const host = testHost();
    const error = await interrupted(host, new TypeError('socket hang up'));
    expect([error.constructor, error.message]).toEqual([TypeError, 'socket hang up']);
    expect(host.engine.mutations()).toEqual(['create berth-prod-web-next', 'stop berth-prod-web', 'start berth-prod-web-next', 'start berth-prod-web']);
    expect(host.err).toEqual([`prod/web: the deploy stopped on an error (socket hang up); the previous container (${v1}) is running`]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running', 'berth-prod-web-next 000200020002 created']);
    expect(host.clock.sleeps).toEqual([]);
  });

  it('keeps trying every 2 s while the engine refuses', async () => {
    const host = testHost();
    await interrupted(host, new TypeError('socket hang up'), Array(2).fill(new EngineError('Cannot connect to the Docker daemon', 503)));
    expect(host.clock.sleeps).toEqual([2000, 2000]);
    expect(host.engine.calls.filter((call) => call === 'start berth-prod-web')).toHaveLength(3);
    expect(host.err).toEqual([`prod/web: the deploy stopped on an error (socket hang up); the previous container (${v1}) is running`]);
    expect(host.engine.containerLines()[0]).toBe('berth-prod-web 000100010001 running');
  });

  it('gives up after a minute, or at once when the old container is gone, and says so', async () => {
    const host = testHost();
    await interrupted(host, new TypeError('socket hang up'), Array(40).fill(new EngineError('Cannot connect to the Docker daemon', 503)));
    expect(host.clock.sleeps).toEqual(Array(30).fill(2000));
    expect(host.err).toEqual([
      'prod/web: the deploy stopped on an error (socket hang up) and the previous container could not be started again: Cannot connect to the Docker daemon',
    ]);
    expect(host.engine.containerLines()[0]).toBe('berth-prod-web 000100010001 exited');

    const gone = testHost();
    await interrupted(gone, new TypeError('socket hang up'), [new EngineError(`No such container: ${containerIdFor(1)}`, 404)]);
    expect(gone.clock.sleeps).toEqual([]);
    expect(gone.err).toEqual([`prod/web: the deploy stopped on an error (socket hang up) and the previous container could not be started again: No such container: ${containerIdFor(1)}`]);
  });

  it('leaves an old container alone that was not running', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    await host.engine.stopContainer('berth-prod-web');
    host.engine.addImage(v2);
    host.engine.clearCalls();
    host.engine.failNext('startContainer', new TypeError('socket hang up'), (id) => id === containerIdFor(2));
    await rejection(deploy(host.context, specText(webSpec(host, 'v2')), {}));
    expect(host.engine.mutations()).toEqual(['create berth-prod-web-next', 'start berth-prod-web-next']);
    expect(host.err).toEqual([]);
  });
});

describe('leftovers of an interrupted run', () => {
  /** v1 deployed, then a deploy of v2 killed after it removed v1 and before the rename: only a running -next of v2. */
  async function killedBeforeRename(host: TestHost, spec: AgentServiceSpec): Promise<string> {
    await deployed(host, webSpec(host, 'v1'));
    host.engine.addImage(spec.image);
    const loaded = loadSpec(specText(spec), host.roots.data);
    await host.engine.removeContainer('berth-prod-web');
    const id = await host.engine.createContainer('berth-prod-web-next', createBody(loaded.spec, loaded.hash));
    await host.engine.startContainer(id);
    host.engine.clearCalls();
    return id;
  }

  it('a healthy -next of this very spec, with no container of the service, is taken over', async () => {
    const host = testHost();
    await killedBeforeRename(host, webSpec(host, 'v2'));
    await deploy(host.context, specText(webSpec(host, 'v2')), {});
    expect(host.engine.calls).toEqual([
      LIST,
      'inspect berth-prod-web',
      `${EXEC_NEXT} 10000`,
      `tag ${v1} berth/web:prod-previous`,
      `tag ${v2} berth/web:prod-current`,
      'rename berth-prod-web-next berth-prod-web',
    ]);
    expect(host.out).toEqual([`prod/web: took over ${v2} (000200020002), which an interrupted run had started; healthy`]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000200020002 running']);
    expect(read(stateFile(host, 'current.json'))).toBe(`${canonical(host, 'v2')}\n`);
    expect(read(stateFile(host, 'previous.json'))).toBe(`${canonical(host, 'v1')}\n`);
    expect(auditLines(host)[1]).toBe(`${TIME} action=deploy service=web env=prod from=${v1} to=${v2} result=ok`);
  });

  it('one that is not healthy is removed, and the deploy goes on', async () => {
    const host = testHost();
    const left = await killedBeforeRename(host, webSpec(host, 'v2', { health: { cmd: HEALTH_CMD, timeoutSeconds: 1 } }));
    host.engine.setHealth(v2, ({ container }) => (container.id === left ? { exitCode: 1, output: 'stuck' } : { exitCode: 0, output: '' }));
    await deploy(host.context, specText(webSpec(host, 'v2', { health: { cmd: HEALTH_CMD, timeoutSeconds: 1 } })), {});
    expect(host.engine.mutations()).toEqual([
      'remove berth-prod-web-next',
      'create berth-prod-web-next',
      'start berth-prod-web-next',
      `tag ${v1} berth/web:prod-previous`,
      `tag ${v2} berth/web:prod-current`,
      'rename berth-prod-web-next berth-prod-web',
    ]);
    expect(host.out[0]).toBe('prod/web: removing container berth-prod-web-next (000200020002) left over from an interrupted run: not healthy');
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000300030003 running']);
  });

  it('one that is not running is a leftover like any other', async () => {
    const host = testHost();
    await killedBeforeRename(host, webSpec(host, 'v2'));
    await host.engine.stopContainer('berth-prod-web-next');
    host.engine.clearCalls();
    await deploy(host.context, specText(webSpec(host, 'v2')), {});
    expect(host.out[0]).toBe('prod/web: removing container berth-prod-web-next (000200020002) left over from an interrupted run');
    expect(host.engine.mutations().slice(0, 2)).toEqual(['remove berth-prod-web-next', 'create berth-prod-web-next']);
  });

  it('one of another spec is a leftover like any other', async () => {
    const host = testHost();
    await killedBeforeRename(host, webSpec(host, 'v2'));
    host.engine.addImage(v3);
    await deploy(host.context, specText(webSpec(host, 'v3')), {});
    expect(host.out[0]).toBe('prod/web: removing container berth-prod-web-next (000200020002) left over from an interrupted run');
    expect(host.engine.mutations().slice(0, 2)).toEqual(['remove berth-prod-web-next', 'create berth-prod-web-next']);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000300030003 running']);
  });

  it('are removed first, temporary files included, and the deploy converges', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    // A deploy of v2 killed during its health wait: old stopped, -next running.
    host.engine.addImage(v2);
    const v2Spec = loadSpec(specText(webSpec(host, 'v2')), host.roots.data);
    await host.engine.stopContainer('berth-prod-web');
    await host.engine.startContainer(await host.engine.createContainer('berth-prod-web-next', createBody(v2Spec.spec, v2Spec.hash)));
    fs.writeFileSync(stateFile(host, 'secret.env.Xa81'), `DB_PASSWORD=${SECRET}\n`);
    fs.writeFileSync(stateFile(host, 'previous.json.tmp'), '{');
    host.engine.clearCalls();

    await deploy(host.context, specText(webSpec(host, 'v2')), {});
    expect(host.out[0]).toBe('prod/web: removing container berth-prod-web-next (000200020002) left over from an interrupted run');
    expect(host.engine.calls).toEqual([
      LIST,
      'remove berth-prod-web-next',
      'create berth-prod-web-next',
      'start berth-prod-web-next',
      `${EXEC_NEXT} 10000`,
      `tag ${v1} berth/web:prod-previous`,
      `tag ${v2} berth/web:prod-current`,
      'remove berth-prod-web',
      'rename berth-prod-web-next berth-prod-web',
    ]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000300030003 running']);
    expect(filesUnder(path.join(host.roots.state, 'prod', 'web'))).toEqual(['current.json', 'previous.json']);
  });
});

describe('a deploy that cannot create its container', () => {
  it('fails as pull-failed when the image cannot be pulled, and creates nothing', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    await expectFailure(
      deploy(host.context, specText(webSpec(host, 'v2')), {}),
      Failed,
      `prod/web: could not pull ${v2}; nothing was changed: manifest for ${v2} not found: manifest unknown: manifest unknown`,
    );
    expect(host.engine.mutations()).toEqual(['create berth-prod-web-next', `pull ${v2}`]);
    expect(host.out).toEqual([`prod/web: pulling ${v2}`]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(auditLines(host)[1]).toBe(`${TIME} action=deploy service=web env=prod from=${v1} to=${v2} result=pull-failed`);
  });

  it('fails as failed when the engine refuses the container and the image is there', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    host.engine.addImage(v2);
    host.engine.failNext('createContainer', new EngineError('invalid mount config for type "bind": bind source path does not exist', 400));
    await expectFailure(
      deploy(host.context, specText(webSpec(host, 'v2')), {}),
      Failed,
      'prod/web: could not create the new container; nothing was changed: invalid mount config for type "bind": bind source path does not exist',
    );
    expect(host.engine.calls).toEqual([LIST, 'create berth-prod-web-next', `hasImage ${v2}`]);
    expect(host.out).toEqual([]);
    expect(auditLines(host)[1]).toBe(`${TIME} action=deploy service=web env=prod from=${v1} to=${v2} result=failed`);
  });

  it('fails as failed when the create after the pull is refused', async () => {
    const host = testHost();
    host.engine.publish(v2);
    host.engine.failNext('createContainer', new EngineError('Invalid container name', 400), () => host.engine.imageOf(v2) !== undefined);
    await expectFailure(deploy(host.context, specText(webSpec(host, 'v2')), {}), Failed, 'prod/web: could not create the new container; nothing was changed: Invalid container name');
    expect(host.engine.mutations()).toEqual(['create berth-prod-web-next', `pull ${v2}`, 'create berth-prod-web-next']);
    expect(auditLines(host)).toEqual([`${TIME} action=deploy service=web env=prod from=- to=${v2} result=failed`]);
  });

  it('passes unexpected errors of either create through', async () => {
    const first = testHost();
    first.engine.failNext('createContainer', new TypeError('first'));
    expect((await rejection(deploy(first.context, specText(webSpec(first, 'v1')), {}))).message).toBe('first');

    const second = testHost();
    second.engine.publish(v1);
    second.engine.failNext('createContainer', new TypeError('second'), () => second.engine.imageOf(v1) !== undefined);
    const error = await rejection(deploy(second.context, specText(webSpec(second, 'v1')), {}));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('second');
    expect(auditLines(second)).toEqual([]);
  });
});

describe('rollback', () => {
  it('without a previous deploy fails and touches nothing', async () => {
    const host = testHost();
    await expectFailure(rollback(host.context, 'prod', 'web'), Failed, `prod/web: no previous deploy recorded in ${host.roots.state}/prod/web`);
    expect(host.engine.calls).toEqual([]);
  });

  it('deploys the previous spec through the health gate; the two swap places, and a second rollback goes forward', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    await deployed(host, webSpec(host, 'v2'));
    await rollback(host.context, 'prod', 'web');
    expect(host.engine.mutations()).toEqual([
      'create berth-prod-web-next',
      'stop berth-prod-web',
      'start berth-prod-web-next',
      `tag ${v2} berth/web:prod-previous`,
      `tag ${v1} berth/web:prod-current`,
      'remove berth-prod-web',
      'rename berth-prod-web-next berth-prod-web',
    ]);
    expect(host.out.slice(-1)).toEqual([`prod/web: now running ${v1} (000300030003), healthy`]);
    expect(read(stateFile(host, 'current.json'))).toBe(`${canonical(host, 'v1')}\n`);
    expect(read(stateFile(host, 'previous.json'))).toBe(`${canonical(host, 'v2')}\n`);
    expect(host.engine.tagLines()).toEqual([`berth/web:prod-current -> ${v1}`, `berth/web:prod-previous -> ${v2}`]);
    expect(configFolders(host)).toEqual([CONFIG_HASH.v2, CONFIG_HASH.v1]);
    expect(auditLines(host)[2]).toBe(`${TIME} action=rollback service=web env=prod from=${v2} to=${v1} result=ok`);

    await rollback(host.context, 'prod', 'web');
    expect(read(stateFile(host, 'current.json'))).toBe(`${canonical(host, 'v2')}\n`);
    expect(read(stateFile(host, 'previous.json'))).toBe(`${canonical(host, 'v1')}\n`);
    expect(auditLines(host)[3]).toBe(`${TIME} action=rollback service=web env=prod from=${v1} to=${v2} result=ok`);
  });

  it('refuses a corrupt previous.json', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    const file = stateFile(host, 'previous.json');
    fs.writeFileSync(file, '');
    await expectFailure(rollback(host.context, 'prod', 'web'), Refused, `${file}: the recorded spec is corrupt; nothing was changed. ${file} is empty; expected one JSON object`);
    expect(host.engine.calls).toEqual([]);
  });
});

describe('recorded state', () => {
  it.each(['current.json', 'previous.json'])('a corrupt %s refuses the deploy: the running container untouched, nothing created, no audit line', async (which) => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    const file = stateFile(host, which);
    fs.writeFileSync(file, '{} {}');
    host.engine.addImage(v2);
    await expectFailure(
      deploy(host.context, specText(webSpec(host, 'v2')), {}),
      Refused,
      `${file}: the recorded spec is corrupt; nothing was changed. ${file} is not one valid JSON document: got 2 documents`,
    );
    expect(host.engine.calls).toEqual([]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(auditLines(host)).toHaveLength(1);
  });

  it('a recorded spec that is no longer valid is refused with its problems', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    const file = stateFile(host, 'current.json');
    fs.writeFileSync(file, '{"name":"web"}\n');
    await expectFailure(
      deploy(host.context, specText(webSpec(host, 'v1')), {}),
      Refused,
      `${file}: the recorded spec is corrupt; nothing was changed. ${file} has 3 problem(s):\n` +
        'spec.env: required, lowercase letters and digits in single-hyphen-separated words, at most 48 characters, got null\n' +
        'spec.image: must be <repository>@sha256:<64 hex> (a tag is refused), got null\n' +
        'spec.health: required object { cmd, timeoutSeconds }',
    );
  });

  it('keeps one config folder per content hash: the current and the rollback one, others dropped', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    const dir = path.join(host.roots.config, 'prod', 'web');
    fs.mkdirSync(path.join(dir, 'stale'));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a folder\n');
    await deployed(host, webSpec(host, 'v2'));
    expect(configFolders(host)).toEqual([CONFIG_HASH.v2, CONFIG_HASH.v1, 'notes.txt']);
    expect(read(path.join(dir, CONFIG_HASH.v2, 'application.properties'))).toBe('version=v2\n');
    await deployed(host, webSpec(host, 'v3'));
    expect(configFolders(host)).toEqual([CONFIG_HASH.v3, CONFIG_HASH.v2, 'notes.txt']);
    await deployed(host, webSpec(host, 'v3', { configFile: undefined }));
    expect(configFolders(host)).toEqual([CONFIG_HASH.v3, 'notes.txt']);
    expect(host.engine.bodies.get('berth-prod-web-next')?.HostConfig.Binds).toEqual([`${host.roots.data}/prod/web/data:/data`]);
  });

  it('never shows a secret value, and writes it to no file but current.json and previous.json', async () => {
    const host = testHost();
    const messages: string[] = [];
    const attempt = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        messages.push((error as Error).message);
      }
    };
    host.engine.publish(v1);
    await attempt(deploy(host.context, specText(webSpec(host, 'v1')), { deployment: 'web-app-1' }));
    host.engine.addImage(v2);
    await attempt(deploy(host.context, specText(webSpec(host, 'v2')), {}));
    host.engine.addImage(v3);
    host.engine.setHealth(v3, neverHealthy());
    await attempt(deploy(host.context, specText(webSpec(host, 'v3', { health: { cmd: HEALTH_CMD, timeoutSeconds: 1 } })), {}));
    await attempt(rollback(host.context, 'prod', 'web'));
    await attempt(deploy(host.context, specText(webSpec(host, 'v1', { secretEnvironment: { DB_PASSWORD: `${SECRET}\nsecond line` } })), {}));
    await attempt(deploy(host.context, specText(webSpec(host, 'v1')), { expectImage: v2 }));

    expect(messages).toEqual([
      `prod/web: deploy of ${v3} failed; the previous container is serving again`,
      'the spec has 1 problem(s):\nspec.secretEnvironment.DB_PASSWORD: value must be a single line',
      `spec.image is ${v1} but the deploy step expects ${v2}; nothing was changed`,
    ]);
    expect(host.out.length).toBeGreaterThan(8);
    expect(host.err.length).toBe(2);
    for (const text of [...host.out, ...host.err, ...messages]) {
      expect(text).not.toContain(SECRET);
    }
    const files = filesUnder(host.scratch);
    expect(files).toEqual([
      `config/prod/web/${CONFIG_HASH.v2}/application.properties`,
      `config/prod/web/${CONFIG_HASH.v1}/application.properties`,
      'data/berth/audit.log',
      'state/prod/web/current.json',
      'state/prod/web/deployment',
      'state/prod/web/previous.json',
    ]);
    for (const file of files) {
      expect([file, read(path.join(host.scratch, file)).includes(SECRET)]).toEqual([file, file.endsWith('current.json') || file.endsWith('previous.json')]);
    }
  });
});

describe('deploy --expect-image', () => {
  it('refuses a spec with another image before touching anything', async () => {
    const host = testHost();
    host.engine.addImage(v2);
    await expectFailure(deploy(host.context, specText(webSpec(host, 'v2')), { expectImage: v1 }), Refused, `spec.image is ${v2} but the deploy step expects ${v1}; nothing was changed`);
    expect(host.engine.calls).toEqual([]);
    expect(fs.existsSync(host.roots.state)).toBe(false);
    expect(auditLines(host)).toEqual([]);
  });

  it('deploys a spec with the image it expects', async () => {
    const host = testHost();
    host.engine.addImage(v2);
    await deploy(host.context, specText(webSpec(host, 'v2')), { expectImage: v2 });
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
  });

  it('refuses a spec that is not valid, touching nothing', async () => {
    const host = testHost();
    await expectFailure(deploy(host.context, '', {}), Refused, 'spec: stdin is empty; expected one JSON object');
    expect(host.engine.calls).toEqual([]);
  });
});

describe('waitHealthy', () => {
  async function running(host: TestHost): Promise<string> {
    host.engine.addImage(v1);
    const loaded = loadSpec(specText(webSpec(host, 'v1', { configFile: undefined })), host.roots.data);
    const id = await host.engine.createContainer('berth-prod-web', createBody(loaded.spec, loaded.hash));
    await host.engine.startContainer(id);
    host.engine.clearCalls();
    return id;
  }

  it('checks until the timeout with pauses from 0.1 s growing to 0.5 s, each check given at least 1 s', async () => {
    const host = testHost();
    const id = await running(host);
    let attempt = 0;
    host.engine.setHealth(v1, () => ({ exitCode: 1, output: `attempt ${++attempt}\n` }));
    await expect(waitHealthy(host.context, id, 'true\n\n', 3)).resolves.toEqual({ healthy: false, output: 'attempt 9\n' });
    expect(host.clock.sleeps).toEqual([100, 200, 300, 400, 500, 500, 500, 500]);
    expect(host.engine.calls).toEqual(
      [3000, 2900, 2700, 2400, 2000, 1500, 1000, 1000, 1000].map((ms) => `exec berth-prod-web ["sh","-c","true"] ${ms}`),
    );
  });

  it('takes an engine error as a failed check, and passes any other error through', async () => {
    const host = testHost();
    const id = await running(host);
    host.engine.failNext('exec', new EngineError('container is restarting', 409));
    await expect(waitHealthy(host.context, id, 'true', 5)).resolves.toEqual({ healthy: true, output: '' });
    expect(host.clock.sleeps).toEqual([100]);

    host.engine.setHealth(v1, neverHealthy('x'));
    const start = host.clock.ms;
    host.engine.failNext('exec', new EngineError('still restarting', 409), () => host.clock.ms >= start + 1000);
    await expect(waitHealthy(host.context, id, 'true', 1)).resolves.toEqual({ healthy: false, output: 'still restarting' });

    host.engine.failNext('exec', new SyntaxError('unreadable answer'));
    const error = await rejection(waitHealthy(host.context, id, 'true', 1));
    expect(error).toBeInstanceOf(SyntaxError);
    expect(error.message).toBe('unreadable answer');
  });
});
