/**
 * The one rule for service and environment names. The host agent
 * (components/service/agent/) imports it for its command line and, through
 * the spec schema (components/service/spec.ts), for every spec it reads;
 * config validation and the renderers use it too, so a name the agent would
 * refuse at deploy time is refused before any resource is declared.
 *
 * Why this shape: a name becomes part of a container name
 * (`berth-<env>-<name>`), of host paths (`<data root>/<env>/<name>`), of log
 * group and physical resource names (`<project>-<env>-…`). Lowercase words
 * joined by single hyphens are valid in all of them, and a `--` or a leading or
 * trailing hyphen could make two different (env, name) pairs render the same.
 */

/** Lowercase letters and digits in words joined by single hyphens, e.g. `auth-service`. */
export const NAME_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** At most this many characters. */
export const NAME_MAX_LENGTH = 48;

/** What the name is, for the message: `service` or `environment`. */
export type NameKind = 'service' | 'environment';

/** True when `value` is a valid service or environment name. */
export function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= NAME_MAX_LENGTH && NAME_PATTERN.test(value);
}

/**
 * What is wrong with `value` as a `kind` name, or `undefined` when it is valid.
 * The message says what was expected; the caller adds the file and key.
 */
export function nameProblem(kind: NameKind, value: unknown): string | undefined {
  if (isName(value)) {
    return undefined;
  }
  const expected = `a ${kind} name is lowercase letters and digits in words joined by single hyphens (e.g. auth-service), at most ${NAME_MAX_LENGTH} characters`;
  if (typeof value !== 'string') {
    return `${expected}; got ${value === undefined ? 'nothing' : typeof value}`;
  }
  if (value.length > NAME_MAX_LENGTH) {
    return `${expected}; got ${value.length} characters: ${JSON.stringify(value)}`;
  }
  return `${expected}; got ${JSON.stringify(value)}`;
}

/**
 * A deploy step's id on the host (`berth-agent deploy --deployment ID`): the
 * step's logical name, recorded as the owner of the service it deployed.
 */
export const DEPLOYMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
