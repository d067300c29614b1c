/**
 * EcsService under the offline runtime, at non-default arguments: the task definition and its
 * container definitions (the config file's text in the revision), the secrets in Secrets Manager
 * (secret in state, pinned by version in the task definition), the roles' documents (literal),
 * EFS access points, the ECS service's deployment settings and load balancers, what it waits
 * for, and its alarms.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EcsCluster } from '../../components/cluster/ecsCluster';
import type { EcsCapacity } from '../../components/cluster/ecsCluster';
import { EcsService, EcsServiceArgs, EcsServiceTarget } from '../../components/task/ecsService';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { fakeHex, OfflineRuntime } from '../../tools/offline/runtime';
import { evaluate, valueOf } from '../support/pulumi';

const IMAGE = '123456789012.dkr.ecr.us-east-2.amazonaws.com/shop/web@sha256:' + 'e5'.repeat(32);
const REPOSITORY = 'arn:aws:ecr:us-east-2:123456789012:repository/shop/web';
const FILE_SYSTEM_ARN = 'arn:aws:elasticfilesystem:us-east-2:123456789012:file-system/fs-0123456789abcdef0';
const API_KEY_ARN = 'arn:aws:secretsmanager:us-east-2:123456789012:secret:partner-api-key-AbCdEf';
const LEGACY_TOKEN_ARN = 'arn:aws:ssm:us-east-2:123456789012:parameter/shop/legacy-token';
const TOPIC = 'arn:aws:sns:us-east-2:123456789012:shop-stage-alarms';
const SECRET = 'hunter2-very-secret';
const REGION = { region: 'us-east-2' };
const TAGS = { 'berth:env': 'stage', 'berth:project': 'shop', 'berth:service': 'web' };
const CONFIG_TEXT = 'greeting=hello\n';
const CONFIG_SHA256 = '3b6a5e83064c150d750ab23cda5897779da4dd38c898c280b0a4145ba17484dd';

/** A secret's ARN and version id as Secrets Manager gives them (the offline runtime has no such outputs for these types). */
const secretArn = (logicalName: string, variable: string) => `arn:aws:secretsmanager:us-east-2:123456789012:secret:shop/stage/web/${variable}-${fakeHex(logicalName, 26)}-AbCdEf`;
const versionIdOf = (logicalName: string) => `${fakeHex(logicalName, 8)}-0000-4000-8000-000000000000`;

let work: string;
let configPath: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ecs-service-'));
  configPath = path.join(work, 'application-stage.properties');
  fs.writeFileSync(configPath, CONFIG_TEXT);
  const newResource = OfflineRuntime.prototype.newResource;
  jest.spyOn(OfflineRuntime.prototype, 'newResource').mockImplementation(function (this: OfflineRuntime, args) {
    const created = newResource.call(this, args);
    if (args.type === 'aws:secretsmanager/secret:Secret') {
      const variable = String(args.inputs.namePrefix).split('/').pop()!.replace(/-$/, '');
      return { ...created, state: { ...created.state, arn: secretArn(args.name, variable) } };
    }
    if (args.type === 'aws:secretsmanager/secretVersion:SecretVersion') {
      return { ...created, state: { ...created.state, versionId: versionIdOf(args.name) } };
    }
    return created;
  });
});
afterAll(() => {
  jest.restoreAllMocks();
  fs.rmSync(work, { recursive: true, force: true });
});

/** A cluster as EcsCluster hands it over, with resources of distinct names to wait for (declare inside an evaluation). */
function fakeCapacity(withEfs = true): EcsCapacity {
  const capacityReady = new aws.ecs.ClusterCapacityProviders('capacity-ready', { clusterName: 'shop-stage-web', capacityProviders: ['web-0a1b2c3'] });
  return {
    clusterName: pulumi.output('shop-stage-web'),
    clusterArn: pulumi.output('arn:aws:ecs:us-east-2:123456789012:cluster/shop-stage-web'),
    capacityProviderName: pulumi.output('web-0a1b2c3'),
    capacityReady,
    fileSystem: withEfs
      ? {
          id: pulumi.output('fs-0123456789abcdef0'),
          arn: pulumi.output(FILE_SYSTEM_ARN),
          ready: [
            new aws.efs.MountTarget('mount-a', { fileSystemId: 'fs-0123456789abcdef0', subnetId: 'subnet-0a1b2c3d4e5f60711' }),
            new aws.efs.MountTarget('mount-b', { fileSystemId: 'fs-0123456789abcdef0', subnetId: 'subnet-0a1b2c3d4e5f60722' }),
            new aws.efs.FileSystemPolicy('fs-policy', { fileSystemId: 'fs-0123456789abcdef0', policy: '{}' }),
          ],
        }
      : undefined,
  };
}

/** Two target groups behind two load balancers, as EnvironmentTraffic.targetsOf gives them. */
function fakeTargets(port = 8080): EcsServiceTarget[] {
  const target = (role: string) => ({
    targetGroup: new aws.lb.TargetGroup(`tg-${role}`, { name: `shop-stage-${role}-web`, port, protocol: 'HTTP', targetType: 'instance', vpcId: 'vpc-0a1b2c3d4e5f60718' }),
    loadBalancer: new aws.lb.LoadBalancer(`lb-${role}`, { name: `shop-stage-${role}` }),
    port,
  });
  return [target('edge'), target('names')];
}

function serviceArgs(overrides: Partial<EcsServiceArgs> = {}): EcsServiceArgs {
  return {
    project: 'shop',
    env: 'stage',
    cluster: overrides.cluster ?? fakeCapacity(),
    image: IMAGE,
    repositoryArns: [REPOSITORY],
    ports: ['8080:80', '9090:9090/udp'],
    health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:80/health', timeoutSeconds: 90 },
    replicas: 4,
    volumes: [
      { name: 'uploads', containerPath: '/var/lib/web/uploads' },
      { name: 'cache', containerPath: '/var/cache/web' },
    ],
    configFile: { path: configPath, target: '/etc/web/application.properties' },
    environment: { JAVA_OPTS: '-Xmx512m' },
    secretEnvironment: { DB_PASSWORD: pulumi.secret(SECRET) },
    secretArns: { API_KEY: API_KEY_ARN, LEGACY_TOKEN: LEGACY_TOKEN_ARN },
    memoryMiB: 1024,
    pidsLimit: 512,
    update: 'stop-first',
    targets: overrides.targets ?? fakeTargets(),
    logging: { retentionDays: 90 },
    alarmTopicArn: TOPIC,
    region: 'us-east-2',
    ...overrides,
  };
}

const json = (value: unknown) => JSON.parse(String(value));
const accessPointId = (name: string) => `fsap-${fakeHex(`aws:efs/accessPoint:AccessPoint/${name}`, 17)}`;
const accessPointArn = (name: string) => `arn:aws:elasticfilesystem:us-east-2:123456789012:access-point/fsap-${fakeHex(`aws:efs/accessPoint:AccessPoint/${name}`, 17)}`;
const targetGroupArn = (role: string) => `arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/shop-stage-${role}-web/${fakeHex(`tg-${role}`, 16)}`;
const TRUST = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Service: 'ecs-tasks.amazonaws.com' },
      Action: 'sts:AssumeRole',
      Condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:ecs:us-east-2:123456789012:*' }, StringEquals: { 'aws:SourceAccount': '123456789012' } },
    },
  ],
};
const log = (prefix: string) => ({
  logDriver: 'awslogs',
  options: { 'awslogs-group': '/shop/stage/web', 'awslogs-region': 'us-east-2', 'awslogs-stream-prefix': prefix, 'max-buffer-size': '4m', mode: 'non-blocking' },
});

describe('EcsService: the task definition', () => {
  it('is a bridge-mode EC2 task of family <project>-<env>-<service>, kept on destroy, with its own roles and volumes', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    const task = one('aws:ecs/taskDefinition:TaskDefinition', 'web');
    expect({ ...task.inputs, containerDefinitions: undefined }).toEqual({
      family: 'shop-stage-web',
      networkMode: 'bridge',
      requiresCompatibilities: ['EC2'],
      executionRoleArn: 'arn:aws:iam:us-east-2:123456789012:web-execution',
      taskRoleArn: 'arn:aws:iam:us-east-2:123456789012:web-task',
      containerDefinitions: undefined,
      volumes: [
        { name: 'config', dockerVolumeConfiguration: { scope: 'task', driver: 'local' } },
        {
          name: 'data-uploads',
          efsVolumeConfiguration: { fileSystemId: 'fs-0123456789abcdef0', transitEncryption: 'ENABLED', authorizationConfig: { accessPointId: accessPointId('web-uploads'), iam: 'ENABLED' } },
        },
        {
          name: 'data-cache',
          efsVolumeConfiguration: { fileSystemId: 'fs-0123456789abcdef0', transitEncryption: 'ENABLED', authorizationConfig: { accessPointId: accessPointId('web-cache'), iam: 'ENABLED' } },
        },
      ],
      skipDestroy: true,
      tags: TAGS,
    });
    expect(task.propertyDependencies?.executionRoleArn).toEqual(['aws:iam/role:Role::web-execution']);
    expect(task.propertyDependencies?.taskRoleArn).toEqual(['web-task']);
  });

  it('names the family, the container and the ECS service by serviceName, not the component name', async () => {
    const { one, ofType } = await evaluate(() => new EcsService('storefront-ecs', serviceArgs({ serviceName: 'storefront', volumes: [] })), REGION);
    expect(one('aws:ecs/taskDefinition:TaskDefinition', 'storefront-ecs').inputs.family).toBe('shop-stage-storefront');
    expect(json(one('aws:ecs/taskDefinition:TaskDefinition', 'storefront-ecs').inputs.containerDefinitions).map((definition: { name: string }) => definition.name)).toEqual(['config', 'storefront']);
    expect(one('aws:ecs/service:Service', 'storefront-ecs').inputs.name).toBe('storefront');
    expect(one('aws:cloudwatch/logGroup:LogGroup', 'storefront-ecs-logs').inputs.name).toBe('/shop/stage/storefront');
    expect(ofType('aws:secretsmanager/secret:Secret').map((secret) => secret.inputs.namePrefix)).toEqual(['shop/stage/storefront/DB_PASSWORD-']);
    expect(one('aws:iam/role:Role', 'storefront-ecs-execution').inputs.namePrefix).toBe('shop-stage-storefront-exec-');
  });

  it('renders the container definitions exactly: the config writer, then the service with every option, secrets only as references', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    const text = String(one('aws:ecs/taskDefinition:TaskDefinition', 'web').inputs.containerDefinitions);
    expect(JSON.parse(text)).toEqual([
      {
        name: 'config',
        image: IMAGE,
        essential: false,
        // Root writes the file whatever user the image runs as.
        user: '0',
        memory: 32,
        entryPoint: ['/bin/sh', '-c'],
        command: [`umask 022 && printf '%s' "$BERTH_CONFIG_FILE" > '/etc/web/application.properties'.tmp && mv '/etc/web/application.properties'.tmp '/etc/web/application.properties'`],
        // The text itself, in the revision: a rollback brings the old text back.
        environment: [{ name: 'BERTH_CONFIG_FILE', value: CONFIG_TEXT }],
        mountPoints: [{ containerPath: '/etc/web', readOnly: false, sourceVolume: 'config' }],
        dockerSecurityOptions: ['no-new-privileges'],
        logConfiguration: log('config'),
      },
      {
        name: 'web',
        image: IMAGE,
        essential: true,
        memory: 1024,
        portMappings: [
          { containerPort: 80, hostPort: 0, protocol: 'tcp' },
          { containerPort: 9090, hostPort: 0, protocol: 'udp' },
        ],
        environment: [
          { name: 'BERTH_ENV', value: 'stage' },
          { name: 'JAVA_OPTS', value: '-Xmx512m' },
        ],
        secrets: [
          { name: 'API_KEY', valueFrom: API_KEY_ARN },
          // Pinned to the version this revision was made with: a rollback reads the old value.
          { name: 'DB_PASSWORD', valueFrom: `${secretArn('web-secret-DB_PASSWORD', 'DB_PASSWORD')}:::${versionIdOf('web-secret-DB_PASSWORD')}` },
          { name: 'LEGACY_TOKEN', valueFrom: LEGACY_TOKEN_ARN },
        ],
        mountPoints: [
          { containerPath: '/var/lib/web/uploads', readOnly: false, sourceVolume: 'data-uploads' },
          { containerPath: '/var/cache/web', readOnly: false, sourceVolume: 'data-cache' },
          { containerPath: '/etc/web', readOnly: true, sourceVolume: 'config' },
        ],
        healthCheck: { command: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:80/health'], interval: 10, timeout: 5, retries: 3, startPeriod: 90 },
        linuxParameters: { initProcessEnabled: true },
        ulimits: [{ name: 'nofile', softLimit: 65536, hardLimit: 65536 }],
        dockerSecurityOptions: ['no-new-privileges'],
        dockerLabels: {
          'berth.env': 'stage',
          'berth.project': 'shop',
          'berth.service': 'web',
          'berth.config-sha256': CONFIG_SHA256,
          'berth.pids-limit': '512',
        },
        logConfiguration: log('web'),
        dependsOn: [{ containerName: 'config', condition: 'SUCCESS' }],
      },
    ]);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('[secret]');
  });

  it('renders one container and no config volume without a config file, and the defaults of memory and PIDs', async () => {
    const { one } = await evaluate(
      () => new EcsService('web', serviceArgs({ configFile: undefined, secretEnvironment: undefined, secretArns: undefined, volumes: undefined, memoryMiB: undefined, pidsLimit: undefined, environment: undefined })),
      REGION,
    );
    const task = one('aws:ecs/taskDefinition:TaskDefinition', 'web');
    const [service, ...others] = json(task.inputs.containerDefinitions);
    expect(others).toEqual([]);
    expect(service).toMatchObject({ name: 'web', memory: 512, secrets: [], mountPoints: [], environment: [{ name: 'BERTH_ENV', value: 'stage' }] });
    expect(service.dockerLabels).toEqual({ 'berth.env': 'stage', 'berth.project': 'shop', 'berth.service': 'web', 'berth.pids-limit': '256' });
    expect(service.dependsOn).toBeUndefined();
    expect(task.inputs.volumes).toEqual([]);
  });
});

describe('EcsService: the config file and secrets', () => {
  it('keeps the config file in the revision, and declares no parameter for it', async () => {
    const { ofType, resources } = await evaluate(() => new EcsService('web', serviceArgs({ secretEnvironment: undefined })), REGION);
    expect(ofType('aws:ssm/parameter:Parameter')).toEqual([]);
    expect(resources.filter((resource) => resource.type.startsWith('aws:secretsmanager/'))).toEqual([]);
  });

  it('refuses a config file larger than a task definition takes, naming the service, before anything reaches ECS', () => {
    const huge = path.join(work, 'huge.properties');
    fs.writeFileSync(huge, 'x'.repeat(32769));
    // The size is checked when the component reads the file, before it declares anything; the program runs in a child
    // process (as in traffic.test.ts), so the failure is the one `pulumi up` would print.
    const program = `
      import * as aws from '@pulumi/aws';
      import * as pulumi from '@pulumi/pulumi';
      import { EcsService } from './components/task/ecsService';
      import { ProgramError } from './tools/offline/evaluate';
      import { evaluate } from './test/support/pulumi';
      evaluate(() => {
        const capacityReady = new aws.ecs.ClusterCapacityProviders('capacity-ready', { clusterName: 'shop-stage-web', capacityProviders: ['shop-stage-web'] });
        const cluster = { clusterName: pulumi.output('shop-stage-web'), clusterArn: pulumi.output('arn:aws:ecs:us-east-2:123456789012:cluster/shop-stage-web'), capacityProviderName: pulumi.output('shop-stage-web'), capacityReady };
        return new EcsService('web', { project: 'shop', env: 'stage', cluster, image: ${JSON.stringify(IMAGE)}, repositoryArns: [], health: { cmd: 'true', timeoutSeconds: 5 },
          configFile: { path: process.env.BERTH_CONFIG_PATH!, target: '/etc/web/application.properties' } });
      }, { region: 'us-east-2' }).then(
        () => { process.stdout.write('declared\\n'); process.exit(0); },
        (error: Error) => { process.stdout.write((error instanceof ProgramError ? 'ProgramError' : error.name) + ': ' + error.message + '\\n'); process.exit(1); },
      );`;
    const run = spawnSync(process.execPath, [require.resolve('tsx/cli'), '--eval', program], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 25000,
      env: { ...process.env, BERTH_CONFIG_PATH: huge },
    });
    expect({ status: run.status, stdout: run.stdout }).toEqual({
      status: 1,
      stdout:
        `Error: EcsService web: configFile ${huge}: at most 32768 bytes on ECS as JSON text (it is part of the task definition, which ECS caps at 64 KiB; quotes, backslashes and line breaks count twice); got 32769\n`,
    });
  });

  it('keeps each secret in Secrets Manager, its value a Pulumi secret even when given in clear, never in the task definition', async () => {
    const values: pulumi.Input<string | undefined>[] = [];
    const { one, ofType, resources } = await evaluate(
      () =>
        new EcsService(
          'web',
          serviceArgs({
            secretEnvironment: { DB_PASSWORD: pulumi.secret(SECRET), SMTP_PASSWORD: 'given-in-clear-by-mistake' },
            transform: {
              secretVersion: (args) => {
                values.push(args.secretString);
              },
            },
          }),
        ),
      REGION,
    );
    expect(ofType('aws:secretsmanager/secret:Secret').map((secret) => [secret.name, secret.inputs])).toEqual([
      ['web-secret-DB_PASSWORD', { namePrefix: 'shop/stage/web/DB_PASSWORD-', description: 'Berth stage web: DB_PASSWORD', tags: TAGS }],
      ['web-secret-SMTP_PASSWORD', { namePrefix: 'shop/stage/web/SMTP_PASSWORD-', description: 'Berth stage web: SMTP_PASSWORD', tags: TAGS }],
    ]);
    expect(one('aws:secretsmanager/secretVersion:SecretVersion', 'web-secret-DB_PASSWORD').inputs).toEqual({ secretId: 'web-secret-DB_PASSWORD-id', secretString: '[secret]' });
    expect(one('aws:secretsmanager/secretVersion:SecretVersion', 'web-secret-SMTP_PASSWORD').inputs).toEqual({ secretId: 'web-secret-SMTP_PASSWORD-id', secretString: '[secret]' });
    expect(JSON.stringify(resources)).not.toContain(SECRET);
    expect(JSON.stringify(resources)).not.toContain('given-in-clear-by-mistake');
    // Secrets Manager still receives the values, as secrets.
    expect(values).toHaveLength(2);
    expect(await Promise.all(values.map((value) => pulumi.isSecret(pulumi.output(value))))).toEqual([true, true]);
    expect(await Promise.all(values.map((value) => valueOf(value)))).toEqual([SECRET, 'given-in-clear-by-mistake']);
    const definitions = json(one('aws:ecs/taskDefinition:TaskDefinition', 'web').inputs.containerDefinitions);
    expect(definitions[1].secrets).toEqual([
      { name: 'API_KEY', valueFrom: API_KEY_ARN },
      { name: 'DB_PASSWORD', valueFrom: `${secretArn('web-secret-DB_PASSWORD', 'DB_PASSWORD')}:::${versionIdOf('web-secret-DB_PASSWORD')}` },
      { name: 'LEGACY_TOKEN', valueFrom: LEGACY_TOKEN_ARN },
      { name: 'SMTP_PASSWORD', valueFrom: `${secretArn('web-secret-SMTP_PASSWORD', 'SMTP_PASSWORD')}:::${versionIdOf('web-secret-SMTP_PASSWORD')}` },
    ]);
  });

  it('lets the execution role read exactly its parameters (SSM) and secrets (Secrets Manager), pull its repository and write its log group', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    const role = one('aws:iam/role:Role', 'web-execution');
    expect(role.inputs.namePrefix).toBe('shop-stage-web-exec-');
    expect(json(role.inputs.assumeRolePolicy)).toEqual(TRUST);
    expect(json(one('aws:iam/rolePolicy:RolePolicy', 'web-execution').inputs.policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
        {
          Sid: 'PullServiceImage',
          Effect: 'Allow',
          Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
          Resource: ['arn:aws:ecr:us-east-2:123456789012:repository/shop/web'],
        },
        { Sid: 'WriteServiceLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: 'arn:aws:logs:us-east-2:123456789012:log-group:/shop/stage/web:log-stream:*' },
        {
          Sid: 'ReadServiceParameters',
          Effect: 'Allow',
          Action: ['ssm:GetParameters'],
          Resource: ['arn:aws:ssm:us-east-2:123456789012:parameter/shop/legacy-token'],
        },
        {
          Sid: 'ReadServiceSecrets',
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue'],
          // The secret itself, not the version the task definition pins.
          Resource: [
            'arn:aws:secretsmanager:us-east-2:123456789012:secret:partner-api-key-AbCdEf',
            'arn:aws:secretsmanager:us-east-2:123456789012:secret:shop/stage/web/DB_PASSWORD-aa59e7911656a731b24f37dd88-AbCdEf',
          ],
        },
      ],
    });
  });

  it('grants no parameter or secret read when the service has none', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs({ configFile: undefined, secretEnvironment: {}, secretArns: {} })), REGION);
    expect(json(one('aws:iam/rolePolicy:RolePolicy', 'web-execution').inputs.policy).Statement.map((statement: { Sid: string }) => statement.Sid)).toEqual([
      'EcrLogin',
      'PullServiceImage',
      'WriteServiceLogs',
    ]);
  });
});

describe('EcsService: EFS', () => {
  it('gives each volume an access point at /<env>/<service>/<volume>, and the task role these access points only', async () => {
    const { one, ofType } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    expect(ofType('aws:efs/accessPoint:AccessPoint').map((point) => [point.name, point.inputs])).toEqual([
      [
        'web-cache',
        {
          fileSystemId: 'fs-0123456789abcdef0',
          rootDirectory: { path: '/stage/web/cache', creationInfo: { ownerUid: 0, ownerGid: 0, permissions: '0755' } },
          tags: { ...TAGS, Name: 'shop-stage-web-cache' },
        },
      ],
      [
        'web-uploads',
        {
          fileSystemId: 'fs-0123456789abcdef0',
          rootDirectory: { path: '/stage/web/uploads', creationInfo: { ownerUid: 0, ownerGid: 0, permissions: '0755' } },
          tags: { ...TAGS, Name: 'shop-stage-web-uploads' },
        },
      ],
    ]);
    const taskRole = one('aws:iam/role:Role', 'web-task');
    expect(taskRole.inputs.namePrefix).toBe('shop-stage-web-task-');
    expect(json(taskRole.inputs.assumeRolePolicy)).toEqual(TRUST);
    expect(json(one('aws:iam/rolePolicy:RolePolicy', 'web-task-efs').inputs.policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'MountServiceVolumes',
          Effect: 'Allow',
          Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite'],
          Resource: FILE_SYSTEM_ARN,
          Condition: { StringEquals: { 'elasticfilesystem:AccessPointArn': [accessPointArn('web-cache'), accessPointArn('web-uploads')].sort() } },
        },
      ],
    });
  });

  it('gives the task role no policy without volumes', async () => {
    const { ofType } = await evaluate(() => new EcsService('web', serviceArgs({ volumes: [] })), REGION);
    expect(ofType('aws:efs/accessPoint:AccessPoint')).toEqual([]);
    expect(ofType('aws:iam/rolePolicy:RolePolicy').map((policy) => policy.name)).toEqual(['web-execution']);
  });
});

describe('EcsService: refusals', () => {
  it.each<[string, () => Partial<EcsServiceArgs>, string]>([
    [
      'a volume on a cluster without EFS',
      () => ({ cluster: fakeCapacity(false), volumes: [{ name: 'uploads', containerPath: '/var/lib/web/uploads' }] }),
      'EcsService web: volumes: the cluster has no EFS file system (EcsCluster efs): a volume ECS manages belongs to one task and is deleted with it by default, so the data would be lost at the next deployment',
    ],
    ['a target on a port that is not published', () => ({ targets: fakeTargets(8081) }), 'EcsService web: targets: port 8081 is not a published host port of ports (8080, 9090)'],
    ['a target when no host port is published', () => ({ ports: ['80'], targets: fakeTargets(80) }), 'EcsService web: targets: port 80 is not a published host port of ports (none)'],
    ['a secret also set in environment', () => ({ environment: { DB_PASSWORD: 'x' } }), 'EcsService web: secretEnvironment.DB_PASSWORD: set once, in one of environment, secretEnvironment and secretArns'],
    ['a secret also given as an ARN', () => ({ secretArns: { DB_PASSWORD: LEGACY_TOKEN_ARN } }), 'EcsService web: secretEnvironment.DB_PASSWORD: set once, in one of environment, secretEnvironment and secretArns'],
    ['negative replicas', () => ({ replicas: -1 }), 'EcsService web: replicas: a whole number of at least 0, got -1'],
    ['fractional replicas', () => ({ replicas: 1.5 }), 'EcsService web: replicas: a whole number of at least 0, got 1.5'],
    ['a health timeout of 0', () => ({ health: { cmd: 'true', timeoutSeconds: 0 } }), 'EcsService web: health.timeoutSeconds: a whole number of at least 1, got 0'],
    ['an unknown update order', () => ({ update: 'rolling' as never }), 'EcsService web: update: start-first or stop-first, got "rolling"'],
    ['a port range', () => ({ ports: ['8000-8010:8000-8010'], targets: [] }), 'EcsService web: ports: a single container port, not a range or anything else, got "8000-8010:8000-8010"'],
  ])('refuses %s', async (_, overrides, message) => {
    await expect(evaluate(() => new EcsService('web', serviceArgs(overrides())), REGION)).rejects.toThrow(message);
  });

  it('accepts 0 replicas', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs({ replicas: 0 })), REGION);
    expect(one('aws:ecs/service:Service', 'web').inputs.desiredCount).toBe(0);
  });
});

describe('EcsService: the ECS service', () => {
  it('runs replicas spread over zones then instances, on the capacity provider, stop-first, rolled back by the circuit breaker and its alarms', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    expect(one('aws:ecs/service:Service', 'web').inputs).toEqual({
      name: 'web',
      cluster: 'arn:aws:ecs:us-east-2:123456789012:cluster/shop-stage-web',
      taskDefinition: 'arn:aws:ecs:us-east-2:123456789012:task-definition/shop-stage-web:1',
      desiredCount: 4,
      capacityProviderStrategies: [{ capacityProvider: 'web-0a1b2c3', weight: 1, base: 0 }],
      orderedPlacementStrategies: [
        { type: 'spread', field: 'attribute:ecs.availability-zone' },
        { type: 'spread', field: 'instanceId' },
      ],
      deploymentMinimumHealthyPercent: 0,
      deploymentMaximumPercent: 100,
      deploymentCircuitBreaker: { enable: true, rollback: true },
      alarms: { alarmNames: ['shop-stage-web-1-5xx', 'shop-stage-web-2-5xx'], enable: true, rollback: true },
      // The target group reaches the container port (80) of the published host port (8080).
      loadBalancers: [
        { targetGroupArn: targetGroupArn('edge'), containerName: 'web', containerPort: 80 },
        { targetGroupArn: targetGroupArn('names'), containerName: 'web', containerPort: 80 },
      ],
      healthCheckGracePeriodSeconds: 90,
      waitForSteadyState: true,
      enableEcsManagedTags: true,
      propagateTags: 'SERVICE',
      tags: TAGS,
    });
  });

  it('starts new tasks beside the old ones by default, runs one task, and has no grace period without targets', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs({ update: undefined, replicas: undefined, targets: [] })), REGION);
    const service = one('aws:ecs/service:Service', 'web').inputs;
    expect([service.deploymentMinimumHealthyPercent, service.deploymentMaximumPercent, service.desiredCount]).toEqual([100, 200, 1]);
    expect(service.loadBalancers).toEqual([]);
    expect(service.healthCheckGracePeriodSeconds).toBeUndefined();
    // No alarm to roll back on, so no alarms block (ECS refuses an empty list of alarm names).
    expect(service.alarms).toBeUndefined();
  });

  it('waits for the cluster capacity, the mount targets and file system policy, its policies and log group', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    expect(one('aws:ecs/service:Service', 'web').options?.dependsOn).toEqual([
      'aws:ecs/taskDefinition:TaskDefinition::web',
      'aws:iam/rolePolicy:RolePolicy::web-execution',
      'capacity-ready',
      'fs-policy',
      'mount-a',
      'mount-b',
      'tg-edge',
      'tg-names',
      'web-1-5xx',
      'web-2-5xx',
      'web-logs',
      'web-task-efs',
    ]);
  });

  it('gives the deployment 40 minutes to be steady (a new instance, its warm-up, the health checks)', async () => {
    const seen: pulumi.CustomResourceOptions[] = [];
    await evaluate(() => new EcsService('web', serviceArgs({ transform: { service: (_args, opts) => void seen.push(opts) } })), REGION);
    expect(seen).toHaveLength(1);
    expect(seen[0].customTimeouts).toEqual({ create: '40m', update: '40m' });
  });

  it('waits for the file system of a real EcsCluster: each mount target and the policy', async () => {
    const { one } = await evaluate(() => {
      const cluster = new EcsCluster('app', {
        project: 'shop',
        env: 'stage',
        minSize: 1,
        instanceType: 'm7i.large',
        vpcId: 'vpc-0a1b2c3d4e5f60718',
        subnetIds: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'],
        efs: {},
      });
      return new EcsService('web', serviceArgs({ cluster, targets: [] }));
    }, REGION);
    expect(one('aws:ecs/service:Service', 'web').options?.dependsOn).toEqual(
      expect.arrayContaining([
        'app-data-1',
        'app-data-2',
        'aws:efs/fileSystemPolicy:FileSystemPolicy::app-data',
        'aws:ecs/clusterCapacityProviders:ClusterCapacityProviders::app',
        'web-logs',
      ]),
    );
    expect(one('aws:ecs/service:Service', 'web').inputs.cluster).toBe('arn:aws:ecs:us-east-2:123456789012:cluster/shop-stage-app');
  });

  it('reports the image once the service is declared', async () => {
    const { result } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    expect(await valueOf(result.image)).toBe(IMAGE);
    expect(await pulumi.isSecret(result.image)).toBe(false);
  });
});

describe('EcsService: logs and alarms', () => {
  it('creates the log group with its retention, 30 days by default', async () => {
    const { one } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    expect(one('aws:cloudwatch/logGroup:LogGroup', 'web-logs').inputs).toEqual({ name: '/shop/stage/web', retentionInDays: 90, tags: TAGS });
    const defaults = await evaluate(() => new EcsService('web', serviceArgs({ logging: undefined })), REGION);
    expect(defaults.one('aws:cloudwatch/logGroup:LogGroup', 'web-logs').inputs.retentionInDays).toBe(30);
  });

  it('declares no log group when another component owns it, and still writes to it', async () => {
    const { ofType, one, runtime } = await evaluate(() => new EcsService('web', serviceArgs({ logging: { retentionDays: 90, createGroup: false } })), REGION);
    expect(ofType('aws:cloudwatch/logGroup:LogGroup')).toEqual([]);
    expect(runtime.optionsOf('aws:ecs/service:Service', 'web').dependsOn).not.toContain('web-logs');
    const policy = json(one('aws:iam/rolePolicy:RolePolicy', 'web-execution').inputs.policy);
    expect(policy.Statement.find((statement: { Sid: string }) => statement.Sid === 'WriteServiceLogs').Resource).toBe('arn:aws:logs:us-east-2:123456789012:log-group:/shop/stage/web:log-stream:*');
  });

  it('alarms on each load balancer 5xx, notifying the topic, and on nothing else', async () => {
    const { one, ofType } = await evaluate(() => new EcsService('web', serviceArgs()), REGION);
    expect(ofType('aws:cloudwatch/metricAlarm:MetricAlarm').map((alarm) => alarm.name)).toEqual(['web-1-5xx', 'web-2-5xx']);
    expect(one('aws:cloudwatch/metricAlarm:MetricAlarm', 'web-2-5xx').inputs).toEqual({
      name: 'shop-stage-web-2-5xx',
      alarmDescription: 'Berth stage web: 10 or more 5xx answers a minute from its tasks behind a load balancer',
      namespace: 'AWS/ApplicationELB',
      metricName: 'HTTPCode_Target_5XX_Count',
      dimensions: { LoadBalancer: `app/shop-stage-names/${fakeHex('lb-names', 16)}`, TargetGroup: `targetgroup/shop-stage-names-web/${fakeHex('tg-names', 16)}` },
      statistic: 'Sum',
      period: 60,
      evaluationPeriods: 2,
      threshold: 10,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
      alarmActions: [TOPIC],
      okActions: [TOPIC],
      tags: TAGS,
    });
    expect((one('aws:cloudwatch/metricAlarm:MetricAlarm', 'web-1-5xx').inputs.dimensions as Record<string, string>).LoadBalancer).toBe(`app/shop-stage-edge/${fakeHex('lb-edge', 16)}`);
  });

  it('notifies no one without a topic, and gives a target without its load balancer no 5xx alarm', async () => {
    const { ofType, one } = await evaluate(() => {
      const [edge, names] = fakeTargets();
      return new EcsService('web', serviceArgs({ alarmTopicArn: undefined, targets: [{ targetGroup: edge.targetGroup, port: 8080 }, names] }));
    }, REGION);
    const alarms = ofType('aws:cloudwatch/metricAlarm:MetricAlarm');
    expect(alarms.map((alarm) => alarm.name)).toEqual(['web-2-5xx']);
    for (const alarm of alarms) {
      expect([alarm.inputs.alarmActions, alarm.inputs.okActions]).toEqual([[], []]);
    }
    expect((one('aws:ecs/service:Service', 'web').inputs.alarms as { alarmNames: string[] }).alarmNames).toEqual(['shop-stage-web-2-5xx']);
    // Both targets still get the tasks.
    expect((one('aws:ecs/service:Service', 'web').inputs.loadBalancers as unknown[]).length).toBe(2);
  });
});
