/**
 * The JSON documents the registry attaches to every repository, rendered by
 * pure functions so tests and reviewers read exactly what AWS receives.
 */

export interface LifecyclePolicyOptions {
  /** Tags never expired, matched exactly (e.g. `stage`). */
  protectedTags: readonly string[];
  /** Tags with this prefix are never expired (e.g. `keep-`). Empty: no prefix rule. */
  keepTagPrefix: string;
  /** Untagged images expire this many days after their push. */
  untaggedExpiryDays: number;
}

/**
 * The count of the protecting rules: far more images than one rule can select.
 * A protected tag names at most one image of a repository (a tag points at one
 * manifest), so its rule never expires anything; the keep-prefix rule would
 * expire keep- images only past the 100,000 newest, which is ECR's default
 * "images per repository" quota.
 */
export const PROTECT_COUNT = 100000;

/**
 * The repository's ECR lifecycle policy. What it keeps and why, from the
 * lifecycle evaluation rules in the ECR user guide
 * (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html#lp_evaluation_rules,
 * and "Filtering on multiple rules" in lifecycle_policy_examples.html):
 *
 * - Within one rule, every entry of `tagPatternList` / `tagPrefixList` must
 *   match one of the image's tags ("If you specify multiple tags, only the
 *   images with all specified tags are selected"). One rule listing
 *   `dev, test, stage, prod, keep-*` therefore selected only an image carrying
 *   all five at once, in practice none. So each protected tag gets a rule of its own, with
 *   a one-entry `tagPatternList` and no wildcard (an exact tag: `prod` does not
 *   select `prod-old`), and the keep prefix gets one rule with
 *   `tagPrefixList: [prefix]`.
 * - "An image that matches the tagging requirements of a rule cannot be expired
 *   by a rule with a lower priority." A protecting rule is an `expire` rule
 *   whose count (PROTECT_COUNT) it never reaches: it expires nothing itself,
 *   and the images it selects are out of reach of every later rule. Example A
 *   of "Filtering on multiple rules" shows it: an image seen by rule 1 is
 *   skipped by rule 2 although rule 2 marked it.
 * - The last rule expires untagged images `untaggedExpiryDays` after their
 *   push (`sinceImagePushed` counts from the push, not from the moment the image
 *   lost its last tag). It selects only untagged images: the only tagged
 *   images this policy could expire are keep- images past the PROTECT_COUNT
 *   newest. The protecting rules are what keeps protected images safe from any
 *   rule placed after them (a transform that adds a count or age rule for
 *   tagged images, for instance). Only one rule may select untagged images, and
 *   a rule with `tagStatus: any` must come last.
 *
 * So: an image carrying an environment tag or a tag starting with the keep
 * prefix is kept; an image with any other tag is kept; an untagged image is
 * expired (within 24 hours) once it was pushed more than `untaggedExpiryDays`
 * ago. A digest that loses its environment tag on promotion is expired within
 * a day if it was pushed longer ago than that, unless another tag holds it.
 */
export function renderLifecyclePolicy(options: LifecyclePolicyOptions): string {
  const rules: unknown[] = [];
  const rule = (description: string, selection: Record<string, unknown>) =>
    rules.push({ rulePriority: rules.length + 1, description, selection, action: { type: 'expire' } });
  for (const tag of [...new Set(options.protectedTags)]) {
    rule(`Keep the image tagged ${tag}`, { tagStatus: 'tagged', tagPatternList: [tag], countType: 'imageCountMoreThan', countNumber: PROTECT_COUNT });
  }
  if (options.keepTagPrefix) {
    rule(`Keep images with a tag starting with ${options.keepTagPrefix}`, {
      tagStatus: 'tagged',
      tagPrefixList: [options.keepTagPrefix],
      countType: 'imageCountMoreThan',
      countNumber: PROTECT_COUNT,
    });
  }
  rule(`Expire untagged images ${options.untaggedExpiryDays} days after push`, {
    tagStatus: 'untagged',
    countType: 'sinceImagePushed',
    countUnit: 'days',
    countNumber: options.untaggedExpiryDays,
  });
  return JSON.stringify({ rules });
}

/** What another account may do with the images: pull, and look a tag up (dev resolves tags to digests). */
export const PULL_ACTIONS = ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:DescribeImages', 'ecr:GetDownloadUrlForLayer'];

/** Repository policy letting the named AWS accounts pull. */
export function renderPullPolicy(accountIds: readonly string[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'BerthCrossAccountPull',
        Effect: 'Allow',
        Principal: { AWS: [...accountIds].sort().map((id) => `arn:aws:iam::${id}:root`) },
        Action: PULL_ACTIONS,
      },
    ],
  });
}

const ACCOUNT_ID = /^\d{12}$/;
const TAG_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** Every problem with the registry's settings, each naming the property, or none. */
export function registrySettingsProblems(settings: {
  services: readonly string[];
  baseImage: string;
  pullAccountIds: readonly string[];
  protectedTags: readonly string[];
  keepTagPrefix: string;
  untaggedExpiryDays: number;
}): string[] {
  const problems: string[] = [];
  const name = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
  for (const service of settings.services) {
    if (!name.test(service)) {
      problems.push(`services: "${service}" is not a repository name (lowercase letters, digits, and . _ - between them)`);
    }
  }
  if (settings.services.includes(settings.baseImage)) {
    problems.push(`baseImage: "${settings.baseImage}" is also a service name; the base image needs its own repository`);
  }
  if (new Set(settings.services).size !== settings.services.length) {
    problems.push('services: each service may appear only once');
  }
  for (const id of settings.pullAccountIds) {
    if (!ACCOUNT_ID.test(id)) {
      problems.push(`pullAccountIds: "${id}" is not an AWS account id (12 digits)`);
    }
  }
  for (const tag of settings.protectedTags) {
    if (!TAG_PATTERN.test(tag)) {
      problems.push(`protectedTags: "${tag}" is not an image tag (letters, digits, . _ -; no wildcards)`);
    }
  }
  if (settings.keepTagPrefix && !TAG_PATTERN.test(settings.keepTagPrefix)) {
    problems.push(`keepTagPrefix: "${settings.keepTagPrefix}" is not a tag prefix (letters, digits, . _ -)`);
  }
  if (!Number.isInteger(settings.untaggedExpiryDays) || settings.untaggedExpiryDays < 1) {
    problems.push(`untaggedExpiryDays: a whole number of days, at least 1; got ${settings.untaggedExpiryDays}`);
  }
  return problems;
}

/**
 * The identity-policy statements that let a role pull from named repositories, and from no other:
 * ECR's login, which cannot be scoped to a repository (it only issues a token; pulls are checked
 * per repository), and the pull actions on those repositories. No repository: the login alone.
 */
export function ecrPullStatements(repositoryArns: readonly string[], sid: string): Record<string, unknown>[] {
  const statements: Record<string, unknown>[] = [{ Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' }];
  if (repositoryArns.length > 0) {
    statements.push({
      Sid: sid,
      Effect: 'Allow',
      Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
      Resource: [...new Set(repositoryArns)].sort(),
    });
  }
  return statements;
}
