/**
 * Which stacks a change touches, so CI synthesises and previews only those:
 * a stack is touched when its Pulumi.<env>.yaml changed, or anything every
 * stack is built from (Pulumi.yaml, stacks/**, components/**, package-lock.json).
 *
 *   npx tsx stacks/review/affected.ts --base origin/main   # prints ["dev","prod"]
 */
import { spawnSync } from 'child_process';
import { ENVIRONMENTS, EnvironmentName, PROJECT_ROOT } from '../config';
import { resolveCommit } from './git';

const SHARED_INPUTS = [/^Pulumi\.yaml$/, /^stacks\//, /^components\//, /^package-lock\.json$/];

/** The stacks touched by a list of changed paths (relative to the project root), in chain order. */
export function affectedStacks(changedFiles: string[]): EnvironmentName[] {
  if (changedFiles.some((file) => SHARED_INPUTS.some((pattern) => pattern.test(file)))) {
    return [...ENVIRONMENTS];
  }
  return ENVIRONMENTS.filter((env) => changedFiles.includes(`Pulumi.${env}.yaml`));
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

if (require.main === module) {
  const index = process.argv.indexOf('--base');
  const base = index >= 0 ? process.argv[index + 1] : undefined;
  if (!base) {
    process.stderr.write('usage: npx tsx stacks/review/affected.ts --base <git-ref>\n');
    process.exit(2);
  }
  try {
    process.stdout.write(`${JSON.stringify(affectedStacks(changedSince(base)))}\n`);
  } catch (error) {
    process.stderr.write(`affected: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
