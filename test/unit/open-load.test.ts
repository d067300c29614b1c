/**
 * The open-loop load generator (test/support/openLoad.ts) against an
 * in-process Node http server that answers, delays, resets and fails requests
 * by path. Counts are checked exactly; time only as the schedule's order
 * (what was sent before what answered), never as a speed.
 */
import * as http from 'http';
import * as net from 'net';
import { assignClasses, failuresRelativeTo, markAt, requestCount, RequestClass, runOpenLoad, startOpenLoad } from '../support/openLoad';
import { freePort } from '../support/ports';

interface TestServer {
  url: string;
  /** Connections the server has accepted. */
  connections(): number;
  /** Requests the server has received, by path. */
  received(path: string): number;
  close(): Promise<void>;
}

/**
 * `/ok` 200 at once; `/slow?ms=N` 200 after N ms; `/reset` destroys the connection without an
 * answer; `/fail` 503; `/hang` never answers; anything else 404.
 */
async function startServer(): Promise<TestServer> {
  let connections = 0;
  const received = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    received.set(url.pathname, (received.get(url.pathname) ?? 0) + 1);
    switch (url.pathname) {
      case '/ok':
        response.end('ok\n');
        break;
      case '/slow': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          response.end('slow\n');
        }, Number(url.searchParams.get('ms') ?? 1000));
        timers.add(timer);
        break;
      }
      case '/reset':
        request.socket.destroy();
        break;
      case '/fail':
        response.statusCode = 503;
        response.end('unavailable\n');
        break;
      case '/hang':
        break;
      default:
        response.statusCode = 404;
        response.end('not found\n');
    }
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    received: (path) => received.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) {
          clearTimeout(timer);
        }
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let server: TestServer;

beforeEach(async () => {
  server = await startServer();
});

afterEach(async () => {
  await server.close();
});

describe('assignClasses', () => {
  it('gives each class exactly its share of a whole number of rounds, interleaved, from the index alone', () => {
    const classes: RequestClass[] = [
      { name: 'short', path: '/', share: 0.9 },
      { name: 'long', path: '/slow', share: 0.1 },
    ];
    const assigned = assignClasses(classes, 100);
    expect(assigned.filter((c) => c === 0)).toHaveLength(90);
    expect(assigned.filter((c) => c === 1)).toHaveLength(10);
    // One long request in every ten, never two in a row.
    for (let round = 0; round < 10; round++) {
      expect(assigned.slice(round * 10, round * 10 + 10).filter((c) => c === 1)).toHaveLength(1);
    }
    // Deterministic: the same input gives the same sequence, and a longer run starts with it.
    expect(assignClasses(classes, 100)).toEqual(assigned);
    expect(assignClasses(classes, 250).slice(0, 100)).toEqual(assigned);
  });

  it('keeps every class within one request of its share after any number of requests', () => {
    const classes: RequestClass[] = [
      { name: 'a', path: '/', share: 5 },
      { name: 'b', path: '/', share: 3 },
      { name: 'c', path: '/', share: 2 },
    ];
    const assigned = assignClasses(classes, 1000);
    const counts = [0, 0, 0];
    let worst = 0;
    assigned.forEach((c, i) => {
      counts[c]++;
      for (const [k, share] of [0.5, 0.3, 0.2].entries()) {
        worst = Math.max(worst, Math.abs(counts[k] - share * (i + 1)));
      }
    });
    expect(worst).toBeLessThanOrEqual(1);
    expect(counts).toEqual([500, 300, 200]);
  });

  it('counts floor(rate x duration) requests', () => {
    expect(requestCount(100, 1000)).toBe(100);
    expect(requestCount(100, 15000)).toBe(1500);
    expect(requestCount(50, 1000)).toBe(50);
    expect(requestCount(3, 1000)).toBe(3);
    expect(requestCount(100, 995)).toBe(99);
    expect(requestCount(100, 0)).toBe(0);
  });
});

describe('runOpenLoad', () => {
  it('counts ok and failed requests exactly, per class and per reason', async () => {
    const result = await runOpenLoad({
      url: server.url,
      rate: 100,
      durationMs: 500,
      classes: [
        { name: 'ok', path: '/ok', share: 0.5 },
        { name: 'slow', path: '/slow?ms=300', share: 0.2 },
        { name: 'reset', path: '/reset', share: 0.2 },
        { name: 'fail', path: '/fail', share: 0.1 },
      ],
    });
    expect(result.sent).toBe(50);
    expect(result.ok).toBe(35);
    expect(result.failed).toBe(15);
    expect(result.byClass).toEqual({
      ok: { sent: 25, ok: 25, failed: 0, reasons: {} },
      slow: { sent: 10, ok: 10, failed: 0, reasons: {} },
      reset: { sent: 10, ok: 0, failed: 10, reasons: { ECONNRESET: 10 } },
      fail: { sent: 5, ok: 0, failed: 5, reasons: { 'HTTP 503': 5 } },
    });
    expect(result.reasons).toEqual({ ECONNRESET: 10, 'HTTP 503': 5 });
    // What the server saw is what was sent.
    expect(['/ok', '/slow', '/reset', '/fail'].map((path) => server.received(path))).toEqual([25, 10, 10, 5]);
    // Every failure is listed with its class, reason and times; every request is recorded.
    expect(result.failures).toHaveLength(15);
    expect(result.failures.every((f) => !f.ok && (f.class === 'reset' ? f.reason === 'ECONNRESET' : f.class === 'fail' && f.reason === 'HTTP 503'))).toBe(true);
    expect(result.failures.filter((f) => f.class === 'fail').every((f) => f.status === 503)).toBe(true);
    expect(result.records.map((r) => r.index)).toEqual([...Array(50).keys()]);
    for (const r of result.records) {
      expect(r.scheduledMs).toBeCloseTo(r.index * 10, 6);
      expect(r.sentMs).toBeGreaterThanOrEqual(r.scheduledMs);
      expect(r.endedMs).toBeGreaterThanOrEqual(r.sentMs);
      expect(r.latencyMs).toBeCloseTo(r.endedMs - r.sentMs, 6);
    }
    // The slow ones took their delay (a lower bound only: the server holds them at least 300 ms).
    expect(result.records.filter((r) => r.class === 'slow').every((r) => r.latencyMs >= 290)).toBe(true);
  });

  it('is an open loop: a server slower than the schedule does not slow the sending', async () => {
    // 1 s per answer, 50 requests/s for 1 s: a closed loop would send one request
    // per answer; the open loop sends all 50 before the first answer comes back.
    const result = await runOpenLoad({ url: server.url, rate: 50, durationMs: 1000, classes: [{ name: 'slow', path: '/slow?ms=1000', share: 1 }] });
    expect(result.sent).toBe(50);
    expect(result.ok).toBe(50);
    expect(server.received('/slow')).toBe(50);
    const lastSent = Math.max(...result.records.map((r) => r.sentMs));
    const firstAnswered = Math.min(...result.records.map((r) => r.endedMs));
    expect(lastSent).toBeLessThan(firstAnswered);
    // So 50 were in flight at once, each on a connection of its own (none was free to reuse).
    expect(server.connections()).toBe(50);
  });

  it('fails a request that gets no answer within the timeout as `timeout`, in its own class', async () => {
    const result = await runOpenLoad({
      url: server.url,
      rate: 20,
      durationMs: 500,
      timeoutMs: 300,
      classes: [
        { name: 'fast', path: '/ok', share: 0.6 },
        { name: 'hung', path: '/hang', share: 0.4 },
      ],
    });
    expect(result.sent).toBe(10);
    expect(result.byClass.fast).toEqual({ sent: 6, ok: 6, failed: 0, reasons: {} });
    expect(result.byClass.hung).toEqual({ sent: 4, ok: 0, failed: 4, reasons: { timeout: 4 } });
    expect(result.failures.every((f) => f.class === 'hung' && f.status === undefined && f.latencyMs >= 290)).toBe(true);
  });

  it('fails every request to a port nothing listens on as ECONNREFUSED, and a non-2xx answer by its status', async () => {
    const port = await freePort();
    const refused = await runOpenLoad({ url: `http://127.0.0.1:${port}`, rate: 50, durationMs: 200, classes: [{ name: 'short', path: '/', share: 1 }] });
    expect(refused).toMatchObject({ sent: 10, ok: 0, failed: 10, reasons: { ECONNREFUSED: 10 } });
    const missing = await runOpenLoad({ url: server.url, rate: 50, durationMs: 200, classes: [{ name: 'short', path: '/nothing-here', share: 1 }] });
    expect(missing.byClass.short).toEqual({ sent: 10, ok: 0, failed: 10, reasons: { 'HTTP 404': 10 } });
  });

  it('reuses connections by default and opens one per request with keepAlive: false', async () => {
    // 20 requests 50 ms apart to a server that answers at once.
    const kept = await runOpenLoad({ url: server.url, rate: 20, durationMs: 1000, classes: [{ name: 'short', path: '/ok', share: 1 }] });
    expect(kept).toMatchObject({ keepAlive: true, sent: 20, ok: 20 });
    const keptConnections = server.connections();
    expect(keptConnections).toBeLessThan(20);
    const fresh = await runOpenLoad({ url: server.url, rate: 20, durationMs: 1000, keepAlive: false, classes: [{ name: 'short', path: '/ok', share: 1 }] });
    expect(fresh).toMatchObject({ keepAlive: false, sent: 20, ok: 20 });
    expect(server.connections() - keptConnections).toBe(20);
  });

  it('records marks and places each failure against a mark', async () => {
    // 40 requests over 400 ms, alternating 503 and ok. The first goes out as the load starts,
    // before the mark; every later one after it.
    const load = startOpenLoad({
      url: server.url,
      rate: 100,
      durationMs: 400,
      classes: [
        { name: 'fail', path: '/fail', share: 1 },
        { name: 'ok', path: '/ok', share: 1 },
      ],
    });
    const startedAt = load.mark('deploy-start');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const endedAt = load.mark('deploy-end');
    const result = await load.result;
    expect(result.marks).toEqual([
      { label: 'deploy-start', atMs: startedAt },
      { label: 'deploy-end', atMs: endedAt },
    ]);
    expect(markAt(result, 'deploy-start')).toBe(startedAt);
    expect(endedAt).toBeGreaterThan(startedAt);
    expect(result.byClass.fail).toEqual({ sent: 20, ok: 0, failed: 20, reasons: { 'HTTP 503': 20 } });
    const relative = failuresRelativeTo(result, 'deploy-start');
    expect(relative.map((f) => f.index)).toEqual([...Array(20).keys()].map((k) => 2 * k));
    for (const failure of relative) {
      expect(failure.sinceMarkMs).toBeCloseTo(failure.sentMs - startedAt, 6);
      expect(failure.sinceMarkMs <= 0).toBe(failure.index === 0);
    }
    expect(() => markAt(result, 'never')).toThrow(/no mark "never"/);
  });

  it('stops on demand: nothing more is sent, and the result comes once the requests sent have ended', async () => {
    const classes = [{ name: 'slow', path: '/slow?ms=200', share: 1 }];
    // Request 0 goes out as the load starts; stopped before the next is due, it is the only one.
    const once = startOpenLoad({ url: server.url, rate: 10, durationMs: 60000, classes });
    once.stop();
    expect(await once.result).toMatchObject({ sent: 1, ok: 1, failed: 0 });
    // Stopped after a while: far fewer than the 6000 an hour-long bound would send, each one answered.
    const later = startOpenLoad({ url: server.url, rate: 100, durationMs: 60000, classes });
    await new Promise((resolve) => setTimeout(resolve, 200));
    later.stop();
    later.stop();
    const result = await later.result;
    expect(result.sent).toBeGreaterThan(1);
    expect(result.sent).toBeLessThan(6000);
    expect(result.ok).toBe(result.sent);
    expect(server.received('/slow')).toBe(1 + result.sent);
  });

  it('refuses options that cannot describe a load', () => {
    const classes = [{ name: 'short', path: '/', share: 1 }];
    expect(() => startOpenLoad({ url: server.url, rate: 0, durationMs: 100, classes })).toThrow(/rate must be a positive/);
    expect(() => startOpenLoad({ url: server.url, rate: 10, durationMs: -1, classes })).toThrow(/durationMs/);
    expect(() => startOpenLoad({ url: server.url, rate: 10, durationMs: 100, classes: [] })).toThrow(/at least one request class/);
    expect(() => startOpenLoad({ url: server.url, rate: 10, durationMs: 100, classes: [{ name: 'a', path: '/', share: 0 }] })).toThrow(/positive share/);
    expect(() => startOpenLoad({ url: server.url, rate: 10, durationMs: 100, classes: [...classes, ...classes] })).toThrow(/given twice/);
  });
});
