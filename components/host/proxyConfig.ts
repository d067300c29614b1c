/**
 * The host proxy's own files: HAProxy's global settings and the systemd unit
 * that runs it. Pure; the services' listeners are files berth-agent writes
 * (components/service/agent/proxy.ts). Tests run both for real.
 */
import { MAX_DRAIN_SECONDS } from '../service/spec';
import { PROXY_PATHS, UNIT_NAMES } from './paths';

export interface ProxyBaseArgs {
  /** The runtime API socket the agent drives. @default PROXY_PATHS.socket */
  socket?: string;
  /** Where HAProxy logs; none on a test bed without syslog. @default '/dev/log' */
  log?: string | null;
}

/**
 * Global settings and defaults. `expose-fd listeners` lets a reload hand the
 * listening sockets to the new process, so no connection is refused; the old
 * process keeps its in-flight connections for at most the longest drain a
 * service may ask for (`hard-stop-after`).
 */
export function renderProxyBaseConfig(args: ProxyBaseArgs = {}): string {
  const log = args.log === undefined ? '/dev/log' : args.log;
  return [
    '# Berth host proxy: global settings. Each service has its own file in the services folder, written by berth-agent.',
    'global',
    ...(log === null ? [] : [`    log ${log} local0 info`]),
    `    stats socket ${args.socket ?? PROXY_PATHS.socket} mode 600 level admin expose-fd listeners`,
    '    stats timeout 30s',
    `    hard-stop-after ${MAX_DRAIN_SECONDS}s`,
    '',
    'defaults',
    ...(log === null ? [] : ['    log global']),
    // Idle connections outlive the load balancer's (60 s by default): a connection it still
    // reuses is never closed under it.
    '    timeout connect 5s',
    '    timeout client 65s',
    '    timeout server 1m',
    '    timeout http-keep-alive 65s',
    '',
  ].join('\n');
}

/**
 * berth-proxy.service: HAProxy in master-worker mode (`-Ws`, systemd notify),
 * the configuration checked before every start and reload, restarted if it
 * ever exits. Wanted by multi-user.target, so a reboot brings every
 * service's listeners back from their files without a deploy.
 */
export function renderProxyService(): string {
  const configs = `-f ${PROXY_PATHS.config} -f ${PROXY_PATHS.servicesDir}`;
  return [
    '[Unit]',
    'Description=Berth host proxy (HAProxy): owns the services\' published ports',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=notify',
    'RuntimeDirectory=berth-proxy',
    'RuntimeDirectoryMode=0700',
    `ExecStartPre=/usr/bin/mkdir -p ${PROXY_PATHS.servicesDir}`,
    `ExecStartPre=${PROXY_PATHS.binary} -c -q ${configs}`,
    `ExecStart=${PROXY_PATHS.binary} -Ws ${configs} -S ${PROXY_PATHS.masterSocket},mode,600 -p /run/berth-proxy/haproxy.pid`,
    `ExecReload=${PROXY_PATHS.binary} -c -q ${configs}`,
    'ExecReload=/bin/kill -USR2 $MAINPID',
    // HAProxy sizes its connection limit from the file descriptors it may open.
    'LimitNOFILE=1048576',
    'KillMode=mixed',
    // SIGTERM's own status: a stop is not a failure.
    'SuccessExitStatus=143',
    'Restart=always',
    'RestartSec=2',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export const PROXY_UNIT = UNIT_NAMES.proxy;
