/**
 * `berth-agent prune` (components/service/agent/prune.ts) against the
 * in-memory engine: which stopped containers go, which stay, scoped by
 * environment, then the dangling images, with one line each and a summary.
 */
import { createBody } from '../../../components/service/agent/containerConfig';
import { EngineError } from '../../../components/service/agent/engine';
import { prune } from '../../../components/service/agent/prune';
import { containerIdFor, FakeContainer, imageIdFor } from './fakeEngine';
import { API_IMAGE, IMAGES, removeScratchHosts, TestHost, testHost } from './testHost';

const { v1, v2, v3 } = IMAGES;
const HOUR = 3600;
const TMP_IMAGE = 'berth/tmp:build';

afterEach(removeScratchHosts);

const short = (n: number): string => containerIdFor(n).slice(0, 12);

/**
 * 1 berth-prod-web running (current), 2 berth-prod-api stopped 2 days ago (current),
 * 3 berth-prod-web-next stopped 2 h ago, 4 berth-prod-cache-next stopped 10 min ago,
 * 5 berth-prod-jobs-next created 3 h ago and never started, 6 berth-stage-web-next stopped 5 h ago,
 * 7 stray (no Berth labels) stopped 9 h ago, 8 berth-prod-batch-next stopped 2 h ago.
 * Images: v1 tagged current; v2 pulled by digest only; API_IMAGE by digest, used by 2;
 * v3 by digest, used by 3 only; a build image with no reference at all.
 */
async function pruneHost(): Promise<TestHost> {
  const host = testHost();
  const { engine, clock } = host;
  engine.addImage(v1);
  engine.addImage(v2, { size: 7000, layers: ['sha256:layer-1', 'sha256:layer-2'] });
  engine.addImage(API_IMAGE);
  engine.addImage(v3);
  engine.addImage(TMP_IMAGE).tags.clear();
  await engine.tagImage(v1, 'berth/web', 'prod-current');
  const now = Math.floor(clock.now() / 1000);
  const make = async (name: string, image: string, labels: Record<string, string>, set: Partial<FakeContainer>): Promise<void> => {
    const body = createBody({ name: 'x', env: 'y', image, health: { cmd: 'true', timeoutSeconds: 1 } }, 'hash');
    body.Labels = labels;
    const id = await engine.createContainer(name, body);
    Object.assign(engine.containers.get(id)!, set);
  };
  const berth = (service: string, env = 'prod') => ({ 'berth.service': service, 'berth.env': env, 'berth.image': 'recorded', 'berth.spec-hash': 'h' });
  const stopped = (secondsAgo: number, sizeRw = 0): Partial<FakeContainer> => ({
    state: 'exited',
    created: now - secondsAgo - HOUR,
    finishedAt: new Date((now - secondsAgo) * 1000).toISOString(),
    sizeRw,
  });
  await make('berth-prod-web', v1, berth('web'), { state: 'running', created: now - 30 * HOUR });
  await make('berth-prod-api', API_IMAGE, berth('api'), stopped(48 * HOUR, 50));
  await make('berth-prod-web-next', v3, berth('web'), stopped(2 * HOUR, 1000));
  await make('berth-prod-cache-next', v1, berth('cache'), stopped(600, 30));
  await make('berth-prod-jobs-next', v1, berth('jobs'), { state: 'created', created: now - 3 * HOUR });
  await make('berth-stage-web-next', v1, berth('web', 'stage'), stopped(5 * HOUR, 500));
  await make('stray', v1, {}, stopped(9 * HOUR, 70));
  await make('berth-prod-batch-next', v1, berth('batch'), stopped(2 * HOUR, 80));
  host.engine.clearCalls();
  return host;
}

describe('prune', () => {
  it('removes old stopped containers that are not current, then the dangling images, and logs a summary', async () => {
    const host = await pruneHost();
    host.engine.failNext('removeContainer', new EngineError('removal of container berth-prod-batch-next is already in progress', 409), (id) => id === containerIdFor(8));
    await expect(prune(host.context, { minAgeSeconds: HOUR })).resolves.toEqual({
      containersRemoved: 3,
      containersKept: 2,
      imagesRemoved: 3,
      layersRemoved: 2,
      containerBytes: 1500,
      imageBytes: 9000,
    });
    expect(host.out).toEqual([
      `removed container berth-prod-web-next id=${short(3)} service=web env=prod image=${v3} bytes=1000`,
      'kept container berth-prod-cache-next: stopped less than 3600s ago',
      `removed container berth-prod-jobs-next id=${short(5)} service=jobs env=prod image=${v1} bytes=0`,
      `removed container berth-stage-web-next id=${short(6)} service=web env=stage image=${v1} bytes=500`,
      `could not remove container berth-prod-batch-next id=${short(8)}; leaving it`,
      `removed image ${imageIdFor(v2)} refs=${v2}`,
      `removed image ${imageIdFor(v3)} refs=${v3}`,
      `removed image ${imageIdFor(TMP_IMAGE)}`,
      'summary: scope=all removed containers=3 images=3 layers=2 kept_stopped_containers=2 bytes_freed=10500 (containers=1500 images=9000)',
    ]);
    expect(host.engine.calls).toEqual([
      'list {"label":["berth.service"],"status":["exited","created","dead"]} size',
      'inspect berth-prod-web-next',
      'remove berth-prod-web-next',
      'inspect berth-prod-cache-next',
      'inspect berth-prod-jobs-next',
      'remove berth-prod-jobs-next',
      'inspect berth-stage-web-next',
      'remove berth-stage-web-next',
      'inspect berth-prod-batch-next',
      'remove berth-prod-batch-next',
      'listImages {"dangling":["true"]}',
      'pruneImages {"dangling":["true"]}',
    ]);
    expect(host.engine.containerLines().map((line) => line.split(' ')[0])).toEqual(['berth-prod-api', 'berth-prod-batch-next', 'berth-prod-cache-next', 'berth-prod-web', 'stray']);
    expect([...host.engine.images.keys()].sort()).toEqual([imageIdFor(v1), imageIdFor(API_IMAGE)].sort());
  });

  it("with --env keeps every other environment's containers", async () => {
    const host = await pruneHost();
    const summary = await prune(host.context, { env: 'prod', minAgeSeconds: HOUR });
    expect(summary).toEqual({ containersRemoved: 3, containersKept: 2, imagesRemoved: 3, layersRemoved: 2, containerBytes: 1080, imageBytes: 9000 });
    expect(host.engine.calls[0]).toBe('list {"label":["berth.service","berth.env=prod"],"status":["exited","created","dead"]} size');
    expect(host.engine.containerLines().map((line) => line.split(' ')[0])).toEqual(['berth-prod-api', 'berth-prod-cache-next', 'berth-prod-web', 'berth-stage-web-next', 'stray']);
    expect(host.out.slice(-1)).toEqual(['summary: scope=prod removed containers=3 images=3 layers=2 kept_stopped_containers=2 bytes_freed=10080 (containers=1080 images=9000)']);
  });

  it('keeps what stopped within the minimum age: a container is judged by when it stopped, or was created if it never ran', async () => {
    const host = await pruneHost();
    const summary = await prune(host.context, { minAgeSeconds: 3 * HOUR + 1 });
    expect(summary.containersRemoved).toBe(1);
    expect(host.out.filter((line) => line.startsWith('kept '))).toEqual([
      'kept container berth-prod-web-next: stopped less than 10801s ago',
      'kept container berth-prod-cache-next: stopped less than 10801s ago',
      'kept container berth-prod-jobs-next: stopped less than 10801s ago',
      'kept container berth-prod-batch-next: stopped less than 10801s ago',
    ]);
    expect(host.out.filter((line) => line.startsWith('removed container'))).toEqual([`removed container berth-stage-web-next id=${short(6)} service=web env=stage image=${v1} bytes=500`]);
  });

  it('removes a container that stopped exactly the minimum age ago', async () => {
    const host = await pruneHost();
    await prune(host.context, { env: 'prod', minAgeSeconds: 3 * HOUR });
    expect(host.out.filter((line) => line.includes('berth-prod-jobs-next'))).toEqual([`removed container berth-prod-jobs-next id=${short(5)} service=jobs env=prod image=${v1} bytes=0`]);
  });

  it('of a clean host removes nothing and says so', async () => {
    const host = testHost();
    await expect(prune(host.context, { minAgeSeconds: 0 })).resolves.toEqual({
      containersRemoved: 0,
      containersKept: 0,
      imagesRemoved: 0,
      layersRemoved: 0,
      containerBytes: 0,
      imageBytes: 0,
    });
    expect(host.out).toEqual(['summary: scope=all removed containers=0 images=0 layers=0 kept_stopped_containers=0 bytes_freed=0 (containers=0 images=0)']);
  });

  it('passes an unexpected error of a container removal through, and lets go of the prune lock', async () => {
    const host = await pruneHost();
    host.context.lockWaitMs = 200;
    host.engine.failNext('removeContainer', new TypeError('socket hang up'));
    await expect(prune(host.context, { minAgeSeconds: HOUR })).rejects.toThrow(new TypeError('socket hang up'));
    await expect(prune(host.context, { minAgeSeconds: HOUR })).resolves.toMatchObject({ containersRemoved: 4 });
  });
});
