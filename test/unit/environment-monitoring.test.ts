import { EnvironmentMonitoring } from '../../components/monitoring/environmentMonitoring';
import { evaluate, valueOf } from '../support/pulumi';

describe('EnvironmentMonitoring', () => {
  it('creates one encrypted alarm topic per environment with its e-mail subscribers, in a stable order', async () => {
    const { ofType, one, result } = await evaluate(() => new EnvironmentMonitoring('prod', { env: 'prod', emails: ['b@example.com', 'a@example.com', 'b@example.com'] }));
    expect(one('aws:sns/topic:Topic', 'prod-alarms').inputs).toEqual({
      kmsMasterKeyId: 'alias/aws/sns',
      name: 'berth-prod-alarms',
      tags: { 'berth:env': 'prod', 'berth:project': 'berth' },
    });
    expect(ofType('aws:sns/topicSubscription:TopicSubscription').map((s) => [s.name, s.inputs.endpoint, s.inputs.protocol, s.parent])).toEqual([
      ['prod-alarms-a-example-com', 'a@example.com', 'email', 'prod'],
      ['prod-alarms-b-example-com', 'b@example.com', 'email', 'prod'],
    ]);
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

  it('lets a transform adjust the topic', async () => {
    const { one } = await evaluate(() => new EnvironmentMonitoring('dev', { env: 'dev', transform: { topic: (args) => void (args.displayName = 'Berth dev alarms') } }));
    expect(one('aws:sns/topic:Topic', 'dev-alarms').inputs.displayName).toBe('Berth dev alarms');
  });
});
