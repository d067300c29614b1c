/**
 * `npm run bench`: Berth's benchmarks, each against a baseline measured in the
 * same run, reported as ratios. Nothing here asserts on time.
 *
 * 1. Stack evaluation under mocks: a generated stack of 100 services on 10
 *    hosts through the components, against the same raw resources declared
 *    directly. Goal: component overhead under 1.5x.
 * 2. (when the test bed is available) the host agent, the bundle hosts run
 *    (dist/agent/berth-agent.js): its deploy swap against plain `docker stop`
 *    + `docker run` (goal: at most 1.2x), its start-up against `node -e 0`,
 *    and its peak memory (max RSS) against that of `node -e 0`; see
 *    test/bench/agent-swap.ts.
 * 3. (when the test bed is available) a zero-downtime deploy: failed requests
 *    of an open-loop load (100 requests/s, short and long ones) across a deploy
 *    of a slow-booting service, for `berth-agent deploy` and for plain
 *    `docker stop` + `docker run` in the same run (goal: 0 failed with the
 *    agent in every class shorter than the drain timeout); see
 *    test/bench/zero-downtime.ts. BERTH_BENCH_SKIP_ZERO_DOWNTIME=1 skips it.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { printAgentSwap } from './agent-swap';
import { printZeroDowntime } from './zero-downtime';

const SERVICES = Number(process.env.BERTH_BENCH_SERVICES ?? 100);
const HOSTS = Number(process.env.BERTH_BENCH_HOSTS ?? 10);
const ROUNDS = Number(process.env.BERTH_BENCH_ROUNDS ?? 3);

interface Measurement {
  mode: string;
  resources: number;
  ms: number;
  peakRssMiB: number;
  heapUsedMiB: number;
}

function measure(mode: 'components' | 'raw'): Measurement {
  const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'evaluate.ts'), mode, String(SERVICES), String(HOSTS)], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`bench ${mode} failed:\n${result.stderr}`);
  }
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Measurement;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export function benchStackEvaluation(): { components: Measurement; raw: Measurement; timeRatio: number; memoryRatio: number } {
  const components: Measurement[] = [];
  const raw: Measurement[] = [];
  // Interleaved rounds so drift on a shared machine hits both sides alike.
  for (let round = 0; round < ROUNDS; round++) {
    components.push(measure('components'));
    raw.push(measure('raw'));
  }
  const pick = (list: Measurement[]): Measurement => ({ ...list[0], ms: median(list.map((m) => m.ms)), peakRssMiB: median(list.map((m) => m.peakRssMiB)), heapUsedMiB: median(list.map((m) => m.heapUsedMiB)) });
  const c = pick(components);
  const r = pick(raw);
  return { components: c, raw: r, timeRatio: c.ms / c.resources / (r.ms / r.resources), memoryRatio: c.peakRssMiB / r.peakRssMiB };
}

async function main(): Promise<void> {
  console.log(`Stack evaluation under mocks: ${SERVICES} services on ${HOSTS} hosts, median of ${ROUNDS} rounds`);
  const stack = benchStackEvaluation();
  const row = (m: Measurement) => `${m.mode.padEnd(11)} ${String(m.resources).padStart(9)} ${m.ms.toFixed(0).padStart(8)} ${(m.ms / m.resources).toFixed(3).padStart(14)} ${m.peakRssMiB.toFixed(0).padStart(13)}`;
  console.log('mode        resources  time ms  ms / resource  peak RSS MiB');
  console.log(row(stack.components));
  console.log(row(stack.raw));
  console.log(`component overhead: ${stack.timeRatio.toFixed(2)}x time per resource, ${stack.memoryRatio.toFixed(2)}x peak memory (goal: under 1.5x)`);
  console.log('');
  if (process.env.BERTH_BENCH_SKIP_AGENT === '1') {
    console.log('Agent swap: skipped (BERTH_BENCH_SKIP_AGENT=1)');
    return;
  }
  await printAgentSwap();
  console.log('');
  if (process.env.BERTH_BENCH_SKIP_ZERO_DOWNTIME === '1') {
    console.log('Zero-downtime deploy: skipped (BERTH_BENCH_SKIP_ZERO_DOWNTIME=1)');
    return;
  }
  await printZeroDowntime();
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
