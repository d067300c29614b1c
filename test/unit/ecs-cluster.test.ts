/**
 * EcsCluster under the offline runtime, at non-default arguments: the launch template's
 * hardening, the Auto Scaling group and capacity provider that ECS manages, the instances'
 * security group and role (literal documents), and the EFS file system with its policy,
 * backups and mount targets.
 */
import { EcsCluster, EcsClusterArgs } from '../../components/cluster/ecsCluster';
import { fakeHex } from '../../tools/offline/runtime';
import { evaluate, valueOf } from '../support/pulumi';

const SUBNETS = ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722', 'subnet-0a1b2c3d4e5f60733'];
const LB_GROUPS = ['sg-0aaaaaaaaaaaaaaaa', 'sg-0bbbbbbbbbbbbbbbb'];
const CALLERS = 'sg-0cccccccccccccccc';

function clusterArgs(overrides: Partial<EcsClusterArgs> = {}): EcsClusterArgs {
  return {
    project: 'shop',
    env: 'stage',
    minSize: 2,
    maxSize: 7,
    instanceType: 'm7i.large',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    subnetIds: SUBNETS,
    rootVolumeGiB: 50,
    serviceIngressSecurityGroupIds: LB_GROUPS,
    additionalSecurityGroupIds: [CALLERS],
    taskPidsLimit: 512,
    imageCleanup: { intervalMinutes: 60, minimumAgeMinutes: 180 },
    ...overrides,
  };
}

const groupId = (name: string) => `sg-${fakeHex(`aws:ec2/securityGroup:SecurityGroup/${name}`, 17)}`;
const json = (value: unknown) => JSON.parse(String(value));
const TAGS = { 'berth:env': 'stage', 'berth:host-group': 'web', 'berth:project': 'shop' };
const REGION = { region: 'us-east-2' };

const USER_DATA = [
  '#!/bin/bash',
  '# Berth shop stage: ECS container instance of cluster shop-stage-web',
  'set -euo pipefail',
  'install -d -m 0755 /etc/ecs',
  "cat > /etc/ecs/ecs.config <<'BERTH_ECS_CONFIG'",
  'ECS_CLUSTER=shop-stage-web',
  'ECS_DISABLE_IMAGE_CLEANUP=false',
  'ECS_DISABLE_PRIVILEGED=true',
  'ECS_DYNAMIC_HOST_PORT_RANGE=32768-60999',
  'ECS_ENABLE_TASK_IAM_ROLE=true',
  'ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false',
  'ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=60m',
  'ECS_IMAGE_CLEANUP_INTERVAL=60m',
  'ECS_IMAGE_MINIMUM_CLEANUP_AGE=180m',
  'ECS_IMAGE_PULL_BEHAVIOR=once',
  'ECS_NUM_IMAGES_DELETE_PER_CYCLE=5',
  'ECS_RESERVED_MEMORY=256',
  'ECS_TASK_PIDS_LIMIT=512',
  'BERTH_ECS_CONFIG',
  'chmod 0644 /etc/ecs/ecs.config',
  '',
].join('\n');

describe('EcsCluster', () => {
  it('declares a hardened launch template: IMDSv2 with one hop, an encrypted gp3 root, no key pair, the agent config as user data', async () => {
    const { one, runtime } = await evaluate(() => new EcsCluster('web', clusterArgs()), REGION);
    const template = one('aws:ec2/launchTemplate:LaunchTemplate', 'web');
    expect(template.inputs).toEqual({
      namePrefix: 'shop-stage-web-',
      imageId: 'ami-0a1b2c3d4e5f60718',
      instanceType: 'm7i.large',
      iamInstanceProfile: { arn: 'arn:aws:iam:us-east-2:123456789012:web-instance' },
      metadataOptions: { httpEndpoint: 'enabled', httpPutResponseHopLimit: 1, httpTokens: 'required', instanceMetadataTags: 'enabled' },
      blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { deleteOnTermination: 'true', encrypted: 'true', volumeSize: 50, volumeType: 'gp3' } }],
      vpcSecurityGroupIds: [groupId('web-instances'), CALLERS],
      userData: template.inputs.userData,
      monitoring: { enabled: true },
      tagSpecifications: [
        { resourceType: 'instance', tags: { ...TAGS, Name: 'shop-stage-web' } },
        { resourceType: 'volume', tags: { ...TAGS, Name: 'shop-stage-web-root' } },
      ],
      updateDefaultVersion: true,
      tags: TAGS,
    });
    expect(template.inputs.keyName).toBeUndefined();
    expect(Buffer.from(String(template.inputs.userData), 'base64').toString('utf8')).toBe(USER_DATA);
    // The instances get the role's permissions from their first boot.
    expect(runtime.optionsOf('aws:ec2/launchTemplate:LaunchTemplate', 'web').dependsOn).toContain('web-instance');
    expect(one('aws:ec2/launchTemplate:LaunchTemplate', 'web').options?.dependsOn).toContain('aws:iam/rolePolicy:RolePolicy::web-instance');
    // The latest ECS-optimised AL2023 for x86_64.
    expect(runtime.calls.filter((call) => call.token === 'aws:ssm/getParameter:getParameter').map((call) => call.inputs.name)).toEqual([
      '/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id',
    ]);
  });

  it('boots Graviton types on the arm64 ECS AMI, and a pinned AMI without any lookup', async () => {
    const graviton = await evaluate(() => new EcsCluster('web', clusterArgs({ instanceType: 'm7g.large' })), REGION);
    expect(graviton.runtime.calls.filter((call) => call.token === 'aws:ssm/getParameter:getParameter').map((call) => call.inputs.name)).toEqual([
      '/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id',
    ]);
    const pinned = await evaluate(() => new EcsCluster('web', clusterArgs({ ami: 'ami-0fedcba9876543210' })), REGION);
    expect(pinned.one('aws:ec2/launchTemplate:LaunchTemplate', 'web').inputs.imageId).toBe('ami-0fedcba9876543210');
    expect(pinned.runtime.calls.filter((call) => call.token === 'aws:ssm/getParameter:getParameter')).toEqual([]);
  });

  it('puts a public IP and the security groups on the network interface, with the reason as a tag', async () => {
    const { one } = await evaluate(() => new EcsCluster('web', clusterArgs({ associatePublicIp: true, publicIpReason: 'partner allow-lists our egress IPs' })), REGION);
    const template = one('aws:ec2/launchTemplate:LaunchTemplate', 'web').inputs;
    expect(template.networkInterfaces).toEqual([{ associatePublicIpAddress: 'true', deleteOnTermination: 'true', securityGroups: [groupId('web-instances'), CALLERS] }]);
    expect(template.vpcSecurityGroupIds).toBeUndefined();
    expect((template.tagSpecifications as { tags: Record<string, string> }[])[0].tags).toEqual({ ...TAGS, Name: 'shop-stage-web', 'berth:public-ip-reason': 'partner allow-lists our egress IPs' });
  });

  it('records no public IP reason without a public IP, and the default root size of 30 GiB', async () => {
    const { one } = await evaluate(() => new EcsCluster('web', clusterArgs({ publicIpReason: 'unused', rootVolumeGiB: undefined })), REGION);
    const template = one('aws:ec2/launchTemplate:LaunchTemplate', 'web').inputs;
    expect(template.networkInterfaces).toBeUndefined();
    expect((template.tagSpecifications as { tags: Record<string, string> }[])[0].tags).toEqual({ ...TAGS, Name: 'shop-stage-web' });
    expect((template.blockDeviceMappings as { ebs: { volumeSize: number } }[])[0].ebs.volumeSize).toBe(30);
  });

  it('lets managed scaling own the group: desired size ignored, instances protected from scale-in, refreshed at full capacity on a new template version', async () => {
    const { one, runtime } = await evaluate(() => new EcsCluster('web', clusterArgs()), REGION);
    expect(one('aws:autoscaling/group:Group', 'web').inputs).toEqual({
      namePrefix: 'shop-stage-web-',
      vpcZoneIdentifiers: SUBNETS,
      minSize: 2,
      maxSize: 7,
      desiredCapacity: 2,
      launchTemplate: { id: `lt-${fakeHex('aws:ec2/launchTemplate:LaunchTemplate/web', 17)}`, version: '1' },
      protectFromScaleIn: true,
      healthCheckType: 'EC2',
      healthCheckGracePeriod: 120,
      defaultInstanceWarmup: 120,
      instanceRefresh: {
        strategy: 'Rolling',
        preferences: { minHealthyPercentage: 100, maxHealthyPercentage: 200, skipMatching: true, instanceWarmup: '120', scaleInProtectedInstances: 'Refresh' },
      },
      tags: [
        { key: 'AmazonECSManaged', value: '', propagateAtLaunch: true },
        { key: 'Name', value: 'shop-stage-web', propagateAtLaunch: true },
        { key: 'berth:env', value: 'stage', propagateAtLaunch: true },
        { key: 'berth:host-group', value: 'web', propagateAtLaunch: true },
        { key: 'berth:project', value: 'shop', propagateAtLaunch: true },
      ],
    });
    expect(runtime.optionsOf('aws:autoscaling/group:Group', 'web').ignoreChanges).toEqual(['desiredCapacity']);
    // The version comes from the template: a new version is a change of the group, which refreshes it.
    expect(one('aws:autoscaling/group:Group', 'web').propertyDependencies?.launchTemplate).toEqual(['aws:ec2/launchTemplate:LaunchTemplate::web']);
  });

  it('declares the capacity provider with managed scaling, termination protection and draining, and puts it on the cluster', async () => {
    const { one } = await evaluate(() => new EcsCluster('web', clusterArgs()), REGION);
    const provider = one('aws:ecs/capacityProvider:CapacityProvider', 'web');
    // The Auto Scaling group's generated name: new with each group (ECS keeps a deleted provider's name reserved), and
    // starting with the project's, never with a prefix ECS refuses.
    const providerName = provider.inputs.name;
    expect(providerName).toMatch(/^shop-stage-web-[0-9a-f]{8}$/);
    expect((provider.inputs.autoScalingGroupProvider as { autoScalingGroupArn: string }).autoScalingGroupArn.endsWith(`:autoScalingGroupName/${providerName}`)).toBe(true);
    expect(provider.inputs).toEqual({
      name: providerName,
      autoScalingGroupProvider: {
        autoScalingGroupArn: expect.stringMatching(/^arn:aws:autoscaling:us-east-2:123456789012:autoScalingGroup:.*:autoScalingGroupName\/shop-stage-web-[0-9a-f]{8}$/),
        managedTerminationProtection: 'ENABLED',
        managedDraining: 'ENABLED',
        managedScaling: { status: 'ENABLED', targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 5, instanceWarmupPeriod: 120 },
      },
      tags: TAGS,
    });
    expect(one('aws:ecs/cluster:Cluster', 'web').inputs).toEqual({ name: 'shop-stage-web', settings: [{ name: 'containerInsights', value: 'enabled' }], tags: TAGS });
    expect(one('aws:ecs/clusterCapacityProviders:ClusterCapacityProviders', 'web').inputs).toEqual({
      clusterName: 'shop-stage-web',
      capacityProviders: [providerName],
      defaultCapacityProviderStrategies: [{ capacityProvider: providerName, weight: 1, base: 0 }],
    });
  });

  it.each([
    [3, undefined, 1],
    [3, 4, 1],
    [1, 11, 10],
  ])('steps managed scaling by at most max - min, and at least 1 (min %s, max %s)', async (minSize, maxSize, step) => {
    const { one } = await evaluate(() => new EcsCluster('web', clusterArgs({ minSize, maxSize })), REGION);
    const provider = one('aws:ecs/capacityProvider:CapacityProvider', 'web').inputs.autoScalingGroupProvider as { managedScaling: { maximumScalingStepSize: number } };
    expect(provider.managedScaling.maximumScalingStepSize).toBe(step);
    const group = one('aws:autoscaling/group:Group', 'web').inputs;
    expect([group.minSize, group.maxSize, group.desiredCapacity]).toEqual([minSize, maxSize ?? minSize, minSize]);
  });

  it('opens only the dynamic host ports, only to the given security groups: no SSH, nothing from a CIDR', async () => {
    const { one, ofType } = await evaluate(() => new EcsCluster('web', clusterArgs()), REGION);
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'web-instances').inputs).toEqual({
      namePrefix: 'shop-stage-web-instances-',
      description: 'Berth stage web ECS container instances',
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      ingress: [{ description: 'task host ports from the load balancers', protocol: 'tcp', fromPort: 32768, toPort: 60999, securityGroups: LB_GROUPS }],
      egress: [{ description: 'all outbound', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
      tags: { ...TAGS, Name: 'shop-stage-web-instances' },
    });
    expect(ofType('aws:ec2/keyPair:KeyPair')).toEqual([]);
    const closed = await evaluate(() => new EcsCluster('web', clusterArgs({ serviceIngressSecurityGroupIds: undefined, additionalSecurityGroupIds: undefined })), REGION);
    expect(closed.one('aws:ec2/securityGroup:SecurityGroup', 'web-instances').inputs.ingress).toEqual([]);
    expect(closed.one('aws:ec2/launchTemplate:LaunchTemplate', 'web').inputs.vpcSecurityGroupIds).toEqual([groupId('web-instances')]);
  });

  it('gives the instances a role that EC2 assumes and that may only join this cluster', async () => {
    const { one, result } = await evaluate(() => new EcsCluster('web', clusterArgs()), REGION);
    const role = one('aws:iam/role:Role', 'web-instance');
    expect(role.inputs.namePrefix).toBe('shop-stage-web-ecs-');
    expect(json(role.inputs.assumeRolePolicy)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
    expect(json(one('aws:iam/rolePolicy:RolePolicy', 'web-instance').inputs.policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'DiscoverPollEndpoint', Effect: 'Allow', Action: ['ecs:DiscoverPollEndpoint'], Resource: '*' },
        {
          Sid: 'JoinCluster',
          Effect: 'Allow',
          Action: ['ecs:DeregisterContainerInstance', 'ecs:RegisterContainerInstance', 'ecs:Submit*'],
          Resource: 'arn:aws:ecs:us-east-2:123456789012:cluster/shop-stage-web',
        },
        {
          Sid: 'RunClusterTasks',
          Effect: 'Allow',
          Action: ['ecs:Poll', 'ecs:StartTelemetrySession', 'ecs:UpdateContainerInstancesState'],
          Resource: 'arn:aws:ecs:us-east-2:123456789012:container-instance/shop-stage-web/*',
          Condition: { ArnEquals: { 'ecs:cluster': 'arn:aws:ecs:us-east-2:123456789012:cluster/shop-stage-web' } },
        },
        {
          Sid: 'TagOwnContainerInstance',
          Effect: 'Allow',
          Action: ['ecs:TagResource'],
          Resource: 'arn:aws:ecs:us-east-2:123456789012:container-instance/shop-stage-web/*',
          Condition: { StringEquals: { 'ecs:CreateAction': 'RegisterContainerInstance' } },
        },
      ],
    });
    expect(one('aws:iam/instanceProfile:InstanceProfile', 'web-instance').inputs.namePrefix).toBe('shop-stage-web-ecs-');
    expect(await valueOf(result.clusterArn)).toBe('arn:aws:ecs:us-east-2:123456789012:cluster/shop-stage-web');
    expect(await valueOf(result.clusterName)).toBe('shop-stage-web');
    expect(result.fileSystem).toBeUndefined();
  });

  it('declares no file system without efs', async () => {
    const { resources } = await evaluate(() => new EcsCluster('web', clusterArgs()), REGION);
    expect(resources.filter((resource) => resource.type.startsWith('aws:efs/'))).toEqual([]);
    expect(resources.filter((resource) => resource.type === 'aws:ec2/securityGroup:SecurityGroup').map((resource) => resource.name)).toEqual(['web-instances']);
  });

  it('declares an encrypted, backed-up EFS file system that only the instances reach, one mount target per subnet, kept with retain', async () => {
    const { one, ofType, runtime, result } = await evaluate(() => new EcsCluster('web', clusterArgs({ efs: { retain: true } })), REGION);
    expect(one('aws:efs/fileSystem:FileSystem', 'web-data').inputs).toEqual({
      encrypted: true,
      performanceMode: 'generalPurpose',
      throughputMode: 'elastic',
      tags: { ...TAGS, Name: 'shop-stage-web-data' },
    });
    expect(runtime.optionsOf('aws:efs/fileSystem:FileSystem', 'web-data').retainOnDelete).toBe(true);
    expect(runtime.optionsOf('aws:efs/backupPolicy:BackupPolicy', 'web-data').retainOnDelete).toBe(true);
    const fileSystemId = `fs-${fakeHex('aws:efs/fileSystem:FileSystem/web-data', 17)}`;
    const fileSystemArn = `arn:aws:elasticfilesystem:us-east-2:123456789012:file-system/fs-${fakeHex('aws:efs/fileSystem:FileSystem/web-data', 17)}`;
    expect(one('aws:efs/backupPolicy:BackupPolicy', 'web-data').inputs).toEqual({ fileSystemId, backupPolicy: { status: 'ENABLED' } });
    expect(one('aws:efs/fileSystemPolicy:FileSystemPolicy', 'web-data').inputs.fileSystemId).toBe(fileSystemId);
    expect(json(one('aws:efs/fileSystemPolicy:FileSystemPolicy', 'web-data').inputs.policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DenyWithoutTls',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: '*',
          Resource: fileSystemArn,
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
        {
          Sid: 'AccountPrincipalsThroughMountTargets',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::123456789012:root' },
          Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite'],
          Resource: fileSystemArn,
          Condition: { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' } },
        },
      ],
    });
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'web-efs').inputs).toEqual({
      namePrefix: 'shop-stage-web-efs-',
      description: 'Berth stage web EFS mount targets',
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      ingress: [{ description: 'NFS from the container instances', protocol: 'tcp', fromPort: 2049, toPort: 2049, securityGroups: [groupId('web-instances')] }],
      egress: [],
      tags: { ...TAGS, Name: 'shop-stage-web-efs' },
    });
    expect(ofType('aws:efs/mountTarget:MountTarget').map((target) => [target.name, target.inputs])).toEqual([
      ['web-data-1', { fileSystemId, subnetId: SUBNETS[0], securityGroups: [groupId('web-efs')] }],
      ['web-data-2', { fileSystemId, subnetId: SUBNETS[1], securityGroups: [groupId('web-efs')] }],
      ['web-data-3', { fileSystemId, subnetId: SUBNETS[2], securityGroups: [groupId('web-efs')] }],
    ]);
    // What a service waits for before its tasks mount: every mount target and the policy.
    expect(await valueOf(result.fileSystem!.id)).toBe(fileSystemId);
    expect(await valueOf(result.fileSystem!.arn)).toBe(fileSystemArn);
    expect(result.fileSystem!.ready.length).toBe(4);
  });

  it('lets the file system go with the cluster unless retained', async () => {
    for (const efs of [{ retain: false }, {}]) {
      const { runtime } = await evaluate(() => new EcsCluster('web', clusterArgs({ efs })), REGION);
      expect(runtime.optionsOf('aws:efs/fileSystem:FileSystem', 'web-data').retainOnDelete).toBe(false);
      expect(runtime.optionsOf('aws:efs/backupPolicy:BackupPolicy', 'web-data').retainOnDelete).toBe(false);
    }
  });

  it.each([
    [{ minSize: 0 }, 'web: minSize: a whole number of at least 1, got 0'],
    [{ minSize: 1.5, maxSize: 2 }, 'web: minSize: a whole number of at least 1, got 1.5'],
    [{ minSize: 3, maxSize: 2 }, 'web: maxSize: a whole number of at least minSize (3), got 2'],
    [{ minSize: 2, maxSize: 2.5 }, 'web: maxSize: a whole number of at least minSize (2), got 2.5'],
    [{ subnetIds: [] }, 'web: subnetIds: at least one subnet'],
    [{ project: 'ecs-shop' }, `web: project: a name that does not start with aws, ecs or fargate (it starts the capacity provider's name, which ECS refuses so), got "ecs-shop"`],
    [{ project: 'AWSome' }, `web: project: a name that does not start with aws, ecs or fargate (it starts the capacity provider's name, which ECS refuses so), got "AWSome"`],
    [{ project: 'fargate2' }, `web: project: a name that does not start with aws, ecs or fargate (it starts the capacity provider's name, which ECS refuses so), got "fargate2"`],
    [{ rootVolumeGiB: 29 }, "web: rootVolumeGiB: at least 30, the ECS-optimised AMI's root snapshot (a smaller volume cannot be launched), got 29"],
  ])('refuses %j before declaring anything', async (overrides, message) => {
    await expect(evaluate(() => new EcsCluster('web', clusterArgs(overrides)), REGION)).rejects.toThrow(message);
  });

  it('accepts a project that only contains aws, ecs or fargate further in', async () => {
    const { one } = await evaluate(() => new EcsCluster('web', clusterArgs({ project: 'shop-ecs' })), REGION);
    expect(one('aws:ecs/capacityProvider:CapacityProvider', 'web').inputs.name).toMatch(/^shop-ecs-stage-web-[0-9a-f]{8}$/);
  });

  it('accepts maxSize equal to minSize', async () => {
    const { one } = await evaluate(() => new EcsCluster('web', clusterArgs({ minSize: 4, maxSize: 4 })), REGION);
    expect(one('aws:autoscaling/group:Group', 'web').inputs.maxSize).toBe(4);
  });
});
