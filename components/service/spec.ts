/**
 * The JSON service spec that `berth-agent deploy` reads on stdin, as a
 * TypeScript type, and the one function that renders it. The agent is the
 * authority: it refuses unknown fields, a tag instead of a digest, a missing
 * health command, a volume outside the service's data folder, and privileged access
 * without a reason. See components/service/agent/README.md.
 *
 * No Pulumi imports here: the component wraps `agentSpecJson` in an apply and
 * marks the result secret when `secretEnvironment` is set.
 *
 * @example
 * const stdin = agentSpecJson({
 *   name: 'auth-service',
 *   env: 'stage',
 *   image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:<64 hex>',
 *   ports: ['8080:8080'],
 *   volumes: ['/srv/berth/prod/auth-service/data:/var/lib/auth'],
 *   environment: { SPRING_PROFILES_ACTIVE: 'stage' },
 *   configFile: { content: 'db.url=jdbc:postgresql://db:5432/auth\n', target: '/app/config/application-stage.properties' },
 *   health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/health', timeoutSeconds: 60 },
 * });
 */

import { sortedRecord } from '../common/records';

/** A file the agent writes under `$BERTH_CONFIG_ROOT/<env>/<name>/` and mounts read-only. */
export interface AgentConfigFile {
  /** The file's content, written as is. Not for secrets: the file is readable in the container by any user. */
  content: string;
  /**
   * Absolute path of the file inside the container.
   * @example '/app/config/application-prod.properties'
   */
  target: string;
}

/** How the agent decides the new container is ready. */
export interface AgentHealthCheck {
  /**
   * Shell command run inside the container with `docker exec <id> sh -c <cmd>`,
   * polled until it exits 0. The image must carry `sh`.
   * @example 'wget -q -O /dev/null http://127.0.0.1:8080/health'
   */
  cmd: string;
  /** Seconds, 1 to 3600, to wait for the first passing check before the deploy is failed and rolled back. */
  timeoutSeconds: number;
}

/** The container's Docker log driver. */
export interface AgentLogConfig {
  /**
   * Docker log driver name.
   * @example 'awslogs'
   */
  driver: string;
  /**
   * `--log-opt` key/value pairs.
   * @example { 'awslogs-group': '/berth/prod/containers', 'awslogs-stream': 'auth-service' }
   */
  options?: Record<string, string>;
}

/** One service on one host, as `berth-agent deploy` reads it on stdin. */
export interface AgentServiceSpec {
  /**
   * Service name: lowercase letters and digits in words joined by single hyphens, at most 48 characters.
   * The container is named `berth-<env>-<name>`.
   * @example 'auth-service'
   */
  name: string;
  /**
   * Environment the container belongs to; every agent action is scoped by name AND env.
   * Same shape as `name`.
   * @example 'prod'
   */
  env: string;
  /**
   * Image pinned to a digest: `<repository>@sha256:<64 hex>`. A tag is refused.
   * @example '123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:0123…'
   */
  image: string;
  /**
   * Published ports in `docker -p` syntax, IPv4 only: `[ip:][hostPort:]containerPort[/tcp|udp|sctp]`.
   * When the running container holds a host port the new one wants, the agent stops it just
   * before starting the new one.
   * @default []
   * @example ['8080:8080', '127.0.0.1:9090:9090']
   */
  ports?: string[];
  /**
   * Bind mounts in `docker -v` syntax: `/host/path:/container/path[:ro]`. The host path must lie
   * inside the service's own folder on the data volume, `$BERTH_DATA_ROOT/<env>/<name>` (`/srv/berth/<env>/<name>`
   * by default), so no service reaches another's data or the audit log; named volumes are refused.
   * @default []
   * @example ['/srv/berth/prod/auth-service/data:/var/lib/auth']
   */
  volumes?: string[];
  /**
   * Plain environment variables, passed with `-e` (visible in `docker inspect`).
   * @default {}
   */
  environment?: Record<string, string>;
  /**
   * Secret environment variables: written to a root-only 0600 file that is passed with
   * `--env-file` and deleted right after `docker create`; never on a command line, never printed.
   * Values must be single lines.
   */
  secretEnvironment?: Record<string, string>;
  /** A configuration file mounted read-only into the container. */
  configFile?: AgentConfigFile;
  /** The health gate every deploy and rollback must pass. Required. */
  health: AgentHealthCheck;
  /** Log driver; the engine's default (daemon.json) when left out. */
  log?: AgentLogConfig;
  /** Memory limit in MiB (`--memory <n>m`). */
  memoryMiB?: number;
  /** Maximum number of processes in the container (`--pids-limit`). */
  pidsLimit?: number;
  /**
   * Restart policy.
   * @default 'unless-stopped'
   */
  restart?: 'no' | 'always' | 'unless-stopped' | 'on-failure' | `on-failure:${number}`;
  /** Seconds `docker stop` waits after SIGTERM before SIGKILL (`--stop-timeout`); Docker's default is 10. */
  stopTimeoutSeconds?: number;
  /** Run with `--privileged`. Refused unless `allowPrivilegedReason` is set. */
  privileged?: boolean;
  /** Mount the host's Docker socket (root on the host). Refused unless `allowPrivilegedReason` is set. */
  dockerSocket?: boolean;
  /**
   * Why the service needs `privileged` or `dockerSocket`, for reviewers.
   * @example 'log shipper reads other containers through the Docker API'
   */
  allowPrivilegedReason?: string;
}

/**
 * Every top-level field the agent accepts, in the order `agentSpecJson` renders
 * them: identity first, then what runs, then limits and privileges.
 */
export const AGENT_SPEC_FIELDS: readonly (keyof AgentServiceSpec)[] = [
  'name',
  'env',
  'image',
  'ports',
  'volumes',
  'environment',
  'secretEnvironment',
  'configFile',
  'health',
  'log',
  'memoryMiB',
  'pidsLimit',
  'restart',
  'stopTimeoutSeconds',
  'privileged',
  'dockerSocket',
  'allowPrivilegedReason',
];

/**
 * Renders a spec as the JSON `berth-agent deploy` reads: keys in a fixed order
 * (maps sorted by key, arrays as given since their order is meaningful),
 * undefined fields left out, two-space indentation and a final newline. The same
 * spec always renders to the same text, so a preview shows a change only when
 * the spec changed.
 */
export function agentSpecJson(spec: AgentServiceSpec): string {
  // A field the agent does not know would be refused on the host; say so here,
  // where the caller can still see which object carried it.
  const unknown = Object.keys(spec).filter((key) => !(AGENT_SPEC_FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    throw new Error(`agentSpecJson: unknown field(s) ${unknown.sort().join(', ')} in the spec of service "${spec.name}"; allowed: ${AGENT_SPEC_FIELDS.join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const key of AGENT_SPEC_FIELDS) {
    const value = spec[key];
    if (value === undefined) {
      continue;
    }
    switch (key) {
      case 'environment':
      case 'secretEnvironment':
        out[key] = sortedRecord(value as Record<string, string>);
        break;
      case 'configFile': {
        const file = value as AgentConfigFile;
        out[key] = { content: file.content, target: file.target };
        break;
      }
      case 'health': {
        const health = value as AgentHealthCheck;
        out[key] = { cmd: health.cmd, timeoutSeconds: health.timeoutSeconds };
        break;
      }
      case 'log': {
        const log = value as AgentLogConfig;
        out[key] = log.options === undefined ? { driver: log.driver } : { driver: log.driver, options: sortedRecord(log.options) };
        break;
      }
      case 'ports':
      case 'volumes':
        out[key] = [...(value as string[])];
        break;
      default:
        out[key] = value;
    }
  }
  return JSON.stringify(out, null, 2) + '\n';
}
