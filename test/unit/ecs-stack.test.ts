/**
 * The environment program with ECS groups (test/fixtures/ecs: app on hosts, app-ecs and workers
 * on ECS): which component runs each service, what the clusters get from the stack (sizes, EFS,
 * the tasks' PIDs limit, the callers' group), how ECS services meet the traffic (target groups,
 * the load balancers' egress to dynamic ports, no host registration), and a service that moves
 * between engines (both components, one log group, aliases, each side's replica count).
 */
import * as pulumi from '@pulumi/pulumi';
import * as settings from '@pulumi/pulumi/runtime/settings';
import * as path from 'path';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { catalogue as defaultCatalogue, CatalogueService } from '../../stacks/env/catalogue';
import { readStackFile, validateStackConfig } from '../../stacks/env/config';
import { declareStack } from '../../stacks/env/stack';
import { fakeHex } from '../../tools/offline/runtime';
import type { RecordedResource } from '../../tools/offline/types';
import { offlineRegistryOutputs } from '../../tools/synth/engine';
import { evaluate, Evaluation } from '../support/pulumi';

const ECS_ROOT = path.join(PROJECT_ROOT, 'test', 'fixtures', 'ecs');
const SECRET = 'offline-db-password-for-ecs-stack-test';

/** What the engine gets of each registration beyond inputs: the parent's URN and the aliases. */
interface Registration {
  type: string;
  name: string;
  parentUrn: string;
  aliases: { parentUrn?: string; urn?: string }[];
}

interface Synth extends Evaluation<unknown> {
  registrations: Registration[];
  /** The one registration of this type and name. */
  registration(type: string, name: string): Registration;
}

/** Records each register request's parent and aliases, on top of the offline runtime's recorder. */
function watchRegistrations(registrations: Registration[]): void {
  const monitor = settings.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: any) => {
    registrations.push({
      type: req.getType(),
      name: req.getName(),
      parentUrn: req.getParent(),
      aliases: req.getAliasesList().map((alias: any) => (alias.hasSpec() ? { parentUrn: alias.getSpec().getParenturn() } : { urn: alias.getUrn() })),
    });
    return register(req, callback);
  };
}

/** Declares the ECS fixture's prod stack, changed by `change`, with the given catalogue. */
async function synth(change: (raw: Record<string, any>) => void = () => undefined, catalogue: Record<string, CatalogueService> = defaultCatalogue): Promise<Synth> {
  const raw = JSON.parse(JSON.stringify(readStackFile('prod', ECS_ROOT).config));
  change(raw);
  const config = validateStackConfig('prod', raw, { catalogue });
  const registrations: Registration[] = [];
  const evaluation = await evaluate(
    () => {
      watchRegistrations(registrations);
      return declareStack(config, {
        sshPrivateKey: pulumi.secret('not-a-real-key'),
        secrets: pulumi.secret(Object.fromEntries(config.secretKeys.map((key) => [key, SECRET]))),
      });
    },
    { stack: 'prod', region: config.region, stackOutputs: { [config.registryStack]: offlineRegistryOutputs(config) } },
  );
  return {
    ...evaluation,
    registrations,
    registration: (type, name) => {
      const found = registrations.filter((registration) => registration.type === type && registration.name === name);
      expect(found).toHaveLength(1);
      return found[0];
    },
  };
}

const groupId = (name: string) => `sg-${fakeHex(`aws:ec2/securityGroup:SecurityGroup/${name}`, 17)}`;
const targetGroupArn = (result: Synth, name: string) =>
  `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/${result.one('aws:lb/targetGroup:TargetGroup', name).inputs.name}/${fakeHex(name, 16)}`;
const urnOf = (type: string, name: string) => `urn:pulumi:prod::berth::${type}::${name}`;
const CONTAINER_SERVICE = 'berth:service:ContainerService';
const ECS_SERVICE = 'berth:task:EcsService';
const LOG_GROUP = 'aws:cloudwatch/logGroup:LogGroup';
const names = (resources: RecordedResource[]) => resources.map((resource) => resource.name);
const userDataOf = (result: Synth, cluster: string) => Buffer.from(String(result.one('aws:ec2/launchTemplate:LaunchTemplate', cluster).inputs.userData), 'base64').toString('utf8');
const DYNAMIC_EGRESS = (services: string) => ({ description: `to ECS tasks on their dynamic host ports (${services})`, protocol: 'tcp', fromPort: 32768, toPort: 60999, cidrBlocks: ['0.0.0.0/0'] });
const PORT_EGRESS = (port: number) => ({ description: `to the hosts on service port ${port}`, protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: ['0.0.0.0/0'] });

describe('the environment program with ECS groups', () => {
  let base: Synth;
  beforeAll(async () => {
    base = await synth();
  });

  it('declares a host group for hosts groups and a cluster for ECS groups, and the component of each engine per service', () => {
    expect(names(base.ofType('berth:host:DockerHostGroup'))).toEqual(['app']);
    expect(names(base.ofType('berth:cluster:EcsCluster'))).toEqual(['app-ecs', 'workers']);
    expect(names(base.ofType(CONTAINER_SERVICE))).toEqual(['auth-service']);
    expect(names(base.ofType(ECS_SERVICE))).toEqual(['api-service', 'report-worker']);
    expect(names(base.ofType('aws:ec2/instance:Instance'))).toEqual(['app-1', 'app-2', 'app-3']);
  });

  it('sizes each cluster from count and maxCount, on the AMI of its architecture, with its EFS kept in prod', () => {
    const group = (name: string) => base.one('aws:autoscaling/group:Group', name).inputs;
    expect([group('app-ecs').minSize, group('app-ecs').maxSize, group('app-ecs').desiredCapacity]).toEqual([2, 6, 2]);
    expect([group('workers').minSize, group('workers').maxSize]).toEqual([1, 1]);
    expect(base.one('aws:ec2/launchTemplate:LaunchTemplate', 'app-ecs').inputs.instanceType).toBe('m7g.large');
    expect(base.runtime.calls.filter((call) => call.token === 'aws:ssm/getParameter:getParameter').map((call) => call.inputs.name)).toEqual(
      expect.arrayContaining(['/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id', '/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id']),
    );
    expect(base.runtime.optionsOf('aws:efs/fileSystem:FileSystem', 'app-ecs-data').retainOnDelete).toBe(true);
    expect(base.runtime.optionsOf('aws:efs/fileSystem:FileSystem', 'workers-data').retainOnDelete).toBe(true);
    expect(base.one('aws:ec2/launchTemplate:LaunchTemplate', 'app-ecs').inputs.blockDeviceMappings).toEqual([
      { deviceName: '/dev/xvda', ebs: { deleteOnTermination: 'true', encrypted: 'true', volumeSize: 30, volumeType: 'gp3' } },
    ]);
  });

  it("caps each cluster's tasks at the PIDs limit of the services it runs", () => {
    expect(userDataOf(base, 'app-ecs')).toContain('\nECS_TASK_PIDS_LIMIT=256\n');
    expect(userDataOf(base, 'workers')).toContain('\nECS_TASK_PIDS_LIMIT=128\n');
    expect(userDataOf(base, 'app-ecs')).toContain('\nECS_CLUSTER=berth-prod-app-ecs\n');
  });

  it("lets the clusters' instances take the dynamic ports from the load balancers, and join the callers' group", () => {
    expect(base.one('aws:ec2/securityGroup:SecurityGroup', 'app-ecs-instances').inputs.ingress).toEqual([
      { description: 'task host ports from the load balancers', protocol: 'tcp', fromPort: 32768, toPort: 60999, securityGroups: [groupId('prod-edge-lb')] },
    ]);
    expect(base.one('aws:ec2/launchTemplate:LaunchTemplate', 'app-ecs').inputs.vpcSecurityGroupIds).toEqual([groupId('app-ecs-instances'), groupId('prod-callers')]);
    expect(base.one('aws:ec2/launchTemplate:LaunchTemplate', 'workers').inputs.vpcSecurityGroupIds).toEqual([groupId('workers-instances'), groupId('prod-callers')]);
  });

  it('opens the load balancer to the dynamic host ports because a web service runs on ECS', () => {
    expect(base.one('aws:ec2/securityGroup:SecurityGroup', 'prod-edge-lb').inputs.egress).toEqual([PORT_EGRESS(8080), PORT_EGRESS(8081), DYNAMIC_EGRESS('api-service')]);
  });

  it('registers the ECS service in the edge target group on its container port, and makes no host attachment for it', () => {
    const api = base.one('aws:ecs/service:Service', 'api-service').inputs;
    expect(api.loadBalancers).toEqual([{ targetGroupArn: targetGroupArn(base, 'prod-edge-api-service'), containerName: 'api-service', containerPort: 8080 }]);
    expect(api.desiredCount).toBe(3);
    expect(api.healthCheckGracePeriodSeconds).toBe(60);
    expect(names(base.ofType('aws:lb/targetGroupAttachment:TargetGroupAttachment'))).toEqual(['prod-edge-auth-service-app-1', 'prod-edge-auth-service-app-2', 'prod-edge-auth-service-app-3']);
    const worker = base.one('aws:ecs/service:Service', 'report-worker').inputs;
    expect([worker.loadBalancers, worker.desiredCount, worker.deploymentMinimumHealthyPercent, worker.deploymentMaximumPercent]).toEqual([[], 1, 0, 100]);
  });

  it("hands the ECS services the stack's retention, the alarm topic and the pull permission of their own repository", () => {
    expect(base.one(LOG_GROUP, 'api-service-logs').inputs.retentionInDays).toBe(90);
    expect(base.one('aws:cloudwatch/metricAlarm:MetricAlarm', 'api-service-1-5xx').inputs.alarmActions).toEqual(['arn:aws:sns:eu-west-1:123456789012:prod-alarms']);
    // report-worker is behind no load balancer: no alarm, and no alarms block on its service.
    expect(names(base.ofType('aws:cloudwatch/metricAlarm:MetricAlarm').filter((alarm) => alarm.name.startsWith('report-worker-')))).toEqual([]);
    expect(base.one('aws:ecs/service:Service', 'report-worker').inputs.alarms).toBeUndefined();
    const policy = JSON.parse(String(base.one('aws:iam/rolePolicy:RolePolicy', 'api-service-execution').inputs.policy));
    expect(policy.Statement.find((statement: { Sid: string }) => statement.Sid === 'PullServiceImage').Resource).toEqual(['arn:aws:ecr:eu-west-1:123456789012:repository/berth/api-service']);
    expect(base.one('aws:ecs/service:Service', 'api-service').inputs.cluster).toBe('arn:aws:ecs:eu-west-1:123456789012:cluster/berth-prod-app-ecs');
  });

  it("names the other engine's component as an alias of each log group, so a move keeps the group", () => {
    expect(base.registration(LOG_GROUP, 'api-service-logs')).toEqual({
      type: LOG_GROUP,
      name: 'api-service-logs',
      parentUrn: urnOf(ECS_SERVICE, 'api-service'),
      aliases: [{ parentUrn: urnOf(CONTAINER_SERVICE, 'api-service') }],
    });
    expect(base.registration(LOG_GROUP, 'auth-service-logs')).toEqual({
      type: LOG_GROUP,
      name: 'auth-service-logs',
      parentUrn: urnOf(CONTAINER_SERVICE, 'auth-service'),
      aliases: [{ parentUrn: urnOf(ECS_SERVICE, 'auth-service') }],
    });
  });
});

describe('the environment program with ECS groups, at other settings', () => {
  it('registers the ECS service in both target groups when the edge is internet-facing, with a 5xx alarm for each', async () => {
    const result = await synth((raw) => {
      raw['berth:traffic'].scheme = 'internet-facing';
    });
    expect(result.one('aws:ecs/service:Service', 'api-service').inputs.loadBalancers).toEqual([
      { targetGroupArn: targetGroupArn(result, 'prod-edge-api-service'), containerName: 'api-service', containerPort: 8080 },
      { targetGroupArn: targetGroupArn(result, 'prod-service-names-api-service'), containerName: 'api-service', containerPort: 8080 },
    ]);
    expect(names(result.ofType('aws:cloudwatch/metricAlarm:MetricAlarm').filter((alarm) => alarm.name.startsWith('api-service-')))).toEqual(['api-service-1-5xx', 'api-service-2-5xx']);
    expect(result.one('aws:ec2/securityGroup:SecurityGroup', 'prod-service-names-lb').inputs.egress).toEqual([PORT_EGRESS(8080), PORT_EGRESS(8081), DYNAMIC_EGRESS('api-service')]);
    expect(result.one('aws:ec2/securityGroup:SecurityGroup', 'app-ecs-instances').inputs.ingress).toEqual([
      { description: 'task host ports from the load balancers', protocol: 'tcp', fromPort: 32768, toPort: 60999, securityGroups: [groupId('prod-edge-lb'), groupId('prod-service-names-lb')] },
    ]);
  });

  it("opens no dynamic ports when no web service runs on ECS, and lets an ECS group's EFS go outside stage and prod settings", async () => {
    const result = await synth((raw) => {
      raw['berth:services']['api-service'].hostGroup = 'app';
      delete raw['berth:services']['api-service'].replicas;
      raw['berth:hostGroups'].workers.retainDataVolume = false;
    });
    expect(result.one('aws:ec2/securityGroup:SecurityGroup', 'prod-edge-lb').inputs.egress).toEqual([PORT_EGRESS(8080), PORT_EGRESS(8081)]);
    expect(names(result.ofType(ECS_SERVICE))).toEqual(['report-worker']);
    expect(result.runtime.optionsOf('aws:efs/fileSystem:FileSystem', 'workers-data').retainOnDelete).toBe(false);
    // A cluster that runs no service sets no PIDs limit.
    expect(userDataOf(result, 'app-ecs')).not.toContain('ECS_TASK_PIDS_LIMIT');
  });

  it("takes the largest PIDs limit of a cluster's services, and keeps an ECS service's secrets in Secrets Manager as secrets", async () => {
    const catalogue = { ...defaultCatalogue, 'auth-service': { ...defaultCatalogue['auth-service'], pidsLimit: 1024 } };
    const result = await synth((raw) => {
      raw['berth:services']['auth-service'].hostGroup = 'app-ecs';
    }, catalogue);
    expect(userDataOf(result, 'app-ecs')).toContain('\nECS_TASK_PIDS_LIMIT=1024\n');
    expect(result.one('aws:secretsmanager/secret:Secret', 'auth-service-secret-DB_PASSWORD').inputs.namePrefix).toBe('berth/prod/auth-service/DB_PASSWORD-');
    expect(result.one('aws:secretsmanager/secretVersion:SecretVersion', 'auth-service-secret-DB_PASSWORD').inputs.secretString).toBe('[secret]');
    expect(JSON.stringify(result.resources)).not.toContain(SECRET);
    expect(result.one('aws:ec2/securityGroup:SecurityGroup', 'prod-edge-lb').inputs.egress).toEqual([PORT_EGRESS(8080), PORT_EGRESS(8081), DYNAMIC_EGRESS('api-service, auth-service')]);
    expect(result.ofType('aws:lb/targetGroupAttachment:TargetGroupAttachment')).toEqual([]);
    expect(result.one('aws:ecs/service:Service', 'auth-service').inputs.loadBalancers).toEqual([
      { targetGroupArn: targetGroupArn(result, 'prod-edge-auth-service'), containerName: 'auth-service', containerPort: 8081 },
    ]);
  });
});

describe('a service that moves between engines', () => {
  it('runs on the hosts it had and on ECS while it moves from hosts: one log group, owned by the hosts side', async () => {
    const result = await synth((raw) => {
      raw['berth:services']['api-service'].movingFrom = 'app';
      delete raw['berth:services']['api-service'].replicas;
    });
    expect(names(result.ofType(CONTAINER_SERVICE))).toEqual(['api-service', 'auth-service']);
    expect(names(result.ofType(ECS_SERVICE))).toEqual(['api-service', 'report-worker']);
    // The hosts group keeps its own count (3 hosts); ECS runs the ECS group's count (2).
    expect(names(result.ofType('command:remote:Command').filter((step) => step.name.startsWith('api-service-')))).toEqual(['api-service-app-1', 'api-service-app-2', 'api-service-app-3']);
    expect(result.one('aws:ecs/service:Service', 'api-service').inputs.desiredCount).toBe(2);
    // One log group, the one of the component that ran the service first, with the alias to the other.
    expect(result.registrations.filter((registration) => registration.type === LOG_GROUP && registration.name === 'api-service-logs')).toEqual([
      { type: LOG_GROUP, name: 'api-service-logs', parentUrn: urnOf(CONTAINER_SERVICE, 'api-service'), aliases: [{ parentUrn: urnOf(ECS_SERVICE, 'api-service') }] },
    ]);
    // Both sides behind the same target group: the hosts as attachments, the tasks through the ECS service.
    expect(names(result.ofType('aws:lb/targetGroupAttachment:TargetGroupAttachment')).filter((name) => name.startsWith('prod-edge-api-service-'))).toEqual([
      'prod-edge-api-service-app-1',
      'prod-edge-api-service-app-2',
      'prod-edge-api-service-app-3',
    ]);
    expect(result.one('aws:ecs/service:Service', 'api-service').inputs.loadBalancers).toEqual([
      { targetGroupArn: targetGroupArn(result, 'prod-edge-api-service'), containerName: 'api-service', containerPort: 8080 },
    ]);
    expect(result.one('aws:ec2/securityGroup:SecurityGroup', 'prod-edge-lb').inputs.egress).toEqual([PORT_EGRESS(8080), PORT_EGRESS(8081), DYNAMIC_EGRESS('api-service')]);
    // The hosts let the load balancers in on 8080 as before.
    expect(result.one('aws:ec2/securityGroup:SecurityGroup', 'app-hosts').inputs.ingress).toEqual(
      expect.arrayContaining([expect.objectContaining({ description: 'service port 8080 from load balancers', fromPort: 8080, toPort: 8080 })]),
    );
    // The ECS side starts after the hosts side (its deploy steps and its log group).
    expect(result.runtime.optionsOf(ECS_SERVICE, 'api-service').dependsOn).toEqual(['api-service-app-1', 'api-service-app-2', 'api-service-app-3', 'api-service-logs']);
    // The service still writes to the group on ECS.
    const spec = JSON.parse(String(result.one('command:remote:Command', 'api-service-app-1').inputs.stdin));
    expect(spec.log.options['awslogs-group']).toBe('/berth/prod/api-service');
  });

  it('runs on ECS and on the hosts while it moves from ECS: the ECS side owns the log group, each side its own count', async () => {
    const result = await synth((raw) => {
      raw['berth:services']['report-worker'].hostGroup = 'app';
      raw['berth:services']['report-worker'].movingFrom = 'workers';
    });
    expect(names(result.ofType(CONTAINER_SERVICE))).toEqual(['auth-service', 'report-worker']);
    expect(names(result.ofType(ECS_SERVICE))).toEqual(['api-service', 'report-worker']);
    expect(result.one('aws:ecs/service:Service', 'report-worker').inputs.desiredCount).toBe(1);
    expect(names(result.ofType('command:remote:Command').filter((step) => step.name.startsWith('report-worker-')))).toEqual([
      'report-worker-app-1',
      'report-worker-app-2',
      'report-worker-app-3',
    ]);
    expect(result.registrations.filter((registration) => registration.type === LOG_GROUP && registration.name === 'report-worker-logs')).toEqual([
      { type: LOG_GROUP, name: 'report-worker-logs', parentUrn: urnOf(ECS_SERVICE, 'report-worker'), aliases: [{ parentUrn: urnOf(CONTAINER_SERVICE, 'report-worker') }] },
    ]);
    // The cluster it leaves still caps its tasks by it.
    expect(userDataOf(result, 'workers')).toContain('\nECS_TASK_PIDS_LIMIT=128\n');
    // The hosts side starts after the ECS side: its service (and what that waits for) and its log group.
    expect(result.runtime.optionsOf(CONTAINER_SERVICE, 'report-worker').dependsOn).toEqual(expect.arrayContaining(['report-worker', 'report-worker-logs', 'report-worker-execution']));
  });
});
