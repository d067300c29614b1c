/**
 * The host's locks (components/service/agent/locks.ts) for real: Linux
 * abstract unix sockets, each test on a lock file of its own. Two HostLocks
 * on one lock file stand for two agent processes on one host.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { rejection } from '../../support/rejection';
import { boundNames, Held, HostLocks, LockTimeout } from '../../../components/service/agent/locks';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-locks-unit-'));
let count = 0;

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A lock file of its own, and two "processes" using it. */
function host(): { a: HostLocks; b: HostLocks; key: string } {
  const file = path.join(scratch, `berth-${++count}.lock`);
  return { a: new HostLocks(file), b: new HostLocks(file), key: createHash('sha256').update(file).digest('hex').slice(0, 16) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Tracks when a pending lock is granted. */
function pending(promise: Promise<Held>): { granted: () => number | undefined; held: Promise<Held> } {
  let at: number | undefined;
  const held = promise.then((value) => {
    at = Date.now();
    return value;
  });
  return { granted: () => at, held };
}

describe('the service lock', () => {
  it('makes a second deploy of the service wait until the first lets go', async () => {
    const { a, b } = host();
    const first = await a.forService('prod', 'web', 1000);
    const second = pending(b.forService('prod', 'web', 10_000));
    await sleep(400);
    expect(second.granted()).toBeUndefined();
    const released = Date.now();
    await first.release();
    const held = await second.held;
    expect(second.granted()).toBeGreaterThanOrEqual(released);
    await held.release();
  });

  it('times out after the wait when never let go', async () => {
    const { a, b } = host();
    const first = await a.forService('prod', 'web', 0);
    const started = Date.now();
    const error = await rejection(b.forService('prod', 'web', 1000));
    const waited = Date.now() - started;
    expect(error).toBeInstanceOf(LockTimeout);
    expect(error.name).toBe('LockTimeout');
    expect(error.message).toBe('prod/web: another berth-agent held the lock for 1s');
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect(waited).toBeLessThan(3000);
    await first.release();
    // Let go, it is free at once.
    await (await b.forService('prod', 'web', 0)).release();
  });

  it('does not hold up another service, the same service in another environment, or another host', async () => {
    const { a, b } = host();
    const other = host();
    const web = await a.forService('prod', 'web', 0);
    const held = await Promise.all([b.forService('prod', 'api', 0), b.forService('stage', 'web', 0), other.b.forService('prod', 'web', 0)]);
    await Promise.all([web, ...held].map((lock) => lock.release()));
  });

  it('tells apart services whose names only differ beyond what an abstract name holds', async () => {
    const { a, b, key } = host();
    const env = 'e'.repeat(48);
    const long = (last: string) => `${'n'.repeat(47)}${last}`;
    const first = await a.forService(env, long('a'), 0);
    const second = await b.forService(env, long('b'), 0);
    const error = await rejection(b.forService(env, long('a'), 0));
    expect(error.message).toBe(`${env}/${long('a')}: another berth-agent held the lock for 0s`);
    const service = boundNames(`berth-${key}-`)
      .map((name) => name.replace(/@+$/, ''))
      .filter((name) => !name.includes('-deploying-'))
      .sort();
    const hashed = (kind: string) => `berth-${key}-${createHash('sha256').update(kind).digest('hex')}`;
    expect(service).toEqual([hashed(`service-${env}/${long('a')}`), hashed(`service-${env}/${long('b')}`)].sort());
    await Promise.all([first.release(), second.release()]);
  });

  it('keeps a name of 107 bytes readable and hashes one of 108', async () => {
    const { a, key } = host();
    const name = 'n'.repeat(48);
    const fits = await a.forService('e'.repeat(27), name, 0);
    const over = await a.forService('e'.repeat(28), name, 0);
    const service = boundNames(`berth-${key}-`)
      .map((bound) => bound.replace(/@+$/, ''))
      .filter((bound) => !bound.includes('-deploying-'))
      .sort();
    const readable = `berth-${key}-service-${'e'.repeat(27)}/${name}`;
    expect(readable).toHaveLength(107);
    expect(service).toEqual([`berth-${key}-${createHash('sha256').update(`service-${'e'.repeat(28)}/${name}`).digest('hex')}`, readable]);
    await Promise.all([fits.release(), over.release()]);
  });

  it('is a bound abstract name while held, and gone when let go', async () => {
    const { a, key } = host();
    const held = await a.forService('prod', 'web', 0);
    // Node binds the whole sun_path: /proc/net/unix shows the NUL padding as @.
    const names = boundNames(`berth-${key}-`)
      .map((name) => name.replace(/@+$/, ''))
      .sort();
    expect(names).toHaveLength(2);
    expect(names[0]).toMatch(new RegExp(`^berth-${key}-deploying-${process.pid}-[0-9]+$`));
    expect(names[1]).toBe(`berth-${key}-service-prod/web`);
    await held.release();
    expect(boundNames(`berth-${key}-`)).toEqual([]);
  });
});

describe('deploys against prunes', () => {
  it('a prune waits for a running deploy', async () => {
    const { a, b } = host();
    const deploy = await a.forService('prod', 'web', 0);
    const prune = pending(b.forPrune(10_000));
    await sleep(400);
    expect(prune.granted()).toBeUndefined();
    const released = Date.now();
    await deploy.release();
    const held = await prune.held;
    expect(prune.granted()).toBeGreaterThanOrEqual(released);
    await held.release();
  });

  it('a deploy waits while a prune holds the host, and lets go of its service lock when it gives up', async () => {
    const { a, b } = host();
    const prune = await a.forPrune(0);
    const deploy = pending(b.forService('prod', 'web', 10_000));
    await sleep(400);
    expect(deploy.granted()).toBeUndefined();
    const released = Date.now();
    await prune.release();
    const held = await deploy.held;
    expect(deploy.granted()).toBeGreaterThanOrEqual(released);
    await held.release();

    const again = await a.forPrune(0);
    const error = await rejection(b.forService('prod', 'web', 1000));
    expect(error).toBeInstanceOf(LockTimeout);
    expect(error.message).toBe("a prune held the host's lock for 1s");
    await again.release();
    await (await b.forService('prod', 'web', 0)).release();
  });

  it('a prune that never gets in times out and lets go of the prune lock', async () => {
    const { a, b } = host();
    const deploy = await a.forService('prod', 'web', 0);
    const started = Date.now();
    const error = await rejection(b.forPrune(1000));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(error).toBeInstanceOf(LockTimeout);
    expect(error.message).toBe("deploys held the host's lock for 1s");
    // The prune lock was let go: deploys are not held up.
    await (await b.forService('prod', 'api', 0)).release();
    await deploy.release();
    await (await b.forPrune(0)).release();
  });

  it('one prune at a time', async () => {
    const { a, b } = host();
    const first = await a.forPrune(0);
    const error = await rejection(b.forPrune(1000));
    expect(error).toBeInstanceOf(LockTimeout);
    expect(error.message).toBe("another prune held the host's lock for 1s");
    await first.release();
    await (await b.forPrune(0)).release();
  });
});

describe('boundNames', () => {
  it('reads the abstract names with a prefix from a /proc/net/unix table', () => {
    const table = path.join(scratch, 'unix');
    fs.writeFileSync(
      table,
      [
        'Num       RefCount Protocol Flags    Type St Inode Path',
        '0000000000000000: 00000002 00000000 00010000 0001 01 27001 @berth-abc-prune',
        '0000000000000000: 00000002 00000000 00010000 0001 01 27002 /run/berth-abc-prune.sock',
        '0000000000000000: 00000002 00000000 00010000 0001 01 27003 @berth-abd-prune',
        '0000000000000000: 00000003 00000000 00000000 0001 03 27004',
        '0000000000000000: 00000002 00000000 00010000 0001 01 27005 @berth-abc-deploying-12-1',
        '',
      ].join('\n'),
    );
    expect(boundNames('berth-abc-', table)).toEqual(['berth-abc-prune', 'berth-abc-deploying-12-1']);
    expect(boundNames('nothing-', table)).toEqual([]);
  });
});
