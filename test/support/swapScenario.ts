/**
 * The zero-downtime scenario on the real engine, for the bench
 * (test/bench/zero-downtime.ts) and an integration test: a service that takes
 * 3 s to boot, exits at once on SIGTERM and has an endpoint that takes 2 s,
 * serving on a host port under an open-loop load (100 requests/s: 90% short
 * `/`, 10% long `/cgi-bin/slow`), from 5 s before a deploy of a new image
 * digest until 5 s after the deploy ends.
 *
 * - `baseline`: plain `docker stop` of the old container + `docker run` of the
 *   new image on the same host port.
 * - `agent`: `berth-agent deploy` with the new spec on stdin, on a scratch host
 *   whose environment (roots, and whatever else the agent is given) comes from
 *   `options.agentEnvironment(hostRoot)`.
 *
 * Everything that runs while the load does is asynchronous (the load shares
 * this process's event loop). Nothing here asserts on time.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { agentScriptPath } from '../../components/service/agentScript';
import { agentSpecJson, AgentServiceSpec } from '../../components/service/spec';
import { buildImage, docker, pushImage, run, runAsync, RunResult, TEST_REGISTRY, uniqueName } from './docker';
import { LoadResult, RequestClass, startOpenLoad } from './openLoad';
import { freePort } from './ports';
import { stopProxyIn } from './proxy';

export type SwapKind = 'baseline' | 'agent';

/** The port the service listens on inside its container. */
export const SERVICE_PORT = 8080;
/** How long the test service sleeps before it serves. */
export const BOOT_SECONDS = 3;
/** How long `/cgi-bin/slow` takes to answer. */
export const SLOW_SECONDS = 2;
/** The health check the agent runs in the container (busybox wget). */
export const HEALTH_CMD = `wget -q -O /dev/null http://127.0.0.1:${SERVICE_PORT}/`;

/** 90% short requests (`/`, answered at once), 10% long ones (`/cgi-bin/slow`, 2 s). */
export const SHORT_AND_LONG: readonly RequestClass[] = [
  { name: 'short', path: '/', share: 0.9 },
  { name: 'long', path: '/cgi-bin/slow', share: 0.1 },
];

/**
 * The test service's start script: boots for BOOT_SECONDS, then runs busybox httpd in the
 * foreground of a shell that is PID 1 and exits at once on SIGTERM (during the boot too: the
 * sleep runs in the background and the shell waits for it), so `docker stop` returns at once
 * and the container's other processes (httpd, a CGI in flight) are killed with it.
 */
export function slowBootStartScript(): string {
  return ['#!/bin/sh', "trap 'exit 0' TERM", `sleep ${BOOT_SECONDS} &`, 'wait $!', `httpd -f -p ${SERVICE_PORT} -h /www &`, 'wait', ''].join('\n');
}

/** busybox httpd's CGI for `/cgi-bin/slow`: SLOW_SECONDS, then 200 with the version. */
export function slowCgiScript(version: string): string {
  return ['#!/bin/sh', `sleep ${SLOW_SECONDS}`, "printf 'Content-Type: text/plain\\r\\n\\r\\n'", `echo "slow ${version}"`, ''].join('\n');
}

/** Two versions of the test service, pushed to the test registry: references by digest. */
export interface SlowBootImages {
  /** `<registry>/<path>` without tag or digest. */
  repository: string;
  v1: string;
  v2: string;
}

/**
 * Builds v1 and v2 of the test service FROM the test bed's busybox image (they differ by the
 * version they serve, so their digests differ) and pushes them to the test registry. They stay
 * in the local engine too, so neither side of a swap pulls while it is measured.
 */
export function buildSlowBootImages(name = uniqueName('slow-boot')): SlowBootImages {
  const repository = `${TEST_REGISTRY}/berth-test/${name}`;
  const refs: Record<'v1' | 'v2', string> = { v1: '', v2: '' };
  for (const version of ['v1', 'v2'] as const) {
    const tag = `${repository}:${version}`;
    buildImage({
      tag,
      instructions: ['COPY start.sh /start.sh', 'COPY www /www', 'RUN chmod 0755 /www/cgi-bin/slow', `EXPOSE ${SERVICE_PORT}`, 'CMD ["sh", "/start.sh"]'],
      files: { 'start.sh': slowBootStartScript(), 'www/index.html': `${version}\n`, 'www/cgi-bin/slow': slowCgiScript(version) },
    });
    refs[version] = `${repository}@${pushImage(tag)}`;
  }
  if (refs.v1 === refs.v2) {
    throw new Error(`v1 and v2 of ${repository} have the same digest ${refs.v1}`);
  }
  return { repository, ...refs };
}

/** Removes the images buildSlowBootImages made from the local engine (the registry keeps them). */
export function removeSlowBootImages(images: SlowBootImages): void {
  const tags = docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', images.repository)
    .split('\n')
    .filter((tag) => tag !== '' && !tag.endsWith(':<none>'));
  run('docker', ['image', 'rm', ...tags, images.v1, images.v2]);
}

export interface SwapScenarioOptions {
  /** The two versions to swap; built (and removed afterwards) for this run when not given. */
  images?: SlowBootImages;
  /** Requests per second. @default 100 */
  rate?: number;
  /** Load before the deploy starts, in ms. @default 5000 */
  leadMs?: number;
  /** Load after the deploy ends, in ms. @default 5000 */
  tailMs?: number;
  /** @default SHORT_AND_LONG */
  classes?: readonly RequestClass[];
  /** @default true (see OpenLoadOptions.keepAlive) */
  keepAlive?: boolean;
  /** Per-request timeout, in ms. @default 10000 */
  timeoutMs?: number;
  /** A deploy that takes longer than this fails the scenario, in ms. @default 120000 */
  deployLimitMs?: number;
  /** The host port the service is published on. @default a free port */
  port?: number;
  /** `agent` only, required: the environment of every agent process, for a scratch host rooted at `hostRoot`. */
  agentEnvironment?: (hostRoot: string) => NodeJS.ProcessEnv;
  /** `agent` only: adjusts the spec the agent is given for each version. */
  agentSpec?: (spec: AgentServiceSpec) => AgentServiceSpec;
}

export interface SwapScenarioResult {
  kind: SwapKind;
  load: LoadResult;
  /** Wall time of the deploy: `docker stop` + `docker run`, or `berth-agent deploy`. */
  deployMs: number;
  /** When the deploy started and ended, in ms since the load started (the load's marks `deploy-start`, `deploy-end`). */
  deployStartMs: number;
  deployEndMs: number;
  port: number;
  /** What the deploy printed (stdout then stderr), for a reader of a surprising figure. */
  deployOutput: string;
}

type CommandResult = RunResult;

async function mustRun(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  const result = await runAsync(command, args, options);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}${result.stderr}`);
  }
  return result;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until GET / on the port answers 200 with `version`. */
async function waitServing(port: number, version: string, limitMs = 60000): Promise<void> {
  const deadline = Date.now() + limitMs;
  // fetch's sockets and AbortSignal.timeout's timer do not keep Node running: while a connection
  // the engine's port forwarder accepted hangs (the container still booting), this timer does.
  const alive = setInterval(() => undefined, 1000);
  try {
    await pollServing(port, version, limitMs, deadline);
  } finally {
    clearInterval(alive);
  }
}

async function pollServing(port: number, version: string, limitMs: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      if (response.ok && (await response.text()).trim() === version) {
        return;
      }
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new Error(`nothing served ${version} on 127.0.0.1:${port} within ${limitMs / 1000}s`);
    }
    await sleep(100);
  }
}

/** How a side deploys: `start` puts v1 up (untimed), `swap` replaces it by v2 (measured), `cleanUp` removes all. */
interface Side {
  start(): Promise<void>;
  swap(): Promise<CommandResult>;
  cleanUp(): void;
}

function baselineSide(images: SlowBootImages, port: number, name: string): Side {
  const containers = { v1: `${name}-v1`, v2: `${name}-v2` };
  const publish = ['-p', `127.0.0.1:${port}:${SERVICE_PORT}`, '--security-opt', 'no-new-privileges'];
  return {
    start: async () => {
      await mustRun('docker', ['run', '-d', '--name', containers.v1, ...publish, images.v1]);
    },
    swap: async () => {
      const stop = await mustRun('docker', ['stop', containers.v1]);
      const start = await mustRun('docker', ['run', '-d', '--name', containers.v2, ...publish, images.v2]);
      return { status: 0, stdout: stop.stdout + start.stdout, stderr: stop.stderr + start.stderr };
    },
    cleanUp: () => {
      run('docker', ['rm', '-f', containers.v1, containers.v2]);
    },
  };
}

const AGENT_ENV_NAME = 'bench';
/** The folder under a scratch host root where its host proxy runs, if its environment started one; stopped with the host. */
export const PROXY_DIR = 'proxy';

function agentSide(images: SlowBootImages, port: number, name: string, options: SwapScenarioOptions): Side {
  if (!options.agentEnvironment) {
    throw new Error('runSwapScenario("agent") needs options.agentEnvironment: the agent\'s environment for a scratch host root');
  }
  const agent = agentScriptPath();
  const hostRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-zero-downtime-'));
  const env = options.agentEnvironment(hostRoot);
  const spec = (image: string): string => {
    const base: AgentServiceSpec = {
      name,
      env: AGENT_ENV_NAME,
      image,
      ports: [`127.0.0.1:${port}:${SERVICE_PORT}`],
      health: { cmd: HEALTH_CMD, timeoutSeconds: 60 },
      // What ContainerService renders for a web service.
      proxyMode: 'http',
      drainSeconds: 30,
    };
    return agentSpecJson(options.agentSpec ? options.agentSpec(base) : base);
  };
  return {
    start: async () => {
      await mustRun(agent, ['deploy'], { input: spec(images.v1), env });
    },
    swap: () => mustRun(agent, ['deploy'], { input: spec(images.v2), env }),
    cleanUp: () => {
      run(agent, ['remove', name, '--env', AGENT_ENV_NAME], { env });
      stopProxyIn(path.join(hostRoot, PROXY_DIR));
      run('docker', ['image', 'rm', `berth/${name}:${AGENT_ENV_NAME}-current`, `berth/${name}:${AGENT_ENV_NAME}-previous`]);
      fs.rmSync(hostRoot, { recursive: true, force: true });
    },
  };
}

/**
 * Runs the scenario once for one side: v1 up and serving, the load started, `leadMs` later the
 * deploy of v2 (marked `deploy-start` / `deploy-end` in the load), the load stopped `tailMs`
 * after the deploy ended, then v2 checked to be serving and everything removed.
 */
export async function runSwapScenario(kind: SwapKind, options: SwapScenarioOptions = {}): Promise<SwapScenarioResult> {
  const ownImages = options.images === undefined;
  const images = options.images ?? buildSlowBootImages();
  const port = options.port ?? (await freePort());
  const name = uniqueName(`zd-${kind}`).toLowerCase();
  const leadMs = options.leadMs ?? 5000;
  const tailMs = options.tailMs ?? 5000;
  const deployLimitMs = options.deployLimitMs ?? 120000;
  let side: Side | undefined;
  try {
    side = kind === 'agent' ? agentSide(images, port, name, options) : baselineSide(images, port, name);
    await side.start();
    await waitServing(port, 'v1');
    const load = startOpenLoad({
      url: `http://127.0.0.1:${port}`,
      rate: options.rate ?? 100,
      // An upper bound; the load is stopped tailMs after the deploy ends.
      durationMs: leadMs + deployLimitMs + tailMs,
      classes: [...(options.classes ?? SHORT_AND_LONG)],
      keepAlive: options.keepAlive,
      timeoutMs: options.timeoutMs,
    });
    let deployed: CommandResult;
    let deployMs: number;
    let deployStartMs: number;
    let deployEndMs: number;
    try {
      await sleep(leadMs);
      deployStartMs = load.mark('deploy-start');
      const started = performance.now();
      let limit: NodeJS.Timeout | undefined;
      try {
        deployed = await Promise.race([
          side.swap(),
          new Promise<never>((_, reject) => {
            limit = setTimeout(() => reject(new Error(`the ${kind} deploy took longer than ${deployLimitMs / 1000}s`)), deployLimitMs);
          }),
        ]);
      } finally {
        clearTimeout(limit);
      }
      deployMs = performance.now() - started;
      deployEndMs = load.mark('deploy-end');
      await sleep(tailMs);
    } finally {
      load.stop();
    }
    const result = await load.result;
    await waitServing(port, 'v2', 10000);
    return { kind, load: result, deployMs, deployStartMs, deployEndMs, port, deployOutput: deployed.stdout + deployed.stderr };
  } finally {
    side?.cleanUp();
    if (ownImages) {
      removeSlowBootImages(images);
    }
  }
}

/** The first and last failure's send time relative to the deploy's start, in ms; undefined with no failure. */
export function failureWindow(result: SwapScenarioResult): { firstMs: number; lastMs: number } | undefined {
  const failures = result.load.failures;
  if (failures.length === 0) {
    return undefined;
  }
  return { firstMs: failures[0].sentMs - result.deployStartMs, lastMs: failures[failures.length - 1].sentMs - result.deployStartMs };
}
