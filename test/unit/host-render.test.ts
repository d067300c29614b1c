import { gunzipSync } from 'zlib';
import {
  dockerLogGroupName,
  gzipUserDataBase64,
  isInstanceType,
  isSystemdCalendar,
  parseCidr,
  renderCloudWatchAgentConfig,
  renderDaemonJson,
  renderDataVolumeService,
  renderFileBlock,
  renderPruneService,
  renderPruneTimer,
  renderUserData,
  systemdEscapePath,
  UserDataArgs,
  USER_DATA_LIMIT_BYTES,
} from '../../components/host/render';
import { readHostScript } from '../../components/host/scripts';

const AGENT = '#!/usr/bin/env bash\n# berth-agent stand-in\nset -euo pipefail\necho "$@"\n';

function userDataArgs(overrides: Partial<UserDataArgs> = {}): UserDataArgs {
  return {
    project: 'berth',
    env: 'dev',
    region: 'eu-west-1',
    pruneSchedule: '*-*-* 03:00:00',
    dataVolume: { volumeId: 'vol-0123456789abcdef0', deviceName: '/dev/sdf' },
    serviceDirectories: ['web', 'auth', 'web'],
    agentScript: AGENT,
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
        'ExecStart=/usr/local/sbin/berth-prune --env stage --min-age 3600',
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
  const script = renderUserData(userDataArgs());

  it('starts strict and traps failures into the failed marker', () => {
    expect(script.startsWith(
      [
        '#!/bin/bash',
        '# Berth host bootstrap for project berth, environment dev.',
        '# Rendered by components/host/userData.ts. Holds no secrets.',
        'set -euo pipefail',
        'umask 022',
        'mkdir -p /var/lib/berth',
        `trap 'echo "berth bootstrap failed at line $LINENO" | tee /var/lib/berth/failed >&2' ERR`,
        '',
        'dnf install -y amazon-cloudwatch-agent docker e2fsprogs jq',
        '',
      ].join('\n'),
    )).toBe(true);
  });

  it('embeds each file through a quoted heredoc', () => {
    expect(script).toContain(renderFileBlock('/etc/docker/daemon.json', '0644', renderDaemonJson({ driver: 'awslogs', region: 'eu-west-1', env: 'dev' })));
    expect(script).toContain(renderFileBlock('/usr/local/sbin/berth-mount-data-volume', '0755', readHostScript('berth-mount-data-volume')));
    expect(script).toContain(renderFileBlock('/usr/local/sbin/berth-prune', '0755', readHostScript('berth-prune')));
    expect(script).toContain(renderFileBlock('/usr/local/bin/berth-agent', '0755', AGENT));
    expect(script).toContain(renderFileBlock('/etc/systemd/system/berth-prune.timer', '0644', renderPruneTimer('*-*-* 03:00:00')));
    expect(script).toContain(
      renderFileBlock('/etc/systemd/system/berth-data-volume.service', '0644', renderDataVolumeService({ volume: userDataArgs().dataVolume, serviceDirectories: ['auth', 'web'] })),
    );
    expect(script).toContain(
      'cat > /etc/berth/host.env <<\'BERTH_EOF\'\nBERTH_PROJECT=berth\nBERTH_ENV=dev\nBERTH_REGION=eu-west-1\nBERTH_DATA_DIR=/srv/berth\nBERTH_LOCK_FILE=/run/lock/berth.lock\nBERTH_EOF\nchmod 0644 /etc/berth/host.env\n',
    );
    expect(renderFileBlock('/x', '0600', 'no newline')).toBe("cat > /x <<'BERTH_EOF'\nno newline\nBERTH_EOF\nchmod 0600 /x\n");
  });

  it('enables the units, starts Docker after the data volume, and reports readiness last', () => {
    expect(script.endsWith(
      [
        'systemctl daemon-reload',
        'systemctl enable berth-data-volume.service docker.service berth-prune.timer',
        '# Waits for the data volume (docker.service requires it), then starts Docker.',
        'systemctl start berth-data-volume.service',
        'systemctl start docker.service',
        'docker info >/dev/null',
        'systemctl start berth-prune.timer',
        '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json',
        '',
        'date -u +%Y-%m-%dT%H:%M:%SZ > /var/lib/berth/ready',
        '',
      ].join('\n'),
    )).toBe(true);
  });

  it('installs no agent when none is given', () => {
    const withoutAgent = renderUserData(userDataArgs({ agentScript: undefined }));
    expect(withoutAgent).not.toContain('/usr/local/bin/berth-agent');
    expect(withoutAgent).toContain(renderFileBlock('/usr/local/sbin/berth-prune', '0755', readHostScript('berth-prune')));
  });

  it('renders the same bytes for the same input, whatever the service order', () => {
    expect(renderUserData(userDataArgs({ serviceDirectories: ['auth', 'web'] }))).toBe(script);
  });

  it('uses local logging and xfs when asked', () => {
    const local = renderUserData(userDataArgs({ logging: { driver: 'local', maxSize: '10m' }, dataVolume: { deviceName: '/dev/sdf', fsType: 'xfs' } }));
    expect(local).toContain('"log-driver": "local"');
    expect(local).toContain('dnf install -y amazon-cloudwatch-agent docker xfsprogs jq\n');
    expect(local).toContain('ExecStart=/usr/local/sbin/berth-mount-data-volume --device /dev/sdf --mount-point /srv/berth --fs-type xfs --timeout 300 --service-dir auth --service-dir web\n');
  });

  it('fits EC2 user data limits once gzipped, and unpacks to the same script', () => {
    const bigAgent = '#!/usr/bin/env bash\n' + 'echo "a line of a hundred-line agent, with some words to make it realistic"\n'.repeat(150);
    const rendered = renderUserData(userDataArgs({ agentScript: bigAgent }));
    const packed = gzipUserDataBase64(rendered);
    expect(Buffer.from(packed, 'base64').length).toBeLessThan(USER_DATA_LIMIT_BYTES);
    expect(gunzipSync(Buffer.from(packed, 'base64')).toString('utf8')).toBe(rendered);
    expect(gzipUserDataBase64(rendered)).toBe(packed);
  });

  describe('holds no secrets', () => {
    const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----';

    it('has no field for one: a secret passed anyway is refused, not rendered', () => {
      for (const field of ['sshPrivateKey', 'sshKey', 'password', 'dbPassword', 'secrets']) {
        const args = { ...userDataArgs(), [field]: privateKey } as unknown as UserDataArgs;
        expect(() => renderUserData(args)).toThrow(`unknown argument "${field}"`);
      }
      const nested = { ...userDataArgs(), dataVolume: { deviceName: '/dev/sdf', password: 'hunter2' } } as unknown as UserDataArgs;
      expect(() => renderUserData(nested)).toThrow('unknown dataVolume field "password"');
      const logging = { ...userDataArgs(), logging: { driver: 'awslogs', awsSecretAccessKey: 'x' } } as unknown as UserDataArgs;
      expect(() => renderUserData(logging)).toThrow('unknown logging field "awsSecretAccessKey"');
    });

    it('refuses key material smuggled into the agent script', () => {
      expect(() => renderUserData(userDataArgs({ agentScript: `${AGENT}KEY='${privateKey}'\n` }))).toThrow('agentScript contains a private key');
      expect(() => renderUserData(userDataArgs({ agentScript: `${AGENT}export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n` }))).toThrow('agentScript contains an AWS access key id');
    });

    it('refuses an unresolved Pulumi Output', () => {
      const output = 'Calling [toString] on an [Output<T>] is not supported.';
      expect(() => renderUserData(userDataArgs({ project: output }))).toThrow('project:');
      expect(() => renderUserData(userDataArgs({ agentScript: `${AGENT}# ${output}\n` }))).toThrow('unresolved Pulumi Output');
    });

    it('renders nothing key-like from a normal argument set', () => {
      expect(script).not.toMatch(/PRIVATE KEY|AKIA[0-9A-Z]{16}|password\s*[=:]/i);
    });
  });

  it('refuses bad arguments by name', () => {
    expect(() => renderUserData(userDataArgs({ env: 'Prod' }))).toThrow('env: "Prod"');
    expect(() => renderUserData(userDataArgs({ region: 'europe' }))).toThrow('region: "europe"');
    expect(() => renderUserData(userDataArgs({ pruneSchedule: 'sometimes' }))).toThrow('prune.schedule');
    expect(() => renderUserData(userDataArgs({ agentScript: 'echo no shebang' }))).toThrow('agentScript');
    expect(() => renderUserData(userDataArgs({ agentScript: `${AGENT}BERTH_EOF\n` }))).toThrow('contains a line "BERTH_EOF"');
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
