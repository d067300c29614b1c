/**
 * Every security document Berth declares, compared with the document written
 * out here, at inputs other than the defaults. The expected values are
 * literals: never the output of the function that renders them, nor a constant
 * of the module under test, so widening a document changes what AWS receives
 * and fails here. (The same documents at the defaults are checked in
 * host-group, environment-monitoring and registry tests.)
 */
import * as pulumi from '@pulumi/pulumi';
import { DockerHostGroup, DockerHostGroupArgs } from '../../components/host/dockerHostGroup';
import { EnvironmentMonitoring } from '../../components/monitoring/environmentMonitoring';
import { ServiceRegistry } from '../../components/registry/serviceRegistry';
import { evaluate } from '../support/pulumi';

function groupArgs(overrides: Partial<DockerHostGroupArgs> = {}): DockerHostGroupArgs {
  return {
    project: 'shop',
    env: 'stage',
    count: 1,
    instanceType: 't3.small',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    subnetIds: ['subnet-0a1b2c3d4e5f60711'],
    dataVolumeGiB: 20,
    repositoryArns: [
      'arn:aws:ecr:us-east-2:210987654321:repository/shop/web',
      'arn:aws:ecr:us-east-2:210987654321:repository/shop/api',
    ],
    ssh: { privateKey: pulumi.secret('not-a-real-key'), publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthTestKeyBerthTestKeyBerthTestKey00 test' },
    agentScript: '#!/usr/bin/env bash\n',
    ...overrides,
  };
}

const json = (value: unknown) => JSON.parse(String(value));

describe('the host role', () => {
  it('may pull from the named repositories only, write only its project and environment logs, publish only Berth metrics', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('web', groupArgs()), { region: 'us-east-2' });
    expect(json(one('aws:iam/rolePolicy:RolePolicy', 'web-host').inputs.policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
        {
          Sid: 'PullProjectImages',
          Effect: 'Allow',
          Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
          Resource: ['arn:aws:ecr:us-east-2:210987654321:repository/shop/api', 'arn:aws:ecr:us-east-2:210987654321:repository/shop/web'],
        },
        {
          Sid: 'WriteEnvironmentLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          Resource: ['arn:aws:logs:us-east-2:123456789012:log-group:/shop/stage/*', 'arn:aws:logs:us-east-2:123456789012:log-group:/shop/stage/*:log-stream:*'],
        },
        {
          Sid: 'PublishHostMetrics',
          Effect: 'Allow',
          Action: ['cloudwatch:PutMetricData'],
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': 'Berth' } },
        },
      ],
    });
  });

  it('may pull nothing when the group has no repositories (no statement with an empty or wildcard resource)', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('web', groupArgs({ repositoryArns: [] })), { region: 'us-east-2' });
    expect(json(one('aws:iam/rolePolicy:RolePolicy', 'web-host').inputs.policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
        {
          Sid: 'WriteEnvironmentLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          Resource: ['arn:aws:logs:us-east-2:123456789012:log-group:/shop/stage/*', 'arn:aws:logs:us-east-2:123456789012:log-group:/shop/stage/*:log-stream:*'],
        },
        {
          Sid: 'PublishHostMetrics',
          Effect: 'Allow',
          Action: ['cloudwatch:PutMetricData'],
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': 'Berth' } },
        },
      ],
    });
  });

  it('is assumed by EC2 only, and has no managed policy attached', async () => {
    const { one, ofType } = await evaluate(() => new DockerHostGroup('web', groupArgs()), { region: 'us-east-2' });
    expect(json(one('aws:iam/role:Role', 'web-host').inputs.assumeRolePolicy)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
    expect(ofType('aws:iam/rolePolicyAttachment:RolePolicyAttachment')).toEqual([]);
    expect(ofType('aws:iam/policy:Policy')).toEqual([]);
  });
});

describe('the host security group', () => {
  it('opens SSH to admin networks (IPv4 and IPv6) and the bastion, each service port to the named networks and load balancers, nothing else', async () => {
    const { one } = await evaluate(() =>
      new DockerHostGroup(
        'web',
        groupArgs({
          adminCidrs: ['192.168.0.0/24', '2001:db8:aa::/48', '10.20.0.0/16', '2001:db8:1::/48'],
          bastionSecurityGroupId: 'sg-0bbbbbbbbbbbbbbbb',
          servicePorts: [9090, 8080, 9090],
          serviceIngressCidrs: ['10.30.0.0/16', 'fd00:30::/64'],
          serviceIngressSecurityGroupIds: ['sg-0aaaaaaaaaaaaaaaa', 'sg-0cccccccccccccccc'],
        }),
      ),
    );
    const sg = one('aws:ec2/securityGroup:SecurityGroup', 'web-hosts');
    expect(sg.inputs.ingress).toEqual([
      {
        description: 'SSH from admin networks',
        protocol: 'tcp',
        fromPort: 22,
        toPort: 22,
        cidrBlocks: ['10.20.0.0/16', '192.168.0.0/24'],
        ipv6CidrBlocks: ['2001:db8:1::/48', '2001:db8:aa::/48'],
      },
      { description: 'SSH from the bastion', protocol: 'tcp', fromPort: 22, toPort: 22, securityGroups: ['sg-0bbbbbbbbbbbbbbbb'] },
      { description: 'service port 8080', protocol: 'tcp', fromPort: 8080, toPort: 8080, cidrBlocks: ['10.30.0.0/16'], ipv6CidrBlocks: ['fd00:30::/64'] },
      { description: 'service port 8080 from load balancers', protocol: 'tcp', fromPort: 8080, toPort: 8080, securityGroups: ['sg-0aaaaaaaaaaaaaaaa', 'sg-0cccccccccccccccc'] },
      { description: 'service port 9090', protocol: 'tcp', fromPort: 9090, toPort: 9090, cidrBlocks: ['10.30.0.0/16'], ipv6CidrBlocks: ['fd00:30::/64'] },
      { description: 'service port 9090 from load balancers', protocol: 'tcp', fromPort: 9090, toPort: 9090, securityGroups: ['sg-0aaaaaaaaaaaaaaaa', 'sg-0cccccccccccccccc'] },
    ]);
    // Outbound HTTPS to ECR and CloudWatch has no fixed address range.
    expect(sg.inputs.egress).toEqual([{ description: 'all outbound', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }]);
    expect(sg.inputs.vpcId).toBe('vpc-0a1b2c3d4e5f60718');
  });

  it('opens nothing inbound when no admin network, bastion or service source is named', async () => {
    const { one } = await evaluate(() => new DockerHostGroup('web', groupArgs({ servicePorts: [8080] })));
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'web-hosts').inputs.ingress).toEqual([]);
  });
});

describe('the alarm topic key', () => {
  it('lets CloudWatch use it only for this account’s alarms in this region named <project>-<env>-…', async () => {
    const { one } = await evaluate(() => new EnvironmentMonitoring('alarms', { project: 'shop', env: 'stage' }), { region: 'us-east-2' });
    expect(json(one('aws:kms/key:Key', 'alarms-alarms').inputs.policy)).toEqual({
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
            ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:us-east-2:123456789012:alarm:shop-stage-*' },
          },
        },
      ],
    });
  });
});

describe('the registry', () => {
  it('lets exactly the named accounts pull and look tags up, and nothing more', async () => {
    const { ofType } = await evaluate(() => new ServiceRegistry('reg', { services: ['web'], namespace: 'shop', pullAccountIds: ['222222222222', '111111111111'] }));
    const policies = ofType('aws:ecr/repositoryPolicy:RepositoryPolicy');
    expect(policies.map((policy) => [policy.name, policy.inputs.repository])).toEqual([
      ['reg-base-pull', 'shop/base'],
      ['reg-web-pull', 'shop/web'],
    ]);
    for (const policy of policies) {
      expect(json(policy.inputs.policy)).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'BerthCrossAccountPull',
            Effect: 'Allow',
            Principal: { AWS: ['arn:aws:iam::111111111111:root', 'arn:aws:iam::222222222222:root'] },
            Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:DescribeImages', 'ecr:GetDownloadUrlForLayer'],
          },
        ],
      });
    }
  });

  it('gives every repository the lifecycle policy that keeps environment and keep- images, one rule each, and expires only untagged ones', async () => {
    const { ofType } = await evaluate(() => new ServiceRegistry('reg', { services: ['web'] }));
    const policies = ofType('aws:ecr/lifecyclePolicy:LifecyclePolicy');
    expect(policies.map((policy) => [policy.name, policy.inputs.repository])).toEqual([
      ['reg-base-lifecycle', 'berth/base'],
      ['reg-web-lifecycle', 'berth/web'],
    ]);
    const keep = (rulePriority: number, tag: string) => ({
      rulePriority,
      description: `Keep the image tagged ${tag}`,
      selection: { tagStatus: 'tagged', tagPatternList: [tag], countType: 'imageCountMoreThan', countNumber: 100000 },
      action: { type: 'expire' },
    });
    for (const policy of policies) {
      expect(json(policy.inputs.policy)).toEqual({
        rules: [
          keep(1, 'dev'),
          keep(2, 'test'),
          keep(3, 'stage'),
          keep(4, 'prod'),
          {
            rulePriority: 5,
            description: 'Keep images with a tag starting with keep-',
            selection: { tagStatus: 'tagged', tagPrefixList: ['keep-'], countType: 'imageCountMoreThan', countNumber: 100000 },
            action: { type: 'expire' },
          },
          {
            rulePriority: 6,
            description: 'Expire untagged images 14 days after push',
            selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 },
            action: { type: 'expire' },
          },
        ],
      });
    }
  });
});
