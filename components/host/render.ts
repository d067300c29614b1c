/**
 * Host renderers: everything that turns config into the files a Berth host
 * runs. Pure functions, no Pulumi imports; the DockerHost component re-exports
 * what users need.
 */
export type { AwsLogsLogging, CloudWatchAgentOptions, DockerLogging, HostLoggingConfig, LocalLogging } from './dockerConfig';
export {
  DISK_USED_PERCENT_METRIC,
  diskMetricPaths,
  diskUsedPercentDimensions,
  dockerLogGroupName,
  renderCloudWatchAgentConfig,
  renderDaemonJson,
} from './dockerConfig';
export type { HostScriptName } from './paths';
export { DEFAULT_DATA_MOUNT_POINT, DOCKER_ROOT, HOST_PATHS, UNIT_NAMES } from './paths';
export { hostScriptPath, readHostScript } from './scripts';
export type { DataVolumeServiceArgs, DataVolumeSpec, PruneServiceArgs } from './units';
export {
  SERVICE_DIRECTORY_PATTERN,
  normalizeServiceDirectories,
  dataVolumeMountCommand,
  renderDataVolumeService,
  renderPruneService,
  renderPruneTimer,
  systemdEscapePath,
} from './units';
export type { UserDataArgs } from './userData';
export { HOST_PACKAGES, USER_DATA_LIMIT_BYTES, renderUserData } from './userData';
export type { HostSetupArgs } from './hostSetup';
export { ECR_CREDENTIAL_HELPER, hostFiles, hostSetupCommand, renderDockerClientConfig, renderHostSetup, renderStageFile } from './hostSetup';
export type { Cidr } from './validate';
export { isInstanceType, isSystemdCalendar, parseCidr } from './validate';
