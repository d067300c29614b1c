/**
 * Finding a file the package ships as it is in the source tree (package.json
 * "files": the host scripts, the host agent), whether Berth runs from source
 * or from dist/. One lookup, so every shipped file is found the same way.
 */
import * as fs from 'fs';
import * as path from 'path';

const texts = new Map<string, string>();

/**
 * The absolute path of `components/<segments…>`. Looks in the source tree
 * first (this module in components/common/), then in the installed package
 * (this module in dist/components/common/, the file beside dist/ where
 * package.json ships it). `what` names the file in the error.
 */
export function shippedFilePath(segments: readonly string[], what: string): string {
  const candidates = [
    path.join(__dirname, '..', ...segments),
    path.join(__dirname, '..', '..', '..', 'components', ...segments),
  ];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (found === undefined) {
    throw new Error(`${what} not found; looked in ${candidates.join(', ')}`);
  }
  return found;
}

/** The text of a shipped file (see shippedFilePath), read once per process. */
export function readShippedFile(segments: readonly string[], what: string): string {
  const file = shippedFilePath(segments, what);
  let text = texts.get(file);
  if (text === undefined) {
    text = fs.readFileSync(file, 'utf8');
    texts.set(file, text);
  }
  return text;
}
