/**
 * The synth engine: evaluates a stack's program under the offline runtime and
 * returns every resource it declares, with secrets masked and resources in a
 * stable order (see SynthResult and RecordedResource in ../offline/types). The
 * command is ./cli; the reviewer's markdown is ./markdown.
 */
import * as pulumi from '@pulumi/pulumi';
import { DEFAULT_PROJECT } from '../../components/common/naming';
import { ecrRegistryOutputs, RegistryStackOutputs } from '../../components/registry/contract';
import { toRuntimeConfig } from '../../stacks/common/runtimeConfig';
import { readStackFile, StackConfig, validateStackConfig, ValidateOptions } from '../../stacks/env/config';
import { declareStack } from '../../stacks/env/stack';
import { declareRegistry, parseRegistrySettings, readRegistryStackFile, REGISTRY_PROJECT, REGISTRY_STACK } from '../../stacks/registry/program';
import { evaluateProgram } from '../offline/evaluate';
import { OFFLINE_ACCOUNT_ID, startOfflineRuntime } from '../offline/runtime';
import type { SynthResult } from '../offline/types';

/** `synth registry` evaluates the registry project's stack instead of an environment. */
export const REGISTRY_SYNTH_NAME = 'registry';

export interface SynthOptions extends ValidateOptions {
  /** Folder holding `Pulumi.<stack>.yaml`. @default the project root */
  root?: string;
}

/**
 * What the registry stack exports (the RegistryStackOutputs contract), as the
 * offline runtime answers a StackReference to it: the base repository and one
 * repository per service of the config.
 */
export function offlineRegistryOutputs(config: StackConfig): RegistryStackOutputs & Record<string, unknown> {
  return { ...ecrRegistryOutputs({ accountId: OFFLINE_ACCOUNT_ID, region: config.region, services: config.services.map((service) => service.name) }) };
}

/**
 * The registry project's one stack (`stacks/registry`, stack `shared`), under
 * mocks: what `pulumi up` there would declare.
 */
export async function synthRegistry(): Promise<SynthResult> {
  const rawConfig = readRegistryStackFile(REGISTRY_STACK).config;
  const settings = parseRegistrySettings(REGISTRY_STACK, rawConfig);
  pulumi.runtime.setAllConfig(toRuntimeConfig(rawConfig), []);
  const runtime = await startOfflineRuntime({ project: REGISTRY_PROJECT, stack: REGISTRY_STACK, region: String(rawConfig['aws:region'] ?? 'eu-west-1') });
  await evaluateProgram(() => declareRegistry(settings));
  return { stack: `${REGISTRY_PROJECT}/${REGISTRY_STACK}`, resources: runtime.sortedResources() };
}

/** Evaluates one stack under mocks and returns every resource it declares. */
export async function synthStack(stack: string, options: SynthOptions = {}): Promise<SynthResult> {
  if (stack === REGISTRY_SYNTH_NAME) {
    return synthRegistry();
  }
  const file = readStackFile(stack, options.root);
  const config = validateStackConfig(stack, file.config, options);
  return synthConfig(config, file.config);
}

/**
 * The value a secret has offline. It must never appear in synth output: every
 * place a secret reaches shows the mask instead, which the tests check.
 */
export function offlineSecretValue(key: string): string {
  return `berth-offline-secret-value:${key}`;
}

/** Evaluates an already validated config; `rawConfig` is handed to providers as stack config. */
export async function synthConfig(config: StackConfig, rawConfig: Record<string, unknown>): Promise<SynthResult> {
  pulumi.runtime.setAllConfig(toRuntimeConfig(rawConfig), []);
  const runtime = await startOfflineRuntime({
    project: DEFAULT_PROJECT,
    stack: config.stack,
    region: config.region,
    stackOutputs: { [config.registryStack]: offlineRegistryOutputs(config) },
  });
  await evaluateProgram(() =>
    // Secrets are never available offline; the program sees placeholders that stay secret.
    declareStack(config, {
      sshPrivateKey: pulumi.secret(offlineSecretValue('sshPrivateKey')),
      secrets: pulumi.secret(Object.fromEntries(config.secretKeys.map((key) => [key, offlineSecretValue(`secrets.${key}`)]))),
    }),
  );
  const warnings = configWarnings(config);
  return { stack: config.stack, ...(warnings.length > 0 ? { warnings } : {}), resources: runtime.sortedResources() };
}

/** The validated config's warnings (each naming its file and key), sorted. */
export function configWarnings(config: Pick<StackConfig, 'warnings'>): string[] {
  return [...(config.warnings ?? [])].sort();
}
