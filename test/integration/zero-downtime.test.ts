/**
 * The zero-downtime invariant on the real engine and a real HAProxy: under an
 * open-loop load of 100 requests/s (90% answered at once, 10% taking 2 s), a
 * deploy of a service that boots in 3 s and exits at once on SIGTERM loses
 * no request with the agent behind the host proxy. The same scenario with
 * plain `docker stop` + `docker run`, and with the agent's drain set to 0,
 * must lose some: the load can see a failure. Counts only, never times.
 */
import { agentEnvironment } from '../bench/zero-downtime';
import { buildSlowBootImages, removeSlowBootImages, runSwapScenario, SlowBootImages } from '../support/swapScenario';

let images: SlowBootImages;

beforeAll(() => {
  images = buildSlowBootImages();
}, 120_000);

afterAll(() => {
  removeSlowBootImages(images);
});

describe('a deploy under load', () => {
  it('loses no request, short or long, with the agent behind the host proxy', async () => {
    const result = await runSwapScenario('agent', { images, agentEnvironment });
    expect(result.deployOutput).toContain('(switched)');
    expect(result.deployOutput).toContain('the old container has drained');
    expect(result.load.byClass.short.sent).toBeGreaterThan(500);
    expect(result.load.byClass.long.sent).toBeGreaterThan(50);
    expect(result.load.failures).toEqual([]);
    expect(result.load.failed).toBe(0);
  }, 180_000);

  it('loses requests with plain docker stop + docker run: the load sees failures', async () => {
    const result = await runSwapScenario('baseline', { images });
    expect(result.load.byClass.short.failed).toBeGreaterThan(0);
    expect(result.load.byClass.long.failed).toBeGreaterThan(0);
  }, 180_000);

  it('cuts the long requests in flight when the agent does not drain (drainSeconds 0), and only those', async () => {
    const result = await runSwapScenario('agent', { images, agentEnvironment, agentSpec: (spec) => ({ ...spec, drainSeconds: 0 }) });
    expect(result.load.byClass.long.failed).toBeGreaterThan(0);
    expect(result.load.byClass.short.failed).toBe(0);
  }, 180_000);
});
