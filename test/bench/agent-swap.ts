/**
 * The host agent on the real engine, as hosts run it: the bundle
 * `agentScriptPath()` writes (dist/agent/berth-agent.js, executed through its
 * interpreter line, /usr/bin/node-24).
 *
 * 1. The swap: `berth-agent deploy` replacing v1 by v2 (pull skipped,
 *    health-gated, old container retired, tags and state recorded) against
 *    the baseline of a plain `docker stop` + `docker run` of the same images,
 *    measured in the same run, interleaved, median of several repetitions.
 *    During every swap a probe loop sends the same fixed number of HTTP GETs to
 *    the published port on 127.0.0.1 and counts the failures: both sides stop
 *    the old container before starting the new one (it holds the host port),
 *    so both drop some requests; the question is how many more the agent drops.
 * 2. Start-up: the median wall time of `berth-agent help` (no engine) and of
 *    `berth-agent status --env <an environment with no services>` (one request
 *    to the engine) against `node -e 0` on the same interpreter, interleaved.
 * 3. Peak memory on the host: the max RSS of those runs, of a fresh deploy, of
 *    a swap and of a status with one running service (its health check runs),
 *    against the max RSS of `node -e 0`. Read without changing the agent: the
 *    bundle runs as `node-24 --require <preload> berth-agent.js …`, and the
 *    preload (written by this file) records `process.resourceUsage().maxRSS`
 *    when the process exits. The timed runs go without it.
 *
 * Nothing here asserts on time.
 *
 *   npx tsx test/bench/agent-swap.ts
 *   BERTH_BENCH_SWAP_REPS=5 BERTH_BENCH_SWAP_PROBES=400 BERTH_BENCH_STARTUP_REPS=15 (defaults)
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { AGENT_INTERPRETER, agentScriptPath } from '../../components/service/agentScript';
import { agentSpecJson, AgentServiceSpec } from '../../components/service/spec';
import { freePort } from '../support/ports';
import { buildImage, docker, pushImage, run, TEST_REGISTRY, uniqueName } from '../support/docker';

const REPS = Number(process.env.BERTH_BENCH_SWAP_REPS ?? 5);
/** Probes per swap, the same for both sides; at ~20 ms apart this window outlasts either swap. */
const PROBES_PER_SWAP = Number(process.env.BERTH_BENCH_SWAP_PROBES ?? 400);
const PROBE_GAP_MS = 20;
const PROBE_TIMEOUT_MS = 500;
/** Runs of each start-up command (and of its baseline), interleaved. */
const STARTUP_REPS = Number(process.env.BERTH_BENCH_STARTUP_REPS ?? 15);

const ROOT = path.join(__dirname, '..', '..');
/** The interpreter the bundle's first line names (the test bed links it to the Node.js 24 of the test bed). */
const INTERPRETER = AGENT_INTERPRETER.slice('#!'.length);
/** An environment the bench never deploys to: `status --env EMPTY_ENV` finds nothing. */
const EMPTY_ENV = 'bench-empty';

/** Loaded with `--require`: records the process's max RSS (KiB) in $BERTH_BENCH_RSS_FILE when it exits. */
const RSS_PRELOAD = `'use strict';
const fs = require('fs');
const file = process.env.BERTH_BENCH_RSS_FILE;
process.on('exit', () => fs.writeFileSync(file, String(process.resourceUsage().maxRSS)));
`;

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
  /** Median max RSS in KiB of untimed agent runs against a service: a fresh deploy, a swap, a status with the service running. */
  memory: { freshDeployKiB: number; swapDeployKiB: number; statusRunningKiB: number };
}

export interface StartupRow {
  label: string;
  /** Median wall time, in ms. */
  ms: number;
  /** Median max RSS, in KiB. */
  maxRssKiB: number;
}

export interface AgentStartupResult {
  /** `node -e 0` on the agent's interpreter. */
  baseline: StartupRow;
  help: StartupRow;
  statusEmpty: StartupRow;
  bundleBytes: number;
  nodeVersion: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

/**
 * Peak-memory runs: `node-24 --require <preload> <args>`, so the process's own
 * max RSS is read however it exits, with the agent unchanged.
 */
class RssProbe {
  private readonly preload: string;
  private readonly file: string;
  private runs = 0;

  constructor(scratch: string) {
    this.preload = path.join(scratch, 'rss-preload.js');
    this.file = path.join(scratch, 'maxrss');
    fs.writeFileSync(this.preload, RSS_PRELOAD);
  }

  /** Runs `node-24 --require <preload> ...args` to success; returns its max RSS in KiB. */
  async measure(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
    const file = `${this.file}.${++this.runs}`;
    try {
      await runAsync(INTERPRETER, ['--require', this.preload, ...args], { input: options.input, env: { ...(options.env ?? process.env), BERTH_BENCH_RSS_FILE: file } });
      const kib = Number(fs.readFileSync(file, 'utf8'));
      if (!Number.isFinite(kib) || kib <= 0) {
        throw new Error(`the preload recorded no max RSS for ${args.join(' ')}`);
      }
      return kib;
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
}

/** Paths of a scratch host for the agent: its own data, config, state roots and lock set. */
function scratchHost(scratch: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BERTH_DATA_ROOT: path.join(scratch, 'data'),
    BERTH_CONFIG_ROOT: path.join(scratch, 'config'),
    BERTH_STATE_ROOT: path.join(scratch, 'state'),
    BERTH_LOCK_FILE: path.join(scratch, 'berth.lock'),
  };
}

function setUpTestBed(): void {
  const setup = spawnSync('bash', [path.join(ROOT, 'test', 'testbed', 'setup.sh')], { encoding: 'utf8' });
  if (setup.status !== 0) {
    throw new Error(`test bed setup failed:\n${setup.stderr}`);
  }
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
  setUpTestBed();
  const agent = agentScriptPath();
  const name = uniqueName('bench');
  const repository = `${TEST_REGISTRY}/berth-bench/${name}`;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-swap-'));
  const env = scratchHost(scratch);
  const rss = new RssProbe(scratch);
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
    const memory = { freshDeploy: [] as number[], swapDeploy: [] as number[], statusRunning: [] as number[] };
    // Interleaved, so drift on a shared machine hits both sides alike.
    for (let rep = 0; rep < REPS; rep++) {
      // Untimed, so read with the preload: a deploy onto an empty host.
      memory.freshDeploy.push(await rss.measure([agent, 'deploy'], { input: agentSpecJson(spec('v1')), env }));
      await waitServing(port, 'v1');
      // Timed, as a host runs it (the interpreter line, no preload).
      agentRuns.push(await measureSwap(port, () => runAsync(agent, ['deploy'], { input: agentSpecJson(spec('v2')), env })));
      await waitServing(port, 'v2');
      // Untimed: a status that runs the health check of a running service, and a swap back to v1.
      memory.statusRunning.push(await rss.measure([agent, 'status', '--env', 'bench'], { env }));
      memory.swapDeploy.push(await rss.measure([agent, 'deploy'], { input: agentSpecJson(spec('v1')), env }));
      await runAsync(agent, ['remove', name, '--env', 'bench'], { env });

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
      memory: { freshDeployKiB: median(memory.freshDeploy), swapDeployKiB: median(memory.swapDeploy), statusRunningKiB: median(memory.statusRunning) },
    };
  } finally {
    run(agent, ['remove', name, '--env', 'bench'], { env });
    run('docker', ['rm', '-f', baseline.v1, baseline.v2]);
    const tags = docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', repository).split('\n').filter(Boolean);
    run('docker', ['image', 'rm', ...tags, ...Object.values(refs).filter(Boolean)]);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Wall time of one run to success, in ms; output discarded. */
function timeRun(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - started;
  if (result.error) {
    throw result.error;
  }
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stderr}`);
  }
  return ms;
}

/**
 * The agent's start-up against `node -e 0` on the same interpreter: `help`
 * (load and parse the bundle, no engine) and `status` of an environment with
 * no services (plus one request to the real engine). Interleaved, after one
 * untimed warm-up run of each, median of STARTUP_REPS runs.
 */
export async function benchAgentStartup(): Promise<AgentStartupResult> {
  setUpTestBed();
  const agent = agentScriptPath();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-startup-'));
  const env = scratchHost(scratch);
  const rss = new RssProbe(scratch);
  const sides = [
    { label: 'node -e 0', command: INTERPRETER, args: ['-e', '0'] },
    { label: 'berth-agent help', command: agent, args: ['help'] },
    { label: `berth-agent status --env ${EMPTY_ENV}`, command: agent, args: ['status', '--env', EMPTY_ENV] },
  ];
  try {
    // Node runs a script named on its command line as `node <script>`; the
    // preload goes before it. `node -e 0` takes the preload the same way.
    const rssArgs = (side: (typeof sides)[number]) => (side.command === INTERPRETER ? side.args : [side.command, ...side.args]);
    for (const side of sides) {
      timeRun(side.command, side.args, env);
    }
    const samples = sides.map(() => ({ ms: [] as number[], kib: [] as number[] }));
    for (let rep = 0; rep < STARTUP_REPS; rep++) {
      for (const [i, side] of sides.entries()) {
        samples[i].ms.push(timeRun(side.command, side.args, env));
        samples[i].kib.push(await rss.measure(rssArgs(side), { env }));
      }
    }
    const rows = sides.map((side, i): StartupRow => ({ label: side.label, ms: median(samples[i].ms), maxRssKiB: median(samples[i].kib) }));
    const version = spawnSync(INTERPRETER, ['--version'], { encoding: 'utf8' }).stdout.trim();
    return { baseline: rows[0], help: rows[1], statusEmpty: rows[2], bundleBytes: fs.statSync(agent).size, nodeVersion: version };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

/** Runs the agent benchmarks and prints their tables; `npm run bench` calls this after the stack benchmark. */
export async function printAgentSwap(): Promise<void> {
  console.log(`Agent swap v1 -> v2 on the real engine (${path.relative(ROOT, agentScriptPath())}): median of ${REPS} repetitions, ${PROBES_PER_SWAP} probes per swap`);
  const r = await benchAgentSwap();
  const perSide = (failed: number) => `${failed} / ${r.probes}`;
  console.log('side                        time ms   failed probes');
  console.log(`berth-agent deploy     ${r.agentMs.toFixed(0).padStart(12)}   ${perSide(r.agentFailedProbes).padStart(13)}`);
  console.log(`docker stop + run      ${r.baselineMs.toFixed(0).padStart(12)}   ${perSide(r.baselineFailedProbes).padStart(13)}`);
  console.log(`agent / baseline time: ${r.ratio.toFixed(2)}x (goal: at most 1.2x; the bash agent measured 1.65x)`);
  console.log('');

  const s = await benchAgentStartup();
  console.log(`Agent start-up and peak memory on the host: ${s.nodeVersion}, bundle ${(s.bundleBytes / 1024).toFixed(0)} KiB, median of ${STARTUP_REPS} runs (deploys and status with a service: of ${REPS})`);
  const base = s.baseline;
  const row = (label: string, ms: number | undefined, kib: number) =>
    `${label.padEnd(40)} ${ms === undefined ? '-'.padStart(8) : ms.toFixed(0).padStart(8)} ${ms === undefined ? '-'.padStart(10) : `${(ms / base.ms).toFixed(2)}x`.padStart(10)} ${mib(kib).padStart(12)} ${`${(kib / base.maxRssKiB).toFixed(2)}x`.padStart(10)}`;
  console.log(`${'run'.padEnd(40)} ${'time ms'.padStart(8)} ${'vs node'.padStart(10)} ${'max RSS MiB'.padStart(12)} ${'vs node'.padStart(10)}`);
  console.log(row(`${base.label} (baseline)`, base.ms, base.maxRssKiB));
  console.log(row(s.help.label, s.help.ms, s.help.maxRssKiB));
  console.log(row(s.statusEmpty.label, s.statusEmpty.ms, s.statusEmpty.maxRssKiB));
  console.log(row('berth-agent status (1 service, health)', undefined, r.memory.statusRunningKiB));
  console.log(row('berth-agent deploy (fresh)', undefined, r.memory.freshDeployKiB));
  console.log(row('berth-agent deploy (swap)', undefined, r.memory.swapDeployKiB));
  console.log(`agent start-up over the interpreter's own: help +${(s.help.ms - base.ms).toFixed(0)} ms, status +${(s.statusEmpty.ms - base.ms).toFixed(0)} ms`);
}

if (require.main === module) {
  printAgentSwap().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
