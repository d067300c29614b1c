/**
 * Planning a promotion, as pure functions: which image moves from one
 * environment's stack file to the next, and the exact new text of the target
 * file. Nothing here touches a file or the network.
 */
import { PROMOTION_CHAIN } from '../../components/common/environments';
import { hasRegistryHost, parseImageRef, pinnedRef } from '../../components/common/image';
import { stackFileName } from '../../stacks/common/stackFile';
import { CONFIG_NAMESPACE } from '../../stacks/env/config';
import { unifiedDiff } from './diff';
import { listServices, parseStackFile, PromotionError, readServiceImage, replaceServiceImage } from './stackFile';

export interface PromotionRequest {
  from: string;
  to: string;
  /** Service names, or `all` for every service of the source file. */
  services: string[] | 'all';
  /** Allow skipping a step or going backwards along the chain. */
  force?: boolean;
  /** @default PROMOTION_CHAIN */
  chain?: readonly string[];
  /** @default "berth" */
  namespace?: string;
}

export interface ImageChange {
  service: string;
  /** The target's image before, as written. */
  before: string;
  /** The image written into the target: `repo@sha256:…` from the source. */
  after: string;
  /** Repository as written (may carry a registry host). */
  repository: string;
  digest: string;
  changed: boolean;
}

export interface PromotionPlan {
  fromFile: string;
  toFile: string;
  changes: ImageChange[];
  /** The target file's new text; equal to the old text when nothing changes. */
  newText: string;
  /** Unified diff of the target file; empty when nothing changes. */
  diff: string;
}

/** Refuses a promotion that is not one step forward along the chain, unless forced. */
export function checkChain(from: string, to: string, chain: readonly string[] = PROMOTION_CHAIN, force = false): void {
  const route = chain.join(' -> ');
  for (const env of [from, to]) {
    if (!chain.includes(env)) {
      throw new PromotionError(`unknown environment "${env}"; environments are ${chain.join(', ')}`);
    }
  }
  if (from === to) {
    throw new PromotionError(`--from and --to are both "${from}"; nothing to promote`);
  }
  const step = chain.indexOf(to) - chain.indexOf(from);
  if (step === 1 || force) {
    return;
  }
  if (step > 1) {
    const skipped = chain.slice(chain.indexOf(from) + 1, chain.indexOf(to));
    throw new PromotionError(
      `refusing to promote ${from} -> ${to}: it skips ${skipped.join(' and ')} (images travel ${route}); promote ${from} -> ${chain[chain.indexOf(from) + 1]} first, or pass --force`,
    );
  }
  throw new PromotionError(`refusing to promote ${from} -> ${to}: that goes backwards (images travel ${route}); pass --force to copy an image back on purpose`);
}

/** The digest-pinned image to promote from the source's value; refuses tags and missing digests. */
export function promotableImage(file: string, key: string, image: string): { repository: string; digest: string; ref: string } {
  const ref = parseImageRef(image);
  if ('error' in ref) {
    throw new PromotionError(`${file}: ${key} is "${image}": ${ref.error}; expected repo@sha256:<64 hex>`);
  }
  if (!ref.digest) {
    throw new PromotionError(
      `${file}: ${key} is "${image}", a tag, not a digest; promotion copies a digest and never resolves or rebuilds. Pin ${file} to repo@sha256:<64 hex> first`,
    );
  }
  return { repository: ref.repository, digest: ref.digest, ref: pinnedRef(ref.repository, ref.digest) };
}

/** Plans a promotion from the two files' texts; throws PromotionError on any refusal. */
export function planPromotion(request: PromotionRequest, fromText: string, toText: string): PromotionPlan {
  checkChain(request.from, request.to, request.chain ?? PROMOTION_CHAIN, request.force ?? false);
  const namespace = request.namespace ?? CONFIG_NAMESPACE;
  const source = parseStackFile(stackFileName(request.from), fromText, namespace);
  const target = parseStackFile(stackFileName(request.to), toText, namespace);
  const services = request.services === 'all' ? listServices(source) : [...new Set(request.services)];
  if (services.length === 0) {
    throw new PromotionError(`${source.file}: ${source.servicesKey} declares no services; nothing to promote`);
  }
  const changes: ImageChange[] = [];
  let text = toText;
  for (const service of services) {
    const key = `${source.servicesKey}.${service}.image`;
    const image = promotableImage(source.file, key, readServiceImage(source, service));
    if (!listServices(target).includes(service)) {
      throw new PromotionError(
        `${target.file}: ${target.servicesKey} has no service "${service}"; declare it there (host group, config file) before promoting its image`,
      );
    }
    const current = parseStackFile(target.file, text, namespace);
    const before = readServiceImage(current, service);
    const changed = before !== image.ref;
    if (changed) {
      text = replaceServiceImage(current, service, image.ref);
    }
    changes.push({ service, before, after: image.ref, repository: image.repository, digest: image.digest, changed });
  }
  return {
    fromFile: source.file,
    toFile: target.file,
    changes,
    newText: text,
    diff: unifiedDiff(toText, text, target.file, `${target.file} (promoted from ${request.from})`),
  };
}

/** `auth-service: berth/auth-service@sha256:c3c3… -> berth/auth-service@sha256:f6f6…`, one line per service. */
export function describeChanges(plan: PromotionPlan): string[] {
  return plan.changes.map((change) => (change.changed ? `${change.service}: ${change.before} -> ${change.after}` : `${change.service}: ${change.after} (unchanged)`));
}

/** The registry a repository is served from: the host it names, else the given default. */
export function registryFor(repository: string, fallback: string | undefined): string | undefined {
  return hasRegistryHost(repository) ? repository.split('/')[0] : fallback;
}

/** The repository's path inside its registry (without the host). */
export function repositoryPath(repository: string): string {
  return hasRegistryHost(repository) ? repository.slice(repository.indexOf('/') + 1) : repository;
}
