/**
 * The host agent as hosts run it: components/service/agent/main.ts and what
 * it imports, bundled into one file that needs only Node.js 24 (AL2023's
 * `nodejs24` package, whose executable is /usr/bin/node-24) and Docker.
 *
 * From a checkout the bundle is made from the source each time a program
 * runs, so a host never gets an agent older than the code beside it; an
 * installed package ships the bundle `npm run build` made (dist/agent/).
 * The bundle is the same text on every machine: paths in it are relative to
 * the project root.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HOST_PATHS } from '../host/paths';

/** The interpreter line: the namespaced Node.js executable of AL2023's nodejs24, which the integration tests run the agent with. */
export const AGENT_INTERPRETER = `#!${HOST_PATHS.agentInterpreter}`;
/** Where `npm run build` writes the bundle, relative to the project root. */
export const AGENT_BUNDLE = path.join('dist', 'agent', 'berth-agent.js');

const SOURCE_ROOT = path.join(__dirname, '..', '..');
const ENTRY = path.join(__dirname, 'agent', 'main.ts');

let bundled: string | undefined;

function fromSource(): boolean {
  return fs.existsSync(ENTRY);
}

/** Bundles the agent from its source (esbuild, a development dependency). */
export function bundleAgent(): string {
  // Required here, not at the top: an installed package reads its prebuilt bundle and has no esbuild.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const result = esbuild.buildSync({
    absWorkingDir: SOURCE_ROOT,
    entryPoints: [path.relative(SOURCE_ROOT, ENTRY)],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    banner: { js: AGENT_INTERPRETER },
    legalComments: 'none',
    // A third of the size (zod is most of it), for the readiness step's stdin and state; names are kept for stack traces.
    minify: true,
    keepNames: true,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

/** The text of the host agent that DockerHostGroup installs on every host. */
export function readAgentScript(): string {
  if (bundled === undefined) {
    if (fromSource()) {
      bundled = bundleAgent();
    } else {
      const file = path.join(__dirname, '..', '..', '..', AGENT_BUNDLE);
      if (!fs.existsSync(file)) {
        throw new Error(`the host agent bundle ${file} is missing; the package was published without \`npm run build\``);
      }
      bundled = fs.readFileSync(file, 'utf8');
    }
  }
  return bundled;
}

/** Writes the bundle to `file` (mode 0755) unless it already holds exactly this text; returns `file`. */
export function writeAgentBundle(file: string): string {
  const text = readAgentScript();
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, text, { mode: 0o755 });
    fs.renameSync(temporary, file);
  }
  fs.chmodSync(file, 0o755);
  return file;
}

/** The built agent in this checkout (dist/agent/berth-agent.js), made current first: for tests that execute it. */
export function agentScriptPath(): string {
  return writeAgentBundle(path.join(SOURCE_ROOT, AGENT_BUNDLE));
}
