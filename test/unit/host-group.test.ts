import * as pulumi from '@pulumi/pulumi';
import { DockerHostGroup, DockerHostGroupArgs, registryHostOfRepositoryArn } from '../../components/host/dockerHostGroup';
import { renderHostSetup } from '../../components/host/hostSetup';
import { renderUserData } from '../../components/host/userData';
import { readAgentScript } from '../../components/service/agentScript';
import { evaluate, valueOf } from '../support/pulumi';

const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthTestKeyBerthTestKeyBerthTestKey00 berth-test';

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
    ssh: { privateKey: pulumi.secret('-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----'), publicKey: PUBLIC_KEY },
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
  });

  it('ignores nothing of an instance, so a host replaced for any reason boots with the current AMI and user data', async () => {
    const { ofType, runtime } = await evaluate(() => new DockerHostGroup('app', groupArgs()));
    for (const instance of ofType('aws:ec2/instance:Instance')) {
      expect(runtime.optionsOf('aws:ec2/instance:Instance', instance.name).ignoreChanges).toEqual([]);
      // User data runs at first boot only: a new bootstrap is a new host, not a stop and start.
      expect(instance.inputs.userDataReplaceOnChange).toBe(true);
      expect(instance.inputs.userData).toBe(renderUserData({ project: 'berth', env: 'prod' }));
    }
  });

  it('replaces hosts one at a time: each host waits for the one before it to be set up again', async () => {
    const { runtime } = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 3 })));
    // (Recorded dependencies include those of inputs: the security group, the profile, the key pair.)
    const readySteps = (host: string) => runtime.optionsOf('aws:ec2/instance:Instance', host).dependsOn.filter((name) => name.endsWith('-ready'));
    expect(readySteps('app-1')).toEqual([]);
    expect(readySteps('app-2')).toEqual(['app-1-ready']);
    expect(readySteps('app-3')).toEqual(['app-2-ready']);
  });

  it('detaches the old data volume before attaching it to a replacement host (EC2 allows one attachment)', async () => {
    const { runtime, ofType } = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1 })));
    expect(runtime.optionsOf('aws:ec2/volumeAttachment:VolumeAttachment', 'app-1-data').deleteBeforeReplace).toBe(true);
    expect(ofType('aws:ec2/volumeAttachment:VolumeAttachment')[0].inputs.stopInstanceBeforeDetaching).toBe(true);
  });

  it('authorises the public half of the deploy key on every host through an EC2 key pair', async () => {
    const { ofType } = await evaluate(() => new DockerHostGroup('app', groupArgs()));
    const [keyPair] = ofType('aws:ec2/keyPair:KeyPair');
    expect(keyPair.name).toBe('app-ssh');
    expect(keyPair.inputs.publicKey).toBe(PUBLIC_KEY);
    expect(keyPair.inputs.keyNamePrefix).toBe('berth-prod-app-');
    expect(keyPair.inputs.keyName).toBeUndefined();
    for (const instance of ofType('aws:ec2/instance:Instance')) {
      expect(String(instance.inputs.keyName)).toMatch(/^berth-prod-app-[0-9a-f]{8}$/);
    }
  });

  it('names security group, role and instance profile by prefix, so a replacement never collides with the old name', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1 })));
    const prefixed = [
      one('aws:ec2/securityGroup:SecurityGroup', 'app-hosts'),
      one('aws:iam/role:Role', 'app-host'),
      one('aws:iam/instanceProfile:InstanceProfile', 'app-host'),
    ];
    expect(prefixed.map((r) => [r.inputs.name, r.inputs.namePrefix])).toEqual([
      [undefined, 'berth-prod-app-hosts-'],
      [undefined, 'berth-prod-app-host-'],
      [undefined, 'berth-prod-app-host-'],
    ]);
    // The generated names are what the instance and the profile are wired with.
    const instance = one('aws:ec2/instance:Instance', 'app-1');
    expect(String(instance.inputs.iamInstanceProfile)).toMatch(/^berth-prod-app-host-[0-9a-f]{8}$/);
    expect(String(prefixed[2].inputs.role)).toMatch(/^berth-prod-app-host-[0-9a-f]{8}$/);
  });

  it('refuses a group without SSH: its hosts could never be set up', async () => {
    await expect(evaluate(() => new DockerHostGroup('app', groupArgs({ ssh: undefined as never })))).rejects.toThrow('app: ssh is required');
  });

  it('gives every host an encrypted data volume in its subnet zone, attached by id', async () => {
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
  });

  it('retains data volumes only when asked, so deleting a host keeps its data', async () => {
    const retained = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1, retainDataVolume: true })));
    expect(retained.runtime.optionsOf('aws:ebs/volume:Volume', 'app-1-data').retainOnDelete).toBe(true);
    expect(retained.runtime.optionsOf('aws:ec2/instance:Instance', 'app-1').retainOnDelete).toBe(false);
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
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
        {
          Sid: 'PullProjectImages',
          Effect: 'Allow',
          Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
          Resource: ['arn:aws:ecr:eu-west-1:123456789012:repository/berth/api-service', 'arn:aws:ecr:eu-west-1:123456789012:repository/berth/auth-service'],
        },
        {
          Sid: 'WriteEnvironmentLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          Resource: ['arn:aws:logs:eu-west-1:123456789012:log-group:/berth/prod/*', 'arn:aws:logs:eu-west-1:123456789012:log-group:/berth/prod/*:log-stream:*'],
        },
        {
          Sid: 'PublishHostMetrics',
          Effect: 'Allow',
          Action: ['cloudwatch:PutMetricData'],
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': 'Berth' } },
        },
      ],
    });
    // Berth does not use SSM on hosts: AmazonSSMManagedInstanceCore would let every host read every parameter.
    expect(ofType('aws:iam/rolePolicyAttachment:RolePolicyAttachment')).toEqual([]);
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
    // A stopped or just-launched instance has no status-check data: no page for it.
    expect(alarms[2].inputs.treatMissingData).toBe('notBreaching');
  });

  it('sets each host up over SSH with everything on stdin, rerun in place on any change of files or connection', async () => {
    const { ofType, one, runtime, result } = await evaluate(() => new DockerHostGroup('app', groupArgs({ count: 1, agentScript: undefined })));
    expect(ofType('command:remote:CopyToRemote')).toEqual([]);
    const ready = one('command:remote:Command', 'app-1-ready');
    expect(ready.inputs.create).toBe('sudo bash -s -- --timeout 900');
    expect(ready.inputs.update).toBe('sudo bash -s -- --timeout 900');
    expect(ready.inputs.delete).toBeUndefined();
    expect(ready.inputs.triggers).toBeUndefined();
    expect(ready.inputs.addPreviousOutputInEnv).toBe(false);
    // The setup mounts the data volume: it runs once the volume is attached. (The volume and its
    // attachment are both named app-1-data: one for the volume id in stdin, one for the attachment.)
    expect(runtime.optionsOf('command:remote:Command', 'app-1-ready').dependsOn.filter((name) => name === 'app-1-data')).toHaveLength(2);
    // Deploys pull after it: the role's pull permission (a RolePolicy, named like the role and profile) is in place first.
    expect(runtime.optionsOf('command:remote:Command', 'app-1-ready').dependsOn).toContain('app-host');
    const volumeId = String(one('aws:ec2/volumeAttachment:VolumeAttachment', 'app-1-data').inputs.volumeId);
    // The default agent is the one Berth ships; the registry hosts come from the repository ARNs.
    expect(ready.inputs.stdin).toBe(
      renderHostSetup({
        project: 'berth',
        env: 'prod',
        region: 'eu-west-1',
        logging: { driver: 'awslogs', logGroup: '/berth/prod/docker' },
        pruneSchedule: '*-*-* 03:30:00',
        dataVolume: { volumeId, deviceName: '/dev/sdf' },
        serviceDirectories: ['prod/auth-service'],
        agentScript: readAgentScript(),
        registryHosts: ['123456789012.dkr.ecr.eu-west-1.amazonaws.com', '123456789012.dkr.ecr.eu-west-1.amazonaws.com'],
      }),
    );
    expect(ready.inputs.connection).toBe('[secret]');
    const connection = await valueOf(result.hosts[0].connection);
    expect(pulumi.Output.isInstance(connection)).toBe(false);
    expect(connection).toMatchObject({ user: 'ec2-user', dialErrorLimit: 60, perDialTimeout: 10 });
  });

  it('pins the bastion host key when one is given', async () => {
    const hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastionHostKeyBastionHostKeyBastion0 bastion';
    const { result } = await evaluate(() =>
      new DockerHostGroup('app', groupArgs({ count: 1, ssh: { ...groupArgs().ssh, bastion: { host: 'bastion.example.com', hostKey } } })),
    );
    const connection = (await valueOf(result.hosts[0].connection)) as unknown as { proxy: Record<string, unknown> };
    expect(connection.proxy).toMatchObject({ host: 'bastion.example.com', user: 'ec2-user', hostKey });
  });

  it('names the registry host of an ECR repository ARN as Docker does, in both partitions', () => {
    expect(registryHostOfRepositoryArn('arn:aws:ecr:eu-west-1:123456789012:repository/berth/auth-service')).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    expect(registryHostOfRepositoryArn('arn:aws-cn:ecr:cn-north-1:123456789012:repository/berth/x')).toBe('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn');
    expect(() => registryHostOfRepositoryArn('arn:aws:s3:::bucket')).toThrow('is not an ECR repository ARN');
  });
});
