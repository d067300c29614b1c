import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parsePromoteArgs, runPromote } from '../../tools/promote/cli';
import { unifiedDiff } from '../../tools/promote/diff';
import { planPromotion } from '../../tools/promote/plan';
import { basicCredentials, MANIFEST_ACCEPT, registryBaseUrl, RegistryClient } from '../../tools/promote/registryClient';
import { ENVIRONMENTS } from '../../components/common/environments';
import { PROJECT_ROOT } from '../../stacks/env/config';

const C3 = `sha256:${'c3'.repeat(32)}`;
const F6 = `sha256:${'f6'.repeat(32)}`;
const read = (env: string, root = PROJECT_ROOT) => fs.readFileSync(path.join(root, `Pulumi.${env}.yaml`), 'utf8');
const withTestAuth = (text: string, digest: string) => text.replace(`berth/auth-service@${C3}`, `berth/auth-service@${digest}`);

function tempRoot(edit: (env: string, text: string) => string = (_env, text) => text): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-promote-'));
  for (const env of ENVIRONMENTS) {
    fs.writeFileSync(path.join(root, `Pulumi.${env}.yaml`), edit(env, read(env)));
  }
  return root;
}

function snapshot(root: string): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(root).sort().map((name) => [name, fs.readFileSync(path.join(root, name), 'utf8')]));
}

async function cli(argv: string[], options: { root?: string; env?: NodeJS.ProcessEnv; fetch?: typeof fetch } = {}) {
  let stdout = '';
  let stderr = '';
  const status = await runPromote(argv, {
    root: options.root ?? PROJECT_ROOT,
    env: options.env ?? {},
    fetch: options.fetch,
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
  });
  return { status, stdout, stderr };
}

describe('planPromotion', () => {
  it('rewrites only the image line of the target; every other byte, comments included, is unchanged', () => {
    const from = withTestAuth(read('test'), F6);
    const to = read('stage');
    const plan = planPromotion({ from: 'test', to: 'stage', services: ['auth-service'] }, from, to);
    const before = to.split('\n');
    const after = plan.newText.split('\n');
    expect(after.length).toBe(before.length);
    const changed = before.map((line, index) => (line === after[index] ? -1 : index)).filter((index) => index >= 0);
    expect(changed.map((index) => [before[index], after[index]])).toEqual([[`      image: berth/auth-service@${C3}`, `      image: berth/auth-service@${F6}`]]);
    expect(plan.newText).toContain('# Berth — the stage environment.');
    expect(plan.changes).toEqual([{ service: 'auth-service', before: `berth/auth-service@${C3}`, after: `berth/auth-service@${F6}`, repository: 'berth/auth-service', digest: F6, changed: true }]);
    expect(plan.diff).toBe(
      [
        '--- Pulumi.stage.yaml',
        '+++ Pulumi.stage.yaml (promoted from test)',
        '@@ -49,5 +49,5 @@',
        '   berth:services:',
        '     auth-service:',
        `-      image: berth/auth-service@${C3}`,
        `+      image: berth/auth-service@${F6}`,
        '       hostGroup: app',
        '       configFile: application-stage.properties',
        '',
      ].join('\n'),
    );
  });

  it('keeps a trailing comment and the quoting style of the value it replaces', () => {
    const from = withTestAuth(read('test'), F6);
    const to = read('stage')
      .replace(`image: berth/auth-service@${C3}`, `image: "berth/auth-service@${C3}"   # promoted 2024-05-01, ticket OPS-12`)
      .replace('  berth:services:\n', '  berth:services:\n    # services in promotion order\n\n');
    const plan = planPromotion({ from: 'test', to: 'stage', services: ['auth-service'] }, from, to);
    expect(plan.newText).toBe(to.replace(`"berth/auth-service@${C3}"`, `"berth/auth-service@${F6}"`));
  });

  it('promotes every service of the source with --all, in name order, reporting unchanged ones', () => {
    const plan = planPromotion({ from: 'test', to: 'stage', services: 'all' }, withTestAuth(read('test'), F6), read('stage'));
    expect(plan.changes.map((change) => [change.service, change.changed])).toEqual([
      ['api-service', false],
      ['auth-service', true],
      ['report-worker', false],
    ]);
  });

  it.each([
    ['a skipped step', { from: 'test', to: 'prod' }, 'refusing to promote test -> prod: it skips stage (images travel dev -> test -> stage -> prod); promote test -> stage first, or pass --force'],
    ['a step backwards', { from: 'prod', to: 'stage' }, 'refusing to promote prod -> stage: that goes backwards (images travel dev -> test -> stage -> prod); pass --force to copy an image back on purpose'],
    ['an unknown environment', { from: 'qa', to: 'stage' }, 'unknown environment "qa"; environments are dev, test, stage, prod'],
  ])('refuses %s', (_what, envs, message) => {
    expect(() => planPromotion({ ...envs, services: ['auth-service'] }, read('test'), read('stage'))).toThrow(message);
  });

  it('allows a skipped step with force', () => {
    expect(planPromotion({ from: 'test', to: 'prod', services: ['auth-service'], force: true }, withTestAuth(read('test'), F6), read('prod')).changes[0].after).toBe(
      `berth/auth-service@${F6}`,
    );
  });

  it('refuses a tag-only source image, a missing service, a missing image and a malformed digest', () => {
    expect(() => planPromotion({ from: 'dev', to: 'test', services: ['auth-service'] }, read('dev'), read('test'))).toThrow(
      'Pulumi.dev.yaml: berth:services.auth-service.image is "berth/auth-service:main", a tag, not a digest; promotion copies a digest and never resolves or rebuilds. Pin Pulumi.dev.yaml to repo@sha256:<64 hex> first',
    );
    expect(() => planPromotion({ from: 'test', to: 'stage', services: ['billing'] }, read('test'), read('stage'))).toThrow(
      'Pulumi.test.yaml: berth:services has no service "billing"; services are: api-service, auth-service, report-worker',
    );
    const stageWithoutWorker = read('stage').replace(/    report-worker:\n(      .*\n)+/, '');
    expect(() => planPromotion({ from: 'test', to: 'stage', services: ['report-worker'] }, read('test'), stageWithoutWorker)).toThrow(
      'Pulumi.stage.yaml: berth:services has no service "report-worker"; declare it there (host group, config file) before promoting its image',
    );
    const testWithoutImage = read('test').replace(`      image: berth/auth-service@${C3}\n`, '');
    expect(() => planPromotion({ from: 'test', to: 'stage', services: ['auth-service'] }, testWithoutImage, read('stage'))).toThrow(
      'Pulumi.test.yaml: berth:services.auth-service.image is missing: no image, so no digest to promote',
    );
    expect(() => planPromotion({ from: 'test', to: 'stage', services: ['auth-service'] }, read('test').replace(C3, 'sha256:c3c3'), read('stage'))).toThrow(
      'Pulumi.test.yaml: berth:services.auth-service.image is "berth/auth-service@sha256:c3c3": malformed digest "sha256:c3c3": expected sha256:<64 lowercase hex>; expected repo@sha256:<64 hex>',
    );
  });

  it('reports a broken YAML file with its name and line', () => {
    expect(() => planPromotion({ from: 'test', to: 'stage', services: ['auth-service'] }, read('test'), 'config:\n  berth:services: [unclosed\n')).toThrow(/^Pulumi\.stage\.yaml: line \d+: /);
  });
});

describe('unifiedDiff', () => {
  it('is empty for equal texts and shows separate hunks for distant changes', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y')).toBe('');
    const lines = Array.from({ length: 20 }, (_, index) => `line ${index}`);
    const changed = [...lines];
    changed[2] = 'two';
    changed[15] = 'fifteen';
    expect(unifiedDiff(lines.join('\n'), changed.join('\n'), 'a', 'b', 1)).toBe(
      ['--- a', '+++ b', '@@ -2,3 +2,3 @@', ' line 1', '-line 2', '+two', ' line 3', '@@ -15,3 +15,3 @@', ' line 14', '-line 15', '+fifteen', ' line 16', ''].join('\n'),
    );
  });
});

describe('promote CLI (files)', () => {
  it('writes the target, prints the exact change and leaves the source alone', async () => {
    const root = tempRoot((env, text) => (env === 'test' ? withTestAuth(text, F6) : text));
    const before = snapshot(root);
    const result = await cli(['auth-service', '--from', 'test', '--to', 'stage', '--root', root]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toContain(`auth-service: berth/auth-service@${C3} -> berth/auth-service@${F6}\n`);
    expect(result.stdout).toContain(`-      image: berth/auth-service@${C3}\n+      image: berth/auth-service@${F6}\n`);
    expect(result.stdout).toContain('wrote Pulumi.stage.yaml');
    const after = snapshot(root);
    expect(after['Pulumi.stage.yaml']).toBe(withTestAuth(before['Pulumi.stage.yaml'], F6));
    expect({ ...after, 'Pulumi.stage.yaml': '' }).toEqual({ ...before, 'Pulumi.stage.yaml': '' });
    expect(Object.keys(after)).toEqual(Object.keys(before)); // no temp file left behind
  });

  it('changes nothing in a dry run', async () => {
    const root = tempRoot((env, text) => (env === 'test' ? withTestAuth(text, F6) : text));
    const before = snapshot(root);
    const result = await cli(['auth-service', '--from', 'test', '--to', 'stage', '--root', root, '--dry-run']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^would promote test -> stage/);
    expect(result.stdout).toContain('dry run: Pulumi.stage.yaml not written, registry not changed.');
    expect(snapshot(root)).toEqual(before);
  });

  it.each([
    ['a broken chain', ['auth-service', '--from', 'test', '--to', 'prod'], 1, 'it skips stage'],
    ['a missing service', ['billing', '--from', 'test', '--to', 'stage'], 1, 'has no service "billing"'],
    ['a tag-only source', ['auth-service', '--from', 'dev', '--to', 'test'], 1, 'a tag, not a digest'],
    ['a missing digest', ['api-service', '--from', 'test', '--to', 'stage'], 1, 'berth:services.api-service.image is missing'],
    ['an unreachable registry', ['auth-service', '--from', 'test', '--to', 'stage', '--verify', '--registry', '127.0.0.1:5999'], 1, 'cannot reach the registry at http://127.0.0.1:5999 (ECONNREFUSED)'],
    ['no registry known', ['auth-service', '--from', 'test', '--to', 'stage', '--tag'], 1, 'names no registry host; pass --registry <host> or set BERTH_REGISTRY'],
    ['plain HTTP to a remote registry', ['auth-service', '--from', 'test', '--to', 'stage', '--tag', '--registry', 'http://registry.example.com'], 1, 'plain HTTP is allowed only for 127.0.0.1 and localhost'],
    ['no service and no --all', ['--from', 'test', '--to', 'stage'], 2, 'name a service to promote, or pass --all'],
    ['a missing --to', ['auth-service', '--from', 'test'], 2, '--to is required'],
    ['an unknown option', ['auth-service', '--from', 'test', '--to', 'stage', '--yes'], 2, 'unknown option --yes'],
  ])('refuses %s with a clear error and leaves every file byte-identical', async (_what, argv, status, message) => {
    const root = tempRoot((env, text) => (env === 'test' ? withTestAuth(text, F6).replace(/      image: berth\/api-service@.*\n/, '') : text));
    const before = snapshot(root);
    const result = await cli([...argv, '--root', root], { env: { BERTH_REGISTRY_AUTH: 'AWS:s3cr3t-token' } });
    expect(result.status).toBe(status);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain('s3cr3t');
    expect(snapshot(root)).toEqual(before);
  });

  it('parses --all and refuses it together with a service', () => {
    expect(parsePromoteArgs(['--all', '--from', 'stage', '--to', 'prod', '--tag'])).toMatchObject({ services: 'all', tag: true, verify: false });
    expect(() => parsePromoteArgs(['--all', 'x', '--from', 'a', '--to', 'b'])).toThrow('--all promotes every service; name no service with it');
  });
});

describe('registry client (fake registry)', () => {
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

  function fakeRegistry(options: { auth?: string; bearer?: boolean } = {}) {
    const requests: { method: string; url: string; headers: Record<string, string>; body?: Buffer }[] = [];
    const tags = new Map<string, string>();
    const fake = (async (url: string, init: RequestInit) => {
      const headers = init.headers as Record<string, string>;
      requests.push({ method: String(init.method), url, headers, body: init.body as Buffer | undefined });
      if (url.startsWith('https://auth.example.com/token')) {
        return new Response(JSON.stringify({ token: 'bearer-token' }), { status: headers.Authorization === `Basic ${options.auth}` ? 200 : 401 });
      }
      const expected = options.bearer ? 'Bearer bearer-token' : options.auth ? `Basic ${options.auth}` : undefined;
      if (expected && headers.Authorization !== expected) {
        return new Response('denied', {
          status: 401,
          headers: options.bearer ? { 'WWW-Authenticate': 'Bearer realm="https://auth.example.com/token",service="reg",scope="repository:berth/auth-service:pull,push"' } : {},
        });
      }
      const reference = url.slice(url.lastIndexOf('/') + 1);
      if (init.method === 'PUT') {
        tags.set(reference, `sha256:${createHash('sha256').update(init.body as Buffer).digest('hex')}`);
        return new Response(null, { status: 201, headers: { 'Docker-Content-Digest': tags.get(reference)! } });
      }
      const known = reference === digest || tags.get(reference) === digest;
      if (!known) {
        return new Response('unknown', { status: 404 });
      }
      return new Response(init.method === 'HEAD' ? null : manifest, { status: 200, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': digest } });
    }) as unknown as typeof fetch;
    return { fake, requests, tags };
  }

  it('verifies and moves the tag by PUTting the exact manifest bytes it read, with the right Accept and Content-Type', async () => {
    const root = tempRoot((env, text) => (env === 'test' ? withTestAuth(text, digest) : text));
    const registry = fakeRegistry({ auth: Buffer.from('AWS:s3cr3t').toString('base64') });
    const result = await cli(['auth-service', '--from', 'test', '--to', 'stage', '--tag', '--root', root], {
      env: { BERTH_REGISTRY: 'registry.example.com', BERTH_REGISTRY_AUTH: 's3cr3t' },
      fetch: registry.fake,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`auth-service: tag berth/auth-service:stage (new) -> ${digest} (manifest PUT, no layer uploaded)`);
    expect(result.stdout).not.toContain('s3cr3t');
    expect(registry.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      `GET https://registry.example.com/v2/berth/auth-service/manifests/${digest}`,
      'HEAD https://registry.example.com/v2/berth/auth-service/manifests/stage',
      'PUT https://registry.example.com/v2/berth/auth-service/manifests/stage',
    ]);
    expect(registry.requests[0].headers.Accept).toBe(MANIFEST_ACCEPT);
    expect(registry.requests[2].headers['Content-Type']).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(registry.requests[2].body!.equals(manifest)).toBe(true);
    expect(registry.requests.every((r) => !r.url.includes('/blobs/'))).toBe(true);
    expect(registry.tags.get('stage')).toBe(digest);
  });

  it('refuses a digest the registry does not hold, and credentials it rejects, without printing them', async () => {
    const root = tempRoot((env, text) => (env === 'test' ? withTestAuth(text, F6) : text));
    const before = snapshot(root);
    const missing = await cli(['auth-service', '--from', 'test', '--to', 'stage', '--verify', '--root', root, '--registry', 'registry.example.com'], { fetch: fakeRegistry().fake });
    expect(missing.stderr).toContain(`auth-service: berth/auth-service@${F6} is not in the registry at https://registry.example.com; was it pushed (or expired)?`);
    const refused = await cli(['auth-service', '--from', 'test', '--to', 'stage', '--verify', '--root', root, '--registry', 'registry.example.com'], {
      env: { BERTH_REGISTRY_AUTH: 'AWS:wr0ng-pa55' },
      fetch: fakeRegistry({ auth: 'other' }).fake,
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('registry https://registry.example.com refused GET berth/auth-service:sha256:');
    expect(refused.stderr).toContain('the credentials in BERTH_REGISTRY_AUTH were not accepted');
    expect(refused.stderr + refused.stdout).not.toMatch(/wr0ng|pa55|QVdTOndy/);
    expect(snapshot(root)).toEqual(before);
  });

  it('trades Basic credentials for a bearer token when the registry asks for one', async () => {
    const registry = fakeRegistry({ auth: Buffer.from('ci:pw').toString('base64'), bearer: true });
    const client = new RegistryClient({ registry: 'registry.example.com', auth: 'ci:pw', fetch: registry.fake });
    await expect(client.getManifest('berth/auth-service', digest)).resolves.toMatchObject({ digest });
    expect(registry.requests.map((r) => r.url)).toEqual([
      `https://registry.example.com/v2/berth/auth-service/manifests/${digest}`,
      'https://auth.example.com/token?service=reg&scope=repository%3Aberth%2Fauth-service%3Apull%2Cpush',
      `https://registry.example.com/v2/berth/auth-service/manifests/${digest}`,
    ]);
  });

  it('chooses HTTPS except on loopback, and reads the three credential forms', () => {
    expect(registryBaseUrl('123456789012.dkr.ecr.eu-west-1.amazonaws.com')).toBe('https://123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    expect(registryBaseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(registryBaseUrl('localhost:5000/')).toBe('http://localhost:5000');
    expect(registryBaseUrl('https://127.0.0.1:5443')).toBe('https://127.0.0.1:5443');
    expect(() => registryBaseUrl('http://10.0.0.5:5000')).toThrow('plain HTTP is allowed only for 127.0.0.1 and localhost');
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    expect(basicCredentials('ci:pw')).toBe(b64('ci:pw'));
    expect(basicCredentials('eyJwYXlsb2FkIjoiYWJjIn0=')).toBe(b64('AWS:eyJwYXlsb2FkIjoiYWJjIn0='));
    expect(basicCredentials(b64('AWS:eyJwYXlsb2FkIjoiYWJjIn0='))).toBe(b64('AWS:eyJwYXlsb2FkIjoiYWJjIn0='));
    expect(basicCredentials('')).toBeUndefined();
  });
});
