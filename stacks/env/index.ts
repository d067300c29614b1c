/**
 * Entry point of the Berth Pulumi program (`pulumi up --stack <env>`).
 * Validates the stack's whole configuration before declaring anything.
 */
import * as pulumi from '@pulumi/pulumi';
import { ConfigError, parseRuntimeConfig, validateStackConfig } from './config';
import { declareStack } from './stack';

function loadConfig() {
  try {
    return validateStackConfig(pulumi.getStack(), parseRuntimeConfig(pulumi.runtime.allConfig()));
  } catch (error) {
    if (error instanceof ConfigError) {
      // RunError prints the message alone, without a stack trace.
      throw new pulumi.RunError(`invalid configuration:\n${error.message}`);
    }
    throw error;
  }
}

const config = loadConfig();
const berth = new pulumi.Config('berth');
const outputs = declareStack(config, {
  sshPrivateKey: berth.requireSecret('sshPrivateKey'),
  secrets: berth.getSecretObject<Record<string, string>>('secrets') ?? pulumi.secret<Record<string, string>>({}),
});

export const env = outputs.env;
export const registryUrl = outputs.registryUrl;
/** Instance ids by host group (engine hosts). */
export const hosts = outputs.hosts;
/** The ECS cluster name by host group (engine ecs). */
export const clusters = outputs.clusters;
/** The pinned image each service runs. */
export const images = outputs.images;
/** The edge load balancer's DNS name (point your public or corporate DNS at it), when a service has a route. */
export const loadBalancer = outputs.loadBalancer;
/** The private name each service that publishes a port is called by, e.g. http://auth-service.prod.internal. */
export const serviceNames = outputs.serviceNames;
