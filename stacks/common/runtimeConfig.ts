/**
 * The config map as the Pulumi runtime hands it to a program (`allConfig()`):
 * structured values JSON-encoded. Both Pulumi programs (stacks/env and
 * stacks/registry) read their config through this codec, and the offline
 * synth writes config with its inverse.
 */

/** Parses the runtime's config map back into values, for validation. */
export function parseRuntimeConfig(all: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(all).map(([key, value]) => {
      try {
        return [key, JSON.parse(value)];
      } catch {
        return [key, value];
      }
    }),
  );
}

/** The inverse of parseRuntimeConfig: what `setAllConfig` takes. */
export function toRuntimeConfig(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
}

/** The keys of one config namespace without their prefix: `{ 'berth:network': … }` -> `{ network: … }`. */
export function namespaceConfig(config: Record<string, unknown>, namespace: string): Record<string, unknown> {
  const prefix = `${namespace}:`;
  return Object.fromEntries(Object.entries(config).filter(([key]) => key.startsWith(prefix)).map(([key, value]) => [key.slice(prefix.length), value]));
}
