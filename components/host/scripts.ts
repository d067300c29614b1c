import { readShippedFile, shippedFilePath } from '../common/shippedFile';
import { HostScriptName } from './paths';

const scriptSegments = (name: HostScriptName) => ['host', 'scripts', name];

/** The text of a host script shipped in components/host/scripts (from source or from dist/). */
export function readHostScript(name: HostScriptName): string {
  return readShippedFile(scriptSegments(name), `host script ${name}`);
}

/** Absolute path of a shipped host script, for tests that execute it. */
export function hostScriptPath(name: HostScriptName): string {
  return shippedFilePath(scriptSegments(name), `host script ${name}`);
}
