/**
 * Berth's offline runtime: evaluates a stack program under Pulumi mocks — no
 * cloud, no Pulumi CLI, no credentials — and records every resource it
 * declares. Synth, the unit tests and the benchmarks all see a stack through
 * it, and run the program with ./evaluate. An invoke that nobody mocked fails
 * loudly, so a new lookup cannot slip into a component unnoticed. What it
 * records is typed in ./types.
 */
import { createHash } from 'crypto';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import * as rpc from '@pulumi/pulumi/runtime/rpc';
import * as settings from '@pulumi/pulumi/runtime/settings';
import { compareStrings } from '../../components/common/records';
import { SECRET_MASK } from '../../components/common/secret';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import type { RecordedResource, ResourceOptions } from './types';

export const OFFLINE_ACCOUNT_ID = '123456789012';
export const OFFLINE_AMI_ID = 'ami-0a1b2c3d4e5f60718';
export const UNKNOWN_MARKER = '[unknown]';

/** Every lifecycle option of a resource, each one always present; see ResourceOptions. */
export interface RecordedOptions {
  retainOnDelete: boolean;
  protect: boolean;
  deleteBeforeReplace: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  additionalSecretOutputs: string[];
  /** Logical names of every dependency, explicit (dependsOn) and through inputs; one entry per dependency. */
  dependsOn: string[];
}

/** The compact form written to synth output: only what is set, in a fixed key order. */
export function compactOptions(options: RecordedOptions): ResourceOptions | undefined {
  const compact: ResourceOptions = {};
  if (options.dependsOn.length > 0) compact.dependsOn = options.dependsOn;
  if (options.deleteBeforeReplace) compact.deleteBeforeReplace = true;
  if (options.replaceOnChanges.length > 0) compact.replaceOnChanges = options.replaceOnChanges;
  if (options.ignoreChanges.length > 0) compact.ignoreChanges = options.ignoreChanges;
  if (options.retainOnDelete) compact.retainOnDelete = true;
  if (options.protect) compact.protect = true;
  if (options.additionalSecretOutputs.length > 0) compact.additionalSecretOutputs = options.additionalSecretOutputs;
  return Object.keys(compact).length > 0 ? compact : undefined;
}

/** `urn:pulumi:stack::project::parent$type::name` -> `name`. */
function logicalName(urn: string): string {
  return urn.split('::').slice(3).join('::');
}

/** `urn:pulumi:stack::project::parent$type::name` -> `type`. */
function typeOfUrn(urn: string): string {
  const qualified = urn.split('::')[2] ?? '';
  return qualified.slice(qualified.lastIndexOf('$') + 1);
}

/**
 * How synth output names a resource another one depends on: its logical name,
 * or `type::name` (the tail of its URN) when several resources of the stack
 * share that logical name (a volume and its attachment, a role and its
 * instance profile), so that the reference says which one.
 */
function referenceTo(urn: string, shared: Set<string>): string {
  const name = logicalName(urn);
  return shared.has(name) ? `${typeOfUrn(urn)}::${name}` : name;
}

interface RawRecord {
  type: string;
  name: string;
  parentUrn: string;
  inputs: Record<string, unknown>;
  options: RecordedOptions;
  dependencyUrns: string[];
  propertyUrns: Map<string, string[]>;
}

function sortedUnique(values: Iterable<string> | undefined): string[] {
  return [...new Set(values ?? [])].sort(compareStrings);
}

export interface RecordedCall {
  token: string;
  inputs: Record<string, unknown>;
}

export type CallHandler = (inputs: Record<string, any>, runtime: OfflineRuntime) => Record<string, unknown>;
export type OutputsHandler = (args: pulumi.runtime.MockResourceArgs, runtime: OfflineRuntime) => Record<string, unknown>;

export interface OfflineRuntimeOptions {
  project: string;
  stack: string;
  region: string;
  /** Outputs of other stacks read through StackReference, by stack name. */
  stackOutputs?: Record<string, Record<string, unknown>>;
  /** Extra or replacement invoke mocks, by token. */
  calls?: Record<string, CallHandler>;
  /**
   * The DNS attributes `aws.ec2.getVpc` reports, by VPC id; each one absent is on (a VPC
   * where private hosted zones resolve). Set one false to see what a VPC made through the
   * API, with DNS hostnames off by default, does to a program.
   */
  vpcs?: Record<string, OfflineVpcAttributes>;
}

/** What the offline runtime's `aws.ec2.getVpc` answers of a VPC's DNS; see OfflineRuntimeOptions.vpcs. */
export interface OfflineVpcAttributes {
  enableDnsSupport?: boolean;
  enableDnsHostnames?: boolean;
}

/** The physical name the provider generates from `namePrefix` (a stable suffix here), or the given name. */
function generatedName(args: pulumi.runtime.MockResourceArgs): string {
  return args.inputs.name ?? `${args.inputs.namePrefix ?? ''}${fakeHex(`${args.type}/${args.name}`, 8)}`;
}

/** A stable fake hex string for a seed, so ids and digests are the same on every run. */
export function fakeHex(seed: string, length: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, length);
}

/** The digest the offline runtime reports for a repository:tag, as `aws.ecr.getImage` would. */
export function offlineDigest(repository: string, tag: string): string {
  return `sha256:${fakeHex(`${repository}:${tag}`, 64)}`;
}

const ID_PREFIXES: Record<string, string> = {
  'aws:ec2/instance:Instance': 'i',
  'aws:ebs/volume:Volume': 'vol',
  'aws:ec2/securityGroup:SecurityGroup': 'sg',
  'aws:ec2/launchTemplate:LaunchTemplate': 'lt',
  'aws:efs/fileSystem:FileSystem': 'fs',
  'aws:efs/accessPoint:AccessPoint': 'fsap',
  'aws:efs/mountTarget:MountTarget': 'fsmt',
};

export class OfflineRuntime implements pulumi.runtime.Mocks {
  private readonly records: RawRecord[] = [];
  private readonly recordedOptions = new Map<string, RecordedOptions>();
  readonly calls: RecordedCall[] = [];
  private readonly callHandlers: Record<string, CallHandler>;
  private readonly outputHandlers: Record<string, OutputsHandler>;

  constructor(readonly options: OfflineRuntimeOptions) {
    const region = options.region;
    this.callHandlers = {
      'aws:index/getCallerIdentity:getCallerIdentity': () => ({
        accountId: OFFLINE_ACCOUNT_ID,
        arn: `arn:aws:iam::${OFFLINE_ACCOUNT_ID}:user/offline`,
        userId: 'AIDAOFFLINE',
        id: OFFLINE_ACCOUNT_ID,
      }),
      'aws:index/getRegion:getRegion': () => ({ name: region, region, id: region, description: region, endpoint: `ec2.${region}.amazonaws.com` }),
      'aws:index/getPartition:getPartition': () => ({ partition: 'aws', dnsSuffix: 'amazonaws.com', id: 'aws', reverseDnsPrefix: 'com.amazonaws' }),
      'aws:ssm/getParameter:getParameter': (inputs) => ({ name: inputs.name, value: OFFLINE_AMI_ID, insecureValue: OFFLINE_AMI_ID, type: 'String', version: 1, arn: `arn:aws:ssm:${region}::parameter${inputs.name}`, id: inputs.name }),
      'aws:ec2/getSubnet:getSubnet': (inputs) => {
        const zone = `${region}${'abc'[parseInt(fakeHex(String(inputs.id), 2), 16) % 3]}`;
        return { id: inputs.id, availabilityZone: zone, vpcId: 'vpc-0a1b2c3d4e5f60718', cidrBlock: '10.20.0.0/24', arn: `arn:aws:ec2:${region}:${OFFLINE_ACCOUNT_ID}:subnet/${inputs.id}` };
      },
      'aws:ec2/getVpc:getVpc': (inputs) => {
        if (typeof inputs.id !== 'string') {
          throw new Error('Mock aws:ec2/getVpc:getVpc answers a lookup by id only');
        }
        const attributes = options.vpcs?.[inputs.id] ?? {};
        return {
          id: inputs.id,
          arn: `arn:aws:ec2:${region}:${OFFLINE_ACCOUNT_ID}:vpc/${inputs.id}`,
          cidrBlock: '10.20.0.0/16',
          default: false,
          state: 'available',
          ownerId: OFFLINE_ACCOUNT_ID,
          region,
          enableDnsSupport: attributes.enableDnsSupport ?? true,
          enableDnsHostnames: attributes.enableDnsHostnames ?? true,
          tags: {},
        };
      },
      'aws:ecr/getImage:getImage': (inputs) => {
        const digest = inputs.imageDigest ?? offlineDigest(inputs.repositoryName, inputs.imageTag ?? 'latest');
        return { ...inputs, imageDigest: digest, imageTags: inputs.imageTag ? [inputs.imageTag] : [], imageUri: `${OFFLINE_ACCOUNT_ID}.dkr.ecr.${region}.amazonaws.com/${inputs.repositoryName}@${digest}`, id: digest };
      },
      ...options.calls,
    };
    this.outputHandlers = {
      'aws:ecr/repository:Repository': (args) => ({
        repositoryUrl: `${OFFLINE_ACCOUNT_ID}.dkr.ecr.${region}.amazonaws.com/${args.inputs.name ?? args.name}`,
        registryId: OFFLINE_ACCOUNT_ID,
      }),
      'aws:ec2/instance:Instance': (args) => {
        const hex = fakeHex(args.name, 4);
        const ip = `10.20.${parseInt(hex.slice(0, 2), 16)}.${parseInt(hex.slice(2, 4), 16) || 1}`;
        return { privateIp: ip, privateDns: `ip-${ip.replace(/\./g, '-')}.${region}.compute.internal`, publicIp: args.inputs.associatePublicIpAddress ? `203.0.113.${parseInt(hex.slice(0, 2), 16)}` : '', availabilityZone: args.inputs.availabilityZone ?? `${region}a` };
      },
      // A name prefix gets a generated suffix, as the provider does (a stable one here).
      'aws:ec2/keyPair:KeyPair': (args) => ({ keyName: args.inputs.keyName ?? `${args.inputs.keyNamePrefix ?? ''}${fakeHex(args.name, 8)}` }),
      'aws:ec2/securityGroup:SecurityGroup': (args) => ({ name: generatedName(args) }),
      'aws:iam/role:Role': (args) => ({ name: generatedName(args) }),
      'aws:iam/instanceProfile:InstanceProfile': (args) => ({ name: generatedName(args) }),
      // ECS and its neighbours, with ARNs of the provider's form: policies and alarms are rendered from them.
      'aws:ecs/cluster:Cluster': (args) => ({ name: args.inputs.name ?? args.name, arn: `arn:aws:ecs:${region}:${OFFLINE_ACCOUNT_ID}:cluster/${args.inputs.name ?? args.name}` }),
      'aws:ecs/capacityProvider:CapacityProvider': (args) => {
        const name = args.inputs.name ?? `${args.name}-${fakeHex(args.name, 7)}`;
        return { name, arn: `arn:aws:ecs:${region}:${OFFLINE_ACCOUNT_ID}:capacity-provider/${name}` };
      },
      'aws:ecs/taskDefinition:TaskDefinition': (args) => ({
        revision: 1,
        arn: `arn:aws:ecs:${region}:${OFFLINE_ACCOUNT_ID}:task-definition/${args.inputs.family}:1`,
        arnWithoutRevision: `arn:aws:ecs:${region}:${OFFLINE_ACCOUNT_ID}:task-definition/${args.inputs.family}`,
      }),
      'aws:autoscaling/group:Group': (args) => {
        const name = generatedName(args);
        return { name, arn: `arn:aws:autoscaling:${region}:${OFFLINE_ACCOUNT_ID}:autoScalingGroup:${fakeHex(name, 8)}-0000-4000-8000-000000000000:autoScalingGroupName/${name}` };
      },
      'aws:ec2/launchTemplate:LaunchTemplate': () => ({ latestVersion: 1, defaultVersion: 1 }),
      'aws:efs/fileSystem:FileSystem': (args) => {
        const id = `fs-${fakeHex(`${args.type}/${args.name}`, 17)}`;
        return { arn: `arn:aws:elasticfilesystem:${region}:${OFFLINE_ACCOUNT_ID}:file-system/${id}` };
      },
      'aws:efs/accessPoint:AccessPoint': (args) => ({
        arn: `arn:aws:elasticfilesystem:${region}:${OFFLINE_ACCOUNT_ID}:access-point/fsap-${fakeHex(`${args.type}/${args.name}`, 17)}`,
      }),
      'aws:ssm/parameter:Parameter': (args) => ({
        version: 1,
        arn: `arn:aws:ssm:${region}:${OFFLINE_ACCOUNT_ID}:parameter/${String(args.inputs.name ?? args.name).replace(/^\//, '')}`,
      }),
      'aws:secretsmanager/secret:Secret': (args) => {
        const name = generatedName(args);
        return { name, arn: `arn:aws:secretsmanager:${region}:${OFFLINE_ACCOUNT_ID}:secret:${name}-${fakeHex(name, 6)}` };
      },
      // A version id is a UUID the service makes up; a stable one here.
      'aws:secretsmanager/secretVersion:SecretVersion': (args) => {
        const hex = fakeHex(`${args.type}/${args.name}`, 32);
        return { versionId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}` };
      },
      'aws:cloudwatch/logGroup:LogGroup': (args) => ({ arn: `arn:aws:logs:${region}:${OFFLINE_ACCOUNT_ID}:log-group:${args.inputs.name ?? args.name}` }),
      'aws:lb/targetGroup:TargetGroup': (args) => ({
        arnSuffix: `targetgroup/${args.inputs.name ?? args.name}/${fakeHex(args.name, 16)}`,
        arn: `arn:aws:elasticloadbalancing:${region}:${OFFLINE_ACCOUNT_ID}:targetgroup/${args.inputs.name ?? args.name}/${fakeHex(args.name, 16)}`,
      }),
      'aws:lb/loadBalancer:LoadBalancer': (args) => ({
        arnSuffix: `app/${args.inputs.name ?? args.name}/${fakeHex(args.name, 16)}`,
        arn: `arn:aws:elasticloadbalancing:${region}:${OFFLINE_ACCOUNT_ID}:loadbalancer/app/${args.inputs.name ?? args.name}/${fakeHex(args.name, 16)}`,
      }),
      'docker:index/image:Image': (args) => {
        // A pushed image: repoDigest is `<repository>@<digest>`, the digest stable per image name.
        const imageName = String(args.inputs.imageName);
        const tagAt = imageName.lastIndexOf(':') > imageName.lastIndexOf('/') ? imageName.lastIndexOf(':') : imageName.length;
        const repository = imageName.slice(0, tagAt);
        return { repoDigest: `${repository}@${offlineDigest(repository, imageName.slice(tagAt + 1) || 'latest')}`, registryServer: repository.split('/')[0] };
      },
      'pulumi:pulumi:StackReference': (args) => {
        const stackName = String(args.inputs.name ?? args.name);
        const outputs = this.options.stackOutputs?.[stackName];
        if (!outputs) {
          throw new Error(`Mock StackReference not implemented: ${stackName} (offline runtime knows: ${Object.keys(this.options.stackOutputs ?? {}).join(', ') || 'none'})`);
        }
        return { name: stackName, outputs, secretOutputNames: [] };
      },
    };
  }

  /** Mocks for provider functions (invokes). */
  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    const handler = this.callHandlers[args.token];
    if (!handler) {
      throw new Error(`Mock call not implemented: ${args.token}`);
    }
    this.calls.push({ token: args.token, inputs: args.inputs });
    return handler(args.inputs, this);
  }

  /** Mocks resource creation: inputs echoed back, plus stable ids and the computed outputs a few types have. */
  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const prefix = ID_PREFIXES[args.type];
    const id = prefix ? `${prefix}-${fakeHex(`${args.type}/${args.name}`, 17)}` : `${args.name}-id`;
    const service = args.type.split(':')[1]?.split('/')[0];
    const arn = args.type.startsWith('aws:') ? `arn:aws:${service}:${this.options.region}:${OFFLINE_ACCOUNT_ID}:${args.name}` : undefined;
    const computed = this.outputHandlers[args.type]?.(args, this) ?? {};
    return { id, state: { ...args.inputs, ...(arn ? { arn } : {}), ...computed } };
  }

  /**
   * Wraps the mock monitor so resources are recorded from the wire form of
   * their inputs, where secrets and unknowns are still marked (the mocks'
   * `newResource` sees secrets unwrapped).
   */
  attach(): void {
    const monitor = settings.getMonitor() as any;
    if (!monitor || monitor.__berthRecording) {
      throw new Error('offline runtime: setMocks must be called before attach, once per runtime');
    }
    // What the request carries is what the engine gets: read the options there, not from the program.
    const record = (type: string, name: string, parentUrn: string, object: any, req: any, registered: boolean) => {
      const dependencyUrns: string[] = req.getDependenciesList() ?? [];
      const options: RecordedOptions = {
        retainOnDelete: registered && Boolean(req.getRetainondelete()),
        protect: registered && Boolean(req.getProtect()),
        deleteBeforeReplace: registered && Boolean(req.getDeletebeforereplace()),
        ignoreChanges: registered ? sortedUnique(req.getIgnorechangesList()) : [],
        replaceOnChanges: registered ? sortedUnique(req.getReplaceonchangesList()) : [],
        additionalSecretOutputs: sortedUnique(req.getAdditionalsecretoutputsList()),
        // One entry per dependency: a volume and its attachment named alike are two entries.
        dependsOn: dependencyUrns.map(logicalName).sort(compareStrings),
      };
      this.recordedOptions.set(`${type}::${name}`, options);
      const propertyUrns = new Map<string, string[]>();
      if (registered) {
        req.getPropertydependenciesMap().forEach((dependencies: any, property: string) => {
          const urns: string[] = dependencies.getUrnsList();
          if (urns.length > 0) {
            propertyUrns.set(property, urns);
          }
        });
      }
      this.records.push({ type, name, parentUrn, inputs: decodeWire(object?.toJavaScript?.() ?? {}) as Record<string, unknown>, options, dependencyUrns, propertyUrns });
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: any) => {
      record(req.getType(), req.getName(), req.getParent(), req.getObject(), req, true);
      return register(req, callback);
    };
    // A read (a StackReference, a `get`) carries only dependencies and additionalSecretOutputs.
    const read = monitor.readResource.bind(monitor);
    monitor.readResource = (req: any, callback: any) => {
      record(req.getType(), req.getName(), req.getParent(), req.getProperties(), req, false);
      return read(req, callback);
    };
    monitor.__berthRecording = true;
  }

  /** The options a resource was registered with. */
  optionsOf(type: string, name: string): RecordedOptions {
    const options = this.recordedOptions.get(`${type}::${name}`);
    if (!options) {
      throw new Error(`no ${type} named ${name} was registered`);
    }
    return options;
  }

  /** Every recorded resource, in the order the program registered them. */
  get resources(): RecordedResource[] {
    const typesByName = new Map<string, Set<string>>();
    for (const record of this.records) {
      typesByName.set(record.name, (typesByName.get(record.name) ?? new Set()).add(record.type));
    }
    const shared = new Set([...typesByName].filter(([, types]) => types.size > 1).map(([name]) => name));
    const references = (urns: string[]) => [...new Set(urns.map((urn) => referenceTo(urn, shared)))].sort(compareStrings);
    return this.records.map((record) => {
      const compact = compactOptions({ ...record.options, dependsOn: references(record.dependencyUrns) });
      const propertyDependencies: Record<string, string[]> = {};
      for (const property of [...record.propertyUrns.keys()].sort(compareStrings)) {
        propertyDependencies[property] = references(record.propertyUrns.get(property)!);
      }
      return {
        type: record.type,
        name: record.name,
        parent: record.parentUrn ? logicalName(record.parentUrn) : null,
        ...(compact ? { options: compact } : {}),
        ...(Object.keys(propertyDependencies).length > 0 ? { propertyDependencies } : {}),
        inputs: record.inputs,
      };
    });
  }

  /** Every recorded resource, ordered by name, type and parent so the same program always lists the same way. */
  sortedResources(): RecordedResource[] {
    return this.resources.sort(
      (a, b) => compareStrings(a.name, b.name) || compareStrings(a.type, b.type) || compareStrings(a.parent ?? '', b.parent ?? ''),
    );
  }
}

/** Turns Pulumi's wire encoding into plain JSON with secrets and unknowns shown as markers. */
function decodeWire(value: unknown): unknown {
  if (value === rpc.unknownValue) {
    return UNKNOWN_MARKER;
  }
  if (Array.isArray(value)) {
    return value.map(decodeWire);
  }
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const sig = object[rpc.specialSigKey];
    if (sig === rpc.specialSecretSig) {
      return SECRET_MASK;
    }
    if (sig === rpc.specialResourceSig) {
      const urn = String(object.urn);
      return `resource:${urn.slice(urn.lastIndexOf('::') + 2)}`;
    }
    if (sig === rpc.specialAssetSig || sig === rpc.specialArchiveSig) {
      if (typeof object.path === 'string') {
        return { asset: path.relative(PROJECT_ROOT, object.path) };
      }
      if (typeof object.text === 'string') {
        return { asset: `text sha256:${fakeHex(object.text, 64)}` };
      }
      return { asset: decodeWire(object.assets ?? object.uri) };
    }
    return Object.fromEntries(
      Object.keys(object)
        .sort()
        .map((key) => [key, decodeWire(object[key])]),
    );
  }
  return value;
}

/** Starts a fresh offline runtime for one stack and attaches the recorder. */
export async function startOfflineRuntime(options: OfflineRuntimeOptions): Promise<OfflineRuntime> {
  const runtime = new OfflineRuntime(options);
  await pulumi.runtime.setMocks(runtime, options.project, options.stack, false);
  runtime.attach();
  return runtime;
}

/** Resolves once every resource registration and invoke the program started has finished. */
export async function settle(): Promise<void> {
  await (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}
