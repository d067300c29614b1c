/**
 * What the agent leaves on a host and where: container names, local tags,
 * the state and config folders, the audit log. The same layout the bash agent
 * of earlier releases used, so a host it left keeps its services, rollback
 * images and history (see README.md beside this file).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_DATA_MOUNT_POINT, HOST_PATHS, PROXY_PATHS } from '../../host/paths';

export interface Roots {
  /** The data volume: services' data under <env>/<name>, the audit log under berth/. */
  data: string;
  config: string;
  state: string;
  /** Names the host's lock set (see locks.ts). */
  lockFile: string;
  /** Docker's client config folder (credential helpers). */
  dockerConfig: string;
}

/** `KEY=VALUE` lines, as the readiness step writes /etc/berth/host.env; other lines are ignored. */
export function parseHostEnvironment(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) {
      values[match[1]] = match[2];
    }
  }
  return values;
}

/**
 * The roots from the process environment, else from the host's environment
 * file (sudo clears the environment, so on a host the file is what tells the
 * agent where the data volume is mounted), else the defaults.
 */
export function rootsFrom(env: NodeJS.ProcessEnv, host: Record<string, string> = {}): Roots {
  const value = (key: string, fallback: string) => env[key] || host[key] || fallback;
  return {
    data: value('BERTH_DATA_ROOT', DEFAULT_DATA_MOUNT_POINT),
    config: value('BERTH_CONFIG_ROOT', '/etc/berth/config'),
    state: value('BERTH_STATE_ROOT', '/var/lib/berth'),
    lockFile: value('BERTH_LOCK_FILE', HOST_PATHS.lockFile),
    dockerConfig: value('BERTH_DOCKER_CONFIG', HOST_PATHS.dockerClientConfigDir),
  };
}

export const LABELS = {
  service: 'berth.service',
  env: 'berth.env',
  image: 'berth.image',
  specHash: 'berth.spec-hash',
  /** The proxy slot (a or b) the container listens on behind the host proxy; absent when it publishes its ports itself. */
  slot: 'berth.slot',
} as const;

export const containerName = (env: string, name: string): string => `berth-${env}-${name}`;
/** The container a deploy creates before it is healthy and renamed. */
export const nextContainerName = (env: string, name: string): string => `${containerName(env, name)}-next`;
/** The local tags that keep the running and the rollback image from being dangling. */
export const localTag = (name: string, env: string, which: 'current' | 'previous') => ({ repository: `berth/${name}`, tag: `${env}-${which}` });
export const localTagText = (name: string, env: string, which: 'current' | 'previous'): string => {
  const tag = localTag(name, env, which);
  return `${tag.repository}:${tag.tag}`;
};

/** Where the host proxy is: set on a host by the readiness step (BERTH_PROXY_SOCKET in host.env); undefined without one. */
export interface ProxyPaths {
  socket: string;
  masterSocket: string;
  binary: string;
  config: string;
  servicesDir: string;
}

export function proxyPathsFrom(env: NodeJS.ProcessEnv, host: Record<string, string> = {}): ProxyPaths | undefined {
  const value = (key: string, fallback: string) => env[key] || host[key] || fallback;
  const socket = value('BERTH_PROXY_SOCKET', '');
  if (socket === '') {
    return undefined;
  }
  return {
    socket,
    masterSocket: value('BERTH_PROXY_MASTER_SOCKET', PROXY_PATHS.masterSocket),
    binary: value('BERTH_PROXY_BINARY', PROXY_PATHS.binary),
    config: value('BERTH_PROXY_CONFIG', PROXY_PATHS.config),
    servicesDir: value('BERTH_PROXY_SERVICES', PROXY_PATHS.servicesDir),
  };
}

export const stateDir = (roots: Roots, env: string, name: string): string => path.join(roots.state, env, name);
export const configDir = (roots: Roots, env: string, name: string): string => path.join(roots.config, env, name);
export const auditLogPath = (roots: Roots): string => path.join(roots.data, 'berth', 'audit.log');

/** The config file's folder is named by its content: the previous container keeps its own file. */
export const configHash = (content: string): string => createHash('sha256').update(content).digest('hex').slice(0, 16);

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A file written whole or not at all: a temporary file renamed over it. */
export function writeAtomically(file: string, content: string, mode: number): void {
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, content, { mode });
  fs.chmodSync(temporary, mode);
  fs.renameSync(temporary, file);
}

/** A file's text, or undefined when it does not exist. */
export function readIfPresent(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
}

export type AuditResult = 'ok' | 'unchanged' | 'failed' | 'pull-failed' | 'failed-restored' | 'failed-restore-failed' | 'kept-newer';

export interface AuditEntry {
  action: 'deploy' | 'rollback' | 'remove';
  service: string;
  env: string;
  from?: string;
  to?: string;
  result: AuditResult;
}

/** One audit line: `<UTC time> action=… service=… env=… from=… to=… result=…`. */
export function auditLine(entry: AuditEntry, now: Date): string {
  const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `${time} action=${entry.action} service=${entry.service} env=${entry.env} from=${entry.from || '-'} to=${entry.to || '-'} result=${entry.result}\n`;
}

export function appendAudit(roots: Roots, entry: AuditEntry, now = new Date()): void {
  const file = auditLogPath(roots);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, auditLine(entry, now), { mode: 0o600 });
}

/** The audit lines of one service in one environment, oldest first. */
export function auditHistory(roots: Roots, env: string, name: string): string[] {
  const text = readIfPresent(auditLogPath(roots)) ?? '';
  return text.split('\n').filter((line) => line.includes(` service=${name} env=${env} `));
}
