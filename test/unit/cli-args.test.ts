/**
 * The one argument parser every command uses (tools/cli/args.ts). Each
 * command's own flags, messages and exit codes are tested with the command
 * (synth, synth diff, check, promote); these are the rules they share.
 */
import { notAnOption, oneOf, parseCommandLine, parseStackArgs, required, UsageError } from '../../tools/cli/args';
import { parseCheckArgs } from '../../tools/check/check';
import { parsePromoteArgs } from '../../tools/promote/cli';
import { parseAffectedArgs } from '../../tools/review/affected';
import { parseSynthArgs } from '../../tools/synth/cli';
import { parseSynthDiffArgs } from '../../tools/synth/diff';

const spec = { values: { base: required('--base takes a git ref'), format: oneOf('--format', ['text', 'markdown'] as const) }, switches: ['dry-run'] as const };

describe('parseCommandLine', () => {
  it('reads values, switches and positional arguments in any order', () => {
    expect(parseCommandLine(['a', '--base', 'main', '--dry-run', 'b', '--format', 'text'], spec)).toEqual({
      help: false,
      positional: ['a', 'b'],
      values: { base: 'main', format: 'text' },
      switches: { 'dry-run': true },
    });
    expect(parseCommandLine([], spec)).toEqual({ help: false, positional: [], values: {}, switches: { 'dry-run': false } });
  });

  it('answers -h and --help anywhere, before anything else is checked', () => {
    for (const argv of [['--help'], ['-h'], ['--bogus', '--help'], ['--base', '-h'], ['--format', 'html', '--help']]) {
      expect(parseCommandLine(argv, spec).help).toBe(true);
    }
  });

  it("refuses an unknown option, and lets each option's reader refuse its value", () => {
    expect(() => parseCommandLine(['--yes'], spec)).toThrow(new UsageError('unknown option --yes'));
    expect(() => parseCommandLine(['-x'], spec)).toThrow('unknown option -x');
    expect(() => parseCommandLine(['--base'], spec)).toThrow('--base takes a git ref');
    expect(() => parseCommandLine(['--format', 'html'], spec)).toThrow('--format takes text or markdown, got "html"');
    expect(() => parseCommandLine(['--from', '--to'], { values: { from: notAnOption('--from takes an environment name') } })).toThrow('--from takes an environment name');
  });

  it('refuses positional arguments when the command takes none, with the message the command chose', () => {
    expect(() => parseCommandLine(['stray'], { positional: false })).toThrow('unknown option stray');
    expect(() => parseCommandLine(['stray'], { positional: false, unknown: (arg) => `unknown argument ${arg}` })).toThrow('unknown argument stray');
  });

  it('reads a stack command: exactly one stack', () => {
    expect(parseStackArgs(['dev', '--base', 'x'], { base: required('--base takes a git ref') })).toEqual({ help: false, stack: 'dev', options: { base: 'x' } });
    expect(() => parseStackArgs(['dev', 'prod'], {})).toThrow('expected exactly one stack name');
    expect(() => parseStackArgs([], {})).toThrow('expected exactly one stack name');
  });
});

describe('every command parses through it', () => {
  it.each([
    ['synth', parseSynthArgs],
    ['synth diff', parseSynthDiffArgs],
    ['check', parseCheckArgs],
    ['promote', parsePromoteArgs],
    ['affected', parseAffectedArgs],
  ] as const)('%s: --help anywhere, and UsageError for a mistake', (_name, parse: (argv: string[]) => unknown) => {
    expect(parse(['--bogus', '--help'])).toBe('help');
    expect(() => parse(['--bogus'])).toThrow(UsageError);
  });
});
