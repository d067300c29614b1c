/**
 * The in-memory engine the agent's unit tests run on (./fakeEngine.ts): it
 * must refuse what dockerd refuses, or the deploy tests prove nothing.
 */
import { createBody } from '../../../components/service/agent/containerConfig';
import type { ContainerCreateBody } from '../../../components/service/agent/engine';
import { EngineError } from '../../../components/service/agent/engine';
import { containerIdFor, FakeClock, FakeEngine, healthyAfter, imageIdFor, neverHealthy } from './fakeEngine';

const IMAGE = `registry.example.com/berth/web@sha256:${'a1'.repeat(32)}`;
const OTHER = `registry.example.com/berth/api@sha256:${'d4'.repeat(32)}`;

function body(ports: string[], labels: Record<string, string> = {}, image = IMAGE): ContainerCreateBody {
  const created = createBody({ name: 'web', env: 'prod', image, ports, health: { cmd: 'true', timeoutSeconds: 1 } }, 'h');
  created.Labels = labels;
  return created;
}

async function engineError(promise: Promise<unknown>, message: string, status: number): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(EngineError);
    expect([(error as EngineError).message, (error as EngineError).status]).toEqual([message, status]);
    return;
  }
  throw new Error('expected an EngineError');
}

describe('the fake engine', () => {
  it('creates only from an image on the host, under a free name, and never pulls', async () => {
    const engine = new FakeEngine();
    await engineError(engine.createContainer('a', body([])), `No such image: ${IMAGE}`, 404);
    engine.addImage(IMAGE);
    await expect(engine.createContainer('a', body([]))).resolves.toBe(containerIdFor(1));
    await engineError(
      engine.createContainer('a', body([])),
      `Conflict. The container name "/a" is already in use by container "${containerIdFor(1)}". You have to remove (or rename) that container to be able to reuse that name.`,
      409,
    );
    const b = await engine.createContainer('b', body([]));
    await engineError(engine.renameContainer(b, 'a'), `Conflict. The container name "/a" is already in use by container "${containerIdFor(1)}".`, 409);
    await engine.renameContainer(b, 'c');
    await engineError(engine.renameContainer('gone', 'd'), 'No such container: gone', 404);
    expect(engine.calls).toEqual(['create a', 'create a', 'create a', 'create b', 'rename b a', 'rename b c', 'rename gone d']);
    expect(engine.containerLines()).toEqual(['a 000100010001 created', 'c 000200020002 created']);
  });

  it('refuses to start a container whose host port a running one holds, on any address', async () => {
    const engine = new FakeEngine();
    engine.addImage(IMAGE);
    const first = await engine.createContainer('first', body(['8080:80']));
    const second = await engine.createContainer('second', body(['127.0.0.1:8080:81']));
    const udp = await engine.createContainer('udp', body(['8080:80/udp']));
    await engine.startContainer(first);
    await engineError(
      engine.startContainer(second),
      `driver failed programming external connectivity on endpoint second (${containerIdFor(2)}): Bind for 127.0.0.1:8080 failed: port is already allocated`,
      500,
    );
    await engine.startContainer(udp);
    await engine.stopContainer(first);
    await engine.startContainer(second);
    await engine.startContainer(second);
    expect(engine.containerLines()).toEqual(['first 000100010001 exited', 'second 000200020002 running', 'udp 000300030003 running']);
  });

  it('lists by label (key or key=value, all of them), status and published port, newest first', async () => {
    const engine = new FakeEngine();
    engine.addImage(IMAGE);
    const a = await engine.createContainer('a', body(['8080:80'], { 'berth.service': 'web', 'berth.env': 'prod' }));
    await engine.createContainer('b', body(['8081:80'], { 'berth.service': 'web', 'berth.env': 'stage' }));
    await engine.createContainer('c', body([], {}));
    await engine.startContainer(a);
    const names = async (filters: Record<string, string[]>) => (await engine.listContainers(filters)).map((row) => row.Names[0]);
    await expect(names({})).resolves.toEqual(['/c', '/b', '/a']);
    await expect(names({ label: ['berth.service'] })).resolves.toEqual(['/b', '/a']);
    await expect(names({ label: ['berth.service=web', 'berth.env=prod'] })).resolves.toEqual(['/a']);
    await expect(names({ label: ['berth.env=qa'] })).resolves.toEqual([]);
    await expect(names({ status: ['created'] })).resolves.toEqual(['/c', '/b']);
    await expect(names({ publish: ['8080'] })).resolves.toEqual(['/a']);
    await expect(names({ publish: ['8080/udp'] })).resolves.toEqual([]);
    // A container that is not running publishes nothing.
    await expect(names({ publish: ['8081'] })).resolves.toEqual([]);
    await engineError(engine.listContainers({ ancestor: ['x'] }), "invalid filter 'ancestor'", 400);
    const [row] = await engine.listContainers({ label: ['berth.env=prod'] }, { size: true });
    expect(row).toEqual({ Id: a, Names: ['/a'], State: 'running', Labels: { 'berth.service': 'web', 'berth.env': 'prod' }, Created: 1748855643, SizeRw: 0, Image: IMAGE });
  });

  it('inspects by name, id or id prefix', async () => {
    const clock = new FakeClock();
    const engine = new FakeEngine(clock);
    engine.addImage(IMAGE);
    const id = await engine.createContainer('berth-prod-web', body(['8080:80']));
    await engine.startContainer(id);
    clock.advance(2500);
    await engine.stopContainer('berth-prod-web');
    const details = {
      Id: id,
      Name: '/berth-prod-web',
      Created: '2025-06-02T09:14:03.000Z',
      State: { Status: 'exited', Running: false, FinishedAt: '2025-06-02T09:14:05.500Z' },
      Config: { Labels: null },
      HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] } },
    };
    await expect(engine.inspectContainer('berth-prod-web')).resolves.toEqual(details);
    await expect(engine.inspectContainer(id.slice(0, 12))).resolves.toEqual(details);
    await expect(engine.inspectContainer('berth-prod-api')).resolves.toBeUndefined();
    await expect(engine.inspectContainer('')).resolves.toBeUndefined();
  });

  it('runs health checks in running containers only, counting them', async () => {
    const engine = new FakeEngine();
    engine.addImage(IMAGE);
    engine.addImage(OTHER);
    engine.setHealth(IMAGE, healthyAfter(2, 'not yet'));
    engine.setHealth(OTHER, neverHealthy('broken'));
    const web = await engine.createContainer('web', body([]));
    const api = await engine.createContainer('api', body([], {}, OTHER));
    await engineError(engine.exec(web, ['true'], 1000), `container ${web} is not running`, 409);
    await engine.startContainer(web);
    await engine.startContainer(api);
    await expect(engine.exec(web, ['true'], 1000)).resolves.toEqual({ exitCode: 1, output: 'not yet' });
    await expect(engine.exec(web, ['true'], 1000)).resolves.toEqual({ exitCode: 0, output: '' });
    await expect(engine.exec(api, ['true'], 1000)).resolves.toEqual({ exitCode: 1, output: 'broken' });
    await engineError(engine.exec('gone', ['true'], 1000), 'No such container: gone', 404);
  });

  it('logs the last lines, nothing for a container that never started', async () => {
    const engine = new FakeEngine();
    engine.addImage(IMAGE);
    engine.setLogs(IMAGE, 'one\ntwo\nthree\n');
    const id = await engine.createContainer('web', body([]));
    await expect(engine.logs(id, 50)).resolves.toBe('');
    await engine.startContainer(id);
    await expect(engine.logs(id, 50)).resolves.toBe('one\ntwo\nthree\n');
    await expect(engine.logs(id, 1)).resolves.toBe('three\n');
  });

  it('pulls what the registry has, with the credentials it wants', async () => {
    const engine = new FakeEngine();
    const auth = { username: 'AWS', password: 'p', serveraddress: 'registry.example.com' };
    engine.publish(IMAGE, { auth });
    await engineError(engine.pullImage(OTHER), `manifest for ${OTHER} not found: manifest unknown: manifest unknown`, 404);
    await engineError(engine.pullImage(IMAGE), 'Head "https://registry.example.com/v2/": no basic auth credentials', 500);
    await expect(engine.hasImage(IMAGE)).resolves.toBe(false);
    await engine.pullImage(IMAGE, auth);
    await expect(engine.hasImage(IMAGE)).resolves.toBe(true);
    expect(engine.pulls).toEqual([{ reference: OTHER }, { reference: IMAGE }, { reference: IMAGE, auth }]);
  });

  it('tags, moving a tag, untags, and prunes dangling images no container uses', async () => {
    const engine = new FakeEngine();
    engine.addImage(IMAGE, { size: 10, layers: ['sha256:l1'] });
    engine.addImage(OTHER, { size: 20 });
    await engineError(engine.tagImage('missing@sha256:00', 'berth/web', 'prod-current'), 'No such image: missing@sha256:00', 404);
    await engine.tagImage(IMAGE, 'berth/web', 'prod-current');
    await engine.tagImage(OTHER, 'berth/web', 'prod-current');
    expect(engine.tagLines()).toEqual([`berth/web:prod-current -> ${OTHER}`]);
    await expect(engine.hasImage('berth/web:prod-current')).resolves.toBe(true);
    await expect(engine.listImages({ dangling: ['true'] })).resolves.toEqual([{ Id: imageIdFor(IMAGE), RepoDigests: [IMAGE] }]);
    await engine.removeImage('berth/web:prod-current');
    await engineError(engine.removeImage('berth/web:prod-current'), 'No such image: berth/web:prod-current', 404);
    await engine.createContainer('uses-other', body([], {}, OTHER));
    await expect(engine.pruneImages({ dangling: ['true'] })).resolves.toEqual({ ImagesDeleted: [{ Untagged: IMAGE }, { Deleted: imageIdFor(IMAGE) }, { Deleted: 'sha256:l1' }], SpaceReclaimed: 10 });
    await expect(engine.pruneImages({ dangling: ['true'] })).resolves.toEqual({ ImagesDeleted: null, SpaceReclaimed: 0 });
    await engineError(engine.listImages({}), 'the fake engine lists and prunes dangling images only, got {}', 400);
  });

  it('fails the call it is told to, once, and records every call in order', async () => {
    const engine = new FakeEngine();
    engine.addImage(IMAGE);
    engine.failNext('createContainer', new EngineError('injected', 500), (name) => name === 'b');
    await engine.createContainer('a', body([]));
    await engineError(engine.createContainer('b', body([])), 'injected', 500);
    await engine.createContainer('b', body([]));
    await engine.removeContainer('a');
    await engineError(engine.removeContainer('a'), 'No such container: a', 404);
    expect(engine.calls).toEqual(['create a', 'create b', 'create b', 'remove a', 'remove a']);
    expect(engine.mutations()).toEqual(engine.calls);
  });
});
