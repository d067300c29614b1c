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
 * A count far beyond any repository's image count: the protecting rule matches
 * the protected images but never expires one. ECR lets an image matched by a
 * higher-priority rule's tag selection never be expired by a lower-priority
 * rule, so this rule shields protected images from every rule after it.
 */
export const PROTECT_COUNT = 100000;

/**
 * ECR lifecycle policy: (1) protect images carrying an environment tag or a
 * `keep-` tag; (2) expire untagged images `untaggedExpiryDays` after push.
 * Tagged images without a protected tag are left alone.
 */
export function renderLifecyclePolicy(options: LifecyclePolicyOptions): string {
  const patterns = [...options.protectedTags, ...(options.keepTagPrefix ? [`${options.keepTagPrefix}*`] : [])];
  const rules: unknown[] = [];
  if (patterns.length > 0) {
    rules.push({
      rulePriority: 1,
      description: `Never expire images an environment points at: tags ${patterns.join(', ')}`,
      selection: { tagStatus: 'tagged', tagPatternList: patterns, countType: 'imageCountMoreThan', countNumber: PROTECT_COUNT },
      action: { type: 'expire' },
    });
  }
  rules.push({
    rulePriority: 2,
    description: `Expire untagged images ${options.untaggedExpiryDays} days after push`,
    selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: options.untaggedExpiryDays },
    action: { type: 'expire' },
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
