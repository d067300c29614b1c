import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { berthTags, DEFAULT_PROJECT, envName } from '../common/naming';
import { ECS_DYNAMIC_HOST_PORTS } from '../common/ports';
import { compareStrings } from '../common/records';
import { applyTransform, Transform } from '../common/transform';
import { parseCidr } from '../host/validate';
import {
  ACCESS_LOG_PREFIX,
  accessLogBucketPolicy,
  accessLogPrefix,
  certificateArnProblem,
  ingressCidrProblems,
  LoadBalancerRole,
  LoadBalancerScheme,
  planTraffic,
  replaceableName,
  routeConflicts,
  routeProblems,
  serviceHostName,
  TLS_POLICY,
  TrafficPlan,
  TrafficService,
} from './plan';

export type { LoadBalancerRole, LoadBalancerScheme, ServiceRoute, TrafficService, WebEndpoint } from './plan';

export interface EnvironmentTrafficArgs {
  /**
   * Project name; prefixes physical names and tags.
   * @default "berth"
   * @example "payments"
   */
  project?: string;
  /**
   * Environment the traffic belongs to.
   * @example "prod"
   */
  env: string;
  /**
   * VPC of the hosts: the target groups' and the private hosted zone's. It needs DNS resolution and DNS
   * hostnames on (`enableDnsSupport`, `enableDnsHostnames`), or the private zone never resolves: the preview fails.
   * @example "vpc-0a1b2c3d4e5f60718"
   */
  vpcId: string;
  /**
   * Subnets the load balancers live in: at least two, in different availability zones
   * (public subnets for an internet-facing edge).
   * @example ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722"]
   */
  subnetIds: string[];
  /**
   * Every service that publishes a port: with `web`, reached over HTTP through a load balancer
   * (and routed from the edge with `route`); without, a TCP service whose name lists its hosts.
   * @example [{ name: "api-service", web: { port: 8080, healthCheckPath: "/actuator/health" }, route: { hosts: ["api.example.com"] } }, { name: "cache" }]
   */
  services: TrafficService[];
  /**
   * The edge load balancer's scheme. An internet-facing edge gets a second, internal load
   * balancer for the service names.
   * @default "internal"
   * @example "internet-facing"
   */
  scheme?: LoadBalancerScheme;
  /**
   * The ACM certificate of the edge's HTTPS listener; required when a service has a route.
   * @default none
   * @example "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"
   */
  certificateArn?: string;
  /**
   * Who may reach the edge on 443 and 80. 0.0.0.0/0 only for an internet-facing edge.
   * @default []
   * @example ["10.20.0.0/16"]
   */
  ingressCidrs?: string[];
  /**
   * Who may call the service names (HTTP:80 of the load balancer that carries them): the
   * networks the calling hosts live in.
   * @default []
   * @example ["10.20.0.0/16"]
   */
  serviceNameCidrs?: string[];
  /**
   * Security groups that may call the service names.
   * @default []
   * @example ["sg-0123456789abcdef0"]
   */
  serviceNameSecurityGroupIds?: pulumi.Input<string>[];
  /**
   * Days the access logs are kept in their bucket.
   * @default 90
   * @example 365
   */
  accessLogRetentionDays?: number;
  /**
   * Deletion protection on the load balancers: an `up` or `destroy` that would delete one
   * fails until it is turned off.
   * @default false
   * @example true
   */
  deletionProtection?: boolean;
  /**
   * The private hosted zone of the service names, associated with `vpcId`.
   * @default "<env>.internal"
   * @example "prod.internal"
   */
  zoneName?: string;
  /**
   * Adjust what the component creates before it is created: one hook per underlying
   * resource, each given the resource's args and options (mutate them in place) and its
   * logical name.
   * @default {}
   * @example { loadBalancer: (args) => { args.idleTimeout = 120; } }
   */
  transform?: EnvironmentTrafficTransform;
}

/**
 * The transform hooks of an EnvironmentTraffic, one per kind of resource it declares
 * (`<name>` is the component's name, `<role>` is `edge` or `service-names`).
 */
export interface EnvironmentTrafficTransform {
  /**
   * Each load balancer's security group `<name>-<role>-lb`, the callers' group `<name>-callers` and
   * each host group's TCP services' group `<name>-<group>-tcp`.
   */
  securityGroup?: Transform<aws.ec2.SecurityGroupArgs>;
  /** Each load balancer `<name>-<role>`. */
  loadBalancer?: Transform<aws.lb.LoadBalancerArgs>;
  /** The listeners `<name>-edge-https`, `<name>-edge-http`, `<name>-service-names-http`. */
  listener?: Transform<aws.lb.ListenerArgs>;
  /** Each target group `<name>-<role>-<service>`. */
  targetGroup?: Transform<aws.lb.TargetGroupArgs>;
  /** Each listener rule `<name>-<role>-<service>-route` (edge routes) and `<name>-<role>-<service>-name` (service names). */
  listenerRule?: Transform<aws.lb.ListenerRuleArgs>;
  /** Each target registration `<name>-<role>-<service>-<host>`. */
  targetGroupAttachment?: Transform<aws.lb.TargetGroupAttachmentArgs>;
  /** The access-log bucket `<name>-access-logs`. */
  accessLogBucket?: Transform<aws.s3.BucketArgs>;
  /** The access-log bucket's policy `<name>-access-logs` (log delivery only: narrow it, never widen it). */
  accessLogBucketPolicy?: Transform<aws.s3.BucketPolicyArgs>;
  /** The access-log bucket's lifecycle `<name>-access-logs` (expires logs after the retention). */
  accessLogLifecycle?: Transform<aws.s3.BucketLifecycleConfigurationArgs>;
  /** The private hosted zone `<name>-zone`. */
  zone?: Transform<aws.route53.ZoneArgs>;
  /** Each service name record `<name>-<service>-dns`. */
  record?: Transform<aws.route53.RecordArgs>;
}

/** A host as the traffic needs it: its logical name and its instance. DockerHost fits. */
export interface TrafficHost {
  name: string;
  instance: aws.ec2.Instance;
  /**
   * The step that deploys the service on this host (a ContainerService deployment). The host is
   * registered after it and, on delete, deregistered before it, so the load balancer has stopped
   * sending requests before the container is removed.
   * @default none: the registration depends on the instance only
   * @example service.deployments[0]
   */
  deployed?: pulumi.Resource;
}

/**
 * An environment's traffic: an Application Load Balancer that routes to each web service's
 * hosts, and names services call each other by, whatever host runs them.
 *
 * @example
 * #### Declare it before the hosts, register the hosts after
 * ```ts
 * const traffic = new EnvironmentTraffic("prod", {
 *   env: "prod", vpcId, subnetIds, certificateArn, ingressCidrs: ["10.0.0.0/8"], serviceNameCidrs: ["10.20.0.0/16"],
 *   services: [{ name: "api-service", web: { port: 8080, healthCheckPath: "/health" }, route: { hosts: ["api.example.com"] } }],
 * });
 * const app = new DockerHostGroup("app", {
 *   ...args, servicePorts: [8080], serviceIngressSecurityGroupIds: traffic.securityGroupIds,
 *   additionalSecurityGroupIds: traffic.hostSecurityGroupIds("app", []),
 * });
 * traffic.registerHosts({ "api-service": app.hosts });
 * ```
 *
 * @example
 * #### An internet-facing edge, logs kept a year, deletion protection on
 * ```ts
 * new EnvironmentTraffic("prod", { ...args, scheme: "internet-facing", ingressCidrs: ["0.0.0.0/0"], accessLogRetentionDays: 365, deletionProtection: true });
 * ```
 *
 * @remarks
 * The edge (tag `berth:role` = `edge`, declared when any service has a route) listens on
 * HTTPS with `certificateArn` and TLS policy ELBSecurityPolicy-TLS13-1-2-2021-06, answers 404
 * to what no route matches, and redirects HTTP to HTTPS (301). Services are named
 * `<service>.<zoneName>` in a private hosted zone of the VPC: a web service's name is an
 * alias of the internal load balancer that carries the names on HTTP:80 (the edge itself when
 * it is internal, else a second load balancer `service-names`); a TCP service's name lists
 * its hosts' private IPs. Access logs of every load balancer go to one bucket (SSE-S3, the
 * only encryption ALB log delivery supports; public access blocked; bucket owner enforced).
 *
 * Callers: hosts that join the callers' security group (`hostSecurityGroupIds`) may call every
 * service name: the load balancer that carries the names takes HTTP:80 from that group, and each
 * host group's TCP services take their host ports from it. A membership group with no rules of its
 * own, not the hosts' own groups, is the source: the hosts' groups take service ports from the load
 * balancers' groups, so the load balancers' groups cannot name the hosts' (a cycle), and adding
 * separate rule resources to groups that keep their rules inline is what the provider warns against
 * (rules overwritten, perpetual diffs). Every rule stays inline; nothing depends on declaration order.
 *
 * Lifecycle: target groups and load balancers are named `<project>-<env>-<role>[-<service>]-<hash>`,
 * cut to 32 characters, the hash taken from the whole untruncated base and the inputs whose change
 * replaces them (port, protocol, target type, VPC; scheme), so two services or envs that share a
 * prefix never share a name, and a replacement gets a new name and is created before the old one is
 * deleted. (This release's hash form renamed every target group and load balancer once; the
 * component was deployed nowhere before it.)
 */
export class EnvironmentTraffic extends pulumi.ComponentResource {
  /** The load balancers' security groups: hosts accept service ports from them. */
  readonly securityGroupIds: pulumi.Output<string>[];
  /**
   * The callers' security group: hosts in it may call the service names (HTTP:80 of the load
   * balancer that carries them, and the TCP services' host ports). Undefined when no service
   * publishes a port.
   */
  readonly callerSecurityGroupId?: pulumi.Output<string>;
  /** What was decided: load balancers, target groups, rules and names. */
  readonly plan: TrafficPlan;
  readonly zoneId: pulumi.Output<string>;
  readonly zoneName: string;
  /** The edge load balancer's DNS name, when there is an edge. */
  readonly edgeDnsName?: pulumi.Output<string>;
  readonly loadBalancers: Partial<Record<LoadBalancerRole, aws.lb.LoadBalancer>>;
  readonly targetGroups: { role: LoadBalancerRole; service: string; port: number; targetGroup: aws.lb.TargetGroup }[];

  private readonly componentName: string;
  private readonly args: EnvironmentTrafficArgs;
  private readonly tags: Record<string, string>;
  private registered = false;
  private readonly hostGroupsJoined = new Set<string>();

  constructor(name: string, args: EnvironmentTrafficArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:traffic:EnvironmentTraffic', name, {}, opts);
    const project = args.project ?? DEFAULT_PROJECT;
    const scheme = args.scheme ?? 'internal';
    this.componentName = name;
    this.args = args;
    this.tags = berthTags(project, args.env);
    this.zoneName = args.zoneName ?? `${args.env}.internal`;
    this.checkArgs(name, args, scheme);
    this.plan = planTraffic(args.services, scheme, this.zoneName);
    const parent = { parent: this };

    const identity = aws.getCallerIdentityOutput({}, parent);
    // The provider's Region, where the load balancers and their log bucket are: it decides who delivers the logs.
    const region = aws.getRegionOutput({}, parent).region;
    this.loadBalancers = {};
    this.targetGroups = [];
    const securityGroups: aws.ec2.SecurityGroup[] = [];
    if (this.plan.serviceNamesOn || this.plan.hostNames.length > 0) {
      this.callerSecurityGroupId = this.callerSecurityGroup(name, project, args).id;
    }
    let logs: { bucket: aws.s3.Bucket; ready: pulumi.Resource[] } | undefined;
    if (this.plan.loadBalancers.length > 0) {
      logs = this.accessLogBucket(name, project, args, identity.accountId, region);
    }
    for (const { role, internal } of this.plan.loadBalancers) {
      const securityGroup = this.securityGroup(name, project, role, args);
      securityGroups.push(securityGroup);
      const lbName = `${name}-${role}`;
      const [lbArgs, lbOpts] = applyTransform(
        args.transform?.loadBalancer,
        lbName,
        {
          // `internal` and the name replace a load balancer: the name changes with the scheme. The hash covers the
          // whole base too (replaceableName): envs of up to 48 characters are cut to fit, and must not share a name.
          name: replaceableName(envName(project, args.env, role === 'edge' ? 'edge' : 'names'), [internal]),
          loadBalancerType: 'application',
          internal,
          subnets: args.subnetIds,
          securityGroups: [securityGroup.id],
          enableDeletionProtection: args.deletionProtection ?? false,
          dropInvalidHeaderFields: true,
          accessLogs: { bucket: logs!.bucket.bucket, prefix: accessLogPrefix(role), enabled: true },
          tags: { ...this.tags, 'berth:role': role, Name: envName(project, args.env, role) },
        },
        // ELB checks that it may write the logs when the load balancer is created.
        { parent: this, dependsOn: logs!.ready },
      );
      this.loadBalancers[role] = new aws.lb.LoadBalancer(lbName, lbArgs, lbOpts);
    }

    const internalOf = (role: LoadBalancerRole) => this.plan.loadBalancers.find((lb) => lb.role === role)!.internal;
    for (const plan of this.plan.targetGroups) {
      const tgName = `${name}-${plan.role}-${plan.service}`;
      const [tgArgs, tgOpts] = applyTransform(
        args.transform?.targetGroup,
        tgName,
        {
          // port, protocol, targetType and vpcId replace a target group: its name follows them. So does
          // its load balancer's scheme: a replaced load balancer's rules cannot forward to a target
          // group the old one still uses (a target group serves one load balancer). The service and env, cut to
          // fit in the name, are hashed in full (replaceableName), so two services sharing a prefix differ.
          name: replaceableName(envName(project, args.env, plan.role === 'edge' ? 'e' : 'n', plan.service), [plan.port, 'HTTP', 'instance', args.vpcId, internalOf(plan.role)]),
          port: plan.port,
          protocol: 'HTTP',
          targetType: 'instance',
          vpcId: args.vpcId,
          deregistrationDelay: plan.deregistrationDelaySeconds,
          healthCheck: { enabled: true, protocol: 'HTTP', path: plan.healthCheckPath, port: 'traffic-port', matcher: '200-399', interval: 15, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
          tags: { ...this.tags, 'berth:role': plan.role, 'berth:service': plan.service },
        },
        { parent: this },
      );
      this.targetGroups.push({ role: plan.role, service: plan.service, port: plan.port, targetGroup: new aws.lb.TargetGroup(tgName, tgArgs, tgOpts) });
    }

    const listeners = this.listeners(name, args);
    for (const rule of this.plan.rules) {
      const ruleName = `${name}-${rule.role}-${rule.service}-${rule.listener === 'https' ? 'route' : 'name'}`;
      const conditions: aws.types.input.lb.ListenerRuleCondition[] = [];
      if (rule.hosts.length > 0) {
        conditions.push({ hostHeader: { values: rule.hosts } });
      }
      if (rule.paths.length > 0) {
        conditions.push({ pathPattern: { values: rule.paths } });
      }
      const [ruleArgs, ruleOpts] = applyTransform(
        args.transform?.listenerRule,
        ruleName,
        {
          listenerArn: listeners[`${rule.role}-${rule.listener}`]!.arn,
          priority: rule.priority,
          conditions,
          actions: [{ type: 'forward', targetGroupArn: this.targetGroupOf(rule.role, rule.service).arn }],
          tags: { ...this.tags, 'berth:role': rule.role, 'berth:service': rule.service },
        },
        { parent: this },
      );
      new aws.lb.ListenerRule(ruleName, ruleArgs, ruleOpts);
    }

    // A private zone resolves only in a VPC with DNS support and DNS hostnames on; elsewhere it is created without
    // error and never answers. The zone takes its VPC through the check, so the preview fails instead (one lookup).
    const checkedVpcId = aws.ec2.getVpcOutput({ id: args.vpcId }, parent).apply((vpc) => {
      const problem = vpcDnsProblem(args.vpcId, this.zoneName, vpc);
      if (problem) {
        throw new pulumi.ResourceError(`${name}: vpcId: ${problem}`, this);
      }
      return args.vpcId;
    });
    const [zoneArgs, zoneOpts] = applyTransform(
      args.transform?.zone,
      `${name}-zone`,
      // A private zone: the VPC association is updated in place; a new name replaces the zone.
      { name: this.zoneName, comment: `Berth ${args.env} service names`, vpcs: [{ vpcId: checkedVpcId }], tags: this.tags },
      { parent: this },
    );
    const zone = new aws.route53.Zone(`${name}-zone`, zoneArgs, zoneOpts);
    // A hosted zone's id is its zone id (Z…), the value records take.
    this.zoneId = zone.id;
    if (this.plan.serviceNamesOn) {
      const target = this.loadBalancers[this.plan.serviceNamesOn]!;
      for (const service of this.plan.aliasNames) {
        this.record(service, { zoneId: this.zoneId, name: serviceHostName(service, this.zoneName), type: 'A', aliases: [{ name: target.dnsName, zoneId: target.zoneId, evaluateTargetHealth: true }] });
      }
    }
    this.securityGroupIds = securityGroups.map((group) => group.id);
    this.edgeDnsName = this.loadBalancers.edge?.dnsName;
    this.registerOutputs({ securityGroupIds: this.securityGroupIds, zoneId: this.zoneId, edgeDnsName: this.edgeDnsName });
  }

  /**
   * Registers each service's hosts: every host that runs a web service becomes a target of
   * each of its target groups, on its web port; a TCP service's name lists its hosts'
   * private IPs. Call once, after the hosts are declared (the traffic's security groups must
   * exist before the hosts, the registrations need the instances).
   *
   * A registration is replaced when its instance or target group is (all its inputs force
   * replacement); the new one is registered before the old one is deregistered.
   */
  registerHosts(hostsByService: Record<string, TrafficHost[]>): void {
    if (this.registered) {
      throw new pulumi.ResourceError(`${this.componentName}: registerHosts is called once, with every service's hosts`, this);
    }
    this.registered = true;
    const names = new Set(this.args.services.map((service) => service.name));
    for (const service of Object.keys(hostsByService).sort(compareStrings)) {
      if (!names.has(service)) {
        throw new pulumi.ResourceError(`${this.componentName}: registerHosts: no service "${service}" in services`, this);
      }
    }
    for (const { role, service, port, targetGroup } of this.targetGroups) {
      for (const host of hostsByService[service] ?? []) {
        const attachmentName = `${this.componentName}-${role}-${service}-${host.name}`;
        new aws.lb.TargetGroupAttachment(
          attachmentName,
          ...applyTransform(
            this.args.transform?.targetGroupAttachment,
            attachmentName,
            { targetGroupArn: targetGroup.arn, targetId: host.instance.id, port },
            { parent: this, dependsOn: host.deployed ? [host.deployed] : [] },
          ),
        );
      }
    }
    for (const service of this.plan.hostNames) {
      const hosts = hostsByService[service] ?? [];
      if (hosts.length > 0) {
        // Host order is the placement order, so the record changes only with the hosts.
        this.record(service, { zoneId: this.zoneId, name: serviceHostName(service, this.zoneName), type: 'A', ttl: 60, records: hosts.map((host) => host.instance.privateIp) });
      }
    }
  }

  /**
   * The security groups a host group's hosts join beside their own (DockerHostGroup's
   * `additionalSecurityGroupIds`), so that they may call every service name: the callers'
   * group and, when the group runs TCP services, a group `<name>-<group>-tcp` that lets the
   * callers in on those services' host ports (and on no other port). Call once per host group,
   * before the group is declared; `tcpServices` are the TCP services (no `web`) it runs, with
   * their published host ports. Empty when no service publishes a port.
   *
   * Security groups per network interface are limited (5 by default): this adds at most two.
   */
  hostSecurityGroupIds(group: string, tcpServices: { name: string; ports: number[] }[]): pulumi.Output<string>[] {
    const fail = (message: string) => {
      throw new pulumi.ResourceError(`${this.componentName}: hostSecurityGroupIds(${JSON.stringify(group)}): ${message}`, this);
    };
    if (this.hostGroupsJoined.has(group)) {
      fail('called twice for one host group');
    }
    this.hostGroupsJoined.add(group);
    const tcpNames = new Set(this.plan.hostNames);
    for (const service of tcpServices) {
      if (!tcpNames.has(service.name)) {
        fail(`"${service.name}" is not a TCP service of services (a service without web)`);
      }
    }
    if (!this.callerSecurityGroupId) {
      return [];
    }
    const ports = [...new Set(tcpServices.flatMap((service) => service.ports))].sort((a, b) => a - b);
    if (ports.length === 0) {
      return [this.callerSecurityGroupId];
    }
    const portServices = (port: number) =>
      tcpServices
        .filter((service) => service.ports.includes(port))
        .map((service) => service.name)
        .sort(compareStrings)
        .join(', ');
    const project = this.args.project ?? DEFAULT_PROJECT;
    const sgName = `${this.componentName}-${group}-tcp`;
    const [sgArgs, sgOpts] = applyTransform(
      this.args.transform?.securityGroup,
      sgName,
      {
        namePrefix: `${envName(project, this.args.env, group, 'tcp')}-`,
        description: `Berth ${this.args.env} ${group} TCP services, from the callers`,
        vpcId: this.args.vpcId,
        ingress: ports.map((port) => ({ description: `TCP service port ${port} (${portServices(port)}) from the callers`, protocol: 'tcp', fromPort: port, toPort: port, securityGroups: [this.callerSecurityGroupId!] })),
        // Membership adds ingress only; the hosts' own group carries their outbound rules.
        egress: [],
        tags: { ...this.tags, 'berth:role': 'tcp-services', 'berth:host-group': group, Name: envName(project, this.args.env, group, 'tcp') },
      },
      { parent: this },
    );
    return [this.callerSecurityGroupId, new aws.ec2.SecurityGroup(sgName, sgArgs, sgOpts).id];
  }

  private checkArgs(name: string, args: EnvironmentTrafficArgs, scheme: LoadBalancerScheme): void {
    const fail = (message: string) => {
      throw new pulumi.ResourceError(`${name}: ${message}`, this);
    };
    const routed = args.services.filter((service) => service.route);
    for (const service of args.services) {
      if (service.route && !service.web) {
        fail(`services.${service.name}.route: a route needs a web service (give it web)`);
      }
      for (const [key, message] of service.route ? routeProblems(service.route) : []) {
        fail(`services.${service.name}.route${key ? `.${key}` : ''}: ${message}`);
      }
    }
    for (const conflict of routeConflicts(routed.map((service) => ({ name: service.name, route: service.route! })))) {
      fail(`services.${conflict.service}.route: host ${conflict.host} path ${conflict.path} is already routed to ${conflict.other}`);
    }
    if (routed.length > 0) {
      if (args.certificateArn === undefined) {
        fail('certificateArn: required when a service has a route');
      }
      const problem = certificateArnProblem(args.certificateArn!);
      if (problem) {
        fail(`certificateArn: ${problem}`);
      }
    }
    if (args.services.some((service) => service.web) && args.subnetIds.length < 2) {
      fail(`subnetIds: at least two subnets, in different availability zones (an Application Load Balancer needs two); got ${args.subnetIds.length}`);
    }
    for (const [index, message] of ingressCidrProblems(scheme, args.ingressCidrs ?? [])) {
      fail(`ingressCidrs[${index}]: ${message}`);
    }
    for (const [index, text] of (args.serviceNameCidrs ?? []).entries()) {
      const cidr = parseCidr(text);
      if ('error' in cidr || cidr.isAnyAddress) {
        fail(`serviceNameCidrs[${index}]: ${'error' in cidr ? cidr.error : `the service names are never open to ${text}`}`);
      }
    }
  }

  /**
   * The access-log bucket, with what ALB log delivery needs: SSE-S3 (the only encryption it
   * supports), bucket owner enforced (no ACLs), public access blocked, and the policy that lets
   * log delivery (the service principal, and the Region's ELB account where it has one) write under each load
   * balancer's `alb/<role>/AWSLogs/<account>/`. A lifecycle rule expires logs.
   * The bucket's name is a prefix plus a generated suffix: bucket names are global.
   */
  private accessLogBucket(name: string, project: string, args: EnvironmentTrafficArgs, accountId: pulumi.Output<string>, region: pulumi.Output<string>) {
    const bucketName = `${name}-access-logs`;
    const parent = { parent: this };
    const [bucketArgs, bucketOpts] = applyTransform(
      args.transform?.accessLogBucket,
      bucketName,
      { bucketPrefix: `${envName(project, args.env, 'lb-logs')}-`, forceDestroy: false, tags: this.tags },
      { parent: this },
    );
    const bucket = new aws.s3.Bucket(bucketName, bucketArgs, bucketOpts);
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      bucketName,
      { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      parent,
    );
    const ownership = new aws.s3.BucketOwnershipControls(bucketName, { bucket: bucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' } }, parent);
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
      bucketName,
      { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] },
      parent,
    );
    new aws.s3.BucketLifecycleConfiguration(
      bucketName,
      ...applyTransform(
        args.transform?.accessLogLifecycle,
        bucketName,
        {
          bucket: bucket.id,
          rules: [
            {
              id: 'expire-access-logs',
              status: 'Enabled',
              filter: { prefix: `${ACCESS_LOG_PREFIX}/` },
              expiration: { days: args.accessLogRetentionDays ?? 90 },
              abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
            },
          ],
        },
        { parent: this },
      ),
    );
    const policy = new aws.s3.BucketPolicy(
      bucketName,
      ...applyTransform(
        args.transform?.accessLogBucketPolicy,
        bucketName,
        {
          bucket: bucket.id,
          policy: pulumi
            .all([bucket.arn, accountId, region])
            .apply(([bucketArn, account, regionName]) =>
              accessLogBucketPolicy({ bucketArn, prefixes: this.plan.loadBalancers.map((lb) => accessLogPrefix(lb.role)), accountId: account, region: regionName }),
            ),
        },
        // S3 refuses a policy while public access settings are being changed.
        { parent: this, dependsOn: [publicAccess] },
      ),
    );
    return { bucket, ready: [policy, ownership, encryption] };
  }

  /**
   * A load balancer's security group: the edge takes 443 and 80 from `ingressCidrs`; the
   * load balancer that carries the service names takes 80 from `serviceNameCidrs`,
   * `serviceNameSecurityGroupIds` and the callers' group too. Outbound only to the web services' ports.
   */
  private securityGroup(name: string, project: string, role: LoadBalancerRole, args: EnvironmentTrafficArgs): aws.ec2.SecurityGroup {
    const ingress: aws.types.input.ec2.SecurityGroupIngress[] = [];
    const edge = split(args.ingressCidrs ?? []);
    if (role === 'edge' && edge.v4.length + edge.v6.length > 0) {
      ingress.push({ description: 'HTTPS from the ingress networks', protocol: 'tcp', fromPort: 443, toPort: 443, ...cidrFields(edge) });
      ingress.push({ description: 'HTTP from the ingress networks (redirected to HTTPS)', protocol: 'tcp', fromPort: 80, toPort: 80, ...cidrFields(edge) });
    }
    if (this.plan.serviceNamesOn === role) {
      const callers = split(args.serviceNameCidrs ?? []);
      if (callers.v4.length + callers.v6.length > 0) {
        ingress.push({ description: 'HTTP service names from the service networks', protocol: 'tcp', fromPort: 80, toPort: 80, ...cidrFields(callers) });
      }
      if ((args.serviceNameSecurityGroupIds ?? []).length > 0) {
        ingress.push({ description: 'HTTP service names from the service security groups', protocol: 'tcp', fromPort: 80, toPort: 80, securityGroups: args.serviceNameSecurityGroupIds });
      }
      ingress.push({ description: 'HTTP service names from the callers (the Berth hosts)', protocol: 'tcp', fromPort: 80, toPort: 80, securityGroups: [this.callerSecurityGroupId!] });
    }
    const roleGroups = this.plan.targetGroups.filter((group) => group.role === role);
    const ports = [...new Set(roleGroups.map((group) => group.port))].sort((a, b) => a - b);
    const dynamic = roleGroups.filter((group) => group.dynamicPorts).map((group) => group.service);
    const sgName = `${name}-${role}-lb`;
    const [sgArgs, sgOpts] = applyTransform(
      args.transform?.securityGroup,
      sgName,
      {
        // A prefix, not a name: a replacement (a new VPC) is created before the old group is deleted.
        namePrefix: `${envName(project, args.env, role, 'lb')}-`,
        description: `Berth ${args.env} ${role} load balancer`,
        vpcId: args.vpcId,
        ingress,
        egress: [
          ...ports.map((port) => ({ description: `to the hosts on service port ${port}`, protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: ['0.0.0.0/0'] })),
          ...(dynamic.length > 0
            ? [{ description: `to ECS tasks on their dynamic host ports (${dynamic.join(', ')})`, protocol: 'tcp', fromPort: ECS_DYNAMIC_HOST_PORTS.first, toPort: ECS_DYNAMIC_HOST_PORTS.last, cidrBlocks: ['0.0.0.0/0'] }]
            : []),
        ],
        tags: { ...this.tags, 'berth:role': role, Name: envName(project, args.env, role, 'lb') },
      },
      { parent: this },
    );
    return new aws.ec2.SecurityGroup(sgName, sgArgs, sgOpts);
  }

  /**
   * The callers' group `<name>-callers`: a membership group with no rules of its own. What its
   * members may reach is said by the groups that name it as a source (the service-names load
   * balancer's, each host group's TCP services').
   */
  private callerSecurityGroup(name: string, project: string, args: EnvironmentTrafficArgs): aws.ec2.SecurityGroup {
    const sgName = `${name}-callers`;
    const [sgArgs, sgOpts] = applyTransform(
      args.transform?.securityGroup,
      sgName,
      {
        // A prefix, not a name: a replacement (a new VPC) is created before the old group is deleted.
        namePrefix: `${envName(project, args.env, 'callers')}-`,
        description: `Berth ${args.env} service-name callers`,
        vpcId: args.vpcId,
        ingress: [],
        egress: [],
        tags: { ...this.tags, 'berth:role': 'callers', Name: envName(project, args.env, 'callers') },
      },
      { parent: this },
    );
    return new aws.ec2.SecurityGroup(sgName, sgArgs, sgOpts);
  }

  /** The listeners, by `<role>-<https|http>`; a listener is replaced only with its load balancer. */
  private listeners(name: string, args: EnvironmentTrafficArgs): Partial<Record<`${LoadBalancerRole}-${'https' | 'http'}`, aws.lb.Listener>> {
    const listeners: Partial<Record<`${LoadBalancerRole}-${'https' | 'http'}`, aws.lb.Listener>> = {};
    const listener = (key: `${LoadBalancerRole}-${'https' | 'http'}`, role: LoadBalancerRole, listenerArgs: Omit<aws.lb.ListenerArgs, 'loadBalancerArn' | 'tags'>) => {
      const listenerName = `${name}-${key}`;
      const [finalArgs, finalOpts] = applyTransform(
        args.transform?.listener,
        listenerName,
        { ...listenerArgs, loadBalancerArn: this.loadBalancers[role]!.arn, tags: { ...this.tags, 'berth:role': role } },
        { parent: this },
      );
      listeners[key] = new aws.lb.Listener(listenerName, finalArgs, finalOpts);
    };
    const notFound = { type: 'fixed-response', fixedResponse: { contentType: 'text/plain', messageBody: 'not found', statusCode: '404' } };
    if (this.loadBalancers.edge) {
      listener('edge-https', 'edge', { port: 443, protocol: 'HTTPS', sslPolicy: TLS_POLICY, certificateArn: args.certificateArn, defaultActions: [notFound] });
      // The service names, when the edge carries them, are rules on this listener; anything else is redirected.
      listener('edge-http', 'edge', { port: 80, protocol: 'HTTP', defaultActions: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }] });
    }
    if (this.loadBalancers['service-names']) {
      listener('service-names-http', 'service-names', { port: 80, protocol: 'HTTP', defaultActions: [notFound] });
    }
    return listeners;
  }

  /**
   * The target groups a service's ECS tasks register in (EcsService's `targets`), one per load
   * balancer that forwards to it, each with its load balancer and the service's web port. Empty for
   * a service without `web`.
   */
  targetsOf(service: string): { targetGroup: aws.lb.TargetGroup; loadBalancer: aws.lb.LoadBalancer; port: number }[] {
    if (!this.args.services.some((candidate) => candidate.name === service)) {
      throw new pulumi.ResourceError(`${this.componentName}: targetsOf: no service "${service}" in services`, this);
    }
    return this.targetGroups
      .filter((group) => group.service === service)
      .map((group) => ({ targetGroup: group.targetGroup, loadBalancer: this.loadBalancers[group.role]!, port: group.port }));
  }

  private targetGroupOf(role: LoadBalancerRole, service: string): aws.lb.TargetGroup {
    return this.targetGroups.find((group) => group.role === role && group.service === service)!.targetGroup;
  }

  /** A service name `<service>.<zone>`, logical name `<name>-<service>-dns` (records take no tags). */
  private record(service: string, recordArgs: aws.route53.RecordArgs): void {
    const recordName = `${this.componentName}-${service}-dns`;
    new aws.route53.Record(recordName, ...applyTransform(this.args.transform?.record, recordName, recordArgs, { parent: this }));
  }
}

/**
 * Why a private hosted zone would never resolve in this VPC, with the commands that fix it, or
 * undefined. DNS hostnames can only be turned on once DNS support is, hence the order.
 */
function vpcDnsProblem(vpcId: string, zoneName: string, attributes: { enableDnsSupport: boolean; enableDnsHostnames: boolean }): string | undefined {
  const off = [
    ...(attributes.enableDnsSupport ? [] : [['enableDnsSupport', 'DNS resolution', '--enable-dns-support']]),
    ...(attributes.enableDnsHostnames ? [] : [['enableDnsHostnames', 'DNS hostnames', '--enable-dns-hostnames']]),
  ];
  if (off.length === 0) {
    return undefined;
  }
  const commands = off.map(([, , flag]) => `aws ec2 modify-vpc-attribute --vpc-id ${vpcId} ${flag} '{"Value":true}'`);
  return (
    `${vpcId} has ${off.map(([attribute, what]) => `${what} off (${attribute})`).join(' and ')}: ` +
    `the private hosted zone ${zoneName} would never resolve there. Turn ${off.length > 1 ? 'them' : 'it'} on: ${commands.join(' && ')}`
  );
}

interface SplitCidrs {
  v4: string[];
  v6: string[];
}

function split(cidrs: string[]): SplitCidrs {
  const result: SplitCidrs = { v4: [], v6: [] };
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if (!('error' in cidr)) {
      (cidr.version === 4 ? result.v4 : result.v6).push(cidr.text);
    }
  }
  result.v4.sort(compareStrings);
  result.v6.sort(compareStrings);
  return result;
}

function cidrFields(cidrs: SplitCidrs): Pick<aws.types.input.ec2.SecurityGroupIngress, 'cidrBlocks' | 'ipv6CidrBlocks'> {
  return { ...(cidrs.v4.length ? { cidrBlocks: cidrs.v4 } : {}), ...(cidrs.v6.length ? { ipv6CidrBlocks: cidrs.v6 } : {}) };
}
