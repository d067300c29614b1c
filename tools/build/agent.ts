/**
 * `npm run build` (after tsc): writes the host agent bundle to
 * dist/agent/berth-agent.js, the file an installed package ships and the
 * readiness step installs on every host as /usr/local/bin/berth-agent.
 */
import * as path from 'path';
import { AGENT_BUNDLE, readAgentScript, writeAgentBundle } from '../../components/service/agentScript';

const file = writeAgentBundle(path.join(__dirname, '..', '..', AGENT_BUNDLE));
console.log(`wrote ${path.relative(process.cwd(), file)} (${Buffer.byteLength(readAgentScript())} bytes)`);
