/**
 * The exact command and stdin ContainerService renders, taken from the mocked
 * resource graph, run through bash against the real engine: what a host does
 * when `pulumi up` reaches it over SSH.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ContainerService } from '../../components/service/containerService';
import { agentScriptPath } from '../../components/service/agentScript';
import { HOST_PATHS } from '../../components/host/paths';
import { buildImage, docker, pushImage, run, TEST_REGISTRY, uniqueName } from '../support/docker';
import { fakeHost } from '../support/hosts';
import { freePort } from '../support/ports';
import { evaluate } from '../support/pulumi';

describe('ContainerService on a real engine', () => {
  const env = `cs${process.pid}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cs-'));
  const shims = path.join(work, 'bin');
  const repository = `berth-it/${uniqueName('cs')}/web`;
  let image: string;
  let port: number;

  beforeAll(async () => {
    // A `sudo` that runs the agent from this checkout where the host has it installed.
    fs.mkdirSync(shims);
    fs.writeFileSync(
      path.join(shims, 'sudo'),
      `#!/usr/bin/env bash\nif [[ "$1" == "${HOST_PATHS.agent}" ]]; then shift; exec "${agentScriptPath()}" "$@"; fi\nexec "$@"\n`,
      { mode: 0o755 },
    );
    const tag = `${TEST_REGISTRY}/${repository}:v1`;
    buildImage({
      tag,
      instructions: ['RUN mkdir -p /www && echo web-v1 > /www/index.html', 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]'],
    });
    image = `${TEST_REGISTRY}/${repository}@${pushImage(tag)}`;
    docker('image', 'rm', tag);
    port = await freePort();
  });

  afterAll(() => {
    run('docker', ['rm', '-f', `berth-${env}-web`]);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('deploys the rendered spec through the rendered command, then removes it', async () => {
    const configPath = path.join(work, 'application-it.properties');
    fs.writeFileSync(configPath, 'greeting=hello from berth\n');
    const { one } = await evaluate(
      () =>
        new ContainerService('web', {
          env,
          image,
          hosts: [fakeHost('local-1', '127.0.0.1')],
          ports: [`${port}:8080`],
          health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/', timeoutSeconds: 30 },
          volumes: [{ name: 'data', containerPath: '/data' }],
          configFile: { path: configPath, target: '/config/application.properties' },
          logging: { driver: 'local' },
          dataRoot: path.join(work, 'data'),
        }),
    );
    const deploy = one('command:remote:Command', 'web-local-1');
    const hostEnv = {
      ...process.env,
      PATH: `${shims}:${process.env.PATH}`,
      BERTH_DATA_ROOT: path.join(work, 'data'),
      BERTH_CONFIG_ROOT: path.join(work, 'config'),
      BERTH_STATE_ROOT: path.join(work, 'state'),
      BERTH_LOCK_FILE: path.join(work, 'berth.lock'),
    };

    const created = run('bash', ['-c', String(deploy.inputs.create)], { input: String(deploy.inputs.stdin), env: hostEnv });
    expect(created.stderr).not.toMatch(/refused|error/);
    if (created.status !== 0) console.log(created.stdout, created.stderr);
    expect(created.status).toBe(0);

    const container = `berth-${env}-web`;
    expect(docker('inspect', '--format', '{{.State.Running}} {{.Config.Image}}', container)).toBe(`true ${image}`);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect((await page.text()).trim()).toBe('web-v1');
    expect(docker('exec', container, 'cat', '/config/application.properties')).toBe('greeting=hello from berth');
    expect(docker('exec', container, 'sh', '-c', 'echo "$BERTH_ENV"')).toBe(env);
    expect(docker('inspect', '--format', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{json .HostConfig.SecurityOpt}}', container)).toBe(
      `${512 * 1024 * 1024} 256 ["no-new-privileges"]`,
    );

    // The update command with the same stdin is a no-op: same container.
    const id = docker('inspect', '--format', '{{.Id}}', container);
    expect(run('bash', ['-c', String(deploy.inputs.update)], { input: String(deploy.inputs.stdin), env: hostEnv }).status).toBe(0);
    expect(docker('inspect', '--format', '{{.Id}}', container)).toBe(id);

    const removed = run('bash', ['-c', String(deploy.inputs.delete)], { env: hostEnv });
    expect(removed.status).toBe(0);
    expect(run('docker', ['inspect', container]).status).not.toBe(0);
  });
});
