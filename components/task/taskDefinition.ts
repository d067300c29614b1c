/**
 * What an ECS service's tasks are, rendered as pure values: the container definitions
 * (the service's container and, with a config file, the init container that writes it),
 * the deployment settings an update order means, and the task roles' policies. Tests
 * check the exact output; the component (./ecsService.ts) only declares resources around it.
 */
import { createHash } from 'crypto';
import { PINNED_IMAGE_PATTERN, Update } from '../service/spec';
import { publishedContainerPort } from '../common/ports';
import { ecrPullStatements } from '../registry/policies';

/** The container that writes the config file before the service's container starts. */
export const CONFIG_CONTAINER = 'config';
/** The task volume the config file lives on, between the two containers. */
export const CONFIG_VOLUME = 'config';
/** The variable the config container reads the file's text from (in the revision itself, so a rollback brings the old text back). */
export const CONFIG_VARIABLE = 'BERTH_CONFIG_FILE';

/** A data volume's task volume name: `data-<volume>`. */
export const dataVolumeName = (volume: string): string => `data-${volume}`;

/** How the container's health check maps the catalogue's gate: polled every 10 s, 5 s each. */
export const HEALTH_CHECK = { intervalSeconds: 10, timeoutSeconds: 5, retries: 3 } as const;
/** ECS caps a health check's start period at 300 s. */
export const MAX_START_PERIOD_SECONDS = 300;

export interface ContainerDefinitionsInput {
  project: string;
  env: string;
  service: string;
  /** `repo@sha256:<64 hex>`. */
  image: string;
  region: string;
  /** Docker `-p` publications; the container port of each is mapped to a dynamic host port. */
  ports: string[];
  health: { cmd: string; timeoutSeconds: number };
  memoryMiB: number;
  pidsLimit: number;
  /** Plain variables; `BERTH_ENV` is added. */
  environment: Record<string, string>;
  /**
   * Variable -> where ECS reads it at task start: an SSM parameter's ARN, or a Secrets Manager
   * secret's, optionally pinned to a version (`<secret ARN>:<json key>:<stage>:<version id>`).
   */
  secrets: Record<string, string>;
  /** The config file: where the container reads it, and its text. */
  configFile?: { target: string; content: string };
  /** Data volumes, each a task volume `data-<name>`. */
  volumes: { name: string; containerPath: string; readOnly?: boolean }[];
  logGroupName: string;
}

type KeyValue = { name: string; value: string };

/** The container definitions of one task, sorted keys and lists, so the same input is the same revision. */
export function renderContainerDefinitions(input: ContainerDefinitionsInput): Record<string, unknown>[] {
  if (!PINNED_IMAGE_PATTERN.test(input.image)) {
    throw new Error(`${input.service}: image must be <repository>@sha256:<64 hex>, got "${input.image}"`);
  }
  const log = (streamPrefix: string) => ({
    logDriver: 'awslogs',
    options: {
      'awslogs-group': input.logGroupName,
      'awslogs-region': input.region,
      // One stream per container: <prefix>/<container>/<task id>.
      'awslogs-stream-prefix': streamPrefix,
      'max-buffer-size': '4m',
      mode: 'non-blocking',
    },
  });
  const portMappings = input.ports.map((publication) => {
    const parsed = publishedContainerPort(publication);
    if ('error' in parsed) {
      throw new Error(`${input.service}: ports: ${parsed.error}`);
    }
    // Host port 0: ECS picks one per task, so two copies of a task fit on one instance during a deploy.
    return { containerPort: parsed.containerPort, hostPort: 0, protocol: parsed.protocol };
  });
  const mountPoints = input.volumes.map((volume) => ({ containerPath: volume.containerPath, readOnly: volume.readOnly ?? false, sourceVolume: dataVolumeName(volume.name) }));
  const config = input.configFile;
  if (config) {
    checkConfigSize(config.content, input.service);
    mountPoints.push({ containerPath: configDirectory(config.target), readOnly: true, sourceVolume: CONFIG_VOLUME });
  }
  const environment: KeyValue[] = sortedPairs({ ...input.environment, BERTH_ENV: input.env });
  const service: Record<string, unknown> = {
    name: input.service,
    image: input.image,
    essential: true,
    memory: input.memoryMiB,
    portMappings,
    environment,
    secrets: Object.keys(input.secrets)
      .sort()
      .map((name) => ({ name, valueFrom: input.secrets[name] })),
    mountPoints,
    healthCheck: {
      command: ['CMD-SHELL', input.health.cmd],
      interval: HEALTH_CHECK.intervalSeconds,
      timeout: HEALTH_CHECK.timeoutSeconds,
      retries: HEALTH_CHECK.retries,
      startPeriod: Math.min(input.health.timeoutSeconds, MAX_START_PERIOD_SECONDS),
    },
    // An init process reaps zombies and forwards SIGTERM, as `docker run --init` would.
    linuxParameters: { initProcessEnabled: true },
    ulimits: [{ name: 'nofile', softLimit: 65536, hardLimit: 65536 }],
    dockerSecurityOptions: ['no-new-privileges'],
    dockerLabels: {
      'berth.env': input.env,
      'berth.project': input.project,
      'berth.service': input.service,
      // A new config file is a new revision, and so a deployment, even though its text is in SSM.
      ...(config ? { 'berth.config-sha256': configSha256(config.content) } : {}),
    },
    logConfiguration: log(input.service),
    ...(config ? { dependsOn: [{ containerName: CONFIG_CONTAINER, condition: 'SUCCESS' }] } : {}),
  };
  applyPidsLimit(service, input.pidsLimit);
  if (!config) {
    return [service];
  }
  return [
    {
      name: CONFIG_CONTAINER,
      // The service's own image (already pulled for the service), so no other image is trusted or fetched.
      image: input.image,
      essential: false,
      // Root writes the file whatever user the image runs as (the volume is root's); umask 022 leaves it readable to all, as on a host.
      user: '0',
      memory: 32,
      entryPoint: ['/bin/sh', '-c'],
      command: [configWriteScript(config.target)],
      // Plain text (secrets travel as secrets): a revision carries its own config, and previews show it.
      environment: [{ name: CONFIG_VARIABLE, value: config.content }],
      mountPoints: [{ containerPath: configDirectory(config.target), readOnly: false, sourceVolume: CONFIG_VOLUME }],
      dockerSecurityOptions: ['no-new-privileges'],
      logConfiguration: log(CONFIG_CONTAINER),
    },
    service,
  ];
}

/**
 * ECS takes no PIDs limit in a container definition (its agent caps whole tasks, one limit per
 * instance: EcsCluster's `taskPidsLimit`); the service's own limit is kept as a label.
 */
function applyPidsLimit(container: Record<string, unknown>, pidsLimit: number): void {
  if (!Number.isInteger(pidsLimit) || pidsLimit < 1) {
    throw new Error(`pidsLimit: a whole number of at least 1, got ${JSON.stringify(pidsLimit)}`);
  }
  (container.dockerLabels as Record<string, string>)['berth.pids-limit'] = String(pidsLimit);
}

/** The directory the config file is in, which the task volume is mounted at (the file alone cannot be). */
export function configDirectory(target: string): string {
  if (!/^\/[^\0]*[^/]$/.test(target) || target.split('/').includes('..')) {
    throw new Error(`configFile.target: an absolute file path, got ${JSON.stringify(target)}`);
  }
  const directory = target.slice(0, target.lastIndexOf('/'));
  if (directory === '') {
    throw new Error(`configFile.target: a file in a directory other than /, got ${JSON.stringify(target)} (the directory becomes a volume)`);
  }
  if (directory.includes(':')) {
    // The agent mounts the volume as <volume>:<directory>[:ro]: a colon in the directory is read as a mount mode.
    throw new Error(`configFile.target: a directory without ":" (ECS mounts it as <volume>:<directory>), got ${JSON.stringify(target)}`);
  }
  return directory;
}

/** The config container's script: the parameter's text, written byte for byte, readable by the service's user. */
export function configWriteScript(target: string): string {
  configDirectory(target);
  const quoted = `'${target.replace(/'/g, `'\\''`)}'`;
  return `umask 022 && printf '%s' "$${CONFIG_VARIABLE}" > ${quoted}.tmp && mv ${quoted}.tmp ${quoted}`;
}

/** The config file's content hash, as the revision's label carries it. */
export function configSha256(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

/**
 * The largest config file an ECS task takes: its text is part of the task definition, which ECS
 * caps at 64 KiB in all; half of that leaves room for the rest.
 */
export const CONFIG_FILE_MAX_BYTES = 32768;

/**
 * Why a config file's text cannot reach an ECS task, or undefined. Counted as the task definition
 * carries it, a JSON string: a quote, a backslash or a newline takes two bytes there.
 */
export function configSizeProblem(content: string): string | undefined {
  const size = Buffer.byteLength(JSON.stringify(content), 'utf8') - 2;
  return size > CONFIG_FILE_MAX_BYTES
    ? `at most ${CONFIG_FILE_MAX_BYTES} bytes on ECS as JSON text (it is part of the task definition, which ECS caps at 64 KiB; quotes, backslashes and line breaks count twice); got ${size}`
    : undefined;
}

function checkConfigSize(content: string, service: string): void {
  const problem = configSizeProblem(content);
  if (problem) {
    throw new Error(`${service}: configFile: ${problem}`);
  }
}

/**
 * The deployment an update order means: start-first keeps every task serving while as many new
 * ones start (100/200); stop-first stops the old tasks before new ones start (0/100), so no two
 * writers share a volume.
 */
export function deploymentPercents(update: Update): { minimumHealthyPercent: number; maximumPercent: number } {
  return update === 'stop-first' ? { minimumHealthyPercent: 0, maximumPercent: 100 } : { minimumHealthyPercent: 100, maximumPercent: 200 };
}

/**
 * Who may assume a task role: ECS tasks of this account, launched in this Region (the
 * confused-deputy conditions AWS documents for ecs-tasks.amazonaws.com).
 */
export function taskTrustPolicy(args: { accountId: string; region: string; partition?: string }): string {
  const partition = args.partition ?? 'aws';
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'ecs-tasks.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          ArnLike: { 'aws:SourceArn': `arn:${partition}:ecs:${args.region}:${args.accountId}:*` },
          StringEquals: { 'aws:SourceAccount': args.accountId },
        },
      },
    ],
  });
}

/**
 * The execution role's policy: what ECS needs to start the task, for this service only: pull its
 * repositories, write its log group, read its parameters and secrets.
 */
export function executionRolePolicy(args: { repositoryArns: string[]; logGroupArn: string; parameterArns: string[]; secretArns: string[] }): string {
  const statements = ecrPullStatements(args.repositoryArns, 'PullServiceImage');
  statements.push({ Sid: 'WriteServiceLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: `${args.logGroupArn}:log-stream:*` });
  if (args.parameterArns.length > 0) {
    statements.push({ Sid: 'ReadServiceParameters', Effect: 'Allow', Action: ['ssm:GetParameters'], Resource: [...new Set(args.parameterArns)].sort() });
  }
  if (args.secretArns.length > 0) {
    statements.push({ Sid: 'ReadServiceSecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [...new Set(args.secretArns.map(secretResourceArn))].sort() });
  }
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/** The task role's policy for EFS: mount and write the file system, through this service's access points only. */
export function efsTaskRolePolicy(args: { fileSystemArn: string; accessPointArns: string[] }): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'MountServiceVolumes',
        Effect: 'Allow',
        // Root access as on a host's data volume: a container running as root keeps root's ownership.
        Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite'],
        Resource: args.fileSystemArn,
        Condition: { StringEquals: { 'elasticfilesystem:AccessPointArn': [...args.accessPointArns].sort() } },
      },
    ],
  });
}

/** Whether an ARN is a Secrets Manager secret's (else an SSM parameter's), for the execution role. */
export function isSecretsManagerArn(arn: string): boolean {
  return /^arn:aws[a-z-]*:secretsmanager:/.test(arn);
}

/**
 * The secret a `valueFrom` names, as IAM names it: `arn:…:secret:<name>`, without the JSON key,
 * stage and version a task definition may add after it.
 */
export function secretResourceArn(valueFrom: string): string {
  return valueFrom.split(':').slice(0, 7).join(':');
}

/** A Secrets Manager `valueFrom` pinned to one version: what a revision reads, even after the value changed. */
export function pinnedSecretValueFrom(secretArn: string, versionId: string): string {
  return `${secretArn}:::${versionId}`;
}

function sortedPairs(record: Record<string, string>): KeyValue[] {
  return Object.keys(record)
    .sort()
    .map((name) => ({ name, value: record[name] }));
}
