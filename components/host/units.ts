/**
 * systemd units a Berth host runs, rendered from config. Pure: the schedule,
 * volume and script paths are inputs; tests point the paths at stubs and run
 * `systemd-analyze verify` on the result.
 */
import { DEFAULT_DATA_MOUNT_POINT, HOST_PATHS } from './paths';
import { checkEnv } from './renderChecks';
import { isSystemdCalendar } from './validate';

export interface DataVolumeSpec {
  /** EBS volume id; the mount script finds the NVMe device by it. Omit to rely on the device name alone. */
  volumeId?: string;
  /** The device name the volume is attached as, e.g. `/dev/sdf` (on Nitro the name is only a fallback). */
  deviceName: string;
  /** @default `/srv/berth` */
  mountPoint?: string;
  /** Filesystem created on a blank volume; an existing filesystem is always kept. @default `ext4` */
  fsType?: 'ext4' | 'xfs';
  /** How long the boot waits for the volume to be attached. @default 300 */
  timeoutSeconds?: number;
}

const VOLUME_ID_PATTERN = /^vol-[0-9a-f]{8,17}$/;
const DEVICE_NAME_PATTERN = /^\/dev\/(?:sd|xvd)[b-z]$/;
const MOUNT_POINT_PATTERN = /^(?:\/[A-Za-z0-9._-]+)+$/;
/** `<service>` or `<env>/<service>`: one directory per service under the data volume. */
export const SERVICE_DIRECTORY_PATTERN = /^[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)?$/;

/** `systemd-escape --path`: the unit name systemd gives the mount of `path` is `<escaped>.mount`. */
export function systemdEscapePath(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '').replace(/\/+/g, '/');
  if (trimmed === '') {
    return '-';
  }
  return trimmed
    .split('')
    .map((char, index) => {
      if (char === '/') {
        return '-';
      }
      if (/[A-Za-z0-9:_]/.test(char) || (char === '.' && index > 0)) {
        return char;
      }
      return `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
    })
    .join('');
}

function checkDataVolume(volume: DataVolumeSpec): Required<Omit<DataVolumeSpec, 'volumeId'>> & { volumeId?: string } {
  const mountPoint = volume.mountPoint ?? DEFAULT_DATA_MOUNT_POINT;
  const fsType = volume.fsType ?? 'ext4';
  const timeoutSeconds = volume.timeoutSeconds ?? 300;
  if (volume.volumeId !== undefined && !VOLUME_ID_PATTERN.test(volume.volumeId)) {
    throw new Error(`dataVolume.volumeId: "${volume.volumeId}" should look like vol-0123456789abcdef0`);
  }
  if (!DEVICE_NAME_PATTERN.test(volume.deviceName)) {
    throw new Error(`dataVolume.deviceName: "${volume.deviceName}" should be /dev/sd[b-z] or /dev/xvd[b-z]`);
  }
  if (!MOUNT_POINT_PATTERN.test(mountPoint) || mountPoint.split('/').some((part) => part === '.' || part === '..')) {
    throw new Error(`dataVolume.mountPoint: "${mountPoint}" should be an absolute path of [A-Za-z0-9._-] segments, other than /`);
  }
  if (fsType !== 'ext4' && fsType !== 'xfs') {
    throw new Error(`dataVolume.fsType: "${String(fsType)}" is not supported; the supported filesystems are ext4, xfs`);
  }
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
    throw new Error(`dataVolume.timeoutSeconds: ${timeoutSeconds} should be a whole number of seconds, at least 1`);
  }
  return { volumeId: volume.volumeId, deviceName: volume.deviceName, mountPoint, fsType, timeoutSeconds };
}

/** Sorted, de-duplicated, each checked: the order never changes the rendered unit. */
export function normalizeServiceDirectories(names: readonly string[]): string[] {
  for (const name of names) {
    if (!SERVICE_DIRECTORY_PATTERN.test(name)) {
      throw new Error(`serviceDirectories: "${name}" should match ${SERVICE_DIRECTORY_PATTERN.source}`);
    }
  }
  return [...new Set(names)].sort();
}

export interface DataVolumeServiceArgs {
  volume: DataVolumeSpec;
  serviceDirectories?: readonly string[];
  /** @default HOST_PATHS.mountScript */
  scriptPath?: string;
}

/**
 * berth-data-volume.service: runs the mount script before docker.service and
 * is required by it, so Docker never starts with containers writing to an
 * empty directory on the root disk in place of the data volume.
 */
export function renderDataVolumeService(args: DataVolumeServiceArgs): string {
  const volume = checkDataVolume(args.volume);
  return [
    '[Unit]',
    `Description=Berth data volume: wait for it, format it only if blank, mount it at ${volume.mountPoint}`,
    'Before=docker.service',
    // On a reboot the fstab entry mounts it first; never race that mount.
    `After=${systemdEscapePath(volume.mountPoint)}.mount`,
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=${dataVolumeMountCommand(args).join(' ')}`,
    `TimeoutStartSec=${volume.timeoutSeconds + 60}`,
    '',
    '[Install]',
    'RequiredBy=docker.service',
    '',
  ].join('\n');
}

/**
 * The mount script's command line: the unit runs it at boot, the readiness
 * step runs it on every setup (it mounts, or grows a mounted volume).
 */
export function dataVolumeMountCommand(args: DataVolumeServiceArgs): string[] {
  const volume = checkDataVolume(args.volume);
  const command = [args.scriptPath ?? HOST_PATHS.mountScript];
  if (volume.volumeId !== undefined) {
    command.push('--volume-id', volume.volumeId);
  }
  command.push('--device', volume.deviceName, '--mount-point', volume.mountPoint, '--fs-type', volume.fsType);
  command.push('--timeout', String(volume.timeoutSeconds));
  for (const name of normalizeServiceDirectories(args.serviceDirectories ?? [])) {
    command.push('--service-dir', name);
  }
  return command;
}

export interface PruneServiceArgs {
  /** Only this environment's stopped containers are removed. */
  env: string;
  /** Stopped containers younger than this are kept (a deploy may be in flight). @default 3600 */
  minAgeSeconds?: number;
  /** The host agent, whose `prune` command does the work. @default HOST_PATHS.agent */
  agentPath?: string;
}

export function renderPruneService(args: PruneServiceArgs): string {
  checkEnv(args.env);
  const minAge = args.minAgeSeconds ?? 3600;
  if (!Number.isInteger(minAge) || minAge < 0) {
    throw new Error(`prune.minAgeSeconds: ${minAge} should be a whole number of seconds`);
  }
  return [
    '[Unit]',
    'Description=Berth prune: remove dangling images and stopped containers Berth no longer needs',
    'Requires=docker.service',
    'After=docker.service',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${args.agentPath ?? HOST_PATHS.agent} prune --env ${args.env} --min-age ${minAge}`,
    'Nice=10',
    'IOSchedulingClass=idle',
    '',
  ].join('\n');
}

/** berth-prune.timer. `Persistent=true` runs a prune missed while the host was off at the next boot. */
export function renderPruneTimer(schedule: string): string {
  if (!isSystemdCalendar(schedule)) {
    throw new Error(`prune.schedule: "${schedule}" is not a systemd calendar expression; use e.g. daily, weekly or *-*-* 03:00:00`);
  }
  return [
    '[Unit]',
    'Description=Berth prune schedule',
    '',
    '[Timer]',
    `OnCalendar=${schedule}`,
    'Persistent=true',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}
