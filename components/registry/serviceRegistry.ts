import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import {
  DEFAULT_BASE_IMAGE,
  DEFAULT_KEEP_TAG_PREFIX,
  DEFAULT_NAMESPACE,
  DEFAULT_PROTECTED_TAGS,
  DEFAULT_UNTAGGED_EXPIRY_DAYS,
  RegistryStackOutputs,
  repositoryName,
} from './contract';
import { registrySettingsProblems, renderLifecyclePolicy, renderPullPolicy } from './policies';
import { applyTransform, Transform } from '../common/transform';

export interface ServiceRegistryArgs {
  /**
   * Services that get a repository each, named `<namespace>/<service>`.
   * @example ["api-service", "auth-service", "report-worker"]
   */
  services: string[];
  /**
   * Prefix of every repository name.
   * @default "berth"
   * @example "payments"
   */
  namespace?: string;
  /**
   * Name of the base image's repository inside the namespace. Service images are built FROM it.
   * @default "base"
   * @example "jre21-base"
   */
  baseImage?: string;
  /**
   * AWS accounts allowed to pull (and look tags up), typically the accounts the
   * environments run in. None: only this account can pull.
   * @default []
   * @example ["111111111111", "222222222222"]
   */
  pullAccountIds?: string[];
  /**
   * Days after its push an untagged image is expired.
   * @default 14
   * @example 30
   */
  untaggedExpiryDays?: number;
  /**
   * Tags never expired, matched exactly: the environment tags that
   * `npm run promote -- --tag` moves.
   * @default ["dev", "test", "stage", "prod"]
   * @example ["test", "stage", "prod"]
   */
  protectedTags?: string[];
  /**
   * Tags with this prefix are never expired either: tag an image `keep-…` to
   * keep it (e.g. a rollback image). Empty string: no prefix rule.
   * @default "keep-"
   * @example "retain-"
   */
  keepTagPrefix?: string;
  /**
   * Encryption at rest. `KMS` without a key uses the AWS-managed `aws/ecr` key.
   * Changing it replaces the repositories (an ECR rule), so choose once.
   * @default { type: "KMS" }
   * @example { type: "KMS", kmsKeyArn: key.arn }
   */
  encryption?: { type: 'KMS' | 'AES256'; kmsKeyArn?: pulumi.Input<string> };
  /**
   * Tag mutability. Environment tags move on every promotion, so tags must stay mutable.
   * @default "MUTABLE"
   * @example "MUTABLE"
   */
  imageTagMutability?: 'MUTABLE' | 'IMMUTABLE';
  /**
   * Let `pulumi destroy` delete repositories that still hold images. Off: a
   * repository with images cannot be deleted by accident.
   * @default false
   * @example true
   */
  forceDelete?: boolean;
  /**
   * Tags put on every repository.
   * @default {}
   * @example { team: "platform" }
   */
  tags?: Record<string, string>;
  /**
   * Adjust what the component creates before it is created: one hook per underlying
   * resource, each given the resource's args and options (mutate them in place) and its
   * logical name.
   * @default {}
   * @example { repository: (args) => { args.forceDelete = true; } }
   */
  transform?: ServiceRegistryTransform;
}

/**
 * The transform hooks of a ServiceRegistry, one per kind of resource it declares
 * (`<name>` is the component's name, `<short>` a service or the base image).
 */
export interface ServiceRegistryTransform {
  /** Each ECR repository `<name>-<short>` (physical name `<namespace>/<short>`). */
  repository?: Transform<aws.ecr.RepositoryArgs>;
  /** Each repository's lifecycle policy `<name>-<short>-lifecycle` (expire untagged, keep environment and `keep-` tags). */
  lifecyclePolicy?: Transform<aws.ecr.LifecyclePolicyArgs>;
  /** Each repository's pull policy `<name>-<short>-pull`, declared only with `pullAccountIds`. */
  repositoryPolicy?: Transform<aws.ecr.RepositoryPolicyArgs>;
}

/**
 * ECR repositories for Berth: one for the base image and one per service.
 *
 * @example
 * #### A registry the environment accounts pull from
 * ```ts
 * const registry = new ServiceRegistry('registry', {
 *   services: ['api-service', 'auth-service'],
 *   pullAccountIds: ['111111111111'],
 * });
 * // What the environment stacks read (RegistryStackOutputs):
 * export const { registryUrl, repositoryUrls, repositoryArns, baseRepository } = registry;
 * ```
 *
 * @example
 * #### Keep images longer and protect only the promoted environments
 * ```ts
 * new ServiceRegistry('registry', { services, untaggedExpiryDays: 30, protectedTags: ['test', 'stage', 'prod'] });
 * ```
 *
 * @remarks
 * Each repository is scanned on push, encrypted, with a lifecycle policy that expires
 * untagged images but never an image carrying an environment or `keep-` tag, and (with
 * `pullAccountIds`) a policy that lets the environment accounts pull. Put it in a stack of
 * its own (Berth's is `stacks/registry`) so every environment shares it and destroying an
 * environment never deletes images. Export its `registryUrl`, `repositoryUrls`,
 * `repositoryArns` and `baseRepository` as stack outputs (the keys of `RegistryStackOutputs`)
 * and read them in each environment through a `pulumi.StackReference`.
 */
export class ServiceRegistry extends pulumi.ComponentResource {
  /** Repositories by repository name (`berth/auth-service`, `berth/base`). */
  readonly repositories: Record<string, aws.ecr.Repository>;
  /** Name of the base image's repository, e.g. `berth/base`. */
  readonly baseRepository: string;
  /** Registry host, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`. */
  readonly registryUrl: pulumi.Output<string>;
  /** Repository URL by repository name. */
  readonly repositoryUrls: pulumi.Output<Record<string, string>>;
  /** Repository ARN by repository name. */
  readonly repositoryArns: pulumi.Output<Record<string, string>>;
  /** Everything the environment stacks read, in the shape of RegistryStackOutputs. */
  readonly stackOutputs: pulumi.Output<RegistryStackOutputs>;

  constructor(name: string, args: ServiceRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:registry:ServiceRegistry', name, {}, opts);
    const namespace = args.namespace ?? DEFAULT_NAMESPACE;
    const baseImage = args.baseImage ?? DEFAULT_BASE_IMAGE;
    const pullAccountIds = args.pullAccountIds ?? [];
    const protectedTags = args.protectedTags ?? [...DEFAULT_PROTECTED_TAGS];
    const keepTagPrefix = args.keepTagPrefix ?? DEFAULT_KEEP_TAG_PREFIX;
    const untaggedExpiryDays = args.untaggedExpiryDays ?? DEFAULT_UNTAGGED_EXPIRY_DAYS;
    const problems = registrySettingsProblems({ services: args.services, baseImage, pullAccountIds, protectedTags, keepTagPrefix, untaggedExpiryDays });
    if (problems.length > 0) {
      throw new pulumi.ResourceError(`ServiceRegistry ${name}: invalid arguments:\n${problems.join('\n')}`, this);
    }
    const encryption = args.encryption ?? { type: 'KMS' as const };
    const lifecyclePolicy = renderLifecyclePolicy({ protectedTags, keepTagPrefix, untaggedExpiryDays });
    const pullPolicy = pullAccountIds.length > 0 ? renderPullPolicy(pullAccountIds) : undefined;

    this.baseRepository = repositoryName(baseImage, namespace);
    // Sorted: the same services always declare the same resources in the same order.
    const entries = [...new Set([baseImage, ...args.services])].sort().map((short) => ({ short, repo: repositoryName(short, namespace) }));
    this.repositories = {};
    for (const { short, repo } of entries) {
      const resourceName = `${name}-${short}`;
      const [repositoryArgs, repositoryOpts] = applyTransform(
        args.transform?.repository,
        resourceName,
        {
          name: repo,
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfigurations: [{ encryptionType: encryption.type, ...(encryption.kmsKeyArn ? { kmsKey: encryption.kmsKeyArn } : {}) }],
          imageTagMutability: args.imageTagMutability ?? 'MUTABLE',
          forceDelete: args.forceDelete ?? false,
          tags: { ...(args.tags ?? {}), 'berth:repository': short },
        } as aws.ecr.RepositoryArgs,
        { parent: this } as pulumi.CustomResourceOptions,
      );
      const repository = new aws.ecr.Repository(resourceName, repositoryArgs, repositoryOpts);
      this.repositories[repo] = repository;

      const lifecycleName = `${resourceName}-lifecycle`;
      new aws.ecr.LifecyclePolicy(
        lifecycleName,
        ...applyTransform(args.transform?.lifecyclePolicy, lifecycleName, { repository: repository.name, policy: lifecyclePolicy } as aws.ecr.LifecyclePolicyArgs, { parent: repository } as pulumi.CustomResourceOptions),
      );
      if (pullPolicy) {
        const policyName = `${resourceName}-pull`;
        new aws.ecr.RepositoryPolicy(
          policyName,
          ...applyTransform(args.transform?.repositoryPolicy, policyName, { repository: repository.name, policy: pullPolicy } as aws.ecr.RepositoryPolicyArgs, { parent: repository } as pulumi.CustomResourceOptions),
        );
      }
    }

    const names = entries.map((entry) => entry.repo);
    this.repositoryUrls = pulumi.all(names.map((repo) => this.repositories[repo].repositoryUrl)).apply((urls) => Object.fromEntries(names.map((repo, index) => [repo, urls[index]])));
    this.repositoryArns = pulumi.all(names.map((repo) => this.repositories[repo].arn)).apply((arns) => Object.fromEntries(names.map((repo, index) => [repo, arns[index]])));
    this.registryUrl = this.repositories[this.baseRepository].repositoryUrl.apply((url) => url.split('/')[0]);
    const baseRepository = this.baseRepository;
    this.stackOutputs = pulumi
      .all([this.registryUrl, this.repositoryUrls, this.repositoryArns])
      .apply(([registryUrl, repositoryUrls, repositoryArns]): RegistryStackOutputs => ({ registryUrl, repositoryUrls, repositoryArns, baseRepository }));
    this.registerOutputs({ registryUrl: this.registryUrl, repositoryUrls: this.repositoryUrls, repositoryArns: this.repositoryArns });
  }
}
