/**
 * The rules of a stack's configuration as a whole: what no single key's
 * schema (./schema) can say. A service's host group and catalogue entry
 * exist, host ports do not collide, stage and prod run pinned digests, SSH
 * keys pair up, images come from the registry stack or an allowed registry.
 * Every problem of one file is reported at once, before any resource is
 * declared, as `Pulumi.<env>.yaml: berth:<key path>: <what was expected>`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { EnvironmentName, isEnvironmentName, isPinnedEnvironment, unknownEnvironmentProblem } from '../../../components/common/environments';
import { parseEcrHost, parseImageRef, splitRegistryHost } from '../../../components/common/image';
import { isName, NAME_MAX_LENGTH, nameProblem } from '../../../components/common/names';
import { DEFAULT_PROJECT, envName } from '../../../components/common/naming';
import { publishedHostPort } from '../../../components/common/ports';
import { isRecord, sortedEntries, sortedRecord } from '../../../components/common/records';
import { SECRET_MASK } from '../../../components/common/secret';
import { EC2_KEY_PAIR_TYPES, parseSshPublicKey, publicKeyMatchesPrivate } from '../../../components/common/sshKeys';
import { parseCidr } from '../../../components/host/validate';
import { repositoryName } from '../../../components/registry/contract';
import { ConfigError, configProblem, zodIssueMessages } from '../../common/configErrors';
import { PROJECT_ROOT } from '../../common/paths';
import { namespaceConfig } from '../../common/runtimeConfig';
import { stackFileName } from '../../common/stackFile';
import { catalogue as defaultCatalogue, CatalogueService } from '../catalogue';
import { BerthConfigInput, berthSchema, CONFIG_NAMESPACE, networkSchema } from './schema';

/** Where per-service, per-environment application config files live, relative to the project root: `<this>/<service>/<file>`. */
export const SERVICE_CONFIG_PATH = 'stacks/env/service-config';
/** The same folder in this checkout. */
export const SERVICE_CONFIG_DIR = path.join(PROJECT_ROOT, ...SERVICE_CONFIG_PATH.split('/'));

/**
 * A host group's name is part of its IAM role's and instance profile's name
 * prefix, `berth-<env>-<group>-host-`, which AWS caps at 38 characters (the
 * provider appends a 26-character unique suffix to reach IAM's 64).
 */
const IAM_NAME_PREFIX_MAX_LENGTH = 38;

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
  /** A pinned AMI id; undefined follows the latest Amazon Linux 2023. */
  ami?: string;
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
    throw new ConfigError([`${file}: ${unknownEnvironmentProblem(stack)}`]);
  }
  const env = stack;
  const fileExists = options.fileExists ?? fs.existsSync;
  const configDir = options.serviceConfigDir ?? SERVICE_CONFIG_DIR;
  const catalogue = options.catalogue ?? defaultCatalogue;
  const errors: string[] = [];
  const fail = (key: string, message: string) => errors.push(configProblem(file, `${CONFIG_NAMESPACE}:${key}`, message));

  const region = raw['aws:region'];
  if (typeof region !== 'string' || !/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) {
    errors.push(configProblem(file, 'aws:region', `expected an AWS region like eu-west-1, got ${JSON.stringify(region)}`));
  }

  const berthRaw = namespaceConfig(raw, CONFIG_NAMESPACE);
  const parsed = berthSchema.safeParse(berthRaw);
  if (!parsed.success) {
    errors.push(...zodIssueMessages(parsed.error, file, CONFIG_NAMESPACE, Object.keys(berthSchema.shape)));
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
    const prefix = `${envName(DEFAULT_PROJECT, env, groupName, 'host')}-`;
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
  for (const [serviceName, service] of sortedEntries(services)) {
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
  const retainByDefault = isPinnedEnvironment(env);
  return {
    stack,
    env,
    region: region as string,
    network: data.network,
    registryStack: data.registryStack,
    registryHost: data.registryHost,
    allowedRegistries: [...new Set(data.allowedRegistries)].sort(),
    hostGroups: sortedEntries(data.hostGroups).map(([groupName, group]) => ({
      name: groupName,
      count: group.count,
      instanceType: group.instanceType,
      dataVolumeGiB: group.dataVolumeGiB,
      rootVolumeGiB: group.rootVolumeGiB,
      ami: group.ami,
      retainDataVolume: group.retainDataVolume ?? retainByDefault,
      associatePublicIp: group.associatePublicIp,
      publicIpReason: group.publicIpReason,
    })),
    services: sortedEntries(data.services).map(([serviceName, service]) => ({
      name: serviceName,
      definition: catalogue[serviceName],
      image: service.image,
      hostGroup: service.hostGroup,
      replicas: service.replicas ?? data.hostGroups[service.hostGroup].count,
      configFile: service.configFile,
      configPath: path.join(configDir, serviceName, service.configFile),
      environment: sortedRecord(service.environment),
      secretEnvironment: sortedRecord(service.secretEnvironment),
    })),
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
  if (isPinnedEnvironment(env)) {
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
  const fail = (key: string, message: string) => problems.push(configProblem(file, `${CONFIG_NAMESPACE}:${key}`, message));
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
