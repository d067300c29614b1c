/**
 * `npm run check [-- --root <dir>] [--base <git-ref>]`: the offline guardrails a pull request must pass.
 *
 * With `--base` (CI passes the pull request's target branch), only versions of
 * a source file committed on that branch count as having run: a change cannot
 * vouch for itself by writing the same new digest into test and stage.
 *
 * - every stack file parses and validates (the same validation `pulumi up` runs);
 * - the promotion chain holds: each digest in Pulumi.stage.yaml was in
 *   Pulumi.test.yaml (now or in any committed version), each digest in
 *   Pulumi.prod.yaml was in Pulumi.stage.yaml.
 *
 * Exit 0 with a summary on stdout, or 1 with one line per problem on stderr.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ENVIRONMENTS, EnvironmentName } from '../../components/common/environments';
import { ConfigError } from '../../stacks/common/configErrors';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { stackFileName } from '../../stacks/common/stackFile';
import { readStackFile, SERVICE_CONFIG_PATH, validateStackConfig } from '../../stacks/env/config';
import { parseCommandLine, required, UsageError } from '../cli/args';
import { CHECKED_ENVIRONMENTS, CHECKED_STEPS, checkPromotionChain, countPinned, imagesOf, StackImagesHistory } from '../review/chain';
import { fileHistory, GitError, gitLocation, isShallow, resolveCommit } from '../review/git';

function resolvesToCommit(root: string, ref: string): boolean {
  try {
    resolveCommit(root, ref);
    return true;
  } catch (error) {
    if (error instanceof GitError) {
      return false;
    }
    throw error;
  }
}

export interface CheckReport {
  errors: string[];
  notes: string[];
  summary: string;
}

export function runChecks(root: string = PROJECT_ROOT, base?: string): CheckReport {
  const errors: string[] = [];
  const notes: string[] = [];
  for (const stack of ENVIRONMENTS) {
    try {
      const file = readStackFile(stack, root);
      validateStackConfig(stack, file.config, { serviceConfigDir: path.join(root, ...SERVICE_CONFIG_PATH.split('/')) });
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        throw error;
      }
      errors.push(...error.errors);
    }
  }

  const inGit = gitLocation(root) !== undefined;
  if (!inGit) {
    notes.push(`${root} is not a git repository: the promotion chain is checked against the current files only`);
  }
  if (base !== undefined && (!inGit || !resolvesToCommit(root, base))) {
    errors.push(`check: --base ${base}: no such git ref in ${root}`);
    return { errors, notes, summary: '' };
  }
  const histories: Partial<Record<EnvironmentName, StackImagesHistory>> = {};
  const commits: string[] = [];
  for (const env of CHECKED_ENVIRONMENTS) {
    const file = stackFileName(env);
    const filePath = path.join(root, file);
    const current = fs.existsSync(filePath) ? imagesOf(fs.readFileSync(filePath, 'utf8')) : undefined;
    if (!current) {
      // Missing or malformed: already reported above, and no chain can be read from it.
      continue;
    }
    const versions = inGit ? fileHistory(root, file, base ?? 'HEAD') : [];
    // An old version that no longer parses tells nothing about digests; skip it.
    const past = versions.map((version) => imagesOf(version.content)).filter((images): images is Record<string, string> => images !== undefined);
    histories[env] = { current, past, currentHasRun: base === undefined };
    commits.push(`${file} ${versions.length} commit(s)`);
  }
  const violations = checkPromotionChain(histories);
  errors.push(...violations.map((violation) => violation.message));
  if (violations.length > 0 && inGit && isShallow(root)) {
    notes.push('this is a shallow clone: older versions of the stack files are missing; fetch the full history (actions/checkout with fetch-depth: 0)');
  }

  const steps = CHECKED_STEPS.filter(({ from, to }) => histories[from] && histories[to]).map(
    ({ from, to }) => `${countPinned(histories[to]!.current)} digest(s) in ${to} came through ${from}`,
  );
  const summary =
    `check: ${ENVIRONMENTS.map(stackFileName).join(', ')} valid; promotion chain holds: ${steps.join(', ')}` +
    (inGit ? ` (git history read: ${commits.join(', ')})` : '');
  return { errors, notes, summary };
}

const CHECK_USAGE = 'usage: npm run check [-- --root <dir>] [--base <git-ref>]';

/** check takes only its two options; anything else, a flag without its value included, is an unknown argument. */
export function parseCheckArgs(argv: string[]): { root?: string; base?: string } | 'help' {
  const unknown = (arg: string) => `unknown argument ${arg}`;
  const line = parseCommandLine(argv, {
    values: { root: required(unknown('--root')), base: required(unknown('--base')) },
    positional: false,
    unknown,
  });
  return line.help ? 'help' : line.values;
}

function main(argv: string[]): number {
  let args: ReturnType<typeof parseCheckArgs>;
  try {
    args = parseCheckArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) {
      throw error;
    }
    process.stderr.write(`check: ${error.message}\n${CHECK_USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${CHECK_USAGE}\n`);
    return 0;
  }
  const root = args.root === undefined ? PROJECT_ROOT : path.resolve(args.root);
  const base = args.base;
  if (!fs.existsSync(root)) {
    process.stderr.write(`check: --root ${root}: no such folder\n`);
    return 2;
  }
  const report = runChecks(root, base);
  for (const note of report.notes) {
    process.stderr.write(`check: note: ${note}\n`);
  }
  if (report.errors.length > 0) {
    process.stderr.write(`check: ${report.errors.length} problem(s)\n${report.errors.join('\n')}\n`);
    return 1;
  }
  process.stdout.write(`${report.summary}\n`);
  return 0;
}

if (require.main === module) {
  process.exit(main(process.argv.slice(2)));
}
