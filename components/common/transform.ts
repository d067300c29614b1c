import * as pulumi from '@pulumi/pulumi';

/**
 * A hook that adjusts one underlying resource's args and options before it is
 * created: mutate `args`/`opts` in place.
 *
 * @example
 * ```ts
 * transform: { repository: (args) => { args.forceDelete = true; } }
 * ```
 */
export type Transform<Args> = (args: Args, opts: pulumi.CustomResourceOptions, name: string) => void;

/** Applies an optional transform and returns the (possibly changed) args and options. */
export function applyTransform<Args>(transform: Transform<Args> | undefined, name: string, args: Args, opts: pulumi.CustomResourceOptions): [Args, pulumi.CustomResourceOptions] {
  transform?.(args, opts, name);
  return [args, opts];
}
