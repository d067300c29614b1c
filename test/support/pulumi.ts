/**
 * Unit-test helpers for the Pulumi layer: evaluate a piece of program under
 * the offline runtime (mocks that record every resource and refuse any invoke
 * nobody mocked) and turn Outputs into awaited values. Evaluation is synth's
 * own (tools/offline/evaluate): a program that throws inside an apply fails
 * the test with a ProgramError at once instead of waiting for the timeout.
 */
import * as pulumi from '@pulumi/pulumi';
import { DEFAULT_PROJECT } from '../../components/common/naming';
import { evaluateProgram } from '../../tools/offline/evaluate';
import { OfflineRuntime, OfflineRuntimeOptions, startOfflineRuntime } from '../../tools/offline/runtime';
import type { RecordedResource } from '../../tools/offline/types';

/** Resolves an Output so a test can await it; an assertion on an un-awaited apply could never fail. */
export function valueOf<T>(output: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output as pulumi.Input<T>).apply((value) => resolve(value as T)));
}

export interface Evaluation<T> {
  runtime: OfflineRuntime;
  resources: RecordedResource[];
  result: T;
  /** Resources of one type, in recorded (sorted) order. */
  ofType(type: string): RecordedResource[];
  /** The one resource with this type and name; throws when absent. */
  one(type: string, name: string): RecordedResource;
}

/** Runs `declare` under a fresh offline runtime and returns what it declared once every registration finished. */
export async function evaluate<T>(declare: () => T, options: Partial<OfflineRuntimeOptions> = {}): Promise<Evaluation<T>> {
  pulumi.runtime.setAllConfig({ 'aws:region': options.region ?? 'eu-west-1' }, []);
  const runtime = await startOfflineRuntime({ project: DEFAULT_PROJECT, stack: 'test', region: 'eu-west-1', ...options });
  const result = await evaluateProgram(declare);
  const resources = runtime.sortedResources();
  return {
    runtime,
    resources,
    result,
    ofType: (type) => resources.filter((resource) => resource.type === type),
    one: (type, name) => {
      const found = resources.find((resource) => resource.type === type && resource.name === name);
      if (!found) {
        throw new Error(`no ${type} named ${name}; declared: ${resources.map((r) => `${r.type} ${r.name}`).join(', ')}`);
      }
      return found;
    },
  };
}
