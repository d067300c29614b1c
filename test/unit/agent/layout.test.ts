/**
 * What the agent leaves on a host and where (components/service/agent/layout.ts):
 * the same names and paths the bash agent of earlier releases used.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { prefixed, PROG } from '../../../components/service/agent/context';
import {
  appendAudit,
  auditHistory,
  auditLine,
  auditLogPath,
  configDir,
  configHash,
  containerName,
  LABELS,
  localTag,
  localTagText,
  nextContainerName,
  parseHostEnvironment,
  readIfPresent,
  rootsFrom,
  sha256,
  stateDir,
  writeAtomically,
} from '../../../components/service/agent/layout';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-layout-unit-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the roots', () => {
  const DEFAULTS = {
    data: '/srv/berth',
    config: '/etc/berth/config',
    state: '/var/lib/berth',
    lockFile: '/run/lock/berth.lock',
    dockerConfig: '/etc/berth/docker',
  };

  it('default to the host paths', () => {
    expect(rootsFrom({})).toEqual(DEFAULTS);
  });

  it('take an empty value for the default', () => {
    expect(rootsFrom({ BERTH_DATA_ROOT: '', BERTH_CONFIG_ROOT: '', BERTH_STATE_ROOT: '', BERTH_LOCK_FILE: '', BERTH_DOCKER_CONFIG: '' })).toEqual(DEFAULTS);
  });

  it('come from the environment, an empty value meaning the default', () => {
    expect(
      rootsFrom({ BERTH_DATA_ROOT: '/d', BERTH_CONFIG_ROOT: '/c', BERTH_STATE_ROOT: '/s', BERTH_LOCK_FILE: '/l.lock', BERTH_DOCKER_CONFIG: '' }),
    ).toEqual({ data: '/d', config: '/c', state: '/s', lockFile: '/l.lock', dockerConfig: '/etc/berth/docker' });
  });
});

describe("the host's environment file", () => {
  it('is KEY=VALUE lines; anything else is ignored', () => {
    expect(parseHostEnvironment('BERTH_DATA_ROOT=/data/berth\n# a comment\nexport X=1\nlower=case\nxROOT=/x\nEMPTY=\nEQUALS=a=b\n BERTH_STATE_ROOT=/x\n\n')).toEqual({
      BERTH_DATA_ROOT: '/data/berth',
      EMPTY: '',
      EQUALS: 'a=b',
    });
    expect(parseHostEnvironment('')).toEqual({});
  });

  it('gives the roots the process environment does not', () => {
    const host = { BERTH_DATA_ROOT: '/data/berth', BERTH_STATE_ROOT: '/host/state', BERTH_CONFIG_ROOT: '' };
    expect(rootsFrom({ BERTH_STATE_ROOT: '/env/state' }, host)).toEqual({
      data: '/data/berth',
      config: '/etc/berth/config',
      state: '/env/state',
      lockFile: '/run/lock/berth.lock',
      dockerConfig: '/etc/berth/docker',
    });
  });
});

describe('names and paths', () => {
  const roots = rootsFrom({});

  it('are the ones the bash agent used', () => {
    expect(LABELS).toEqual({ service: 'berth.service', env: 'berth.env', image: 'berth.image', specHash: 'berth.spec-hash', slot: 'berth.slot' });
    expect(containerName('prod', 'auth-service')).toBe('berth-prod-auth-service');
    expect(nextContainerName('prod', 'auth-service')).toBe('berth-prod-auth-service-next');
    expect(localTag('auth-service', 'prod', 'current')).toEqual({ repository: 'berth/auth-service', tag: 'prod-current' });
    expect(localTagText('auth-service', 'prod', 'previous')).toBe('berth/auth-service:prod-previous');
    expect(stateDir(roots, 'prod', 'web')).toBe('/var/lib/berth/prod/web');
    expect(configDir(roots, 'prod', 'web')).toBe('/etc/berth/config/prod/web');
    expect(auditLogPath(roots)).toBe('/srv/berth/berth/audit.log');
  });

  it('hash content as sha256, the config folder by its first 16 hex digits', () => {
    expect(sha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(configHash('version=v1\n')).toBe('c42b8941e7e7e84a');
  });

  it('prefix every line with the program name', () => {
    expect(PROG).toBe('berth-agent');
    expect(prefixed('prod/web: pulling x')).toBe('berth-agent: prod/web: pulling x');
  });
});

describe('files', () => {
  it('are written whole with their mode, no temporary file left', () => {
    const file = path.join(tmp, 'current.json');
    fs.writeFileSync(file, 'old\n', { mode: 0o644 });
    writeAtomically(file, 'new\n', 0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe('new\n');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    writeAtomically(file, 'newer\n', 0o644);
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
  });

  it('get their mode whatever a temporary file a killed run left had (or the umask takes away)', () => {
    const file = path.join(tmp, 'application.properties');
    fs.writeFileSync(`${file}.tmp`, 'half', { mode: 0o600 });
    writeAtomically(file, 'a=1\n', 0o644);
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(file, 'utf8')).toBe('a=1\n');
  });

  it('are read when present, undefined when not, and other errors passed through', () => {
    const file = path.join(tmp, 'present');
    fs.writeFileSync(file, 'x');
    expect(readIfPresent(file)).toBe('x');
    expect(readIfPresent(path.join(tmp, 'absent'))).toBeUndefined();
    expect(() => readIfPresent(tmp)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
  });
});

describe('the audit log', () => {
  it('has one line an action, in UTC to the second, - for what is missing', () => {
    const at = new Date(Date.UTC(2025, 5, 2, 9, 14, 3, 987));
    expect(auditLine({ action: 'deploy', service: 'web', env: 'prod', from: 'r@sha256:aa', to: 'r@sha256:bb', result: 'ok' }, at)).toBe(
      '2025-06-02T09:14:03Z action=deploy service=web env=prod from=r@sha256:aa to=r@sha256:bb result=ok\n',
    );
    expect(auditLine({ action: 'remove', service: 'web', env: 'prod', from: '', result: 'ok' }, at)).toBe('2025-06-02T09:14:03Z action=remove service=web env=prod from=- to=- result=ok\n');
  });

  it("is appended to, root-only, and a service's history is its own lines", () => {
    const roots = { ...rootsFrom({}), data: path.join(tmp, 'data') };
    expect(auditHistory(roots, 'prod', 'web')).toEqual([]);
    const at = new Date(Date.UTC(2025, 0, 1));
    appendAudit(roots, { action: 'deploy', service: 'web', env: 'prod', to: 'r@sha256:aa', result: 'ok' }, at);
    appendAudit(roots, { action: 'deploy', service: 'web-admin', env: 'prod', to: 'r@sha256:aa', result: 'ok' }, at);
    appendAudit(roots, { action: 'deploy', service: 'web', env: 'prod-eu', to: 'r@sha256:aa', result: 'ok' }, at);
    appendAudit(roots, { action: 'rollback', service: 'web', env: 'prod', from: 'r@sha256:aa', to: 'r@sha256:bb', result: 'failed-restored' }, at);
    expect(fs.statSync(auditLogPath(roots)).mode & 0o777).toBe(0o600);
    expect(auditHistory(roots, 'prod', 'web')).toEqual([
      '2025-01-01T00:00:00Z action=deploy service=web env=prod from=- to=r@sha256:aa result=ok',
      '2025-01-01T00:00:00Z action=rollback service=web env=prod from=r@sha256:aa to=r@sha256:bb result=failed-restored',
    ]);
  });
});
