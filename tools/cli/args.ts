/**
 * The one argument parser and the one usage error of every Berth command
 * (synth, synth diff, check, promote, affected). Each command states its
 * options; this file decides how a command line is read, the same way for all:
 *
 * - `-h` or `--help` anywhere asks for the usage, whatever else is there;
 * - an option that takes a value takes the argument after it, and the option's
 *   reader checks it (and says what the option takes);
 * - any other argument starting with `-` is refused: `unknown option <arg>`;
 * - everything else is positional, in order.
 *
 * A command prints a UsageError's message with its usage and exits 2.
 */

/** A command-line mistake: the message says what is wrong; callers print it with their usage. */
export class UsageError extends Error {}

/**
 * Checks the value after an option: receives it (undefined when the option is
 * the last argument) and returns it, or throws a UsageError saying what it takes.
 */
export type ValueReader = (value: string | undefined) => string;

export interface CommandLineSpec<Value extends string, Switch extends string> {
  /** Options followed by a value (`--base origin/main`), by name without the dashes. */
  values?: Record<Value, ValueReader>;
  /** Options that stand alone (`--dry-run`), by name without the dashes. */
  switches?: readonly Switch[];
  /** Whether arguments that are not options are accepted. @default true */
  positional?: boolean;
  /** The message for an argument the command does not take. @default `unknown option <arg>` */
  unknown?: (arg: string) => string;
}

export interface CommandLine<Value extends string, Switch extends string> {
  /** `-h` or `--help` was given: print the usage; nothing else was read. */
  help: boolean;
  positional: string[];
  values: Partial<Record<Value, string>>;
  switches: Record<Switch, boolean>;
}

const HELP = new Set(['-h', '--help']);

/** Reads a command line by `spec`; throws a UsageError for anything it does not take. */
export function parseCommandLine<Value extends string = never, Switch extends string = never>(
  argv: string[],
  spec: CommandLineSpec<Value, Switch>,
): CommandLine<Value, Switch> {
  const readers = (spec.values ?? {}) as Record<Value, ValueReader>;
  const switchNames = spec.switches ?? [];
  const switches = Object.fromEntries(switchNames.map((name) => [name, false])) as Record<Switch, boolean>;
  const line: CommandLine<Value, Switch> = { help: false, positional: [], values: {}, switches };
  if (argv.some((arg) => HELP.has(arg))) {
    return { ...line, help: true };
  }
  const unknown = spec.unknown ?? ((arg: string) => `unknown option ${arg}`);
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    const name = arg.slice(2);
    if (arg.startsWith('--') && Object.prototype.hasOwnProperty.call(readers, name)) {
      line.values[name as Value] = readers[name as Value](argv[++index]);
    } else if (arg.startsWith('--') && switchNames.includes(name as Switch)) {
      switches[name as Switch] = true;
    } else if (arg.startsWith('-') || spec.positional === false) {
      throw new UsageError(unknown(arg));
    } else {
      line.positional.push(arg);
    }
  }
  return line;
}

/**
 * Reads `<stack> [--option value]…`, the shape the stack commands take (synth,
 * synth diff). `help` is true when `-h`/`--help` was given; the stack is then `''`.
 */
export function parseStackArgs<Options extends string>(
  argv: string[],
  readers: Record<Options, ValueReader>,
): { help: boolean; stack: string; options: Partial<Record<Options, string>> } {
  const line = parseCommandLine<Options>(argv, { values: readers });
  if (line.help) {
    return { help: true, stack: '', options: {} };
  }
  if (line.positional.length !== 1) {
    throw new UsageError('expected exactly one stack name');
  }
  return { help: false, stack: line.positional[0], options: line.values };
}

/** A reader for an option that takes one of a few words. */
export function oneOf<Word extends string>(flag: string, words: readonly Word[]): (value: string | undefined) => Word {
  return (value) => {
    if (!words.includes(value as Word)) {
      throw new UsageError(`${flag} takes ${words.join(' or ')}, got ${JSON.stringify(value)}`);
    }
    return value as Word;
  };
}

/** A reader for an option that takes any non-empty value. */
export function required(message: string): ValueReader {
  return (value) => {
    if (!value) {
      throw new UsageError(message);
    }
    return value;
  };
}

/** A reader for an option whose value may not look like another option (`--from --to stage` is a mistake). */
export function notAnOption(message: string): ValueReader {
  return (value) => {
    if (value === undefined || value.startsWith('--')) {
      throw new UsageError(message);
    }
    return value;
  };
}
