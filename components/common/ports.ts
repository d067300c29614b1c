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
