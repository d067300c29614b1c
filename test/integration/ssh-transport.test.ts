/**
 * The readiness and deploy steps through a real sshd, authenticated as a host
 * is set up (a deploy user, key only, passwordless sudo): the exact `create`
 * text and stdin DockerHostGroup and ContainerService render, taken from the
 * mocked graph, run as @pulumi/command runs them (one exec request, stdin
 * streamed, no tty, no environment).
 *
 * The setup gets the test-only `--root`/`--record-actions` arguments after the
 * rendered ones, so it writes under a scratch folder and records service
 * restarts instead of running them. The deploy runs the agent the setup just
 * installed, at the path a host has it, with the agent's default folders: the
 * service's environment is unique to this run and removed afterwards.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { DockerHostGroup } from '../../components/host/dockerHostGroup';
import { AGENT_NODE_PACKAGE, HOST_PATHS } from '../../components/host/paths';
import { ContainerService } from '../../components/service/containerService';
import { readAgentScript } from '../../components/service/agentScript';
import { buildImage, docker, pushImage, run, TEST_REGISTRY, uniqueName } from '../support/docker';
import { fakeHost } from '../support/hosts';
import { evaluate, valueOf } from '../support/pulumi';
import { sshPrivateKey, sshRun } from '../support/ssh';

const env = `ssh${process.pid}`;
const service = 'web';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-'));
let image = '';
let installedAgent = false;

beforeAll(() => {
  const tag = `${TEST_REGISTRY}/berth-it/${uniqueName('ssh')}:v1`;
  buildImage({ tag, instructions: ['RUN mkdir -p /www && echo over-ssh > /www/version', 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]'] });
  image = `${tag.slice(0, tag.lastIndexOf(':'))}@${pushImage(tag)}`;
  docker('image', 'rm', tag);
});

afterAll(() => {
  run('docker', ['rm', '-f', `berth-${env}-${service}`]);
  for (const dir of [`/srv/berth/${env}`, `/var/lib/berth/${env}`, `/var/lib/berth/.locks/${env}`, `/etc/berth/config/${env}`]) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (installedAgent) {
    fs.rmSync(HOST_PATHS.agent, { force: true });
  }
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('the readiness and deploy steps over a real SSH connection', () => {
  it('sets a host up: the rendered setup arrives whole on stdin and runs under sudo', async () => {
    const { one } = await evaluate(
      () =>
        new DockerHostGroup('app', {
          env,
          count: 1,
          instanceType: 't3.small',
          vpcId: 'vpc-0a1b2c3d4e5f60718',
          subnetIds: ['subnet-0a1b2c3d4e5f60711'],
          dataVolumeGiB: 10,
          adminCidrs: ['10.20.0.0/16'],
          repositoryArns: ['arn:aws:ecr:eu-west-1:123456789012:repository/berth/web'],
          ssh: { privateKey: pulumi.secret(sshPrivateKey()), publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthTestKeyBerthTestKeyBerthTestKey00 test' },
        }),
    );
    const ready = one('command:remote:Command', 'app-1-ready');
    const root = path.join(scratch, 'host');
    fs.mkdirSync(path.join(root, 'var/lib/berth'), { recursive: true });
    fs.writeFileSync(path.join(root, 'var/lib/berth/ready'), 'booted\n');
    const actions = path.join(scratch, 'actions');

    const result = sshRun(`${ready.inputs.create} --root ${root} --record-actions ${actions} --assume-active ''`, String(ready.inputs.stdin));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    // The scratch root has no Node.js: the install of the agent's interpreter is recorded, not run.
    expect(result.stdout).toContain(`berth-host-setup: installing ${AGENT_NODE_PACKAGE} for ${HOST_PATHS.agentInterpreter}\n`);
    expect(result.stdout).toContain('berth-host-setup: ready; 11 file(s) updated');
    const agent = path.join(root, HOST_PATHS.agent);
    expect(fs.readFileSync(agent, 'utf8')).toBe(readAgentScript());
    // Written as root through sudo, not as the login user.
    expect(fs.statSync(agent).uid).toBe(0);
    expect(fs.readFileSync(actions, 'utf8')).toContain(`dnf install -y ${AGENT_NODE_PACKAGE}\n`);
    expect(fs.readFileSync(actions, 'utf8')).toContain('systemctl start docker.service\n');

    // The agent lands where a host has it, for the deploy below.
    installedAgent = !fs.existsSync(HOST_PATHS.agent);
    fs.mkdirSync(path.dirname(HOST_PATHS.agent), { recursive: true });
    fs.copyFileSync(agent, HOST_PATHS.agent);
    fs.chmodSync(HOST_PATHS.agent, 0o755);
    expect(fs.readFileSync(HOST_PATHS.agent, 'utf8')).toBe(readAgentScript());
  });

  it('deploys and removes a service with the rendered commands, the spec on stdin', async () => {
    const { one, result } = await evaluate(
      () =>
        new ContainerService(service, {
          env,
          image,
          hosts: [fakeHost('app-1', '127.0.0.1')],
          health: { cmd: 'wget -q -O - http://127.0.0.1:8080/version', timeoutSeconds: 20 },
          logging: { driver: 'local' },
        }),
    );
    const deploy = one('command:remote:Command', `${service}-app-1`);
    const stdin = String(await valueOf(result.deployments[0].stdin));

    const deployed = sshRun(String(deploy.inputs.create), stdin);
    expect(deployed.stderr).toBe('');
    expect(deployed.status).toBe(0);
    expect(docker('exec', `berth-${env}-${service}`, 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/version')).toBe('over-ssh');
    expect(fs.readFileSync(`/var/lib/berth/${env}/${service}/deployment`, 'utf8')).toBe(`${service}-app-1\n`);

    const removed = sshRun(String(deploy.inputs.delete));
    expect(removed.status).toBe(0);
    expect(run('docker', ['inspect', `berth-${env}-${service}`]).status).not.toBe(0);
  });
});
