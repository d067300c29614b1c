/**
 * Typed, validated stack configuration. Everything that differs between
 * environments is read from `Pulumi.<env>.yaml`, checked here as a whole, and
 * every problem of one file is reported at once — before any resource is
 * declared — as `Pulumi.<env>.yaml: berth:<key path>: <what was expected>`.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { z } from 'zod';
import { hasRegistryHost, parseEcrHost, parseImageRef, splitRegistryHost } from '../../components/common/image';
import { isName, NAME_MAX_LENGTH, nameProblem } from '../../components/common/names';
import { publishedHostPort } from '../../components/common/ports';
import { repositoryName } from '../../components/registry/contract';
import { sortedRecord, stackFileName } from '../../components/common/records';
import { SECRET_MASK } from '../../components/common/secret';
import { EC2_KEY_PAIR_TYPES, parseSshPublicKey, publicKeyMatchesPrivate } from '../../components/common/sshKeys';
import { isInstanceType, isSystemdCalendar, parseCidr } from '../../components/host/validate';
import { catalogue as defaultCatalogue, CatalogueService } from './catalogue';

export const ENVIRONMENTS = ['dev', 'test', 'stage', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];
/** Environments that run only images pinned by digest, straight from config. */
export const PINNED_ENVIRONMENTS: readonly EnvironmentName[] = ['stage', 'prod'];
/** Root of the project: where `Pulumi.<env>.yaml` and `stacks/` live. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
/** Where per-service, per-environment application config files live, relative to the project root: `<this>/<service>/<file>`. */
export const SERVICE_CONFIG_PATH = 'stacks/env/service-config';
/** The same folder in this checkout. */
export const SERVICE_CONFIG_DIR = path.join(PROJECT_ROOT, ...SERVICE_CONFIG_PATH.split('/'));
export const CONFIG_NAMESPACE = 'berth';

for (const env of ENVIRONMENTS) {
  if (!isName(env)) {
    throw new Error(`stacks/env/config.ts: ENVIRONMENTS: ${nameProblem('environment', env)}`);
  }
}
/**
 * A host group's name is part of its IAM role's and instance profile's name
 * prefix, `berth-<env>-<group>-host-`, which AWS caps at 38 characters (the
 * provider appends a 26-character unique suffix to reach IAM's 64).
 */
const IAM_NAME_PREFIX_MAX_LENGTH = 38;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CLOUDWATCH_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const idOf = (prefix: string) => z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `an id like ${prefix}-0123456789abcdef0`);

const cidr = z.string().superRefine((text, context) => {
  const parsed = parseCidr(text);
  if ('error' in parsed) {
    context.addIssue({ code: z.ZodIssueCode.custom, message: `a CIDR block: ${parsed.error}` });
  }
});

const networkSchema = z
  .object({
    /** VPC the hosts are placed in. */
    vpcId: idOf('vpc'),
    /** Subnets the hosts of each group are spread over, in order. */
    subnetIds: z.array(idOf('subnet')).min(1, 'at least one subnet id'),
    /** CIDRs allowed to reach the hosts over SSH. Never 0.0.0.0/0. */
    adminCidrs: z.array(cidr).default([]),
    /** A bastion's security group, allowed to reach the hosts over SSH. */
    bastionSecurityGroupId: idOf('sg').optional(),
    /** CIDRs allowed to reach service ports (e.g. the VPC range). */
    serviceIngressCidrs: z.array(cidr).default([]),
    /** Security groups allowed to reach service ports (e.g. a load balancer's). */
    serviceIngressSecurityGroupIds: z.array(idOf('sg')).default([]),
  })
  .strict();

const hostGroupSchema = z
  .object({
    count: z.number().int().min(1, 'at least 1 host').max(50, 'at most 50 hosts'),
    instanceType: z.string().refine(isInstanceType, 'an EC2 instance type like t3.small or m7g.large'),
    dataVolumeGiB: z.number().int('a whole number of GiB').min(1, 'a data volume of at least 1 GiB').max(16384, 'at most 16384 GiB'),
    rootVolumeGiB: z.number().int().min(8, 'a root volume of at least 8 GiB').max(16384).default(30),
    /** Keep the data volume when its host is deleted or replaced. Default: true in stage and prod. */
    retainDataVolume: z.boolean().optional(),
    associatePublicIp: z.boolean().default(false),
    /** Why a prod host needs a public IP; required for associatePublicIp in prod. */
    publicIpReason: z.string().min(1).optional(),
  })
  .strict();

const serviceSchema = z
  .object({
    image: z.string({ required_error: 'required: an image, repo@sha256:<64 hex>' }),
    hostGroup: z.string({ required_error: 'required: the host group that runs the service' }),
    /** How many hosts of the group run one container of the service. Default: every host. */
    replicas: z.number().int().min(1, 'at least 1').optional(),
    /** File name under stacks/env/service-config/<service>/, e.g. application-prod.properties. */
    configFile: z.string({ required_error: 'required: the per-environment config file, e.g. application-dev.properties' }),
    environment: z.record(z.string().regex(ENV_VAR, 'an environment variable name'), z.string()).default({}),
    /** Container variable -> key under berth:secrets. */
    secretEnvironment: z.record(z.string().regex(ENV_VAR, 'an environment variable name'), z.string().min(1)).default({}),
  })
  .strict();

const berthSchema = z
  .object({
    network: networkSchema,
    /** The registry stack whose outputs (repository URLs, ARNs) this stack reads. */
    registryStack: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'a stack reference <organization>/<project>/<stack>'),
    /**
     * The registry stack's registry host (its `registryUrl` output), `<account>.dkr.ecr.<region>.amazonaws.com`.
     * Optional: set it to write images with their host; the program checks it against the registry stack at run time.
     */
    registryHost: z
      .string()
      .refine((host) => parseEcrHost(host) !== undefined, "an ECR registry host <account>.dkr.ecr.<region>.amazonaws.com (the registry stack's registryUrl), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com")
      .optional(),
    /** Hosts of other registries services' images may come from; the hosts get no pull permission or credentials for them. */
    allowedRegistries: z.array(z.string().refine(isRegistryHostName, 'a registry host like registry.example.com or registry.example.com:5000')).default([]),
    // Names are checked with the one name rule (components/common/names.ts) below, with the file and key.
    hostGroups: z.record(z.string(), hostGroupSchema).refine((groups) => Object.keys(groups).length > 0, 'at least one host group'),
    services: z.record(z.string(), serviceSchema).default({}),
    logging: z
      .object({
        driver: z.enum(['awslogs', 'local']).default('awslogs'),
        retentionDays: z
          .number()
          .refine((days) => CLOUDWATCH_RETENTION_DAYS.includes(days), `one of CloudWatch's retention periods: ${CLOUDWATCH_RETENTION_DAYS.join(', ')}`)
          .default(30),
      })
      .strict()
      .default({}),
    monitoring: z
      .object({
        alarmEmails: z.array(z.string().email('an e-mail address')).default([]),
        diskUsagePercent: z.number().int().min(1).max(99).default(80),
      })
      .strict()
      .default({}),
    prune: z
      .object({
        schedule: z
          .string()
          .refine(isSystemdCalendar, 'a systemd calendar expression (OnCalendar=), e.g. daily, weekly, Sun *-*-* 03:00:00 or *-*-* 04:30:00')
          .default('daily'),
      })
      .strict()
      .default({}),
    ssh: z
      .object({
        user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'a Unix user name').default('ec2-user'),
        /** A bastion host the deploy steps hop through (its security group goes in network.bastionSecurityGroupId). */
        bastionHost: z.string().min(1).optional(),
        /**
         * The bastion's public host key, one OpenSSH line (its /etc/ssh/ssh_host_ed25519_key.pub); the
         * deploy steps then refuse a bastion that presents another key. Checked below.
         */
        bastionHostKey: z.string().optional(),
      })
      .strict()
      .default({}),
    /** dev only: allow `repo:tag` images, resolved to their digest at deploy time. */
    followTags: z.boolean().default(false),
    /**
     * The public half of berth:sshPrivateKey, one OpenSSH public key line (ed25519 or RSA: what EC2 imports
     * as a key pair). Plain text: a public key is not a secret. Checked below.
     */
    sshPublicKey: z.string({ required_error: 'required: the public half of berth:sshPrivateKey, e.g. the line of ~/.ssh/berth-<env>.pub' }),
    /**
     * The SSH private key, a Pulumi secret (`pulumi config set --secret berth:sshPrivateKey < key`). Read here
     * only, when it is in clear, to check that berth:sshPublicKey is its public half; never kept or printed.
     */
    sshPrivateKey: z.unknown().optional(),
    /** Secret values referenced by services' secretEnvironment (`pulumi config set --secret --path berth:secrets.<key>`). Never read here. */
    secrets: z.unknown().optional(),
  })
  .strict();

type BerthConfigInput = z.infer<typeof berthSchema>;

function isRegistryHostName(host: string): boolean {
  return /^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/.test(host) && hasRegistryHost(`${host}/repository`);
}

export interface ServiceConfig {
  name: string;
  /** What the service is in every environment, from the catalogue. */
  definition: CatalogueService;
  image: string;
  hostGroup: string;
  replicas: number;
  configFile: string;
  /** Absolute path of the config file. */
  configPath: string;
  environment: Record<string, string>;
  secretEnvironment: Record<string, string>;
}

export interface HostGroupConfig {
  name: string;
  count: number;
  instanceType: string;
  dataVolumeGiB: number;
  rootVolumeGiB: number;
  retainDataVolume: boolean;
  associatePublicIp: boolean;
  publicIpReason?: string;
}

/** A stack's configuration after validation: complete, defaults applied, names sorted. */
export interface StackConfig {
  stack: string;
  env: EnvironmentName;
  region: string;
  network: z.infer<typeof networkSchema>;
  registryStack: string;
  /** The registry stack's registry host, when the stack file names it (berth:registryHost). */
  registryHost?: string;
  /** Other registries images may come from (berth:allowedRegistries), sorted. */
  allowedRegistries: string[];
  hostGroups: HostGroupConfig[];
  services: ServiceConfig[];
  logging: BerthConfigInput['logging'];
  monitoring: BerthConfigInput['monitoring'];
  prune: BerthConfigInput['prune'];
  ssh: BerthConfigInput['ssh'];
  /** The public key line the hosts authorise (berth:sshPublicKey), trimmed. */
  sshPublicKey: string;
  followTags: boolean;
  /** Keys under berth:secrets that services reference. */
  secretKeys: string[];
}

/** Raised when a stack's configuration is invalid; `errors` holds one line per problem. */
export class ConfigError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('\n'));
    this.name = 'ConfigError';
  }
}

export { stackFileName };

export function isEnvironmentName(stack: string): stack is EnvironmentName {
  return (ENVIRONMENTS as readonly string[]).includes(stack);
}

function describePath(segments: (string | number)[]): string {
  return segments.map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : index === 0 ? segment : `.${segment}`)).join('');
}

function zodMessages(error: z.ZodError, file: string): string[] {
  return error.issues.map((issue) => {
    const at = `${CONFIG_NAMESPACE}:${describePath(issue.path)}`;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => `"${key}"`).join(', ');
      const key = issue.path.length === 0 ? `${CONFIG_NAMESPACE}:${issue.keys[0]}` : at;
      return `${file}: ${key}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}${issue.path.length === 0 ? ` (berth keys are: ${Object.keys(berthSchema.shape).join(', ')})` : ''}`;
    }
    if (issue.code === 'invalid_type' && issue.received === 'undefined') {
      return `${file}: ${at}: required${issue.message && issue.message !== 'Required' ? ` (${issue.message.replace(/^required: /, '')})` : ''}`;
    }
    if (issue.code === 'invalid_type') {
      return `${file}: ${at}: expected ${issue.expected}, got ${issue.received}`;
    }
    return `${file}: ${at}: expected ${issue.message}`;
  });
}

export interface ValidateOptions {
  /** Whether a file exists; defaults to the real file system. */
  fileExists?: (absolutePath: string) => boolean;
  /** Where `<service>/<configFile>` files are looked up. @default SERVICE_CONFIG_DIR */
  serviceConfigDir?: string;
  /** The service catalogue to check services against. @default stacks/env/catalogue.ts */
  catalogue?: Record<string, CatalogueService>;
}

/**
 * Validates one stack's raw config (the `config:` map of `Pulumi.<stack>.yaml`,
 * values already parsed) and returns the typed config, or throws a
 * ConfigError listing every problem found.
 */
export function validateStackConfig(stack: string, raw: Record<string, unknown>, options: ValidateOptions = {}): StackConfig {
  const file = stackFileName(stack);
  if (!isEnvironmentName(stack)) {
    const problem = nameProblem('environment', stack);
    throw new ConfigError([`${file}: unknown stack "${stack}": expected one of ${ENVIRONMENTS.join(', ')}${problem ? ` (${problem})` : ''}`]);
  }
  const env = stack;
  const fileExists = options.fileExists ?? fs.existsSync;
  const configDir = options.serviceConfigDir ?? SERVICE_CONFIG_DIR;
  const catalogue = options.catalogue ?? defaultCatalogue;
  const errors: string[] = [];
  const fail = (key: string, message: string) => errors.push(`${file}: ${CONFIG_NAMESPACE}:${key}: ${message}`);

  const region = raw['aws:region'];
  if (typeof region !== 'string' || !/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) {
    errors.push(`${file}: aws:region: expected an AWS region like eu-west-1, got ${JSON.stringify(region)}`);
  }

  const berthRaw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith(`${CONFIG_NAMESPACE}:`)) {
      berthRaw[key.slice(CONFIG_NAMESPACE.length + 1)] = value;
    }
  }
  const parsed = berthSchema.safeParse(berthRaw);
  if (!parsed.success) {
    errors.push(...zodMessages(parsed.error, file));
  }
  // Cross-key checks run on whatever parts are well-formed, so one run reports everything.
  const partial = (parsed.success ? parsed.data : berthRaw) as Partial<BerthConfigInput>;
  const hostGroups = isRecord(partial.hostGroups) ? partial.hostGroups : {};
  const services = isRecord(partial.services) ? partial.services : {};
  const followTags = partial.followTags === true;
  for (const groupName of Object.keys(hostGroups).sort()) {
    // The service rule (names.ts knows only service and environment names, hence the message here).
    const problem = isName(groupName)
      ? undefined
      : `a host group name is lowercase letters and digits in words joined by single hyphens (e.g. app), at most ${NAME_MAX_LENGTH} characters; got ${JSON.stringify(groupName)}`;
    const prefix = `berth-${env}-${groupName}-host-`;
    if (problem) {
      fail(`hostGroups.${groupName}`, problem);
    } else if (prefix.length > IAM_NAME_PREFIX_MAX_LENGTH) {
      fail(
        `hostGroups.${groupName}`,
        `a host group name of at most ${groupName.length - (prefix.length - IAM_NAME_PREFIX_MAX_LENGTH)} characters in ${env}: it starts the IAM name prefix ${prefix}, which AWS caps at ${IAM_NAME_PREFIX_MAX_LENGTH} characters; got ${groupName.length}`,
      );
    }
  }
  for (const serviceName of Object.keys(services).sort()) {
    const problem = nameProblem('service', serviceName);
    if (problem) {
      fail(`services.${serviceName}`, problem);
    }
  }
  errors.push(...sshKeyProblems(partial, file));
  const registryHost = typeof partial.registryHost === 'string' ? partial.registryHost : undefined;
  const allowedRegistries = Array.isArray(partial.allowedRegistries) ? partial.allowedRegistries.filter((host): host is string => typeof host === 'string') : [];
  for (const [index, host] of allowedRegistries.entries()) {
    if (host === registryHost) {
      fail(`allowedRegistries[${index}]`, `${host} is the registry stack's registry (berth:registryHost), whose images get pull permission; list only other registries`);
    }
  }

  if (followTags && env !== 'dev') {
    fail('followTags', `only dev may follow tags; ${env} runs images pinned by digest`);
  }
  const network = isRecord(partial.network) ? partial.network : undefined;
  for (const [index, adminCidr] of (Array.isArray(network?.adminCidrs) ? network.adminCidrs : []).entries()) {
    const parsed = typeof adminCidr === 'string' ? parseCidr(adminCidr) : undefined;
    if (parsed && !('error' in parsed) && parsed.isAnyAddress) {
      fail(`network.adminCidrs[${index}]`, `SSH is never open to ${adminCidr}; name your admin networks or use a bastion security group`);
    }
  }
  for (const [groupName, group] of Object.entries(hostGroups)) {
    if (isRecord(group) && group.associatePublicIp === true && env === 'prod' && !group.publicIpReason) {
      fail(`hostGroups.${groupName}.associatePublicIp`, 'prod hosts get no public IP unless publicIpReason says why');
    }
  }

  const portsByGroup = new Map<string, Map<number, string>>();
  for (const [serviceName, service] of Object.entries(services).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!isRecord(service)) {
      continue;
    }
    const key = `services.${serviceName}`;
    const entry = catalogue[serviceName];
    if (!entry) {
      fail(key, `no service "${serviceName}" in the catalogue (stacks/env/catalogue.ts); known services: ${Object.keys(catalogue).sort().join(', ')}`);
    }
    if (typeof service.image === 'string') {
      const imageError = imageProblem(service.image, env, followTags) ?? registryProblem(serviceName, service.image, registryHost, allowedRegistries);
      if (imageError) {
        fail(`${key}.image`, imageError);
      }
    }
    if (typeof service.hostGroup === 'string') {
      const group = hostGroups[service.hostGroup];
      if (!group) {
        fail(`${key}.hostGroup`, `no host group "${service.hostGroup}"; host groups are: ${Object.keys(hostGroups).sort().join(', ') || '(none)'}`);
      } else if (typeof service.replicas === 'number' && isRecord(group) && typeof group.count === 'number' && service.replicas > group.count) {
        fail(`${key}.replicas`, `at most ${group.count}, the number of hosts in host group "${service.hostGroup}"; got ${service.replicas}`);
      }
      if (entry) {
        const taken = portsByGroup.get(service.hostGroup) ?? new Map<number, string>();
        for (const port of entry.ports) {
          const hostPort = publishedHostPort(port);
          if (hostPort === undefined) {
            continue;
          }
          const holder = taken.get(hostPort);
          if (holder) {
            fail(`${key}.hostGroup`, `host port ${hostPort} on host group "${service.hostGroup}" is already published by ${holder}`);
          } else {
            taken.set(hostPort, serviceName);
          }
        }
        portsByGroup.set(service.hostGroup, taken);
      }
    }
    if (typeof service.configFile === 'string') {
      const configPath = path.join(configDir, serviceName, service.configFile);
      if (path.basename(service.configFile) !== service.configFile) {
        fail(`${key}.configFile`, `a file name in ${SERVICE_CONFIG_PATH}/${serviceName}/, got "${service.configFile}"`);
      } else if (!fileExists(configPath)) {
        fail(`${key}.configFile`, `file ${SERVICE_CONFIG_PATH}/${serviceName}/${service.configFile} does not exist`);
      }
    }
  }

  if (errors.length > 0 || !parsed.success) {
    throw new ConfigError(errors);
  }
  const data = parsed.data;
  const retainByDefault = (PINNED_ENVIRONMENTS as readonly string[]).includes(env);
  return {
    stack,
    env,
    region: region as string,
    network: data.network,
    registryStack: data.registryStack,
    registryHost: data.registryHost,
    allowedRegistries: [...new Set(data.allowedRegistries)].sort(),
    hostGroups: Object.keys(data.hostGroups)
      .sort()
      .map((groupName) => {
        const group = data.hostGroups[groupName];
        return {
          name: groupName,
          count: group.count,
          instanceType: group.instanceType,
          dataVolumeGiB: group.dataVolumeGiB,
          rootVolumeGiB: group.rootVolumeGiB,
          retainDataVolume: group.retainDataVolume ?? retainByDefault,
          associatePublicIp: group.associatePublicIp,
          publicIpReason: group.publicIpReason,
        };
      }),
    services: Object.keys(data.services)
      .sort()
      .map((serviceName) => {
        const service = data.services[serviceName];
        return {
          name: serviceName,
          definition: catalogue[serviceName],
          image: service.image,
          hostGroup: service.hostGroup,
          replicas: service.replicas ?? data.hostGroups[service.hostGroup].count,
          configFile: service.configFile,
          configPath: path.join(configDir, serviceName, service.configFile),
          environment: sortedRecord(service.environment),
          secretEnvironment: sortedRecord(service.secretEnvironment),
        };
      }),
    logging: data.logging,
    monitoring: data.monitoring,
    prune: data.prune,
    ssh: data.ssh,
    sshPublicKey: data.sshPublicKey.trim(),
    followTags: data.followTags,
    secretKeys: [...new Set(Object.values(data.services).flatMap((service) => Object.values(service.secretEnvironment)))].sort(),
  };
}

function imageProblem(image: string, env: EnvironmentName, followTags: boolean): string | undefined {
  const ref = parseImageRef(image);
  if ('error' in ref) {
    return `an image repo@sha256:<64 hex>: ${ref.error}, got "${image}"`;
  }
  if (ref.digest) {
    return undefined;
  }
  if ((PINNED_ENVIRONMENTS as readonly string[]).includes(env)) {
    return `stage and prod need an image pinned by digest (repo@sha256:<64 hex>), got "${image}"`;
  }
  if (env !== 'dev' || !followTags) {
    return `an image pinned by digest (repo@sha256:<64 hex>)${env === 'dev' ? ', or set berth:followTags to true to follow a tag in dev' : ''}, got "${image}"`;
  }
  return undefined;
}

/**
 * berth:sshPublicKey must be one OpenSSH public key line EC2 can import, and
 * the public half of berth:sshPrivateKey whenever that is in clear here (under
 * `pulumi up` the runtime hands the program decrypted config; offline it is
 * the "[secret]" mask or absent, and the check is skipped). berth:ssh.bastionHostKey
 * is checked the same way. No message quotes a private key.
 */
function sshKeyProblems(partial: Partial<BerthConfigInput>, file: string): string[] {
  const problems: string[] = [];
  const fail = (key: string, message: string) => problems.push(`${file}: ${CONFIG_NAMESPACE}:${key}: ${message}`);
  const publicLine = partial.sshPublicKey;
  if (typeof publicLine === 'string') {
    const publicKey = parseSshPublicKey(publicLine);
    if ('error' in publicKey) {
      fail('sshPublicKey', publicKey.error);
    } else if (!EC2_KEY_PAIR_TYPES.includes(publicKey.type)) {
      fail('sshPublicKey', `an ${EC2_KEY_PAIR_TYPES.join(' or ')} key, the types EC2 imports as a key pair; got ${publicKey.type} (make one with ssh-keygen -t ed25519)`);
    } else {
      const privateKey = partial.sshPrivateKey;
      if (typeof privateKey === 'string' && privateKey !== SECRET_MASK) {
        const matches = publicKeyMatchesPrivate(publicLine, privateKey);
        if (typeof matches === 'object') {
          fail('sshPrivateKey', matches.error.replace(/^private key: /, ''));
        } else if (!matches) {
          fail('sshPublicKey', 'the public half of berth:sshPrivateKey (what `ssh-keygen -y -f <private key file>` prints); this key belongs to another key pair');
        }
      }
    }
  }
  const ssh: Record<string, unknown> = isRecord(partial.ssh) ? partial.ssh : {};
  if (typeof ssh.bastionHostKey === 'string') {
    const hostKey = parseSshPublicKey(ssh.bastionHostKey);
    if ('error' in hostKey) {
      fail('ssh.bastionHostKey', `${hostKey.error} (the bastion's host key: the line of its /etc/ssh/ssh_host_ed25519_key.pub, or a line of \`ssh-keyscan <bastion>\` without the host name)`);
    }
    if (typeof ssh.bastionHost !== 'string') {
      fail('ssh.bastionHostKey', 'pins the host key of berth:ssh.bastionHost, which is not set: set both, or neither');
    }
  }
  return problems;
}

/**
 * Where an image comes from. An image of the registry stack's registry — no
 * host, or the host of berth:registryHost — must be the service's own
 * repository `berth/<service>`: the registry stack holds exactly those, and
 * the hosts' pull permission is looked up by that path. An image naming any
 * other host is refused unless that host is in berth:allowedRegistries.
 */
function registryProblem(service: string, image: string, registryHost: string | undefined, allowedRegistries: string[]): string | undefined {
  const ref = parseImageRef(image);
  if ('error' in ref) {
    return undefined;
  }
  const { host, path: repositoryPath } = splitRegistryHost(ref.repository);
  const expected = repositoryName(service);
  const otherRegistry = 'an image from another registry needs its host in berth:allowedRegistries';
  if (host && allowedRegistries.includes(host)) {
    if (ref.tag && !ref.digest && !parseEcrHost(host)) {
      return `an image pinned by digest (repo@sha256:<64 hex>): ${host} is not an ECR registry, and only ECR tags are resolved at deploy time, got "${image}"`;
    }
    return undefined;
  }
  if (host && registryHost === undefined) {
    return `an image of the registry stack's registry, written without a host (${expected}@sha256:<64 hex>) or with the host set in berth:registryHost; ${otherRegistry}; got "${image}"`;
  }
  if (host && host !== registryHost) {
    return `an image of the registry stack's registry ${registryHost} (berth:registryHost); ${otherRegistry}; got "${image}"`;
  }
  if (repositoryPath !== expected) {
    return `the repository ${expected} of the registry stack's registry, got "${repositoryPath}" in "${image}" (${otherRegistry})`;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}


/** The `config:` map of a stack file, with `secure:` values replaced by a marker. */
export interface StackFile {
  path: string;
  config: Record<string, unknown>;
}


/** Reads `Pulumi.<stack>.yaml` from the project root; errors name the file and line. */
export function readStackFile(stack: string, root: string = PROJECT_ROOT): StackFile {
  const file = stackFileName(stack);
  const filePath = path.join(root, file);
  if (!isEnvironmentName(stack)) {
    throw new ConfigError([`${file}: unknown stack "${stack}": expected one of ${ENVIRONMENTS.join(', ')}`]);
  }
  if (!fs.existsSync(filePath)) {
    throw new ConfigError([`${file}: no such file in ${root}`]);
  }
  const document = YAML.parseDocument(fs.readFileSync(filePath, 'utf8'), { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((error) => `${file}: line ${error.linePos?.[0].line ?? '?'}: ${error.message.split('\n')[0]}`));
  }
  const content = document.toJS() as unknown;
  const config = isRecord(content) && isRecord(content.config) ? content.config : {};
  const unwrap = (key: string, value: unknown): unknown => {
    if (isRecord(value) && Object.keys(value).length === 1 && typeof value.secure === 'string') {
      return SECRET_MASK;
    }
    if (Array.isArray(value)) {
      return value.map((item) => unwrap(key, item));
    }
    if (isRecord(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(key, v)]));
    }
    return value;
  };
  return {
    path: filePath,
    config: Object.fromEntries(Object.entries(config).map(([key, value]) => [key, unwrap(key, value)])),
  };
}

/**
 * The config map as the Pulumi runtime hands it to a program (`allConfig()`):
 * structured values JSON-encoded. Parses them back for validation.
 */
export function parseRuntimeConfig(all: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(all).map(([key, value]) => {
      try {
        return [key, JSON.parse(value)];
      } catch {
        return [key, value];
      }
    }),
  );
}

/** The inverse of parseRuntimeConfig: what `setAllConfig` takes. */
export function toRuntimeConfig(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
}
