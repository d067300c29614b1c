import * as aws from '@pulumi/aws';
import * as command from '@pulumi/command';
import * as fs from 'fs';
import * as pulumi from '@pulumi/pulumi';
import { berthTags, serviceLogGroupName } from '../common/naming';
import { sortedRecord } from '../common/records';
import { SECRET_MASK } from '../common/secret';
import { applyTransform, Transform } from '../common/transform';
import type { DockerHost } from '../host/dockerHostGroup';
import { DEFAULT_DATA_MOUNT_POINT, HOST_PATHS } from '../host/paths';
import { AgentServiceSpec, agentSpecJson } from './spec';

export interface ContainerVolume {
  /** Directory under the service's folder on the data volume: `/srv/berth/<env>/<service>/<name>`. */
  name: string;
  /** Where the container sees it. */
  containerPath: string;
  /** @default false */
  readOnly?: boolean;
}

export interface ContainerServiceArgs {
  /**
   * Project name; prefixes log groups and tags.
   * @default "berth"
   */
  project?: string;
  /**
   * Environment the service runs in; passed to the container as `BERTH_ENV`.
   * @example "stage"
   */
  env: string;
  /**
   * The service's name on the hosts.
   * @default the component name
   */
  serviceName?: string;
  /**
   * The image, pinned by digest: `repo@sha256:<64 hex>`. Anything else is refused by the agent.
   * @example resolveServiceImage("berth/auth-service@sha256:…", registryUrl)
   */
  image: pulumi.Input<string>;
  /**
   * The hosts that run one container each, rolled out in this order: a failed deploy on
   * one host stops the rollout and the remaining hosts keep the running version.
   * @example app.hosts
   */
  hosts: DockerHost[];
  /**
   * Docker `-p` publications.
   * @default []
   * @example ["8081:8081"]
   */
  ports?: string[];
  /**
   * Health gate: a shell command run inside the container; exit 0 means healthy.
   * @example { cmd: "wget -q -O /dev/null http://127.0.0.1:8081/health", timeoutSeconds: 60 }
   */
  health: { cmd: string; timeoutSeconds: number };
  /**
   * Data kept on the host's data volume, outliving the container.
   * @default []
   */
  volumes?: ContainerVolume[];
  /**
   * The per-environment config file, mounted read-only.
   * @example { path: "stacks/config/auth-service/application-prod.properties", target: "/config/application.properties" }
   */
  configFile?: { path: string; target: string };
  /**
   * Plain environment variables.
   * @default {}
   */
  environment?: Record<string, string>;
  /**
   * Secret environment variables (Pulumi secrets). They reach the host only over SSH, into a
   * root-only file; previews show `[secret]`.
   * @default {}
   */
  secretEnvironment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Memory limit (MiB).
   * @default 512
   */
  memoryMiB?: number;
  /**
   * Process limit.
   * @default 256
   */
  pidsLimit?: number;
  /**
   * Where the container logs. `awslogs` writes to `/<project>/<env>/<service>`, one stream per container.
   * @default { driver: "awslogs", retentionDays: 30 }
   */
  logging?: { driver: 'awslogs'; retentionDays?: number } | { driver: 'local' };
  /**
   * Run privileged or with the Docker socket mounted; refused unless `reason` says why.
   * @default none
   * @example { privileged: true, reason: "manages host network interfaces" }
   */
  hostAccess?: { privileged?: boolean; dockerSocket?: boolean; reason: string };
  /**
   * AWS region of the log groups.
   * @default the provider's region
   * @example "eu-west-1"
   */
  region?: pulumi.Input<string>;
  /**
   * Where the hosts mount their data volume; service volumes live under `<dataRoot>/<env>/<service>/`.
   * @default "/srv/berth"
   */
  dataRoot?: string;
  /** Adjust what the component creates before it is created. */
  transform?: { logGroup?: Transform<aws.cloudwatch.LogGroupArgs>; deploy?: Transform<command.remote.CommandArgs> };
}

/**
 * One service on a group of Docker hosts, converged by the host agent: for
 * each host a `berth-agent deploy` with the service's spec on stdin (pull by
 * digest, health gate, automatic rollback), removed with `berth-agent remove`
 * when the service leaves the stack.
 *
 * @example
 * new ContainerService("auth-service", {
 *   env: "prod",
 *   image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:…",
 *   hosts: app.hosts,
 *   ports: ["8081:8081"],
 *   health: { cmd: "wget -q -O /dev/null http://127.0.0.1:8081/health", timeoutSeconds: 60 },
 *   volumes: [{ name: "logs", containerPath: "/var/log/auth-service" }],
 *   configFile: { path: "stacks/config/auth-service/application-prod.properties", target: "/config/application.properties" },
 *   secretEnvironment: { DB_PASSWORD: config.requireSecret("authDbPassword") },
 * });
 */
export class ContainerService extends pulumi.ComponentResource {
  /** The image every host runs once the rollout finished. */
  readonly image: pulumi.Output<string>;
  /** The agent's report per host, in rollout order. */
  readonly deployments: command.remote.Command[];

  constructor(name: string, args: ContainerServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:service:ContainerService', name, {}, opts);
    const project = args.project ?? 'berth';
    const service = args.serviceName ?? name;
    const logging = args.logging ?? { driver: 'awslogs' };
    const region = args.region ?? aws.getRegionOutput({}, { parent: this }).name;

    let logGroup: aws.cloudwatch.LogGroup | undefined;
    if (logging.driver === 'awslogs') {
      const [groupArgs, groupOpts] = applyTransform(
        args.transform?.logGroup,
        `${name}-logs`,
        { name: serviceLogGroupName(project, args.env, service), retentionInDays: logging.retentionDays ?? 30, tags: berthTags(project, args.env, { 'berth:service': service }) },
        { parent: this },
      );
      logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, groupArgs, groupOpts);
    }

    const configContent = args.configFile ? fs.readFileSync(args.configFile.path, 'utf8') : undefined;
    const spec = pulumi.all([args.image, region, args.secretEnvironment ?? {}]).apply(([image, regionName, secrets]) =>
      renderServiceSpec({
        project,
        env: args.env,
        service,
        image,
        region: regionName,
        args,
        configContent,
        secretEnvironment: secrets,
        dataRoot: args.dataRoot,
      }),
    );
    // stdin is secret exactly when a secret went into the spec.
    const stdin = spec.apply(agentSpecJson);
    // What reviewers see in a preview: the whole spec with secret values masked. A change
    // here (or to a secret, through stdin) runs the agent's update in place.
    const reviewSpec =
      args.secretEnvironment === undefined
        ? stdin
        : pulumi.unsecret(spec.apply((value) => agentSpecJson({ ...value, secretEnvironment: maskValues(value.secretEnvironment) })));

    const deploy = `sudo ${HOST_PATHS.agent} deploy`;
    const remove = `sudo ${HOST_PATHS.agent} remove ${service} --env ${args.env}`;
    this.deployments = [];
    let previous: pulumi.Resource | undefined;
    for (const host of args.hosts) {
      if (!host.connection) {
        throw new pulumi.ResourceError(`${name}: host ${host.name} has no SSH connection; give its DockerHostGroup ssh settings`, this);
      }
      const [commandArgs, commandOpts] = applyTransform(
        args.transform?.deploy,
        `${name}-${host.name}`,
        {
          connection: host.connection,
          create: deploy,
          update: deploy,
          delete: remove,
          stdin,
          triggers: [reviewSpec],
        },
        {
          parent: this,
          // Host by host: the next host starts only after this one passed its health gate.
          dependsOn: [...(host.ready ? [host.ready] : []), ...(previous ? [previous] : []), ...(logGroup ? [logGroup] : [])],
        },
      );
      const deployment = new command.remote.Command(`${name}-${host.name}`, commandArgs, commandOpts);
      this.deployments.push(deployment);
      previous = deployment;
    }
    this.image = pulumi.output(args.image);
    this.registerOutputs({ image: this.image });
  }
}

function maskValues(values: Record<string, string> | undefined): Record<string, string> | undefined {
  return values && Object.fromEntries(Object.keys(values).map((key) => [key, SECRET_MASK]));
}

export interface ServiceSpecInput {
  project: string;
  env: string;
  service: string;
  image: string;
  region: string;
  args: Pick<ContainerServiceArgs, 'ports' | 'health' | 'volumes' | 'configFile' | 'environment' | 'memoryMiB' | 'pidsLimit' | 'logging' | 'hostAccess'>;
  configContent?: string;
  secretEnvironment: Record<string, string>;
  dataRoot?: string;
}

/** The agent spec of one service: pure, so tests check it exactly and run it through the real agent. */
export function renderServiceSpec(input: ServiceSpecInput): AgentServiceSpec {
  const { args } = input;
  const dataRoot = input.dataRoot ?? DEFAULT_DATA_MOUNT_POINT;
  const logging = args.logging ?? { driver: 'awslogs' };
  const spec: AgentServiceSpec = {
    name: input.service,
    env: input.env,
    image: input.image,
    ports: [...(args.ports ?? [])],
    volumes: (args.volumes ?? []).map(
      (volume) => `${dataRoot}/${input.env}/${input.service}/${volume.name}:${volume.containerPath}${volume.readOnly ? ':ro' : ''}`,
    ),
    environment: sortedRecord({ ...(args.environment ?? {}), BERTH_ENV: input.env }),
    health: { cmd: args.health.cmd, timeoutSeconds: args.health.timeoutSeconds },
    memoryMiB: args.memoryMiB ?? 512,
    pidsLimit: args.pidsLimit ?? 256,
    restart: 'unless-stopped',
    log:
      logging.driver === 'awslogs'
        ? {
            driver: 'awslogs',
            options: {
              'awslogs-create-group': 'false',
              'awslogs-group': serviceLogGroupName(input.project, input.env, input.service),
              'awslogs-region': input.region,
              'max-buffer-size': '4m',
              mode: 'non-blocking',
              // One stream per container.
              tag: '{{.Name}}/{{.ID}}',
            },
          }
        : { driver: 'local', options: { 'max-file': '5', 'max-size': '20m' } },
  };
  if (args.configFile && input.configContent !== undefined) {
    spec.configFile = { content: input.configContent, target: args.configFile.target };
  }
  if (Object.keys(input.secretEnvironment).length > 0) {
    spec.secretEnvironment = sortedRecord(input.secretEnvironment);
  }
  if (args.hostAccess) {
    if (args.hostAccess.privileged) {
      spec.privileged = true;
    }
    if (args.hostAccess.dockerSocket) {
      spec.dockerSocket = true;
    }
    spec.allowPrivilegedReason = args.hostAccess.reason;
  }
  return spec;
}

