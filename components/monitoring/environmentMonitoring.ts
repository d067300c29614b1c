import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { createHash } from 'crypto';
import { berthTags, DEFAULT_PROJECT, envName } from '../common/naming';
import { applyTransform, Transform } from '../common/transform';
import { dockerLogGroupName } from '../host/dockerConfig';

export interface EnvironmentMonitoringArgs {
  /**
   * Project name; prefixes physical names and tags.
   * @default "berth"
   * @example "payments"
   */
  project?: string;
  /**
   * Environment the alarms and logs belong to.
   * @example "prod"
   */
  env: string;
  /**
   * E-mail addresses subscribed to the alarm topic. Each must confirm by e-mail.
   * @default []
   * @example ["platform-oncall@example.com"]
   */
  emails?: string[];
  /**
   * Create the log group Docker's daemon-wide `awslogs` driver writes to (`/<project>/<env>/docker`),
   * with this retention. Hosts do not create log groups themselves, so a DockerHostGroup with
   * the default `awslogs` logging needs this group.
   * @default none: no daemon log group (give the host groups `logging: { driver: "local" }`)
   * @example { retentionDays: 30 }
   */
  dockerLogs?: { retentionDays: number };
  /**
   * Adjust what the component creates before it is created: one hook per underlying
   * resource, each given the resource's args and options (mutate them in place) and its
   * logical name.
   * @default {}
   * @example { topic: (args) => { args.displayName = "Berth prod alarms"; } }
   */
  transform?: EnvironmentMonitoringTransform;
}

/** The transform hooks of an EnvironmentMonitoring, one per kind of resource it declares (`<name>` is the component's name). */
export interface EnvironmentMonitoringTransform {
  /**
   * The KMS key `<name>-alarms` that encrypts the topic. Its policy is what lets CloudWatch
   * publish, only for alarms named `<project>-<env>-…`: narrow it if you must, never widen it.
   */
  topicKey?: Transform<aws.kms.KeyArgs>;
  /** The alarm topic `<name>-alarms` (physical name `<project>-<env>-alarms`). */
  topic?: Transform<aws.sns.TopicArgs>;
  /** Each e-mail subscription to the topic, `<name>-alarms-<local part>-<hash>`, one per address of `emails`. */
  subscription?: Transform<aws.sns.TopicSubscriptionArgs>;
  /** The Docker daemon's log group `<name>-docker-logs` (`/<project>/<env>/docker`), declared only with `dockerLogs`. */
  dockerLogGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
}

/**
 * What one environment's hosts report to: the alarm topic and the Docker daemon's log group.
 *
 * @example
 * #### Alarms by e-mail, daemon logs kept 90 days
 * ```ts
 * const monitoring = new EnvironmentMonitoring("prod", { env: "prod", emails: ["oncall@example.com"], dockerLogs: { retentionDays: 90 } });
 * new DockerHostGroup("app", { ...args, alarmTopicArn: monitoring.alarmTopicArn });
 * ```
 *
 * @example
 * #### An alarm of your own on the same topic
 * ```ts
 * new aws.cloudwatch.MetricAlarm("queue-depth", { name: envName(DEFAULT_PROJECT, "prod", "queue-depth"), alarmActions: [monitoring.alarmTopicArn], ... });
 * ```
 *
 * @remarks
 * The SNS topic every Berth alarm notifies is encrypted with a KMS key of its own
 * (CloudWatch cannot publish under the AWS-managed SNS key), its e-mail subscribers from
 * `emails`. The key lets CloudWatch publish only for alarms of this account and region
 * named `<project>-<env>-…`, as every Berth alarm is: an alarm of your own must follow
 * that naming (`envName`) to notify this topic.
 */
export class EnvironmentMonitoring extends pulumi.ComponentResource {
  readonly alarmTopicArn: pulumi.Output<string>;

  constructor(name: string, args: EnvironmentMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:monitoring:EnvironmentMonitoring', name, {}, opts);
    const project = args.project ?? DEFAULT_PROJECT;
    const tags = berthTags(project, args.env);
    // CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key: the
    // topic gets a key of its own whose policy lets CloudWatch use it.
    const identity = aws.getCallerIdentityOutput({}, { parent: this });
    const region = aws.getRegionOutput({}, { parent: this }).region;
    const key = new aws.kms.Key(
      `${name}-alarms`,
      ...applyTransform(
        args.transform?.topicKey,
        `${name}-alarms`,
        {
          description: `Berth ${args.env} alarm topic`,
          enableKeyRotation: true,
          deletionWindowInDays: 30,
          policy: pulumi.all([identity.accountId, region]).apply(([accountId, regionName]) => alarmTopicKeyPolicy(accountId, regionName, envName(project, args.env))),
          tags,
        },
        { parent: this },
      ),
    );
    const [topicArgs, topicOpts] = applyTransform(
      args.transform?.topic,
      `${name}-alarms`,
      { name: envName(project, args.env, 'alarms'), kmsMasterKeyId: key.arn, tags },
      { parent: this },
    );
    const topic = new aws.sns.Topic(`${name}-alarms`, topicArgs, topicOpts);
    for (const email of [...new Set(args.emails ?? [])].sort()) {
      // The address's hash keeps names unique where punctuation alone differs (a.b@ vs a-b@).
      const suffix = createHash('sha256').update(email).digest('hex').slice(0, 8);
      const subscriptionName = `${name}-alarms-${email.split('@')[0].replace(/[^a-zA-Z0-9]+/g, '-')}-${suffix}`;
      new aws.sns.TopicSubscription(subscriptionName, ...applyTransform(args.transform?.subscription, subscriptionName, { topic: topic.arn, protocol: 'email', endpoint: email }, { parent: this }));
    }
    if (args.dockerLogs) {
      const [groupArgs, groupOpts] = applyTransform(
        args.transform?.dockerLogGroup,
        `${name}-docker-logs`,
        { name: dockerLogGroupName(args.env, project), retentionInDays: args.dockerLogs.retentionDays, tags },
        { parent: this },
      );
      new aws.cloudwatch.LogGroup(`${name}-docker-logs`, groupArgs, groupOpts);
    }
    this.alarmTopicArn = topic.arn;
    this.registerOutputs({ alarmTopicArn: this.alarmTopicArn });
  }
}

/**
 * The alarm topic key's policy: the account administers it; CloudWatch may use
 * it to publish to the topic, but only for alarms of this account and region
 * whose names start with `<alarmNamePrefix>-` (every Berth alarm is named
 * `<project>-<env>-…`). These conditions keep the CloudWatch service principal
 * from being used as a confused deputy: without them, an alarm in any account
 * could have CloudWatch encrypt to this key (IAM User Guide, "The confused
 * deputy problem"; the alarm ARN format is arn:aws:cloudwatch:<region>:<account>:alarm:<name>).
 * An alarm named otherwise cannot deliver to the topic.
 */
export function alarmTopicKeyPolicy(accountId: string, region: string, alarmNamePrefix: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'AccountAdministers', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' },
      {
        Sid: 'CloudWatchPublishesAlarms',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:SourceAccount': accountId },
          ArnLike: { 'aws:SourceArn': `arn:aws:cloudwatch:${region}:${accountId}:alarm:${alarmNamePrefix}-*` },
        },
      },
    ],
  });
}
