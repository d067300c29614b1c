import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { berthTags, envName, Transform, transformed } from '../common/naming';

export interface AlarmTopicArgs {
  /**
   * Project name; prefixes physical names and tags.
   * @default "berth"
   */
  project?: string;
  /**
   * Environment the alarms belong to.
   * @example "prod"
   */
  env: string;
  /**
   * E-mail addresses subscribed to the topic. Each must confirm by e-mail.
   * @default []
   * @example ["platform-oncall@example.com"]
   */
  emails?: string[];
  /** Adjust the SNS topic before it is created. */
  transformTopic?: Transform<aws.sns.TopicArgs>;
}

/**
 * One SNS topic per environment that every Berth alarm notifies, encrypted
 * with the AWS-managed SNS key, with its e-mail subscribers.
 *
 * @example
 * const alarms = new AlarmTopic("alarms", { env: "prod", emails: ["oncall@example.com"] });
 * new DockerHostGroup("app", { ..., alarmTopicArn: alarms.topicArn });
 */
export class AlarmTopic extends pulumi.ComponentResource {
  readonly topicArn: pulumi.Output<string>;

  constructor(name: string, args: AlarmTopicArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:monitoring:AlarmTopic', name, {}, opts);
    const project = args.project ?? 'berth';
    const [topicArgs, topicOpts] = transformed(
      args.transformTopic,
      { name: envName(project, args.env, 'alarms'), kmsMasterKeyId: 'alias/aws/sns', tags: berthTags(project, args.env) },
      { parent: this },
    );
    const topic = new aws.sns.Topic(name, topicArgs, topicOpts);
    for (const email of [...new Set(args.emails ?? [])].sort()) {
      new aws.sns.TopicSubscription(`${name}-${email.replace(/[^a-zA-Z0-9]+/g, '-')}`, { topic: topic.arn, protocol: 'email', endpoint: email }, { parent: this });
    }
    this.topicArn = topic.arn;
    this.registerOutputs({ topicArn: this.topicArn });
  }
}
