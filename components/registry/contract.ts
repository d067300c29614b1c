/**
 * The contract between the registry stack and the environment stacks: what
 * `stacks/registry` exports and what an environment reads through its
 * `pulumi.StackReference`. One place, so the registry program, the offline
 * fixture and every consumer agree on the same keys.
 */

import { ENVIRONMENTS } from '../common/environments';

/** Default namespace: repositories are `<namespace>/<service>` and `<namespace>/<base>`. */
export const DEFAULT_NAMESPACE = 'berth';
/** Default name of the base image's repository inside the namespace. */
export const DEFAULT_BASE_IMAGE = 'base';
/** The environments' tags (promote moves tag `<env>` to the digest it promotes), never expired by the lifecycle policy; in promotion order. */
export const DEFAULT_PROTECTED_TAGS: readonly string[] = ENVIRONMENTS;
/** Tags starting with this prefix are never expired either (e.g. `keep-prod-rollback`). */
export const DEFAULT_KEEP_TAG_PREFIX = 'keep-';
/** Untagged images are expired this many days after their push. */
export const DEFAULT_UNTAGGED_EXPIRY_DAYS = 14;

/** Outputs of the registry stack (`stacks/registry`), read by every environment stack. */
export interface RegistryStackOutputs {
  /** Registry host, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`. */
  registryUrl: string;
  /** Repository URL by repository name, e.g. `{ "berth/auth-service": "1234….amazonaws.com/berth/auth-service" }`. */
  repositoryUrls: Record<string, string>;
  /** Repository ARN by repository name; what an instance role's pull policy names. */
  repositoryArns: Record<string, string>;
  /** Name of the base image's repository, e.g. `berth/base`. */
  baseRepository: string;
}

/** `<namespace>/<name>`: the repository name of a service or of the base image. */
export function repositoryName(name: string, namespace: string = DEFAULT_NAMESPACE): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** The ECR registry host of an account in a region. */
export function ecrRegistryHost(accountId: string, region: string): string {
  return `${accountId}.dkr.ecr.${region}.amazonaws.com`;
}

/** An ECR repository's ARN. */
export function ecrRepositoryArn(accountId: string, region: string, name: string): string {
  return `arn:aws:ecr:${region}:${accountId}:repository/${name}`;
}

/**
 * The registry stack's outputs as they look for an ECR registry in one account
 * and region holding the base repository and one repository per service.
 * Keys of the maps are sorted, so the same input always yields the same JSON.
 */
export function ecrRegistryOutputs(options: { accountId: string; region: string; services: string[]; namespace?: string; baseImage?: string }): RegistryStackOutputs {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const baseRepository = repositoryName(options.baseImage ?? DEFAULT_BASE_IMAGE, namespace);
  const registryUrl = ecrRegistryHost(options.accountId, options.region);
  const names = [...new Set([baseRepository, ...options.services.map((service) => repositoryName(service, namespace))])].sort();
  return {
    registryUrl,
    repositoryUrls: Object.fromEntries(names.map((name) => [name, `${registryUrl}/${name}`])),
    repositoryArns: Object.fromEntries(names.map((name) => [name, ecrRepositoryArn(options.accountId, options.region, name)])),
    baseRepository,
  };
}
