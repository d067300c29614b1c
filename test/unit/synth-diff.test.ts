import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { gzipSync } from 'zlib';
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../../stacks/config';
import { diffSynth, digestsByService, isEmptyDiff, lineDiff, renderDiffMarkdown, renderDiffText } from '../../stacks/review/diff';
import { SynthResult } from '../../stacks/synth';
import { parseSynthDiffArgs } from '../../stacks/synthDiff';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'synth-diff');
const readFixture = (name: string): SynthResult => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as SynthResult;

const C3 = 'c3'.repeat(32);
const D4 = 'd4'.repeat(32);
const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth';

describe('synth diff of two synth results', () => {
  const before = readFixture('before.json');
  const after = readFixture('after.json');

  it('finds digests per service, added, removed and changed resources', () => {
    const diff = diffSynth(before, after);
    expect(diff.digests).toEqual([{ service: 'auth-service', before: [`sha256:${C3}`], after: [`sha256:${D4}`] }]);
    expect(diff.added).toEqual([{ type: 'aws:cloudwatch/logGroup:LogGroup', name: 'stage-billing-service' }]);
    expect(diff.removed).toEqual([{ type: 'aws:cloudwatch/logGroup:LogGroup', name: 'stage-report-worker' }]);
    expect(diff.changed.map((change) => change.name)).toEqual(['stage-app-1', 'stage-app-1-data', 'stage-auth-service-app-1']);
    expect(diff.changed[1].changes).toEqual([{ path: 'size', before: 50, after: 80 }]);
    expect(diff.unchanged).toBe(2);
  });

  it('renders the exact text a reviewer reads', () => {
    expect(renderDiffText(diffSynth(before, after), { base: 'origin/main' })).toBe(
      [
        'synth diff stage: origin/main -> working tree',
        '',
        'Image digests:',
        '  auth-service: sha256:c3c3c3c3c3c3… -> sha256:d4d4d4d4d4d4…',
        '',
        'Resources: 1 to add, 1 to remove, 3 to change, 2 unchanged',
        '+ aws:cloudwatch/logGroup:LogGroup stage-billing-service',
        '- aws:cloudwatch/logGroup:LogGroup stage-report-worker',
        '~ aws:ec2/instance:Instance stage-app-1',
        '    instanceType: "t3.medium" -> "t3.large"',
        '    userData:',
        '      - install-agent',
        '      + install-agent --version 2',
        '~ aws:ebs/volume:Volume stage-app-1-data',
        '    size: 50 -> 80',
        '~ command:remote:Command stage-auth-service-app-1',
        '    stdin{json}.environment.JAVA_OPTS: "-Xmx384m" -> "-Xmx512m"',
        '    stdin{json}.environment.LOG_LEVEL: (absent) -> "debug"',
        `    stdin{json}.image: "${ECR}/auth-service@sha256:${C3}" -> "${ECR}/auth-service@sha256:${D4}"`,
        '',
      ].join('\n'),
    );
  });

  it('renders markdown for a pull-request comment', () => {
    expect(renderDiffMarkdown(diffSynth(before, after), { base: 'origin/main' })).toBe(
      [
        '### Synth diff: `stage` (`origin/main` → this change)',
        '',
        '**Image digests**',
        '',
        '- `auth-service`: `sha256:c3c3c3c3c3c3…` → `sha256:d4d4d4d4d4d4…`',
        '',
        '**Resources: 1 to add, 1 to remove, 3 to change, 2 unchanged**',
        '',
        '```diff',
        '+ aws:cloudwatch/logGroup:LogGroup stage-billing-service',
        '- aws:cloudwatch/logGroup:LogGroup stage-report-worker',
        '~ aws:ec2/instance:Instance stage-app-1',
        '    instanceType: "t3.medium" -> "t3.large"',
        '    userData:',
        '      - install-agent',
        '      + install-agent --version 2',
        '~ aws:ebs/volume:Volume stage-app-1-data',
        '    size: 50 -> 80',
        '~ command:remote:Command stage-auth-service-app-1',
        '    stdin{json}.environment.JAVA_OPTS: "-Xmx384m" -> "-Xmx512m"',
        '    stdin{json}.environment.LOG_LEVEL: (absent) -> "debug"',
        `    stdin{json}.image: "${ECR}/auth-service@sha256:${C3}" -> "${ECR}/auth-service@sha256:${D4}"`,
        '```',
        '',
      ].join('\n'),
    );
  });

  it('is empty and says so when nothing changed', () => {
    const diff = diffSynth(before, before);
    expect(isEmptyDiff(diff)).toBe(true);
    expect(renderDiffText(diff, { base: 'HEAD' })).toBe('synth diff stage: HEAD -> working tree\nNo changes (6 resources).\n');
  });

  it('reports a parent change, array growth and removed keys with their paths', () => {
    const one = (parent: string | null, inputs: Record<string, unknown>): SynthResult => ({ stack: 'dev', resources: [{ type: 't:m:R', name: 'r', parent, inputs }] });
    const diff = diffSynth(one('a', { list: [1, 2], gone: { x: true }, same: 's' }), one('b', { list: [1, 3, 4], same: 's' }));
    expect(diff.changed[0].changes).toEqual([
      { path: '(parent)', before: 'a', after: 'b' },
      { path: 'gone', before: { x: true } },
      { path: 'list[1]', before: 2, after: 3 },
      { path: 'list[2]', after: 4 },
    ]);
  });

  it('reports a service that appears or disappears with (none)', () => {
    const withImage = (image: string): SynthResult => ({ stack: 'prod', resources: [{ type: 't:m:R', name: image.split('@')[0], parent: null, inputs: { image } }] });
    const diff = diffSynth({ stack: 'prod', resources: [] }, withImage(`berth/new-service@sha256:${D4}`));
    expect(renderDiffText(diff, { base: 'main' }).split('\n')[3]).toBe('  new-service: (none) -> sha256:d4d4d4d4d4d4…');
  });

  it('reads digests from tags-and-digest references and JSON inside strings', () => {
    const found = digestsByService([
      { type: 't', name: 'a', parent: null, inputs: { stdin: JSON.stringify({ image: `localhost:5000/berth/api-service:1.2@sha256:${C3}` }) } },
    ]);
    expect([...found.entries()].map(([service, digests]) => [service, [...digests]])).toEqual([['api-service', [`sha256:${C3}`]]]);
  });

  it('diffs lines old first, then new', () => {
    expect(lineDiff('a\nb\nc', 'a\nB\nc\nd')).toEqual(['- b', '+ B', '+ d']);
  });

  it('parses its arguments', () => {
    expect(parseSynthDiffArgs(['prod', '--base', 'origin/main', '--format', 'markdown'])).toEqual({ stack: 'prod', base: 'origin/main', format: 'markdown' });
    expect(parseSynthDiffArgs(['dev'])).toEqual({ stack: 'dev', base: 'HEAD', format: 'text' });
    expect(() => parseSynthDiffArgs(['dev', '--format', 'html'])).toThrow('--format takes text or markdown, got "html"');
  });
});

describe('npm run synth -- diff, end to end in a scratch clone', () => {
  let clone: string;
  const run = (args: string[]) => {
    const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'stacks/synth.ts', 'diff', ...args], { cwd: clone, encoding: 'utf8' });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const git = (...args: string[]) => {
    const result = spawnSync('git', args, { cwd: clone, encoding: 'utf8' });
    if (result.status !== 0) {
      throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
    }
  };

  beforeAll(() => {
    clone = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-diff-e2e-'));
    // The working tree as it is now (tracked and new files, not ignored ones), committed in a fresh repository.
    const files = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
      .stdout.split('\0')
      .filter((file) => file && fs.existsSync(path.join(PROJECT_ROOT, file)));
    for (const file of files) {
      fs.mkdirSync(path.dirname(path.join(clone, file)), { recursive: true });
      fs.copyFileSync(path.join(PROJECT_ROOT, file), path.join(clone, file));
    }
    fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(clone, 'node_modules'), 'dir');
    git('init', '-q');
    git('add', '-A');
    git('-c', 'user.name=Berth Test', '-c', 'user.email=test@example.com', 'commit', '-q', '-m', 'base');
  });

  afterAll(() => {
    fs.rmSync(clone, { recursive: true, force: true });
  });

  it('shows a changed registry stack and digest in Pulumi.dev.yaml against HEAD', () => {
    const file = path.join(clone, 'Pulumi.dev.yaml');
    const original = fs.readFileSync(file, 'utf8');
    const A1 = 'a1'.repeat(32);
    fs.writeFileSync(file, original.replace('acme/berth-registry/shared', 'acme/berth-registry/next').replace(`api-service@sha256:${A1}`, `api-service@sha256:${D4}`));
    try {
      const result = run(['dev', '--base', 'HEAD']);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const lines = result.stdout.split('\n');
      expect(lines[0]).toBe('synth diff dev: HEAD -> working tree');
      expect(lines).toContain('+ pulumi:pulumi:StackReference acme/berth-registry/next');
      expect(lines).toContain('- pulumi:pulumi:StackReference acme/berth-registry/shared');
      // Digest moves come first, before the resource list.
      expect(lines.slice(2, 4)).toEqual(['Image digests:', '  api-service: sha256:a1a1a1a1a1a1… -> sha256:d4d4d4d4d4d4…']);
      expect(lines.filter((line) => line.startsWith('~ command:remote:Command api-service-')).length).toBeGreaterThan(0);
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('says there are no changes for an unchanged tree', () => {
    const result = run(['prod', '--base', 'HEAD']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^synth diff prod: HEAD -> working tree\nNo changes \(\d+ resources\)\.\n$/);
  });

  it('names a ref that does not exist', () => {
    const result = run(['dev', '--base', 'no-such-branch']);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('synth diff: git ref "no-such-branch" does not exist');
  });

  it('names a stack that does not exist', () => {
    const result = run(['qa', '--base', 'HEAD']);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('synth diff: unknown stack "qa": expected one of dev, test, stage, prod\n');
  });

  it('names the bad key when the working tree config is invalid', () => {
    const file = path.join(clone, 'Pulumi.stage.yaml');
    const original = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, original.replace('instanceType: t3.medium', 'instanceType: huge'));
    try {
      const result = run(['stage', '--base', 'HEAD']);
      expect(result.status).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain("synth diff: the working tree's configuration of stage is invalid:");
      expect(result.stderr).toContain('Pulumi.stage.yaml: berth:hostGroups.app.instanceType: expected an EC2 instance type');
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('names the file and line of malformed YAML', () => {
    const file = path.join(clone, 'Pulumi.test.yaml');
    const original = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, original.replace('  berth:registryStack: acme/berth-registry/shared', '  berth:registryStack: [acme'));
    try {
      const result = run(['test', '--base', 'HEAD']);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/Pulumi\.test\.yaml: line \d+: /);
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('diffs gzipped user data as the script inside, line by line', () => {
    const packed = (text: string) => gzipSync(Buffer.from(text)).toString('base64');
    const host = (script: string) => ({ type: 'aws:ec2/instance:Instance', name: 'app-1', parent: 'app', inputs: { userDataBase64: packed(script) } });
    const diff = diffSynth(
      { stack: 'dev', resources: [host('#!/bin/bash\nOnCalendar=daily\necho ready\n')] },
      { stack: 'dev', resources: [host('#!/bin/bash\nOnCalendar=*-*-* 03:30:00\necho ready\n')] },
    );
    expect(renderDiffText(diff, { base: 'HEAD' })).toContain('userDataBase64{gzip}');
    expect(renderDiffText(diff, { base: 'HEAD' })).toContain('- OnCalendar=daily');
    expect(renderDiffText(diff, { base: 'HEAD' })).toContain('+ OnCalendar=*-*-* 03:30:00');
    expect(renderDiffText(diff, { base: 'HEAD' })).not.toContain('H4sI');
  });
});
