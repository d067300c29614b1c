/**
 * The promotion chain into the pinned environments (test -> stage -> prod),
 * as a rule over stack files: a digest may run in stage only if it ran in
 * test at some point (any committed version of Pulumi.test.yaml, or its
 * current content), and in prod only if it ran in stage. Promotion moves a
 * digest; it never introduces one. Images by tag carry no digest and are
 * ignored (only dev may use them). Pure: the caller reads the files and their
 * history. The chain and the pinned environments are
 * components/common/environments.
 */
import { EnvironmentName, isPinnedEnvironment, PROMOTION_STEPS, PromotionStep } from '../../components/common/environments';
import { parseImageRef } from '../../components/common/image';
import { isRecord } from '../../components/common/records';
import { ConfigError } from '../../stacks/common/configErrors';
import { parseStackDocument, stackConfigOf, stackFileName } from '../../stacks/common/stackFile';
import { CONFIG_NAMESPACE } from '../../stacks/env/config';

/** The steps checked: each step into a pinned environment, where `to` may only run digests that `from` has run. */
export const CHECKED_STEPS: readonly PromotionStep[] = PROMOTION_STEPS.filter(({ to }) => isPinnedEnvironment(to));

/** The environments whose stack files the check reads, in chain order. */
export const CHECKED_ENVIRONMENTS: readonly EnvironmentName[] = [...new Set(CHECKED_STEPS.flatMap(({ from, to }) => [from, to]))];

/** Service name -> image reference, as written under `berth:services.<name>.image`. */
export type StackImages = Record<string, string>;

/** One stack file's images now (the working tree) and in every committed version. */
export interface StackImagesHistory {
  current: StackImages;
  past: StackImages[];
  /**
   * Whether `current` counts as having run. Not when checking a pull request against its
   * base: a digest the same change writes into both test and stage never ran in test.
   * @default true
   */
  currentHasRun?: boolean;
}

export interface ChainViolation {
  env: EnvironmentName;
  service: string;
  digest: string;
  /** The environment the digest should have passed through first. */
  missingFrom: EnvironmentName;
  message: string;
}

/**
 * The images of a stack file's content, or undefined when the YAML does not
 * parse. Entries that are not `{ image: string }` are left out: validation
 * reports those.
 */
export function imagesOf(content: string): StackImages | undefined {
  let services: unknown;
  try {
    services = stackConfigOf(parseStackDocument('', content))[`${CONFIG_NAMESPACE}:services`];
  } catch (error) {
    if (error instanceof ConfigError) {
      return undefined;
    }
    throw error;
  }
  const images: StackImages = {};
  if (isRecord(services)) {
    for (const [service, value] of Object.entries(services)) {
      const image = (value as { image?: unknown } | null)?.image;
      if (typeof image === 'string') {
        images[service] = image;
      }
    }
  }
  return images;
}

function digestOf(image: string): string | undefined {
  const ref = parseImageRef(image);
  return 'error' in ref ? undefined : ref.digest;
}

/** Every digest a service ever ran in one environment. */
function digestsEverRun(history: StackImagesHistory, service: string): Set<string> {
  const digests = new Set<string>();
  for (const images of [...(history.currentHasRun === false ? [] : [history.current]), ...history.past]) {
    const digest = images[service] === undefined ? undefined : digestOf(images[service]);
    if (digest) {
      digests.add(digest);
    }
  }
  return digests;
}

/** Checks each promotion step; one violation per service whose current digest skipped a step. */
export function checkPromotionChain(histories: Partial<Record<EnvironmentName, StackImagesHistory>>): ChainViolation[] {
  const violations: ChainViolation[] = [];
  for (const { from, to } of CHECKED_STEPS) {
    const source = histories[from];
    const target = histories[to];
    if (!source || !target) {
      continue;
    }
    for (const service of Object.keys(target.current).sort()) {
      const digest = digestOf(target.current[service]);
      if (!digest || digestsEverRun(source, service).has(digest)) {
        continue;
      }
      violations.push({
        env: to,
        service,
        digest,
        missingFrom: from,
        message:
          `${stackFileName(to)}: ${CONFIG_NAMESPACE}:services.${service}.image: ${service} runs ${digest} in ${to}, ` +
          `but that digest was never in ${stackFileName(from)}; missing step: ${from} -> ${to} (deploy it to ${from} first)`,
      });
    }
  }
  return violations;
}

/** How many pinned digests each step carries, for the summary line. */
export function countPinned(images: StackImages): number {
  return Object.values(images).filter((image) => digestOf(image) !== undefined).length;
}
