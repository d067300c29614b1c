/**
 * The agent's other commands: remove (scoped by environment and by the
 * deployment that owns the service), status (what runs, its health, its
 * rollback image) and history (the service's audit lines).
 */
import * as fs from 'fs';
import * as path from 'path';
import { AgentContext, Refused } from './context';
import { ProxyRoute, readRoute, removeRoute, waitSlotIdle, watchSlot } from './proxy';
import { EngineError } from './engine';
import { appendAudit, auditHistory, configDir, containerName, LABELS, localTagText, readIfPresent, stateDir } from './layout';
import { loadRecordedSpec } from './specs';
import { TRAFFIC_DEFAULTS, trafficOf } from '../spec';

const STATUS_HEALTH_TIMEOUT_MS = 10_000;

/**
 * How long the serving slot must carry nothing before `remove` closes the
 * service's listeners: a request that came meanwhile starts it again.
 */
export const DEREGISTRATION_QUIET_MS = 2000;

/**
 * How long after it starts `remove` keeps the service's listeners open at
 * the least, however quiet the slot is. The stack deletes the load
 * balancer's registration of this host just before the deploy step's delete
 * runs, but DeregisterTargets returns before the deregistration has reached
 * every load balancer node: while it propagates, for a few seconds, some
 * nodes still route new requests to the host. A service whose requests come
 * more than DEREGISTRATION_QUIET_MS apart would otherwise be closed while
 * one is still on its way. Bounded by the spec's drain time.
 */
export const DEREGISTRATION_FLOOR_MS = 10_000;

/** The drain time of the service's recorded spec: the default without one, or with one that no longer reads. */
function recordedDrainSeconds(context: AgentContext, dir: string, label: string): number {
  const file = path.join(dir, 'current.json');
  try {
    const recorded = loadRecordedSpec(file, context.roots.data);
    return recorded === undefined ? TRAFFIC_DEFAULTS.drainSeconds : trafficOf(recorded.spec).drainSeconds;
  } catch (error) {
    if (!(error instanceof Refused)) {
      throw error;
    }
    // A removal goes on: the spec only bounds the wait.
    context.warn(`${label}: ${file} is not a valid spec; waiting up to the default ${TRAFFIC_DEFAULTS.drainSeconds}s for the host proxy's last requests`);
    return TRAFFIC_DEFAULTS.drainSeconds;
  }
}

/**
 * Closes the service's listeners once the load balancer has stopped sending
 * to them, and returns once what they carried has ended: first, while the
 * proxy still listens, until the serving slot has carried nothing for
 * DEREGISTRATION_QUIET_MS and DEREGISTRATION_FLOOR_MS have passed since the
 * start (the slot left as it is, serving what comes meanwhile: a slot
 * drained or in maintenance would answer a late request with a 503); then,
 * after the reload that closes them, until the proxy processes the reload
 * (or another agent's) replaced have gone, since they still carry in-flight
 * requests to the containers. Both within the spec's drain time.
 */
async function closeListeners(context: AgentContext, label: string, dir: string, route: ProxyRoute): Promise<void> {
  const proxy = context.proxy!;
  const seconds = recordedDrainSeconds(context, dir, label);
  const watch = watchSlot(context);
  const deadline = watch.started + seconds * 1000;
  const progress = (left: number, waited: number) =>
    context.say(`${label}: waiting for the host proxy's last requests: ${left} request(s) or connection(s) still in flight after ${waited}s (of ${seconds}s)`);
  let waited = { left: 0, quiet: true };
  if (route.active !== undefined) {
    const notBefore = Math.min(watch.started + DEREGISTRATION_FLOOR_MS, deadline);
    waited = await waitSlotIdle(proxy, route, route.active, context, { deadline, quietMs: DEREGISTRATION_QUIET_MS, notBefore, watch, progress });
  }
  const proxyHeld = await context.locks.forProxy(context.lockWaitMs);
  try {
    const replaced = await removeRoute(proxy, dir, route, context);
    if (replaced !== undefined) {
      watch.replaced.add(replaced);
    }
  } finally {
    await proxyHeld.release();
  }
  context.say(`${label}: the host proxy no longer listens on port(s) ${route.listeners.map((listener) => listener.hostPort).join(',')}`);
  // The serving process no longer has the sections (a slot that served nothing counts nothing):
  // what is still in flight is in the processes it replaced, each counted as one.
  const finished = await waitSlotIdle(proxy, route, route.active ?? 'a', context, { deadline, watch, progress });
  const took = `${((context.now() - watch.started) / 1000).toFixed(1)}s`;
  if (finished.left > 0) {
    // Out of time before the reload, the slot's own count says more than a replaced process's one.
    const cut = Math.max(finished.left, waited.left);
    context.warn(`${label}: timed out after ${took} (drain time ${seconds}s) waiting for the host proxy's last requests: ${cut} request(s) or connection(s) still in flight are cut`);
  } else if (!waited.quiet || !finished.quiet) {
    context.say(`${label}: waited ${took} for the host proxy's last requests and timed out (drain time ${seconds}s); none was in flight`);
  } else {
    context.say(`${label}: waited ${took} for the host proxy's last requests (drain time ${seconds}s); none is left`);
  }
}

/**
 * `remove`: every container of the service in this environment, its local
 * tags (the images go with the next prune once unused), its state and config
 * folders. Data is kept. With `deployment`, nothing is removed while another
 * deployment owns the service: a newer deploy step (a renamed step, or a
 * replacement created before the old step's delete ran) deployed it.
 */
export async function remove(context: AgentContext, env: string, name: string, deployment?: string): Promise<void> {
  const held = await context.locks.forService(env, name, context.lockWaitMs);
  try {
    const label = `${env}/${name}`;
    const details = await context.engine.inspectContainer(containerName(env, name));
    const oldImage = details?.Config.Labels?.[LABELS.image] ?? '';
    const dir = stateDir(context.roots, env, name);
    const owner = readIfPresent(path.join(dir, 'deployment'))?.trim();
    if (deployment !== undefined && owner !== undefined && owner !== '' && owner !== deployment) {
      context.say(`${label}: kept: deployment ${owner} owns it now, not ${deployment}`);
      appendAudit(context.roots, { action: 'remove', service: name, env, from: oldImage, to: oldImage, result: 'kept-newer' }, new Date(context.now()));
      return;
    }
    // The proxy lets the service's ports go first, so no request is sent to a container being removed.
    const route = context.proxy === undefined ? undefined : readRoute(dir);
    if (route !== undefined) {
      await closeListeners(context, label, dir, route);
    }
    const containers = await context.engine.listContainers({ label: [`${LABELS.service}=${name}`, `${LABELS.env}=${env}`] });
    for (const container of containers.sort((a, b) => a.Id.localeCompare(b.Id))) {
      await context.engine.removeContainer(container.Id);
      context.say(`${label}: removed container ${container.Id.slice(0, 12)}`);
    }
    for (const which of ['current', 'previous'] as const) {
      await context.engine.removeImage(localTagText(name, env, which)).catch((error: unknown) => {
        if (!(error instanceof EngineError)) {
          throw error;
        }
      });
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(configDir(context.roots, env, name), { recursive: true, force: true });
    context.say(`${label}: removed (data under ${context.roots.data} is kept)`);
    appendAudit(context.roots, { action: 'remove', service: name, env, from: oldImage, result: 'ok' }, new Date(context.now()));
  } finally {
    await held.release();
  }
}

export interface StatusRow {
  name: string;
  env: string;
  image: string;
  /** The container's state, or `missing` when a recorded service has none. */
  state: string;
  /** `healthy`/`unhealthy` from one run of the health command, `-` when not running, `unknown` without a recorded spec. */
  health: string;
  previousImage: string;
  containerId: string;
}

function recordedImage(file: string): string {
  try {
    const image = (JSON.parse(readIfPresent(file) ?? 'null') as { image?: unknown } | null)?.image;
    return typeof image === 'string' ? image : '';
  } catch {
    return '';
  }
}

function recordedHealthCommand(file: string): string | undefined {
  try {
    const cmd = (JSON.parse(readIfPresent(file) ?? 'null') as { health?: { cmd?: unknown } } | null)?.health?.cmd;
    return typeof cmd === 'string' ? cmd : undefined;
  } catch {
    return undefined;
  }
}

/** The services on this host: those with a container and those recorded in state, sorted by env/name. Changes nothing. */
export async function status(context: AgentContext, filter: { env?: string; name?: string }): Promise<StatusRow[]> {
  const labels: string[] = [LABELS.service];
  if (filter.env !== undefined) labels.push(`${LABELS.env}=${filter.env}`);
  if (filter.name !== undefined) labels.push(`${LABELS.service}=${filter.name}`);
  const keys = new Set<string>();
  for (const container of await context.engine.listContainers({ label: labels })) {
    keys.add(`${container.Labels[LABELS.env]}/${container.Labels[LABELS.service]}`);
  }
  if (fs.existsSync(context.roots.state)) {
    for (const env of fs.readdirSync(context.roots.state, { withFileTypes: true })) {
      if (!env.isDirectory()) continue;
      for (const name of fs.readdirSync(path.join(context.roots.state, env.name), { withFileTypes: true })) {
        if (name.isDirectory() && fs.existsSync(path.join(context.roots.state, env.name, name.name, 'current.json'))) {
          keys.add(`${env.name}/${name.name}`);
        }
      }
    }
  }
  const rows: StatusRow[] = [];
  for (const key of [...keys].sort()) {
    const [env, name] = key.split('/');
    if ((filter.env !== undefined && env !== filter.env) || (filter.name !== undefined && name !== filter.name)) {
      continue;
    }
    const dir = stateDir(context.roots, env, name);
    const details = await context.engine.inspectContainer(containerName(env, name));
    const state = details?.State.Status ?? 'missing';
    let health = 'unknown';
    const cmd = recordedHealthCommand(path.join(dir, 'current.json'));
    if (state !== 'running') {
      health = '-';
    } else if (cmd !== undefined && details !== undefined) {
      const result = await context.engine.exec(details.Id, ['sh', '-c', cmd], STATUS_HEALTH_TIMEOUT_MS).catch(() => ({ exitCode: 1 }));
      health = result.exitCode === 0 ? 'healthy' : 'unhealthy';
    }
    rows.push({
      name,
      env,
      image: details?.Config.Labels?.[LABELS.image] ?? '',
      state,
      health,
      previousImage: recordedImage(path.join(dir, 'previous.json')),
      containerId: details?.Id ?? '',
    });
  }
  return rows;
}

/** The status table: one line a service. */
export function statusTable(rows: readonly StatusRow[]): string {
  const line = (cells: string[]) => `${cells[0].padEnd(24)} ${cells[1].padEnd(10)} ${cells[2].padEnd(10)} ${cells[3].padEnd(10)} ${cells[4]}  ${cells[5]}\n`;
  return (
    line(['NAME', 'ENV', 'STATE', 'HEALTH', 'IMAGE', 'PREVIOUS']) +
    rows.map((row) => line([row.name, row.env, row.state, row.health, row.image || '-', row.previousImage || '-'])).join('')
  );
}

/** The audit lines of one service in one environment, oldest first. */
export function history(context: AgentContext, env: string, name: string): string[] {
  return auditHistory(context.roots, env, name);
}
