/**
 * How the Pulumi programs report bad configuration: one line per problem,
 * `<file>: <namespace>:<key path>: <what was expected>`, every problem of a
 * file at once. The environment config and the registry settings both format
 * zod's issues here.
 */
import { z } from 'zod';

/** Raised when a stack's configuration is invalid; `errors` holds one line per problem. */
export class ConfigError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('\n'));
    this.name = 'ConfigError';
  }
}

/** One problem line: `<file>: <key>: <message>`. */
export function configProblem(file: string, key: string, message: string): string {
  return `${file}: ${key}: ${message}`;
}

/** A key path as written in messages: `network.subnetIds[0]`. */
export function describePath(segments: (string | number)[]): string {
  return segments.map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : index === 0 ? segment : `.${segment}`)).join('');
}

/**
 * zod's issues as problem lines. `namespace` is the config namespace the
 * schema's keys live under (`berth`, `berth-registry`); `topLevelKeys` are
 * listed when a top-level key is unknown.
 */
export function zodIssueMessages(error: z.ZodError, file: string, namespace: string, topLevelKeys: readonly string[]): string[] {
  return error.issues.map((issue) => {
    const at = `${namespace}:${describePath(issue.path)}`;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => `"${key}"`).join(', ');
      const key = issue.path.length === 0 ? `${namespace}:${issue.keys[0]}` : at;
      return configProblem(file, key, `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}${issue.path.length === 0 ? ` (${namespace} keys are: ${topLevelKeys.join(', ')})` : ''}`);
    }
    if (issue.code === 'invalid_type' && issue.received === 'undefined') {
      return configProblem(file, at, `required${issue.message && issue.message !== 'Required' ? ` (${issue.message.replace(/^required: /, '')})` : ''}`);
    }
    if (issue.code === 'invalid_type') {
      return configProblem(file, at, `expected ${issue.expected}, got ${issue.received}`);
    }
    return configProblem(file, at, `expected ${issue.message}`);
  });
}
