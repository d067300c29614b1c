/**
 * What the offline runtime records of a program, and what synth prints: plain
 * data, shared by the runtime, the synth engine and renderers, the review
 * tooling and the tests, so none of them takes its types from a command.
 */

/** What a synth of one stack declares: every resource, in a stable order. */
export interface SynthResult {
  stack: string;
  /**
   * What config validation allowed but warned about (e.g. `stop-first` on a
   * service without a data volume), each naming the stack file and key,
   * sorted; absent when there is none.
   */
  warnings?: string[];
  resources: RecordedResource[];
}

export interface RecordedResource {
  type: string;
  name: string;
  /** Logical name of the parent resource, or null at the top. */
  parent: string | null;
  /** The lifecycle options the engine gets for it; absent when none is set. */
  options?: ResourceOptions;
  /**
   * For each input that takes a value from other resources, those resources
   * (named as in ResourceOptions.dependsOn, sorted); absent when no input does. The engine records the same
   * (`propertyDependencies` in its state) and uses it to find the dependents a
   * replacement also replaces.
   */
  propertyDependencies?: Record<string, string[]>;
  inputs: Record<string, unknown>;
}

/**
 * The resource options that decide a resource's lifecycle, named as Pulumi
 * names them, as the register request carries them to the engine: so a
 * provider SDK's defaults are included (e.g. @pulumi/command's remote.Command
 * merges `replaceOnChanges: ["triggers[*]"]` and `additionalSecretOutputs:
 * ["connection"]` into its options). Each key is present only when set: a
 * non-empty list or `true`. Lists are sorted.
 */
export interface ResourceOptions {
  /**
   * Every resource it depends on, as the engine records them: explicit
   * `dependsOn` (a component stands for its resources) and the resources whose
   * outputs its inputs use. Each by its logical name, or `type::name` where
   * several resources of the stack share the name. The engine deletes this
   * resource before any of them (deletes run in reverse dependency order).
   */
  dependsOn?: string[];
  deleteBeforeReplace?: true;
  /** Property paths whose change replaces the resource (`triggers[*]`: any change under triggers). */
  replaceOnChanges?: string[];
  /** Property paths whose changes the engine ignores (it keeps the old values). */
  ignoreChanges?: string[];
  retainOnDelete?: true;
  protect?: true;
  additionalSecretOutputs?: string[];
}
