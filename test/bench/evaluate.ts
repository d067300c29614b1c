/**
 * One benchmark measurement in a fresh process (so peak memory is its own):
 * evaluates a generated stack under the offline runtime, either through the
 * Berth components or as the same raw resources declared directly.
 *
 *   tsx test/bench/evaluate.ts <components|raw> <services> <hosts>
 *
 * Prints one JSON line: { mode, resources, ms, peakRssMiB, heapUsedMiB }.
 */
import * as pulumi from '@pulumi/pulumi';
import { performance } from 'perf_hooks';
import { generatedStack } from './generate';
import { settle, startOfflineRuntime } from '../../stacks/offline';
import { offlineRegistryOutputs, synthConfig } from '../../stacks/synth';

async function main(): Promise<void> {
  const [mode, servicesArg, hostsArg] = process.argv.slice(2);
  const { config, raw } = generatedStack(Number(servicesArg), Number(hostsArg));
  // Warm the module cache and the runtime once, so both modes time evaluation alone.
  await synthConfig(config, raw);
  const components = await synthConfig(config, raw);
  // Both modes are reported per raw (custom) resource: the work a deployment does.
  const custom = components.resources.filter((resource) => !isComponent(resource.type));
  const resources = custom.length;
  let elapsed: number;
  if (mode === 'components') {
    const start = performance.now();
    await synthConfig(config, raw);
    elapsed = performance.now() - start;
  } else if (mode === 'raw') {
    // The same resources, declared one by one with no component around them.
    const start = performance.now();
    pulumi.runtime.setAllConfig({ 'aws:region': config.region }, []);
    await startOfflineRuntime({ project: 'berth', stack: config.stack, region: config.region, stackOutputs: { [config.registryStack]: offlineRegistryOutputs(config) } });
    for (const resource of custom) {
      new RawResource(resource.type, `${resource.name}:${resource.type}`, resource.inputs as pulumi.Inputs);
    }
    await settle();
    elapsed = performance.now() - start;
  } else {
    throw new Error(`unknown mode ${mode}: expected components or raw`);
  }
  const usage = process.resourceUsage();
  process.stdout.write(
    JSON.stringify({ mode, resources, ms: elapsed, peakRssMiB: usage.maxRSS / 1024, heapUsedMiB: process.memoryUsage().heapUsed / 1024 / 1024 }) + '\n',
  );
}

/** A resource declared directly, with no component logic around it. */
class RawResource extends pulumi.CustomResource {}

function isComponent(type: string): boolean {
  return type.startsWith('berth:');
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
