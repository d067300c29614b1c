/**
 * Reading a spec (components/service/agent/specs.ts): JSON documents, `realpath -m`
 * on real symlinks, volumes kept inside the service's data folder, refusals with
 * their exact messages, and the canonical text the bash agent of earlier releases
 * wrote, byte for byte, so a host it left keeps its containers.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Refused } from '../../../components/service/agent/context';
import { jsonDocuments, loadRecordedSpec, loadSpec, resolvePath, volumeProblems } from '../../../components/service/agent/specs';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'agent');
const IMAGE = `registry.example.com/berth/web@sha256:${'a1'.repeat(32)}`;

let tmp: string;
beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-specs-unit-')));
  fs.mkdirSync(path.join(tmp, 'a', 'b'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'etc', 'ssh', 'sshd_config.d'), { recursive: true });
  fs.symlinkSync('a/b', path.join(tmp, 'rel'));
  fs.symlinkSync(path.join(tmp, 'a'), path.join(tmp, 'abs'));
  fs.symlinkSync('rel', path.join(tmp, 'chain'));
  fs.symlinkSync('missing/target', path.join(tmp, 'dangling'));
  fs.symlinkSync('loop2', path.join(tmp, 'loop1'));
  fs.symlinkSync('loop1', path.join(tmp, 'loop2'));
  // What a container could plant in its own data folder: a link whose `..` leaves the folder.
  const own = path.join(tmp, 'data', 'prod', 'web', 'data');
  fs.mkdirSync(own, { recursive: true });
  fs.symlinkSync(path.join(tmp, 'etc', 'ssh', 'sshd_config.d'), path.join(own, 'a'));
  fs.symlinkSync('a/..', path.join(own, 'cache'));
  fs.symlinkSync(path.join(tmp, 'data', 'berth'), path.join(own, 'to-audit'));
  fs.mkdirSync(path.join(own, 'sub', 'deeper'), { recursive: true });
  fs.symlinkSync('sub/deeper', path.join(own, 'rel'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function refusal(run: () => unknown): Promise<Error> {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
}

describe('jsonDocuments', () => {
  it('splits text into its top-level JSON values', () => {
    expect(jsonDocuments('{} {}')).toEqual(['{}', '{}']);
    expect(jsonDocuments('{"a":"}{"}\n[1,[2,{"b":[]}]]\t"x\\"y" 12 true')).toEqual(['{"a":"}{"}', '[1,[2,{"b":[]}]]', '"x\\"y"', '12', 'true']);
    expect(jsonDocuments('"a"{}')).toEqual(['"a"', '{}']);
    expect(jsonDocuments('1{} true"a"null')).toEqual(['1', '{}', 'true', '"a"', 'null']);
    expect(jsonDocuments('{"a":[1,2]}]')).toEqual(['{"a":[1,2]}', ']']);
    expect(jsonDocuments('{"a": 1')).toEqual(['{"a": 1']);
    expect(jsonDocuments('} x')).toEqual(['}', 'x']);
    expect(jsonDocuments(' \r\n\t')).toEqual([]);
    expect(jsonDocuments('')).toEqual([]);
  });
});

describe('resolvePath', () => {
  it('resolves every symlink that exists and `..` after it, component by component, as realpath -m does', () => {
    expect(resolvePath(`${tmp}/rel/c`)).toBe(`${tmp}/a/b/c`);
    expect(resolvePath(`${tmp}/rel/../c`)).toBe(`${tmp}/a/c`);
    expect(resolvePath(`${tmp}/abs/./b//x/`)).toBe(`${tmp}/a/b/x`);
    expect(resolvePath(`${tmp}/chain`)).toBe(`${tmp}/a/b`);
    expect(resolvePath(`${tmp}/dangling/x`)).toBe(`${tmp}/missing/target/x`);
    expect(resolvePath(`${tmp}/nothing/here/../../a`)).toBe(`${tmp}/a`);
    expect(resolvePath(`${tmp}/data/prod/web/data/cache`)).toBe(`${tmp}/etc/ssh`);
    expect(resolvePath('/../..')).toBe('/');
    expect(resolvePath('/')).toBe('/');
  });

  it('resolves a relative path from the working folder', () => {
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      expect(resolvePath('rel/x')).toBe(`${tmp}/a/b/x`);
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses a symlink loop', async () => {
    const error = await refusal(() => resolvePath(`${tmp}/loop1/x`));
    expect(error).toBeInstanceOf(Refused);
    expect(error.message).toBe(`${tmp}/loop2: too many levels of symbolic links`);
  });
});

describe('volumeProblems', () => {
  const data = () => path.join(tmp, 'data');
  const spec = (volumes: unknown, env: unknown = 'prod', name: unknown = 'web') => ({ name, env, volumes });

  it('accepts the data folder itself and what lies under it', () => {
    const own = `${data()}/prod/web`;
    expect(volumeProblems(spec([`${own}:/a`, `${own}/data:/b:ro`, `${own}/data/x/../y:/c`, `${own}/data/rel/..:/d`]), data())).toEqual([]);
  });

  it("refuses another service's, another environment's and the audit folder, with the path resolved when that changed it", () => {
    const own = `${data()}/prod/web`;
    expect(
      volumeProblems(
        spec([
          `${own}/data:/data`,
          `${data()}/prod/web-admin/data:/b`,
          `${data()}/stage/web:/c`,
          `${own}/../../berth:/d`,
          `${own}/data/cache:/e`,
          `${own}/data/a/../..:/e2`,
          `${own}/data/to-audit/x:/f`,
          '/etc:/g',
          'named:/h',
          42,
        ]),
        data(),
      ),
    ).toEqual([
      `spec.volumes[1]: host path ${data()}/prod/web-admin/data is outside this service's data folder ${own}`,
      `spec.volumes[2]: host path ${data()}/stage/web is outside this service's data folder ${own}`,
      `spec.volumes[3]: host path ${own}/../../berth (resolved: ${data()}/berth) is outside this service's data folder ${own}`,
      `spec.volumes[4]: host path ${own}/data/cache (resolved: ${tmp}/etc/ssh) is outside this service's data folder ${own}`,
      `spec.volumes[5]: host path ${own}/data/a/../.. (resolved: ${tmp}/etc) is outside this service's data folder ${own}`,
      `spec.volumes[6]: host path ${own}/data/to-audit/x (resolved: ${data()}/berth/x) is outside this service's data folder ${own}`,
      `spec.volumes[7]: host path /etc is outside this service's data folder ${own}`,
    ]);
  });

  it('resolves the data root itself', () => {
    expect(volumeProblems(spec([`${tmp}/a/b/prod/web/x:/x`]), `${tmp}/rel`)).toEqual([]);
  });

  it('leaves what the schema reports to the schema', () => {
    expect(volumeProblems(null, data())).toEqual([]);
    expect(volumeProblems('text', data())).toEqual([]);
    expect(volumeProblems(spec(['/etc:/x'], 'Prod'), data())).toEqual([]);
    expect(volumeProblems(spec(['/etc:/x'], 'prod', 7), data())).toEqual([]);
    expect(volumeProblems(spec('/etc:/x'), data())).toEqual([]);
  });
});

describe('loadSpec', () => {
  const valid = { name: 'web', env: 'prod', image: IMAGE, health: { cmd: 'true', timeoutSeconds: 5 } };

  it('fills in the defaults, sorts the keys and hashes the canonical text', () => {
    const loaded = loadSpec(JSON.stringify({ ...valid, environment: { B: '2', A: '1' } }), tmp);
    const canonical = `{"env":"prod","environment":{"A":"1","B":"2"},"health":{"cmd":"true","timeoutSeconds":5},"image":"${IMAGE}","name":"web","ports":[],"restart":"unless-stopped","volumes":[]}`;
    expect(loaded.canonical).toBe(canonical);
    expect(loaded.spec).toEqual(JSON.parse(canonical));
    expect(loaded.configHash).toBeUndefined();
  });

  it('leaves the traffic fields out at their defaults, so spelling them out keeps the hash, and keeps any other value', () => {
    const plain = loadSpec(JSON.stringify(valid), tmp);
    const spelled = loadSpec(JSON.stringify({ ...valid, update: 'start-first', drainSeconds: 30, proxyMode: 'tcp' }), tmp);
    expect(spelled.canonical).toBe(plain.canonical);
    expect(spelled.hash).toBe(plain.hash);
    const tuned = loadSpec(JSON.stringify({ ...valid, update: 'stop-first', drainSeconds: 0, proxyMode: 'http' }), tmp);
    expect(tuned.canonical).toBe(
      `{"drainSeconds":0,"env":"prod","environment":{},"health":{"cmd":"true","timeoutSeconds":5},"image":"${IMAGE}","name":"web","ports":[],"proxyMode":"http","restart":"unless-stopped","update":"stop-first","volumes":[]}`,
    );
    for (const one of [{ update: 'stop-first' }, { drainSeconds: 31 }, { proxyMode: 'http' }]) {
      expect(loadSpec(JSON.stringify({ ...valid, ...one }), tmp).hash).not.toBe(plain.hash);
    }
  });

  it.each([
    ['', 'spec: stdin is empty; expected one JSON object'],
    [' \n', 'spec: stdin is empty; expected one JSON object'],
    ['{} {}', 'spec: stdin is not one valid JSON document: got 2 documents'],
    ['{"name": ', 'spec: stdin is not one valid JSON document: Unexpected end of JSON input'],
    [
      '[]',
      'the spec has 1 problem(s):\nspec: must be a JSON object',
    ],
    [
      JSON.stringify({ name: 'web', env: 'prod', image: 'registry.example.com/berth/web:latest', health: { cmd: 'true', timeoutSeconds: 5 }, secretEnvironment: { DB_PASSWORD: 's3cr3t\nx' } }),
      'the spec has 2 problem(s):\nspec.image: must be <repository>@sha256:<64 hex> (a tag is refused), got "registry.example.com/berth/web:latest"\nspec.secretEnvironment.DB_PASSWORD: value must be a single line',
    ],
  ])('refuses %j', async (text, message) => {
    const error = await refusal(() => loadSpec(text, tmp));
    expect(error).toBeInstanceOf(Refused);
    expect(error.message).toBe(message);
  });

  it('names the file a spec came from, and counts volume problems with the others', async () => {
    const error = await refusal(() => loadSpec(JSON.stringify({ ...valid, volumes: ['/etc:/etc'], memoryMiB: 0 }), tmp, '/x/current.json'));
    expect(error.message).toBe(
      `/x/current.json has 2 problem(s):\nspec.memoryMiB: must be a positive whole number, got 0\nspec.volumes[0]: host path /etc is outside this service's data folder ${tmp}/prod/web`,
    );
    const empty = await refusal(() => loadSpec('', tmp, '/x/current.json'));
    expect(empty.message).toBe('spec: /x/current.json is empty; expected one JSON object');
  });

  it('produces the canonical text and hash of the bash agent of earlier releases', () => {
    const canonical = String.raw`{"configFile":{"content":"a=1\n\tb=\"2\"\n","target":"/app/a.properties"},"env":"prod","environment":{"APP":"auth é\u0001\u007f","ZONE":"eu"},"health":{"cmd":"true","timeoutSeconds":60},"image":"registry.example.com/berth/auth@sha256:abababababababababababababababababababababababababababababababab","log":{"driver":"awslogs","options":{"a":"2","b":"1"}},"memoryMiB":512,"name":"auth","ports":["9090:9090","8080:8080"],"restart":"unless-stopped","secretEnvironment":{"DB_PASSWORD":"p"},"stopTimeoutSeconds":20,"volumes":["/srv/berth/prod/auth/a:/a:ro"]}`;
    const loaded = loadSpec(fs.readFileSync(path.join(FIXTURES, 'bash-canonical-spec.json'), 'utf8'), '/srv/berth');
    expect(loaded.canonical).toBe(canonical);
    expect(fs.readFileSync(path.join(FIXTURES, 'bash-canonical-spec.txt'), 'utf8')).toBe(`${canonical}\n`);
    expect(loaded.hash).toBe('86a9cef5b82892c9bc82a5cac1aad9da4453baac50054668dd25cc37e008720e');
    expect(loaded.configHash).toBe('9236135a98d3634b');
    // null stands for a field left out.
    expect('pidsLimit' in loaded.spec).toBe(false);
    expect(loaded.spec.environment).toEqual({ APP: 'auth é\u0001\u007f', ZONE: 'eu' });
  });
});

describe('loadRecordedSpec', () => {
  const text = JSON.stringify({ name: 'web', env: 'prod', image: IMAGE, health: { cmd: 'true', timeoutSeconds: 5 } });

  it('reads a recorded spec, or nothing when there is none', () => {
    const file = path.join(tmp, 'current.json');
    fs.writeFileSync(file, `${text}\n`);
    expect(loadRecordedSpec(file, tmp)?.spec.image).toBe(IMAGE);
    expect(loadRecordedSpec(path.join(tmp, 'none.json'), tmp)).toBeUndefined();
  });

  it('refuses a corrupt one, naming it', async () => {
    const file = path.join(tmp, 'corrupt.json');
    fs.writeFileSync(file, '{"name":"web"} trailing');
    const error = await refusal(() => loadRecordedSpec(file, tmp));
    expect(error).toBeInstanceOf(Refused);
    expect(error.message).toBe(`${file}: the recorded spec is corrupt; nothing was changed. ${file} is not one valid JSON document: got 2 documents`);
  });

  it('passes a read error other than a missing file through', () => {
    expect(() => loadRecordedSpec(tmp, tmp)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
  });
});
