/**
 * A synth diff as people read it: plain text for a terminal or a CI log, and
 * markdown for a pull-request comment that never grows past GitHub's limit.
 * Pure: the same diff always renders the same text.
 */
import { isEmptyDiff, RouteChange, SynthDiff } from './diff';
import type { InputChange, Replacement, ResourceChange } from './replaceFacts';

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

/** `api-service: hosts a -> b`, `api-service: route added: hosts a; …`. */
function routeChangeText(change: RouteChange, quote: (text: string) => string = (text) => text, arrow = '->'): string {
  if (change.kind === 'added') {
    return `${change.route}: route added: ${quote(change.after)}`;
  }
  if (change.kind === 'removed') {
    return `${change.route}: route removed: ${quote(change.before)}`;
  }
  return `${change.route}: ${change.field} ${quote(change.before)} ${arrow} ${quote(change.after)}`;
}

/** Image digest moves, then engine changes, then route changes, then the resource body. */
function bodyLines(diff: SynthDiff): string[] {
  const lines: string[] = [];
  if (diff.digests.length > 0) {
    lines.push('Image digests:');
    for (const change of diff.digests) {
      lines.push(`  ${change.service}: ${formatDigests(change.before)} -> ${formatDigests(change.after)}`);
    }
    lines.push('');
  }
  if (diff.engines.length > 0) {
    lines.push('Engine changes:', ...diff.engines.map((change) => `  ${change.service}: ${change.before} -> ${change.after}`), '');
  }
  if (diff.routes.length > 0) {
    lines.push('Route changes:', ...diff.routes.map((change) => `  ${routeChangeText(change)}`), '');
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
 * Markdown for a pull-request comment: a heading, the digest moves, the
 * engine changes and the route changes as lists, the rest as a diff block.
 * Never longer than `maxChars` (60,000 by default): a longer diff keeps the
 * digest moves, the engine and route changes and the resource list, cuts each
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
  if (diff.engines.length > 0) {
    top.push('**Engine changes**', '', ...diff.engines.map((change) => `- \`${change.service}\`: \`${change.before}\` → \`${change.after}\``), '');
  }
  if (diff.routes.length > 0) {
    top.push('**Route changes**', '', ...diff.routes.map((change) => `- ${routeChangeText({ ...change, route: `\`${change.route}\`` }, (text) => `\`${text}\``, '→')}`), '');
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
