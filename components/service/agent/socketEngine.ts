/**
 * The Engine interface over the Docker Engine API on the local socket: one
 * HTTP request per step, no `docker` process. DOCKER_HOST may name another
 * unix socket (`unix:///run/other.sock`), as the CLI allows.
 */
import * as http from 'http';
import {
  ContainerCreateBody,
  ContainerDetails,
  ContainerSummary,
  Engine,
  EngineError,
  EngineUnreachable,
  ExecResult,
  Filters,
  ImageSummary,
  PruneReport,
  RegistryAuth,
} from './engine';

/** The socket DOCKER_HOST names (unix:// only), or the default one. */
export function engineSocketPath(dockerHost: string | undefined): string {
  if (dockerHost === undefined || dockerHost === '') {
    return '/var/run/docker.sock';
  }
  if (!dockerHost.startsWith('unix://')) {
    throw new EngineUnreachable(`DOCKER_HOST must name a unix socket (unix:///path), got ${dockerHost}`);
  }
  return dockerHost.slice('unix://'.length);
}

/**
 * The Engine API version the agent speaks: Docker 20.10's, which every later
 * engine still serves (Docker 25 serves 1.24 to 1.44), so an engine upgrade
 * never changes what a call means.
 */
export const ENGINE_API_VERSION = '1.41';
/** How long an ordinary call may take before the engine counts as wedged. */
const CALL_LIMIT_MS = 5 * 60_000;
/** Pulls and stops (a stop waits for the container's own stop timeout) may take longer. */
const LONG_CALL_LIMIT_MS = 60 * 60_000;

interface Answer {
  status: number;
  body: Buffer;
}

/** Splits the engine's multiplexed stdout/stderr stream (8-byte frame headers) into text. */
export function demultiplex(stream: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= stream.length) {
    const size = stream.readUInt32BE(at + 4);
    parts.push(stream.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** X-Registry-Auth: the credentials as JSON, base64url with padding, as the CLI sends them. */
export function registryAuthHeader(auth: RegistryAuth): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** The error a pull's progress stream ends with, if any (the engine answers 200 and reports failures in the stream). */
export function pullStreamError(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    try {
      const event = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
      if (event.error !== undefined || event.errorDetail !== undefined) {
        return event.errorDetail?.message ?? event.error;
      }
    } catch {
      return `unreadable answer from the engine: ${line.slice(0, 200)}`;
    }
  }
  return undefined;
}

function splitReference(reference: string): { name: string; tag: string } {
  const at = reference.indexOf('@');
  if (at >= 0) {
    return { name: reference.slice(0, at), tag: reference.slice(at + 1) };
  }
  const colon = reference.lastIndexOf(':');
  return colon > reference.lastIndexOf('/') ? { name: reference.slice(0, colon), tag: reference.slice(colon + 1) } : { name: reference, tag: 'latest' };
}

function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries).toString()}`;
}

function message(answer: Answer): string {
  const text = answer.body.toString('utf8');
  try {
    return (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    return text.trim() || `HTTP ${answer.status}`;
  }
}

export class SocketEngine implements Engine {
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(private readonly socketPath: string) {}

  /** Lets the process exit: closes the kept-alive connection. */
  close(): void {
    this.agent.destroy();
  }

  /**
   * One call. `timeoutMs` ends it with a TimeoutError for the caller to
   * handle (an exec's health check); otherwise `limitMs` (5 minutes by
   * default) ends it as an unreachable engine, so a wedged dockerd cannot
   * hold a service's lock for ever.
   */
  private request(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number; limitMs?: number } = {}): Promise<Answer> {
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const limit = options.timeoutMs ?? options.limitMs ?? CALL_LIMIT_MS;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = <T>(done: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        done(value);
      };
      resolve = settle(resolve);
      reject = settle(reject);
      const request = http.request(
        {
          socketPath: this.socketPath,
          path: `/v${ENGINE_API_VERSION}${path}`,
          method,
          agent: this.agent,
          headers: {
            ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) }),
            ...options.headers,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
          response.on('error', reject);
        },
      );
      timer = setTimeout(() => request.destroy(new TimeoutError(limit)), limit);
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof TimeoutError && options.timeoutMs === undefined) {
          reject(new EngineUnreachable(`the Docker engine at ${this.socketPath} did not answer ${method} ${path.split('?')[0]} within ${Math.round(limit / 1000)}s`));
        } else if (error instanceof TimeoutError) {
          reject(error);
        } else if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'EACCES' || error.code === 'ENOTSOCK') {
          reject(new EngineUnreachable(`cannot reach the Docker engine at ${this.socketPath}: ${error.code}; is dockerd running?`));
        } else {
          reject(error);
        }
      });
      request.end(payload);
    });
  }

  /** A request that must succeed (2xx). */
  private async call(method: string, path: string, body?: unknown): Promise<Answer> {
    const answer = await this.request(method, path, { body });
    if (answer.status < 200 || answer.status > 299) {
      throw new EngineError(message(answer), answer.status);
    }
    return answer;
  }

  private json<T>(answer: Answer): T {
    return JSON.parse(answer.body.toString('utf8')) as T;
  }

  async listContainers(filters: Filters, options: { size?: boolean } = {}): Promise<ContainerSummary[]> {
    const answer = await this.call('GET', `/containers/json${query({ all: '1', size: options.size ? '1' : undefined, filters: JSON.stringify(filters) })}`);
    return this.json<ContainerSummary[]>(answer);
  }

  async inspectContainer(nameOrId: string): Promise<ContainerDetails | undefined> {
    const answer = await this.request('GET', `/containers/${encodeURIComponent(nameOrId)}/json`);
    if (answer.status === 404) {
      return undefined;
    }
    if (answer.status !== 200) {
      throw new EngineError(message(answer), answer.status);
    }
    return this.json<ContainerDetails>(answer);
  }

  async createContainer(name: string, body: ContainerCreateBody): Promise<string> {
    const answer = await this.call('POST', `/containers/create${query({ name })}`, body);
    return this.json<{ Id: string }>(answer).Id;
  }

  async startContainer(id: string): Promise<void> {
    const answer = await this.request('POST', `/containers/${id}/start`);
    // 304: already running (the old container a failed deploy restores may never have been stopped).
    if (answer.status !== 204 && answer.status !== 304) {
      throw new EngineError(message(answer), answer.status);
    }
  }

  async stopContainer(id: string): Promise<void> {
    const answer = await this.request('POST', `/containers/${id}/stop`, { limitMs: LONG_CALL_LIMIT_MS });
    // 304: already stopped.
    if (answer.status !== 204 && answer.status !== 304) {
      throw new EngineError(message(answer), answer.status);
    }
  }

  async removeContainer(id: string): Promise<void> {
    await this.call('DELETE', `/containers/${id}${query({ force: '1' })}`);
  }

  async renameContainer(id: string, name: string): Promise<void> {
    await this.call('POST', `/containers/${id}/rename${query({ name })}`);
  }

  async exec(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const created = this.json<{ Id: string }>(
      await this.call('POST', `/containers/${id}/exec`, { Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false }),
    );
    let stream: Answer;
    try {
      stream = await this.request('POST', `/exec/${created.Id}/start`, { body: { Detach: false, Tty: false }, timeoutMs });
    } catch (error) {
      if (error instanceof TimeoutError) {
        return { exitCode: 124, output: `timed out after ${Math.round(timeoutMs / 100) / 10}s` };
      }
      throw error;
    }
    if (stream.status !== 200) {
      throw new EngineError(message(stream), stream.status);
    }
    const inspected = this.json<{ ExitCode: number | null }>(await this.call('GET', `/exec/${created.Id}/json`));
    return { exitCode: inspected.ExitCode ?? 1, output: demultiplex(stream.body) };
  }

  async logs(id: string, lines: number): Promise<string> {
    const answer = await this.call('GET', `/containers/${id}/logs${query({ stdout: '1', stderr: '1', tail: String(lines) })}`);
    return demultiplex(answer.body);
  }

  async hasImage(reference: string): Promise<boolean> {
    const answer = await this.request('GET', `/images/${reference}/json`);
    return answer.status === 200;
  }

  async pullImage(reference: string, auth?: RegistryAuth): Promise<void> {
    const { name, tag } = splitReference(reference);
    const answer = await this.request('POST', `/images/create${query({ fromImage: name, tag })}`, {
      headers: auth === undefined ? {} : { 'X-Registry-Auth': registryAuthHeader(auth) },
      limitMs: LONG_CALL_LIMIT_MS,
    });
    if (answer.status !== 200) {
      throw new EngineError(message(answer), answer.status);
    }
    const failure = pullStreamError(answer.body.toString('utf8'));
    if (failure !== undefined) {
      throw new EngineError(failure, 500);
    }
  }

  async tagImage(source: string, repository: string, tag: string): Promise<void> {
    await this.call('POST', `/images/${source}/tag${query({ repo: repository, tag })}`);
  }

  async removeImage(reference: string): Promise<void> {
    await this.call('DELETE', `/images/${reference}`);
  }

  async listImages(filters: Filters): Promise<ImageSummary[]> {
    return this.json<ImageSummary[]>(await this.call('GET', `/images/json${query({ filters: JSON.stringify(filters) })}`));
  }

  async pruneImages(filters: Filters): Promise<PruneReport> {
    return this.json<PruneReport>(await this.call('POST', `/images/prune${query({ filters: JSON.stringify(filters) })}`));
  }
}

class TimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
  }
}
