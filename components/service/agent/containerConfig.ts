/**
 * What the engine is asked to create for a spec: pure, so tests check the
 * exact body. Ports and volumes keep `docker -p` / `docker -v` meaning.
 */
import type { AgentServiceSpec } from '../spec';
import type { ContainerCreateBody } from './engine';
import { LABELS } from './layout';

type Binding = { HostIp: string; HostPort: string };

export interface PortBindings {
  exposed: Record<string, Record<string, never>>;
  bindings: Record<string, Binding[]>;
}

function range(text: string): [number, number] {
  const [start, end] = text.split('-').map(Number);
  return [start, end ?? start];
}

/**
 * `[ip:][hostPort:]containerPort[/proto]`, as `docker -p` reads it: a host
 * range maps one to one onto a container range of the same length, or stays
 * one binding for a single container port.
 */
export function portBindings(ports: readonly string[]): PortBindings {
  const exposed: PortBindings['exposed'] = {};
  const bindings: PortBindings['bindings'] = {};
  for (const port of ports) {
    const [address, proto = 'tcp'] = port.split('/');
    const parts = address.split(':');
    const [ip, host, container] = parts.length === 3 ? parts : parts.length === 2 ? ['', parts[0], parts[1]] : ['', '', parts[0]];
    const [first, last] = range(container);
    const hostRange = host === '' ? undefined : range(host);
    if (hostRange !== undefined && hostRange[1] - hostRange[0] !== last - first && last !== first) {
      throw new Error(`port ${port}: the host and container ranges differ in length`);
    }
    for (let containerPort = first; containerPort <= last; containerPort++) {
      const key = `${containerPort}/${proto}`;
      let hostPort = '';
      if (hostRange !== undefined) {
        hostPort = last === first ? host : String(hostRange[0] + containerPort - first);
      }
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: ip, HostPort: hostPort });
    }
  }
  return { exposed, bindings };
}

/** The fixed host ports a spec publishes, ranges expanded, sorted. */
export function wantedHostPorts(ports: readonly string[]): number[] {
  return heldHostPorts(portBindings(ports).bindings);
}

/** The fixed host ports a container's port bindings hold, sorted. */
export function heldHostPorts(bindings: Record<string, Binding[] | null> | null): number[] {
  const held = new Set<number>();
  for (const list of Object.values(bindings ?? {})) {
    for (const binding of list ?? []) {
      if (binding.HostPort !== '') {
        const [first, last] = range(binding.HostPort);
        for (let port = first; port <= last; port++) {
          held.add(port);
        }
      }
    }
  }
  return [...held].sort((a, b) => a - b);
}

function restartPolicy(restart: string): { Name: string; MaximumRetryCount: number } {
  const [name, retries] = restart.split(':');
  return { Name: name, MaximumRetryCount: retries === undefined ? 0 : Number(retries) };
}

/**
 * The create body for a canonical spec. `configBind` is the host file of the
 * spec's config file when it has one; `specHash` labels the container.
 */
export function createBody(spec: AgentServiceSpec, specHash: string, configBind?: string, behindProxy?: { slot: string; publications: string[] }): ContainerCreateBody {
  // Behind the host proxy the container publishes its proxied ports on its slot's loopback ports.
  const { exposed, bindings } = portBindings(behindProxy?.publications ?? spec.ports ?? []);
  const binds = [...(spec.volumes ?? [])];
  if (spec.dockerSocket === true) {
    binds.push('/var/run/docker.sock:/var/run/docker.sock');
  }
  if (spec.configFile !== undefined && configBind !== undefined) {
    binds.push(`${configBind}:${spec.configFile.target}:ro`);
  }
  const env = [...Object.entries(spec.environment ?? {}), ...Object.entries(spec.secretEnvironment ?? {})].map(([key, value]) => `${key}=${value}`);
  const body: ContainerCreateBody = {
    Image: spec.image,
    Labels: { [LABELS.service]: spec.name, [LABELS.env]: spec.env, [LABELS.image]: spec.image, [LABELS.specHash]: specHash },
    Env: env,
    ExposedPorts: exposed,
    HostConfig: {
      Binds: binds,
      PortBindings: bindings,
      RestartPolicy: restartPolicy(spec.restart ?? 'unless-stopped'),
      SecurityOpt: ['no-new-privileges'],
    },
  };
  if (behindProxy !== undefined) {
    body.Labels[LABELS.slot] = behindProxy.slot;
  }
  if (spec.stopTimeoutSeconds !== undefined) {
    body.StopTimeout = spec.stopTimeoutSeconds;
  }
  if (spec.log !== undefined) {
    body.HostConfig.LogConfig = { Type: spec.log.driver, Config: { ...(spec.log.options ?? {}) } };
  }
  if (spec.memoryMiB !== undefined) {
    body.HostConfig.Memory = spec.memoryMiB * 1024 * 1024;
  }
  if (spec.pidsLimit !== undefined) {
    body.HostConfig.PidsLimit = spec.pidsLimit;
  }
  if (spec.privileged === true) {
    body.HostConfig.Privileged = true;
  }
  return body;
}
