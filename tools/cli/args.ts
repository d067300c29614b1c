/** A command-line mistake: the message says what is wrong; callers print it with their usage. */
export class UsageError extends Error {}

/**
 * Reads `<stack> [--option value]…`, the shape every stack command takes. Each
 * option's reader receives the value after the flag (undefined when missing)
 * and returns it checked, or throws a UsageError saying what it takes.
 */
export function parseStackArgs<Options extends string>(
  argv: string[],
  readers: Record<Options, (value: string | undefined) => string>,
): { stack: string; options: Partial<Record<Options, string>> } {
  const positional: string[] = [];
  const options: Partial<Record<Options, string>> = {};
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    const name = arg.slice(2) as Options;
    if (arg.startsWith('--') && Object.prototype.hasOwnProperty.call(readers, name)) {
      options[name] = readers[name](argv[++index]);
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) {
    throw new UsageError('expected exactly one stack name');
  }
  return { stack: positional[0], options };
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
export function required(message: string): (value: string | undefined) => string {
  return (value) => {
    if (!value) {
      throw new UsageError(message);
    }
    return value;
  };
}
