/**
 * The one way Berth evaluates a program under the offline runtime: synth, the
 * benchmarks and the unit-test helper (test/support/pulumi.ts) all run their
 * program through evaluateProgram, so a program that fails inside an apply is
 * reported the same way everywhere instead of hanging.
 */
import { settle } from './runtime';

/** A program that failed while the offline runtime evaluated it; the message says what failed. */
export class ProgramError extends Error {}

/**
 * Where Node reports unhandled rejections. Jest gives each test file a copy of
 * `process` whose events Node never emits; `getBuiltinModule` (Node 20.16 and
 * later) returns the real one there, and the same object everywhere else.
 */
function hostProcess(): NodeJS.Process {
  const getBuiltinModule = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  return (getBuiltinModule?.call(process, 'process') as NodeJS.Process | undefined) ?? process;
}

/**
 * Runs a program and waits for every registration; returns what `declare`
 * returned. An error thrown inside an apply surfaces as an unhandled
 * rejection, not from the call, and leaves every resource that waits on it
 * unregistered: collect those rejections and fail with their messages at the
 * first one, instead of crashing or waiting forever. (Under jest, jest also
 * reports the rejection as a failure of the running test.)
 */
export async function evaluateProgram<T>(declare: () => T): Promise<T> {
  const failures: unknown[] = [];
  let failed!: () => void;
  // A failed registration never completes, so waiting for all of them would hang: stop at the first failure.
  const firstFailure = new Promise<void>((resolve) => (failed = resolve));
  const onRejection = (reason: unknown) => {
    failures.push(reason);
    failed();
  };
  const host = hostProcess();
  host.on('unhandledRejection', onRejection);
  let result: T;
  try {
    result = declare();
    await Promise.race([settle(), firstFailure]);
    // Rejections are reported on the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    host.off('unhandledRejection', onRejection);
  }
  if (failures.length > 0) {
    const messages = [...new Set(failures.map((failure) => (failure instanceof Error ? failure.message : String(failure))))];
    throw new ProgramError(`the program failed while declaring resources:\n${messages.join('\n')}`);
  }
  return result;
}
