import * as pulumi from '@pulumi/pulumi';
import { gunzipSync } from 'zlib';
import { architectureOf, DockerHostGroup, DockerHostGroupArgs, hostRolePolicy } from '../../components/host/dockerHostGroup';
import { evaluate, valueOf } from '../support/pulumi';

const REPOSITORY_ARNS = ['arn:aws:ecr:eu-west-1:123456789012:repository/berth/auth-service', 'arn:aws:ecr:eu-west-1:123456789012:repository/berth/api-service'];

function groupArgs(overrides: Partial<DockerHostGroupArgs> = {}): DockerHostGroupArgs {
  return {
    env: 'prod',
    count: 2,
    instanceType: 't3.small',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    subnetIds: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'],
    dataVolumeGiB: 50,
    retainDataVolume: true,
    adminCidrs: ['10.20.0.0/16'],
    servicePorts: [8081, 8080],
    serviceIngressCidrs: ['10.20.0.0/16'],
    repositoryArns: REPOSITORY_ARNS,
    pruneSchedule: '*-*-* 03:30:00',
    serviceDirectories: ['prod/auth-service'],
    alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:berth-prod-alarms',
    ssh: { privateKey: pulumi.secret('-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----') },
    agentScript: '#!/usr/bin/env bash\necho agent\n',
    ...overrides,
  };
}

describe('DockerHostGroup', () => {
  it('requires IMDSv2, encrypts the root volume and gives no public IP', async () => {
    const { ofType } = await evaluate(() => new DockerHostGroup('app', groupArgs()));
    const instances = ofType('aws:ec2/instance:Instance');
    expect(instances.map((i) => [i.name, i.inputs.subnetId, i.inputs.instanceType])).toEqual([
      ['app-1', 'subnet-0a1b2c3d4e5f60711', 't3.small'],
      ['app-2', 'subnet-0a1b2c3d4e5f60722', 't3.small'],
    ]);
    for (const instance of instances) {
      expect(instance.inputs.metadataOptions).toEqual({ httpEndpoint: 'enabled', httpPutResponseHopLimit: 1, httpTokens: 'required', instanceMetadataTags: 'enabled' });
      expect(instance.inputs.rootBlockDevice).toEqual({ deleteOnTermination: true, encrypted: true, volumeSize: 30, volumeType: 'gp3' });
      expect(instance.inputs.associatePublicIpAddress).toBe(false);
      expect(instance.inputs.ami).toBe('ami-0a1b2c3d4e5f60718');
    }
  });

  it('reads the Amazon Linux 2023 AMI for the instance architecture from SSM', async () => {
    const { runtime } = await evaluate(() => new DockerHostGroup('app', groupArgs({ instanceType: 'm7g.large', count: 1 })));
    expect(runtime.calls.filter((c) => c.token === 'aws:ssm/getParameter:getParameter').map((c) => c.inputs.name)).toEqual([
      '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
    ]);
    expect(architectureOf('t3.small')).toBe('x86_64');
    expect(architectureOf('c6gn.large')).toBe('arm64');
    expect(architectureOf('t4g.nano')).toBe('arm64');
    expect(architectureOf('g5.xlarge')).toBe('x86_64');
  });

  it('ignores AMI and user data changes on running hosts unless asked', async () => {
    // ignoreChanges is an option, not an input; the recorded inputs carry userDataReplaceOnChange.
    const { ofType } = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1, userDataChanges: 'replace' })));
    expect(ofType('aws:ec2/instance:Instance')[0].inputs.userDataReplaceOnChange).toBe(true);
    const kept = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1 })));
    expect(kept.ofType('aws:ec2/instance:Instance')[0].inputs.userDataReplaceOnChange).toBe(false);
  });

  it('gives every host an encrypted data volume in its subnet zone, attached by id, named in user data', async () => {
    const { ofType } = await evaluate(() => new DockerHostGroup('app', groupArgs()));
    const volumes = ofType('aws:ebs/volume:Volume');
    expect(volumes.map((v) => [v.name, v.inputs.encrypted, v.inputs.size, v.inputs.type])).toEqual([
      ['app-1-data', true, 50, 'gp3'],
      ['app-2-data', true, 50, 'gp3'],
    ]);
    const attachments = ofType('aws:ec2/volumeAttachment:VolumeAttachment');
    expect(attachments.map((a) => [a.name, a.inputs.deviceName])).toEqual([
      ['app-1-data', '/dev/sdf'],
      ['app-2-data', '/dev/sdf'],
    ]);
    const instance = ofType('aws:ec2/instance:Instance')[0];
    const userData = gunzipSync(Buffer.from(String(instance.inputs.userDataBase64), 'base64')).toString('utf8');
    expect(userData).toMatch(/^#!\/bin\/bash/);
    expect(userData).toContain(String(attachments[0].inputs.volumeId));
    expect(userData).toContain('prod/auth-service');
    expect(userData).not.toContain('PRIVATE KEY');
    // With SSH the agent arrives through the readiness step, not user data.
    expect(userData).not.toContain('echo agent');
  });

  it('retains data volumes only when asked, so deleting a host keeps its data', async () => {
    const retained = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1, retainDataVolume: true })));
    expect(retained.runtime.optionsOf('aws:ebs/volume:Volume', 'app-1-data').retainOnDelete).toBe(true);
    expect(retained.runtime.optionsOf('aws:ec2/instance:Instance', 'app-1').retainOnDelete).toBe(false);
    expect(retained.runtime.optionsOf('aws:ec2/instance:Instance', 'app-1').ignoreChanges).toEqual(['ami', 'userDataBase64']);
    const dropped = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1, retainDataVolume: false })));
    expect(dropped.runtime.optionsOf('aws:ebs/volume:Volume', 'app-1-data').retainOnDelete).toBe(false);
  });

  it('opens SSH only to admin networks and the bastion, service ports only to named sources', async () => {
    const { one } = await evaluate(() =>
      new DockerHostGroup('app', groupArgs({ bastionSecurityGroupId: 'sg-0bbbbbbbbbbbbbbbb', serviceIngressSecurityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'] })),
    );
    const sg = one('aws:ec2/securityGroup:SecurityGroup', 'app-hosts');
    expect(sg.inputs.ingress).toEqual([
      { cidrBlocks: ['10.20.0.0/16'], description: 'SSH from admin networks', fromPort: 22, protocol: 'tcp', toPort: 22 },
      { description: 'SSH from the bastion', fromPort: 22, protocol: 'tcp', securityGroups: ['sg-0bbbbbbbbbbbbbbbb'], toPort: 22 },
      { cidrBlocks: ['10.20.0.0/16'], description: 'service port 8080', fromPort: 8080, protocol: 'tcp', toPort: 8080 },
      { description: 'service port 8080 from load balancers', fromPort: 8080, protocol: 'tcp', securityGroups: ['sg-0aaaaaaaaaaaaaaaa'], toPort: 8080 },
      { cidrBlocks: ['10.20.0.0/16'], description: 'service port 8081', fromPort: 8081, protocol: 'tcp', toPort: 8081 },
      { description: 'service port 8081 from load balancers', fromPort: 8081, protocol: 'tcp', securityGroups: ['sg-0aaaaaaaaaaaaaaaa'], toPort: 8081 },
    ]);
    const rules = JSON.stringify(sg.inputs.ingress);
    expect(rules).not.toContain('0.0.0.0/0');
  });

  it('refuses SSH from anywhere, IPv4 or IPv6', async () => {
    await expect(evaluate(() => new DockerHostGroup('app', groupArgs({ adminCidrs: ['0.0.0.0/0'] })))).rejects.toThrow(/SSH is never open to 0.0.0.0\/0/);
    await expect(evaluate(() => new DockerHostGroup('app', groupArgs({ adminCidrs: ['10.0.0.0/8', '::/0'] })))).rejects.toThrow(/SSH is never open to ::\/0/);
  });

  it('puts IPv6 networks in the IPv6 field of a rule', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1, adminCidrs: ['2001:db8::/32', '10.20.0.0/16'], servicePorts: [] })));
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'app-hosts').inputs.ingress).toEqual([
      { cidrBlocks: ['10.20.0.0/16'], description: 'SSH from admin networks', fromPort: 22, ipv6CidrBlocks: ['2001:db8::/32'], protocol: 'tcp', toPort: 22 },
    ]);
  });

  it('scopes the instance role to the project repositories, the environment log groups and the Berth metric namespace', async () => {
    const { one, ofType } = await evaluate(() => new DockerHostGroup('app', groupArgs()));
    const policy = JSON.parse(String(one('aws:iam/rolePolicy:RolePolicy', 'app-host').inputs.policy));
    expect(policy).toEqual(
      JSON.parse(
        hostRolePolicy({
          repositoryArns: REPOSITORY_ARNS,
          logGroupsArn: 'arn:aws:logs:eu-west-1:123456789012:log-group:/berth/prod/*',
          metricNamespace: 'Berth',
        }),
      ),
    );
    expect(policy.Statement.find((s: any) => s.Sid === 'PullProjectImages').Resource).toEqual([...REPOSITORY_ARNS].sort());
    expect(policy.Statement.filter((s: any) => s.Resource === '*').map((s: any) => s.Sid)).toEqual(['EcrLogin', 'PublishHostMetrics']);
    expect(ofType('aws:iam/rolePolicyAttachment:RolePolicyAttachment').map((a) => a.inputs.policyArn)).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
  });

  it('raises alarms per host for status checks and disk usage of the Docker root and the data volume', async () => {
    const { ofType } = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1, diskUsagePercent: 85 })));
    const alarms = ofType('aws:cloudwatch/metricAlarm:MetricAlarm');
    expect(alarms.map((a) => [a.name, a.inputs.namespace, a.inputs.metricName, a.inputs.threshold, a.inputs.dimensions])).toEqual([
      ['app-1-disk-data-volume', 'Berth', 'disk_used_percent', 85, { InstanceId: (alarms[0].inputs.dimensions as any).InstanceId, path: '/srv/berth' }],
      ['app-1-disk-docker-root', 'Berth', 'disk_used_percent', 85, { InstanceId: (alarms[1].inputs.dimensions as any).InstanceId, path: '/' }],
      ['app-1-status-check', 'AWS/EC2', 'StatusCheckFailed', 1, { InstanceId: (alarms[2].inputs.dimensions as any).InstanceId }],
    ]);
    for (const alarm of alarms) {
      expect(alarm.inputs.alarmActions).toEqual(['arn:aws:sns:eu-west-1:123456789012:berth-prod-alarms']);
      expect((alarm.inputs.dimensions as any).InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
    }
  });

  it('waits for boot setup and installs the current agent over SSH, with the key kept secret', async () => {
    const { ofType, result } = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1 })));
    const [copy] = ofType('command:remote:CopyToRemote');
    expect(copy.name).toBe('app-1-agent');
    expect(String(copy.inputs.remotePath)).toMatch(/^\/tmp\/berth-agent\.[0-9a-f]{16}$/);
    const [ready] = ofType('command:remote:Command');
    expect(ready.name).toBe('app-1-ready');
    const digest = require('crypto').createHash('sha256').update('#!/usr/bin/env bash\necho agent\n').digest('hex');
    expect(ready.inputs.create).toBe(`sudo bash -s -- --timeout 900 --install-agent ${copy.inputs.remotePath} /usr/local/bin/berth-agent --agent-sha256 ${digest}`);
    expect(String(ready.inputs.stdin)).toContain('berth-host-ready');
    expect(ready.inputs.connection).toBe('[secret]');
    const connection = await valueOf(result.hosts[0].connection!);
    expect(pulumi.Output.isInstance(connection)).toBe(false);
    expect(connection).toMatchObject({ user: 'ec2-user', dialErrorLimit: 60, perDialTimeout: 10 });
  });
});
