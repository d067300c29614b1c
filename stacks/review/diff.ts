/**
 * The difference between two synth results of one stack, as a reviewer reads
 * it: image digests that move first (the usual reason for a change), then
 * resources added, removed and changed, with each changed input's key path and
 * its old and new value. Pure: same two results, same diff, same text.
 */
import { TextDecoder } from 'util';
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
  /** What the reviewer should know about how this change is applied, e.g. that running hosts ignore it. */
  note?: string;
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
    markIgnoredOnUpdate(resource, changes);
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

const EC2_INSTANCE = 'aws:ec2/instance:Instance';

/**
 * DockerHostGroup declares its hosts with `ignoreChanges: ['ami', 'userDataBase64']`
 * unless `replaceOnAmiChange` / `userDataChanges: 'replace'` say otherwise. Synth
 * output carries inputs, not resource options, so such changes are shown with a
 * note rather than hidden: they reach new hosts, not running ones.
 */
export const IGNORED_ON_UPDATE_NOTE = '(ignored on running hosts unless userDataChanges/replaceOnAmiChange say otherwise; applies to new hosts)';
/** `userDataReplaceOnChange: true` is what `userDataChanges: 'replace'` sets on the instance. */
export const REPLACES_HOST_NOTE = "(replaces running hosts: userDataChanges is 'replace')";

function markIgnoredOnUpdate(resource: RecordedResource, changes: InputChange[]): void {
  if (resource.type !== EC2_INSTANCE) {
    return;
  }
  for (const change of changes) {
    const input = /^(ami|userDataBase64)(?=$|[{.[])/.exec(change.path)?.[1];
    if (input === 'userDataBase64' && resource.inputs.userDataReplaceOnChange === true) {
      change.note = REPLACES_HOST_NOTE;
    } else if (input) {
      change.note = IGNORED_ON_UPDATE_NOTE;
    }
  }
}

/** A key added or removed: encoded user data is shown as its text, every line added or removed. */
function pushAddedOrRemoved(path: string, key: string, value: unknown, side: 'before' | 'after', changes: InputChange[]): void {
  const decoded = typeof value === 'string' ? decodeBase64Text(value, key) : undefined;
  if (decoded) {
    const mark = side === 'before' ? '-' : '+';
    changes.push({ path: `${path}${decoded.suffix}`, lines: decoded.text.split('\n').map((line) => `${mark} ${line}`) });
    return;
  }
  changes.push(side === 'before' ? { path, before: value } : { path, after: value });
}

function diffValues(before: unknown, after: unknown, at: string, changes: InputChange[]): void {
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
  return `Resources: ${diff.added.length} to add, ${diff.removed.length} to remove, ${diff.changed.length} to change, ${diff.unchanged} unchanged`;
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

function withNote(text: string, note: string | undefined): string {
  return note ? `${text} ${note}` : text;
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
    body.lines.push(`~ ${resource.type} ${resource.name}`);
    const inputLines: string[] = [];
    for (const change of resource.changes) {
      if (change.lines) {
        const changeLines = change.lines.map((line) => `      ${line}`);
        const kept = limit.linesPerInput === undefined ? changeLines.length : Math.min(limit.linesPerInput, changeLines.length);
        inputLines.push(withNote(`    ${change.path}:`, change.note), ...changeLines.slice(0, kept));
        if (kept < changeLines.length && limit.inputs !== false) {
          leaveOut(changeLines.slice(kept));
          inputLines.push(`      … ${changeLines.length - kept} more changed lines left out`);
        }
      } else {
        inputLines.push(withNote(`    ${change.path}: ${formatValue(change.before)} -> ${formatValue(change.after)}`, change.note));
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
