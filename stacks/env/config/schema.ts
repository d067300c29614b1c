/**
 * The schema of a stack's own keys (`berth:<key>` in `Pulumi.<env>.yaml`):
 * each key's shape and defaults, checked one key at a time. The rules that
 * span keys (a service's host group exists, stage and prod pin digests, ...)
 * are ./validate.
 */
import { z } from 'zod';
import { hasRegistryHost, parseEcrHost } from '../../../components/common/image';
import { DEFAULT_PROJECT } from '../../../components/common/naming';
import { isInstanceType, isSystemdCalendar, parseCidr } from '../../../components/host/validate';

/** Pulumi namespaces a program's own config keys by its project name (Pulumi.yaml `name: berth`). */
export const CONFIG_NAMESPACE = DEFAULT_PROJECT;

const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CLOUDWATCH_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const idOf = (prefix: string) => z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `an id like ${prefix}-0123456789abcdef0`);

const cidr = z.string().superRefine((text, context) => {
  const parsed = parseCidr(text);
  if ('error' in parsed) {
    context.addIssue({ code: z.ZodIssueCode.custom, message: `a CIDR block: ${parsed.error}` });
  }
});

export const networkSchema = z
  .object({
    /** VPC the hosts are placed in. */
    vpcId: idOf('vpc'),
    /** Subnets the hosts of each group are spread over, in order. */
    subnetIds: z.array(idOf('subnet')).min(1, 'at least one subnet id'),
    /** CIDRs allowed to reach the hosts over SSH. Never 0.0.0.0/0. */
    adminCidrs: z.array(cidr).default([]),
    /** A bastion's security group, allowed to reach the hosts over SSH. */
    bastionSecurityGroupId: idOf('sg').optional(),
    /** CIDRs allowed to reach service ports (e.g. the VPC range). */
    serviceIngressCidrs: z.array(cidr).default([]),
    /** Security groups allowed to reach service ports (e.g. a load balancer's). */
    serviceIngressSecurityGroupIds: z.array(idOf('sg')).default([]),
  })
  .strict();

/** What runs a host group's services: Berth's agent on fixed hosts, or ECS on EC2 capacity. */
export const HOST_GROUP_ENGINES = ['hosts', 'ecs'] as const;
export type HostGroupEngine = (typeof HOST_GROUP_ENGINES)[number];

const hostGroupSchema = z
  .object({
    /**
     * `hosts` (Berth's agent deploys to fixed hosts over SSH) or `ecs` (an ECS cluster on an Auto
     * Scaling group schedules the services). Keys that apply to one engine only are checked in ./validate.
     */
    engine: z.enum(HOST_GROUP_ENGINES, { errorMap: () => ({ message: `one of ${HOST_GROUP_ENGINES.join(', ')}` }) }).default('hosts'),
    /** hosts: the number of hosts. ecs: the fewest instances the Auto Scaling group keeps. */
    count: z.number().int().min(1, 'at least 1 host').max(50, 'at most 50 hosts'),
    /** ecs only: the most instances managed scaling may grow the group to. Default: count. */
    maxCount: z.number().int().min(1, 'at least 1 instance').max(50, 'at most 50 instances').optional(),
    instanceType: z.string().refine(isInstanceType, 'an EC2 instance type like t3.small or m7g.large'),
    /** hosts only (required there): each host's data volume. */
    dataVolumeGiB: z.number().int('a whole number of GiB').min(1, 'a data volume of at least 1 GiB').max(16384, 'at most 16384 GiB').optional(),
    /** ecs only: an encrypted EFS file system for the services' data volumes. */
    efs: z.boolean().optional(),
    rootVolumeGiB: z.number().int().min(8, 'a root volume of at least 8 GiB').max(16384).default(30),
    /**
     * An AMI id to pin (Amazon Linux 2023 of the group's architecture). Without it the hosts follow
     * the latest AL2023 release, and each release replaces them, one at a time, on the next `up`.
     */
    ami: z.string().regex(/^ami-[0-9a-f]{8,17}$/, 'an AMI id like ami-0123456789abcdef0').optional(),
    /** Keep the data volume when its host is deleted or replaced (ecs: the EFS file system when the group goes). Default: true in stage and prod. */
    retainDataVolume: z.boolean().optional(),
    associatePublicIp: z.boolean().default(false),
    /** Why a prod host needs a public IP; required for associatePublicIp in prod. */
    publicIpReason: z.string().min(1).optional(),
  })
  .strict();

const serviceSchema = z
  .object({
    image: z.string({ required_error: 'required: an image, repo@sha256:<64 hex>' }),
    hostGroup: z.string({ required_error: 'required: the host group that runs the service' }),
    /** How many hosts of the group run one container of the service (ecs: how many tasks). Default: the group's count. */
    replicas: z.number().int().min(1, 'at least 1').optional(),
    /**
     * While a service moves to another host group: the group it runs on until now, which keeps
     * running it beside hostGroup (both behind the same target group). Remove it once hostGroup serves.
     */
    movingFrom: z.string().optional(),
    /** File name under stacks/env/service-config/<service>/, e.g. application-prod.properties. */
    configFile: z.string({ required_error: 'required: the per-environment config file, e.g. application-dev.properties' }),
    environment: z.record(z.string().regex(ENV_VAR, 'an environment variable name'), z.string()).default({}),
    /** Container variable -> key under berth:secrets. */
    secretEnvironment: z.record(z.string().regex(ENV_VAR, 'an environment variable name'), z.string().min(1)).default({}),
    /**
     * Host names and/or path patterns the edge load balancer routes to this service (a web
     * service of the catalogue); at least one of them. Checked in ./validate with the other routes.
     */
    route: z
      .object({
        hosts: z.array(z.string()).optional(),
        paths: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * The environment's load balancer and service names (components/traffic). Rules that need
 * the services (a certificate when a route exists, who may reach an internal load balancer,
 * prod's deletion protection) are in ./validate.
 */
export const trafficSchema = z
  .object({
    /** The edge load balancer's scheme; internet-facing adds an internal one for the service names. */
    scheme: z.enum(['internal', 'internet-facing']).default('internal'),
    /** The ACM certificate of the HTTPS listener; required when any service has a route. */
    certificateArn: z.string().optional(),
    /** CIDRs allowed to reach the edge on 443 and 80; 0.0.0.0/0 and ::/0 only when internet-facing. */
    ingressCidrs: z.array(z.string()).default([]),
    accessLogs: z
      .object({
        /** Days the load balancers' access logs are kept. */
        retentionDays: z.number().int('a whole number of days').min(1, 'at least 1 day').max(3650, 'at most 3650 days').default(90),
      })
      .strict()
      .default({}),
    /** Deletion protection on the load balancers. Default: on in prod, where it cannot be turned off. */
    deletionProtection: z.boolean().optional(),
    /** The private hosted zone of the service names. Default: `<env>.internal`. */
    zoneName: z
      .string()
      .regex(/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS zone name in lowercase, e.g. prod.internal')
      .optional(),
  })
  .strict();

export const berthSchema = z
  .object({
    network: networkSchema,
    /** The registry stack whose outputs (repository URLs, ARNs) this stack reads. */
    registryStack: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'a stack reference <organization>/<project>/<stack>'),
    /**
     * The registry stack's registry host (its `registryUrl` output), `<account>.dkr.ecr.<region>.amazonaws.com`.
     * Optional: set it to write images with their host; the program checks it against the registry stack at run time.
     */
    registryHost: z
      .string()
      .refine((host) => parseEcrHost(host) !== undefined, "an ECR registry host <account>.dkr.ecr.<region>.amazonaws.com (the registry stack's registryUrl), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com")
      .optional(),
    /** Hosts of other registries services' images may come from; the hosts get no pull permission or credentials for them. */
    allowedRegistries: z.array(z.string().refine(isRegistryHostName, 'a registry host like registry.example.com or registry.example.com:5000')).default([]),
    // Names are checked with the one name rule (components/common/names.ts) below, with the file and key.
    hostGroups: z.record(z.string(), hostGroupSchema).refine((groups) => Object.keys(groups).length > 0, 'at least one host group'),
    services: z.record(z.string(), serviceSchema).default({}),
    traffic: trafficSchema.default({}),
    logging: z
      .object({
        driver: z.enum(['awslogs', 'local']).default('awslogs'),
        retentionDays: z
          .number()
          .refine((days) => CLOUDWATCH_RETENTION_DAYS.includes(days), `one of CloudWatch's retention periods: ${CLOUDWATCH_RETENTION_DAYS.join(', ')}`)
          .default(30),
      })
      .strict()
      .default({}),
    monitoring: z
      .object({
        alarmEmails: z.array(z.string().email('an e-mail address')).default([]),
        diskUsagePercent: z.number().int().min(1).max(99).default(80),
      })
      .strict()
      .default({}),
    prune: z
      .object({
        schedule: z
          .string()
          .refine(isSystemdCalendar, 'a systemd calendar expression (OnCalendar=), e.g. daily, weekly, Sun *-*-* 03:00:00 or *-*-* 04:30:00')
          .default('daily'),
      })
      .strict()
      .default({}),
    ssh: z
      .object({
        // The hosts run Amazon Linux 2023, where EC2 authorises the key pair for ec2-user only.
        user: z.literal('ec2-user', { errorMap: () => ({ message: 'ec2-user: the user EC2 authorises the key pair for on Amazon Linux 2023' }) }).default('ec2-user'),
        /** A bastion host the deploy steps hop through (its security group goes in network.bastionSecurityGroupId). */
        bastionHost: z.string().min(1).optional(),
        /**
         * The bastion's public host key, one OpenSSH line (its /etc/ssh/ssh_host_ed25519_key.pub); the
         * deploy steps then refuse a bastion that presents another key. Checked below.
         */
        bastionHostKey: z.string().optional(),
      })
      .strict()
      .default({}),
    /** dev only: allow `repo:tag` images, resolved to their digest at deploy time. */
    followTags: z.boolean().default(false),
    /**
     * The public half of berth:sshPrivateKey, one OpenSSH public key line (ed25519 or RSA: what EC2 imports
     * as a key pair). Plain text: a public key is not a secret. Checked below.
     */
    sshPublicKey: z.string({ required_error: 'required: the public half of berth:sshPrivateKey, e.g. the line of ~/.ssh/berth-<env>.pub' }),
    /**
     * The SSH private key, a Pulumi secret (`pulumi config set --secret berth:sshPrivateKey < key`). Read here
     * only, when it is in clear, to check that berth:sshPublicKey is its public half; never kept or printed.
     */
    sshPrivateKey: z.unknown().optional(),
    /** Secret values referenced by services' secretEnvironment (`pulumi config set --secret --path berth:secrets.<key>`). Never read here. */
    secrets: z.unknown().optional(),
  })
  .strict();

export type BerthConfigInput = z.infer<typeof berthSchema>;

function isRegistryHostName(host: string): boolean {
  return /^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/.test(host) && hasRegistryHost(`${host}/repository`);
}
