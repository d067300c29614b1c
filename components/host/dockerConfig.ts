/**
 * Renders the Docker engine's daemon.json and the CloudWatch agent's config.
 * Pure: same input, same bytes, keys in a fixed order.
 */
import { DEFAULT_PROJECT } from '../common/naming';
import { DEFAULT_DATA_MOUNT_POINT } from './paths';

/** Containers log to CloudWatch Logs, one log group per environment. */
export interface AwsLogsLogging {
  driver: 'awslogs';
  region: string;
  env: string;
  /** @default `/berth/<env>/docker` (see dockerLogGroupName) */
  logGroup?: string;
  /** Log stream name template. @default `{{.Name}}/{{.ID}}` */
  tag?: string;
}

/** Containers log to local files with rotation (`docker logs` still works). */
export interface LocalLogging {
  driver: 'local';
  /** Size of one log file before it rotates. @default `20m` */
  maxSize?: string;
  /** Files kept per container. @default 5 */
  maxFile?: number;
}

export type DockerLogging = AwsLogsLogging | LocalLogging;

/** The logging choice as stack config states it; region and environment come from the stack. */
export type HostLoggingConfig = Omit<AwsLogsLogging, 'region' | 'env'> | LocalLogging;

/** The log group containers of one environment write to; the instance role must allow writing to it, and it must exist (create-group is off). */
export function dockerLogGroupName(env: string, project = DEFAULT_PROJECT): string {
  return `/${project}/${env}/docker`;
}

const SIZE_PATTERN = /^[1-9][0-9]*[kmg]$/;
const LOG_GROUP_PATTERN = /^[.\-_/#A-Za-z0-9]{1,512}$/;

export function renderDaemonJson(logging: DockerLogging): string {
  let logDriver: string;
  let logOpts: Record<string, string>;
  if (logging.driver === 'awslogs') {
    const logGroup = logging.logGroup ?? dockerLogGroupName(logging.env);
    if (!LOG_GROUP_PATTERN.test(logGroup)) {
      throw new Error(`logging.logGroup: "${logGroup}" is not a valid CloudWatch Logs group name`);
    }
    logDriver = 'awslogs';
    logOpts = {
      'awslogs-region': logging.region,
      'awslogs-group': logGroup,
      'awslogs-create-group': 'false',
      tag: logging.tag ?? '{{.Name}}/{{.ID}}',
      // A CloudWatch Logs outage must not block containers writing to stdout.
      mode: 'non-blocking',
      'max-buffer-size': '4m',
    };
  } else if (logging.driver === 'local') {
    const maxSize = logging.maxSize ?? '20m';
    const maxFile = logging.maxFile ?? 5;
    if (!SIZE_PATTERN.test(maxSize)) {
      throw new Error(`logging.maxSize: "${maxSize}" should be a size such as 10m, 512k or 1g`);
    }
    if (!Number.isInteger(maxFile) || maxFile < 1) {
      throw new Error(`logging.maxFile: ${maxFile} should be a whole number of files, at least 1`);
    }
    logDriver = 'local';
    logOpts = { 'max-size': maxSize, 'max-file': String(maxFile), compress: 'true' };
  } else {
    const unknown: { driver?: unknown } = logging;
    throw new Error(`logging.driver: "${String(unknown.driver)}" is not supported; the supported drivers are awslogs, local`);
  }
  const daemon = {
    'log-driver': logDriver,
    'log-opts': logOpts,
    // Containers keep running while dockerd restarts (engine upgrades).
    'live-restore': true,
    'no-new-privileges': true,
  };
  return JSON.stringify(daemon, null, 2) + '\n';
}

export const DISK_USED_PERCENT_METRIC = {
  namespace: 'Berth',
  metricName: 'disk_used_percent',
} as const;

/** The filesystems whose usage Berth publishes: the Docker root's (`/` on AL2023) and the data volume's. */
export function diskMetricPaths(dataMountPoint: string = DEFAULT_DATA_MOUNT_POINT): string[] {
  return ['/', dataMountPoint];
}

/** The dimensions an alarm on disk_used_percent must use: exactly these two. */
export function diskUsedPercentDimensions(instanceId: string, path: string): { InstanceId: string; path: string } {
  return { InstanceId: instanceId, path };
}

export interface CloudWatchAgentOptions {
  /** @default `/srv/berth` */
  dataMountPoint?: string;
  /** @default `Berth` */
  namespace?: string;
  /** @default 60 */
  intervalSeconds?: number;
}

/**
 * The CloudWatch agent publishes disk_used_percent per filesystem path. The
 * disk plugin only reports mount points, and /var/lib/docker is a directory on
 * the root filesystem, so the Docker root is watched as `/`. `drop_device`
 * removes the unstable NVMe device name, and the aggregation adds a series
 * with only InstanceId and path, which is what alarms use.
 */
export function renderCloudWatchAgentConfig(options: CloudWatchAgentOptions = {}): string {
  const interval = options.intervalSeconds ?? 60;
  if (!Number.isInteger(interval) || interval < 1) {
    throw new Error(`cloudWatch.intervalSeconds: ${interval} should be a whole number of seconds, at least 1`);
  }
  const config = {
    agent: {
      metrics_collection_interval: interval,
      run_as_user: 'cwagent',
    },
    metrics: {
      namespace: options.namespace ?? DISK_USED_PERCENT_METRIC.namespace,
      append_dimensions: { InstanceId: '${aws:InstanceId}' },
      aggregation_dimensions: [['InstanceId', 'path']],
      metrics_collected: {
        disk: {
          measurement: ['used_percent'],
          resources: diskMetricPaths(options.dataMountPoint),
          drop_device: true,
        },
      },
    },
  };
  return JSON.stringify(config, null, 2) + '\n';
}
