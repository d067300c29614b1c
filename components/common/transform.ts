import * as pulumi from '@pulumi/pulumi';

/**
 * A hook that adjusts one underlying resource before it is created. It receives the
 * resource's args and options exactly as the component would pass them, and the
 * resource's logical name (so one hook for many resources, e.g. every host's instance,
 * can tell them apart); it changes them in place. Its return value is ignored.
 *
 * @example
 * ```ts
 * transform: { repository: (args) => { args.forceDelete = true; } }
 * transform: { instance: (args, opts, name) => { args.tags = { ...args.tags, host: name }; opts.protect = true; } }
 * ```
 */
export type Transform<Args> = (args: Args, opts: pulumi.CustomResourceOptions, name: string) => void;

/**
 * Runs an optional transform and returns the (possibly changed) args and options, ready
 * to spread into the resource's constructor. Without a transform they are returned as
 * given, so a component declares the same resource with or without this call. The args are
 * checked against the hook's resource Args, not used to infer them (NoInfer): a misspelt nested
 * key is a compile error, where the provider would refuse it only at `pulumi up`.
 */
export function applyTransform<Args>(transform: Transform<Args> | undefined, name: string, args: NoInfer<Args>, opts: pulumi.CustomResourceOptions): [Args, pulumi.CustomResourceOptions] {
  transform?.(args, opts, name);
  return [args, opts];
}
