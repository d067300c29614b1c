import { readShippedFile, shippedFilePath } from '../common/shippedFile';

const AGENT_SEGMENTS = ['service', 'agent', 'berth-agent'];

/** Absolute path of the shipped host agent, for tests that execute it. */
export function agentScriptPath(): string {
  return shippedFilePath(AGENT_SEGMENTS, 'berth-agent');
}

/** The text of the host agent that DockerHostGroup installs on every host. */
export function readAgentScript(): string {
  return readShippedFile(AGENT_SEGMENTS, 'berth-agent');
}
