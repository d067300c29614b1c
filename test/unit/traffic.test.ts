/**
 * EnvironmentTraffic under mocks, every option at a non-default value, and the environment
 * program's wiring (hosts accept service ports from the load balancers, targets per placement).
 * Security documents are compared with literal documents written here.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { spawnSync } from 'child_process';
import { EnvironmentTraffic, EnvironmentTrafficArgs, TrafficHost } from '../../components/traffic/environmentTraffic';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { catalogue as defaultCatalogue } from '../../stacks/env/catalogue';
import { readStackFile, validateStackConfig } from '../../stacks/env/config';
import { placement } from '../../stacks/env/stack';
import { fakeHex, OfflineVpcAttributes } from '../../tools/offline/runtime';
import { runPoliciesOffline } from '../../tools/policy/offline';
import { synthConfig } from '../../tools/synth/engine';
import { evaluate, valueOf } from '../support/pulumi';

const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d';

function trafficArgs(overrides: Partial<EnvironmentTrafficArgs> = {}): EnvironmentTrafficArgs {
  return {
    env: 'prod',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    subnetIds: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'],
    certificateArn: CERTIFICATE,
    ingressCidrs: ['10.0.0.0/8', 'fd00::/8'],
    serviceNameCidrs: ['10.20.0.0/16'],
    serviceNameSecurityGroupIds: ['sg-0123456789abcdef0'],
    accessLogRetentionDays: 400,
    deletionProtection: true,
    zoneName: 'svc.prod.corp',
    services: [
      { name: 'api-service', web: { port: 8080, healthCheckPath: '/health', deregistrationDelaySeconds: 5 }, route: { hosts: ['api.example.com'] } },
      { name: 'auth-service', web: { port: 8081, healthCheckPath: '/actuator/health' }, route: { hosts: ['api.example.com'], paths: ['/auth/*'] } },
      { name: 'cache' },
    ],
    ...overrides,
  };
}

/** The id the offline runtime gives a security group of this logical name. */
function groupId(name: string): string {
  return `sg-${fakeHex(`aws:ec2/securityGroup:SecurityGroup/${name}`, 17)}`;
}

/** Two fake hosts: instances are all registerHosts needs. */
function hosts(names: string[]): TrafficHost[] {
  return names.map((name) => ({ name, instance: new aws.ec2.Instance(name, { ami: 'ami-0a1b2c3d4e5f60718', instanceType: 't3.small' }) }));
}

describe('EnvironmentTraffic, internal', () => {
  it('declares one internal load balancer with deletion protection, access logs, HTTPS with a modern TLS policy, HTTP redirected', async () => {
    const { ofType, one } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()));
    expect(ofType('aws:lb/loadBalancer:LoadBalancer').map((lb) => lb.name)).toEqual(['prod-edge']);
    const lb = one('aws:lb/loadBalancer:LoadBalancer', 'prod-edge');
    expect(lb.inputs).toMatchObject({
      loadBalancerType: 'application',
      internal: true,
      enableDeletionProtection: true,
      dropInvalidHeaderFields: true,
      subnets: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'],
      tags: { 'berth:project': 'berth', 'berth:env': 'prod', 'berth:role': 'edge', Name: 'berth-prod-edge' },
    });
    expect(lb.inputs.name).toMatch(/^berth-prod-edge-[0-9a-f]{8}$/);
    expect((lb.inputs.accessLogs as Record<string, unknown>).enabled).toBe(true);
    expect((lb.inputs.accessLogs as Record<string, unknown>).prefix).toBe('alb/edge');
    // ELB checks it may write the logs when it creates the load balancer.
    expect(lb.options?.dependsOn).toEqual(expect.arrayContaining(['aws:s3/bucketPolicy:BucketPolicy::prod-access-logs']));

    const listeners = Object.fromEntries(ofType('aws:lb/listener:Listener').map((listener) => [listener.name, listener.inputs]));
    expect(Object.keys(listeners)).toEqual(['prod-edge-http', 'prod-edge-https']);
    expect(listeners['prod-edge-https']).toMatchObject({
      port: 443,
      protocol: 'HTTPS',
      sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      certificateArn: CERTIFICATE,
      defaultActions: [{ type: 'fixed-response', fixedResponse: { contentType: 'text/plain', messageBody: 'not found', statusCode: '404' } }],
    });
    expect(listeners['prod-edge-http']).toMatchObject({
      port: 80,
      protocol: 'HTTP',
      defaultActions: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }],
    });
  });

  it('lets the ingress networks reach 443 and 80, the service networks and the callers reach the names on 80, nothing else', async () => {
    const { ofType, one } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()));
    expect(ofType('aws:ec2/securityGroup:SecurityGroup').map((group) => group.name)).toEqual(['prod-callers', 'prod-edge-lb']);
    const group = one('aws:ec2/securityGroup:SecurityGroup', 'prod-edge-lb').inputs;
    expect(group.namePrefix).toBe('berth-prod-edge-lb-');
    expect(group.vpcId).toBe('vpc-0a1b2c3d4e5f60718');
    expect(group.ingress).toEqual([
      { description: 'HTTPS from the ingress networks', protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['10.0.0.0/8'], ipv6CidrBlocks: ['fd00::/8'] },
      { description: 'HTTP from the ingress networks (redirected to HTTPS)', protocol: 'tcp', fromPort: 80, toPort: 80, cidrBlocks: ['10.0.0.0/8'], ipv6CidrBlocks: ['fd00::/8'] },
      { description: 'HTTP service names from the service networks', protocol: 'tcp', fromPort: 80, toPort: 80, cidrBlocks: ['10.20.0.0/16'] },
      { description: 'HTTP service names from the service security groups', protocol: 'tcp', fromPort: 80, toPort: 80, securityGroups: ['sg-0123456789abcdef0'] },
      { description: 'HTTP service names from the callers (the Berth hosts)', protocol: 'tcp', fromPort: 80, toPort: 80, securityGroups: [groupId('prod-callers')] },
    ]);
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'prod-edge-lb').propertyDependencies?.ingress).toEqual(['prod-callers']);
    expect(group.egress).toEqual([
      { description: 'to the hosts on service port 8080', protocol: 'tcp', fromPort: 8080, toPort: 8080, cidrBlocks: ['0.0.0.0/0'] },
      { description: 'to the hosts on service port 8081', protocol: 'tcp', fromPort: 8081, toPort: 8081, cidrBlocks: ['0.0.0.0/0'] },
    ]);
  });

  it('writes access logs to a private SSE-S3 bucket that only ELB log delivery may write to, expired after the retention', async () => {
    const { one } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()));
    expect(one('aws:s3/bucket:Bucket', 'prod-access-logs').inputs).toMatchObject({ bucketPrefix: 'berth-prod-lb-logs-', forceDestroy: false });
    expect(one('aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock', 'prod-access-logs').inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(one('aws:s3/bucketOwnershipControls:BucketOwnershipControls', 'prod-access-logs').inputs.rule).toEqual({ objectOwnership: 'BucketOwnerEnforced' });
    expect(one('aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration', 'prod-access-logs').inputs.rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } },
    ]);
    expect(one('aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration', 'prod-access-logs').inputs.rules).toEqual([
      { id: 'expire-access-logs', status: 'Enabled', filter: { prefix: 'alb/' }, expiration: { days: 400 }, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
    ]);
    // The offline runtime's ARN of the bucket and its account.
    const bucketArn = 'arn:aws:s3:eu-west-1:123456789012:prod-access-logs';
    expect(JSON.parse(String(one('aws:s3/bucketPolicy:BucketPolicy', 'prod-access-logs').inputs.policy))).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ElbLogDelivery',
          Effect: 'Allow',
          Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' },
          Action: 's3:PutObject',
          Resource: [`${bucketArn}/alb/edge/AWSLogs/123456789012/*`],
        },
        {
          // eu-west-1 opened before August 2022: its ELB account delivers the logs there.
          Sid: 'ElbRegionalAccountLogDelivery',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::156460612806:root' },
          Action: 's3:PutObject',
          Resource: [`${bucketArn}/alb/edge/AWSLogs/123456789012/*`],
        },
        {
          Sid: 'TlsOnly',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [bucketArn, `${bucketArn}/*`],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    });
  });

  it('lets only the service principal deliver logs in a Region opened since August 2022, which has no ELB account', async () => {
    // eu-central-2 (Zurich) opened in November 2022.
    const { one } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()), { region: 'eu-central-2' });
    const bucketArn = 'arn:aws:s3:eu-central-2:123456789012:prod-access-logs';
    expect(JSON.parse(String(one('aws:s3/bucketPolicy:BucketPolicy', 'prod-access-logs').inputs.policy))).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ElbLogDelivery',
          Effect: 'Allow',
          Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' },
          Action: 's3:PutObject',
          Resource: [`${bucketArn}/alb/edge/AWSLogs/123456789012/*`],
        },
        {
          Sid: 'TlsOnly',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [bucketArn, `${bucketArn}/*`],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    });
  });

  it('gives two services that share a long prefix, on one port, two target group names', async () => {
    const payments = [
      { name: 'payment-gateway', web: { port: 8080, healthCheckPath: '/health' }, route: { hosts: ['pay.example.com'] } },
      { name: 'payment-gateway-admin', web: { port: 8080, healthCheckPath: '/health' }, route: { hosts: ['pay-admin.example.com'] } },
    ];
    const { one } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs({ services: payments })));
    const gateway = String(one('aws:lb/targetGroup:TargetGroup', 'prod-edge-payment-gateway').inputs.name);
    const admin = String(one('aws:lb/targetGroup:TargetGroup', 'prod-edge-payment-gateway-admin').inputs.name);
    expect(gateway).toMatch(/^berth-prod-e-payment-ga-[0-9a-f]{8}$/);
    expect(admin).toMatch(/^berth-prod-e-payment-ga-[0-9a-f]{8}$/);
    // Both were berth-prod-e-payment-ga-6c7952a7 when only the port, protocol, target type, VPC and scheme were hashed.
    expect(gateway).not.toBe(admin);
    expect([gateway, admin]).not.toContain('berth-prod-e-payment-ga-6c7952a7');
  });

  it('gives two long envs that share a prefix two load balancer names', async () => {
    const lbName = async (env: string) => String((await evaluate(() => new EnvironmentTraffic(env, trafficArgs({ env })))).one('aws:lb/loadBalancer:LoadBalancer', `${env}-edge`).inputs.name);
    const [a, b] = [await lbName('customer-acceptance-eu-a'), await lbName('customer-acceptance-eu-b')];
    expect(a).toMatch(/^berth-customer-acceptan-[0-9a-f]{8}$/);
    expect(b).toMatch(/^berth-customer-acceptan-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
  });

  it('has one target group per web service on its port with its health check and deregistration delay, tagged with the service', async () => {
    const { ofType } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()));
    const groups = ofType('aws:lb/targetGroup:TargetGroup');
    expect(groups.map((group) => group.name)).toEqual(['prod-edge-api-service', 'prod-edge-auth-service']);
    expect(groups[0].inputs).toMatchObject({
      port: 8080,
      protocol: 'HTTP',
      targetType: 'instance',
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      deregistrationDelay: 5,
      healthCheck: { enabled: true, protocol: 'HTTP', path: '/health', port: 'traffic-port', matcher: '200-399', interval: 15, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
      tags: { 'berth:project': 'berth', 'berth:env': 'prod', 'berth:role': 'edge', 'berth:service': 'api-service' },
    });
    expect(groups[1].inputs).toMatchObject({ port: 8081, deregistrationDelay: 30, healthCheck: { path: '/actuator/health' } });
    expect(groups[0].inputs.name).toMatch(/^berth-prod-e-api-servic-[0-9a-f]{8}$/);
    // A new port, or a new scheme (a new load balancer), is a new target group with a new name.
    const nameWith = async (overrides: Partial<EnvironmentTrafficArgs>) =>
      (await evaluate(() => new EnvironmentTraffic('prod', trafficArgs(overrides)))).one('aws:lb/targetGroup:TargetGroup', 'prod-edge-api-service').inputs.name;
    const apiOn = (port: number) => [{ name: 'api-service', web: { port, healthCheckPath: '/health' }, route: { hosts: ['api.example.com'] } }];
    expect(await nameWith({ services: apiOn(8080) })).toBe(groups[0].inputs.name);
    expect(await nameWith({ services: apiOn(9090) })).not.toBe(groups[0].inputs.name);
    expect(await nameWith({ scheme: 'internet-facing' })).not.toBe(groups[0].inputs.name);
  });

  it('routes by host and path with fixed priorities, and answers <service>.<zone> on the HTTP listener', async () => {
    const { ofType } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()));
    const rules = ofType('aws:lb/listenerRule:ListenerRule');
    expect(rules.map((rule) => [rule.name, rule.inputs.priority, rule.inputs.conditions, rule.propertyDependencies])).toEqual([
      // Host-only rules fall in 35000-50000, host-and-path ones in 1-19999; each number from its service's name alone.
      ['prod-edge-api-service-name', 36843, [{ hostHeader: { values: ['api-service.svc.prod.corp'] } }], { actions: ['prod-edge-api-service'], listenerArn: ['prod-edge-http'] }],
      ['prod-edge-api-service-route', 36843, [{ hostHeader: { values: ['api.example.com'] } }], { actions: ['prod-edge-api-service'], listenerArn: ['prod-edge-https'] }],
      ['prod-edge-auth-service-name', 49779, [{ hostHeader: { values: ['auth-service.svc.prod.corp'] } }], { actions: ['prod-edge-auth-service'], listenerArn: ['prod-edge-http'] }],
      [
        'prod-edge-auth-service-route',
        1144,
        [{ hostHeader: { values: ['api.example.com'] } }, { pathPattern: { values: ['/auth/*'] } }],
        { actions: ['prod-edge-auth-service'], listenerArn: ['prod-edge-https'] },
      ],
    ]);
    for (const rule of rules) {
      expect(rule.inputs.tags).toMatchObject({ 'berth:service': String(rule.name).replace(/^prod-edge-|-(name|route)$/g, '') });
    }
  });

  it('names services in a private zone of the VPC: web services alias the load balancer', async () => {
    const { one, ofType } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()));
    expect(one('aws:route53/zone:Zone', 'prod-zone').inputs).toMatchObject({ name: 'svc.prod.corp', vpcs: [{ vpcId: 'vpc-0a1b2c3d4e5f60718' }] });
    const records = ofType('aws:route53/record:Record');
    expect(records.map((record) => [record.name, record.inputs.name, record.inputs.type, record.propertyDependencies?.aliases])).toEqual([
      ['prod-api-service-dns', 'api-service.svc.prod.corp', 'A', ['prod-edge']],
      ['prod-auth-service-dns', 'auth-service.svc.prod.corp', 'A', ['prod-edge']],
    ]);
    expect(records.map((record) => record.propertyDependencies?.zoneId)).toEqual([['prod-zone'], ['prod-zone']]);
    expect((records[0].inputs.aliases as Record<string, unknown>[])[0].evaluateTargetHealth).toBe(true);
  });
});

describe('EnvironmentTraffic, internet-facing', () => {
  it('adds an internal service-names load balancer with its own listener, target groups and rules; the edge is open as configured', async () => {
    const { ofType, one } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs({ scheme: 'internet-facing', ingressCidrs: ['0.0.0.0/0'] })));
    expect(ofType('aws:lb/loadBalancer:LoadBalancer').map((lb) => [lb.name, lb.inputs.internal, (lb.inputs.tags as Record<string, string>)['berth:role']])).toEqual([
      ['prod-edge', false, 'edge'],
      ['prod-service-names', true, 'service-names'],
    ]);
    // The edge's name changes with its scheme, so a replacement can be created before the old one goes.
    expect(one('aws:lb/loadBalancer:LoadBalancer', 'prod-edge').inputs.name).not.toBe((await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()))).one('aws:lb/loadBalancer:LoadBalancer', 'prod-edge').inputs.name);
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'prod-edge-lb').inputs.ingress).toEqual([
      { description: 'HTTPS from the ingress networks', protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] },
      { description: 'HTTP from the ingress networks (redirected to HTTPS)', protocol: 'tcp', fromPort: 80, toPort: 80, cidrBlocks: ['0.0.0.0/0'] },
    ]);
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'prod-service-names-lb').inputs.ingress).toEqual([
      { description: 'HTTP service names from the service networks', protocol: 'tcp', fromPort: 80, toPort: 80, cidrBlocks: ['10.20.0.0/16'] },
      { description: 'HTTP service names from the service security groups', protocol: 'tcp', fromPort: 80, toPort: 80, securityGroups: ['sg-0123456789abcdef0'] },
      { description: 'HTTP service names from the callers (the Berth hosts)', protocol: 'tcp', fromPort: 80, toPort: 80, securityGroups: [groupId('prod-callers')] },
    ]);
    expect(JSON.parse(String(one('aws:s3/bucketPolicy:BucketPolicy', 'prod-access-logs').inputs.policy)).Statement[0]).toEqual({
      Sid: 'ElbLogDelivery',
      Effect: 'Allow',
      Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' },
      Action: 's3:PutObject',
      Resource: [
        'arn:aws:s3:eu-west-1:123456789012:prod-access-logs/alb/edge/AWSLogs/123456789012/*',
        'arn:aws:s3:eu-west-1:123456789012:prod-access-logs/alb/service-names/AWSLogs/123456789012/*',
      ],
    });
    expect((one('aws:lb/loadBalancer:LoadBalancer', 'prod-service-names').inputs.accessLogs as Record<string, unknown>).prefix).toBe('alb/service-names');
    expect(one('aws:lb/listener:Listener', 'prod-service-names-http').inputs).toMatchObject({ port: 80, protocol: 'HTTP', defaultActions: [{ type: 'fixed-response' }] });
    expect(ofType('aws:lb/targetGroup:TargetGroup').map((group) => group.name)).toEqual([
      'prod-edge-api-service',
      'prod-edge-auth-service',
      'prod-service-names-api-service',
      'prod-service-names-auth-service',
    ]);
    expect(
      ofType('aws:lb/listenerRule:ListenerRule')
        .filter((rule) => rule.name.endsWith('-name'))
        .map((rule) => [rule.name, rule.propertyDependencies]),
    ).toEqual([
      ['prod-service-names-api-service-name', { actions: ['prod-service-names-api-service'], listenerArn: ['prod-service-names-http'] }],
      ['prod-service-names-auth-service-name', { actions: ['prod-service-names-auth-service'], listenerArn: ['prod-service-names-http'] }],
    ]);
    expect(ofType('aws:route53/record:Record').map((record) => record.propertyDependencies?.aliases)).toEqual([['prod-service-names'], ['prod-service-names']]);
  });

  it('turns deletion protection off outside prod when asked, and names the zone <env>.internal by default', async () => {
    const { one } = await evaluate(() => new EnvironmentTraffic('dev', trafficArgs({ env: 'dev', deletionProtection: false, zoneName: undefined })));
    expect(one('aws:lb/loadBalancer:LoadBalancer', 'dev-edge').inputs.enableDeletionProtection).toBe(false);
    expect(one('aws:route53/zone:Zone', 'dev-zone').inputs.name).toBe('dev.internal');
  });
});

describe('EnvironmentTraffic.registerHosts', () => {
  it('registers each host of a web service with each of its target groups on the web port; a TCP service gets its hosts’ IPs', async () => {
    const { ofType, result } = await evaluate(() => {
      const traffic = new EnvironmentTraffic('prod', trafficArgs({ scheme: 'internet-facing', ingressCidrs: ['0.0.0.0/0'] }));
      traffic.registerHosts({ 'api-service': hosts(['app-1', 'app-3']), 'auth-service': hosts(['app-2']), cache: hosts(['cache-1', 'cache-2']) });
      return traffic;
    });
    const attachments = ofType('aws:lb/targetGroupAttachment:TargetGroupAttachment');
    expect(attachments.map((attachment) => [attachment.name, attachment.inputs.port, attachment.propertyDependencies])).toEqual([
      ['prod-edge-api-service-app-1', 8080, { targetGroupArn: ['prod-edge-api-service'], targetId: ['app-1'] }],
      ['prod-edge-api-service-app-3', 8080, { targetGroupArn: ['prod-edge-api-service'], targetId: ['app-3'] }],
      ['prod-edge-auth-service-app-2', 8081, { targetGroupArn: ['prod-edge-auth-service'], targetId: ['app-2'] }],
      ['prod-service-names-api-service-app-1', 8080, { targetGroupArn: ['prod-service-names-api-service'], targetId: ['app-1'] }],
      ['prod-service-names-api-service-app-3', 8080, { targetGroupArn: ['prod-service-names-api-service'], targetId: ['app-3'] }],
      ['prod-service-names-auth-service-app-2', 8081, { targetGroupArn: ['prod-service-names-auth-service'], targetId: ['app-2'] }],
    ]);
    const cache = ofType('aws:route53/record:Record').find((record) => record.name === 'prod-cache-dns')!;
    expect(cache.inputs).toMatchObject({ name: 'cache.svc.prod.corp', type: 'A', ttl: 60 });
    expect(cache.propertyDependencies?.records).toEqual(['cache-1', 'cache-2']);
    expect(cache.inputs.records).toEqual([expect.stringMatching(/^10\.20\./), expect.stringMatching(/^10\.20\./)]);
    expect(cache.propertyDependencies?.zoneId).toEqual(['prod-zone']);
    expect(await valueOf(result.securityGroupIds[1])).toMatch(/^sg-/);
  });

  it('refuses hosts of a service it does not know', async () => {
    await expect(
      evaluate(() => {
        const traffic = new EnvironmentTraffic('prod', trafficArgs());
        traffic.registerHosts({ billing: [] });
      }),
    ).rejects.toThrow('prod: registerHosts: no service "billing" in services');
  });
});

describe('EnvironmentTraffic.hostSecurityGroupIds', () => {
  it('puts every host group in the callers group, a membership group without rules of its own', async () => {
    const { one, result } = await evaluate(() => {
      const traffic = new EnvironmentTraffic('prod', trafficArgs());
      return traffic.hostSecurityGroupIds('app', []);
    });
    expect(one('aws:ec2/securityGroup:SecurityGroup', 'prod-callers').inputs).toEqual({
      namePrefix: 'berth-prod-callers-',
      description: 'Berth prod service-name callers',
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      ingress: [],
      egress: [],
      tags: { 'berth:project': 'berth', 'berth:env': 'prod', 'berth:role': 'callers', Name: 'berth-prod-callers' },
    });
    expect(await Promise.all(result.map(valueOf))).toEqual([groupId('prod-callers')]);
  });

  it('opens a group’s TCP services’ host ports, and no other port, to the callers', async () => {
    const { one, ofType, result } = await evaluate(() => {
      const traffic = new EnvironmentTraffic('prod', trafficArgs({ services: [...trafficArgs().services, { name: 'queue' }] }));
      return traffic.hostSecurityGroupIds('data', [
        { name: 'queue', ports: [5672, 15672] },
        { name: 'cache', ports: [6379, 5672] },
      ]);
    });
    expect(ofType('aws:ec2/securityGroup:SecurityGroup').map((group) => group.name)).toEqual(['prod-callers', 'prod-data-tcp', 'prod-edge-lb']);
    const tcp = one('aws:ec2/securityGroup:SecurityGroup', 'prod-data-tcp');
    const callers = groupId('prod-callers');
    expect(tcp.inputs).toEqual({
      namePrefix: 'berth-prod-data-tcp-',
      description: 'Berth prod data TCP services, from the callers',
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      ingress: [
        { description: 'TCP service port 5672 (cache, queue) from the callers', protocol: 'tcp', fromPort: 5672, toPort: 5672, securityGroups: [callers] },
        { description: 'TCP service port 6379 (cache) from the callers', protocol: 'tcp', fromPort: 6379, toPort: 6379, securityGroups: [callers] },
        { description: 'TCP service port 15672 (queue) from the callers', protocol: 'tcp', fromPort: 15672, toPort: 15672, securityGroups: [callers] },
      ],
      egress: [],
      tags: { 'berth:project': 'berth', 'berth:env': 'prod', 'berth:role': 'tcp-services', 'berth:host-group': 'data', Name: 'berth-prod-data-tcp' },
    });
    expect(tcp.propertyDependencies?.ingress).toEqual(['prod-callers']);
    expect(await Promise.all(result.map(valueOf))).toEqual([callers, groupId('prod-data-tcp')]);
  });

  it('declares no callers group when no service publishes a port', async () => {
    const { ofType, result } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs({ services: [] })).hostSecurityGroupIds('app', []));
    expect(ofType('aws:ec2/securityGroup:SecurityGroup')).toEqual([]);
    expect(result).toEqual([]);
  });

  it('refuses a web service as a TCP service, and a host group twice', async () => {
    await expect(evaluate(() => new EnvironmentTraffic('prod', trafficArgs()).hostSecurityGroupIds('app', [{ name: 'api-service', ports: [8080] }]))).rejects.toThrow(
      'prod: hostSecurityGroupIds("app"): "api-service" is not a TCP service of services (a service without web)',
    );
    await expect(
      evaluate(() => {
        const traffic = new EnvironmentTraffic('prod', trafficArgs());
        traffic.hostSecurityGroupIds('app', []);
        traffic.hostSecurityGroupIds('app', []);
      }),
    ).rejects.toThrow('prod: hostSecurityGroupIds("app"): called twice for one host group');
  });
});

describe('EnvironmentTraffic refuses bad input', () => {
  it.each<[string, Partial<EnvironmentTrafficArgs>, string]>([
    ['a route without a certificate', { certificateArn: undefined }, 'prod: certificateArn: required when a service has a route'],
    ['a malformed certificate', { certificateArn: 'arn:aws:acm:eu-west-1:123:certificate/x' }, 'prod: certificateArn: an ACM certificate ARN'],
    ['the internet on an internal load balancer', { ingressCidrs: ['0.0.0.0/0'] }, 'prod: ingressCidrs[0]: an internal load balancer is never open to 0.0.0.0/0'],
    ['one subnet', { subnetIds: ['subnet-0a1b2c3d4e5f60711'] }, 'prod: subnetIds: at least two subnets, in different availability zones (an Application Load Balancer needs two); got 1'],
    ['a route on a TCP service', { services: [{ name: 'cache', route: { paths: ['/'] } }] }, 'prod: services.cache.route: a route needs a web service (give it web)'],
    [
      'two services on one host and path',
      {
        services: [
          { name: 'a', web: { port: 1, healthCheckPath: '/' }, route: { paths: ['/x'] } },
          { name: 'b', web: { port: 2, healthCheckPath: '/' }, route: { paths: ['/x'] } },
        ],
      },
      'prod: services.b.route: host * path /x is already routed to a',
    ],
  ])('%s', async (_, overrides, message) => {
    await expect(evaluate(() => new EnvironmentTraffic('prod', trafficArgs(overrides)))).rejects.toThrow(message);
  });
});

describe('EnvironmentTraffic refuses a VPC where the private zone would never resolve', () => {
  const VPC = 'vpc-0a1b2c3d4e5f60718';

  /**
   * What evaluating the traffic in a VPC with these DNS attributes prints, in a child process: the check fails inside
   * an apply (the zone's `vpcs` waits on it, so a preview fails before the zone exists), and the failure travels as an
   * unhandled rejection, which jest would also report as a failure of the test that asserts on it (see
   * test/fixtures/synth-program-error.ts).
   */
  function evaluatedIn(vpc: OfflineVpcAttributes): { status: number | null; stdout: string; stderr: string } {
    const program = `
      import { EnvironmentTraffic } from './components/traffic/environmentTraffic';
      import { ProgramError } from './tools/offline/evaluate';
      import { evaluate } from './test/support/pulumi';
      evaluate(() => new EnvironmentTraffic('prod', JSON.parse(process.env.BERTH_TRAFFIC_ARGS!)), { vpcs: JSON.parse(process.env.BERTH_VPCS!) }).then(
        ({ runtime, ofType }) => {
          const lookups = runtime.calls.filter((call) => call.token === 'aws:ec2/getVpc:getVpc').map((call) => call.inputs);
          process.stdout.write('lookups: ' + JSON.stringify(lookups) + ' zones: ' + JSON.stringify(ofType('aws:route53/zone:Zone').map((zone) => zone.inputs.vpcs)) + '\\n');
          process.exit(0);
        },
        (error: Error) => {
          process.stdout.write((error instanceof ProgramError ? 'ProgramError' : error.name) + ': ' + error.message + '\\n');
          process.exit(1);
        },
      );`;
    return spawnSync(process.execPath, [require.resolve('tsx/cli'), '--eval', program], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 25000,
      env: { ...process.env, BERTH_TRAFFIC_ARGS: JSON.stringify(trafficArgs()), BERTH_VPCS: JSON.stringify({ [VPC]: vpc }) },
    });
  }

  /** The whole output of a program that fails on the check; the SDK names the input it was serializing, as a real preview prints it. */
  const failure = (message: string) => `ProgramError: the program failed while declaring resources:\nerror serializing property "vpcs": ${message}\n`;

  it('fails on DNS hostnames off (a VPC made through the API), saying how to turn it on', () => {
    expect(evaluatedIn({ enableDnsHostnames: false })).toMatchObject({
      status: 1,
      stdout: failure(
        `prod: vpcId: ${VPC} has DNS hostnames off (enableDnsHostnames): the private hosted zone svc.prod.corp would never resolve there. ` +
          `Turn it on: aws ec2 modify-vpc-attribute --vpc-id ${VPC} --enable-dns-hostnames '{"Value":true}'`,
      ),
    });
  });

  it('fails on DNS resolution off, saying how to turn it on', () => {
    expect(evaluatedIn({ enableDnsSupport: false })).toMatchObject({
      status: 1,
      stdout: failure(
        `prod: vpcId: ${VPC} has DNS resolution off (enableDnsSupport): the private hosted zone svc.prod.corp would never resolve there. ` +
          `Turn it on: aws ec2 modify-vpc-attribute --vpc-id ${VPC} --enable-dns-support '{"Value":true}'`,
      ),
    });
  });

  it('names both when both are off, DNS resolution first (DNS hostnames need it)', () => {
    expect(evaluatedIn({ enableDnsSupport: false, enableDnsHostnames: false })).toMatchObject({
      status: 1,
      stdout: failure(
        `prod: vpcId: ${VPC} has DNS resolution off (enableDnsSupport) and DNS hostnames off (enableDnsHostnames): the private hosted zone svc.prod.corp would never resolve there. ` +
          `Turn them on: aws ec2 modify-vpc-attribute --vpc-id ${VPC} --enable-dns-support '{"Value":true}' && aws ec2 modify-vpc-attribute --vpc-id ${VPC} --enable-dns-hostnames '{"Value":true}'`,
      ),
    });
  });

  it('declares the zone when both are on, the same way in a child process', () => {
    expect(evaluatedIn({ enableDnsSupport: true, enableDnsHostnames: true })).toMatchObject({ status: 0, stdout: `lookups: ${JSON.stringify([{ id: VPC }])} zones: ${JSON.stringify([[{ vpcId: VPC }]])}\n` });
  });

  it('declares the zone in a VPC with both on, after one lookup of that VPC, and no resource or dependency more', async () => {
    const { runtime, one } = await evaluate(() => new EnvironmentTraffic('prod', trafficArgs()), { vpcs: { [VPC]: { enableDnsSupport: true, enableDnsHostnames: true } } });
    expect(runtime.calls.filter((call) => call.token === 'aws:ec2/getVpc:getVpc').map((call) => call.inputs)).toEqual([{ id: VPC }]);
    const zone = one('aws:route53/zone:Zone', 'prod-zone');
    expect(zone.inputs.vpcs).toEqual([{ vpcId: VPC }]);
    expect(zone.propertyDependencies).toBeUndefined();
    expect(zone.options).toBeUndefined();
  });
});

describe('EnvironmentTraffic transform hooks', () => {
  it('hands each resource its args and logical name', async () => {
    const seen: string[] = [];
    const { one } = await evaluate(
      () =>
        new EnvironmentTraffic(
          'prod',
          trafficArgs({
            transform: {
              loadBalancer: (args, _opts, name) => {
                args.idleTimeout = 120;
                seen.push(name);
              },
              targetGroup: (args) => {
                args.slowStart = 30;
              },
            },
          }),
        ),
    );
    expect(seen).toEqual(['prod-edge']);
    expect(one('aws:lb/loadBalancer:LoadBalancer', 'prod-edge').inputs.idleTimeout).toBe(120);
    expect(one('aws:lb/targetGroup:TargetGroup', 'prod-edge-api-service').inputs.slowStart).toBe(30);
  });
});

describe('the environment program', () => {
  async function synth(stack: string, change: (raw: Record<string, any>) => void = () => undefined, catalogue = defaultCatalogue) {
    const raw = JSON.parse(JSON.stringify(readStackFile(stack).config));
    change(raw);
    const config = validateStackConfig(stack, raw, { catalogue });
    return { config, result: await synthConfig(config, raw) };
  }

  it('lets the hosts take service ports from the load balancer, and registers every host of a web service by placement', async () => {
    const { config, result } = await synth('prod', (raw) => {
      raw['berth:services']['api-service'].replicas = 2;
    });
    const byName = (type: string) => new Map(result.resources.filter((resource) => resource.type === type).map((resource) => [resource.name, resource]));
    const appGroup = byName('aws:ec2/securityGroup:SecurityGroup').get('app-hosts')!;
    expect(appGroup.inputs.ingress).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ description: 'service port 8080 from load balancers', fromPort: 8080, toPort: 8080 }),
        expect.objectContaining({ description: 'service port 8081 from load balancers', fromPort: 8081, toPort: 8081 }),
      ]),
    );
    expect(appGroup.propertyDependencies?.ingress).toEqual(['prod-edge-lb']);
    const attachments = [...byName('aws:lb/targetGroupAttachment:TargetGroupAttachment').keys()];
    const expected = config.services
      .filter((service) => service.definition.web)
      .flatMap((service) => placement(config, service).map((index) => `prod-edge-${service.name}-app-${index + 1}`));
    expect(attachments).toEqual(expected.sort());
    expect(attachments.filter((name) => name.startsWith('prod-edge-api-service-'))).toHaveLength(2);
    expect(attachments.filter((name) => name.startsWith('prod-edge-auth-service-'))).toHaveLength(3);
    expect(byName('aws:lb/loadBalancer:LoadBalancer').get('prod-edge')!.inputs.enableDeletionProtection).toBe(true);
  });

  it('lets every host call the service names, and the TCP services on the hosts that run them, through the callers group', async () => {
    // report-worker as a TCP service: it publishes 9100 and has no web.
    const catalogue = { ...defaultCatalogue, 'report-worker': { ...defaultCatalogue['report-worker'], ports: ['9100:9100'] } };
    const { result } = await synth('prod', () => undefined, catalogue);
    const byName = (type: string) => new Map(result.resources.filter((resource) => resource.type === type).map((resource) => [resource.name, resource]));
    const groups = byName('aws:ec2/securityGroup:SecurityGroup');
    const callers = groupId('prod-callers');
    // The internal edge carries the names on HTTP:80.
    expect(groups.get('prod-edge-lb')!.inputs.ingress).toContainEqual({
      description: 'HTTP service names from the callers (the Berth hosts)',
      protocol: 'tcp',
      fromPort: 80,
      toPort: 80,
      securityGroups: [callers],
    });
    expect(groups.get('prod-workers-tcp')!.inputs.ingress).toEqual([
      { description: 'TCP service port 9100 (report-worker) from the callers', protocol: 'tcp', fromPort: 9100, toPort: 9100, securityGroups: [callers] },
    ]);
    // app runs no TCP service: no group of TCP ports for it.
    expect(groups.has('prod-app-tcp')).toBe(false);
    const instances = byName('aws:ec2/instance:Instance');
    expect(instances.get('app-1')!.inputs.vpcSecurityGroupIds).toEqual([groupId('app-hosts'), callers]);
    expect(instances.get('app-1')!.propertyDependencies?.vpcSecurityGroupIds).toEqual(['app-hosts', 'prod-callers']);
    expect(instances.get('workers-1')!.inputs.vpcSecurityGroupIds).toEqual([groupId('workers-hosts'), callers, groupId('prod-workers-tcp')]);
    // No cycle: the callers group names nothing, the load balancers' groups do not name the hosts' groups.
    expect(groups.get('prod-callers')!.propertyDependencies).toBeUndefined();
    expect(groups.get('prod-edge-lb')!.propertyDependencies?.ingress).toEqual(['prod-callers']);
    // berth-no-service-port-from-internet and the other guardrails pass with the new groups.
    expect(await runPoliciesOffline(result)).toEqual([]);
  });

  it('hands each service its update, drain timeout and proxy mode: http for web services, tcp for the others', async () => {
    const catalogue = { ...defaultCatalogue, 'api-service': { ...defaultCatalogue['api-service'], update: 'stop-first' as const, drainSeconds: 120 } };
    const { result } = await synth('dev', () => undefined, catalogue);
    const specOf = (step: string) => JSON.parse(String(result.resources.find((resource) => resource.type === 'command:remote:Command' && resource.name === step)!.inputs.stdin));
    expect(specOf('api-service-app-1')).toMatchObject({ update: 'stop-first', drainSeconds: 120, proxyMode: 'http' });
    expect(specOf('report-worker-workers-1')).toMatchObject({ update: 'stop-first', drainSeconds: 30, proxyMode: 'tcp' });
  });

  it('declares the internet-facing edge and the service-names load balancer from the stack file', async () => {
    const { result } = await synth('stage', (raw) => {
      raw['berth:traffic'].scheme = 'internet-facing';
    });
    const lbs = result.resources.filter((resource) => resource.type === 'aws:lb/loadBalancer:LoadBalancer');
    expect(lbs.map((lb) => [lb.name, lb.inputs.internal])).toEqual([
      ['stage-edge', false],
      ['stage-service-names', true],
    ]);
    const group = result.resources.find((resource) => resource.type === 'aws:ec2/securityGroup:SecurityGroup' && resource.name === 'app-hosts')!;
    expect(group.propertyDependencies?.ingress).toEqual(['stage-edge-lb', 'stage-service-names-lb']);
  });
});

// Keeps `pulumi` imported for the types of the args under test.
void pulumi;
