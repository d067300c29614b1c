/**
 * The difference between two synth results of one stack, as a reviewer reads
 * it: image digests that move first (the usual reason for a change), then
 * resources added, removed and changed, with each changed input's key path and
 * its old and new value, and what the engine will do with it: update in
 * place, replace (and in which order, and which dependents go with it), or
 * nothing because the input is in ignoreChanges. Those verdicts come from
 * facts, not guesses: the resources' recorded options (see ResourceOptions in
 * ../offline) and a small table of what the providers themselves replace on
 * (PROVIDER_FACTS below). Pure: same two results, same diff, same text.
 */
import { TextDecoder } from 'util';
import { gunzipSync } from 'zlib';
import { diffLines } from '../../components/common/lineDiff';
import type { RecordedResource, ResourceOptions } from '../offline';
import type { SynthResult } from '../synth';

/** One service whose image digest(s) differ between the two synths. */
export interface DigestChange {
  service: string;
  before: string[];
  after: string[];
}

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

export interface SynthDiff {
  stack: string;
  digests: DigestChange[];
  added: ResourceKey[];
  removed: ResourceKey[];
  changed: ResourceChange[];
  unchanged: number;
}

const IMAGE_DIGEST = /([a-z0-9][a-z0-9._:/-]*)@(sha256:[0-9a-f]{64})/g;

/** Compares `before` (e.g. the base branch) with `after` (e.g. the working tree). */
export function diffSynth(before: SynthResult, after: SynthResult): SynthDiff {
  const oldByKey = indexResources(before.resources);
  const newByKey = indexResources(after.resources);
  const added: ResourceKey[] = [];
  const removed: ResourceKey[] = [];
  const changed: ResourceChange[] = [];
  let unchanged = 0;
  for (const [key, resource] of oldByKey) {
    if (!newByKey.has(key)) {
      removed.push({ type: resource.type, name: resource.name });
    }
  }
  // A synth from before options were recorded has none anywhere; its options are unknown, not empty.
  const optionsKnown = hasLifecycleFacts(before.resources) && hasLifecycleFacts(after.resources);
  // The engine finds a replacement's dependents in the last deployment's dependency graph.
  const graph = new DependencyGraph(hasLifecycleFacts(before.resources) ? before.resources : after.resources);
  for (const [key, resource] of newByKey) {
    const previous = oldByKey.get(key);
    if (!previous) {
      added.push({ type: resource.type, name: resource.name });
      continue;
    }
    const changes: RawChange[] = [];
    if (previous.parent !== resource.parent) {
      changes.push({ path: '(parent)', before: previous.parent, after: resource.parent });
    }
    diffValues(previous.inputs, resource.inputs, '', changes);
    if (optionsKnown) {
      diffOptions(previous.options ?? {}, resource.options ?? {}, changes);
    }
    if (changes.length > 0) {
      changed.push(classifyChanges(resource, changes, graph));
    } else {
      unchanged++;
    }
  }
  const byKey = (a: ResourceKey, b: ResourceKey) => compare(a.name, b.name) || compare(a.type, b.type);
  return {
    stack: after.stack,
    digests: diffDigests(before.resources, after.resources),
    added: added.sort(byKey),
    removed: removed.sort(byKey),
    changed: changed.sort(byKey),
    unchanged,
  };
}

export function isEmptyDiff(diff: SynthDiff): boolean {
  return diff.digests.length === 0 && diff.added.length === 0 && diff.removed.length === 0 && diff.changed.length === 0;
}

function indexResources(resources: RecordedResource[]): Map<string, RecordedResource> {
  const map = new Map<string, RecordedResource>();
  for (const resource of resources) {
    map.set(`${resource.type}\u0000${resource.name}`, resource);
  }
  return map;
}

/**
 * Digests per service, read from every `repo@sha256:…` string anywhere in the
 * inputs (container specs, image URIs, JSON embedded in strings). The service
 * is the repository's last path segment: `…/berth/auth-service` -> auth-service.
 */
export function digestsByService(resources: RecordedResource[]): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      for (const match of value.matchAll(IMAGE_DIGEST)) {
        const repository = match[1].replace(/:[^/]*$/, '');
        const service = repository.slice(repository.lastIndexOf('/') + 1);
        const set = found.get(service) ?? new Set<string>();
        set.add(match[2]);
        found.set(service, set);
      }
    } else if (Array.isArray(value)) {
      value.forEach(visit);
    } else if (value && typeof value === 'object') {
      Object.values(value).forEach(visit);
    }
  };
  resources.forEach((resource) => visit(resource.inputs));
  return found;
}

function diffDigests(before: RecordedResource[], after: RecordedResource[]): DigestChange[] {
  const oldDigests = digestsByService(before);
  const newDigests = digestsByService(after);
  const services = [...new Set([...oldDigests.keys(), ...newDigests.keys()])].sort(compare);
  const changes: DigestChange[] = [];
  for (const service of services) {
    const was = [...(oldDigests.get(service) ?? [])].sort(compare);
    const now = [...(newDigests.get(service) ?? [])].sort(compare);
    if (was.join() !== now.join()) {
      changes.push({ service, before: was, after: now });
    }
  }
  return changes;
}

/** A change as diffValues finds it, before the engine's verdict on it. */
type RawChange = Omit<InputChange, 'effect' | 'reason'>;

type PathSegment = string | number;

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
function hasLifecycleFacts(resources: RecordedResource[]): boolean {
  return resources.some((resource) => resource.options !== undefined || resource.propertyDependencies !== undefined);
}

const OPTION_KEYS: (keyof ResourceOptions)[] = ['dependsOn', 'deleteBeforeReplace', 'replaceOnChanges', 'ignoreChanges', 'retainOnDelete', 'protect', 'additionalSecretOutputs'];

/** A changed option shows as `(options).<name>`: it changes what the engine does next, not the cloud resource. */
function diffOptions(before: ResourceOptions, after: ResourceOptions, changes: RawChange[]): void {
  for (const key of OPTION_KEYS) {
    if (!deepEqual(before[key], after[key])) {
      changes.push({ path: `(options).${key}`, ...(before[key] === undefined ? {} : { before: before[key] }), ...(after[key] === undefined ? {} : { after: after[key] }) });
    }
  }
}

/**
 * Resources by the references synth output uses for them: the logical name,
 * or `type::name` where several resources share a name (see ../offline).
 */
class DependencyGraph {
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
  const candidates = [...graph.resources].sort((a, b) => compare(a.name, b.name) || compare(a.type, b.type));
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
function classifyChanges(resource: RecordedResource, raw: RawChange[], graph: DependencyGraph): ResourceChange {
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

/** A key added or removed: encoded user data is shown as its text, every line added or removed. */
function pushAddedOrRemoved(path: string, key: string, value: unknown, side: 'before' | 'after', changes: RawChange[]): void {
  const decoded = typeof value === 'string' ? decodeBase64Text(value, key) : undefined;
  if (decoded) {
    const mark = side === 'before' ? '-' : '+';
    changes.push({ path: `${path}${decoded.suffix}`, lines: decoded.text.split('\n').map((line) => `${mark} ${line}`) });
    return;
  }
  changes.push(side === 'before' ? { path, before: value } : { path, after: value });
}

function diffValues(before: unknown, after: unknown, at: string, changes: RawChange[]): void {
  if (deepEqual(before, after)) {
    return;
  }
  if (typeof before === 'string' && typeof after === 'string') {
    // Gzipped (or base64) user data is diffed as the script it is, not as base64.
    const key = at.slice(at.lastIndexOf('.') + 1);
    const oldDecoded = decodeBase64Text(before, key);
    const newDecoded = decodeBase64Text(after, key);
    if (oldDecoded || newDecoded) {
      const suffix = (newDecoded ?? oldDecoded)!.suffix;
      const oldText = oldDecoded?.text ?? before;
      const newText = newDecoded?.text ?? after;
      if (oldText === newText) {
        changes.push({ path: `${at}${suffix}`, lines: ['(same text; only its encoding differs)'] });
        return;
      }
      diffValues(oldText, newText, `${at}${suffix}`, changes);
      return;
    }
    const oldJson = parseJsonContainer(before);
    const newJson = parseJsonContainer(after);
    if (oldJson !== undefined && newJson !== undefined) {
      diffValues(oldJson, newJson, `${at}{json}`, changes);
      return;
    }
    if (before.includes('\n') || after.includes('\n')) {
      changes.push({ path: at, lines: lineDiff(before, after) });
      return;
    }
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    for (let index = 0; index < Math.max(before.length, after.length); index++) {
      const path = `${at}[${index}]`;
      if (index >= after.length) {
        changes.push({ path, before: before[index] });
      } else if (index >= before.length) {
        changes.push({ path, after: after[index] });
      } else {
        diffValues(before[index], after[index], path, changes);
      }
    }
    return;
  }
  if (isPlainObject(before) && isPlainObject(after)) {
    for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort(compare)) {
      const path = at === '' ? key : `${at}.${key}`;
      if (!(key in after)) {
        pushAddedOrRemoved(path, key, before[key], 'before', changes);
      } else if (!(key in before)) {
        pushAddedOrRemoved(path, key, after[key], 'after', changes);
      } else {
        diffValues(before[key], after[key], path, changes);
      }
    }
    return;
  }
  changes.push({ path: at === '' ? '(inputs)' : at, before, after });
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The text inside a base64 string: any base64 whose bytes start with the gzip
 * magic (1f 8b) is gunzipped (`{gzip}`); under the key `userDataBase64` plain
 * base64 text is decoded too (`{base64}`). Undefined for anything else, and for
 * bytes that are not UTF-8 text.
 */
export function decodeBase64Text(value: string, key = ''): { text: string; suffix: string } | undefined {
  const compact = value.replace(/\s+/g, '');
  if (compact.length < 4 || !BASE64.test(compact)) {
    return undefined;
  }
  const bytes = Buffer.from(compact, 'base64');
  const gzipped = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  if (!gzipped && key !== 'userDataBase64') {
    return undefined;
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(gzipped ? gunzipSync(bytes) : bytes);
    return { text, suffix: gzipped ? '{gzip}' : '{base64}' };
  } catch {
    return undefined;
  }
}

/** JSON objects/arrays embedded in strings (agent specs, IAM policies) are diffed key by key. */
function parseJsonContainer(text: string): unknown {
  const trimmed = text.trim();
  if (!(trimmed.startsWith('{') || trimmed.startsWith('['))) {
    return undefined;
  }
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
}

/** Changed lines of two texts, by longest common subsequence, unchanged lines left out. */
export function lineDiff(before: string, after: string): string[] {
  return diffLines(before, after)
    .filter((op) => op.kind !== ' ')
    .map((op) => `${op.kind} ${op.text}`);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `sha256:0123456789ab…`: enough to tell digests apart at a glance. */
export function shortDigest(digest: string): string {
  return digest.length > 'sha256:'.length + 12 ? `${digest.slice(0, 'sha256:'.length + 12)}…` : digest;
}

function formatDigests(digests: string[]): string {
  return digests.length === 0 ? '(none)' : digests.map(shortDigest).join(', ');
}

function formatValue(value: unknown): string {
  return value === undefined ? '(absent)' : JSON.stringify(value);
}

export interface RenderOptions {
  /** What the diff compares against, e.g. `origin/main`. */
  base: string;
  /** What is compared, e.g. `working tree`. @default "working tree" */
  head?: string;
  /** Markdown only: the most characters the comment may have. @default MARKDOWN_LIMIT */
  maxChars?: number;
}

/** GitHub refuses comments over 65,536 characters; this leaves room for what CI wraps around the diff. */
export const MARKDOWN_LIMIT = 60_000;

function summaryLine(diff: SynthDiff): string {
  const replaced = diff.changed.filter((resource) => resource.action === 'replace').length;
  const changing = `${diff.changed.length} to change${replaced > 0 ? ` (${replaced} replaced)` : ''}`;
  return `Resources: ${diff.added.length} to add, ${diff.removed.length} to remove, ${changing}, ${diff.unchanged} unchanged`;
}

/**
 * How much of each changed input to show: all of it (the default), the first
 * `linesPerInput` lines of each line diff, or (`inputs: false`) none of the
 * inputs, only which resources change.
 */
interface BodyLimit {
  linesPerInput?: number;
  inputs?: boolean;
}

interface Body {
  lines: string[];
  /** Diff lines not shown, and their characters (each with its newline). */
  leftOutLines: number;
  leftOutChars: number;
}

/** A change's line ends with the engine's verdict, except for a plain update. */
function withEffect(text: string, change: InputChange): string {
  return change.effect === 'update' ? text : `${text} (${change.effect}: ${change.reason})`;
}

function orderText(replacement: Replacement): string {
  const text =
    replacement.order === 'delete-first'
      ? `delete the old one first (${replacement.orderReason}), then create the new one`
      : 'create the new one, then delete the old one';
  const retained = replacement.retained ? '; retainOnDelete: the old one is dropped from the stack but stays in the cloud' : '';
  // The engine stops with "unable to replace resource ... as it is currently marked for protection".
  const protectedText = replacement.protected ? '; protect: the engine refuses this and the update fails' : '';
  return `${text}${retained}${protectedText}`;
}

/**
 * `~` for an update, `+-` for a replacement (as `pulumi preview` marks them)
 * with the order it runs in; a resource whose every change is ignored says so.
 */
function resourceHeader(resource: ResourceChange): string {
  if (resource.action === 'replace') {
    return `+- ${resource.type} ${resource.name} (replace: ${orderText(resource.replacement!)})`;
  }
  if (resource.action === 'ignored') {
    return `~ ${resource.type} ${resource.name} (ignored: every change is in ignoreChanges, nothing is applied)`;
  }
  return `~ ${resource.type} ${resource.name} (update)`;
}

/** One line per dependent a replacement also replaces, saying when its delete runs. */
function dependentLines(resource: ResourceChange): string[] {
  const replacement = resource.replacement;
  if (!replacement) {
    return [];
  }
  if (replacement.order === 'delete-first' && replacement.dependents.length === 0) {
    return ['    no dependent is deleted with it'];
  }
  return replacement.dependents.map((dependent) =>
    replacement.order === 'delete-first'
      ? `    also replaced, deleted before it: ${dependent.type} ${dependent.name} (via ${dependent.via.join(', ')})`
      : `    also replaced: ${dependent.type} ${dependent.name} (via ${dependent.via.join(', ')}; ${dependent.order === 'delete-first' ? 'its old one deleted first' : 'its old one deleted after'})`,
  );
}

/** The resource part shared by the text and markdown forms: the summary, then one block per resource. */
function resourceBody(diff: SynthDiff, limit: BodyLimit = {}): Body {
  const body: Body = { lines: [summaryLine(diff)], leftOutLines: 0, leftOutChars: 0 };
  const leaveOut = (lines: string[]) => {
    body.leftOutLines += lines.length;
    body.leftOutChars += lines.reduce((sum, line) => sum + line.length + 1, 0);
  };
  for (const resource of diff.added) {
    body.lines.push(`+ ${resource.type} ${resource.name}`);
  }
  for (const resource of diff.removed) {
    body.lines.push(`- ${resource.type} ${resource.name}`);
  }
  for (const resource of diff.changed) {
    body.lines.push(resourceHeader(resource));
    const inputLines: string[] = dependentLines(resource);
    for (const change of resource.changes) {
      if (change.lines) {
        const changeLines = change.lines.map((line) => `      ${line}`);
        const kept = limit.linesPerInput === undefined ? changeLines.length : Math.min(limit.linesPerInput, changeLines.length);
        inputLines.push(withEffect(`    ${change.path}:`, change), ...changeLines.slice(0, kept));
        if (kept < changeLines.length && limit.inputs !== false) {
          leaveOut(changeLines.slice(kept));
          inputLines.push(`      … ${changeLines.length - kept} more changed lines left out`);
        }
      } else {
        inputLines.push(withEffect(`    ${change.path}: ${formatValue(change.before)} -> ${formatValue(change.after)}`, change));
      }
    }
    if (limit.inputs === false) {
      if (inputLines.length > 0) {
        leaveOut(inputLines);
        body.lines.push(`    … ${resource.changes.length} changed inputs left out`);
      }
    } else {
      body.lines.push(...inputLines);
    }
  }
  return body;
}

/** Image digest moves, then the resource body. */
function bodyLines(diff: SynthDiff): string[] {
  const lines: string[] = [];
  if (diff.digests.length > 0) {
    lines.push('Image digests:');
    for (const change of diff.digests) {
      lines.push(`  ${change.service}: ${formatDigests(change.before)} -> ${formatDigests(change.after)}`);
    }
    lines.push('');
  }
  return [...lines, ...resourceBody(diff).lines];
}

/** Plain text for a terminal or a CI log. */
export function renderDiffText(diff: SynthDiff, options: RenderOptions): string {
  const head = options.head ?? 'working tree';
  const title = `synth diff ${diff.stack}: ${options.base} -> ${head}`;
  if (isEmptyDiff(diff)) {
    return `${title}\nNo changes (${diff.unchanged} resources).\n`;
  }
  return [title, '', ...bodyLines(diff)].join('\n') + '\n';
}

/** 60000 -> `60,000`, the same on every machine. */
function count(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+$)/g, ',');
}

/** A code fence longer than any run of backticks in the lines it encloses. */
function fenceFor(lines: string[]): string {
  const longest = Math.max(0, ...lines.map((line) => Math.max(0, ...(line.match(/`+/g) ?? []).map((run) => run.length))));
  return '`'.repeat(Math.max(3, longest + 1));
}

/**
 * Markdown for a pull-request comment: a heading, the digest moves as a list,
 * the rest as a diff block. Never longer than `maxChars` (60,000 by default):
 * a longer diff keeps the digest moves and the resource list, cuts each
 * input's line diff to the same number of lines (as many as fit), and ends by
 * saying how much was left out and how to see all of it.
 */
export function renderDiffMarkdown(diff: SynthDiff, options: RenderOptions): string {
  const head = options.head ?? 'this change';
  const maxChars = options.maxChars ?? MARKDOWN_LIMIT;
  const top = [`### Synth diff: \`${diff.stack}\` (\`${options.base}\` → ${head})`, ''];
  if (isEmptyDiff(diff)) {
    top.push(`No changes (${diff.unchanged} resources).`);
    return top.join('\n') + '\n';
  }
  if (diff.digests.length > 0) {
    top.push('**Image digests**', '');
    for (const change of diff.digests) {
      top.push(`- \`${change.service}\`: \`${formatDigests(change.before)}\` → \`${formatDigests(change.after)}\``);
    }
    top.push('');
  }
  const render = (body: Body): string => {
    const fence = fenceFor(body.lines);
    const lines = [...top, `**${body.lines[0]}**`, '', `${fence}diff`, ...body.lines.slice(1), fence];
    if (body.leftOutLines > 0) {
      lines.push(
        '',
        `_${count(body.leftOutLines)} diff lines (${count(body.leftOutChars)} characters) left out to keep this comment under ${count(maxChars)} characters. ` +
          `To see all of it, run \`npm run --silent synth -- diff ${diff.stack} --base ${options.base}\` locally._`,
      );
    }
    return lines.join('\n') + '\n';
  };
  const full = render(resourceBody(diff));
  if (full.length <= maxChars) {
    return full;
  }
  // The most lines per input that still fits; fewer lines never make the comment longer.
  const longest = Math.max(0, ...diff.changed.flatMap((resource) => resource.changes.map((change) => change.lines?.length ?? 0)));
  let low = -1;
  let high = longest;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (render(resourceBody(diff, { linesPerInput: middle })).length <= maxChars) {
      low = middle;
    } else {
      high = middle;
    }
  }
  if (low >= 0) {
    return render(resourceBody(diff, { linesPerInput: low }));
  }
  // Even without line diffs it is too long: show which resources change, not how.
  const listOnly = resourceBody(diff, { inputs: false });
  const listed = render(listOnly);
  if (listed.length <= maxChars) {
    return listed;
  }
  // A resource list longer than a comment: keep as much of it as fits.
  const lines = listOnly.lines;
  let keep = lines.length;
  let cut: Body = listOnly;
  while (keep > 1) {
    keep--;
    // Markers for inputs already left out are not diff lines; those inputs are counted in listOnly.
    const dropped = lines.slice(keep).filter((line) => !line.startsWith('    … '));
    cut = {
      lines: [...lines.slice(0, keep), `… ${dropped.length} more resources left out`],
      leftOutLines: listOnly.leftOutLines + dropped.length,
      leftOutChars: listOnly.leftOutChars + dropped.reduce((sum, line) => sum + line.length + 1, 0),
    };
    if (render(cut).length <= maxChars) {
      break;
    }
  }
  return render(cut);
}
