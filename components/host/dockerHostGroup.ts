import * as aws from '@pulumi/aws';
import * as command from '@pulumi/command';
import * as pulumi from '@pulumi/pulumi';
import { berthTags, DEFAULT_PROJECT, envName } from '../common/naming';
import { applyTransform, Transform } from '../common/transform';
import { ecrPullStatements } from '../registry/policies';
import { readAgentScript } from '../service/agentScript';
import { architectureOf } from './architecture';
import { DISK_USED_PERCENT_METRIC, diskMetricPaths, diskUsedPercentDimensions, dockerLogGroupName, HostLoggingConfig } from './dockerConfig';
import { hostSetupCommand, renderHostSetup } from './hostSetup';
import { DEFAULT_DATA_MOUNT_POINT } from './paths';
import { parseCidr } from './validate';
import { renderUserData } from './userData';

/** How the deploy steps reach a host over SSH. The key is a Pulumi secret and never leaves encrypted state. */
export interface HostSshArgs {
  /**
   * Login user; must be able to `sudo` without a password.
   * @default "ec2-user"
   * @example "berth-deploy"
   */
  user?: string;
  /**
   * The private key, a Pulumi secret.
   * @example new pulumi.Config("berth").requireSecret("sshPrivateKey")
   */
  privateKey: pulumi.Input<string>;
  /**
   * The public half of `privateKey`, an OpenSSH public key line. The hosts get it as an EC2
   * key pair, authorised for the default user (`ec2-user` on Amazon Linux 2023). Changing it
   * replaces the hosts, one at a time.
   * @example "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… berth-prod"
   */
  publicKey: string;
  /**
   * A bastion to hop through; its key defaults to `privateKey`. `hostKey` (an OpenSSH public
   * host key line) pins the bastion's identity; without it the bastion's key is not checked.
   * @default none: the hosts are dialled directly
   * @example { host: "bastion.example.com", user: "ec2-user", hostKey: "ssh-ed25519 AAAA…" }
   */
  bastion?: { host: pulumi.Input<string>; user?: string; privateKey?: pulumi.Input<string>; hostKey?: pulumi.Input<string> };
  /**
   * Reach hosts on their public IP instead of the private one.
   * @default false
   * @example true
   */
  usePublicIp?: boolean;
}

export interface DockerHostGroupArgs {
  /**
   * Project name; prefixes physical names and tags.
   * @default "berth"
   * @example "payments"
   */
  project?: string;
  /**
   * Environment the hosts belong to.
   * @example "prod"
   */
  env: string;
  /**
   * Number of identical hosts.
   * @example 3
   */
  count: number;
  /**
   * EC2 instance type; Graviton types (`m7g.large`, `t4g.small`) get the arm64 AMI.
   * @example "t3.small"
   */
  instanceType: string;
  /**
   * AWS region, for the Docker daemon's awslogs driver.
   * @default the provider's region
   * @example "eu-west-1"
   */
  region?: pulumi.Input<string>;
  /**
   * VPC the hosts live in.
   * @example "vpc-0a1b2c3d4e5f60718"
   */
  vpcId: string;
  /**
   * Subnets the hosts are spread over, host i in subnet i mod n.
   * @example ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722"]
   */
  subnetIds: string[];
  /**
   * AMI id. Default: the latest Amazon Linux 2023 from the public SSM parameter, looked up on
   * every `up`: a new AMI release replaces the hosts, one at a time, each keeping its data
   * volume (a preview shows it). Pin an AMI id here to roll hosts only when you choose.
   * Whatever replaces a host, it boots from the AMI and user data declared now: nothing of the
   * instance is ignored, so no replacement comes back with an old AMI.
   * @default Amazon Linux 2023 (x86_64 or arm64 by instance type)
   * @example "ami-0a1b2c3d4e5f60718"
   */
  ami?: pulumi.Input<string>;
  /**
   * Root volume size (GiB); always encrypted gp3.
   * @default 30
   * @example 50
   */
  rootVolumeGiB?: number;
  /**
   * Data volume size (GiB); an encrypted gp3 EBS volume per host, mounted at /srv/berth.
   * @example 100
   */
  dataVolumeGiB: number;
  /**
   * Keep each host's data volume when the host or the whole group is deleted.
   * @default false (the stack turns it on for stage and prod)
   * @example true
   */
  retainDataVolume?: boolean;
  /**
   * Give hosts a public IP.
   * @default false
   * @example true
   */
  associatePublicIp?: boolean;
  /**
   * Why hosts have a public IP; recorded as tag `berth:public-ip-reason` for policy checks
   * (the policy pack refuses a public IP in prod without one). Ignored without `associatePublicIp`.
   * @default none
   * @example "partner API allow-lists our egress IPs"
   */
  publicIpReason?: string;
  /**
   * CIDRs allowed to SSH in. 0.0.0.0/0 is refused.
   * @default []
   * @example ["10.20.0.0/16"]
   */
  adminCidrs?: string[];
  /**
   * A bastion's security group allowed to SSH in.
   * @default none
   * @example "sg-0123456789abcdef0"
   */
  bastionSecurityGroupId?: pulumi.Input<string>;
  /**
   * TCP host ports the services on this group publish.
   * @default []
   * @example [8080, 8081]
   */
  servicePorts?: number[];
  /**
   * CIDRs allowed to reach the service ports.
   * @default []
   * @example ["10.20.0.0/16"]
   */
  serviceIngressCidrs?: string[];
  /**
   * Security groups (e.g. a load balancer's) allowed to reach the service ports.
   * @default []
   * @example [loadBalancerSecurityGroup.id]
   */
  serviceIngressSecurityGroupIds?: pulumi.Input<string>[];
  /**
   * Security groups each host joins beside the group's own (e.g. the ones that let it call the
   * service names). Changing them updates the hosts in place (no replacement). A network
   * interface takes 5 security groups by default (an EC2 quota), the group's own included.
   * @default []
   * @example traffic.hostSecurityGroupIds("app", [])
   */
  additionalSecurityGroupIds?: pulumi.Input<string>[];
  /**
   * ECR repository ARNs the hosts may pull from — this project's only.
   * @example registry.repositoryArns
   */
  repositoryArns: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Docker's default log driver. `awslogs` writes to `/<project>/<env>/docker`, a group the
   * hosts do not create (EnvironmentMonitoring's `dockerLogs` does).
   * @default { driver: "awslogs" }
   * @example { driver: "local", maxSize: "50m", maxFile: 3 }
   */
  logging?: HostLoggingConfig;
  /**
   * systemd calendar expression of the dangling-image prune.
   * @default "daily"
   * @example "*-*-* 03:30:00"
   */
  pruneSchedule?: string;
  /**
   * Directories created under the data volume, one per service (`<env>/<service>`).
   * @default []
   * @example ["prod/auth-service", "prod/api-service"]
   */
  serviceDirectories?: string[];
  /**
   * SNS topic the per-host alarms notify (status check, disk usage of the Docker root and of
   * the data volume). Without it no alarms are created.
   * @default none: no alarms
   * @example monitoring.alarmTopicArn
   */
  alarmTopicArn?: pulumi.Input<string>;
  /**
   * Disk usage (%) of the Docker root or the data volume that raises an alarm.
   * @default 80
   * @example 90
   */
  diskUsagePercent?: number;
  /**
   * How the readiness and deploy steps reach the hosts. Required: every host is configured
   * over SSH (the readiness step ships its files, the agent and Docker's client config).
   * @example { privateKey: config.requireSecret("sshPrivateKey"), publicKey: config.require("sshPublicKey") }
   */
  ssh: HostSshArgs;
  /**
   * The host agent script the readiness step installs on every host (again whenever it
   * changes). Leave it out to run the agent Berth ships, which is what ContainerService drives;
   * give one only to run a patched agent.
   * @default the agent shipped with Berth (components/service/agent/, bundled: dist/agent/berth-agent.js)
   * @example fs.readFileSync("ops/berth-agent-patched", "utf8")
   */
  agentScript?: string;
  /**
   * Adjust what the component creates before it is created: one hook per underlying
   * resource, each given the resource's args and options (mutate them in place) and its
   * logical name.
   * @default {}
   * @example { instance: (args) => { args.tags = { ...args.tags, team: "payments" }; } }
   */
  transform?: DockerHostGroupTransform;
}

/** The transform hooks of a DockerHostGroup, one per kind of resource it declares (`<group>` is the component's name, `<host>` is `<group>-<n>`). */
export interface DockerHostGroupTransform {
  /** The group's security group `<group>-hosts` (SSH and service-port ingress, all egress). */
  securityGroup?: Transform<aws.ec2.SecurityGroupArgs>;
  /** The instance role `<group>-host` (its trust policy lets EC2 assume it). */
  role?: Transform<aws.iam.RoleArgs>;
  /** The role's inline policy `<group>-host` (ECR pull, environment logs, Berth metrics). */
  rolePolicy?: Transform<aws.iam.RolePolicyArgs>;
  /** The instance profile `<group>-host` that carries the role to the hosts. */
  instanceProfile?: Transform<aws.iam.InstanceProfileArgs>;
  /** The EC2 key pair `<group>-ssh` made from `ssh.publicKey`. */
  keyPair?: Transform<aws.ec2.KeyPairArgs>;
  /** Each host's data volume `<host>-data` (encrypted gp3 EBS). */
  dataVolume?: Transform<aws.ebs.VolumeArgs>;
  /** Each host's EC2 instance `<host>` (`<group>-1`, `<group>-2`, …). */
  instance?: Transform<aws.ec2.InstanceArgs>;
  /** Each host's data-volume attachment `<host>-data`. */
  volumeAttachment?: Transform<aws.ec2.VolumeAttachmentArgs>;
  /** Each host's readiness step `<host>-ready`, the `remote.Command` that sets the host up over SSH. */
  ready?: Transform<command.remote.CommandArgs>;
  /**
   * Each host's CloudWatch alarms, created only with `alarmTopicArn`: `<host>-status-check`,
   * `<host>-disk-docker-root` and `<host>-disk-data-volume`; the name tells them apart.
   */
  alarm?: Transform<aws.cloudwatch.MetricAlarmArgs>;
}

/** One host of a group, as deploy steps need it. */
export interface DockerHost {
  /** Logical name, `<group>-<n>` from 1. */
  name: string;
  /** The EC2 instance; when it must be replaced (a new AMI or key pair), hosts go one at a time. */
  instance: aws.ec2.Instance;
  /** The host's data volume, mounted at `/srv/berth`; it outlives the instance. */
  dataVolume: aws.ebs.Volume;
  /** The data volume's attachment: deploy steps depend on it, so on destroy they run before the detach stops the host. */
  attachment: aws.ec2.VolumeAttachment;
  /** How `@pulumi/command` reaches the host. */
  connection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
  /** Done when the host is set up with the current files and agent; deploys depend on it. */
  ready: pulumi.Resource;
}

const DATA_DEVICE_NAME = '/dev/sdf';
const AL2023_PARAMETER = {
  x86_64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  arm64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
};
/** @pulumi/command passes earlier output as environment variables by default; AL2023's sshd refuses them (AcceptEnv). */
const NO_PREVIOUS_OUTPUT_ENV = false;

/**
 * A group of identical Docker hosts on EC2, each set up over SSH to run the host agent
 * Berth ships, ready for ContainerService to deploy to.
 *
 * @example
 * #### Three hosts for services on port 8081
 * ```ts
 * const app = new DockerHostGroup("app", {
 *   env: "prod", count: 3, instanceType: "m7i.large", dataVolumeGiB: 100,
 *   vpcId, subnetIds, adminCidrs: ["10.20.0.0/16"], servicePorts: [8081], serviceIngressCidrs: ["10.20.0.0/16"],
 *   repositoryArns: [authRepositoryArn],
 *   ssh: { privateKey: config.requireSecret("sshPrivateKey"), publicKey: config.require("sshPublicKey") },
 * });
 * new ContainerService("auth-service", { env: "prod", hosts: app.hosts, image, health });
 * ```
 *
 * @example
 * #### Alarms to an on-call topic, data kept when a host goes
 * ```ts
 * new DockerHostGroup("app", { ...args, alarmTopicArn: monitoring.alarmTopicArn, retainDataVolume: true, diskUsagePercent: 90 });
 * ```
 *
 * @example
 * #### Adjust an underlying resource
 * ```ts
 * new DockerHostGroup("app", { ...args, transform: { instance: (instance) => { instance.ebsOptimized = true; } } });
 * ```
 *
 * @remarks
 * Amazon Linux 2023, IMDSv2 only, encrypted root and data volumes, no SSH from the
 * internet, a least-privilege instance role, and the Docker daemon, data-volume mount,
 * scheduled prune and CloudWatch agent configured by the readiness step; alarms per host
 * when `alarmTopicArn` is given. Every host runs the agent shipped with Berth unless
 * `agentScript` names another.
 */
export class DockerHostGroup extends pulumi.ComponentResource {
  readonly hosts: DockerHost[];
  readonly securityGroupId: pulumi.Output<string>;
  readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: DockerHostGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:host:DockerHostGroup', name, {}, opts);
    const project = args.project ?? DEFAULT_PROJECT;
    const tags = berthTags(project, args.env, { 'berth:host-group': name });
    const parent = { parent: this };

    if (!args.ssh) {
      // Every host is configured over SSH; a group deployed some other way would run no agent.
      throw new pulumi.ResourceError(`${name}: ssh is required: the readiness step configures each host over SSH`, this);
    }
    const region = args.region ?? aws.getRegionOutput({}, parent).name;
    const securityGroup = this.securityGroup(name, args, project, tags);
    const { role, profile, rolePolicy } = this.instanceRole(name, args, project, tags);
    const keyPair = new aws.ec2.KeyPair(
      `${name}-ssh`,
      ...applyTransform(
        args.transform?.keyPair,
        `${name}-ssh`,
        { keyNamePrefix: `${envName(project, args.env, name)}-`, publicKey: args.ssh.publicKey, tags },
        { parent: this },
      ),
    );
    const ami =
      args.ami ??
      aws.ssm.getParameterOutput({ name: AL2023_PARAMETER[architectureOf(args.instanceType)] }, parent).value;
    const agentScript = args.agentScript ?? readAgentScript();
    const registryHosts = pulumi.output(args.repositoryArns).apply((arns) => arns.map(registryHostOfRepositoryArn));
    // The bootstrap is the same for every host and every `up`: it changes only with Berth.
    const userData = renderUserData({ project, env: args.env });

    this.hosts = [];
    let previousReady: pulumi.Resource | undefined;
    for (let index = 0; index < args.count; index++) {
      const hostName = `${name}-${index + 1}`;
      const subnetId = args.subnetIds[index % args.subnetIds.length];
      const subnet = aws.ec2.getSubnetOutput({ id: subnetId }, parent);
      const [volumeArgs, volumeOpts] = applyTransform(
        args.transform?.dataVolume,
        `${hostName}-data`,
        {
          availabilityZone: subnet.availabilityZone,
          size: args.dataVolumeGiB,
          type: 'gp3',
          encrypted: true,
          tags: { ...tags, Name: envName(project, args.env, hostName, 'data') },
        },
        { parent: this, retainOnDelete: args.retainDataVolume ?? false },
      );
      const dataVolume = new aws.ebs.Volume(`${hostName}-data`, volumeArgs, volumeOpts);
      const [instanceArgs, instanceOpts] = applyTransform(
        args.transform?.instance,
        hostName,
        {
          ami,
          instanceType: args.instanceType,
          subnetId,
          keyName: keyPair.keyName,
          vpcSecurityGroupIds: [securityGroup.id, ...(args.additionalSecurityGroupIds ?? [])],
          iamInstanceProfile: profile.name,
          associatePublicIpAddress: args.associatePublicIp ?? false,
          metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1, instanceMetadataTags: 'enabled' },
          rootBlockDevice: { encrypted: true, volumeType: 'gp3', volumeSize: args.rootVolumeGiB ?? 30, deleteOnTermination: true },
          userData,
          // User data runs at first boot only: a new bootstrap means a new host, not a stop and start.
          userDataReplaceOnChange: true,
          monitoring: true,
          tags: {
            ...tags,
            Name: envName(project, args.env, hostName),
            ...(args.associatePublicIp && args.publicIpReason ? { 'berth:public-ip-reason': args.publicIpReason } : {}),
          },
        },
        {
          parent: this,
          // One host at a time: a host is created or replaced only once the one before it is
          // set up again, so a rolling replacement never takes the whole group down.
          dependsOn: previousReady ? [previousReady] : [],
        },
      );
      const instance = new aws.ec2.Instance(hostName, instanceArgs, instanceOpts);
      // EC2 attaches a volume to one instance only: the old attachment must go before the new
      // one is made (VolumeInUse otherwise). The detach stops the old instance first.
      const attachment = new aws.ec2.VolumeAttachment(
        `${hostName}-data`,
        ...applyTransform(
          args.transform?.volumeAttachment,
          `${hostName}-data`,
          { instanceId: instance.id, volumeId: dataVolume.id, deviceName: DATA_DEVICE_NAME, stopInstanceBeforeDetaching: true },
          { parent: this, deleteBeforeReplace: true },
        ),
      );
      if (args.alarmTopicArn) {
        this.alarms(hostName, instance, args, project, tags);
      }
      const connection = hostConnection(instance, args.ssh);
      const setup = pulumi.all([dataVolume.id, region, registryHosts]).apply(([volumeId, regionName, hosts]) =>
        renderHostSetup({
          project,
          env: args.env,
          region: regionName,
          logging: withProjectLogGroup(args.logging ?? { driver: 'awslogs' }, project, args.env),
          pruneSchedule: args.pruneSchedule ?? 'daily',
          dataVolume: { volumeId, deviceName: DATA_DEVICE_NAME },
          serviceDirectories: args.serviceDirectories ?? [],
          agentScript,
          registryHosts: hosts,
        }),
      );
      const ready = this.readyStep(hostName, connection, setup, [attachment, rolePolicy], args.transform?.ready);
      this.hosts.push({ name: hostName, instance, dataVolume, attachment, connection, ready });
      previousReady = ready;
    }
    this.securityGroupId = securityGroup.id;
    this.roleArn = role.arn;
    this.registerOutputs({ securityGroupId: this.securityGroupId, roleArn: this.roleArn, instanceIds: this.hosts.map((h) => h.instance.id) });
  }

  private securityGroup(name: string, args: DockerHostGroupArgs, project: string, tags: Record<string, string>): aws.ec2.SecurityGroup {
    const admin = splitCidrs(name, 'adminCidrs', args.adminCidrs ?? [], this);
    if (admin.any) {
      throw new pulumi.ResourceError(`${name}: adminCidrs: SSH is never open to ${admin.any}; name admin networks or a bastion security group`, this);
    }
    const service = splitCidrs(name, 'serviceIngressCidrs', args.serviceIngressCidrs ?? [], this);
    const ingress: aws.types.input.ec2.SecurityGroupIngress[] = [];
    if (admin.v4.length + admin.v6.length > 0) {
      ingress.push({ description: 'SSH from admin networks', protocol: 'tcp', fromPort: 22, toPort: 22, ...cidrFields(admin) });
    }
    if (args.bastionSecurityGroupId) {
      ingress.push({ description: 'SSH from the bastion', protocol: 'tcp', fromPort: 22, toPort: 22, securityGroups: [args.bastionSecurityGroupId] });
    }
    for (const port of [...new Set(args.servicePorts ?? [])].sort((a, b) => a - b)) {
      if (service.v4.length + service.v6.length > 0) {
        ingress.push({ description: `service port ${port}`, protocol: 'tcp', fromPort: port, toPort: port, ...cidrFields(service) });
      }
      if ((args.serviceIngressSecurityGroupIds ?? []).length > 0) {
        ingress.push({ description: `service port ${port} from load balancers`, protocol: 'tcp', fromPort: port, toPort: port, securityGroups: args.serviceIngressSecurityGroupIds });
      }
    }
    const [sgArgs, sgOpts] = applyTransform(
      args.transform?.securityGroup,
      `${name}-hosts`,
      {
        // A prefix, not a name: a replacement is created before the old group is deleted.
        namePrefix: `${envName(project, args.env, name, 'hosts')}-`,
        description: `Berth ${args.env} ${name} Docker hosts`,
        vpcId: args.vpcId,
        ingress,
        // Hosts pull images from ECR and ship logs and metrics to CloudWatch over HTTPS.
        egress: [{ description: 'all outbound', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
        tags: { ...tags, Name: envName(project, args.env, name, 'hosts') },
      },
      { parent: this },
    );
    return new aws.ec2.SecurityGroup(`${name}-hosts`, sgArgs, sgOpts);
  }

  private instanceRole(name: string, args: DockerHostGroupArgs, project: string, tags: Record<string, string>) {
    const [roleArgs, roleOpts] = applyTransform(
      args.transform?.role,
      `${name}-host`,
      {
        namePrefix: `${envName(project, args.env, name, 'host')}-`,
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
        tags,
      },
      { parent: this },
    );
    const role = new aws.iam.Role(`${name}-host`, roleArgs, roleOpts);
    const identity = aws.getCallerIdentityOutput({}, { parent: this });
    const region = aws.getRegionOutput({}, { parent: this });
    const logGroupsArn = pulumi.interpolate`arn:aws:logs:${region.name}:${identity.accountId}:log-group:/${project}/${args.env}/*`;
    const policy = pulumi.all([pulumi.output(args.repositoryArns), logGroupsArn]).apply(([repositoryArns, logGroups]) =>
      hostRolePolicy({ repositoryArns, logGroupsArn: logGroups, metricNamespace: DISK_USED_PERCENT_METRIC.namespace }),
    );
    const rolePolicy = new aws.iam.RolePolicy(`${name}-host`, ...applyTransform(args.transform?.rolePolicy, `${name}-host`, { role: role.id, policy }, { parent: this }));
    const profile = new aws.iam.InstanceProfile(
      `${name}-host`,
      ...applyTransform(args.transform?.instanceProfile, `${name}-host`, { namePrefix: `${envName(project, args.env, name, 'host')}-`, role: role.name, tags }, { parent: this }),
    );
    return { role, profile, rolePolicy };
  }

  private alarms(hostName: string, instance: aws.ec2.Instance, args: DockerHostGroupArgs, project: string, tags: Record<string, string>): void {
    const actions = [args.alarmTopicArn!];
    const alarm = (alarmName: string, alarmArgs: aws.cloudwatch.MetricAlarmArgs) =>
      new aws.cloudwatch.MetricAlarm(alarmName, ...applyTransform(args.transform?.alarm, alarmName, alarmArgs, { parent: this }));
    alarm(
      `${hostName}-status-check`,
      {
        name: envName(project, args.env, hostName, 'status-check'),
        alarmDescription: `Berth ${args.env} ${hostName}: EC2 status check failed`,
        namespace: 'AWS/EC2',
        metricName: 'StatusCheckFailed',
        dimensions: { InstanceId: instance.id },
        statistic: 'Maximum',
        period: 60,
        evaluationPeriods: 2,
        threshold: 1,
        comparisonOperator: 'GreaterThanOrEqualToThreshold',
        // A stopped or just-launched instance reports no status checks: that is not a failure.
        treatMissingData: 'notBreaching',
        alarmActions: actions,
        okActions: actions,
        tags,
      },
    );
    const threshold = args.diskUsagePercent ?? 80;
    for (const [label, path] of [['docker-root', diskMetricPaths(DEFAULT_DATA_MOUNT_POINT)[0]], ['data-volume', DEFAULT_DATA_MOUNT_POINT]] as const) {
      alarm(
        `${hostName}-disk-${label}`,
        {
          name: envName(project, args.env, hostName, 'disk', label),
          alarmDescription: `Berth ${args.env} ${hostName}: ${label === 'docker-root' ? 'Docker root' : 'data volume'} (${path}) above ${threshold}% used`,
          namespace: DISK_USED_PERCENT_METRIC.namespace,
          metricName: DISK_USED_PERCENT_METRIC.metricName,
          dimensions: instance.id.apply((id) => diskUsedPercentDimensions(id, path)),
          statistic: 'Maximum',
          period: 300,
          evaluationPeriods: 1,
          threshold,
          comparisonOperator: 'GreaterThanThreshold',
          treatMissingData: 'missing',
          alarmActions: actions,
          okActions: actions,
          tags,
        },
      );
    }
  }

  /**
   * Sets a host up over SSH: waits for the bootstrap, writes every file the host runs (the
   * agent among them, each checked by sha256), and restarts only what a changed file needs.
   * Everything travels on stdin, so the step runs again, in place, whenever a file or the
   * connection changes (a new host, a new user or bastion); nothing is left on the host for a
   * later run to depend on. A new instance refuses SSH for a while: the connection retries.
   */
  private readyStep(
    hostName: string,
    connection: pulumi.Output<command.types.input.remote.ConnectionArgs>,
    setup: pulumi.Output<string>,
    needs: pulumi.Resource[],
    transform: Transform<command.remote.CommandArgs> | undefined,
  ): pulumi.Resource {
    const run = hostSetupCommand();
    return new command.remote.Command(
      `${hostName}-ready`,
      ...applyTransform(
        transform,
        `${hostName}-ready`,
        { connection, create: run, update: run, stdin: setup, addPreviousOutputInEnv: NO_PREVIOUS_OUTPUT_ENV },
        // The setup mounts the data volume, so it needs the attachment; deploys after it pull, so
        // it waits for the role's pull permission too (a new service's repository is added there).
        { parent: this, dependsOn: needs },
      ),
    );
  }
}

interface SplitCidrs {
  v4: string[];
  v6: string[];
  /** The first CIDR that means the whole internet, if any. */
  any?: string;
}

/** Sorts CIDRs into the IPv4 and IPv6 fields a security group rule has; refuses anything that is not a CIDR. */
function splitCidrs(group: string, key: string, cidrs: string[], parent: pulumi.Resource): SplitCidrs {
  const split: SplitCidrs = { v4: [], v6: [] };
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if ('error' in cidr) {
      throw new pulumi.ResourceError(`${group}: ${key}: ${cidr.error}`, parent);
    }
    (cidr.version === 4 ? split.v4 : split.v6).push(cidr.text);
    split.any ??= cidr.isAnyAddress ? cidr.text : undefined;
  }
  split.v4.sort();
  split.v6.sort();
  return split;
}

function cidrFields(split: SplitCidrs): Pick<aws.types.input.ec2.SecurityGroupIngress, 'cidrBlocks' | 'ipv6CidrBlocks'> {
  return { ...(split.v4.length ? { cidrBlocks: split.v4 } : {}), ...(split.v6.length ? { ipv6CidrBlocks: split.v6 } : {}) };
}

/** The daemon's awslogs group follows the project name, like the role's log-group scope. */
function withProjectLogGroup(logging: HostLoggingConfig, project: string, env: string): HostLoggingConfig {
  return logging.driver === 'awslogs' ? { ...logging, logGroup: logging.logGroup ?? dockerLogGroupName(env, project) } : logging;
}

/** The instance role's inline policy: pull from named repositories, write to the environment's log groups, publish Berth metrics. */
export function hostRolePolicy(args: { repositoryArns: string[]; logGroupsArn: string; metricNamespace: string }): string {
  const statements = ecrPullStatements(args.repositoryArns, 'PullProjectImages');
  statements.push(
    {
      Sid: 'WriteEnvironmentLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      Resource: [args.logGroupsArn, `${args.logGroupsArn}:log-stream:*`],
    },
    {
      Sid: 'PublishHostMetrics',
      Effect: 'Allow',
      Action: ['cloudwatch:PutMetricData'],
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': args.metricNamespace } },
    },
  );
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/**
 * The registry host of an ECR repository ARN, as Docker names it:
 * `arn:aws:ecr:eu-west-1:123456789012:repository/berth/x` -> `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
 */
export function registryHostOfRepositoryArn(arn: string): string {
  const match = /^arn:(aws[a-z-]*):ecr:([a-z0-9-]+):(\d{12}):repository\/.+$/.exec(arn);
  if (!match) {
    throw new Error(`repositoryArns: "${arn}" is not an ECR repository ARN (arn:aws:ecr:<region>:<account>:repository/<name>)`);
  }
  const [, partition, region, account] = match;
  return `${account}.dkr.ecr.${region}.amazonaws.com${partition === 'aws-cn' ? '.cn' : ''}`;
}

function hostConnection(instance: aws.ec2.Instance, ssh: HostSshArgs): pulumi.Output<command.types.input.remote.ConnectionArgs> {
  const host = ssh.usePublicIp ? instance.publicIp : instance.privateIp;
  return pulumi.output({
    host,
    user: ssh.user ?? 'ec2-user',
    privateKey: pulumi.secret(ssh.privateKey),
    // A new instance refuses SSH until sshd is up: keep dialing for ~10 minutes instead of failing.
    dialErrorLimit: 60,
    perDialTimeout: 10,
    ...(ssh.bastion
      ? {
          proxy: {
            host: ssh.bastion.host,
            user: ssh.bastion.user ?? ssh.user ?? 'ec2-user',
            privateKey: pulumi.secret(ssh.bastion.privateKey ?? ssh.privateKey),
            dialErrorLimit: 10,
            // Pinned when given; the provider ignores the key otherwise.
            ...(ssh.bastion.hostKey ? { hostKey: ssh.bastion.hostKey } : {}),
          },
        }
      : {}),
  }) as pulumi.Output<command.types.input.remote.ConnectionArgs>;
}

