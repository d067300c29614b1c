/**
 * The Berth program for one environment: takes a validated StackConfig and
 * composes the library's components. Each component is one composition step
 * here; nothing in this file decides how a resource looks.
 */
import * as pulumi from '@pulumi/pulumi';
import { createHash } from 'crypto';
import { parseImageRef, splitRegistryHost } from '../../components/common/image';
import { DEFAULT_PROJECT } from '../../components/common/naming';
import { compareStrings } from '../../components/common/records';
import { publishedHostPort } from '../../components/common/ports';
import { EcsCluster } from '../../components/cluster/ecsCluster';
import { DockerHost, DockerHostGroup } from '../../components/host/dockerHostGroup';
import { EnvironmentMonitoring } from '../../components/monitoring/environmentMonitoring';
import { RegistryStackOutputs } from '../../components/registry/contract';
import { resolveServiceImage } from '../../components/registry/resolveImage';
import { readAgentScript } from '../../components/service/agentScript';
import { ContainerService } from '../../components/service/containerService';
import { EcsService } from '../../components/task/ecsService';
import { EnvironmentTraffic, TrafficHost, TrafficService } from '../../components/traffic/environmentTraffic';
import { serviceHostName } from '../../components/traffic/plan';
import { stackFileName } from '../common/stackFile';
import { EcsGroupConfig, HostGroupConfig, HostsGroupConfig, ServiceConfig, StackConfig } from './config';

export interface StackSecrets {
  /** The SSH private key the deploy steps use to reach the hosts. */
  sshPrivateKey: pulumi.Output<string>;
  /** Secret values by key, as referenced by services' secretEnvironment. */
  secrets: pulumi.Output<Record<string, string>>;
}

export interface StackOutputs {
  env: string;
  registryUrl: pulumi.Output<string>;
  /** The instance ids of each hosts group. */
  hosts: Record<string, pulumi.Output<string>[]>;
  /** The ECS cluster name of each ecs group. */
  clusters: Record<string, pulumi.Output<string>>;
  images: Record<string, pulumi.Output<string>>;
  /** The edge load balancer's DNS name, when a service has a route. */
  loadBalancer?: pulumi.Output<string>;
  /** The name each service that publishes a port is called by, `<service>.<zone>`. */
  serviceNames: Record<string, string>;
}

export function declareStack(config: StackConfig, secrets: StackSecrets): StackOutputs {
  const registry = new pulumi.StackReference(config.registryStack);
  const registryUrl = (registry.requireOutput('registryUrl') as pulumi.Output<string>).apply((url) => checkedRegistryUrl(config, url));
  const repositoryArns = registry.requireOutput('repositoryArns') as pulumi.Output<RegistryStackOutputs['repositoryArns']>;

  const monitoring = new EnvironmentMonitoring(config.env, {
    project: DEFAULT_PROJECT,
    env: config.env,
    emails: config.monitoring.alarmEmails,
    dockerLogs: config.logging.driver === 'awslogs' ? { retentionDays: config.logging.retentionDays } : undefined,
  });

  // Before the hosts: they accept service ports from the load balancers' security groups.
  const trafficServices = config.services.filter(publishesPort).map((service) => trafficService(config, service));
  const traffic = new EnvironmentTraffic(config.env, {
    project: DEFAULT_PROJECT,
    env: config.env,
    vpcId: config.network.vpcId,
    subnetIds: config.network.subnetIds,
    services: trafficServices,
    scheme: config.traffic.scheme,
    certificateArn: config.traffic.certificateArn,
    ingressCidrs: config.traffic.ingressCidrs,
    // Who may reach service ports directly may reach them by name: it widens nothing.
    serviceNameCidrs: config.network.serviceIngressCidrs,
    serviceNameSecurityGroupIds: config.network.serviceIngressSecurityGroupIds,
    accessLogRetentionDays: config.traffic.accessLogs.retentionDays,
    deletionProtection: config.traffic.deletionProtection,
    zoneName: config.traffic.zoneName,
  });

  const agentScript = readAgentScript();
  const groups = new Map<string, DockerHostGroup>();
  const clusters = new Map<string, EcsCluster>();
  for (const group of config.hostGroups) {
    const services = servicesOn(config, group.name);
    if (group.engine === 'ecs') {
      clusters.set(group.name, declareCluster(config, group, services, traffic));
      continue;
    }
    groups.set(
      group.name,
      declareHostGroup(config, group, services, {
        registryUrl,
        repositoryArns,
        alarmTopicArn: monitoring.alarmTopicArn,
        agentScript,
        sshPrivateKey: secrets.sshPrivateKey,
        loadBalancerSecurityGroupIds: traffic.securityGroupIds,
        // Every host may call every service name: it joins the callers' group, which the service-names
        // listener (HTTP:80) and the TCP services' host ports on the hosts that run them let in.
        callerSecurityGroupIds: traffic.hostSecurityGroupIds(
          group.name,
          services.filter((service) => publishesPort(service) && !service.definition.web).map((service) => ({ name: service.name, ports: publishedPorts(service) })),
        ),
      }),
    );
  }

  const images: Record<string, pulumi.Output<string>> = {};
  const hostsByService: Record<string, TrafficHost[]> = {};
  for (const service of config.services) {
    const image = resolveServiceImage(service.image, registryUrl);
    // While a service moves, the group it leaves comes first and owns its log group (it existed first).
    const placements = [...(service.movingFrom ? [service.movingFrom] : []), { hostGroup: service.hostGroup, replicas: service.replicas }];
    const declared: pulumi.Resource[] = [];
    for (const [index, { hostGroup: groupName, replicas }] of placements.entries()) {
      const group = config.hostGroups.find((candidate) => candidate.name === groupName)!;
      const ownsLogGroup = index === 0;
      const after = { dependsOn: declared.slice() };
      if (group.engine === 'ecs') {
        declared.push(
          declareEcsService(config, service, { image, replicas, registryUrl, repositoryArns, cluster: clusters.get(groupName)!, traffic, secrets, alarmTopicArn: monitoring.alarmTopicArn, ownsLogGroup }, after),
        );
        continue;
      }
      const hosts = placement(config, service, groupName, replicas).map((hostIndex) => groups.get(groupName)!.hosts[hostIndex]);
      const containerService = declareContainerService(config, service, { image, hosts, secrets, ownsLogGroup }, after);
      if (publishesPort(service)) {
        // Registered once deployed; deregistered before its removal (a move, fewer replicas, the service gone).
        hostsByService[service.name] = hosts.map((host, hostIndex) => ({ name: host.name, instance: host.instance, deployed: containerService.deployments[hostIndex] }));
      }
      declared.push(containerService);
    }
    images[service.name] = image;
  }
  // After the hosts: the load balancers' targets and the TCP services' names are the instances.
  traffic.registerHosts(hostsByService);

  return {
    env: config.env,
    registryUrl,
    hosts: Object.fromEntries([...groups].map(([name, group]) => [name, group.hosts.map((host) => host.instance.id)])),
    clusters: Object.fromEntries([...clusters].map(([name, cluster]) => [name, cluster.clusterName])),
    images,
    loadBalancer: traffic.edgeDnsName,
    serviceNames: Object.fromEntries(trafficServices.map((service) => [service.name, serviceHostName(service.name, traffic.zoneName)])),
  };
}

function publishesPort(service: ServiceConfig): boolean {
  return publishedPorts(service).length > 0;
}

/** The host ports a service publishes, in its definition's order. */
function publishedPorts(service: ServiceConfig): number[] {
  return service.definition.ports.map(publishedHostPort).filter((port): port is number => port !== undefined);
}

function trafficService(config: StackConfig, service: ServiceConfig): TrafficService {
  const web = service.definition.web;
  // Validation keeps TCP services off ECS groups: only a web service runs on dynamic ports.
  const onEcs = [service.hostGroup, service.movingFrom?.hostGroup].some((name) => engineOf(config, name) === 'ecs');
  return { name: service.name, ...(web ? { web } : {}), ...(service.route ? { route: service.route } : {}), ...(web && onEcs ? { dynamicPorts: true } : {}) };
}

function engineOf(config: StackConfig, groupName: string | undefined): HostGroupConfig['engine'] | undefined {
  return config.hostGroups.find((group) => group.name === groupName)?.engine;
}

/** The services a host group runs: those placed on it, and those moving away from it. */
export function servicesOn(config: StackConfig, groupName: string): ServiceConfig[] {
  return config.services.filter((service) => service.hostGroup === groupName || service.movingFrom?.hostGroup === groupName);
}

/**
 * The log group's logical name is the same under either engine's component (`<service>-logs`): each
 * names the other's as an alias, so a service that moves keeps its log group, updated in place,
 * instead of creating a second group of the same physical name before the first is deleted.
 */
const LOG_GROUP_OWNERS = { hosts: 'berth:service:ContainerService', ecs: 'berth:task:EcsService' } as const;

function logGroupAlias(service: string, from: keyof typeof LOG_GROUP_OWNERS) {
  return (_args: unknown, opts: pulumi.CustomResourceOptions) => {
    opts.aliases = [...(opts.aliases ?? []), { parent: pulumi.createUrn(service, LOG_GROUP_OWNERS[from]) }];
  };
}

function secretEnvironmentOf(service: ServiceConfig, secrets: StackSecrets): Record<string, pulumi.Output<string>> {
  return Object.fromEntries(
    Object.entries(service.secretEnvironment).map(([variable, key]) => [variable, secrets.secrets.apply((values) => requireSecret(values, key, service.name))]),
  );
}

function declareContainerService(
  config: StackConfig,
  service: ServiceConfig,
  placed: { image: pulumi.Output<string>; hosts: DockerHost[]; secrets: StackSecrets; ownsLogGroup: boolean },
  opts: pulumi.ComponentResourceOptions,
): ContainerService {
  const definition = service.definition;
  const secretEnvironment = secretEnvironmentOf(service, placed.secrets);
  return new ContainerService(
    service.name,
    {
      project: DEFAULT_PROJECT,
      env: config.env,
      image: placed.image,
      hosts: placed.hosts,
      ports: definition.ports,
      health: definition.health,
      volumes: definition.volumes,
      configFile: { path: service.configPath, target: definition.configTarget },
      environment: service.environment,
      secretEnvironment: Object.keys(secretEnvironment).length === 0 ? undefined : pulumi.all(secretEnvironment),
      region: config.region,
      memoryMiB: definition.memoryMiB,
      pidsLimit: definition.pidsLimit,
      logging: config.logging.driver === 'awslogs' ? { driver: 'awslogs', retentionDays: config.logging.retentionDays, createGroup: placed.ownsLogGroup } : { driver: 'local' },
      update: service.update,
      drainSeconds: service.drainSeconds,
      // A web service's host proxy speaks HTTP (the load balancer's health check and requests); others are passed as TCP.
      proxyMode: definition.web ? 'http' : 'tcp',
      transform: { logGroup: logGroupAlias(service.name, 'ecs') },
    },
    opts,
  );
}

function declareEcsService(
  config: StackConfig,
  service: ServiceConfig,
  shared: {
    image: pulumi.Output<string>;
    replicas: number;
    registryUrl: pulumi.Output<string>;
    repositoryArns: pulumi.Output<Record<string, string>>;
    cluster: EcsCluster;
    traffic: EnvironmentTraffic;
    secrets: StackSecrets;
    alarmTopicArn: pulumi.Output<string>;
    ownsLogGroup: boolean;
  },
  opts: pulumi.ComponentResourceOptions,
): EcsService {
  const definition = service.definition;
  return new EcsService(
    service.name,
    {
      project: DEFAULT_PROJECT,
      env: config.env,
      cluster: shared.cluster,
      image: shared.image,
      repositoryArns: pulumi.all([shared.registryUrl, shared.repositoryArns]).apply(([url, arns]) => pullRepositoryArns(config, [service], url, arns)),
      ports: definition.ports,
      health: definition.health,
      replicas: shared.replicas,
      volumes: definition.volumes,
      configFile: { path: service.configPath, target: definition.configTarget },
      environment: service.environment,
      secretEnvironment: secretEnvironmentOf(service, shared.secrets),
      region: config.region,
      memoryMiB: definition.memoryMiB,
      pidsLimit: definition.pidsLimit,
      update: service.update,
      targets: definition.web ? shared.traffic.targetsOf(service.name) : [],
      logging: { retentionDays: config.logging.retentionDays, createGroup: shared.ownsLogGroup },
      alarmTopicArn: shared.alarmTopicArn,
      transform: { logGroup: logGroupAlias(service.name, 'hosts') },
    },
    opts,
  );
}

function declareCluster(config: StackConfig, group: EcsGroupConfig, services: ServiceConfig[], traffic: EnvironmentTraffic): EcsCluster {
  return new EcsCluster(group.name, {
    project: DEFAULT_PROJECT,
    env: config.env,
    minSize: group.count,
    maxSize: group.maxCount,
    instanceType: group.instanceType,
    vpcId: config.network.vpcId,
    subnetIds: config.network.subnetIds,
    ami: group.ami,
    rootVolumeGiB: group.rootVolumeGiB,
    associatePublicIp: group.associatePublicIp,
    publicIpReason: group.publicIpReason,
    serviceIngressSecurityGroupIds: traffic.securityGroupIds,
    // The tasks call the service names like hosts do. (TCP services do not run on ECS.)
    additionalSecurityGroupIds: traffic.hostSecurityGroupIds(group.name, []),
    ...(group.efs ? { efs: { retain: group.retainDataVolume } } : {}),
    // ECS caps every task of an instance alike: the largest limit of the services it may run.
    ...(services.length > 0 ? { taskPidsLimit: Math.max(...services.map((service) => service.definition.pidsLimit)) } : {}),
  });
}

function declareHostGroup(
  config: StackConfig,
  group: HostsGroupConfig,
  services: ServiceConfig[],
  shared: {
    registryUrl: pulumi.Output<string>;
    repositoryArns: pulumi.Output<Record<string, string>>;
    alarmTopicArn: pulumi.Output<string>;
    agentScript: string;
    sshPrivateKey: pulumi.Output<string>;
    loadBalancerSecurityGroupIds: pulumi.Output<string>[];
    callerSecurityGroupIds: pulumi.Output<string>[];
  },
): DockerHostGroup {
  return new DockerHostGroup(group.name, {
    project: DEFAULT_PROJECT,
    env: config.env,
    region: config.region,
    count: group.count,
    instanceType: group.instanceType,
    vpcId: config.network.vpcId,
    subnetIds: config.network.subnetIds,
    rootVolumeGiB: group.rootVolumeGiB,
    ami: group.ami,
    dataVolumeGiB: group.dataVolumeGiB,
    retainDataVolume: group.retainDataVolume,
    associatePublicIp: group.associatePublicIp,
    publicIpReason: group.publicIpReason,
    adminCidrs: config.network.adminCidrs,
    bastionSecurityGroupId: config.network.bastionSecurityGroupId,
    servicePorts: [...new Set(services.flatMap((service) => service.definition.ports.map(publishedHostPort)))].filter((port): port is number => port !== undefined),
    serviceIngressCidrs: config.network.serviceIngressCidrs,
    // Service ports only from the named networks, the named security groups and the load balancers.
    serviceIngressSecurityGroupIds: [...config.network.serviceIngressSecurityGroupIds, ...shared.loadBalancerSecurityGroupIds],
    additionalSecurityGroupIds: shared.callerSecurityGroupIds,
    repositoryArns: pulumi.all([shared.registryUrl, shared.repositoryArns]).apply(([url, arns]) => pullRepositoryArns(config, services, url, arns)),
    logging: config.logging.driver === 'awslogs' ? { driver: 'awslogs' } : { driver: 'local' },
    pruneSchedule: config.prune.schedule,
    serviceDirectories: services.map((service) => `${config.env}/${service.name}`),
    alarmTopicArn: shared.alarmTopicArn,
    diskUsagePercent: config.monitoring.diskUsagePercent,
    ssh: {
      user: config.ssh.user,
      privateKey: shared.sshPrivateKey,
      publicKey: config.sshPublicKey,
      bastion: config.ssh.bastionHost ? { host: config.ssh.bastionHost, hostKey: config.ssh.bastionHostKey } : undefined,
    },
    agentScript: shared.agentScript,
  });
}

/**
 * Which hosts of its group run a service: `replicas` consecutive hosts, starting
 * at an offset taken from a hash of the service's name, listed in host order
 * (the rollout order). The offset depends on nothing else, so adding or
 * removing another service never moves this one.
 */
export function placement(config: StackConfig, service: ServiceConfig, groupName: string = service.hostGroup, replicas: number = service.replicas): number[] {
  const group = config.hostGroups.find((candidate) => candidate.name === groupName)!;
  const offset = parseInt(createHash('sha256').update(service.name).digest('hex').slice(0, 8), 16) % group.count;
  return Array.from({ length: replicas }, (_, k) => (offset + k) % group.count).sort((a, b) => a - b);
}

/**
 * The registry stack's `registryUrl`, checked against what the stack file says:
 * berth:registryHost, when set, must be that registry, and no registry of
 * berth:allowedRegistries may be it (their images get no pull permission).
 */
export function checkedRegistryUrl(config: StackConfig, registryUrl: string): string {
  const host = registryUrl.replace(/\/+$/, '');
  const file = stackFileName(config.stack);
  const from = `output registryUrl of the registry stack ${config.registryStack}`;
  if (config.registryHost !== undefined && config.registryHost !== host) {
    throw new Error(`${file}: berth:registryHost: expected the registry stack's registry ${host} (${from}), got ${config.registryHost}`);
  }
  const index = config.allowedRegistries.indexOf(host);
  if (index >= 0) {
    throw new Error(`${file}: berth:allowedRegistries[${index}]: ${host} is the registry stack's registry (${from}), whose images get pull permission; list only other registries`);
  }
  return host;
}

/**
 * Least privilege: the ARNs of the repositories a group's hosts pull from, and
 * no others. Each image is looked up by its repository path (`berth/<service>`,
 * the registry stack's key) whether or not it is written with its registry
 * host; an image of another host must come from berth:allowedRegistries (no
 * permission is granted for it). A miss fails the deployment instead of
 * silently leaving the hosts unable to pull.
 */
export function pullRepositoryArns(config: StackConfig, services: ServiceConfig[], registryUrl: string, repositoryArns: Record<string, string>): string[] {
  const file = stackFileName(config.stack);
  const registryHost = registryUrl.replace(/\/+$/, '');
  const arns = new Set<string>();
  for (const service of [...services].sort((a, b) => compareStrings(a.name, b.name))) {
    const key = `berth:services.${service.name}.image`;
    const ref = parseImageRef(service.image);
    if ('error' in ref) {
      throw new Error(`${file}: ${key}: ${ref.error}, got "${service.image}"`);
    }
    const { host, path } = splitRegistryHost(ref.repository);
    if (host && config.allowedRegistries.includes(host)) {
      continue;
    }
    if (host && host !== registryHost) {
      throw new Error(`${file}: ${key}: expected an image of the registry stack's registry ${registryHost} (output registryUrl of the registry stack ${config.registryStack}), got "${service.image}"`);
    }
    const arn = repositoryArns[path];
    if (!arn) {
      const known = Object.keys(repositoryArns).sort().join(', ') || '(none)';
      throw new Error(`${file}: ${key}: repository ${path} is not in the registry stack ${config.registryStack}; its repositories are: ${known}`);
    }
    arns.add(arn);
  }
  return [...arns].sort();
}

function requireSecret(values: Record<string, string>, key: string, service: string): string {
  const value = values[key];
  if (value === undefined) {
    throw new Error(`berth:secrets.${key} is not set; service ${service} needs it (pulumi config set --secret --path 'berth:secrets.${key}' …)`);
  }
  return value;
}
