/**
 * The registry program: validates its config and declares the ServiceRegistry
 * (and, when configured, the layered images). `index.ts` runs it under the
 * Pulumi CLI; the unit tests run it under mocks.
 */
import * as path from 'path';
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { RegistryStackOutputs, repositoryName } from '../../components/registry/contract';
import { LayeredImages } from '../../components/registry/layeredImages';
import { ServiceRegistry } from '../../components/registry/serviceRegistry';
import { ConfigError, configProblem, zodIssueMessages } from '../common/configErrors';
import { PROJECT_ROOT } from '../common/paths';
import { namespaceConfig } from '../common/runtimeConfig';
import { readStackConfigFile, StackFile, stackFileName } from '../common/stackFile';
import { catalogue } from '../env/catalogue';

export const REGISTRY_PROJECT = 'berth-registry';
export const REGISTRY_STACK = 'shared';
export const REGISTRY_ROOT = __dirname;

/** How messages name a stack file of the registry project: `stacks/registry/Pulumi.<stack>.yaml`. */
export function registryStackFileLabel(stack: string): string {
  return `stacks/registry/${stackFileName(stack)}`;
}

/** Reads the registry project's stack file with the one stack-file reader. */
export function readRegistryStackFile(stack: string = REGISTRY_STACK): StackFile {
  return readStackConfigFile(REGISTRY_ROOT, stackFileName(stack), registryStackFileLabel(stack));
}

const settingsSchema = z
  .object({
    pullAccountIds: z.array(z.string().regex(/^\d{12}$/, 'an AWS account id (12 digits, quoted in YAML)')).default([]),
    untaggedExpiryDays: z.number().int().min(1, 'at least 1 day').default(14),
    protectedTags: z.array(z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'an image tag')).optional(),
    keepTagPrefix: z.string().optional(),
    images: z
      .object({
        tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'an image tag').default('latest'),
        /** Build context of the base image, relative to the repository root. */
        base: z.string().min(1),
        /** Build context of each service image, relative to the repository root. */
        services: z.record(z.string().min(1)),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RegistrySettings = z.infer<typeof settingsSchema> & { services: string[] };

/** Validates the `berth-registry:` config map; throws a ConfigError with every problem as `stacks/registry/Pulumi.<stack>.yaml: <key>: …`. */
export function parseRegistrySettings(stack: string, raw: Record<string, unknown>, services: string[] = Object.keys(catalogue).sort()): RegistrySettings {
  const parsed = settingsSchema.safeParse(namespaceConfig(raw, REGISTRY_PROJECT));
  const file = registryStackFileLabel(stack);
  const problems = parsed.success ? [] : zodIssueMessages(parsed.error, file, REGISTRY_PROJECT, Object.keys(settingsSchema.shape));
  if (parsed.success) {
    for (const service of Object.keys(parsed.data.images?.services ?? {})) {
      if (!services.includes(service)) {
        problems.push(configProblem(file, `${REGISTRY_PROJECT}:images.services.${service}`, `no such service in stacks/env/catalogue.ts; known: ${services.join(', ')}`));
      }
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(problems);
  }
  return { ...parsed.data, services };
}

export interface RegistryProgramOutputs {
  registryUrl: pulumi.Output<string>;
  repositoryUrls: pulumi.Output<Record<string, string>>;
  repositoryArns: pulumi.Output<Record<string, string>>;
  baseRepository: string;
  /** `repo@sha256:…` by image name (`base` and each service), when images are built here. */
  images?: pulumi.Output<Record<string, string>>;
}

/** Declares the registry; the returned outputs are exactly RegistryStackOutputs (plus built images). */
export function declareRegistry(settings: RegistrySettings, projectRoot: string = PROJECT_ROOT): RegistryProgramOutputs {
  const registry = new ServiceRegistry('registry', {
    services: settings.services,
    pullAccountIds: settings.pullAccountIds,
    untaggedExpiryDays: settings.untaggedExpiryDays,
    protectedTags: settings.protectedTags,
    keepTagPrefix: settings.keepTagPrefix,
  });
  const outputs: RegistryProgramOutputs = {
    registryUrl: registry.registryUrl,
    repositoryUrls: registry.repositoryUrls,
    repositoryArns: registry.repositoryArns,
    baseRepository: registry.baseRepository,
  };
  if (settings.images) {
    const token = aws.ecr.getAuthorizationTokenOutput({}, { parent: registry });
    const urlOf = (repo: string) => registry.repositories[repo].repositoryUrl;
    const build = settings.images;
    const images = new LayeredImages('images', {
      base: { context: path.resolve(projectRoot, build.base), repositoryUrl: urlOf(registry.baseRepository) },
      services: Object.fromEntries(
        Object.entries(build.services).map(([service, context]) => [service, { context: path.resolve(projectRoot, context), repositoryUrl: urlOf(repositoryName(service)) }]),
      ),
      tag: build.tag,
      registry: { server: token.proxyEndpoint, username: token.userName, password: pulumi.secret(token.password) },
    });
    outputs.images = pulumi.all([images.baseImage, images.serviceImages]).apply(([base, services]): Record<string, string> => ({ base, ...services }));
  }
  return outputs;
}

/** Compile-time check that the program's outputs carry every key of the contract. */
export type _ContractCheck = { [K in keyof RegistryStackOutputs]: RegistryProgramOutputs[K] };
