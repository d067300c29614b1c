/** The traffic decisions, without declaring anything: load balancers, target groups, rule priorities, names. */
import { accessLogBucketPolicy, planTraffic, replaceableName, routeConflicts, rulePriorities, TrafficService } from '../../components/traffic/plan';

const API: TrafficService = { name: 'api-service', web: { port: 8080, healthCheckPath: '/health', deregistrationDelaySeconds: 5 }, route: { hosts: ['API.example.com'] } };
const AUTH: TrafficService = { name: 'auth-service', web: { port: 8081, healthCheckPath: '/actuator/health' }, route: { hosts: ['api.example.com'], paths: ['/auth/*'] } };
const ADMIN: TrafficService = { name: 'admin', web: { port: 9000, healthCheckPath: '/' } };
const CACHE: TrafficService = { name: 'cache' };

describe('planTraffic', () => {
  it('internal: one load balancer carries the routes (HTTPS) and the service names (HTTP:80), one target group per web service', () => {
    const plan = planTraffic([CACHE, AUTH, ADMIN, API], 'internal', 'dev.internal');
    expect(plan.loadBalancers).toEqual([{ role: 'edge', internal: true }]);
    expect(plan.serviceNamesOn).toBe('edge');
    expect(plan.targetGroups).toEqual([
      { role: 'edge', service: 'admin', port: 9000, healthCheckPath: '/', deregistrationDelaySeconds: 30, dynamicPorts: false },
      { role: 'edge', service: 'api-service', port: 8080, healthCheckPath: '/health', deregistrationDelaySeconds: 5, dynamicPorts: false },
      { role: 'edge', service: 'auth-service', port: 8081, healthCheckPath: '/actuator/health', deregistrationDelaySeconds: 30, dynamicPorts: false },
    ]);
    expect(plan.rules.map((rule) => [rule.role, rule.listener, rule.service, rule.hosts, rule.paths])).toEqual([
      ['edge', 'https', 'api-service', ['api.example.com'], []],
      ['edge', 'https', 'auth-service', ['api.example.com'], ['/auth/*']],
      ['edge', 'http', 'admin', ['admin.dev.internal'], []],
      ['edge', 'http', 'api-service', ['api-service.dev.internal'], []],
      ['edge', 'http', 'auth-service', ['auth-service.dev.internal'], []],
    ]);
    expect(plan.aliasNames).toEqual(['admin', 'api-service', 'auth-service']);
    expect(plan.hostNames).toEqual(['cache']);
  });

  it('internet-facing: a second, internal load balancer for the names, with target groups of its own', () => {
    const plan = planTraffic([API, ADMIN], 'internet-facing', 'prod.internal');
    expect(plan.loadBalancers).toEqual([
      { role: 'edge', internal: false },
      { role: 'service-names', internal: true },
    ]);
    expect(plan.serviceNamesOn).toBe('service-names');
    expect(plan.targetGroups.map((group) => [group.role, group.service])).toEqual([
      ['edge', 'api-service'],
      ['service-names', 'admin'],
      ['service-names', 'api-service'],
    ]);
    expect(plan.rules.map((rule) => [rule.role, rule.listener, rule.service])).toEqual([
      ['edge', 'https', 'api-service'],
      ['service-names', 'http', 'admin'],
      ['service-names', 'http', 'api-service'],
    ]);
  });

  it('no route: no edge, the names on an internal load balancer; no web service: no load balancer at all', () => {
    expect(planTraffic([ADMIN], 'internal', 'dev.internal').loadBalancers).toEqual([{ role: 'service-names', internal: true }]);
    const tcpOnly = planTraffic([CACHE], 'internet-facing', 'dev.internal');
    expect(tcpOnly.loadBalancers).toEqual([]);
    expect(tcpOnly.serviceNamesOn).toBeUndefined();
    expect(tcpOnly.hostNames).toEqual(['cache']);
  });
});

describe('rule priorities', () => {
  const routes = (names: string[]) => names.map((name) => ({ name, route: { hosts: [`${name}.example.com`] } }));

  it('tries host-and-path rules before path-only before host-only', () => {
    const priorities = rulePriorities([
      { name: 'a', route: { hosts: ['x.example.com'] } },
      { name: 'b', route: { paths: ['/b/*'] } },
      { name: 'c', route: { hosts: ['x.example.com'], paths: ['/c/*'] } },
    ]);
    expect(priorities.get('c')!).toBeGreaterThanOrEqual(1);
    expect(priorities.get('c')!).toBeLessThanOrEqual(19999);
    expect(priorities.get('b')!).toBeGreaterThanOrEqual(20000);
    expect(priorities.get('b')!).toBeLessThanOrEqual(34999);
    expect(priorities.get('a')!).toBeGreaterThanOrEqual(35000);
    expect(priorities.get('a')!).toBeLessThanOrEqual(50000);
  });

  it('never moves another rule when a service is inserted in the middle, added at the end or removed', () => {
    const before = rulePriorities(routes(['api', 'billing', 'web']));
    const inserted = rulePriorities(routes(['api', 'auth', 'billing', 'web']));
    const appended = rulePriorities(routes(['api', 'billing', 'web', 'zeta']));
    const removed = rulePriorities(routes(['api', 'web']));
    for (const name of ['api', 'billing', 'web']) {
      expect(inserted.get(name)).toBe(before.get(name));
      expect(appended.get(name)).toBe(before.get(name));
    }
    expect(removed.get('api')).toBe(before.get('api'));
    expect(removed.get('web')).toBe(before.get('web'));
  });

  it('gives every rule of a listener a distinct priority, even when names hash alike', () => {
    const names = Array.from({ length: 400 }, (_, index) => `svc-${index}`);
    const priorities = rulePriorities(routes(names));
    expect(new Set(priorities.values()).size).toBe(400);
  });

  it('is the same for the same names whatever order they come in', () => {
    expect([...rulePriorities(routes(['b', 'a', 'c'])).entries()].sort()).toEqual([...rulePriorities(routes(['c', 'b', 'a'])).entries()].sort());
  });
});

describe('route conflicts', () => {
  it('finds the same host and path claimed twice, any host and any path included', () => {
    expect(
      routeConflicts([
        { name: 'a', route: { paths: ['/x'] } },
        { name: 'b', route: { hosts: ['h.example.com'], paths: ['/x'] } },
        { name: 'c', route: { paths: ['/x', '/y'] } },
      ]),
    ).toEqual([{ service: 'c', other: 'a', host: '*', path: '/x' }]);
  });
});

describe('replaceableName', () => {
  it('fits 32 characters and changes with the inputs that replace the resource', () => {
    const name = replaceableName('berth-stage-n-a-service-with-a-long-name', [8080, 'HTTP', 'instance', 'vpc-1']);
    expect(name.length).toBeLessThanOrEqual(32);
    expect(name).toMatch(/^berth-stage-n-a-service-[0-9a-f]{8}$/);
    expect(replaceableName('berth-dev-e-api', [8080, 'HTTP', 'instance', 'vpc-1'])).not.toBe(replaceableName('berth-dev-e-api', [8081, 'HTTP', 'instance', 'vpc-1']));
    expect(replaceableName('berth-dev-e-api', [8080, 'HTTP', 'instance', 'vpc-1'])).toBe(replaceableName('berth-dev-e-api', [8080, 'HTTP', 'instance', 'vpc-1']));
  });

  it('never names two bases alike when their cut heads are the same: the whole base is hashed', () => {
    const inputs = [8080, 'HTTP', 'instance', 'vpc-0a1b2c3d4e5f60718', true];
    const gateway = replaceableName('berth-prod-e-payment-gateway', inputs);
    const admin = replaceableName('berth-prod-e-payment-gateway-admin', inputs);
    // With only the inputs hashed, both were berth-prod-e-payment-ga-6c7952a7. The suffix is sha256 of
    // ["<base>",8080,"HTTP","instance","vpc-…",true] (checked with sha256sum): pinned, because a new hashed
    // form renames, i.e. replaces, every target group and load balancer.
    expect(gateway).toBe('berth-prod-e-payment-ga-8cfcfa08');
    expect(admin).toBe('berth-prod-e-payment-ga-43f7ea94');
    // Load balancers: env names of up to 48 characters are cut the same way.
    expect(replaceableName('berth-customer-acceptance-eu-a-edge', [true])).not.toBe(replaceableName('berth-customer-acceptance-eu-b-edge', [true]));
  });
});

describe('accessLogBucketPolicy', () => {
  const bucketArn = 'arn:aws:s3:::berth-prod-lb-logs-0a1b2c3d';
  const tlsOnly = {
    Sid: 'TlsOnly',
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:*',
    Resource: ['arn:aws:s3:::berth-prod-lb-logs-0a1b2c3d', 'arn:aws:s3:::berth-prod-lb-logs-0a1b2c3d/*'],
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  };
  const resources = ['arn:aws:s3:::berth-prod-lb-logs-0a1b2c3d/alb/edge/AWSLogs/123456789012/*', 'arn:aws:s3:::berth-prod-lb-logs-0a1b2c3d/alb/service-names/AWSLogs/123456789012/*'];

  it('in a Region opened before August 2022, lets the Region’s ELB account deliver too', () => {
    expect(JSON.parse(accessLogBucketPolicy({ bucketArn, prefixes: ['alb/service-names', 'alb/edge'], accountId: '123456789012', region: 'us-east-1' }))).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'ElbLogDelivery', Effect: 'Allow', Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' }, Action: 's3:PutObject', Resource: resources },
        { Sid: 'ElbRegionalAccountLogDelivery', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::127311923021:root' }, Action: 's3:PutObject', Resource: resources },
        tlsOnly,
      ],
    });
  });

  it('names the ELB account in its partition (GovCloud)', () => {
    const policy = JSON.parse(accessLogBucketPolicy({ bucketArn, prefixes: ['alb/edge'], accountId: '123456789012', region: 'us-gov-west-1' }));
    expect(policy.Statement[1]).toEqual({
      Sid: 'ElbRegionalAccountLogDelivery',
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws-us-gov:iam::048591011584:root' },
      Action: 's3:PutObject',
      Resource: ['arn:aws:s3:::berth-prod-lb-logs-0a1b2c3d/alb/edge/AWSLogs/123456789012/*'],
    });
  });

  it('in a Region opened since August 2022, lets only the service principal deliver', () => {
    expect(JSON.parse(accessLogBucketPolicy({ bucketArn, prefixes: ['alb/edge', 'alb/service-names'], accountId: '123456789012', region: 'ap-southeast-4' }))).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'ElbLogDelivery', Effect: 'Allow', Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' }, Action: 's3:PutObject', Resource: resources }, tlsOnly],
    });
  });
});
