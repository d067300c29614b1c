/**
 * The host port of a docker `-p` publication (`[ip:]hostPort:containerPort[/proto]`),
 * or undefined when the container port is published on a random host port.
 */
export function publishedHostPort(publication: string): number | undefined {
  const parts = publication.split('/')[0].split(':');
  const hostPort = parts.length === 3 ? parts[1] : parts.length === 2 ? parts[0] : undefined;
  return hostPort === undefined || hostPort === '' ? undefined : Number(hostPort);
}

/**
 * The loopback ports a host's containers listen on behind the host proxy: two
 * per published port (the serving container's and the next one's). Below
 * Linux's ephemeral range (32768 and up), so no outgoing connection holds one;
 * no service may publish a host port in it.
 */
export const PROXY_SLOT_PORTS = { first: 30000, last: 32767 } as const;

export const isProxySlotPort = (port: number): boolean => port >= PROXY_SLOT_PORTS.first && port <= PROXY_SLOT_PORTS.last;

/**
 * The container side of a docker `-p` publication (`[ip:][hostPort:]containerPort[/proto]`) as an
 * ECS port mapping takes it, or an error: for a range (`8000-8010`), which ECS's bridge mappings
 * do not take one by one, and for a protocol other than tcp and udp (the two ECS maps).
 */
export function publishedContainerPort(publication: string): { containerPort: number; protocol: 'tcp' | 'udp' } | { error: string } {
  const [address, protocol = 'tcp'] = publication.split('/');
  const containerPart = address.split(':').pop() ?? '';
  if (!/^[0-9]+$/.test(containerPart)) {
    return { error: `a single container port, not a range or anything else, got "${publication}"` };
  }
  if (protocol !== 'tcp' && protocol !== 'udp') {
    return { error: `tcp or udp, the protocols an ECS port mapping takes, got "${publication}"` };
  }
  return { containerPort: Number(containerPart), protocol };
}

/**
 * The host ports ECS gives a task's container ports in bridge mode with `hostPort: 0`. Set in
 * the agent's configuration (ECS_DYNAMIC_HOST_PORT_RANGE) rather than left to the agent, which
 * reads the kernel's ephemeral range and falls back to 49153-65535 when it cannot: the instances'
 * security group then opens exactly this range to the load balancers. It is Linux's default
 * ephemeral range.
 */
export const ECS_DYNAMIC_HOST_PORTS = { first: 32768, last: 60999 } as const;
