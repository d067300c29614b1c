/**
 * The engine's lifecycle replayed against the real agent and engine: for a
 * digest change, a replacement of a deploy step, a destroy, a service moved
 * to another host, and all of these behind the host proxy, the commands ContainerService renders (taken from the mocked
 * graph) run on the host in the order the Pulumi engine would run them, and
 * the test checks what serves after each. LIFECYCLE.md beside this file says
 * which engine behaviour each case models and where it is documented.
 *
 * "Hosts" are the test bed's two engines (the default one and the second one
 * on SECOND_ENGINE_HOST), each with its own agent folders.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ContainerService, ContainerServiceArgs } from '../../components/service/containerService';
import { buildImage, docker, pushImage, run, runAsync, SECOND_ENGINE_HOST, TEST_REGISTRY, uniqueName } from '../support/docker';
import { destroyOrder, replacementOrder, stepFor } from '../support/engine';
import { fakeHost, LocalHost, localHost } from '../support/hosts';
import { startOpenLoad } from '../support/openLoad';
import { freePort } from '../support/ports';
import { startProxy, TestProxy } from '../support/proxy';
import { evaluate, valueOf } from '../support/pulumi';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lifecycle-'));
const env = 'test';
const service = uniqueName('lc');
const repository = `${TEST_REGISTRY}/berth-it/${service}`;
const images: Record<'v1' | 'v2', string> = { v1: '', v2: '' };
const hostA = localHost(work, 'host-a');
const hostB = localHost(work, 'host-b', SECOND_ENGINE_HOST);
// Host A's proxy, as a Berth host runs one; only case (e) publishes a port through it.
let proxy: TestProxy;

/** One deploy step as the engine holds it: its inputs and options, and the text it runs. */
interface Step {
  name: string;
  inputs: Record<string, unknown>;
  deleteBeforeReplace: boolean;
  dependsOn: string[];
  create: string;
  update: string;
  delete: string;
  stdin: string;
}

/** The steps one program declares for the service, as `pulumi up` would hand them to the provider. */
async function declare(version: 'v1' | 'v2', hosts: string[], overrides: Partial<ContainerServiceArgs> & { resourceName?: string } = {}): Promise<Step[]> {
  const { resourceName = 'web', ...args } = overrides;
  const { ofType, runtime, result } = await evaluate(
    () =>
      new ContainerService(resourceName, {
        env,
        serviceName: service,
        image: images[version],
        hosts: hosts.map((host) => fakeHost(host)),
        health: { cmd: 'wget -q -O - http://127.0.0.1:8080/version', timeoutSeconds: 20 },
        logging: { driver: 'local' },
        ...args,
      }),
  );
  const stdins = await Promise.all(result.deployments.map((deployment) => valueOf(deployment.stdin)));
  return ofType('command:remote:Command')
    .filter((resource) => resource.parent === resourceName)
    .map((resource) => {
      const options = runtime.optionsOf(resource.type, resource.name);
      const index = result.deployments.findIndex((_, i) => `${resourceName}-${hosts[i]}` === resource.name);
      return {
        name: resource.name,
        inputs: resource.inputs,
        deleteBeforeReplace: options.deleteBeforeReplace,
        dependsOn: options.dependsOn,
        create: String(resource.inputs.create),
        update: String(resource.inputs.update),
        delete: String(resource.inputs.delete),
        stdin: String(stdins[index]),
      };
    });
}

function onHost(host: LocalHost, text: string, stdin?: string): void {
  const result = run('bash', ['-c', text], { input: stdin, env: host.env });
  if (result.status !== 0) {
    throw new Error(`on ${host.name}: ${text} exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
}

/** What the service serves on a host, or undefined when no container of it runs there. */
function serving(host: LocalHost): string | undefined {
  const result = run('docker', ['exec', `berth-${env}-${service}`, 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/version'], { env: host.env });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Every container of the service on a host, any state, sorted. */
function containers(host: LocalHost): string[] {
  const out = run('docker', ['container', 'ls', '--all', '--format', '{{.Names}} {{.State}}', '--filter', `label=berth.service=${service}`], { env: host.env }).stdout.trim();
  return out === '' ? [] : out.split('\n').sort();
}

function auditResults(host: LocalHost): string[] {
  const file = path.join(host.dataRoot, 'berth', 'audit.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => line.replace(/^\S+ /, '').replace(/ from=\S+ to=\S+/, '')) : [];
}

beforeAll(() => {
  for (const version of ['v1', 'v2'] as const) {
    const tag = `${repository}:${version}`;
    buildImage({
      tag,
      instructions: [`RUN mkdir -p /www && echo ${version} > /www/version`, 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]'],
    });
    images[version] = `${repository}@${pushImage(tag)}`;
    docker('image', 'rm', tag);
  }
});

afterEach(() => {
  for (const host of [hostA, hostB]) {
    onHost({ ...host, env: { ...host.env, ...proxy.environment } }, `sudo /usr/local/bin/berth-agent remove ${service} --env ${env}`);
  }
});

beforeAll(() => {
  proxy = startProxy(path.join(work, 'proxy'));
});

afterAll(() => {
  proxy.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('the engine lifecycle, replayed on real hosts', () => {
  it('(a) a digest change updates the deploy step in place: the new version serves, nothing is removed', async () => {
    const [before] = await declare('v1', ['host-a']);
    const [after] = await declare('v2', ['host-a']);
    onHost(hostA, before.create, before.stdin);
    expect(serving(hostA)).toBe('v1');

    // The only inputs that change are the spec on stdin and the image on the command line.
    expect(stepFor({ type: 'command:remote:Command' } as never, before.inputs, after.inputs)).toBe('update');
    onHost(hostA, after.update, after.stdin);
    expect(serving(hostA)).toBe('v2');
    expect(containers(hostA)).toEqual([`berth-${env}-${service} running`]);
    expect(auditResults(hostA)).toEqual([
      `action=deploy service=${service} env=${env} result=ok`,
      `action=deploy service=${service} env=${env} result=ok`,
    ]);
  });

  it('(b) a forced replacement deletes the old step before creating the new one; a renamed step is never undone by the old delete', async () => {
    const [old] = await declare('v1', ['host-a']);
    const [replacement] = await declare('v2', ['host-a']);
    onHost(hostA, old.create, old.stdin);

    expect(replacementOrder(replacement.deleteBeforeReplace)).toEqual(['delete old', 'create new']);
    onHost(hostA, old.delete);
    onHost(hostA, replacement.create, replacement.stdin);
    expect(serving(hostA)).toBe('v2');

    // Renamed in the program (a new logical name, same service): two resources, so the engine
    // creates the new one first and deletes the old one after it.
    const [renamed] = await declare('v2', ['host-a'], { resourceName: 'web-frontend' });
    expect(renamed.name).not.toBe(replacement.name);
    onHost(hostA, renamed.create, renamed.stdin);
    onHost(hostA, replacement.delete);
    expect(serving(hostA)).toBe('v2');
    expect(containers(hostA)).toEqual([`berth-${env}-${service} running`]);
    expect(auditResults(hostA).slice(-1)).toEqual([`action=remove service=${service} env=${env} result=kept-newer`]);
  });

  it('(c) a destroy deletes deploy steps before the readiness and attachment they depend on: every container goes, the data stays', async () => {
    const steps = await declare('v1', ['host-a', 'host-b']);
    const hosts: Record<string, LocalHost> = { 'web-host-a': hostA, 'web-host-b': hostB };
    for (const step of steps) {
      onHost(hosts[step.name], step.create, step.stdin);
    }
    expect([serving(hostA), serving(hostB)]).toEqual(['v1', 'v1']);
    fs.mkdirSync(path.join(hostA.dataRoot, env, service), { recursive: true });
    fs.writeFileSync(path.join(hostA.dataRoot, env, service, 'kept'), 'data\n');

    const graph = Object.fromEntries(steps.map((step) => [step.name, step.dependsOn]));
    const order = destroyOrder([...steps.map((step) => step.name), 'host-a-ready', 'host-a-data', 'host-b-ready', 'host-b-data'], graph);
    // The rollout chain reversed, and each host's steps before its readiness and attachment.
    expect(order.indexOf('web-host-b')).toBeLessThan(order.indexOf('web-host-a'));
    for (const host of ['host-a', 'host-b']) {
      expect(order.indexOf(`web-${host}`)).toBeLessThan(order.indexOf(`${host}-data`));
      expect(order.indexOf(`web-${host}`)).toBeLessThan(order.indexOf(`${host}-ready`));
    }
    for (const name of order.filter((name) => name.startsWith('web-'))) {
      onHost(hosts[name], steps.find((step) => step.name === name)!.delete);
    }
    expect([containers(hostA), containers(hostB)]).toEqual([[], []]);
    expect(fs.readFileSync(path.join(hostA.dataRoot, env, service, 'kept'), 'utf8')).toBe('data\n');
    expect(fs.existsSync(path.join(hostA.stateRoot, env, service))).toBe(false);
  });

  it('(d) a service moved to another host: the new host serves before the old step is deleted, and that delete touches only its host', async () => {
    const [onA] = await declare('v1', ['host-a']);
    const [onB] = await declare('v1', ['host-b']);
    expect(onB.name).not.toBe(onA.name);
    onHost(hostA, onA.create, onA.stdin);

    // Two resources: the engine creates the new step, then deletes the old one.
    onHost(hostB, onB.create, onB.stdin);
    expect([serving(hostA), serving(hostB)]).toEqual(['v1', 'v1']);
    onHost(hostA, onA.delete);
    expect(serving(hostA)).toBeUndefined();
    expect(containers(hostA)).toEqual([]);
    expect(serving(hostB)).toBe('v1');
  });

  it('(e) behind the host proxy: a digest change (update) swaps under load without a failed request, a rename keeps the listener, a destroy closes it', async () => {
    const port = await freePort();
    const withPort = { ports: [`127.0.0.1:${port}:8080`], proxyMode: 'http' as const, drainSeconds: 5 };
    const [v1] = await declare('v1', ['host-a'], withPort);
    const [v2] = await declare('v2', ['host-a'], withPort);
    const proxied = { ...hostA, env: { ...hostA.env, ...proxy.environment } };
    onHost(proxied, v1.create, v1.stdin);
    expect(await get(port)).toBe('v1');

    expect(stepFor({ type: 'command:remote:Command' } as never, v1.inputs, v2.inputs)).toBe('update');
    const load = startOpenLoad({ url: `http://127.0.0.1:${port}`, rate: 50, durationMs: 60_000, classes: [{ name: 'version', path: '/version', share: 1 }] });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await onHostAsync(proxied, v2.update, v2.stdin);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    load.stop();
    const result = await load.result;
    expect(result.sent).toBeGreaterThan(50);
    expect(result.failures).toEqual([]);
    expect(await get(port)).toBe('v2');

    // Renamed: the new step's create, then the old step's delete, which keeps what the new one owns.
    const [renamed] = await declare('v2', ['host-a'], { ...withPort, resourceName: 'web-frontend' });
    onHost(proxied, renamed.create, renamed.stdin);
    onHost(proxied, v2.delete);
    expect(await get(port)).toBe('v2');
    expect(Object.keys(proxy.files())).toEqual([`${env}-${service}.cfg`]);

    // Destroyed: the listener closes with the service.
    onHost(proxied, renamed.delete);
    await expect(get(port)).rejects.toThrow();
    expect(proxy.files()).toEqual({});
  }, 120_000);
});

async function get(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/version`);
  if (!response.ok) {
    throw new Error(`GET /version answered ${response.status}`);
  }
  return (await response.text()).trim();
}

/** onHost without blocking the event loop, so a load runs meanwhile. */
async function onHostAsync(host: LocalHost, text: string, stdin?: string): Promise<void> {
  const result = await runAsync('bash', ['-c', text], { input: stdin, env: host.env });
  if (result.status !== 0) {
    throw new Error(`on ${host.name}: ${text} exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
}
