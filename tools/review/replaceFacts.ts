/**
 * What the engine does with a change of one resource, from facts rather than
 * guesses: the resource's recorded options (replaceOnChanges, ignoreChanges,
 * deleteBeforeReplace, retainOnDelete, protect; see ResourceOptions in
 * ../offline/types) and a small table of what the providers themselves replace
 * on (PROVIDER_FACTS below). Gives each change its verdict (update, replace or
 * ignored), a replacement its order, and the dependents the engine replaces
 * with it. Pure; ./diff finds the changes, ./renderDiff shows them.
 */
import { compareStrings } from '../../components/common/records';
import type { RecordedResource } from '../offline/types';

export interface ResourceKey {
  type: string;
  name: string;
}

/**
 * What the engine does with a change: `update` the resource in place,
 * `replace` it (a new one and a delete of the old one), or nothing at all
 * (`ignored`: the input is in ignoreChanges, so the engine keeps its old value).
 */
export type ChangeEffect = 'update' | 'replace' | 'ignored';

/** One changed input of a resource. `before`/`after` are absent when the key was added/removed. */
export interface InputChange {
  path: string;
  before?: unknown;
  after?: unknown;
  /** For multi-line strings (scripts, unit files): the changed lines, `- old` / `+ new`. */
  lines?: string[];
  effect: ChangeEffect;
  /** The fact behind a replace or an ignore, e.g. `replaceOnChanges triggers[*]`. */
  reason?: string;
}

/** `create-first`: the new one is created, the old one deleted at the end. `delete-first`: the reverse. */
export type ReplaceOrder = 'create-first' | 'delete-first';

/** A dependent that a replacement replaces too: an input it takes from the replaced resource forces its replacement. */
export interface DependentReplacement extends ResourceKey {
  /** Its inputs that take a value from the replaced resource (or from another dependent replaced with it). */
  via: string[];
  order: ReplaceOrder;
}

export interface Replacement {
  order: ReplaceOrder;
  /** Why the old one goes first: the `deleteBeforeReplace` option, or the provider's rule for a set `name`. */
  orderReason?: string;
  /** retainOnDelete: the old one is only dropped from the stack, and stays in the cloud. */
  retained?: true;
  /** protect: the engine refuses the replacement and fails the update. */
  protected?: true;
  /**
   * Dependents replaced with it, in the order found. With `delete-first` the
   * engine deletes these before the old resource (pulumi/pulumi
   * pkg/resource/deploy/step_generator.go, calculateDependentReplacements);
   * with `create-first` each is replaced in its own order once the new one exists.
   */
  dependents: DependentReplacement[];
}

export interface ResourceChange extends ResourceKey {
  /** The strongest effect among its changes: replace, else update, else ignored (nothing is applied). */
  action: ChangeEffect;
  /** How the replacement runs; present when `action` is `replace`. */
  replacement?: Replacement;
  changes: InputChange[];
}

/** A change as diffValues finds it, before the engine's verdict on it. */
export type RawChange = Omit<InputChange, 'effect' | 'reason'>;

export type PathSegment = string | number;

/**
 * A property path in Pulumi's syntax (`a.b`, `a[0]`, `a[*]`, `a["key.with.dots"]`),
 * as ResourceOptions.replaceOnChanges and ignoreChanges are written.
 */
export function parsePropertyPath(text: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let at = 0;
  while (at < text.length) {
    if (text[at] === '.') {
      at++;
    } else if (text[at] === '[' && text[at + 1] === '"') {
      let key = '';
      let end = at + 2;
      for (; end < text.length && text[end] !== '"'; end++) {
        if (text[end] === '\\' && text[end + 1] === '"') {
          end++;
        }
        key += text[end];
      }
      segments.push(key);
      const close = text.indexOf(']', end);
      at = close < 0 ? text.length : close + 1;
    } else if (text[at] === '[') {
      const close = text.indexOf(']', at);
      const inner = text.slice(at + 1, close < 0 ? undefined : close);
      segments.push(/^\d+$/.test(inner) ? Number(inner) : inner);
      at = close < 0 ? text.length : close + 1;
    } else {
      let end = at;
      while (end < text.length && text[end] !== '.' && text[end] !== '[') {
        end++;
      }
      segments.push(text.slice(at, end));
      at = end;
    }
  }
  return segments;
}

/**
 * The property path of a change as the engine sees it: a change inside a
 * string (`stdin{json}.image`, `userDataBase64{gzip}`) is a change of that
 * string. Undefined for what is not an input (`(parent)`, `(options)...`).
 */
function changedPropertyPath(path: string): PathSegment[] | undefined {
  if (path.startsWith('(')) {
    return undefined;
  }
  const inside = path.indexOf('{');
  return parsePropertyPath(inside < 0 ? path : path.slice(0, inside));
}

/**
 * Pulumi's `PropertyPath.Contains` (sdk/go/common/resource/properties_path.go):
 * `pattern` covers `path` when it is as long or shorter and every segment is
 * equal or `*`. So `triggers[*]` covers `triggers[0]` and `triggers[0].x`, a
 * top-level `ami` covers every change under `ami`, and nothing covers a path
 * shorter than itself (`triggers[*]` does not cover `triggers`).
 */
export function pathCovers(pattern: PathSegment[], path: PathSegment[]): boolean {
  return path.length >= pattern.length && pattern.every((segment, index) => segment === '*' || segment === path[index]);
}

/** What a provider itself does, whatever the options say: facts of its schema. */
interface ProviderFacts {
  /** Input paths whose change makes the provider replace the resource. */
  replaces: string[];
  /** Input paths that replace only while the named boolean input is true. */
  replacesWhenTrue?: Record<string, string[]>;
  /**
   * The provider asks for delete-before-replace when the program sets `name`
   * (two resources cannot share it); an explicit `deleteBeforeReplace: false`
   * would override this, but synth output records only options that are set.
   */
  deletesFirstWhenNamed?: boolean;
}

/**
 * The inputs each provider replaces a resource on, for the types Berth
 * declares. For the AWS provider these are the `ForceNew: true` attributes of
 * the upstream Terraform schema (pulumi-aws bridges hashicorp/terraform-provider-aws;
 * the Pulumi names are its camelCase names), read in
 * hashicorp/terraform-provider-aws at these files:
 *
 * - aws:ec2/instance:Instance — internal/service/ec2/ec2_instance.go, ResourceInstance:
 *   ami, associate_public_ip_address, availability_zone, ebs_optimized,
 *   hibernation, key_name, launch_template, placement_group, private_ip,
 *   root_block_device.encrypted/kms_key_id, security_groups, subnet_id,
 *   tenancy are ForceNew; user_data and user_data_base64 only through
 *   CustomizeDiff `ForceNewIf(... user_data_replace_on_change)`. instance_type,
 *   vpc_security_group_ids, iam_instance_profile, tags update in place.
 * - aws:ebs/volume:Volume — internal/service/ec2/ebs_volume.go, resourceEBSVolume:
 *   availability_zone, encrypted, kms_key_id, multi_attach_enabled,
 *   outpost_arn, snapshot_id (size, type, iops, throughput are modified in place).
 * - aws:ec2/volumeAttachment:VolumeAttachment — internal/service/ec2/ebs_volume_attachment.go:
 *   device_name, instance_id, volume_id (Update is a no-op).
 * - aws:ec2/keyPair:KeyPair — internal/service/ec2/ec2_key_pair.go: key_name, key_name_prefix, public_key.
 * - aws:ec2/securityGroup:SecurityGroup — internal/service/ec2/vpc_security_group.go:
 *   description, name, name_prefix, vpc_id (ingress/egress rules update in place).
 * - aws:iam/role:Role — internal/service/iam/role.go: name, name_prefix, path.
 * - aws:iam/instanceProfile:InstanceProfile — internal/service/iam/instance_profile.go: name, name_prefix, path.
 * - aws:iam/rolePolicy:RolePolicy — internal/service/iam/role_policy.go: name, name_prefix, role.
 * - aws:iam/rolePolicyAttachment:RolePolicyAttachment — internal/service/iam/role_policy_attachment.go: role, policy_arn.
 * - aws:cloudwatch/logGroup:LogGroup — internal/service/logs/group.go: name, name_prefix, log_group_class.
 * - aws:cloudwatch/metricAlarm:MetricAlarm — internal/service/cloudwatch/metric_alarm.go:
 *   alarm_name (Pulumi's `name`); everything else is a PutMetricAlarm update.
 * - aws:ecr/repository:Repository — internal/service/ecr/repository.go: name, encryption_configuration.
 *
 * `deletesFirstWhenNamed`: pulumi-aws auto-names every Terraform `name` input
 * (pulumi/pulumi-aws provider/autonaming.go), and the bridge asks for
 * delete-before-replace when such a name was set by the program rather than
 * generated (pulumi/pulumi-terraform-bridge pkg/tfbridge/schema.go,
 * nameRequiresDeleteBeforeReplace; pulumi/pulumi-terraform#465). The engine
 * follows the provider unless the deleteBeforeReplace option is set
 * (pulumi/pulumi pkg/resource/deploy/step_generator.go).
 *
 * @pulumi/command: `triggers` is tagged `provider:"replaceOnChanges"` in
 * pulumi/pulumi-command provider/pkg/provider/common/resourceInputs.go; Command
 * and CopyToRemote use pulumi-go-provider's default diff (no CustomDiff in
 * remote/commandController.go, remote/copyController.go), which replaces on a
 * change of such a field, `triggers` appearing or going included. The SDK also
 * merges `replaceOnChanges: ["triggers[*]"]` into the options
 * (node_modules/@pulumi/command/remote/command.js:132, copyToRemote.js:131),
 * which synth records as an option. Any other change (create, update, stdin,
 * connection, source, remotePath) is an update.
 */
export const PROVIDER_FACTS: Record<string, ProviderFacts> = {
  'aws:ec2/instance:Instance': {
    replaces: [
      'ami',
      'associatePublicIpAddress',
      'availabilityZone',
      'ebsOptimized',
      'hibernation',
      'keyName',
      'launchTemplate',
      'placementGroup',
      'privateIp',
      'rootBlockDevice.encrypted',
      'rootBlockDevice.kmsKeyId',
      'securityGroups',
      'subnetId',
      'tenancy',
    ],
    replacesWhenTrue: { userDataReplaceOnChange: ['userData', 'userDataBase64'] },
  },
  'aws:ebs/volume:Volume': { replaces: ['availabilityZone', 'encrypted', 'kmsKeyId', 'multiAttachEnabled', 'outpostArn', 'snapshotId'] },
  'aws:ec2/volumeAttachment:VolumeAttachment': { replaces: ['deviceName', 'instanceId', 'volumeId'] },
  'aws:ec2/keyPair:KeyPair': { replaces: ['keyName', 'keyNamePrefix', 'publicKey'] },
  'aws:ec2/securityGroup:SecurityGroup': { replaces: ['description', 'name', 'namePrefix', 'vpcId'], deletesFirstWhenNamed: true },
  'aws:iam/role:Role': { replaces: ['name', 'namePrefix', 'path'], deletesFirstWhenNamed: true },
  'aws:iam/instanceProfile:InstanceProfile': { replaces: ['name', 'namePrefix', 'path'], deletesFirstWhenNamed: true },
  'aws:iam/rolePolicy:RolePolicy': { replaces: ['name', 'namePrefix', 'role'], deletesFirstWhenNamed: true },
  'aws:iam/rolePolicyAttachment:RolePolicyAttachment': { replaces: ['policyArn', 'role'] },
  'aws:cloudwatch/logGroup:LogGroup': { replaces: ['logGroupClass', 'name', 'namePrefix'], deletesFirstWhenNamed: true },
  'aws:cloudwatch/metricAlarm:MetricAlarm': { replaces: ['name'] },
  'aws:ecr/repository:Repository': { replaces: ['encryptionConfigurations', 'name'], deletesFirstWhenNamed: true },
  'command:remote:Command': { replaces: ['triggers'] },
  'command:remote:CopyToRemote': { replaces: ['triggers'] },
};

/** The paths whose change replaces this resource, each with the fact behind it. */
function replacingPaths(resource: RecordedResource): { pattern: PathSegment[]; reason: string }[] {
  const paths = (resource.options?.replaceOnChanges ?? []).map((path) => ({ pattern: parsePropertyPath(path), reason: `replaceOnChanges ${path}` }));
  const facts = PROVIDER_FACTS[resource.type];
  for (const path of facts?.replaces ?? []) {
    paths.push({ pattern: parsePropertyPath(path), reason: `the provider replaces on ${path}` });
  }
  for (const [input, guarded] of Object.entries(facts?.replacesWhenTrue ?? {})) {
    if (resource.inputs[input] === true) {
      paths.push(...guarded.map((path) => ({ pattern: parsePropertyPath(path), reason: `the provider replaces on ${path} (${input})` })));
    }
  }
  return paths;
}

function ignoredBy(resource: RecordedResource, path: PathSegment[]): string | undefined {
  return (resource.options?.ignoreChanges ?? []).find((pattern) => pathCovers(parsePropertyPath(pattern), path));
}

/** The order a replacement of this resource runs in, and why. */
function replaceOrder(resource: RecordedResource): { order: ReplaceOrder; orderReason?: string } {
  if (resource.options?.deleteBeforeReplace) {
    return { order: 'delete-first', orderReason: 'deleteBeforeReplace' };
  }
  if (PROVIDER_FACTS[resource.type]?.deletesFirstWhenNamed && typeof resource.inputs.name === 'string') {
    return { order: 'delete-first', orderReason: 'the provider does so for a set name' };
  }
  return { order: 'create-first' };
}

/** Whether any resource of a synth carries recorded options or dependencies; older synths carry none. */
export function hasLifecycleFacts(resources: RecordedResource[]): boolean {
  return resources.some((resource) => resource.options !== undefined || resource.propertyDependencies !== undefined);
}

/**
 * Resources by the references synth output uses for them: the logical name,
 * or `type::name` where several resources share a name (see ../offline/runtime).
 */
export class DependencyGraph {
  private readonly byReference = new Map<string, RecordedResource[]>();

  constructor(readonly resources: RecordedResource[]) {
    for (const resource of resources) {
      for (const reference of [resource.name, `${resource.type}::${resource.name}`]) {
        this.byReference.set(reference, [...(this.byReference.get(reference) ?? []), resource]);
      }
    }
  }

  resolve(reference: string): RecordedResource[] {
    return this.byReference.get(reference) ?? [];
  }
}

const keyOf = (resource: ResourceKey) => `${resource.type}\u0000${resource.name}`;

/**
 * Whether an input that becomes unknown (the resource it takes a value from is
 * replaced) replaces this resource: the provider sees a change of the whole
 * input. Ignored inputs keep their old value and replace nothing.
 */
function unknownInputReplaces(resource: RecordedResource, input: string): boolean {
  if (ignoredBy(resource, [input])) {
    return false;
  }
  return replacingPaths(resource).some(({ pattern }) => pattern[0] === input || pattern[0] === '*');
}

/**
 * The dependents a replacement of `root` replaces too, as the engine finds
 * them (step_generator.go, calculateDependentReplacements): every transitive
 * dependent with an input that takes a value from a replaced resource, where
 * that input's change forces its replacement. A dependency through dependsOn
 * alone replaces nothing.
 */
function dependentReplacements(root: ResourceKey, graph: DependencyGraph): DependentReplacement[] {
  const replaced = new Set([keyOf(root)]);
  const found: DependentReplacement[] = [];
  const candidates = [...graph.resources].sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.type, b.type));
  for (let grew = true; grew; ) {
    grew = false;
    for (const resource of candidates) {
      if (replaced.has(keyOf(resource))) {
        continue;
      }
      const via = Object.entries(resource.propertyDependencies ?? {})
        .filter(([input, references]) => references.some((reference) => graph.resolve(reference).some((dependency) => replaced.has(keyOf(dependency)))) && unknownInputReplaces(resource, input))
        .map(([input]) => input);
      if (via.length > 0) {
        replaced.add(keyOf(resource));
        found.push({ type: resource.type, name: resource.name, via, order: replaceOrder(resource).order });
        grew = true;
      }
    }
  }
  return found;
}

const IGNORED_ON_REPLACE = 'the replacement is created with the old value';

/** The engine's verdict on each change of a resource, from its options and its provider's facts. */
export function classifyChanges(resource: RecordedResource, raw: RawChange[], graph: DependencyGraph): ResourceChange {
  const replacing = replacingPaths(resource);
  const changes: InputChange[] = raw.map((change) => {
    if (change.path === '(parent)') {
      return { ...change, effect: 'replace', reason: 'a new parent is a new URN' };
    }
    const path = changedPropertyPath(change.path);
    if (!path) {
      return { ...change, effect: 'update' };
    }
    // The engine puts the old value of ignored inputs into the goal before it diffs.
    const ignored = ignoredBy(resource, path);
    if (ignored) {
      return { ...change, effect: 'ignored', reason: `ignoreChanges ${ignored}` };
    }
    const replaces = replacing.find(({ pattern }) => pathCovers(pattern, path));
    return replaces ? { ...change, effect: 'replace', reason: replaces.reason } : { ...change, effect: 'update' };
  });
  const action: ChangeEffect = changes.some((change) => change.effect === 'replace') ? 'replace' : changes.some((change) => change.effect === 'update') ? 'update' : 'ignored';
  if (action !== 'replace') {
    return { type: resource.type, name: resource.name, action, changes };
  }
  for (const change of changes) {
    if (change.effect === 'ignored') {
      change.reason = `${change.reason}; ${IGNORED_ON_REPLACE}`;
    }
  }
  const replacement: Replacement = {
    ...replaceOrder(resource),
    ...(resource.options?.retainOnDelete ? { retained: true as const } : {}),
    ...(resource.options?.protect ? { protected: true as const } : {}),
    dependents: dependentReplacements(resource, graph),
  };
  return { type: resource.type, name: resource.name, action, replacement, changes };
}
