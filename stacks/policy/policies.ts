/**
 * Berth's security guardrails as Pulumi policies. They read resource inputs
 * by type token (no provider classes), so they run unchanged under the Pulumi
 * engine (`pulumi preview --policy-pack stacks/policy`), over an offline synth
 * (tools/policy/offline.ts) and in unit tests with hand-built arguments.
 *
 * Exported apart from the pack (index.ts) because constructing a PolicyPack
 * starts the policy server.
 */
import type { Policies, PolicyResource, ReportViolation, ResourceValidation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from '@pulumi/policy';
import { PINNED_ENVIRONMENTS } from '../../components/common/environments';
import { parseImageRef } from '../../components/common/image';
import { checkAgentSpec } from '../../components/service/spec';

export const TYPES = {
  command: 'command:remote:Command',
  instance: 'aws:ec2/instance:Instance',
  volume: 'aws:ebs/volume:Volume',
  securityGroup: 'aws:ec2/securityGroup:SecurityGroup',
  ingressRule: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  securityGroupRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
  repository: 'aws:ecr/repository:Repository',
  lifecyclePolicy: 'aws:ecr/lifecyclePolicy:LifecyclePolicy',
  logGroup: 'aws:cloudwatch/logGroup:LogGroup',
  loadBalancer: 'aws:lb/loadBalancer:LoadBalancer',
  listener: 'aws:lb/listener:Listener',
  listenerRule: 'aws:lb/listenerRule:ListenerRule',
  taskDefinition: 'aws:ecs/taskDefinition:TaskDefinition',
  launchTemplate: 'aws:ec2/launchTemplate:LaunchTemplate',
} as const;

/** The same resources under the provider's older `alb` module: policies treat both alike. */
const LOAD_BALANCER_TYPES: string[] = [TYPES.loadBalancer, 'aws:alb/loadBalancer:LoadBalancer'];
const LISTENER_TYPES: string[] = [TYPES.listener, 'aws:alb/listener:Listener'];
const LISTENER_RULE_TYPES: string[] = [TYPES.listenerRule, 'aws:alb/listenerRule:ListenerRule'];

/** Tag on an instance that explains why a prod host has a public IP. */
export const PUBLIC_IP_REASON_TAG = 'berth:public-ip-reason';
const DOCKER_SOCKET = /(^|\/)(var\/)?run\/docker\.sock(:|$)/;
const OPEN_TO_WORLD = ['0.0.0.0/0', '::/0'];
const SSH_PORT = 22;
/** The only ports anyone may reach from anywhere: an internet-facing load balancer's. */
const PUBLIC_LB_PORTS = [80, 443];
/** Capabilities that make a container root on its host; Docker also takes them with a `CAP_` prefix, in any case. */
const ROOT_CAPABILITIES = /^(CAP_)?(SYS_ADMIN|ALL)$/i;
/** A task definition has no way to say why it needs root on the host, so nothing exempts it. */
const NO_ECS_EXEMPTION = '(a task definition has no allowPrivilegedReason to exempt it)';

/** Policy configuration (`pulumi policy enable … --config`, or the defaults below). */
export interface BerthPolicyConfig {
  /** Stacks whose containers must be pinned by digest. @default ["stage", "prod"] */
  pinnedStacks?: string[];
  /** Stacks where hosts get no public IP without a reason tag. @default ["prod"] */
  prodStacks?: string[];
}

const configSchema = {
  properties: {
    pinnedStacks: { type: 'array' as const, items: { type: 'string' as const }, default: [...PINNED_ENVIRONMENTS] },
    prodStacks: { type: 'array' as const, items: { type: 'string' as const }, default: ['prod'] },
  },
};

/** The stack a URN belongs to: `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export function stackOf(urn: string): string {
  const match = /^urn:pulumi:([^:]+)::/.exec(urn);
  return match ? match[1] : '';
}

/** Whether the stack is one of `names`; a qualified name like `acme-prod` counts when it ends in `-prod`. */
function stackIn(urn: string, names: string[]): boolean {
  const stack = stackOf(urn);
  return names.some((name) => stack === name || stack.endsWith(`-${name}`) || stack.endsWith(`.${name}`));
}

function configOf(args: { getConfig<T extends object>(): T }): Required<BerthPolicyConfig> {
  let config: BerthPolicyConfig = {};
  try {
    config = args.getConfig<BerthPolicyConfig>() ?? {};
  } catch {
    config = {};
  }
  return { pinnedStacks: config.pinnedStacks ?? [...PINNED_ENVIRONMENTS], prodStacks: config.prodStacks ?? ['prod'] };
}

/** The host agent's container spec, sent as JSON on a Command's stdin; undefined when stdin is not one. */
export interface AgentSpec {
  name?: string;
  image?: string;
  privileged?: boolean;
  dockerSocket?: boolean;
  volumes?: unknown[];
  allowPrivilegedReason?: string;
}

/**
 * The agent spec a Command sends: its stdin; or, when stdin is a secret the
 * policy cannot read (offline synth shows "[secret]"), the part of it the
 * deploy command line carries for reviewers: the image after `--expect-image`,
 * which the agent checks against the spec it receives.
 */
export function agentSpecOf(props: Record<string, any>): AgentSpec | undefined {
  const spec = parseSpec(props?.stdin);
  if (spec) {
    return spec;
  }
  const image = typeof props?.create === 'string' ? /(?:^|\s)--expect-image\s+(\S+)/.exec(props.create)?.[1] : undefined;
  return image === undefined ? undefined : { image };
}

function parseSpec(text: unknown): AgentSpec | undefined {
  if (typeof text !== 'string') {
    return undefined;
  }
  try {
    const spec = JSON.parse(text) as unknown;
    return spec && typeof spec === 'object' && !Array.isArray(spec) && 'image' in spec ? (spec as AgentSpec) : undefined;
  } catch {
    return undefined;
  }
}

/** A volume's host side: `"/host:/container[:ro]"` or `{ source | hostPath | host }`. */
function volumeSource(volume: unknown): string {
  if (typeof volume === 'string') {
    return volume.split(':')[0];
  }
  if (volume && typeof volume === 'object') {
    const record = volume as Record<string, unknown>;
    return String(record.source ?? record.hostPath ?? record.host ?? '');
  }
  return '';
}

function forType(type: string, validate: (args: ResourceValidationArgs, report: ReportViolation) => void): ResourceValidation {
  return (args, reportViolation) => {
    if (args.type === type) {
      validate(args, reportViolation);
    }
  };
}

function forTypes(types: string[], validate: (args: ResourceValidationArgs, report: ReportViolation) => void): ResourceValidation {
  return (args, reportViolation) => {
    if (types.includes(args.type)) {
      validate(args, reportViolation);
    }
  };
}

const UNKNOWN = Symbol('unknown');

/**
 * `read()`, or UNKNOWN when it reads a value a preview cannot know yet (an
 * output of a resource not created yet). The engine's input proxy then throws
 * @pulumi/policy's UnknownValueError, a class the package exports without its
 * type, hence the test by name. Caught, so that the value yields no violation,
 * and an unknown input of one resource does not end a stack policy for all.
 */
function readKnown<T>(read: () => T): T | typeof UNKNOWN {
  try {
    return read();
  } catch (error) {
    if (error instanceof Error && error.constructor.name === 'UnknownValueError') {
      return UNKNOWN;
    }
    throw error;
  }
}

function arrayOf(value: unknown): any[] {
  return Array.isArray(value) ? value : [];
}

/** One container of an ECS task definition: the fields of its container definition the policies read. */
export interface EcsContainer {
  name?: string;
  image?: string;
  privileged?: boolean;
  mountPoints?: { sourceVolume?: string; containerPath?: string }[];
  linuxParameters?: { capabilities?: { add?: string[] } };
  logConfiguration?: { logDriver?: string; options?: Record<string, string> };
}

/**
 * The containers of a task definition (its containerDefinitions, a JSON
 * string); undefined while they cannot be known. In a preview the whole string
 * is unknown as soon as one part of it is an output not known yet (offline
 * synth shows "[unknown]"), and then no policy can say anything about them.
 */
export function taskContainers(props: Record<string, any>): EcsContainer[] | undefined {
  const text = readKnown(() => props.containerDefinitions);
  if (typeof text !== 'string') {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? parsed.filter((container): container is EcsContainer => Boolean(container) && typeof container === 'object') : undefined;
  } catch {
    return undefined;
  }
}

function containerName(container: EcsContainer): string {
  return typeof container.name === 'string' ? container.name : '(unnamed)';
}

/** Whether an image reference names a digest: one rule for the host agent's containers and for ECS's. */
function pinnedByDigest(image: unknown): boolean {
  const ref = typeof image === 'string' ? parseImageRef(image) : undefined;
  return ref !== undefined && !('error' in ref) && ref.digest !== undefined;
}

/**
 * Dev's host agent may follow a tag (it resolves it at deploy time), so the
 * agent's containers are checked in the pinned stacks only. On ECS, dev's tags
 * are resolved to a digest before the task definition is written: a tag there
 * is a bug in any stack.
 */
export const imagesPinnedByDigest: ResourceValidationPolicy = {
  name: 'berth-images-pinned-by-digest',
  description:
    'Every container runs an image pinned by digest (repo@sha256:<64 hex>), never a tag: in stage and prod those the host agent runs, in every stack those of an ECS task definition.',
  enforcementLevel: 'mandatory',
  configSchema,
  validateResource: [
    forType(TYPES.command, (args, report) => {
      const spec = agentSpecOf(args.props);
      if (spec && stackIn(args.urn, configOf(args).pinnedStacks) && !pinnedByDigest(spec.image)) {
        report(`${args.name}: container ${spec.name ?? '(unnamed)'} runs image ${JSON.stringify(spec.image)}, not pinned by digest; ${stackOf(args.urn)} runs only repo@sha256:<64 hex>`);
      }
    }),
    forType(TYPES.taskDefinition, (args, report) => {
      for (const container of taskContainers(args.props) ?? []) {
        if (!pinnedByDigest(container.image)) {
          report(
            `${args.name}: container ${containerName(container)} runs image ${JSON.stringify(container.image ?? null)}, not pinned by digest; a task definition runs only repo@sha256:<64 hex>, in every stack (resolve the tag to its digest before writing it)`,
          );
        }
      }
    }),
  ],
};

export const imdsv2Required: ResourceValidationPolicy = {
  name: 'berth-imdsv2-required',
  description: 'EC2 instances and launch templates require IMDSv2 session tokens (metadataOptions.httpTokens = "required").',
  enforcementLevel: 'mandatory',
  validateResource: forTypes([TYPES.instance, TYPES.launchTemplate], (args, report) => {
    const tokens = args.props.metadataOptions?.httpTokens;
    if (tokens !== 'required') {
      report(`${args.name}: metadataOptions.httpTokens is ${JSON.stringify(tokens ?? null)}; IMDSv2 needs "required"`);
    }
  }),
};

/**
 * A launch template does not say which of its mappings is the root device (that
 * is the AMI's), so every EBS volume it maps must be encrypted, and one that
 * maps none leaves the root volume to the AMI's snapshot.
 */
export const encryptedRootVolume: ResourceValidationPolicy = {
  name: 'berth-encrypted-root-volume',
  description:
    'EC2 instances have an encrypted root volume (rootBlockDevice.encrypted = true); launch templates map the root device and encrypt every EBS volume they map (blockDeviceMappings[].ebs.encrypted = "true").',
  enforcementLevel: 'mandatory',
  validateResource: [
    forType(TYPES.instance, (args, report) => {
      if (args.props.rootBlockDevice?.encrypted !== true) {
        report(`${args.name}: root volume is not encrypted; set rootBlockDevice.encrypted to true`);
      }
    }),
    forType(TYPES.launchTemplate, (args, report) => {
      const mappings = arrayOf(args.props.blockDeviceMappings);
      if (!mappings.some((mapping) => mapping?.ebs)) {
        report(`${args.name}: launch template maps no EBS volume, so nothing encrypts the root volume; add blockDeviceMappings for the AMI's root device with ebs.encrypted "true"`);
      }
      mappings.forEach((mapping, index) => {
        // The provider takes `encrypted` as a string here; true is what a reader would write.
        const encrypted = mapping?.ebs?.encrypted;
        if (mapping?.ebs && encrypted !== true && encrypted !== 'true') {
          const device = typeof mapping.deviceName === 'string' ? mapping.deviceName : `blockDeviceMappings[${index}]`;
          report(`${args.name}: EBS volume ${device} is not encrypted; set blockDeviceMappings[${index}].ebs.encrypted to "true"`);
        }
      });
    }),
  ],
};

export const encryptedDataVolume: ResourceValidationPolicy = {
  name: 'berth-encrypted-data-volume',
  description: 'EBS data volumes are encrypted.',
  enforcementLevel: 'mandatory',
  validateResource: forType(TYPES.volume, (args, report) => {
    if (args.props.encrypted !== true) {
      report(`${args.name}: EBS volume is not encrypted; set encrypted to true`);
    }
  }),
};

interface IngressLike {
  protocol?: string;
  fromPort?: number;
  toPort?: number;
  cidrs: string[];
}

function opensSshToWorld(rule: IngressLike): string | undefined {
  const protocol = String(rule.protocol ?? '').toLowerCase();
  const allProtocols = protocol === '-1' || protocol === 'all';
  if (!allProtocols && protocol !== 'tcp' && protocol !== '6') {
    return undefined;
  }
  const from = typeof rule.fromPort === 'number' ? rule.fromPort : 0;
  const to = typeof rule.toPort === 'number' ? rule.toPort : 65535;
  if (!allProtocols && !(from <= SSH_PORT && SSH_PORT <= to)) {
    return undefined;
  }
  return rule.cidrs.find((cidr) => OPEN_TO_WORLD.includes(cidr));
}

export const noSshFromInternet: ResourceValidationPolicy = {
  name: 'berth-no-ssh-from-internet',
  description: 'No security group lets SSH (port 22) in from 0.0.0.0/0 or ::/0; use admin CIDRs or a bastion security group.',
  enforcementLevel: 'mandatory',
  validateResource: forTypes([TYPES.securityGroup, TYPES.ingressRule, TYPES.securityGroupRule], (args, report) => {
    const rules: IngressLike[] = [];
    if (args.type === TYPES.securityGroup) {
      for (const rule of (args.props.ingress ?? []) as Record<string, any>[]) {
        rules.push({ protocol: rule.protocol, fromPort: rule.fromPort, toPort: rule.toPort, cidrs: [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])] });
      }
    } else if (args.type === TYPES.ingressRule) {
      const props = args.props;
      rules.push({ protocol: props.ipProtocol, fromPort: props.fromPort, toPort: props.toPort, cidrs: [props.cidrIpv4, props.cidrIpv6].filter((cidr): cidr is string => typeof cidr === 'string') });
    } else if (args.props.type === 'ingress') {
      const props = args.props;
      rules.push({ protocol: props.protocol, fromPort: props.fromPort, toPort: props.toPort, cidrs: [...(props.cidrBlocks ?? []), ...(props.ipv6CidrBlocks ?? [])] });
    }
    for (const rule of rules) {
      const open = opensSshToWorld(rule);
      if (open) {
        report(`${args.name}: ingress ${rule.protocol} ${rule.fromPort ?? '*'}-${rule.toPort ?? '*'} from ${open} opens SSH to the internet`);
      }
    }
  }),
};

export const noPublicIpInProd: ResourceValidationPolicy = {
  name: 'berth-no-public-ip-in-prod',
  description: `Prod instances get no public IP unless tagged ${PUBLIC_IP_REASON_TAG} with the reason.`,
  enforcementLevel: 'mandatory',
  configSchema,
  validateResource: forType(TYPES.instance, (args, report) => {
    if (args.props.associatePublicIpAddress !== true || !stackIn(args.urn, configOf(args).prodStacks)) {
      return;
    }
    const reason = args.props.tags?.[PUBLIC_IP_REASON_TAG];
    if (typeof reason !== 'string' || reason.trim() === '') {
      report(`${args.name}: prod instance has a public IP (associatePublicIpAddress) and no ${PUBLIC_IP_REASON_TAG} tag saying why`);
    }
  }),
};

export const ecrScanOnPush: ResourceValidationPolicy = {
  name: 'berth-ecr-scan-on-push',
  description: 'ECR repositories scan every image on push.',
  enforcementLevel: 'mandatory',
  validateResource: forType(TYPES.repository, (args, report) => {
    if (args.props.imageScanningConfiguration?.scanOnPush !== true) {
      report(`${args.name}: ECR repository does not scan on push; set imageScanningConfiguration.scanOnPush to true`);
    }
  }),
};

/** The name a repository is known by: its `name` input, else its resource name. */
function repositoryName(resource: { props: Record<string, any>; name: string }): string {
  return typeof resource.props.name === 'string' ? resource.props.name : resource.name;
}

export const ecrLifecyclePolicy: StackValidationPolicy = {
  name: 'berth-ecr-lifecycle-policy',
  description: 'Every ECR repository has a lifecycle policy, so old images expire.',
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    const lifecycles = args.resources.filter((resource) => resource.type === TYPES.lifecyclePolicy);
    const covers = (lifecycle: PolicyResource, repository: PolicyResource) =>
      lifecycle.props.repository === repositoryName(repository) || (lifecycle.parent !== undefined && lifecycle.parent.urn === repository.urn);
    for (const repository of args.resources.filter((resource) => resource.type === TYPES.repository)) {
      if (!lifecycles.some((lifecycle) => covers(lifecycle, repository))) {
        report(`${repository.name}: ECR repository ${repositoryName(repository)} has no lifecycle policy (aws.ecr.LifecyclePolicy with repository = ${repositoryName(repository)})`, repository.urn);
      }
    }
  },
};

/** Whether a log group's retentionInDays expires its logs (0 or none: never). */
function hasRetention(days: unknown): boolean {
  return typeof days === 'number' && days > 0;
}

export const logRetention: ResourceValidationPolicy = {
  name: 'berth-log-retention',
  description: 'CloudWatch log groups set a retention period (retentionInDays), so logs do not grow forever.',
  enforcementLevel: 'mandatory',
  validateResource: forType(TYPES.logGroup, (args, report) => {
    if (!hasRetention(args.props.retentionInDays)) {
      report(`${args.name}: log group has no retention; set retentionInDays`);
    }
  }),
};

/** Host directories that hold the Docker socket: mounting one mounts the socket. */
const DOCKER_SOCKET_DIRECTORIES = ['/', '/run', '/var', '/var/run'];

/** Whether a host path is the Docker socket or a directory it is in. */
function exposesDockerSocket(hostPath: string): boolean {
  const path = hostPath.replace(/\/+$/, '') || '/';
  return DOCKER_SOCKET.test(path) || DOCKER_SOCKET_DIRECTORIES.includes(path);
}

/**
 * The task volumes that expose the Docker socket (the socket, or a directory it is in), by name,
 * with their host path: the provider's `hostPath`, or `host.sourcePath` as the ECS API and its
 * JSON spell it. EFS and Docker volumes have neither.
 */
function dockerSocketVolumes(volumes: unknown): Map<string, string> {
  const sockets = new Map<string, string>();
  for (const volume of arrayOf(volumes)) {
    const hostPath = volume?.hostPath ?? volume?.host?.sourcePath;
    if (typeof volume?.name === 'string' && typeof hostPath === 'string' && exposesDockerSocket(hostPath)) {
      sockets.set(volume.name, hostPath);
    }
  }
  return sockets;
}

export const noPrivilegedContainers: ResourceValidationPolicy = {
  name: 'berth-no-privileged-containers',
  description:
    'Containers run unprivileged and without the Docker socket, unless the agent spec says why (allowPrivilegedReason); containers of an ECS task definition also add no SYS_ADMIN or ALL capability, and nothing exempts them.',
  enforcementLevel: 'mandatory',
  validateResource: [
    forType(TYPES.command, (args, report) => {
      const spec = agentSpecOf(args.props);
      if (!spec || (typeof spec.allowPrivilegedReason === 'string' && spec.allowPrivilegedReason.trim() !== '')) {
        return;
      }
      const container = spec.name ?? '(unnamed)';
      if (spec.privileged === true) {
        report(`${args.name}: container ${container} is privileged; drop privileged or set allowPrivilegedReason`);
      }
      const socket = (spec.volumes ?? []).map(volumeSource).find((source) => DOCKER_SOCKET.test(source));
      if (spec.dockerSocket === true || socket) {
        report(`${args.name}: container ${container} mounts the Docker socket${socket ? ` (${socket})` : ''}; remove it or set allowPrivilegedReason`);
      }
    }),
    forType(TYPES.taskDefinition, (args, report) => {
      const containers = taskContainers(args.props);
      if (!containers) {
        return;
      }
      // Volumes a preview cannot know yet are checked when they are known, at update.
      const known = readKnown(() => dockerSocketVolumes(args.props.volumes));
      const sockets = known === UNKNOWN ? new Map<string, string>() : known;
      for (const container of containers) {
        const name = containerName(container);
        if (container.privileged === true) {
          report(`${args.name}: container ${name} is privileged; drop privileged ${NO_ECS_EXEMPTION}`);
        }
        for (const mount of arrayOf(container.mountPoints)) {
          const socket = sockets.get(mount?.sourceVolume);
          if (socket) {
            report(`${args.name}: container ${name} mounts the Docker socket (${socket}, task volume ${mount.sourceVolume}); remove the mount ${NO_ECS_EXEMPTION}`);
          }
        }
        for (const capability of arrayOf(container.linuxParameters?.capabilities?.add)) {
          if (ROOT_CAPABILITIES.test(String(capability))) {
            report(`${args.name}: container ${name} adds capability ${capability}; remove it from linuxParameters.capabilities.add ${NO_ECS_EXEMPTION}`);
          }
        }
      }
    }),
  ],
};

const HOST_NAMESPACES = [
  { field: 'networkMode', shares: "the host's network stack", instead: 'use "bridge"' },
  { field: 'pidMode', shares: "the host's processes", instead: 'leave pidMode unset, or "task"' },
  { field: 'ipcMode', shares: "the host's shared memory", instead: 'leave ipcMode unset, or "task" or "none"' },
] as const;

export const noHostNamespaces: ResourceValidationPolicy = {
  name: 'berth-no-host-namespaces',
  description: 'ECS task definitions keep their containers out of the host\'s namespaces: networkMode, pidMode and ipcMode are never "host".',
  enforcementLevel: 'mandatory',
  validateResource: forType(TYPES.taskDefinition, (args, report) => {
    for (const { field, shares, instead } of HOST_NAMESPACES) {
      if (readKnown(() => args.props[field]) === 'host') {
        report(`${args.name}: ${field} is "host", so its containers share ${shares}; ${instead}`);
      }
    }
  }),
};

/** The log group a container's awslogs driver writes to, when it names one. */
function awslogsGroup(container: EcsContainer): string | undefined {
  const group = container.logConfiguration?.logDriver === 'awslogs' ? container.logConfiguration.options?.['awslogs-group'] : undefined;
  return nonEmptyString(group) ? group : undefined;
}

export const ecsAwslogs: ResourceValidationPolicy = {
  name: 'berth-ecs-awslogs',
  description: 'Every container of an ECS task definition logs to CloudWatch: logConfiguration.logDriver "awslogs" with an awslogs-group option.',
  enforcementLevel: 'mandatory',
  validateResource: forType(TYPES.taskDefinition, (args, report) => {
    for (const container of taskContainers(args.props) ?? []) {
      const driver = container.logConfiguration?.logDriver;
      if (driver !== 'awslogs') {
        const using = typeof driver === 'string' ? `log driver ${JSON.stringify(driver)}` : 'no log driver';
        report(`${args.name}: container ${containerName(container)} has ${using}; set logConfiguration.logDriver to "awslogs" with an awslogs-group option`);
      } else if (awslogsGroup(container) === undefined) {
        report(`${args.name}: container ${containerName(container)} logs with awslogs to no log group; set logConfiguration.options["awslogs-group"]`);
      }
    }
  }),
};

/**
 * A stack policy, to find the group by name among the stack's resources. A
 * group the stack does not declare is one nobody set a retention on (awslogs
 * creates groups that keep logs forever). Containers without an awslogs group
 * are berth-ecs-awslogs' to report; retention is read with berth-log-retention's rule.
 */
export const ecsLogGroupRetention: StackValidationPolicy = {
  name: 'berth-ecs-log-group-retention',
  description: 'The log group each ECS container writes to (awslogs-group) is an aws.cloudwatch.LogGroup declared in the same stack, with retentionInDays set.',
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    const groups = new Map<string, PolicyResource>();
    // A group whose name a preview cannot know yet may be the one a container names.
    let someNameUnknown = false;
    for (const group of args.resources.filter((resource) => resource.type === TYPES.logGroup)) {
      const name = readKnown(() => group.props.name);
      if (name === UNKNOWN) {
        someNameUnknown = true;
      } else if (typeof name === 'string' && !groups.has(name)) {
        groups.set(name, group);
      }
    }
    for (const task of args.resources.filter((resource) => resource.type === TYPES.taskDefinition)) {
      for (const container of taskContainers(task.props) ?? []) {
        const name = awslogsGroup(container);
        if (name === undefined) {
          continue;
        }
        const group = groups.get(name);
        if (!group) {
          if (!someNameUnknown) {
            report(`${task.name}: container ${containerName(container)} logs to log group ${name}, which this stack does not declare; declare it (aws.cloudwatch.LogGroup with name = ${name}) with retentionInDays`, task.urn);
          }
          continue;
        }
        const days = readKnown(() => group.props.retentionInDays);
        if (days !== UNKNOWN && !hasRetention(days)) {
          report(`${task.name}: container ${containerName(container)} logs to log group ${name} (${group.name}), which has no retention; set retentionInDays on ${group.name}`, task.urn);
        }
      }
    }
  },
};

export const agentSpecValid: ResourceValidationPolicy = {
  name: 'berth-agent-spec-valid',
  description: 'Every container spec a deploy step sends is one the host agent accepts (the schema both share), so no deploy is refused on the host.',
  enforcementLevel: 'mandatory',
  validateResource: forType(TYPES.command, (args, report) => {
    const spec = parseSpec(args.props?.stdin);
    if (!spec) {
      return;
    }
    for (const problem of checkAgentSpec(spec).problems ?? []) {
      report(`${args.name}: the host agent would refuse this spec: ${problem}`);
    }
  }),
};

/** The resources an input of `resource` takes values from (the engine's propertyDependencies), of the given types. */
function dependenciesOf(resource: PolicyResource, property: string, types: string[]): PolicyResource[] {
  return (resource.propertyDependencies?.[property] ?? []).filter((dependency) => types.includes(dependency.type));
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

const BUCKET_TYPES = ['aws:s3/bucket:Bucket', 'aws:s3/bucketV2:BucketV2'];

/**
 * A stack policy, to see where the bucket comes from: a bucket this stack
 * declares is named by the bucket's output, unknown in a preview (and absent
 * offline) until the bucket exists, so its name is not read; the input's
 * dependency on the bucket (propertyDependencies.accessLogs) says it is there.
 */
export const loadBalancerAccessLogs: StackValidationPolicy = {
  name: 'berth-lb-access-logs',
  description: 'Load balancers write access logs to an S3 bucket (accessLogs.enabled = true, with a bucket named or declared in the stack).',
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    for (const balancer of args.resources.filter((resource) => LOAD_BALANCER_TYPES.includes(resource.type))) {
      const logs = balancer.props.accessLogs;
      if (logs?.enabled !== true) {
        report(`${balancer.name}: load balancer access logs are off; set accessLogs.enabled to true and accessLogs.bucket`, balancer.urn);
      } else if (dependenciesOf(balancer, 'accessLogs', BUCKET_TYPES).length === 0 && !nonEmptyString(logs.bucket)) {
        report(`${balancer.name}: load balancer access logs name no bucket; set accessLogs.bucket`, balancer.urn);
      }
    }
  },
};

export const loadBalancerDeletionProtection: ResourceValidationPolicy = {
  name: 'berth-lb-deletion-protection-in-prod',
  description: 'Prod load balancers have deletion protection on (enableDeletionProtection = true).',
  enforcementLevel: 'mandatory',
  configSchema,
  validateResource: forTypes(LOAD_BALANCER_TYPES, (args, report) => {
    if (args.props.enableDeletionProtection !== true && stackIn(args.urn, configOf(args).prodStacks)) {
      report(`${args.name}: prod load balancer has no deletion protection; set enableDeletionProtection to true`);
    }
  }),
};

/** `HTTP` when unset: what an application load balancer's listener defaults to. */
function listenerProtocol(listener: PolicyResource): string {
  return typeof listener.props.protocol === 'string' ? listener.props.protocol.toUpperCase() : 'HTTP';
}

/** Actions that answer only with a redirect to HTTPS (authentication may come first). */
function redirectsToHttps(actions: unknown): boolean {
  const list = (Array.isArray(actions) ? actions : []).filter((action: any) => !String(action?.type ?? '').startsWith('authenticate'));
  return list.length > 0 && list.every((action: any) => action?.type === 'redirect' && String(action.redirect?.protocol ?? '').toUpperCase() === 'HTTPS');
}

/** A listener's load balancer, and how the policy names it when it reports. */
function listenerSite(listener: PolicyResource): { internal: boolean; where: string } {
  const balancer = dependenciesOf(listener, 'loadBalancerArn', LOAD_BALANCER_TYPES)[0];
  if (!balancer) {
    return { internal: false, where: 'a load balancer this stack does not declare (counted as internet-facing)' };
  }
  return { internal: balancer.props.internal === true, where: `internet-facing load balancer ${balancer.name}` };
}

export const httpsOnly: StackValidationPolicy = {
  name: 'berth-lb-https-only',
  description:
    'Every listener of an internet-facing load balancer is HTTPS (or TLS) with a certificate, or HTTP that only redirects to HTTPS, with no listener rule serving plain HTTP; an internal load balancer may serve HTTP.',
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    for (const listener of args.resources.filter((resource) => LISTENER_TYPES.includes(resource.type))) {
      const { internal, where } = listenerSite(listener);
      if (internal) {
        continue;
      }
      const protocol = listenerProtocol(listener);
      const port = listener.props.port ?? '(unset)';
      if (protocol === 'HTTPS' || protocol === 'TLS') {
        if (!nonEmptyString(listener.props.certificateArn)) {
          report(`${listener.name}: ${protocol} listener on port ${port} of ${where} has no certificateArn`, listener.urn);
        }
      } else if (protocol === 'HTTP') {
        if (!redirectsToHttps(listener.props.defaultActions)) {
          report(`${listener.name}: HTTP listener on port ${port} of ${where} serves plain HTTP; make it HTTPS with a certificate, or redirect to HTTPS (defaultActions: redirect with protocol HTTPS)`, listener.urn);
        }
      } else {
        report(`${listener.name}: ${protocol} listener on port ${port} of ${where}; only HTTPS with a certificate, or HTTP redirecting to HTTPS, may face the internet`, listener.urn);
      }
    }
    for (const rule of args.resources.filter((resource) => LISTENER_RULE_TYPES.includes(resource.type))) {
      const listener = dependenciesOf(rule, 'listenerArn', LISTENER_TYPES)[0];
      if (!listener || listenerProtocol(listener) !== 'HTTP' || listenerSite(listener).internal || redirectsToHttps(rule.props.actions)) {
        continue;
      }
      report(`${rule.name}: rule on HTTP listener ${listener.name} of ${listenerSite(listener).where} serves plain HTTP; put it on the HTTPS listener, or redirect to HTTPS`, rule.urn);
    }
  },
};

/** An ingress rule open to the world, and the security group it belongs to. */
interface WorldIngress {
  resource: PolicyResource;
  group: PolicyResource | undefined;
  rule: IngressLike;
  open: string;
}

function worldIngress(resources: PolicyResource[]): WorldIngress[] {
  const found: WorldIngress[] = [];
  const add = (resource: PolicyResource, group: PolicyResource | undefined, rule: IngressLike) => {
    const open = rule.cidrs.find((cidr) => OPEN_TO_WORLD.includes(cidr));
    if (open) {
      found.push({ resource, group, rule, open });
    }
  };
  for (const resource of resources) {
    const props = resource.props;
    if (resource.type === TYPES.securityGroup) {
      for (const rule of (props.ingress ?? []) as Record<string, any>[]) {
        add(resource, resource, { protocol: rule.protocol, fromPort: rule.fromPort, toPort: rule.toPort, cidrs: [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])] });
      }
    } else if (resource.type === TYPES.ingressRule) {
      const group = dependenciesOf(resource, 'securityGroupId', [TYPES.securityGroup])[0];
      add(resource, group, { protocol: props.ipProtocol, fromPort: props.fromPort, toPort: props.toPort, cidrs: [props.cidrIpv4, props.cidrIpv6].filter((cidr): cidr is string => typeof cidr === 'string') });
    } else if (resource.type === TYPES.securityGroupRule && props.type === 'ingress') {
      const group = dependenciesOf(resource, 'securityGroupId', [TYPES.securityGroup])[0];
      add(resource, group, { protocol: props.protocol, fromPort: props.fromPort, toPort: props.toPort, cidrs: [...(props.cidrBlocks ?? []), ...(props.ipv6CidrBlocks ?? [])] });
    }
  }
  return found;
}

/** The ports a rule opens, or undefined for ICMP (no port). `-1`/`all` is every port. */
function portRange(rule: IngressLike): { protocol: string; from: number; to: number } | undefined {
  const protocol = String(rule.protocol ?? '').toLowerCase();
  if (['icmp', '1', 'icmpv6', '58'].includes(protocol)) {
    return undefined;
  }
  if (protocol === '-1' || protocol === 'all') {
    return { protocol, from: 0, to: 65535 };
  }
  return { protocol, from: typeof rule.fromPort === 'number' ? rule.fromPort : 0, to: typeof rule.toPort === 'number' ? rule.toPort : 65535 };
}

export const noServicePortFromInternet: StackValidationPolicy = {
  name: 'berth-no-service-port-from-internet',
  description:
    "No security group lets a port in from 0.0.0.0/0 or ::/0, except 80 and 443 (TCP) on an internet-facing load balancer's security group; hosts take service ports from the load balancer's security group and named CIDRs.",
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    const balancerOf = new Map<string, PolicyResource>();
    for (const balancer of args.resources.filter((resource) => LOAD_BALANCER_TYPES.includes(resource.type))) {
      for (const group of dependenciesOf(balancer, 'securityGroups', [TYPES.securityGroup])) {
        // A group shared by an internal and an internet-facing load balancer counts as internal's: it must be closed.
        const known = balancerOf.get(group.urn);
        if (!known || balancer.props.internal === true) {
          balancerOf.set(group.urn, balancer);
        }
      }
    }
    for (const { resource, group, rule, open } of worldIngress(args.resources)) {
      const range = portRange(rule);
      if (!range || (range.protocol !== '-1' && range.protocol !== 'all' && range.from === SSH_PORT && range.to === SSH_PORT)) {
        // No port (ICMP), or SSH alone: berth-no-ssh-from-internet reports that one.
        continue;
      }
      const balancer = group ? balancerOf.get(group.urn) : undefined;
      const tcp = range.protocol === 'tcp' || range.protocol === '6';
      const publicPorts = tcp && range.from === range.to && PUBLIC_LB_PORTS.includes(range.from);
      if (balancer && balancer.props.internal !== true && publicPorts) {
        continue;
      }
      const opened = `${resource.name}: ingress ${rule.protocol} ${rule.fromPort ?? '*'}-${rule.toPort ?? '*'} from ${open}`;
      if (!balancer) {
        report(`${opened} opens a service port to the internet; allow it from the load balancer's security group or named CIDRs`, resource.urn);
      } else if (balancer.props.internal === true) {
        report(`${opened} opens internal load balancer ${balancer.name} to the internet; allow its listeners from named CIDRs`, resource.urn);
      } else {
        report(`${opened} on internet-facing load balancer ${balancer.name}: only TCP 80 and 443 may be open to anyone`, resource.urn);
      }
    }
  },
};

export const policies: Policies = [
  imagesPinnedByDigest,
  imdsv2Required,
  encryptedRootVolume,
  encryptedDataVolume,
  noSshFromInternet,
  noPublicIpInProd,
  ecrScanOnPush,
  ecrLifecyclePolicy,
  logRetention,
  noPrivilegedContainers,
  agentSpecValid,
  loadBalancerAccessLogs,
  loadBalancerDeletionProtection,
  httpsOnly,
  noServicePortFromInternet,
  noHostNamespaces,
  ecsAwslogs,
  ecsLogGroupRetention,
];
