import * as aws from '@pulumi/aws';
import * as command from '@pulumi/command';
import * as fs from 'fs';
import * as pulumi from '@pulumi/pulumi';
import { berthTags, DEFAULT_PROJECT, serviceLogGroupName } from '../common/naming';
import { sortedRecord } from '../common/records';
import { applyTransform, Transform } from '../common/transform';
import type { DockerHost } from '../host/dockerHostGroup';
import { DEFAULT_DATA_MOUNT_POINT, HOST_PATHS } from '../host/paths';
import { DEPLOYMENT_ID_PATTERN } from '../common/names';
import { AgentServiceSpec, agentSpecJson, checkAgentSpec, PINNED_IMAGE_PATTERN, ProxyMode, TRAFFIC_DEFAULTS, Update } from './spec';

/** A directory on the host's data volume, mounted into the service's container. */
export interface ContainerVolume {
  /**
   * Directory under the service's folder on the data volume: `/srv/berth/<env>/<service>/<name>`.
   * @example "logs"
   */
  name: string;
  /**
   * Where the container sees it.
   * @example "/var/log/auth-service"
   */
  containerPath: string;
  /**
   * Mount it read-only.
   * @default false
   * @example true
   */
  readOnly?: boolean;
}

export interface ContainerServiceArgs {
  /**
   * Project name; prefixes log groups and tags.
   * @default "berth"
   * @example "payments"
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
   * @example "auth-service"
   */
  serviceName?: string;
  /**
   * The image, pinned by digest: `repo@sha256:<64 hex>`. Anything else is refused.
   * `resolveServiceImage` turns a registry path (or, in dev, an ECR tag) into one.
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
   * @example [{ name: "logs", containerPath: "/var/log/auth-service" }]
   */
  volumes?: ContainerVolume[];
  /**
   * A config file read from `path` (relative to the working directory of `pulumi up`) and
   * mounted read-only at `target`; a change of its content redeploys the service.
   * @default none
   * @example { path: "stacks/env/service-config/auth-service/application-prod.properties", target: "/config/application.properties" }
   */
  configFile?: { path: string; target: string };
  /**
   * Plain environment variables. `BERTH_ENV` is always set to `env`.
   * @default {}
   * @example { JAVA_OPTS: "-Xmx384m" }
   */
  environment?: Record<string, string>;
  /**
   * Secret environment variables (Pulumi secrets). They reach the host only over SSH, into a
   * root-only file; previews show `[secret]`.
   * @default {}
   * @example { DB_PASSWORD: config.requireSecret("authDbPassword") }
   */
  secretEnvironment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * How a deploy replaces the running container on a host: `start-first` starts the new one on a
   * private port behind the host proxy, switches to it once healthy and drains the old one;
   * `stop-first` drains and stops the old one first (a single writer of its data volume).
   * @default "start-first"
   * @example "stop-first"
   */
  update?: Update;
  /**
   * Seconds in-flight requests (or connections, in `tcp` mode) get on the old container after the
   * host proxy switched away from it; 0 to 3600.
   * @default 30
   * @example 120
   */
  drainSeconds?: number;
  /**
   * How the host proxy carries the published ports: `http` moves traffic request by request
   * (what a load balancer's keep-alive connections need), `tcp` connection by connection.
   * @default "tcp"
   * @example "http"
   */
  proxyMode?: ProxyMode;
  /**
   * Memory limit (MiB).
   * @default 512
   * @example 1024
   */
  memoryMiB?: number;
  /**
   * Process limit.
   * @default 256
   * @example 512
   */
  pidsLimit?: number;
  /**
   * Where the container logs. `awslogs` writes to `/<project>/<env>/<service>`, one stream per
   * container, a group created here unless `createGroup` is false (another component owns it,
   * e.g. the EcsService the service moves away from).
   * @default { driver: "awslogs", retentionDays: 30, createGroup: true }
   * @example { driver: "local" }
   */
  logging?: { driver: 'awslogs'; retentionDays?: number; createGroup?: boolean } | { driver: 'local' };
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
   * @example "/data"
   */
  dataRoot?: string;
  /**
   * Adjust what the component creates before it is created: one hook per underlying
   * resource, each given the resource's args and options (mutate them in place) and its
   * logical name.
   * @default {}
   * @example { logGroup: (args) => { args.kmsKeyId = logsKey.arn; } }
   */
  transform?: ContainerServiceTransform;
}

/** The transform hooks of a ContainerService, one per kind of resource it declares (`<name>` is the component's name). */
export interface ContainerServiceTransform {
  /** The service's log group `<name>-logs` (physical name `/<project>/<env>/<service>`), declared only with the `awslogs` driver. */
  logGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
  /** Each host's deploy step `<name>-<host>`, the `remote.Command` that runs `berth-agent deploy` (and `remove` on delete). */
  deploy?: Transform<command.remote.CommandArgs>;
}

/**
 * One service on a group of Docker hosts, deployed host by host by the host agent
 * (pull by digest, health gate, automatic rollback).
 *
 * @example
 * #### A service on every host of a group
 * ```ts
 * new ContainerService("auth-service", {
 *   env: "prod",
 *   hosts: app.hosts,
 *   image: resolveServiceImage("berth/auth-service@sha256:…", registryUrl),
 *   ports: ["8081:8081"],
 *   health: { cmd: "wget -q -O /dev/null http://127.0.0.1:8081/health", timeoutSeconds: 60 },
 * });
 * ```
 *
 * @example
 * #### Data, a config file and secrets
 * ```ts
 * new ContainerService("auth-service", {
 *   env: "prod",
 *   image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:…",
 *   hosts: app.hosts,
 *   ports: ["8081:8081"],
 *   health: { cmd: "wget -q -O /dev/null http://127.0.0.1:8081/health", timeoutSeconds: 60 },
 *   volumes: [{ name: "logs", containerPath: "/var/log/auth-service" }],
 *   configFile: { path: "stacks/env/service-config/auth-service/application-prod.properties", target: "/config/application.properties" },
 *   secretEnvironment: { DB_PASSWORD: config.requireSecret("authDbPassword") },
 * });
 * ```
 *
 * @remarks
 * For each host one `remote.Command` runs `berth-agent deploy` with the service's spec
 * on stdin; its delete runs `berth-agent remove` when the service leaves the stack.
 * How the engine runs these steps, and why they are safe:
 * - A change of image, spec, config, secret or connection changes `stdin`,
 *   `create`/`update` or `connection`, which @pulumi/command applies by running
 *   `update` (a deploy) in place. Nothing is put in `triggers`, the one input
 *   the provider replaces on, so no such change replaces a step.
 * - Each step deploys under its own deployment id (its logical name), and its
 *   delete removes the service only while that id owns it: a renamed step,
 *   created before the old one is deleted, is never undone by the old delete.
 *   A forced replacement (`pulumi up --replace`) deletes before it creates.
 * - Steps depend on their host's readiness and data-volume attachment, so on
 *   destroy or scale-down they are deleted (the agent removes the container)
 *   before the detach stops the host.
 */
export class ContainerService extends pulumi.ComponentResource {
  /** The image every host runs: known once every host's deploy step has finished. */
  readonly image: pulumi.Output<string>;
  /** The agent's report per host, in rollout order. */
  readonly deployments: command.remote.Command[];

  constructor(name: string, args: ContainerServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:service:ContainerService', name, {}, opts);
    checkHostArgs(name, args);
    const project = args.project ?? DEFAULT_PROJECT;
    const service = args.serviceName ?? name;
    const logging = args.logging ?? { driver: 'awslogs' };
    const region = args.region ?? aws.getRegionOutput({}, { parent: this }).name;

    let logGroup: aws.cloudwatch.LogGroup | undefined;
    if (logging.driver === 'awslogs' && logging.createGroup !== false) {
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
    // The image is on the command line, checked by the agent against the spec: a preview
    // shows a digest move even when stdin is secret.
    const image = pulumi.unsecret(spec.apply((value) => value.image));

    this.deployments = [];
    let previous: pulumi.Resource | undefined;
    for (const host of args.hosts) {
      if (!host.connection) {
        throw new pulumi.ResourceError(`${name}: host ${host.name} has no SSH connection; give its DockerHostGroup ssh settings`, this);
      }
      const stepName = `${name}-${host.name}`;
      const deploy = image.apply((ref) => deployCommand(stepName, ref));
      const [commandArgs, commandOpts] = applyTransform(
        args.transform?.deploy,
        stepName,
        {
          connection: host.connection,
          create: deploy,
          update: deploy,
          delete: removeCommand(service, args.env, stepName),
          stdin,
          addPreviousOutputInEnv: false,
        },
        {
          parent: this,
          // Only a forced replacement replaces a step; then the old delete goes first.
          deleteBeforeReplace: true,
          // Host by host: the next host starts only after this one passed its health gate.
          dependsOn: [host.ready, host.attachment, ...(previous ? [previous] : []), ...(logGroup ? [logGroup] : [])],
        },
      );
      const deployment = new command.remote.Command(`${name}-${host.name}`, commandArgs, commandOpts);
      this.deployments.push(deployment);
      previous = deployment;
    }
    // (Only the image is taken from the steps' outputs, which may be secret with their stdin.)
    this.image = pulumi.unsecret(pulumi.all([image, ...this.deployments.map((deployment) => deployment.stdout)]).apply(([ref]) => ref));
    this.registerOutputs({ image: this.image });
  }
}


/**
 * Ports and traffic settings the agent would refuse, found before anything is
 * declared: checked with the agent's own schema, so the rule lives once.
 */
function checkHostArgs(name: string, args: ContainerServiceArgs): void {
  const probe = {
    name: 'probe',
    env: 'probe',
    image: `probe@sha256:${'0'.repeat(64)}`,
    health: { cmd: 'true', timeoutSeconds: 1 },
    ports: args.ports,
    update: args.update,
    drainSeconds: args.drainSeconds,
    proxyMode: args.proxyMode,
  };
  const { problems } = checkAgentSpec(JSON.parse(JSON.stringify(probe)));
  if (problems !== undefined) {
    throw new Error(`ContainerService ${name}: ${problems.map((problem) => problem.replace(/^spec\./, 'args.')).join('; ')}`);
  }
}

/** What a deploy step runs: the spec on stdin, its deployment id and the image it must carry. */
export function deployCommand(deployment: string, image: string): string {
  if (!DEPLOYMENT_ID_PATTERN.test(deployment)) {
    throw new Error(`deploy step "${deployment}": its name is its deployment id on the host and must match ${DEPLOYMENT_ID_PATTERN.source}`);
  }
  if (!PINNED_IMAGE_PATTERN.test(image)) {
    throw new Error(`deploy step "${deployment}": image must be <repository>@sha256:<64 hex>, got "${image}"`);
  }
  return `sudo ${HOST_PATHS.agent} deploy --deployment ${deployment} --expect-image ${image}`;
}

/** What a deploy step's delete runs: removes the service only while this step's deployment owns it. */
export function removeCommand(service: string, env: string, deployment: string): string {
  if (!DEPLOYMENT_ID_PATTERN.test(deployment)) {
    throw new Error(`deploy step "${deployment}": its name is its deployment id on the host and must match ${DEPLOYMENT_ID_PATTERN.source}`);
  }
  return `sudo ${HOST_PATHS.agent} remove ${service} --env ${env} --deployment ${deployment}`;
}

export interface ServiceSpecInput {
  project: string;
  env: string;
  service: string;
  image: string;
  region: string;
  args: Pick<ContainerServiceArgs, 'ports' | 'health' | 'volumes' | 'configFile' | 'environment' | 'memoryMiB' | 'pidsLimit' | 'logging' | 'hostAccess' | 'update' | 'drainSeconds' | 'proxyMode'>;
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
    update: args.update ?? TRAFFIC_DEFAULTS.update,
    drainSeconds: args.drainSeconds ?? TRAFFIC_DEFAULTS.drainSeconds,
    proxyMode: args.proxyMode ?? TRAFFIC_DEFAULTS.proxyMode,
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

