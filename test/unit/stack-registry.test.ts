/**
 * The program's side of the registry rules (stacks/stack.ts): a group's hosts
 * get pull permission for the repository of every service they run, looked up
 * by repository path whether or not the image names its registry host, and a
 * lookup that misses or an image of another registry fails the deployment
 * instead of leaving the hosts unable to pull. Validation refuses these
 * already (test/unit/config.test.ts); the failing cases change the config
 * after validation (test/fixtures/synth-registry-error.ts) to reach the
 * run-time checks the program keeps.
 */
import { spawnSync } from 'child_process';
import { PROJECT_ROOT, readStackFile, StackConfig, validateStackConfig } from '../../stacks/env/config';
import { OFFLINE_ACCOUNT_ID } from '../../tools/offline/runtime';
import { synthConfig } from '../../tools/synth/engine';

const REGISTRY_HOST = `${OFFLINE_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com`;
const OTHER_HOST = '210987654321.dkr.ecr.eu-west-1.amazonaws.com';
const DIGEST = `sha256:${'c3'.repeat(32)}`;
const arn = (repository: string) => `arn:aws:ecr:eu-west-1:${OFFLINE_ACCOUNT_ID}:repository/${repository}`;

function rawOf(stack: string): Record<string, any> {
  return JSON.parse(JSON.stringify(readStackFile(stack).config));
}

/** The stack's validated config with one service's image replaced, as if validation had let it through. */
function withImage(stack: string, service: string, image: string): { config: StackConfig; raw: Record<string, unknown> } {
  const raw = rawOf(stack);
  const config = validateStackConfig(stack, raw);
  return { config: { ...config, services: config.services.map((entry) => (entry.name === service ? { ...entry, image } : entry)) }, raw };
}

/** Synth of a failing case in a child process (see the fixture for why): what it printed, after checking it failed as a program error. */
function failureOf(scenario: string): string {
  const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'test/fixtures/synth-registry-error.ts', scenario], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 120000 });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(1);
  expect(result.stdout).toMatch(/^ProgramError: the program failed while declaring resources:\n/);
  return result.stdout;
}

async function pullArnsOf(config: StackConfig, raw: Record<string, unknown>, group: string): Promise<string[]> {
  const { resources } = await synthConfig(config, raw);
  const policy = resources.find((resource) => resource.type === 'aws:iam/rolePolicy:RolePolicy' && resource.name === `${group}-host`);
  const statements = JSON.parse(String(policy?.inputs.policy)).Statement as { Sid: string; Resource: string[] }[];
  return statements.find((statement) => statement.Sid === 'PullProjectImages')!.Resource;
}

describe('pull permission of a host group', () => {
  it('covers an image written with its registry host: the lookup is keyed by the repository path', async () => {
    const { config, raw } = withImage('test', 'auth-service', `${REGISTRY_HOST}/berth/auth-service@${DIGEST}`);
    await expect(pullArnsOf(config, raw, 'app')).resolves.toEqual([arn('berth/api-service'), arn('berth/auth-service')]);
  });

  it('covers it through validation too, when berth:registryHost names the registry', async () => {
    const raw = rawOf('stage');
    raw['berth:registryHost'] = REGISTRY_HOST;
    raw['berth:services']['auth-service'].image = `${REGISTRY_HOST}/berth/auth-service@${DIGEST}`;
    const config = validateStackConfig('stage', raw);
    await expect(pullArnsOf(config, raw, 'app')).resolves.toEqual([arn('berth/api-service'), arn('berth/auth-service')]);
  });

  it('fails the deployment, naming the file, the key and what the registry stack has, when the repository is not in the registry stack', () => {
    expect(failureOf('missing-repository')).toContain(
      'Pulumi.test.yaml: berth:services.auth-service.image: repository berth/auth-service-legacy is not in the registry stack acme/berth-registry/shared; its repositories are: berth/api-service, berth/auth-service, berth/base, berth/report-worker',
    );
  });

  it("fails the deployment when an image names another host than the registry stack's registry", () => {
    expect(failureOf('other-host')).toContain(
      `Pulumi.test.yaml: berth:services.auth-service.image: expected an image of the registry stack's registry ${REGISTRY_HOST} (output registryUrl of the registry stack acme/berth-registry/shared), got "${OTHER_HOST}/berth/auth-service@${DIGEST}"`,
    );
  });

  it('grants nothing for an image of an allowed registry, and still pulls the rest', async () => {
    const raw = rawOf('prod');
    raw['berth:allowedRegistries'] = ['registry.example.com:5000'];
    raw['berth:services']['auth-service'].image = `registry.example.com:5000/vendor/auth@${DIGEST}`;
    const config = validateStackConfig('prod', raw);
    await expect(pullArnsOf(config, raw, 'app')).resolves.toEqual([arn('berth/api-service')]);
  });
});

describe('berth:registryHost at run time', () => {
  it("fails the deployment when it is not the registry stack's registry", () => {
    expect(failureOf('registry-host')).toContain(
      `Pulumi.test.yaml: berth:registryHost: expected the registry stack's registry ${REGISTRY_HOST} (output registryUrl of the registry stack acme/berth-registry/shared), got ${OTHER_HOST}`,
    );
  });
});

describe('host group settings reach the hosts', () => {
  it("a pinned AMI is the one that group's instances boot from; other groups keep following Amazon Linux 2023", async () => {
    const raw = rawOf('prod');
    raw['berth:hostGroups'].app.ami = 'ami-0fedcba9876543210';
    const result = await synthConfig(validateStackConfig('prod', raw), raw);
    const amis = result.resources.filter((r) => r.type === 'aws:ec2/instance:Instance').map((r) => [r.name, r.inputs.ami]);
    expect(amis.filter(([name]) => String(name).startsWith('app-')).every(([, ami]) => ami === 'ami-0fedcba9876543210')).toBe(true);
    expect(amis.filter(([name]) => String(name).startsWith('workers-')).every(([, ami]) => ami !== 'ami-0fedcba9876543210')).toBe(true);
  });
});
