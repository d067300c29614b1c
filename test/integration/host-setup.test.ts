/**
 * The readiness step's setup, exactly as DockerHostGroup renders it, run for
 * real through bash: files land under a scratch root with their modes, what
 * restarts follows from what changed, a rerun changes nothing, and a bad
 * transfer or a failed bootstrap stops it before anything is installed.
 * Commands that change the host's services are recorded, not run (this
 * machine's systemd is not the host's); the mount they call is tested on a
 * loop device in host-scripts.test.ts.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HostSetupArgs, renderHostSetup } from '../../components/host/hostSetup';
import { renderProxyBaseConfig, renderProxyService } from '../../components/host/proxyConfig';
import { readHostScript } from '../../components/host/scripts';
import { AGENT_INTERPRETER, readAgentScript } from '../../components/service/agentScript';
import { run, RunResult } from '../support/docker';

const args: HostSetupArgs = {
  project: 'berth',
  env: 'test',
  region: 'eu-west-1',
  pruneSchedule: '*-*-* 03:30:00',
  dataVolume: { volumeId: 'vol-0123456789abcdef0', deviceName: '/dev/sdf' },
  serviceDirectories: ['test/web'],
  agentScript: readAgentScript(),
  registryHosts: ['123456789012.dkr.ecr.eu-west-1.amazonaws.com'],
};
const CW_CTL = '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/etc/berth/cloudwatch-agent.json';
const MOUNT = '/usr/local/sbin/berth-mount-data-volume --volume-id vol-0123456789abcdef0 --device /dev/sdf --mount-point /srv/berth --fs-type ext4 --timeout 300 --service-dir test/web';

let root: string;
let actions: string;

function setup(text: string, active = 'docker.service berth-prune.timer amazon-cloudwatch-agent.service berth-proxy.service', extra: string[] = []): RunResult & { actions: string[] } {
  fs.rmSync(actions, { force: true });
  const result = run('bash', ['-s', '--', '--timeout', '5', '--root', root, '--record-actions', actions, '--assume-active', active, ...extra], { input: text });
  return { ...result, actions: fs.existsSync(actions) ? fs.readFileSync(actions, 'utf8').trim().split('\n') : [] };
}

/** A host whose bootstrap finished; `withNode`: the agent's interpreter is installed already. */
function booted(withNode = true): void {
  fs.mkdirSync(path.join(root, 'var/lib/berth'), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/berth/ready'), '2026-12-01T00:00:00Z\n');
  if (withNode) {
    fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr/bin/node-24'), '#!/bin/sh\n', { mode: 0o755 });
    fs.mkdirSync(path.join(root, 'usr/sbin'), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr/sbin/haproxy'), '#!/bin/sh\n', { mode: 0o755 });
  }
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-setup-'));
  actions = path.join(root, '..', `${path.basename(root)}.actions`);
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(actions, { force: true });
});

describe('berth-host-setup, as the readiness step sends it', () => {
  it('installs every file with its mode on a fresh host, then enables, mounts and starts what it needs', () => {
    // A host booted before the agent needed Node.js: the setup installs it in place.
    booted(false);
    const first = setup(renderHostSetup(args), '');
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const mode = (file: string) => (fs.statSync(path.join(root, file)).mode & 0o777).toString(8);
    expect(fs.readFileSync(path.join(root, 'usr/local/bin/berth-agent'), 'utf8')).toBe(readAgentScript());
    expect(mode('usr/local/bin/berth-agent')).toBe('755');
    expect(fs.readFileSync(path.join(root, 'usr/local/sbin/berth-mount-data-volume'), 'utf8')).toBe(readHostScript('berth-mount-data-volume'));
    expect(mode('etc/docker/daemon.json')).toBe('644');
    expect(JSON.parse(fs.readFileSync(path.join(root, 'etc/berth/docker/config.json'), 'utf8'))).toEqual({
      credHelpers: { '123456789012.dkr.ecr.eu-west-1.amazonaws.com': 'ecr-login' },
    });
    expect(fs.readFileSync(path.join(root, 'etc/systemd/system/berth-prune.timer'), 'utf8')).toContain('OnCalendar=*-*-* 03:30:00\n');
    expect(first.stdout.split('\n').filter((line) => line.startsWith('berth-host-setup: updated'))).toHaveLength(11);
    expect(first.stdout).toContain('berth-host-setup: installing nodejs24 for /usr/bin/node-24\n');
    expect(first.stdout).toContain('berth-host-setup: installing haproxy for /usr/sbin/haproxy\n');
    expect(first.stdout).toContain('berth-host-setup: ready; 11 file(s) updated\n');
    expect(fs.readFileSync(path.join(root, 'etc/berth/proxy/haproxy.cfg'), 'utf8')).toBe(renderProxyBaseConfig());
    expect(fs.readFileSync(path.join(root, 'etc/systemd/system/berth-proxy.service'), 'utf8')).toBe(renderProxyService());
    // Nothing was running yet: everything is started, nothing restarted.
    expect(first.actions).toEqual([
      'dnf install -y nodejs24',
      'dnf install -y haproxy',
      'systemctl daemon-reload',
      'systemctl enable berth-data-volume.service docker.service berth-prune.timer berth-proxy.service',
      MOUNT,
      'systemctl start docker.service',
      'systemctl start berth-proxy.service',
      'systemctl restart berth-prune.timer',
      CW_CTL,
    ]);
    // No staging leftovers.
    expect(run('find', [root, '-name', '*.berth-new.*']).stdout).toBe('');
  });

  it('changes nothing on a rerun: no file rewritten, nothing restarted, the volume checked (and grown) again', () => {
    booted();
    setup(renderHostSetup(args));
    const agent = path.join(root, 'usr/local/bin/berth-agent');
    const before = fs.statSync(agent).mtimeMs;
    const again = setup(renderHostSetup(args));
    expect(again.status).toBe(0);
    expect(again.stdout).toBe('berth-host-setup: ready; 0 file(s) updated\n');
    expect(again.actions).toEqual(['systemctl enable berth-data-volume.service docker.service berth-prune.timer berth-proxy.service', MOUNT]);
    expect(fs.statSync(agent).mtimeMs).toBe(before);
  });

  it('applies a new prune schedule to a running host: the timer restarts, Docker does not', () => {
    booted();
    setup(renderHostSetup(args));
    const changed = setup(renderHostSetup({ ...args, pruneSchedule: 'weekly' }));
    expect(changed.stdout).toBe('berth-host-setup: updated /etc/systemd/system/berth-prune.timer\nberth-host-setup: ready; 1 file(s) updated\n');
    expect(changed.actions).toEqual([
      'systemctl daemon-reload',
      'systemctl enable berth-data-volume.service docker.service berth-prune.timer berth-proxy.service',
      MOUNT,
      'systemctl restart berth-prune.timer',
    ]);
  });

  it('restarts Docker (live-restore keeps containers) only for a new daemon.json, and reloads the CloudWatch agent only for its config', () => {
    booted();
    setup(renderHostSetup(args));
    const logging = setup(renderHostSetup({ ...args, logging: { driver: 'local' } }));
    expect(logging.actions).toEqual(['systemctl enable berth-data-volume.service docker.service berth-prune.timer berth-proxy.service', MOUNT, 'systemctl restart docker.service']);
    const metrics = setup(renderHostSetup({ ...args, logging: { driver: 'local' }, metricsNamespace: 'Acme' }));
    expect(metrics.actions).toEqual(['systemctl enable berth-data-volume.service docker.service berth-prune.timer berth-proxy.service', MOUNT, CW_CTL]);
  });

  it('brings a stopped service back even when no file changed (a rerun after a reboot or a crash)', () => {
    booted();
    setup(renderHostSetup(args));
    const rerun = setup(renderHostSetup(args), 'docker.service');
    expect(rerun.actions).toEqual([
      'systemctl enable berth-data-volume.service docker.service berth-prune.timer berth-proxy.service',
      MOUNT,
      'systemctl start berth-proxy.service',
      'systemctl restart berth-prune.timer',
      CW_CTL,
    ]);
  });

  it('owes the restarts of a run that stopped half-way: the next run, with nothing left to write, still restarts Docker', () => {
    booted();
    setup(renderHostSetup(args));
    const local = renderHostSetup({ ...args, logging: { driver: 'local' } });
    // daemon.json is staged before the agent, whose damaged copy stops the run.
    const broken = setup(local.replace(`${AGENT_INTERPRETER}\n`, '#!/usr/bin/node-99\n'));
    expect(broken.status).toBe(1);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'etc/docker/daemon.json'), 'utf8'))['log-driver']).toBe('local');
    expect(broken.actions).toEqual([]);
    const rerun = setup(local);
    expect(rerun.stdout).toBe('berth-host-setup: ready; 0 file(s) updated\n');
    expect(rerun.actions).toEqual(['systemctl enable berth-data-volume.service docker.service berth-prune.timer berth-proxy.service', MOUNT, 'systemctl restart docker.service']);
    expect(fs.existsSync(path.join(root, 'var/lib/berth/setup-pending'))).toBe(false);
    expect(setup(local).actions).toEqual(['systemctl enable berth-data-volume.service docker.service berth-prune.timer berth-proxy.service', MOUNT]);
  });

  it('refuses a file that arrived damaged, installing nothing of it', () => {
    booted();
    const text = renderHostSetup(args).replace(`${AGENT_INTERPRETER}\n`, '#!/usr/bin/node-99\n');
    const result = setup(text);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^berth-host-setup: \/usr\/local\/bin\/berth-agent arrived with sha256 [0-9a-f]{64}, expected [0-9a-f]{64}; nothing of it was installed\n$/);
    expect(fs.existsSync(path.join(root, 'usr/local/bin/berth-agent'))).toBe(false);
    expect(result.actions).toEqual([]);
  });

  it('stops at once with the reason when the bootstrap failed, and gives up after its timeout', () => {
    fs.mkdirSync(path.join(root, 'var/lib/berth'), { recursive: true });
    const timedOut = setup(renderHostSetup(args), '', ['--timeout', '1']);
    expect(timedOut.status).toBe(1);
    expect(timedOut.stderr).toContain('boot setup did not finish within 1s (/var/lib/berth/ready is missing)');
    fs.writeFileSync(path.join(root, 'var/lib/berth/failed'), 'berth bootstrap failed at line 9\n');
    const failed = setup(renderHostSetup(args));
    expect(failed.stderr).toBe('berth-host-setup: boot setup failed: berth bootstrap failed at line 9\n');
    expect(fs.existsSync(path.join(root, 'etc'))).toBe(false);
  });

  it('waits for a bootstrap still running, then sets up', async () => {
    const child = spawn('bash', ['-s', '--', '--timeout', '30', '--root', root, '--record-actions', actions, '--assume-active', ''], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stdin.end(renderHostSetup(args));
    setTimeout(booted, 1500);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stdout).toContain('ready; 11 file(s) updated');
  });
});
