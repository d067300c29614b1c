/**
 * Zero-downtime deploy on the real engine (issue 13, "Measure it"): an
 * open-loop load of 100 requests/s (90% short `/`, 10% long `/cgi-bin/slow`
 * of 2 s) against a service's host port, from 5 s before a deploy of a new
 * image digest to 5 s after it ends, for a service that takes 3 s to boot and
 * exits at once on SIGTERM. Measured in the same run for plain `docker stop` +
 * `docker run` (the baseline) and for `berth-agent deploy`; the scenario is
 * test/support/swapScenario.ts, the load test/support/openLoad.ts.
 *
 * Prints failed requests by class and by reason, requests sent, and the
 * deploy's wall time for each side. Nothing here asserts on time.
 *
 *   npx tsx test/bench/zero-downtime.ts
 *   BERTH_BENCH_ZD_RATE=100 BERTH_BENCH_ZD_LEAD_MS=5000 BERTH_BENCH_ZD_TAIL_MS=5000 (defaults)
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { agentScriptPath } from '../../components/service/agentScript';
import { startProxy } from '../support/proxy';
import { buildSlowBootImages, failureWindow, PROXY_DIR, removeSlowBootImages, runSwapScenario, SHORT_AND_LONG, SwapKind, SwapScenarioResult } from '../support/swapScenario';

const ROOT = path.join(__dirname, '..', '..');
const RATE = Number(process.env.BERTH_BENCH_ZD_RATE ?? 100);
const LEAD_MS = Number(process.env.BERTH_BENCH_ZD_LEAD_MS ?? 5000);
const TAIL_MS = Number(process.env.BERTH_BENCH_ZD_TAIL_MS ?? 5000);
/** The drain timeout the goal is stated against (the catalogue's default). */
export const DRAIN_TIMEOUT_SECONDS = 30;

/**
 * The environment of every agent process the benchmark (and the zero-downtime integration
 * test) runs: a scratch host rooted at `hostRoot`, its data, config and state roots and its
 * lock file there, and a host proxy (HAProxy) in its own folder there, which the scenario stops
 * with the host. The one place the agent's environment comes from.
 */
export function agentEnvironment(hostRoot: string): NodeJS.ProcessEnv {
  // The host proxy a Berth host runs, started here as berth-proxy.service starts it.
  const proxy = startProxy(path.join(hostRoot, PROXY_DIR));
  return {
    ...process.env,
    ...proxy.environment,
    BERTH_DATA_ROOT: path.join(hostRoot, 'data'),
    BERTH_CONFIG_ROOT: path.join(hostRoot, 'config'),
    BERTH_STATE_ROOT: path.join(hostRoot, 'state'),
    BERTH_LOCK_FILE: path.join(hostRoot, 'berth.lock'),
  };
}

export interface ZeroDowntimeResult {
  baseline: SwapScenarioResult;
  agent: SwapScenarioResult;
}

function setUpTestBed(): void {
  const setup = spawnSync('bash', [path.join(ROOT, 'test', 'testbed', 'setup.sh')], { encoding: 'utf8' });
  if (setup.status !== 0) {
    throw new Error(`test bed setup failed:\n${setup.stderr}`);
  }
}

/** Both sides, one after the other, on the same two images. */
export async function benchZeroDowntime(): Promise<ZeroDowntimeResult> {
  setUpTestBed();
  const images = buildSlowBootImages();
  try {
    const options = { images, rate: RATE, leadMs: LEAD_MS, tailMs: TAIL_MS };
    const baseline = await runSwapScenario('baseline', options);
    const agent = await runSwapScenario('agent', { ...options, agentEnvironment });
    return { baseline, agent };
  } finally {
    removeSlowBootImages(images);
  }
}

const LABELS: Record<SwapKind, string> = { baseline: 'docker stop + run', agent: 'berth-agent deploy' };

function reasons(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? '-' : entries.map(([reason, n]) => `${reason} ${n}`).join(', ');
}

/** Runs the benchmark and prints its table; `npm run bench` calls this after the agent benchmarks. */
export async function printZeroDowntime(): Promise<void> {
  const classes = SHORT_AND_LONG.map((c) => `${Math.round(c.share * 100)}% ${c.name} ${c.path}`).join(', ');
  console.log(
    `Zero-downtime deploy v1 -> v2 on the real engine (${path.relative(ROOT, agentScriptPath())}): open-loop load of ${RATE} requests/s (${classes}), ` +
      `${LEAD_MS / 1000} s before the deploy to ${TAIL_MS / 1000} s after it; the service boots in 3 s, exits at once on SIGTERM, /cgi-bin/slow takes 2 s`,
  );
  const r = await benchZeroDowntime();
  const names = SHORT_AND_LONG.map((c) => c.name);
  const header = [
    'side'.padEnd(20),
    ...names.map((n) => `failed ${n}`.padStart(16)),
    'failed'.padStart(12),
    'deploy ms'.padStart(10),
    '  failed requests sent (from deploy start)',
  ];
  console.log(header.join(' '));
  for (const side of [r.baseline, r.agent]) {
    const perClass = names.map((n) => `${side.load.byClass[n].failed} / ${side.load.byClass[n].sent}`.padStart(16));
    const window = failureWindow(side);
    const span = window ? `${(window.firstMs / 1000).toFixed(1)} s to ${(window.lastMs / 1000).toFixed(1)} s` : '-';
    console.log([LABELS[side.kind].padEnd(20), ...perClass, `${side.load.failed} / ${side.load.sent}`.padStart(12), side.deployMs.toFixed(0).padStart(10), `  ${span}`].join(' '));
  }
  for (const side of [r.baseline, r.agent]) {
    const byClass = names.map((n) => `${n}: ${reasons(side.load.byClass[n].reasons)}`).join('; ');
    console.log(`${`${LABELS[side.kind]} reasons`.padEnd(28)} ${byClass}`);
  }
  const lag = Math.max(r.baseline.load.maxSendLagMs, r.agent.load.maxSendLagMs);
  console.log(`load schedule held to within ${lag.toFixed(0)} ms of its send times`);
  console.log(`Goal: 0 failed with the agent in every class shorter than the drain timeout (${DRAIN_TIMEOUT_SECONDS} s)`);
}

if (require.main === module) {
  printZeroDowntime().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
