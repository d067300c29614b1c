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
import { parseImageRef } from '../components/common/image';
import { publishedHostPort } from '../components/common/ports';
import { sortedRecord, stackFileName } from '../components/common/records';
import { SECRET_MASK } from '../components/common/secret';
import { isInstanceType, isSystemdCalendar, parseCidr } from '../components/host/validate';
import { catalogue as defaultCatalogue, CatalogueService } from './catalogue';

export const ENVIRONMENTS = ['dev', 'test', 'stage', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];
/** Environments that run only images pinned by digest, straight from config. */
export const PINNED_ENVIRONMENTS: readonly EnvironmentName[] = ['stage', 'prod'];
/** Root of the project: where `Pulumi.<env>.yaml` and `stacks/config/` live. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
/** Per-service, per-environment application config files: `stacks/config/<service>/<file>`. */
export const SERVICE_CONFIG_DIR = path.join(PROJECT_ROOT, 'stacks', 'config');
export const CONFIG_NAMESPACE = 'berth';

const NAME = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CLOUDWATCH_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const name = (what: string) => z.string().regex(NAME, `a ${what} name: lowercase letters, digits and dashes, 2-40 characters`);
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
    /** File name under stacks/config/<service>/, e.g. application-prod.properties. */
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
    hostGroups: z.record(name('host group'), hostGroupSchema).refine((groups) => Object.keys(groups).length > 0, 'at least one host group'),
    services: z.record(name('service'), serviceSchema).default({}),
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
      })
      .strict()
      .default({}),
    /** dev only: allow `repo:tag` images, resolved to their digest at deploy time. */
    followTags: z.boolean().default(false),
    /** The SSH private key, a Pulumi secret (`pulumi config set --secret berth:sshPrivateKey < key`). Never read here. */
    sshPrivateKey: z.unknown().optional(),
    /** Secret values referenced by services' secretEnvironment (`pulumi config set --secret --path berth:secrets.<key>`). Never read here. */
    secrets: z.unknown().optional(),
  })
  .strict();

type BerthConfigInput = z.infer<typeof berthSchema>;

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
  hostGroups: HostGroupConfig[];
  services: ServiceConfig[];
  logging: BerthConfigInput['logging'];
  monitoring: BerthConfigInput['monitoring'];
  prune: BerthConfigInput['prune'];
  ssh: BerthConfigInput['ssh'];
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
  /** Where `stacks/config/<service>/` files are looked up. */
  serviceConfigDir?: string;
  /** The service catalogue to check services against. @default stacks/catalogue.ts */
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
    throw new ConfigError([`${file}: unknown stack "${stack}": expected one of ${ENVIRONMENTS.join(', ')}`]);
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
      fail(key, `no service "${serviceName}" in the catalogue (stacks/catalogue.ts); known services: ${Object.keys(catalogue).sort().join(', ')}`);
    }
    if (typeof service.image === 'string') {
      const imageError = imageProblem(service.image, env, followTags);
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
        fail(`${key}.configFile`, `a file name in stacks/config/${serviceName}/, got "${service.configFile}"`);
      } else if (!fileExists(configPath)) {
        fail(`${key}.configFile`, `file stacks/config/${serviceName}/${service.configFile} does not exist`);
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
