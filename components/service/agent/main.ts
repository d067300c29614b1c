/**
 * berth-agent: converges Docker services on this host from JSON specs, over
 * the Docker Engine API on the local socket. `npm run build` bundles this file
 * and everything it imports into dist/agent/berth-agent.js, which needs only
 * Node.js 24 and Docker on the host. The contract (commands, exit codes,
 * on-host layout) is in README.md beside this file.
 *
 * Exit status: 0 done (or nothing to do), 1 the action failed, 2 the input was
 * refused and nothing was touched.
 */
import { USAGE, parseCommand, UsageRefused } from './cli';
import { history, remove, status, statusTable } from './commands';
import { AgentContext, Failed, prefixed, Refused } from './context';
import { credentialsFor } from './credentials';
import { deploy, rollback } from './deploy';
import { EngineError, EngineUnreachable } from './engine';
import { HOST_PATHS } from '../../host/paths';
import { parseHostEnvironment, proxyPathsFrom, readIfPresent, rootsFrom } from './layout';
import { HaproxyRuntime } from './proxy';
import { HostLocks, LockTimeout } from './locks';
import { prune } from './prune';
import { engineSocketPath, SocketEngine } from './socketEngine';

/** How long a deploy waits for another deploy of the service, or for a prune (and a prune for deploys). */
export const LOCK_WAIT_SECONDS = 900;

export interface AgentIo {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  readStdin(): Promise<string>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** The context to run with; main() builds the real one from `env`. */
  context(say: (line: string) => void, warn: (text: string) => void): AgentContext & { close?(): void };
}

/** Runs one agent command; resolves the exit status. Every failure is reported here, once. */
export async function runAgent(io: AgentIo): Promise<number> {
  let command;
  try {
    command = parseCommand(io.argv);
  } catch (error) {
    if (error instanceof UsageRefused) {
      io.stderr(USAGE);
    }
    io.stderr(`${prefixed(`refused: ${(error as Error).message}`)}\n`);
    return 2;
  }
  if (command.command === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  let context: (AgentContext & { close?(): void }) | undefined;
  try {
    context = io.context(
      (line) => io.stdout(`${prefixed(line)}\n`),
      (text) => io.stderr(`${prefixed(text)}\n`),
    );
    switch (command.command) {
      case 'deploy':
        await deploy(context, await io.readStdin(), command);
        break;
      case 'rollback':
        await rollback(context, command.env, command.name);
        break;
      case 'remove':
        await remove(context, command.env, command.name, command.deployment);
        break;
      case 'status': {
        const rows = await status(context, command);
        io.stdout(command.json ? `${JSON.stringify(rows, null, 2)}\n` : statusTable(rows));
        break;
      }
      case 'history':
        io.stdout(history(context, command.env, command.name).map((line) => `${line}\n`).join(''));
        break;
      case 'prune':
        await prune(context, command);
        break;
    }
    return 0;
  } catch (error) {
    if (error instanceof Refused) {
      io.stderr(`${prefixed(`refused: ${error.message}`)}\n`);
      return 2;
    }
    if (error instanceof Failed || error instanceof EngineUnreachable || error instanceof EngineError || error instanceof LockTimeout) {
      io.stderr(`${prefixed(`error: ${error.message}`)}\n`);
      return 1;
    }
    io.stderr(`${prefixed(`error: unexpected: ${(error as Error).stack ?? String(error)}`)}\n`);
    return 1;
  } finally {
    context?.close?.();
  }
}

/** The context a host runs with: the engine on DOCKER_HOST's socket, the roots and locks from the environment. */
export function hostContext(env: NodeJS.ProcessEnv, say: (line: string) => void, warn: (text: string) => void): AgentContext & { close(): void } {
  const hostEnvironment = parseHostEnvironment(readIfPresent(HOST_PATHS.hostEnvironment) ?? '');
  const roots = rootsFrom(env, hostEnvironment);
  const proxyPaths = proxyPathsFrom(env, hostEnvironment);
  const wait = env.BERTH_LOCK_WAIT_SECONDS ?? String(LOCK_WAIT_SECONDS);
  if (!/^[0-9]+$/.test(wait)) {
    throw new Refused(`BERTH_LOCK_WAIT_SECONDS must be whole seconds, got ${wait}`);
  }
  const engine = new SocketEngine(engineSocketPath(env.DOCKER_HOST));
  return {
    engine,
    proxy:
      proxyPaths === undefined
        ? undefined
        : {
            runtime: new HaproxyRuntime({ socket: proxyPaths.socket, masterSocket: proxyPaths.masterSocket, binary: proxyPaths.binary, configs: [proxyPaths.config, proxyPaths.servicesDir] }),
            servicesDir: proxyPaths.servicesDir,
          },
    roots,
    locks: new HostLocks(roots.lockFile),
    lockWaitMs: Number(wait) * 1000,
    credentials: (reference) => credentialsFor(reference, roots.dockerConfig),
    say,
    warn,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
    close: () => engine.close(),
  };
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/* istanbul ignore next: the bundle's entry, run by the integration tests */
if (require.main === module) {
  // State, secrets and the audit log are root-only; config files are opened up explicitly.
  process.umask(0o077);
  // A dropped SSH session must not stop a deploy half-way (the old container stopped, the new one
  // not yet healthy): the hang-up is ignored, and so is output nobody reads any more.
  process.on('SIGHUP', () => undefined);
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  void runAgent({
    argv: process.argv.slice(2),
    env: process.env,
    readStdin,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    context: (say, warn) => hostContext(process.env, say, warn),
  }).then((code) => {
    process.exitCode = code;
  });
}
