import { AlarmTopic } from '../../components/monitoring/alarmTopic';
import { evaluate, valueOf } from '../support/pulumi';

describe('AlarmTopic', () => {
  it('creates one encrypted topic per environment with its e-mail subscribers, in a stable order', async () => {
    const { ofType, one, result } = await evaluate(() => new AlarmTopic('alarms', { env: 'prod', emails: ['b@example.com', 'a@example.com', 'b@example.com'] }));
    expect(one('aws:sns/topic:Topic', 'alarms').inputs).toEqual({
      kmsMasterKeyId: 'alias/aws/sns',
      name: 'berth-prod-alarms',
      tags: { 'berth:env': 'prod', 'berth:project': 'berth' },
    });
    expect(ofType('aws:sns/topicSubscription:TopicSubscription').map((s) => [s.name, s.inputs.endpoint, s.inputs.protocol, s.parent])).toEqual([
      ['alarms-a-example-com', 'a@example.com', 'email', 'alarms'],
      ['alarms-b-example-com', 'b@example.com', 'email', 'alarms'],
    ]);
    await expect(valueOf(result.topicArn)).resolves.toMatch(/^arn:aws:sns:eu-west-1:123456789012:/);
  });

  it('lets a transform adjust the topic', async () => {
    const { one } = await evaluate(
      () => new AlarmTopic('alarms', { env: 'dev', transformTopic: (args) => void (args.displayName = 'Berth dev alarms') }),
    );
    expect(one('aws:sns/topic:Topic', 'alarms').inputs.displayName).toBe('Berth dev alarms');
  });
});
