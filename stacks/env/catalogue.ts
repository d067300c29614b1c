/**
 * The service catalogue: what a service *is*, the same in every environment
 * (ports, health check, data directories, limits). What differs per
 * environment (image digest, placement, environment variables, config file)
 * lives in `Pulumi.<env>.yaml` under `berth:services`.
 */
import { publishedHostPort } from '../../components/common/ports';
import { MAX_DRAIN_SECONDS, TRAFFIC_DEFAULTS, Update } from '../../components/service/spec';

export interface CatalogueVolume {
  /** Directory name under the service's folder on the host's data volume. */
  name: string;
  /** Where the container sees it. */
  containerPath: string;
}

export interface CatalogueService {
  /** Docker `-p` publications, `hostPort:containerPort[/proto]`. */
  ports: string[];
  /** Shell command run inside the container; exit 0 means healthy. */
  health: { cmd: string; timeoutSeconds: number };
  /** Data that outlives the container, kept on the host's data volume. */
  volumes: CatalogueVolume[];
  /** Where the container reads its per-environment `application-<env>.properties`. */
  configTarget: string;
  memoryMiB: number;
  pidsLimit: number;
  /**
   * How a deploy replaces the container on a host: `start-first` starts the new one on a
   * private port, switches the host proxy to it once healthy, then drains and stops the old
   * one; `stop-first` stops the old one first (a single writer of its data volume).
   * @default 'start-first'
   */
  update?: Update;
  /**
   * Seconds in-flight requests get on the old container after the host proxy switches away
   * from it, 0 to 3600.
   * @default 30
   */
  drainSeconds?: number;
  /**
   * A web service, reached through the load balancer: `port` is one of its published host
   * ports, and the target group's health check requests `healthCheckPath` (200-399 is healthy).
   * Without it a service with ports is a TCP service: its name lists its hosts.
   */
  web?: {
    port: number;
    healthCheckPath: string;
    /** Seconds the load balancer lets a deregistering host finish its requests, 0 to 3600. @default 30 */
    deregistrationDelaySeconds?: number;
  };
}

/** Where the catalogue lives, as its problems name it. */
export const CATALOGUE_FILE = 'stacks/env/catalogue.ts';

// The agent's spec owns the traffic defaults and limits; the catalogue reads them from there.
export const DEFAULT_UPDATE = TRAFFIC_DEFAULTS.update;
export const DEFAULT_DRAIN_SECONDS = TRAFFIC_DEFAULTS.drainSeconds;

/**
 * What is wrong with one catalogue entry, each problem as
 * `stacks/env/catalogue.ts: <service>.<key>: <what was expected>`.
 */
export function catalogueProblems(name: string, entry: CatalogueService): string[] {
  const problems: string[] = [];
  const fail = (key: string, message: string) => problems.push(`${CATALOGUE_FILE}: ${name}.${key}: ${message}`);
  if (entry.update !== undefined && entry.update !== 'start-first' && entry.update !== 'stop-first') {
    fail('update', `start-first or stop-first, got ${JSON.stringify(entry.update)}`);
  }
  if (entry.drainSeconds !== undefined && !isWholeIn(entry.drainSeconds, 0, MAX_DRAIN_SECONDS)) {
    fail('drainSeconds', `a whole number of seconds from 0 to ${MAX_DRAIN_SECONDS}, got ${JSON.stringify(entry.drainSeconds)}`);
  }
  if (entry.web) {
    const published = entry.ports.map(publishedHostPort).filter((port): port is number => port !== undefined);
    if (!published.includes(entry.web.port)) {
      fail('web.port', `one of the service's published host ports (${published.join(', ') || 'none'}), got ${JSON.stringify(entry.web.port)}`);
    }
    if (typeof entry.web.healthCheckPath !== 'string' || !/^\/[\x21-\x7e]{0,1023}$/.test(entry.web.healthCheckPath)) {
      fail('web.healthCheckPath', `a path starting with / (e.g. /actuator/health), got ${JSON.stringify(entry.web.healthCheckPath)}`);
    }
    const delay = entry.web.deregistrationDelaySeconds;
    if (delay !== undefined && !isWholeIn(delay, 0, MAX_DRAIN_SECONDS)) {
      fail('web.deregistrationDelaySeconds', `a whole number of seconds from 0 to ${MAX_DRAIN_SECONDS}, got ${JSON.stringify(delay)}`);
    }
  }
  return problems;
}

function isWholeIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

export const catalogue: Record<string, CatalogueService> = {
  'auth-service': {
    ports: ['8081:8081'],
    health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8081/actuator/health', timeoutSeconds: 60 },
    volumes: [{ name: 'logs', containerPath: '/var/log/auth-service' }],
    configTarget: '/config/application.properties',
    memoryMiB: 512,
    pidsLimit: 256,
    web: { port: 8081, healthCheckPath: '/actuator/health' },
  },
  'api-service': {
    ports: ['8080:8080'],
    health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/actuator/health', timeoutSeconds: 60 },
    volumes: [
      { name: 'logs', containerPath: '/var/log/api-service' },
      { name: 'uploads', containerPath: '/var/lib/api-service/uploads' },
    ],
    configTarget: '/config/application.properties',
    memoryMiB: 768,
    pidsLimit: 256,
    web: { port: 8080, healthCheckPath: '/actuator/health' },
  },
  'report-worker': {
    ports: [],
    health: { cmd: 'test -f /tmp/worker-alive', timeoutSeconds: 45 },
    volumes: [
      { name: 'logs', containerPath: '/var/log/report-worker' },
      { name: 'spool', containerPath: '/var/spool/report-worker' },
    ],
    configTarget: '/config/application.properties',
    memoryMiB: 512,
    pidsLimit: 128,
    // One worker writes its spool: the old container stops before the new one starts.
    update: 'stop-first',
  },
};
