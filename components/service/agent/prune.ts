/**
 * `berth-agent prune`, run by berth-prune.timer: frees disk under the host
 * lock, so a prune never runs between a deploy's pull and the container that
 * uses the image.
 *
 * 1. Stopped Berth containers (label berth.service) that are not the current
 *    container of their service (`berth-<env>-<name>`) and stopped (or were
 *    created) longer than `minAgeSeconds` ago. With `env`, only that
 *    environment's: another environment's containers are its rollback state.
 * 2. Dangling images: untagged images no container uses, which includes an
 *    image pulled only by digest once nothing runs it. The engine refuses to
 *    prune an image any container uses, and the rollback image carries its
 *    local tag (`berth/<name>:<env>-previous`), so neither is dangling.
 *
 * One line per removed container or image and a summary with the bytes freed,
 * for journald.
 */
import type { AgentContext } from './context';
import { EngineError } from './engine';
import { containerName, LABELS } from './layout';

export interface PruneOptions {
  env?: string;
  minAgeSeconds: number;
}

export interface PruneSummary {
  containersRemoved: number;
  containersKept: number;
  imagesRemoved: number;
  layersRemoved: number;
  containerBytes: number;
  imageBytes: number;
}

/** Unix seconds of an RFC 3339 time; a container that never finished has year 1, which counts as 0. */
function epochSeconds(time: string | undefined): number {
  const ms = time === undefined ? NaN : Date.parse(time);
  return Number.isNaN(ms) || ms < 0 ? 0 : Math.floor(ms / 1000);
}

export async function prune(context: AgentContext, options: PruneOptions): Promise<PruneSummary> {
  const held = await context.locks.forPrune(context.lockWaitMs);
  try {
    const summary: PruneSummary = { containersRemoved: 0, containersKept: 0, imagesRemoved: 0, layersRemoved: 0, containerBytes: 0, imageBytes: 0 };
    const now = Math.floor(context.now() / 1000);
    const labels = [LABELS.service, ...(options.env === undefined ? [] : [`${LABELS.env}=${options.env}`])];
    const stopped = await context.engine.listContainers({ label: labels, status: ['exited', 'created', 'dead'] }, { size: true });
    for (const row of stopped.sort((a, b) => a.Id.localeCompare(b.Id))) {
      const name = row.Names[0]?.replace(/^\//, '') ?? row.Id;
      const service = row.Labels[LABELS.service] ?? '';
      const env = row.Labels[LABELS.env] ?? '';
      if (name === containerName(env, service)) {
        summary.containersKept++;
        continue;
      }
      const details = await context.engine.inspectContainer(row.Id);
      const last = Math.max(row.Created, epochSeconds(details?.State.FinishedAt));
      if (now - last < options.minAgeSeconds) {
        summary.containersKept++;
        context.say(`kept container ${name}: stopped less than ${options.minAgeSeconds}s ago`);
        continue;
      }
      const bytes = row.SizeRw ?? 0;
      try {
        await context.engine.removeContainer(row.Id);
      } catch (error) {
        if (!(error instanceof EngineError)) {
          throw error;
        }
        context.say(`could not remove container ${name} id=${row.Id.slice(0, 12)}; leaving it`);
        continue;
      }
      summary.containersRemoved++;
      summary.containerBytes += bytes;
      context.say(`removed container ${name} id=${row.Id.slice(0, 12)} service=${service} env=${env} image=${row.Image} bytes=${bytes}`);
    }

    // What is dangling now, so each removed image is logged with the references it had.
    const dangling = new Map<string, string>();
    for (const image of await context.engine.listImages({ dangling: ['true'] })) {
      // (The engine lists an image without any reference as `<none>@<none>`.)
      dangling.set(image.Id, (image.RepoDigests ?? []).filter((ref) => ref !== '<none>@<none>').join(','));
    }
    const report = await context.engine.pruneImages({ dangling: ['true'] });
    for (const entry of report.ImagesDeleted ?? []) {
      if (entry.Deleted === undefined) {
        continue;
      }
      if (dangling.has(entry.Deleted)) {
        summary.imagesRemoved++;
        const refs = dangling.get(entry.Deleted);
        context.say(`removed image ${entry.Deleted}${refs ? ` refs=${refs}` : ''}`);
      } else {
        summary.layersRemoved++;
      }
    }
    summary.imageBytes = report.SpaceReclaimed ?? 0;
    context.say(
      `summary: scope=${options.env ?? 'all'} removed containers=${summary.containersRemoved} images=${summary.imagesRemoved} ` +
        `layers=${summary.layersRemoved} kept_stopped_containers=${summary.containersKept} ` +
        `bytes_freed=${summary.containerBytes + summary.imageBytes} (containers=${summary.containerBytes} images=${summary.imageBytes})`,
    );
    return summary;
  } finally {
    await held.release();
  }
}
