/**
 * Entry point of the registry project (`cd stacks/registry && pulumi up --stack shared`).
 * Its outputs are the RegistryStackOutputs contract that every environment
 * stack reads through `pulumi.StackReference(berth:registryStack)`.
 */
import * as pulumi from '@pulumi/pulumi';
import { parseRuntimeConfig } from '../common/runtimeConfig';
import { declareRegistry, parseRegistrySettings } from './program';

function loadSettings() {
  try {
    return parseRegistrySettings(pulumi.getStack(), parseRuntimeConfig(pulumi.runtime.allConfig()));
  } catch (error) {
    throw new pulumi.RunError(`invalid configuration:\n${(error as Error).message}`);
  }
}

const outputs = declareRegistry(loadSettings());

export const registryUrl = outputs.registryUrl;
export const repositoryUrls = outputs.repositoryUrls;
export const repositoryArns = outputs.repositoryArns;
export const baseRepository = outputs.baseRepository;
export const images = outputs.images;
