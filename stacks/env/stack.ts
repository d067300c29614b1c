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
import { DockerHost, DockerHostGroup } from '../../components/host/dockerHostGroup';
import { EnvironmentMonitoring } from '../../components/monitoring/environmentMonitoring';
import { RegistryStackOutputs } from '../../components/registry/contract';
import { resolveServiceImage } from '../../components/registry/resolveImage';
import { readAgentScript } from '../../components/service/agentScript';
import { ContainerService } from '../../components/service/containerService';
import { EnvironmentTraffic, TrafficService } from '../../components/traffic/environmentTraffic';
import { serviceHostName } from '../../components/traffic/plan';
import { stackFileName } from '../common/stackFile';
import { HostGroupConfig, ServiceConfig, StackConfig } from './config';

export interface StackSecrets {
  /** The SSH private key the deploy steps use to reach the hosts. */
  sshPrivateKey: pulumi.Output<string>;
  /** Secret values by key, as referenced by services' secretEnvironment. */
  secrets: pulumi.Output<Record<string, string>>;
}

export interface StackOutputs {
  env: string;
  registryUrl: pulumi.Output<string>;
  hosts: Record<string, pulumi.Output<string>[]>;
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
  const trafficServices = config.services.filter(publishesPort).map(trafficService);
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
  for (const group of config.hostGroups) {
    const services = config.services.filter((service) => service.hostGroup === group.name);
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
  const hostsByService: Record<string, DockerHost[]> = {};
  for (const service of config.services) {
    const group = groups.get(service.hostGroup)!;
    const image = resolveServiceImage(service.image, registryUrl);
    const definition = service.definition;
    const hosts = placement(config, service).map((index) => group.hosts[index]);
    if (publishesPort(service)) {
      hostsByService[service.name] = hosts;
    }
    new ContainerService(service.name, {
      project: DEFAULT_PROJECT,
      env: config.env,
      image,
      hosts,
      ports: definition.ports,
      health: definition.health,
      volumes: definition.volumes,
      configFile: { path: service.configPath, target: definition.configTarget },
      environment: service.environment,
      secretEnvironment:
        Object.keys(service.secretEnvironment).length === 0
          ? undefined
          : secrets.secrets.apply((values) =>
              Object.fromEntries(Object.entries(service.secretEnvironment).map(([variable, key]) => [variable, requireSecret(values, key, service.name)])),
            ),
      region: config.region,
      memoryMiB: definition.memoryMiB,
      pidsLimit: definition.pidsLimit,
      logging: config.logging.driver === 'awslogs' ? { driver: 'awslogs', retentionDays: config.logging.retentionDays } : { driver: 'local' },
      update: service.update,
      drainSeconds: service.drainSeconds,
      // A web service's host proxy speaks HTTP (the load balancer's health check and requests); others are passed as TCP.
      proxyMode: definition.web ? 'http' : 'tcp',
    });
    images[service.name] = image;
  }
  // After the hosts: the load balancers' targets and the TCP services' names are the instances.
  traffic.registerHosts(hostsByService);

  return {
    env: config.env,
    registryUrl,
    hosts: Object.fromEntries([...groups].map(([name, group]) => [name, group.hosts.map((host) => host.instance.id)])),
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

function trafficService(service: ServiceConfig): TrafficService {
  const web = service.definition.web;
  return { name: service.name, ...(web ? { web } : {}), ...(service.route ? { route: service.route } : {}) };
}

function declareHostGroup(
  config: StackConfig,
  group: HostGroupConfig,
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
export function placement(config: StackConfig, service: ServiceConfig): number[] {
  const group = config.hostGroups.find((candidate) => candidate.name === service.hostGroup)!;
  const offset = parseInt(createHash('sha256').update(service.name).digest('hex').slice(0, 8), 16) % group.count;
  return Array.from({ length: service.replicas }, (_, k) => (offset + k) % group.count).sort((a, b) => a - b);
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
