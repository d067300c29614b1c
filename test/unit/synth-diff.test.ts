import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { gzipSync } from 'zlib';
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../../stacks/env/config';
import type { SynthResult } from '../../tools/offline/types';
import { diffSynth, digestsByService, isEmptyDiff, lineDiff } from '../../tools/review/diff';
import { parsePropertyPath, pathCovers, ResourceChange } from '../../tools/review/replaceFacts';
import { MARKDOWN_LIMIT, renderDiffMarkdown, renderDiffText } from '../../tools/review/renderDiff';
import { parseSynthDiffArgs, synthEntryAt } from '../../tools/synth/diff';

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
    expect(diff.changed[1].changes).toEqual([{ path: 'size', before: 50, after: 80, effect: 'update' }]);
    // Neither fixture records options, and none of these inputs is one the providers replace on.
    expect(diff.changed.map((change) => change.action)).toEqual(['update', 'update', 'update']);
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
        '~ aws:ec2/instance:Instance stage-app-1 (update)',
        '    instanceType: "t3.medium" -> "t3.large"',
        '    userData:',
        '      - install-agent',
        '      + install-agent --version 2',
        '~ aws:ebs/volume:Volume stage-app-1-data (update)',
        '    size: 50 -> 80',
        '~ command:remote:Command stage-auth-service-app-1 (update)',
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
        '~ aws:ec2/instance:Instance stage-app-1 (update)',
        '    instanceType: "t3.medium" -> "t3.large"',
        '    userData:',
        '      - install-agent',
        '      + install-agent --version 2',
        '~ aws:ebs/volume:Volume stage-app-1-data (update)',
        '    size: 50 -> 80',
        '~ command:remote:Command stage-auth-service-app-1 (update)',
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

  it('reports a parent change, array growth and removed keys with their paths; a new parent is a new URN, so a replacement', () => {
    const one = (parent: string | null, inputs: Record<string, unknown>): SynthResult => ({ stack: 'dev', resources: [{ type: 't:m:R', name: 'r', parent, inputs }] });
    const diff = diffSynth(one('a', { list: [1, 2], gone: { x: true }, same: 's' }), one('b', { list: [1, 3, 4], same: 's' }));
    expect(diff.changed[0].changes).toEqual([
      { path: '(parent)', before: 'a', after: 'b', effect: 'replace', reason: 'a new parent is a new URN' },
      { path: 'gone', before: { x: true }, effect: 'update' },
      { path: 'list[1]', before: 2, after: 3, effect: 'update' },
      { path: 'list[2]', after: 4, effect: 'update' },
    ]);
    expect(diff.changed[0]).toMatchObject({ action: 'replace', replacement: { order: 'create-first', dependents: [] } });
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

  it("runs a base commit's synth from where that commit keeps it: tools/synth/cli.ts, or stacks/synth.ts before the move", () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-synth-entry-'));
    const git = (...args: string[]) => {
      const result = spawnSync('git', ['-c', 'user.name=Berth Test', '-c', 'user.email=test@example.com', ...args], { cwd: repo, encoding: 'utf8' });
      if (result.status !== 0) {
        throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
      }
      return result.stdout.trim();
    };
    const commitWith = (file: string) => {
      git('rm', '-rq', '--ignore-unmatch', '.');
      fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
      fs.writeFileSync(path.join(repo, file), '// synth\n');
      git('add', '-A');
      git('commit', '-qm', file);
      return git('rev-parse', 'HEAD');
    };
    try {
      git('init', '-q');
      const old = commitWith('stacks/synth.ts');
      const moved = commitWith('tools/synth/cli.ts');
      const none = commitWith('README.md');
      expect(synthEntryAt(repo, old, 'old')).toBe('stacks/synth.ts');
      expect(synthEntryAt(repo, moved, 'moved')).toBe('tools/synth/cli.ts');
      expect(() => synthEntryAt(repo, none, 'none')).toThrow(`none (${none.slice(0, 12)}) has no synth command (none of tools/synth/cli.ts, stacks/synth.ts)`);
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe('synth diff of host user data', () => {
  const packed = (text: string, level?: number) => gzipSync(Buffer.from(text), { level }).toString('base64');
  const INSTANCE = 'aws:ec2/instance:Instance';
  // What DockerHostGroup declares by default: running hosts keep their AMI and user data.
  const HOST_OPTIONS = { ignoreChanges: ['ami', 'userDataBase64'] };
  const IGNORED = '(ignored: ignoreChanges userDataBase64)';
  const ALL_IGNORED = '(ignored: every change is in ignoreChanges, nothing is applied)';
  const host = (inputs: Record<string, unknown>, name = 'dev-app-1', options: Record<string, unknown> | null = HOST_OPTIONS) => ({
    type: INSTANCE,
    name,
    parent: 'dev-app',
    ...(options ? { options } : {}),
    inputs,
  });
  const synth = (...resources: SynthResult['resources']): SynthResult => ({ stack: 'dev', resources });

  it('diffs gzipped user data as the script inside, line by line, ignored when the host says ignoreChanges', () => {
    const diff = diffSynth(
      synth(host({ userDataBase64: packed('#!/bin/bash\nOnCalendar=daily\necho ready\n'), instanceType: 't3.small' })),
      synth(host({ userDataBase64: packed('#!/bin/bash\nOnCalendar=*-*-* 03:30:00\necho ready\n'), instanceType: 't3.small' })),
    );
    expect(diff.changed[0]).toMatchObject({ action: 'ignored', changes: [{ path: 'userDataBase64{gzip}', effect: 'ignored', reason: 'ignoreChanges userDataBase64' }] });
    expect(renderDiffText(diff, { base: 'HEAD' })).toBe(
      [
        'synth diff dev: HEAD -> working tree',
        '',
        'Resources: 0 to add, 0 to remove, 1 to change, 0 unchanged',
        `~ aws:ec2/instance:Instance dev-app-1 ${ALL_IGNORED}`,
        `    userDataBase64{gzip}: ${IGNORED}`,
        '      - OnCalendar=daily',
        '      + OnCalendar=*-*-* 03:30:00',
        '',
      ].join('\n'),
    );
  });

  it('replaces a host on an AMI change it does not ignore, and updates user data unless userDataReplaceOnChange', () => {
    const diff = diffSynth(
      synth(host({ ami: 'ami-1', userDataBase64: packed('a\nb'), userDataReplaceOnChange: false }, 'dev-app-1', null)),
      synth(host({ ami: 'ami-2', userDataBase64: packed('a\nc'), userDataReplaceOnChange: false }, 'dev-app-1', null)),
    );
    expect(renderDiffText(diff, { base: 'HEAD' }).split('\n').slice(2)).toEqual([
      'Resources: 0 to add, 0 to remove, 1 to change (1 replaced), 0 unchanged',
      '+- aws:ec2/instance:Instance dev-app-1 (replace: create the new one, then delete the old one)',
      '    ami: "ami-1" -> "ami-2" (replace: the provider replaces on ami)',
      '    userDataBase64{gzip}:',
      '      - b',
      '      + c',
      '',
    ]);
    expect(diff.changed[0].changes.map((change) => change.effect)).toEqual(['replace', 'update']);
  });

  it('replaces on user data with userDataReplaceOnChange, and says the replacement keeps an ignored AMI', () => {
    const diff = diffSynth(
      synth(host({ ami: 'ami-1', userDataBase64: packed('a\nb'), userDataReplaceOnChange: true }, 'dev-app-1', { ignoreChanges: ['ami'] })),
      synth(host({ ami: 'ami-2', userDataBase64: packed('a\nc'), userDataReplaceOnChange: true }, 'dev-app-1', { ignoreChanges: ['ami'] })),
    );
    expect(renderDiffText(diff, { base: 'HEAD' }).split('\n').slice(3)).toEqual([
      '+- aws:ec2/instance:Instance dev-app-1 (replace: create the new one, then delete the old one)',
      '    ami: "ami-1" -> "ami-2" (ignored: ignoreChanges ami; the replacement is created with the old value)',
      '    userDataBase64{gzip}: (replace: the provider replaces on userDataBase64 (userDataReplaceOnChange))',
      '      - b',
      '      + c',
      '',
    ]);
  });

  it('no longer guesses: without recorded options, a user data change is an update, and ami elsewhere is just an input', () => {
    const unrecorded = diffSynth(synth(host({ userDataBase64: packed('a\nb') }, 'dev-app-1', null)), synth(host({ userDataBase64: packed('a\nc') }, 'dev-app-1', null)));
    expect(unrecorded.changed[0]).toMatchObject({ action: 'update', changes: [{ path: 'userDataBase64{gzip}', effect: 'update' }] });
    const diff = diffSynth(synth({ type: 'aws:ec2/launchTemplate:LaunchTemplate', name: 'lt', parent: null, inputs: { ami: 'ami-1' } }), synth({ type: 'aws:ec2/launchTemplate:LaunchTemplate', name: 'lt', parent: null, inputs: { ami: 'ami-2' } }));
    expect(diff.changed[0].changes).toEqual([{ path: 'ami', before: 'ami-1', after: 'ami-2', effect: 'update' }]);
  });

  it('finds gzip by its magic bytes under any key, and plain base64 only under userDataBase64', () => {
    const plain = (text: string) => Buffer.from(text).toString('base64');
    const file = (inputs: Record<string, unknown>) => ({ type: 'aws:s3/bucketObject:BucketObject', name: 'f', parent: null, inputs });
    const diff = diffSynth(
      synth(file({ content: packed('x=1\ny=2'), other: plain('x=1\ny=2') }), host({ userDataBase64: plain('one\ntwo') })),
      synth(file({ content: packed('x=1\ny=3'), other: plain('x=1\ny=3') }), host({ userDataBase64: plain('one\n2') })),
    );
    expect(renderDiffText(diff, { base: 'HEAD' }).split('\n').slice(3)).toEqual([
      `~ aws:ec2/instance:Instance dev-app-1 ${ALL_IGNORED}`,
      `    userDataBase64{base64}: ${IGNORED}`,
      '      - two',
      '      + 2',
      '~ aws:s3/bucketObject:BucketObject f (update)',
      '    content{gzip}:',
      '      - y=2',
      '      + y=3',
      `    other: "${plain('x=1\ny=2')}" -> "${plain('x=1\ny=3')}"`,
      '',
    ]);
  });

  it('shows user data that appears as its lines, and a change of gzip bytes alone as such', () => {
    const script = 'line one\nline two\n'.repeat(20);
    expect(packed(script, 1)).not.toBe(packed(script, 9));
    const diff = diffSynth(
      synth(host({ ami: 'ami-1' }, 'dev-app-1'), host({ userDataBase64: packed(script, 1) }, 'dev-app-2')),
      synth(host({ ami: 'ami-1', userDataBase64: packed('#!/bin/sh\necho hi') }, 'dev-app-1'), host({ userDataBase64: packed(script, 9) }, 'dev-app-2')),
    );
    expect(renderDiffText(diff, { base: 'HEAD' }).split('\n').slice(3)).toEqual([
      `~ aws:ec2/instance:Instance dev-app-1 ${ALL_IGNORED}`,
      `    userDataBase64{gzip}: ${IGNORED}`,
      '      + #!/bin/sh',
      '      + echo hi',
      `~ aws:ec2/instance:Instance dev-app-2 ${ALL_IGNORED}`,
      `    userDataBase64{gzip}: ${IGNORED}`,
      '      (same text; only its encoding differs)',
      '',
    ]);
  });
});

describe('synth diff markdown, capped for a pull-request comment', () => {
  const packed = (text: string) => gzipSync(Buffer.from(text)).toString('base64');
  // The hosts ignore user data changes, as DockerHostGroup declares them by default; their instance type updates.
  const IGNORED = '(ignored: ignoreChanges userDataBase64)';
  const script = (version: number, lines: number) => Array.from({ length: lines }, (_, index) => `echo step ${index} of version ${version}`).join('\n');
  const hosts = (version: number, count: number, lines: number): SynthResult => ({
    stack: 'prod',
    resources: [
      ...Array.from({ length: count }, (_, index) => ({
        type: 'aws:ec2/instance:Instance',
        name: `prod-app-${index + 1}`,
        parent: 'prod-app',
        options: { ignoreChanges: ['ami', 'userDataBase64'] },
        inputs: { instanceType: version === 1 ? 't3.large' : 't3.xlarge', userDataBase64: packed(script(version, lines)) },
      })),
      { type: 'command:remote:Command', name: 'api-service-app-1', parent: null, inputs: { stdin: JSON.stringify({ image: `${ECR}/api-service@sha256:${version === 1 ? C3 : D4}` }) } },
    ],
  });
  const before = hosts(1, 2, 3);
  const after = hosts(2, 2, 3);
  const head = [
    '### Synth diff: `prod` (`origin/main` → this change)',
    '',
    '**Image digests**',
    '',
    '- `api-service`: `sha256:c3c3c3c3c3c3…` → `sha256:d4d4d4d4d4d4…`',
    '',
    '**Resources: 0 to add, 0 to remove, 3 to change, 0 unchanged**',
    '',
    '```diff',
  ];
  const footer = (lines: string, chars: string, limit: string) =>
    `_${lines} diff lines (${chars} characters) left out to keep this comment under ${limit} characters. To see all of it, run \`npm run --silent synth -- diff prod --base origin/main\` locally._`;
  const apiLines = ['~ command:remote:Command api-service-app-1 (update)', `    stdin{json}.image: "${ECR}/api-service@sha256:${C3}" -> "${ECR}/api-service@sha256:${D4}"`];
  const hostLines = (name: string, kept: number) => [
    `~ aws:ec2/instance:Instance ${name} (update)`,
    '    instanceType: "t3.large" -> "t3.xlarge"',
    `    userDataBase64{gzip}: ${IGNORED}`,
    ...['- echo step 0 of version 1', '- echo step 1 of version 1', '- echo step 2 of version 1', '+ echo step 0 of version 2', '+ echo step 1 of version 2', '+ echo step 2 of version 2']
      .slice(0, kept)
      .map((line) => `      ${line}`),
    ...(kept < 6 ? [`      … ${6 - kept} more changed lines left out`] : []),
  ];

  it('is the whole diff when it fits', () => {
    const full = renderDiffMarkdown(diffSynth(before, after), { base: 'origin/main' });
    expect(full).toBe([...head, ...apiLines, ...hostLines('prod-app-1', 6), ...hostLines('prod-app-2', 6), '```', ''].join('\n'));
  });

  it('cuts each input line diff to as many lines as fit, keeps digests and resources, and says what it left out', () => {
    const diff = diffSynth(before, after);
    const fullLength = renderDiffMarkdown(diff, { base: 'origin/main' }).length;
    const capped = renderDiffMarkdown(diff, { base: 'origin/main', maxChars: fullLength - 1 });
    expect(capped).toBe(
      [...head, ...apiLines, ...hostLines('prod-app-1', 2), ...hostLines('prod-app-2', 2), '```', '', footer('8', '264', (fullLength - 1).toLocaleString('en-US')), ''].join('\n'),
    );
    expect(capped.length).toBeLessThanOrEqual(fullLength - 1);
  });

  it('drops input details, then resource lines, when even that is too long', () => {
    const diff = diffSynth(before, after);
    const listOnly = renderDiffMarkdown(diff, { base: 'origin/main', maxChars: 1000 });
    expect(listOnly).toBe(
      [
        ...head,
        '~ command:remote:Command api-service-app-1 (update)',
        '    … 1 changed inputs left out',
        '~ aws:ec2/instance:Instance prod-app-1 (update)',
        '    … 2 changed inputs left out',
        '~ aws:ec2/instance:Instance prod-app-2 (update)',
        '    … 2 changed inputs left out',
        '```',
        '',
        footer('17', '916', '1,000'),
        '',
      ].join('\n'),
    );
    const cut = renderDiffMarkdown(diff, { base: 'origin/main', maxChars: 560 });
    expect(cut).toBe(
      [
        ...head,
        '~ command:remote:Command api-service-app-1 (update)',
        '    … 1 changed inputs left out',
        '~ aws:ec2/instance:Instance prod-app-1 (update)',
        '… 1 more resources left out',
        '```',
        '',
        footer('18', '964', '560'),
        '',
      ].join('\n'),
    );
    expect(cut.length).toBeLessThanOrEqual(560);
  });

  it('keeps a comment of many hosts with long scripts under 60,000 characters', () => {
    const markdown = renderDiffMarkdown(diffSynth(hosts(1, 6, 1000), hosts(2, 6, 1000)), { base: 'origin/main' });
    expect(MARKDOWN_LIMIT).toBe(60_000);
    expect(markdown.length).toBeLessThanOrEqual(60_000);
    const lines = markdown.split('\n');
    expect(lines.slice(0, 9)).toEqual([...head.slice(0, 6), '**Resources: 0 to add, 0 to remove, 7 to change, 0 unchanged**', '', '```diff']);
    expect(lines.filter((line) => line.startsWith('~ '))).toEqual([
      '~ command:remote:Command api-service-app-1 (update)',
      ...[1, 2, 3, 4, 5, 6].map((index) => `~ aws:ec2/instance:Instance prod-app-${index} (update)`),
    ]);
    expect(lines.filter((line) => line.startsWith('      … '))).toEqual(new Array(6).fill('      … 1721 more changed lines left out'));
    expect(lines.slice(-3)).toEqual(['', footer('10,326', '360,750', '60,000'), '']);
  });

  it('fences a diff that holds backticks with a longer fence', () => {
    const one = (text: string): SynthResult => ({ stack: 'dev', resources: [{ type: 't:m:R', name: 'r', parent: null, inputs: { doc: text } }] });
    const markdown = renderDiffMarkdown(diffSynth(one('a\n```\nb'), one('a\n~~~\nb')), { base: 'main' });
    expect(markdown.split('\n').slice(4)).toEqual(['````diff', '~ t:m:R r (update)', '    doc:', '      - ```', '      + ~~~', '````', '']);
  });
});

describe('synth diff says what the engine does: update, replace or ignored, from recorded options and provider facts', () => {
  // Hand-written synth results of a small dev stack, options and property dependencies as synth records them.
  const before = readFixture('lifecycle-before.json');
  const after = readFixture('lifecycle-after.json');
  const diff = diffSynth(before, after);
  const changed = (type: string, name: string): ResourceChange => {
    const found = diff.changed.find((change) => change.type === type && change.name === name);
    if (!found) {
      throw new Error(`${type} ${name} did not change`);
    }
    return found;
  };

  it('replaces a deploy step whose triggers change (replaceOnChanges triggers[*]), creating the new one before deleting the old one', () => {
    expect(changed('command:remote:Command', 'api-service-app-1')).toEqual({
      type: 'command:remote:Command',
      name: 'api-service-app-1',
      action: 'replace',
      replacement: { order: 'create-first', dependents: [] },
      changes: [
        {
          path: 'triggers[0]{json}.image',
          before: `${ECR}/api-service@sha256:${'a1'.repeat(32)}`,
          after: `${ECR}/api-service@sha256:${'b2'.repeat(32)}`,
          effect: 'replace',
          reason: 'replaceOnChanges triggers[*]',
        },
      ],
    });
  });

  it('ignores a change under ignoreChanges, and applies nothing when every change is ignored', () => {
    expect(changed('aws:ec2/instance:Instance', 'app-1')).toMatchObject({
      action: 'ignored',
      changes: [{ path: 'userDataBase64{base64}', effect: 'ignored', reason: 'ignoreChanges userDataBase64' }],
    });
  });

  it('replaces an instance whose AMI changes (the provider forces it), and replaces its volume attachment with it, old attachment first', () => {
    const instance = changed('aws:ec2/instance:Instance', 'app-2');
    expect(instance.changes).toEqual([{ path: 'ami', before: 'ami-0a1b2c3d4e5f60718', after: 'ami-0fedcba987654321f', effect: 'replace', reason: 'the provider replaces on ami' }]);
    // The ready step (connection) and the status alarm (dimensions) take values from it too, but those inputs update in place.
    expect(instance.replacement).toEqual({
      order: 'create-first',
      dependents: [{ type: 'aws:ec2/volumeAttachment:VolumeAttachment', name: 'app-2-data', via: ['instanceId'], order: 'delete-first' }],
    });
  });

  it('updates a volume whose tag changes', () => {
    expect(changed('aws:ebs/volume:Volume', 'app-1-data')).toEqual({
      type: 'aws:ebs/volume:Volume',
      name: 'app-1-data',
      action: 'update',
      changes: [{ path: 'tags.owner', before: 'platform', after: 'platform-team', effect: 'update' }],
    });
  });

  it('shows deleteBeforeReplace: the old attachment is deleted first, and a step that depends on it only through dependsOn is not deleted with it', () => {
    expect(changed('aws:ec2/volumeAttachment:VolumeAttachment', 'app-1-data')).toMatchObject({
      action: 'replace',
      replacement: { order: 'delete-first', orderReason: 'deleteBeforeReplace', dependents: [] },
      changes: [{ path: 'deviceName', effect: 'replace', reason: 'the provider replaces on deviceName' }],
    });
  });

  it('deletes a security group with a set name first: the provider asks for it, as two cannot share the name', () => {
    expect(changed('aws:ec2/securityGroup:SecurityGroup', 'app-hosts').replacement).toEqual({ order: 'delete-first', orderReason: 'the provider does so for a set name', dependents: [] });
  });

  it('shows a changed option, and shows none against a synth from before options were recorded', () => {
    expect(changed('aws:ebs/volume:Volume', 'app-2-data').changes).toEqual([{ path: '(options).retainOnDelete', after: true, effect: 'update' }]);
    const withoutOptions: SynthResult = { ...before, resources: before.resources.map(({ options, propertyDependencies, ...resource }) => resource) };
    const againstOld = diffSynth(withoutOptions, after);
    expect(againstOld.changed.some((change) => change.changes.some((input) => input.path.startsWith('(options)')))).toBe(false);
    // The new program's options are the ones the engine applies.
    expect(againstOld.changed.find((change) => change.name === 'app-1')?.action).toBe('ignored');
  });

  it('renders the exact text a reviewer reads', () => {
    expect(renderDiffText(diff, { base: 'origin/main' }).split('\n')).toEqual([
      'synth diff dev: origin/main -> working tree',
      '',
      'Image digests:',
      '  api-service: sha256:a1a1a1a1a1a1… -> sha256:b2b2b2b2b2b2…',
      '',
      'Resources: 0 to add, 0 to remove, 7 to change (4 replaced), 4 unchanged',
      '+- command:remote:Command api-service-app-1 (replace: create the new one, then delete the old one)',
      `    triggers[0]{json}.image: "${ECR}/api-service@sha256:${'a1'.repeat(32)}" -> "${ECR}/api-service@sha256:${'b2'.repeat(32)}" (replace: replaceOnChanges triggers[*])`,
      '~ aws:ec2/instance:Instance app-1 (ignored: every change is in ignoreChanges, nothing is applied)',
      '    userDataBase64{base64}: (ignored: ignoreChanges userDataBase64)',
      '      - OnCalendar=daily',
      '      + OnCalendar=*-*-* 03:30:00',
      '~ aws:ebs/volume:Volume app-1-data (update)',
      '    tags.owner: "platform" -> "platform-team"',
      '+- aws:ec2/volumeAttachment:VolumeAttachment app-1-data (replace: delete the old one first (deleteBeforeReplace), then create the new one)',
      '    no dependent is deleted with it',
      '    deviceName: "/dev/sdf" -> "/dev/sdg" (replace: the provider replaces on deviceName)',
      '+- aws:ec2/instance:Instance app-2 (replace: create the new one, then delete the old one)',
      '    also replaced: aws:ec2/volumeAttachment:VolumeAttachment app-2-data (via instanceId; its old one deleted first)',
      '    ami: "ami-0a1b2c3d4e5f60718" -> "ami-0fedcba987654321f" (replace: the provider replaces on ami)',
      '~ aws:ebs/volume:Volume app-2-data (update)',
      '    (options).retainOnDelete: (absent) -> true',
      '+- aws:ec2/securityGroup:SecurityGroup app-hosts (replace: delete the old one first (the provider does so for a set name), then create the new one)',
      '    no dependent is deleted with it',
      '    description: "Berth dev app hosts" -> "Berth dev application hosts" (replace: the provider replaces on description)',
      '',
    ]);
  });

  it('renders the same verdicts in markdown', () => {
    const markdown = renderDiffMarkdown(diff, { base: 'origin/main' });
    expect(markdown).toContain('**Resources: 0 to add, 0 to remove, 7 to change (4 replaced), 4 unchanged**');
    expect(markdown).toContain('\n+- aws:ec2/volumeAttachment:VolumeAttachment app-1-data (replace: delete the old one first (deleteBeforeReplace), then create the new one)\n');
    expect(markdown).toContain('\n    also replaced: aws:ec2/volumeAttachment:VolumeAttachment app-2-data (via instanceId; its old one deleted first)\n');
    expect(markdown).toContain('\n    userDataBase64{base64}: (ignored: ignoreChanges userDataBase64)\n');
  });

  it('follows a delete-first replacement through its dependents, by the inputs that take its values', () => {
    const role = (path: string) => ({ type: 'aws:iam/role:Role', name: 'app-host', parent: 'app', inputs: { name: 'dev-app-host', path } });
    const rest: SynthResult['resources'] = [
      { type: 'aws:iam/instanceProfile:InstanceProfile', name: 'app-host', parent: 'app', options: { dependsOn: ['aws:iam/role:Role::app-host'] }, propertyDependencies: { role: ['aws:iam/role:Role::app-host'] }, inputs: { role: 'dev-app-host' } },
      { type: 'aws:iam/rolePolicy:RolePolicy', name: 'app-host', parent: 'app', options: { dependsOn: ['aws:iam/role:Role::app-host'] }, propertyDependencies: { role: ['aws:iam/role:Role::app-host'] }, inputs: { policy: '{}', role: 'dev-app-host' } },
      { type: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment', name: 'app-host-ssm', parent: 'app', options: { dependsOn: ['aws:iam/role:Role::app-host'] }, propertyDependencies: { role: ['aws:iam/role:Role::app-host'] }, inputs: { policyArn: 'arn:aws:iam::aws:policy/x', role: 'dev-app-host' } },
      { type: 'aws:ec2/instance:Instance', name: 'app-1', parent: 'app', options: { dependsOn: ['aws:iam/instanceProfile:InstanceProfile::app-host'] }, propertyDependencies: { iamInstanceProfile: ['aws:iam/instanceProfile:InstanceProfile::app-host'] }, inputs: { ami: 'ami-1' } },
    ];
    const replaced = diffSynth({ stack: 'dev', resources: [role('/'), ...rest] }, { stack: 'dev', resources: [role('/berth/'), ...rest] });
    expect(replaced.changed).toHaveLength(1);
    // The instance profile's role and the instance's profile update in place: neither is replaced.
    expect(replaced.changed[0].replacement).toEqual({
      order: 'delete-first',
      orderReason: 'the provider does so for a set name',
      dependents: [
        { type: 'aws:iam/rolePolicy:RolePolicy', name: 'app-host', via: ['role'], order: 'create-first' },
        { type: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment', name: 'app-host-ssm', via: ['role'], order: 'create-first' },
      ],
    });
    expect(renderDiffText(replaced, { base: 'HEAD' }).split('\n').slice(3, 7)).toEqual([
      '+- aws:iam/role:Role app-host (replace: delete the old one first (the provider does so for a set name), then create the new one)',
      '    also replaced, deleted before it: aws:iam/rolePolicy:RolePolicy app-host (via role)',
      '    also replaced, deleted before it: aws:iam/rolePolicyAttachment:RolePolicyAttachment app-host-ssm (via role)',
      '    path: "/" -> "/berth/" (replace: the provider replaces on path)',
    ]);
  });

  it('says when a replaced resource is retained in the cloud, or protected so the engine refuses to replace it', () => {
    const volume = (availabilityZone: string) => ({ type: 'aws:ebs/volume:Volume', name: 'data', parent: null, options: { retainOnDelete: true as const }, inputs: { availabilityZone, size: 10 } });
    const moved = diffSynth({ stack: 'dev', resources: [volume('eu-west-1a')] }, { stack: 'dev', resources: [volume('eu-west-1b')] });
    expect(moved.changed[0].replacement).toEqual({ order: 'create-first', retained: true, dependents: [] });
    expect(renderDiffText(moved, { base: 'HEAD' }).split('\n')[3]).toBe(
      '+- aws:ebs/volume:Volume data (replace: create the new one, then delete the old one; retainOnDelete: the old one is dropped from the stack but stays in the cloud)',
    );
    const group = (vpcId: string) => ({ type: 'aws:ec2/securityGroup:SecurityGroup', name: 'hosts', parent: null, options: { protect: true as const }, inputs: { namePrefix: 'hosts-', vpcId } });
    const refused = diffSynth({ stack: 'dev', resources: [group('vpc-1')] }, { stack: 'dev', resources: [group('vpc-2')] });
    expect(refused.changed[0].replacement).toEqual({ order: 'create-first', protected: true, dependents: [] });
    expect(renderDiffText(refused, { base: 'HEAD' }).split('\n')[3]).toContain('; protect: the engine refuses this and the update fails)');
  });

  it("matches paths as Pulumi does: `triggers[*]` covers any change under triggers, a top-level name every change under it", () => {
    const covers = (pattern: string, path: string) => pathCovers(parsePropertyPath(pattern), parsePropertyPath(path));
    expect(parsePropertyPath('a["b.c"][*].d[0]')).toEqual(['a', 'b.c', '*', 'd', 0]);
    expect(covers('triggers[*]', 'triggers[0]')).toBe(true);
    expect(covers('triggers[*]', 'triggers[3].spec')).toBe(true);
    expect(covers('triggers[*]', 'triggers')).toBe(false);
    expect(covers('triggers[*]', 'stdin')).toBe(false);
    expect(covers('rootBlockDevice', 'rootBlockDevice.volumeSize')).toBe(true);
    expect(covers('rootBlockDevice.encrypted', 'rootBlockDevice.volumeSize')).toBe(false);
    expect(covers('tags.owner', 'tags')).toBe(false);
  });

  it('replaces a command whose triggers appear or go, as the command provider does for the whole input', () => {
    const step = (inputs: Record<string, unknown>) => ({ type: 'command:remote:Command', name: 's', parent: null, options: { replaceOnChanges: ['triggers[*]'] }, inputs });
    const appeared = diffSynth({ stack: 'dev', resources: [step({ create: 'x' })] }, { stack: 'dev', resources: [step({ create: 'x', triggers: ['a'] })] });
    expect(appeared.changed[0].changes).toEqual([{ path: 'triggers', after: ['a'], effect: 'replace', reason: 'the provider replaces on triggers' }]);
    const updated = diffSynth({ stack: 'dev', resources: [step({ create: 'x', stdin: 'a' })] }, { stack: 'dev', resources: [step({ create: 'y', stdin: 'b' })] });
    expect(updated.changed[0].action).toBe('update');
  });
});

describe('npm run synth -- diff, end to end in a scratch clone', () => {
  let clone: string;
  const run = (args: string[]) => {
    const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'tools/synth/cli.ts', 'diff', ...args], { cwd: clone, encoding: 'utf8' });
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
      // A deploy step updates or is replaced, depending on whether the digest is in its triggers.
      expect(lines.filter((line) => /^(~|\+-) command:remote:Command api-service-/.test(line)).length).toBeGreaterThan(0);
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
});
