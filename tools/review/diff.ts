/**
 * The difference between two synth results of one stack, as a reviewer reads
 * it: image digests that move first (the usual reason for a change), then
 * each service whose engines or groups change (a move between hosts and ECS:
 * ../synth/ecs reads where each service runs), then
 * each service route that changes (host names, paths, rule priority, target
 * port, health check: ../synth/traffic reads them), then resources added,
 * removed and changed, with each changed input's key path and
 * its old and new value, and what the engine will do with it: update in
 * place, replace (and in which order, and which dependents go with it), or
 * nothing because the input is in ignoreChanges. Those verdicts come from
 * facts, not guesses: the resources' recorded options (see ResourceOptions in
 * ../offline/types) and a small table of what the providers themselves
 * replace on (./replaceFacts). Pure: same two results, same diff. The text
 * and markdown forms are ./renderDiff.
 */
import { TextDecoder } from 'util';
import { gunzipSync } from 'zlib';
import { diffLines } from '../../components/common/lineDiff';
import { compareStrings, isRecord } from '../../components/common/records';
import type { RecordedResource, ResourceOptions, SynthResult } from '../offline/types';
import { EngineChange, engineChanges } from '../synth/ecs';
import { trafficOf, WebRoute } from '../synth/traffic';
import { classifyChanges, DependencyGraph, hasLifecycleFacts, RawChange, ResourceChange, ResourceKey } from './replaceFacts';

/** One service whose image digest(s) differ between the two synths. */
export interface DigestChange {
  service: string;
  before: string[];
  after: string[];
}

/**
 * One change of a service's route. `route` names it: the service for its
 * route on the edge's HTTPS listener, else `<service> via <role> <listener>`
 * (its service name, for one).
 */
export interface RouteChange {
  route: string;
  /** `added` and `removed` describe the whole route in `after` / `before`. */
  kind: 'added' | 'removed' | 'changed';
  /** What changed: hosts, paths, priority, target, health check; `route` when added or removed. */
  field: string;
  before: string;
  after: string;
}

export interface SynthDiff {
  stack: string;
  digests: DigestChange[];
  /** Services whose engines or groups change: `hosts (app)` -> `hosts (app) + ecs (app-ecs)`. */
  engines: EngineChange[];
  routes: RouteChange[];
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
  const byKey = (a: ResourceKey, b: ResourceKey) => compareStrings(a.name, b.name) || compareStrings(a.type, b.type);
  return {
    stack: after.stack,
    digests: diffDigests(before.resources, after.resources),
    engines: engineChanges(before.resources, after.resources),
    routes: diffRoutes(before.resources, after.resources),
    added: added.sort(byKey),
    removed: removed.sort(byKey),
    changed: changed.sort(byKey),
    unchanged,
  };
}

export function isEmptyDiff(diff: SynthDiff): boolean {
  return diff.digests.length === 0 && diff.engines.length === 0 && diff.routes.length === 0 && diff.added.length === 0 && diff.removed.length === 0 && diff.changed.length === 0;
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
  const services = [...new Set([...oldDigests.keys(), ...newDigests.keys()])].sort(compareStrings);
  const changes: DigestChange[] = [];
  for (const service of services) {
    const was = [...(oldDigests.get(service) ?? [])].sort(compareStrings);
    const now = [...(newDigests.get(service) ?? [])].sort(compareStrings);
    if (was.join() !== now.join()) {
      changes.push({ service, before: was, after: now });
    }
  }
  return changes;
}

function routeLabel(route: WebRoute): string {
  return route.role === 'edge' && route.listener.startsWith('HTTPS:') ? route.service : `${route.service} via ${[route.role, route.listener].filter(Boolean).join(' ')}`;
}

const orNone = (values: (string | number)[]) => (values.length === 0 ? '(none)' : values.join(', '));

/** The parts of a route a change of which the diff calls out, in the order it shows them. */
function routeFields(route: WebRoute): [string, string][] {
  return [
    ['hosts', orNone(route.hosts)],
    ['paths', orNone(route.paths)],
    ['priority', orNone(route.priorities)],
    ['target', `${route.protocol}:${route.port}`],
    ['health check', `${route.healthCheckPath} (${route.healthCheckMatcher})`],
  ];
}

function routeSummary(route: WebRoute): string {
  return routeFields(route)
    .map(([field, value]) => `${field} ${value}`)
    .join('; ');
}

function routesByLabel(resources: RecordedResource[]): Map<string, WebRoute> {
  const routes = new Map<string, WebRoute>();
  for (const route of trafficOf(resources).web) {
    routes.set(routeLabel(route), route);
  }
  return routes;
}

/** Routes added, removed, or changed in one of their fields, by route. */
function diffRoutes(before: RecordedResource[], after: RecordedResource[]): RouteChange[] {
  const was = routesByLabel(before);
  const now = routesByLabel(after);
  const changes: RouteChange[] = [];
  for (const label of [...new Set([...was.keys(), ...now.keys()])].sort(compareStrings)) {
    const old = was.get(label);
    const current = now.get(label);
    if (!old) {
      changes.push({ route: label, kind: 'added', field: 'route', before: '(none)', after: routeSummary(current!) });
    } else if (!current) {
      changes.push({ route: label, kind: 'removed', field: 'route', before: routeSummary(old), after: '(none)' });
    } else {
      const newFields = new Map(routeFields(current));
      for (const [field, value] of routeFields(old)) {
        if (newFields.get(field) !== value) {
          changes.push({ route: label, kind: 'changed', field, before: value, after: newFields.get(field)! });
        }
      }
    }
  }
  return changes;
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
  if (isRecord(before) && isRecord(after)) {
    for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort(compareStrings)) {
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
