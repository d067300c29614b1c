import { performance } from 'perf_hooks';
import { generatedStack } from '/work/main/test/bench/generate';
import { synthConfig } from '/work/main/stacks/synth';
async function main() {
  const { config, raw } = generatedStack(100, 10);
  await synthConfig(config, raw);
  for (let i = 0; i < 3; i++) { const s = performance.now(); await synthConfig(config, raw); console.log('ms', (performance.now() - s).toFixed(0)); }
}
main();
