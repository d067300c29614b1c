/**
 * The agent's command line, parsed without touching anything: a bad command
 * or option is refused (exit 2) with the usage.
 */
import { DEPLOYMENT_ID_PATTERN, isName } from '../../common/names';
import { Refused } from './context';

export const USAGE = `usage: berth-agent deploy [--deployment ID] [--expect-image IMAGE] < spec.json
       berth-agent rollback NAME --env ENV
       berth-agent remove NAME --env ENV [--deployment ID]
       berth-agent status [--json] [--env ENV] [NAME]
       berth-agent history NAME --env ENV
       berth-agent prune [--env ENV] [--min-age SECONDS]
`;

export type Command =
  | { command: 'help' }
  | { command: 'deploy'; deployment?: string; expectImage?: string }
  | { command: 'rollback'; env: string; name: string }
  | { command: 'remove'; env: string; name: string; deployment?: string }
  | { command: 'status'; env?: string; name?: string; json: boolean }
  | { command: 'history'; env: string; name: string }
  | { command: 'prune'; env?: string; minAgeSeconds: number };

/** Refused with the usage: the caller prints both. */
export class UsageRefused extends Refused {}

/** The default age below which a prune keeps a stopped container, so a deploy in flight is never raced. */
export const DEFAULT_PRUNE_MIN_AGE_SECONDS = 3600;

function deploymentId(value: string): string {
  if (!DEPLOYMENT_ID_PATTERN.test(value)) {
    throw new Refused(`--deployment: not a deployment id: ${value}`);
  }
  return value;
}

interface Parsed {
  name?: string;
  env?: string;
  json: boolean;
  deployment?: string;
  expectImage?: string;
  minAge?: string;
}

/** Options each command takes; anything else is refused. */
const OPTIONS: Record<string, readonly string[]> = {
  deploy: ['--deployment', '--expect-image'],
  rollback: ['--env'],
  remove: ['--env', '--deployment'],
  status: ['--env', '--json'],
  history: ['--env'],
  prune: ['--env', '--min-age'],
};
const TAKES_NAME = new Set(['rollback', 'remove', 'status', 'history']);

function parseOptions(command: string, args: readonly string[]): Parsed {
  const parsed: Parsed = { json: false };
  const allowed = OPTIONS[command];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (!flag.startsWith('-')) {
      if (!TAKES_NAME.has(command)) {
        throw new Refused(command === 'deploy' ? `deploy takes the spec on stdin and only --deployment ID and --expect-image IMAGE, got ${arg}` : `${command} takes no NAME, got ${arg}`);
      }
      if (parsed.name !== undefined) {
        throw new Refused(`one service name only, got ${parsed.name} and ${arg}`);
      }
      parsed.name = arg;
      continue;
    }
    if (!allowed.includes(flag)) {
      throw new UsageRefused(`unknown option ${arg} for ${command}`);
    }
    if (flag === '--json') {
      parsed.json = true;
      continue;
    }
    const value = inline ?? args[++index];
    if (value === undefined) {
      throw new Refused(`${flag} needs a value`);
    }
    switch (flag) {
      case '--env':
        parsed.env = value;
        break;
      case '--deployment':
        parsed.deployment = deploymentId(value);
        break;
      case '--expect-image':
        parsed.expectImage = value;
        break;
      case '--min-age':
        parsed.minAge = value;
        break;
    }
  }
  if (parsed.name !== undefined && !isName(parsed.name)) {
    throw new Refused(`NAME: not a service name: ${parsed.name}`);
  }
  if (parsed.env !== undefined && !isName(parsed.env)) {
    throw new Refused(`--env: not an environment name: ${parsed.env}`);
  }
  return parsed;
}

function required(command: string, parsed: Parsed): { env: string; name: string } {
  if (parsed.name === undefined) {
    throw new Refused(`${command} needs a service NAME`);
  }
  if (parsed.env === undefined) {
    throw new Refused(`${command} needs --env ENV: a host can carry more than one environment`);
  }
  return { env: parsed.env, name: parsed.name };
}

export function parseCommand(argv: readonly string[]): Command {
  const [command, ...args] = argv;
  if (command === undefined) {
    throw new UsageRefused('a command is required');
  }
  if (command === 'help' || command === '-h' || command === '--help') {
    return { command: 'help' };
  }
  // Own keys only: `toString` is in every object, and would have run a prune.
  if (!Object.hasOwn(OPTIONS, command)) {
    throw new UsageRefused(`unknown command ${command}`);
  }
  const parsed = parseOptions(command, args);
  switch (command) {
    case 'deploy':
      return { command, deployment: parsed.deployment, expectImage: parsed.expectImage };
    case 'rollback':
    case 'history':
      return { command, ...required(command, parsed) };
    case 'remove':
      return { command, ...required(command, parsed), deployment: parsed.deployment };
    case 'status':
      return { command, env: parsed.env, name: parsed.name, json: parsed.json };
    default: {
      let minAgeSeconds = DEFAULT_PRUNE_MIN_AGE_SECONDS;
      if (parsed.minAge !== undefined) {
        if (!/^[0-9]+$/.test(parsed.minAge)) {
          throw new Refused(`--min-age must be whole seconds, got ${parsed.minAge}`);
        }
        minAgeSeconds = Number(parsed.minAge);
      }
      return { command: 'prune', env: parsed.env, minAgeSeconds };
    }
  }
}
