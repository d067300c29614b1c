import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { isName, NAME_MAX_LENGTH, NAME_PATTERN, nameProblem } from '../../components/common/names';

const AGENT_SCRIPT = path.join(__dirname, '..', '..', 'components', 'service', 'agent', 'berth-agent');
const agentText = fs.readFileSync(AGENT_SCRIPT, 'utf8');

/** The agent's bash function, exactly as it is written in the script. */
function bashValidIdent(): string {
  const lines = agentText.split('\n').filter((line) => /^valid_ident\(\)/.test(line));
  expect(lines).toHaveLength(1);
  return lines[0];
}

/** The agent's jq definition, exactly as it is written in the script. */
function jqIdent(): string {
  const lines = agentText.split('\n').filter((line) => /^def ident:/.test(line));
  expect(lines).toHaveLength(1);
  return lines[0];
}

const OK = ['auth-service', 'a', '0', 'prod', 'dev2', 'api-v2-internal', 'a'.repeat(NAME_MAX_LENGTH), `${'ab-'.repeat(15)}abc`];
const REFUSED = ['', 'auth--svc', '-a', 'a-', 'A', 'Auth-service', 'a_b', 'a.b', 'a b', 'a/b', ' a', 'a\n', 'é', 'a'.repeat(NAME_MAX_LENGTH + 1), `${'ab-'.repeat(16)}a`];

describe('service and environment names', () => {
  it.each(OK)('accepts %j', (name) => {
    expect(isName(name)).toBe(true);
    expect(nameProblem('service', name)).toBeUndefined();
  });

  it.each(REFUSED)('refuses %j', (name) => {
    expect(isName(name)).toBe(false);
    expect(nameProblem('environment', name)).toMatch(/^an? environment name is lowercase letters and digits in words joined by single hyphens \(e\.g\. auth-service\), at most 48 characters; got /);
  });

  it('says what was wrong, naming a too-long value by its length', () => {
    expect(nameProblem('service', 'auth--svc')).toBe(
      'a service name is lowercase letters and digits in words joined by single hyphens (e.g. auth-service), at most 48 characters; got "auth--svc"',
    );
    expect(nameProblem('service', 'a'.repeat(49))).toBe(
      `a service name is lowercase letters and digits in words joined by single hyphens (e.g. auth-service), at most 48 characters; got 49 characters: "${'a'.repeat(49)}"`,
    );
    expect(nameProblem('environment', undefined)).toMatch(/; got nothing$/);
    expect(nameProblem('environment', 7)).toMatch(/; got number$/);
  });

  it('is the rule the agent states: at most 48 characters, this exact pattern', () => {
    expect(NAME_MAX_LENGTH).toBe(48);
    expect(NAME_PATTERN.source).toBe('^[a-z0-9]+(-[a-z0-9]+)*$');
    expect(NAME_PATTERN.flags).toBe('');
  });
});

describe('the host agent enforces the same name rule (components/service/agent/berth-agent)', () => {
  it("bash valid_ident tests exactly the module's pattern", () => {
    const match = /"\$1" =~ (\S+)/.exec(bashValidIdent());
    expect(match?.[1]).toBe(NAME_PATTERN.source);
  });

  it("jq ident tests exactly the module's pattern and length", () => {
    const match = /^def ident: type == "string" and test\("([^"]+)"\) and length <= (\d+);$/.exec(jqIdent());
    expect(match).not.toBeNull();
    // jq's regex engine (Oniguruma) lets `$` match before a trailing newline,
    // so the agent may anchor with \A and \z (written \\A, \\z in a jq string)
    // instead of ^ and $; what lies between the anchors must be the module's.
    const body = (pattern: string) => pattern.replace(/^(\^|\\\\A)/, '').replace(/(\$|\\\\z)$/, '');
    expect(body(match?.[1] ?? '')).toBe(body(NAME_PATTERN.source));
    expect(Number(match?.[2])).toBe(NAME_MAX_LENGTH);
  });

  // Run the agent's own definitions, not a copy: whatever they are written as,
  // they must answer every name in the table as the module does.
  it('jq ident answers every name in the table as isName does', () => {
    const names = [...OK, ...REFUSED];
    const program = `${jqIdent()} $names | map(ident)`;
    const answers = JSON.parse(execFileSync('jq', ['-nc', '--argjson', 'names', JSON.stringify(names), program], { encoding: 'utf8' }));
    expect(answers).toEqual(names.map(isName));
  });

  it('bash valid_ident answers every name in the table as isName does, including the 48-character limit', () => {
    const names = [...OK, ...REFUSED];
    const script = `${bashValidIdent()}\nfor name in "$@"; do if valid_ident "$name"; then echo true; else echo false; fi; done`;
    const answers = execFileSync('bash', ['-c', script, 'bash', ...names], { encoding: 'utf8' }).trim().split('\n');
    expect(answers.map((answer, i) => [names[i], answer === 'true'])).toEqual(names.map((name) => [name, isName(name)]));
  });
});

describe('the deployment id rule', () => {
  it('is the same in the component that renders deploy steps and in the agent that checks them', () => {
    const { DEPLOYMENT_ID } = require('../../components/service/containerService') as { DEPLOYMENT_ID: RegExp };
    const agentRule = /^readonly DEPLOYMENT_RE='([^']+)'$/m.exec(agentText)?.[1];
    expect(agentRule).toBe(DEPLOYMENT_ID.source);
  });
});
