/**
 * The host proxy (HAProxy) in front of a service's published TCP ports: the
 * proxy owns the host port, and the service's containers listen on loopback
 * "slot" ports behind it, two per published port, so a new container starts
 * beside the serving one and traffic moves over without a refused connection.
 *
 * What HAProxy loads is one file per service (a `listen` section per port,
 * both slots as servers, the idle one `disabled`), so a reload or a reboot
 * brings back exactly what was serving. A swap changes no file the running
 * proxy must reread: the runtime API sets the new slot `ready` and the old
 * one `drain` (no new requests, the in-flight ones finish), then `maint`.
 * Only new, changed or removed listeners need a reload, which HAProxy does
 * without dropping a connection (the master hands the listening sockets over).
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { PROXY_SLOT_PORTS } from '../../common/ports';
import type { ProxyMode } from '../spec';
import { Failed } from './context';
import { readIfPresent, writeAtomically } from './layout';
import type { ProxyHost, ProxyRuntime } from './proxyHost';

export type { ProxyHost, ProxyRuntime } from './proxyHost';

export type Slot = 'a' | 'b';
export const SLOTS: readonly Slot[] = ['a', 'b'];
export const otherSlot = (slot: Slot): Slot => (slot === 'a' ? 'b' : 'a');

/** A published port the proxy owns: `[ip:]hostPort:containerPort[/tcp]`. */
export interface ProxiedPort {
  /** The address the proxy listens on; '' for every address. */
  bind: string;
  hostPort: number;
  containerPort: number;
}

export interface ProxyListener extends ProxiedPort {
  /** The loopback port each slot's container publishes the container port on. */
  slots: Record<Slot, number>;
}

/** What the proxy carries for one service: its listeners and the slot that serves. */
export interface ProxyRoute {
  env: string;
  name: string;
  mode: ProxyMode;
  listeners: ProxyListener[];
  /** The slot traffic goes to; undefined before the service's first healthy container. */
  active?: Slot;
}

const SINGLE_TCP_PUBLICATION = /^(?:([0-9.]+):)?([0-9]+):([0-9]+)(?:\/tcp)?$/;

/**
 * Splits a spec's publications into those the proxy owns (one TCP host port
 * for one container port) and those the engine keeps publishing itself (UDP
 * and SCTP, which HAProxy does not carry, ranges, and random host ports).
 */
export function splitPublications(ports: readonly string[]): { proxied: ProxiedPort[]; direct: string[] } {
  const proxied: ProxiedPort[] = [];
  const direct: string[] = [];
  for (const port of ports) {
    const match = SINGLE_TCP_PUBLICATION.exec(port);
    if (match) {
      proxied.push({ bind: match[1] ?? '', hostPort: Number(match[2]), containerPort: Number(match[3]) });
    } else {
      direct.push(port);
    }
  }
  return { proxied, direct };
}

/** The proxy section of one listener: `berth-<env>-<name>-<host port>`. */
export const sectionName = (route: Pick<ProxyRoute, 'env' | 'name'>, listener: Pick<ProxiedPort, 'hostPort'>): string => `berth-${route.env}-${route.name}-${listener.hostPort}`;

/** True when two routes listen on the same addresses in the same mode for the same container ports. */
export function sameListeners(route: Pick<ProxyRoute, 'mode' | 'listeners'>, mode: ProxyMode, ports: readonly ProxiedPort[]): boolean {
  const key = (port: ProxiedPort) => `${port.bind}:${port.hostPort}:${port.containerPort}`;
  return route.mode === mode && route.listeners.map(key).join(',') === ports.map(key).join(',');
}

/**
 * The service's file for the proxy. Timeouts: a client or server silent for a
 * minute is cut, as is an upgraded (WebSocket) or TCP connection idle for an
 * hour; `retries` and `redispatch` send a connection the container refused
 * to the other slot when it serves.
 */
export function renderProxyConfig(route: ProxyRoute): string {
  const lines = [`# Berth: ${route.env}/${route.name}, written by berth-agent; the serving slot is ${route.active ?? 'none yet'}.`];
  for (const listener of route.listeners) {
    lines.push(
      '',
      `listen ${sectionName(route, listener)}`,
      `    bind ${listener.bind === '' ? '*' : listener.bind}:${listener.hostPort}`,
      `    mode ${route.mode}`,
      // Only failed and abnormal requests or connections are logged: a busy service would fill the journal.
      // On a reload an idle keep-alive client (a load balancer) gets its next answer with
      // Connection: close, instead of a connection closed under it (a 502 at the load balancer).
      ...(route.mode === 'http' ? ['    option httplog', '    option forwardfor', '    option idle-close-on-response', '    timeout http-request 10s'] : ['    option tcplog']),
      '    option dontlog-normal',
      '    balance roundrobin',
      '    retries 2',
      '    option redispatch 1',
      '    timeout tunnel 1h',
      ...SLOTS.map((slot) => `    server ${slot} 127.0.0.1:${listener.slots[slot]}${route.active === slot ? '' : ' disabled'}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The container's publications when its slot is `slot`: proxied ports on loopback, the rest as the spec says. */
export function slotPublications(route: ProxyRoute, slot: Slot, direct: readonly string[]): string[] {
  return [...route.listeners.map((listener) => `127.0.0.1:${listener.slots[slot]}:${listener.containerPort}`), ...direct];
}

export const routeFile = (serviceDir: string): string => path.join(serviceDir, 'proxy.json');
export const configFileOf = (proxy: ProxyHost, route: Pick<ProxyRoute, 'env' | 'name'>): string => path.join(proxy.servicesDir, `${route.env}-${route.name}.cfg`);

/** The route a service recorded; undefined when it has none. A damaged file is refused with its path. */
export function readRoute(serviceDir: string): ProxyRoute | undefined {
  const file = routeFile(serviceDir);
  const text = readIfPresent(file);
  if (text === undefined) {
    return undefined;
  }
  try {
    const route = JSON.parse(text) as ProxyRoute;
    const slotOk = (port: unknown) => Number.isInteger(port) && (port as number) >= PROXY_SLOT_PORTS.first && (port as number) <= PROXY_SLOT_PORTS.last;
    if (
      typeof route.env !== 'string' ||
      typeof route.name !== 'string' ||
      (route.mode !== 'http' && route.mode !== 'tcp') ||
      !Array.isArray(route.listeners) ||
      !route.listeners.every((listener) => typeof listener.bind === 'string' && Number.isInteger(listener.hostPort) && Number.isInteger(listener.containerPort) && slotOk(listener.slots?.a) && slotOk(listener.slots?.b)) ||
      (route.active !== undefined && !SLOTS.includes(route.active))
    ) {
      throw new Error('not a route');
    }
    return route;
  } catch {
    throw new Failed(`${file} is damaged; move it away and deploy again (the proxy keeps serving what it has)`);
  }
}

/** Every slot port the routes under the state root hold. */
/**
 * Every route recorded under the state root, sorted by env and name: the one
 * that serves (`reserved` false) and one a deploy in progress reserved
 * (`<service dir>/next`, `reserved` true). A damaged route of another service
 * is that service's problem: it is left out.
 */
function recordedRoutes(stateRoot: string): { env: string; name: string; route: ProxyRoute; reserved: boolean }[] {
  const routes = [];
  for (const env of safeList(stateRoot).sort()) {
    for (const name of safeList(path.join(stateRoot, env)).sort()) {
      for (const reserved of [false, true]) {
        try {
          const route = readRoute(reserved ? path.join(stateRoot, env, name, 'next') : path.join(stateRoot, env, name));
          if (route !== undefined) {
            routes.push({ env, name, route, reserved });
          }
        } catch {
          // Left out, as said above.
        }
      }
    }
  }
  return routes;
}

/** Every slot port the routes under the state root hold, serving or reserved. */
function slotPortsInUse(stateRoot: string): Set<number> {
  return new Set(recordedRoutes(stateRoot).flatMap(({ route }) => route.listeners.flatMap((listener) => [listener.slots.a, listener.slots.b])));
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The other services whose routes on this host listen on one of `ports`
 * (same host port, any address: HAProxy would bind both, with SO_REUSEPORT,
 * and share the port's connections between two services).
 */
export function routesHolding(stateRoot: string, own: { env: string; name: string }, ports: readonly ProxiedPort[]): string[] {
  const wanted = new Set(ports.map((port) => port.hostPort));
  return recordedRoutes(stateRoot)
    .filter(({ env, name, reserved }) => !reserved && !(env === own.env && name === own.name))
    .flatMap(({ env, name, route }) => route.listeners.filter((listener) => wanted.has(listener.hostPort)).map((listener) => `${env}/${name} (port ${listener.hostPort})`));
}

/** True when nothing listens on 127.0.0.1:port now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Two free slot ports for each of `ports`, the lowest of the range that no
 * route on the host holds and nothing listens on. Run under the proxy lock, and
 * the route written before the lock is let go, so two deploys never pick the
 * same port.
 */
export async function allocateListeners(stateRoot: string, ports: readonly ProxiedPort[]): Promise<ProxyListener[]> {
  const used = slotPortsInUse(stateRoot);
  const picked: number[] = [];
  for (let port = PROXY_SLOT_PORTS.first; port <= PROXY_SLOT_PORTS.last && picked.length < ports.length * 2; port++) {
    if (!used.has(port) && (await isFree(port))) {
      picked.push(port);
    }
  }
  if (picked.length < ports.length * 2) {
    throw new Failed(`no free proxy slot ports left in ${PROXY_SLOT_PORTS.first}-${PROXY_SLOT_PORTS.last}`);
  }
  return ports.map((port, index) => ({ ...port, slots: { a: picked[2 * index], b: picked[2 * index + 1] } }));
}

/** One row of `show stat` for a server: its sessions now and its status. */
export interface ServerStat {
  section: string;
  server: string;
  /** Connections or requests the server is carrying now. */
  current: number;
  /** Requests waiting in the server's queue. */
  queued: number;
  /** Sessions the server was given since the proxy process started (`stot`): one that came and went between two looks shows here. */
  total: number;
  status: string;
}

/** Parses `show stat` CSV: servers only (not FRONTEND or BACKEND rows). */
export function parseStat(text: string): ServerStat[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines.find((line) => line.startsWith('# '));
  if (header === undefined) {
    throw new Failed(`the proxy answered show stat with no header: ${text.slice(0, 200)}`);
  }
  const columns = header.slice(2).split(',');
  const at = (name: string) => columns.indexOf(name);
  const [px, sv, scur, qcur, stot, status] = ['pxname', 'svname', 'scur', 'qcur', 'stot', 'status'].map(at);
  return lines
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.split(','))
    .filter((cells) => cells[sv] !== 'FRONTEND' && cells[sv] !== 'BACKEND')
    .map((cells) => ({ section: cells[px], server: cells[sv], current: Number(cells[scur] || 0), queued: Number(cells[qcur] || 0), total: Number(cells[stot] || 0), status: cells[status] }));
}

/** The pids under `# old workers` in the master CLI's `show proc`. */
export function parseOldProcesses(text: string): number[] {
  const pids: number[] = [];
  let inOld = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      inOld = line.trim() === '# old workers';
      continue;
    }
    const match = /^([0-9]+)\s/.exec(line);
    if (inOld && match) {
      pids.push(Number(match[1]));
    }
  }
  return pids;
}

/** Fails with the proxy's own answer when a runtime command was not taken. */
async function expectDone(runtime: ProxyRuntime, line: string): Promise<void> {
  const answer = (await runtime.command(line)).trim();
  // A successful `set server` answers nothing (or a notice when nothing changed).
  if (answer !== '' && !/^(Nothing changed|Server state already)/i.test(answer)) {
    throw new Failed(`the proxy refused "${line}": ${answer}`);
  }
}

const RELOAD_PATIENCE_MS = 15_000;
/** A long drain says it is still waiting this often, so an SSH session (and a NAT on its way) sees output. */
const PROGRESS_EVERY_MS = 60_000;

/**
 * Writes the route's file and makes the running proxy carry it: a reload when
 * the listeners are new or changed (or the proxy does not know them), else the
 * runtime API, which moves traffic to the active slot and drains the other.
 * `wait` pauses between polls of a reload.
 */
export async function applyRoute(
  proxy: ProxyHost,
  serviceDir: string,
  route: ProxyRoute,
  clock: { sleep(ms: number): Promise<void>; now(): number },
): Promise<{ how: 'reloaded' | 'switched'; oldProcess?: number }> {
  const file = configFileOf(proxy, route);
  const before = readIfPresent(file);
  const text = renderProxyConfig(route);
  fs.mkdirSync(proxy.servicesDir, { recursive: true });
  const stat = parseStat(await proxy.runtime.command('show stat'));
  const known = new Set(stat.map((row) => row.section));
  const needsReload = before === undefined || listenersOf(before) !== listenersOf(text) || route.listeners.some((listener) => !known.has(sectionName(route, listener)));
  writeAtomically(file, text, 0o644);
  let result: { how: 'reloaded' | 'switched'; oldProcess?: number };
  try {
    result = needsReload ? await reloadTo(proxy, route, clock, before, file) : await switchTo(proxy, route, stat);
  } catch (error) {
    // The file names what serves: put back as it was, so no later reload (or reboot) sends
    // traffic to a container the caller is about to remove.
    if (before === undefined) {
      fs.rmSync(file, { force: true });
    } else {
      writeAtomically(file, before, 0o644);
    }
    throw error;
  }
  // Recorded only once the proxy carries it: a refused file leaves the route that serves.
  writeAtomically(routeFile(serviceDir), `${JSON.stringify(route)}\n`, 0o600);
  return result;
}

async function reloadTo(proxy: ProxyHost, route: ProxyRoute, clock: { sleep(ms: number): Promise<void>; now(): number }, before: string | undefined, file: string): Promise<{ how: 'reloaded'; oldProcess?: number }> {
  return { how: 'reloaded', oldProcess: await reloadFor(proxy, clock, route.listeners.map((listener) => sectionName(route, listener)), [], before, file) };
}

async function switchTo(proxy: ProxyHost, route: ProxyRoute, stat: ServerStat[]): Promise<{ how: 'switched' }> {
  const active = route.active!;
  const other = otherSlot(active);
  const names = route.listeners.map((listener) => sectionName(route, listener));
  // The other slot drains, unless it is in maintenance already (a stop-first deploy drained it).
  const serving = names.filter((name) => stat.find((row) => row.section === name && row.server === other)?.status !== 'MAINT');
  try {
    for (const name of names) {
      await expectDone(proxy.runtime, `set server ${name}/${active} state ready`);
    }
    for (const name of serving) {
      await expectDone(proxy.runtime, `set server ${name}/${other} state drain`);
    }
  } catch (error) {
    // Half switched: traffic goes back to what served, as far as the proxy still answers.
    for (const name of names) {
      await proxy.runtime.command(`set server ${name}/${active} state maint`).catch(() => undefined);
    }
    for (const name of serving) {
      await proxy.runtime.command(`set server ${name}/${other} state ready`).catch(() => undefined);
    }
    throw error;
  }
  return { how: 'switched' };
}

/** The pid of the proxy process that answers the runtime API; undefined while none does. */
async function servingProcess(runtime: ProxyRuntime): Promise<number | undefined> {
  try {
    const match = /^Pid: ([0-9]+)$/m.exec(await runtime.command('show info'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** The file's text without the servers' states: what a reload would change. */
const listenersOf = (text: string): string =>
  text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/ disabled$/, ''))
    .join('\n');

/**
 * Checks the configuration, reloads, and waits until the new proxy process
 * has `present` and lacks `absent`. A configuration the proxy would refuse is
 * put back as it was (`file`, `before`) and nothing is reloaded.
 */
async function reloadFor(
  proxy: ProxyHost,
  clock: { sleep(ms: number): Promise<void>; now(): number },
  present: string[],
  absent: string[],
  before: string | undefined,
  file: string,
): Promise<number | undefined> {
  const problem = proxy.runtime.check();
  if (problem !== undefined) {
    if (before === undefined) {
      fs.rmSync(file, { force: true });
    } else {
      writeAtomically(file, before, 0o644);
    }
    throw new Failed(`the proxy would refuse its configuration; nothing was reloaded:\n${problem}`);
  }
  const replaced = await servingProcess(proxy.runtime);
  await proxy.runtime.reload();
  const deadline = clock.now() + RELOAD_PATIENCE_MS;
  for (;;) {
    // The old process answers for a while after a reload: done once a new one answers, with the files' sections.
    const serving = await servingProcess(proxy.runtime);
    try {
      const sections = new Set(parseStat(await proxy.runtime.command('show stat')).map((row) => row.section));
      if (serving !== undefined && serving !== replaced && present.every((name) => sections.has(name)) && absent.every((name) => !sections.has(name))) {
        return replaced;
      }
    } catch {
      // The socket changes hands during a reload.
    }
    if (clock.now() >= deadline) {
      throw new Failed(`the proxy did not load ${file} within ${RELOAD_PATIENCE_MS / 1000}s`);
    }
    await clock.sleep(100);
  }
}

/** What a wait on a slot keeps from one look to the next, and from one wait to the next (remove waits before and after its reload). */
export interface SlotWatch {
  /** When the first wait started: progress lines count from here. */
  started: number;
  /** The proxy process that answered the runtime API at the last look; undefined before the first. */
  serving?: number;
  /**
   * Processes a reload replaced (ours, or another agent's while we watch): they still carry
   * connections the serving process cannot count, so each counts as one in flight until it has gone.
   */
  replaced: Set<number>;
  nextProgress: number;
}

/** A watch that starts now, with the processes a reload for this step replaced. */
export function watchSlot(clock: { now(): number }, replaced: readonly number[] = []): SlotWatch {
  const started = clock.now();
  return { started, replaced: new Set(replaced), nextProgress: started + PROGRESS_EVERY_MS };
}

/**
 * Waits, changing nothing on the proxy, until the slot carries nothing (no
 * request or connection in flight or queued, and every replaced process of
 * `watch` gone), and has done so for `quietMs`: a session that came and went
 * meanwhile starts the quiet period again. With `notBefore` (clock ms), it
 * does not end quiet before then either, watching the slot meanwhile as
 * above. Or until `deadline` (clock ms) passes, which wins over both. `progress` is told what is in flight every PROGRESS_EVERY_MS from
 * `watch.started`. Returns what was still in flight when it ended, and whether
 * it ended quiet rather than out of time.
 */
export async function waitSlotIdle(
  proxy: ProxyHost,
  route: ProxyRoute,
  slot: Slot,
  clock: { sleep(ms: number): Promise<void>; now(): number },
  options: { deadline: number; quietMs?: number; notBefore?: number; watch?: SlotWatch; progress?: (left: number, waitedSeconds: number) => void },
): Promise<{ left: number; quiet: boolean }> {
  const names = new Set(route.listeners.map((listener) => sectionName(route, listener)));
  const watch = options.watch ?? watchSlot(clock);
  const quietMs = options.quietMs ?? 0;
  const notBefore = options.notBefore ?? -Infinity;
  if (watch.serving === undefined) {
    watch.serving = await servingProcess(proxy.runtime);
  }
  let quietSince = clock.now();
  // Each server's session total at the last look, by process: another process's count is no baseline.
  const totals = new Map<string, number>();
  let left = 0;
  for (;;) {
    let rows: ServerStat[] | undefined;
    try {
      rows = parseStat(await proxy.runtime.command('show stat')).filter((row) => names.has(row.section) && row.server === slot);
    } catch {
      // The socket changes hands during a reload: look again.
    }
    // Read after the counts: a process that took over before them is seen as a takeover here.
    const now = await servingProcess(proxy.runtime);
    if (now !== undefined && watch.serving !== undefined && now !== watch.serving) {
      watch.replaced.add(watch.serving);
    }
    watch.serving = now ?? watch.serving;
    // A count whose process is unknown proves nothing (it may be a new process's zero).
    if (rows === undefined || now === undefined) {
      if (clock.now() >= options.deadline) {
        // Out of time without a count: what it carries is unknown, so not nothing.
        left = Math.max(left, 1);
        return { left, quiet: false };
      }
      await clock.sleep(100);
      continue;
    }
    left = rows.reduce((sum, row) => sum + row.current + row.queued, 0);
    let came = false;
    for (const row of rows) {
      const key = `${now}/${row.section}`;
      came ||= totals.has(key) && row.total > totals.get(key)!;
      totals.set(key, row.total);
    }
    if (watch.replaced.size > 0) {
      let old: Set<number> | undefined;
      try {
        old = new Set(await proxy.runtime.oldProcesses());
      } catch {
        // The master refuses connections for a moment after a reload (it re-executes itself):
        // the replaced processes count as still there, and the next look asks again.
      }
      for (const pid of watch.replaced) {
        if (old !== undefined && !old.has(pid)) {
          watch.replaced.delete(pid);
        }
      }
      left += watch.replaced.size;
    }
    if (left > 0 || came) {
      quietSince = clock.now();
    }
    if (left === 0 && clock.now() - quietSince >= quietMs && clock.now() >= notBefore) {
      return { left, quiet: true };
    }
    if (clock.now() >= options.deadline) {
      return { left, quiet: false };
    }
    if (options.progress !== undefined && clock.now() >= watch.nextProgress) {
      options.progress(left, Math.round((clock.now() - watch.started) / 1000));
      watch.nextProgress += PROGRESS_EVERY_MS;
    }
    await clock.sleep(100);
  }
}

/**
 * Waits until the slot's servers carry nothing (no request or connection in
 * flight, none queued) or `seconds` have passed, then puts them in
 * maintenance. Returns what was still in flight when the time ran out.
 * After a reload for this deploy, `oldProcess` is the process it replaced.
 */
export async function drainSlot(
  proxy: ProxyHost,
  route: ProxyRoute,
  slot: Slot,
  seconds: number,
  clock: { sleep(ms: number): Promise<void>; now(): number },
  oldProcess?: number,
  progress?: (left: number, waitedSeconds: number) => void,
): Promise<number> {
  const watch = watchSlot(clock, oldProcess === undefined ? [] : [oldProcess]);
  const { left } = await waitSlotIdle(proxy, route, slot, clock, { deadline: watch.started + seconds * 1000, watch, progress });
  for (const name of route.listeners.map((listener) => sectionName(route, listener)).sort()) {
    await expectDone(proxy.runtime, `set server ${name}/${slot} state maint`);
  }
  return left;
}

/** Moves traffic back to `slot` (after a failed stop-first deploy). */
export async function restoreSlot(proxy: ProxyHost, route: ProxyRoute, slot: Slot): Promise<void> {
  writeAtomically(configFileOf(proxy, route), renderProxyConfig({ ...route, active: slot }), 0o644);
  for (const listener of route.listeners) {
    await expectDone(proxy.runtime, `set server ${sectionName(route, listener)}/${slot} state ready`);
  }
}

/**
 * Starts draining `slot` now: no new requests or connections go to it. The
 * file says so first (no slot serves), so a reload meanwhile, for another
 * service, does not send traffic back to it.
 */
export async function startDrain(proxy: ProxyHost, route: ProxyRoute, slot: Slot): Promise<void> {
  writeAtomically(configFileOf(proxy, route), renderProxyConfig({ ...route, active: undefined }), 0o644);
  for (const listener of route.listeners) {
    await expectDone(proxy.runtime, `set server ${sectionName(route, listener)}/${slot} state drain`);
  }
}

/**
 * Drops the service's file and route, and reloads so its listeners close.
 * Returns the proxy process the reload replaced (it may still carry the
 * service's in-flight connections), when there was a reload and it was known.
 */
export async function removeRoute(proxy: ProxyHost, serviceDir: string, route: ProxyRoute, clock: { sleep(ms: number): Promise<void>; now(): number }): Promise<number | undefined> {
  const file = configFileOf(proxy, route);
  const before = readIfPresent(file);
  fs.rmSync(file, { force: true });
  let replaced: number | undefined;
  if (before !== undefined) {
    replaced = await reloadFor(proxy, clock, [], route.listeners.map((listener) => sectionName(route, listener)), before, file);
  }
  fs.rmSync(routeFile(serviceDir), { force: true });
  return replaced;
}

/** HAProxy's runtime API on its stats socket, and its master CLI for reloads. */
export class HaproxyRuntime implements ProxyRuntime {
  constructor(
    private readonly paths: { socket: string; masterSocket: string; binary: string; configs: string[] },
    private readonly timeoutMs = 10_000,
  ) {}

  command(line: string): Promise<string> {
    return this.send(this.paths.socket, line);
  }

  check(): string | undefined {
    const result = spawnSync(this.paths.binary, ['-c', '-q', ...this.paths.configs.flatMap((config) => ['-f', config])], { encoding: 'utf8', timeout: this.timeoutMs });
    return result.status === 0 ? undefined : `${result.stderr || result.stdout || result.error?.message || `exit ${result.status}`}`.trim();
  }

  async reload(): Promise<void> {
    // The master re-executes itself on a reload, and refuses connections meanwhile: one reload
    // right after another (two services deploying) waits for it.
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      let answer: string;
      try {
        answer = await this.send(this.paths.masterSocket, 'reload');
      } catch (error) {
        if (Date.now() >= deadline) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      // HAProxy 2.7 and later answer with the outcome (2.6 answers nothing and is polled).
      if (/^Success=0/m.test(answer)) {
        throw new Failed(`the proxy did not reload:\n${answer.trim()}`);
      }
      return;
    }
  }

  async oldProcesses(): Promise<number[]> {
    return parseOldProcesses(await this.send(this.paths.masterSocket, 'show proc'));
  }

  private send(socket: string, line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const connection = net.createConnection(socket, () => connection.end(`${line}\n`));
      connection.setTimeout(this.timeoutMs, () => connection.destroy(new Error(`no answer within ${this.timeoutMs / 1000}s`)));
      connection.on('data', (chunk: Buffer) => chunks.push(chunk));
      connection.on('error', (error) => reject(new Failed(`the host proxy (${socket}) did not answer "${line}": ${error.message}`)));
      connection.on('close', (hadError) => {
        if (!hadError) {
          resolve(Buffer.concat(chunks).toString('utf8'));
        }
      });
    });
  }
}
