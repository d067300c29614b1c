/**
 * Checks every host renderer applies to its arguments and output: no unknown
 * argument (nothing that could carry a secret slips in), no secret text, names
 * of the shapes the host side accepts.
 */
import { nameProblem } from '../common/names';

export const PROJECT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

/** Text that must never reach a host in clear: private keys, AWS access keys, unresolved Pulumi outputs. */
const FORBIDDEN_CONTENT: ReadonlyArray<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/, 'a private key'],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/Calling \[toString\] on an \[Output<T>\]/, 'an unresolved Pulumi Output (render inside apply)'],
];

export function checkKeys(renderer: string, what: string, value: object, allowed: ReadonlySet<string>): void {
  const unknown = Object.keys(value).filter((key) => !allowed.has(key));
  if (unknown.length > 0) {
    throw new Error(
      `${renderer}: unknown ${what} ${unknown.map((key) => `"${key}"`).join(', ')}; allowed: ${[...allowed].join(', ')}. ` +
        'What a host is sent holds no secrets: it is readable in state, previews and user data.',
    );
  }
}

export function checkNoSecrets(renderer: string, where: string, text: string): void {
  for (const [pattern, what] of FORBIDDEN_CONTENT) {
    if (pattern.test(text)) {
      throw new Error(`${renderer}: ${where} contains ${what}; what a host is sent must not carry secrets`);
    }
  }
}

/** The environment name rule the agent enforces (components/common/names.ts). */
export function checkEnv(env: string): void {
  const problem = nameProblem('environment', env);
  if (problem) {
    throw new Error(`env: "${env}": ${problem}`);
  }
}
