import * as pulumi from '@pulumi/pulumi';
import { ecrRegistryOutputs, RegistryStackOutputs } from '../../components/registry/contract';
import { PULL_ACTIONS, renderLifecyclePolicy } from '../../components/registry/policies';
import { ServiceRegistry } from '../../components/registry/serviceRegistry';
import { catalogue } from '../../stacks/env/catalogue';
import { ENVIRONMENTS, readStackFile, toRuntimeConfig, validateStackConfig } from '../../stacks/env/config';
import { evaluateProgram as evaluateOffline } from '../../tools/offline/evaluate';
import { OFFLINE_ACCOUNT_ID, startOfflineRuntime } from '../../tools/offline/runtime';
import { parseRegistrySettings, readRegistryStackFile, REGISTRY_PROJECT, REGISTRY_STACK } from '../../stacks/registry/program';
import { offlineRegistryOutputs, synthStack } from '../../tools/synth/engine';
import { evaluate, valueOf } from '../support/pulumi';

const CONTRACT_KEYS: (keyof RegistryStackOutputs)[] = ['baseRepository', 'registryUrl', 'repositoryArns', 'repositoryUrls'];
const REGISTRY_HOST = `${OFFLINE_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com`;
const SERVICES = Object.keys(catalogue).sort();
const REPOSITORIES = ['berth/base', ...SERVICES.map((service) => `berth/${service}`)].sort();

function sharedConfig(): Record<string, unknown> {
  return readRegistryStackFile().config;
}

describe('registry program (stacks/registry) evaluated offline', () => {
  let resources: Awaited<ReturnType<typeof evaluateProgram>>['resources'];
  let exported: Record<string, unknown>;

  async function evaluateProgram() {
    pulumi.runtime.setAllConfig(toRuntimeConfig(sharedConfig()), []);
    const runtime = await startOfflineRuntime({ project: REGISTRY_PROJECT, stack: REGISTRY_STACK, region: 'eu-west-1' });
    // The real entry point, as `pulumi up` in stacks/registry runs it.
    const program = await evaluateOffline(() => require('../../stacks/registry/index'));
    return { resources: runtime.sortedResources(), program };
  }

  beforeAll(async () => {
    const evaluated = await evaluateProgram();
    resources = evaluated.resources;
    exported = {};
    for (const key of CONTRACT_KEYS) {
      exported[key] = await valueOf(evaluated.program[key]);
    }
  });

  const ofType = (type: string) => resources.filter((resource) => resource.type === type);

  it('declares the base repository and one per catalogue service, nothing else', () => {
    expect(ofType('aws:ecr/repository:Repository').map((r) => r.inputs.name)).toEqual(REPOSITORIES);
    expect([...new Set(resources.map((r) => r.type))].sort()).toEqual([
      'aws:ecr/lifecyclePolicy:LifecyclePolicy',
      'aws:ecr/repository:Repository',
      'aws:ecr/repositoryPolicy:RepositoryPolicy',
      'berth:registry:ServiceRegistry',
    ]);
  });

  it('scans on push, encrypts with KMS, keeps tags mutable for promotion and refuses to delete images', () => {
    for (const repository of ofType('aws:ecr/repository:Repository')) {
      expect(repository.inputs).toMatchObject({
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [{ encryptionType: 'KMS' }],
        imageTagMutability: 'MUTABLE',
        forceDelete: false,
      });
      expect(repository.parent).toBe('registry');
    }
  });

  it('gives every repository the lifecycle policy that protects environment and keep- tags and expires untagged images after 14 days', () => {
    const policies = ofType('aws:ecr/lifecyclePolicy:LifecyclePolicy');
    expect(policies.map((p) => [p.name, p.parent, p.inputs.repository])).toEqual(
      REPOSITORIES.map((repo) => [`registry-${repo.slice('berth/'.length)}-lifecycle`, `registry-${repo.slice('berth/'.length)}`, repo]),
    );
    for (const policy of policies) {
      // One rule per protected tag and one for the prefix: a rule listing several
      // tags selects only images carrying all of them (ECR lifecycle evaluation rules).
      expect(JSON.parse(policy.inputs.policy as string)).toEqual({
        rules: [
          {
            rulePriority: 1,
            description: 'Keep the image tagged dev',
            selection: { tagStatus: 'tagged', tagPatternList: ['dev'], countType: 'imageCountMoreThan', countNumber: 100000 },
            action: { type: 'expire' },
          },
          {
            rulePriority: 2,
            description: 'Keep the image tagged test',
            selection: { tagStatus: 'tagged', tagPatternList: ['test'], countType: 'imageCountMoreThan', countNumber: 100000 },
            action: { type: 'expire' },
          },
          {
            rulePriority: 3,
            description: 'Keep the image tagged stage',
            selection: { tagStatus: 'tagged', tagPatternList: ['stage'], countType: 'imageCountMoreThan', countNumber: 100000 },
            action: { type: 'expire' },
          },
          {
            rulePriority: 4,
            description: 'Keep the image tagged prod',
            selection: { tagStatus: 'tagged', tagPatternList: ['prod'], countType: 'imageCountMoreThan', countNumber: 100000 },
            action: { type: 'expire' },
          },
          {
            rulePriority: 5,
            description: 'Keep images with a tag starting with keep-',
            selection: { tagStatus: 'tagged', tagPrefixList: ['keep-'], countType: 'imageCountMoreThan', countNumber: 100000 },
            action: { type: 'expire' },
          },
          {
            rulePriority: 6,
            description: 'Expire untagged images 14 days after push',
            selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 },
            action: { type: 'expire' },
          },
        ],
      });
    }
  });

  it('lets exactly the configured accounts pull from every repository', () => {
    const policies = ofType('aws:ecr/repositoryPolicy:RepositoryPolicy');
    expect(policies.map((p) => p.inputs.repository)).toEqual(REPOSITORIES);
    for (const policy of policies) {
      expect(JSON.parse(policy.inputs.policy as string)).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'BerthCrossAccountPull',
            Effect: 'Allow',
            Principal: { AWS: ['arn:aws:iam::111111111111:root', 'arn:aws:iam::222222222222:root'] },
            Action: PULL_ACTIONS,
          },
        ],
      });
      expect(PULL_ACTIONS.some((action) => /Put|Delete|Upload|Initiate|Complete/.test(action))).toBe(false);
    }
  });

  it('exports exactly the RegistryStackOutputs contract, matching the offline fixture the environment stacks read', () => {
    expect(Object.keys(exported).sort()).toEqual(CONTRACT_KEYS);
    const fixture = ecrRegistryOutputs({ accountId: OFFLINE_ACCOUNT_ID, region: 'eu-west-1', services: SERVICES });
    expect(exported.registryUrl).toBe(REGISTRY_HOST);
    expect(exported.repositoryUrls).toEqual(fixture.repositoryUrls);
    expect(exported.baseRepository).toBe('berth/base');
    expect(Object.keys(exported.repositoryArns as object)).toEqual(REPOSITORIES);
    for (const arn of Object.values(exported.repositoryArns as object)) {
      expect(arn).toMatch(/^arn:aws:ecr:eu-west-1:123456789012:/);
    }
  });
});

describe('offline registry fixture', () => {
  it.each(ENVIRONMENTS)('answers the %s stack with the contract for its services', (env) => {
    const config = validateStackConfig(env, readStackFile(env).config);
    const outputs = offlineRegistryOutputs(config);
    expect(Object.keys(outputs).sort()).toEqual(CONTRACT_KEYS);
    const repos = ['berth/base', ...config.services.map((service) => `berth/${service.name}`)].sort();
    expect(outputs).toEqual({
      registryUrl: REGISTRY_HOST,
      baseRepository: 'berth/base',
      repositoryUrls: Object.fromEntries(repos.map((repo) => [repo, `${REGISTRY_HOST}/${repo}`])),
      repositoryArns: Object.fromEntries(repos.map((repo) => [repo, `arn:aws:ecr:eu-west-1:${OFFLINE_ACCOUNT_ID}:repository/${repo}`])),
    });
  });

  it('is what a synthesized environment stack reads through its StackReference', async () => {
    const { resources } = await synthStack('test');
    expect(resources.filter((r) => r.type === 'pulumi:pulumi:StackReference').map((r) => r.name)).toEqual(['acme/berth-registry/shared']);
  });
});

describe('ServiceRegistry', () => {
  it('creates no repository policy without pull accounts, and honours expiry, protected tags and encryption settings', async () => {
    const { ofType, one, result } = await evaluate(
      () =>
        new ServiceRegistry('reg', {
          services: ['web'],
          namespace: 'shop',
          untaggedExpiryDays: 30,
          protectedTags: ['stage', 'prod'],
          keepTagPrefix: '',
          encryption: { type: 'KMS', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/abc' },
        }),
    );
    expect(ofType('aws:ecr/repositoryPolicy:RepositoryPolicy')).toEqual([]);
    expect(one('aws:ecr/repository:Repository', 'reg-web').inputs.encryptionConfigurations).toEqual([
      { encryptionType: 'KMS', kmsKey: 'arn:aws:kms:eu-west-1:123456789012:key/abc' },
    ]);
    expect(JSON.parse(one('aws:ecr/lifecyclePolicy:LifecyclePolicy', 'reg-web-lifecycle').inputs.policy as string)).toEqual({
      rules: [
        {
          rulePriority: 1,
          description: 'Keep the image tagged stage',
          selection: { tagStatus: 'tagged', tagPatternList: ['stage'], countType: 'imageCountMoreThan', countNumber: 100000 },
          action: { type: 'expire' },
        },
        {
          rulePriority: 2,
          description: 'Keep the image tagged prod',
          selection: { tagStatus: 'tagged', tagPatternList: ['prod'], countType: 'imageCountMoreThan', countNumber: 100000 },
          action: { type: 'expire' },
        },
        {
          rulePriority: 3,
          description: 'Expire untagged images 30 days after push',
          selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 },
          action: { type: 'expire' },
        },
      ],
    });
    expect(result.baseRepository).toBe('shop/base');
    await expect(valueOf(result.stackOutputs)).resolves.toEqual({
      registryUrl: REGISTRY_HOST,
      baseRepository: 'shop/base',
      repositoryUrls: { 'shop/base': `${REGISTRY_HOST}/shop/base`, 'shop/web': `${REGISTRY_HOST}/shop/web` },
      repositoryArns: { 'shop/base': expect.stringMatching(/^arn:aws:ecr:/), 'shop/web': expect.stringMatching(/^arn:aws:ecr:/) },
    });
  });

  it('declares the same resources in the same order whatever the order of services', async () => {
    const names = async (services: string[]) => (await evaluate(() => new ServiceRegistry('reg', { services }))).resources.map((r) => `${r.type} ${r.name}`);
    expect(await names(['b-svc', 'a-svc'])).toEqual(await names(['a-svc', 'b-svc']));
  });

  it('lets transforms adjust each underlying resource', async () => {
    const { one } = await evaluate(
      () =>
        new ServiceRegistry('reg', {
          services: ['web'],
          pullAccountIds: ['111111111111'],
          transform: {
            repository: (args) => void (args.forceDelete = true),
            lifecyclePolicy: (args, _opts, name) => void (args.policy = JSON.stringify({ rules: [], name })),
            repositoryPolicy: (_args, opts) => void (opts.protect = true),
          },
        }),
    );
    expect(one('aws:ecr/repository:Repository', 'reg-web').inputs.forceDelete).toBe(true);
    expect(JSON.parse(one('aws:ecr/lifecyclePolicy:LifecyclePolicy', 'reg-web-lifecycle').inputs.policy as string)).toEqual({ rules: [], name: 'reg-web-lifecycle' });
  });

  it('refuses bad arguments naming each property', async () => {
    await expect(
      evaluate(() => new ServiceRegistry('reg', { services: ['Web', 'base'], pullAccountIds: ['1234'], untaggedExpiryDays: 0, protectedTags: ['st*ge'] })),
    ).rejects.toThrow(
      [
        'services: "Web" is not a repository name (lowercase letters, digits, and . _ - between them)',
        'baseImage: "base" is also a service name; the base image needs its own repository',
        'pullAccountIds: "1234" is not an AWS account id (12 digits)',
        'protectedTags: "st*ge" is not an image tag (letters, digits, . _ -; no wildcards)',
        'untaggedExpiryDays: a whole number of days, at least 1; got 0',
      ].join('\n'),
    );
  });

  it('renders only the untagged-expiry rule when nothing is protected', () => {
    expect(JSON.parse(renderLifecyclePolicy({ protectedTags: [], keepTagPrefix: '', untaggedExpiryDays: 7 }))).toEqual({
      rules: [
        {
          rulePriority: 1,
          description: 'Expire untagged images 7 days after push',
          selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 },
          action: { type: 'expire' },
        },
      ],
    });
  });

  it('renders a protected tag given twice as one rule, and a keep prefix without protected tags', () => {
    expect(JSON.parse(renderLifecyclePolicy({ protectedTags: ['prod', 'prod'], keepTagPrefix: 'hold-', untaggedExpiryDays: 3 }))).toEqual({
      rules: [
        {
          rulePriority: 1,
          description: 'Keep the image tagged prod',
          selection: { tagStatus: 'tagged', tagPatternList: ['prod'], countType: 'imageCountMoreThan', countNumber: 100000 },
          action: { type: 'expire' },
        },
        {
          rulePriority: 2,
          description: 'Keep images with a tag starting with hold-',
          selection: { tagStatus: 'tagged', tagPrefixList: ['hold-'], countType: 'imageCountMoreThan', countNumber: 100000 },
          action: { type: 'expire' },
        },
        {
          rulePriority: 3,
          description: 'Expire untagged images 3 days after push',
          selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 3 },
          action: { type: 'expire' },
        },
      ],
    });
  });
});

describe('registry settings', () => {
  it('reads the shared stack file', () => {
    expect(parseRegistrySettings('shared', sharedConfig())).toEqual({
      services: SERVICES,
      pullAccountIds: ['111111111111', '222222222222'],
      untaggedExpiryDays: 14,
      protectedTags: ['dev', 'test', 'stage', 'prod'],
    });
  });

  it("reports every problem with the file and key, in the environment config's format", () => {
    expect(() =>
      parseRegistrySettings('shared', { 'berth-registry:pullAccountIds': [111111111111], 'berth-registry:untaggedExpiryDays': 0, 'berth-registry:colour': 'red' }),
    ).toThrow(
      [
        'stacks/registry/Pulumi.shared.yaml: berth-registry:pullAccountIds[0]: expected string, got number',
        'stacks/registry/Pulumi.shared.yaml: berth-registry:untaggedExpiryDays: expected at least 1 day',
        'stacks/registry/Pulumi.shared.yaml: berth-registry:colour: unknown key "colour" (berth-registry keys are: pullAccountIds, untaggedExpiryDays, protectedTags, keepTagPrefix, images)',
      ].join('\n'),
    );
  });
});
