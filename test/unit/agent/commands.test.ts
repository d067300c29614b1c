/**
 * remove, status, statusTable and history (components/service/agent/commands.ts)
 * against the in-memory engine.
 */
import * as fs from 'fs';
import * as path from 'path';
import { history, remove, status, StatusRow, statusTable } from '../../../components/service/agent/commands';
import { createBody } from '../../../components/service/agent/containerConfig';
import { deploy } from '../../../components/service/agent/deploy';
import { EngineError } from '../../../components/service/agent/engine';
import { loadSpec } from '../../../components/service/agent/specs';
import type { AgentServiceSpec } from '../../../components/service/spec';
import { containerIdFor, neverHealthy } from './fakeEngine';
import { API_IMAGE, auditLines, HEALTH_CMD, IMAGES, removeScratchHosts, specText, TestHost, testHost, webSpec } from './testHost';

const { v1, v2, v3 } = IMAGES;
const TIME = '2025-06-02T09:14:03Z';

afterEach(removeScratchHosts);

async function deployed(host: TestHost, spec: AgentServiceSpec, options: { deployment?: string } = {}): Promise<void> {
  host.engine.addImage(spec.image);
  await deploy(host.context, specText(spec), options);
}

function forget(host: TestHost): void {
  host.engine.clearCalls();
  host.out.length = 0;
  host.err.length = 0;
}

describe('remove', () => {
  it("removes every container, tag, state and config of the service in one environment, keeps its data and every other environment's", async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    const stage = (version: 'v1' | 'v2') => webSpec(host, version, { env: 'stage', ports: ['8090:8080'] });
    await deployed(host, stage('v1'));
    await deployed(host, stage('v2'));
    // What an interrupted deploy left: a -next container that never started.
    const loaded = loadSpec(specText(stage('v1')), host.roots.data);
    await host.engine.createContainer('berth-stage-web-next', createBody(loaded.spec, loaded.hash));
    const data = path.join(host.roots.data, 'stage', 'web', 'data');
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(path.join(data, 'first'), 'written-by-v1\n');
    forget(host);

    await remove(host.context, 'stage', 'web');
    expect(host.engine.calls).toEqual([
      'inspect berth-stage-web',
      'list {"label":["berth.service=web","berth.env=stage"]}',
      'remove berth-stage-web',
      'remove berth-stage-web-next',
      'removeImage berth/web:stage-current',
      'removeImage berth/web:stage-previous',
    ]);
    expect(host.out).toEqual([
      'stage/web: removed container 000300030003',
      'stage/web: removed container 000400040004',
      `stage/web: removed (data under ${host.roots.data} is kept)`,
    ]);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(host.engine.tagLines()).toEqual([`berth/web:prod-current -> ${v1}`]);
    expect(fs.existsSync(path.join(host.roots.state, 'stage', 'web'))).toBe(false);
    expect(fs.existsSync(path.join(host.roots.config, 'stage', 'web'))).toBe(false);
    expect(fs.readdirSync(path.join(host.roots.state, 'prod'))).toEqual(['web']);
    expect(fs.readdirSync(path.join(host.roots.config, 'prod'))).toEqual(['web']);
    expect(fs.readFileSync(path.join(data, 'first'), 'utf8')).toBe('written-by-v1\n');
    expect(auditLines(host).slice(-1)).toEqual([`${TIME} action=remove service=web env=stage from=${v2} to=- result=ok`]);
  });

  it('of a service that is not there removes nothing and says so', async () => {
    const host = testHost();
    await remove(host.context, 'prod', 'ghost', 'ghost-app-1');
    expect(host.engine.mutations()).toEqual(['removeImage berth/ghost:prod-current', 'removeImage berth/ghost:prod-previous']);
    expect(host.out).toEqual([`prod/ghost: removed (data under ${host.roots.data} is kept)`]);
    expect(auditLines(host)).toEqual([`${TIME} action=remove service=ghost env=prod from=- to=- result=ok`]);
  });

  it('with --deployment keeps a service another deployment owns now', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'), { deployment: 'web-frontend-app-1' });
    forget(host);
    await remove(host.context, 'prod', 'web', 'web-app-1');
    expect(host.engine.calls).toEqual(['inspect berth-prod-web']);
    expect(host.out).toEqual(['prod/web: kept: deployment web-frontend-app-1 owns it now, not web-app-1']);
    expect(host.engine.containerLines()).toEqual(['berth-prod-web 000100010001 running']);
    expect(fs.readdirSync(path.join(host.roots.state, 'prod', 'web')).sort()).toEqual(['current.json', 'deployment']);
    expect(auditLines(host).slice(-1)).toEqual([`${TIME} action=remove service=web env=prod from=${v1} to=${v1} result=kept-newer`]);

    // The owner's own delete removes it.
    await remove(host.context, 'prod', 'web', 'web-frontend-app-1');
    expect(host.engine.containerLines()).toEqual([]);
    expect(auditLines(host).slice(-1)).toEqual([`${TIME} action=remove service=web env=prod from=${v1} to=- result=ok`]);
  });

  it.each([
    ['no owner recorded', undefined],
    ['an empty owner file', ''],
  ])('with --deployment removes a service with %s', async (_label, owner) => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    if (owner !== undefined) {
      fs.writeFileSync(path.join(host.roots.state, 'prod', 'web', 'deployment'), owner);
    }
    await remove(host.context, 'prod', 'web', 'web-app-1');
    expect(host.engine.containerLines()).toEqual([]);
    expect(fs.existsSync(path.join(host.roots.state, 'prod', 'web'))).toBe(false);
  });

  it('passes an unexpected error of an untag through, and lets go of the lock', async () => {
    const host = testHost({ lockWaitMs: 200 });
    host.engine.failNext('removeImage', new TypeError('socket hang up'));
    await expect(remove(host.context, 'prod', 'web')).rejects.toThrow(new TypeError('socket hang up'));
    host.engine.failNext('removeImage', new EngineError('No such image: berth/web:prod-current', 404));
    await expect(remove(host.context, 'prod', 'web')).resolves.toBeUndefined();
    expect(auditLines(host)).toEqual([`${TIME} action=remove service=web env=prod from=- to=- result=ok`]);
  });
});

describe('status', () => {
  /** prod/web v2 (previous v1) healthy, prod/api whose check errors, stage/web stopped, dev/web recorded but gone, test/worker unrecorded. */
  async function busyHost(): Promise<TestHost> {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    await deployed(host, webSpec(host, 'v2'));
    await deployed(host, webSpec(host, 'v1', { name: 'api', image: API_IMAGE, ports: ['9000:9000'], configFile: undefined }));
    await deployed(host, webSpec(host, 'v1', { env: 'stage', ports: ['8090:8080'] }));
    await host.engine.stopContainer('berth-stage-web');
    await deployed(host, webSpec(host, 'v1', { env: 'dev', ports: ['8070:8080'] }));
    await host.engine.removeContainer('berth-dev-web');
    fs.writeFileSync(path.join(host.roots.state, 'dev', 'web', 'previous.json'), 'not json\n');
    host.engine.addImage(v3);
    const worker = createBody({ name: 'worker', env: 'test', image: v3, health: { cmd: 'true', timeoutSeconds: 5 } }, 'f'.repeat(64));
    await host.engine.startContainer(await host.engine.createContainer('berth-test-worker', worker));
    // Not services: a file in the state root, a folder without a recorded spec, a file in an environment's folder.
    fs.writeFileSync(path.join(host.roots.state, 'README'), 'berth state\n');
    fs.mkdirSync(path.join(host.roots.state, 'qa', 'ghost'), { recursive: true });
    fs.writeFileSync(path.join(host.roots.state, 'qa', 'notes'), '');
    host.engine.setHealth(API_IMAGE, neverHealthy());
    forget(host);
    return host;
  }

  const rows = {
    devWeb: { name: 'web', env: 'dev', image: '', state: 'missing', health: '-', previousImage: '', containerId: '' },
    prodApi: { name: 'api', env: 'prod', image: API_IMAGE, state: 'running', health: 'unhealthy', previousImage: '', containerId: containerIdFor(3) },
    prodWeb: { name: 'web', env: 'prod', image: v2, state: 'running', health: 'healthy', previousImage: v1, containerId: containerIdFor(2) },
    stageWeb: { name: 'web', env: 'stage', image: v1, state: 'exited', health: '-', previousImage: '', containerId: containerIdFor(4) },
    testWorker: { name: 'worker', env: 'test', image: v3, state: 'running', health: 'unknown', previousImage: '', containerId: containerIdFor(6) },
  };

  it('lists every service with a container or a recorded spec, sorted, with one health check each, and changes nothing', async () => {
    const host = await busyHost();
    host.engine.failNext('exec', new EngineError('container is restarting', 409), (id) => id === containerIdFor(3));
    await expect(status(host.context, {})).resolves.toEqual([rows.devWeb, rows.prodApi, rows.prodWeb, rows.stageWeb, rows.testWorker]);
    expect(host.engine.calls).toEqual([
      'list {"label":["berth.service"]}',
      'inspect berth-dev-web',
      'inspect berth-prod-api',
      `exec berth-prod-api ["sh","-c","${HEALTH_CMD}"] 10000`,
      'inspect berth-prod-web',
      `exec berth-prod-web ["sh","-c","${HEALTH_CMD}"] 10000`,
      'inspect berth-stage-web',
      'inspect berth-test-worker',
    ]);
    expect(host.engine.mutations()).toEqual([]);
    expect(host.out).toEqual([]);
  });

  it('filters by environment and by name', async () => {
    const host = await busyHost();
    await expect(status(host.context, { env: 'prod' })).resolves.toEqual([rows.prodApi, rows.prodWeb]);
    await expect(status(host.context, { name: 'web' })).resolves.toEqual([rows.devWeb, rows.prodWeb, rows.stageWeb]);
    await expect(status(host.context, { env: 'stage', name: 'web' })).resolves.toEqual([rows.stageWeb]);
    await expect(status(host.context, { env: 'qa' })).resolves.toEqual([]);
    expect(host.engine.calls.filter((call) => call.startsWith('list '))).toEqual([
      'list {"label":["berth.service","berth.env=prod"]}',
      'list {"label":["berth.service","berth.service=web"]}',
      'list {"label":["berth.service","berth.env=stage","berth.service=web"]}',
      'list {"label":["berth.service","berth.env=qa"]}',
    ]);
  });

  it('checks no health without a readable recorded spec', async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    fs.writeFileSync(path.join(host.roots.state, 'prod', 'web', 'current.json'), '{"health":');
    fs.writeFileSync(path.join(host.roots.state, 'prod', 'web', 'previous.json'), '{"image":42}');
    forget(host);
    await expect(status(host.context, {})).resolves.toEqual([
      { name: 'web', env: 'prod', image: v1, state: 'running', health: 'unknown', previousImage: '', containerId: containerIdFor(1) },
    ]);
    expect(host.engine.calls).toEqual(['list {"label":["berth.service"]}', 'inspect berth-prod-web']);
  });

  it('of a host with nothing on it is empty', async () => {
    const host = testHost();
    await expect(status(host.context, {})).resolves.toEqual([]);
  });

  it('prints a table, one line a service, - for what is missing', () => {
    const table: StatusRow[] = [
      { name: 'auth-service', env: 'prod', image: 'r/auth@sha256:bb', state: 'running', health: 'healthy', previousImage: 'r/auth@sha256:aa', containerId: 'c1' },
      { name: 'web', env: 'dev', image: '', state: 'missing', health: '-', previousImage: '', containerId: '' },
    ];
    expect(statusTable(table)).toBe(
      'NAME                     ENV        STATE      HEALTH     IMAGE  PREVIOUS\n' +
        'auth-service             prod       running    healthy    r/auth@sha256:bb  r/auth@sha256:aa\n' +
        'web                      dev        missing    -          -  -\n',
    );
    expect(statusTable([])).toBe('NAME                     ENV        STATE      HEALTH     IMAGE  PREVIOUS\n');
  });
});

describe('history', () => {
  it("is the audit lines of the service in the environment, oldest first, and no other service's", async () => {
    const host = testHost();
    await deployed(host, webSpec(host, 'v1'));
    await deployed(host, webSpec(host, 'v1', { name: 'web-admin', ports: ['8081:8080'] }));
    await deployed(host, webSpec(host, 'v1', { env: 'stage', ports: ['8090:8080'] }));
    host.clock.advance(61_000);
    await deployed(host, webSpec(host, 'v2'));
    await remove(host.context, 'prod', 'web');
    expect(history(host.context, 'prod', 'web')).toEqual([
      `${TIME} action=deploy service=web env=prod from=- to=${v1} result=ok`,
      `2025-06-02T09:15:04Z action=deploy service=web env=prod from=${v1} to=${v2} result=ok`,
      `2025-06-02T09:15:04Z action=remove service=web env=prod from=${v2} to=- result=ok`,
    ]);
    expect(history(host.context, 'qa', 'web')).toEqual([]);
  });

  it('of a host without an audit log is empty', () => {
    expect(history(testHost().context, 'prod', 'web')).toEqual([]);
  });
});
