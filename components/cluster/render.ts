/**
 * What an ECS host group's instances run and may do, rendered as pure text: the
 * ECS agent's configuration (cluster, task roles, image cleanup) in the user data,
 * the AMI parameter per architecture, and the instance role's policy. Tests check
 * the exact output; the component (./ecsCluster.ts) only declares resources around it.
 */
import { ECS_DYNAMIC_HOST_PORTS } from '../common/ports';
import { Architecture } from '../host/architecture';
import { checkEnv, PROJECT_PATTERN } from '../host/renderChecks';

/** The public SSM parameters of the latest ECS-optimised Amazon Linux 2023 AMI, per architecture. */
export const ECS_AL2023_PARAMETER: Readonly<Record<Architecture, string>> = {
  x86_64: '/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id',
  arm64: '/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id',
};

/** The ECS-optimised AL2023 AMI's root device, which the launch template encrypts and sizes. */
export const ECS_ROOT_DEVICE = '/dev/xvda';

/** The size (GiB) of the ECS-optimised AL2023 AMI's root snapshot: the smallest root volume it launches with. */
export const ECS_AMI_ROOT_GIB = 30;

/**
 * How the ECS agent removes images no task uses: Berth's prune on a hosts group, the agent's
 * own cleanup on ECS. An image is removed once no task on the instance uses it and it is older
 * than `minimumAgeMinutes`; an image a running task uses is never removed, and a rollback pulls
 * its digest again from ECR.
 */
export interface ImageCleanup {
  /**
   * Minutes between cleanup runs (the agent's minimum is 10).
   * @default 30
   * @example 60
   */
  intervalMinutes?: number;
  /**
   * Minutes an image stays after it was pulled before it may be removed.
   * @default 60
   * @example 180
   */
  minimumAgeMinutes?: number;
  /**
   * Images removed per run at most.
   * @default 5
   * @example 10
   */
  imagesPerRun?: number;
  /**
   * Minutes a stopped task's containers stay (for `docker logs` on the instance) before they and
   * their images' last use go.
   * @default 60
   * @example 180
   */
  stoppedTaskMinutes?: number;
}

export const IMAGE_CLEANUP_DEFAULTS: Required<ImageCleanup> = { intervalMinutes: 30, minimumAgeMinutes: 60, imagesPerRun: 5, stoppedTaskMinutes: 60 };

/** MiB of each instance's memory no task may reserve: Docker, the ECS agent, the EFS mount helpers. */
export const ECS_RESERVED_MEMORY_MIB = 256;

/** The agent refuses a cleanup interval below ten minutes (and falls back to its default). */
const MIN_CLEANUP_INTERVAL_MINUTES = 10;

export interface EcsAgentConfigArgs {
  /** The cluster the instances join. */
  clusterName: string;
  imageCleanup?: ImageCleanup;
  /**
   * The most processes one task may run (the agent's ECS_TASK_PIDS_LIMIT, the same for every task
   * of the instance: ECS has no per-container limit).
   */
  taskPidsLimit?: number;
}

/** The largest PIDs limit the agent takes. */
export const MAX_TASK_PIDS_LIMIT = 4194304;

/**
 * `/etc/ecs/ecs.config`, one `KEY=value` per line, sorted. Why each key:
 * - task IAM roles in bridge mode (each task gets its own credentials from the agent, never the
 *   instance role's: IMDSv2 with a hop limit of 1 keeps bridge containers away from the metadata service);
 * - no privileged containers, whatever a task definition asks (the policy pack refuses them too);
 * - images pinned by digest are pulled once per instance (`once`: a digest names one image), and
 *   again only after the cleanup removed them (`prefer-cached` would turn the cleanup off);
 * - memory kept for Docker, the agent and the EFS helpers (ECS_RESERVED_MEMORY), which tasks' reservations cannot take;
 * - the dynamic host ports the security group opens (ECS_DYNAMIC_HOST_PORTS);
 * - the tasks' PIDs limit, when given;
 * - the image cleanup above.
 */
export function renderEcsAgentConfig(args: EcsAgentConfigArgs): string {
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(args.clusterName)) {
    throw new Error(`clusterName: an ECS cluster name (letters, digits, hyphens, underscores; at most 255), got ${JSON.stringify(args.clusterName)}`);
  }
  const cleanup = { ...IMAGE_CLEANUP_DEFAULTS, ...args.imageCleanup };
  for (const [key, value] of Object.entries(cleanup)) {
    if (!Number.isInteger(value) || value < 1 || value > 10080) {
      throw new Error(`imageCleanup.${key}: a whole number from 1 to 10080, got ${JSON.stringify(value)}`);
    }
  }
  if (cleanup.intervalMinutes < MIN_CLEANUP_INTERVAL_MINUTES) {
    throw new Error(`imageCleanup.intervalMinutes: at least ${MIN_CLEANUP_INTERVAL_MINUTES} (the ECS agent's minimum), got ${cleanup.intervalMinutes}`);
  }
  if (args.taskPidsLimit !== undefined && (!Number.isInteger(args.taskPidsLimit) || args.taskPidsLimit < 1 || args.taskPidsLimit > MAX_TASK_PIDS_LIMIT)) {
    throw new Error(`taskPidsLimit: a whole number from 1 to ${MAX_TASK_PIDS_LIMIT}, got ${JSON.stringify(args.taskPidsLimit)}`);
  }
  const settings: Record<string, string> = {
    ECS_CLUSTER: args.clusterName,
    ECS_DYNAMIC_HOST_PORT_RANGE: `${ECS_DYNAMIC_HOST_PORTS.first}-${ECS_DYNAMIC_HOST_PORTS.last}`,
    ECS_DISABLE_IMAGE_CLEANUP: 'false',
    ECS_DISABLE_PRIVILEGED: 'true',
    ECS_ENABLE_TASK_IAM_ROLE: 'true',
    ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST: 'false',
    ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION: `${cleanup.stoppedTaskMinutes}m`,
    ECS_IMAGE_CLEANUP_INTERVAL: `${cleanup.intervalMinutes}m`,
    ECS_IMAGE_MINIMUM_CLEANUP_AGE: `${cleanup.minimumAgeMinutes}m`,
    ECS_IMAGE_PULL_BEHAVIOR: 'once',
    ECS_NUM_IMAGES_DELETE_PER_CYCLE: String(cleanup.imagesPerRun),
    ECS_RESERVED_MEMORY: String(ECS_RESERVED_MEMORY_MIB),
    ...(args.taskPidsLimit !== undefined ? { ECS_TASK_PIDS_LIMIT: String(args.taskPidsLimit) } : {}),
  };
  return Object.keys(settings)
    .sort()
    .map((key) => `${key}=${settings[key]}\n`)
    .join('');
}

export interface EcsUserDataArgs extends EcsAgentConfigArgs {
  project: string;
  env: string;
}

/**
 * The user data of an ECS instance: it writes the agent's configuration before the agent
 * starts (ecs.service runs after cloud-init's scripts). Nothing else: the AMI brings Docker and
 * the agent. It holds no secret and depends only on its arguments, so instances are replaced
 * (by the group's instance refresh) only when the configuration changes.
 */
export function renderEcsUserData(args: EcsUserDataArgs): string {
  if (!PROJECT_PATTERN.test(args.project)) {
    throw new Error(`project: "${args.project}" should match ${PROJECT_PATTERN.source}`);
  }
  checkEnv(args.env);
  const config = renderEcsAgentConfig(args);
  return [
    '#!/bin/bash',
    `# Berth ${args.project} ${args.env}: ECS container instance of cluster ${args.clusterName}`,
    'set -euo pipefail',
    'install -d -m 0755 /etc/ecs',
    "cat > /etc/ecs/ecs.config <<'BERTH_ECS_CONFIG'",
    config.trimEnd(),
    'BERTH_ECS_CONFIG',
    'chmod 0644 /etc/ecs/ecs.config',
    '',
  ].join('\n');
}

/**
 * The container instances' role policy: what the ECS agent needs to join one cluster and run its
 * tasks, scoped to that cluster and its container instances. Images and logs are the tasks'
 * business (each task's execution role pulls its own repository and writes its own log group),
 * so the instances may pull nothing and write no log.
 */
export function ecsInstanceRolePolicy(args: { clusterArn: string }): string {
  const match = /^arn:(aws[a-z-]*):ecs:([a-z0-9-]+):(\d{12}):cluster\/([A-Za-z0-9_-]+)$/.exec(args.clusterArn);
  if (!match) {
    throw new Error(`clusterArn: an ECS cluster ARN arn:aws:ecs:<region>:<account>:cluster/<name>, got ${JSON.stringify(args.clusterArn)}`);
  }
  const [, partition, region, account, name] = match;
  const containerInstances = `arn:${partition}:ecs:${region}:${account}:container-instance/${name}/*`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      // It supports no resource: the agent asks where to poll and nothing more.
      { Sid: 'DiscoverPollEndpoint', Effect: 'Allow', Action: ['ecs:DiscoverPollEndpoint'], Resource: '*' },
      {
        Sid: 'JoinCluster',
        Effect: 'Allow',
        Action: ['ecs:DeregisterContainerInstance', 'ecs:RegisterContainerInstance', 'ecs:Submit*'],
        Resource: args.clusterArn,
      },
      {
        Sid: 'RunClusterTasks',
        Effect: 'Allow',
        Action: ['ecs:Poll', 'ecs:StartTelemetrySession', 'ecs:UpdateContainerInstancesState'],
        Resource: containerInstances,
        Condition: { ArnEquals: { 'ecs:cluster': args.clusterArn } },
      },
      {
        // The agent tags the container instance it registers (the cluster's tags propagate).
        Sid: 'TagOwnContainerInstance',
        Effect: 'Allow',
        Action: ['ecs:TagResource'],
        Resource: containerInstances,
        Condition: { StringEquals: { 'ecs:CreateAction': 'RegisterContainerInstance' } },
      },
    ],
  });
}

/**
 * The file system's policy: without one EFS lets any client that reaches a mount target in, with
 * one it lets in only whom the policy names. Here: principals of this account that an IAM policy
 * allows (each service's task role, for its access points), through a mount target, over TLS.
 */
export function efsFileSystemPolicy(args: { fileSystemArn: string; accountId: string; partition?: string }): string {
  const partition = args.partition ?? 'aws';
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'DenyWithoutTls',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: '*',
        Resource: args.fileSystemArn,
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
      {
        Sid: 'AccountPrincipalsThroughMountTargets',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${args.accountId}:root` },
        Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite'],
        Resource: args.fileSystemArn,
        Condition: { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' } },
      },
    ],
  });
}
