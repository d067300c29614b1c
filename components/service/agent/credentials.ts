/**
 * Credentials for a pull, found as the Docker CLI finds them: the client
 * config in $DOCKER_CONFIG names a credential helper per registry host
 * (`credHelpers`, on a Berth host `ecr-login` for each ECR registry), or one
 * for all (`credsStore`), or carries `auths` itself. The Engine API takes the
 * credentials from the client, so the agent runs the helper as the CLI does:
 * `docker-credential-<helper> get`, the registry host on stdin.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { RegistryAuth } from './engine';

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/** The registry host of an image reference, as Docker reads it: a first part with a dot, a port or `localhost`. */
export function registryHostOf(reference: string): string {
  const slash = reference.indexOf('/');
  if (slash < 0) {
    return DOCKER_HUB;
  }
  const first = reference.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : DOCKER_HUB;
}

export interface DockerClientConfig {
  credHelpers?: Record<string, string>;
  credsStore?: string;
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
}

/** Where the credentials for `host` come from under `config`: a helper to run, stored ones, or none. */
export type CredentialSource = { helper: string } | { auth: RegistryAuth } | undefined;

export function credentialSource(config: DockerClientConfig, host: string): CredentialSource {
  const helper = config.credHelpers?.[host] ?? config.credsStore;
  if (helper !== undefined && helper !== '') {
    return { helper };
  }
  const stored = config.auths?.[host] ?? (host === DOCKER_HUB ? config.auths?.[DOCKER_HUB_AUTH_KEY] : undefined);
  if (stored?.identitytoken) {
    return { auth: { identitytoken: stored.identitytoken, serveraddress: host } };
  }
  if (stored?.auth) {
    const decoded = Buffer.from(stored.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      return { auth: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: host } };
    }
  }
  return undefined;
}

/** What a helper's `get` printed, as registry credentials. A `<token>` user means the secret is an identity token. */
export function helperAnswer(text: string, host: string): RegistryAuth {
  const answer = JSON.parse(text) as { Username?: string; Secret?: string };
  if (answer.Username === '<token>') {
    return { identitytoken: answer.Secret ?? '', serveraddress: host };
  }
  return { username: answer.Username ?? '', password: answer.Secret ?? '', serveraddress: host };
}

/** Runs `docker-credential-<helper> get`; resolves its stdout, rejects with its stderr. */
export type HelperRunner = (helper: string, host: string) => Promise<string>;

export const runHelper: HelperRunner = (helper, host) =>
  new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${helper}`, ['get'], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`credential helper docker-credential-${helper} failed for ${host}: ${(stderr || stdout || error.message).trim()}`));
      } else {
        resolve(stdout);
      }
    });
    // A helper that exits without reading its stdin (it failed) makes the write fail with EPIPE;
    // the callback above reports the failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(host);
  });

/**
 * The credentials to pull `reference` with, or undefined to pull anonymously
 * (no config, or nothing configured for its registry).
 */
export async function credentialsFor(reference: string, configDir: string, run: HelperRunner = runHelper): Promise<RegistryAuth | undefined> {
  const file = path.join(configDir, 'config.json');
  let config: DockerClientConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as DockerClientConfig;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new Error(`${file}: not a Docker client config: ${(error as Error).message}`);
  }
  const host = registryHostOf(reference);
  const source = credentialSource(config, host);
  if (source === undefined) {
    return undefined;
  }
  if ('auth' in source) {
    return source.auth;
  }
  return helperAnswer(await run(source.helper, host), host);
}
