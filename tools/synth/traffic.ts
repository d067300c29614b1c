/**
 * How traffic reaches each service, read back from what a synth recorded: the
 * load balancers and their listeners, per web service and load balancer its
 * route (listener rule), target group and DNS name, and the TCP services' host
 * records. The markdown summary (./markdown) renders it; the synth diff
 * (../review/diff) compares it between two synths to call out route changes.
 * Pure, and sorted: the same resources always read the same.
 *
 * Resources are matched as components/traffic declares them: target groups and
 * listener rules carry the tags `berth:role` (the load balancer: `edge` or
 * `service-names`) and `berth:service`; a service's DNS name is a Route 53
 * record `<service>.<zone>` (an alias for a web service, A records of its hosts'
 * IPs for a TCP one).
 */
import { compareStrings, isRecord } from '../../components/common/records';
import type { RecordedResource } from '../offline/types';

export const TRAFFIC_TYPES = {
  loadBalancer: 'aws:lb/loadBalancer:LoadBalancer',
  listener: 'aws:lb/listener:Listener',
  listenerRule: 'aws:lb/listenerRule:ListenerRule',
  targetGroup: 'aws:lb/targetGroup:TargetGroup',
  record: 'aws:route53/record:Record',
} as const;

export const ROLE_TAG = 'berth:role';
export const SERVICE_TAG = 'berth:service';

export interface BalancerRow {
  name: string;
  role: string;
  scheme: 'internal' | 'internet-facing';
  /** `HTTPS:443`, `HTTP:80 -> HTTPS`, by port. */
  listeners: string[];
  /** `on (<bucket>)` (its name, or the bucket resource's), `on (no bucket)` or `off`. */
  accessLogs: string;
  deletionProtection: boolean;
}

/**
 * One web service's route on one listener: the listener rule(s) there that
 * forward to one of its target groups. A target group no rule forwards to yet
 * is a route with no listener.
 */
export interface WebRoute {
  service: string;
  /** The load balancer's role (`edge`, `service-names`). */
  role: string;
  /** The rules' listener, `HTTPS:443` or `HTTP:80`; empty when no rule forwards here. */
  listener: string;
  hosts: string[];
  paths: string[];
  priorities: number[];
  targetGroup: string;
  port: number | string;
  protocol: string;
  healthCheckPath: string;
  healthCheckMatcher: string;
  deregistrationDelay?: number | string;
  /** The service's names in the private zone. */
  dnsNames: string[];
}

export interface TcpName {
  service: string;
  dnsName: string;
  /** `A 10.20.1.2, 10.20.3.4 (TTL 60)`. */
  record: string;
}

export interface Traffic {
  balancers: BalancerRow[];
  web: WebRoute[];
  tcp: TcpName[];
}

function tag(resource: RecordedResource, key: string): string | undefined {
  const tags = resource.inputs.tags;
  return isRecord(tags) && typeof tags[key] === 'string' ? tags[key] : undefined;
}

function text(value: unknown): string {
  return value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
}

/** Whether `resource` names `target` in its propertyDependencies for `property` (by name, or `type::name`). */
function dependsOn(resource: RecordedResource, property: string, target: RecordedResource): boolean {
  const references = resource.propertyDependencies?.[property] ?? [];
  return references.includes(target.name) || references.includes(`${target.type}::${target.name}`);
}

/** `HTTPS:443`: what a route names its listener by. */
function listenerKey(listener: RecordedResource): string {
  const protocol = typeof listener.inputs.protocol === 'string' ? listener.inputs.protocol.toUpperCase() : 'HTTP';
  return `${protocol}:${text(listener.inputs.port)}`;
}

/** `HTTP:80 -> HTTPS` for a listener that redirects, else its key. */
function listenerText(listener: RecordedResource): string {
  const actions = Array.isArray(listener.inputs.defaultActions) ? (listener.inputs.defaultActions as Record<string, any>[]) : [];
  const redirect = actions.find((action) => action?.type === 'redirect')?.redirect;
  return `${listenerKey(listener)}${redirect ? ` -> ${text(redirect.protocol ?? '#{protocol}').toUpperCase()}` : ''}`;
}

const BUCKET_TYPES = ['aws:s3/bucket:Bucket', 'aws:s3/bucketV2:BucketV2'];

/**
 * The access-log bucket: its name, or (a bucket this stack declares, whose
 * name is an output not known offline) the bucket resource's logical name.
 */
function accessLogBucket(lb: RecordedResource, logs: Record<string, any>, resources: RecordedResource[]): string | undefined {
  if (typeof logs.bucket === 'string' && logs.bucket !== '') {
    return logs.bucket;
  }
  return resources.find((resource) => BUCKET_TYPES.includes(resource.type) && dependsOn(lb, 'accessLogs', resource))?.name;
}

function conditionValues(rule: RecordedResource, kind: 'hostHeader' | 'pathPattern'): string[] {
  const conditions = Array.isArray(rule.inputs.conditions) ? (rule.inputs.conditions as Record<string, any>[]) : [];
  return conditions.flatMap((condition) => (Array.isArray(condition?.[kind]?.values) ? condition[kind].values.map(text) : []));
}

/** `api-service.dev.internal` -> `api-service`: a record's service is its first label. */
function recordService(record: RecordedResource): string {
  return text(record.inputs.name).split('.')[0];
}

const sortedUnique = (values: string[]) => [...new Set(values)].sort(compareStrings);

/** Everything the stack declares about traffic, sorted by load balancer, then service and role. */
export function trafficOf(resources: RecordedResource[]): Traffic {
  const ofType = (type: string) => resources.filter((resource) => resource.type === type);
  const listeners = ofType(TRAFFIC_TYPES.listener);
  const rules = ofType(TRAFFIC_TYPES.listenerRule);
  const records = ofType(TRAFFIC_TYPES.record);

  const balancers = ofType(TRAFFIC_TYPES.loadBalancer)
    .map((lb): BalancerRow => {
      const role = tag(lb, ROLE_TAG) ?? '';
      // A listener names its load balancer through loadBalancerArn; failing that, by the role they share.
      const own = listeners.filter((listener) => dependsOn(listener, 'loadBalancerArn', lb) || (!listener.propertyDependencies?.loadBalancerArn && role !== '' && tag(listener, ROLE_TAG) === role));
      const logs = isRecord(lb.inputs.accessLogs) ? lb.inputs.accessLogs : {};
      return {
        name: lb.name,
        role,
        scheme: lb.inputs.internal === true ? 'internal' : 'internet-facing',
        listeners: own
          .sort((a, b) => Number(a.inputs.port) - Number(b.inputs.port) || compareStrings(a.name, b.name))
          .map(listenerText),
        accessLogs: logs.enabled === true ? `on (${accessLogBucket(lb, logs, resources) ?? 'no bucket'})` : 'off',
        deletionProtection: lb.inputs.enableDeletionProtection === true,
      };
    })
    .sort((a, b) => compareStrings(a.name, b.name));

  const aliasNames = (service: string) =>
    sortedUnique(records.filter((record) => Array.isArray(record.inputs.aliases) && record.inputs.aliases.length > 0 && recordService(record) === service).map((record) => text(record.inputs.name)));

  const listenerOf = (rule: RecordedResource) => listeners.find((listener) => dependsOn(rule, 'listenerArn', listener));
  const web = ofType(TRAFFIC_TYPES.targetGroup)
    .filter((group) => tag(group, SERVICE_TAG) !== undefined)
    .flatMap((group): WebRoute[] => {
      const service = tag(group, SERVICE_TAG)!;
      const role = tag(group, ROLE_TAG) ?? '';
      // A rule forwards to the target group its actions name; failing that, the one its tags name.
      const forwarding = rules.filter((rule) =>
        rule.propertyDependencies?.actions ? dependsOn(rule, 'actions', group) : tag(rule, SERVICE_TAG) === service && (tag(rule, ROLE_TAG) ?? '') === role,
      );
      const byListener = new Map<string, RecordedResource[]>();
      for (const rule of forwarding) {
        const listener = listenerOf(rule);
        const key = listener ? listenerKey(listener) : '';
        byListener.set(key, [...(byListener.get(key) ?? []), rule]);
      }
      if (byListener.size === 0) {
        byListener.set('', []);
      }
      const health = isRecord(group.inputs.healthCheck) ? group.inputs.healthCheck : {};
      const delay = group.inputs.deregistrationDelay;
      return [...byListener.entries()].map(([listener, own]) => ({
        service,
        role,
        listener,
        hosts: sortedUnique(own.flatMap((rule) => conditionValues(rule, 'hostHeader'))),
        paths: sortedUnique(own.flatMap((rule) => conditionValues(rule, 'pathPattern'))),
        priorities: own.map((rule) => Number(rule.inputs.priority)).filter((priority) => !Number.isNaN(priority)).sort((a, b) => a - b),
        targetGroup: text(group.inputs.name) || group.name,
        port: typeof group.inputs.port === 'number' ? group.inputs.port : text(group.inputs.port),
        protocol: text(group.inputs.protocol) || 'HTTP',
        healthCheckPath: text(health.path) || '/',
        healthCheckMatcher: text(health.matcher) || '200',
        ...(delay === undefined ? {} : { deregistrationDelay: typeof delay === 'number' ? delay : text(delay) }),
        dnsNames: aliasNames(service),
      }));
    })
    .sort((a, b) => compareStrings(a.service, b.service) || compareStrings(a.role, b.role) || compareStrings(b.listener, a.listener));

  const tcp = records
    .filter((record) => Array.isArray(record.inputs.records))
    .map((record): TcpName => {
      const ttl = record.inputs.ttl === undefined ? '' : ` (TTL ${text(record.inputs.ttl)})`;
      return { service: recordService(record), dnsName: text(record.inputs.name), record: `${text(record.inputs.type)} ${(record.inputs.records as unknown[]).map(text).join(', ')}${ttl}` };
    })
    .sort((a, b) => compareStrings(a.service, b.service) || compareStrings(a.dnsName, b.dnsName));

  return { balancers, web, tcp };
}
