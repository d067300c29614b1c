import { alarmTopicKeyPolicy, EnvironmentMonitoring } from '../../components/monitoring/environmentMonitoring';
import { evaluate, valueOf } from '../support/pulumi';

/**
 * The key policy the prod alarm topic must get, written out: the account
 * administers the key; CloudWatch may use it only on behalf of this account's
 * alarms in eu-west-1 named berth-prod-… (aws:SourceAccount, aws:SourceArn:
 * no confused deputy).
 */
const PROD_KEY_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'AccountAdministers', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'kms:*', Resource: '*' },
    {
      Sid: 'CloudWatchPublishesAlarms',
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Resource: '*',
      Condition: {
        StringEquals: { 'aws:SourceAccount': '123456789012' },
        ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:berth-prod-*' },
      },
    },
  ],
};

describe('EnvironmentMonitoring', () => {
  it('creates one alarm topic per environment, encrypted with a key CloudWatch may use, with its e-mail subscribers in a stable order', async () => {
    const { ofType, one, result } = await evaluate(() => new EnvironmentMonitoring('prod', { env: 'prod', emails: ['b@example.com', 'a.b@example.com', 'a-b@example.com', 'b@example.com'] }));
    const key = one('aws:kms/key:Key', 'prod-alarms');
    expect(key.inputs).toMatchObject({ enableKeyRotation: true, deletionWindowInDays: 30 });
    expect(JSON.parse(String(key.inputs.policy))).toEqual(PROD_KEY_POLICY);
    expect(one('aws:sns/topic:Topic', 'prod-alarms').inputs).toEqual({
      kmsMasterKeyId: expect.stringMatching(/^arn:aws:kms:eu-west-1:123456789012:/),
      name: 'berth-prod-alarms',
      tags: { 'berth:env': 'prod', 'berth:project': 'berth' },
    });
    expect(ofType('aws:sns/topicSubscription:TopicSubscription').map((s) => [s.name, s.inputs.endpoint, s.inputs.protocol, s.parent])).toEqual(
      [
        ['prod-alarms-a-b-29728d50', 'a-b@example.com', 'email', 'prod'],
        ['prod-alarms-a-b-a6f1bad1', 'a.b@example.com', 'email', 'prod'],
        ['prod-alarms-b-e8f39b3e', 'b@example.com', 'email', 'prod'],
      ].sort((x, y) => (x[0] < y[0] ? -1 : 1)),
    );
    expect(ofType('aws:cloudwatch/logGroup:LogGroup')).toEqual([]);
    await expect(valueOf(result.alarmTopicArn)).resolves.toMatch(/^arn:aws:sns:eu-west-1:123456789012:/);
  });

  it('creates the Docker daemon log group with its retention when hosts log to CloudWatch', async () => {
    const { one } = await evaluate(() => new EnvironmentMonitoring('stage', { env: 'stage', dockerLogs: { retentionDays: 30 } }));
    expect(one('aws:cloudwatch/logGroup:LogGroup', 'stage-docker-logs').inputs).toEqual({
      name: '/berth/stage/docker',
      retentionInDays: 30,
      tags: { 'berth:env': 'stage', 'berth:project': 'berth' },
    });
  });

  it('scopes the key to the region and alarm names of the environment it serves', async () => {
    const { one } = await evaluate(() => new EnvironmentMonitoring('test', { project: 'shop', env: 'test' }), { region: 'us-east-2' });
    expect(JSON.parse(String(one('aws:kms/key:Key', 'test-alarms').inputs.policy)).Statement[1].Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': '123456789012' },
      ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:us-east-2:123456789012:alarm:shop-test-*' },
    });
  });

  it('renders the key policy for the account, region and alarm-name prefix it is given', () => {
    expect(JSON.parse(alarmTopicKeyPolicy('123456789012', 'eu-west-1', 'berth-prod'))).toEqual(PROD_KEY_POLICY);
  });

  it('lets a transform adjust the topic', async () => {
    const { one } = await evaluate(() => new EnvironmentMonitoring('dev', { env: 'dev', transform: { topic: (args) => void (args.displayName = 'Berth dev alarms') } }));
    expect(one('aws:sns/topic:Topic', 'dev-alarms').inputs.displayName).toBe('Berth dev alarms');
  });
});
