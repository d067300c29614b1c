import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { ENVIRONMENTS, PROMOTION_CHAIN } from '../../components/common/environments';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { affectedStacks } from '../../tools/review/affected';

const WORKFLOW = path.join(PROJECT_ROOT, '.github', 'workflows', 'berth.yml');
const JENKINSFILE = path.join(PROJECT_ROOT, 'Jenkinsfile');
const VALIDATOR = path.join(path.dirname(require.resolve('@action-validator/cli/package.json')), 'cli.mjs');

function actionValidator(file: string) {
  const result = spawnSync(process.execPath, [VALIDATOR, file], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  'runs-on': string | string[];
  needs?: string | string[];
  if?: string;
  environment?: string;
  permissions?: Record<string, string>;
  strategy?: { matrix: Record<string, unknown> };
  steps: Step[];
}

const workflow = YAML.parse(fs.readFileSync(WORKFLOW, 'utf8')) as { on: Record<string, any>; jobs: Record<string, Job> };
const allSteps = Object.values(workflow.jobs).flatMap((job) => job.steps);
const runs = (job: Job) => job.steps.map((step) => step.run ?? '').join('\n');
const needsOf = (job: Job) => (job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs]);

/** One deploy job per environment, named after it, in chain order: the workflow cannot import the list, so the tests hold it to it. */
const DEPLOY_JOBS = PROMOTION_CHAIN.map((env) => [`deploy-${env}`, env] as const);
/** Labels of GitHub-hosted runner images (ubuntu-24.04, ubuntu-latest, windows-…, macos-…). */
const isGitHubHosted = (label: string) => /^(ubuntu|windows|macos)-/.test(label);
const DEFAULT_DEPLOY_RUNNER = ['self-hosted', 'berth-deploy'];

/**
 * The labels a deploy job's runs-on resolves to with the given repository variables, read from
 * its expression `fromJSON(vars.A || vars.B || '<default JSON>')`.
 */
function deployRunner(job: Job, vars: Record<string, string>): string[] {
  const expression = job['runs-on'];
  const match = typeof expression === 'string' ? /^\$\{\{ fromJSON\((.+)\) \}\}$/.exec(expression) : null;
  if (!match) {
    throw new Error(`runs-on is not a fromJSON(...) expression: ${JSON.stringify(expression)}`);
  }
  for (const operand of match[1].split(' || ')) {
    const variable = /^vars\.([A-Z_]+)$/.exec(operand);
    const literal = /^'(.*)'$/.exec(operand);
    const value = variable ? vars[variable[1]] : literal ? literal[1] : undefined;
    if (!variable && !literal) {
      throw new Error(`unexpected operand ${operand} in ${expression}`);
    }
    if (value) {
      const labels = JSON.parse(value) as string | string[];
      return Array.isArray(labels) ? labels : [labels];
    }
  }
  throw new Error(`no default in ${expression}`);
}

/** Runs the deploy job's "Hosts reachable" step as the runner would, in a folder holding one stack file. */
function runReachabilityGuard(job: Job, runner: string, stackFile: string, stackText: string) {
  const step = job.steps.find((candidate) => candidate.name === 'Hosts reachable from this runner');
  if (!step?.run || !step.env) {
    throw new Error('no "Hosts reachable from this runner" step');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-guard-'));
  try {
    fs.writeFileSync(path.join(dir, stackFile), stackText);
    const env = { ...process.env, ...step.env, BERTH_RUNNER: runner, NODE_PATH: path.join(PROJECT_ROOT, 'node_modules') };
    const result = spawnSync('bash', ['-e', '-c', step.run], { cwd: dir, env, encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('GitHub workflow', () => {
  it('passes action-validator', () => {
    const result = actionValidator(WORKFLOW);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('action-validator really rejects a broken workflow', () => {
    const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-workflow-')), 'broken.yml');
    fs.writeFileSync(broken, fs.readFileSync(WORKFLOW, 'utf8').replace('runs-on: ubuntu-latest', 'runs-onn: ubuntu-latest'));
    try {
      const result = actionValidator(broken);
      expect(result.status).not.toBe(0);
      expect(result.output).toContain("Additional property 'runs-onn' is not allowed");
    } finally {
      fs.rmSync(path.dirname(broken), { recursive: true, force: true });
    }
  });

  it('runs on pull requests and on pushes to main only', () => {
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push']);
    expect(workflow.on.push).toEqual({ branches: ['main'] });
  });

  it('installs, type-checks (the repository, then the program with its own tsconfig), tests and checks, in that order', () => {
    const script = runs(workflow.jobs.verify);
    const order = ['npm ci', 'npx tsc --noEmit', 'npx tsc -p stacks --noEmit', 'npm test', 'npm run check'].map((command) => script.indexOf(command));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(runs(workflow.jobs['full-suite'])).toContain('sudo --preserve-env=CI env "PATH=$PATH" npm run test:all');
  });

  it('posts the synth diff of each touched stack against the base branch', () => {
    expect(runs(workflow.jobs.affected)).toContain('npx tsx tools/review/affected.ts --base "origin/${BASE_REF}"');
    const job = workflow.jobs['synth-diff'];
    expect(needsOf(job)).toEqual(['affected']);
    expect(runs(job)).toContain('npm run --silent synth -- diff "${stack}" --base "origin/${BASE_REF}" --format markdown');
    expect(job.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
    expect(job.steps.some((step) => step.uses?.startsWith('actions/github-script@'))).toBe(true);
  });

  it('previews each touched stack with pulumi/actions, the diff and the policy pack, commenting on the PR', () => {
    const job = workflow.jobs.preview;
    expect(job.strategy?.matrix.stack).toBe('${{ fromJSON(needs.affected.outputs.stacks) }}');
    const preview = job.steps.find((step) => step.uses?.startsWith('pulumi/actions@'));
    expect(preview?.with).toMatchObject({ command: 'preview', diff: true, 'comment-on-pr': true, policyPacks: 'stacks/policy' });
    expect(preview?.env).toEqual({ PULUMI_ACCESS_TOKEN: '${{ secrets.PULUMI_ACCESS_TOKEN }}' });
  });

  it('deploys dev -> test -> stage -> prod in chain order, stage and prod through environments with reviewers', () => {
    const chain = DEPLOY_JOBS.map(([name]) => name);
    // Every environment of components/common/environments, and no other, has a deploy job.
    const deployed = Object.values(workflow.jobs).flatMap((job) => (job.environment === undefined ? [] : [job.environment]));
    expect(deployed).toEqual([...ENVIRONMENTS]);
    expect(needsOf(workflow.jobs['deploy-dev'])).toEqual(['verify', 'full-suite']);
    expect(workflow.jobs['deploy-dev'].if).toBe("github.event_name == 'push' && github.ref == 'refs/heads/main'");
    for (let index = 1; index < chain.length; index++) {
      expect(needsOf(workflow.jobs[chain[index]])).toEqual([chain[index - 1]]);
    }
    expect(chain.map((name) => workflow.jobs[name].environment)).toEqual([...PROMOTION_CHAIN]);
    for (const [name, env] of DEPLOY_JOBS) {
      const up = workflow.jobs[name].steps.find((step) => step.uses?.startsWith('pulumi/actions@'));
      expect(up?.with).toMatchObject({ command: 'up', 'stack-name': `\${{ vars.PULUMI_ORG }}/${env}`, policyPacks: 'stacks/policy' });
    }
  });

  it('runs pulumi up on a runner that reaches the hosts: self-hosted by default, never a GitHub-hosted image', () => {
    for (const [name] of DEPLOY_JOBS) {
      const job = workflow.jobs[name];
      const labels = deployRunner(job, {});
      expect([name, labels]).toEqual([name, DEFAULT_DEPLOY_RUNNER]);
      expect(labels.some(isGitHubHosted)).toBe(false);
    }
  });

  it('takes the deploy runner labels from repository variables, per environment first', () => {
    const vars = { BERTH_DEPLOY_RUNS_ON: '["self-hosted","berth-nonprod"]', BERTH_DEPLOY_RUNS_ON_PROD: '["self-hosted","berth-prod"]' };
    expect(deployRunner(workflow.jobs['deploy-dev'], vars)).toEqual(['self-hosted', 'berth-nonprod']);
    expect(deployRunner(workflow.jobs['deploy-stage'], vars)).toEqual(['self-hosted', 'berth-nonprod']);
    expect(deployRunner(workflow.jobs['deploy-prod'], vars)).toEqual(['self-hosted', 'berth-prod']);
    expect(deployRunner(workflow.jobs['deploy-test'], { BERTH_DEPLOY_RUNS_ON_TEST: '"berth-test-runner"' })).toEqual(['berth-test-runner']);
  });

  it('runs everything else, previews included, on GitHub-hosted runners: no job but pulumi up dials a host', () => {
    const deployJobs = new Set<string>(DEPLOY_JOBS.map(([name]) => name));
    for (const [name, job] of Object.entries(workflow.jobs)) {
      const commands = job.steps.filter((step) => step.uses?.startsWith('pulumi/actions@')).map((step) => step.with?.command);
      if (deployJobs.has(name)) {
        expect(commands).toEqual(['up']);
      } else {
        expect([name, commands.includes('up')]).toEqual([name, false]);
        expect([name, job['runs-on']]).toEqual([name, 'ubuntu-latest']);
      }
    }
    expect(isGitHubHosted(workflow.jobs.preview['runs-on'] as string)).toBe(true);
  });

  it('refuses to deploy from a GitHub-hosted runner unless the stack goes through a bastion, before pulumi up', () => {
    const withoutBastion = 'config:\n  aws:region: eu-west-1\n  berth:ssh:\n    user: ec2-user\n';
    const withBastion = 'config:\n  berth:ssh:\n    bastionHost: bastion.example.com\n';
    for (const [name, env] of DEPLOY_JOBS) {
      const job = workflow.jobs[name];
      const guardAt = job.steps.findIndex((step) => step.name === 'Hosts reachable from this runner');
      const upAt = job.steps.findIndex((step) => step.uses?.startsWith('pulumi/actions@'));
      expect(guardAt).toBeGreaterThan(job.steps.findIndex((step) => step.run === 'npm ci'));
      expect(guardAt).toBeLessThan(upAt);
      expect(job.steps[guardAt].env).toEqual({ BERTH_RUNNER: '${{ runner.environment }}', BERTH_STACK: env });

      const refused = runReachabilityGuard(job, 'github-hosted', `Pulumi.${env}.yaml`, withoutBastion);
      expect(refused.status).toBe(1);
      expect(refused.output).toContain(`::error::Pulumi.${env}.yaml sets no berth:ssh.bastionHost`);
      expect(runReachabilityGuard(job, 'github-hosted', `Pulumi.${env}.yaml`, withBastion).status).toBe(0);
      expect(runReachabilityGuard(job, 'self-hosted', `Pulumi.${env}.yaml`, withoutBastion).status).toBe(0);
    }
    // The shipped stack files name no bastion: a GitHub-hosted runner is refused for each of them.
    for (const [name, env] of DEPLOY_JOBS) {
      const file = `Pulumi.${env}.yaml`;
      expect(runReachabilityGuard(workflow.jobs[name], 'github-hosted', file, fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8')).status).toBe(1);
    }
  });

  it('never puts a secret into a shell script, traces commands or dumps the environment', () => {
    for (const step of allSteps) {
      const script = step.run ?? '';
      expect(script).not.toMatch(/\$\{\{\s*secrets\./);
      expect(script).not.toMatch(/set -x|set -o xtrace|printenv|^\s*env\s*$|\benv\s*\|/m);
    }
    const secretUses = JSON.stringify(allSteps).match(/secrets\.[A-Z_]+/g) ?? [];
    expect([...new Set(secretUses)].sort()).toEqual(['secrets.AWS_ROLE_ARN', 'secrets.GITHUB_TOKEN', 'secrets.PULUMI_ACCESS_TOKEN']);
  });
});

describe('Jenkinsfile', () => {
  const text = fs.readFileSync(JENKINSFILE, 'utf8');
  const stageAt = (name: string) => text.indexOf(`stage('${name}')`);

  it('declares its stages in order: verify, review, full suite, then the promotion chain', () => {
    const order = ['Install', 'Type-check', 'Unit tests', 'Check', 'Synth diff', 'Preview', 'Full suite', ...PROMOTION_CHAIN.map((env) => `Deploy ${env}`)];
    const positions = order.map(stageAt);
    expect(positions.every((position) => position >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // A deploy stage for every environment, and no other.
    expect([...text.matchAll(/stage\('Deploy ([^']+)'\)/g)].map((match) => match[1])).toEqual([...PROMOTION_CHAIN]);
  });

  it('previews the touched stacks in chain order, from the same environment list as components/common/environments', () => {
    const loop = /for \(stack in \[([^\]]*)\]\)/.exec(text);
    expect(loop).not.toBeNull();
    expect(loop![1].split(',').map((item) => item.trim().replace(/^'|'$/g, ''))).toEqual([...PROMOTION_CHAIN]);
  });

  it('runs the same commands as the GitHub workflow', () => {
    for (const command of ['npm ci', 'npx tsc --noEmit', 'npx tsc -p stacks --noEmit', 'npm test', 'npm run check', 'npm run test:all', 'npm run --silent synth -- diff "${stack}" --base "origin/${CHANGE_TARGET}"', 'pulumi preview --diff', 'pulumi up --yes']) {
      expect(text).toContain(command);
    }
  });

  it('asks for approval before stage and prod, not before dev and test', () => {
    const block = (name: string, next?: string) => text.slice(stageAt(name), next ? stageAt(next) : undefined);
    expect(block('Deploy dev', 'Deploy test')).not.toContain('input {');
    expect(block('Deploy test', 'Deploy stage')).not.toContain('input {');
    for (const [name, next] of [['Deploy stage', 'Deploy prod'], ['Deploy prod', undefined]] as const) {
      const stage = block(name, next);
      expect(stage).toContain("branch 'main'");
      expect(stage).toContain('beforeInput true');
      expect(stage.indexOf('input {')).toBeGreaterThan(0);
      expect(stage.indexOf('input {')).toBeLessThan(stage.indexOf('steps'));
    }
    for (const name of ['Deploy dev', 'Deploy test']) {
      expect(block(name, name === 'Deploy dev' ? 'Deploy test' : 'Deploy stage')).toContain("branch 'main'");
    }
  });

  it('deploys on agents labelled berth-deploy (they reach the hosts on port 22), previews on berth', () => {
    const stages = ['Verify', 'Full suite', 'Deploy dev', 'Deploy test', 'Deploy stage', 'Deploy prod'];
    const agentOf = (name: string) => {
      const start = stageAt(name);
      const next = stages.map(stageAt).filter((position) => position > start).sort((a, b) => a - b)[0];
      return /agent \{ label '([^']+)' \}/.exec(text.slice(start, next))?.[1];
    };
    expect(agentOf('Verify')).toBe('berth');
    expect(stageAt('Preview')).toBeGreaterThan(stageAt('Verify'));
    expect(stageAt('Preview')).toBeLessThan(stageAt('Full suite'));
    expect(agentOf('Full suite')).toBe('berth-root');
    for (const name of ['Deploy dev', 'Deploy test', 'Deploy stage', 'Deploy prod']) {
      expect([name, agentOf(name)]).toEqual([name, 'berth-deploy']);
    }
    expect(text.match(/pulumi up --yes/g)).toHaveLength(1);
    expect(text.match(/pulumi\('up', stack\)/g)).toHaveLength(1);
    expect(text.slice(text.indexOf('def deploy('), text.indexOf('pipeline {'))).toContain("pulumi('up', stack)");
  });

  it('keeps secrets in credentials bindings and never traces or dumps the environment', () => {
    expect(text).toContain("string(credentialsId: 'pulumi-access-token', variable: 'PULUMI_ACCESS_TOKEN')");
    expect(text).not.toMatch(/set -x|printenv|sh ['"]env['"]/);
    const shellSteps = text.match(/sh (?:\(returnStdout: true, script: )?'''[^\n]*/g) ?? [];
    expect(shellSteps.length).toBeGreaterThan(5);
    for (const step of shellSteps) {
      expect(step).toMatch(/'''#!\/bin\/bash -e$/);
    }
  });
});

describe('affected stacks', () => {
  it('touches one stack for its own file, all for shared inputs, none for docs', () => {
    expect(affectedStacks(['Pulumi.prod.yaml'])).toEqual(['prod']);
    expect(affectedStacks(['Pulumi.stage.yaml', 'Pulumi.dev.yaml', 'README.md'])).toEqual(['dev', 'stage']);
    expect(affectedStacks(['components/host/userData.ts'])).toEqual(['dev', 'test', 'stage', 'prod']);
    expect(affectedStacks(['stacks/env/catalogue.ts'])).toEqual(['dev', 'test', 'stage', 'prod']);
    // The offline runtime and synth the diff is made with.
    expect(affectedStacks(['tools/offline/runtime.ts'])).toEqual(['dev', 'test', 'stage', 'prod']);
    expect(affectedStacks(['package-lock.json'])).toEqual(['dev', 'test', 'stage', 'prod']);
    expect(affectedStacks(['README.md', 'test/unit/config.test.ts'])).toEqual([]);
  });
});
