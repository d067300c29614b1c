/**
 * Replays what the ECS container agent does with a task's container definitions, against the
 * real Docker engine: a task-scoped local volume per task volume, one `docker create` per
 * container with the settings the agent hands the Docker API, and the start order `dependsOn`
 * imposes. No ECS here: this is the agent's part only, written from its sources
 * (aws/amazon-ecs-agent):
 *
 * - agent/api/task/task.go `dockerHostBinds`: a mount point is the bind string
 *   `<volume source>:<containerPath>` plus `:ro` when read-only (so `-v` here is the same string);
 *   a task-scoped `dockerVolumeConfiguration` volume is a Docker volume the agent creates for the task;
 * - agent/engine/dependencygraph/graph.go: a container that depends on another with SUCCESS is
 *   neither created nor started until that one has stopped with exit code 0, and can never
 *   progress once it stopped with any other code (the task stops);
 * - secrets (`valueFrom` an SSM parameter) become plain environment variables of the container:
 *   the test supplies each parameter's value, standing in for SSM;
 * - `healthCheck` becomes the container's Docker health check, in seconds; `memory` the hard
 *   limit in MiB; `linuxParameters.initProcessEnabled` Docker's `--init`; `hostPort: 0` a host
 *   port the engine picks.
 *
 * The translator (`ecsCreateArgs`) is pure and refuses any key of a definition it does not know,
 * so a field the renderer adds later cannot be dropped here unnoticed. Known and deliberately not
 * replayed: `logConfiguration` (awslogs needs CloudWatch; the engine's default driver is used).
 */
import { runAsync } from './docker';

export interface KeyValue {
  name: string;
  value: string;
}

/** The subset of an ECS container definition Berth renders. */
export interface EcsContainerDefinition {
  name: string;
  image: string;
  essential?: boolean;
  memory?: number;
  user?: string;
  entryPoint?: string[];
  command?: string[];
  environment?: KeyValue[];
  secrets?: { name: string; valueFrom: string }[];
  mountPoints?: { sourceVolume: string; containerPath: string; readOnly?: boolean }[];
  portMappings?: { containerPort: number; hostPort?: number; protocol?: string }[];
  healthCheck?: { command: string[]; interval?: number; timeout?: number; retries?: number; startPeriod?: number };
  linuxParameters?: { initProcessEnabled?: boolean };
  ulimits?: { name: string; softLimit: number; hardLimit: number }[];
  dockerSecurityOptions?: string[];
  dockerLabels?: Record<string, string>;
  logConfiguration?: unknown;
  dependsOn?: { containerName: string; condition: string }[];
}

/** A task definition's volume, as the component declares it. */
export interface EcsTaskVolume {
  name: string;
  dockerVolumeConfiguration?: { scope?: string; driver?: string };
}

const KNOWN_KEYS = new Set([
  'name',
  'image',
  'essential',
  'memory',
  'user',
  'entryPoint',
  'command',
  'environment',
  'secrets',
  'mountPoints',
  'portMappings',
  'healthCheck',
  'linuxParameters',
  'ulimits',
  'dockerSecurityOptions',
  'dockerLabels',
  'logConfiguration',
  'dependsOn',
]);

export interface CreateContext {
  /** The container's Docker name. */
  dockerName: string;
  /** Task volume name -> the Docker volume created for this task. */
  volumes: Record<string, string>;
  /** `valueFrom` (a parameter's ARN) -> its value, standing in for SSM. */
  parameterValues: Record<string, string>;
  /** Labels of the replay's own (the agent adds com.amazonaws.ecs.* ones; tests add one to clean up by). */
  labels: Record<string, string>;
  /**
   * Whether to pass `ulimits` on. An ECS instance's dockerd may raise a container's limits; an
   * engine that runs below them without CAP_SYS_RESOURCE cannot start the container at all.
   */
  ulimits: boolean;
}

/**
 * The `docker create` arguments of one container definition. Docker's CLI takes one
 * `--entrypoint` word: the rest of `entryPoint` goes before `command`, so the process's argv is
 * the agent's (`Entrypoint ++ Cmd`).
 */
export function ecsCreateArgs(definition: EcsContainerDefinition, context: CreateContext): string[] {
  const unknown = Object.keys(definition).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length > 0) {
    throw new Error(`${definition.name}: the replay does not know how the agent runs ${unknown.join(', ')}`);
  }
  const args = ['create', '--name', context.dockerName];
  const labels: Record<string, string> = { ...definition.dockerLabels, ...context.labels, 'com.amazonaws.ecs.container-name': definition.name };
  for (const key of Object.keys(labels).sort()) {
    args.push('--label', `${key}=${labels[key]}`);
  }
  // The agent tells every container of an EC2 task where it runs (task.go: AWS_EXECUTION_ENV).
  args.push('-e', 'AWS_EXECUTION_ENV=AWS_ECS_EC2');
  for (const { name, value } of definition.environment ?? []) {
    args.push('-e', `${name}=${value}`);
  }
  for (const { name, valueFrom } of definition.secrets ?? []) {
    if (!(valueFrom in context.parameterValues)) {
      // The agent fails the task before any container is created (ResourceInitializationError).
      throw new Error(`${definition.name}: secret ${name}: no value for ${valueFrom}`);
    }
    args.push('-e', `${name}=${context.parameterValues[valueFrom]}`);
  }
  for (const mount of definition.mountPoints ?? []) {
    const source = context.volumes[mount.sourceVolume];
    if (source === undefined) {
      throw new Error(`${definition.name}: mount point of unknown volume ${mount.sourceVolume}`);
    }
    args.push('-v', `${source}:${mount.containerPath}${mount.readOnly ? ':ro' : ''}`);
  }
  for (const mapping of definition.portMappings ?? []) {
    args.push('-p', `${mapping.hostPort ?? 0}:${mapping.containerPort}/${mapping.protocol ?? 'tcp'}`);
  }
  if (definition.memory !== undefined) {
    args.push('--memory', `${definition.memory}m`);
  }
  if (definition.user !== undefined) {
    args.push('--user', definition.user);
  }
  if (definition.linuxParameters?.initProcessEnabled) {
    args.push('--init');
  }
  for (const option of definition.dockerSecurityOptions ?? []) {
    args.push('--security-opt', option);
  }
  if (context.ulimits) {
    for (const limit of definition.ulimits ?? []) {
      args.push('--ulimit', `${limit.name}=${limit.softLimit}:${limit.hardLimit}`);
    }
  }
  const health = definition.healthCheck;
  if (health) {
    const [kind, ...rest] = health.command;
    if (kind !== 'CMD-SHELL' || rest.length !== 1) {
      throw new Error(`${definition.name}: the replay runs CMD-SHELL health checks only, got ${JSON.stringify(health.command)}`);
    }
    args.push('--health-cmd', rest[0]);
    // ECS's defaults where a field is absent: 30 s, 5 s, 3 retries, no start period.
    args.push('--health-interval', `${health.interval ?? 30}s`, '--health-timeout', `${health.timeout ?? 5}s`, '--health-retries', String(health.retries ?? 3));
    args.push('--health-start-period', `${health.startPeriod ?? 0}s`);
  }
  const [entry, ...entryRest] = definition.entryPoint ?? [];
  if (entry !== undefined) {
    args.push('--entrypoint', entry);
  }
  args.push(definition.image, ...entryRest, ...(definition.command ?? []));
  return args;
}

export interface ReplayOptions {
  /** A name for the task, unique on the engine: its containers are `<id>-<container>`. */
  id: string;
  definitions: EcsContainerDefinition[];
  volumes: EcsTaskVolume[];
  parameterValues: Record<string, string>;
  /** Labels put on every container and volume of the task (remove them with removeLabelled). */
  labels: Record<string, string>;
  ulimits: boolean;
  /** How long a dependency may take to reach its condition. @default 60000 */
  dependencyTimeoutMs?: number;
}

export interface ReplayedContainer {
  dockerName: string;
  /** Whether the agent created (and started) it. */
  started: boolean;
  /** Its exit code once it stopped, for a container someone waited for. */
  exitCode?: number;
}

export interface ReplayedTask {
  containers: Record<string, ReplayedContainer>;
  /** Why the task stopped before all its containers started; undefined when they all did. */
  stoppedReason?: string;
  volumes: Record<string, string>;
}

async function docker(...args: string[]): Promise<string> {
  const result = await runAsync('docker', args);
  if (result.status !== 0) {
    throw new Error(`docker ${args.slice(0, 2).join(' ')} failed (exit ${result.status}):\n${result.stderr}`);
  }
  return result.stdout.trim();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function state(dockerName: string): Promise<{ status: string; exitCode: number; health?: string }> {
  const parsed = JSON.parse(await docker('inspect', '--format', '{{json .State}}', dockerName)) as { Status: string; ExitCode: number; Health?: { Status: string } };
  return { status: parsed.Status, exitCode: parsed.ExitCode, health: parsed.Health?.Status };
}

/** Containers in an order where each one's dependencies come first (the definitions' order among equals). */
function startOrder(definitions: EcsContainerDefinition[]): EcsContainerDefinition[] {
  const byName = new Map(definitions.map((definition) => [definition.name, definition]));
  const ordered: EcsContainerDefinition[] = [];
  const visiting = new Set<string>();
  const visit = (definition: EcsContainerDefinition) => {
    if (ordered.includes(definition)) {
      return;
    }
    if (visiting.has(definition.name)) {
      throw new Error(`dependsOn cycle through ${definition.name}`);
    }
    visiting.add(definition.name);
    for (const { containerName } of definition.dependsOn ?? []) {
      const dependency = byName.get(containerName);
      if (!dependency) {
        throw new Error(`${definition.name}: depends on unknown container ${containerName}`);
      }
      visit(dependency);
    }
    visiting.delete(definition.name);
    ordered.push(definition);
  };
  definitions.forEach(visit);
  return ordered;
}

/** Waits until a dependency meets its condition; returns why it never will, or undefined once it does. */
async function awaitCondition(dependency: ReplayedContainer, condition: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await state(dependency.dockerName);
    const stopped = current.status === 'exited' || current.status === 'dead';
    if (stopped) {
      dependency.exitCode = current.exitCode;
    }
    switch (condition) {
      case 'START':
        if (current.status === 'running' || stopped) {
          return undefined;
        }
        break;
      case 'COMPLETE':
        if (stopped) {
          return undefined;
        }
        break;
      case 'SUCCESS':
        if (stopped) {
          return current.exitCode === 0 ? undefined : `dependency ${dependency.dockerName} exited with code ${current.exitCode} (condition SUCCESS)`;
        }
        break;
      case 'HEALTHY':
        if (current.health === 'healthy') {
          return undefined;
        }
        if (stopped || current.health === 'unhealthy') {
          return `dependency ${dependency.dockerName} is ${current.health ?? current.status} (condition HEALTHY)`;
        }
        break;
      default:
        throw new Error(`unknown dependsOn condition ${condition}`);
    }
    if (Date.now() > deadline) {
      return `dependency ${dependency.dockerName} did not reach ${condition} within ${timeoutMs} ms`;
    }
    await sleep(200);
  }
}

/**
 * Runs one task as the agent would: its volumes, then each container once its dependencies
 * allow it. When a dependency can never be met the task stops: containers already running are
 * stopped, the rest are never created.
 */
export async function replayTask(options: ReplayOptions): Promise<ReplayedTask> {
  const labelArgs = Object.entries(options.labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]);
  const volumes: Record<string, string> = {};
  for (const volume of options.volumes) {
    const config = volume.dockerVolumeConfiguration;
    if (!config || (config.scope ?? 'task') !== 'task' || (config.driver ?? 'local') !== 'local') {
      throw new Error(`volume ${volume.name}: the replay creates task-scoped local Docker volumes only, got ${JSON.stringify(volume)}`);
    }
    volumes[volume.name] = await docker('volume', 'create', '--driver', 'local', ...labelArgs, `${options.id}-${volume.name}`);
  }
  const task: ReplayedTask = { containers: {}, volumes };
  for (const definition of options.definitions) {
    task.containers[definition.name] = { dockerName: `${options.id}-${definition.name}`, started: false };
  }
  for (const definition of startOrder(options.definitions)) {
    for (const { containerName, condition } of definition.dependsOn ?? []) {
      const reason = await awaitCondition(task.containers[containerName], condition, options.dependencyTimeoutMs ?? 60_000);
      if (reason !== undefined) {
        task.stoppedReason = `${definition.name}: ${reason}`;
        for (const container of Object.values(task.containers)) {
          if (container.started) {
            await docker('stop', '--time', '10', container.dockerName);
          }
        }
        return task;
      }
    }
    const container = task.containers[definition.name];
    await docker(...ecsCreateArgs(definition, { dockerName: container.dockerName, volumes, parameterValues: options.parameterValues, labels: options.labels, ulimits: options.ulimits }));
    await docker('start', container.dockerName);
    container.started = true;
  }
  return task;
}

/** Removes every container (with its anonymous volumes) and volume carrying `key=value`. */
export async function removeLabelled(key: string, value: string): Promise<void> {
  const filter = `label=${key}=${value}`;
  const containers = (await docker('ps', '-aq', '--filter', filter)).split('\n').filter(Boolean);
  if (containers.length > 0) {
    await docker('rm', '-f', '-v', ...containers);
  }
  const volumeNames = (await docker('volume', 'ls', '-q', '--filter', filter)).split('\n').filter(Boolean);
  if (volumeNames.length > 0) {
    await docker('volume', 'rm', '-f', ...volumeNames);
  }
}
