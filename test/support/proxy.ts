/**
 * A host proxy for the integration tests: Debian's HAProxy (the test bed
 * installs it) started as berth-proxy.service starts it on a host, master and
 * worker, from the base config Berth renders, in a scratch folder. The agent
 * reaches it through the variables of `environment`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { renderProxyBaseConfig } from '../../components/host/proxyConfig';
import { HaproxyRuntime } from '../../components/service/agent/proxy';

export interface TestProxy {
  dir: string;
  /** The variables that point berth-agent at this proxy (what host.env says on a host). */
  environment: Record<string, string>;
  /** One runtime API command; its answer. */
  command(line: string): Promise<string>;
  /** The service files the agent wrote, by name. */
  files(): Record<string, string>;
  /** Kills the master and its workers. */
  stop(): void;
  /** Kills and starts again from the files: what a reboot does. */
  restart(): void;
}

export const HAPROXY = '/usr/sbin/haproxy';

/** A child process that exits 0 when the socket answers the command with something. */
const PROBE = "const c=require('net').createConnection(process.argv[1],()=>c.end(process.argv[2]+'\\n'));let n=0;c.on('data',d=>n+=d.length);c.on('error',()=>process.exit(1));c.on('close',()=>process.exit(n>0?0:1));";

export function startProxy(dir: string): TestProxy {
  fs.mkdirSync(path.join(dir, 'services'), { recursive: true });
  const socket = path.join(dir, 'admin.sock');
  const masterSocket = path.join(dir, 'master.sock');
  const config = path.join(dir, 'haproxy.cfg');
  const servicesDir = path.join(dir, 'services');
  const pidFile = path.join(dir, 'haproxy.pid');
  fs.writeFileSync(config, renderProxyBaseConfig({ socket, log: null }));
  const start = () => {
    const result = spawnSync(HAPROXY, ['-W', '-D', '-f', config, '-f', servicesDir, '-S', `${masterSocket},mode,600`, '-p', pidFile], { encoding: 'utf8' });
    if (result.status !== 0) {
      throw new Error(`haproxy did not start: ${result.stderr}`);
    }
    // Up once both the worker's runtime API and the master CLI answer.
    const deadline = Date.now() + 10_000;
    const answers = (path: string, line: string) => spawnSync(process.execPath, ['-e', PROBE, path, line], { encoding: 'utf8' }).status === 0;
    while (!answers(socket, 'show info') || !answers(masterSocket, 'show proc')) {
      if (Date.now() > deadline) {
        throw new Error('haproxy did not answer on its runtime socket and master CLI within 10s');
      }
      spawnSync('sleep', ['0.05']);
    }
  };
  const stop = () => {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim().split('\n')[0]);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      spawnSync('sleep', ['0.05']);
    }
    fs.rmSync(socket, { force: true });
    fs.rmSync(masterSocket, { force: true });
  };
  start();
  return {
    dir,
    environment: {
      BERTH_PROXY_SOCKET: socket,
      BERTH_PROXY_MASTER_SOCKET: masterSocket,
      BERTH_PROXY_BINARY: HAPROXY,
      BERTH_PROXY_CONFIG: config,
      BERTH_PROXY_SERVICES: servicesDir,
    },
    command: (line) => new HaproxyRuntime({ socket, masterSocket, binary: HAPROXY, configs: [config, servicesDir] }).command(line),
    files: () => Object.fromEntries(fs.readdirSync(servicesDir).sort().map((name) => [name, fs.readFileSync(path.join(servicesDir, name), 'utf8')])),
    stop,
    restart: () => {
      stop();
      start();
    },
  };
}

/** Stops a proxy `startProxy(dir)` started, if one runs there (by its pid file). */
export function stopProxyIn(dir: string): void {
  const pidFile = path.join(dir, 'haproxy.pid');
  if (!fs.existsSync(pidFile)) {
    return;
  }
  try {
    process.kill(Number(fs.readFileSync(pidFile, 'utf8').trim().split('\n')[0]), 'SIGTERM');
  } catch {
    // Gone already.
  }
}
