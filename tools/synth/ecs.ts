/**
 * What a stack runs on ECS, read back from what a synth recorded, and where
 * each service runs: the "ECS services" and "ECS clusters" tables of the
 * markdown summary (./markdown draws them), and each service's engines and
 * groups, which the synth diff (../review/diff) compares to call out a move
 * between engines. Pure, and sorted: the same resources always read the same.
 *
 * Resources are matched as components/task/ecsService.ts and
 * components/cluster/ecsCluster.ts declare them: an EcsService component's
 * aws.ecs.Service and TaskDefinition are its children, and the service names
 * its cluster (an aws.ecs.Cluster, a child of the EcsCluster named after the
 * host group) through its `cluster` input; the task definition's
 * containerDefinitions is a JSON string whose last essential container, named
 * after the service, is the service's own. A service's secrets are read by
 * name only: their values never reach a synth, and nothing here would print
 * them if they did.
 */
import { gunzipSync } from 'zlib';
import { compareStrings, isRecord } from '../../components/common/records';
import { ECS_AL2023_PARAMETER } from '../../components/cluster/render';
import { architectureOf } from '../../components/host/architecture';
import { CONFIG_CONTAINER, CONFIG_VOLUME, dataVolumeName } from '../../components/task/taskDefinition';
import { OFFLINE_AMI_ID } from '../offline/runtime';
import type { RecordedResource } from '../offline/types';

export const ECS_TYPES = {
  serviceComponent: 'berth:task:EcsService',
  clusterComponent: 'berth:cluster:EcsCluster',
  service: 'aws:ecs/service:Service',
  taskDefinition: 'aws:ecs/taskDefinition:TaskDefinition',
  cluster: 'aws:ecs/cluster:Cluster',
  capacityProvider: 'aws:ecs/capacityProvider:CapacityProvider',
  autoScalingGroup: 'aws:autoscaling/group:Group',
  launchTemplate: 'aws:ec2/launchTemplate:LaunchTemplate',
  fileSystem: 'aws:efs/fileSystem:FileSystem',
  targetGroup: 'aws:lb/targetGroup:TargetGroup',
} as const;

/** The components a service runs as on either engine, and what runs it on a hosts group. */
export const HOSTS_TYPES = {
  serviceComponent: 'berth:service:ContainerService',
  deployStep: 'command:remote:Command',
  instance: 'aws:ec2/instance:Instance',
} as const;

export interface EcsServiceRow {
  service: string;
  /** The host group (the EcsCluster component) it runs on. */
  cluster: string;
  /** The service's container's image, exactly as the task definition pins it. */
  image: string;
  desiredCount: string;
  minimumHealthyPercent: string;
  maximumPercent: string;
  /** The deployment circuit breaker is on and rolls back. */
  circuitBreakerRollback: boolean;
  /** The alarms a deployment watches, by name, as the service lists them. */
  alarms: string[];
  /** `off` (alarms not watched), `no rollback`, or empty: watched, and they roll back. */
  alarmMode: string;
  /** `<target group> -> <container>:<port>`, sorted. */
  targets: string[];
  /** Where the container reads its config file; empty without one. */
  configFile: string;
  /** The secret variables' names, sorted; never their values. */
  secrets: string[];
  /** Data volumes on EFS: `<volume>: <container path>`, with `(read-only)` or `(no TLS)` when so. */
  efsVolumes: string[];
}

export interface EcsClusterRow {
  cluster: string;
  instanceType: string;
  minSize: string;
  maxSize: string;
  /** `pinned ami-…`, or the public SSM parameter the AMI is looked up in on every `up`. */
  ami: string;
  /** The capacity provider's managed scaling, termination protection and draining. */
  scaling: string;
  /** `no`, `yes`, or `yes (retained on delete)`. */
  efs: string;
  /** The ECS agent's image cleanup, from the ecs.config the user data writes. */
  imageCleanup: string;
}

export interface Ecs {
  services: EcsServiceRow[];
  clusters: EcsClusterRow[];
}

function text(value: unknown): string {
  return value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
}

/** The resources `resource` names for `property`, by name or `type::name`. */
function referenced(resource: RecordedResource, property: string, candidates: RecordedResource[]): RecordedResource[] {
  const references = resource.propertyDependencies?.[property] ?? [];
  return candidates.filter((candidate) => references.includes(candidate.name) || references.includes(`${candidate.type}::${candidate.name}`));
}

function childOf(resources: RecordedResource[], type: string, parent: string): RecordedResource | undefined {
  return resources
    .filter((resource) => resource.type === type && resource.parent === parent)
    .sort((a, b) => compareStrings(a.name, b.name))[0];
}

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') {
    return value;
  }
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/** The service's own container: the one the load balancers name, else the one named after it, else the last essential one. */
function mainContainer(definitions: Record<string, any>[], service: string, balancers: Record<string, any>[]): Record<string, any> | undefined {
  const named = (name: unknown) => definitions.find((definition) => definition.name === name);
  return (
    named(balancers[0]?.containerName) ??
    named(service) ??
    [...definitions].reverse().find((definition) => definition.essential !== false && definition.name !== CONFIG_CONTAINER) ??
    definitions[definitions.length - 1]
  );
}

/** `'/config/it'\''s.properties'` -> `/config/it's.properties`: the target the config container writes (configWriteScript). */
function configTarget(definitions: Record<string, any>[], main: Record<string, any> | undefined): string {
  const writer = definitions.find((definition) => definition.name === CONFIG_CONTAINER);
  const script = Array.isArray(writer?.command) ? writer.command.map(text).join(' ') : '';
  const quoted = /> '((?:[^']|'\\'')*)'\.tmp/.exec(script)?.[1];
  if (quoted !== undefined) {
    return quoted.replace(/'\\''/g, "'");
  }
  // No writer to read: the directory the config volume is mounted at.
  const mounts: Record<string, any>[] = Array.isArray(main?.mountPoints) ? main!.mountPoints : [];
  return text(mounts.find((mount) => mount.sourceVolume === CONFIG_VOLUME)?.containerPath);
}

/**
 * A target group's name, from the ARN the service registers in (`…:targetgroup/<name>/<id>`);
 * failing that, the one target group the service depends on for `loadBalancers`.
 */
function targetGroupName(arn: unknown, service: RecordedResource, resources: RecordedResource[]): string {
  const fromArn = /:targetgroup\/([^/]+)\//.exec(text(arn))?.[1];
  if (fromArn) {
    return fromArn;
  }
  const groups = referenced(service, 'loadBalancers', resources.filter((resource) => resource.type === ECS_TYPES.targetGroup));
  return groups.length === 1 ? text(groups[0].inputs.name) || groups[0].name : text(arn);
}

/** The EcsCluster a service runs on: the cluster its `cluster` input names, and that cluster's parent. */
function clusterOf(service: RecordedResource, resources: RecordedResource[]): string {
  const clusters = resources.filter((resource) => resource.type === ECS_TYPES.cluster);
  const cluster =
    referenced(service, 'cluster', clusters)[0] ??
    // No recorded dependencies: match the cluster name at the end of its ARN.
    clusters.find((candidate) => text(candidate.inputs.name) !== '' && text(service.inputs.cluster).split('/').pop() === text(candidate.inputs.name));
  return cluster ? (cluster.parent ?? cluster.name) : text(service.inputs.cluster).split('/').pop()!;
}

/** `data-`: what a task volume of a data volume is named with (dataVolumeName). */
const DATA_VOLUME_PREFIX = new RegExp(`^${dataVolumeName('')}`);

function ecsServiceRow(service: RecordedResource, resources: RecordedResource[]): EcsServiceRow {
  const name = text(service.inputs.name) || service.parent || service.name;
  const taskDefinitions = resources.filter((resource) => resource.type === ECS_TYPES.taskDefinition);
  const taskDefinition = referenced(service, 'taskDefinition', taskDefinitions)[0] ?? taskDefinitions.find((candidate) => candidate.parent === service.parent && candidate.name === service.name);
  const parsed = parseJson(taskDefinition?.inputs.containerDefinitions);
  const definitions: Record<string, any>[] = Array.isArray(parsed) ? parsed.filter(isRecord) : [];
  const balancers: Record<string, any>[] = Array.isArray(service.inputs.loadBalancers) ? service.inputs.loadBalancers.filter(isRecord) : [];
  const main = mainContainer(definitions, name, balancers);
  const breaker = isRecord(service.inputs.deploymentCircuitBreaker) ? service.inputs.deploymentCircuitBreaker : {};
  const alarms = isRecord(service.inputs.alarms) ? service.inputs.alarms : {};
  const alarmNames: string[] = Array.isArray(alarms.alarmNames) ? alarms.alarmNames.map(text) : [];
  const mounts: Record<string, any>[] = Array.isArray(main?.mountPoints) ? main!.mountPoints.filter(isRecord) : [];
  const volumes: Record<string, any>[] = Array.isArray(taskDefinition?.inputs.volumes) ? (taskDefinition!.inputs.volumes as unknown[]).filter(isRecord) : [];
  const hasConfig = definitions.some((definition) => definition.name === CONFIG_CONTAINER) || mounts.some((mount) => mount.sourceVolume === CONFIG_VOLUME);
  return {
    service: name,
    cluster: clusterOf(service, resources),
    image: text(main?.image),
    desiredCount: text(service.inputs.desiredCount),
    minimumHealthyPercent: text(service.inputs.deploymentMinimumHealthyPercent),
    maximumPercent: text(service.inputs.deploymentMaximumPercent),
    circuitBreakerRollback: breaker.enable === true && breaker.rollback === true,
    alarms: alarmNames,
    alarmMode: alarmNames.length === 0 ? '' : alarms.enable !== true ? 'off' : alarms.rollback !== true ? 'no rollback' : '',
    targets: balancers
      .map((balancer) => `${targetGroupName(balancer.targetGroupArn, service, resources)} -> ${text(balancer.containerName)}:${text(balancer.containerPort)}`)
      .sort(compareStrings),
    configFile: hasConfig ? configTarget(definitions, main) : '',
    secrets: (Array.isArray(main?.secrets) ? (main!.secrets as unknown[]).filter(isRecord).map((secret) => text(secret.name)) : []).sort(compareStrings),
    efsVolumes: volumes
      .filter((volume) => isRecord(volume.efsVolumeConfiguration))
      .map((volume) => {
        const mount = mounts.find((candidate) => candidate.sourceVolume === volume.name);
        const notes = [mount?.readOnly === true ? 'read-only' : '', volume.efsVolumeConfiguration.transitEncryption === 'ENABLED' ? '' : 'no TLS'].filter(Boolean);
        const label = text(volume.name).replace(DATA_VOLUME_PREFIX, '');
        return `${label}: ${mount ? text(mount.containerPath) : '(not mounted)'}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
      })
      .sort(compareStrings),
  };
}

/** User data as text: gzipped or plain base64 (a launch template's), or already text. */
function userDataText(value: unknown): string {
  if (typeof value !== 'string') {
    return '';
  }
  const compact = value.replace(/\s+/g, '');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    const bytes = Buffer.from(compact, 'base64');
    try {
      return bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
    } catch {
      return '';
    }
  }
  return value;
}

/** The `KEY=value` lines of the ecs.config the user data writes. */
export function ecsAgentSettings(userData: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const match of userData.matchAll(/^(ECS_[A-Z0-9_]+)=(.*)$/gm)) {
    settings.set(match[1], match[2]);
  }
  return settings;
}

/** `interval 30m, minimum age 60m, 5 images per run, stopped tasks kept 60m`, or `off`. */
export function imageCleanupText(settings: Map<string, string>): string {
  if (settings.size === 0) {
    return '';
  }
  if (settings.get('ECS_DISABLE_IMAGE_CLEANUP') === 'true') {
    return 'off';
  }
  const setting = (key: string) => settings.get(key) ?? 'agent default';
  return [
    `interval ${setting('ECS_IMAGE_CLEANUP_INTERVAL')}`,
    `minimum age ${setting('ECS_IMAGE_MINIMUM_CLEANUP_AGE')}`,
    `${setting('ECS_NUM_IMAGES_DELETE_PER_CYCLE')} images per run`,
    `stopped tasks kept ${setting('ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION')}`,
  ].join(', ');
}

/**
 * Where the AMI comes from. Offline, the SSM lookup of the latest ECS-optimised AMI answers
 * OFFLINE_AMI_ID (tools/offline/runtime), so that id reads as the lookup; any other is pinned.
 */
function amiText(imageId: unknown, instanceType: string): string {
  if (imageId !== OFFLINE_AMI_ID) {
    return imageId === undefined ? '' : `pinned ${text(imageId)}`;
  }
  try {
    return `latest ECS-optimised AL2023 (SSM ${ECS_AL2023_PARAMETER[architectureOf(instanceType)]})`;
  } catch {
    return 'latest ECS-optimised AL2023 (SSM)';
  }
}

const onOff = (value: unknown) => (value === 'ENABLED' ? 'on' : 'off');

function scalingText(provider: RecordedResource | undefined): string {
  const group = isRecord(provider?.inputs.autoScalingGroupProvider) ? provider!.inputs.autoScalingGroupProvider : undefined;
  if (!group) {
    return '';
  }
  const scaling = isRecord(group.managedScaling) ? group.managedScaling : {};
  const managed =
    scaling.status === 'ENABLED'
      ? `managed: target ${text(scaling.targetCapacity) || '100'}%, step ${text(scaling.minimumScalingStepSize) || '1'}-${text(scaling.maximumScalingStepSize) || '10000'}` +
        (scaling.instanceWarmupPeriod === undefined ? '' : `, warmup ${text(scaling.instanceWarmupPeriod)} s`)
      : 'managed scaling off';
  return `${managed}; termination protection ${onOff(group.managedTerminationProtection)}; draining ${onOff(group.managedDraining)}`;
}

function ecsClusterRow(component: RecordedResource, resources: RecordedResource[]): EcsClusterRow {
  const template = childOf(resources, ECS_TYPES.launchTemplate, component.name);
  const group = childOf(resources, ECS_TYPES.autoScalingGroup, component.name);
  const fileSystem = childOf(resources, ECS_TYPES.fileSystem, component.name);
  const instanceType = text(template?.inputs.instanceType);
  return {
    cluster: component.name,
    instanceType,
    minSize: text(group?.inputs.minSize),
    maxSize: text(group?.inputs.maxSize),
    ami: template ? amiText(template.inputs.imageId, instanceType) : '',
    scaling: scalingText(childOf(resources, ECS_TYPES.capacityProvider, component.name)),
    efs: fileSystem ? (fileSystem.options?.retainOnDelete ? 'yes (retained on delete)' : 'yes') : 'no',
    imageCleanup: imageCleanupText(ecsAgentSettings(userDataText(template?.inputs.userData))),
  };
}

/** Every ECS service and cluster the stack declares, each sorted by name. */
export function ecsOf(resources: RecordedResource[]): Ecs {
  const serviceComponents = new Set(resources.filter((resource) => resource.type === ECS_TYPES.serviceComponent).map((resource) => resource.name));
  const services = resources
    .filter((resource) => resource.type === ECS_TYPES.service && resource.parent !== null && serviceComponents.has(resource.parent))
    .map((service) => ecsServiceRow(service, resources))
    .sort((a, b) => compareStrings(a.service, b.service) || compareStrings(a.cluster, b.cluster));
  const clusters = resources
    .filter((resource) => resource.type === ECS_TYPES.clusterComponent)
    .map((component) => ecsClusterRow(component, resources))
    .sort((a, b) => compareStrings(a.cluster, b.cluster));
  return { services, clusters };
}

/** A markdown table as data: ./markdown draws it. */
export interface TableSection {
  title: string;
  columns: string[];
  rows: string[][];
}

const list = (values: string[]) => values.join(', ');

/**
 * The "ECS services" and "ECS clusters" tables, each only when the stack has a row for it:
 * per service its cluster, pinned image, desired count, deployment percents, circuit breaker,
 * alarms, target groups, config file, secret names and EFS volumes; per cluster its instances,
 * AMI, capacity provider, EFS and the agent's image cleanup.
 */
export function ecsSections(resources: RecordedResource[]): TableSection[] {
  const { services, clusters } = ecsOf(resources);
  const sections: TableSection[] = [];
  if (services.length > 0) {
    sections.push({
      title: 'ECS services',
      columns: ['service', 'cluster', 'image (pinned)', 'desired', 'min/max %', 'circuit breaker rollback', 'alarms', 'target groups', 'config file', 'secrets', 'EFS volumes'],
      rows: services.map((row) => [
        row.service,
        row.cluster,
        row.image,
        row.desiredCount,
        `${row.minimumHealthyPercent}/${row.maximumPercent}`,
        row.circuitBreakerRollback ? 'on' : 'off',
        `${list(row.alarms)}${row.alarmMode ? ` (${row.alarmMode})` : ''}`,
        list(row.targets),
        row.configFile,
        list(row.secrets),
        list(row.efsVolumes),
      ]),
    });
  }
  if (clusters.length > 0) {
    sections.push({
      title: 'ECS clusters',
      columns: ['cluster', 'instance type', 'size (min-max)', 'AMI', 'capacity provider', 'EFS', 'image cleanup'],
      rows: clusters.map((row) => [row.cluster, row.instanceType, `${row.minSize}-${row.maxSize}`, row.ami, row.scaling, row.efs, row.imageCleanup]),
    });
  }
  return sections;
}

/**
 * Where one service runs: for each engine it runs on, its groups there, sorted (empty when the
 * component has nothing placed yet).
 */
export type ServicePlacement = Partial<Record<'hosts' | 'ecs', string[]>>;

/**
 * The hosts group a deploy step deploys to: its host (the instance its connection names, else
 * the one its name ends with) and that host's group (its parent, else its tag, else its name
 * without the `-<n>`).
 */
function deployGroup(step: RecordedResource, service: string, instances: RecordedResource[]): string {
  const byName = step.name.startsWith(`${service}-`) ? step.name.slice(service.length + 1) : step.name;
  const host = referenced(step, 'connection', instances)[0] ?? instances.find((instance) => instance.name === byName);
  if (host) {
    const tags = host.inputs.tags;
    return host.parent ?? (isRecord(tags) && typeof tags['berth:host-group'] === 'string' ? tags['berth:host-group'] : host.name.replace(/-\d+$/, ''));
  }
  return byName.replace(/-\d+$/, '');
}

/** A ContainerService's deploy step: the remote command that runs `berth-agent deploy` on one host. */
export function isDeployStep(resource: RecordedResource): boolean {
  return resource.type === HOSTS_TYPES.deployStep && typeof resource.inputs.create === 'string' && resource.inputs.create.includes('berth-agent deploy');
}

const sortedUnique = (values: string[]) => [...new Set(values)].sort(compareStrings);

/**
 * Each service's engines and groups: on ECS where an EcsService component of its name exists
 * (its groups: the EcsClusters of the ECS services it declares), on hosts where a
 * ContainerService does (its groups: the DockerHostGroups of its deploy steps' hosts).
 */
export function placementsOf(resources: RecordedResource[]): Map<string, ServicePlacement> {
  const placements = new Map<string, ServicePlacement>();
  const instances = resources.filter((resource) => resource.type === HOSTS_TYPES.instance);
  const children = (component: RecordedResource, type: string) => resources.filter((resource) => resource.type === type && resource.parent === component.name);
  for (const component of resources) {
    const placement = placements.get(component.name) ?? {};
    if (component.type === ECS_TYPES.serviceComponent) {
      placement.ecs = sortedUnique([...(placement.ecs ?? []), ...children(component, ECS_TYPES.service).map((service) => clusterOf(service, resources))]);
    } else if (component.type === HOSTS_TYPES.serviceComponent) {
      const steps = children(component, HOSTS_TYPES.deployStep).filter(isDeployStep);
      placement.hosts = sortedUnique([...(placement.hosts ?? []), ...steps.map((step) => deployGroup(step, component.name, instances))]);
    } else {
      continue;
    }
    placements.set(component.name, placement);
  }
  return placements;
}

/** `hosts (app) + ecs (app-ecs)`; `(none)` where the service does not run; an engine alone when no group is known. */
export function placementText(placement: ServicePlacement | undefined): string {
  const parts = (['hosts', 'ecs'] as const)
    .filter((engine) => placement?.[engine] !== undefined)
    .map((engine) => (placement![engine]!.length === 0 ? engine : `${engine} (${placement![engine]!.join(', ')})`));
  return parts.length === 0 ? '(none)' : parts.join(' + ');
}

/** One service whose engines or groups differ between two synths. */
export interface EngineChange {
  service: string;
  before: string;
  after: string;
}

/**
 * Whether a synth says where its services run: it records their components, or runs nothing
 * (no deploy step, no ECS service). A synth made before components were recorded has deploy
 * steps and no ContainerService: there, where services run is unknown, not "nowhere".
 */
export function hasPlacementFacts(resources: RecordedResource[]): boolean {
  const components = resources.some((resource) => resource.type === ECS_TYPES.serviceComponent || resource.type === HOSTS_TYPES.serviceComponent);
  return components || !resources.some((resource) => isDeployStep(resource) || resource.type === ECS_TYPES.service);
}

/**
 * Services whose placement differs between `before` and `after`, by service; a service new or
 * gone reads `(none)` on that side. None when either side cannot say (hasPlacementFacts).
 */
export function engineChanges(before: RecordedResource[], after: RecordedResource[]): EngineChange[] {
  if (!hasPlacementFacts(before) || !hasPlacementFacts(after)) {
    return [];
  }
  const was = placementsOf(before);
  const now = placementsOf(after);
  const changes: EngineChange[] = [];
  for (const service of [...new Set([...was.keys(), ...now.keys()])].sort(compareStrings)) {
    const old = placementText(was.get(service));
    const current = placementText(now.get(service));
    if (old !== current) {
      changes.push({ service, before: old, after: current });
    }
  }
  return changes;
}
