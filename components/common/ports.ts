/**
 * The host port of a docker `-p` publication (`[ip:]hostPort:containerPort[/proto]`),
 * or undefined when the container port is published on a random host port.
 */
export function publishedHostPort(publication: string): number | undefined {
  const parts = publication.split('/')[0].split(':');
  const hostPort = parts.length === 3 ? parts[1] : parts.length === 2 ? parts[0] : undefined;
  return hostPort === undefined || hostPort === '' ? undefined : Number(hostPort);
}
