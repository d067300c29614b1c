/**
 * What `pulumi up` really runs, for each Pulumi project in the repository.
 *
 * The Pulumi CLI turns Pulumi.yaml's `main` into a working directory and an entry point
 * (pkg/engine/project.go, getPwdMain): a file gives its folder and its name, a folder gives
 * the folder and ".". The Node language host then starts
 *   node <@pulumi/pulumi>/cmd/run --monitor … --project … --stack … --pwd <folder> <entry>
 * with PULUMI_NODEJS_TYPESCRIPT / PULUMI_NODEJS_TSCONFIG_PATH taken from runtime.options
 * `typescript` and `tsconfig` (sdk/nodejs/cmd/pulumi-language-nodejs/main.go: parseOptions,
 * constructArguments, execRuntime). cmd/run/run.js chdirs to --pwd, and for the entry "."
 * looks the program up in package.json (`exports`, else `main`) — pulumi/pulumi#16363,
 * CLI 3.120.0. Berth's package.json `main` is the library, dist/components/index.js: with a
 * folder as `main`, `pulumi up` after `npm run build` would run the library, declare nothing
 * and plan to delete the whole stack.
 *
 * The replay below runs the installed @pulumi/pulumi's own cmd/run, started exactly as the
 * language host starts it, in a scratch copy of the project (stub programs, and the library
 * "built"), under Pulumi mocks instead of an engine; a preload hook records which file run.js
 * loads as the program and the options it hands ts-node, and stops there.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import * as YAML from 'yaml';

const ROOT = path.resolve(__dirname, '..', '..');
const SDK = path.dirname(require.resolve('@pulumi/pulumi/package.json'));
/** What the Node language host runs (main.go: runPath "@pulumi/pulumi/cmd/run"). */
const RUN = path.join(SDK, 'cmd', 'run');

/** Every Pulumi project, the program file it must run, and the tsconfig that program runs with. */
const PROJECTS = [
  { file: 'Pulumi.yaml', program: 'stacks/env/index.ts', tsconfig: 'stacks/tsconfig.json' },
  { file: 'stacks/registry/Pulumi.yaml', program: 'stacks/registry/index.ts', tsconfig: 'stacks/tsconfig.json' },
];

/** Pulumi.yaml as the repository once had it (`main: stacks/`, when the program lived there): the program's folder as main, no tsconfig. */
const FOLDER_MAIN_PROJECT = 'name: berth\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nmain: stacks/env/\n';

interface Project {
  name: string;
  main?: string;
  runtime: string | { name: string; options?: { typescript?: unknown; tsconfig?: unknown } };
}

function readProject(text: string): Project {
  return YAML.parse(text) as Project;
}

function optionsOf(project: Project): { typescript?: unknown; tsconfig?: unknown } {
  return typeof project.runtime === 'string' ? {} : (project.runtime.options ?? {});
}

/** The CLI's getPwdMain (pkg/engine/project.go): `main` is relative to Pulumi.yaml's folder. */
function pwdMain(projectDir: string, main: string | undefined): { pwd: string; entry: string } {
  if (!main) {
    return { pwd: projectDir, entry: '.' };
  }
  const target = path.resolve(projectDir, main);
  return fs.statSync(target).isDirectory() ? { pwd: target, entry: '.' } : { pwd: path.dirname(target), entry: path.basename(target) };
}

/** Project files (Pulumi.yaml) in the repository, outside node_modules and build output. */
function findProjectFiles(dir = ROOT, found: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) {
      continue;
    }
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      findProjectFiles(full, found);
    } else if (entry.name === 'Pulumi.yaml' || entry.name === 'Pulumi.yml') {
      found.push(path.relative(ROOT, full));
    }
  }
  return found.sort();
}

// Preloaded into the replayed runtime (node -r): mocks stand in for the engine; the first file
// of the scratch project that run.js requires is the program: record it and stop.
const HOOK = `
const Module = require('module');
const path = require('path');
const pulumi = require(process.env.BERTH_REPLAY_SDK);
pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: (a) => a.inputs }, process.env.BERTH_REPLAY_PROJECT, 'dev');
const projectDir = process.env.BERTH_REPLAY_DIR;
let tsnode = null;
const load = Module._load;
Module._load = function (request) {
  if (typeof request === 'string' && path.isAbsolute(request) && request.startsWith(projectDir + path.sep)) {
    process.stdout.write(JSON.stringify({ program: request, cwd: process.cwd(), tsnode }) + '\\n');
    process.exit(0);
  }
  const loaded = load.apply(this, arguments);
  if (/ts-node/.test(String(request)) && loaded && typeof loaded.register === 'function') {
    const register = loaded.register;
    return new Proxy(loaded, {
      get: (target, key) => key === 'register'
        ? (options) => { tsnode = { project: options.project, skipProject: options.skipProject, compilerOptions: options.compilerOptions }; return register(options); }
        : target[key],
    });
  }
  return loaded;
};
`;

interface Replay {
  /** The file run.js loads as the program, relative to the project root. */
  program: string;
  /** node's working directory when the program starts, relative to the project root. */
  cwd: string;
  /** What run.js hands ts-node: the tsconfig path (relative to cwd) and the compiler options it forces. */
  tsnode: { project: string; skipProject: boolean; compilerOptions: Record<string, unknown> } | null;
}

/**
 * Runs the installed @pulumi/pulumi's cmd/run the way the Node language host does, for the
 * project file `projectFile` (text `projectText`) in a scratch copy of the repository:
 * package.json and the tsconfig files as they are, every project's main as a stub, and, when
 * `built`, package.json's main as after `npm run build`.
 */
interface Scratch {
  /** package.json's main exists, as after `npm run build`. */
  built: boolean;
  /** Leave out stacks/tsconfig.json, as the repository was before it had one. */
  withoutProgramTsconfig?: boolean;
}

const replays = new Map<string, Replay>();

function replayLanguageHost(projectFile: string, projectText: string, scratch: Scratch): Replay {
  const key = JSON.stringify([projectFile, projectText, scratch]);
  if (!replays.has(key)) {
    replays.set(key, replayOnce(projectFile, projectText, scratch));
  }
  return replays.get(key)!;
}

function replayOnce(projectFile: string, projectText: string, { built, withoutProgramTsconfig }: Scratch): Replay {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-entry-'));
  const repo = path.join(scratch, 'repo');
  try {
    const copy = (relative: string, text?: string) => {
      fs.mkdirSync(path.dirname(path.join(repo, relative)), { recursive: true });
      fs.writeFileSync(path.join(repo, relative), text ?? fs.readFileSync(path.join(ROOT, relative)));
    };
    copy('package.json');
    const programTsconfigs = withoutProgramTsconfig ? [] : PROJECTS.map((project) => project.tsconfig);
    for (const tsconfig of new Set(['tsconfig.json', ...programTsconfigs])) {
      copy(tsconfig);
    }
    for (const { program } of PROJECTS) {
      copy(program, '// stub: the replay stops before the program runs\n');
    }
    copy(projectFile, projectText);
    const packageMain = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string }).main;
    if (built) {
      copy(packageMain, '// stub: the library as `npm run build` leaves it\n');
    }
    const hook = path.join(scratch, 'hook.js');
    fs.writeFileSync(hook, HOOK);

    const project = readProject(projectText);
    const projectDir = path.dirname(path.join(repo, projectFile));
    const { pwd, entry } = pwdMain(projectDir, project.main);
    const options = optionsOf(project);
    const env: NodeJS.ProcessEnv = { ...process.env, BERTH_REPLAY_SDK: SDK, BERTH_REPLAY_PROJECT: project.name, BERTH_REPLAY_DIR: repo };
    delete env.PULUMI_NODEJS_TYPESCRIPT;
    delete env.PULUMI_NODEJS_TSCONFIG_PATH;
    // parseOptions: typescript defaults to true; execRuntime sets these two from the options.
    if (options.typescript !== false) {
      env.PULUMI_NODEJS_TYPESCRIPT = 'true';
    }
    if (typeof options.tsconfig === 'string' && options.tsconfig !== '') {
      env.PULUMI_NODEJS_TSCONFIG_PATH = options.tsconfig;
    }
    // constructArguments: the flags, then the entry point.
    const args = ['-r', hook, RUN, '--monitor', '127.0.0.1:1', '--project', project.name, '--root-directory', projectDir, '--stack', 'dev', '--pwd', pwd, entry];
    const result = spawnSync(process.execPath, args, { cwd: scratch, env, encoding: 'utf8', timeout: 120000 });
    const line = result.stdout.split('\n').find((text) => text.startsWith('{'));
    if (result.status !== 0 || !line) {
      throw new Error(`the replayed runtime did not reach the program (exit ${result.status}):\n${result.stdout}${result.stderr}`);
    }
    const seen = JSON.parse(line) as Replay;
    return { ...seen, program: path.relative(repo, seen.program), cwd: path.relative(repo, seen.cwd) };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The compiler options ts-node ends up with (the vendored ts-node 7.0.1's readConfig): the
 * tsconfig file, then the options run.js forces, then ts-node's own; `extends` is resolved.
 */
function tsNodeOptions(tsconfigPath: string, forced: Record<string, unknown>): ts.CompilerOptions {
  const read = ts.readConfigFile(tsconfigPath, ts.sys.readFile);
  expect(read.error).toBeUndefined();
  const config = read.config as { compilerOptions?: Record<string, unknown> };
  config.compilerOptions = { ...config.compilerOptions, ...forced, sourceMap: true, inlineSourceMap: false, inlineSources: true, declaration: false, noEmit: false };
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, path.dirname(tsconfigPath), undefined, tsconfigPath);
  expect(parsed.errors.map((error) => ts.flattenDiagnosticMessageText(error.messageText, '\n'))).toEqual([]);
  return parsed.options;
}

function ownCompilerOptions(tsconfigPath: string): Record<string, unknown> {
  const read = ts.readConfigFile(tsconfigPath, ts.sys.readFile);
  return (read.config as { compilerOptions?: Record<string, unknown> }).compilerOptions ?? {};
}

describe('Pulumi projects', () => {
  it('are the ones listed here', () => {
    expect(findProjectFiles()).toEqual(PROJECTS.map((project) => project.file).sort());
  });

  describe.each(PROJECTS)('$file', ({ file, program, tsconfig }) => {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    const project = readProject(text);
    const projectDir = path.dirname(path.join(ROOT, file));

    it('names the program FILE as main, a .ts file that exists (a folder falls back to package.json)', () => {
      expect(typeof project.main).toBe('string');
      const target = path.resolve(projectDir, project.main as string);
      expect(fs.existsSync(target)).toBe(true);
      expect(fs.statSync(target).isFile()).toBe(true);
      expect(path.extname(target)).toBe('.ts');
      expect(path.relative(ROOT, target)).toBe(program);
    });

    it('runs TypeScript with an explicit tsconfig that exists, relative to the folder node starts in', () => {
      const options = optionsOf(project);
      expect(typeof project.runtime === 'object' && project.runtime.name).toBe('nodejs');
      expect(options.typescript).toBe(true);
      expect(typeof options.tsconfig).toBe('string');
      const { pwd } = pwdMain(projectDir, project.main);
      const resolved = path.resolve(pwd, options.tsconfig as string);
      expect(fs.statSync(resolved).isFile()).toBe(true);
      expect(path.relative(ROOT, resolved)).toBe(tsconfig);
    });

    it('is run by the Node runtime as its program, not as package.json main, even after npm run build', () => {
      const replay = replayLanguageHost(file, text, { built: true });
      expect(replay.program).toBe(program);
      expect(replay.cwd).toBe(path.dirname(program));
      // ts-node is handed the program's tsconfig, and the file exists (skipProject false).
      expect(replay.tsnode).not.toBeNull();
      expect(replay.tsnode?.skipProject).toBe(false);
      expect(path.join(replay.cwd, replay.tsnode?.project ?? '')).toBe(tsconfig);
    });

    it("type-checks with the repository's settings, without jest's types", () => {
      const replay = replayLanguageHost(file, text, { built: false });
      const forced = replay.tsnode?.compilerOptions ?? {};
      // run.js puts ES2020/nodenext in place of what the tsconfig file itself does not state.
      expect(forced).toMatchObject({ target: 'ES2022', module: 'commonjs', moduleResolution: 'node' });
      const program = tsNodeOptions(path.join(ROOT, tsconfig), forced);
      const repository = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!.options;
      for (const option of ['target', 'module', 'moduleResolution', 'strict', 'lib', 'esModuleInterop', 'isolatedModules', 'noImplicitReturns'] as const) {
        expect([option, program[option]]).toEqual([option, repository[option]]);
      }
      expect(program.strict).toBe(true);
      expect(program.module).toBe(ts.ModuleKind.CommonJS);
      expect(program.types).toEqual(['node']);
      expect(program.noCheck).toBeUndefined(); // noCheck would make ts-node transpile only
    });
  });

  it("the program's tsconfig states target, module and moduleResolution itself (run.js reads no extends)", () => {
    const own = ownCompilerOptions(path.join(ROOT, 'stacks', 'tsconfig.json'));
    expect(own).toMatchObject({ target: 'ES2022', module: 'commonjs', moduleResolution: 'node', types: ['node'] });
  });
});

describe('the replay', () => {
  it('catches a folder as main: after npm run build the runtime runs the library (package.json main)', () => {
    const packageMain = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string }).main;
    expect(packageMain).toBe('dist/components/index.js');
    const built = replayLanguageHost('Pulumi.yaml', FOLDER_MAIN_PROJECT, { built: true, withoutProgramTsconfig: true });
    expect(built.program).toBe(packageMain);
    // No tsconfig option and no stacks/tsconfig.json: run.js looks for tsconfig.json in stacks/env/
    // (not the root), finds none, and ts-node runs without project settings (nodenext, not strict).
    expect(built.tsnode).toMatchObject({ project: 'tsconfig.json', skipProject: true, compilerOptions: { module: 'nodenext' } });
  });

  it('shows why the folder went unnoticed: before a build the fallback is the folder, whose index.ts is the program', () => {
    const fresh = replayLanguageHost('Pulumi.yaml', FOLDER_MAIN_PROJECT, { built: false, withoutProgramTsconfig: true });
    expect(fresh.program).toBe('stacks/env');
  });

  it('shows why the option is needed: without it, the registry program would run with no tsconfig', () => {
    const text = fs.readFileSync(path.join(ROOT, 'stacks/registry/Pulumi.yaml'), 'utf8').replace(/^\s*tsconfig: .*\n/m, '');
    expect(text).not.toContain('tsconfig:');
    const replay = replayLanguageHost('stacks/registry/Pulumi.yaml', text, { built: true });
    expect(replay.program).toBe('stacks/registry/index.ts');
    expect(replay.tsnode).toMatchObject({ project: 'tsconfig.json', skipProject: true, compilerOptions: { module: 'nodenext' } });
  });

  it('fails a tsconfig option that names a missing file', () => {
    const text = fs.readFileSync(path.join(ROOT, 'Pulumi.yaml'), 'utf8').replace(/tsconfig: \S+/, 'tsconfig: missing.json');
    expect(text).toContain('tsconfig: missing.json');
    expect(() => replayLanguageHost('Pulumi.yaml', text, { built: true })).toThrow('tsconfig path was set to missing.json but the file was not found');
  });
});
