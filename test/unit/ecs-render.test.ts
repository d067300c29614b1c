/**
 * The ECS engine's pure renderers, by exact output: the agent's configuration and the user data
 * that writes it, the container definitions of a task, the config file's script and tier, the
 * deployment an update order means, and every IAM and EFS document (compared with literal
 * documents written here, never with the renderer's own output or the module's constants).
 */
import { ecsInstanceRolePolicy, efsFileSystemPolicy, renderEcsAgentConfig, renderEcsUserData } from '../../components/cluster/render';
import { publishedContainerPort } from '../../components/common/ports';
import { iamPrefix } from '../../components/task/ecsService';
import {
  ContainerDefinitionsInput,
  configDirectory,
  configSha256,
  configWriteScript,
  deploymentPercents,
  efsTaskRolePolicy,
  executionRolePolicy,
  isSecretsManagerArn,
  renderContainerDefinitions,
  pinnedSecretValueFrom,
  secretResourceArn,
  taskTrustPolicy,
} from '../../components/task/taskDefinition';

const IMAGE = '210987654321.dkr.ecr.us-east-2.amazonaws.com/shop/web@sha256:' + 'd4'.repeat(32);
const json = (text: string) => JSON.parse(text);

describe('renderEcsAgentConfig', () => {
  it('renders the defaults, one sorted KEY=value a line, no PIDs limit', () => {
    expect(renderEcsAgentConfig({ clusterName: 'berth-prod-app' })).toBe(
      [
        'ECS_CLUSTER=berth-prod-app',
        'ECS_DISABLE_IMAGE_CLEANUP=false',
        'ECS_DISABLE_PRIVILEGED=true',
        'ECS_DYNAMIC_HOST_PORT_RANGE=32768-60999',
        'ECS_ENABLE_TASK_IAM_ROLE=true',
        'ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false',
        'ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=60m',
        'ECS_IMAGE_CLEANUP_INTERVAL=30m',
        'ECS_IMAGE_MINIMUM_CLEANUP_AGE=60m',
        'ECS_IMAGE_PULL_BEHAVIOR=once',
        'ECS_NUM_IMAGES_DELETE_PER_CYCLE=5',
        'ECS_RESERVED_MEMORY=256',
        '',
      ].join('\n'),
    );
  });

  it('renders every image cleanup setting and the task PIDs limit at non-default values', () => {
    expect(
      renderEcsAgentConfig({
        clusterName: 'shop_stage-Web2',
        imageCleanup: { intervalMinutes: 45, minimumAgeMinutes: 180, imagesPerRun: 12, stoppedTaskMinutes: 15 },
        taskPidsLimit: 512,
      }),
    ).toBe(
      [
        'ECS_CLUSTER=shop_stage-Web2',
        'ECS_DISABLE_IMAGE_CLEANUP=false',
        'ECS_DISABLE_PRIVILEGED=true',
        'ECS_DYNAMIC_HOST_PORT_RANGE=32768-60999',
        'ECS_ENABLE_TASK_IAM_ROLE=true',
        'ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false',
        'ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=15m',
        'ECS_IMAGE_CLEANUP_INTERVAL=45m',
        'ECS_IMAGE_MINIMUM_CLEANUP_AGE=180m',
        'ECS_IMAGE_PULL_BEHAVIOR=once',
        'ECS_NUM_IMAGES_DELETE_PER_CYCLE=12',
        'ECS_RESERVED_MEMORY=256',
        'ECS_TASK_PIDS_LIMIT=512',
        '',
      ].join('\n'),
    );
  });

  it('keeps the defaults of the cleanup settings it is not given', () => {
    const text = renderEcsAgentConfig({ clusterName: 'c', imageCleanup: { minimumAgeMinutes: 240 } });
    expect(text).toContain('ECS_IMAGE_MINIMUM_CLEANUP_AGE=240m\n');
    expect(text).toContain('ECS_IMAGE_CLEANUP_INTERVAL=30m\n');
    expect(text).toContain('ECS_NUM_IMAGES_DELETE_PER_CYCLE=5\n');
    expect(text).toContain('ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=60m\n');
  });

  it('accepts the edges: a 10-minute interval, 10080 minutes, a PIDs limit of 1 and of 4194304, a 255-character name', () => {
    expect(renderEcsAgentConfig({ clusterName: 'c', imageCleanup: { intervalMinutes: 10 } })).toContain('ECS_IMAGE_CLEANUP_INTERVAL=10m\n');
    expect(renderEcsAgentConfig({ clusterName: 'c', imageCleanup: { intervalMinutes: 10080, imagesPerRun: 1 } })).toContain('ECS_IMAGE_CLEANUP_INTERVAL=10080m\n');
    expect(renderEcsAgentConfig({ clusterName: 'c', taskPidsLimit: 1 })).toContain('ECS_TASK_PIDS_LIMIT=1\n');
    expect(renderEcsAgentConfig({ clusterName: 'c', taskPidsLimit: 4194304 })).toContain('ECS_TASK_PIDS_LIMIT=4194304\n');
    expect(renderEcsAgentConfig({ clusterName: 'a'.repeat(255) })).toContain(`ECS_CLUSTER=${'a'.repeat(255)}\n`);
  });

  it.each([
    ['a space', 'berth prod', 'clusterName: an ECS cluster name (letters, digits, hyphens, underscores; at most 255), got "berth prod"'],
    ['a newline that would add a key', 'c\nECS_DISABLE_PRIVILEGED=false', 'clusterName: an ECS cluster name (letters, digits, hyphens, underscores; at most 255), got "c\\nECS_DISABLE_PRIVILEGED=false"'],
    ['nothing', '', 'clusterName: an ECS cluster name (letters, digits, hyphens, underscores; at most 255), got ""'],
    ['256 characters', 'a'.repeat(256), `clusterName: an ECS cluster name (letters, digits, hyphens, underscores; at most 255), got "${'a'.repeat(256)}"`],
  ])('refuses a cluster name with %s', (_, clusterName, message) => {
    expect(() => renderEcsAgentConfig({ clusterName })).toThrow(message);
  });

  it.each([
    [{ imagesPerRun: 0 }, 'imageCleanup.imagesPerRun: a whole number from 1 to 10080, got 0'],
    [{ minimumAgeMinutes: 10081 }, 'imageCleanup.minimumAgeMinutes: a whole number from 1 to 10080, got 10081'],
    [{ stoppedTaskMinutes: 2.5 }, 'imageCleanup.stoppedTaskMinutes: a whole number from 1 to 10080, got 2.5'],
    [{ intervalMinutes: 9 }, "imageCleanup.intervalMinutes: at least 10 (the ECS agent's minimum), got 9"],
  ])('refuses image cleanup %j', (imageCleanup, message) => {
    expect(() => renderEcsAgentConfig({ clusterName: 'c', imageCleanup })).toThrow(message);
  });

  it.each([0, 4194305, 1.5])('refuses a task PIDs limit of %s', (taskPidsLimit) => {
    expect(() => renderEcsAgentConfig({ clusterName: 'c', taskPidsLimit })).toThrow(`taskPidsLimit: a whole number from 1 to 4194304, got ${taskPidsLimit}`);
  });
});

describe('renderEcsUserData', () => {
  it('writes the agent configuration before the agent starts, and nothing else', () => {
    expect(
      renderEcsUserData({ project: 'shop', env: 'stage', clusterName: 'shop-stage-web', imageCleanup: { intervalMinutes: 60, imagesPerRun: 3 }, taskPidsLimit: 1024 }),
    ).toBe(
      [
        '#!/bin/bash',
        '# Berth shop stage: ECS container instance of cluster shop-stage-web',
        'set -euo pipefail',
        'install -d -m 0755 /etc/ecs',
        "cat > /etc/ecs/ecs.config <<'BERTH_ECS_CONFIG'",
        'ECS_CLUSTER=shop-stage-web',
        'ECS_DISABLE_IMAGE_CLEANUP=false',
        'ECS_DISABLE_PRIVILEGED=true',
        'ECS_DYNAMIC_HOST_PORT_RANGE=32768-60999',
        'ECS_ENABLE_TASK_IAM_ROLE=true',
        'ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false',
        'ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=60m',
        'ECS_IMAGE_CLEANUP_INTERVAL=60m',
        'ECS_IMAGE_MINIMUM_CLEANUP_AGE=60m',
        'ECS_IMAGE_PULL_BEHAVIOR=once',
        'ECS_NUM_IMAGES_DELETE_PER_CYCLE=3',
        'ECS_RESERVED_MEMORY=256',
        'ECS_TASK_PIDS_LIMIT=1024',
        'BERTH_ECS_CONFIG',
        'chmod 0644 /etc/ecs/ecs.config',
        '',
      ].join('\n'),
    );
  });

  it('refuses a project or environment the shell or the agent would misread, and passes on the agent config refusals', () => {
    expect(() => renderEcsUserData({ project: 'shop; reboot', env: 'stage', clusterName: 'c' })).toThrow('project: "shop; reboot" should match ^[A-Za-z0-9][A-Za-z0-9._-]*$');
    expect(() => renderEcsUserData({ project: 'shop', env: 'Stage', clusterName: 'c' })).toThrow('env: "Stage"');
    expect(() => renderEcsUserData({ project: 'shop', env: 'stage', clusterName: 'c', taskPidsLimit: 0 })).toThrow('taskPidsLimit: a whole number from 1 to 4194304, got 0');
  });
});

describe('ecsInstanceRolePolicy', () => {
  it('lets the agent join only this cluster and run its container instances', () => {
    expect(json(ecsInstanceRolePolicy({ clusterArn: 'arn:aws-us-gov:ecs:us-gov-west-1:210987654321:cluster/shop-stage-web' }))).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'DiscoverPollEndpoint', Effect: 'Allow', Action: ['ecs:DiscoverPollEndpoint'], Resource: '*' },
        {
          Sid: 'JoinCluster',
          Effect: 'Allow',
          Action: ['ecs:DeregisterContainerInstance', 'ecs:RegisterContainerInstance', 'ecs:Submit*'],
          Resource: 'arn:aws-us-gov:ecs:us-gov-west-1:210987654321:cluster/shop-stage-web',
        },
        {
          Sid: 'RunClusterTasks',
          Effect: 'Allow',
          Action: ['ecs:Poll', 'ecs:StartTelemetrySession', 'ecs:UpdateContainerInstancesState'],
          Resource: 'arn:aws-us-gov:ecs:us-gov-west-1:210987654321:container-instance/shop-stage-web/*',
          Condition: { ArnEquals: { 'ecs:cluster': 'arn:aws-us-gov:ecs:us-gov-west-1:210987654321:cluster/shop-stage-web' } },
        },
        {
          Sid: 'TagOwnContainerInstance',
          Effect: 'Allow',
          Action: ['ecs:TagResource'],
          Resource: 'arn:aws-us-gov:ecs:us-gov-west-1:210987654321:container-instance/shop-stage-web/*',
          Condition: { StringEquals: { 'ecs:CreateAction': 'RegisterContainerInstance' } },
        },
      ],
    });
  });

  it.each([
    ['not an ARN', 'shop-stage-web'],
    ['a wildcard cluster', 'arn:aws:ecs:eu-west-1:123456789012:cluster/*'],
    ['a service ARN', 'arn:aws:ecs:eu-west-1:123456789012:service/shop-stage-web/api'],
    ['an 11-digit account', 'arn:aws:ecs:eu-west-1:12345678901:cluster/web'],
  ])('refuses %s', (_, clusterArn) => {
    expect(() => ecsInstanceRolePolicy({ clusterArn })).toThrow(
      `clusterArn: an ECS cluster ARN arn:aws:ecs:<region>:<account>:cluster/<name>, got ${JSON.stringify(clusterArn)}`,
    );
  });
});

describe('efsFileSystemPolicy', () => {
  it('denies clients without TLS and lets in only principals of this account through a mount target', () => {
    expect(json(efsFileSystemPolicy({ fileSystemArn: 'arn:aws-cn:elasticfilesystem:cn-north-1:210987654321:file-system/fs-0a1b2c3d4e5f60718', accountId: '210987654321', partition: 'aws-cn' }))).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DenyWithoutTls',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: '*',
          Resource: 'arn:aws-cn:elasticfilesystem:cn-north-1:210987654321:file-system/fs-0a1b2c3d4e5f60718',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
        {
          Sid: 'AccountPrincipalsThroughMountTargets',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws-cn:iam::210987654321:root' },
          Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite'],
          Resource: 'arn:aws-cn:elasticfilesystem:cn-north-1:210987654321:file-system/fs-0a1b2c3d4e5f60718',
          Condition: { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' } },
        },
      ],
    });
  });

  it('names the aws partition when none is given', () => {
    const policy = json(efsFileSystemPolicy({ fileSystemArn: 'arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-1', accountId: '123456789012' }));
    expect(policy.Statement[1].Principal).toEqual({ AWS: 'arn:aws:iam::123456789012:root' });
  });
});

function definitionsInput(overrides: Partial<ContainerDefinitionsInput> = {}): ContainerDefinitionsInput {
  return {
    project: 'shop',
    env: 'stage',
    service: 'web',
    image: IMAGE,
    region: 'us-east-2',
    ports: [],
    health: { cmd: 'true', timeoutSeconds: 30 },
    memoryMiB: 256,
    pidsLimit: 64,
    environment: {},
    secrets: {},
    volumes: [],
    logGroupName: '/shop/stage/web',
    ...overrides,
  };
}

const logOf = (prefix: string) => ({
  logDriver: 'awslogs',
  options: { 'awslogs-group': '/shop/stage/web', 'awslogs-region': 'us-east-2', 'awslogs-stream-prefix': prefix, 'max-buffer-size': '4m', mode: 'non-blocking' },
});

describe('renderContainerDefinitions', () => {
  it('renders one container without a config file, secrets, volumes or ports', () => {
    expect(renderContainerDefinitions(definitionsInput())).toEqual([
      {
        name: 'web',
        image: IMAGE,
        essential: true,
        memory: 256,
        portMappings: [],
        environment: [{ name: 'BERTH_ENV', value: 'stage' }],
        secrets: [],
        mountPoints: [],
        healthCheck: { command: ['CMD-SHELL', 'true'], interval: 10, timeout: 5, retries: 3, startPeriod: 30 },
        linuxParameters: { initProcessEnabled: true },
        ulimits: [{ name: 'nofile', softLimit: 65536, hardLimit: 65536 }],
        dockerSecurityOptions: ['no-new-privileges'],
        dockerLabels: { 'berth.env': 'stage', 'berth.project': 'shop', 'berth.service': 'web', 'berth.pids-limit': '64' },
        logConfiguration: logOf('web'),
      },
    ]);
  });

  it('renders the config container first and the service with its ports (udp too), sorted variables, secrets and volumes', () => {
    const definitions = renderContainerDefinitions(
      definitionsInput({
        ports: ['8080:80', '127.0.0.1:5353:53/udp', '9000'],
        health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:80/health', timeoutSeconds: 90 },
        memoryMiB: 1024,
        pidsLimit: 512,
        environment: { ZONE: 'b', JAVA_OPTS: '-Xmx512m', BERTH_ENV: 'ignored' },
        secrets: {
          DB_PASSWORD: 'arn:aws:ssm:us-east-2:210987654321:parameter/shop/stage/web/secrets/DB_PASSWORD',
          API_KEY: 'arn:aws:secretsmanager:us-east-2:210987654321:secret:partner-api-key-AbCdEf',
        },
        configFile: { target: '/etc/web/application.properties', content: 'greeting=hello\n' },
        volumes: [
          { name: 'uploads', containerPath: '/var/lib/web/uploads' },
          { name: 'seed', containerPath: '/seed', readOnly: true },
        ],
      }),
    );
    expect(definitions).toEqual([
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
        environment: [{ name: 'BERTH_CONFIG_FILE', value: 'greeting=hello\n' }],
        mountPoints: [{ containerPath: '/etc/web', readOnly: false, sourceVolume: 'config' }],
        dockerSecurityOptions: ['no-new-privileges'],
        logConfiguration: logOf('config'),
      },
      {
        name: 'web',
        image: IMAGE,
        essential: true,
        memory: 1024,
        portMappings: [
          { containerPort: 80, hostPort: 0, protocol: 'tcp' },
          { containerPort: 53, hostPort: 0, protocol: 'udp' },
          { containerPort: 9000, hostPort: 0, protocol: 'tcp' },
        ],
        environment: [
          { name: 'BERTH_ENV', value: 'stage' },
          { name: 'JAVA_OPTS', value: '-Xmx512m' },
          { name: 'ZONE', value: 'b' },
        ],
        secrets: [
          { name: 'API_KEY', valueFrom: 'arn:aws:secretsmanager:us-east-2:210987654321:secret:partner-api-key-AbCdEf' },
          { name: 'DB_PASSWORD', valueFrom: 'arn:aws:ssm:us-east-2:210987654321:parameter/shop/stage/web/secrets/DB_PASSWORD' },
        ],
        mountPoints: [
          { containerPath: '/var/lib/web/uploads', readOnly: false, sourceVolume: 'data-uploads' },
          { containerPath: '/seed', readOnly: true, sourceVolume: 'data-seed' },
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
          'berth.config-sha256': '3b6a5e83064c150d750ab23cda5897779da4dd38c898c280b0a4145ba17484dd',
          'berth.pids-limit': '512',
        },
        logConfiguration: logOf('web'),
        dependsOn: [{ containerName: 'config', condition: 'SUCCESS' }],
      },
    ]);
  });

  it('caps the health check start period at the 300 s ECS takes', () => {
    const [service] = renderContainerDefinitions(definitionsInput({ health: { cmd: 'true', timeoutSeconds: 301 } }));
    expect((service.healthCheck as { startPeriod: number }).startPeriod).toBe(300);
    const [atLimit] = renderContainerDefinitions(definitionsInput({ health: { cmd: 'true', timeoutSeconds: 300 } }));
    expect((atLimit.healthCheck as { startPeriod: number }).startPeriod).toBe(300);
  });

  it('refuses a port range, an image not pinned by digest and a PIDs limit below 1', () => {
    expect(() => renderContainerDefinitions(definitionsInput({ ports: ['8000-8010:8000-8010'] }))).toThrow(
      'web: ports: a single container port, not a range or anything else, got "8000-8010:8000-8010"',
    );
    expect(() => renderContainerDefinitions(definitionsInput({ image: 'shop/web:latest' }))).toThrow('web: image must be <repository>@sha256:<64 hex>, got "shop/web:latest"');
    expect(() => renderContainerDefinitions(definitionsInput({ pidsLimit: 0 }))).toThrow('pidsLimit: a whole number of at least 1, got 0');
  });
});

describe('the config file', () => {
  it('is written by a script that quotes the target and replaces the file in one move', () => {
    expect(configWriteScript('/config/application.properties')).toBe(
      `umask 022 && printf '%s' "$BERTH_CONFIG_FILE" > '/config/application.properties'.tmp && mv '/config/application.properties'.tmp '/config/application.properties'`,
    );
    expect(configWriteScript("/etc/it's here/app.conf")).toBe(
      `umask 022 && printf '%s' "$BERTH_CONFIG_FILE" > '/etc/it'\\''s here/app.conf'.tmp && mv '/etc/it'\\''s here/app.conf'.tmp '/etc/it'\\''s here/app.conf'`,
    );
    expect(() => configWriteScript('relative/app.conf')).toThrow('configFile.target: an absolute file path, got "relative/app.conf"');
  });

  it('lives in a volume mounted at its directory, which is never / and never climbs out', () => {
    expect(configDirectory('/config/application.properties')).toBe('/config');
    expect(configDirectory('/opt/app/conf/app.yml')).toBe('/opt/app/conf');
    expect(() => configDirectory('/application.properties')).toThrow(
      'configFile.target: a file in a directory other than /, got "/application.properties" (the directory becomes a volume)',
    );
    expect(() => configDirectory('/config/')).toThrow('configFile.target: an absolute file path, got "/config/"');
    expect(() => configDirectory('/config/../etc/passwd')).toThrow('configFile.target: an absolute file path, got "/config/../etc/passwd"');
    expect(() => configDirectory('')).toThrow('configFile.target: an absolute file path, got ""');
    // The agent mounts <volume>:<directory>[:ro]: a colon would be read as a mount mode.
    expect(() => configDirectory('/etc/web:ro/app.conf')).toThrow('configFile.target: a directory without ":" (ECS mounts it as <volume>:<directory>), got "/etc/web:ro/app.conf"');
    expect(configDirectory('/etc/web/app:1.conf')).toBe('/etc/web');
  });

  it('is hashed as its content sha256, the revision label', () => {
    expect(configSha256('a=1\n')).toBe('fe3209d6d4f51935b391288a43df48d9ddece1a992597ae53387ca16611a9179');
    expect(configSha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(configSha256('a=1\n')).not.toBe(configSha256('a=2\n'));
  });

  it('takes a config file of up to 32768 bytes as JSON text, counted in bytes, not characters', () => {
    const withConfig = (content: string) => renderContainerDefinitions(definitionsInput({ configFile: { target: '/etc/web/app.conf', content } }));
    expect(withConfig('a'.repeat(32768))).toHaveLength(2);
    expect(() => withConfig('a'.repeat(32769))).toThrow('web: configFile: at most 32768 bytes on ECS as JSON text (it is part of the task definition, which ECS caps at 64 KiB; quotes, backslashes and line breaks count twice); got 32769');
    // 16385 two-byte characters: 32770 bytes.
    expect(() => withConfig('é'.repeat(16385))).toThrow('web: configFile: at most 32768 bytes on ECS as JSON text (it is part of the task definition, which ECS caps at 64 KiB; quotes, backslashes and line breaks count twice); got 32770');
    // As the task definition carries it: a line break is `\\n`, a quote `\\"`, two bytes each.
    expect(withConfig('\n'.repeat(16384))).toHaveLength(2);
    expect(() => withConfig('"'.repeat(16385))).toThrow('web: configFile: at most 32768 bytes on ECS as JSON text (it is part of the task definition, which ECS caps at 64 KiB; quotes, backslashes and line breaks count twice); got 32770');
  });
});

describe('deploymentPercents', () => {
  it('keeps every task serving on start-first and never runs two on stop-first', () => {
    expect(deploymentPercents('start-first')).toEqual({ minimumHealthyPercent: 100, maximumPercent: 200 });
    expect(deploymentPercents('stop-first')).toEqual({ minimumHealthyPercent: 0, maximumPercent: 100 });
  });
});

describe('the task roles', () => {
  it('may be assumed only by ECS tasks of this account in this region', () => {
    expect(json(taskTrustPolicy({ accountId: '210987654321', region: 'cn-north-1', partition: 'aws-cn' }))).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'ecs-tasks.amazonaws.com' },
          Action: 'sts:AssumeRole',
          Condition: {
            ArnLike: { 'aws:SourceArn': 'arn:aws-cn:ecs:cn-north-1:210987654321:*' },
            StringEquals: { 'aws:SourceAccount': '210987654321' },
          },
        },
      ],
    });
    expect(json(taskTrustPolicy({ accountId: '123456789012', region: 'eu-west-1' })).Statement[0].Condition.ArnLike).toEqual({ 'aws:SourceArn': 'arn:aws:ecs:eu-west-1:123456789012:*' });
  });

  it('lets the execution role pull its repositories, write its log group, read its SSM parameters and its Secrets Manager secrets', () => {
    expect(
      json(
        executionRolePolicy({
          repositoryArns: ['arn:aws:ecr:us-east-2:210987654321:repository/shop/web', 'arn:aws:ecr:us-east-2:210987654321:repository/shop/base', 'arn:aws:ecr:us-east-2:210987654321:repository/shop/web'],
          logGroupArn: 'arn:aws:logs:us-east-2:210987654321:log-group:/shop/stage/web',
          parameterArns: ['arn:aws:ssm:us-east-2:210987654321:parameter/shop/stage/web/secrets/DB_PASSWORD', 'arn:aws:ssm:us-east-2:210987654321:parameter/shop/stage/web/config-file'],
          secretArns: ['arn:aws:secretsmanager:us-east-2:210987654321:secret:partner-api-key-AbCdEf'],
        }),
      ),
    ).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
        {
          Sid: 'PullServiceImage',
          Effect: 'Allow',
          Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
          Resource: ['arn:aws:ecr:us-east-2:210987654321:repository/shop/base', 'arn:aws:ecr:us-east-2:210987654321:repository/shop/web'],
        },
        { Sid: 'WriteServiceLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: 'arn:aws:logs:us-east-2:210987654321:log-group:/shop/stage/web:log-stream:*' },
        {
          Sid: 'ReadServiceParameters',
          Effect: 'Allow',
          Action: ['ssm:GetParameters'],
          Resource: ['arn:aws:ssm:us-east-2:210987654321:parameter/shop/stage/web/config-file', 'arn:aws:ssm:us-east-2:210987654321:parameter/shop/stage/web/secrets/DB_PASSWORD'],
        },
        { Sid: 'ReadServiceSecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: ['arn:aws:secretsmanager:us-east-2:210987654321:secret:partner-api-key-AbCdEf'] },
      ],
    });
  });

  it('names a secret in the policy without the JSON key, stage or version a valueFrom pins', () => {
    const policy = json(
      executionRolePolicy({
        repositoryArns: [],
        logGroupArn: 'arn:aws:logs:us-east-2:210987654321:log-group:/shop/stage/web',
        parameterArns: [],
        secretArns: [
          'arn:aws:secretsmanager:us-east-2:210987654321:secret:shop/stage/web/DB_PASSWORD-20251201-AbCdEf:::0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d',
          'arn:aws:secretsmanager:us-east-2:210987654321:secret:partner-Zz9Yy8:api_key::',
          'arn:aws:secretsmanager:us-east-2:210987654321:secret:partner-Zz9Yy8',
        ],
      }),
    );
    expect(policy.Statement[2]).toEqual({
      Sid: 'ReadServiceSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: ['arn:aws:secretsmanager:us-east-2:210987654321:secret:partner-Zz9Yy8', 'arn:aws:secretsmanager:us-east-2:210987654321:secret:shop/stage/web/DB_PASSWORD-20251201-AbCdEf'],
    });
  });

  it('pins a Secrets Manager secret to one version, and reads the secret back from any valueFrom', () => {
    expect(pinnedSecretValueFrom('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf', 'v-1')).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:::v-1');
    expect(secretResourceArn('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:::v-1')).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf');
    expect(secretResourceArn('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:password:AWSPREVIOUS:')).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf');
    expect(secretResourceArn('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf')).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf');
  });

  it('grants the execution role no statement with an empty resource: nothing to pull, read or decrypt is nothing granted', () => {
    expect(json(executionRolePolicy({ repositoryArns: [], logGroupArn: 'arn:aws:logs:eu-west-1:123456789012:log-group:/berth/dev/worker', parameterArns: [], secretArns: [] }))).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
        { Sid: 'WriteServiceLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: 'arn:aws:logs:eu-west-1:123456789012:log-group:/berth/dev/worker:log-stream:*' },
      ],
    });
  });

  it('lets the task role mount the file system through its own access points only', () => {
    expect(
      json(
        efsTaskRolePolicy({
          fileSystemArn: 'arn:aws:elasticfilesystem:us-east-2:210987654321:file-system/fs-0a1b2c3d4e5f60718',
          accessPointArns: ['arn:aws:elasticfilesystem:us-east-2:210987654321:access-point/fsap-0000000000000000b', 'arn:aws:elasticfilesystem:us-east-2:210987654321:access-point/fsap-0000000000000000a'],
        }),
      ),
    ).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'MountServiceVolumes',
          Effect: 'Allow',
          Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite'],
          Resource: 'arn:aws:elasticfilesystem:us-east-2:210987654321:file-system/fs-0a1b2c3d4e5f60718',
          Condition: {
            StringEquals: {
              'elasticfilesystem:AccessPointArn': [
                'arn:aws:elasticfilesystem:us-east-2:210987654321:access-point/fsap-0000000000000000a',
                'arn:aws:elasticfilesystem:us-east-2:210987654321:access-point/fsap-0000000000000000b',
              ],
            },
          },
        },
      ],
    });
  });

  it('tells Secrets Manager secrets from SSM parameters, in every partition', () => {
    expect(isSecretsManagerArn('arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf')).toBe(true);
    expect(isSecretsManagerArn('arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:db-AbCdEf')).toBe(true);
    expect(isSecretsManagerArn('arn:aws:ssm:eu-west-1:123456789012:parameter/db')).toBe(false);
    expect(isSecretsManagerArn('/shop/secretsmanager:db')).toBe(false);
  });
});

describe('iamPrefix', () => {
  it('keeps a name that fits the 37 characters (38 with the hyphen the role adds)', () => {
    expect(iamPrefix('berth', 'prod', 'api-service', 'exec')).toBe('berth-prod-api-service-exec');
    expect(iamPrefix('berth', 'prod', 'abcdefghij-klmnopqrst', 'exec')).toBe('berth-prod-abcdefghij-klmnopqrst-exec');
  });

  it('cuts a longer name to 37 characters, with a hash of the whole that keeps two names and two roles apart', () => {
    expect(iamPrefix('berth', 'prod', 'abcdefghij-klmnopqrstu', 'exec')).toBe('berth-prod-abcdefghij-klm-a934c5-exec');
    expect(iamPrefix('berth', 'prod', 'customer-notification-dispatcher', 'exec')).toBe('berth-prod-customer-notif-177342-exec');
    expect(iamPrefix('berth', 'prod', 'customer-notification-dispatches', 'exec')).toBe('berth-prod-customer-notif-2b7e2f-exec');
    expect(iamPrefix('berth', 'prod', 'customer-notification-dispatcher', 'task')).toBe('berth-prod-customer-notif-a1c795-task');
    expect(iamPrefix('berth', 'stage', 'a23456789012345678901234', 'exec')).toBe('berth-stage-a234567890123-cf869c-exec');
  });
});

describe('publishedContainerPort', () => {
  it.each([
    ['8080', { containerPort: 8080, protocol: 'tcp' }],
    ['8080:80', { containerPort: 80, protocol: 'tcp' }],
    ['8080:80/tcp', { containerPort: 80, protocol: 'tcp' }],
    ['127.0.0.1:5353:53/udp', { containerPort: 53, protocol: 'udp' }],
    ['53/udp', { containerPort: 53, protocol: 'udp' }],
  ])('reads the container side of %s', (publication, expected) => {
    expect(publishedContainerPort(publication)).toEqual(expected);
  });

  it.each(['8000-8010:8000-8010', '8000-8010', '8080:http', ''])('refuses %j: ECS bridge mappings take one container port', (publication) => {
    expect(publishedContainerPort(publication)).toEqual({ error: `a single container port, not a range or anything else, got "${publication}"` });
  });
});

describe('publishedContainerPort, protocols', () => {
  it.each(['8080:8080/sctp', '8080:8080/tpc'])('refuses %j: ECS port mappings take tcp and udp only', (publication) => {
    expect(publishedContainerPort(publication)).toEqual({ error: `tcp or udp, the protocols an ECS port mapping takes, got "${publication}"` });
  });
});
