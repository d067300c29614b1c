import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { berthTags, envName } from '../common/naming';
import { applyTransform, Transform } from '../common/transform';
import { dockerLogGroupName } from '../host/dockerConfig';

export interface EnvironmentMonitoringArgs {
  /**
   * Project name; prefixes physical names and tags.
   * @default "berth"
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
   * Create the log group Docker's daemon-wide `awslogs` driver writes to (`/berth/<env>/docker`),
   * with this retention. Hosts do not create log groups themselves.
   * @default undefined (no daemon log group: hosts log with the `local` driver)
   * @example { retentionDays: 30 }
   */
  dockerLogs?: { retentionDays: number };
  /** Adjust what the component creates before it is created. */
  transform?: { topic?: Transform<aws.sns.TopicArgs>; dockerLogGroup?: Transform<aws.cloudwatch.LogGroupArgs> };
}

/**
 * What one environment's hosts report to: an SNS topic every Berth alarm
 * notifies (encrypted with the AWS-managed SNS key, e-mail subscribers from
 * config) and the CloudWatch log group of the Docker daemon's default driver.
 *
 * @example
 * const monitoring = new EnvironmentMonitoring("prod", { env: "prod", emails: ["oncall@example.com"], dockerLogs: { retentionDays: 90 } });
 * new DockerHostGroup("app", { ..., alarmTopicArn: monitoring.alarmTopicArn });
 */
export class EnvironmentMonitoring extends pulumi.ComponentResource {
  readonly alarmTopicArn: pulumi.Output<string>;

  constructor(name: string, args: EnvironmentMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:monitoring:EnvironmentMonitoring', name, {}, opts);
    const project = args.project ?? 'berth';
    const tags = berthTags(project, args.env);
    const [topicArgs, topicOpts] = applyTransform(
      args.transform?.topic,
      `${name}-alarms`,
      { name: envName(project, args.env, 'alarms'), kmsMasterKeyId: 'alias/aws/sns', tags },
      { parent: this },
    );
    const topic = new aws.sns.Topic(`${name}-alarms`, topicArgs, topicOpts);
    for (const email of [...new Set(args.emails ?? [])].sort()) {
      new aws.sns.TopicSubscription(`${name}-alarms-${email.replace(/[^a-zA-Z0-9]+/g, '-')}`, { topic: topic.arn, protocol: 'email', endpoint: email }, { parent: this });
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
