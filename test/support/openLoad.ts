/**
 * An open-loop HTTP load generator (Node's `http` only), for measuring what a
 * deploy costs the clients of a service.
 *
 * Open loop: request i is sent at `start + i / rate` whether or not earlier
 * ones have answered, as real clients do; a closed loop (send, wait, send)
 * slows down exactly when the service does and so hides an outage. When the
 * event loop falls behind, the requests that are due are all sent at once
 * (catch-up), so the count per second holds; each record keeps how late its
 * send was.
 *
 * Requests are spread over weighted classes, deterministically: request i's
 * class depends only on i and the shares (smooth weighted round robin), so
 * 0.9 / 0.1 over 100 requests is exactly 90 / 10, evenly interleaved.
 *
 * A request is ok when it gets a 2xx and its whole body within the timeout;
 * anything else is a failure, classed by reason: the socket error code
 * (ECONNREFUSED, ECONNRESET, EPIPE, ...), `timeout`, or `HTTP <status>`.
 *
 *   const load = startOpenLoad({ url: 'http://127.0.0.1:8080', rate: 100, durationMs: 15000, classes });
 *   await sleep(5000); load.mark('deploy-start'); await deploy(); load.mark('deploy-end');
 *   const result = await load.result;
 *   failuresRelativeTo(result, 'deploy-start');
 */
import * as http from 'http';
import { performance } from 'perf_hooks';

/** One kind of request, sent for `share` of all requests. */
export interface RequestClass {
  name: string;
  /** Path (and query) appended to the base URL, e.g. `/cgi-bin/slow`. */
  path: string;
  /** Weight of this class; the shares of all classes are normalised to sum 1. */
  share: number;
}

export interface OpenLoadOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`; a class's path replaces its path. */
  url: string;
  /** Requests per second, > 0. */
  rate: number;
  /** How long requests are sent for: `floor(rate * durationMs / 1000)` requests, fewer if stopped first (OpenLoadRun.stop). */
  durationMs: number;
  classes: RequestClass[];
  /** A request with no complete answer this long after it was sent fails as `timeout`. @default 10000 */
  timeoutMs?: number;
  /**
   * Reuse connections (an http.Agent with keepAlive and no socket limit), as a load balancer
   * keeps its connections to targets open: the harder case for a swap. `false` opens a fresh
   * connection per request. @default true
   */
  keepAlive?: boolean;
}

/** What happened to one request. Times are in ms since the load started. */
export interface RequestRecord {
  index: number;
  class: string;
  /** When it was due: `index / rate * 1000`. */
  scheduledMs: number;
  /** When it was actually sent (at or after scheduledMs). */
  sentMs: number;
  /** When it ended: its body complete, its error, or its timeout. */
  endedMs: number;
  /** endedMs - sentMs. */
  latencyMs: number;
  /** The HTTP status, when a response head arrived. */
  status?: number;
  ok: boolean;
  /** Why it failed: an error code (ECONNREFUSED, ECONNRESET, ...), `timeout`, or `HTTP <status>`. */
  reason?: string;
}

/** An event marked during the run (a deploy's start, its end), in ms since the load started. */
export interface LoadMark {
  label: string;
  atMs: number;
}

export interface ClassCounts {
  sent: number;
  ok: number;
  failed: number;
  /** Failed requests by reason. */
  reasons: Record<string, number>;
}

export interface LoadResult {
  rate: number;
  durationMs: number;
  timeoutMs: number;
  keepAlive: boolean;
  sent: number;
  ok: number;
  failed: number;
  /** Failed requests by reason, all classes. */
  reasons: Record<string, number>;
  /** Counts per class, in the order the classes were given (every class present, even if none was sent). */
  byClass: Record<string, ClassCounts>;
  /** Every failed request, in send order. */
  failures: RequestRecord[];
  /** Every request, in send order. */
  records: RequestRecord[];
  marks: LoadMark[];
  /** The latest a request was sent after it was due, in ms (how well the schedule was held). */
  maxSendLagMs: number;
  /** Epoch ms when the load started (time 0 of every record). */
  startedAtEpochMs: number;
}

/** A running load: mark events while it runs, await its result. */
export interface OpenLoadRun {
  /** Records an event at the current time (ms since the load started) and returns that time. */
  mark(label: string): number;
  /** ms since the load started. */
  elapsedMs(): number;
  /**
   * Sends nothing more: requests not yet due are never sent (so `sent` counts only those that
   * were). For a run whose end is an event (5 s after a deploy ends): give durationMs as an upper
   * bound and stop when it comes. The result resolves once the requests sent have ended.
   */
  stop(): void;
  /** Resolves once every request has been sent and has ended (answered, failed or timed out). */
  result: Promise<LoadResult>;
}

/** A failure placed against a mark: `sinceMarkMs` is its send time minus the mark's time (negative before it). */
export interface RelativeFailure extends RequestRecord {
  sinceMarkMs: number;
}

function validate(options: OpenLoadOptions): void {
  if (!(options.rate > 0) || !Number.isFinite(options.rate)) {
    throw new Error(`open load: rate must be a positive number of requests per second, got ${options.rate}`);
  }
  if (!(options.durationMs >= 0) || !Number.isFinite(options.durationMs)) {
    throw new Error(`open load: durationMs must be a non-negative number, got ${options.durationMs}`);
  }
  if (options.classes.length === 0) {
    throw new Error('open load: at least one request class is required');
  }
  const names = new Set<string>();
  for (const c of options.classes) {
    if (!(c.share > 0) || !Number.isFinite(c.share)) {
      throw new Error(`open load: class ${c.name} must have a positive share, got ${c.share}`);
    }
    if (names.has(c.name)) {
      throw new Error(`open load: class ${c.name} is given twice`);
    }
    names.add(c.name);
  }
  if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
    throw new Error(`open load: timeoutMs must be positive, got ${options.timeoutMs}`);
  }
}

/**
 * The class of each of `count` requests: smooth weighted round robin (each step, every class
 * gains its share; the class with the most credit is picked and pays 1; ties go to the class
 * given first). Deterministic, evenly interleaved, and after any n requests every class has
 * its share of n to within one request.
 */
export function assignClasses(classes: readonly RequestClass[], count: number): number[] {
  const total = classes.reduce((sum, c) => sum + c.share, 0);
  const shares = classes.map((c) => c.share / total);
  const credit = classes.map(() => 0);
  const assigned: number[] = [];
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let c = 0; c < classes.length; c++) {
      credit[c] += shares[c];
      // A tolerance, so 0.1 + 0.1 + ... rounding never reorders classes of equal credit.
      if (credit[c] > credit[best] + 1e-9) {
        best = c;
      }
    }
    credit[best] -= 1;
    assigned.push(best);
  }
  return assigned;
}

/** The number of requests a run sends: one every 1000 / rate ms from 0 up to, not including, durationMs. */
export function requestCount(rate: number, durationMs: number): number {
  // A tolerance, so 100/s for 1000 ms is 100 and not 99 through floating-point rounding.
  return Math.floor((rate * durationMs) / 1000 + 1e-9);
}

function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code !== '' ? code : error instanceof Error ? error.message : String(error);
}

/** Starts sending at once; see OpenLoadRun. */
export function startOpenLoad(options: OpenLoadOptions): OpenLoadRun {
  validate(options);
  const timeoutMs = options.timeoutMs ?? 10000;
  const keepAlive = options.keepAlive ?? true;
  const base = new URL(options.url);
  const count = requestCount(options.rate, options.durationMs);
  const assignment = assignClasses(options.classes, count);
  const intervalMs = 1000 / options.rate;
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: Infinity }) : undefined;
  const marks: LoadMark[] = [];
  const records: RequestRecord[] = [];
  const startedAtEpochMs = Date.now();
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;

  const send = (index: number): Promise<void> =>
    new Promise((resolve) => {
      const requestClass = options.classes[assignment[index]];
      const target = new URL(requestClass.path, base);
      const record: RequestRecord = {
        index,
        class: requestClass.name,
        scheduledMs: index * intervalMs,
        sentMs: now(),
        endedMs: 0,
        latencyMs: 0,
        ok: false,
      };
      records.push(record);
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (ok: boolean, reason?: string): void => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        record.endedMs = now();
        record.latencyMs = record.endedMs - record.sentMs;
        record.ok = ok;
        if (!ok) {
          record.reason = reason;
        }
        resolve();
      };
      let request: http.ClientRequest;
      try {
        request = http.request(
          {
            protocol: target.protocol,
            hostname: target.hostname,
            port: target.port,
            path: `${target.pathname}${target.search}`,
            method: 'GET',
            // A fresh connection per request when keep-alive is off.
            agent: agent ?? false,
          },
          (response) => {
            record.status = response.statusCode;
            const status = response.statusCode ?? 0;
            response.on('error', (error) => finish(false, reasonOf(error)));
            response.on('aborted', () => finish(false, 'ECONNRESET'));
            response.on('end', () => (status >= 200 && status < 300 ? finish(true) : finish(false, `HTTP ${status}`)));
            // Closed before its body was complete: the connection was cut under it.
            response.on('close', () => {
              if (!response.complete) {
                finish(false, 'ECONNRESET');
              }
            });
            response.resume();
          },
        );
      } catch (error) {
        finish(false, reasonOf(error));
        return;
      }
      timer = setTimeout(() => {
        finish(false, 'timeout');
        request.destroy();
      }, timeoutMs);
      // Errors after a finish (the timeout's destroy) are expected and ignored.
      request.on('error', (error) => finish(false, reasonOf(error)));
      request.end();
    });

  let stop = (): void => undefined;
  const result = new Promise<LoadResult>((resolve) => {
    const inFlight: Promise<void>[] = [];
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (): void => {
      if (finished) {
        return;
      }
      finished = true;
      clearTimeout(timer);
      void Promise.all(inFlight).then(() => {
        agent?.destroy();
        resolve(summarise());
      });
    };
    const tick = (): void => {
      // Everything due by now goes out, so a late timer never lowers the rate.
      const elapsed = now();
      while (next < count && next * intervalMs <= elapsed) {
        inFlight.push(send(next));
        next++;
      }
      if (next < count) {
        timer = setTimeout(tick, Math.max(0, next * intervalMs - now()));
        return;
      }
      finish();
    };
    stop = finish;
    tick();
  });

  const summarise = (): LoadResult => {
    const byClass: Record<string, ClassCounts> = {};
    for (const c of options.classes) {
      byClass[c.name] = { sent: 0, ok: 0, failed: 0, reasons: {} };
    }
    const reasons: Record<string, number> = {};
    const failures: RequestRecord[] = [];
    let ok = 0;
    let maxSendLagMs = 0;
    records.sort((a, b) => a.index - b.index);
    for (const record of records) {
      const counts = byClass[record.class];
      counts.sent++;
      maxSendLagMs = Math.max(maxSendLagMs, record.sentMs - record.scheduledMs);
      if (record.ok) {
        counts.ok++;
        ok++;
      } else {
        const reason = record.reason ?? 'unknown';
        counts.failed++;
        counts.reasons[reason] = (counts.reasons[reason] ?? 0) + 1;
        reasons[reason] = (reasons[reason] ?? 0) + 1;
        failures.push(record);
      }
    }
    return {
      rate: options.rate,
      durationMs: options.durationMs,
      timeoutMs,
      keepAlive,
      sent: records.length,
      ok,
      failed: failures.length,
      reasons,
      byClass,
      failures,
      records,
      marks: [...marks],
      maxSendLagMs,
      startedAtEpochMs,
    };
  };

  return {
    mark(label: string): number {
      const atMs = now();
      marks.push({ label, atMs });
      return atMs;
    },
    elapsedMs: now,
    stop: () => stop(),
    result,
  };
}

/** Sends the load and resolves its result; use startOpenLoad to mark events while it runs. */
export function runOpenLoad(options: OpenLoadOptions): Promise<LoadResult> {
  return startOpenLoad(options).result;
}

/** The time of the first mark called `label`; throws when there is none. */
export function markAt(result: LoadResult, label: string): number {
  const mark = result.marks.find((m) => m.label === label);
  if (!mark) {
    throw new Error(`no mark ${JSON.stringify(label)} in the load result (marks: ${result.marks.map((m) => m.label).join(', ') || 'none'})`);
  }
  return mark.atMs;
}

/** The failures with their send times relative to the mark `label` (negative: sent before it). */
export function failuresRelativeTo(result: LoadResult, label: string): RelativeFailure[] {
  const at = markAt(result, label);
  return result.failures.map((failure) => ({ ...failure, sinceMarkMs: failure.sentMs - at }));
}
