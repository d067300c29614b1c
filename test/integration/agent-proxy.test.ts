/**
 * berth-agent behind the real host proxy: Debian's HAProxy, started from the
 * base config the readiness step ships, driven over its runtime API. What a
 * host does with a proxy: the first deploy opens the listener, a digest bump
 * switches slots without a reload, a failed health check never switches, a
 * reboot (proxy and engine restarted) serves again without a deploy, a
 * container that published its own port moves behind the proxy, stop-first,
 * two services deploying at once get their own slot ports, and remove closes
 * the listener only once what it carried has ended.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { agentScriptPath } from '../../components/service/agentScript';
import { PROXY_SLOT_PORTS } from '../../components/common/ports';
import { agentSpecJson, AgentServiceSpec } from '../../components/service/spec';
import { buildImage, docker, pushImage, run, runAsync, RunResult, TEST_REGISTRY, uniqueName } from '../support/docker';
import { freePort } from '../support/ports';
import { startProxy, TestProxy } from '../support/proxy';
import { slowCgiScript } from '../support/swapScenario';

const AGENT = agentScriptPath();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-proxy-it-'));
const roots = {
  BERTH_DATA_ROOT: path.join(scratch, 'data'),
  BERTH_CONFIG_ROOT: path.join(scratch, 'config'),
  BERTH_STATE_ROOT: path.join(scratch, 'state'),
  BERTH_LOCK_FILE: path.join(scratch, 'berth.lock'),
};
const service = uniqueName('px');
const other = uniqueName('py');
const repository = `${TEST_REGISTRY}/berth-it/${service}`;
const images: Record<'v1' | 'v2' | 'broken', string> = {} as never;
let proxy: TestProxy;
let port = 0;

function startScript(version: string): string {
  const serve = version === 'broken' ? ['echo "broken: serves nothing"', 'sleep 3600 &'] : [`echo ${version} > /www/version`, 'httpd -f -p 8080 -h /www &'];
  return ['#!/bin/sh', "trap 'exit 0' TERM", 'mkdir -p /www', ...serve, 'wait', ''].join('\n');
}

function spec(version: keyof typeof images, overrides: Partial<AgentServiceSpec> = {}): AgentServiceSpec {
  return {
    name: service,
    env: 'test',
    image: images[version],
    ports: [`127.0.0.1:${port}:8080`],
    health: { cmd: 'wget -q -O - http://127.0.0.1:8080/version', timeoutSeconds: 5 },
    proxyMode: 'http',
    drainSeconds: 5,
    stopTimeoutSeconds: 2,
    ...overrides,
  };
}

function agent(args: string[], input?: string, withProxy = true): RunResult {
  return run(AGENT, args, { input, env: { ...process.env, ...roots, ...(withProxy ? proxy.environment : {}) } });
}

const deploy = (value: AgentServiceSpec, withProxy = true): RunResult => agent(['deploy'], agentSpecJson(value), withProxy);
/** A deploy that leaves the event loop free, so two run at once. */
const deployAsync = (value: AgentServiceSpec): Promise<RunResult> => runAsync(AGENT, ['deploy'], { input: agentSpecJson(value), env: { ...process.env, ...roots, ...proxy.environment } });

async function get(onPort = port): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${onPort}/version`);
  if (!response.ok) {
    throw new Error(`GET /version answered ${response.status}`);
  }
  return (await response.text()).trim();
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
function accepts(onPort: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ host: '127.0.0.1', port: onPort }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** GET `target` on a connection of its own, closed after the answer (as a load balancer node's new one): the status and body, or the error. */
function request(target: string, onPort = port): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const sent = http.get({ host: '127.0.0.1', port: onPort, path: target, agent: false, timeout: 30_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode, body: body.trim() }));
      response.on('error', (error) => resolve({ status: response.statusCode, error: error.message }));
    });
    sent.on('timeout', () => sent.destroy(new Error('timeout')));
    sent.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the proxy counts a request in flight on the section's slot `slot`. */
async function untilInFlight(section: string, slot = 'a'): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await proxy.command('show stat');
    const lines = text.split('\n').filter((line) => line !== '');
    const columns = lines[0].slice(2).split(',');
    const [px, sv, scur] = ['pxname', 'svname', 'scur'].map((name) => columns.indexOf(name));
    if (lines.slice(1).some((line) => line.split(',')[px] === section && line.split(',')[sv] === slot && Number(line.split(',')[scur]) > 0)) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`no request in flight on ${section}/${slot} within 10s`);
    }
    await sleep(50);
  }
}

/** `berth-agent remove` of the service, leaving the event loop free for requests meanwhile. */
const removeAsync = (): Promise<RunResult> => runAsync(AGENT, ['remove', service, '--env', 'test'], { env: { ...process.env, ...roots, ...proxy.environment } });

/** The container's port bindings, as the engine reports them. */
function bindings(name: string): string {
  return docker('container', 'inspect', '--format', '{{json .HostConfig.PortBindings}}', name);
}

/** Server rows of `show stat` for a section: "server status", sorted. */
async function servers(section: string): Promise<string[]> {
  const text = await proxy.command('show stat');
  const lines = text.split('\n').filter((line) => line !== '');
  const columns = lines[0].slice(2).split(',');
  const [px, sv, status] = ['pxname', 'svname', 'status'].map((name) => columns.indexOf(name));
  return lines
    .slice(1)
    .map((line) => line.split(','))
    .filter((cells) => cells[px] === section && cells[sv] !== 'FRONTEND' && cells[sv] !== 'BACKEND')
    .map((cells) => `${cells[sv]} ${cells[status]}`)
    .sort();
}

const routeFile = (name = service) => JSON.parse(fs.readFileSync(path.join(roots.BERTH_STATE_ROOT, 'test', name, 'proxy.json'), 'utf8'));

beforeAll(() => {
  for (const version of Object.keys({ v1: 0, v2: 0, broken: 0 }) as (keyof typeof images)[]) {
    const tag = `${repository}:${version}`;
    buildImage({
      tag,
      instructions: ['COPY start.sh /start.sh', 'COPY www /www', 'RUN chmod 0755 /start.sh /www/cgi-bin/slow', 'CMD ["/start.sh"]'],
      // `/cgi-bin/slow` answers after 2 s (swapScenario's SLOW_SECONDS): a request still in flight when a step starts.
      files: { 'start.sh': startScript(version), 'www/cgi-bin/slow': slowCgiScript(version) },
    });
    images[version] = `${repository}@${pushImage(tag)}`;
  }
  proxy = startProxy(path.join(scratch, 'proxy'));
}, 120_000);

beforeEach(async () => {
  port = await freePort();
});

afterEach(() => {
  for (const name of [service, other]) {
    agent(['remove', name, '--env', 'test']);
  }
});

afterAll(() => {
  proxy.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('berth-agent behind the host proxy', () => {
  it('opens the listener on the first deploy, and a digest bump switches slots without a reload, the old slot drained and put in maintenance', async () => {
    const first = deploy(spec('v1'));
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`test/${service}: the host proxy sends port(s) ${port} to slot a (reloaded)\n`);
    expect(await get()).toBe('v1');
    const route = routeFile();
    const [slotA, slotB] = [route.listeners[0].slots.a, route.listeners[0].slots.b];
    expect(slotA).toBeGreaterThanOrEqual(PROXY_SLOT_PORTS.first);
    expect(slotB).toBeLessThanOrEqual(PROXY_SLOT_PORTS.last);
    // The container listens on its slot's loopback port only; the proxy holds the host port.
    expect(JSON.parse(bindings(`berth-test-${service}`))).toEqual({ '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(slotA) }] });
    expect(docker('container', 'inspect', '--format', '{{index .Config.Labels "berth.slot"}}', `berth-test-${service}`)).toBe('a');
    const section = `berth-test-${service}-${port}`;
    expect(await servers(section)).toEqual(['a no check', 'b MAINT']);
    const pid = (await proxy.command('show info')).match(/^Pid: (\d+)$/m)![1];

    const second = deploy(spec('v2'));
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);
    expect(second.stdout).toContain(`the host proxy sends port(s) ${port} to slot b (switched)\n`);
    expect(second.stdout).toContain(`test/${service}: the old container has drained\n`);
    expect(await get()).toBe('v2');
    expect(JSON.parse(bindings(`berth-test-${service}`))).toEqual({ '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(slotB) }] });
    expect(await servers(section)).toEqual(['a MAINT', 'b no check']);
    // No reload: the same proxy process serves.
    expect((await proxy.command('show info')).match(/^Pid: (\d+)$/m)![1]).toBe(pid);
    expect(routeFile()).toEqual({ ...route, active: 'b' });
    expect(proxy.files()[`test-${service}.cfg`]).toContain(`    server a 127.0.0.1:${slotA} disabled\n    server b 127.0.0.1:${slotB}\n`);
    // The next bump goes back to slot a.
    expect(deploy(spec('v1')).stdout).toContain('to slot a (switched)');
    expect(await get()).toBe('v1');
  }, 90_000);

  it('never switches on a failed health check: the old container serves throughout, the proxy untouched', async () => {
    expect(deploy(spec('v1')).status).toBe(0);
    const section = `berth-test-${service}-${port}`;
    const file = proxy.files()[`test-${service}.cfg`];
    const failed = deploy(spec('broken'));
    expect(failed.status).toBe(1);
    expect(failed.stdout).not.toContain('the host proxy sends');
    expect(failed.stdout).not.toContain('stopping the old container');
    expect(await get()).toBe('v1');
    expect(await servers(section)).toEqual(['a no check', 'b MAINT']);
    expect(proxy.files()[`test-${service}.cfg`]).toBe(file);
    expect(routeFile().active).toBe('a');
    expect(fs.existsSync(path.join(roots.BERTH_STATE_ROOT, 'test', service, 'next'))).toBe(false);
  }, 90_000);

  it('serves again after a reboot (the proxy and the container restarted) without a deploy', async () => {
    expect(deploy(spec('v1')).status).toBe(0);
    expect(deploy(spec('v2')).status).toBe(0);
    proxy.restart();
    docker('container', 'restart', '--time', '1', `berth-test-${service}`);
    const deadline = Date.now() + 15_000;
    let answer = '';
    while (Date.now() < deadline) {
      answer = await get().catch((error: Error) => error.message);
      if (answer === 'v2') {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(answer).toBe('v2');
    expect(await servers(`berth-test-${service}-${port}`)).toEqual(['a MAINT', 'b no check']);
    // And the agent finds everything as it left it.
    expect(deploy(spec('v2')).stdout).toContain('nothing to do');
  }, 90_000);

  it('moves a container that publishes its own port behind the proxy, then swaps as usual', async () => {
    const direct = deploy(spec('v1'), false);
    expect(direct.status).toBe(0);
    expect(JSON.parse(bindings(`berth-test-${service}`))).toEqual({ '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    // The same spec: the container is not behind the proxy yet, so this is not "nothing to do".
    const moved = deploy(spec('v1'));
    expect(moved.stderr).toBe('');
    expect(moved.status).toBe(0);
    expect(moved.stdout).toContain('stopping the old container, which publishes its own ports, so the host proxy can take them over');
    expect(moved.stdout).toContain(`to slot a (reloaded)`);
    expect(await get()).toBe('v1');
    expect(JSON.parse(bindings(`berth-test-${service}`))['8080/tcp'][0].HostPort).toBe(String(routeFile().listeners[0].slots.a));
    expect(deploy(spec('v2')).stdout).toContain('to slot b (switched)');
  }, 90_000);

  it('stop-first drains and stops the old container before the new one starts, and still serves behind the proxy', async () => {
    expect(deploy(spec('v1', { update: 'stop-first' })).status).toBe(0);
    const result = deploy(spec('v2', { update: 'stop-first' }));
    expect(result.status).toBe(0);
    const lines = result.stdout.split('\n');
    const at = (text: string) => lines.findIndex((line) => line.includes(text));
    expect(at('the old container has drained')).toBeGreaterThan(-1);
    expect(at('the old container has drained')).toBeLessThan(at('stopping the old container first: the service updates stop-first'));
    expect(at('stopping the old container first')).toBeLessThan(at('starting '));
    expect(at('starting ')).toBeLessThan(at('to slot b (switched)'));
    expect(await get()).toBe('v2');
  }, 90_000);

  it('gives two services deploying at once their own slot ports', async () => {
    const otherPort = await freePort();
    const [one, two] = await Promise.all([
      deployAsync(spec('v1')),
      deployAsync(spec('v2', { name: other, ports: [`127.0.0.1:${otherPort}:8080`] })),
    ]);
    expect([one.status, two.status]).toEqual([0, 0]);
    expect(await get()).toBe('v1');
    expect(await get(otherPort)).toBe('v2');
    const slots = [routeFile(service), routeFile(other)].flatMap((route) => [route.listeners[0].slots.a, route.listeners[0].slots.b]);
    expect(new Set(slots).size).toBe(4);
  }, 90_000);

  it('after a reload (a new proxy mode), waits for the replaced proxy process to finish its connections before the old container stops', async () => {
    expect(deploy(spec('v1', { proxyMode: 'tcp' })).status).toBe(0);
    // An open connection through the proxy to the old container, with no request yet: the old
    // proxy process keeps it after the reload, and the new process cannot see it.
    const held = net.createConnection({ host: '127.0.0.1', port });
    await new Promise((resolve) => held.once('connect', resolve));
    const result = deploy(spec('v2', { proxyMode: 'http', drainSeconds: 2 }));
    held.destroy();
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('to slot b (reloaded)');
    expect(result.stderr).toContain(`test/${service}: 1 request(s) or connection(s) were still in flight on the old container after the 2s drain`);
    expect(await get()).toBe('v2');
  }, 90_000);

  it("refuses a second service on a port the first one's listener holds (a rename in one up): the first serves on", async () => {
    expect(deploy(spec('v1')).status).toBe(0);
    const clash = deploy(spec('v2', { name: other }));
    expect(clash.status).toBe(1);
    expect(clash.stderr).toContain(`test/${other}: the host proxy already carries test/${service} (port ${port}) for another service; nothing was changed`);
    expect(await get()).toBe('v1');
    expect(Object.keys(proxy.files()).sort()).toEqual([`test-${service}.cfg`]);
  }, 90_000);

  it('closes the listener and forgets the route on remove', async () => {
    expect(deploy(spec('v1')).status).toBe(0);
    expect(await accepts(port)).toBe(true);
    const removed = agent(['remove', service, '--env', 'test']);
    expect(removed.status).toBe(0);
    expect(removed.stdout).toContain(`test/${service}: the host proxy no longer listens on port(s) ${port}\n`);
    expect(await accepts(port)).toBe(false);
    expect(proxy.files()).not.toHaveProperty(`test-${service}.cfg`);
    expect(await servers(`berth-test-${service}-${port}`)).toEqual([]);
  }, 90_000);

  // The load balancer's registration of the host is deleted before remove runs: it keeps its
  // in-flight requests on the host, and sends a few new ones while the deregistration propagates.
  it('on remove, lets a request in flight through the proxy finish and serves a new one that comes a second later, then closes the listener', async () => {
    expect(deploy(spec('v1', { drainSeconds: 20 })).status).toBe(0);
    const slow = request('/cgi-bin/slow');
    await untilInFlight(`berth-test-${service}-${port}`);
    const removing = removeAsync();
    await sleep(1000);
    const late = await request('/version');
    const [answered, removed] = await Promise.all([slow, removing]);
    expect(answered).toEqual({ status: 200, body: 'slow v1' });
    expect(late).toEqual({ status: 200, body: 'v1' });
    expect(removed.stderr).toBe('');
    expect(removed.status).toBe(0);
    const lines = removed.stdout.split('\n');
    const closed = lines.indexOf(`berth-agent: test/${service}: the host proxy no longer listens on port(s) ${port}`);
    const waited = lines.findIndex((line) => /: waited [0-9.]+s for the host proxy's last requests \(drain time 20s\); none is left$/.test(line));
    expect(closed).toBeGreaterThan(-1);
    expect(waited).toBe(closed + 1);
    expect(lines.findIndex((line) => line.includes('removed container'))).toBeGreaterThan(waited);
    // Not before the 10 s floor, however quiet the slot was.
    expect(Number(/waited ([0-9.]+)s/.exec(lines[waited])![1])).toBeGreaterThanOrEqual(10);
    expect(await accepts(port)).toBe(false);
  }, 90_000);

  it('on remove, keeps the listener open while short requests keep coming, until none has come for 2 s', async () => {
    expect(deploy(spec('v1', { drainSeconds: 20 })).status).toBe(0);
    const started = Date.now();
    const removing = removeAsync();
    // Each is answered at once: only HAProxy's count of sessions given (stot) sees them between two looks.
    // They go on past the 10 s floor, so the last one, not the floor, sets when the listener closes.
    const answers: Awaited<ReturnType<typeof request>>[] = [];
    for (let sent = 0; sent < 24; sent++) {
      answers.push(await request('/version'));
      await sleep(500);
    }
    const lastSent = Date.now() - started - 500;
    const removed = await removing;
    expect(answers).toEqual(Array(24).fill({ status: 200, body: 'v1' }));
    expect(removed.status).toBe(0);
    expect(removed.stderr).toBe('');
    expect(Date.now() - started).toBeGreaterThanOrEqual(lastSent + 2000);
    expect(await accepts(port)).toBe(false);
  }, 90_000);

  it('on remove with drainSeconds 0, closes at once: a request in flight is cut, and the output says so', async () => {
    expect(deploy(spec('v1', { drainSeconds: 0 })).status).toBe(0);
    const slow = request('/cgi-bin/slow');
    await untilInFlight(`berth-test-${service}-${port}`);
    const removed = await removeAsync();
    const answered = await slow;
    expect(removed.status).toBe(0);
    expect(answered).not.toEqual({ status: 200, body: 'slow v1' });
    expect(removed.stderr).toMatch(new RegExp(`test/${service}: timed out after [0-9.]+s \\(drain time 0s\\) waiting for the host proxy's last requests: 1 request\\(s\\) or connection\\(s\\) still in flight are cut\n`));
  }, 90_000);
});
