/**
 * The import graph of the library (components/), the Pulumi programs (stacks/)
 * and the tooling (tools/), read by madge with the repository's tsconfig.
 * Type-only imports count: a pure module that takes its types from a command
 * is as tangled as one that takes its code.
 *
 * - no import cycle anywhere;
 * - the layers point one way: tools/ may use stacks/ and components/, stacks/
 *   may use components/, and components/ (what other teams install) uses
 *   neither, so a Pulumi program never loads a CLI and the library never loads
 *   a program.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import madge from 'madge';

const ROOT = path.resolve(__dirname, '..', '..');
const LAYERS = ['components', 'stacks', 'tools'];

function graphOf(baseDir: string, folders: string[]) {
  return madge(
    folders.map((folder) => path.join(baseDir, folder)),
    { baseDir, fileExtensions: ['ts'], tsConfig: path.join(ROOT, 'tsconfig.json'), detectiveOptions: { ts: { skipTypeImports: false } } },
  );
}

/** Each cycle as `a.ts -> b.ts -> a.ts`. */
function describeCycles(cycles: string[][]): string[] {
  return cycles.map((cycle) => [...cycle, cycle[0]].join(' -> '));
}

describe('the import graph', () => {
  let graph: Record<string, string[]>;
  let cycles: string[][];

  beforeAll(async () => {
    const result = await graphOf(ROOT, LAYERS);
    graph = result.obj();
    cycles = result.circular();
  });

  it('reads every TypeScript file of components/, stacks/ and tools/', () => {
    for (const layer of LAYERS) {
      const files = fs.readdirSync(path.join(ROOT, layer), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        expect(Object.keys(graph)).toContain(path.posix.join(layer, file.split(path.sep).join('/')));
      }
    }
  });

  it('has no import cycle', () => {
    expect(describeCycles(cycles)).toEqual([]);
  });

  it('points one way: components/ imports neither stacks/ nor tools/, stacks/ does not import tools/', () => {
    const may: Record<string, string[]> = { components: ['components'], stacks: ['components', 'stacks'], tools: ['components', 'stacks', 'tools'] };
    const wrong = Object.entries(graph).flatMap(([file, dependencies]) => {
      const layer = file.split('/')[0];
      return dependencies.filter((dependency) => !may[layer].includes(dependency.split('/')[0])).map((dependency) => `${file} -> ${dependency}`);
    });
    expect(wrong).toEqual([]);
  });
});

describe('the cycle check', () => {
  it('finds a cycle made of type-only imports, and names its files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cycle-'));
    try {
      fs.mkdirSync(path.join(dir, 'tools'));
      fs.writeFileSync(path.join(dir, 'tools', 'engine.ts'), "import type { Shape } from './render';\nexport const shapes: Shape[] = [];\n");
      fs.writeFileSync(path.join(dir, 'tools', 'render.ts'), "import { shapes } from './engine';\nexport interface Shape { n: number }\nexport const count = () => shapes.length;\n");
      const result = await graphOf(dir, ['tools']);
      expect(describeCycles(result.circular())).toEqual(['tools/engine.ts -> tools/render.ts -> tools/engine.ts']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
