/** Stack files to break in one place per test, and what validation then says. */
import { ConfigError, readStackFile, validateStackConfig } from '../../stacks/env/config';

/** A deep copy of a stack file's config, to break in one place per test. */
export function configOf(stack: string): Record<string, any> {
  return JSON.parse(JSON.stringify(readStackFile(stack).config));
}

/** The problems validation reports for `raw`; fails the test when it is accepted. */
export function errorsOf(stack: string, raw: Record<string, unknown>, options = {}): string[] {
  try {
    validateStackConfig(stack, raw, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).errors;
  }
  throw new Error('expected the config to be refused');
}
