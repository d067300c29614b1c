/**
 * The deploy state machine: converge one service on this host to a spec,
 * behind a health gate, never leaving the old container switched away when
 * the new one fails, and recovering whatever a killed run left behind.
 *
 *   listed ─┬─ same spec, running ──────────────────────────► recorded (unchanged)
 *           └─ created (pulled first if missing) ─► old stopped if it holds a port
 *               ─► started ─┬─ healthy ─► old removed, renamed, recorded (ok)
 *                           └─ not ─► removed, old started and checked (failed-restored)
 */
import * as fs from 'fs';
import * as path from 'path';
import { AgentContext, Failed, Refused } from './context';
import { createBody, heldHostPorts, wantedHostPorts } from './containerConfig';
import { EngineError } from './engine';
import { appendAudit, AuditEntry, configDir, containerName, LABELS, localTag, nextContainerName, readIfPresent, stateDir, writeAtomically } from './layout';
import { LoadedSpec, loadRecordedSpec, loadSpec } from './specs';
import { trafficOf } from '../spec';
import { allocateListeners, applyRoute, routesHolding, configFileOf, drainSlot, otherSlot, ProxyRoute, readRoute, removeRoute, restoreSlot, sameListeners, Slot, slotPublications, splitPublications, startDrain } from './proxy';

export const LOG_LINES = 50;
const RUNNING_STATES = new Set(['running', 'paused', 'restarting']);

interface OldContainer {
  id: string;
  running: boolean;
  hash: string;
  image: string;
  /** Its proxy slot, when it listens behind the host proxy. */
  slot?: Slot;
}

const slotOf = (labels: Record<string, string> | null | undefined): Slot | undefined => {
  const slot = labels?.[LABELS.slot];
  return slot === 'a' || slot === 'b' ? slot : undefined;
};

interface Service {
  env: string;
  name: string;
  /** The state folder: current.json, previous.json, deployment. */
  dir: string;
  configDir: string;
}

function serviceOf(context: AgentContext, loaded: LoadedSpec): Service {
  const { env, name } = loaded.spec;
  return { env, name, dir: stateDir(context.roots, env, name), configDir: configDir(context.roots, env, name) };
}

const short = (id: string): string => id.slice(0, 12);

/** The health command polled in the container until it passes or the timeout ends. */
export async function waitHealthy(context: AgentContext, id: string, cmd: string, timeoutSeconds: number): Promise<{ healthy: boolean; output: string }> {
  const deadline = context.now() + timeoutSeconds * 1000;
  // The first check runs at once; the pause grows from 0.1 s to 0.5 s, since
  // most services are up within a second.
  let pauseMs = 100;
  let output = '';
  for (;;) {
    const left = Math.max(1000, deadline - context.now());
    try {
      const result = await context.engine.exec(id, ['sh', '-c', cmd.replace(/\n+$/, '')], left);
      output = result.output;
      if (result.exitCode === 0) {
        return { healthy: true, output };
      }
    } catch (error) {
      if (!(error instanceof EngineError)) {
        throw error;
      }
      output = error.message;
    }
    if (context.now() >= deadline) {
      return { healthy: false, output };
    }
    await context.sleep(pauseMs);
    pauseMs = Math.min(pauseMs + 100, 500);
  }
}

/** Writes the config file into its content-named folder; returns the host path to mount. */
function writeConfigFile(service: Service, loaded: LoadedSpec): string | undefined {
  const file = loaded.spec.configFile;
  if (file === undefined || loaded.configHash === undefined) {
    return undefined;
  }
  // Folders stay root-only (the engine mounts the file as root); the file
  // itself must be readable by a non-root user in the container.
  const dir = path.join(service.configDir, loaded.configHash);
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, path.basename(file.target));
  writeAtomically(target, file.content, 0o644);
  return target;
}

/** The container that has the service's name: from the listing, or (without Berth's labels) asked for by name. */
/**
 * The container that has the service's name (from the listing, or, without
 * Berth's labels, asked for by name); the others of the service, left over
 * from a run that was killed; and among those, when the service has no
 * container of its own, a running `-next` of this very spec: a run killed
 * after the old container was removed and before the rename, which the
 * caller adopts if it is healthy.
 */
async function findOld(context: AgentContext, service: Service, hash: string, serving?: Slot): Promise<{ old?: OldContainer; leftovers: string[]; adoptable?: string }> {
  const final = containerName(service.env, service.name);
  const listing = await context.engine.listContainers({ label: [`${LABELS.service}=${service.name}`, `${LABELS.env}=${service.env}`] });
  let old: OldContainer | undefined;
  const others = [];
  for (const row of listing) {
    if (row.Names.includes(`/${final}`)) {
      old = { id: row.Id, running: RUNNING_STATES.has(row.State), hash: row.Labels[LABELS.specHash] ?? '', image: row.Labels[LABELS.image] ?? '', slot: slotOf(row.Labels) };
    } else {
      others.push(row);
    }
  }
  if (old === undefined) {
    const details = await context.engine.inspectContainer(final);
    if (details !== undefined) {
      const labels = details.Config.Labels ?? {};
      old = { id: details.Id, running: details.State.Running, hash: labels[LABELS.specHash] ?? '', image: labels[LABELS.image] ?? '', slot: slotOf(labels) };
    }
  }
  const next = `/${nextContainerName(service.env, service.name)}`;
  // Behind the proxy, a `-next` the proxy already sends traffic to is the one serving, old or not.
  const adoptable = others.find(
    (row) =>
      row.Names.includes(next) &&
      row.State === 'running' &&
      row.Labels[LABELS.specHash] === hash &&
      (old === undefined || (serving !== undefined && slotOf(row.Labels) === serving && old.slot !== serving)),
  )?.Id;
  const leftovers: string[] = [];
  for (const row of others) {
    if (row.Id !== adoptable) {
      leftovers.push(row.Id);
      context.say(`${service.env}/${service.name}: removing container ${row.Names[0]?.replace(/^\//, '') ?? ''} (${short(row.Id)}) left over from an interrupted run`);
    }
  }
  return { old, leftovers, adoptable };
}

const RESTORE_PATIENCE_MS = 60_000;

/**
 * After an error no step expected (the engine went away mid-swap, say for a
 * dockerd restart), the old container is started again if it can be, trying
 * for a minute: a deploy that cannot finish must not leave the service stopped.
 */
async function restoreAfterError(context: AgentContext, label: string, old: OldContainer, cause: Error): Promise<void> {
  const deadline = context.now() + RESTORE_PATIENCE_MS;
  for (;;) {
    try {
      await context.engine.startContainer(old.id);
      context.warn(`${label}: the deploy stopped on an error (${cause.message}); the previous container (${old.image}) is running`);
      return;
    } catch (error) {
      if ((error instanceof EngineError && error.status === 404) || context.now() >= deadline) {
        context.warn(`${label}: the deploy stopped on an error (${cause.message}) and the previous container could not be started again: ${(error as Error).message}`);
        return;
      }
    }
    await context.sleep(2000);
  }
}

/**
 * The image of the spec that is the rollback target once `loaded` is
 * recorded: the current one when it is being replaced, else the previous one.
 */
function nextPreviousImage(current: LoadedSpec | undefined, previous: LoadedSpec | undefined, loaded: LoadedSpec): string | undefined {
  return current !== undefined && current.canonical !== loaded.canonical ? current.spec.image : previous?.spec.image;
}

/** Moves the local tags, `previous` first, so an image leaving `current` is still tagged if the run is killed in between. */
async function moveTags(context: AgentContext, loaded: LoadedSpec, previousImage: string | undefined): Promise<void> {
  const { name, env, image } = loaded.spec;
  if (previousImage !== undefined) {
    const tag = localTag(name, env, 'previous');
    try {
      await context.engine.tagImage(previousImage, tag.repository, tag.tag);
    } catch (error) {
      if (!(error instanceof EngineError)) {
        throw error;
      }
      context.warn(`previous image ${previousImage} is no longer on this host; rollback will pull it`);
    }
  }
  const tag = localTag(name, env, 'current');
  await context.engine.tagImage(image, tag.repository, tag.tag);
}

/**
 * Records `loaded` as current: rotates the stored specs, names the owning
 * deployment and drops config folders neither spec uses. Idempotent, so a run
 * killed before it got here finishes the job next time.
 */
function recordCurrent(service: Service, loaded: LoadedSpec, current: LoadedSpec | undefined, previous: LoadedSpec | undefined, deployment?: string): void {
  const currentFile = path.join(service.dir, 'current.json');
  let rollback = previous;
  if (current !== undefined && current.canonical !== loaded.canonical) {
    fs.renameSync(currentFile, path.join(service.dir, 'previous.json'));
    rollback = current;
  }
  writeAtomically(currentFile, `${loaded.canonical}\n`, 0o600);
  if (deployment !== undefined) {
    writeAtomically(path.join(service.dir, 'deployment'), `${deployment}\n`, 0o600);
  }
  const keep = new Set([loaded.configHash, rollback?.configHash].filter((hash): hash is string => hash !== undefined));
  if (fs.existsSync(service.configDir)) {
    for (const entry of fs.readdirSync(service.configDir, { withFileTypes: true })) {
      if (entry.isDirectory() && !keep.has(entry.name)) {
        fs.rmSync(path.join(service.configDir, entry.name), { recursive: true, force: true });
      }
    }
  }
}

/** The failed container's story for stderr: the health output, who holds a wanted port, its logs. */
async function failureReport(context: AgentContext, loaded: LoadedSpec, id: string, output: string): Promise<string> {
  const { env, name, image, health, ports } = loaded.spec;
  const lines = [`${env}/${name}: ${image} did not become healthy within ${health.timeoutSeconds}s`, '--- last health check output ---', output.replace(/\n+$/, '') || '(none)'];
  if (/port is already allocated|address already in use/.test(output)) {
    for (const port of wantedHostPorts(ports ?? [])) {
      const holders = await portHolders(context, port);
      if (holders.length > 0) {
        lines.push(`host port ${port} is held by: ${holders.join(' ')}`);
      }
    }
  }
  lines.push(`--- last ${LOG_LINES} log lines of the new container ---`);
  try {
    lines.push((await context.engine.logs(id, LOG_LINES)).replace(/\n+$/, ''));
  } catch (error) {
    lines.push(`(no logs: ${(error as Error).message})`);
  }
  lines.push('--- end of the new container logs ---');
  return lines.join('\n');
}

async function portHolders(context: AgentContext, port: number): Promise<string[]> {
  const running = await context.engine.listContainers({ publish: [String(port)] });
  return running.map((row) => row.Names[0]?.replace(/^\//, '') ?? row.Id).sort();
}

/**
 * What the host proxy carries for the service during this run: the route its
 * proxied ports get (slots kept from the recorded route when the listeners are
 * the same, else new ones reserved), the slot the new container takes, and
 * the publications the engine keeps. Undefined on a host without a proxy.
 */
interface TrafficPlan {
  route?: ProxyRoute;
  /** The route recorded before this run, if any. */
  recorded?: ProxyRoute;
  slot?: Slot;
  /** The old container's slot, when it serves behind this very route (the same listeners). */
  behind?: Slot;
  direct: string[];
}

async function planTraffic(context: AgentContext, service: Service, loaded: LoadedSpec, old: OldContainer | undefined): Promise<TrafficPlan | undefined> {
  if (context.proxy === undefined) {
    return undefined;
  }
  const { proxied, direct } = splitPublications(loaded.spec.ports ?? []);
  const recorded = readRoute(service.dir);
  if (proxied.length === 0) {
    return { recorded, direct };
  }
  const mode = trafficOf(loaded.spec).proxyMode;
  const same = (route: ProxyRoute | undefined) => route !== undefined && sameListeners({ ...route, mode }, mode, proxied);
  let route: ProxyRoute;
  const holders = routesHolding(context.roots.state, service, proxied);
  if (holders.length > 0) {
    throw new Failed(`${service.env}/${service.name}: the host proxy already carries ${holders.join(', ')} for another service; nothing was changed`);
  }
  if (same(recorded)) {
    route = { ...recorded!, mode };
  } else {
    const pending = readRoute(path.join(service.dir, 'next'));
    if (same(pending)) {
      route = { ...pending!, mode, active: undefined };
    } else {
      // Reserved under the proxy lock, written before it is let go: no two deploys take the same slot port.
      const held = await context.locks.forProxy(context.lockWaitMs);
      try {
        route = { env: service.env, name: service.name, mode, listeners: await allocateListeners(context.roots.state, proxied) };
        fs.mkdirSync(path.join(service.dir, 'next'), { recursive: true, mode: 0o700 });
        writeAtomically(path.join(service.dir, 'next', 'proxy.json'), `${JSON.stringify(route)}\n`, 0o600);
      } finally {
        await held.release();
      }
    }
  }
  const behind = old?.slot !== undefined && same(recorded) ? old.slot : undefined;
  const slot: Slot = behind !== undefined ? otherSlot(behind) : route.active !== undefined ? otherSlot(route.active) : 'a';
  return { route, recorded, slot, behind, direct };
}

/** Makes the proxy send the service's traffic to `slot`, under the proxy lock; forgets the reservation. */
async function routeTo(context: AgentContext, service: Service, plan: TrafficPlan, slot: Slot): Promise<{ route: ProxyRoute; oldProcess?: number }> {
  const route = { ...plan.route!, active: slot };
  const held = await context.locks.forProxy(context.lockWaitMs);
  try {
    const { how, oldProcess } = await applyRoute(context.proxy!, service.dir, route, context);
    fs.rmSync(path.join(service.dir, 'next'), { recursive: true, force: true });
    context.say(`${service.env}/${service.name}: the host proxy sends port(s) ${route.listeners.map((listener) => listener.hostPort).join(',')} to slot ${slot} (${how})`);
    return { route, oldProcess };
  } finally {
    await held.release();
  }
}

/**
 * Drains the slot the old container serves behind the proxy, for up to the
 * spec's drain timeout; after a reload, until the replaced proxy process has
 * finished its connections too.
 */
async function drainOld(context: AgentContext, label: string, route: ProxyRoute, slot: Slot, seconds: number, oldProcess?: number): Promise<void> {
  const left = await drainSlot(context.proxy!, route, slot, seconds, context, oldProcess, (inFlight, waited) =>
    context.say(`${label}: draining the old container: ${inFlight} request(s) or connection(s) still in flight after ${waited}s (of ${seconds}s)`),
  );
  if (left > 0) {
    context.warn(`${label}: ${left} request(s) or connection(s) were still in flight on the old container after the ${seconds}s drain`);
  } else {
    context.say(`${label}: the old container has drained`);
  }
}

/** Converges the service to `loaded`. `action` is what the audit log calls it. */
export async function converge(context: AgentContext, loaded: LoadedSpec, action: 'deploy' | 'rollback', deployment?: string): Promise<void> {
  const service = serviceOf(context, loaded);
  const { env, name, image } = loaded.spec;
  const label = `${env}/${name}`;
  const { update, drainSeconds } = trafficOf(loaded.spec);
  const held = await context.locks.forService(env, name, context.lockWaitMs);
  try {
    const current = loadRecordedSpec(path.join(service.dir, 'current.json'), context.roots.data);
    const previous = loadRecordedSpec(path.join(service.dir, 'previous.json'), context.roots.data);
    const audit = (result: AuditEntry['result'], from?: string) => appendAudit(context.roots, { action, service: name, env, from, to: image, result }, new Date(context.now()));

    const recordedRoute = context.proxy === undefined ? undefined : readRoute(service.dir);
    const { old, leftovers, adoptable } = await findOld(context, service, loaded.hash, recordedRoute?.active);
    // (Made only once the engine answered: a host that cannot run the deploy keeps no trace of it.)
    fs.mkdirSync(service.dir, { recursive: true, mode: 0o700 });
    // Leftovers of a bash agent's or a killed run's temporary files (they may have held secrets).
    for (const entry of fs.readdirSync(service.dir)) {
      if (entry.startsWith('secret.env.') || entry.endsWith('.tmp')) {
        fs.rmSync(path.join(service.dir, entry), { force: true });
      }
    }
    for (const id of leftovers) {
      await context.engine.removeContainer(id);
    }
    const plan = await planTraffic(context, service, loaded, old);

    if (adoptable !== undefined) {
      const check = await waitHealthy(context, adoptable, loaded.spec.health.cmd, loaded.spec.health.timeoutSeconds);
      if (check.healthy) {
        await moveTags(context, loaded, nextPreviousImage(current, previous, loaded));
        if (plan?.route !== undefined && recordedRoute?.active !== undefined) {
          await routeTo(context, service, plan, recordedRoute.active);
        }
        if (old !== undefined) {
          // The proxy already sends traffic to the adopted container: the old one drains, stops, goes.
          if (plan?.route !== undefined && old.slot !== undefined && old.running) {
            await drainOld(context, label, plan.route, old.slot, drainSeconds);
          }
          if (old.running) {
            await context.engine.stopContainer(old.id);
          }
          await context.engine.removeContainer(old.id);
        }
        await context.engine.renameContainer(adoptable, containerName(env, name));
        recordCurrent(service, loaded, current, previous, deployment);
        context.say(`${label}: took over ${image} (${short(adoptable)}), which an interrupted run had started; healthy`);
        audit('ok', current?.spec.image);
        return;
      }
      context.say(`${label}: removing container ${nextContainerName(env, name)} (${short(adoptable)}) left over from an interrupted run: not healthy`);
      await context.engine.removeContainer(adoptable);
    }

    // A container of this spec that publishes its own ports on a host with a proxy moves behind it.
    const movesBehindProxy = plan?.route !== undefined && plan.behind === undefined;
    if (old !== undefined && old.hash === loaded.hash && old.running && !movesBehindProxy) {
      if (plan?.route !== undefined && old.slot !== undefined && (plan.recorded?.active !== old.slot || !fs.existsSync(configFileOf(context.proxy!, plan.route)))) {
        // A run killed mid-switch: the proxy is pointed back at what serves.
        await routeTo(context, service, plan, old.slot);
      }
      await moveTags(context, loaded, nextPreviousImage(current, previous, loaded));
      recordCurrent(service, loaded, current, previous, deployment);
      context.say(`${label}: already running ${image} with this spec; nothing to do`);
      audit('unchanged', old.image);
      return;
    }

    // Created before the old one is stopped: a spec the engine rejects fails
    // here, while the old container is still serving.
    const behindProxy = plan?.route !== undefined ? { slot: plan.slot!, publications: slotPublications(plan.route, plan.slot!, plan.direct) } : undefined;
    const body = createBody(loaded.spec, loaded.hash, writeConfigFile(service, loaded), behindProxy);
    const next = nextContainerName(env, name);
    let created: string;
    try {
      created = await context.engine.createContainer(next, body);
      context.say(`${label}: ${image} is already on this host`);
    } catch (error) {
      if (!(error instanceof EngineError)) {
        throw error;
      }
      if (await context.engine.hasImage(image)) {
        audit('failed', old?.image);
        throw new Failed(`${label}: could not create the new container; nothing was changed: ${error.message}`);
      }
      context.say(`${label}: pulling ${image}`);
      try {
        await context.engine.pullImage(image, await context.credentials(image));
      } catch (pullError) {
        audit('pull-failed', old?.image);
        throw new Failed(`${label}: could not pull ${image}; nothing was changed: ${(pullError as Error).message}`);
      }
      try {
        created = await context.engine.createContainer(next, body);
      } catch (createError) {
        if (!(createError instanceof EngineError)) {
          throw createError;
        }
        audit('failed', old?.image);
        throw new Failed(`${label}: could not create the new container; nothing was changed: ${createError.message}`);
      }
    }

    let stoppedOld = false;
    // Set once a failure path has put the old container back itself; any other error restores it below.
    let settled = false;
    // The old container was drained behind the proxy before a stop-first start: traffic goes back to it on failure.
    let drainedSlot: Slot | undefined;
    const oldBehindRoute = plan?.behind;
    // The proxy refused a step: the new container goes, the old one serves again (its slot too).
    const giveBack = async (what: string, error: Error): Promise<never> => {
      await context.engine.removeContainer(created).catch(() => undefined);
      fs.rmSync(path.join(service.dir, 'next'), { recursive: true, force: true });
      if (old?.running && stoppedOld) {
        await restoreAfterError(context, label, old, error);
      }
      if (drainedSlot !== undefined) {
        await restoreSlot(context.proxy!, plan!.recorded!, drainedSlot).catch(() => undefined);
      }
      settled = true;
      audit(old === undefined ? 'failed' : 'failed-restored', old?.image);
      throw new Failed(`${label}: ${what}: ${error.message}`);
    };
    // From here the old container may be stopped: whatever goes wrong, it is started again.
    try {
      if (old?.running) {
        const details = await context.engine.inspectContainer(old.id);
        const oldPorts = new Set(heldHostPorts(details?.HostConfig.PortBindings ?? null));
        const ownPorts = plan === undefined ? loaded.spec.ports ?? [] : plan.direct;
        const clashing = wantedHostPorts(ownPorts).filter((port) => oldPorts.has(port));
        // A route that goes away frees its ports only once the proxy lets them go.
        const routeEnds = plan !== undefined && plan.route === undefined && plan.recorded !== undefined;
        if (update === 'stop-first' || clashing.length > 0 || routeEnds) {
          if (oldBehindRoute !== undefined) {
            // The route as the proxy carries it now (a new mode is loaded with the switch).
            await startDrain(context.proxy!, plan!.recorded!, oldBehindRoute);
            drainedSlot = oldBehindRoute;
            await drainOld(context, label, plan!.recorded!, oldBehindRoute, drainSeconds);
          }
          const why = update === 'stop-first' ? 'the service updates stop-first' : clashing.length > 0 ? `it holds host port(s) ${clashing.join(',')}` : 'its ports leave the host proxy';
          context.say(`${label}: stopping the old container first: ${why}`);
          await context.engine.stopContainer(old.id);
          stoppedOld = true;
        }
      }
      if (plan !== undefined && plan.route === undefined && plan.recorded !== undefined) {
        const held = await context.locks.forProxy(context.lockWaitMs);
        try {
          await removeRoute(context.proxy!, service.dir, plan.recorded, context);
        } catch (error) {
          return await giveBack('the host proxy did not let the service\'s ports go', error as Error);
        } finally {
          await held.release();
        }
      }

      context.say(`${label}: starting ${image}, waiting up to ${loaded.spec.health.timeoutSeconds}s for health`);
      let check: { healthy: boolean; output: string };
      try {
        await context.engine.startContainer(created);
        check = await waitHealthy(context, created, loaded.spec.health.cmd, loaded.spec.health.timeoutSeconds);
      } catch (error) {
        if (!(error instanceof EngineError)) {
          throw error;
        }
        check = { healthy: false, output: error.message };
      }

      if (check.healthy) {
        if (plan?.route !== undefined) {
          if (old?.running && !stoppedOld && oldBehindRoute === undefined) {
            // The old container holds the host port the proxy must take over, or listens on slots the route gives up.
            const why = old.slot === undefined ? 'which publishes its own ports, so the host proxy can take them over' : "whose listeners the host proxy replaces";
            context.say(`${label}: stopping the old container, ${why}`);
            await context.engine.stopContainer(old.id);
            stoppedOld = true;
          }
          let switched: { route: ProxyRoute; oldProcess?: number };
          try {
            switched = await routeTo(context, service, plan, plan.slot!);
          } catch (error) {
            return await giveBack('the host proxy did not take the new container', error as Error);
          }
          if (old?.running && !stoppedOld && oldBehindRoute !== undefined) {
            await drainOld(context, label, switched.route, oldBehindRoute, drainSeconds, switched.oldProcess);
          }
        }
        await moveTags(context, loaded, nextPreviousImage(current, previous, loaded));
        if (old !== undefined) {
          // A graceful stop for an old container still serving, then gone.
          if (old.running && !stoppedOld) {
            await context.engine.stopContainer(old.id);
          }
          await context.engine.removeContainer(old.id);
        }
        await context.engine.renameContainer(created, containerName(env, name));
        recordCurrent(service, loaded, current, previous, deployment);
        context.say(`${label}: now running ${image} (${short(created)}), healthy`);
        audit('ok', old?.image);
        return;
      }

      // The new container failed: show why, drop it, and bring the old one back.
      context.warn(await failureReport(context, loaded, created, check.output));
      await context.engine.removeContainer(created).catch(() => undefined);
      fs.rmSync(path.join(service.dir, 'next'), { recursive: true, force: true });
      if (old === undefined) {
        audit('failed');
        throw new Failed(`${label}: deploy of ${image} failed; there was no previous container to restore`);
      }
      context.warn(`${label}: restoring the previous container (${old.image})`);
      // The old container is started and health-checked with its own spec, so
      // it is serving again before this command returns.
      let restored: { healthy: boolean; output: string };
      try {
        await context.engine.startContainer(old.id);
        restored = current === undefined ? { healthy: true, output: '' } : await waitHealthy(context, old.id, current.spec.health.cmd, current.spec.health.timeoutSeconds);
      } catch (error) {
        if (!(error instanceof EngineError)) {
          throw error;
        }
        restored = { healthy: false, output: error.message };
      }
      if (drainedSlot !== undefined) {
        await restoreSlot(context.proxy!, plan!.recorded!, drainedSlot);
      }
      if (!restored.healthy) {
        settled = true;
        audit('failed-restore-failed', old.image);
        throw new Failed(`${label}: deploy failed AND the previous container is not healthy: ${restored.output || check.output || 'no output'}`);
      }
      settled = true;
      audit('failed-restored', old.image);
      throw new Failed(`${label}: deploy of ${image} failed; the previous container is serving again`);
    } catch (error) {
      if (!settled && old?.running) {
        await restoreAfterError(context, label, old, error as Error);
        if (drainedSlot !== undefined) {
          await restoreSlot(context.proxy!, plan!.recorded!, drainedSlot).catch(() => undefined);
        }
      }
      throw error;
    }
  } finally {
    await held.release();
  }
}

/** `deploy`: the spec from stdin, checked against the image the deploy step shows. */
export async function deploy(context: AgentContext, text: string, options: { deployment?: string; expectImage?: string }): Promise<void> {
  const loaded = loadSpec(text, context.roots.data);
  if (options.expectImage !== undefined && options.expectImage !== loaded.spec.image) {
    // The image the command line shows a reviewer is the one deployed.
    throw new Refused(`spec.image is ${loaded.spec.image} but the deploy step expects ${options.expectImage}; nothing was changed`);
  }
  await converge(context, loaded, 'deploy', options.deployment);
}

/** `rollback`: the previous spec, through the same health gate; the two swap places. */
export async function rollback(context: AgentContext, env: string, name: string): Promise<void> {
  const file = path.join(stateDir(context.roots, env, name), 'previous.json');
  if (readIfPresent(file) === undefined) {
    throw new Failed(`${env}/${name}: no previous deploy recorded in ${path.dirname(file)}`);
  }
  const loaded = loadRecordedSpec(file, context.roots.data)!;
  await converge(context, loaded, 'rollback');
}
