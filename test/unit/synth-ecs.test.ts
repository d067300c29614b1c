/**
 * What a stack runs on ECS, as reviewers read it: the markdown summary's "ECS services" and
 * "ECS clusters" tables (tools/synth/ecs.ts), for the ECS fixture (test/fixtures/ecs), the move
 * fixture (test/fixtures/ecs-move: the repository's prod with api-service on hosts and on ECS at
 * once) and components at non-default arguments; and the synth diff's engine changes between
 * the repository's prod, the move and the ECS fixture, with the pure derivation behind them
 * (placementsOf, engineChanges) on resources built here. Expected texts are exact.
 */
import * as aws from '@pulumi/aws';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { EcsCluster } from '../../components/cluster/ecsCluster';
import { EcsService } from '../../components/task/ecsService';
import { PROJECT_ROOT, readStackFile, validateStackConfig } from '../../stacks/env/config';
import type { RecordedResource, SynthResult } from '../../tools/offline/types';
import { diffSynth, isEmptyDiff } from '../../tools/review/diff';
import { renderDiffMarkdown, renderDiffText } from '../../tools/review/renderDiff';
import { ecsAgentSettings, ecsSections, engineChanges, hasPlacementFacts, imageCleanupText, placementsOf, placementText } from '../../tools/synth/ecs';
import { offlineSecretValue, synthConfig, synthStack } from '../../tools/synth/engine';
import { renderMarkdown } from '../../tools/synth/markdown';
import { evaluate } from '../support/pulumi';

const ECS_ROOT = path.join(PROJECT_ROOT, 'test', 'fixtures', 'ecs');
const MOVE_ROOT = path.join(PROJECT_ROOT, 'test', 'fixtures', 'ecs-move');
const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth';
const API_IMAGE = `${ECR}/api-service@sha256:${'a1'.repeat(32)}`;
const WORKER_IMAGE = `${ECR}/report-worker@sha256:${'b2'.repeat(32)}`;
const AUTH_IMAGE = `${ECR}/auth-service@sha256:${'c3'.repeat(32)}`;
const X86_AMI = 'latest ECS-optimised AL2023 (SSM /aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id)';
const ARM_AMI = 'latest ECS-optimised AL2023 (SSM /aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id)';
const DEFAULT_CLEANUP = 'interval 30m, minimum age 60m, 5 images per run, stopped tasks kept 60m';

const SERVICES_HEADER = [
  '## ECS services',
  '',
  '| service | cluster | image (pinned) | desired | min/max % | circuit breaker rollback | alarms | target groups | config file | secrets | EFS volumes |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
const CLUSTERS_HEADER = ['## ECS clusters', '', '| cluster | instance type | size (min-max) | AMI | capacity provider | EFS | image cleanup |', '| --- | --- | --- | --- | --- | --- | --- |'];
const API_ROW = `| api-service | app-ecs | ${API_IMAGE} | 3 | 100/200 | on | berth-prod-api-service-1-5xx | berth-prod-e-api-servic-11268496 -> api-service:8080 | /config/application.properties |  | logs: /var/log/api-service, uploads: /var/lib/api-service/uploads |`;
const APP_ECS_ROW = `| app-ecs | m7g.large | 2-6 | ${ARM_AMI} | managed: target 100%, step 1-4, warmup 120 s; termination protection on; draining on | yes (retained on delete) | ${DEFAULT_CLEANUP} |`;

/** The lines from `## <first>` up to the next heading after `## <last>`. */
function sectionLines(markdown: string, first: string, last: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(`## ${first}`);
  const lastStart = lines.indexOf(`## ${last}`);
  const end = lines.findIndex((line, index) => index > lastStart && line.startsWith('## '));
  return start < 0 || lastStart < 0 ? [] : lines.slice(start, end < 0 ? undefined : end);
}

const headings = (markdown: string) => markdown.split('\n').filter((line) => line.startsWith('## '));

let repoProd: SynthResult;
let move: SynthResult;
let ecsOnly: SynthResult;
beforeAll(async () => {
  repoProd = await synthStack('prod');
  move = await synthStack('prod', { root: MOVE_ROOT });
  ecsOnly = await synthStack('prod', { root: ECS_ROOT });
}, 120000);

describe('the markdown summary: ECS services and clusters', () => {
  it('shows each ECS service of test/fixtures/ecs with its pinned image, deployment, alarms, targets, config and EFS volumes, and each cluster', () => {
    expect(sectionLines(renderMarkdown(ecsOnly), 'ECS services', 'ECS clusters')).toEqual([
      ...SERVICES_HEADER,
      API_ROW,
      `| report-worker | workers | ${WORKER_IMAGE} | 1 | 0/100 | on |  |  | /config/application.properties |  | logs: /var/log/report-worker, spool: /var/spool/report-worker |`,
      '',
      ...CLUSTERS_HEADER,
      APP_ECS_ROW,
      `| workers | m7i.large | 1-1 | ${X86_AMI} | managed: target 100%, step 1-1, warmup 120 s; termination protection on; draining on | yes (retained on delete) | ${DEFAULT_CLEANUP} |`,
      '',
    ]);
  });

  it("puts the tables right after the hosts' Services, and only in a stack that runs something on ECS", () => {
    expect(headings(renderMarkdown(ecsOnly))).toEqual([
      '## Warnings',
      '## Hosts',
      '## Services',
      '## ECS services',
      '## ECS clusters',
      '## Data volumes',
      '## Alarms',
      '## Log groups',
      '## Traffic',
      '## Lifecycle options',
      '## All resources by type',
    ]);
    const without = ['## Hosts', '## Services', '## Data volumes', '## Alarms', '## Log groups', '## Traffic', '## Lifecycle options', '## All resources by type'];
    expect(headings(renderMarkdown(repoProd))).toEqual(without);
    expect(headings(renderMarkdown(move))).toEqual([...without.slice(0, 2), '## ECS services', '## ECS clusters', ...without.slice(2)]);
  });

  it('shows a service on both engines while it moves: its deploy steps on app, and its ECS service on app-ecs', () => {
    const markdown = renderMarkdown(move);
    expect(move.warnings).toBeUndefined();
    expect(sectionLines(markdown, 'ECS services', 'ECS clusters')).toEqual([...SERVICES_HEADER, API_ROW, '', ...CLUSTERS_HEADER, APP_ECS_ROW, '']);
    expect(sectionLines(markdown, 'Services', 'Services').filter((line) => line.includes('| api-service |'))).toEqual([
      `| api-service-app-1 | api-service | ${API_IMAGE} |`,
      `| api-service-app-2 | api-service | ${API_IMAGE} |`,
      `| api-service-app-3 | api-service | ${API_IMAGE} |`,
    ]);
  });

  it('names secrets and never shows their values, not even a value the synth failed to mask', async () => {
    // test/fixtures/ecs with two secrets on api-service, one of them auth-service's.
    const file = readStackFile('prod', ECS_ROOT);
    const config = structuredClone(file.config) as Record<string, any>;
    config['berth:services']['api-service'].secretEnvironment = { REPORT_TOKEN: 'report-token', DB_PASSWORD: 'auth-db-password' };
    const result = await synthConfig(validateStackConfig('prod', config), config);
    const markdown = renderMarkdown(result);
    expect(markdown.split('\n').find((line) => line.startsWith('| api-service | app-ecs |'))).toBe(
      API_ROW.replace('| /config/application.properties |  |', '| /config/application.properties | DB_PASSWORD, REPORT_TOKEN |'),
    );
    expect(markdown).not.toContain('berth-offline-secret-value');
    // Were every mask replaced by the value it hides, the summary would still show names only.
    const unmasked = JSON.stringify(result).replaceAll('"[secret]"', JSON.stringify(offlineSecretValue('secrets.report-token')));
    expect(unmasked).toContain(offlineSecretValue('secrets.report-token'));
    const leaked = renderMarkdown(JSON.parse(unmasked) as SynthResult);
    expect(leaked).toContain('| DB_PASSWORD, REPORT_TOKEN |');
    expect(leaked).not.toContain('berth-offline-secret-value');
  });

  it('reads what the fixtures leave at their defaults: a pinned AMI, its own image cleanup, no EFS, scaling and rollbacks off, read-only volumes, several targets, a quoted config path', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-synth-ecs-'));
    const configPath = path.join(work, 'web.conf');
    fs.writeFileSync(configPath, 'greeting=hello\n');
    const { resources } = await evaluate(() => {
      const base = { project: 'shop', env: 'stage', vpcId: 'vpc-0a1b2c3d4e5f60718', subnetIds: ['subnet-0a1b2c3d4e5f60711'] };
      const batch = new EcsCluster('batch', {
        ...base,
        minSize: 1,
        instanceType: 'c7i.large',
        ami: 'ami-0fedcba9876543210',
        imageCleanup: { intervalMinutes: 15, minimumAgeMinutes: 240, imagesPerRun: 2, stoppedTaskMinutes: 10 },
        transform: {
          capacityProvider: (args) => {
            const provider = args.autoScalingGroupProvider as aws.types.input.ecs.CapacityProviderAutoScalingGroupProvider;
            provider.managedScaling = { status: 'DISABLED' };
            provider.managedDraining = 'DISABLED';
          },
        },
      });
      const web = new EcsCluster('web', { ...base, minSize: 2, maxSize: 4, instanceType: 'm7i.large', efs: {} });
      const group = (name: string) => new aws.lb.TargetGroup(name, { name, port: 8080, protocol: 'HTTP', targetType: 'instance', vpcId: base.vpcId });
      new EcsService('web', {
        ...base,
        cluster: web,
        image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@sha256:${'e5'.repeat(32)}`,
        repositoryArns: [],
        ports: ['8080:80'],
        health: { cmd: 'true', timeoutSeconds: 30 },
        replicas: 2,
        update: 'stop-first',
        configFile: { path: configPath, target: "/etc/web/it's.conf" },
        volumes: [
          { name: 'cache', containerPath: '/var/cache/web', readOnly: true },
          { name: 'assets', containerPath: '/srv/assets' },
        ],
        secretEnvironment: { SESSION_KEY: pulumi.secret('s3cr3t-session-value') },
        secretArns: { API_KEY: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-key-AbCdEf' },
        targets: [
          { targetGroup: group('shop-stage-names-web'), port: 8080 },
          { targetGroup: group('shop-stage-edge-web'), port: 8080 },
        ],
        transform: {
          service: (args) => {
            args.deploymentCircuitBreaker = { enable: true, rollback: false };
            args.alarms = { alarmNames: ['shop-stage-web-memory'], enable: true, rollback: false };
          },
        },
      });
      new EcsService('job', {
        ...base,
        cluster: batch,
        image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/job@sha256:${'f6'.repeat(32)}`,
        repositoryArns: [],
        health: { cmd: 'true', timeoutSeconds: 30 },
        transform: {
          service: (args) => {
            args.deploymentCircuitBreaker = { enable: false, rollback: false };
            args.alarms = { alarmNames: ['shop-stage-job-memory'], enable: false, rollback: false };
          },
        },
      });
    });
    expect(ecsSections(resources)).toEqual([
      {
        title: 'ECS services',
        columns: ['service', 'cluster', 'image (pinned)', 'desired', 'min/max %', 'circuit breaker rollback', 'alarms', 'target groups', 'config file', 'secrets', 'EFS volumes'],
        rows: [
          ['job', 'batch', `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/job@sha256:${'f6'.repeat(32)}`, '1', '100/200', 'off', 'shop-stage-job-memory (off)', '', '', '', ''],
          [
            'web',
            'web',
            `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@sha256:${'e5'.repeat(32)}`,
            '2',
            '0/100',
            'off',
            'shop-stage-web-memory (no rollback)',
            'shop-stage-edge-web -> web:80, shop-stage-names-web -> web:80',
            "/etc/web/it's.conf",
            'API_KEY, SESSION_KEY',
            'assets: /srv/assets, cache: /var/cache/web (read-only)',
          ],
        ],
      },
      {
        title: 'ECS clusters',
        columns: ['cluster', 'instance type', 'size (min-max)', 'AMI', 'capacity provider', 'EFS', 'image cleanup'],
        rows: [
          ['batch', 'c7i.large', '1-1', 'pinned ami-0fedcba9876543210', 'managed scaling off; termination protection on; draining off', 'no', 'interval 15m, minimum age 240m, 2 images per run, stopped tasks kept 10m'],
          ['web', 'm7i.large', '2-4', X86_AMI, 'managed: target 100%, step 1-2, warmup 120 s; termination protection on; draining on', 'yes', DEFAULT_CLEANUP],
        ],
      },
    ]);
    expect(JSON.stringify(ecsSections(resources))).not.toContain('s3cr3t-session-value');
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("reads the image cleanup from the agent's ecs.config: off when disabled, the agent's default for a key left out", () => {
    expect(imageCleanupText(ecsAgentSettings('ECS_CLUSTER=x\nECS_DISABLE_IMAGE_CLEANUP=true\nECS_IMAGE_CLEANUP_INTERVAL=30m\n'))).toBe('off');
    expect(imageCleanupText(ecsAgentSettings('ECS_CLUSTER=x\nECS_IMAGE_CLEANUP_INTERVAL=45m\n'))).toBe(
      'interval 45m, minimum age agent default, agent default images per run, stopped tasks kept agent default',
    );
    expect(imageCleanupText(ecsAgentSettings('#!/bin/bash\necho no agent config\n'))).toBe('');
  });
});

describe('the synth diff: engine changes', () => {
  it('calls out the start of a move, hosts (app) -> hosts (app) + ecs (app-ecs), before the resource diff', () => {
    const diff = diffSynth(repoProd, move);
    expect(diff.engines).toEqual([{ service: 'api-service', before: 'hosts (app)', after: 'hosts (app) + ecs (app-ecs)' }]);
    expect(renderDiffText(diff, { base: 'origin/main' }).split('\n').slice(0, 6)).toEqual([
      'synth diff prod: origin/main -> working tree',
      '',
      'Engine changes:',
      '  api-service: hosts (app) -> hosts (app) + ecs (app-ecs)',
      '',
      'Resources: 26 to add, 0 to remove, 4 to change, 82 unchanged',
    ]);
  });

  it('calls out its end, and a group that changes engine under the same name, in text and in markdown', () => {
    const diff = diffSynth(move, ecsOnly);
    expect(renderDiffText(diff, { base: 'main' }).split('\n').slice(2, 6)).toEqual([
      'Engine changes:',
      '  api-service: hosts (app) + ecs (app-ecs) -> ecs (app-ecs)',
      '  report-worker: hosts (workers) -> ecs (workers)',
      '',
    ]);
    expect(renderDiffMarkdown(diff, { base: 'main' }).split('\n').slice(0, 7)).toEqual([
      '### Synth diff: `prod` (`main` → this change)',
      '',
      '**Engine changes**',
      '',
      '- `api-service`: `hosts (app) + ecs (app-ecs)` → `ecs (app-ecs)`',
      '- `report-worker`: `hosts (workers)` → `ecs (workers)`',
      '',
    ]);
  });

  it('says nothing about engines when no service moves', () => {
    const diff = diffSynth(move, move);
    expect(diff.engines).toEqual([]);
    expect(isEmptyDiff(diff)).toBe(true);
    expect(renderDiffText(diffSynth(repoProd, ecsOnly), { base: 'main' })).toContain('Engine changes:');
  });
});

describe('where each service runs, read from a synth (placementsOf, engineChanges)', () => {
  const component = (type: string, name: string): RecordedResource => ({ type, name, parent: null, inputs: {} });
  const containerService = (name: string) => component('berth:service:ContainerService', name);
  const ecsServiceComponent = (name: string) => component('berth:task:EcsService', name);
  const hostGroup = (group: string, hosts: number): RecordedResource[] => [
    component('berth:host:DockerHostGroup', group),
    ...Array.from({ length: hosts }, (_, index) => ({ type: 'aws:ec2/instance:Instance', name: `${group}-${index + 1}`, parent: group, inputs: { tags: { 'berth:host-group': group } } })),
  ];
  const deployStep = (service: string, host: string, connection = true): RecordedResource => ({
    type: 'command:remote:Command',
    name: `${service}-${host}`,
    parent: service,
    ...(connection ? { propertyDependencies: { connection: [host] } } : {}),
    inputs: { create: `sudo /usr/local/bin/berth-agent deploy --deployment ${service}-${host} --expect-image x@sha256:${'0'.repeat(64)}`, connection: '[secret]' },
  });
  const cluster = (group: string): RecordedResource[] => [
    component('berth:cluster:EcsCluster', group),
    { type: 'aws:ecs/cluster:Cluster', name: group, parent: group, inputs: { name: `berth-prod-${group}` } },
  ];
  const ecsService = (service: string, group: string, dependencies = true): RecordedResource => ({
    type: 'aws:ecs/service:Service',
    name: service,
    parent: service,
    ...(dependencies ? { propertyDependencies: { cluster: [`aws:ecs/cluster:Cluster::${group}`] } } : {}),
    inputs: { name: service, cluster: `arn:aws:ecs:eu-west-1:123456789012:cluster/berth-prod-${group}` },
  });

  it('finds a ContainerService group through its deploy steps, and an EcsService cluster through its ECS service', () => {
    const resources = [
      ...hostGroup('app', 2),
      ...hostGroup('workers', 1),
      ...cluster('app-ecs'),
      containerService('api-service'),
      deployStep('api-service', 'app-1'),
      deployStep('api-service', 'app-2'),
      ecsServiceComponent('api-service'),
      ecsService('api-service', 'app-ecs'),
      containerService('report-worker'),
      deployStep('report-worker', 'workers-1'),
    ];
    expect(Object.fromEntries(placementsOf(resources))).toEqual({ 'api-service': { hosts: ['app'], ecs: ['app-ecs'] }, 'report-worker': { hosts: ['workers'] } });
    expect(placementText(placementsOf(resources).get('api-service'))).toBe('hosts (app) + ecs (app-ecs)');
  });

  it('without recorded dependencies, goes by names: the host a step is named after, the cluster name an ARN ends with', () => {
    const resources = [...hostGroup('app', 1), ...cluster('app-ecs'), containerService('api-service'), deployStep('api-service', 'app-1', false), ecsServiceComponent('api-service'), ecsService('api-service', 'app-ecs', false)];
    expect(placementText(placementsOf(resources).get('api-service'))).toBe('hosts (app) + ecs (app-ecs)');
    // No instance of that name either: the step's host name without its number.
    expect(placementText(placementsOf([containerService('cache'), deployStep('cache', 'edge-3', false)]).get('cache'))).toBe('hosts (edge)');
  });

  it('names an engine alone where a component has nothing placed yet, and (none) where a service does not run', () => {
    expect(placementText(placementsOf([containerService('idle')]).get('idle'))).toBe('hosts');
    expect(placementText(undefined)).toBe('(none)');
  });

  it('reports a service added, removed, or moved between groups of one engine; nothing for one that stays', () => {
    const before = [...hostGroup('app', 1), ...hostGroup('workers', 1), containerService('api-service'), deployStep('api-service', 'app-1'), containerService('old-service'), deployStep('old-service', 'app-1')];
    const after = [...hostGroup('app', 1), ...hostGroup('workers', 1), containerService('api-service'), deployStep('api-service', 'workers-1'), ...cluster('app-ecs'), ecsServiceComponent('new-service'), ecsService('new-service', 'app-ecs')];
    expect(engineChanges(before, after)).toEqual([
      { service: 'api-service', before: 'hosts (app)', after: 'hosts (workers)' },
      { service: 'new-service', before: '(none)', after: 'ecs (app-ecs)' },
      { service: 'old-service', before: 'hosts (app)', after: '(none)' },
    ]);
    expect(engineChanges(before, before)).toEqual([]);
  });

  it('reports nothing against a synth that did not record components (deploy steps, no ContainerService): where it ran is unknown, not nowhere', () => {
    const old = [...hostGroup('app', 1), deployStep('api-service', 'app-1')];
    const now = [...hostGroup('app', 1), containerService('api-service'), deployStep('api-service', 'app-1')];
    expect(hasPlacementFacts(old)).toBe(false);
    expect(hasPlacementFacts(now)).toBe(true);
    expect(engineChanges(old, now)).toEqual([]);
    // A new stack runs nothing before: every service is added.
    expect(hasPlacementFacts([])).toBe(true);
    expect(engineChanges([], now)).toEqual([{ service: 'api-service', before: '(none)', after: 'hosts (app)' }]);
  });
});
