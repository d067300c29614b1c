/**
 * Reading a spec, from stdin or from the agent's own state: one JSON
 * document, valid against the shared schema (../spec.ts), every volume inside
 * the service's own data folder. Whatever is wrong is refused with one line
 * per problem, naming the field; secret values are never shown.
 */
import * as fs from 'fs';
import * as path from 'path';
import { AgentServiceSpec, canonicalSpecText, checkAgentSpec, VOLUME_PATTERN } from '../spec';
import { isName } from '../../common/names';
import { Refused } from './context';
import { configHash, readIfPresent, sha256 } from './layout';

/** A valid spec with what the agent derives from it. */
export interface LoadedSpec {
  spec: AgentServiceSpec;
  /** Canonical text: defaults filled in, keys sorted, one line. */
  canonical: string;
  /** sha256 of the canonical text: the container's berth.spec-hash label. */
  hash: string;
  /** The config file's content hash (its folder's name), when it has one. */
  configHash?: string;
}

/**
 * Splits text into its top-level JSON values (`{} {}` is two), so a message
 * can say how many there were. Values are only delimited here, not checked.
 */
export function jsonDocuments(text: string): string[] {
  const documents: string[] = [];
  const isSpace = (char: string) => char === ' ' || char === '\n' || char === '\r' || char === '\t';
  let index = 0;
  while (index < text.length) {
    if (isSpace(text[index])) {
      index++;
      continue;
    }
    const start = index;
    if (text[index] === '{' || text[index] === '[' || text[index] === '"') {
      // An object, an array or a string: up to the bracket or quote that closes it.
      let depth = 0;
      let inString = false;
      do {
        const char = text[index];
        if (inString) {
          if (char === '\\') {
            index++;
          } else if (char === '"') {
            inString = false;
          }
        } else if (char === '"') {
          inString = true;
        } else if (char === '{' || char === '[') {
          depth++;
        } else if (char === '}' || char === ']') {
          depth--;
        }
        index++;
      } while (index < text.length && (inString || depth > 0));
    } else {
      // A number, true, false, null (or a stray character): up to a space or the start of another value.
      do {
        index++;
      } while (index < text.length && !isSpace(text[index]) && !'{["'.includes(text[index]));
    }
    documents.push(text.slice(start, index));
  }
  return documents;
}

/**
 * `realpath -m`: `..` and every symlink that exists are resolved, component
 * by component; what does not exist is taken as written.
 */
export function resolvePath(target: string, depth = 0): string {
  if (depth > 40) {
    throw new Refused(`${target}: too many levels of symbolic links`);
  }
  let resolved = '/';
  // Not path.resolve: it would drop `link/..` before `link` is read, and a symlink's `..` leaves its target.
  const absolute = path.isAbsolute(target) ? target : `${process.cwd()}/${target}`;
  const parts = absolute.split('/').filter((part) => part !== '' && part !== '.');
  for (const part of parts) {
    if (part === '..') {
      resolved = path.dirname(resolved);
      continue;
    }
    const candidate = path.join(resolved, part);
    let link: string | undefined;
    try {
      link = fs.lstatSync(candidate).isSymbolicLink() ? fs.readlinkSync(candidate) : undefined;
    } catch {
      link = undefined;
    }
    resolved = link === undefined ? candidate : resolvePath(path.isAbsolute(link) ? link : `${resolved}/${link}`, depth + 1);
  }
  return resolved;
}

/** Problems with volumes whose host path leaves `<data root>/<env>/<name>`. */
export function volumeProblems(value: unknown, dataRoot: string): string[] {
  if (value === null || typeof value !== 'object') {
    return [];
  }
  const { env, name, volumes } = value as { env?: unknown; name?: unknown; volumes?: unknown };
  if (!isName(env) || !isName(name) || !Array.isArray(volumes)) {
    return [];
  }
  const own = path.join(resolvePath(dataRoot), env, name);
  const problems: string[] = [];
  volumes.forEach((volume, index) => {
    if (typeof volume !== 'string' || !VOLUME_PATTERN.test(volume)) {
      return; // reported by the schema
    }
    const host = volume.split(':')[0];
    const resolved = resolvePath(host);
    if (resolved !== own && !resolved.startsWith(`${own}/`)) {
      const shown = resolved === host ? host : `${host} (resolved: ${resolved})`;
      problems.push(`spec.volumes[${index}]: host path ${shown} is outside this service's data folder ${own}`);
    }
  });
  return problems;
}

/** Parses and checks spec text; refuses (exit 2) on any problem. `source` names where it came from. */
export function loadSpec(text: string, dataRoot: string, source = 'stdin'): LoadedSpec {
  if (text.trim() === '') {
    throw new Refused(`spec: ${source} is empty; expected one JSON object`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const count = jsonDocuments(text).length;
    const detail = count > 1 ? `got ${count} documents` : (error as Error).message;
    throw new Refused(`spec: ${source} is not one valid JSON document: ${detail}`);
  }
  const checked = checkAgentSpec(value);
  const problems = [...(checked.problems ?? []), ...volumeProblems(value, dataRoot)];
  if (problems.length > 0 || checked.spec === undefined) {
    throw new Refused(`${source === 'stdin' ? 'the spec' : source} has ${problems.length} problem(s):\n${problems.join('\n')}`);
  }
  const canonical = canonicalSpecText(checked.spec);
  const spec = JSON.parse(canonical) as AgentServiceSpec;
  return { spec, canonical, hash: sha256(canonical), configHash: spec.configFile === undefined ? undefined : configHash(spec.configFile.content) };
}

/**
 * A spec the agent recorded (current.json, previous.json), or undefined when
 * there is none. One that no longer reads as a valid spec is refused with its
 * path: a deploy must not guess what is running.
 */
export function loadRecordedSpec(file: string, dataRoot: string): LoadedSpec | undefined {
  const text = readIfPresent(file);
  if (text === undefined) {
    return undefined;
  }
  try {
    return loadSpec(text, dataRoot, file);
  } catch (error) {
    throw new Refused(`${file}: the recorded spec is corrupt; nothing was changed. ${(error as Error).message.replace(/^spec: /, '')}`);
  }
}
