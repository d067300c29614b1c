/**
 * berth-agent against the real Docker engine and the test registry: deploy,
 * idempotence, the health-gated swap, the restore after a failed health check,
 * rollback, remove scoped by environment, data kept on the data root, a deploy
 * killed mid-way, and every refusal. Specs are rendered with agentSpecJson, so
 * the TypeScript side and the agent are tested together.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { agentScriptPath, AGENT_INTERPRETER } from '../../components/service/agentScript';
import { agentSpecJson, AgentServiceSpec } from '../../components/service/spec';
import { listTree } from '../support/tree';
import { freePort } from '../support/ports';
import { AUTH_REGISTRY, buildImage, docker, pushImage, pushImageToAuthRegistry, run, RunResult, TEST_REGISTRY, uniqueName, writeDockerConfig } from '../support/docker';

const AGENT = agentScriptPath();
const HEALTH = 'wget -q -O - http://127.0.0.1:8080/version';
const SECRET = 'not-for-logs-7f3a9c';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-it-'));
const roots = {
  BERTH_DATA_ROOT: path.join(scratch, 'data'),
  BERTH_CONFIG_ROOT: path.join(scratch, 'config'),
  BERTH_STATE_ROOT: path.join(scratch, 'state'),
  BERTH_LOCK_FILE: path.join(scratch, 'berth.lock'),
};
const agentEnv = { ...process.env, ...roots };
const auditLog = path.join(roots.BERTH_DATA_ROOT, 'berth', 'audit.log');

const service = uniqueName('it');
const repository = `${TEST_REGISTRY}/berth-it/${service}`;
const images: Record<'v1' | 'v2' | 'v3', { ref: string; id: string }> = {} as never;
let port = 0;
let otherPort = 0;

/** A start script for a test image: v1 writes to the data volume, later versions only read it. */
function startScript(version: string): string {
  const lines = ['#!/bin/sh', "trap 'exit 0' TERM", 'mkdir -p /www', `echo "${version} starting"`];
  if (version === 'v1') {
    lines.push('[ -f /data/first ] || echo written-by-v1 > /data/first');
  }
  lines.push('cat /data/first > /www/data');
  if (version === 'v3') {
    lines.push('echo "v3 is broken: no /www/version to serve"');
  } else {
    lines.push(`echo ${version} > /www/version`);
  }
  lines.push('httpd -f -p 8080 -h /www &', 'wait', '');
  return lines.join('\n');
}

function spec(version: 'v1' | 'v2' | 'v3', overrides: Partial<AgentServiceSpec> = {}): AgentServiceSpec {
  return {
    name: service,
    env: 'test',
    image: images[version].ref,
    ports: [`127.0.0.1:${port}:8080`],
    volumes: [`${roots.BERTH_DATA_ROOT}/test/${service}/data:/data`],
    environment: { APP_VERSION: version },
    secretEnvironment: { DB_PASSWORD: SECRET },
    configFile: { content: `version=${version}\n`, target: '/etc/app/application.properties' },
    health: { cmd: HEALTH, timeoutSeconds: 10 },
    stopTimeoutSeconds: 5,
    ...overrides,
  };
}

function agent(args: string[], input?: string): RunResult {
  return run(AGENT, args, { input, env: agentEnv });
}

function deploy(text: string): RunResult {
  return agent(['deploy'], text);
}

async function get(urlPath: string, onPort = port): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${onPort}${urlPath}`);
  if (!response.ok) {
    throw new Error(`GET ${urlPath} answered ${response.status}`);
  }
  return (await response.text()).trim();
}

/** Containers of the service in one environment: "name id state", sorted. */
function containers(env = 'test'): string[] {
  const out = docker('container', 'ls', '--all', '--no-trunc', '--format', '{{.Names}} {{.ID}} {{.State}}', '--filter', `label=berth.service=${service}`, '--filter', `label=berth.env=${env}`);
  return out === '' ? [] : out.split('\n').sort();
}

function containerId(env = 'test'): string {
  return docker('container', 'inspect', '--format', '{{.Id}}', `berth-${env}-${service}`);
}

function imageIdOf(ref: string): string | undefined {
  const result = run('docker', ['image', 'inspect', '--format', '{{.Id}}', ref]);
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Everything a refused command must leave exactly as it was. */
function footprint(): string {
  return JSON.stringify({
    containers: [containers('test'), containers('stage')],
    // Docker lists images created in the same second in no stable order.
    tags: docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', `berth/${service}`).split('\n').sort(),
    state: listTree(roots.BERTH_STATE_ROOT),
    config: listTree(roots.BERTH_CONFIG_ROOT),
    data: listTree(roots.BERTH_DATA_ROOT),
  });
}

beforeAll(async () => {
  for (const version of ['v1', 'v2', 'v3'] as const) {
    const tag = `${repository}:${version}`;
    const id = buildImage({ tag, instructions: ['COPY start.sh /start.sh', 'CMD ["sh", "/start.sh"]'], files: { 'start.sh': startScript(version) } });
    images[version] = { ref: `${repository}@${pushImage(tag)}`, id };
    // Only the registry keeps the image, so the agent's pull by digest is exercised.
    docker('image', 'rm', tag);
  }
  port = await freePort();
  otherPort = await freePort();
  fs.mkdirSync(roots.BERTH_DATA_ROOT, { recursive: true });
});

afterAll(() => {
  for (const env of ['test', 'stage']) {
    for (const line of containers(env)) {
      run('docker', ['container', 'rm', '-f', line.split(' ')[1]]);
    }
  }
  const tags = docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `berth/${service}`).split('\n').filter(Boolean);
  const refs = Object.values(images).map((image) => image.ref);
  run('docker', ['image', 'rm', ...tags, ...refs]);
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('berth-agent', () => {
  it('is one executable file run by the namespaced Node.js 24 a host installs', () => {
    expect(fs.readFileSync(AGENT, 'utf8').split('\n')[0]).toBe(AGENT_INTERPRETER);
    expect(run(AGENT_INTERPRETER.slice(2), ['--version']).stdout).toMatch(/^v24\./);
    expect(fs.statSync(AGENT).mode & 0o111).toBe(0o111);
  });

  it('deploys v1: pulled by digest, healthy, serving on the published port, hardened and labelled', async () => {
    const result = deploy(agentSpecJson(spec('v1')));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`pulling ${images.v1.ref}`);
    await expect(get('/version')).resolves.toBe('v1');
    await expect(get('/data')).resolves.toBe('written-by-v1');

    expect(containers()).toEqual([`berth-test-${service} ${containerId()} running`]);
    const inspect = JSON.parse(docker('container', 'inspect', `berth-test-${service}`))[0];
    expect(inspect.HostConfig.SecurityOpt).toEqual(['no-new-privileges']);
    expect(inspect.HostConfig.RestartPolicy.Name).toBe('unless-stopped');
    expect(inspect.Config.Labels).toMatchObject({
      'berth.service': service,
      'berth.env': 'test',
      'berth.image': images.v1.ref,
      'berth.spec-hash': expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(imageIdOf(`berth/${service}:test-current`)).toBe(images.v1.id);

    // Config file mounted read-only; the secret reaches the container but no output and no file.
    expect(docker('exec', `berth-test-${service}`, 'cat', '/etc/app/application.properties')).toBe('version=v1');
    expect(run('docker', ['exec', `berth-test-${service}`, 'sh', '-c', 'echo x >> /etc/app/application.properties']).status).not.toBe(0);
    expect(docker('exec', `berth-test-${service}`, 'sh', '-c', 'echo "$DB_PASSWORD $APP_VERSION"')).toBe(`${SECRET} v1`);
    expect(result.stdout + result.stderr).not.toContain(SECRET);
    expect(listTree(roots.BERTH_STATE_ROOT).filter((line) => line.includes('secret.env'))).toEqual([]);
    const stateDir = path.join(roots.BERTH_STATE_ROOT, 'test', service);
    expect(fs.statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(stateDir, 'current.json')).mode & 0o777).toBe(0o600);
  });

  it('deploys the same spec again without touching the running container', async () => {
    const before = containerId();
    const result = deploy(agentSpecJson(spec('v1')));
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('nothing to do');
    expect(containerId()).toBe(before);
    await expect(get('/version')).resolves.toBe('v1');
  });

  it('deploys v2: stops the port holder just before, serves v2, reads v1 data, keeps v1 tagged as previous', async () => {
    const result = deploy(agentSpecJson(spec('v2')));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`stopping the old container first: it holds host port(s) ${port}`);
    await expect(get('/version')).resolves.toBe('v2');
    await expect(get('/data')).resolves.toBe('written-by-v1');
    expect(containers()).toEqual([`berth-test-${service} ${containerId()} running`]);
    expect(imageIdOf(`berth/${service}:test-current`)).toBe(images.v2.id);
    expect(imageIdOf(`berth/${service}:test-previous`)).toBe(images.v1.id);
    // Pulled only by digest and no longer used by a container, v1 would be
    // dangling for the prune job without its tag. (No real prune here: the
    // engine is shared with other test runs.)
    expect(docker('image', 'ls', '--quiet', '--no-trunc', '--filter', 'dangling=true').split('\n')).not.toContain(images.v1.id);
  });

  it("names the container that holds a host port another service wants (a renamed service whose old one still runs)", async () => {
    const renamed = `${service}-renamed`;
    const result = deploy(agentSpecJson(spec('v2', { name: renamed, volumes: [] })));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`host port ${port} is held by: berth-test-${service}`);
    expect(run('docker', ['container', 'inspect', `berth-test-${renamed}`]).status).not.toBe(0);
    await expect(get('/version')).resolves.toBe('v2');
    run(AGENT, ['remove', renamed, '--env', 'test'], { env: agentEnv });
  });

  describe('refuses bad input, naming the field, and touches nothing', () => {
    const cases: [string, () => string, string][] = [
      ['invalid JSON', () => '{"name": ', 'not one valid JSON document'],
      ['empty input', () => '', 'stdin is empty'],
      ['two documents', () => '{} {}', 'got 2 documents'],
      ['an unknown field', () => JSON.stringify({ ...spec('v2'), replicas: 2 }), 'spec: unknown field(s) replicas'],
      ['an unknown nested field', () => JSON.stringify({ ...spec('v2'), health: { cmd: HEALTH, timeoutSeconds: 5, retries: 3 } }), 'spec.health: unknown field(s) retries'],
      ['a tag instead of a digest', () => agentSpecJson(spec('v2', { image: `${repository}:v2` })), 'spec.image: must be <repository>@sha256:<64 hex>'],
      ['a tag and a digest', () => agentSpecJson(spec('v2', { image: images.v2.ref.replace('@', ':v2@') })), 'spec.image'],
      ['a missing health command', () => JSON.stringify({ ...spec('v2'), health: { timeoutSeconds: 5 } }), 'spec.health.cmd: required'],
      ['a blank health command', () => agentSpecJson(spec('v2', { health: { cmd: '  ', timeoutSeconds: 5 } })), 'spec.health.cmd: required'],
      ['no health at all', () => JSON.stringify({ ...spec('v2'), health: undefined }), 'spec.health: required'],
      ['a volume outside the data root', () => agentSpecJson(spec('v2', { volumes: ['/etc:/host-etc'] })), "spec.volumes[0]: host path /etc is outside this service's data folder"],
      ["another environment's data", () => agentSpecJson(spec('v2', { volumes: [`${roots.BERTH_DATA_ROOT}/stage/${service}/data:/data`] })), "is outside this service's data folder"],
      ["another service's data", () => agentSpecJson(spec('v2', { volumes: [`${roots.BERTH_DATA_ROOT}/test/other-service:/data`] })), "is outside this service's data folder"],
      ['the audit log folder', () => agentSpecJson(spec('v2', { volumes: [`${roots.BERTH_DATA_ROOT}/berth:/audit`] })), "is outside this service's data folder"],
      ['a volume escaping the data root with ..', () => agentSpecJson(spec('v2', { volumes: [`${roots.BERTH_DATA_ROOT}/../state:/s`] })), 'spec.volumes[0]: host path'],
      ['a named volume', () => agentSpecJson(spec('v2', { volumes: ['dbdata:/var/lib/db'] })), 'spec.volumes[0]'],
      ['a volume with a newline', () => agentSpecJson(spec('v2', { volumes: [`${roots.BERTH_DATA_ROOT}/test/${service}/a\n/etc:/data`] })), 'spec.volumes[0]: must be /host/path:/container/path'],
      ['privileged without a reason', () => agentSpecJson(spec('v2', { privileged: true })), 'spec.privileged: refused without spec.allowPrivilegedReason'],
      ['the docker socket without a reason', () => agentSpecJson(spec('v2', { dockerSocket: true })), 'spec.dockerSocket: refused without spec.allowPrivilegedReason'],
      ['a bad port', () => agentSpecJson(spec('v2', { ports: ['eighty'] })), 'spec.ports[0]'],
      ['a bad restart policy', () => agentSpecJson(spec('v2', { restart: 'sometimes' as never })), 'spec.restart'],
      ['a multi-line secret', () => agentSpecJson(spec('v2', { secretEnvironment: { DB_PASSWORD: `${SECRET}\nx` } })), 'spec.secretEnvironment.DB_PASSWORD: value must be a single line'],
      ['a bad service name', () => agentSpecJson(spec('v2', { name: 'Web_1' })), 'spec.name'],
    ];
    it.each(cases)('%s', (_label, input, message) => {
      const before = footprint();
      const id = containerId();
      const result = deploy(input());
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(message);
      expect(result.stdout + result.stderr).not.toContain(SECRET);
      expect(footprint()).toBe(before);
      expect(containerId()).toBe(id);
    });

    it("a volume outside the service's own data folder: exit 2, the field and both paths named, nothing touched", () => {
      const data = fs.realpathSync(roots.BERTH_DATA_ROOT);
      const own = path.join(data, 'test', service);
      // A symlink inside the service's own folder that leads to the audit folder.
      const link = path.join(own, 'to-audit');
      fs.symlinkSync(path.join(data, 'berth'), link);
      try {
        const outside: [string, string?][] = [
          [`${data}/stage/${service}/data`], // the same service in another environment
          [`${data}/test/other-service/data`], // another service in this environment
          [`${data}/test/${service}-admin/data`], // a sibling whose name starts with this one's
          [`${data}/test`], // the environment's folder itself
          [data], // the data root itself
          [`${data}/berth`], // the audit folder
          [`${data}/berth/audit.log`],
          [`${own}/../../stage/${service}`, `${data}/stage/${service}`],
          [`${link}/x`, `${data}/berth/x`],
        ];
        const before = footprint();
        const id = containerId();
        for (const [host, resolved] of outside) {
          // The first volume is fine, so the index must point at the second.
          const result = deploy(agentSpecJson(spec('v2', { volumes: [`${own}/data:/data`, `${host}:/other`] })));
          const shown = resolved === undefined ? host : `${host} (resolved: ${resolved})`;
          expect(result.stderr).toBe(`berth-agent: refused: the spec has 1 problem(s):\nspec.volumes[1]: host path ${shown} is outside this service's data folder ${own}\n`);
          expect(result.stdout).toBe('');
          expect(result.status).toBe(2);
        }
        expect(footprint()).toBe(before);
        expect(containerId()).toBe(id);
        expect(fs.existsSync(path.join(data, 'stage'))).toBe(false);
      } finally {
        fs.unlinkSync(link);
      }
    });

    it('a spec whose image is not the one the deploy step shows, and a bad deployment id', () => {
      const before = footprint();
      const mismatch = agent(['deploy', '--deployment', 'web-app-1', '--expect-image', images.v1.ref], agentSpecJson(spec('v2')));
      expect(mismatch.stderr).toBe(`berth-agent: refused: spec.image is ${images.v2.ref} but the deploy step expects ${images.v1.ref}; nothing was changed\n`);
      expect(mismatch.status).toBe(2);
      for (const [command, args] of [['deploy', ['--deployment', 'a b']], ['remove', [service, '--env', 'test', '--deployment', '$(id)']]] as const) {
        const bad = agent([command, ...args], agentSpecJson(spec('v2')));
        expect(bad.stderr).toContain('--deployment: not a deployment id');
        expect(bad.status).toBe(2);
      }
      expect(footprint()).toBe(before);
    });

    it('rollback and remove without --env', () => {
      const before = footprint();
      for (const command of ['rollback', 'remove']) {
        const result = agent([command, service]);
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain('needs --env ENV');
      }
      expect(footprint()).toBe(before);
    });
  });

  it('deploys v3, whose health check fails: exits non-zero with its logs and restores v2 before returning', async () => {
    const before = containerId();
    const result = deploy(agentSpecJson(spec('v3', { health: { cmd: HEALTH, timeoutSeconds: 3 } })));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('did not become healthy within 3s');
    expect(result.stderr).toContain('v3 is broken: no /www/version to serve');
    expect(result.stderr).toContain('404');
    expect(result.stderr).toContain('the previous container is serving again');
    // No retry: v2 must already be serving when the command returns.
    await expect(get('/version')).resolves.toBe('v2');
    expect(containers()).toEqual([`berth-test-${service} ${before} running`]);
    expect(imageIdOf(`berth/${service}:test-current`)).toBe(images.v2.id);
    expect(imageIdOf(`berth/${service}:test-previous`)).toBe(images.v1.id);
  });

  it('rolls back to v1 with the same health gate', async () => {
    const result = agent(['rollback', service, '--env', 'test']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    await expect(get('/version')).resolves.toBe('v1');
    expect(docker('exec', `berth-test-${service}`, 'cat', '/etc/app/application.properties')).toBe('version=v1');
    expect(imageIdOf(`berth/${service}:test-current`)).toBe(images.v1.id);
    expect(imageIdOf(`berth/${service}:test-previous`)).toBe(images.v2.id);
  });

  it('reports status, as JSON and as a table', () => {
    const json = agent(['status', '--json', '--env', 'test', service]);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      {
        name: service,
        env: 'test',
        image: images.v1.ref,
        state: 'running',
        health: 'healthy',
        previousImage: images.v2.ref,
        containerId: containerId(),
      },
    ]);
    const table = agent(['status', service]);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${service} +test +running +healthy +${images.v1.ref.replace(/[.]/g, '\\.')} +${images.v2.ref.replace(/[.]/g, '\\.')}$`, 'm'));
  });

  it('converges after being killed during the health wait, cleaning up the half-made container', async () => {
    // A deploy whose health never passes within its long timeout: kill it while it waits.
    const child = spawn(AGENT, ['deploy'], { env: agentEnv, stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.end(agentSpecJson(spec('v2', { health: { cmd: 'false', timeoutSeconds: 120 } })));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 30000;
    while (!containers().some((line) => line.startsWith(`berth-test-${service}-next `) && line.endsWith(' running'))) {
      if (Date.now() > deadline) {
        throw new Error(`the temporary container never started: ${containers().join('; ')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    child.kill('SIGKILL');
    await exited;
    expect(containers().length).toBe(2); // the stopped v1 and the half-made v2

    const result = deploy(agentSpecJson(spec('v2')));
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('left over from an interrupted run');
    await expect(get('/version')).resolves.toBe('v2');
    expect(containers()).toEqual([`berth-test-${service} ${containerId()} running`]);
    expect(imageIdOf(`berth/${service}:test-current`)).toBe(images.v2.id);
    expect(imageIdOf(`berth/${service}:test-previous`)).toBe(images.v1.id);
  });

  it("removes a service only for the deploy step that owns it: an older step's delete keeps what a newer one deployed", async () => {
    // The step that deploys now records itself as the owner (the spec is unchanged: nothing restarts).
    const id = containerId();
    const owned = agent(['deploy', '--deployment', 'web-frontend-app-1', '--expect-image', images.v2.ref], agentSpecJson(spec('v2')));
    expect(owned.status).toBe(0);
    expect(fs.readFileSync(path.join(roots.BERTH_STATE_ROOT, 'test', service, 'deployment'), 'utf8')).toBe('web-frontend-app-1\n');
    // The delete of an older step (renamed, or replaced after its successor was created) runs after.
    const stale = agent(['remove', service, '--env', 'test', '--deployment', 'web-app-1']);
    expect(stale.stderr).toBe('');
    expect(stale.status).toBe(0);
    expect(stale.stdout).toBe(`berth-agent: test/${service}: kept: deployment web-frontend-app-1 owns it now, not web-app-1\n`);
    expect(containerId()).toBe(id);
    await expect(get('/version')).resolves.toBe('v2');
    expect(imageIdOf(`berth/${service}:test-current`)).toBe(images.v2.id);
  });

  it('removes one environment and leaves the same service in another environment alone', async () => {
    const staged = deploy(agentSpecJson(spec('v1', { env: 'stage', ports: [`127.0.0.1:${otherPort}:8080`], volumes: [`${roots.BERTH_DATA_ROOT}/stage/${service}/data:/data`] })));
    expect(staged.status).toBe(0);
    const stageId = containerId('stage');
    await expect(get('/version', otherPort)).resolves.toBe('v1');

    const result = agent(['remove', service, '--env', 'test']);
    expect(result.status).toBe(0);
    expect(containers('test')).toEqual([]);
    expect(imageIdOf(`berth/${service}:test-current`)).toBeUndefined();
    expect(imageIdOf(`berth/${service}:test-previous`)).toBeUndefined();
    expect(fs.existsSync(path.join(roots.BERTH_STATE_ROOT, 'test', service))).toBe(false);
    expect(fs.existsSync(path.join(roots.BERTH_CONFIG_ROOT, 'test', service))).toBe(false);
    // Data outlives the service.
    expect(fs.readFileSync(path.join(roots.BERTH_DATA_ROOT, 'test', service, 'data', 'first'), 'utf8')).toBe('written-by-v1\n');

    expect(containers('stage')).toEqual([`berth-stage-${service} ${stageId} running`]);
    expect(imageIdOf(`berth/${service}:stage-current`)).toBe(images.v1.id);
    await expect(get('/version', otherPort)).resolves.toBe('v1');
    expect(JSON.parse(agent(['status', '--json', service]).stdout).map((row: { env: string }) => row.env)).toEqual(['stage']);
  });

  it('wrote one audit line per action', () => {
    const lines = fs.readFileSync(auditLog, 'utf8').trim().split('\n');
    const pattern = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ action=(deploy|rollback|remove) service=\S+ env=\S+ from=\S+ to=\S+ result=\S+$/;
    for (const line of lines) {
      expect(line).toMatch(pattern);
    }
    // (Only this service: the renamed one of the port test has lines of its own.)
    const summary = lines.filter((line) => line.includes(` service=${service} `)).map((line) => line.replace(/^\S+ /, '').split(repository).join('R'));
    const at = (version: 'v1' | 'v2' | 'v3') => images[version].ref.replace(repository, 'R');
    expect(summary).toEqual([
      `action=deploy service=${service} env=test from=- to=${at('v1')} result=ok`,
      `action=deploy service=${service} env=test from=${at('v1')} to=${at('v1')} result=unchanged`,
      `action=deploy service=${service} env=test from=${at('v1')} to=${at('v2')} result=ok`,
      `action=deploy service=${service} env=test from=${at('v2')} to=${at('v3')} result=failed-restored`,
      `action=rollback service=${service} env=test from=${at('v2')} to=${at('v1')} result=ok`,
      // The killed deploy never got to write its line.
      `action=deploy service=${service} env=test from=${at('v1')} to=${at('v2')} result=ok`,
      `action=deploy service=${service} env=test from=${at('v2')} to=${at('v2')} result=unchanged`,
      `action=remove service=${service} env=test from=${at('v2')} to=${at('v2')} result=kept-newer`,
      `action=deploy service=${service} env=stage from=- to=${at('v1')} result=ok`,
      `action=remove service=${service} env=test from=${at('v2')} to=- result=ok`,
    ]);
  });
});

describe('berth-agent pulling from a registry that requires credentials', () => {
  const name = `${service}-auth`;
  let image = '';
  const authSpec = (): AgentServiceSpec => ({ name, env: 'test', image, health: { cmd: HEALTH, timeoutSeconds: 10 } });
  const configs = { helper: writeDockerConfig({ credHelper: true }), none: writeDockerConfig({ credHelper: false }) };
  const withConfig = (dir: string) => ({ ...agentEnv, BERTH_DOCKER_CONFIG: dir });

  beforeAll(() => {
    const tag = `${AUTH_REGISTRY}/berth-it/${name}:v1`;
    buildImage({ tag, instructions: ['COPY start.sh /start.sh', 'CMD ["sh", "/start.sh"]'], files: { 'start.sh': startScript('v2') } });
    image = `${AUTH_REGISTRY}/berth-it/${name}@${pushImageToAuthRegistry(tag)}`;
    docker('image', 'rm', tag);
  });

  afterAll(() => {
    run(AGENT, ['remove', name, '--env', 'test'], { env: agentEnv });
    run('docker', ['image', 'rm', image]);
    for (const dir of Object.values(configs)) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails to pull without a credential helper for the registry, and changes nothing', () => {
    const result = run(AGENT, ['deploy'], { input: agentSpecJson(authSpec()), env: withConfig(configs.none) });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`could not pull ${image}; nothing was changed`);
    expect(run('docker', ['container', 'inspect', `berth-test-${name}`]).status).not.toBe(0);
  });

  it('pulls through the helper its Docker client config names, as a host pulls from ECR with ecr-login', () => {
    const result = run(AGENT, ['deploy'], { input: agentSpecJson(authSpec()), env: withConfig(configs.helper) });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`pulling ${image}`);
    expect(docker('exec', `berth-test-${name}`, 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/version')).toBe('v2');
  });
});
