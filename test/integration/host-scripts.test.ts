/**
 * Host-side scripts and units, run for real as root: shellcheck, systemd-analyze
 * verify, the mount script on a file-backed loop device, and the prune job
 * against the real Docker engine and the test registry.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  hostScriptPath,
  isSystemdCalendar,
  renderDataVolumeService,
  renderPruneService,
  renderPruneTimer,
  renderHostSetup,
  renderUserData,
  systemdEscapePath,
} from '../../components/host/render';
import { renderProxyService } from '../../components/host/proxyConfig';
import { agentScriptPath, readAgentScript } from '../../components/service/agentScript';
import { buildImage, docker, pushImage, run, TEST_REGISTRY, uniqueName } from '../support/docker';

const MOUNT_SCRIPT = hostScriptPath('berth-mount-data-volume');
const SETUP_SCRIPT = hostScriptPath('berth-host-setup');

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-host-it-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('host scripts are shellcheck-clean', () => {
  it.each([MOUNT_SCRIPT, SETUP_SCRIPT])('%s', (script) => {
    const result = run('shellcheck', ['--shell=bash', script]);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(fs.statSync(script).mode & 0o111).toBe(0o111);
  });

  it.each([
    ['user data', () => renderUserData({ project: 'berth', env: 'dev' })],
    [
      'host setup',
      () =>
        renderHostSetup({
          project: 'berth',
          env: 'dev',
          region: 'eu-west-1',
          dataVolume: { volumeId: 'vol-0123456789abcdef0', deviceName: '/dev/sdf' },
          serviceDirectories: ['web'],
          agentScript: readAgentScript(),
          registryHosts: ['123456789012.dkr.ecr.eu-west-1.amazonaws.com'],
        }),
    ],
  ])('the rendered %s parses and is shellcheck-clean', (name, render) => {
    const file = path.join(scratch, `${name.replace(' ', '-')}.sh`);
    fs.writeFileSync(file, render());
    expect(run('bash', ['-n', file]).status).toBe(0);
    const result = run('shellcheck', [file]);
    expect(result.stdout + result.stderr).toBe('');
  });
});

describe('systemd units', () => {
  it('pass systemd-analyze verify', () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'units-'));
    const stub = path.join(dir, 'stub');
    fs.writeFileSync(stub, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const units: Record<string, string> = {
      'berth-data-volume.service': renderDataVolumeService({
        volume: { volumeId: 'vol-0123456789abcdef0', deviceName: '/dev/sdf' },
        serviceDirectories: ['auth', 'web'],
        scriptPath: stub,
      }),
      'berth-prune.service': renderPruneService({ env: 'dev', agentPath: stub }),
      'berth-prune.timer': renderPruneTimer('*-*-* 03:00:00'),
      // Names the test bed's own HAProxy (Debian's package), at the path AL2023's installs it too.
      'berth-proxy.service': renderProxyService(),
    };
    const files = Object.entries(units).map(([name, text]) => {
      fs.writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    });
    const result = run('systemd-analyze', ['verify', '--man=no', ...files]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('a broken unit does fail verify (the check is live)', () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'units-'));
    fs.writeFileSync(path.join(dir, 'berth-prune.service'), renderPruneService({ env: 'dev', agentPath: path.join(dir, 'missing') }));
    expect(run('systemd-analyze', ['verify', '--man=no', path.join(dir, 'berth-prune.service')]).status).not.toBe(0);
  });

  it('escape mount paths the way systemd does', () => {
    for (const mountPoint of ['/srv/berth', '/data/berth-1', '/srv/berth_data/x.y', '/.hidden/a']) {
      expect(systemdEscapePath(mountPoint)).toBe(run('systemd-escape', ['--path', mountPoint]).stdout.trim());
    }
  });

  it('agree with systemd-analyze calendar on schedules', () => {
    const expressions = ['daily', 'weekly', 'hourly', '*-*-* 03:00:00', '03:00', '*:0/15', 'Mon..Fri 02:30', 'Sun *-*-* 04:00:00 UTC', '*-02~03', 'dialy', '*-*-* 24:00:00', '*/2:00', 'Fri..Mon', '0 3 * * *', '*-13-01'];
    for (const expr of expressions) {
      expect([expr, isSystemdCalendar(expr)]).toEqual([expr, run('systemd-analyze', ['calendar', expr]).status === 0]);
    }
  });
});

describe('berth-mount-data-volume on a loop device', () => {
  let loopDevice = '';
  const image = path.join(scratch, 'data-volume.img');
  const mountPoint = path.join(scratch, 'srv-berth');
  const fstab = path.join(scratch, 'fstab');

  beforeAll(() => {
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 * 1024 * 1024);
    const attach = run('losetup', ['-f', '--show', image]);
    expect(attach.status).toBe(0);
    loopDevice = attach.stdout.trim();
    fs.writeFileSync(fstab, '# static file system information\nproc /proc proc defaults 0 0\n');
  });

  afterAll(() => {
    run('umount', [mountPoint]);
    if (loopDevice) {
      run('losetup', ['-d', loopDevice]);
    }
  });

  const mountArgs = (...extra: string[]): string[] => ['--device-path', loopDevice, '--mount-point', mountPoint, '--fstab', fstab, '--timeout', '5', ...extra];
  const uuidOf = (device: string): string => run('blkid', ['-p', '-o', 'value', '-s', 'UUID', device]).stdout.trim();
  const mountedSource = (): string => run('findmnt', ['-rn', '-o', 'SOURCE', '--mountpoint', mountPoint]).stdout.trim();

  it('formats a blank volume, mounts it, writes one fstab line and the service directories', () => {
    const result = run(MOUNT_SCRIPT, mountArgs('--service-dir', 'web', '--service-dir', 'auth'));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`${loopDevice} has no filesystem: creating ext4`);
    const uuid = uuidOf(loopDevice);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(fs.readFileSync(fstab, 'utf8')).toBe(`# static file system information\nproc /proc proc defaults 0 0\nUUID=${uuid} ${mountPoint} ext4 defaults,nofail 0 2\n`);
    expect(mountedSource()).toBe(loopDevice);
    expect(fs.statSync(path.join(mountPoint, 'web')).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(mountPoint, 'auth')).isDirectory()).toBe(true);
  });

  it('keeps an existing filesystem and its files, and the fstab line stays single', () => {
    const uuid = uuidOf(loopDevice);
    fs.writeFileSync(path.join(mountPoint, 'web', 'state.db'), 'precious');
    const fstabBefore = fs.readFileSync(fstab, 'utf8');

    const again = run(MOUNT_SCRIPT, mountArgs('--service-dir', 'web'));
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('already has a ext4 filesystem: keeping it');
    expect(again.stdout).toContain('is already mounted');

    expect(run('umount', [mountPoint]).status).toBe(0);
    const afterReboot = run(MOUNT_SCRIPT, mountArgs('--service-dir', 'web', '--service-dir', 'orders'));
    expect(afterReboot.status).toBe(0);
    expect(afterReboot.stdout).not.toContain('creating');
    expect(uuidOf(loopDevice)).toBe(uuid);
    expect(mountedSource()).toBe(loopDevice);
    expect(fs.readFileSync(path.join(mountPoint, 'web', 'state.db'), 'utf8')).toBe('precious');
    expect(fs.statSync(path.join(mountPoint, 'orders')).isDirectory()).toBe(true);
    expect(fs.readFileSync(fstab, 'utf8')).toBe(fstabBefore);
  });

  it('finds the volume by id the way Nitro names it, and replaces a stale fstab line', () => {
    expect(run('umount', [mountPoint]).status).toBe(0);
    const byId = fs.mkdtempSync(path.join(scratch, 'by-id-'));
    fs.symlinkSync(loopDevice, path.join(byId, 'nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0'));
    fs.appendFileSync(fstab, `UUID=00000000-0000-0000-0000-000000000000 ${mountPoint} ext4 defaults,nofail 0 2\n`);

    const result = run(MOUNT_SCRIPT, ['--volume-id', 'vol-0123456789abcdef0', '--device', '/dev/sdz', '--by-id-dir', byId, '--mount-point', mountPoint, '--fstab', fstab, '--timeout', '5']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`at ${loopDevice}`);
    const lines = fs.readFileSync(fstab, 'utf8').split('\n').filter((line) => line.includes(mountPoint));
    expect(lines).toEqual([`UUID=${uuidOf(loopDevice)} ${mountPoint} ext4 defaults,nofail 0 2`]);
    expect(mountedSource()).toBe(loopDevice);
  });

  it('gives up on a missing device within the timeout, with a clear message', () => {
    // A hang would end in `timeout`'s own exit status 124, never in the script's 3.
    const result = run('timeout', ['60', MOUNT_SCRIPT, '--volume-id', 'vol-0fedcba9876543210', '--device', '/dev/sdy', '--by-id-dir', scratch, '--mount-point', path.join(scratch, 'never'), '--fstab', path.join(scratch, 'fstab-never'), '--timeout', '2']);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('data volume (volume vol-0fedcba9876543210, device name /dev/sdy) did not appear within 2s');
    expect(fs.existsSync(path.join(scratch, 'fstab-never'))).toBe(false);
  });

  it('refuses bad arguments before touching anything', () => {
    expect(run(MOUNT_SCRIPT, ['--device-path', loopDevice, '--fs-type', 'btrfs']).status).toBe(2);
    expect(run(MOUNT_SCRIPT, ['--device-path', loopDevice, '--service-dir', '../etc']).status).toBe(2);
    expect(run(MOUNT_SCRIPT, []).status).toBe(2);
  });
});

describe('berth-mount-data-volume grows a grown volume, never reformatting it', () => {
  const MiB = 1024 * 1024;
  const attached: string[] = [];
  const mounted: string[] = [];

  afterAll(() => {
    for (const mountPoint of mounted) {
      run('umount', [mountPoint]);
    }
    for (const device of attached) {
      run('losetup', ['-d', device]);
    }
  });

  /** A file-backed loop device standing in for an EBS volume of `sizeMiB`. */
  const attachVolume = (name: string, sizeMiB: number): { image: string; device: string } => {
    const image = path.join(scratch, `${name}.img`);
    fs.writeFileSync(image, '');
    fs.truncateSync(image, sizeMiB * MiB);
    const attach = run('losetup', ['-f', '--show', image]);
    expect(attach.status).toBe(0);
    const device = attach.stdout.trim();
    attached.push(device);
    return { image, device };
  };

  /** What EC2 ModifyVolume does to the block device: the same data, a larger size. */
  const growVolume = (image: string, device: string, sizeMiB: number): void => {
    fs.truncateSync(image, sizeMiB * MiB);
    expect(run('losetup', ['-c', device]).status).toBe(0);
    expect(Number(run('blockdev', ['--getsize64', device]).stdout.trim())).toBe(sizeMiB * MiB);
  };

  const uuidOf = (device: string): string => run('blkid', ['-p', '-o', 'value', '-s', 'UUID', device]).stdout.trim();

  const CAP_SYS_RESOURCE = 24;
  /** Whether this process (and so the script it starts as root) holds a capability (capabilities(7)). */
  const hasCapability = (bit: number): boolean => {
    const effective = /^CapEff:\s+([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
    return ((BigInt(`0x${effective}`) >> BigInt(bit)) & BigInt(1)) === BigInt(1);
  };

  /** The filesystem's own size in bytes, read from its superblock (ext4) or its geometry (xfs). */
  const ext4Bytes = (device: string): number => {
    const header = run('dumpe2fs', ['-h', device]).stdout;
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(header)?.[1]);
    return field('Block count') * field('Block size');
  };
  const xfsBytes = (mountPoint: string): number => {
    const match = /^data\s+=\s+bsize=(\d+)\s+blocks=(\d+)/m.exec(run('xfs_info', [mountPoint]).stdout);
    expect(match).not.toBeNull();
    return Number(match![1]) * Number(match![2]);
  };

  const mountScript = (device: string, mountPoint: string, fstab: string) =>
    run(MOUNT_SCRIPT, ['--device-path', device, '--mount-point', mountPoint, '--fstab', fstab, '--timeout', '5', '--service-dir', 'web']);

  it('ext4: grows offline at boot and online while mounted (where the kernel allows it); the file and the UUID stay', () => {
    const { image, device } = attachVolume('grow-ext4', 32);
    const mountPoint = path.join(scratch, 'grow-ext4');
    const fstab = path.join(scratch, 'fstab-grow-ext4');
    // An existing volume: a filesystem made elsewhere, with data on it.
    expect(run('mkfs.ext4', ['-q', '-L', 'berth-data', device]).status).toBe(0);
    const uuid = uuidOf(device);
    const first = mountScript(device, mountPoint, fstab);
    mounted.push(mountPoint);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('already has a ext4 filesystem: keeping it');
    expect(first.stdout).toContain('the ext4 filesystem already fills');
    fs.writeFileSync(path.join(mountPoint, 'web', 'state.db'), 'precious');
    expect(ext4Bytes(device)).toBe(32 * MiB);

    // Grown while the host was stopped: the script runs at boot, on an unmounted filesystem.
    expect(run('umount', [mountPoint]).status).toBe(0);
    growVolume(image, device, 96);
    const afterBoot = mountScript(device, mountPoint, fstab);
    expect(afterBoot.stderr).toBe('');
    expect(afterBoot.status).toBe(0);
    expect(afterBoot.stdout).not.toContain('creating');
    expect(afterBoot.stdout).toMatch(/grew the ext4 filesystem on \S+ from \d+ to \d+ bytes/);
    expect(ext4Bytes(device)).toBe(96 * MiB);
    expect(uuidOf(device)).toBe(uuid);
    expect(fs.readFileSync(path.join(mountPoint, 'web', 'state.db'), 'utf8')).toBe('precious');

    // Grown while running (ModifyVolume on a live host): the next run grows it online. That takes
    // CAP_SYS_RESOURCE, which root has on a host but may lack in a container: then the script
    // warns, leaves the volume mounted and usable at its old size, and the next boot grows it.
    growVolume(image, device, 128);
    const online = mountScript(device, mountPoint, fstab);
    expect(online.status).toBe(0);
    expect(online.stdout).toContain('is already mounted');
    if (hasCapability(CAP_SYS_RESOURCE)) {
      expect(online.stderr).toBe('');
      expect(online.stdout).toContain('grew the ext4 filesystem');
      expect(ext4Bytes(device)).toBe(128 * MiB);
    } else {
      expect(online.stderr).toContain('warning: could not grow the ext4 filesystem');
      expect(online.stderr).toContain('Permission denied');
      expect(ext4Bytes(device)).toBe(96 * MiB);
    }
    expect(fs.readFileSync(path.join(mountPoint, 'web', 'state.db'), 'utf8')).toBe('precious');

    // The next boot: whatever is left to grow is grown, and nothing is reformatted.
    expect(run('umount', [mountPoint]).status).toBe(0);
    const reboot = mountScript(device, mountPoint, fstab);
    expect(reboot.stderr).toBe('');
    expect(reboot.status).toBe(0);
    expect(reboot.stdout).not.toContain('creating');
    expect(ext4Bytes(device)).toBe(128 * MiB);
    expect(uuidOf(device)).toBe(uuid);
    expect(fs.readFileSync(path.join(mountPoint, 'web', 'state.db'), 'utf8')).toBe('precious');

    // Nothing left to grow: a rerun changes nothing.
    const rerun = mountScript(device, mountPoint, fstab);
    expect(rerun.stderr).toBe('');
    expect(rerun.status).toBe(0);
    expect(rerun.stdout).toContain('the ext4 filesystem already fills');
    expect(ext4Bytes(device)).toBe(128 * MiB);
  });

  it('xfs: grows after a reboot and while mounted; the file and the UUID stay', () => {
    // mkfs.xfs refuses filesystems under 300 MiB.
    const { image, device } = attachVolume('grow-xfs', 320);
    const mountPoint = path.join(scratch, 'grow-xfs');
    const fstab = path.join(scratch, 'fstab-grow-xfs');
    expect(run('mkfs.xfs', ['-q', '-L', 'berth-data', device]).status).toBe(0);
    const uuid = uuidOf(device);
    const first = mountScript(device, mountPoint, fstab);
    mounted.push(mountPoint);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('already has a xfs filesystem: keeping it');
    fs.writeFileSync(path.join(mountPoint, 'web', 'state.db'), 'precious');
    const before = xfsBytes(mountPoint);
    expect(before).toBe(320 * MiB);

    expect(run('umount', [mountPoint]).status).toBe(0);
    growVolume(image, device, 400);
    const afterBoot = mountScript(device, mountPoint, fstab);
    expect(afterBoot.stderr).toBe('');
    expect(afterBoot.status).toBe(0);
    expect(afterBoot.stdout).not.toContain('creating');
    expect(afterBoot.stdout).toContain('grew the xfs filesystem');
    expect(xfsBytes(mountPoint)).toBe(400 * MiB);
    expect(uuidOf(device)).toBe(uuid);
    expect(fs.readFileSync(path.join(mountPoint, 'web', 'state.db'), 'utf8')).toBe('precious');

    growVolume(image, device, 480);
    const online = mountScript(device, mountPoint, fstab);
    expect(online.stderr).toBe('');
    expect(online.status).toBe(0);
    expect(online.stdout).toContain('is already mounted');
    expect(online.stdout).toContain('grew the xfs filesystem');
    expect(xfsBytes(mountPoint)).toBe(480 * MiB);
    expect(uuidOf(device)).toBe(uuid);
    expect(fs.readFileSync(path.join(mountPoint, 'web', 'state.db'), 'utf8')).toBe('precious');

    const rerun = mountScript(device, mountPoint, fstab);
    expect(rerun.status).toBe(0);
    expect(rerun.stdout).toContain('the xfs filesystem already fills');
  });
});

describe('berth-agent prune against the real engine', () => {
  const suffix = `${process.pid}${Date.now().toString(36)}`;
  const env = `it${suffix}a`;
  const otherEnv = `it${suffix}b`;
  const service = `web${suffix}`;
  const repo = `berth-it/${uniqueName('prune')}`;
  const containers: string[] = [];
  const images: string[] = [];
  const lockFile = path.join(scratch, 'berth.lock');
  const prune = (args: string[]) => run(agentScriptPath(), ['prune', ...args], { env: { ...process.env, BERTH_LOCK_FILE: lockFile } });

  const labelled = (environment: string): string[] => ['--label', `berth.service=${service}`, '--label', `berth.env=${environment}`];
  const exists = (kind: 'container' | 'image', ref: string): boolean => run('docker', [kind, 'inspect', ref]).status === 0;
  const build = (tag: string, marker: string): string => {
    const id = buildImage({ tag, instructions: [`RUN echo ${marker} > /marker && dd if=/dev/zero of=/pad bs=1024 count=64 2>/dev/null`] });
    images.push(id);
    return id;
  };
  // Moves the tag away (as a newer build or pull does), leaving the image untagged but in use.
  const untag = (tag: string): void => {
    docker('tag', 'berth-test/busybox:latest', tag);
    docker('image', 'rm', tag);
  };
  const stoppedContainer = (name: string, environment: string, image: string): void => {
    docker('run', '--name', name, ...labelled(environment), image, 'true');
    containers.push(name);
  };

  afterAll(() => {
    for (const name of containers) {
      run('docker', ['rm', '-f', name]);
    }
    for (const id of images) {
      run('docker', ['image', 'rm', '-f', id]);
    }
  });

  it('removes exactly what no one needs and reports the bytes freed', () => {
    // The service's current container, running, and its current tag.
    const current = build(`${repo}/current:v1`, `current-${suffix}`);
    docker('tag', current, `berth/${service}:${env}-current`);
    docker('run', '-d', '--name', `berth-${env}-${service}`, ...labelled(env), current, 'sleep', '3600');
    containers.push(`berth-${env}-${service}`);

    // The rollback image: tagged locally, no container.
    const rollback = build(`berth/${service}:${env}-previous`, `previous-${suffix}`);

    // A replaced container of this environment, stopped, its image untagged: both go.
    const replaced = build(`${repo}/replaced:v0`, `replaced-${suffix}`);
    stoppedContainer(`berth-${env}-${service}-old`, env, replaced);
    untag(`${repo}/replaced:v0`);

    // An image pulled only by digest that no container uses: dangling, goes.
    const pushedTag = `${TEST_REGISTRY}/${repo}/bydigest:v1`;
    build(pushedTag, `digest-${suffix}`);
    const digest = pushImage(pushedTag);
    docker('image', 'rm', pushedTag);
    docker('pull', '-q', `${TEST_REGISTRY}/${repo}/bydigest@${digest}`);
    const digestOnly = docker('image', 'inspect', '--format', '{{.Id}}', `${TEST_REGISTRY}/${repo}/bydigest@${digest}`);
    images.push(digestOnly);
    expect(docker('image', 'inspect', '--format', '{{len .RepoTags}}', digestOnly)).toBe('0');

    // Rebuilding a tag leaves the earlier build dangling.
    const dangling = build(`${repo}/rebuilt:latest`, `first-${suffix}`);
    const rebuilt = build(`${repo}/rebuilt:latest`, `second-${suffix}`);
    expect(rebuilt).not.toBe(dangling);

    // Another environment's stopped current container and a stopped old one: its state, not ours.
    const otherCurrent = build(`${repo}/other:v1`, `other-${suffix}`);
    stoppedContainer(`berth-${otherEnv}-${service}`, otherEnv, otherCurrent);
    stoppedContainer(`berth-${otherEnv}-${service}-old`, otherEnv, otherCurrent);
    untag(`${repo}/other:v1`);

    expect(docker('image', 'inspect', '--format', '{{len .RepoTags}}', replaced)).toBe('0');
    expect(docker('image', 'inspect', '--format', '{{len .RepoTags}}', otherCurrent)).toBe('0');

    const result = prune(['--env', env, '--min-age', '0']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n');

    expect(exists('container', `berth-${env}-${service}`)).toBe(true);
    expect(exists('image', current)).toBe(true);
    expect(exists('image', rollback)).toBe(true);
    expect(exists('image', `berth/${service}:${env}-previous`)).toBe(true);
    expect(exists('image', rebuilt)).toBe(true);
    expect(exists('container', `berth-${otherEnv}-${service}`)).toBe(true);
    expect(exists('container', `berth-${otherEnv}-${service}-old`)).toBe(true);
    expect(exists('image', otherCurrent)).toBe(true);

    expect(exists('container', `berth-${env}-${service}-old`)).toBe(false);
    expect(exists('image', replaced)).toBe(false);
    expect(exists('image', digestOnly)).toBe(false);
    expect(exists('image', dangling)).toBe(false);

    expect(lines.filter((line) => line.includes(`removed container berth-${env}-${service}-old `))).toHaveLength(1);
    expect(lines).toContain(`berth-agent: removed image ${replaced}`);
    expect(lines).toContain(`berth-agent: removed image ${dangling}`);
    expect(lines).toContain(`berth-agent: removed image ${digestOnly} refs=${TEST_REGISTRY}/${repo}/bydigest@${digest}`);
    expect(lines.some((line) => line.includes(otherEnv))).toBe(false);

    const summary = lines[lines.length - 1];
    expect(summary).toMatch(new RegExp(`^berth-agent: summary: scope=${env} removed containers=1 images=\\d+ layers=\\d+ kept_stopped_containers=0 bytes_freed=\\d+ \\(containers=\\d+ images=\\d+\\)$`));
    const imageBytes = Number(/images=(\d+)\)$/.exec(summary)?.[1]);
    // Three images of at least 64 KiB of their own each went.
    expect(imageBytes).toBeGreaterThanOrEqual(3 * 64 * 1024);
    expect(Number(/bytes_freed=(\d+)/.exec(summary)?.[1])).toBeGreaterThanOrEqual(imageBytes);
  });

  it('keeps a recently stopped container while a deploy may still need it', () => {
    const image = build(`${repo}/young:v1`, `young-${suffix}`);
    stoppedContainer(`berth-${env}-${service}-young`, env, image);
    const result = prune(['--env', env]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`kept container berth-${env}-${service}-young: stopped less than 3600s ago`);
    expect(exists('container', `berth-${env}-${service}-young`)).toBe(true);
  });

  it('refuses an environment name that could widen its scope', () => {
    const result = prune(['--env', 'dev,prod']);
    expect(result.stderr).toBe('berth-agent: refused: --env: not an environment name: dev,prod\n');
    expect(result.status).toBe(2);
  });
});
