/**
 * Every component has one `transform` key per kind of resource it declares, and
 * each key reaches exactly those resources. Per component: a table of its keys
 * (a mapped type, so a new key without a row does not compile), and one
 * evaluation with every hook set, each hook recording the names it is called
 * with, changing the args and marking the options with its key
 * (`ignoreChanges: ["transformed-<key>"]`). Then for each key: it was called
 * with the logical name of every resource of its kind and no other, those
 * resources' inputs changed and carry its mark, and nothing else changed or
 * carries a mark. Last, the table's resource types must cover every type the
 * component declares, so a resource without a transform key fails here too.
 * Without a hook nothing changes: the baseline evaluation is the component as
 * the other tests (and the synth hash) pin it.
 */
import * as pulumi from '@pulumi/pulumi';
import { DockerHostGroup, DockerHostGroupArgs, DockerHostGroupTransform } from '../../components/host/dockerHostGroup';
import { EnvironmentMonitoring, EnvironmentMonitoringTransform } from '../../components/monitoring/environmentMonitoring';
import { LayeredImages, LayeredImagesTransform } from '../../components/registry/layeredImages';
import { ServiceRegistry, ServiceRegistryTransform } from '../../components/registry/serviceRegistry';
import { ContainerService, ContainerServiceTransform } from '../../components/service/containerService';
import type { Transform } from '../../components/common/transform';
import type { RecordedResource } from '../../tools/offline/types';
import { fakeHost } from '../support/hosts';
import { evaluate } from '../support/pulumi';

/** What one transform key must reach, and the change its test hook makes to the args. */
interface KeyCase {
  /** The resource type the key adjusts. */
  type: string;
  /** The logical names the hook must be called with, sorted. */
  names: string[];
  /** Changes args in a way the recorded inputs show. */
  change: (args: any) => void;
}

type Cases<T> = { [K in keyof Required<T>]: KeyCase };

const MARK = 'transformed-';
const addTag = (args: any) => void (args.tags = { ...args.tags, 'test:transformed': 'yes' });

/** The types of the resources inside the component (children, and their children), not those a test declares beside it. */
function typesInside(resources: RecordedResource[], componentType: string): string[] {
  const component = resources.find((r) => r.type === componentType)!;
  const parentOf = new Map(resources.map((r) => [r.name, r.parent]));
  const inside = (r: RecordedResource) => {
    for (let parent = r.parent; parent !== null && parent !== undefined; parent = parentOf.get(parent) ?? null) {
      if (parent === component.name) {
        return true;
      }
    }
    return false;
  };
  return [...new Set(resources.filter(inside).map((r) => r.type))].sort();
}

/** Checks every key of `cases` against `declare(transform)`; see the file comment. */
async function checkTransforms<T>(componentType: string, cases: Cases<T>, declare: (transform: T) => unknown): Promise<void> {
  const plain = await evaluate(() => declare({} as T));
  const baseline = new Map(plain.resources.map((r) => [`${r.type} ${r.name}`, JSON.stringify(r.inputs)]));

  const called: Record<string, string[]> = {};
  const transform: Record<string, Transform<unknown>> = {};
  for (const [key, expected] of Object.entries(cases) as [string, KeyCase][]) {
    called[key] = [];
    transform[key] = (args, opts, name) => {
      called[key].push(name);
      expected.change(args);
      opts.ignoreChanges = [...(opts.ignoreChanges ?? []), `${MARK}${key}`];
    };
  }
  const run = await evaluate(() => declare(transform as T));

  const expectedMarks: Record<string, string[]> = {};
  for (const [key, expected] of Object.entries(cases) as [string, KeyCase][]) {
    expect({ key, called: [...called[key]].sort() }).toEqual({ key, called: expected.names });
    for (const name of expected.names) {
      expectedMarks[`${expected.type} ${name}`] = [...(expectedMarks[`${expected.type} ${name}`] ?? []), `${MARK}${key}`];
    }
  }
  const marks: Record<string, string[]> = {};
  const changed: string[] = [];
  for (const resource of run.resources) {
    const id = `${resource.type} ${resource.name}`;
    const found = (run.runtime.optionsOf(resource.type, resource.name).ignoreChanges ?? []).filter((path) => path.startsWith(MARK));
    if (found.length > 0) {
      marks[id] = found;
    }
    if (baseline.get(id) !== JSON.stringify(resource.inputs)) {
      changed.push(id);
    }
  }
  // Each key's options reached its resources and no others; its args changed them and nothing else.
  expect(marks).toEqual(expectedMarks);
  expect(changed.sort()).toEqual(Object.keys(expectedMarks).sort());
  // Every kind of resource inside the component has a key.
  const covered = new Set(Object.values<KeyCase>(cases).map((c) => c.type));
  expect(typesInside(plain.resources, componentType).filter((type) => !covered.has(type))).toEqual([]);
}

const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthTestKeyBerthTestKeyBerthTestKey00 berth-test';

function hostGroupArgs(transform: DockerHostGroupTransform): DockerHostGroupArgs {
  return {
    env: 'prod',
    count: 2,
    instanceType: 't3.small',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    subnetIds: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'],
    dataVolumeGiB: 50,
    adminCidrs: ['10.20.0.0/16'],
    repositoryArns: ['arn:aws:ecr:eu-west-1:123456789012:repository/berth/auth-service'],
    // With a topic, so the alarms are declared too.
    alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:berth-prod-alarms',
    ssh: { privateKey: pulumi.secret('not-a-real-key'), publicKey: PUBLIC_KEY },
    agentScript: '#!/usr/bin/env bash\necho agent\n',
    transform,
  };
}

describe('transform: one key per underlying resource, each reaching exactly its resources', () => {
  it('DockerHostGroup: securityGroup, role, rolePolicy, instanceProfile, keyPair, dataVolume, instance, volumeAttachment, ready, alarm', async () => {
    const cases: Cases<DockerHostGroupTransform> = {
      securityGroup: { type: 'aws:ec2/securityGroup:SecurityGroup', names: ['app-hosts'], change: addTag },
      role: { type: 'aws:iam/role:Role', names: ['app-host'], change: addTag },
      rolePolicy: { type: 'aws:iam/rolePolicy:RolePolicy', names: ['app-host'], change: (args) => void (args.name = 'transformed') },
      instanceProfile: { type: 'aws:iam/instanceProfile:InstanceProfile', names: ['app-host'], change: addTag },
      keyPair: { type: 'aws:ec2/keyPair:KeyPair', names: ['app-ssh'], change: addTag },
      dataVolume: { type: 'aws:ebs/volume:Volume', names: ['app-1-data', 'app-2-data'], change: addTag },
      instance: { type: 'aws:ec2/instance:Instance', names: ['app-1', 'app-2'], change: addTag },
      volumeAttachment: { type: 'aws:ec2/volumeAttachment:VolumeAttachment', names: ['app-1-data', 'app-2-data'], change: (args) => void (args.forceDetach = true) },
      ready: { type: 'command:remote:Command', names: ['app-1-ready', 'app-2-ready'], change: (args) => void (args.environment = { TRANSFORMED: 'yes' }) },
      alarm: {
        type: 'aws:cloudwatch/metricAlarm:MetricAlarm',
        names: ['app-1-disk-data-volume', 'app-1-disk-docker-root', 'app-1-status-check', 'app-2-disk-data-volume', 'app-2-disk-docker-root', 'app-2-status-check'],
        change: addTag,
      },
    };
    await checkTransforms('berth:host:DockerHostGroup', cases, (transform) => new DockerHostGroup('app', hostGroupArgs(transform)));
  });

  it('ContainerService: logGroup, deploy', async () => {
    const cases: Cases<ContainerServiceTransform> = {
      logGroup: { type: 'aws:cloudwatch/logGroup:LogGroup', names: ['auth-service-logs'], change: addTag },
      deploy: { type: 'command:remote:Command', names: ['auth-service-app-1', 'auth-service-app-2'], change: (args) => void (args.environment = { TRANSFORMED: 'yes' }) },
    };
    await checkTransforms('berth:service:ContainerService', cases, (transform) => {
      // The fake hosts' own resources (a readiness step and an attachment each) must stay unchanged.
      const hosts = [fakeHost('app-1', '10.20.0.10'), fakeHost('app-2', '10.20.0.11')];
      return new ContainerService('auth-service', {
        env: 'prod',
        image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:${'c3'.repeat(32)}`,
        hosts,
        health: { cmd: 'true', timeoutSeconds: 10 },
        transform,
      });
    });
  });

  it('EnvironmentMonitoring: topicKey, topic, subscription, dockerLogGroup', async () => {
    const cases: Cases<EnvironmentMonitoringTransform> = {
      topicKey: { type: 'aws:kms/key:Key', names: ['prod-alarms'], change: addTag },
      topic: { type: 'aws:sns/topic:Topic', names: ['prod-alarms'], change: addTag },
      subscription: {
        type: 'aws:sns/topicSubscription:TopicSubscription',
        names: ['prod-alarms-a-08168cd8', 'prod-alarms-b-e8f39b3e'],
        change: (args) => void (args.rawMessageDelivery = true),
      },
      dockerLogGroup: { type: 'aws:cloudwatch/logGroup:LogGroup', names: ['prod-docker-logs'], change: addTag },
    };
    await checkTransforms('berth:monitoring:EnvironmentMonitoring', cases, (transform) =>
      new EnvironmentMonitoring('prod', { env: 'prod', emails: ['a@example.com', 'b@example.com'], dockerLogs: { retentionDays: 30 }, transform }),
    );
  });

  it('ServiceRegistry: repository, lifecyclePolicy, repositoryPolicy', async () => {
    const cases: Cases<ServiceRegistryTransform> = {
      repository: { type: 'aws:ecr/repository:Repository', names: ['reg-base', 'reg-web'], change: addTag },
      lifecyclePolicy: { type: 'aws:ecr/lifecyclePolicy:LifecyclePolicy', names: ['reg-base-lifecycle', 'reg-web-lifecycle'], change: (args) => void (args.policy = '{"rules":[]}') },
      repositoryPolicy: { type: 'aws:ecr/repositoryPolicy:RepositoryPolicy', names: ['reg-base-pull', 'reg-web-pull'], change: (args) => void (args.policy = '{"Statement":[]}') },
    };
    // With pull accounts, so the repository policies are declared too.
    await checkTransforms('berth:registry:ServiceRegistry', cases, (transform) => new ServiceRegistry('reg', { services: ['web'], pullAccountIds: ['111111111111'], transform }));
  });

  it('LayeredImages: image', async () => {
    const host = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
    const cases: Cases<LayeredImagesTransform> = {
      image: { type: 'docker:index/image:Image', names: ['images-base', 'images-web'], change: (args) => void (args.build = { ...args.build, network: 'host' }) },
    };
    await checkTransforms('berth:registry:LayeredImages', cases, (transform) =>
      new LayeredImages('images', { base: { context: 'images/base', repositoryUrl: `${host}/berth/base` }, services: { web: { context: 'images/web', repositoryUrl: `${host}/berth/web` } }, transform }),
    );
  });
});
