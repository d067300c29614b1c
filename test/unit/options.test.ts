/**
 * Every documented option of every component at a value other than its
 * default, each checked by its effect on what the component declares. Options
 * already exercised at a non-default value elsewhere are listed, with the test
 * that does it, at the head of each block; `transform` is covered by the
 * transform tests. Expected values are literals.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import * as path from 'path';
import { DockerHostGroup, DockerHostGroupArgs } from '../../components/host/dockerHostGroup';
import { LayeredImages } from '../../components/registry/layeredImages';
import { resolveServiceImage } from '../../components/registry/resolveImage';
import { ServiceRegistry } from '../../components/registry/serviceRegistry';
import { ContainerService, ContainerServiceArgs } from '../../components/service/containerService';
import { OfflineRuntime, OFFLINE_ACCOUNT_ID } from '../../tools/offline/runtime';
import { fakeHost } from '../support/hosts';
import { evaluate, valueOf } from '../support/pulumi';

const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthTestKeyBerthTestKeyBerthTestKey00 berth-test';
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';

function groupArgs(overrides: Partial<DockerHostGroupArgs> = {}): DockerHostGroupArgs {
  return {
    env: 'prod',
    count: 1,
    instanceType: 't3.small',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    subnetIds: ['subnet-0a1b2c3d4e5f60711'],
    dataVolumeGiB: 50,
    repositoryArns: [`arn:aws:ecr:eu-west-1:123456789012:repository/berth/auth-service`],
    alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:berth-prod-alarms',
    ssh: { privateKey: pulumi.secret('the-deploy-key'), publicKey: PUBLIC_KEY },
    ...overrides,
  };
}

/** The files the readiness step stages on a host, by path, read back from its stdin. */
function stagedFiles(stdin: unknown): Record<string, string> {
  const files: Record<string, string> = {};
  for (const match of String(stdin).matchAll(/^stage_file (\S+) \d{4} [0-9a-f]{64} <<'BERTH_EOF'\n([\s\S]*?)^BERTH_EOF$/gm)) {
    files[match[1]] = match[2];
  }
  return files;
}

/** The last line of the readiness step's stdin: converge_host with the mount command. */
function convergeLine(stdin: unknown): string {
  return String(stdin).trimEnd().split('\n').pop()!;
}

describe('DockerHostGroup options', () => {
  // Elsewhere at non-default values: count, instanceType, subnetIds, dataVolumeGiB, retainDataVolume,
  // adminCidrs, bastionSecurityGroupId, servicePorts, serviceIngressCidrs, serviceIngressSecurityGroupIds,
  // repositoryArns, alarmTopicArn, diskUsagePercent, ssh.publicKey, ssh.bastion.host/hostKey
  // (host-group.test.ts, security-documents.test.ts).

  it('project: prefixes physical names, tags, the host environment and the daemon log group', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ project: 'shop' })));
    const instance = one('aws:ec2/instance:Instance', 'app-1');
    expect(instance.inputs.tags).toEqual({ 'berth:env': 'prod', 'berth:host-group': 'app', 'berth:project': 'shop', Name: 'shop-prod-app-1' });
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'app-hosts').inputs.namePrefix).toBe('shop-prod-app-hosts-');
    expect(one('aws:iam/role:Role', 'app-host').inputs.namePrefix).toBe('shop-prod-app-host-');
    expect(one('aws:ec2/keyPair:KeyPair', 'app-ssh').inputs.keyNamePrefix).toBe('shop-prod-app-');
    expect(one('aws:cloudwatch/metricAlarm:MetricAlarm', 'app-1-status-check').inputs.name).toBe('shop-prod-app-1-status-check');
    const files = stagedFiles(one('command:remote:Command', 'app-1-ready').inputs.stdin);
    expect(files['/etc/berth/host.env']).toContain('BERTH_PROJECT=shop\n');
    expect(JSON.parse(files['/etc/docker/daemon.json'])['log-opts']['awslogs-group']).toBe('/shop/prod/docker');
  });

  it('region: the awslogs driver and the host environment use it instead of the provider region', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ region: 'us-west-2' })));
    const files = stagedFiles(one('command:remote:Command', 'app-1-ready').inputs.stdin);
    expect(files['/etc/berth/host.env']).toContain('BERTH_REGION=us-west-2\n');
    expect(JSON.parse(files['/etc/docker/daemon.json'])['log-opts']['awslogs-region']).toBe('us-west-2');
  });

  it('ami: a pinned AMI is used as given and no SSM lookup is made', async () => {
    const { one, runtime } = await evaluate(() => new DockerHostGroup('app', groupArgs({ ami: 'ami-0fedcba9876543210' })));
    expect(one('aws:ec2/instance:Instance', 'app-1').inputs.ami).toBe('ami-0fedcba9876543210');
    expect(runtime.calls.filter((call) => call.token === 'aws:ssm/getParameter:getParameter')).toEqual([]);
  });

  it('rootVolumeGiB: sizes the root volume, still encrypted gp3', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ rootVolumeGiB: 64 })));
    expect(one('aws:ec2/instance:Instance', 'app-1').inputs.rootBlockDevice).toEqual({ deleteOnTermination: true, encrypted: true, volumeSize: 64, volumeType: 'gp3' });
  });

  it('associatePublicIp and publicIpReason: a public IP, with the reason recorded as a tag', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ associatePublicIp: true, publicIpReason: 'no NAT gateway in dev' })));
    const instance = one('aws:ec2/instance:Instance', 'app-1');
    expect(instance.inputs.associatePublicIpAddress).toBe(true);
    expect((instance.inputs.tags as Record<string, string>)['berth:public-ip-reason']).toBe('no NAT gateway in dev');
    // A reason without a public IP records nothing.
    const { one: without } = await evaluate(() => new DockerHostGroup('app', groupArgs({ publicIpReason: 'unused' })));
    expect(without('aws:ec2/instance:Instance', 'app-1').inputs.tags).not.toHaveProperty('berth:public-ip-reason');
  });

  it('logging: the local driver with its rotation reaches daemon.json', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ logging: { driver: 'local', maxSize: '50m', maxFile: 3 } })));
    expect(JSON.parse(stagedFiles(one('command:remote:Command', 'app-1-ready').inputs.stdin)['/etc/docker/daemon.json'])).toEqual({
      'log-driver': 'local',
      'log-opts': { 'max-size': '50m', 'max-file': '3', compress: 'true' },
      'live-restore': true,
      'no-new-privileges': true,
    });
  });

  it('logging: an awslogs group and stream tag of your own reach daemon.json', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ logging: { driver: 'awslogs', logGroup: '/platform/docker', tag: '{{.Name}}' } })));
    expect(JSON.parse(stagedFiles(one('command:remote:Command', 'app-1-ready').inputs.stdin)['/etc/docker/daemon.json'])['log-opts']).toEqual({
      'awslogs-region': 'eu-west-1',
      'awslogs-group': '/platform/docker',
      'awslogs-create-group': 'false',
      tag: '{{.Name}}',
      mode: 'non-blocking',
      'max-buffer-size': '4m',
    });
  });

  it('pruneSchedule: the prune timer runs on that calendar', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ pruneSchedule: 'Sun *-*-* 04:00:00' })));
    expect(stagedFiles(one('command:remote:Command', 'app-1-ready').inputs.stdin)['/etc/systemd/system/berth-prune.timer']).toBe(
      '[Unit]\nDescription=Berth prune schedule\n\n[Timer]\nOnCalendar=Sun *-*-* 04:00:00\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n',
    );
  });

  it('serviceDirectories: each is created on the data volume, at boot and by the setup', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ serviceDirectories: ['prod/report-worker', 'prod/auth-service'] })));
    const stdin = one('command:remote:Command', 'app-1-ready').inputs.stdin;
    const serviceDirs = '--service-dir prod/auth-service --service-dir prod/report-worker';
    expect(convergeLine(stdin).endsWith(serviceDirs)).toBe(true);
    expect(stagedFiles(stdin)['/etc/systemd/system/berth-data-volume.service']).toMatch(new RegExp(`^ExecStart=.* ${serviceDirs}$`, 'm'));
  });

  it('agentScript: the agent installed on every host is the one given', async () => {
    const agent = '#!/usr/bin/env bash\n# a site-specific agent\nexec /opt/agent "$@"\n';
    const { one } = await evaluate(() => new DockerHostGroup('app', groupArgs({ agentScript: agent })));
    expect(stagedFiles(one('command:remote:Command', 'app-1-ready').inputs.stdin)['/usr/local/bin/berth-agent']).toBe(agent);
  });

  it('ssh.user: the steps log in as that user, the bastion hop too unless it names its own', async () => {
    const { result } = await evaluate(() =>
      new DockerHostGroup('app', groupArgs({ ssh: { privateKey: 'k', publicKey: PUBLIC_KEY, user: 'deploy', bastion: { host: 'bastion.example.com' } } })),
    );
    const connection = (await valueOf(result.hosts[0].connection)) as any;
    expect(connection.user).toBe('deploy');
    expect(connection.proxy.user).toBe('deploy');
  });

  it('ssh.bastion.user and ssh.bastion.privateKey: the hop uses its own login and key', async () => {
    const { result } = await evaluate(() =>
      new DockerHostGroup(
        'app',
        groupArgs({ ssh: { privateKey: 'host-key', publicKey: PUBLIC_KEY, bastion: { host: 'bastion.example.com', user: 'jump', privateKey: 'bastion-key' } } }),
      ),
    );
    const connection = (await valueOf(result.hosts[0].connection)) as any;
    expect(connection.user).toBe('ec2-user');
    expect(connection.privateKey).toBe('host-key');
    expect(connection.proxy).toMatchObject({ host: 'bastion.example.com', user: 'jump', privateKey: 'bastion-key' });
    expect(connection.proxy).not.toHaveProperty('hostKey');
  });

  it('ssh.usePublicIp: the steps reach each host on its public IP', async () => {
    const { result, one } = await evaluate(() =>
      new DockerHostGroup('app', groupArgs({ associatePublicIp: true, publicIpReason: 'no VPN', ssh: { privateKey: 'k', publicKey: PUBLIC_KEY, usePublicIp: true } })),
    );
    const connection = (await valueOf(result.hosts[0].connection)) as any;
    expect(connection.host).toMatch(/^203\.0\.113\.\d+$/);
    expect(connection.host).not.toBe(await valueOf(result.hosts[0].instance.privateIp));
    expect(one('aws:ec2/instance:Instance', 'app-1').inputs.associatePublicIpAddress).toBe(true);
  });
});

const IMAGE = `${REGISTRY}/berth/auth-service@sha256:${'c3'.repeat(32)}`;
const CONFIG = path.resolve(__dirname, '../../stacks/env/service-config/auth-service/application-prod.properties');

function serviceArgs(overrides: Partial<ContainerServiceArgs> = {}): ContainerServiceArgs {
  return {
    env: 'prod',
    image: IMAGE,
    hosts: [fakeHost('app-1')],
    health: { cmd: 'true', timeoutSeconds: 30 },
    ...overrides,
  };
}

/** The agent spec the first host's deploy step sends. */
function specOf(one: (type: string, name: string) => { inputs: Record<string, unknown> }, step: string): Record<string, any> {
  return JSON.parse(String(one('command:remote:Command', step).inputs.stdin));
}

describe('ContainerService options', () => {
  // Elsewhere at non-default values: env, image, hosts, ports, health, volumes, configFile, environment,
  // secretEnvironment, logging (awslogs retention, local), hostAccess.dockerSocket (container-service.test.ts).

  it('project: names the log group and tags it, and the containers log there', async () => {
    const { one } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ project: 'shop' })));
    expect(one('aws:cloudwatch/logGroup:LogGroup', 'auth-service-logs').inputs).toEqual({
      name: '/shop/prod/auth-service',
      retentionInDays: 30,
      tags: { 'berth:env': 'prod', 'berth:project': 'shop', 'berth:service': 'auth-service' },
    });
    expect(specOf(one, 'auth-service-app-1').log.options['awslogs-group']).toBe('/shop/prod/auth-service');
  });

  it('serviceName: the service on the hosts, its log group and its remove take it; the steps keep the component name', async () => {
    const { one } = await evaluate(() => new ContainerService('auth-blue', serviceArgs({ serviceName: 'auth-service', volumes: [{ name: 'data', containerPath: '/data' }] })));
    const step = one('command:remote:Command', 'auth-blue-app-1');
    expect(step.inputs.create).toBe(`sudo /usr/local/bin/berth-agent deploy --deployment auth-blue-app-1 --expect-image ${IMAGE}`);
    expect(step.inputs.delete).toBe('sudo /usr/local/bin/berth-agent remove auth-service --env prod --deployment auth-blue-app-1');
    expect(specOf(one, 'auth-blue-app-1')).toMatchObject({ name: 'auth-service', volumes: ['/srv/berth/prod/auth-service/data:/data'] });
    expect(one('aws:cloudwatch/logGroup:LogGroup', 'auth-blue-logs').inputs.name).toBe('/berth/prod/auth-service');
  });

  it('memoryMiB and pidsLimit: the container limits in the spec', async () => {
    const { one } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ memoryMiB: 1536, pidsLimit: 1024 })));
    expect(specOf(one, 'auth-service-app-1')).toMatchObject({ memoryMiB: 1536, pidsLimit: 1024 });
  });

  it('volumes[].readOnly: mounted read-only', async () => {
    const { one } = await evaluate(() =>
      new ContainerService('auth-service', serviceArgs({ volumes: [{ name: 'certs', containerPath: '/etc/certs', readOnly: true }, { name: 'logs', containerPath: '/var/log/app' }] })),
    );
    expect(specOf(one, 'auth-service-app-1').volumes).toEqual(['/srv/berth/prod/auth-service/certs:/etc/certs:ro', '/srv/berth/prod/auth-service/logs:/var/log/app']);
  });

  it('dataRoot: service volumes live under it', async () => {
    const { one } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ dataRoot: '/data/berth', volumes: [{ name: 'logs', containerPath: '/var/log/app' }] })));
    expect(specOf(one, 'auth-service-app-1').volumes).toEqual(['/data/berth/prod/auth-service/logs:/var/log/app']);
  });

  it('region: the containers log to that region instead of the provider region', async () => {
    const { one } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ region: 'us-west-2' })));
    expect(specOf(one, 'auth-service-app-1').log.options['awslogs-region']).toBe('us-west-2');
  });

  it('hostAccess.privileged: the spec asks the agent for a privileged container, with the reason', async () => {
    const { one } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ hostAccess: { privileged: true, reason: 'manages host network interfaces' } })));
    const spec = specOf(one, 'auth-service-app-1');
    expect(spec).toMatchObject({ privileged: true, allowPrivilegedReason: 'manages host network interfaces' });
    expect(spec).not.toHaveProperty('dockerSocket');
  });

  it('configFile: its content goes to the host, to be mounted at the target', async () => {
    const { one } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ configFile: { path: CONFIG, target: '/etc/app/app.properties' } })));
    const spec = specOf(one, 'auth-service-app-1');
    expect(spec.configFile.target).toBe('/etc/app/app.properties');
    expect(spec.configFile.content).toContain('spring.profiles.active=prod');
  });
});

describe('ServiceRegistry options', () => {
  // Elsewhere at non-default values: services, namespace, pullAccountIds, untaggedExpiryDays,
  // protectedTags, keepTagPrefix (""), encryption (KMS with a key) (registry.test.ts, security-documents.test.ts).

  it('baseImage: the base repository takes that name', async () => {
    const { ofType, result } = await evaluate(() => new ServiceRegistry('reg', { services: ['web'], baseImage: 'jre21-base' }));
    expect(ofType('aws:ecr/repository:Repository').map((repository) => [repository.name, repository.inputs.name])).toEqual([
      ['reg-jre21-base', 'berth/jre21-base'],
      ['reg-web', 'berth/web'],
    ]);
    expect(result.baseRepository).toBe('berth/jre21-base');
    expect((await valueOf(result.stackOutputs)).baseRepository).toBe('berth/jre21-base');
  });

  it('keepTagPrefix: images with a tag of that prefix are kept', async () => {
    const { one } = await evaluate(() => new ServiceRegistry('reg', { services: ['web'], protectedTags: ['prod'], keepTagPrefix: 'retain-' }));
    expect(JSON.parse(String(one('aws:ecr/lifecyclePolicy:LifecyclePolicy', 'reg-web-lifecycle').inputs.policy)).rules[1]).toEqual({
      rulePriority: 2,
      description: 'Keep images with a tag starting with retain-',
      selection: { tagStatus: 'tagged', tagPrefixList: ['retain-'], countType: 'imageCountMoreThan', countNumber: 100000 },
      action: { type: 'expire' },
    });
  });

  it('encryption AES256, imageTagMutability, forceDelete and tags reach every repository', async () => {
    const { ofType } = await evaluate(
      () => new ServiceRegistry('reg', { services: ['web'], encryption: { type: 'AES256' }, imageTagMutability: 'IMMUTABLE', forceDelete: true, tags: { team: 'platform' } }),
    );
    const repositories = ofType('aws:ecr/repository:Repository');
    expect(repositories.map((repository) => repository.inputs)).toEqual([
      {
        name: 'berth/base',
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [{ encryptionType: 'AES256' }],
        imageTagMutability: 'IMMUTABLE',
        forceDelete: true,
        tags: { team: 'platform', 'berth:repository': 'base' },
      },
      {
        name: 'berth/web',
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [{ encryptionType: 'AES256' }],
        imageTagMutability: 'IMMUTABLE',
        forceDelete: true,
        tags: { team: 'platform', 'berth:repository': 'web' },
      },
    ]);
  });
});

describe('LayeredImages options', () => {
  // Elsewhere at non-default values: base, services, dockerfile, args, tag, registry, builderVersion (registry-images.test.ts).

  it('platform: every image, base and services, is built for it', async () => {
    const { ofType } = await evaluate(
      () =>
        new LayeredImages('images', {
          base: { context: 'images/base', repositoryUrl: `${REGISTRY}/berth/base` },
          services: { web: { context: 'images/web', repositoryUrl: `${REGISTRY}/berth/web` } },
          platform: 'linux/arm64',
        }),
    );
    expect(ofType('docker:index/image:Image').map((image) => [image.name, (image.inputs.build as any).platform])).toEqual([
      ['images-base', 'linux/arm64'],
      ['images-web', 'linux/arm64'],
    ]);
  });
});

describe('resolveServiceImage options', () => {
  // Elsewhere: digest, tag, registry host in the reference, registry URL from a stack reference (registry-images.test.ts).

  it('opts: the tag lookup goes through the provider given', async () => {
    const call = jest.spyOn(OfflineRuntime.prototype, 'call');
    try {
      const { result } = await evaluate(() => {
        const provider = new aws.Provider('registry-account', { region: 'us-east-1' });
        return resolveServiceImage('berth/web:main', `${OFFLINE_ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com`, { provider });
      });
      await valueOf(result);
      const lookups = call.mock.calls.map(([args]) => args).filter((args) => args.token === 'aws:ecr/getImage:getImage');
      expect(lookups).toHaveLength(1);
      expect(lookups[0].provider).toMatch(/::registry-account::/);
    } finally {
      call.mockRestore();
    }
  });
});
