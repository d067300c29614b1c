/**
 * berth:traffic, services' routes and the catalogue's traffic fields: every bad input is
 * refused at validation with its file and key; stop-first without a data volume is a warning.
 */
import { catalogue as defaultCatalogue, CatalogueService } from '../../stacks/env/catalogue';
import { validateStackConfig } from '../../stacks/env/config';
import { configOf, errorsOf } from '../support/stackConfig';


/** The real catalogue with one entry changed. */
function catalogueWith(name: string, change: Partial<CatalogueService>): Record<string, CatalogueService> {
  return { ...defaultCatalogue, [name]: { ...defaultCatalogue[name], ...change } };
}

describe('traffic config', () => {
  it('reads the example stacks: routes, lowercased hosts, defaults, deletion protection on in prod', () => {
    const dev = validateStackConfig('dev', configOf('dev'));
    expect(dev.traffic).toEqual({
      scheme: 'internal',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d',
      ingressCidrs: ['10.0.0.0/8'],
      accessLogs: { retentionDays: 30 },
      deletionProtection: false,
      zoneName: 'dev.internal',
    });
    expect(dev.services.map((service) => [service.name, service.route, service.update, service.drainSeconds])).toEqual([
      ['api-service', { hosts: ['api.dev.example.com'], paths: [] }, 'start-first', 30],
      ['auth-service', { hosts: ['api.dev.example.com'], paths: ['/auth/*'] }, 'start-first', 30],
      ['report-worker', undefined, 'stop-first', 30],
    ]);
    expect(dev.services.find((service) => service.name === 'api-service')!.environment.AUTH_URL).toBe('http://auth-service.dev.internal');
    expect(dev.warnings).toEqual([]);
    const prod = validateStackConfig('prod', configOf('prod'));
    expect(prod.traffic.deletionProtection).toBe(true);
    expect(prod.traffic.accessLogs.retentionDays).toBe(90);
  });

  it('applies non-default values: internet-facing, a zone name, retention, deletion protection outside prod, upper-case hosts', () => {
    const raw = configOf('test');
    raw['berth:traffic'] = {
      scheme: 'internet-facing',
      certificateArn: 'arn:aws-us-gov:acm:us-gov-west-1:210987654321:certificate/ffffffff-0000-4111-8222-333333333333',
      ingressCidrs: ['0.0.0.0/0', '::/0'],
      accessLogs: { retentionDays: 400 },
      deletionProtection: true,
      zoneName: 'svc.test.corp',
    };
    raw['berth:services']['api-service'].route = { hosts: ['API.Test.Example.com'], paths: ['/v1/*'] };
    const config = validateStackConfig('test', raw);
    expect(config.traffic).toEqual({
      scheme: 'internet-facing',
      certificateArn: 'arn:aws-us-gov:acm:us-gov-west-1:210987654321:certificate/ffffffff-0000-4111-8222-333333333333',
      ingressCidrs: ['0.0.0.0/0', '::/0'],
      accessLogs: { retentionDays: 400 },
      deletionProtection: true,
      zoneName: 'svc.test.corp',
    });
    expect(config.services.find((service) => service.name === 'api-service')!.route).toEqual({ hosts: ['api.test.example.com'], paths: ['/v1/*'] });
  });

  it('needs no certificate when no service has a route', () => {
    const raw = configOf('stage');
    delete raw['berth:traffic'];
    delete raw['berth:services']['api-service'].route;
    delete raw['berth:services']['auth-service'].route;
    expect(validateStackConfig('stage', raw).traffic).toEqual({ scheme: 'internal', ingressCidrs: [], accessLogs: { retentionDays: 90 }, deletionProtection: false, zoneName: 'stage.internal' });
  });

  it('refuses two services claiming the same host name and path', () => {
    const raw = configOf('prod');
    raw['berth:services']['auth-service'].route = { hosts: ['api.prod.example.com', 'login.prod.example.com'] };
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:services.auth-service.route: host api.prod.example.com and any path already route to api-service; two services cannot claim the same host name and path',
    ]);
    // The same path on the same host, written in another case.
    raw['berth:services']['auth-service'].route = { hosts: ['Auth.Prod.Example.com'], paths: ['/login'] };
    raw['berth:services']['api-service'].route = { hosts: ['auth.prod.example.com'], paths: ['/login', '/v1/*'] };
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:services.auth-service.route: host auth.prod.example.com and path /login already route to api-service; two services cannot claim the same host name and path',
    ]);
  });

  it('refuses a route on a service that publishes no port, and on one that is not a web service', () => {
    const raw = configOf('dev');
    raw['berth:services']['report-worker'].route = { paths: ['/reports/*'] };
    expect(errorsOf('dev', raw)).toEqual([
      'Pulumi.dev.yaml: berth:services.report-worker.route: report-worker publishes no port (stacks/env/catalogue.ts: report-worker.ports), so nothing can route to it',
    ]);
    const catalogue = catalogueWith('api-service', { web: undefined });
    expect(errorsOf('dev', configOf('dev'), { catalogue })).toEqual([
      'Pulumi.dev.yaml: berth:services.api-service.route: api-service is not a web service: give it web (port, healthCheckPath) in stacks/env/catalogue.ts',
    ]);
  });

  it('refuses an empty route, bad host names and paths, and more condition values than one rule takes', () => {
    const raw = configOf('dev');
    raw['berth:services']['api-service'].route = {};
    raw['berth:services']['auth-service'].route = { hosts: ['api..example.com', 'a.example.com', 'b.example.com'], paths: ['auth/*', '/x', '/y'] };
    expect(errorsOf('dev', raw)).toEqual([
      'Pulumi.dev.yaml: berth:services.api-service.route: at least one of hosts or paths',
      'Pulumi.dev.yaml: berth:services.auth-service.route: at most 5 hosts and paths in all (one ALB rule takes 5 condition values); got 6',
      'Pulumi.dev.yaml: berth:services.auth-service.route.hosts[0]: a host name like api.example.com or *.example.com, at most 128 characters; got "api..example.com"',
      'Pulumi.dev.yaml: berth:services.auth-service.route.paths[0]: a path pattern starting with / (e.g. /api/*), at most 128 characters; got "auth/*"',
    ]);
  });

  it.each([
    ['not an ARN', 'certificate-0a1b2c3d'],
    ['another service', 'arn:aws:iam::123456789012:server-certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d'],
    ['an account of 11 digits', 'arn:aws:acm:eu-west-1:12345678901:certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d'],
    ['no region', 'arn:aws:acm::123456789012:certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d'],
    ['a truncated uuid', 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a7b-8c9d'],
  ])('refuses a malformed certificate ARN (%s)', (_, arn) => {
    const raw = configOf('stage');
    raw['berth:traffic'].certificateArn = arn;
    expect(errorsOf('stage', raw)).toEqual([
      `Pulumi.stage.yaml: berth:traffic.certificateArn: an ACM certificate ARN arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>, e.g. arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d; got ${JSON.stringify(arn)}`,
    ]);
  });

  it('requires a certificate and ingress networks once a service has a route', () => {
    const raw = configOf('test');
    delete raw['berth:traffic'];
    expect(errorsOf('test', raw)).toEqual([
      'Pulumi.test.yaml: berth:traffic.certificateArn: required: the ACM certificate of the HTTPS listener, since api-service, auth-service have routes',
      'Pulumi.test.yaml: berth:traffic.ingressCidrs: at least one CIDR that may reach the load balancer, since services have routes',
    ]);
  });

  it('refuses the whole internet on an internal load balancer, and a malformed CIDR', () => {
    const raw = configOf('dev');
    raw['berth:traffic'].ingressCidrs = ['10.0.0.0/8', '0.0.0.0/0', '10.1.2.3/8'];
    expect(errorsOf('dev', raw)).toEqual([
      'Pulumi.dev.yaml: berth:traffic.ingressCidrs[1]: an internal load balancer is never open to 0.0.0.0/0; name the networks that reach it (or set scheme: internet-facing)',
      'Pulumi.dev.yaml: berth:traffic.ingressCidrs[2]: a CIDR block: "10.1.2.3/8" has host bits set; the network is 10.0.0.0/8',
    ]);
  });

  it('refuses turning deletion protection off in prod, and unknown traffic keys', () => {
    const raw = configOf('prod');
    raw['berth:traffic'].deletionProtection = false;
    raw['berth:traffic'].certificate = 'x';
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:traffic: unknown key "certificate"',
      'Pulumi.prod.yaml: berth:traffic.deletionProtection: prod load balancers keep deletion protection on; turn it off by hand (and say why) before removing one',
    ]);
  });

  it('refuses a single subnet once a web service needs a load balancer', () => {
    const raw = configOf('dev');
    raw['berth:network'].subnetIds = ['subnet-0a1b2c3d4e5f60711'];
    expect(errorsOf('dev', raw)).toEqual([
      'Pulumi.dev.yaml: berth:network.subnetIds: at least two subnets, in different availability zones: web services (api-service, auth-service) get an Application Load Balancer, which needs two; got 1',
    ]);
  });

  it.each([
    [-1, 'drainSeconds'],
    [3601, 'drainSeconds'],
    [2.5, 'drainSeconds'],
  ])('refuses a drain timeout of %s s in the catalogue, naming the catalogue file and key', (drainSeconds) => {
    const catalogue = catalogueWith('auth-service', { drainSeconds });
    expect(errorsOf('dev', configOf('dev'), { catalogue })).toEqual([`stacks/env/catalogue.ts: auth-service.drainSeconds: a whole number of seconds from 0 to 3600, got ${drainSeconds}`]);
  });

  it('accepts drain timeouts of 0 and 3600 s and passes them on', () => {
    const catalogue = { ...catalogueWith('auth-service', { drainSeconds: 0 }), 'api-service': { ...defaultCatalogue['api-service'], drainSeconds: 3600 } };
    const config = validateStackConfig('dev', configOf('dev'), { catalogue });
    expect(config.services.map((service) => service.drainSeconds)).toEqual([3600, 0, 30]);
  });

  it('refuses a web port the service does not publish, a bad health path, a bad deregistration delay, an unknown update', () => {
    const catalogue = {
      ...catalogueWith('api-service', { web: { port: 8081, healthCheckPath: 'health', deregistrationDelaySeconds: 4000 } }),
      'auth-service': { ...defaultCatalogue['auth-service'], update: 'rolling' as never },
    };
    expect(errorsOf('dev', configOf('dev'), { catalogue })).toEqual([
      'stacks/env/catalogue.ts: api-service.web.port: one of the service\'s published host ports (8080), got 8081',
      'stacks/env/catalogue.ts: api-service.web.healthCheckPath: a path starting with / (e.g. /actuator/health), got "health"',
      'stacks/env/catalogue.ts: api-service.web.deregistrationDelaySeconds: a whole number of seconds from 0 to 3600, got 4000',
      'stacks/env/catalogue.ts: auth-service.update: start-first or stop-first, got "rolling"',
    ]);
  });

  it('warns about stop-first on a service without a data volume, naming the catalogue file and key', () => {
    const catalogue = catalogueWith('auth-service', { update: 'stop-first', volumes: [] });
    const config = validateStackConfig('dev', configOf('dev'), { catalogue });
    expect(config.warnings).toEqual([
      'stacks/env/catalogue.ts: auth-service.update: stop-first on a service without a data volume: each deploy stops it before the new container is healthy (no request is served meanwhile), with no volume to protect from a second writer; start-first swaps without a gap',
    ]);
    expect(config.services.find((service) => service.name === 'auth-service')!.update).toBe('stop-first');
    // With a data volume (report-worker's spool) stop-first is what it is for: no warning.
    expect(validateStackConfig('dev', configOf('dev')).warnings).toEqual([]);
  });
});
