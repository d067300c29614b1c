/**
 * Reading and editing the image of a service in a `Pulumi.<env>.yaml` file,
 * parsed by the one stack-file reader (stacks/common/stackFile), whose
 * document keeps every value's source range. Only the characters of that
 * range are replaced, so comments, blank lines, quoting and indentation
 * everywhere else stay byte-identical. The result is parsed again and checked
 * to differ from the original in that one value only.
 */
import { isDeepStrictEqual } from 'util';
import * as YAML from 'yaml';
import { ConfigError } from '../../stacks/common/configErrors';
import { parseStackDocument } from '../../stacks/common/stackFile';
import { CONFIG_NAMESPACE } from '../../stacks/env/config';

/** A refusal: the message says what is wrong and what to do; nothing was changed. */
export class PromotionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromotionError';
  }
}

/** A parsed stack file, kept with its source text. */
export interface StackFileDocument {
  /** File name used in messages, e.g. `Pulumi.stage.yaml`. */
  file: string;
  text: string;
  document: YAML.Document.Parsed;
  /** Config key holding the services, e.g. `berth:services`. */
  servicesKey: string;
}

/** Parses a stack file for reading and editing; a malformed file is refused with the reader's `<file>: line N: …` lines. */
export function parseStackFile(file: string, text: string, namespace: string = CONFIG_NAMESPACE): StackFileDocument {
  let document: YAML.Document.Parsed;
  try {
    document = parseStackDocument(file, text);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new PromotionError(error.message);
    }
    throw error;
  }
  return { file, text, document, servicesKey: `${namespace}:services` };
}

/** Names of the services a stack file declares, sorted. */
export function listServices(stackFile: StackFileDocument): string[] {
  const services = stackFile.document.getIn(['config', stackFile.servicesKey], true);
  if (!YAML.isMap(services)) {
    return [];
  }
  return services.items.map((pair) => String(YAML.isScalar(pair.key) ? pair.key.value : pair.key)).sort();
}

/** The image of a service as written in the file; errors name the file and key. */
export function readServiceImage(stackFile: StackFileDocument, service: string): string {
  const services = listServices(stackFile);
  if (!services.includes(service)) {
    throw new PromotionError(
      `${stackFile.file}: ${stackFile.servicesKey} has no service "${service}"; services are: ${services.join(', ') || '(none)'}`,
    );
  }
  const node = stackFile.document.getIn(['config', stackFile.servicesKey, service, 'image'], true);
  const key = `${stackFile.servicesKey}.${service}.image`;
  if (node === undefined || node === null || (YAML.isScalar(node) && (node.value === null || node.value === ''))) {
    throw new PromotionError(`${stackFile.file}: ${key} is missing: no image, so no digest to promote`);
  }
  if (!YAML.isScalar(node) || typeof node.value !== 'string') {
    throw new PromotionError(`${stackFile.file}: ${key} must be a string like berth/${service}@sha256:<64 hex>`);
  }
  return node.value;
}

/**
 * Returns the file's text with one service's image replaced by `image`;
 * every other byte is unchanged.
 */
export function replaceServiceImage(stackFile: StackFileDocument, service: string, image: string): string {
  readServiceImage(stackFile, service);
  const key = `${stackFile.servicesKey}.${service}.image`;
  const node = stackFile.document.getIn(['config', stackFile.servicesKey, service, 'image'], true) as YAML.Scalar;
  const [start, valueEnd] = node.range ?? [];
  if (start === undefined || valueEnd === undefined) {
    throw new PromotionError(`${stackFile.file}: ${key}: cannot locate the value in the file`);
  }
  let rendered: string;
  switch (node.type) {
    case 'PLAIN':
      rendered = image;
      break;
    case 'QUOTE_DOUBLE':
      rendered = JSON.stringify(image);
      break;
    case 'QUOTE_SINGLE':
      rendered = `'${image.replace(/'/g, "''")}'`;
      break;
    default:
      throw new PromotionError(`${stackFile.file}: ${key} is a ${node.type} scalar; write it on one line (image: repo@sha256:…) to promote into it`);
  }
  const text = stackFile.text.slice(0, start) + rendered + stackFile.text.slice(valueEnd);
  // Proof that only this value changed: the new file parses to the old content with the one value replaced.
  const edited = YAML.parseDocument(text);
  const expected = stackFile.document.toJS();
  expected.config[stackFile.servicesKey][service].image = image;
  if (edited.errors.length > 0 || !isDeepStrictEqual(edited.toJS(), expected)) {
    throw new PromotionError(`${stackFile.file}: ${key}: editing the value in place would change more than the image; nothing written`);
  }
  return text;
}
