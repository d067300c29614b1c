/**
 * The Berth program for one environment: takes a validated StackConfig and
 * composes the library's components. Each component is one composition step
 * here; nothing in this file decides how a resource looks.
 */
import * as pulumi from '@pulumi/pulumi';
import { StackConfig } from './config';

export interface StackSecrets {
  /** The SSH private key the deploy steps use to reach the hosts. */
  sshPrivateKey: pulumi.Output<string>;
  /** Secret values by key, as referenced by services' secretEnvironment. */
  secrets: pulumi.Output<Record<string, string>>;
}

export interface StackOutputs {
  env: string;
  registryUrl: pulumi.Output<string>;
}

export function declareStack(config: StackConfig, secrets: StackSecrets): StackOutputs {
  void secrets;
  const registry = new pulumi.StackReference(config.registryStack);
  return {
    env: config.env,
    registryUrl: registry.requireOutput('registryUrl') as pulumi.Output<string>,
  };
}
