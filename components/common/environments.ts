/**
 * The environments, the promotion chain and which environments run only
 * pinned images: the one place these rules live. The stack config, the policy
 * pack, the registry's protected tags, promote, check and the review tooling
 * import them; the CI files (YAML, Groovy) cannot, and
 * test/unit/ci-workflow.test.ts fails when their lists drift from these.
 */
import { isName, nameProblem } from './names';

/** Every environment, one stack each, in promotion order: images travel dev -> test -> stage -> prod. */
export const ENVIRONMENTS = ['dev', 'test', 'stage', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];

/** The order images travel in; a promotion moves an image one step along it. */
export const PROMOTION_CHAIN: readonly EnvironmentName[] = ENVIRONMENTS;

/** One step of the chain: `to` takes its images from `from`. */
export interface PromotionStep {
  from: EnvironmentName;
  to: EnvironmentName;
}

/** Each step of the chain, in order: dev -> test, test -> stage, stage -> prod. */
export const PROMOTION_STEPS: readonly PromotionStep[] = PROMOTION_CHAIN.slice(1).map((to, index) => ({ from: PROMOTION_CHAIN[index], to }));

/** Environments that run only images pinned by digest, straight from config. */
export const PINNED_ENVIRONMENTS: readonly EnvironmentName[] = ['stage', 'prod'];

export function isEnvironmentName(stack: string): stack is EnvironmentName {
  return (ENVIRONMENTS as readonly string[]).includes(stack);
}

/** `unknown stack "<stack>": expected one of dev, …` (and what breaks the name rule, if anything); the caller adds the file. */
export function unknownEnvironmentProblem(stack: string): string {
  const problem = nameProblem('environment', stack);
  return `unknown stack "${stack}": expected one of ${ENVIRONMENTS.join(', ')}${problem ? ` (${problem})` : ''}`;
}

/** Whether `env` runs only images pinned by digest. */
export function isPinnedEnvironment(env: string): boolean {
  return (PINNED_ENVIRONMENTS as readonly string[]).includes(env);
}

for (const env of ENVIRONMENTS) {
  if (!isName(env)) {
    throw new Error(`components/common/environments.ts: ENVIRONMENTS: ${nameProblem('environment', env)}`);
  }
}
