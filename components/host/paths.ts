/**
 * Where Berth puts things on a host. One table, so user data, units, the agent
 * and the component agree on every path.
 */
export const HOST_PATHS = {
  mountScript: '/usr/local/sbin/berth-mount-data-volume',
  agent: '/usr/local/bin/berth-agent',
  /**
   * The agent's interpreter: AL2023's namespaced Node.js 24 executable (package AGENT_NODE_PACKAGE).
   * Node.js 24 is supported upstream until April 2028 (20 ended in April 2026, 22 ends in April 2027).
   */
  agentInterpreter: '/usr/bin/node-24',
  hostEnvironment: '/etc/berth/host.env',
  /** Docker client config the agent uses (DOCKER_CONFIG): credential helpers per registry host. */
  dockerClientConfigDir: '/etc/berth/docker',
  daemonJson: '/etc/docker/daemon.json',
  /**
   * The CloudWatch agent config Berth ships. Not in the agent's own etc/: `amazon-cloudwatch-agent-ctl
   * -a fetch-config` deletes etc/amazon-cloudwatch-agent.json after translating it, so a file staged
   * there would be missing, and rewritten and the agent restarted, on every setup.
   */
  cloudWatchAgentConfig: '/etc/berth/cloudwatch-agent.json',
  cloudWatchAgentCtl: '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl',
  unitDirectory: '/etc/systemd/system',
  /** Written last by the user-data bootstrap; the readiness step waits for it. */
  readyMarker: '/var/lib/berth/ready',
  /** Written by user data when a bootstrap step fails, with the failing line; the deploy step stops waiting. */
  failedMarker: '/var/lib/berth/failed',
  /** Names the host's lock set: deploys and `berth-agent prune` exclude each other (components/service/agent/locks.ts). */
  lockFile: '/run/lock/berth.lock',
} as const;

/** The AL2023 package that installs HOST_PATHS.agentInterpreter; the readiness step installs it when missing. */
export const AGENT_NODE_PACKAGE = 'nodejs24';

/**
 * The host proxy (HAProxy, AL2023's and Debian's `haproxy` package) that owns the services'
 * published TCP ports; berth-proxy.service runs it in master-worker mode from these files.
 */
export const PROXY_PATHS = {
  binary: '/usr/sbin/haproxy',
  /** Global settings and defaults, written by the readiness step. */
  config: '/etc/berth/proxy/haproxy.cfg',
  /** One file per service, written by berth-agent. */
  servicesDir: '/etc/berth/proxy/services',
  /** The runtime API (level admin, root only). */
  socket: '/run/berth-proxy/admin.sock',
  /** The master CLI: reloads. */
  masterSocket: '/run/berth-proxy/master.sock',
} as const;

/** The AL2023 package that installs PROXY_PATHS.binary. */
export const PROXY_PACKAGE = 'haproxy';

export const DEFAULT_DATA_MOUNT_POINT = '/srv/berth';

/** The Docker root. On Amazon Linux 2023 it lives on the root filesystem, mounted at `/`. */
export const DOCKER_ROOT = '/var/lib/docker';

export const UNIT_NAMES = {
  dataVolume: 'berth-data-volume.service',
  prune: 'berth-prune.service',
  pruneTimer: 'berth-prune.timer',
  proxy: 'berth-proxy.service',
} as const;

/** Names of the host-side scripts shipped in components/host/scripts (berth-host-setup is the readiness step's library). */
export type HostScriptName = 'berth-mount-data-volume' | 'berth-host-setup';
