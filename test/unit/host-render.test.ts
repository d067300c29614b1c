import { createHash } from 'crypto';
import {
  dockerLogGroupName,
  hostFiles,
  HostSetupArgs,
  isInstanceType,
  isSystemdCalendar,
  parseCidr,
  renderCloudWatchAgentConfig,
  renderDaemonJson,
  renderDataVolumeService,
  renderDockerClientConfig,
  renderHostSetup,
  renderPruneService,
  renderPruneTimer,
  renderStageFile,
  renderUserData,
  systemdEscapePath,
  USER_DATA_LIMIT_BYTES,
} from '../../components/host/render';
import { readHostScript } from '../../components/host/scripts';
import { readAgentScript } from '../../components/service/agentScript';

const AGENT = '#!/usr/bin/env bash\n# berth-agent stand-in\nset -euo pipefail\necho "$@"\n';

const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';

function setupArgs(overrides: Partial<HostSetupArgs> = {}): HostSetupArgs {
  return {
    project: 'berth',
    env: 'dev',
    region: 'eu-west-1',
    pruneSchedule: '*-*-* 03:00:00',
    dataVolume: { volumeId: 'vol-0123456789abcdef0', deviceName: '/dev/sdf' },
    serviceDirectories: ['web', 'auth', 'web'],
    agentScript: AGENT,
    registryHosts: [REGISTRY],
    ...overrides,
  };
}

describe('renderDaemonJson', () => {
  it('sends container logs to the environment log group with awslogs', () => {
    expect(renderDaemonJson({ driver: 'awslogs', region: 'eu-west-1', env: 'stage' })).toBe(
      [
        '{',
        '  "log-driver": "awslogs",',
        '  "log-opts": {',
        '    "awslogs-region": "eu-west-1",',
        '    "awslogs-group": "/berth/stage/docker",',
        '    "awslogs-create-group": "false",',
        '    "tag": "{{.Name}}/{{.ID}}",',
        '    "mode": "non-blocking",',
        '    "max-buffer-size": "4m"',
        '  },',
        '  "live-restore": true,',
        '  "no-new-privileges": true',
        '}',
        '',
      ].join('\n'),
    );
    expect(dockerLogGroupName('prod')).toBe('/berth/prod/docker');
  });

  it('takes an explicit log group and tag', () => {
    const json = JSON.parse(renderDaemonJson({ driver: 'awslogs', region: 'us-east-1', env: 'dev', logGroup: '/team/dev', tag: '{{.Name}}' }));
    expect(json['log-opts']['awslogs-group']).toBe('/team/dev');
    expect(json['log-opts'].tag).toBe('{{.Name}}');
  });

  it('rotates local logs', () => {
    expect(renderDaemonJson({ driver: 'local', maxSize: '50m', maxFile: 3 })).toBe(
      [
        '{',
        '  "log-driver": "local",',
        '  "log-opts": {',
        '    "max-size": "50m",',
        '    "max-file": "3",',
        '    "compress": "true"',
        '  },',
        '  "live-restore": true,',
        '  "no-new-privileges": true',
        '}',
        '',
      ].join('\n'),
    );
    expect(JSON.parse(renderDaemonJson({ driver: 'local' }))['log-opts']).toEqual({ 'max-size': '20m', 'max-file': '5', compress: 'true' });
  });

  it('refuses bad logging settings by name', () => {
    expect(() => renderDaemonJson({ driver: 'local', maxSize: '20 MB' })).toThrow('logging.maxSize: "20 MB" should be a size');
    expect(() => renderDaemonJson({ driver: 'local', maxFile: 0 })).toThrow('logging.maxFile');
    expect(() => renderDaemonJson({ driver: 'syslog' } as never)).toThrow('logging.driver: "syslog" is not supported; the supported drivers are awslogs, local');
  });
});

describe('renderCloudWatchAgentConfig', () => {
  it('publishes disk_used_percent for the Docker root filesystem and the data volume, by instance and path', () => {
    expect(renderCloudWatchAgentConfig()).toBe(
      [
        '{',
        '  "agent": {',
        '    "metrics_collection_interval": 60,',
        '    "run_as_user": "cwagent"',
        '  },',
        '  "metrics": {',
        '    "namespace": "Berth",',
        '    "append_dimensions": {',
        '      "InstanceId": "${aws:InstanceId}"',
        '    },',
        '    "aggregation_dimensions": [',
        '      [',
        '        "InstanceId",',
        '        "path"',
        '      ]',
        '    ],',
        '    "metrics_collected": {',
        '      "disk": {',
        '        "measurement": [',
        '          "used_percent"',
        '        ],',
        '        "resources": [',
        '          "/",',
        '          "/srv/berth"',
        '        ],',
        '        "drop_device": true',
        '      }',
        '    }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('follows the data mount point and namespace', () => {
    const config = JSON.parse(renderCloudWatchAgentConfig({ dataMountPoint: '/data', namespace: 'Acme', intervalSeconds: 30 }));
    expect(config.metrics.namespace).toBe('Acme');
    expect(config.metrics.metrics_collected.disk.resources).toEqual(['/', '/data']);
    expect(config.agent.metrics_collection_interval).toBe(30);
  });
});

describe('systemd units', () => {
  it('renders the data volume service before and required by docker.service', () => {
    expect(
      renderDataVolumeService({
        volume: { volumeId: 'vol-0123456789abcdef0', deviceName: '/dev/sdf' },
        serviceDirectories: ['web', 'auth', 'web'],
      }),
    ).toBe(
      [
        '[Unit]',
        'Description=Berth data volume: wait for it, format it only if blank, mount it at /srv/berth',
        'Before=docker.service',
        'After=srv-berth.mount',
        '',
        '[Service]',
        'Type=oneshot',
        'RemainAfterExit=yes',
        'ExecStart=/usr/local/sbin/berth-mount-data-volume --volume-id vol-0123456789abcdef0 --device /dev/sdf --mount-point /srv/berth --fs-type ext4 --timeout 300 --service-dir auth --service-dir web',
        'TimeoutStartSec=360',
        '',
        '[Install]',
        'RequiredBy=docker.service',
        '',
      ].join('\n'),
    );
  });

  it('leaves out the volume id when only the device name is known', () => {
    const unit = renderDataVolumeService({ volume: { deviceName: '/dev/xvdg', mountPoint: '/data/berth-1', fsType: 'xfs', timeoutSeconds: 30 } });
    expect(unit).toContain('ExecStart=/usr/local/sbin/berth-mount-data-volume --device /dev/xvdg --mount-point /data/berth-1 --fs-type xfs --timeout 30\n');
    expect(unit).toContain('After=data-berth\\x2d1.mount\n');
  });

  it('refuses a bad volume by field name', () => {
    expect(() => renderDataVolumeService({ volume: { volumeId: 'vol-XYZ', deviceName: '/dev/sdf' } })).toThrow('dataVolume.volumeId');
    expect(() => renderDataVolumeService({ volume: { deviceName: '/dev/nvme1n1' } })).toThrow('dataVolume.deviceName');
    expect(() => renderDataVolumeService({ volume: { deviceName: '/dev/sdf', mountPoint: '/' } })).toThrow('dataVolume.mountPoint');
    expect(() => renderDataVolumeService({ volume: { deviceName: '/dev/sdf' }, serviceDirectories: ['../etc'] })).toThrow('serviceDirectories: "../etc"');
  });

  it('renders the prune service scoped to one environment', () => {
    expect(renderPruneService({ env: 'stage' })).toBe(
      [
        '[Unit]',
        'Description=Berth prune: remove dangling images and stopped containers Berth no longer needs',
        'Requires=docker.service',
        'After=docker.service',
        '',
        '[Service]',
        'Type=oneshot',
        'ExecStart=/usr/local/bin/berth-agent prune --env stage --min-age 3600',
        'Nice=10',
        'IOSchedulingClass=idle',
        '',
      ].join('\n'),
    );
  });

  it('renders the prune timer from the schedule, persistent across downtime', () => {
    expect(renderPruneTimer('Sun *-*-* 04:00:00')).toBe(
      ['[Unit]', 'Description=Berth prune schedule', '', '[Timer]', 'OnCalendar=Sun *-*-* 04:00:00', 'Persistent=true', '', '[Install]', 'WantedBy=timers.target', ''].join('\n'),
    );
    expect(() => renderPruneTimer('every day')).toThrow('prune.schedule: "every day" is not a systemd calendar expression');
  });

  it('escapes mount paths like systemd-escape --path', () => {
    expect(systemdEscapePath('/srv/berth')).toBe('srv-berth');
    expect(systemdEscapePath('/srv/berth-data/')).toBe('srv-berth\\x2ddata');
    expect(systemdEscapePath('/')).toBe('-');
    expect(systemdEscapePath('/var/.hidden')).toBe('var-.hidden');
    expect(systemdEscapePath('/.hidden')).toBe('\\x2ehidden');
  });
});

describe('renderUserData', () => {
  const script = renderUserData({ project: 'berth', env: 'dev' });

  it('only installs packages, traps failures into the failed marker, and reports readiness last', () => {
    expect(script).toBe(
      [
        '#!/bin/bash',
        '# Berth host bootstrap for project berth, environment dev.',
        '# Rendered by components/host/userData.ts. Holds no secrets. The readiness',
        '# step (components/host/scripts/berth-host-setup) does the rest over SSH.',
        'set -euo pipefail',
        'umask 022',
        'mkdir -p /var/lib/berth',
        `trap 'echo "berth bootstrap failed at line $LINENO" | tee /var/lib/berth/failed >&2' ERR`,
        'for attempt in 1 2 3 4 5; do',
        '  if dnf install -y amazon-cloudwatch-agent amazon-ecr-credential-helper docker e2fsprogs jq xfsprogs; then break; fi',
        '  if [ "$attempt" = 5 ]; then false; fi',
        '  sleep 15',
        'done',
        'date -u +%Y-%m-%dT%H:%M:%SZ > /var/lib/berth/ready',
        '',
      ].join('\n'),
    );
  });

  it('depends on nothing that changes between `up`s, so hosts are not replaced for a config change', () => {
    expect(renderUserData({ project: 'berth', env: 'dev' })).toBe(script);
    expect(script).not.toMatch(/vol-|daemon\.json|OnCalendar|berth-agent/);
    expect(Buffer.byteLength(script)).toBeLessThan(USER_DATA_LIMIT_BYTES);
  });

  it('has no field for a secret, and refuses bad names', () => {
    expect(() => renderUserData({ project: 'berth', env: 'dev', sshPrivateKey: 'x' } as never)).toThrow('unknown argument "sshPrivateKey"');
    expect(() => renderUserData({ project: 'berth', env: 'Prod' })).toThrow('env: "Prod"');
  });
});

describe('renderHostSetup', () => {
  const setup = renderHostSetup(setupArgs());
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');

  it("starts with the shipped berth-host-setup library, waits for the bootstrap, then makes sure of the agent's Node.js and the host proxy", () => {
    const library = readHostScript('berth-host-setup');
    expect(setup.startsWith(library)).toBe(true);
    expect(setup.slice(library.length).split('\n').slice(0, 5)).toEqual([
      '# --- rendered by components/host/hostSetup.ts for project berth, environment dev ---',
      'setup_args "$@"',
      'wait_for_boot /var/lib/berth/ready /var/lib/berth/failed',
      'ensure_package /usr/bin/node-24 nodejs24',
      'ensure_package /usr/sbin/haproxy haproxy',
    ]);
  });

  it('stages every file the host runs, each with its sha256, in path order', () => {
    expect(hostFiles(setupArgs()).map((file) => [file.path, file.mode])).toEqual([
      ['/etc/berth/cloudwatch-agent.json', '0644'],
      ['/etc/berth/docker/config.json', '0644'],
      ['/etc/berth/host.env', '0644'],
      ['/etc/berth/proxy/haproxy.cfg', '0644'],
      ['/etc/docker/daemon.json', '0644'],
      ['/etc/systemd/system/berth-data-volume.service', '0644'],
      ['/etc/systemd/system/berth-proxy.service', '0644'],
      ['/etc/systemd/system/berth-prune.service', '0644'],
      ['/etc/systemd/system/berth-prune.timer', '0644'],
      ['/usr/local/bin/berth-agent', '0755'],
      ['/usr/local/sbin/berth-mount-data-volume', '0755'],
    ]);
    expect(setup).toContain(`stage_file /usr/local/bin/berth-agent 0755 ${sha(AGENT)} <<'BERTH_EOF'\n${AGENT}BERTH_EOF\n`);
    expect(setup).toContain(renderStageFile('/etc/docker/daemon.json', '0644', renderDaemonJson({ driver: 'awslogs', region: 'eu-west-1', env: 'dev' })));
    expect(setup).toContain(renderStageFile('/usr/local/sbin/berth-mount-data-volume', '0755', readHostScript('berth-mount-data-volume')));
    expect(setup).toContain(renderStageFile('/etc/systemd/system/berth-prune.timer', '0644', renderPruneTimer('*-*-* 03:00:00')));
    expect(setup).toContain(
      renderStageFile('/etc/systemd/system/berth-data-volume.service', '0644', renderDataVolumeService({ volume: setupArgs().dataVolume, serviceDirectories: ['auth', 'web'] })),
    );
    const hostEnv = 'BERTH_PROJECT=berth\nBERTH_ENV=dev\nBERTH_REGION=eu-west-1\nBERTH_DATA_ROOT=/srv/berth\nBERTH_LOCK_FILE=/run/lock/berth.lock\n' +
      'BERTH_PROXY_SOCKET=/run/berth-proxy/admin.sock\nBERTH_PROXY_MASTER_SOCKET=/run/berth-proxy/master.sock\n' +
      'BERTH_PROXY_CONFIG=/etc/berth/proxy/haproxy.cfg\nBERTH_PROXY_SERVICES=/etc/berth/proxy/services\n';
    expect(setup).toContain(`stage_file /etc/berth/host.env 0644 ${sha(hostEnv)} <<'BERTH_EOF'\n${hostEnv}BERTH_EOF\n`);
    // A heredoc ends with a newline: content without one is sent, and hashed, with it.
    expect(renderStageFile('/x', '0600', 'no newline')).toBe(`stage_file /x 0600 ${sha('no newline\n')} <<'BERTH_EOF'\nno newline\nBERTH_EOF\n`);
  });

  it('ends by converging the host, with the data volume mount command the unit runs at boot', () => {
    expect(setup.endsWith(
      'converge_host /etc/systemd/system /etc/docker/daemon.json /etc/berth/cloudwatch-agent.json ' +
        '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl berth-prune.timer berth-prune.service berth-data-volume.service berth-proxy.service /etc/berth/proxy/haproxy.cfg -- ' +
        '/usr/local/sbin/berth-mount-data-volume --volume-id vol-0123456789abcdef0 --device /dev/sdf --mount-point /srv/berth --fs-type ext4 --timeout 300 --service-dir auth --service-dir web\n',
    )).toBe(true);
  });

  it("names Amazon's ECR credential helper for each registry host in the agent's Docker client config", () => {
    expect(renderDockerClientConfig([REGISTRY, '210987654321.dkr.ecr.us-east-1.amazonaws.com', REGISTRY])).toBe(
      '{\n  "credHelpers": {\n    "123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login",\n    "210987654321.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"\n  }\n}\n',
    );
    expect(() => renderDockerClientConfig(['https://x/'])).toThrow('registryHosts: "https://x/" is not a registry host name');
  });

  it('renders the same bytes for the same input, whatever the service order', () => {
    expect(renderHostSetup(setupArgs({ serviceDirectories: ['auth', 'web'] }))).toBe(setup);
  });

  it('uses local logging and xfs when asked', () => {
    const local = renderHostSetup(setupArgs({ logging: { driver: 'local', maxSize: '10m' }, dataVolume: { deviceName: '/dev/sdf', fsType: 'xfs' } }));
    expect(local).toContain('"log-driver": "local"');
    expect(local).toContain('ExecStart=/usr/local/sbin/berth-mount-data-volume --device /dev/sdf --mount-point /srv/berth --fs-type xfs --timeout 300 --service-dir auth --service-dir web\n');
  });

  it('carries the real agent: the readiness step has no size limit, unlike user data', () => {
    const real = renderHostSetup(setupArgs({ agentScript: readAgentScript() }));
    expect(real).toContain(readAgentScript());
  });

  describe('holds no secrets', () => {
    const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----';

    it('has no field for one: a secret passed anyway is refused, not rendered', () => {
      for (const field of ['sshPrivateKey', 'sshKey', 'password', 'dbPassword', 'secrets']) {
        const args = { ...setupArgs(), [field]: privateKey } as unknown as HostSetupArgs;
        expect(() => renderHostSetup(args)).toThrow(`unknown argument "${field}"`);
      }
      const nested = { ...setupArgs(), dataVolume: { deviceName: '/dev/sdf', password: 'hunter2' } } as unknown as HostSetupArgs;
      expect(() => renderHostSetup(nested)).toThrow('unknown dataVolume field "password"');
      const logging = { ...setupArgs(), logging: { driver: 'awslogs', awsSecretAccessKey: 'x' } } as unknown as HostSetupArgs;
      expect(() => renderHostSetup(logging)).toThrow('unknown logging field "awsSecretAccessKey"');
    });

    it('refuses key material smuggled into the agent script', () => {
      expect(() => renderHostSetup(setupArgs({ agentScript: `${AGENT}KEY='${privateKey}'\n` }))).toThrow('agentScript contains a private key');
      expect(() => renderHostSetup(setupArgs({ agentScript: `${AGENT}export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n` }))).toThrow('agentScript contains an AWS access key id');
    });

    it('refuses an unresolved Pulumi Output', () => {
      const output = 'Calling [toString] on an [Output<T>] is not supported.';
      expect(() => renderHostSetup(setupArgs({ project: output }))).toThrow('project:');
      expect(() => renderHostSetup(setupArgs({ agentScript: `${AGENT}# ${output}\n` }))).toThrow('unresolved Pulumi Output');
    });

    it('renders nothing key-like from a normal argument set', () => {
      expect(setup).not.toMatch(/PRIVATE KEY|AKIA[0-9A-Z]{16}|password\s*[=:]/i);
    });
  });

  it('refuses bad arguments by name', () => {
    expect(() => renderHostSetup(setupArgs({ env: 'Prod' }))).toThrow('env: "Prod"');
    expect(() => renderHostSetup(setupArgs({ region: 'europe' }))).toThrow('region: "europe"');
    expect(() => renderHostSetup(setupArgs({ pruneSchedule: 'sometimes' }))).toThrow('prune.schedule');
    expect(() => renderHostSetup(setupArgs({ agentScript: 'echo no shebang' }))).toThrow('agentScript');
    expect(() => renderHostSetup(setupArgs({ agentScript: `${AGENT}BERTH_EOF\n` }))).toThrow('contains a line "BERTH_EOF"');
  });
});

describe('validators', () => {
  it.each([
    'daily',
    'weekly',
    'hourly',
    'monthly',
    'Daily',
    '*-*-* 03:00:00',
    '*-*-* 03:00',
    '03:00',
    '*:0/15',
    'Mon..Fri 02:30',
    'Mon-Fri 02:30',
    'Sun *-*-* 04:00:00 UTC',
    'Mon,Fri *-*-* 1:2',
    '2024-01-01',
    '*-02~03',
    '*-*-* 03:00:00 Europe/Berlin',
    '2024-*-* 00:00:00.5',
    '*-*-1/2',
  ])('accepts the calendar expression %j', (expr) => {
    expect(isSystemdCalendar(expr)).toBe(true);
  });

  it.each(['', ' daily', 'dialy', 'cron', 'now', '@1234', '*-*-* 24:00:00', '*-*-* 23:60', '*-13-01', '*-*-32', '*/2:00', 'Fri..Mon', '*-*-* 3..1:00', '*-*-* 03:00:00 PST', '1969-01-01', '00:00 UTC UTC', '*:0/0', '0 3 * * *'])(
    'refuses the calendar expression %j',
    (expr) => {
      expect(isSystemdCalendar(expr)).toBe(false);
    },
  );

  it('checks instance type names', () => {
    for (const good of ['t3.small', 'm7g.large', 'c6in.2xlarge', 'u-6tb1.metal', 'mac2-m2pro.metal']) {
      expect(isInstanceType(good)).toBe(true);
    }
    for (const bad of ['', 't3', 'T3.small', 't3.', '.small', 't3.small ', 't3_small', '3t.small', 't3.sm.all']) {
      expect(isInstanceType(bad)).toBe(false);
    }
  });

  it('parses CIDR blocks', () => {
    expect(parseCidr('10.0.0.0/16')).toEqual({ version: 4, address: '10.0.0.0', prefixLength: 16, text: '10.0.0.0/16', isAnyAddress: false });
    expect(parseCidr('0.0.0.0/0')).toEqual({ version: 4, address: '0.0.0.0', prefixLength: 0, text: '0.0.0.0/0', isAnyAddress: true });
    expect(parseCidr('203.0.113.7/32')).toMatchObject({ text: '203.0.113.7/32' });
    expect(parseCidr('2001:DB8:0:0::/32')).toEqual({ version: 6, address: '2001:db8::', prefixLength: 32, text: '2001:db8::/32', isAnyAddress: false });
    expect(parseCidr('::/0')).toMatchObject({ text: '::/0', isAnyAddress: true });
    expect(parseCidr('2001:db8:1:2:3:4:5:6/128')).toMatchObject({ text: '2001:db8:1:2:3:4:5:6/128' });
  });

  it('explains bad CIDR blocks', () => {
    expect(parseCidr('10.0.0.1/16')).toEqual({ error: '"10.0.0.1/16" has host bits set; the network is 10.0.0.0/16' });
    expect(parseCidr('10.0.0.0')).toEqual({ error: '"10.0.0.0" is not a CIDR block: expected address/prefix, e.g. 10.0.0.0/16 or 2001:db8::/32' });
    expect(parseCidr('10.0.0.256/32')).toEqual({ error: '"10.0.0.256" is not a valid IPv4 address' });
    expect(parseCidr('010.0.0.0/8')).toEqual({ error: '"010.0.0.0" is not a valid IPv4 address' });
    expect(parseCidr('10.0.0.0/33')).toEqual({ error: 'prefix /33 is longer than the 32 bits of an IPv4 address' });
    expect(parseCidr('2001:db8::1::/64')).toEqual({ error: '"2001:db8::1::" is not a valid IPv6 address' });
    expect(parseCidr('10.0.0.0/08')).toHaveProperty('error');
  });
});
