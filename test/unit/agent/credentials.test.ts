/**
 * Pull credentials as the Docker CLI finds them (components/service/agent/credentials.ts):
 * a helper per registry host, one for all, or stored auths; a helper's answer; a real helper run.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { credentialSource, credentialsFor, helperAnswer, registryHostOf, runHelper } from '../../../components/service/agent/credentials';

const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const DIGEST = `sha256:${'a1'.repeat(32)}`;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-credentials-unit-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let configs = 0;
function configDir(config: unknown): string {
  const dir = path.join(tmp, `config-${++configs}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

describe('registryHostOf', () => {
  it.each([
    ['nginx', 'docker.io'],
    ['library/nginx', 'docker.io'],
    [`library/nginx@${DIGEST}`, 'docker.io'],
    [`${ECR}/berth/web@${DIGEST}`, ECR],
    ['localhost/web', 'localhost'],
    ['localhost:5000/web', 'localhost:5000'],
    ['registry:5000/web', 'registry:5000'],
    ['registry/web', 'docker.io'],
  ])('%s is pulled from %s', (reference, host) => {
    expect(registryHostOf(reference)).toBe(host);
  });
});

describe('credentialSource', () => {
  it('takes the helper for the host, else the one for all', () => {
    const config = { credHelpers: { [ECR]: 'ecr-login' }, credsStore: 'desktop', auths: { [ECR]: { auth: base64('u:p') } } };
    expect(credentialSource(config, ECR)).toEqual({ helper: 'ecr-login' });
    expect(credentialSource(config, 'registry.example.com')).toEqual({ helper: 'desktop' });
  });

  it('takes stored auths without a helper: an identity token first, else user and password', () => {
    const config = {
      credsStore: '',
      auths: {
        'a.example.com': { auth: base64('robot$ci:pa:ss'), identitytoken: 'tok-1' },
        'b.example.com': { auth: base64('robot$ci:pa:ss') },
        'c.example.com': { auth: base64('no-colon') },
        'd.example.com': { auth: base64(':only-password') },
        'e.example.com': {},
        'https://index.docker.io/v1/': { auth: base64('hub:secret') },
      },
    };
    expect(credentialSource(config, 'a.example.com')).toEqual({ auth: { identitytoken: 'tok-1', serveraddress: 'a.example.com' } });
    expect(credentialSource(config, 'b.example.com')).toEqual({ auth: { username: 'robot$ci', password: 'pa:ss', serveraddress: 'b.example.com' } });
    expect(credentialSource(config, 'c.example.com')).toBeUndefined();
    expect(credentialSource(config, 'd.example.com')).toBeUndefined();
    expect(credentialSource(config, 'e.example.com')).toBeUndefined();
    expect(credentialSource(config, 'docker.io')).toEqual({ auth: { username: 'hub', password: 'secret', serveraddress: 'docker.io' } });
    expect(credentialSource(config, 'f.example.com')).toBeUndefined();
    expect(credentialSource({}, 'docker.io')).toBeUndefined();
  });
});

describe('helperAnswer', () => {
  it('reads user and secret, a <token> user as an identity token', () => {
    expect(helperAnswer('{"ServerURL":"r","Username":"AWS","Secret":"ecr-pass"}', ECR)).toEqual({ username: 'AWS', password: 'ecr-pass', serveraddress: ECR });
    expect(helperAnswer('{"Username":"<token>","Secret":"refresh"}', ECR)).toEqual({ identitytoken: 'refresh', serveraddress: ECR });
    expect(helperAnswer('{"Username":"<token>"}', ECR)).toEqual({ identitytoken: '', serveraddress: ECR });
    expect(helperAnswer('{}', ECR)).toEqual({ username: '', password: '', serveraddress: ECR });
  });
});

describe('credentialsFor', () => {
  const reference = `${ECR}/berth/web@${DIGEST}`;

  it('pulls anonymously without a Docker client config', async () => {
    const calls: string[] = [];
    const run = async (helper: string, host: string) => {
      calls.push(`${helper} ${host}`);
      return '{}';
    };
    await expect(credentialsFor(reference, path.join(tmp, 'none'), run)).resolves.toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('runs the helper the config names for the registry, with the registry host', async () => {
    const calls: string[] = [];
    const run = async (helper: string, host: string) => {
      calls.push(`${helper} ${host}`);
      return '{"Username":"AWS","Secret":"ecr-pass"}\n';
    };
    await expect(credentialsFor(reference, configDir({ credHelpers: { [ECR]: 'ecr-login' } }), run)).resolves.toEqual({ username: 'AWS', password: 'ecr-pass', serveraddress: ECR });
    expect(calls).toEqual([`ecr-login ${ECR}`]);
  });

  it('uses stored credentials without running anything, and none for another registry', async () => {
    const run = async () => {
      throw new Error('no helper should run');
    };
    const dir = configDir({ auths: { [ECR]: { auth: base64('u:p') } } });
    await expect(credentialsFor(reference, dir, run)).resolves.toEqual({ username: 'u', password: 'p', serveraddress: ECR });
    await expect(credentialsFor(`registry.example.com/web@${DIGEST}`, dir, run)).resolves.toBeUndefined();
  });

  it('refuses a config that is not JSON', async () => {
    const dir = configDir('{ not json');
    await expect(credentialsFor(reference, dir, async () => '')).rejects.toThrow(
      new Error(`${path.join(dir, 'config.json')}: not a Docker client config: Expected property name or '}' in JSON at position 2`),
    );
  });
});

/**
 * The environment child processes get: Jest gives a test a copy of process.env,
 * but child_process (a core module, outside the test's sandbox) reads the real
 * one, which a function of the core module's realm reaches.
 */
const realEnv = (execFile.constructor as FunctionConstructor)('return process.env')() as NodeJS.ProcessEnv;

describe('runHelper', () => {
  const bin = () => path.join(tmp, 'bin');
  let oldPath: string | undefined;

  beforeAll(() => {
    fs.mkdirSync(bin());
    const script = (name: string, body: string) => fs.writeFileSync(path.join(bin(), `docker-credential-${name}`), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    script('echo', 'read -r host; [ "$1" = get ] || exit 3; printf \'{"Username":"AWS","Secret":"for %s"}\' "$host"');
    script('fail', 'echo "credentials not found in native keychain" >&2; exit 1');
    script('quiet', 'exit 1');
    oldPath = realEnv.PATH;
    realEnv.PATH = `${bin()}:${oldPath}`;
  });
  afterAll(() => {
    realEnv.PATH = oldPath;
  });

  it('runs docker-credential-<helper> get with the host on stdin', async () => {
    await expect(runHelper('echo', ECR)).resolves.toBe(`{"Username":"AWS","Secret":"for ${ECR}"}`);
  });

  it('rejects with what the helper said', async () => {
    await expect(runHelper('fail', ECR)).rejects.toThrow(new Error(`credential helper docker-credential-fail failed for ${ECR}: credentials not found in native keychain`));
    await expect(runHelper('quiet', ECR)).rejects.toThrow(new Error(`credential helper docker-credential-quiet failed for ${ECR}: Command failed: docker-credential-quiet get`));
    // More than a pipe holds, to a helper that never reads it: the write fails (EPIPE), the failure is still reported once.
    const long = 'x'.repeat(200_000);
    await expect(runHelper('quiet', long)).rejects.toThrow(new Error(`credential helper docker-credential-quiet failed for ${long}: Command failed: docker-credential-quiet get`));
    // (An unhandled EPIPE would surface here, within the test.)
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(runHelper('missing', ECR)).rejects.toThrow(new Error(`credential helper docker-credential-missing failed for ${ECR}: spawn docker-credential-missing ENOENT`));
  });
});
