/**
 * The difference between two synth results of one stack, as a reviewer reads
 * it: image digests that move first (the usual reason for a change), then
 * resources added, removed and changed, with each changed input's key path and
 * its old and new value. Pure: same two results, same diff, same text.
 */
import { gunzipSync } from 'zlib';
import { diffLines } from '../../components/common/lineDiff';
import type { RecordedResource } from '../offline';
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

/** One changed input of a resource. `before`/`after` are absent when the key was added/removed. */
export interface InputChange {
  path: string;
  before?: unknown;
  after?: unknown;
  /** For multi-line strings (scripts, unit files): the changed lines, `- old` / `+ new`. */
  lines?: string[];
}

export interface ResourceChange extends ResourceKey {
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
  for (const [key, resource] of newByKey) {
    const previous = oldByKey.get(key);
    if (!previous) {
      added.push({ type: resource.type, name: resource.name });
      continue;
    }
    const changes: InputChange[] = [];
    if (previous.parent !== resource.parent) {
      changes.push({ path: '(parent)', before: previous.parent, after: resource.parent });
    }
    diffValues(previous.inputs, resource.inputs, '', changes);
    if (changes.length > 0) {
      changed.push({ type: resource.type, name: resource.name, changes });
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

function diffValues(before: unknown, after: unknown, at: string, changes: InputChange[]): void {
  if (deepEqual(before, after)) {
    return;
  }
  if (typeof before === 'string' && typeof after === 'string') {
    // Gzipped user data is diffed as the script it is, not as base64.
    const oldText = gunzippedBase64(before);
    const newText = gunzippedBase64(after);
    if (oldText !== undefined && newText !== undefined) {
      diffValues(oldText, newText, `${at}{gzip}`, changes);
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
        changes.push({ path, before: before[key] });
      } else if (!(key in before)) {
        changes.push({ path, after: after[key] });
      } else {
        diffValues(before[key], after[key], path, changes);
      }
    }
    return;
  }
  changes.push({ path: at === '' ? '(inputs)' : at, before, after });
}

/** The text inside a base64 string of gzip data (EC2 user data), or undefined for anything else. */
function gunzippedBase64(text: string): string | undefined {
  if (!/^H4sI[A-Za-z0-9+/]+=*$/.test(text)) {
    return undefined;
  }
  try {
    return gunzipSync(Buffer.from(text, 'base64')).toString('utf8');
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
}

function summaryLine(diff: SynthDiff): string {
  return `Resources: ${diff.added.length} to add, ${diff.removed.length} to remove, ${diff.changed.length} to change, ${diff.unchanged} unchanged`;
}

/** The body shared by the text and markdown forms: digests, then one block per resource. */
function bodyLines(diff: SynthDiff): string[] {
  const lines: string[] = [];
  if (diff.digests.length > 0) {
    lines.push('Image digests:');
    for (const change of diff.digests) {
      lines.push(`  ${change.service}: ${formatDigests(change.before)} -> ${formatDigests(change.after)}`);
    }
    lines.push('');
  }
  lines.push(summaryLine(diff));
  for (const resource of diff.added) {
    lines.push(`+ ${resource.type} ${resource.name}`);
  }
  for (const resource of diff.removed) {
    lines.push(`- ${resource.type} ${resource.name}`);
  }
  for (const resource of diff.changed) {
    lines.push(`~ ${resource.type} ${resource.name}`);
    for (const change of resource.changes) {
      if (change.lines) {
        lines.push(`    ${change.path}:`);
        lines.push(...change.lines.map((line) => `      ${line}`));
      } else {
        lines.push(`    ${change.path}: ${formatValue(change.before)} -> ${formatValue(change.after)}`);
      }
    }
  }
  return lines;
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

/** Markdown for a pull-request comment: a heading, the digest moves as a list, the rest as a diff block. */
export function renderDiffMarkdown(diff: SynthDiff, options: RenderOptions): string {
  const head = options.head ?? 'this change';
  const lines = [`### Synth diff: \`${diff.stack}\` (\`${options.base}\` → ${head})`, ''];
  if (isEmptyDiff(diff)) {
    lines.push(`No changes (${diff.unchanged} resources).`);
    return lines.join('\n') + '\n';
  }
  if (diff.digests.length > 0) {
    lines.push('**Image digests**', '');
    for (const change of diff.digests) {
      lines.push(`- \`${change.service}\`: \`${formatDigests(change.before)}\` → \`${formatDigests(change.after)}\``);
    }
    lines.push('');
  }
  const resourceLines = bodyLines({ ...diff, digests: [] });
  lines.push(`**${resourceLines[0]}**`, '', '```diff', ...resourceLines.slice(1), '```');
  return lines.join('\n') + '\n';
}
