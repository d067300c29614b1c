/**
 * The traffic a synth declares, as reviewers read it: the markdown summary's
 * Traffic and Warnings sections, and the synth diff's route changes. Inputs are
 * RecordedResources built here the way components/traffic declares them (an
 * internet-facing edge, an internal load balancer for the service names, a
 * TCP service named by its hosts' IPs), so the expected text is exact.
 */
import type { RecordedResource, SynthResult } from '../../tools/offline/types';
import { diffSynth, isEmptyDiff } from '../../tools/review/diff';
import { renderDiffMarkdown, renderDiffText } from '../../tools/review/renderDiff';
import { readStackFile, validateStackConfig } from '../../stacks/env/config';
import { configWarnings, synthConfig } from '../../tools/synth/engine';
import { renderMarkdown } from '../../tools/synth/markdown';
import { trafficOf } from '../../tools/synth/traffic';

const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d';
const NOT_FOUND = [{ type: 'fixed-response', fixedResponse: { contentType: 'text/plain', messageBody: 'not found', statusCode: '404' } }];

interface Fixture {
  apiHosts: string[];
  apiPaths: string[];
  apiPriority: number;
  apiPort: number;
  apiHealthPath: string;
  /** Whether auth-service is a web service (with a service name) at all. */
  auth: boolean;
  cacheIps: string[];
}

const DEFAULTS: Fixture = { apiHosts: ['api.dev.example.com'], apiPaths: ['/api/*'], apiPriority: 1234, apiPort: 8080, apiHealthPath: '/actuator/health', auth: true, cacheIps: ['10.20.1.5', '10.20.2.6'] };

const resource = (type: string, name: string, inputs: Record<string, unknown>, propertyDependencies?: Record<string, string[]>): RecordedResource => ({
  type,
  name,
  parent: 'traffic',
  ...(propertyDependencies ? { propertyDependencies } : {}),
  inputs,
});

const tags = (role: string, service?: string) => ({ 'berth:env': 'dev', 'berth:role': role, ...(service ? { 'berth:service': service } : {}) });

function targetGroup(role: 'edge' | 'service-names', service: string, port: number, healthPath: string): RecordedResource {
  return resource('aws:lb/targetGroup:TargetGroup', `traffic-${role}-${service}`, {
    name: `berth-dev-${role === 'edge' ? 'e' : 'n'}-${service}-1a2b3c4d`,
    port,
    protocol: 'HTTP',
    targetType: 'instance',
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    deregistrationDelay: 30,
    healthCheck: { enabled: true, protocol: 'HTTP', path: healthPath, port: 'traffic-port', matcher: '200-399' },
    tags: tags(role, service),
  });
}

function rule(name: string, role: string, service: string, listener: string, priority: number, hosts: string[], paths: string[]): RecordedResource {
  const conditions = [...(hosts.length ? [{ hostHeader: { values: hosts } }] : []), ...(paths.length ? [{ pathPattern: { values: paths } }] : [])];
  return resource(
    'aws:lb/listenerRule:ListenerRule',
    name,
    { listenerArn: `arn:aws:lb:eu-west-1:123456789012:${listener}`, priority, conditions, actions: [{ type: 'forward', targetGroupArn: `arn:aws:lb:eu-west-1:123456789012:traffic-${role}-${service}` }], tags: tags(role, service) },
    { actions: [`traffic-${role}-${service}`], listenerArn: [listener] },
  );
}

function alias(service: string): RecordedResource {
  return resource(
    'aws:route53/record:Record',
    `traffic-${service}-dns`,
    { zoneId: 'traffic-zone-id', name: `${service}.dev.internal`, type: 'A', aliases: [{ name: 'internal-berth-dev-names.eu-west-1.elb.amazonaws.com', zoneId: 'Z32O12XQLNTSW2', evaluateTargetHealth: true }] },
    { aliases: ['traffic-service-names'], zoneId: ['traffic-zone'] },
  );
}

function traffic(change: Partial<Fixture> = {}, warnings?: string[]): SynthResult {
  const f = { ...DEFAULTS, ...change };
  const resources: RecordedResource[] = [
    resource(
      'aws:lb/loadBalancer:LoadBalancer',
      'traffic-edge',
      { internal: false, loadBalancerType: 'application', accessLogs: { enabled: true, bucket: 'berth-dev-lb-logs-0a1b2c3d', prefix: 'alb' }, enableDeletionProtection: false, tags: tags('edge') },
      { securityGroups: ['traffic-edge-lb'] },
    ),
    resource(
      'aws:lb/loadBalancer:LoadBalancer',
      'traffic-service-names',
      { internal: true, loadBalancerType: 'application', accessLogs: { enabled: true, bucket: 'berth-dev-lb-logs-0a1b2c3d', prefix: 'alb' }, enableDeletionProtection: false, tags: tags('service-names') },
      { securityGroups: ['traffic-service-names-lb'] },
    ),
    resource('aws:lb/listener:Listener', 'traffic-edge-https', { port: 443, protocol: 'HTTPS', certificateArn: CERTIFICATE, defaultActions: NOT_FOUND, tags: tags('edge') }, { loadBalancerArn: ['traffic-edge'] }),
    resource(
      'aws:lb/listener:Listener',
      'traffic-edge-http',
      { port: 80, protocol: 'HTTP', defaultActions: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }], tags: tags('edge') },
      { loadBalancerArn: ['traffic-edge'] },
    ),
    resource('aws:lb/listener:Listener', 'traffic-service-names-http', { port: 80, protocol: 'HTTP', defaultActions: NOT_FOUND, tags: tags('service-names') }, { loadBalancerArn: ['traffic-service-names'] }),
    targetGroup('edge', 'api-service', f.apiPort, f.apiHealthPath),
    targetGroup('service-names', 'api-service', f.apiPort, f.apiHealthPath),
    rule('traffic-edge-api-service', 'edge', 'api-service', 'traffic-edge-https', f.apiPriority, f.apiHosts, f.apiPaths),
    rule('traffic-service-names-api-service-name', 'service-names', 'api-service', 'traffic-service-names-http', 41200, ['api-service.dev.internal'], []),
    alias('api-service'),
    resource(
      'aws:route53/record:Record',
      'traffic-cache-dns',
      { zoneId: 'traffic-zone-id', name: 'cache.dev.internal', type: 'A', ttl: 60, records: f.cacheIps },
      { records: ['app-1', 'app-2'], zoneId: ['traffic-zone'] },
    ),
  ];
  if (f.auth) {
    resources.push(
      targetGroup('service-names', 'auth-service', 8081, '/health'),
      rule('traffic-service-names-auth-service-name', 'service-names', 'auth-service', 'traffic-service-names-http', 38017, ['auth-service.dev.internal'], []),
      alias('auth-service'),
    );
  }
  return { stack: 'dev', ...(warnings ? { warnings } : {}), resources };
}

/** The lines of one `## ` section, from its heading up to the next. */
function section(markdown: string, title: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(`## ${title}`);
  if (start < 0) {
    return [];
  }
  const end = lines.findIndex((line, index) => index > start && line.startsWith('## '));
  return lines.slice(start, end < 0 ? undefined : end);
}

describe('the markdown summary: traffic', () => {
  it("shows the load balancers, each web service's route, target group, health check and DNS name, and each TCP service's record", () => {
    expect(section(renderMarkdown(traffic()), 'Traffic')).toEqual([
      '## Traffic',
      '',
      '| load balancer | role | scheme | listeners | access logs | deletion protection |',
      '| --- | --- | --- | --- | --- | --- |',
      '| traffic-edge | edge | internet-facing | HTTP:80 -> HTTPS, HTTPS:443 | on (berth-dev-lb-logs-0a1b2c3d) | no |',
      '| traffic-service-names | service-names | internal | HTTP:80 | on (berth-dev-lb-logs-0a1b2c3d) | no |',
      '',
      '| service | load balancer | listener | route | priority | target group | health check | deregistration delay | DNS name |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      '| api-service | edge | HTTPS:443 | hosts api.dev.example.com; paths /api/* | 1234 | berth-dev-e-api-service-1a2b3c4d HTTP:8080 | /actuator/health (200-399) | 30 s | api-service.dev.internal |',
      '| api-service | service-names | HTTP:80 | hosts api-service.dev.internal | 41200 | berth-dev-n-api-service-1a2b3c4d HTTP:8080 | /actuator/health (200-399) | 30 s | api-service.dev.internal |',
      '| auth-service | service-names | HTTP:80 | hosts auth-service.dev.internal | 38017 | berth-dev-n-auth-service-1a2b3c4d HTTP:8081 | /health (200-399) | 30 s | auth-service.dev.internal |',
      '',
      '| TCP service | DNS name | record |',
      '| --- | --- | --- |',
      '| cache | cache.dev.internal | A 10.20.1.5, 10.20.2.6 (TTL 60) |',
      '',
    ]);
  });

  it('sits after the per-kind tables and before the count by type', () => {
    const markdown = renderMarkdown(traffic());
    expect(markdown.split('\n').filter((line) => line.startsWith('## '))).toEqual(['## Traffic', '## All resources by type']);
    expect(markdown).toContain('| `aws:lb/targetGroup:TargetGroup` | 3 |');
  });

  it('is the same whatever order the resources come in', () => {
    const result = traffic();
    const reversed = { ...result, resources: [...result.resources].reverse() };
    expect(renderMarkdown(reversed)).toBe(renderMarkdown(result));
  });

  it('shows a route with paths only, several hosts sorted, a load balancer without logs or with deletion protection, and a target group no rule forwards to', () => {
    const result = traffic({ apiHosts: [], apiPaths: ['/v2/*', '/api/*'], auth: false });
    const edge = result.resources.find((r) => r.name === 'traffic-edge')!;
    edge.inputs = { ...edge.inputs, accessLogs: { enabled: false }, enableDeletionProtection: true };
    const names = result.resources.find((r) => r.name === 'traffic-service-names')!;
    names.inputs = { ...names.inputs, accessLogs: { enabled: true } };
    result.resources = result.resources.filter((r) => r.name !== 'traffic-service-names-api-service-name');
    const lines = section(renderMarkdown(result), 'Traffic');
    expect(lines).toContain('| traffic-edge | edge | internet-facing | HTTP:80 -> HTTPS, HTTPS:443 | off | yes |');
    expect(lines).toContain('| traffic-service-names | service-names | internal | HTTP:80 | on (no bucket) | no |');
    expect(lines).toContain('| api-service | edge | HTTPS:443 | paths /api/*, /v2/* | 1234 | berth-dev-e-api-service-1a2b3c4d HTTP:8080 | /actuator/health (200-399) | 30 s | api-service.dev.internal |');
    expect(lines).toContain('| api-service | service-names |  |  |  | berth-dev-n-api-service-1a2b3c4d HTTP:8080 | /actuator/health (200-399) | 30 s | api-service.dev.internal |');
    const several = traffic({ apiHosts: ['www.dev.example.com', 'api.dev.example.com'], apiPaths: [] });
    expect(trafficOf(several.resources).web[0]).toMatchObject({ service: 'api-service', role: 'edge', listener: 'HTTPS:443', hosts: ['api.dev.example.com', 'www.dev.example.com'], paths: [] });
  });

  it('names a bucket the stack declares by its resource, its name being unknown offline', () => {
    const result = traffic();
    const edge = result.resources.find((r) => r.name === 'traffic-edge')!;
    edge.inputs = { ...edge.inputs, accessLogs: { enabled: true, prefix: 'alb' } };
    edge.propertyDependencies = { ...edge.propertyDependencies, accessLogs: ['aws:s3/bucket:Bucket::traffic-access-logs'] };
    result.resources.push(resource('aws:s3/bucket:Bucket', 'traffic-access-logs', { bucketPrefix: 'berth-dev-lb-logs-' }));
    expect(section(renderMarkdown(result), 'Traffic')[4]).toBe('| traffic-edge | edge | internet-facing | HTTP:80 -> HTTPS, HTTPS:443 | on (traffic-access-logs) | no |');
  });

  it("on an internal edge, shows a service's name as its own row on the edge's HTTP listener, and the diff names that route by it", () => {
    const result = traffic({ auth: false });
    result.resources = result.resources.filter((r) => !r.name.startsWith('traffic-service-names'));
    const nameRule = rule('traffic-edge-api-service-name', 'edge', 'api-service', 'traffic-edge-http', 41200, ['api-service.dev.internal'], []);
    result.resources.push(nameRule);
    const edge = result.resources.find((r) => r.name === 'traffic-edge')!;
    edge.inputs = { ...edge.inputs, internal: true };
    expect(section(renderMarkdown(result), 'Traffic').filter((line) => line.startsWith('| api-service '))).toEqual([
      '| api-service | edge | HTTPS:443 | hosts api.dev.example.com; paths /api/* | 1234 | berth-dev-e-api-service-1a2b3c4d HTTP:8080 | /actuator/health (200-399) | 30 s | api-service.dev.internal |',
      '| api-service | edge | HTTP:80 | hosts api-service.dev.internal | 41200 | berth-dev-e-api-service-1a2b3c4d HTTP:8080 | /actuator/health (200-399) | 30 s | api-service.dev.internal |',
    ]);
    const moved = structuredClone(result);
    moved.resources.find((r) => r.name === 'traffic-edge-api-service-name')!.inputs.priority = 41300;
    expect(diffSynth(result, moved).routes).toEqual([{ route: 'api-service via edge HTTP:80', kind: 'changed', field: 'priority', before: '41200', after: '41300' }]);
  });

  it('has no Traffic section for a stack without load balancers or service names', () => {
    const markdown = renderMarkdown({ stack: 'dev', resources: [{ type: 'aws:ebs/volume:Volume', name: 'data', parent: null, inputs: { size: 10, encrypted: true } }] });
    expect(markdown).not.toContain('## Traffic');
  });
});

describe('the markdown summary: warnings', () => {
  it('lists the config warnings, sorted, right under the resource count', () => {
    const markdown = renderMarkdown(
      traffic({}, [
        'Pulumi.dev.yaml: berth:services.report-worker.update: stop-first without a data volume stops the service on every deploy',
        'Pulumi.dev.yaml: berth:services.auth-service.update: stop-first without a data volume stops the service on every deploy',
      ]),
    );
    expect(markdown.split('\n').slice(0, 9)).toEqual([
      '# Stack `dev`',
      '',
      '14 resources.',
      '',
      '## Warnings',
      '',
      '- Pulumi.dev.yaml: berth:services.auth-service.update: stop-first without a data volume stops the service on every deploy',
      '- Pulumi.dev.yaml: berth:services.report-worker.update: stop-first without a data volume stops the service on every deploy',
      '',
    ]);
  });

  it('has no Warnings section without warnings', () => {
    expect(renderMarkdown(traffic({}, []))).not.toContain('## Warnings');
    expect(renderMarkdown(traffic())).not.toContain('## Warnings');
  });

  it("carries the validated config's warnings, sorted, into the synth result, and leaves the key out when there are none", async () => {
    expect(configWarnings({ warnings: ['b: second', 'a: first'] })).toEqual(['a: first', 'b: second']);
    const file = readStackFile('dev');
    const config = validateStackConfig('dev', file.config);
    const warned = await synthConfig({ ...config, warnings: ['Pulumi.dev.yaml: z', 'Pulumi.dev.yaml: a'] }, file.config);
    expect(warned.warnings).toEqual(['Pulumi.dev.yaml: a', 'Pulumi.dev.yaml: z']);
    expect(Object.keys(warned)).toEqual(['stack', 'warnings', 'resources']);
    expect(renderMarkdown(warned)).toContain('## Warnings\n\n- Pulumi.dev.yaml: a\n- Pulumi.dev.yaml: z\n');
    const quiet = await synthConfig({ ...config, warnings: [] }, file.config);
    expect(Object.keys(quiet)).toEqual(['stack', 'resources']);
  });
});

describe('the synth diff: route changes', () => {
  const before = traffic();

  it('calls out a changed host name before the resource diff', () => {
    expect(renderDiffText(diffSynth(before, traffic({ apiHosts: ['api2.dev.example.com'] })), { base: 'origin/main' })).toBe(
      [
        'synth diff dev: origin/main -> working tree',
        '',
        'Route changes:',
        '  api-service: hosts api.dev.example.com -> api2.dev.example.com',
        '',
        'Resources: 0 to add, 0 to remove, 1 to change, 13 unchanged',
        '~ aws:lb/listenerRule:ListenerRule traffic-edge-api-service (update)',
        '    conditions[0].hostHeader.values[0]: "api.dev.example.com" -> "api2.dev.example.com"',
        '',
      ].join('\n'),
    );
  });

  it('names each changed part of a route: paths, priority, target port and health check', () => {
    const diff = diffSynth(before, traffic({ apiPaths: ['/api/*', '/v2/*'], apiPriority: 1300, apiPort: 9090, apiHealthPath: '/ready' }));
    expect(diff.routes.map((change) => `${change.route}: ${change.field} ${change.before} -> ${change.after}`)).toEqual([
      'api-service: paths /api/* -> /api/*, /v2/*',
      'api-service: priority 1234 -> 1300',
      'api-service: target HTTP:8080 -> HTTP:9090',
      'api-service: health check /actuator/health (200-399) -> /ready (200-399)',
      'api-service via service-names HTTP:80: target HTTP:8080 -> HTTP:9090',
      'api-service via service-names HTTP:80: health check /actuator/health (200-399) -> /ready (200-399)',
    ]);
  });

  it('calls out a route added or removed with what it routes', () => {
    const added = renderDiffText(diffSynth(traffic({ auth: false }), before), { base: 'main' }).split('\n');
    expect(added.slice(2, 5)).toEqual([
      'Route changes:',
      '  auth-service via service-names HTTP:80: route added: hosts auth-service.dev.internal; paths (none); priority 38017; target HTTP:8081; health check /health (200-399)',
      '',
    ]);
    const removed = renderDiffText(diffSynth(before, traffic({ auth: false })), { base: 'main' }).split('\n');
    expect(removed[3]).toBe('  auth-service via service-names HTTP:80: route removed: hosts auth-service.dev.internal; paths (none); priority 38017; target HTTP:8081; health check /health (200-399)');
  });

  it('says nothing about routes when only something else changes, e.g. the hosts of a TCP name or a deregistration delay', () => {
    const after = traffic({ cacheIps: ['10.20.1.5'] });
    const group = after.resources.find((r) => r.name === 'traffic-edge-api-service' && r.type === 'aws:lb/targetGroup:TargetGroup')!;
    group.inputs = { ...group.inputs, deregistrationDelay: 60 };
    const diff = diffSynth(before, after);
    expect(diff.routes).toEqual([]);
    expect(diff.changed.map((change) => change.name)).toEqual(['traffic-cache-dns', 'traffic-edge-api-service']);
    expect(renderDiffText(diff, { base: 'main' })).not.toContain('Route changes');
    expect(isEmptyDiff(diffSynth(before, traffic()))).toBe(true);
  });

  it('calls out a route change made in a stack file, synthesised end to end', async () => {
    const file = readStackFile('dev');
    const synth = async (config: Record<string, unknown>) => synthConfig(validateStackConfig('dev', config), config);
    const changed = structuredClone(file.config) as Record<string, any>;
    changed['berth:services']['api-service'].route.hosts = ['api2.dev.example.com'];
    const diff = diffSynth(await synth(file.config), await synth(changed));
    expect(diff.routes).toEqual([{ route: 'api-service', kind: 'changed', field: 'hosts', before: 'api.dev.example.com', after: 'api2.dev.example.com' }]);
    expect(renderDiffText(diff, { base: 'HEAD' }).split('\n').slice(2, 5)).toEqual(['Route changes:', '  api-service: hosts api.dev.example.com -> api2.dev.example.com', '']);
  });

  it('renders the route changes as a list in markdown, before the diff block', () => {
    expect(renderDiffMarkdown(diffSynth(before, traffic({ apiHosts: ['api2.dev.example.com'], apiPriority: 1300 })), { base: 'origin/main' })).toBe(
      [
        '### Synth diff: `dev` (`origin/main` → this change)',
        '',
        '**Route changes**',
        '',
        '- `api-service`: hosts `api.dev.example.com` → `api2.dev.example.com`',
        '- `api-service`: priority `1234` → `1300`',
        '',
        '**Resources: 0 to add, 0 to remove, 1 to change, 13 unchanged**',
        '',
        '```diff',
        '~ aws:lb/listenerRule:ListenerRule traffic-edge-api-service (update)',
        '    conditions[0].hostHeader.values[0]: "api.dev.example.com" -> "api2.dev.example.com"',
        '    priority: 1234 -> 1300',
        '```',
        '',
      ].join('\n'),
    );
  });
});
