/**
 * A model of the decisions the Pulumi engine makes about one resource between
 * two programs, from the inputs and options the offline runtime records. The
 * lifecycle replay tests (test/integration/lifecycle.test.ts) use it to pick
 * which host-side commands run, and in which order; test/integration/LIFECYCLE.md
 * says where each rule is documented.
 */
import type { RecordedResource } from '../../tools/offline/types';

/**
 * replaceOnChanges a provider SDK adds to every resource of a type, whatever the
 * program says: @pulumi/command 1.2.1, sdk/nodejs/remote/command.ts and
 * copyToRemote.ts merge `{ replaceOnChanges: ["triggers[*]"] }` into the options.
 */
export const PROVIDER_REPLACE_ON_CHANGES: Record<string, string[]> = {
  'command:remote:Command': ['triggers[*]'],
  'command:remote:CopyToRemote': ['triggers[*]'],
};

export type Step = 'same' | 'update' | 'replace';

/** The top-level input names whose values differ. */
export function changedInputs(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
}

/** Whether a replaceOnChanges path (`triggers[*]`, `spec.image`, `name`) covers a changed top-level input. */
function covers(path: string, input: string): boolean {
  return path.split(/[.[]/)[0] === input;
}

/**
 * update or replace: a change of an input the provider or the program marks
 * replace-on-change replaces; any other change updates in place; no change is
 * the same step. (For provider-forced replacements of AWS resources, the diff
 * comes from the provider's schema, which this model does not need: the
 * replay tests are about command steps.)
 */
export function stepFor(resource: RecordedResource, before: Record<string, unknown>, after: Record<string, unknown>, replaceOnChanges: string[] = []): Step {
  const changed = changedInputs(before, after);
  if (changed.length === 0) {
    return 'same';
  }
  const paths = [...(PROVIDER_REPLACE_ON_CHANGES[resource.type] ?? []), ...replaceOnChanges];
  return changed.some((input) => paths.some((path) => covers(path, input))) ? 'replace' : 'update';
}

/** What the engine runs for a replacement, in order: `deleteBeforeReplace` deletes the old one first. */
export function replacementOrder(deleteBeforeReplace: boolean): Array<'create new' | 'delete old'> {
  return deleteBeforeReplace ? ['delete old', 'create new'] : ['create new', 'delete old'];
}

/**
 * The order deletes run on destroy: reverse dependency order, a resource
 * deleted only after everything that depends on it. `dependsOn` maps a name
 * to the names it depends on.
 */
export function destroyOrder(names: string[], dependsOn: Record<string, string[]>): string[] {
  const order: string[] = [];
  const remaining = new Set(names);
  while (remaining.size > 0) {
    // Deletable: nothing remaining depends on it. Ties in name order, for a stable replay.
    const ready = [...remaining].filter((name) => ![...remaining].some((other) => (dependsOn[other] ?? []).includes(name))).sort();
    if (ready.length === 0) {
      throw new Error(`dependency cycle among ${[...remaining].join(', ')}`);
    }
    order.push(ready[0]);
    remaining.delete(ready[0]);
  }
  return order;
}
