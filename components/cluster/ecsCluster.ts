import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { berthTags, DEFAULT_PROJECT, envName } from '../common/naming';
import { ECS_DYNAMIC_HOST_PORTS } from '../common/ports';
import { applyTransform, Transform } from '../common/transform';
import { architectureOf } from '../host/architecture';
import { ECS_AL2023_PARAMETER, ECS_AMI_ROOT_GIB, ECS_ROOT_DEVICE, efsFileSystemPolicy, ecsInstanceRolePolicy, ImageCleanup, renderEcsUserData } from './render';

export interface EcsClusterArgs {
  /**
   * Project name; prefixes physical names and tags.
   * @default "berth"
   * @example "payments"
   */
  project?: string;
  /**
   * Environment the cluster belongs to.
   * @example "prod"
   */
  env: string;
  /**
   * The fewest instances the Auto Scaling group keeps (and starts with).
   * @example 2
   */
  minSize: number;
  /**
   * The most instances managed scaling may grow the group to, for tasks that do not fit.
   * @default minSize
   * @example 6
   */
  maxSize?: number;
  /**
   * EC2 instance type; Graviton types (`m7g.large`) get the arm64 ECS AMI.
   * @example "m7i.large"
   */
  instanceType: string;
  /**
   * VPC of the instances.
   * @example "vpc-0a1b2c3d4e5f60718"
   */
  vpcId: string;
  /**
   * Subnets the instances are spread over, one per availability zone (the EFS file system gets a
   * mount target in each).
   * @example ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722"]
   */
  subnetIds: string[];
  /**
   * AMI id. Default: the latest ECS-optimised Amazon Linux 2023 from the public SSM parameter,
   * looked up on every `up`: a new release changes the launch template, and the group's instance
   * refresh replaces the instances a few at a time (ECS drains each first).
   * @default ECS-optimised Amazon Linux 2023 (x86_64 or arm64 by instance type)
   * @example "ami-0a1b2c3d4e5f60718"
   */
  ami?: pulumi.Input<string>;
  /**
   * Root volume size (GiB); always encrypted gp3. Images and stopped containers live here.
   * @default 30
   * @example 50
   */
  rootVolumeGiB?: number;
  /**
   * Give instances a public IP.
   * @default false
   * @example true
   */
  associatePublicIp?: boolean;
  /**
   * Why instances have a public IP; recorded as tag `berth:public-ip-reason`. Ignored without `associatePublicIp`.
   * @default none
   * @example "partner API allow-lists our egress IPs"
   */
  publicIpReason?: string;
  /**
   * Security groups (the load balancers') allowed to reach the tasks' dynamic host ports (32768-65535).
   * @default []
   * @example traffic.securityGroupIds
   */
  serviceIngressSecurityGroupIds?: pulumi.Input<string>[];
  /**
   * Security groups each instance joins beside the cluster's own (e.g. the service-name callers').
   * @default []
   * @example traffic.hostSecurityGroupIds("workers-ecs", [])
   */
  additionalSecurityGroupIds?: pulumi.Input<string>[];
  /**
   * An encrypted EFS file system for the services' data volumes (one access point per volume,
   * declared by EcsService). `retain` keeps it, and its data, when the cluster is deleted.
   * @default none: services with data volumes cannot run here
   * @example { retain: true }
   */
  efs?: { retain?: boolean };
  /**
   * The most processes one task may run, the same for every task on the instances (the ECS
   * agent's ECS_TASK_PIDS_LIMIT: ECS has no per-container limit). A change replaces the instances.
   * @default no limit
   * @example 512
   */
  taskPidsLimit?: number;
  /**
   * The ECS agent's cleanup of images no task uses.
   * @default { intervalMinutes: 30, minimumAgeMinutes: 60, imagesPerRun: 5, stoppedTaskMinutes: 60 }
   * @example { intervalMinutes: 60, minimumAgeMinutes: 180 }
   */
  imageCleanup?: ImageCleanup;
  /**
   * Adjust what the component creates before it is created: one hook per underlying resource,
   * each given the resource's args and options (mutate them in place) and its logical name.
   * @default {}
   * @example { autoScalingGroup: (args) => { args.maxInstanceLifetime = 604800; } }
   */
  transform?: EcsClusterTransform;
}

/** The transform hooks of an EcsCluster (`<name>` is the component's name). */
export interface EcsClusterTransform {
  /** The instances' security group `<name>-instances` and the file system's `<name>-efs`. */
  securityGroup?: Transform<aws.ec2.SecurityGroupArgs>;
  /** The instance role `<name>-instance`. */
  role?: Transform<aws.iam.RoleArgs>;
  /** The instance role's inline policy `<name>-instance`. */
  rolePolicy?: Transform<aws.iam.RolePolicyArgs>;
  /** The instance profile `<name>-instance`. */
  instanceProfile?: Transform<aws.iam.InstanceProfileArgs>;
  /** The launch template `<name>`. */
  launchTemplate?: Transform<aws.ec2.LaunchTemplateArgs>;
  /** The Auto Scaling group `<name>`. */
  autoScalingGroup?: Transform<aws.autoscaling.GroupArgs>;
  /** The ECS cluster `<name>`. */
  cluster?: Transform<aws.ecs.ClusterArgs>;
  /** The capacity provider `<name>`. */
  capacityProvider?: Transform<aws.ecs.CapacityProviderArgs>;
  /** The EFS file system `<name>-data`. */
  fileSystem?: Transform<aws.efs.FileSystemArgs>;
  /** The file system's policy `<name>-data` (TLS only, through mount targets, principals IAM allows: narrow it, never widen it). */
  fileSystemPolicy?: Transform<aws.efs.FileSystemPolicyArgs>;
}

/** What an EcsService needs of the cluster it runs on. EcsCluster is one. */
export interface EcsCapacity {
  /** The cluster's name (its ARN's last part), as alarms name it. */
  readonly clusterName: pulumi.Output<string>;
  readonly clusterArn: pulumi.Output<string>;
  readonly capacityProviderName: pulumi.Output<string>;
  /** Done when the cluster takes tasks on its capacity provider; services depend on it. */
  readonly capacityReady: pulumi.Resource;
  /** The file system for data volumes, with its mount targets; undefined without `efs`. */
  readonly fileSystem?: { id: pulumi.Output<string>; arn: pulumi.Output<string>; ready: pulumi.Resource[] };
}

/**
 * An ECS cluster on EC2 capacity: an Auto Scaling group of ECS-optimised Amazon Linux 2023
 * instances hardened like Berth hosts, a capacity provider with managed scaling, termination
 * protection and draining, and the cluster. EcsService runs services on it.
 *
 * @example
 * #### Two to six instances behind the environment's load balancers
 * ```ts
 * const cluster = new EcsCluster("app", {
 *   env: "prod", minSize: 2, maxSize: 6, instanceType: "m7i.large", vpcId, subnetIds,
 *   serviceIngressSecurityGroupIds: traffic.securityGroupIds,
 * });
 * new EcsService("api-service", { env: "prod", cluster, image, ports: ["8080:8080"], health, replicas: 3 });
 * ```
 *
 * @example
 * #### Data volumes on EFS, kept when the cluster goes
 * ```ts
 * new EcsCluster("app", { ...args, efs: { retain: true } });
 * ```
 *
 * @remarks
 * IMDSv2 only with a hop limit of 1 (bridge containers cannot reach the instance's credentials;
 * tasks get their own role), encrypted root volumes, no SSH (no key pair, no port 22), an
 * instance role that may only join this cluster, and an agent that refuses privileged
 * containers. The group's desired size belongs to managed scaling: it is ignored after
 * creation. Instances are protected from scale-in (ECS decides which may go, draining them
 * first); a change of the launch template replaces them by an instance refresh that keeps the
 * group's capacity. On destroy the services go first (they depend on the cluster's capacity),
 * then the provider lifts the instances' scale-in protection and drains the group before deleting it.
 */
export class EcsCluster extends pulumi.ComponentResource implements EcsCapacity {
  readonly clusterName: pulumi.Output<string>;
  readonly clusterArn: pulumi.Output<string>;
  readonly capacityProviderName: pulumi.Output<string>;
  readonly capacityReady: pulumi.Resource;
  readonly fileSystem?: { id: pulumi.Output<string>; arn: pulumi.Output<string>; ready: pulumi.Resource[] };
  readonly securityGroupId: pulumi.Output<string>;
  readonly autoScalingGroupName: pulumi.Output<string>;
  readonly instanceRoleArn: pulumi.Output<string>;

  constructor(name: string, args: EcsClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:cluster:EcsCluster', name, {}, opts);
    const project = args.project ?? DEFAULT_PROJECT;
    const tags = berthTags(project, args.env, { 'berth:host-group': name });
    const maxSize = args.maxSize ?? args.minSize;
    this.checkArgs(name, args, maxSize);
    const parent = { parent: this };

    // Named, not generated: the agent's configuration in the user data names it, and a name known
    // before the cluster exists keeps the user data, and so the instances, the same from one `up` to the next.
    const clusterName = envName(project, args.env, name);
    const [clusterArgs, clusterOpts] = applyTransform(
      args.transform?.cluster,
      name,
      { name: clusterName, settings: [{ name: 'containerInsights', value: 'enabled' }], tags },
      { parent: this },
    );
    const cluster = new aws.ecs.Cluster(name, clusterArgs, clusterOpts);

    const securityGroup = this.securityGroup(name, args, project, tags);
    const { role, profile, rolePolicy } = this.instanceRole(name, args, project, tags, cluster.arn);
    const ami = args.ami ?? aws.ssm.getParameterOutput({ name: ECS_AL2023_PARAMETER[architectureOf(args.instanceType)] }, parent).value;
    const userData = renderEcsUserData({ project, env: args.env, clusterName, imageCleanup: args.imageCleanup, taskPidsLimit: args.taskPidsLimit });
    const securityGroupIds = [securityGroup.id, ...(args.additionalSecurityGroupIds ?? [])];
    const instanceTags = {
      ...tags,
      Name: envName(project, args.env, name),
      ...(args.associatePublicIp && args.publicIpReason ? { 'berth:public-ip-reason': args.publicIpReason } : {}),
    };
    const [templateArgs, templateOpts] = applyTransform(
      args.transform?.launchTemplate,
      name,
      {
        namePrefix: `${envName(project, args.env, name)}-`,
        imageId: ami,
        instanceType: args.instanceType,
        iamInstanceProfile: { arn: profile.arn },
        metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1, instanceMetadataTags: 'enabled' },
        blockDeviceMappings: [{ deviceName: ECS_ROOT_DEVICE, ebs: { encrypted: 'true', volumeType: 'gp3', volumeSize: args.rootVolumeGiB ?? ECS_AMI_ROOT_GIB, deleteOnTermination: 'true' } }],
        // A public IP is a property of the network interface, which then carries the security groups.
        ...(args.associatePublicIp
          ? { networkInterfaces: [{ associatePublicIpAddress: 'true', deleteOnTermination: 'true', securityGroups: securityGroupIds }] }
          : { vpcSecurityGroupIds: securityGroupIds }),
        userData: Buffer.from(userData, 'utf8').toString('base64'),
        monitoring: { enabled: true },
        tagSpecifications: [
          { resourceType: 'instance', tags: instanceTags },
          { resourceType: 'volume', tags: { ...tags, Name: envName(project, args.env, name, 'root') } },
        ],
        updateDefaultVersion: true,
        tags,
      },
      // The instances need the role's permissions from their first boot.
      { parent: this, dependsOn: [rolePolicy] },
    );
    const template = new aws.ec2.LaunchTemplate(name, templateArgs, templateOpts);

    const [groupArgs, groupOpts] = applyTransform(
      args.transform?.autoScalingGroup,
      name,
      {
        // A prefix, not a name: a replacement is created before the old group is deleted.
        namePrefix: `${envName(project, args.env, name)}-`,
        vpcZoneIdentifiers: args.subnetIds,
        minSize: args.minSize,
        maxSize,
        desiredCapacity: args.minSize,
        // The version, not $Latest: a template change is then a change of the group, which starts the instance refresh.
        launchTemplate: { id: template.id, version: pulumi.interpolate`${template.latestVersion}` },
        // ECS decides which instance may go (managed termination protection) and drains it first.
        protectFromScaleIn: true,
        healthCheckType: 'EC2',
        healthCheckGracePeriod: 120,
        defaultInstanceWarmup: 120,
        instanceRefresh: {
          strategy: 'Rolling',
          // Launch before terminating: the group keeps its whole capacity while instances are replaced.
          preferences: { minHealthyPercentage: 100, maxHealthyPercentage: 200, skipMatching: true, instanceWarmup: '120', scaleInProtectedInstances: 'Refresh' },
        },
        tags: [
          // The capacity provider adds this tag; declaring it keeps previews from showing its removal.
          { key: 'AmazonECSManaged', value: '', propagateAtLaunch: true },
          ...Object.entries({ ...tags, Name: envName(project, args.env, name) })
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
        ],
      },
      // Managed scaling owns the desired size once the group exists.
      { parent: this, ignoreChanges: ['desiredCapacity'] },
    );
    const group = new aws.autoscaling.Group(name, groupArgs, groupOpts);

    const [providerArgs, providerOpts] = applyTransform(
      args.transform?.capacityProvider,
      name,
      {
        // The Auto Scaling group's generated name: it starts with the project's (ECS refuses a name that starts with aws,
        // ecs or fargate; the project is checked), and it is new with each group, as ECS wants: it keeps a deleted
        // provider's name reserved for a while, so a fixed name could not be created again after a destroy.
        name: group.name,
        autoScalingGroupProvider: {
          autoScalingGroupArn: group.arn,
          managedTerminationProtection: 'ENABLED',
          managedDraining: 'ENABLED',
          managedScaling: { status: 'ENABLED', targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: Math.max(1, maxSize - args.minSize), instanceWarmupPeriod: 120 },
        },
        tags,
      },
      { parent: this },
    );
    const provider = new aws.ecs.CapacityProvider(name, providerArgs, providerOpts);
    this.capacityReady = new aws.ecs.ClusterCapacityProviders(
      name,
      {
        clusterName: cluster.name,
        capacityProviders: [provider.name],
        defaultCapacityProviderStrategies: [{ capacityProvider: provider.name, weight: 1, base: 0 }],
      },
      parent,
    );

    if (args.efs) {
      this.fileSystem = this.efs(name, args, project, tags, securityGroup);
    }
    this.clusterName = cluster.name;
    this.clusterArn = cluster.arn;
    this.capacityProviderName = provider.name;
    this.securityGroupId = securityGroup.id;
    this.autoScalingGroupName = group.name;
    this.instanceRoleArn = role.arn;
    this.registerOutputs({ clusterArn: this.clusterArn, capacityProviderName: this.capacityProviderName, autoScalingGroupName: this.autoScalingGroupName });
  }

  private checkArgs(name: string, args: EcsClusterArgs, maxSize: number): void {
    const fail = (message: string) => {
      throw new pulumi.ResourceError(`${name}: ${message}`, this);
    };
    if (!Number.isInteger(args.minSize) || args.minSize < 1) {
      fail(`minSize: a whole number of at least 1, got ${JSON.stringify(args.minSize)}`);
    }
    if (!Number.isInteger(maxSize) || maxSize < args.minSize) {
      fail(`maxSize: a whole number of at least minSize (${args.minSize}), got ${JSON.stringify(maxSize)}`);
    }
    if (args.subnetIds.length === 0) {
      fail('subnetIds: at least one subnet');
    }
    if (args.rootVolumeGiB !== undefined && args.rootVolumeGiB < ECS_AMI_ROOT_GIB) {
      fail(`rootVolumeGiB: at least ${ECS_AMI_ROOT_GIB}, the ECS-optimised AMI's root snapshot (a smaller volume cannot be launched), got ${args.rootVolumeGiB}`);
    }
    const project = args.project ?? DEFAULT_PROJECT;
    if (/^(aws|ecs|fargate)/i.test(project)) {
      fail(`project: a name that does not start with aws, ecs or fargate (it starts the capacity provider's name, which ECS refuses so), got ${JSON.stringify(project)}`);
    }
  }

  /** The instances take the tasks' dynamic host ports from the load balancers only, and nothing else: no SSH. */
  private securityGroup(name: string, args: EcsClusterArgs, project: string, tags: Record<string, string>): aws.ec2.SecurityGroup {
    const sources = args.serviceIngressSecurityGroupIds ?? [];
    const sgName = `${name}-instances`;
    const [sgArgs, sgOpts] = applyTransform(
      args.transform?.securityGroup,
      sgName,
      {
        namePrefix: `${envName(project, args.env, name, 'instances')}-`,
        description: `Berth ${args.env} ${name} ECS container instances`,
        vpcId: args.vpcId,
        ingress:
          sources.length > 0
            ? [{ description: 'task host ports from the load balancers', protocol: 'tcp', fromPort: ECS_DYNAMIC_HOST_PORTS.first, toPort: ECS_DYNAMIC_HOST_PORTS.last, securityGroups: sources }]
            : [],
        // Instances pull images from ECR and reach ECS, CloudWatch and EFS over HTTPS and NFS.
        egress: [{ description: 'all outbound', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
        tags: { ...tags, Name: envName(project, args.env, name, 'instances') },
      },
      { parent: this },
    );
    return new aws.ec2.SecurityGroup(sgName, sgArgs, sgOpts);
  }

  private instanceRole(name: string, args: EcsClusterArgs, project: string, tags: Record<string, string>, clusterArn: pulumi.Output<string>) {
    const roleName = `${name}-instance`;
    const prefix = `${envName(project, args.env, name, 'ecs')}-`;
    const [roleArgs, roleOpts] = applyTransform(
      args.transform?.role,
      roleName,
      {
        namePrefix: prefix,
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
        tags,
      },
      { parent: this },
    );
    const role = new aws.iam.Role(roleName, roleArgs, roleOpts);
    const rolePolicy = new aws.iam.RolePolicy(
      roleName,
      ...applyTransform(args.transform?.rolePolicy, roleName, { role: role.id, policy: clusterArn.apply((arn) => ecsInstanceRolePolicy({ clusterArn: arn })) }, { parent: this }),
    );
    const profile = new aws.iam.InstanceProfile(
      roleName,
      ...applyTransform(args.transform?.instanceProfile, roleName, { namePrefix: prefix, role: role.name, tags }, { parent: this }),
    );
    return { role, profile, rolePolicy };
  }

  /**
   * The data volumes' file system: encrypted at rest (and in transit: EcsService mounts with TLS),
   * elastic throughput, backed up by AWS Backup's default plan, one mount target per subnet that
   * takes NFS from the instances only.
   */
  private efs(name: string, args: EcsClusterArgs, project: string, tags: Record<string, string>, instances: aws.ec2.SecurityGroup) {
    const retain = args.efs?.retain ?? false;
    const fsName = `${name}-data`;
    const [fsArgs, fsOpts] = applyTransform(
      args.transform?.fileSystem,
      fsName,
      { encrypted: true, performanceMode: 'generalPurpose', throughputMode: 'elastic', tags: { ...tags, Name: envName(project, args.env, name, 'data') } },
      { parent: this, retainOnDelete: retain },
    );
    const fileSystem = new aws.efs.FileSystem(fsName, fsArgs, fsOpts);
    new aws.efs.BackupPolicy(fsName, { fileSystemId: fileSystem.id, backupPolicy: { status: 'ENABLED' } }, { parent: this, retainOnDelete: retain });
    const identity = aws.getCallerIdentityOutput({}, { parent: this });
    const partition = aws.getPartitionOutput({}, { parent: this }).partition;
    const policy = new aws.efs.FileSystemPolicy(
      fsName,
      ...applyTransform(
        args.transform?.fileSystemPolicy,
        fsName,
        {
          fileSystemId: fileSystem.id,
          policy: pulumi
            .all([fileSystem.arn, identity.accountId, partition])
            .apply(([fileSystemArn, accountId, partitionName]) => efsFileSystemPolicy({ fileSystemArn, accountId, partition: partitionName })),
        },
        { parent: this },
      ),
    );
    const sgName = `${name}-efs`;
    const [sgArgs, sgOpts] = applyTransform(
      args.transform?.securityGroup,
      sgName,
      {
        namePrefix: `${envName(project, args.env, name, 'efs')}-`,
        description: `Berth ${args.env} ${name} EFS mount targets`,
        vpcId: args.vpcId,
        ingress: [{ description: 'NFS from the container instances', protocol: 'tcp', fromPort: 2049, toPort: 2049, securityGroups: [instances.id] }],
        egress: [],
        tags: { ...tags, Name: envName(project, args.env, name, 'efs') },
      },
      { parent: this },
    );
    const efsGroup = new aws.ec2.SecurityGroup(sgName, sgArgs, sgOpts);
    const mountTargets = args.subnetIds.map(
      (subnetId, index) => new aws.efs.MountTarget(`${fsName}-${index + 1}`, { fileSystemId: fileSystem.id, subnetId, securityGroups: [efsGroup.id] }, { parent: this }),
    );
    // Tasks mount through a mount target, allowed by the policy.
    return { id: fileSystem.id, arn: fileSystem.arn, ready: [...mountTargets, policy] };
  }
}
