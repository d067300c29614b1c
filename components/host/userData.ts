/**
 * The cloud-init user data that turns a fresh Amazon Linux 2023 instance into
 * a Berth host. Pure: every file it writes is embedded as a quoted heredoc, so
 * the script is readable in a preview diff and the same input renders the
 * same bytes.
 *
 * User data is readable by anyone who may describe the instance, so it holds
 * no secrets, and the argument type has no field that could carry one:
 * renderUserData refuses unknown fields and private-key or access-key text.
 */
import { gzipSync } from 'zlib';
import { DockerLogging, HostLoggingConfig, renderCloudWatchAgentConfig, renderDaemonJson } from './dockerConfig';
import { DEFAULT_DATA_MOUNT_POINT, HOST_PATHS, UNIT_NAMES } from './paths';
import { readHostScript } from './scripts';
import { DataVolumeSpec, normalizeServiceDirectories, renderDataVolumeService, renderPruneService, renderPruneTimer } from './units';

export interface UserDataArgs {
  /** Pulumi project name, recorded in /etc/berth/host.env. */
  project: string;
  /** Environment (stack) name: dev, test, stage, prod. */
  env: string;
  /** AWS region, for the awslogs driver. */
  region: string;
  /** @default `{ driver: 'awslogs' }`, log group `/berth/<env>/docker` */
  logging?: HostLoggingConfig;
  /** systemd calendar expression for berth-prune.timer. @default `daily` */
  pruneSchedule?: string;
  /** Stopped containers younger than this survive a prune. @default 3600 */
  pruneMinAgeSeconds?: number;
  dataVolume: DataVolumeSpec;
  /** One directory per service under the data volume's mount point. */
  serviceDirectories: readonly string[];
  /**
   * The text of the host agent (components/service/agent/berth-agent), installed at HOST_PATHS.agent.
   * Omit it when the deploy step installs the agent over SSH instead.
   */
  agentScript?: string;
  /** CloudWatch namespace for disk metrics. @default `Berth` */
  metricsNamespace?: string;
}

const ALLOWED_ARGS: ReadonlySet<string> = new Set<keyof UserDataArgs>([
  'project',
  'env',
  'region',
  'logging',
  'pruneSchedule',
  'pruneMinAgeSeconds',
  'dataVolume',
  'serviceDirectories',
  'agentScript',
  'metricsNamespace',
]);
const ALLOWED_VOLUME_ARGS: ReadonlySet<string> = new Set<keyof DataVolumeSpec>(['volumeId', 'deviceName', 'mountPoint', 'fsType', 'timeoutSeconds']);
const ALLOWED_LOGGING_ARGS: ReadonlySet<string> = new Set(['driver', 'logGroup', 'tag', 'maxSize', 'maxFile']);

const NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
const PROJECT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

/** Text that must never reach user data: private keys, AWS access keys, unresolved Pulumi outputs. */
const FORBIDDEN_CONTENT: ReadonlyArray<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/, 'a private key'],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/Calling \[toString\] on an \[Output<T>\]/, 'an unresolved Pulumi Output (render inside apply)'],
];

const HEREDOC_DELIMITER = 'BERTH_EOF';

function checkKeys(what: string, value: object, allowed: ReadonlySet<string>): void {
  const unknown = Object.keys(value).filter((key) => !allowed.has(key));
  if (unknown.length > 0) {
    throw new Error(
      `renderUserData: unknown ${what} ${unknown.map((key) => `"${key}"`).join(', ')}; allowed: ${[...allowed].join(', ')}. ` +
        'User data holds no secrets: it is readable by anyone who can describe the instance.',
    );
  }
}

function checkNoSecrets(where: string, text: string): void {
  for (const [pattern, what] of FORBIDDEN_CONTENT) {
    if (pattern.test(text)) {
      throw new Error(`renderUserData: ${where} contains ${what}; user data must not carry secrets`);
    }
  }
}

/** A shell block that writes `content` to `path` with `mode`, through a quoted heredoc (no expansion). */
export function renderFileBlock(path: string, mode: string, content: string): string {
  const body = content.endsWith('\n') ? content : `${content}\n`;
  if (body.split('\n').includes(HEREDOC_DELIMITER)) {
    throw new Error(`renderUserData: the content for ${path} contains a line "${HEREDOC_DELIMITER}", which would end its heredoc`);
  }
  return `cat > ${path} <<'${HEREDOC_DELIMITER}'\n${body}${HEREDOC_DELIMITER}\nchmod ${mode} ${path}\n`;
}

function dnfPackages(fsType: 'ext4' | 'xfs'): string[] {
  return ['amazon-cloudwatch-agent', 'docker', fsType === 'xfs' ? 'xfsprogs' : 'e2fsprogs', 'jq'];
}

export function renderUserData(args: UserDataArgs): string {
  checkKeys('argument', args, ALLOWED_ARGS);
  checkKeys('dataVolume field', args.dataVolume, ALLOWED_VOLUME_ARGS);
  if (args.logging !== undefined) {
    checkKeys('logging field', args.logging, ALLOWED_LOGGING_ARGS);
  }
  if (!PROJECT_PATTERN.test(args.project)) {
    throw new Error(`project: "${args.project}" should match ${PROJECT_PATTERN.source}`);
  }
  if (!NAME_PATTERN.test(args.env)) {
    throw new Error(`env: "${args.env}" should match ${NAME_PATTERN.source}`);
  }
  if (!REGION_PATTERN.test(args.region)) {
    throw new Error(`region: "${args.region}" is not an AWS region name such as eu-west-1`);
  }
  if (args.agentScript !== undefined) {
    if (typeof args.agentScript !== 'string' || !args.agentScript.startsWith('#!')) {
      throw new Error('agentScript: expected the text of the host agent script, starting with #!');
    }
    checkNoSecrets('agentScript', args.agentScript);
  }

  const mountPoint = args.dataVolume.mountPoint ?? DEFAULT_DATA_MOUNT_POINT;
  const fsType = args.dataVolume.fsType ?? 'ext4';
  const configured = args.logging ?? { driver: 'awslogs' };
  const logging: DockerLogging = configured.driver === 'awslogs' ? { ...configured, region: args.region, env: args.env } : configured;
  const serviceDirectories = normalizeServiceDirectories(args.serviceDirectories);

  const hostEnvironment = [
    `BERTH_PROJECT=${args.project}`,
    `BERTH_ENV=${args.env}`,
    `BERTH_REGION=${args.region}`,
    `BERTH_DATA_DIR=${mountPoint}`,
    `BERTH_LOCK_FILE=${HOST_PATHS.lockFile}`,
    '',
  ].join('\n');

  const files: Array<[string, string, string]> = [
    [HOST_PATHS.hostEnvironment, '0644', hostEnvironment],
    [HOST_PATHS.daemonJson, '0644', renderDaemonJson(logging)],
    [HOST_PATHS.cloudWatchAgentConfig, '0644', renderCloudWatchAgentConfig({ dataMountPoint: mountPoint, namespace: args.metricsNamespace })],
    [HOST_PATHS.mountScript, '0755', readHostScript('berth-mount-data-volume')],
    [HOST_PATHS.pruneScript, '0755', readHostScript('berth-prune')],
    ...(args.agentScript === undefined ? [] : [[HOST_PATHS.agent, '0755', args.agentScript] as [string, string, string]]),
    [`${HOST_PATHS.unitDirectory}/${UNIT_NAMES.dataVolume}`, '0644', renderDataVolumeService({ volume: args.dataVolume, serviceDirectories })],
    [`${HOST_PATHS.unitDirectory}/${UNIT_NAMES.prune}`, '0644', renderPruneService({ env: args.env, minAgeSeconds: args.pruneMinAgeSeconds })],
    [`${HOST_PATHS.unitDirectory}/${UNIT_NAMES.pruneTimer}`, '0644', renderPruneTimer(args.pruneSchedule ?? 'daily')],
  ];
  const directories = [...new Set(files.map(([path]) => path.slice(0, path.lastIndexOf('/'))))].sort();

  const script = [
    '#!/bin/bash',
    `# Berth host bootstrap for project ${args.project}, environment ${args.env}.`,
    '# Rendered by components/host/userData.ts. Holds no secrets.',
    'set -euo pipefail',
    'umask 022',
    `mkdir -p ${dirname(HOST_PATHS.readyMarker)}`,
    `trap 'echo "berth bootstrap failed at line $LINENO" | tee ${HOST_PATHS.failedMarker} >&2' ERR`,
    '',
    `dnf install -y ${dnfPackages(fsType).join(' ')}`,
    '',
    `install -d -m 0755 ${directories.join(' ')}`,
    ...files.map(([path, mode, content]) => renderFileBlock(path, mode, content)),
    'systemctl daemon-reload',
    `systemctl enable ${UNIT_NAMES.dataVolume} docker.service ${UNIT_NAMES.pruneTimer}`,
    '# Waits for the data volume (docker.service requires it), then starts Docker.',
    `systemctl start ${UNIT_NAMES.dataVolume}`,
    'systemctl start docker.service',
    'docker info >/dev/null',
    `systemctl start ${UNIT_NAMES.pruneTimer}`,
    `${HOST_PATHS.cloudWatchAgentCtl} -a fetch-config -m ec2 -s -c file:${HOST_PATHS.cloudWatchAgentConfig}`,
    '',
    `date -u +%Y-%m-%dT%H:%M:%SZ > ${HOST_PATHS.readyMarker}`,
    '',
  ].join('\n');

  checkNoSecrets('the rendered user data', script);
  return script;
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/** EC2 refuses user data over 16 KB before base64 encoding. */
export const USER_DATA_LIMIT_BYTES = 16384;

/**
 * The rendered script gzipped and base64-encoded, for `userDataBase64`:
 * cloud-init unpacks gzip itself, and the embedded scripts plus the agent do
 * not fit EC2's 16 KB limit as plain text. Deterministic (gzip mtime is 0).
 */
export function gzipUserDataBase64(script: string): string {
  const packed = gzipSync(Buffer.from(script, 'utf8'), { level: 9 });
  if (packed.length > USER_DATA_LIMIT_BYTES) {
    throw new Error(`user data is ${packed.length} bytes gzipped, over EC2's limit of ${USER_DATA_LIMIT_BYTES}`);
  }
  return packed.toString('base64');
}
