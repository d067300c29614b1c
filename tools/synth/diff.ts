/**
 * `npm run --silent synth -- diff <stack> --base <git-ref> [--format text|markdown]`
 *
 * Synthesises the stack twice — at the git ref, with that ref's own code and
 * config (exported with `git archive` into a scratch folder and run there as
 * a child process), and in the working tree — and prints what changes:
 * image digests per service first, then resources added, removed and changed
 * with each changed input's key path and what the engine does with it:
 * update, replace (in which order, with which dependents) or ignored, from
 * the recorded resource options and the providers' replace facts (see
 * ../review/diff). Exit 0 with the diff on stdout; exit 1
 * with a message on stderr when the ref, the stack or a config is bad; exit 2
 * on a usage error.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { isEnvironmentName, unknownEnvironmentProblem } from '../../components/common/environments';
import { ConfigError } from '../../stacks/common/configErrors';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { stackFileName } from '../../stacks/common/stackFile';
import { oneOf, parseStackArgs, required } from '../cli/args';
import { writeStdout } from '../cli/stdout';
import type { SynthResult } from '../offline/types';
import { diffSynth } from '../review/diff';
import { existsAt, exportTree, GitError, resolveCommit, scratchDir } from '../review/git';
import { renderDiffMarkdown, renderDiffText } from '../review/renderDiff';
import { synthStack } from './engine';

const USAGE = 'usage: npm run --silent synth -- diff <dev|test|stage|prod> --base <git-ref> [--format text|markdown]';

export interface SynthDiffArgs {
  stack: string;
  base: string;
  format: 'text' | 'markdown';
}

export function parseSynthDiffArgs(argv: string[]): SynthDiffArgs | 'help' {
  const { help, stack, options } = parseStackArgs(argv, {
    base: required('--base takes a git ref, e.g. origin/main'),
    format: oneOf('--format', ['text', 'markdown'] as const),
  });
  if (help) {
    return 'help';
  }
  return { stack, base: options.base ?? 'HEAD', format: (options.format as SynthDiffArgs['format'] | undefined) ?? 'text' };
}

/** Thrown for anything that stops the diff; the message names the problem. */
export class SynthDiffError extends Error {}

/**
 * Where the synth command lived, newest first: a base commit is synthesised
 * with its own code, so `--base` may name a commit from before the move of
 * the tooling into tools/ (stacks/synth.ts).
 */
export const SYNTH_ENTRIES: readonly string[] = ['tools/synth/cli.ts', 'stacks/synth.ts'];

/** The synth entry file in the tree of `commit`. */
export function synthEntryAt(root: string, commit: string, ref: string): string {
  const entry = SYNTH_ENTRIES.find((file) => existsAt(root, commit, file));
  if (!entry) {
    throw new SynthDiffError(`${ref} (${commit.slice(0, 12)}) has no synth command (none of ${SYNTH_ENTRIES.join(', ')})`);
  }
  return entry;
}

/** Synth of `stack` at `commit`, run with that commit's code in a scratch copy of its tree. */
export function synthAtCommit(stack: string, commit: string, ref: string, root: string = PROJECT_ROOT): SynthResult {
  if (!existsAt(root, commit, stackFileName(stack))) {
    // A stack new in this change: everything in it is added.
    return { stack, resources: [] };
  }
  const entry = synthEntryAt(root, commit, ref);
  const scratch = scratchDir('berth-synth-diff-');
  try {
    const tree = exportTree(root, commit, scratch.dir);
    const modules = path.join(tree, 'node_modules');
    if (!fs.existsSync(modules)) {
      fs.symlinkSync(path.join(root, 'node_modules'), modules, 'dir');
    }
    const child = spawnSync(process.execPath, [require.resolve('tsx/cli', { paths: [root] }), entry, stack], {
      cwd: tree,
      encoding: 'utf8',
      maxBuffer: 512 * 1024 * 1024,
      timeout: 10 * 60 * 1000,
    });
    if (child.status !== 0) {
      const detail = (child.stderr || child.error?.message || '').trim();
      throw new SynthDiffError(`synth of ${stack} at ${ref} (${commit.slice(0, 12)}) failed:\n${detail}`);
    }
    try {
      return JSON.parse(child.stdout) as SynthResult;
    } catch {
      throw new SynthDiffError(`synth of ${stack} at ${ref} (${commit.slice(0, 12)}) printed no JSON:\n${child.stdout.slice(0, 2000)}`);
    }
  } finally {
    scratch.remove();
  }
}

export async function runSynthDiff(argv: string[]): Promise<number> {
  let args: SynthDiffArgs | 'help';
  try {
    args = parseSynthDiffArgs(argv);
  } catch (error) {
    process.stderr.write(`synth diff: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    if (!isEnvironmentName(args.stack)) {
      throw new SynthDiffError(unknownEnvironmentProblem(args.stack));
    }
    const commit = resolveCommit(PROJECT_ROOT, args.base);
    let after: SynthResult;
    try {
      after = await synthStack(args.stack);
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new SynthDiffError(`the working tree's configuration of ${args.stack} is invalid:\n${error.message}`);
      }
      throw error;
    }
    const before = synthAtCommit(args.stack, commit, args.base);
    const diff = diffSynth(before, after);
    const render = args.format === 'markdown' ? renderDiffMarkdown : renderDiffText;
    await writeStdout(render(diff, { base: args.base }));
    return 0;
  } catch (error) {
    if (error instanceof SynthDiffError || error instanceof GitError) {
      process.stderr.write(`synth diff: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
