import * as aws from '@pulumi/aws';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as pulumi from '@pulumi/pulumi';
import type { EcsCapacity } from '../cluster/ecsCluster';
import { berthTags, DEFAULT_PROJECT, envName, serviceLogGroupName } from '../common/naming';
import { publishedContainerPort, publishedHostPort } from '../common/ports';
import { compareStrings } from '../common/records';
import { applyTransform, Transform } from '../common/transform';
import type { ContainerVolume } from '../service/containerService';
import { TRAFFIC_DEFAULTS, Update } from '../service/spec';
import {
  CONFIG_VOLUME,
  configSizeProblem,
  dataVolumeName,
  deploymentPercents,
  efsTaskRolePolicy,
  executionRolePolicy,
  isSecretsManagerArn,
  pinnedSecretValueFrom,
  renderContainerDefinitions,
  taskTrustPolicy,
} from './taskDefinition';

/** A load balancer target group the service's tasks register in. */
export interface EcsServiceTarget {
  /** The target group (instance targets, HTTP): ECS registers each task's instance on its dynamic host port. */
  targetGroup: aws.lb.TargetGroup;
  /** The target group's load balancer, for the service's 5xx alarm; without it the target gets no alarm. */
  loadBalancer?: aws.lb.LoadBalancer;
  /** The published host port (one of `ports`) whose container port the target group reaches. */
  port: number;
}

export interface EcsServiceArgs {
  /**
   * Project name; prefixes physical names and tags.
   * @default "berth"
   * @example "payments"
   */
  project?: string;
  /**
   * Environment the service runs in; passed to the container as `BERTH_ENV`.
   * @example "prod"
   */
  env: string;
  /**
   * The service's name: its ECS service, its container and its task family `<project>-<env>-<name>`.
   * @default the component name
   * @example "auth-service"
   */
  serviceName?: string;
  /**
   * The cluster the service runs on.
   * @example new EcsCluster("app", { ... })
   */
  cluster: EcsCapacity;
  /**
   * The image, pinned by digest: `repo@sha256:<64 hex>`. Anything else is refused.
   * @example resolveServiceImage("berth/auth-service@sha256:…", registryUrl)
   */
  image: pulumi.Input<string>;
  /**
   * ECR repositories the task's execution role may pull from: the image's.
   * @example [registry.repositoryArns["berth/auth-service"]]
   */
  repositoryArns: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Docker `-p` publications, as on a hosts group: each container port gets a dynamic host port.
   * @default []
   * @example ["8081:8081"]
   */
  ports?: string[];
  /**
   * Health gate: a shell command run inside the container; exit 0 means healthy. `timeoutSeconds`
   * is the start period (at most 300 s) and the load balancers' grace period.
   * @example { cmd: "wget -q -O /dev/null http://127.0.0.1:8081/health", timeoutSeconds: 60 }
   */
  health: { cmd: string; timeoutSeconds: number };
  /**
   * How many tasks run, spread over availability zones, then instances.
   * @default 1
   * @example 3
   */
  replicas?: number;
  /**
   * Data kept on the cluster's EFS file system, one access point per volume at
   * `/<env>/<service>/<name>`; refused when the cluster has no file system.
   * @default []
   * @example [{ name: "logs", containerPath: "/var/log/auth-service" }]
   */
  volumes?: ContainerVolume[];
  /**
   * A config file read from `path` and seen by the container at `target`, as on a hosts group. Its
   * text is part of the task definition (at most 32 KiB; a rollback brings the old text back); an
   * init container (the service's image, `/bin/sh`) writes it to a task volume at start, mounted
   * read-only at the target's directory. A change of content is a deployment.
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
   * Secret environment variables (Pulumi secrets). Each is kept in a Secrets Manager secret
   * `<project>/<env>/<service>/<VARIABLE>-…` that ECS hands to the container at start: never in
   * the task definition or plain state. The task definition names the secret's version, so a
   * changed value is a new revision (a deployment) and a rollback reads the old value.
   * @default {}
   * @example { DB_PASSWORD: config.requireSecret("authDbPassword") }
   */
  secretEnvironment?: Record<string, pulumi.Input<string>>;
  /**
   * Secret environment variables kept elsewhere: the ARN of an SSM parameter or a Secrets Manager
   * secret per variable (a secret's full ARN, with the 6 characters Secrets Manager appends to its
   * name, which the execution role's policy names; it may end in `:<json key>:<stage>:<version id>`). A rotation
   * there reaches tasks started afterwards, rollbacks included.
   * @default {}
   * @example { API_KEY: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:partner-api-key-AbCdEf" }
   */
  secretArns?: Record<string, pulumi.Input<string>>;
  /**
   * Memory limit (MiB), also what ECS reserves on an instance for the task.
   * @default 512
   * @example 1024
   */
  memoryMiB?: number;
  /**
   * Process limit. ECS has no per-container PIDs limit: the cluster's agent caps every task at
   * EcsCluster's `taskPidsLimit`; this one is recorded as the label `berth.pids-limit`.
   * @default 256
   * @example 512
   */
  pidsLimit?: number;
  /**
   * How a deployment replaces tasks: `start-first` starts new tasks beside the old ones
   * (100%/200%); `stop-first` stops the old ones first (0%/100%), a single writer of its volumes.
   * @default "start-first"
   * @example "stop-first"
   */
  update?: Update;
  /**
   * Target groups the tasks register in (the environment's load balancers).
   * @default []
   * @example traffic.targetsOf("api-service")
   */
  targets?: EcsServiceTarget[];
  /**
   * The service's log group `/<project>/<env>/<service>`: its retention, and whether it is created
   * here (false when another component owns it, e.g. the ContainerService of a move).
   * @default { retentionDays: 30, createGroup: true }
   * @example { retentionDays: 90 }
   */
  logging?: { retentionDays?: number; createGroup?: boolean };
  /**
   * SNS topic the service's alarms notify. The alarms (5xx answers, one per load balancer of
   * `targets`) exist without it: a deployment that sets one off is rolled back.
   * @default none: the alarms notify no one
   * @example monitoring.alarmTopicArn
   */
  alarmTopicArn?: pulumi.Input<string>;
  /**
   * AWS region of the log group.
   * @default the provider's region
   * @example "eu-west-1"
   */
  region?: pulumi.Input<string>;
  /**
   * Adjust what the component creates before it is created: one hook per underlying resource,
   * each given the resource's args and options (mutate them in place) and its logical name.
   * @default {}
   * @example { service: (args) => { args.enableExecuteCommand = true; } }
   */
  transform?: EcsServiceTransform;
}

/** The transform hooks of an EcsService (`<name>` is the component's name). */
export interface EcsServiceTransform {
  /** The log group `<name>-logs`. */
  logGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
  /** The execution role `<name>-execution` and the task role `<name>-task`. */
  role?: Transform<aws.iam.RoleArgs>;
  /** The roles' inline policies `<name>-execution` and `<name>-task-efs`. */
  rolePolicy?: Transform<aws.iam.RolePolicyArgs>;
  /** Each secret `<name>-secret-<variable>` of `secretEnvironment`. */
  secret?: Transform<aws.secretsmanager.SecretArgs>;
  /** Each secret's value `<name>-secret-<variable>`. */
  secretVersion?: Transform<aws.secretsmanager.SecretVersionArgs>;
  /** Each volume's access point `<name>-<volume>`. */
  accessPoint?: Transform<aws.efs.AccessPointArgs>;
  /** The task definition `<name>`. */
  taskDefinition?: Transform<aws.ecs.TaskDefinitionArgs>;
  /** The alarms `<name>-<n>-5xx`. */
  alarm?: Transform<aws.cloudwatch.MetricAlarmArgs>;
  /** The ECS service `<name>`. */
  service?: Transform<aws.ecs.ServiceArgs>;
}

/**
 * How long `up` waits for a deployment to be steady: new tasks may need a new instance (managed
 * scaling, its warm-up) before they start, pass their health checks and the alarms' watch.
 */
export const DEPLOYMENT_TIMEOUT = '40m';
/** The alarm that rolls a deployment back when the new tasks answer with server errors. */
export const TARGET_5XX_ALARM = { count: 10, periodSeconds: 60, evaluationPeriods: 2 } as const;

/**
 * One service on an ECS cluster: a task definition of the image exactly as pinned, and an ECS
 * service that keeps `replicas` tasks running, spread over zones and instances, registered in
 * the environment's target groups, rolled back by the deployment circuit breaker or its alarms.
 *
 * @example
 * #### A web service behind the environment's load balancer
 * ```ts
 * new EcsService("api-service", {
 *   env: "prod", cluster, image, repositoryArns: [apiRepositoryArn], replicas: 3,
 *   ports: ["8080:8080"], health: { cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", timeoutSeconds: 60 },
 *   targets: traffic.targetsOf("api-service"), alarmTopicArn: monitoring.alarmTopicArn,
 * });
 * ```
 *
 * @example
 * #### Data on EFS, a config file and a secret
 * ```ts
 * new EcsService("report-worker", {
 *   ...args, update: "stop-first", volumes: [{ name: "spool", containerPath: "/var/spool/report-worker" }],
 *   configFile: { path: "stacks/env/service-config/report-worker/application-prod.properties", target: "/config/application.properties" },
 *   secretEnvironment: { DB_PASSWORD: config.requireSecret("reportDbPassword") },
 * });
 * ```
 *
 * @remarks
 * How the engine runs it: a change of image, config file, environment, secret value or limits
 * registers a new task definition revision (every input of a revision forces a new one) before
 * the service is updated to it; `up` waits until the deployment is steady and fails when the
 * circuit breaker or an alarm rolled it back (the service then runs the previous revision, which
 * is kept: revisions are never deregistered by Berth). A new revision starts tasks beside the
 * old ones (start-first) or after them (stop-first); the load balancers drain the old tasks with
 * their deregistration delay. On destroy the service goes before the cluster's capacity.
 */
export class EcsService extends pulumi.ComponentResource {
  /** The image the tasks run: known once the deployment is steady. */
  readonly image: pulumi.Output<string>;
  readonly service: aws.ecs.Service;
  readonly taskDefinition: aws.ecs.TaskDefinition;
  /** The names of the alarms that roll a deployment back. */
  readonly alarmNames: pulumi.Output<string>[];

  constructor(name: string, args: EcsServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:task:EcsService', name, {}, opts);
    const project = args.project ?? DEFAULT_PROJECT;
    const service = args.serviceName ?? name;
    const tags = berthTags(project, args.env, { 'berth:service': service });
    const parent = { parent: this };
    const containerPorts = this.checkArgs(name, args);
    const identity = aws.getCallerIdentityOutput({}, parent);
    const partition = aws.getPartitionOutput({}, parent).partition;
    const region = args.region ?? aws.getRegionOutput({}, parent).region;

    const logGroupName = serviceLogGroupName(project, args.env, service);
    const logging = args.logging ?? {};
    const logGroup =
      logging.createGroup === false
        ? undefined
        : new aws.cloudwatch.LogGroup(
            `${name}-logs`,
            ...applyTransform(args.transform?.logGroup, `${name}-logs`, { name: logGroupName, retentionInDays: logging.retentionDays ?? 30, tags }, { parent: this }),
          );
    const logGroupArn = pulumi.interpolate`arn:${partition}:logs:${region}:${identity.accountId}:log-group:${logGroupName}`;

    const configFile = args.configFile ? { target: args.configFile.target, content: fs.readFileSync(args.configFile.path, 'utf8') } : undefined;
    const configProblem = configFile ? configSizeProblem(configFile.content) : undefined;
    if (configProblem) {
      throw new pulumi.ResourceError(`EcsService ${name}: configFile ${args.configFile!.path}: ${configProblem}`, this);
    }
    const secrets = Object.entries(args.secretEnvironment ?? {})
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([variable, value]) => {
        const secretName = `${name}-secret-${variable}`;
        const secret = new aws.secretsmanager.Secret(
          secretName,
          ...applyTransform(
            args.transform?.secret,
            secretName,
            // A prefix: a deleted secret keeps its name through its recovery window, and a new one must not wait for it.
            { namePrefix: `${project}/${args.env}/${service}/${variable}-`, description: `Berth ${args.env} ${service}: ${variable}`, tags },
            { parent: this },
          ),
        );
        // A new value is a new version (the provider replaces it); the old one stays until the new revision is steady.
        const version = new aws.secretsmanager.SecretVersion(
          secretName,
          ...applyTransform(args.transform?.secretVersion, secretName, { secretId: secret.id, secretString: pulumi.secret(value) }, { parent: this }),
        );
        return { variable, version, valueFrom: pulumi.all([secret.arn, version.versionId]).apply(([arn, versionId]) => pinnedSecretValueFrom(arn, versionId)) };
      });
    const valueFroms: Record<string, pulumi.Input<string>> = { ...(args.secretArns ?? {}) };
    for (const { variable, valueFrom } of secrets) {
      valueFroms[variable] = valueFrom;
    }

    const accessPoints = (args.volumes ?? []).map((volume) => {
      const accessPointName = `${name}-${volume.name}`;
      return {
        volume,
        accessPoint: new aws.efs.AccessPoint(
          accessPointName,
          ...applyTransform(
            args.transform?.accessPoint,
            accessPointName,
            {
              fileSystemId: args.cluster.fileSystem!.id,
              // The same layout as a host's data volume: <env>/<service>/<volume>.
              rootDirectory: { path: `/${args.env}/${service}/${volume.name}`, creationInfo: { ownerUid: 0, ownerGid: 0, permissions: '0755' } },
              tags: { ...tags, Name: envName(project, args.env, service, volume.name) },
            },
            { parent: this },
          ),
        ),
      };
    });

    const trust = pulumi.all([identity.accountId, region, partition]).apply(([accountId, regionName, partitionName]) => taskTrustPolicy({ accountId, region: regionName, partition: partitionName }));
    const role = (roleName: string, suffix: string) =>
      new aws.iam.Role(
        roleName,
        ...applyTransform(args.transform?.role, roleName, { namePrefix: `${iamPrefix(project, args.env, service, suffix)}-`, assumeRolePolicy: trust, tags }, { parent: this }),
      );
    const rolePolicy = (policyName: string, roleId: pulumi.Output<string>, policy: pulumi.Output<string>) =>
      new aws.iam.RolePolicy(policyName, ...applyTransform(args.transform?.rolePolicy, policyName, { role: roleId, policy }, { parent: this }));
    const executionRole = role(`${name}-execution`, 'exec');
    const executionPolicy = rolePolicy(
      `${name}-execution`,
      executionRole.id,
      pulumi
        .all([pulumi.output(args.repositoryArns), logGroupArn, pulumi.all(Object.values(valueFroms))])
        .apply(([repositoryArns, groupArn, arns]) =>
          executionRolePolicy({
            repositoryArns,
            logGroupArn: groupArn,
            parameterArns: arns.filter((arn) => !isSecretsManagerArn(arn)),
            secretArns: arns.filter(isSecretsManagerArn),
          }),
        ),
    );
    // The task's own identity: no permission unless given (transform), and its volumes when on EFS.
    const taskRole = role(`${name}-task`, 'task');
    const taskPolicies: pulumi.Resource[] = [];
    if (accessPoints.length > 0) {
      taskPolicies.push(
        rolePolicy(
          `${name}-task-efs`,
          taskRole.id,
          pulumi
            .all([args.cluster.fileSystem!.arn, pulumi.all(accessPoints.map(({ accessPoint }) => accessPoint.arn))])
            .apply(([fileSystemArn, accessPointArns]) => efsTaskRolePolicy({ fileSystemArn, accessPointArns })),
        ),
      );
    }

    const containerDefinitions = pulumi
      .all([
        pulumi.output(args.image),
        region,
        pulumi.all(Object.fromEntries(Object.entries(valueFroms).map(([variable, arn]) => [variable, pulumi.output(arn)]))),
      ])
      .apply(([image, regionName, arns]) =>
        JSON.stringify(
          renderContainerDefinitions({
            project,
            env: args.env,
            service,
            image,
            region: regionName,
            ports: args.ports ?? [],
            health: args.health,
            memoryMiB: args.memoryMiB ?? 512,
            pidsLimit: args.pidsLimit ?? 256,
            environment: args.environment ?? {},
            secrets: arns as Record<string, string>,
            configFile,
            volumes: args.volumes ?? [],
            logGroupName,
          }),
        ),
      );

    const volumes: aws.types.input.ecs.TaskDefinitionVolume[] = [
      ...(configFile ? [{ name: CONFIG_VOLUME, dockerVolumeConfiguration: { scope: 'task', driver: 'local' } }] : []),
      ...accessPoints.map(({ volume, accessPoint }) => ({
        name: dataVolumeName(volume.name),
        efsVolumeConfiguration: { fileSystemId: args.cluster.fileSystem!.id, transitEncryption: 'ENABLED', authorizationConfig: { accessPointId: accessPoint.id, iam: 'ENABLED' } },
      })),
    ];
    const [taskArgs, taskOpts] = applyTransform(
      args.transform?.taskDefinition,
      name,
      {
        family: envName(project, args.env, service),
        networkMode: 'bridge',
        requiresCompatibilities: ['EC2'],
        executionRoleArn: executionRole.arn,
        taskRoleArn: taskRole.arn,
        containerDefinitions,
        volumes,
        // Earlier revisions stay registered: what a rollback (the circuit breaker's, or by hand) returns to.
        skipDestroy: true,
        tags,
      },
      { parent: this },
    );
    this.taskDefinition = new aws.ecs.TaskDefinition(name, taskArgs, taskOpts);

    const alarms = this.alarms(name, args, project, service, tags);
    this.alarmNames = alarms.map((alarm) => alarm.name);
    const percents = deploymentPercents(args.update ?? TRAFFIC_DEFAULTS.update);
    const targets = args.targets ?? [];
    const [serviceArgs, serviceOpts] = applyTransform(
      args.transform?.service,
      name,
      {
        // A fixed name: the alarms name the service. It is replaced only with its cluster, where the name is free.
        name: service,
        cluster: args.cluster.clusterArn,
        taskDefinition: this.taskDefinition.arn,
        desiredCount: args.replicas ?? 1,
        capacityProviderStrategies: [{ capacityProvider: args.cluster.capacityProviderName, weight: 1, base: 0 }],
        orderedPlacementStrategies: [
          { type: 'spread', field: 'attribute:ecs.availability-zone' },
          { type: 'spread', field: 'instanceId' },
        ],
        deploymentMinimumHealthyPercent: percents.minimumHealthyPercent,
        deploymentMaximumPercent: percents.maximumPercent,
        deploymentCircuitBreaker: { enable: true, rollback: true },
        ...(alarms.length > 0 ? { alarms: { alarmNames: this.alarmNames, enable: true, rollback: true } } : {}),
        loadBalancers: targets.map((target) => ({ targetGroupArn: target.targetGroup.arn, containerName: service, containerPort: containerPorts.get(target.port)! })),
        ...(targets.length > 0 ? { healthCheckGracePeriodSeconds: args.health.timeoutSeconds } : {}),
        // `up` waits for the deployment and fails when it was rolled back.
        waitForSteadyState: true,
        enableEcsManagedTags: true,
        propagateTags: 'SERVICE',
        tags,
      },
      {
        parent: this,
        // Tasks need the capacity provider on the cluster, the mount targets and the roles' permissions
        // before they start; on destroy the service goes first.
        dependsOn: [
          args.cluster.capacityReady,
          ...(args.cluster.fileSystem?.ready ?? []),
          executionPolicy,
          ...taskPolicies,
          ...(logGroup ? [logGroup] : []),
        ],
        customTimeouts: { create: DEPLOYMENT_TIMEOUT, update: DEPLOYMENT_TIMEOUT },
      },
    );
    this.service = new aws.ecs.Service(name, serviceArgs, serviceOpts);
    this.image = pulumi.all([pulumi.output(args.image), this.service.id]).apply(([image]) => image);
    this.registerOutputs({ image: this.image, taskDefinitionArn: this.taskDefinition.arn });
  }

  /** Refuses what cannot run before anything is declared; returns each target's container port by host port. */
  private checkArgs(name: string, args: EcsServiceArgs): Map<number, number> {
    const fail = (message: string) => {
      throw new pulumi.ResourceError(`EcsService ${name}: ${message}`, this);
    };
    if ((args.volumes ?? []).length > 0 && !args.cluster.fileSystem) {
      fail(
        'volumes: the cluster has no EFS file system (EcsCluster efs): a volume ECS manages belongs to one task and is deleted with it by default, so the data would be lost at the next deployment',
      );
    }
    const replicas = args.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 0) {
      fail(`replicas: a whole number of at least 0, got ${JSON.stringify(args.replicas)}`);
    }
    if (!Number.isInteger(args.health.timeoutSeconds) || args.health.timeoutSeconds < 1) {
      fail(`health.timeoutSeconds: a whole number of at least 1, got ${JSON.stringify(args.health.timeoutSeconds)}`);
    }
    if (args.update !== undefined && args.update !== 'start-first' && args.update !== 'stop-first') {
      fail(`update: start-first or stop-first, got ${JSON.stringify(args.update)}`);
    }
    const byHostPort = new Map<number, number>();
    for (const publication of args.ports ?? []) {
      const parsed = publishedContainerPort(publication);
      if ('error' in parsed) {
        fail(`ports: ${parsed.error}`);
      }
      const hostPort = publishedHostPort(publication);
      if (hostPort !== undefined && 'containerPort' in parsed) {
        byHostPort.set(hostPort, parsed.containerPort);
      }
    }
    const overlap = Object.keys(args.secretEnvironment ?? {}).find((variable) => variable in (args.secretArns ?? {}) || variable in (args.environment ?? {}));
    if (overlap) {
      fail(`secretEnvironment.${overlap}: set once, in one of environment, secretEnvironment and secretArns`);
    }
    for (const target of args.targets ?? []) {
      if (!byHostPort.has(target.port)) {
        fail(`targets: port ${target.port} is not a published host port of ports (${[...byHostPort.keys()].join(', ') || 'none'})`);
      }
    }
    return byHostPort;
  }

  /**
   * The alarms a deployment is rolled back on: per load balancer, the target group's 5xx answers.
   * Named `<project>-<env>-<service>-…`, the names the environment's alarm topic accepts. (No
   * memory alarm: ECS reports memory per service, not per task, and a JVM service that lives near
   * its limit would roll back every deployment.)
   */
  private alarms(name: string, args: EcsServiceArgs, project: string, service: string, tags: Record<string, string>): aws.cloudwatch.MetricAlarm[] {
    const actions = args.alarmTopicArn ? [args.alarmTopicArn] : [];
    const alarm = (alarmName: string, alarmArgs: aws.cloudwatch.MetricAlarmArgs) =>
      new aws.cloudwatch.MetricAlarm(alarmName, ...applyTransform(args.transform?.alarm, alarmName, alarmArgs, { parent: this }));
    const alarms: aws.cloudwatch.MetricAlarm[] = [];
    (args.targets ?? []).forEach((target, index) => {
      if (!target.loadBalancer) {
        return;
      }
      alarms.push(
        alarm(`${name}-${index + 1}-5xx`, {
          name: envName(project, args.env, service, String(index + 1), '5xx'),
          alarmDescription: `Berth ${args.env} ${service}: ${TARGET_5XX_ALARM.count} or more 5xx answers a minute from its tasks behind a load balancer`,
          namespace: 'AWS/ApplicationELB',
          metricName: 'HTTPCode_Target_5XX_Count',
          dimensions: { LoadBalancer: target.loadBalancer.arnSuffix, TargetGroup: target.targetGroup.arnSuffix },
          statistic: 'Sum',
          period: TARGET_5XX_ALARM.periodSeconds,
          evaluationPeriods: TARGET_5XX_ALARM.evaluationPeriods,
          threshold: TARGET_5XX_ALARM.count,
          comparisonOperator: 'GreaterThanOrEqualToThreshold',
          treatMissingData: 'notBreaching',
          alarmActions: actions,
          okActions: actions,
          tags,
        }),
      );
    });
    return alarms;
  }
}

/**
 * An IAM name prefix `<project>-<env>-<service>-<suffix>` that fits the 38 characters AWS allows
 * a prefix: a long service name is cut and a hash of the whole keeps two apart.
 */
export function iamPrefix(project: string, env: string, service: string, suffix: string): string {
  const full = envName(project, env, service, suffix);
  const max = 37;
  if (full.length <= max) {
    return full;
  }
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 6);
  return `${full.slice(0, max - hash.length - suffix.length - 2)}-${hash}-${suffix}`;
}
