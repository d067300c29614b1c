/**
 * The agent's locks, on Linux abstract unix sockets: binding a name is atomic
 * and the kernel lets go of it when the process ends, however it ends, so a
 * killed deploy never leaves a stale lock. Nothing is written to disk.
 *
 * - One deploy, rollback or remove of a service at a time (per environment).
 * - Deploys against prunes: every deploy holds a name of its own for as long
 *   as it runs; a prune takes the prune name, then waits until no deploy name
 *   is left. A deploy that finds a prune at work lets go and waits, so a prune
 *   never runs between a pull and the container that uses the image, and a
 *   steady stream of deploys cannot starve it.
 *
 * Every name carries a key from the lock file path, so each host (and each
 * test's scratch host) has its own set.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';

export class LockTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LockTimeout';
  }
}

export interface Held {
  release(): Promise<void>;
}

const POLL_MS = 50;
const MAX_NAME_BYTES = 107;
let counter = 0;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Binds abstract name `name`; resolves undefined when another process (or this one) holds it. */
function bind(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(undefined) : reject(error)));
    server.listen({ path: `\0${name}` }, () => {
      server.unref();
      resolve(server);
    });
  });
}

function unbind(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Whether some process holds abstract name `name`. */
function isHeld(name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: `\0${name}` });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    // Only a refused connection means nobody holds it; any other answer counts as held.
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code !== 'ECONNREFUSED'));
  });
}

/** Abstract socket names bound in this network namespace that start with `prefix`. */
export function boundNames(prefix: string, table = '/proc/net/unix'): string[] {
  const names: string[] = [];
  for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
    const name = line.trim().split(/\s+/)[7];
    if (name?.startsWith(`@${prefix}`)) {
      names.push(name.slice(1));
    }
  }
  return names;
}

export class HostLocks {
  private readonly key: string;

  /** `lockFile` names the host's lock set ($BERTH_LOCK_FILE); it is never created. */
  constructor(lockFile: string) {
    this.key = createHash('sha256').update(path.resolve(lockFile)).digest('hex').slice(0, 16);
  }

  /**
   * An abstract name holds at most 107 bytes (sun_path, after the leading
   * NUL): a longer one is cut to that, and two services with long names
   * would share one lock. A kind that does not fit goes by its hash.
   */
  private name(kind: string): string {
    const name = `berth-${this.key}-${kind}`;
    return Buffer.byteLength(name) <= MAX_NAME_BYTES ? name : `berth-${this.key}-${createHash('sha256').update(kind).digest('hex')}`;
  }

  /** The service's own lock, then a deploy name; waits at most `waitMs` for both. */
  async forService(env: string, service: string, waitMs: number): Promise<Held> {
    const deadline = Date.now() + waitMs;
    const own = await this.take(this.name(`service-${env}/${service}`), deadline);
    if (own === undefined) {
      throw new LockTimeout(`${env}/${service}: another berth-agent held the lock for ${Math.round(waitMs / 1000)}s`);
    }
    const deploying = this.name(`deploying-${process.pid}-${++counter}`);
    for (;;) {
      const mine = await bind(deploying);
      if (mine === undefined) {
        throw new Error(`lock name ${deploying} is taken`);
      }
      if (!(await isHeld(this.name('prune')))) {
        return { release: async () => void (await Promise.all([unbind(mine), unbind(own)])) };
      }
      await unbind(mine);
      if (Date.now() >= deadline) {
        await unbind(own);
        throw new LockTimeout(`a prune held the host's lock for ${Math.round(waitMs / 1000)}s`);
      }
      await sleep(POLL_MS);
    }
  }

  /** The prune lock: no other prune, and no deploy running; waits at most `waitMs`. */
  async forPrune(waitMs: number): Promise<Held> {
    const deadline = Date.now() + waitMs;
    const mine = await this.take(this.name('prune'), deadline);
    if (mine === undefined) {
      throw new LockTimeout(`another prune held the host's lock for ${Math.round(waitMs / 1000)}s`);
    }
    while (boundNames(this.name('deploying-')).length > 0) {
      if (Date.now() >= deadline) {
        await unbind(mine);
        throw new LockTimeout(`deploys held the host's lock for ${Math.round(waitMs / 1000)}s`);
      }
      await sleep(POLL_MS);
    }
    return { release: () => unbind(mine) };
  }

  /** The host proxy's lock: its files, slot ports and reloads, one agent at a time; waits at most `waitMs`. */
  async forProxy(waitMs: number): Promise<Held> {
    const mine = await this.take(this.name('proxy'), Date.now() + waitMs);
    if (mine === undefined) {
      throw new LockTimeout(`another berth-agent held the host proxy's lock for ${Math.round(waitMs / 1000)}s`);
    }
    return { release: () => unbind(mine) };
  }

  private async take(name: string, deadline: number): Promise<net.Server | undefined> {
    for (;;) {
      const server = await bind(name);
      if (server !== undefined || Date.now() >= deadline) {
        return server;
      }
      await sleep(POLL_MS);
    }
  }
}
