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
import { ECS_AMI_ROOT_GIB } from '../../../components/cluster/render';
import { parseCidr } from '../../../components/host/validate';
import { configSizeProblem } from '../../../components/task/taskDefinition';
import { repositoryName } from '../../../components/registry/contract';
import { certificateArnProblem, ingressCidrProblems, LoadBalancerScheme, routeConflicts, routeProblems, ServiceRoute } from '../../../components/traffic/plan';
import { ConfigError, configProblem, zodIssueMessages } from '../../common/configErrors';
import { PROJECT_ROOT } from '../../common/paths';
import { namespaceConfig } from '../../common/runtimeConfig';
import { stackFileName } from '../../common/stackFile';
import { CATALOGUE_FILE, catalogue as defaultCatalogue, catalogueProblems, CatalogueService, DEFAULT_DRAIN_SECONDS, DEFAULT_UPDATE } from '../catalogue';
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
  /** How a deploy replaces the container (the catalogue's `update`, defaulted). */
  update: 'start-first' | 'stop-first';
  /** The catalogue's drain timeout, defaulted. */
  drainSeconds: number;
  /** What the edge load balancer routes to the service (berth:services.<name>.route), host names lowercased. */
  route?: { hosts: string[]; paths: string[] };
  /**
   * The host group (of the other engine) the service keeps running on, beside hostGroup, while it
   * moves there (berth:services.<name>.movingFrom), with as many replicas as it had there.
   */
  movingFrom?: { hostGroup: string; replicas: number };
}

/** The environment's traffic (berth:traffic), defaults applied. */
export interface TrafficConfig {
  scheme: LoadBalancerScheme;
  certificateArn?: string;
  ingressCidrs: string[];
  accessLogs: { retentionDays: number };
  /** Always true in prod. */
  deletionProtection: boolean;
  /** `<env>.internal` unless set. */
  zoneName: string;
}

interface HostGroupBase {
  name: string;
  count: number;
  instanceType: string;
  rootVolumeGiB: number;
  /** A pinned AMI id; undefined follows the latest Amazon Linux 2023 (ecs: the latest ECS-optimised AL2023). */
  ami?: string;
  /** hosts: keep each host's data volume; ecs: keep the EFS file system. */
  retainDataVolume: boolean;
  associatePublicIp: boolean;
  publicIpReason?: string;
}

/** A group of fixed hosts the agent deploys to over SSH. */
export interface HostsGroupConfig extends HostGroupBase {
  engine: 'hosts';
  dataVolumeGiB: number;
}

/** A group that is an ECS cluster on an Auto Scaling group of `count` to `maxCount` instances. */
export interface EcsGroupConfig extends HostGroupBase {
  engine: 'ecs';
  maxCount: number;
  /** Whether the group has an EFS file system for its services' data volumes. */
  efs: boolean;
}

export type HostGroupConfig = HostsGroupConfig | EcsGroupConfig;

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
  traffic: TrafficConfig;
  /**
   * What is allowed but probably not meant, one line per warning, each naming its file and
   * key like an error does (`<file>: <key>: <what and why>`); the synth summary shows them.
   */
  warnings: string[];
}

export interface ValidateOptions {
  /** Whether a file exists; defaults to the real file system. */
  fileExists?: (absolutePath: string) => boolean;
  /** A file's text (a config file that must fit an ECS task definition); defaults to the real file system. */
  readFile?: (absolutePath: string) => string;
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
  const readFile = options.readFile ?? ((absolutePath: string) => fs.readFileSync(absolutePath, 'utf8'));
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
    if (isRecord(group)) {
      errors.push(...engineKeyProblems(file, groupName, group));
    }
  }
  const ecsGroups = Object.entries(hostGroups).filter(([, group]) => isRecord(group) && group.engine === 'ecs').map(([groupName]) => groupName).sort();
  if (ecsGroups.length > 0 && isRecord(partial.logging) && partial.logging.driver === 'local') {
    fail('logging.driver', `awslogs: ECS host groups (${ecsGroups.join(', ')}) send their tasks' logs to CloudWatch, with the stack's retention; local logs would be lost with each task`);
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
    if (service.movingFrom !== undefined && service.movingFrom === service.hostGroup) {
      fail(`${key}.movingFrom`, `the host group the service moves away from, not hostGroup itself ("${service.hostGroup}"); remove movingFrom once the move is done`);
    }
    const engineOf = (groupName: unknown) => {
      const group = typeof groupName === 'string' ? hostGroups[groupName] : undefined;
      return isRecord(group) ? (group.engine === 'ecs' ? 'ecs' : 'hosts') : undefined;
    };
    if (typeof service.movingFrom === 'string' && service.movingFrom !== service.hostGroup && engineOf(service.movingFrom) !== undefined && engineOf(service.movingFrom) === engineOf(service.hostGroup)) {
      fail(
        `${key}.movingFrom`,
        `a host group of the other engine than hostGroup "${service.hostGroup}" (${engineOf(service.hostGroup)}): movingFrom runs a service on both engines while it moves; between two ${engineOf(service.hostGroup)} groups change hostGroup alone (its data volumes stay behind: each group has its own, so copy the data first)`,
      );
    }
    const placedOn = [
      ...(typeof service.hostGroup === 'string' ? [['hostGroup', service.hostGroup]] : []),
      ...(typeof service.movingFrom === 'string' && service.movingFrom !== service.hostGroup ? [['movingFrom', service.movingFrom]] : []),
    ];
    for (const [groupKey, groupName] of placedOn) {
      const group = hostGroups[groupName];
      if (!group || !isRecord(group)) {
        fail(`${key}.${groupKey}`, `no host group "${groupName}"; host groups are: ${Object.keys(hostGroups).sort().join(', ') || '(none)'}`);
        continue;
      }
      if (group.engine === 'ecs') {
        if (entry) {
          errors.push(...ecsServiceProblems(file, serviceName, `${key}.${groupKey}`, groupName, group, entry));
        }
        // ECS gives each task a dynamic host port and packs tasks by memory: neither the host-count nor the port rule applies.
        continue;
      }
      if (typeof service.replicas === 'number' && typeof group.count === 'number' && service.replicas > group.count) {
        fail(`${key}.replicas`, `at most ${group.count}, the number of hosts in host group "${groupName}"; got ${service.replicas}`);
      }
      if (entry) {
        const taken = portsByGroup.get(groupName) ?? new Map<number, string>();
        for (const port of entry.ports) {
          const hostPort = publishedHostPort(port);
          if (hostPort === undefined) {
            continue;
          }
          const holder = taken.get(hostPort);
          if (holder) {
            fail(`${key}.${groupKey}`, `host port ${hostPort} on host group "${groupName}" is already published by ${holder}`);
          } else {
            taken.set(hostPort, serviceName);
          }
        }
        portsByGroup.set(groupName, taken);
      }
    }
    if (typeof service.configFile === 'string') {
      const configPath = path.join(configDir, serviceName, service.configFile);
      if (path.basename(service.configFile) !== service.configFile) {
        fail(`${key}.configFile`, `a file name in ${SERVICE_CONFIG_PATH}/${serviceName}/, got "${service.configFile}"`);
      } else if (!fileExists(configPath)) {
        fail(`${key}.configFile`, `file ${SERVICE_CONFIG_PATH}/${serviceName}/${service.configFile} does not exist`);
      } else if (placedOn.some(([, groupName]) => engineOf(groupName) === 'ecs')) {
        const problem = configSizeProblem(readFile(configPath));
        if (problem) {
          fail(`${key}.configFile`, `${SERVICE_CONFIG_PATH}/${serviceName}/${service.configFile}: ${problem}`);
        }
      }
    }
  }

  const warnings = trafficProblems(file, env, partial, services, catalogue, errors);
  warnings.push(...circuitBreakerWarnings(file, services, hostGroups, catalogue));

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
    hostGroups: sortedEntries(data.hostGroups).map(([groupName, group]): HostGroupConfig => {
      const base = {
        name: groupName,
        count: group.count,
        instanceType: group.instanceType,
        rootVolumeGiB: group.rootVolumeGiB,
        ami: group.ami,
        retainDataVolume: group.retainDataVolume ?? retainByDefault,
        associatePublicIp: group.associatePublicIp,
        publicIpReason: group.publicIpReason,
      };
      return group.engine === 'ecs'
        ? { ...base, engine: 'ecs', maxCount: group.maxCount ?? group.count, efs: group.efs ?? false }
        : { ...base, engine: 'hosts', dataVolumeGiB: group.dataVolumeGiB! };
    }),
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
      update: catalogue[serviceName].update ?? DEFAULT_UPDATE,
      drainSeconds: catalogue[serviceName].drainSeconds ?? DEFAULT_DRAIN_SECONDS,
      ...(service.route ? { route: { hosts: (service.route.hosts ?? []).map((host) => host.toLowerCase()), paths: service.route.paths ?? [] } } : {}),
      // Unless replicas is set, the group it leaves keeps running it as before: on its count.
      ...(service.movingFrom ? { movingFrom: { hostGroup: service.movingFrom, replicas: service.replicas ?? data.hostGroups[service.movingFrom].count } } : {}),
    })),
    logging: data.logging,
    monitoring: data.monitoring,
    prune: data.prune,
    ssh: data.ssh,
    sshPublicKey: data.sshPublicKey.trim(),
    followTags: data.followTags,
    secretKeys: [...new Set(Object.values(data.services).flatMap((service) => Object.values(service.secretEnvironment)))].sort(),
    traffic: {
      scheme: data.traffic.scheme,
      certificateArn: data.traffic.certificateArn,
      ingressCidrs: data.traffic.ingressCidrs,
      accessLogs: { retentionDays: data.traffic.accessLogs.retentionDays },
      deletionProtection: env === 'prod' ? true : (data.traffic.deletionProtection ?? false),
      zoneName: data.traffic.zoneName ?? `${env}.internal`,
    },
    warnings,
  };
}

/**
 * The traffic rules across keys: catalogue entries of the stack's services are sound
 * (drain timeouts, web ports); a route belongs to a web service, is well-formed and claims no
 * host and path another service claims; a route needs a certificate; an internal load
 * balancer is not open to the whole internet; prod keeps deletion protection. Problems go to
 * `errors`; the warnings are returned.
 */
function trafficProblems(
  file: string,
  env: EnvironmentName,
  partial: Partial<BerthConfigInput>,
  services: Record<string, unknown>,
  catalogue: Record<string, CatalogueService>,
  errors: string[],
): string[] {
  const warnings: string[] = [];
  const fail = (key: string, message: string) => errors.push(configProblem(file, `${CONFIG_NAMESPACE}:${key}`, message));
  const routes: { name: string; route: ServiceRoute }[] = [];
  for (const [serviceName, service] of sortedEntries(services)) {
    const entry = catalogue[serviceName];
    if (!entry) {
      continue;
    }
    errors.push(...catalogueProblems(serviceName, entry));
    if ((entry.update ?? DEFAULT_UPDATE) === 'stop-first' && entry.volumes.length === 0) {
      warnings.push(
        `${CATALOGUE_FILE}: ${serviceName}.update: stop-first on a service without a data volume: each deploy stops it before the new container is healthy (no request is served meanwhile), with no volume to protect from a second writer; start-first swaps without a gap`,
      );
    }
    const route = isRecord(service) && isRecord(service.route) ? (service.route as ServiceRoute) : undefined;
    if (!route) {
      continue;
    }
    const key = `services.${serviceName}.route`;
    if (!entry.web) {
      const published = entry.ports.map(publishedHostPort).filter((port) => port !== undefined);
      fail(
        key,
        published.length === 0
          ? `${serviceName} publishes no port (${CATALOGUE_FILE}: ${serviceName}.ports), so nothing can route to it`
          : `${serviceName} is not a web service: give it web (port, healthCheckPath) in ${CATALOGUE_FILE}`,
      );
      continue;
    }
    if (!Array.isArray(route.hosts ?? []) || !Array.isArray(route.paths ?? []) || ![...(route.hosts ?? []), ...(route.paths ?? [])].every((value) => typeof value === 'string')) {
      continue; // the schema reported it
    }
    const problems = routeProblems(route);
    for (const [subKey, message] of problems) {
      fail(subKey ? `${key}.${subKey}` : key, message);
    }
    if (problems.length === 0) {
      routes.push({ name: serviceName, route });
    }
  }
  for (const conflict of routeConflicts(routes)) {
    const where = `${conflict.host === '*' ? 'any host' : `host ${conflict.host}`} and ${conflict.path === '*' ? 'any path' : `path ${conflict.path}`}`;
    fail(`services.${conflict.service}.route`, `${where} already route to ${conflict.other}; two services cannot claim the same host name and path`);
  }
  const traffic: Record<string, unknown> = isRecord(partial.traffic) ? partial.traffic : {};
  const scheme: LoadBalancerScheme = traffic.scheme === 'internet-facing' ? 'internet-facing' : 'internal';
  if (typeof traffic.certificateArn === 'string') {
    const problem = certificateArnProblem(traffic.certificateArn);
    if (problem) {
      fail('traffic.certificateArn', problem);
    }
  } else if (traffic.certificateArn === undefined && routes.length > 0) {
    fail('traffic.certificateArn', `required: the ACM certificate of the HTTPS listener, since ${routes.map((route) => route.name).join(', ')} ${routes.length === 1 ? 'has a route' : 'have routes'}`);
  }
  const ingressCidrs = Array.isArray(traffic.ingressCidrs) ? traffic.ingressCidrs : [];
  for (const [index, message] of ingressCidrProblems(scheme, ingressCidrs.filter((cidr): cidr is string => typeof cidr === 'string'))) {
    fail(`traffic.ingressCidrs[${index}]`, message);
  }
  if (routes.length > 0 && ingressCidrs.length === 0) {
    fail('traffic.ingressCidrs', 'at least one CIDR that may reach the load balancer, since services have routes');
  }
  const webServices = sortedEntries(services).filter(([serviceName]) => catalogue[serviceName]?.web).map(([serviceName]) => serviceName);
  const subnetIds = isRecord(partial.network) && Array.isArray(partial.network.subnetIds) ? partial.network.subnetIds : undefined;
  if (webServices.length > 0 && subnetIds && subnetIds.length === 1) {
    fail('network.subnetIds', `at least two subnets, in different availability zones: web services (${webServices.join(', ')}) get an Application Load Balancer, which needs two; got 1`);
  }
  if (env === 'prod' && traffic.deletionProtection === false) {
    fail('traffic.deletionProtection', 'prod load balancers keep deletion protection on; turn it off by hand (and say why) before removing one');
  }
  return warnings;
}

/**
 * Keys that belong to the other engine, and what an engine needs: a hosts group its data
 * volume; an ECS group room to grow (maxCount at least count) and no per-host volume.
 */
function engineKeyProblems(file: string, groupName: string, group: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const fail = (key: string, message: string) => problems.push(configProblem(file, `${CONFIG_NAMESPACE}:hostGroups.${groupName}.${key}`, message));
  if (group.engine === 'ecs') {
    if (group.dataVolumeGiB !== undefined) {
      fail('dataVolumeGiB', 'only for engine hosts: an ECS group has no per-host data volume (tasks move between instances); its services keep data on EFS (efs: true)');
    }
    if (typeof group.rootVolumeGiB === 'number' && group.rootVolumeGiB < ECS_AMI_ROOT_GIB) {
      fail('rootVolumeGiB', `at least ${ECS_AMI_ROOT_GIB} on ECS: the ECS-optimised AMI's root snapshot (a smaller volume cannot be launched); got ${group.rootVolumeGiB}`);
    }
    if (typeof group.maxCount === 'number' && typeof group.count === 'number' && group.maxCount < group.count) {
      fail('maxCount', `at least count (${group.count}): the Auto Scaling group grows from count to maxCount; got ${group.maxCount}`);
    }
  } else if (group.engine === undefined || group.engine === 'hosts') {
    if (group.dataVolumeGiB === undefined) {
      fail('dataVolumeGiB', 'required for engine hosts: the size (GiB) of the data volume each host keeps, e.g. 100');
    }
    for (const key of ['maxCount', 'efs']) {
      if (group[key] !== undefined) {
        fail(key, `only for engine ecs: a hosts group has exactly count hosts, each with its own data volume (set engine: ecs to use ${key})`);
      }
    }
  }
  return problems;
}

/**
 * What a service cannot bring to an ECS group: data volumes without EFS (the volumes ECS
 * manages belong to one task and go with it), and TCP ports without a web endpoint (tasks get
 * dynamic host ports, which a service name of host addresses cannot carry).
 */
function ecsServiceProblems(file: string, serviceName: string, key: string, groupName: string, group: Record<string, unknown>, entry: CatalogueService): string[] {
  const problems: string[] = [];
  const fail = (message: string) => problems.push(configProblem(file, `${CONFIG_NAMESPACE}:${key}`, message));
  if (entry.volumes.length > 0 && group.efs !== true) {
    fail(
      `${serviceName} keeps data in volumes (${entry.volumes.map((volume) => volume.name).join(', ')}: ${CATALOGUE_FILE}), and host group "${groupName}" runs ECS without EFS: ` +
        'a volume ECS manages belongs to one task and is deleted with it by default, so the data would be lost at the next deploy; ' +
        `set hostGroups.${groupName}.efs: true, or keep ${serviceName} on a hosts group`,
    );
  }
  const published = entry.ports.map(publishedHostPort).filter((port) => port !== undefined);
  if (published.length > 0 && !entry.web) {
    fail(
      `${serviceName} is a TCP service (ports ${published.join(', ')}, no web in ${CATALOGUE_FILE}), and ECS gives each task a dynamic host port, ` +
        'which its service name (the addresses of the hosts that run it) cannot carry; give it web, or keep it on a hosts group',
    );
  }
  return problems;
}

/**
 * ECS's deployment circuit breaker stops a deployment only after max(3, half the desired tasks)
 * failed task starts: with fewer replicas than that minimum, a broken image is retried more
 * times than there are tasks before the rollback.
 */
export const CIRCUIT_BREAKER_MIN_FAILURES = 3;

function circuitBreakerWarnings(file: string, services: Record<string, unknown>, hostGroups: Record<string, unknown>, catalogue: Record<string, CatalogueService>): string[] {
  const warnings: string[] = [];
  for (const [groupName, group] of sortedEntries(hostGroups)) {
    if (!isRecord(group) || group.engine !== 'ecs' || typeof group.count !== 'number' || (group.maxCount !== undefined && group.maxCount !== group.count)) {
      continue;
    }
    const startFirst = sortedEntries(services)
      .filter(([serviceName, service]) => isRecord(service) && service.hostGroup === groupName && (catalogue[serviceName]?.update ?? DEFAULT_UPDATE) === 'start-first')
      .map(([serviceName]) => serviceName);
    if (startFirst.length > 0) {
      warnings.push(
        configProblem(
          file,
          `${CONFIG_NAMESPACE}:hostGroups.${groupName}.maxCount`,
          `equal to count (${group.count}): a start-first deployment of ${startFirst.join(', ')} runs a second copy of each task it replaces, which fits only in memory the ${group.count} instance(s) have free; a larger maxCount lets managed scaling add an instance for it`,
        ),
      );
    }
  }
  for (const [serviceName, service] of sortedEntries(services)) {
    if (!isRecord(service) || typeof service.hostGroup !== 'string') {
      continue;
    }
    const group = hostGroups[service.hostGroup];
    if (!isRecord(group) || group.engine !== 'ecs') {
      continue;
    }
    const replicas = typeof service.replicas === 'number' ? service.replicas : typeof group.count === 'number' ? group.count : undefined;
    if (replicas !== undefined && replicas < CIRCUIT_BREAKER_MIN_FAILURES) {
      warnings.push(
        configProblem(
          file,
          `${CONFIG_NAMESPACE}:services.${serviceName}.replicas`,
          `${replicas} task${replicas === 1 ? '' : 's'} on ECS: the deployment circuit breaker rolls back only after ${CIRCUIT_BREAKER_MIN_FAILURES} failed task starts (its minimum), more than the service has; a broken image is retried that long before the rollback (at least ${CIRCUIT_BREAKER_MIN_FAILURES} replicas trip it sooner)`,
        ),
      );
    }
  }
  return warnings;
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
