/**
 * What an environment's traffic looks like, decided without declaring anything:
 * which load balancers exist, which target groups and listener rules each has
 * (with their priorities), which service names point where, and the security
 * documents (the access-log bucket policy, the load balancers' ingress). Pure
 * functions with their own tests (test/unit/traffic-plan.test.ts); the component
 * (./environmentTraffic) only composes what they return, and config validation
 * (stacks/env/config/validate.ts) uses the same rules to refuse bad input early.
 */
import { createHash } from 'crypto';
import { compareStrings } from '../common/records';
import { parseCidr } from '../host/validate';

export type LoadBalancerScheme = 'internal' | 'internet-facing';

/** Which job a load balancer does: `edge` carries the routes, `service-names` the names services call each other by. */
export type LoadBalancerRole = 'edge' | 'service-names';

/** A modern TLS policy: TLS 1.3 and 1.2 with forward-secret ciphers only. */
export const TLS_POLICY = 'ELBSecurityPolicy-TLS13-1-2-2021-06';

/** The prefix of all access logs in their bucket, expired by its lifecycle rule. */
export const ACCESS_LOG_PREFIX = 'alb';

/** A load balancer's log prefix, `alb/<role>`; the load balancer adds `AWSLogs/<account>/…` after it. */
export function accessLogPrefix(role: LoadBalancerRole): string {
  return `${ACCESS_LOG_PREFIX}/${role}`;
}

/** ALB listener rule priorities run from 1 to 50000. */
export const MAX_RULE_PRIORITY = 50000;

/** An ALB rule takes at most five condition values in all (AWS quota "condition values per rule"). */
export const MAX_ROUTE_VALUES = 5;

/** A web service, reached over HTTP on one host port through the load balancer. */
export interface WebEndpoint {
  /** One of the service's published host ports. */
  port: number;
  /** Path the target group's health check requests. */
  healthCheckPath: string;
  /** Seconds a deregistering target keeps its in-flight requests. @default 30 */
  deregistrationDelaySeconds?: number;
}

/** Host names and/or path patterns the edge load balancer routes to a service (at least one of them). */
export interface ServiceRoute {
  hosts?: string[];
  paths?: string[];
}

/** A service that publishes ports: a web service (with `web`), or a TCP one (without). */
export interface TrafficService {
  name: string;
  web?: WebEndpoint;
  /** Only for a web service. */
  route?: ServiceRoute;
  /**
   * Some of its targets are ECS tasks, which listen on dynamic host ports (ECS_DYNAMIC_HOST_PORTS)
   * rather than on `web.port`: the load balancers may reach that range too. Only for a web service.
   * @default false
   */
  dynamicPorts?: boolean;
}

export interface TargetGroupPlan {
  role: LoadBalancerRole;
  service: string;
  port: number;
  healthCheckPath: string;
  deregistrationDelaySeconds: number;
  /** ECS tasks register on dynamic host ports. */
  dynamicPorts: boolean;
}

export interface RulePlan {
  role: LoadBalancerRole;
  /** `https` on the edge (routes), `http` on the load balancer that carries the service names. */
  listener: 'https' | 'http';
  service: string;
  priority: number;
  hosts: string[];
  paths: string[];
}

export interface TrafficPlan {
  /** The load balancers, edge first. */
  loadBalancers: { role: LoadBalancerRole; internal: boolean }[];
  /** The load balancer whose HTTP:80 listener answers `<service>.<zone>`; undefined without web services. */
  serviceNamesOn?: LoadBalancerRole;
  targetGroups: TargetGroupPlan[];
  rules: RulePlan[];
  /** Web services whose name is an alias of the service-names load balancer. */
  aliasNames: string[];
  /** TCP services whose name lists their hosts' private IPs. */
  hostNames: string[];
}

export const DEFAULT_DEREGISTRATION_DELAY_SECONDS = 30;

/**
 * Decides the load balancers, target groups and rules:
 * - an `edge` load balancer when any service has a route (HTTPS routes, HTTP redirected);
 * - service names on the edge's HTTP:80 listener when the edge is internal; otherwise (an
 *   internet-facing edge, or no edge at all) on a second, internal load balancer
 *   `service-names`, with target groups of its own: a target group serves one load
 *   balancer only (ELB docs, "Target groups for your Application Load Balancers");
 * - one target group per web service on each load balancer that forwards to it;
 * - TCP services (no `web`) get a name listing their hosts.
 * Web services are named `<service>.<zoneName>` on the service-names listener.
 * Everything is sorted by service name.
 */
export function planTraffic(services: TrafficService[], scheme: LoadBalancerScheme, zoneName: string): TrafficPlan {
  const sorted = [...services].sort((a, b) => compareStrings(a.name, b.name));
  const web = sorted.filter((service) => service.web);
  const routed = web.filter((service) => service.route);
  const hasEdge = routed.length > 0;
  const namesOn: LoadBalancerRole | undefined = web.length === 0 ? undefined : hasEdge && scheme === 'internal' ? 'edge' : 'service-names';
  const loadBalancers: TrafficPlan['loadBalancers'] = [];
  if (hasEdge) {
    loadBalancers.push({ role: 'edge', internal: scheme === 'internal' });
  }
  if (namesOn === 'service-names') {
    loadBalancers.push({ role: 'service-names', internal: true });
  }
  const targetGroup = (role: LoadBalancerRole, service: TrafficService): TargetGroupPlan => ({
    role,
    service: service.name,
    port: service.web!.port,
    healthCheckPath: service.web!.healthCheckPath,
    deregistrationDelaySeconds: service.web!.deregistrationDelaySeconds ?? DEFAULT_DEREGISTRATION_DELAY_SECONDS,
    dynamicPorts: service.dynamicPorts ?? false,
  });
  const targetGroups: TargetGroupPlan[] = [];
  const rules: RulePlan[] = [];
  if (hasEdge) {
    // On an internal edge every web service needs an edge target group (for its name), routed or not.
    for (const service of namesOn === 'edge' ? web : routed) {
      targetGroups.push(targetGroup('edge', service));
    }
    const priorities = rulePriorities(routed.map((service) => ({ name: service.name, route: service.route! })));
    for (const service of routed) {
      rules.push({ role: 'edge', listener: 'https', service: service.name, priority: priorities.get(service.name)!, hosts: normalHosts(service.route!.hosts), paths: [...(service.route!.paths ?? [])] });
    }
  }
  if (namesOn === 'service-names') {
    for (const service of web) {
      targetGroups.push(targetGroup('service-names', service));
    }
  }
  if (namesOn) {
    // A name rule has one exact host condition: all of them fall in the same band.
    const priorities = rulePriorities(web.map((service) => ({ name: service.name, route: { hosts: ['name'] } })));
    for (const service of web) {
      rules.push({ role: namesOn, listener: 'http', service: service.name, priority: priorities.get(service.name)!, hosts: [serviceHostName(service.name, zoneName)], paths: [] });
    }
  }
  return {
    loadBalancers,
    serviceNamesOn: namesOn,
    targetGroups,
    rules,
    aliasNames: web.map((service) => service.name),
    hostNames: sorted.filter((service) => !service.web).map((service) => service.name),
  };
}

/**
 * Listener rule priorities (lower wins), chosen so that adding, removing or
 * renaming one service never changes another service's rule:
 *
 * - The band says what is tried first: rules with both a host and a path
 *   condition (1–19999), then path-only rules (20000–34999), then host-only
 *   rules (35000–50000), so `api.example.com` + `/auth/*` is tried before
 *   `api.example.com` alone.
 * - Within its band a rule's priority is taken from a hash of its service's
 *   name, nothing else. (Numbering services in name order would shift every
 *   later rule when a service is inserted: the preview would show updates of
 *   rules that did not change, and ALB refuses two rules with one priority,
 *   so an insert races the create of the new rule against the renumbering of
 *   the old, and a removal moves a rule onto the priority of a rule whose
 *   delete the engine runs only at the end: that `up` fails, every time.)
 * - Two names that hash to the same priority (about 1 in 15000 per pair): the
 *   one later in name order takes the next free priority of its band. Only
 *   then does one rule depend on another's presence.
 *
 * Overlapping patterns of the same kind (`/api/*` and `/api/admin/*`) are not
 * ordered by this rule; give them distinct host names or paths.
 */
export function rulePriorities(routes: { name: string; route: ServiceRoute }[]): Map<string, number> {
  const taken = new Set<number>();
  const priorities = new Map<string, number>();
  for (const { name, route } of [...routes].sort((a, b) => compareStrings(a.name, b.name))) {
    const [low, high] = priorityBand(route);
    const size = high - low + 1;
    let offset = parseInt(createHash('sha256').update(name).digest('hex').slice(0, 8), 16) % size;
    while (taken.has(low + offset)) {
      offset = (offset + 1) % size;
    }
    taken.add(low + offset);
    priorities.set(name, low + offset);
  }
  return priorities;
}

function priorityBand(route: ServiceRoute): [number, number] {
  const hosts = (route.hosts ?? []).length > 0;
  const paths = (route.paths ?? []).length > 0;
  return hosts && paths ? [1, 19999] : paths ? [20000, 34999] : [35000, MAX_RULE_PRIORITY];
}

/** Host names compare case-insensitively (ALB matches host headers so). */
function normalHosts(hosts: string[] | undefined): string[] {
  return (hosts ?? []).map((host) => host.toLowerCase());
}

/** Every (host, path) pair a route claims; `*` stands for any host or any path. */
export function routeClaims(route: ServiceRoute): string[] {
  const hosts = normalHosts(route.hosts);
  const paths = route.paths ?? [];
  return (hosts.length ? hosts : ['*']).flatMap((host) => (paths.length ? paths : ['*']).map((path) => `${host} ${path}`));
}

/** Pairs of services that claim the same host name and path, each pair once, sorted. */
export function routeConflicts(routes: { name: string; route: ServiceRoute }[]): { service: string; other: string; host: string; path: string }[] {
  const owners = new Map<string, string>();
  const conflicts: { service: string; other: string; host: string; path: string }[] = [];
  for (const { name, route } of [...routes].sort((a, b) => compareStrings(a.name, b.name))) {
    for (const claim of routeClaims(route)) {
      const owner = owners.get(claim);
      const [host, path] = claim.split(' ');
      if (owner === undefined) {
        owners.set(claim, name);
      } else if (owner !== name) {
        conflicts.push({ service: name, other: owner, host, path });
      }
    }
  }
  return conflicts;
}

const HOST_PATTERN = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
const PATH_PATTERN = /^\/[A-Za-z0-9_\-.$/~"'@:+*?&=%]*$/;

/** What is wrong with a route's shape, each problem as `[key under the route, message]`. */
export function routeProblems(route: ServiceRoute): [string, string][] {
  const problems: [string, string][] = [];
  const hosts = route.hosts ?? [];
  const paths = route.paths ?? [];
  if (hosts.length === 0 && paths.length === 0) {
    problems.push(['', 'at least one of hosts or paths']);
  }
  if (hosts.length + paths.length > MAX_ROUTE_VALUES) {
    problems.push(['', `at most ${MAX_ROUTE_VALUES} hosts and paths in all (one ALB rule takes ${MAX_ROUTE_VALUES} condition values); got ${hosts.length + paths.length}`]);
  }
  hosts.forEach((host, index) => {
    if (host.length > 128 || !HOST_PATTERN.test(host)) {
      problems.push([`hosts[${index}]`, `a host name like api.example.com or *.example.com, at most 128 characters; got ${JSON.stringify(host)}`]);
    }
  });
  paths.forEach((path, index) => {
    if (path.length > 128 || !PATH_PATTERN.test(path)) {
      problems.push([`paths[${index}]`, `a path pattern starting with / (e.g. /api/*), at most 128 characters; got ${JSON.stringify(path)}`]);
    }
  });
  return problems;
}

/** `arn:<partition>:acm:<region>:<12 digits>:certificate/<uuid>`. */
export const CERTIFICATE_ARN_PATTERN = /^arn:aws[a-z-]*:acm:[a-z]{2}(?:-gov)?-[a-z]+-\d:\d{12}:certificate\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function certificateArnProblem(arn: string): string | undefined {
  return CERTIFICATE_ARN_PATTERN.test(arn)
    ? undefined
    : `an ACM certificate ARN arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>, e.g. arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d; got ${JSON.stringify(arn)}`;
}

/**
 * Who may reach the edge: named networks. The whole internet (0.0.0.0/0, ::/0)
 * only for an internet-facing load balancer, where it is the point; an internal
 * one is reached from inside the VPC and its peers, and "anyone who can route to
 * it" is then a mistake, not a policy. Returns `[index, message]` pairs.
 */
export function ingressCidrProblems(scheme: LoadBalancerScheme, cidrs: string[]): [number, string][] {
  const problems: [number, string][] = [];
  cidrs.forEach((text, index) => {
    const cidr = parseCidr(text);
    if ('error' in cidr) {
      problems.push([index, `a CIDR block: ${cidr.error}`]);
    } else if (cidr.isAnyAddress && scheme !== 'internet-facing') {
      problems.push([index, `an internal load balancer is never open to ${text}; name the networks that reach it (or set scheme: internet-facing)`]);
    }
  });
  return problems;
}

/**
 * The Elastic Load Balancing account that delivers access logs in each Region
 * opened before August 2022 (ELB User Guide, "Enable access logs for your
 * Application Load Balancer", step 2, the policy for those Regions; the same
 * table as the AWS CDK's region facts and the provider's `aws.elb.getServiceAccount`).
 * Regions opened since then are not in it: there log delivery is the service
 * principal `logdelivery.elasticloadbalancing.amazonaws.com`. The set of Regions
 * opened before a past date is closed, so this table cannot go stale: a Region
 * AWS adds is always one of the service principal's.
 */
export const ELB_LOG_DELIVERY_ACCOUNTS: Readonly<Record<string, string>> = {
  'af-south-1': '098369216593',
  'ap-east-1': '754344448648',
  'ap-northeast-1': '582318560864',
  'ap-northeast-2': '600734575887',
  'ap-northeast-3': '383597477331',
  'ap-south-1': '718504428378',
  'ap-southeast-1': '114774131450',
  'ap-southeast-2': '783225319266',
  'ap-southeast-3': '589379963580',
  'ca-central-1': '985666609251',
  'cn-north-1': '638102146993',
  'cn-northwest-1': '037604701340',
  'eu-central-1': '054676820928',
  'eu-north-1': '897822967062',
  'eu-south-1': '635631232127',
  'eu-west-1': '156460612806',
  'eu-west-2': '652711504416',
  'eu-west-3': '009996457667',
  'me-south-1': '076674570225',
  'sa-east-1': '507241528517',
  'us-east-1': '127311923021',
  'us-east-2': '033677994240',
  'us-gov-east-1': '190560391635',
  'us-gov-west-1': '048591011584',
  'us-west-1': '027434742980',
  'us-west-2': '797873946194',
};

/** The IAM partition of a Region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`. */
function partitionOf(region: string): string {
  return region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
}

/**
 * The access-log bucket's policy: Elastic Load Balancing's log delivery may put
 * objects under `<prefix>/AWSLogs/<account>/` of each load balancer's prefix, and
 * nothing else. Who delivers depends on the Region (ELB User Guide, "Enable
 * access logs for your Application Load Balancer", step 2): in Regions opened
 * since August 2022 the service principal
 * `logdelivery.elasticloadbalancing.amazonaws.com`; in the older ones
 * (eu-west-1, us-east-1, …) the Region's ELB account
 * `arn:<partition>:iam::<elb-account>:root` ({@link ELB_LOG_DELIVERY_ACCOUNTS}).
 * The service principal's statement is always there; the account's is added
 * where the Region has one, so delivery works in both kinds of Region.
 * Uploads without TLS are refused.
 */
export function accessLogBucketPolicy(args: { bucketArn: string; prefixes: string[]; accountId: string; region: string }): string {
  const resources = [...args.prefixes].sort(compareStrings).map((prefix) => `${args.bucketArn}/${prefix}/AWSLogs/${args.accountId}/*`);
  const elbAccount = ELB_LOG_DELIVERY_ACCOUNTS[args.region];
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ElbLogDelivery',
        Effect: 'Allow',
        Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: resources,
      },
      ...(elbAccount
        ? [
            {
              Sid: 'ElbRegionalAccountLogDelivery',
              Effect: 'Allow',
              Principal: { AWS: `arn:${partitionOf(args.region)}:iam::${elbAccount}:root` },
              Action: 's3:PutObject',
              Resource: resources,
            },
          ]
        : []),
      {
        Sid: 'TlsOnly',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [args.bucketArn, `${args.bucketArn}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  });
}

/**
 * A physical name of at most `max` characters that changes whenever one of
 * `replaceInputs` changes: `<base, cut to fit>-<8 hex of a hash of the whole base
 * and of them>`. For resources whose name must be unique and whose replacement
 * is created before the old one is deleted (a target group, a load balancer), a
 * new name on every replacement is what lets the two exist side by side.
 *
 * The hash covers the whole `base` (project, env, service: everything the name
 * is made of), not only the replace inputs: a base cut to fit would otherwise
 * name two resources alike (`payment-gateway` and `payment-gateway-admin` on
 * one port both became `berth-prod-e-payment-ga-6c7952a7`; two envs of 48
 * characters sharing their first 17 one load balancer name), and AWS then
 * hands both resources one target group (CreateTargetGroup is idempotent for
 * the same settings) or fails with DuplicateTargetGroupName. The base changes
 * only with a new project, env or service, each of which is a new resource
 * anyway, so the name still changes exactly when a replacing input does.
 *
 * Upgrade note: hashing the base changed every name this function returns
 * once, i.e. one replacement of each target group and load balancer on the
 * first `up`. Accepted because the traffic component is new in this release
 * and deployed nowhere yet; do not change the hashed form again without a plan
 * for the replacements it causes.
 */
export function replaceableName(base: string, replaceInputs: unknown[], max = 32): string {
  const suffix = createHash('sha256').update(JSON.stringify([base, ...replaceInputs])).digest('hex').slice(0, 8);
  const head = base.slice(0, max - suffix.length - 1).replace(/-+$/, '');
  return `${head}-${suffix}`;
}

/** The service name a service is called by: `<service>.<zone>`. */
export function serviceHostName(service: string, zoneName: string): string {
  return `${service}.${zoneName}`;
}
