import * as fs from 'fs';
import * as path from 'path';
import { HostScriptName } from './paths';

const cache = new Map<HostScriptName, string>();

/**
 * The text of a host script shipped in components/host/scripts. Looks beside
 * this module first (running from source), then in the package's
 * components/host/scripts (running from dist/, where package.json ships the
 * scripts as they are).
 */
export function readHostScript(name: HostScriptName): string {
  const cached = cache.get(name);
  if (cached !== undefined) {
    return cached;
  }
  const candidates = [
    path.join(__dirname, 'scripts', name),
    path.join(__dirname, '..', '..', '..', 'components', 'host', 'scripts', name),
  ];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (found === undefined) {
    throw new Error(`host script ${name} not found; looked in ${candidates.join(', ')}`);
  }
  const text = fs.readFileSync(found, 'utf8');
  cache.set(name, text);
  return text;
}

/** Absolute path of a shipped host script, for tests that execute it. */
export function hostScriptPath(name: HostScriptName): string {
  return path.join(__dirname, 'scripts', name);
}
