/**
 * Promotion against the real registry: the CLI copies test's digest into a
 * copy of Pulumi.stage.yaml and points the registry's `stage` tag at it with
 * a manifest PUT. Afterwards `stage` resolves to exactly the test digest, no
 * blob was added to the registry's storage, and no request touched a blob.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runPromote } from '../../tools/promote/cli';
import { ENVIRONMENTS } from '../../components/common/environments';
import { PROJECT_ROOT } from '../../stacks/env/config';
import { buildImage, docker, pushImage, registryDigest, TEST_REGISTRY, TESTBED_DIR, uniqueName } from '../support/docker';

const BLOB_DIR = path.join(TESTBED_DIR, 'registry', 'docker', 'registry', 'v2', 'blobs', 'sha256');
const C3 = `sha256:${'c3'.repeat(32)}`;

function blobs(): Set<string> {
  return new Set(fs.readdirSync(BLOB_DIR).flatMap((prefix) => fs.readdirSync(path.join(BLOB_DIR, prefix))));
}

function promoteCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync('npm', ['run', '--silent', 'promote', '--', ...args], { cwd: PROJECT_ROOT, encoding: 'utf8', env: { ...process.env, BERTH_REGISTRY: '', BERTH_REGISTRY_AUTH: '', ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function files(root: string): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(root).sort().map((name) => [name, fs.readFileSync(path.join(root, name), 'utf8')]));
}

describe('promotion against the real registry', () => {
  const namespace = `berth-it/${uniqueName('promote')}`;
  const repository = `${namespace}/auth-service`;
  const tags: string[] = [];
  let root: string;
  let stageDigest: string;
  let testDigest: string;
  let original: Record<string, string>;

  beforeAll(() => {
    for (const build of ['1', '2']) {
      const tag = `${TEST_REGISTRY}/${repository}:build-${build}`;
      tags.push(tag);
      buildImage({ tag, instructions: [`RUN echo ${namespace}-build-${build} > /build-marker`] });
    }
    stageDigest = pushImage(tags[0]);
    testDigest = pushImage(tags[1]);
    // What stage ran before: its tag points at build 1.
    docker('tag', tags[0], `${TEST_REGISTRY}/${repository}:stage`);
    tags.push(`${TEST_REGISTRY}/${repository}:stage`);
    expect(pushImage(`${TEST_REGISTRY}/${repository}:stage`)).toBe(stageDigest);

    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-promote-it-'));
    for (const env of ENVIRONMENTS) {
      const digest = env === 'test' ? testDigest : stageDigest;
      const text = fs.readFileSync(path.join(PROJECT_ROOT, `Pulumi.${env}.yaml`), 'utf8');
      fs.writeFileSync(path.join(root, `Pulumi.${env}.yaml`), text.replace(`berth/auth-service@${C3}`, `${repository}@${digest}`));
    }
    original = files(root);
  });

  afterAll(() => {
    for (const tag of tags) {
      spawnSync('docker', ['image', 'rm', tag]);
    }
    if (root) {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('shows a dry run and changes neither the files nor the registry', async () => {
    const result = promoteCli(['auth-service', '--from', 'test', '--to', 'stage', '--tag', '--dry-run', '--root', root], { BERTH_REGISTRY: TEST_REGISTRY });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`would tag: auth-service: tag ${repository}:stage ${stageDigest} -> ${testDigest}`);
    expect(files(root)).toEqual(original);
    await expect(registryDigest(repository, 'stage')).resolves.toBe(stageDigest);
  });

  it('refuses an unreachable registry and a digest the registry does not hold, leaving both files byte-identical', () => {
    const unreachable = promoteCli(['auth-service', '--from', 'test', '--to', 'stage', '--tag', '--registry', '127.0.0.1:5999', '--root', root]);
    expect(unreachable).toMatchObject({ status: 1, stdout: '' });
    expect(unreachable.stderr).toBe('promote: cannot reach the registry at http://127.0.0.1:5999 (ECONNREFUSED)\nnothing was changed.\n');

    const ghost = `sha256:${'0d'.repeat(32)}`;
    fs.writeFileSync(path.join(root, 'Pulumi.test.yaml'), original['Pulumi.test.yaml'].replace(testDigest, ghost));
    const missing = promoteCli(['auth-service', '--from', 'test', '--to', 'stage', '--verify', '--registry', TEST_REGISTRY, '--root', root]);
    fs.writeFileSync(path.join(root, 'Pulumi.test.yaml'), original['Pulumi.test.yaml']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`auth-service: ${repository}@${ghost} is not in the registry at http://${TEST_REGISTRY}; was it pushed (or expired)?`);
    expect(files(root)).toEqual(original);
  });

  it('promotes test -> stage: the file carries the test digest, the stage tag resolves to it, and no blob was uploaded', async () => {
    const before = blobs();
    const result = promoteCli(['auth-service', '--from', 'test', '--to', 'stage', '--tag', '--registry', TEST_REGISTRY, '--root', root]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`auth-service: ${repository}@${stageDigest} -> ${repository}@${testDigest}\n`);
    expect(result.stdout).toContain(`tagged: auth-service: tag ${repository}:stage ${stageDigest} -> ${testDigest} (manifest PUT, no layer uploaded)`);

    await expect(registryDigest(repository, 'stage')).resolves.toBe(testDigest);
    const added = [...blobs()].filter((blob) => !before.has(blob));
    expect(added).toEqual([]);

    const after = files(root);
    expect(after['Pulumi.stage.yaml']).toBe(original['Pulumi.stage.yaml'].replace(`${repository}@${stageDigest}`, `${repository}@${testDigest}`));
    expect({ ...after, 'Pulumi.stage.yaml': '' }).toEqual({ ...original, 'Pulumi.stage.yaml': '' });
    process.stdout.write(`promote figures: stage tag ${stageDigest.slice(0, 19)}… -> ${testDigest.slice(0, 19)}…, blobs before ${before.size}, added ${added.length}\n`);
  });

  it('promotes stage -> prod with only manifest requests on the wire', async () => {
    const requests: string[] = [];
    const recording = ((url: string, init: RequestInit) => {
      requests.push(`${init.method} ${new URL(url).pathname}`);
      return fetch(url, init);
    }) as typeof fetch;
    let stdout = '';
    let stderr = '';
    const status = await runPromote(['--all', '--from', 'stage', '--to', 'prod', '--tag', '--root', root], {
      root,
      env: { BERTH_REGISTRY: TEST_REGISTRY },
      fetch: recording,
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
    });
    // prod's other services point at digests that were never pushed to this registry: refused, nothing changed.
    expect(status).toBe(1);
    expect(stderr).toContain('berth/api-service@sha256:a1a1');
    expect(files(root)['Pulumi.prod.yaml']).toBe(original['Pulumi.prod.yaml']);

    requests.length = 0;
    stdout = '';
    const single = await runPromote(['auth-service', '--from', 'stage', '--to', 'prod', '--tag', '--root', root], {
      root,
      env: { BERTH_REGISTRY: TEST_REGISTRY },
      fetch: recording,
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
    });
    expect(single).toBe(0);
    expect(requests).toEqual([`GET /v2/${repository}/manifests/${testDigest}`, `HEAD /v2/${repository}/manifests/prod`, `PUT /v2/${repository}/manifests/prod`]);
    await expect(registryDigest(repository, 'prod')).resolves.toBe(testDigest);
    expect(files(root)['Pulumi.prod.yaml']).toContain(`image: ${repository}@${testDigest}\n`);
  });
});
