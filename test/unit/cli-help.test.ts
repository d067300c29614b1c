/**
 * Every command's --help prints its usage on stdout and exits 0, as npm runs it.
 */
import { spawnSync } from 'child_process';
import { PROJECT_ROOT } from '../../stacks/env/config';

const cases: Array<[string, string[], string]> = [
  ['synth', ['run', '--silent', 'synth', '--', '--help'], 'usage: npm run --silent synth -- <dev|test|stage|prod|registry>'],
  ['synth -h', ['run', '--silent', 'synth', '--', '-h'], 'usage: npm run --silent synth -- <dev|test|stage|prod|registry>'],
  ['synth diff', ['run', '--silent', 'synth', '--', 'diff', '--help'], 'usage: npm run --silent synth -- diff <dev|test|stage|prod> --base <git-ref>'],
  ['check', ['run', '--silent', 'check', '--', '--help'], 'usage: npm run check [-- --root <dir>] [--base <git-ref>]'],
  ['promote', ['run', '--silent', 'promote', '--', '--help'], 'usage: npm run promote -- <service>|--all --from <env> --to <env>'],
];

describe('--help', () => {
  it.each(cases)('%s prints its usage and exits 0', (_name, args, usage) => {
    const result = spawnSync('npm', args, { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout.startsWith(usage)).toBe(true);
    expect(result.status).toBe(0);
  });
});
