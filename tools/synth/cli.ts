/**
 * Offline synth: what a stack declares, without cloud, CLI or credentials.
 *
 *   npm run --silent synth -- <stack> [--format json|markdown]
 *   npm run --silent synth -- diff <stack> --base <git-ref>     (./diff)
 *
 * Prints `{ stack, warnings?, resources: [{ type, name, parent, options?, propertyDependencies?, inputs }] }`
 * with every secret shown as "[secret]" and resources in a stable order;
 * `warnings` (what config validation allowed but warned about, sorted) only
 * when there are any.
 * `options` holds the lifecycle options the engine gets for the resource
 * (dependsOn, deleteBeforeReplace, replaceOnChanges, ignoreChanges,
 * retainOnDelete, protect, additionalSecretOutputs; provider SDK defaults
 * included), each only when set, and is absent when none is;
 * `propertyDependencies` names, per input, the resources it takes values
 * from. See ResourceOptions in ../offline/types. Invalid config: the validation
 * messages on stderr, nothing on stdout, exit 1; bad arguments: exit 2.
 */
import { ConfigError } from '../../stacks/common/configErrors';
import { oneOf, parseStackArgs, required } from '../cli/args';
import { writeStdout } from '../cli/stdout';
import { ProgramError } from '../offline/evaluate';
import { synthStack } from './engine';
import { renderMarkdown } from './markdown';

export interface SynthArgs {
  stack: string;
  format: 'json' | 'markdown';
  root?: string;
}

export function parseSynthArgs(argv: string[]): SynthArgs | 'help' {
  const { help, stack, options } = parseStackArgs(argv, {
    format: oneOf('--format', ['json', 'markdown'] as const),
    root: required('--root takes the folder that holds Pulumi.<stack>.yaml'),
  });
  if (help) {
    return 'help';
  }
  return { stack, format: (options.format as SynthArgs['format'] | undefined) ?? 'json', root: options.root };
}

const USAGE = 'usage: npm run --silent synth -- <dev|test|stage|prod|registry> [--format json|markdown] [--root <folder with Pulumi.<stack>.yaml>]';

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'diff') {
    // Loaded on demand: plain synth never pays for git and diff code.
    const { runSynthDiff } = await import('./diff');
    return runSynthDiff(argv.slice(1));
  }
  let args: SynthArgs | 'help';
  try {
    args = parseSynthArgs(argv);
  } catch (error) {
    process.stderr.write(`synth: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const result = await synthStack(args.stack, { root: args.root });
    await writeStdout(args.format === 'markdown' ? renderMarkdown(result) : JSON.stringify(result, null, 2) + '\n');
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`synth: invalid configuration\n${error.message}\n`);
      return 1;
    }
    if (error instanceof ProgramError) {
      process.stderr.write(`synth: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

if (require.main === module) {
  // A reader that stops early (`synth dev | head`) is not an error of synth's.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => process.exit(error.code === 'EPIPE' ? 0 : 1));
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`synth: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
