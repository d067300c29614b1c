/**
 * Which stacks a change touches, so CI synthesises and previews only those:
 * a stack is touched when its Pulumi.<env>.yaml changed, or anything every
 * stack is built from or synthesised with (Pulumi.yaml, stacks/**,
 * components/**, tools/**, package-lock.json).
 *
 *   npx tsx tools/review/affected.ts --base origin/main   # prints ["dev","prod"]
 */
import { spawnSync } from 'child_process';
import { ENVIRONMENTS, EnvironmentName } from '../../components/common/environments';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { stackFileName } from '../../stacks/common/stackFile';
import { parseCommandLine, required, UsageError } from '../cli/args';
import { resolveCommit } from './git';

// tools/ holds the offline runtime and the synth the diff is made with (they were under stacks/ before).
const SHARED_INPUTS = [/^Pulumi\.yaml$/, /^stacks\//, /^components\//, /^tools\//, /^package-lock\.json$/];

/** The stacks touched by a list of changed paths (relative to the project root), in chain order. */
export function affectedStacks(changedFiles: string[]): EnvironmentName[] {
  if (changedFiles.some((file) => SHARED_INPUTS.some((pattern) => pattern.test(file)))) {
    return [...ENVIRONMENTS];
  }
  return ENVIRONMENTS.filter((env) => changedFiles.includes(stackFileName(env)));
}

/** Paths changed between the merge base of `base` and HEAD, plus uncommitted changes. */
export function changedSince(base: string, root: string = PROJECT_ROOT): string[] {
  const commit = resolveCommit(root, base);
  const diff = spawnSync('git', ['diff', '--name-only', '--relative', `${commit}...HEAD`], { cwd: root, encoding: 'utf8' });
  const local = spawnSync('git', ['diff', '--name-only', '--relative', 'HEAD'], { cwd: root, encoding: 'utf8' });
  if (diff.status !== 0) {
    throw new Error(`git diff ${base}...HEAD: ${diff.stderr.trim()}`);
  }
  return [...new Set([...diff.stdout.split('\n'), ...local.stdout.split('\n')].filter(Boolean))].sort();
}

const AFFECTED_USAGE = 'usage: npx tsx tools/review/affected.ts --base <git-ref>';

/** The one option, `--base <git-ref>`, is required. */
export function parseAffectedArgs(argv: string[]): { base: string } | 'help' {
  const line = parseCommandLine(argv, { values: { base: required('--base takes a git ref, e.g. origin/main') }, positional: false });
  if (line.help) {
    return 'help';
  }
  if (line.values.base === undefined) {
    throw new UsageError('--base is required');
  }
  return { base: line.values.base };
}

if (require.main === module) {
  let base: string;
  try {
    const args = parseAffectedArgs(process.argv.slice(2));
    if (args === 'help') {
      process.stdout.write(`${AFFECTED_USAGE}\n`);
      process.exit(0);
    }
    base = args.base;
  } catch (error) {
    if (!(error instanceof UsageError)) {
      throw error;
    }
    // The usage says what is missing; this command has always printed it alone.
    process.stderr.write(`${AFFECTED_USAGE}\n`);
    process.exit(2);
  }
  try {
    process.stdout.write(`${JSON.stringify(affectedStacks(changedSince(base)))}\n`);
  } catch (error) {
    process.stderr.write(`affected: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
