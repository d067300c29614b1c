/**
 * Synth shows the resource options that decide a resource's lifecycle, as the
 * engine gets them: from the register request, so a provider SDK's own
 * defaults (the command provider's replaceOnChanges) are there too. A small
 * program declared here, whose options are known exactly, plus the facts of
 * the real stacks that hold whatever their components declare.
 */
import * as aws from '@pulumi/aws';
import * as command from '@pulumi/command';
import * as pulumi from '@pulumi/pulumi';
import { ENVIRONMENTS } from '../../stacks/env/config';
import type { RecordedResource } from '../../tools/offline/types';
import { synthStack } from '../../tools/synth/engine';
import { renderMarkdown } from '../../tools/synth/markdown';
import { evaluate } from '../support/pulumi';

const OPTION_KEYS = ['dependsOn', 'deleteBeforeReplace', 'replaceOnChanges', 'ignoreChanges', 'retainOnDelete', 'protect', 'additionalSecretOutputs'];

function declareProgram() {
  const group = new pulumi.ComponentResource('test:hosts:Group', 'group', {}, {});
  const hosts = new aws.ec2.SecurityGroup('hosts', { vpcId: 'vpc-0123', name: 'test-hosts' }, { parent: group, protect: true });
  const volume = new aws.ebs.Volume('data', { availabilityZone: 'eu-west-1a', size: 10 }, { parent: group, retainOnDelete: true });
  const host = new aws.ec2.Instance(
    'host',
    { ami: 'ami-0123', instanceType: 't3.small', vpcSecurityGroupIds: [hosts.id] },
    // Given out of order: synth sorts them.
    { parent: group, ignoreChanges: ['userDataBase64', 'ami'], dependsOn: [volume] },
  );
  const attachment = new aws.ec2.VolumeAttachment('data', { deviceName: '/dev/sdf', instanceId: host.id, volumeId: volume.id }, { parent: group, deleteBeforeReplace: true });
  const connection = { host: host.privateIp, user: 'ec2-user', privateKey: pulumi.secret('key') };
  const agent = new command.remote.CopyToRemote('agent', { connection, source: new pulumi.asset.StringAsset('agent'), remotePath: '/tmp/agent' });
  new command.remote.Command(
    'deploy',
    { connection, create: 'deploy', delete: 'remove', triggers: ['spec'] },
    // The SDK merges its own replaceOnChanges (triggers[*]) and additionalSecretOutputs (connection) into these.
    { dependsOn: [group, attachment, agent], replaceOnChanges: ['stdin'], additionalSecretOutputs: ['stdout'] },
  );
  new aws.iam.Role('plain', { assumeRolePolicy: '{}' });
}

describe('synth options of a program whose options are known', () => {
  let resources: RecordedResource[];
  const one = (type: string, name: string) => resources.find((resource) => resource.type === type && resource.name === name)!;

  beforeAll(async () => {
    ({ resources } = await evaluate(declareProgram));
  });

  it('records the command provider defaults merged with the program own options, sorted', () => {
    expect(one('command:remote:Command', 'deploy').options).toEqual({
      // The group stands for its resources; the instance comes in through the connection's host.
      dependsOn: ['agent', 'aws:ebs/volume:Volume::data', 'aws:ec2/volumeAttachment:VolumeAttachment::data', 'host', 'hosts'],
      replaceOnChanges: ['stdin', 'triggers[*]'],
      additionalSecretOutputs: ['connection', 'stdout'],
    });
    expect(one('command:remote:CopyToRemote', 'agent').options).toEqual({ dependsOn: ['host'], replaceOnChanges: ['triggers[*]'], additionalSecretOutputs: ['connection'] });
  });

  it('names each option as Pulumi does, in a fixed order, only when set', () => {
    expect(one('aws:ec2/instance:Instance', 'host').options).toEqual({ dependsOn: ['aws:ebs/volume:Volume::data', 'hosts'], ignoreChanges: ['ami', 'userDataBase64'] });
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'hosts').options).toEqual({ protect: true });
    expect(one('aws:ebs/volume:Volume', 'data').options).toEqual({ retainOnDelete: true });
    const attachment = one('aws:ec2/volumeAttachment:VolumeAttachment', 'data');
    expect(attachment.options).toEqual({ dependsOn: ['aws:ebs/volume:Volume::data', 'host'], deleteBeforeReplace: true });
    expect(Object.keys(one('command:remote:Command', 'deploy').options!)).toEqual(['dependsOn', 'replaceOnChanges', 'additionalSecretOutputs']);
    expect(Object.keys(attachment)).toEqual(['type', 'name', 'parent', 'options', 'propertyDependencies', 'inputs']);
  });

  it('leaves out options entirely for a resource that sets none, and for a component', () => {
    expect(Object.keys(one('aws:iam/role:Role', 'plain'))).toEqual(['type', 'name', 'parent', 'inputs']);
    expect(one('test:hosts:Group', 'group')).not.toHaveProperty('options');
  });

  it('names, per input, the resources it takes values from', () => {
    expect(one('aws:ec2/volumeAttachment:VolumeAttachment', 'data').propertyDependencies).toEqual({ instanceId: ['host'], volumeId: ['aws:ebs/volume:Volume::data'] });
    expect(one('command:remote:Command', 'deploy').propertyDependencies).toEqual({ connection: ['host'] });
    expect(one('aws:ec2/instance:Instance', 'host').propertyDependencies).toEqual({ vpcSecurityGroupIds: ['hosts'] });
  });

  it('lists the lifecycle options in the markdown summary', () => {
    const markdown = renderMarkdown({ stack: 'test', resources });
    expect(markdown).toContain('## Lifecycle options');
    expect(markdown).toContain('| deploy | `command:remote:Command` | stdin, triggers[*] |  |  |  |  |');
    expect(markdown).toContain('| data | `aws:ec2/volumeAttachment:VolumeAttachment` |  |  | yes |  |  |');
    expect(markdown).toContain('| host | `aws:ec2/instance:Instance` |  | ami, userDataBase64 |  |  |  |');
    expect(markdown).toContain('| hosts | `aws:ec2/securityGroup:SecurityGroup` |  |  |  |  | yes |');
  });
});

/** Every option present is set (non-empty, or true), known, sorted, in the fixed order; an empty `options` is never written. */
function expectWellFormed(resource: RecordedResource): void {
  const keys = Object.keys(resource);
  expect(keys).toEqual(['type', 'name', 'parent', ...(resource.options ? ['options'] : []), ...(resource.propertyDependencies ? ['propertyDependencies'] : []), 'inputs']);
  if (resource.options) {
    const optionKeys = Object.keys(resource.options);
    expect(optionKeys.length).toBeGreaterThan(0);
    expect(optionKeys).toEqual(OPTION_KEYS.filter((key) => optionKeys.includes(key)));
    for (const [key, value] of Object.entries(resource.options)) {
      if (Array.isArray(value)) {
        expect(value.length).toBeGreaterThan(0);
        expect(value).toEqual([...value].sort());
      } else {
        expect({ [key]: value }).toEqual({ [key]: true });
      }
    }
  }
}

describe('synth options of the real stacks', () => {
  it.each(ENVIRONMENTS)('shows the options of the %s stack', async (stack) => {
    const { resources } = await synthStack(stack);
    resources.forEach(expectWellFormed);
    const byName = new Map(resources.map((resource) => [`${resource.type}::${resource.name}`, resource]));
    // Every remote step carries the command provider's own replaceOnChanges and secret connection.
    const steps = resources.filter((resource) => resource.type === 'command:remote:Command' || resource.type === 'command:remote:CopyToRemote');
    expect(steps.length).toBeGreaterThan(0);
    for (const step of steps) {
      expect(step.options?.replaceOnChanges).toContain('triggers[*]');
      expect(step.options?.additionalSecretOutputs).toContain('connection');
    }
    // A volume attachment depends on its instance and its volume, through the inputs that name them.
    const attachments = resources.filter((resource) => resource.type === 'aws:ec2/volumeAttachment:VolumeAttachment');
    expect(attachments.length).toBeGreaterThan(0);
    for (const attachment of attachments) {
      const [instance] = attachment.propertyDependencies!.instanceId;
      expect(byName.get(`aws:ec2/instance:Instance::${instance}`)).toBeDefined();
      expect(attachment.propertyDependencies!.volumeId).toEqual([`aws:ebs/volume:Volume::${attachment.name}`]);
      expect(attachment.options?.dependsOn).toEqual(expect.arrayContaining([instance, `aws:ebs/volume:Volume::${attachment.name}`]));
    }
    // A read resource carries no lifecycle options.
    expect(resources.find((resource) => resource.type === 'pulumi:pulumi:StackReference')).not.toHaveProperty('options');
  });

  it('shows the options of the registry stack', async () => {
    const { resources } = await synthStack('registry');
    resources.forEach(expectWellFormed);
    const policies = resources.filter((resource) => resource.type === 'aws:ecr/lifecyclePolicy:LifecyclePolicy');
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) {
      expect(policy.propertyDependencies?.repository).toHaveLength(1);
      expect(policy.options?.dependsOn).toEqual(policy.propertyDependencies?.repository);
    }
  });
});
