/**
 * The host proxy's own files, exactly: HAProxy's global settings and
 * berth-proxy.service. test/integration/host-scripts.test.ts verifies the unit
 * with systemd-analyze; the integration tests start HAProxy from this config.
 */
import { renderProxyBaseConfig, renderProxyService } from '../../components/host/proxyConfig';

describe('the host proxy files', () => {
  it('global settings: the runtime API for the agent (root only, handing listeners over on a reload), an hour for old processes, and timeouts', () => {
    expect(renderProxyBaseConfig()).toBe(
      [
        '# Berth host proxy: global settings. Each service has its own file in the services folder, written by berth-agent.',
        'global',
        '    log /dev/log local0 info',
        '    stats socket /run/berth-proxy/admin.sock mode 600 level admin expose-fd listeners',
        '    stats timeout 30s',
        '    hard-stop-after 3600s',
        '',
        'defaults',
        '    log global',
        '    timeout connect 5s',
        '    timeout client 65s',
        '    timeout server 1m',
        '    timeout http-keep-alive 65s',
        '',
      ].join('\n'),
    );
  });

  it('takes another socket, and no log target on a host without syslog', () => {
    const text = renderProxyBaseConfig({ socket: '/tmp/x/admin.sock', log: null });
    expect(text).toContain('    stats socket /tmp/x/admin.sock mode 600 level admin expose-fd listeners\n');
    expect(text).not.toContain('log');
  });

  it('berth-proxy.service: master-worker under systemd notify, the configuration checked before a start and a reload, restarted if it exits, started at boot', () => {
    expect(renderProxyService()).toBe(
      [
        '[Unit]',
        "Description=Berth host proxy (HAProxy): owns the services' published ports",
        'After=network-online.target',
        'Wants=network-online.target',
        '',
        '[Service]',
        'Type=notify',
        'RuntimeDirectory=berth-proxy',
        'RuntimeDirectoryMode=0700',
        'ExecStartPre=/usr/bin/mkdir -p /etc/berth/proxy/services',
        'ExecStartPre=/usr/sbin/haproxy -c -q -f /etc/berth/proxy/haproxy.cfg -f /etc/berth/proxy/services',
        'ExecStart=/usr/sbin/haproxy -Ws -f /etc/berth/proxy/haproxy.cfg -f /etc/berth/proxy/services -S /run/berth-proxy/master.sock,mode,600 -p /run/berth-proxy/haproxy.pid',
        'ExecReload=/usr/sbin/haproxy -c -q -f /etc/berth/proxy/haproxy.cfg -f /etc/berth/proxy/services',
        'ExecReload=/bin/kill -USR2 $MAINPID',
        'LimitNOFILE=1048576',
        'KillMode=mixed',
        'SuccessExitStatus=143',
        'Restart=always',
        'RestartSec=2',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
      ].join('\n'),
    );
  });
});
