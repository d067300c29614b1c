/**
 * Hosts as a DockerHostGroup hands them to ContainerService, for tests of the
 * service layer: a connection, and a readiness step and data-volume attachment
 * declared as real (mocked) resources, so dependencies on them are recorded.
 * And a "host" on this machine: a Docker engine plus the agent's folders, with
 * a `sudo` that runs the agent from this checkout where a host has it installed.
 */
import * as aws from '@pulumi/aws';
import * as command from '@pulumi/command';
import * as pulumi from '@pulumi/pulumi';
import * as fs from 'fs';
import * as path from 'path';
import type { DockerHost } from '../../components/host/dockerHostGroup';
import { HOST_PATHS } from '../../components/host/paths';
import { agentScriptPath } from '../../components/service/agentScript';

/** A host to declare a ContainerService on; call inside an evaluation. */
export function fakeHost(name: string, address = '10.20.0.10'): DockerHost {
  const connection = pulumi.output({ host: address, user: 'ec2-user', privateKey: pulumi.secret('key') }) as pulumi.Output<command.types.input.remote.ConnectionArgs>;
  return {
    name,
    instance: undefined as never,
    dataVolume: undefined as never,
    attachment: new aws.ec2.VolumeAttachment(`${name}-data`, { instanceId: `i-${name}`, volumeId: `vol-${name}`, deviceName: '/dev/sdf' }),
    ready: new command.remote.Command(`${name}-ready`, { connection, create: 'true' }),
    connection,
  };
}

/** One test host: the engine it runs containers on and the agent's folders. */
export interface LocalHost {
  name: string;
  /** The environment a rendered command runs with on this host (PATH with the sudo shim, DOCKER_HOST, agent roots). */
  env: NodeJS.ProcessEnv;
  dataRoot: string;
  stateRoot: string;
}

/**
 * A host under `work`: its own agent folders, on the engine at `dockerHost`
 * (the default engine when undefined). Commands rendered for `/usr/local/bin/berth-agent`
 * run this checkout's agent.
 */
export function localHost(work: string, name: string, dockerHost?: string): LocalHost {
  const root = path.join(work, name);
  const shims = path.join(root, 'bin');
  fs.mkdirSync(shims, { recursive: true });
  fs.writeFileSync(
    path.join(shims, 'sudo'),
    `#!/usr/bin/env bash\nif [[ "$1" == "${HOST_PATHS.agent}" ]]; then shift; exec "${agentScriptPath()}" "$@"; fi\nexec "$@"\n`,
    { mode: 0o755 },
  );
  const dataRoot = path.join(root, 'data');
  const stateRoot = path.join(root, 'state');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${shims}:${process.env.PATH}`,
    BERTH_DATA_ROOT: dataRoot,
    BERTH_CONFIG_ROOT: path.join(root, 'config'),
    BERTH_STATE_ROOT: stateRoot,
    BERTH_LOCK_FILE: path.join(root, 'berth.lock'),
  };
  if (dockerHost) {
    env.DOCKER_HOST = dockerHost;
  } else {
    delete env.DOCKER_HOST;
  }
  return { name, env, dataRoot, stateRoot };
}
