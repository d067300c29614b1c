/**
 * One benchmark measurement in a fresh process (so peak memory is its own):
 * evaluates a generated stack under the offline runtime, either through the
 * Berth components or as the same raw resources declared directly.
 *
 *   tsx test/bench/evaluate.ts <components|raw> <services> <hosts>
 *
 * The raw baseline declares every custom resource the components declared,
 * with the same inputs and the same provider classes, one by one at top level.
 *
 * Prints one JSON line: { mode, resources, ms, peakRssMiB, heapUsedMiB }.
 */
import * as aws from '@pulumi/aws';
import * as command from '@pulumi/command';
import * as pulumi from '@pulumi/pulumi';
import { performance } from 'perf_hooks';
import { DEFAULT_PROJECT } from '../../components/common/naming';
import { generatedStack } from './generate';
import { evaluateProgram } from '../../tools/offline/evaluate';
import { startOfflineRuntime } from '../../tools/offline/runtime';
import { offlineRegistryOutputs, synthConfig } from '../../tools/synth/engine';

async function main(): Promise<void> {
  const [mode, servicesArg, hostsArg] = process.argv.slice(2);
  const { config, raw } = generatedStack(Number(servicesArg), Number(hostsArg));
  // Warm the module cache and the runtime once, so both modes time evaluation alone.
  await synthConfig(config, raw);
  const components = await synthConfig(config, raw);
  // Both modes are reported per raw (custom) resource: the work a deployment does.
  const custom = components.resources.filter((resource) => !isComponent(resource.type));
  const resources = custom.length;
  let elapsed: number;
  if (mode === 'components') {
    const start = performance.now();
    await synthConfig(config, raw);
    elapsed = performance.now() - start;
  } else if (mode === 'raw') {
    // The same resources, declared one by one with no component around them.
    const start = performance.now();
    pulumi.runtime.setAllConfig({ 'aws:region': config.region }, []);
    await startOfflineRuntime({ project: DEFAULT_PROJECT, stack: config.stack, region: config.region, stackOutputs: { [config.registryStack]: offlineRegistryOutputs(config) } });
    await evaluateProgram(() => {
      for (const resource of custom) {
        declareRaw(resource.type, `${resource.name}:${resource.type}`, resource.inputs);
      }
    });
    elapsed = performance.now() - start;
  } else {
    throw new Error(`unknown mode ${mode}: expected components or raw`);
  }
  const usage = process.resourceUsage();
  process.stdout.write(
    JSON.stringify({ mode, resources, ms: elapsed, peakRssMiB: usage.maxRSS / 1024, heapUsedMiB: process.memoryUsage().heapUsed / 1024 / 1024 }) + '\n',
  );
}

type ResourceClass = new (name: string, args: any, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

/**
 * The provider classes the stack uses, so the baseline pays what a hand-written
 * program pays per resource (each typed class sets up all its output properties).
 */
const RESOURCE_CLASSES: Record<string, ResourceClass> = {
  'aws:cloudwatch/logGroup:LogGroup': aws.cloudwatch.LogGroup,
  'aws:cloudwatch/metricAlarm:MetricAlarm': aws.cloudwatch.MetricAlarm,
  'aws:ebs/volume:Volume': aws.ebs.Volume,
  'aws:ec2/instance:Instance': aws.ec2.Instance,
  'aws:ec2/securityGroup:SecurityGroup': aws.ec2.SecurityGroup,
  'aws:ec2/volumeAttachment:VolumeAttachment': aws.ec2.VolumeAttachment,
  'aws:iam/instanceProfile:InstanceProfile': aws.iam.InstanceProfile,
  'aws:iam/role:Role': aws.iam.Role,
  'aws:iam/rolePolicy:RolePolicy': aws.iam.RolePolicy,
  'aws:iam/rolePolicyAttachment:RolePolicyAttachment': aws.iam.RolePolicyAttachment,
  'aws:sns/topic:Topic': aws.sns.Topic,
  'aws:sns/topicSubscription:TopicSubscription': aws.sns.TopicSubscription,
  'command:remote:Command': command.remote.Command,
  'aws:ec2/keyPair:KeyPair': aws.ec2.KeyPair,
};

/** A resource of a type the table above lacks, declared generically. */
class GenericResource extends pulumi.CustomResource {}

function declareRaw(type: string, name: string, inputs: Record<string, unknown>): void {
  const Class = RESOURCE_CLASSES[type];
  if (Class) {
    new Class(name, inputs);
  } else if (type !== 'pulumi:pulumi:StackReference') {
    new GenericResource(type, name, inputs as pulumi.Inputs);
  }
}

function isComponent(type: string): boolean {
  return type.startsWith('berth:');
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
