import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from '@pulumi/policy';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { ENVIRONMENTS } from '../../stacks/env/config';
import type { RecordedResource, SynthResult } from '../../tools/offline/types';
import { runPoliciesOffline, urnOf } from '../../tools/policy/offline';
import {
  agentSpecOf,
  ecrLifecyclePolicy,
  ecrScanOnPush,
  encryptedDataVolume,
  encryptedRootVolume,
  imagesPinnedByDigest,
  imdsv2Required,
  logRetention,
  noPrivilegedContainers,
  agentSpecValid,
  noPublicIpInProd,
  noSshFromInternet,
  policies,
  stackOf,
  TYPES,
} from '../../stacks/policy/policies';
import { synthStack } from '../../tools/synth/engine';

const DIGEST = `sha256:${'c3'.repeat(32)}`;
const PINNED = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@${DIGEST}`;

interface Resource {
  type: string;
  props: Record<string, any>;
  name?: string;
  stack?: string;
}

/** Runs one resource policy the way the engine does: hand-built args, violations collected. */
async function violationsOf(policy: ResourceValidationPolicy, resource: Resource): Promise<string[]> {
  const name = resource.name ?? 'r1';
  const urn = urnOf(resource.stack ?? 'prod', 'berth', resource.type, name);
  const args = {
    type: resource.type,
    props: resource.props,
    urn,
    name,
    opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
    stackTags: new Map<string, string>(),
    getConfig: <T extends object>() => ({}) as T,
    isType: () => false,
    asType: () => undefined,
    notApplicable: () => {
      throw new Error('not applicable');
    },
  } as unknown as ResourceValidationArgs;
  const violations: string[] = [];
  const validations = policy.validateResource;
  for (const validate of Array.isArray(validations) ? validations : [validations!]) {
    await validate(args, (message) => violations.push(message));
  }
  return violations;
}

async function stackViolationsOf(policy: StackValidationPolicy, resources: PolicyResource[]): Promise<{ message: string; urn?: string }[]> {
  const violations: { message: string; urn?: string }[] = [];
  await policy.validateStack(
    { resources, stackTags: new Map(), getConfig: <T extends object>() => ({}) as T, notApplicable: () => { throw new Error('not applicable'); } },
    (message, urn) => violations.push({ message, urn }),
  );
  return violations;
}

function policyResource(type: string, name: string, props: Record<string, any>, parent?: PolicyResource): PolicyResource {
  return { type, name, props, urn: urnOf('shared', 'berth-registry', type, name), parent, opts: {} as any, dependencies: [], propertyDependencies: {}, isType: () => false, asType: () => undefined };
}

const spec = (fields: Record<string, unknown>) => ({ create: 'berth-agent deploy', stdin: JSON.stringify({ name: 'auth-service', env: 'prod', image: PINNED, health: { cmd: 'true', timeoutSeconds: 5 }, privileged: false, dockerSocket: false, volumes: ['/srv/berth/auth-service:/data'], ...fields }) });

describe('policy: images pinned by digest', () => {
  it('passes a pinned image in prod and stage, and a tag in dev', async () => {
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, props: spec({}), stack: 'prod' })).toEqual([]);
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, props: spec({}), stack: 'stage' })).toEqual([]);
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, props: spec({ image: 'berth/auth-service:main' }), stack: 'dev' })).toEqual([]);
  });

  it('reports a tag in stage and prod, naming the command, container and image', async () => {
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, name: 'deploy-auth', props: spec({ image: 'berth/auth-service:main' }), stack: 'stage' })).toEqual([
      'deploy-auth: container auth-service runs image "berth/auth-service:main", not pinned by digest; stage runs only repo@sha256:<64 hex>',
    ]);
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, props: spec({ image: 'berth/auth-service@sha256:abc' }), stack: 'acme-prod' })).toHaveLength(1);
  });

  it('leaves commands whose stdin is not an agent spec alone', async () => {
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, props: { create: 'sudo systemctl restart berth-agent' } })).toEqual([]);
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, props: { create: 'x', stdin: '[secret]' } })).toEqual([]);
    expect(agentSpecOf({ stdin: '{"other":1}' })).toBeUndefined();
  });

  it('reads the image from the deploy command line when stdin is a secret', async () => {
    const props = { create: 'sudo /usr/local/bin/berth-agent deploy --deployment auth-service-app-1 --expect-image berth/auth-service:main', stdin: '[secret]' };
    expect(agentSpecOf(props)).toEqual({ image: 'berth/auth-service:main' });
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, name: 'deploy-auth', props, stack: 'prod' })).toHaveLength(1);
    const pinned = { ...props, create: `sudo /usr/local/bin/berth-agent deploy --deployment auth-service-app-1 --expect-image ${PINNED}` };
    expect(await violationsOf(imagesPinnedByDigest, { type: TYPES.command, name: 'deploy-auth', props: pinned, stack: 'prod' })).toEqual([]);
  });
});

describe('policy: IMDSv2 and encrypted volumes', () => {
  const instance = (props: Record<string, any>) => ({ type: TYPES.instance, name: 'prod-app-1', props: { metadataOptions: { httpTokens: 'required' }, rootBlockDevice: { encrypted: true }, ...props } });

  it('passes an instance that requires tokens and encrypts its root volume', async () => {
    expect(await violationsOf(imdsv2Required, instance({}))).toEqual([]);
    expect(await violationsOf(encryptedRootVolume, instance({}))).toEqual([]);
  });

  it('reports optional or missing IMDSv2 tokens', async () => {
    expect(await violationsOf(imdsv2Required, instance({ metadataOptions: { httpTokens: 'optional' } }))).toEqual(['prod-app-1: metadataOptions.httpTokens is "optional"; IMDSv2 needs "required"']);
    expect(await violationsOf(imdsv2Required, instance({ metadataOptions: undefined }))).toEqual(['prod-app-1: metadataOptions.httpTokens is null; IMDSv2 needs "required"']);
  });

  it('reports an unencrypted root volume', async () => {
    expect(await violationsOf(encryptedRootVolume, instance({ rootBlockDevice: { volumeSize: 30 } }))).toEqual(['prod-app-1: root volume is not encrypted; set rootBlockDevice.encrypted to true']);
  });

  it('passes an encrypted data volume and reports an unencrypted one', async () => {
    expect(await violationsOf(encryptedDataVolume, { type: TYPES.volume, name: 'data', props: { encrypted: true, size: 10 } })).toEqual([]);
    expect(await violationsOf(encryptedDataVolume, { type: TYPES.volume, name: 'data', props: { size: 10 } })).toEqual(['data: EBS volume is not encrypted; set encrypted to true']);
  });

  it('ignores other resource types', async () => {
    expect(await violationsOf(encryptedDataVolume, { type: TYPES.instance, props: {} })).toEqual([]);
    expect(await violationsOf(imdsv2Required, { type: TYPES.volume, props: {} })).toEqual([]);
  });
});

describe('policy: no SSH from the internet', () => {
  const group = (ingress: Record<string, any>[]) => ({ type: TYPES.securityGroup, name: 'app-hosts', props: { ingress } });

  it('passes SSH from admin networks and service ports from anywhere', async () => {
    expect(
      await violationsOf(noSshFromInternet, group([
        { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['10.20.0.0/16'] },
        { protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] },
      ])),
    ).toEqual([]);
  });

  it('reports SSH, a port range over 22, or all traffic from 0.0.0.0/0 or ::/0', async () => {
    expect(
      await violationsOf(noSshFromInternet, group([
        { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['10.0.0.0/8', '0.0.0.0/0'] },
        { protocol: 'tcp', fromPort: 0, toPort: 1024, ipv6CidrBlocks: ['::/0'] },
        { protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] },
        { protocol: 'udp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] },
      ])),
    ).toEqual([
      'app-hosts: ingress tcp 22-22 from 0.0.0.0/0 opens SSH to the internet',
      'app-hosts: ingress tcp 0-1024 from ::/0 opens SSH to the internet',
      'app-hosts: ingress -1 0-0 from 0.0.0.0/0 opens SSH to the internet',
    ]);
  });

  it('checks standalone ingress rules of both kinds', async () => {
    expect(await violationsOf(noSshFromInternet, { type: TYPES.ingressRule, name: 'ssh', props: { ipProtocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0' } })).toEqual([
      'ssh: ingress tcp 22-22 from 0.0.0.0/0 opens SSH to the internet',
    ]);
    expect(await violationsOf(noSshFromInternet, { type: TYPES.ingressRule, name: 'ssh', props: { ipProtocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '10.20.0.0/16' } })).toEqual([]);
    expect(await violationsOf(noSshFromInternet, { type: TYPES.securityGroupRule, name: 'rule', props: { type: 'ingress', protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] } })).toHaveLength(1);
    expect(await violationsOf(noSshFromInternet, { type: TYPES.securityGroupRule, name: 'rule', props: { type: 'egress', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] } })).toEqual([]);
  });
});

describe('policy: no public IP in prod', () => {
  const host = (props: Record<string, any>, stack: string) => ({ type: TYPES.instance, name: 'edge-1', stack, props });

  it('reports a prod instance with a public IP and no reason', async () => {
    expect(await violationsOf(noPublicIpInProd, host({ associatePublicIpAddress: true, tags: {} }, 'prod'))).toEqual([
      'edge-1: prod instance has a public IP (associatePublicIpAddress) and no berth:public-ip-reason tag saying why',
    ]);
  });

  it('passes with the reason tag, without a public IP, or outside prod', async () => {
    expect(await violationsOf(noPublicIpInProd, host({ associatePublicIpAddress: true, tags: { 'berth:public-ip-reason': 'partner allow-lists our IP' } }, 'prod'))).toEqual([]);
    expect(await violationsOf(noPublicIpInProd, host({ associatePublicIpAddress: false }, 'prod'))).toEqual([]);
    expect(await violationsOf(noPublicIpInProd, host({ associatePublicIpAddress: true }, 'stage'))).toEqual([]);
  });

  it('reads the stack from the URN', () => {
    expect(stackOf('urn:pulumi:prod::berth::aws:ec2/instance:Instance::edge-1')).toBe('prod');
  });
});

describe('policy: ECR repositories', () => {
  it('requires scan on push', async () => {
    expect(await violationsOf(ecrScanOnPush, { type: TYPES.repository, name: 'auth-service', props: { imageScanningConfiguration: { scanOnPush: true } } })).toEqual([]);
    expect(await violationsOf(ecrScanOnPush, { type: TYPES.repository, name: 'auth-service', props: { imageScanningConfiguration: { scanOnPush: false } } })).toEqual([
      'auth-service: ECR repository does not scan on push; set imageScanningConfiguration.scanOnPush to true',
    ]);
  });

  it('requires a lifecycle policy for every repository, matched by repository name or parent', async () => {
    const auth = policyResource(TYPES.repository, 'auth-service', { name: 'berth/auth-service' });
    const api = policyResource(TYPES.repository, 'api-service', { name: 'berth/api-service' });
    const base = policyResource(TYPES.repository, 'base', {});
    const resources = [
      auth,
      api,
      base,
      policyResource(TYPES.lifecyclePolicy, 'auth-service-lifecycle', { repository: 'berth/auth-service', policy: '{}' }),
      policyResource(TYPES.lifecyclePolicy, 'base-lifecycle', { policy: '{}' }, base),
    ];
    expect(await stackViolationsOf(ecrLifecyclePolicy, resources)).toEqual([
      { message: 'api-service: ECR repository berth/api-service has no lifecycle policy (aws.ecr.LifecyclePolicy with repository = berth/api-service)', urn: api.urn },
    ]);
    expect(await stackViolationsOf(ecrLifecyclePolicy, resources.filter((resource) => resource !== api))).toEqual([]);
  });
});

describe('policy: log retention', () => {
  it('passes a retention period and reports none or "never expire"', async () => {
    expect(await violationsOf(logRetention, { type: TYPES.logGroup, name: 'logs', props: { retentionInDays: 30 } })).toEqual([]);
    expect(await violationsOf(logRetention, { type: TYPES.logGroup, name: 'logs', props: {} })).toEqual(['logs: log group has no retention; set retentionInDays']);
    expect(await violationsOf(logRetention, { type: TYPES.logGroup, name: 'logs', props: { retentionInDays: 0 } })).toHaveLength(1);
  });
});

describe('policy: no privileged containers or Docker socket', () => {
  it('passes an ordinary container', async () => {
    expect(await violationsOf(noPrivilegedContainers, { type: TYPES.command, props: spec({}) })).toEqual([]);
  });

  it('reports privileged, dockerSocket and a socket volume', async () => {
    expect(await violationsOf(noPrivilegedContainers, { type: TYPES.command, name: 'deploy', props: spec({ privileged: true }) })).toEqual([
      'deploy: container auth-service is privileged; drop privileged or set allowPrivilegedReason',
    ]);
    expect(await violationsOf(noPrivilegedContainers, { type: TYPES.command, name: 'deploy', props: spec({ dockerSocket: true }) })).toEqual([
      'deploy: container auth-service mounts the Docker socket; remove it or set allowPrivilegedReason',
    ]);
    expect(await violationsOf(noPrivilegedContainers, { type: TYPES.command, name: 'deploy', props: spec({ volumes: ['/var/run/docker.sock:/var/run/docker.sock:ro'] }) })).toEqual([
      'deploy: container auth-service mounts the Docker socket (/var/run/docker.sock); remove it or set allowPrivilegedReason',
    ]);
    expect(await violationsOf(noPrivilegedContainers, { type: TYPES.command, props: spec({ volumes: [{ source: '/run/docker.sock', target: '/var/run/docker.sock' }] }) })).toHaveLength(1);
  });

  it('allows both with a reason', async () => {
    expect(await violationsOf(noPrivilegedContainers, { type: TYPES.command, props: spec({ privileged: true, volumes: ['/var/run/docker.sock:/var/run/docker.sock'], allowPrivilegedReason: 'the log shipper reads container metadata' }) })).toEqual([]);
  });
});

describe('policy: the agent accepts the spec', () => {
  it('passes a spec the agent accepts', async () => {
    expect(await violationsOf(agentSpecValid, { type: TYPES.command, props: spec({}) })).toEqual([]);
  });

  it("reports each of the agent's problems, naming the field", async () => {
    expect(await violationsOf(agentSpecValid, { type: TYPES.command, name: 'deploy', props: spec({ health: { cmd: 'true', timeoutSeconds: 0 }, restart: 'sometimes' }) })).toEqual([
      'deploy: the host agent would refuse this spec: spec.health.timeoutSeconds: required whole seconds, 1 to 3600, got 0',
      'deploy: the host agent would refuse this spec: spec.restart: must be no, always, unless-stopped or on-failure[:N], got "sometimes"',
    ]);
  });

  it('ignores commands that send no spec', async () => {
    expect(await violationsOf(agentSpecValid, { type: TYPES.command, props: { create: 'true', stdin: 'echo hi' } })).toEqual([]);
  });
});

describe('the policy pack', () => {
  it('has eleven uniquely named, mandatory policies', () => {
    const names = policies.map((policy) => policy.name);
    expect(names).toHaveLength(11);
    expect(new Set(names).size).toBe(11);
    expect(policies.every((policy) => policy.enforcementLevel === 'mandatory')).toBe(true);
  });

  it('is described in PulumiPolicy.yaml for the nodejs runtime', () => {
    const manifest = YAML.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'stacks', 'policy', 'PulumiPolicy.yaml'), 'utf8'));
    expect(manifest.runtime).toBe('nodejs');
    expect(typeof manifest.description).toBe('string');
  });
});

describe('policies over offline synth', () => {
  it.each(ENVIRONMENTS)('the %s example stack passes every policy', async (stack) => {
    const result = await synthStack(stack);
    expect(await runPoliciesOffline(result)).toEqual([]);
  });

  /** Good resources of each checked kind, added when the prod synth has none of that kind yet. */
  const standIns: RecordedResource[] = [
    { type: TYPES.instance, name: 'app-1', parent: null, inputs: { metadataOptions: { httpTokens: 'required' }, rootBlockDevice: { encrypted: true }, associatePublicIpAddress: false, tags: {} } },
    { type: TYPES.volume, name: 'app-1-data', parent: null, inputs: { encrypted: true, size: 100 } },
    { type: TYPES.securityGroup, name: 'app-hosts', parent: null, inputs: { ingress: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['10.20.0.0/16'] }] } },
    { type: TYPES.command, name: 'auth-service-app-1-deploy', parent: null, inputs: spec({}) },
  ];

  async function prodWithEveryKind(): Promise<SynthResult> {
    const result = await synthStack('prod');
    for (const standIn of standIns) {
      const present = result.resources.some((resource) => resource.type === standIn.type && (standIn.type !== TYPES.command || agentSpecOf(resource.inputs)));
      if (!present) {
        result.resources.push(structuredClone(standIn));
      }
    }
    return result;
  }

  it('a broken prod reports each violation, naming the resource', async () => {
    const result = await prodWithEveryKind();
    expect(await runPoliciesOffline(result)).toEqual([]);

    const expected: { policy: string; resource: string }[] = [];
    for (const resource of result.resources) {
      const inputs = resource.inputs as Record<string, any>;
      if (resource.type === TYPES.instance) {
        inputs.metadataOptions = { ...inputs.metadataOptions, httpTokens: 'optional' };
        expected.push({ policy: 'berth-imdsv2-required', resource: resource.name });
      } else if (resource.type === TYPES.volume) {
        inputs.encrypted = false;
        expected.push({ policy: 'berth-encrypted-data-volume', resource: resource.name });
      } else if (resource.type === TYPES.securityGroup) {
        inputs.ingress = [...(inputs.ingress ?? []), { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] }];
        expected.push({ policy: 'berth-no-ssh-from-internet', resource: resource.name });
      } else if (resource.type === TYPES.command && agentSpecOf(inputs)) {
        const agent = agentSpecOf(inputs)!;
        const unpinned = agent.image!.replace(/@sha256:[0-9a-f]{64}$/, ':latest');
        if (typeof inputs.stdin === 'string' && inputs.stdin.startsWith('{')) {
          inputs.stdin = JSON.stringify({ ...agent, image: unpinned, privileged: true });
          // (The agent itself would refuse both, so the shared schema reports the spec too.)
          expected.push(
            { policy: 'berth-images-pinned-by-digest', resource: resource.name },
            { policy: 'berth-no-privileged-containers', resource: resource.name },
            { policy: 'berth-agent-spec-valid', resource: resource.name },
          );
        } else {
          // A secret stdin: what the policy reads is the image on the command line.
          inputs.create = String(inputs.create).replace(agent.image!, unpinned);
          expected.push({ policy: 'berth-images-pinned-by-digest', resource: resource.name });
        }
      }
    }
    const violations = await runPoliciesOffline(result);
    const found = violations.map((violation) => ({ policy: violation.policy, resource: violation.resource }));
    const key = (entry: { policy: string; resource?: string }) => `${entry.policy} ${entry.resource}`;
    expect(found.map(key).sort()).toEqual(expected.map(key).sort());
    for (const violation of violations) {
      expect(violation.message.startsWith(`${violation.resource}: `)).toBe(true);
    }
    for (const policy of ['berth-imdsv2-required', 'berth-encrypted-data-volume', 'berth-no-ssh-from-internet', 'berth-images-pinned-by-digest', 'berth-no-privileged-containers', 'berth-agent-spec-valid']) {
      expect(found.some((violation) => violation.policy === policy)).toBe(true);
    }
  });

  it('reports a stack policy violation against the resource it names', async () => {
    const result: SynthResult = {
      stack: 'shared',
      resources: [{ type: TYPES.repository, name: 'auth-service', parent: null, inputs: { name: 'berth/auth-service', imageScanningConfiguration: { scanOnPush: true } } }],
    };
    expect(await runPoliciesOffline(result, { project: 'berth-registry' })).toEqual([
      {
        policy: 'berth-ecr-lifecycle-policy',
        resource: 'auth-service',
        type: TYPES.repository,
        message: 'auth-service: ECR repository berth/auth-service has no lifecycle policy (aws.ecr.LifecyclePolicy with repository = berth/auth-service)',
      },
    ]);
  });
});

describe('policies over the registry program (stacks/registry), evaluated offline', () => {
  let registry: SynthResult;

  beforeAll(async () => {
    // Loaded here so the rest of this file does not depend on the registry program.
    const pulumi = await import('@pulumi/pulumi');
    const { toRuntimeConfig } = await import('../../stacks/env/config');
    const { startOfflineRuntime } = await import('../../tools/offline/runtime');
    const { evaluateProgram } = await import('../../tools/offline/evaluate');
    const { readRegistryStackFile, REGISTRY_PROJECT, REGISTRY_STACK } = await import('../../stacks/registry/program');
    pulumi.runtime.setAllConfig(toRuntimeConfig(readRegistryStackFile().config), []);
    const runtime = await startOfflineRuntime({ project: REGISTRY_PROJECT, stack: REGISTRY_STACK, region: 'eu-west-1' });
    await evaluateProgram(() => require('../../stacks/registry/index'));
    registry = { stack: REGISTRY_STACK, resources: runtime.sortedResources() };
  });

  it('passes: every repository scans on push and has a lifecycle policy', async () => {
    expect(registry.resources.filter((resource) => resource.type === TYPES.repository).length).toBeGreaterThan(0);
    expect(await runPoliciesOffline(registry, { project: 'berth-registry' })).toEqual([]);
  });

  it('reports a repository whose lifecycle policy is removed and one that stops scanning', async () => {
    const repositories = registry.resources.filter((resource) => resource.type === TYPES.repository);
    const [first, second] = repositories;
    const firstName = String(first.inputs.name ?? first.name);
    const broken: SynthResult = {
      stack: registry.stack,
      resources: registry.resources
        .filter((resource) => !(resource.type === TYPES.lifecyclePolicy && (resource.inputs.repository === firstName || resource.parent === first.name)))
        .map((resource) => (resource === second ? { ...resource, inputs: { ...resource.inputs, imageScanningConfiguration: { scanOnPush: false } } } : resource)),
    };
    const violations = await runPoliciesOffline(broken, { project: 'berth-registry' });
    expect(violations.map((violation) => [violation.policy, violation.resource])).toEqual([
      ['berth-ecr-scan-on-push', second.name],
      ['berth-ecr-lifecycle-policy', first.name],
    ]);
  });
});
