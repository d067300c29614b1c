import * as fs from 'fs';
import * as path from 'path';

let cached: string | undefined;

/** Absolute path of the shipped host agent, for tests that execute it. */
export function agentScriptPath(): string {
  const candidates = [
    path.join(__dirname, 'agent', 'berth-agent'),
    // Running from dist/: package.json ships the script where it is in the source tree.
    path.join(__dirname, '..', '..', '..', 'components', 'service', 'agent', 'berth-agent'),
  ];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (!found) {
    throw new Error(`berth-agent not found; looked in ${candidates.join(', ')}`);
  }
  return found;
}

/** The text of the host agent that DockerHostGroup installs on every host. */
export function readAgentScript(): string {
  cached ??= fs.readFileSync(agentScriptPath(), 'utf8');
  return cached;
}
