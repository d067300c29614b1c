/**
 * Helpers for integration tests against the real Docker engine and the local
 * registry that test/testbed/setup.sh starts. Test images are built FROM the
 * busybox image the test bed builds FROM scratch.
 */
import { execFileSync, spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const TEST_REGISTRY = process.env.BERTH_TEST_REGISTRY ?? '127.0.0.1:5000';
/** Where test/testbed/setup.sh keeps the engine's and the registry's state (same default as the script). */
export const TESTBED_DIR = process.env.BERTH_TESTBED_DIR ?? '/var/tmp/berth-testbed';
export const TEST_BASE_IMAGE = 'berth-test/busybox:latest';
/** A second engine the test bed starts, standing in for a second host (its own socket, data root and bridge). */
export const SECOND_ENGINE_HOST = process.env.BERTH_TEST_SECOND_ENGINE ?? 'unix:///run/berth-host-b.sock';
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
/** Where the second engine's dockerd writes its pid (setup.sh's --pidfile). */
export const SECOND_ENGINE_PIDFILE = '/run/berth-host-b.pid';
const SETUP_SCRIPT = path.join(__dirname, '..', 'testbed', 'setup.sh');

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and returns its exit status and output; never throws on a non-zero exit. */
export function run(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): RunResult {
  const result: SpawnSyncReturns<string> = spawnSync(command, args, {
    input: options.input,
    env: options.env ?? process.env,
    cwd: options.cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) {
    throw result.error;
  }
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** `run` without blocking the event loop (a load or a probe loop runs meanwhile); never rejects on a non-zero exit. */
export function runAsync(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs docker and returns trimmed stdout; throws with docker's stderr when it fails. */
export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export interface BuildOptions {
  /** Image reference to tag the build with, e.g. `127.0.0.1:5000/berth-it/web:v1`. */
  tag: string;
  /** Dockerfile lines after the FROM line. */
  instructions: string[];
  /** Image to build from. @default the test bed's busybox image */
  from?: string;
  /** Extra files to place in the build context, by relative path. */
  files?: Record<string, string>;
}

/** Builds an image with the legacy builder (no BuildKit on Debian's engine) and returns its local image id. */
export function buildImage(options: BuildOptions): string {
  const context = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-build-'));
  try {
    for (const [name, content] of Object.entries(options.files ?? {})) {
      fs.mkdirSync(path.dirname(path.join(context, name)), { recursive: true });
      fs.writeFileSync(path.join(context, name), content);
    }
    const dockerfile = [`FROM ${options.from ?? TEST_BASE_IMAGE}`, ...options.instructions].join('\n') + '\n';
    fs.writeFileSync(path.join(context, 'Dockerfile'), dockerfile);
    const result = run('docker', ['build', '-q', '-t', options.tag, context], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    if (result.status !== 0) {
      throw new Error(`docker build ${options.tag} failed:\n${result.stderr}`);
    }
    return docker('image', 'inspect', '--format', '{{.Id}}', options.tag);
  } finally {
    fs.rmSync(context, { recursive: true, force: true });
  }
}

/** Pushes a tagged image to the test registry and returns the manifest digest the registry reports. */
export function pushImage(tag: string): string {
  return pushWith(tag, process.env);
}

function pushWith(tag: string, env: NodeJS.ProcessEnv): string {
  const result = run('docker', ['push', tag], { env });
  if (result.status !== 0) {
    throw new Error(`docker push ${tag} failed:\n${result.stderr}`);
  }
  const match = /digest: (sha256:[0-9a-f]{64})/.exec(result.stdout);
  if (!match) {
    throw new Error(`docker push ${tag} printed no digest:\n${result.stdout}`);
  }
  return match[1];
}

/** Reads a manifest's digest back from the registry over the HTTP API v2 (HEAD, Docker-Content-Digest). */
export async function registryDigest(repository: string, reference: string): Promise<string | undefined> {
  const response = await fetch(`http://${TEST_REGISTRY}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: {
      Accept: [
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.oci.image.index.v1+json',
      ].join(', '),
    },
  });
  if (response.status === 404) {
    return undefined;
  }
  if (!response.ok) {
    throw new Error(`registry answered ${response.status} for ${repository}:${reference}`);
  }
  return response.headers.get('docker-content-digest') ?? undefined;
}

/** A name no other test run uses, so tests sharing one engine never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}`;
}

/**
 * The test bed's second registry: it requires credentials (htpasswd, bcrypt), as ECR does.
 * The docker CLI reaches it only through a credential helper named in config.json.
 */
export const AUTH_REGISTRY = process.env.BERTH_TEST_AUTH_REGISTRY ?? '127.0.0.1:5001';
/**
 * The test credential helper's name as config.json's `credHelpers` spells it; the executable on
 * PATH is `docker-credential-berth-test` (as `ecr-login` is `docker-credential-ecr-login`).
 */
export const AUTH_REGISTRY_HELPER = 'berth-test';
/** Where setup.sh keeps the auth registry's fixed test credentials ({"username","password"}). */
export const AUTH_REGISTRY_CREDENTIALS_FILE = path.join(TESTBED_DIR, 'auth-registry', 'credentials.json');

/** The auth registry's fixed test credentials, as the test bed wrote them. */
export function authRegistryCredentials(): { username: string; password: string } {
  const parsed = JSON.parse(fs.readFileSync(AUTH_REGISTRY_CREDENTIALS_FILE, 'utf8')) as { username: string; password: string };
  return { username: parsed.username, password: parsed.password };
}

/** The config.json a host gets: with `credHelper`, the auth registry is reached through the test helper. */
export function dockerConfigJson(options: { credHelper: boolean }): { credHelpers?: Record<string, string> } {
  return options.credHelper ? { credHelpers: { [AUTH_REGISTRY]: AUTH_REGISTRY_HELPER } } : {};
}

/**
 * Writes a Docker config folder for DOCKER_CONFIG and returns its path: its config.json names the
 * test credential helper for AUTH_REGISTRY (`credHelper: true`) or names no helper and holds no
 * credentials (`credHelper: false`). A new folder under the OS temp dir unless `dir` is given; the
 * caller removes it.
 */
export function writeDockerConfig(options: { credHelper: boolean; dir?: string }): string {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'berth-docker-config-'));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(dockerConfigJson(options), null, 2) + '\n');
  return dir;
}

/** The environment for a docker CLI that reads its config (and so its credential helpers) from `configDir`. */
export function dockerEnv(configDir: string): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_CONFIG: configDir };
}

/**
 * Pushes a tagged image (`${AUTH_REGISTRY}/...`) to the auth registry, authenticated through the test
 * credential helper, and returns the manifest digest the registry reports.
 */
export function pushImageToAuthRegistry(tag: string): string {
  const configDir = writeDockerConfig({ credHelper: true });
  try {
    return pushWith(tag, dockerEnv(configDir));
  } finally {
    fs.rmSync(configDir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether process `pid` is gone (or a zombie nobody has reaped yet, which serves nothing either). */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') {
      return true;
    }
    throw error;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces, the state follows its last ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Whether the second engine answers `docker info`. */
export function secondEngineUp(): boolean {
  return run('docker', ['info', '--format', '{{.ID}}'], { env: { ...process.env, DOCKER_HOST: SECOND_ENGINE_HOST } }).status === 0;
}

/**
 * Starts the second engine if it is down, exactly as the test bed does (`setup.sh second-engine`:
 * the same flags, --live-restore among them), and waits until `docker info` answers.
 */
export function startSecondEngine(): void {
  const socket = SECOND_ENGINE_HOST.replace(/^unix:\/\//, '');
  const result = run('bash', [SETUP_SCRIPT, 'second-engine'], { env: { ...process.env, BERTH_TEST_SECOND_ENGINE_SOCKET: socket } });
  if (result.status !== 0 || !secondEngineUp()) {
    throw new Error(`setup.sh second-engine failed (exit ${result.status}):\n${result.stderr}`);
  }
}

/**
 * Restarts the second engine as a host's init restarts dockerd: SIGTERM to the pid in its pid
 * file, a wait until that process has exited, then startSecondEngine. `whileDown` runs while no
 * dockerd is there; the engine is started again whatever it does. Resolves the new dockerd's pid.
 * The engine runs with --live-restore, so its containers keep running throughout.
 */
export async function restartSecondEngine(whileDown?: () => Promise<void> | void): Promise<number> {
  const pid = Number(fs.readFileSync(SECOND_ENGINE_PIDFILE, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) {
    throw new Error(`${SECOND_ENGINE_PIDFILE} holds no pid`);
  }
  process.kill(pid, 'SIGTERM');
  try {
    const deadline = Date.now() + 60_000;
    while (!processGone(pid)) {
      if (Date.now() > deadline) {
        throw new Error(`the second dockerd (pid ${pid}) did not exit within 60s of SIGTERM`);
      }
      await sleep(100);
    }
    await whileDown?.();
  } finally {
    startSecondEngine();
  }
  return Number(fs.readFileSync(SECOND_ENGINE_PIDFILE, 'utf8').trim());
}
