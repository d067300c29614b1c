/**
 * The host agent's swap on the real engine: `berth-agent deploy` replacing v1
 * by v2 (pull skipped, health-gated, old container retired, tags and state
 * recorded) against the baseline of a plain `docker stop` + `docker run` of the
 * same images, measured in the same run, interleaved, median of several
 * repetitions. During every swap a probe loop sends the same fixed number of
 * HTTP GETs to the published port on 127.0.0.1 and counts the failures: both
 * sides stop the old container before starting the new one (it holds the
 * host port), so both drop some requests; the question is how many more the
 * agent drops. Nothing here asserts on time.
 *
 *   npx tsx test/bench/agent-swap.ts
 *   BERTH_BENCH_SWAP_REPS=5 BERTH_BENCH_SWAP_PROBES=400 (defaults)
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { agentSpecJson, AgentServiceSpec } from '../../components/service/spec';
import { buildImage, docker, pushImage, run, TEST_REGISTRY, uniqueName } from '../support/docker';

const REPS = Number(process.env.BERTH_BENCH_SWAP_REPS ?? 5);
/** Probes per swap, the same for both sides; at ~20 ms apart this window outlasts either swap. */
const PROBES_PER_SWAP = Number(process.env.BERTH_BENCH_SWAP_PROBES ?? 400);
const PROBE_GAP_MS = 20;
const PROBE_TIMEOUT_MS = 500;

const ROOT = path.join(__dirname, '..', '..');
const AGENT = path.join(ROOT, 'components', 'service', 'agent', 'berth-agent');

export interface AgentSwapResult {
  /** Median wall time of `berth-agent deploy` v1 -> v2, in ms. */
  agentMs: number;
  /** Median wall time of `docker stop` v1 + `docker run` v2, in ms. */
  baselineMs: number;
  /** agentMs / baselineMs. */
  ratio: number;
  /** Failed probes during the agent's swaps, summed over the repetitions. */
  agentFailedProbes: number;
  /** Failed probes during the baseline swaps, summed over the repetitions. */
  baselineFailedProbes: number;
  /** Probes sent per side (repetitions x probes per swap). */
  probes: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a command without blocking the event loop (the probe loop runs meanwhile); throws on failure. */
function runAsync(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr}`))));
    child.stdin.end(options.input ?? '');
  });
}

async function probeOnce(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/version`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return response.ok && (await response.text()).trim() !== '';
  } catch {
    return false;
  }
}

async function waitServing(port: number, expected: string): Promise<void> {
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/version`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      if ((await response.text()).trim() === expected) {
        return;
      }
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new Error(`nothing served ${expected} on port ${port} within 30s`);
    }
    await sleep(50);
  }
}

/** Times `swap` while a probe loop sends PROBES_PER_SWAP GETs; returns the swap's ms and the failed probes. */
async function measureSwap(port: number, swap: () => Promise<void>): Promise<{ ms: number; failed: number; covered: boolean }> {
  let lastProbeAt = 0;
  const probing = (async () => {
    let failed = 0;
    for (let i = 0; i < PROBES_PER_SWAP; i++) {
      if (!(await probeOnce(port))) {
        failed++;
      }
      lastProbeAt = performance.now();
      await sleep(PROBE_GAP_MS);
    }
    return failed;
  })();
  const started = performance.now();
  await swap();
  const swapEndedAt = performance.now();
  const failed = await probing;
  return { ms: swapEndedAt - started, failed, covered: lastProbeAt > swapEndedAt };
}

export async function benchAgentSwap(): Promise<AgentSwapResult> {
  const setup = spawnSync('bash', [path.join(ROOT, 'test', 'testbed', 'setup.sh')], { encoding: 'utf8' });
  if (setup.status !== 0) {
    throw new Error(`test bed setup failed:\n${setup.stderr}`);
  }
  const name = uniqueName('bench');
  const repository = `${TEST_REGISTRY}/berth-bench/${name}`;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-swap-'));
  const env = {
    ...process.env,
    BERTH_DATA_ROOT: path.join(scratch, 'data'),
    BERTH_CONFIG_ROOT: path.join(scratch, 'config'),
    BERTH_STATE_ROOT: path.join(scratch, 'state'),
    BERTH_LOCK_FILE: path.join(scratch, 'berth.lock'),
  };
  const refs: Record<'v1' | 'v2', string> = { v1: '', v2: '' };
  const baseline = { v1: `${name}-base-v1`, v2: `${name}-base-v2` };
  try {
    for (const version of ['v1', 'v2'] as const) {
      const tag = `${repository}:${version}`;
      const script = ['#!/bin/sh', "trap 'exit 0' TERM", 'mkdir -p /www', `echo ${version} > /www/version`, 'httpd -f -p 8080 -h /www &', 'wait', ''].join('\n');
      buildImage({ tag, instructions: ['COPY start.sh /start.sh', 'CMD ["sh", "/start.sh"]'], files: { 'start.sh': script } });
      refs[version] = `${repository}@${pushImage(tag)}`;
    }
    const port = await freePort();
    // A data volume as ContainerService renders it: in the service's own folder,
    // <data root>/<env>/<service>/<volume>, the only place the agent accepts.
    const volume = `${env.BERTH_DATA_ROOT}/bench/${name}/data:/data`;
    const spec = (version: 'v1' | 'v2'): AgentServiceSpec => ({
      name,
      env: 'bench',
      image: refs[version],
      ports: [`127.0.0.1:${port}:8080`],
      volumes: [volume],
      health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/version', timeoutSeconds: 30 },
    });
    const publish = ['-p', `127.0.0.1:${port}:8080`, '-v', volume, '--security-opt', 'no-new-privileges'];

    const agentRuns: { ms: number; failed: number; covered: boolean }[] = [];
    const baselineRuns: { ms: number; failed: number; covered: boolean }[] = [];
    // Interleaved, so drift on a shared machine hits both sides alike.
    for (let rep = 0; rep < REPS; rep++) {
      await runAsync(AGENT, ['deploy'], { input: agentSpecJson(spec('v1')), env });
      await waitServing(port, 'v1');
      agentRuns.push(await measureSwap(port, () => runAsync(AGENT, ['deploy'], { input: agentSpecJson(spec('v2')), env })));
      await runAsync(AGENT, ['remove', name, '--env', 'bench'], { env });

      await runAsync('docker', ['run', '-d', '--name', baseline.v1, ...publish, refs.v1]);
      await waitServing(port, 'v1');
      baselineRuns.push(
        await measureSwap(port, async () => {
          await runAsync('docker', ['stop', baseline.v1]);
          await runAsync('docker', ['run', '-d', '--name', baseline.v2, ...publish, refs.v2]);
        }),
      );
      run('docker', ['rm', '-f', baseline.v1, baseline.v2]);
    }
    for (const runs of [agentRuns, baselineRuns]) {
      if (runs.some((r) => !r.covered)) {
        console.warn(`warning: a swap outlasted its ${PROBES_PER_SWAP} probes; raise BERTH_BENCH_SWAP_PROBES`);
      }
    }
    const agentMs = median(agentRuns.map((r) => r.ms));
    const baselineMs = median(baselineRuns.map((r) => r.ms));
    return {
      agentMs,
      baselineMs,
      ratio: agentMs / baselineMs,
      agentFailedProbes: agentRuns.reduce((sum, r) => sum + r.failed, 0),
      baselineFailedProbes: baselineRuns.reduce((sum, r) => sum + r.failed, 0),
      probes: REPS * PROBES_PER_SWAP,
    };
  } finally {
    run(AGENT, ['remove', name, '--env', 'bench'], { env });
    run('docker', ['rm', '-f', baseline.v1, baseline.v2]);
    const tags = docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', repository).split('\n').filter(Boolean);
    run('docker', ['image', 'rm', ...tags, ...Object.values(refs).filter(Boolean)]);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Runs the swap benchmark and prints its table; `npm run bench` calls this after the stack benchmark. */
export async function printAgentSwap(): Promise<void> {
  console.log(`Agent swap v1 -> v2 on the real engine: median of ${REPS} repetitions, ${PROBES_PER_SWAP} probes per swap`);
  const r = await benchAgentSwap();
  const perSide = (failed: number) => `${failed} / ${r.probes}`;
  console.log('side                        time ms   failed probes');
  console.log(`berth-agent deploy     ${r.agentMs.toFixed(0).padStart(12)}   ${perSide(r.agentFailedProbes).padStart(13)}`);
  console.log(`docker stop + run      ${r.baselineMs.toFixed(0).padStart(12)}   ${perSide(r.baselineFailedProbes).padStart(13)}`);
  console.log(`agent / baseline time: ${r.ratio.toFixed(2)}x`);
}

if (require.main === module) {
  printAgentSwap().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
