/**
 * Reading a Pulumi stack file (`Pulumi.<stack>.yaml`): the one reader every
 * program and tool uses, so a malformed file is reported the same way
 * everywhere, `<file>: line N: <message>`, every YAML error at once. promote
 * edits the parsed document in place on top of it (tools/promote/stackFile.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { isRecord } from '../../components/common/records';
import { SECRET_MASK } from '../../components/common/secret';
import { ConfigError } from './configErrors';

/** `Pulumi.<stack>.yaml`: the file a stack's configuration lives in. */
export function stackFileName(stack: string): string {
  return `Pulumi.${stack}.yaml`;
}

/** The `config:` map of a stack file, with `secure:` values replaced by a marker. */
export interface StackFile {
  path: string;
  config: Record<string, unknown>;
}

/** Parses a stack file's text; throws a ConfigError with one `<file>: line N: <message>` per YAML error. */
export function parseStackDocument(file: string, text: string): YAML.Document.Parsed {
  const document = YAML.parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((error) => `${file}: line ${error.linePos?.[0].line ?? '?'}: ${error.message.split('\n')[0]}`));
  }
  return document;
}

/** The `config:` map of a parsed stack file as plain values (`{}` when there is none). */
export function stackConfigOf(document: YAML.Document.Parsed): Record<string, unknown> {
  const content = document.toJS() as unknown;
  return isRecord(content) && isRecord(content.config) ? content.config : {};
}

/** A config map with every `secure:` value (an encrypted secret) replaced by SECRET_MASK. */
export function maskSecureValues(config: Record<string, unknown>): Record<string, unknown> {
  const unwrap = (value: unknown): unknown => {
    if (isRecord(value) && Object.keys(value).length === 1 && typeof value.secure === 'string') {
      return SECRET_MASK;
    }
    if (Array.isArray(value)) {
      return value.map(unwrap);
    }
    if (isRecord(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
    }
    return value;
  };
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, unwrap(value)]));
}

/**
 * Reads `<root>/<file>` and returns its config map, secrets masked. Messages
 * name the file as `label` (e.g. `stacks/registry/Pulumi.shared.yaml`).
 */
export function readStackConfigFile(root: string, file: string, label: string = file): StackFile {
  const filePath = path.join(root, file);
  if (!fs.existsSync(filePath)) {
    throw new ConfigError([`${label}: no such file in ${root}`]);
  }
  const document = parseStackDocument(label, fs.readFileSync(filePath, 'utf8'));
  return { path: filePath, config: maskSecureValues(stackConfigOf(document)) };
}
