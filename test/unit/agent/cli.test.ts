/**
 * The agent's command line (components/service/agent/cli.ts): every command,
 * every option, every refusal with its exact message.
 */
import { Command, DEFAULT_PRUNE_MIN_AGE_SECONDS, parseCommand, USAGE, UsageRefused } from '../../../components/service/agent/cli';
import { Refused } from '../../../components/service/agent/context';

function refusal(argv: string[]): Error {
  try {
    parseCommand(argv);
  } catch (error) {
    return error as Error;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be refused`);
}

describe('parseCommand', () => {
  it.each<[string[], Command]>([
    [['help'], { command: 'help' }],
    [['-h'], { command: 'help' }],
    [['--help', 'deploy'], { command: 'help' }],
    [['deploy'], { command: 'deploy', deployment: undefined, expectImage: undefined }],
    [['deploy', '--deployment', 'web-app-1', '--expect-image', 'r/web@sha256:aa'], { command: 'deploy', deployment: 'web-app-1', expectImage: 'r/web@sha256:aa' }],
    [['deploy', '--deployment=Web.App_1-x', '--expect-image=r/web@sha256:aa'], { command: 'deploy', deployment: 'Web.App_1-x', expectImage: 'r/web@sha256:aa' }],
    [['rollback', 'web', '--env', 'prod'], { command: 'rollback', env: 'prod', name: 'web' }],
    [['rollback', '--env=prod', 'auth-service'], { command: 'rollback', env: 'prod', name: 'auth-service' }],
    [['remove', 'web', '--env', 'prod'], { command: 'remove', env: 'prod', name: 'web', deployment: undefined }],
    [['remove', 'web', '--env', 'prod', '--deployment', 'web-app-1'], { command: 'remove', env: 'prod', name: 'web', deployment: 'web-app-1' }],
    [['status'], { command: 'status', env: undefined, name: undefined, json: false }],
    [['status', '--json', '--env', 'prod', 'web'], { command: 'status', env: 'prod', name: 'web', json: true }],
    [['status', 'web'], { command: 'status', env: undefined, name: 'web', json: false }],
    [['history', 'web', '--env', 'stage'], { command: 'history', env: 'stage', name: 'web' }],
    [['prune'], { command: 'prune', env: undefined, minAgeSeconds: 3600 }],
    [['prune', '--env', 'prod', '--min-age', '60'], { command: 'prune', env: 'prod', minAgeSeconds: 60 }],
    [['prune', '--min-age=0'], { command: 'prune', env: undefined, minAgeSeconds: 0 }],
  ])('%j', (argv, command) => {
    expect(parseCommand(argv)).toStrictEqual(command);
  });

  it('keeps a stopped container an hour by default', () => {
    expect(DEFAULT_PRUNE_MIN_AGE_SECONDS).toBe(3600);
  });

  it.each<[string[], string]>([
    [[], 'a command is required'],
    [['bogus'], 'unknown command bogus'],
    [['toString'], 'unknown command toString'],
    [['constructor', '--env', 'prod'], 'unknown command constructor'],
    [['deploy', '--env', 'prod'], 'unknown option --env for deploy'],
    [['status', '-x'], 'unknown option -x for status'],
    [['history', 'web', '--env', 'prod', '--json'], 'unknown option --json for history'],
    [['prune', '--deployment', 'x'], 'unknown option --deployment for prune'],
  ])('%j is refused with the usage', (argv, message) => {
    const error = refusal(argv);
    expect(error).toBeInstanceOf(UsageRefused);
    expect(error.message).toBe(message);
  });

  it.each<[string[], string]>([
    [['deploy', 'spec.json'], 'deploy takes the spec on stdin and only --deployment ID and --expect-image IMAGE, got spec.json'],
    [['prune', 'web'], 'prune takes no NAME, got web'],
    [['status', 'web', 'api'], 'one service name only, got web and api'],
    [['deploy', '--deployment'], '--deployment needs a value'],
    [['deploy', '--deployment', 'a b'], '--deployment: not a deployment id: a b'],
    [['deploy', '--deployment='], '--deployment: not a deployment id: '],
    [['remove', 'web', '--env', 'prod', '--deployment', '$(id)'], '--deployment: not a deployment id: $(id)'],
    [['deploy', '--expect-image'], '--expect-image needs a value'],
    [['rollback', 'web', '--env'], '--env needs a value'],
    [['rollback', 'web'], 'rollback needs --env ENV: a host can carry more than one environment'],
    [['remove', 'web'], 'remove needs --env ENV: a host can carry more than one environment'],
    [['history', '--env', 'prod'], 'history needs a service NAME'],
    [['rollback', 'Web_1', '--env', 'prod'], 'NAME: not a service name: Web_1'],
    [['status', '--env', 'Prod'], '--env: not an environment name: Prod'],
    [['prune', '--min-age', '1.5'], '--min-age must be whole seconds, got 1.5'],
    [['prune', '--min-age', '-1'], '--min-age must be whole seconds, got -1'],
    [['prune', '--min-age='], '--min-age must be whole seconds, got '],
  ])('%j is refused', (argv, message) => {
    const error = refusal(argv);
    expect(error).toBeInstanceOf(Refused);
    expect(error).not.toBeInstanceOf(UsageRefused);
    expect(error.message).toBe(message);
  });

  it('takes a deployment id of up to 128 characters', () => {
    expect(parseCommand(['deploy', '--deployment', `a${'b'.repeat(127)}`])).toMatchObject({ deployment: `a${'b'.repeat(127)}` });
    expect(refusal(['deploy', '--deployment', `a${'b'.repeat(128)}`]).message).toBe(`--deployment: not a deployment id: a${'b'.repeat(128)}`);
  });
});

describe('USAGE', () => {
  it('lists every command', () => {
    expect(USAGE).toBe(
      'usage: berth-agent deploy [--deployment ID] [--expect-image IMAGE] < spec.json\n' +
        '       berth-agent rollback NAME --env ENV\n' +
        '       berth-agent remove NAME --env ENV [--deployment ID]\n' +
        '       berth-agent status [--json] [--env ENV] [NAME]\n' +
        '       berth-agent history NAME --env ENV\n' +
        '       berth-agent prune [--env ENV] [--min-age SECONDS]\n',
    );
  });
});
