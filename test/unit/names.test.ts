import { DEPLOYMENT_ID_PATTERN, isName, NAME_MAX_LENGTH, NAME_PATTERN, nameProblem } from '../../components/common/names';
import { parseCommand } from '../../components/service/agent/cli';
import { deployCommand } from '../../components/service/containerService';
import { checkAgentSpec } from '../../components/service/spec';

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

describe('the host agent enforces the same name rule', () => {
  const names = [...OK, ...REFUSED];
  const spec = (field: 'name' | 'env', value: string) => ({
    name: 'web',
    env: 'dev',
    image: `web@sha256:${'ab'.repeat(32)}`,
    health: { cmd: 'true', timeoutSeconds: 5 },
    [field]: value,
  });

  it.each(['name', 'env'] as const)('the spec schema answers every name in the table as isName does (spec.%s)', (field) => {
    const answers = names.map((value) => checkAgentSpec(spec(field, value)).problems === undefined);
    expect(answers.map((answer, i) => [names[i], answer])).toEqual(names.map((value) => [value, isName(value)]));
  });

  it('the command line answers every NAME and --env in the table as isName does', () => {
    const accepted = (argv: string[]) => {
      try {
        parseCommand(argv);
        return true;
      } catch {
        return false;
      }
    };
    expect(names.map((value) => [value, accepted(['rollback', value, '--env', 'dev'])])).toEqual(names.map((value) => [value, isName(value)]));
    expect(names.map((value) => [value, accepted(['rollback', 'web', '--env', value])])).toEqual(names.map((value) => [value, isName(value)]));
  });
});

describe('the deployment id rule', () => {
  const ids = ['auth-service-app-1', 'A.b_c-9', 'x'.repeat(128)];
  const bad = ['', '-a', 'a b', '$(id)', 'x'.repeat(129), 'a/b'];

  it('is one pattern: the agent refuses what the component would never render', () => {
    expect(DEPLOYMENT_ID_PATTERN.source).toBe('^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$');
    for (const id of ids) {
      expect(parseCommand(['remove', 'web', '--env', 'dev', '--deployment', id])).toEqual({ command: 'remove', name: 'web', env: 'dev', deployment: id });
      expect(deployCommand(id, `web@sha256:${'ab'.repeat(32)}`)).toContain(`--deployment ${id} `);
    }
    for (const id of bad) {
      expect(() => parseCommand(['deploy', '--deployment', id])).toThrow(id === '' ? '--deployment: not a deployment id: ' : `--deployment: not a deployment id: ${id}`);
      expect(() => deployCommand(id, `web@sha256:${'ab'.repeat(32)}`)).toThrow('its name is its deployment id on the host');
    }
  });
});
