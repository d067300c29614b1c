/**
 * The JSON service spec that `berth-agent deploy` reads on stdin: one zod
 * schema, used by ContainerService (which renders it), by the host agent
 * (which validates every spec it reads, from stdin or from its own state) and
 * by the policy pack. The agent adds the one check that needs the host: a
 * volume's host path must resolve inside the service's own data folder.
 * See components/service/agent/README.md.
 *
 * No Pulumi and no Node imports here: the agent bundles this file.
 *
 * @example
 * const stdin = agentSpecJson({
 *   name: 'auth-service',
 *   env: 'stage',
 *   image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:<64 hex>',
 *   ports: ['8080:8080'],
 *   volumes: ['/srv/berth/stage/auth-service/data:/var/lib/auth'],
 *   environment: { SPRING_PROFILES_ACTIVE: 'stage' },
 *   configFile: { content: 'db.url=jdbc:postgresql://db:5432/auth\n', target: '/app/config/application-stage.properties' },
 *   health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/health', timeoutSeconds: 60 },
 * });
 */

import { z } from 'zod';
import { isName, NAME_MAX_LENGTH } from '../common/names';
import { isProxySlotPort, PROXY_SLOT_PORTS, publishedHostPort } from '../common/ports';
import { isRecord, sortedEntries, sortedRecord } from '../common/records';

/**
 * A pinned image: `<repository>@sha256:<64 hex>`, no tag, nothing a shell would read. A port
 * (`host:5000/…`) only before a path, so `web:1@sha256:…` reads as the tag it is.
 */
export const PINNED_IMAGE_PATTERN = /^[a-z0-9][a-z0-9._-]*(:[0-9]+\/[a-z0-9][a-z0-9._-]*)?(\/[a-z0-9][a-z0-9._-]*)*@sha256:[0-9a-f]{64}$/;
/** `docker -p`, IPv4: `[ip:][hostPort:]containerPort[/tcp|udp|sctp]`, ranges allowed. */
export const PORT_PATTERN = /^(([0-9]{1,3}\.){3}[0-9]{1,3}:)?([0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/;
/**
 * A `docker -p` spec Docker would take: the pattern, ports 1 to 65535, ranges
 * low to high, and a container range only with no host port or a host range of
 * its length (a host range for one container port is one binding).
 */
export function isPortSpec(value: unknown): boolean {
  if (typeof value !== 'string' || !PORT_PATTERN.test(value)) {
    return false;
  }
  const parts = value.split('/')[0].split(':');
  const container = parts[parts.length - 1];
  const host = parts.length >= 2 ? parts[parts.length - 2] : '';
  const span = (range: string): number | undefined => {
    const [low, high = low] = range.split('-').map(Number);
    return low >= 1 && high <= 65535 && low <= high ? high - low : undefined;
  };
  const containerSpan = span(container);
  const hostSpan = host === '' ? 0 : span(host);
  return containerSpan !== undefined && hostSpan !== undefined && (containerSpan === 0 || host === '' || hostSpan === containerSpan);
}

/** `docker -v` with an absolute host path: no named volumes, no control characters, no commas or colons in paths. */
export const VOLUME_PATTERN = /^\/[^:,\x00-\x1f\x7f]*:\/[^:,\x00-\x1f\x7f]*(:(ro|rw|z|Z|ro,z|ro,Z))?$/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LOG_DRIVER = /^[a-z0-9][a-z0-9_.-]*$/;
const RESTART = /^(no|always|unless-stopped|on-failure(:[0-9]+)?)$/;
const CONFIG_TARGET = /^\/[^:,]*[^/:,]$/;

/** How a value the spec got is shown in a message: as JSON, `null` when missing. */
function shown(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}

/** A field checked by `test`, refused with `message` (which may show the value). */
function checked<T>(test: (value: unknown) => boolean, message: (value: unknown) => string) {
  return z.custom<T>(test, (value: unknown) => ({ message: message(value) }));
}

const NAME_RULE = `required, lowercase letters and digits in single-hyphen-separated words, at most ${NAME_MAX_LENGTH} characters`;
const isWholePositive = (value: unknown): boolean => typeof value === 'number' && Number.isInteger(value) && value > 0;
const positiveWhole = checked<number>(isWholePositive, (value) => `must be a positive whole number, got ${shown(value)}`);
const flag = checked<boolean>((value) => typeof value === 'boolean', () => 'must be true or false');

function stringList(test: (value: unknown) => boolean, what: string) {
  return z.array(checked<string>(test, (value) => `${what}, got ${shown(value)}`), {
    invalid_type_error: 'must be an array of strings',
  });
}

function variables(secret: boolean) {
  return z
    .record(z.string({ invalid_type_error: 'value must be a string' }), { invalid_type_error: 'must be an object of NAME: "value"' })
    .superRefine((record, context) => {
      for (const [key, value] of Object.entries(record)) {
        if (!VARIABLE_NAME.test(key)) {
          context.addIssue({ code: 'custom', path: [key], message: 'not a valid variable name' });
        } else if (secret && /[\n\r]/.test(value)) {
          context.addIssue({ code: 'custom', path: [key], message: 'value must be a single line' });
        }
      }
    });
}

const configFileSchema = z
  .object(
    {
      /** The file's content, written as is. Not for secrets: the file is readable in the container by any user. */
      content: z.string({ required_error: 'required string', invalid_type_error: 'required string' }),
      /**
       * Absolute path of the file inside the container, mounted read-only.
       * @example '/app/config/application-prod.properties'
       */
      target: checked<string>((value) => typeof value === 'string' && CONFIG_TARGET.test(value), (value) => `required absolute file path in the container, got ${shown(value)}`),
    },
    { invalid_type_error: 'must be an object { content, target }' },
  )
  .strict();

const healthSchema = z
  .object(
    {
      /**
       * Shell command run inside the container (`sh -c <cmd>`), polled until it exits 0. The image must carry `sh`.
       * @example 'wget -q -O /dev/null http://127.0.0.1:8080/health'
       */
      cmd: checked<string>((value) => typeof value === 'string' && /\S/.test(value), () => 'required shell command run inside the container'),
      /** Seconds, 1 to 3600, to wait for the first passing check before the deploy is failed and the old container restored. */
      timeoutSeconds: checked<number>(
        (value) => isWholePositive(value) && (value as number) <= 3600,
        (value) => `required whole seconds, 1 to 3600, got ${shown(value)}`,
      ),
    },
    { required_error: 'required object { cmd, timeoutSeconds }', invalid_type_error: 'required object { cmd, timeoutSeconds }' },
  )
  .strict();

const logSchema = z
  .object(
    {
      /**
       * Docker log driver name.
       * @example 'awslogs'
       */
      driver: checked<string>((value) => typeof value === 'string' && LOG_DRIVER.test(value), (value) => `required log driver name, got ${shown(value)}`),
      /**
       * Log driver options (`--log-opt key=value`).
       * @example { 'awslogs-group': '/berth/prod/containers', 'awslogs-stream': 'auth-service' }
       */
      options: z.record(z.string({ invalid_type_error: 'must be a string' }), { invalid_type_error: 'must be an object of strings' }).optional(),
    },
    { invalid_type_error: 'must be an object { driver, options }' },
  )
  .strict();

export type Update = 'start-first' | 'stop-first';
export type ProxyMode = 'http' | 'tcp';
/** The longest drain a service may ask for: an hour. */
export const MAX_DRAIN_SECONDS = 3600;
/** What a spec that leaves them out gets. */
export const TRAFFIC_DEFAULTS = { update: 'start-first', drainSeconds: 30, proxyMode: 'tcp' } as const;

const RESTART_MESSAGE = (value: unknown) => `must be no, always, unless-stopped or on-failure[:N], got ${shown(value)}`;

/** One service on one host, as `berth-agent deploy` reads it on stdin. Unknown fields are refused at every level. */
export const agentServiceSpecSchema = z
  .object(
    {
      /**
       * Service name: lowercase letters and digits in words joined by single hyphens, at most 48 characters.
       * The container is named `berth-<env>-<name>`.
       * @example 'auth-service'
       */
      name: checked<string>(isName, (value) => `${NAME_RULE}, got ${shown(value)}`),
      /**
       * Environment the container belongs to; every agent action is scoped by name AND env. Same shape as `name`.
       * @example 'prod'
       */
      env: checked<string>(isName, (value) => `${NAME_RULE}, got ${shown(value)}`),
      /**
       * Image pinned to a digest: `<repository>@sha256:<64 hex>`. A tag is refused.
       * @example '123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:0123…'
       */
      image: checked<string>(
        (value) => typeof value === 'string' && PINNED_IMAGE_PATTERN.test(value),
        (value) => `must be <repository>@sha256:<64 hex> (a tag is refused), got ${shown(value)}`,
      ),
      /**
       * Published ports in `docker -p` syntax, IPv4 only: `[ip:][hostPort:]containerPort[/tcp|udp|sctp]`.
       * When the running container holds a host port the new one wants, the agent stops it just
       * before starting the new one.
       * @default []
       * @example ['8080:8080', '127.0.0.1:9090:9090']
       */
      ports: stringList(isPortSpec, 'must be docker -p syntax [ip:][hostPort:]containerPort[/proto]').optional(),
      /**
       * Bind mounts in `docker -v` syntax: `/host/path:/container/path[:ro]`. The host path must lie
       * inside the service's own folder on the data volume, `$BERTH_DATA_ROOT/<env>/<name>`
       * (`/srv/berth/<env>/<name>` by default), so no service reaches another's data or the audit log;
       * named volumes are refused.
       * @default []
       * @example ['/srv/berth/prod/auth-service/data:/var/lib/auth']
       */
      volumes: stringList((value) => typeof value === 'string' && VOLUME_PATTERN.test(value), 'must be /host/path:/container/path[:ro] with the host path under <data root>/<env>/<name>').optional(),
      /**
       * Plain environment variables (visible in `docker inspect`).
       * @default {}
       */
      environment: variables(false).optional(),
      /**
       * Secret environment variables: handed to the engine in the create call, never on a command
       * line, in a file or in output. Docker still stores them in the container's config, so
       * `docker inspect` (root) shows them. Values must be single lines.
       */
      secretEnvironment: variables(true).optional(),
      /** A configuration file mounted read-only into the container. */
      configFile: configFileSchema.optional(),
      /** The health gate every deploy and rollback must pass. Required. */
      health: healthSchema,
      /** Log driver; the engine's default (daemon.json) when left out. */
      log: logSchema.optional(),
      /** Memory limit in MiB. */
      memoryMiB: positiveWhole.optional(),
      /** Maximum number of processes in the container. */
      pidsLimit: positiveWhole.optional(),
      /**
       * Restart policy.
       * @default 'unless-stopped'
       */
      restart: checked<'no' | 'always' | 'unless-stopped' | 'on-failure' | `on-failure:${number}`>(
        (value) => typeof value === 'string' && RESTART.test(value),
        RESTART_MESSAGE,
      ).optional(),
      /** Seconds a stop waits after SIGTERM before SIGKILL; Docker's default is 10. */
      stopTimeoutSeconds: positiveWhole.optional(),
      /**
       * How a deploy replaces the running container. `start-first`: the new container starts beside
       * the old one on a private port, passes its health check, the host proxy switches to it and the
       * old one drains before it is stopped. `stop-first`: the old one drains and stops first (for a
       * single writer of its data volume); the service is down while the new one starts.
       * @default 'start-first'
       */
      update: checked<Update>((value) => value === 'start-first' || value === 'stop-first', (value) => `must be start-first or stop-first, got ${shown(value)}`).optional(),
      /**
       * Seconds the old container keeps its in-flight requests (HTTP) or connections (TCP) after the
       * host proxy switched away from it, before it is stopped; 0 to 3600.
       * @default 30
       */
      drainSeconds: checked<number>(
        (value) => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_DRAIN_SECONDS,
        (value) => `must be whole seconds, 0 to ${MAX_DRAIN_SECONDS}, got ${shown(value)}`,
      ).optional(),
      /**
       * How the host proxy carries the service's published TCP ports: `http` switches and drains
       * request by request (keep-alive clients such as a load balancer move at once), `tcp`
       * connection by connection.
       * @default 'tcp'
       */
      proxyMode: checked<ProxyMode>((value) => value === 'http' || value === 'tcp', (value) => `must be http or tcp, got ${shown(value)}`).optional(),
      /** Run privileged. Refused unless `allowPrivilegedReason` is set. */
      privileged: flag.optional(),
      /** Mount the host's Docker socket (root on the host). Refused unless `allowPrivilegedReason` is set. */
      dockerSocket: flag.optional(),
      /**
       * Why the service needs `privileged` or `dockerSocket`, for reviewers.
       * @example 'log shipper reads other containers through the Docker API'
       */
      allowPrivilegedReason: checked<string>((value) => typeof value === 'string' && /\S/.test(value), () => 'must be a non-empty string').optional(),
    },
    { invalid_type_error: 'must be a JSON object' },
  )
  .strict()
  .superRefine((spec, context) => {
    (spec.ports ?? []).forEach((port, index) => {
      const hostPort = publishedHostPort(port);
      if (hostPort !== undefined && isProxySlotPort(hostPort)) {
        context.addIssue({
          code: 'custom',
          path: ['ports', index],
          message: `host port ${hostPort} is in the range the host proxy keeps for containers (${PROXY_SLOT_PORTS.first}-${PROXY_SLOT_PORTS.last}); publish another`,
        });
      }
    });
    for (const field of ['privileged', 'dockerSocket'] as const) {
      if (spec[field] === true && spec.allowPrivilegedReason === undefined) {
        context.addIssue({
          code: 'custom',
          path: [field],
          message: 'refused without spec.allowPrivilegedReason explaining why the service needs root on the host',
        });
        return;
      }
    }
  });

/** The traffic settings of a spec, defaults filled in. */
export function trafficOf(spec: AgentServiceSpec): { update: Update; drainSeconds: number; proxyMode: ProxyMode } {
  return {
    update: spec.update ?? TRAFFIC_DEFAULTS.update,
    drainSeconds: spec.drainSeconds ?? TRAFFIC_DEFAULTS.drainSeconds,
    proxyMode: spec.proxyMode ?? TRAFFIC_DEFAULTS.proxyMode,
  };
}

/** A service spec as ContainerService renders it and the agent reads it. */
export type AgentServiceSpec = z.input<typeof agentServiceSpecSchema>;
export type AgentConfigFile = NonNullable<AgentServiceSpec['configFile']>;
export type AgentHealthCheck = AgentServiceSpec['health'];
export type AgentLogConfig = NonNullable<AgentServiceSpec['log']>;

const shape = agentServiceSpecSchema.innerType().shape;

/**
 * Every top-level field the agent accepts, in the order `agentSpecJson` renders
 * them: identity first, then what runs, then limits and privileges.
 */
export const AGENT_SPEC_FIELDS = Object.keys(shape) as readonly (keyof AgentServiceSpec)[];

/** The allowed fields of each object in the spec, by its path, for the unknown-field message. */
const ALLOWED_FIELDS: Record<string, readonly string[]> = {
  spec: AGENT_SPEC_FIELDS,
  'spec.configFile': Object.keys(configFileSchema.shape),
  'spec.health': Object.keys(healthSchema.shape),
  'spec.log': Object.keys(logSchema.shape),
};

function pathText(path: readonly (string | number)[]): string {
  return path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : `${text}.${part}`), 'spec');
}

/** JSON's `null` stands for a field left out, as it always has for the agent. */
function withoutNullFields(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(withoutNullFields);
  }
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, field]) => field !== null)
        .map(([key, field]) => [key, withoutNullFields(field)]),
    );
  }
  return value;
}

export type SpecCheck = { spec: AgentServiceSpec; problems?: undefined } | { spec?: undefined; problems: string[] };

/**
 * Checks a parsed JSON value against the spec schema. Problems come one a
 * line, each naming the field (`spec.image: must be …, got "…:latest"`);
 * secret values are never shown, only their keys.
 */
export function checkAgentSpec(value: unknown): SpecCheck {
  const input = withoutNullFields(value);
  const result = agentServiceSpecSchema.safeParse(input);
  if (result.success) {
    return { spec: result.data };
  }
  const problems = result.error.issues.map((issue) => {
    const at = pathText(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const allowed = ALLOWED_FIELDS[at] ?? [];
      return `${at}: unknown field(s) ${[...issue.keys].sort().join(', ')} (allowed: ${allowed.join(', ')})`;
    }
    return `${at}: ${issue.message}`;
  });
  return { problems };
}

/**
 * The canonical form of a valid spec: defaults filled in (so leaving a default
 * out and spelling it out are the same spec; the traffic fields at their
 * defaults are left out instead), keys sorted at every level, one
 * line. Its sha256 is the `berth.spec-hash` label, the same text the bash
 * agent of earlier releases wrote, so a host it left keeps its containers.
 */
export function canonicalSpecText(spec: AgentServiceSpec): string {
  const filled: Record<string, unknown> = { ports: [], volumes: [], environment: {}, restart: 'unless-stopped', ...spec };
  // The traffic fields came later: at their defaults they are left out, so a
  // spec that spells them out keeps the hash its containers already carry.
  for (const [key, value] of Object.entries(TRAFFIC_DEFAULTS)) {
    if (filled[key] === value) {
      delete filled[key];
    }
  }
  // (jq, which wrote earlier hashes, escapes DEL; JSON.stringify does not.)
  return JSON.stringify(sortedKeys(filled)).replace(/\x7f/g, '\\u007f');
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortedKeys);
  }
  if (isRecord(value)) {
    return Object.fromEntries(sortedEntries(value).map(([key, field]) => [key, sortedKeys(field)]));
  }
  return value;
}

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
