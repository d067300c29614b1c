import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ENVIRONMENTS } from '../../components/common/environments';
import { PROJECT_ROOT, SERVICE_CONFIG_PATH } from '../../stacks/env/config';
import { runChecks } from '../../tools/check/check';
import { checkPromotionChain, imagesOf, StackImagesHistory } from '../../tools/review/chain';

const digest = (pair: string) => `sha256:${pair.repeat(32)}`;
const image = (service: string, pair: string) => `berth/${service}@${digest(pair)}`;
const history = (current: Record<string, string>, ...past: Record<string, string>[]): StackImagesHistory => ({ current, past });

describe('promotion chain over synthetic histories', () => {
  it('holds when stage and prod run what test and stage run now', () => {
    const images = { 'auth-service': image('auth-service', 'c3') };
    expect(checkPromotionChain({ test: history(images), stage: history(images), prod: history(images) })).toEqual([]);
  });

  it('holds when test has moved on since the digest passed through it', () => {
    expect(
      checkPromotionChain({
        test: history({ 'auth-service': image('auth-service', 'e5') }, { 'auth-service': image('auth-service', 'd4') }, { 'auth-service': image('auth-service', 'c3') }),
        stage: history({ 'auth-service': image('auth-service', 'd4') }, { 'auth-service': image('auth-service', 'c3') }),
        prod: history({ 'auth-service': image('auth-service', 'c3') }),
      }),
    ).toEqual([]);
  });

  it('names the service, the digest and the missing step test -> stage', () => {
    const violations = checkPromotionChain({
      test: history({ 'auth-service': image('auth-service', 'c3') }, { 'auth-service': image('auth-service', 'b2') }),
      stage: history({ 'auth-service': image('auth-service', 'd4') }),
      prod: history({}),
    });
    expect(violations).toEqual([
      {
        env: 'stage',
        service: 'auth-service',
        digest: digest('d4'),
        missingFrom: 'test',
        message: `Pulumi.stage.yaml: berth:services.auth-service.image: auth-service runs ${digest('d4')} in stage, but that digest was never in Pulumi.test.yaml; missing step: test -> stage (deploy it to test first)`,
      },
    ]);
  });

  it('catches a prod digest that skipped stage even though test ran it', () => {
    const violations = checkPromotionChain({
      test: history({ 'api-service': image('api-service', 'f6') }),
      stage: history({ 'api-service': image('api-service', 'a1') }, { 'api-service': image('api-service', 'a1') }),
      prod: history({ 'api-service': image('api-service', 'f6') }),
    });
    expect(violations.map((violation) => [violation.env, violation.service, violation.digest, violation.missingFrom])).toEqual([
      ['stage', 'api-service', digest('a1'), 'test'],
      ['prod', 'api-service', digest('f6'), 'stage'],
    ]);
    expect(violations[1].message).toContain('missing step: stage -> prod');
  });

  it('matches digests per service, not across services', () => {
    const violations = checkPromotionChain({
      test: history({ 'api-service': image('api-service', 'c3') }),
      stage: history({ 'auth-service': image('auth-service', 'c3') }),
    });
    expect(violations.map((violation) => violation.service)).toEqual(['auth-service']);
  });

  it('accepts repo:tag@digest and compares the digest alone, whatever the registry host', () => {
    expect(
      checkPromotionChain({
        test: history({ 'api-service': `123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/api-service@${digest('c3')}` }),
        stage: history({ 'api-service': `berth/api-service:1.4.2@${digest('c3')}` }),
      }),
    ).toEqual([]);
  });

  it('counts the working tree of the source file only when asked to', () => {
    const stage = { 'auth-service': image('auth-service', 'f6') };
    const test = { current: stage, past: [{ 'auth-service': image('auth-service', 'c3') }] };
    expect(checkPromotionChain({ test, stage: history(stage) })).toEqual([]);
    expect(checkPromotionChain({ test: { ...test, currentHasRun: false }, stage: history(stage) }).map((v) => v.missingFrom)).toEqual(['test']);
  });

  it('ignores images by tag', () => {
    expect(checkPromotionChain({ test: history({}), stage: history({ 'api-service': 'berth/api-service:main' }) })).toEqual([]);
  });

  it('reads images from a stack file and refuses malformed YAML', () => {
    expect(imagesOf(`config:\n  berth:services:\n    api-service:\n      image: ${image('api-service', 'a1')}\n    odd: 3\n`)).toEqual({ 'api-service': image('api-service', 'a1') });
    expect(imagesOf('config: {}\n')).toEqual({});
    expect(imagesOf('config:\n  berth:services: [\n')).toBeUndefined();
  });
});

describe('npm run check', () => {
  const tsx = require.resolve('tsx/cli');
  const runCheck = (root: string) => {
    const result = spawnSync(process.execPath, [tsx, path.join(PROJECT_ROOT, 'tools', 'check', 'check.ts'), '--root', root], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it('passes on the example configuration of this repository', () => {
    const result = spawnSync('npm', ['run', '--silent', 'check'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^check: Pulumi\.dev\.yaml, Pulumi\.test\.yaml, Pulumi\.stage\.yaml, Pulumi\.prod\.yaml valid; promotion chain holds: 3 digest\(s\) in stage came through test, 3 digest\(s\) in prod came through stage/);
  });

  describe('in a scratch repository with its own history', () => {
    let repo: string;
    const git = (...args: string[]) => {
      const result = spawnSync('git', ['-c', 'user.name=Berth Test', '-c', 'user.email=test@example.com', ...args], { cwd: repo, encoding: 'utf8' });
      if (result.status !== 0) {
        throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
      }
    };
    const stackPath = (env: string) => path.join(repo, `Pulumi.${env}.yaml`);
    const setDigest = (env: string, service: string, pair: string) => {
      const text = fs.readFileSync(stackPath(env), 'utf8');
      fs.writeFileSync(stackPath(env), text.replace(new RegExp(`(berth/${service}@)sha256:[0-9a-f]{64}`), `$1${digest(pair)}`));
    };

    beforeAll(() => {
      repo = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-check-'));
      for (const env of ENVIRONMENTS) {
        fs.copyFileSync(path.join(PROJECT_ROOT, `Pulumi.${env}.yaml`), stackPath(env));
      }
      fs.cpSync(path.join(PROJECT_ROOT, SERVICE_CONFIG_PATH), path.join(repo, SERVICE_CONFIG_PATH), { recursive: true });
      git('init', '-q');
      git('add', '-A');
      git('commit', '-q', '-m', 'auth-service c3 everywhere');
      // auth-service d4 goes to test and is committed; test then moves on to e5.
      setDigest('test', 'auth-service', 'd4');
      git('commit', '-q', '-am', 'auth-service d4 in test');
      setDigest('test', 'auth-service', 'e5');
      git('commit', '-q', '-am', 'auth-service e5 in test');
    });

    afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));

    it('passes when stage promotes a digest that test ran in an earlier commit', () => {
      setDigest('stage', 'auth-service', 'd4');
      try {
        const result = runCheck(repo);
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        expect(result.stdout).toContain('(git history read: Pulumi.test.yaml 3 commit(s), Pulumi.stage.yaml 1 commit(s), Pulumi.prod.yaml 1 commit(s))');
      } finally {
        setDigest('stage', 'auth-service', 'c3');
      }
    });

    it('fails naming the service, digest and missing step when prod skips stage', () => {
      setDigest('prod', 'auth-service', 'd4');
      try {
        const result = runCheck(repo);
        expect(result.status).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr).toBe(
          `check: 1 problem(s)\nPulumi.prod.yaml: berth:services.auth-service.image: auth-service runs ${digest('d4')} in prod, but that digest was never in Pulumi.stage.yaml; missing step: stage -> prod (deploy it to stage first)\n`,
        );
      } finally {
        setDigest('prod', 'auth-service', 'c3');
      }
    });

    it('does not let a change vouch for itself: against its base, a digest new to both test and stage fails', () => {
      const base = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).stdout.trim();
      setDigest('test', 'auth-service', 'f6');
      setDigest('stage', 'auth-service', 'f6');
      try {
        // Without a base the working tree's test file counts, so the chain looks whole...
        expect(runCheck(repo).status).toBe(0);
        // ...but against the branch it targets, f6 never ran in test.
        const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(PROJECT_ROOT, 'tools', 'check', 'check.ts'), '--root', repo, '--base', base], { encoding: 'utf8' });
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(`auth-service runs ${digest('f6')} in stage, but that digest was never in Pulumi.test.yaml; missing step: test -> stage`);
      } finally {
        setDigest('test', 'auth-service', 'e5');
        setDigest('stage', 'auth-service', 'c3');
      }
    });

    it('refuses a base that is not a git ref', () => {
      const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(PROJECT_ROOT, 'tools', 'check', 'check.ts'), '--root', repo, '--base', 'no-such-branch'], { encoding: 'utf8' });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('check: --base no-such-branch: no such git ref in');
    });

    it('names the file and line of malformed YAML', () => {
      const original = fs.readFileSync(stackPath('stage'), 'utf8');
      fs.writeFileSync(stackPath('stage'), original.replace('  berth:registryStack: acme/berth-registry/shared', '  berth:registryStack: "acme/berth-registry/shared'));
      try {
        const report = runChecks(repo);
        const line = original.split('\n').findIndex((text) => text.startsWith('  berth:registryStack:')) + 1;
        expect(report.errors).toHaveLength(1);
        expect(report.errors[0]).toMatch(new RegExp(`^Pulumi\\.stage\\.yaml: line ${line}: Missing closing "quote`));
      } finally {
        fs.writeFileSync(stackPath('stage'), original);
      }
    });

    it('reports an invalid stack file with its key path', () => {
      const original = fs.readFileSync(stackPath('prod'), 'utf8');
      fs.writeFileSync(stackPath('prod'), original.replace(/(auth-service:\n\s+image: )\S+/, '$1berth/auth-service:latest'));
      try {
        const report = runChecks(repo);
        expect(report.errors).toEqual([
          'Pulumi.prod.yaml: berth:services.auth-service.image: stage and prod need an image pinned by digest (repo@sha256:<64 hex>), got "berth/auth-service:latest"',
        ]);
      } finally {
        fs.writeFileSync(stackPath('prod'), original);
      }
    });

    it('checks the current files alone outside a git repository, and says so', () => {
      const plain = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-check-plain-'));
      try {
        for (const env of ENVIRONMENTS) {
          fs.copyFileSync(path.join(PROJECT_ROOT, `Pulumi.${env}.yaml`), path.join(plain, `Pulumi.${env}.yaml`));
        }
        fs.cpSync(path.join(PROJECT_ROOT, SERVICE_CONFIG_PATH), path.join(plain, SERVICE_CONFIG_PATH), { recursive: true });
        const report = runChecks(plain);
        expect(report.errors).toEqual([]);
        expect(report.notes).toEqual([`${plain} is not a git repository: the promotion chain is checked against the current files only`]);
      } finally {
        fs.rmSync(plain, { recursive: true, force: true });
      }
    });
  });
});
