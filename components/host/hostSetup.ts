/**
 * What the readiness step sends a host on stdin: the berth-host-setup library,
 * one `stage_file` per file the host runs (daemon.json, the CloudWatch agent
 * config, units, scripts, the agent, Docker's client config), then
 * `converge_host`. Pure, so tests check it exactly and run it for real.
 *
 * Everything a host is configured with travels here rather than in user data:
 * the readiness step runs again whenever this text or the connection changes
 * (a new host, a new SSH user), so a change shows in a preview as an update of
 * the step and applies on `up`, and a replaced host gets the current files.
 * It is stored in plain state: it must not carry secrets, and renderHostSetup
 * refuses any argument or content that could.
 */
import { createHash } from 'crypto';
import { DockerLogging, HostLoggingConfig, renderCloudWatchAgentConfig, renderDaemonJson } from './dockerConfig';
import { AGENT_NODE_PACKAGE, DEFAULT_DATA_MOUNT_POINT, HOST_PATHS, PROXY_PACKAGE, PROXY_PATHS, UNIT_NAMES } from './paths';
import { renderProxyBaseConfig, renderProxyService } from './proxyConfig';
import { checkEnv, checkKeys, checkNoSecrets, PROJECT_PATTERN, REGION_PATTERN } from './renderChecks';
import { readHostScript } from './scripts';
import { dataVolumeMountCommand, DataVolumeSpec, normalizeServiceDirectories, renderDataVolumeService, renderPruneService, renderPruneTimer } from './units';

export interface HostSetupArgs {
  /** Pulumi project name, recorded in /etc/berth/host.env. */
  project: string;
  /** Environment (stack) name. */
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
  /** The text of the host agent, installed at HOST_PATHS.agent. */
  agentScript: string;
  /**
   * Registry hosts Docker pulls from through the ECR credential helper
   * (`<account>.dkr.ecr.<region>.amazonaws.com`), named in the agent's Docker client config.
   */
  registryHosts: readonly string[];
  /** CloudWatch namespace for disk metrics. @default `Berth` */
  metricsNamespace?: string;
}

const ALLOWED_ARGS: ReadonlySet<string> = new Set<keyof HostSetupArgs>([
  'project',
  'env',
  'region',
  'logging',
  'pruneSchedule',
  'pruneMinAgeSeconds',
  'dataVolume',
  'serviceDirectories',
  'agentScript',
  'registryHosts',
  'metricsNamespace',
]);
const ALLOWED_VOLUME_ARGS: ReadonlySet<string> = new Set<keyof DataVolumeSpec>(['volumeId', 'deviceName', 'mountPoint', 'fsType', 'timeoutSeconds']);
const ALLOWED_LOGGING_ARGS: ReadonlySet<string> = new Set(['driver', 'logGroup', 'tag', 'maxSize', 'maxFile']);
/** A registry host name with an optional port, as Docker's `credHelpers` keys it. */
const REGISTRY_HOST_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/;
/** The name Amazon's helper is installed under: `docker-credential-ecr-login`. */
export const ECR_CREDENTIAL_HELPER = 'ecr-login';

const HEREDOC_DELIMITER = 'BERTH_EOF';
/** How long the readiness step waits for the bootstrap (packages) to finish; usually 1-3 minutes. */
export const SETUP_TIMEOUT_SECONDS = 900;

/** The command the readiness step runs; the setup text arrives on stdin. */
export function hostSetupCommand(timeoutSeconds: number = SETUP_TIMEOUT_SECONDS): string {
  return `sudo bash -s -- --timeout ${timeoutSeconds}`;
}

/** Docker's client config for the agent: each registry host answered by the ECR credential helper. */
export function renderDockerClientConfig(registryHosts: readonly string[]): string {
  for (const host of registryHosts) {
    if (!REGISTRY_HOST_PATTERN.test(host)) {
      throw new Error(`registryHosts: "${host}" is not a registry host name (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com)`);
    }
  }
  const helpers = Object.fromEntries([...new Set(registryHosts)].sort().map((host) => [host, ECR_CREDENTIAL_HELPER]));
  return JSON.stringify({ credHelpers: helpers }, null, 2) + '\n';
}

/** The files a host runs, by absolute path, with their mode. Sorted by path. */
export function hostFiles(args: HostSetupArgs): Array<{ path: string; mode: string; content: string }> {
  checkKeys('renderHostSetup', 'argument', args, ALLOWED_ARGS);
  checkKeys('renderHostSetup', 'dataVolume field', args.dataVolume, ALLOWED_VOLUME_ARGS);
  if (args.logging !== undefined) {
    checkKeys('renderHostSetup', 'logging field', args.logging, ALLOWED_LOGGING_ARGS);
  }
  if (!PROJECT_PATTERN.test(args.project)) {
    throw new Error(`project: "${args.project}" should match ${PROJECT_PATTERN.source}`);
  }
  checkEnv(args.env);
  if (!REGION_PATTERN.test(args.region)) {
    throw new Error(`region: "${args.region}" is not an AWS region name such as eu-west-1`);
  }
  if (typeof args.agentScript !== 'string' || !args.agentScript.startsWith('#!')) {
    throw new Error('agentScript: expected the text of the host agent script, starting with #!');
  }
  checkNoSecrets('renderHostSetup', 'agentScript', args.agentScript);

  const mountPoint = args.dataVolume.mountPoint ?? DEFAULT_DATA_MOUNT_POINT;
  const configured = args.logging ?? { driver: 'awslogs' };
  const logging: DockerLogging = configured.driver === 'awslogs' ? { ...configured, region: args.region, env: args.env } : configured;
  const serviceDirectories = normalizeServiceDirectories(args.serviceDirectories);
  const hostEnvironment = [
    `BERTH_PROJECT=${args.project}`,
    `BERTH_ENV=${args.env}`,
    `BERTH_REGION=${args.region}`,
    // The agent reads this file for the data root: sudo clears the environment.
    `BERTH_DATA_ROOT=${mountPoint}`,
    `BERTH_LOCK_FILE=${HOST_PATHS.lockFile}`,
    // The host proxy berth-agent swaps containers behind.
    `BERTH_PROXY_SOCKET=${PROXY_PATHS.socket}`,
    `BERTH_PROXY_MASTER_SOCKET=${PROXY_PATHS.masterSocket}`,
    `BERTH_PROXY_CONFIG=${PROXY_PATHS.config}`,
    `BERTH_PROXY_SERVICES=${PROXY_PATHS.servicesDir}`,
    '',
  ].join('\n');
  const files = [
    { path: HOST_PATHS.hostEnvironment, mode: '0644', content: hostEnvironment },
    { path: `${HOST_PATHS.dockerClientConfigDir}/config.json`, mode: '0644', content: renderDockerClientConfig(args.registryHosts) },
    { path: HOST_PATHS.daemonJson, mode: '0644', content: renderDaemonJson(logging) },
    { path: HOST_PATHS.cloudWatchAgentConfig, mode: '0644', content: renderCloudWatchAgentConfig({ dataMountPoint: mountPoint, namespace: args.metricsNamespace }) },
    { path: HOST_PATHS.mountScript, mode: '0755', content: readHostScript('berth-mount-data-volume') },
    { path: HOST_PATHS.agent, mode: '0755', content: args.agentScript },
    { path: `${HOST_PATHS.unitDirectory}/${UNIT_NAMES.dataVolume}`, mode: '0644', content: renderDataVolumeService({ volume: args.dataVolume, serviceDirectories }) },
    { path: `${HOST_PATHS.unitDirectory}/${UNIT_NAMES.prune}`, mode: '0644', content: renderPruneService({ env: args.env, minAgeSeconds: args.pruneMinAgeSeconds }) },
    { path: `${HOST_PATHS.unitDirectory}/${UNIT_NAMES.pruneTimer}`, mode: '0644', content: renderPruneTimer(args.pruneSchedule ?? 'daily') },
    { path: `${HOST_PATHS.unitDirectory}/${UNIT_NAMES.proxy}`, mode: '0644', content: renderProxyService() },
    { path: PROXY_PATHS.config, mode: '0644', content: renderProxyBaseConfig() },
  ];
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A `stage_file` call: the content in a quoted heredoc (no expansion), checked by sha256 on the host. */
export function renderStageFile(path: string, mode: string, content: string): string {
  if (content.split('\n').includes(HEREDOC_DELIMITER)) {
    throw new Error(`renderHostSetup: the content for ${path} contains a line "${HEREDOC_DELIMITER}", which would end its heredoc`);
  }
  // A heredoc always ends its text with a newline; a file without one is sent with one added, and hashed so.
  const body = content.endsWith('\n') ? content : `${content}\n`;
  const digest = createHash('sha256').update(body).digest('hex');
  return `stage_file ${path} ${mode} ${digest} <<'${HEREDOC_DELIMITER}'\n${body}${HEREDOC_DELIMITER}\n`;
}

/** The whole text the readiness step sends on stdin. */
export function renderHostSetup(args: HostSetupArgs): string {
  const files = hostFiles(args);
  const mount = dataVolumeMountCommand({ volume: args.dataVolume, serviceDirectories: normalizeServiceDirectories(args.serviceDirectories) });
  const library = readHostScript('berth-host-setup');
  const text = (library.endsWith('\n') ? library : `${library}\n`) + [
    `# --- rendered by components/host/hostSetup.ts for project ${args.project}, environment ${args.env} ---`,
    'setup_args "$@"',
    `wait_for_boot ${HOST_PATHS.readyMarker} ${HOST_PATHS.failedMarker}`,
    `ensure_package ${HOST_PATHS.agentInterpreter} ${AGENT_NODE_PACKAGE}`,
    `ensure_package ${PROXY_PATHS.binary} ${PROXY_PACKAGE}`,
    ...files.map((file) => renderStageFile(file.path, file.mode, file.content)),
    [
      'converge_host',
      HOST_PATHS.unitDirectory,
      HOST_PATHS.daemonJson,
      HOST_PATHS.cloudWatchAgentConfig,
      HOST_PATHS.cloudWatchAgentCtl,
      UNIT_NAMES.pruneTimer,
      UNIT_NAMES.prune,
      UNIT_NAMES.dataVolume,
      UNIT_NAMES.proxy,
      PROXY_PATHS.config,
      '--',
      ...mount,
    ].join(' '),
    '',
  ].join('\n');
  checkNoSecrets('renderHostSetup', 'the rendered setup', text);
  return text;
}
