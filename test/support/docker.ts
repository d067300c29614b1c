/**
 * Helpers for integration tests against the real Docker engine and the local
 * registry that test/testbed/setup.sh starts. Test images are built FROM the
 * busybox image the test bed builds FROM scratch.
 */
import { execFileSync, spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const TEST_REGISTRY = process.env.BERTH_TEST_REGISTRY ?? '127.0.0.1:5000';
/** Where test/testbed/setup.sh keeps the engine's and the registry's state (same default as the script). */
export const TESTBED_DIR = process.env.BERTH_TESTBED_DIR ?? '/var/tmp/berth-testbed';
export const TEST_BASE_IMAGE = 'berth-test/busybox:latest';
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

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
  const result = run('docker', ['push', tag]);
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
