/**
 * The test bed's auth registry stands in for ECR: it refuses anonymous pulls, and the docker CLI gets
 * its credentials only from a credential helper named in config.json's credHelpers, the way a host's
 * config.json names amazon-ecr-credential-helper's `ecr-login` for the account's registry.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AUTH_REGISTRY,
  AUTH_REGISTRY_HELPER,
  authRegistryCredentials,
  buildImage,
  docker,
  dockerEnv,
  DIGEST_PATTERN,
  pushImageToAuthRegistry,
  run,
  uniqueName,
  writeDockerConfig,
} from '../support/docker';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-auth-it-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('test bed auth registry and credential helper', () => {
  const repository = `berth-it/${uniqueName('auth')}`;
  const tag = `${AUTH_REGISTRY}/${repository}:v1`;
  let reference = '';

  beforeAll(() => {
    buildImage({ tag, instructions: [`RUN echo ${repository} > /marker`] });
    const digest = pushImageToAuthRegistry(tag);
    expect(digest).toMatch(DIGEST_PATTERN);
    reference = `${AUTH_REGISTRY}/${repository}@${digest}`;
    // Nothing of it stays local: every pull below must reach the registry for its manifest.
    docker('image', 'rm', tag);
  });

  afterEach(() => {
    run('docker', ['image', 'rm', reference]);
  });

  const pull = (configDir: string) => run('docker', ['pull', reference], { env: dockerEnv(configDir) });

  it('refuses an anonymous pull over the registry API (401 with a Basic challenge)', async () => {
    const response = await fetch(`http://${AUTH_REGISTRY}/v2/${repository}/manifests/${reference.split('@')[1]}`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const { username, password } = authRegistryCredentials();
    const authorized = await fetch(`http://${AUTH_REGISTRY}/v2/`, { headers: { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` } });
    expect(authorized.status).toBe(200);
  });

  it('docker pull by digest fails without credentials', () => {
    const empty = fs.mkdtempSync(path.join(scratch, 'empty-config-'));
    const result = pull(empty);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/no basic auth credentials|401 Unauthorized/);
  });

  it('docker pull by digest fails with a config.json that names no credential helper', () => {
    const config = writeDockerConfig({ credHelper: false, dir: path.join(scratch, 'no-helper') });
    expect(JSON.parse(fs.readFileSync(path.join(config, 'config.json'), 'utf8'))).toEqual({});
    const result = pull(config);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/no basic auth credentials|401 Unauthorized/);
  });

  it('docker pull by digest succeeds through the credential helper named in credHelpers', () => {
    const config = writeDockerConfig({ credHelper: true, dir: path.join(scratch, 'helper') });
    expect(JSON.parse(fs.readFileSync(path.join(config, 'config.json'), 'utf8'))).toEqual({ credHelpers: { [AUTH_REGISTRY]: AUTH_REGISTRY_HELPER } });
    const result = pull(config);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(docker('run', '--rm', reference, 'cat', '/marker')).toBe(repository);
    // The helper kept the credentials: nothing was written into config.json.
    expect(JSON.parse(fs.readFileSync(path.join(config, 'config.json'), 'utf8'))).toEqual({ credHelpers: { [AUTH_REGISTRY]: AUTH_REGISTRY_HELPER } });
  });

  it('the helper speaks the credential-helper protocol, for its registry only', () => {
    const helper = `docker-credential-${AUTH_REGISTRY_HELPER}`;
    const { username, password } = authRegistryCredentials();
    const got = run(helper, ['get'], { input: AUTH_REGISTRY });
    expect(got.status).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual({ ServerURL: AUTH_REGISTRY, Username: username, Secret: password });
    const other = run(helper, ['get'], { input: '127.0.0.1:5000' });
    expect(other.status).toBe(1);
    expect(other.stdout.trim()).toBe('credentials not found in native keychain');
    expect(run(helper, ['store'], { input: '{}' }).status).not.toBe(0);
  });

  it('the real ECR helper is installed under the name a host config.json names (ecr-login)', () => {
    // Debian and AL2023 both package amazon-ecr-credential-helper as docker-credential-ecr-login on PATH.
    const found = run('bash', ['-c', 'command -v docker-credential-ecr-login']);
    expect(found.status).toBe(0);
    expect(found.stdout.trim()).toBe('/usr/bin/docker-credential-ecr-login');
    expect(run('docker-credential-ecr-login', ['version']).status).toBe(0);
  });
});
