import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from '@pulumi/policy';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { ENVIRONMENTS } from '../../stacks/env/config';
import { UNKNOWN_MARKER } from '../../tools/offline/runtime';
import type { RecordedResource, SynthResult } from '../../tools/offline/types';
import { runPoliciesOffline, urnOf } from '../../tools/policy/offline';
import {
  agentSpecOf,
  ecsAwslogs,
  ecsLogGroupRetention,
  httpsOnly,
  noHostNamespaces,
  loadBalancerAccessLogs,
  loadBalancerDeletionProtection,
  noServicePortFromInternet,
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
  taskContainers,
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

function policyResource(type: string, name: string, props: Record<string, any>, parent?: PolicyResource, propertyDependencies: Record<string, PolicyResource[]> = {}): PolicyResource {
  return { type, name, props, urn: urnOf('shared', 'berth-registry', type, name), parent, opts: {} as any, dependencies: [], propertyDependencies, isType: () => false, asType: () => undefined };
}

/** A resource whose inputs take values from others, as the engine hands it to a stack policy. */
const linked = (type: string, name: string, props: Record<string, any>, dependencies: Record<string, PolicyResource[]> = {}) => policyResource(type, name, props, undefined, dependencies);

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

const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9';
const REDIRECT_TO_HTTPS = [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }];
const FORWARD = [{ type: 'forward', targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/0a1b' }];

describe('policy: load balancer access logs', () => {
  const balancer = (props: Record<string, any>, dependencies: Record<string, PolicyResource[]> = {}) =>
    linked(TYPES.loadBalancer, 'edge', { loadBalancerType: 'application', internal: false, ...props }, dependencies);
  const bucket = linked('aws:s3/bucket:Bucket', 'edge-access-logs', { bucketPrefix: 'berth-dev-lb-logs-' });

  it('passes access logs on, to a named bucket or to a bucket the stack declares (its name unknown until it exists)', async () => {
    expect(await stackViolationsOf(loadBalancerAccessLogs, [balancer({ accessLogs: { enabled: true, bucket: 'berth-dev-lb-logs', prefix: 'edge' } })])).toEqual([]);
    expect(await stackViolationsOf(loadBalancerAccessLogs, [bucket, balancer({ accessLogs: { enabled: true, prefix: 'edge' } }, { accessLogs: [bucket] })])).toEqual([]);
  });

  it('reports access logs missing, off, or without a bucket', async () => {
    const off = 'edge: load balancer access logs are off; set accessLogs.enabled to true and accessLogs.bucket';
    const noBucket = 'edge: load balancer access logs name no bucket; set accessLogs.bucket';
    const messages = async (props: Record<string, any>, dependencies?: Record<string, PolicyResource[]>) =>
      (await stackViolationsOf(loadBalancerAccessLogs, [balancer(props, dependencies)])).map((violation) => violation.message);
    expect(await stackViolationsOf(loadBalancerAccessLogs, [balancer({})])).toEqual([{ message: off, urn: balancer({}).urn }]);
    expect(await messages({ accessLogs: { enabled: false, bucket: 'berth-dev-lb-logs' } }, { accessLogs: [bucket] })).toEqual([off]);
    expect(await messages({ accessLogs: { enabled: true, bucket: ' ' } })).toEqual([noBucket]);
    expect(await messages({ accessLogs: { enabled: true } })).toEqual([noBucket]);
    // A dependency on something that is not a bucket is no bucket.
    expect(await messages({ accessLogs: { enabled: true } }, { accessLogs: [linked(TYPES.securityGroup, 'sg', {})] })).toEqual([noBucket]);
  });

  it('checks the alb module alias too, and nothing else', async () => {
    expect(await stackViolationsOf(loadBalancerAccessLogs, [linked('aws:alb/loadBalancer:LoadBalancer', 'old', {})])).toHaveLength(1);
    expect(await stackViolationsOf(loadBalancerAccessLogs, [linked(TYPES.listener, 'l', {})])).toEqual([]);
  });
});

describe('policy: load balancer deletion protection in prod', () => {
  const balancer = (props: Record<string, any>, stack: string) => ({ type: TYPES.loadBalancer, name: 'edge', stack, props });

  it('reports a prod load balancer without deletion protection', async () => {
    expect(await violationsOf(loadBalancerDeletionProtection, balancer({}, 'prod'))).toEqual(['edge: prod load balancer has no deletion protection; set enableDeletionProtection to true']);
    expect(await violationsOf(loadBalancerDeletionProtection, balancer({ enableDeletionProtection: false }, 'acme-prod'))).toHaveLength(1);
  });

  it('passes it on in prod, and off outside prod', async () => {
    expect(await violationsOf(loadBalancerDeletionProtection, balancer({ enableDeletionProtection: true }, 'prod'))).toEqual([]);
    expect(await violationsOf(loadBalancerDeletionProtection, balancer({ enableDeletionProtection: false }, 'stage'))).toEqual([]);
    expect(await violationsOf(loadBalancerDeletionProtection, balancer({}, 'dev'))).toEqual([]);
  });
});

describe('policy: HTTPS only', () => {
  const edge = linked(TYPES.loadBalancer, 'edge', { internal: false });
  const names = linked(TYPES.loadBalancer, 'service-names', { internal: true });
  const listener = (name: string, balancer: PolicyResource | undefined, props: Record<string, any>) =>
    linked(TYPES.listener, name, props, balancer ? { loadBalancerArn: [balancer] } : {});
  const https = listener('edge-https', edge, { port: 443, protocol: 'HTTPS', certificateArn: CERTIFICATE, defaultActions: FORWARD });
  const redirect = listener('edge-http', edge, { port: 80, protocol: 'HTTP', defaultActions: REDIRECT_TO_HTTPS });
  const internalHttp = listener('service-names-http', names, { port: 80, protocol: 'HTTP', defaultActions: [{ type: 'fixed-response', fixedResponse: { contentType: 'text/plain', statusCode: '404' } }] });
  const rule = (name: string, on: PolicyResource, actions: unknown[]) => linked(TYPES.listenerRule, name, { actions, conditions: [{ hostHeader: { values: ['api.dev.example.com'] } }] }, { listenerArn: [on] });

  it('passes HTTPS with a certificate, HTTP that redirects to HTTPS, and HTTP on an internal load balancer with its rules', async () => {
    const resources = [edge, names, https, redirect, internalHttp, rule('api-service-edge', https, FORWARD), rule('api-service-name', internalHttp, FORWARD)];
    expect(await stackViolationsOf(httpsOnly, resources)).toEqual([]);
  });

  it('passes TLS with a certificate, and a redirect to HTTPS after authentication', async () => {
    const tls = listener('edge-tls', edge, { port: 8443, protocol: 'TLS', certificateArn: CERTIFICATE, defaultActions: FORWARD });
    const authenticated = listener('edge-http', edge, { port: 80, protocol: 'HTTP', defaultActions: [{ type: 'authenticate-oidc', order: 1 }, { ...REDIRECT_TO_HTTPS[0], order: 2 }] });
    expect(await stackViolationsOf(httpsOnly, [edge, tls, authenticated])).toEqual([]);
    const bareTls = listener('edge-tls', edge, { port: 8443, protocol: 'TLS', defaultActions: FORWARD });
    expect((await stackViolationsOf(httpsOnly, [edge, bareTls])).map((violation) => violation.message)).toEqual(['edge-tls: TLS listener on port 8443 of internet-facing load balancer edge has no certificateArn']);
  });

  it('reports an HTTPS listener without a certificate', async () => {
    const bare = listener('edge-https', edge, { port: 443, protocol: 'HTTPS', defaultActions: FORWARD });
    expect(await stackViolationsOf(httpsOnly, [edge, bare])).toEqual([{ message: 'edge-https: HTTPS listener on port 443 of internet-facing load balancer edge has no certificateArn', urn: bare.urn }]);
  });

  it('reports plain HTTP on an internet-facing load balancer, whatever it does instead of redirecting to HTTPS', async () => {
    const plain = listener('edge-http', edge, { port: 80, protocol: 'HTTP', defaultActions: FORWARD });
    const toHttp = listener('edge-http-2', edge, { port: 8080, defaultActions: [{ type: 'redirect', redirect: { protocol: 'HTTP', port: '80' } }] });
    expect(await stackViolationsOf(httpsOnly, [edge, plain, toHttp])).toEqual([
      {
        message: 'edge-http: HTTP listener on port 80 of internet-facing load balancer edge serves plain HTTP; make it HTTPS with a certificate, or redirect to HTTPS (defaultActions: redirect with protocol HTTPS)',
        urn: plain.urn,
      },
      {
        message: 'edge-http-2: HTTP listener on port 8080 of internet-facing load balancer edge serves plain HTTP; make it HTTPS with a certificate, or redirect to HTTPS (defaultActions: redirect with protocol HTTPS)',
        urn: toHttp.urn,
      },
    ]);
  });

  it('reports a listener rule that forwards plain HTTP behind a redirecting listener', async () => {
    const leak = rule('api-service-edge', redirect, FORWARD);
    expect(await stackViolationsOf(httpsOnly, [edge, redirect, leak, rule('old-host', redirect, REDIRECT_TO_HTTPS)])).toEqual([
      { message: 'api-service-edge: rule on HTTP listener edge-http of internet-facing load balancer edge serves plain HTTP; put it on the HTTPS listener, or redirect to HTTPS', urn: leak.urn },
    ]);
  });

  it('reports other protocols, and counts a listener on a load balancer it cannot see as internet-facing', async () => {
    const tcp = listener('edge-tcp', edge, { port: 5432, protocol: 'TCP', defaultActions: FORWARD });
    const orphan = listener('elsewhere-http', undefined, { port: 80, protocol: 'HTTP', defaultActions: FORWARD });
    expect((await stackViolationsOf(httpsOnly, [edge, tcp, orphan])).map((violation) => violation.message)).toEqual([
      'edge-tcp: TCP listener on port 5432 of internet-facing load balancer edge; only HTTPS with a certificate, or HTTP redirecting to HTTPS, may face the internet',
      'elsewhere-http: HTTP listener on port 80 of a load balancer this stack does not declare (counted as internet-facing) serves plain HTTP; make it HTTPS with a certificate, or redirect to HTTPS (defaultActions: redirect with protocol HTTPS)',
    ]);
  });

  it('treats a load balancer as internal only when internal is true', async () => {
    const unset = linked(TYPES.loadBalancer, 'edge', {});
    const plain = listener('edge-http', unset, { port: 80, protocol: 'HTTP', defaultActions: FORWARD });
    expect(await stackViolationsOf(httpsOnly, [unset, plain])).toHaveLength(1);
    const internal = linked(TYPES.loadBalancer, 'edge', { internal: true });
    expect(await stackViolationsOf(httpsOnly, [internal, listener('edge-http', internal, { port: 80, protocol: 'HTTP', defaultActions: FORWARD })])).toEqual([]);
  });
});

describe('policy: no service port from the internet', () => {
  const hosts = (ingress: Record<string, any>[]) => linked(TYPES.securityGroup, 'app-hosts', { ingress });
  const lbGroup = (name: string, ingress: Record<string, any>[]) => linked(TYPES.securityGroup, name, { ingress });
  const balancer = (name: string, internal: boolean, group: PolicyResource) => linked(TYPES.loadBalancer, name, { internal, securityGroups: ['sg-0a1b'] }, { securityGroups: [group] });
  const world = (port: number, extra: Record<string, any> = {}) => ({ protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: ['0.0.0.0/0'], ...extra });

  it("passes host service ports from named CIDRs and the load balancer's group, and 80/443 from anywhere on an internet-facing load balancer", async () => {
    const edgeGroup = lbGroup('edge-lb', [world(443), { protocol: 'tcp', fromPort: 80, toPort: 80, ipv6CidrBlocks: ['::/0'] }]);
    const resources = [
      edgeGroup,
      balancer('edge', false, edgeGroup),
      hosts([
        { protocol: 'tcp', fromPort: 8080, toPort: 8080, cidrBlocks: ['10.20.0.0/16'] },
        { protocol: 'tcp', fromPort: 8080, toPort: 8080, securityGroups: ['sg-0a1b'] },
        { protocol: 'icmp', fromPort: -1, toPort: -1, cidrBlocks: ['0.0.0.0/0'] },
      ]),
    ];
    expect(await stackViolationsOf(noServicePortFromInternet, resources)).toEqual([]);
  });

  it('reports a host service port open to 0.0.0.0/0 or ::/0, in inline ingress and in both kinds of rule resource', async () => {
    const group = hosts([world(8080), { protocol: '-1', fromPort: 0, toPort: 0, ipv6CidrBlocks: ['::/0'] }]);
    const vpcRule = linked(TYPES.ingressRule, 'app-hosts-8081', { ipProtocol: 'tcp', fromPort: 8081, toPort: 8081, cidrIpv4: '0.0.0.0/0' }, { securityGroupId: [group] });
    const ec2Rule = linked(TYPES.securityGroupRule, 'app-hosts-5432', { type: 'ingress', protocol: 'tcp', fromPort: 5432, toPort: 5432, ipv6CidrBlocks: ['::/0'] }, { securityGroupId: [group] });
    const egress = linked(TYPES.securityGroupRule, 'app-hosts-out', { type: 'egress', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }, { securityGroupId: [group] });
    const advice = "opens a service port to the internet; allow it from the load balancer's security group or named CIDRs";
    expect(await stackViolationsOf(noServicePortFromInternet, [group, vpcRule, ec2Rule, egress])).toEqual([
      { message: `app-hosts: ingress tcp 8080-8080 from 0.0.0.0/0 ${advice}`, urn: group.urn },
      { message: `app-hosts: ingress -1 0-0 from ::/0 ${advice}`, urn: group.urn },
      { message: `app-hosts-8081: ingress tcp 8081-8081 from 0.0.0.0/0 ${advice}`, urn: vpcRule.urn },
      { message: `app-hosts-5432: ingress tcp 5432-5432 from ::/0 ${advice}`, urn: ec2Rule.urn },
    ]);
  });

  it('leaves SSH alone to berth-no-ssh-from-internet, but not a range that covers it', async () => {
    expect(await stackViolationsOf(noServicePortFromInternet, [hosts([world(22)])])).toEqual([]);
    expect(await stackViolationsOf(noServicePortFromInternet, [hosts([{ protocol: 'tcp', fromPort: 22, toPort: 8080, cidrBlocks: ['0.0.0.0/0'] }])])).toHaveLength(1);
  });

  it('reports 80/443 from anywhere on an internal load balancer, or on no load balancer at all', async () => {
    const namesGroup = lbGroup('service-names-lb', [world(80)]);
    expect(await stackViolationsOf(noServicePortFromInternet, [namesGroup, balancer('service-names', true, namesGroup), hosts([world(443)])])).toEqual([
      { message: 'service-names-lb: ingress tcp 80-80 from 0.0.0.0/0 opens internal load balancer service-names to the internet; allow its listeners from named CIDRs', urn: namesGroup.urn },
      { message: "app-hosts: ingress tcp 443-443 from 0.0.0.0/0 opens a service port to the internet; allow it from the load balancer's security group or named CIDRs", urn: hosts([]).urn },
    ]);
  });

  it('counts a group shared by an internal and an internet-facing load balancer as the internal one', async () => {
    const shared = lbGroup('shared-lb', [world(443)]);
    for (const order of [
      [balancer('edge', false, shared), balancer('service-names', true, shared)],
      [balancer('service-names', true, shared), balancer('edge', false, shared)],
    ]) {
      expect((await stackViolationsOf(noServicePortFromInternet, [shared, ...order])).map((violation) => violation.message)).toEqual([
        'shared-lb: ingress tcp 443-443 from 0.0.0.0/0 opens internal load balancer service-names to the internet; allow its listeners from named CIDRs',
      ]);
    }
  });

  it('reports any other port, a range, or UDP on an internet-facing load balancer', async () => {
    const edgeGroup = lbGroup('edge-lb', [world(8443), { protocol: 'tcp', fromPort: 80, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }, world(443, { protocol: 'udp' })]);
    const rule = linked(TYPES.ingressRule, 'edge-lb-all', { ipProtocol: '-1', cidrIpv4: '0.0.0.0/0' }, { securityGroupId: [edgeGroup] });
    const tail = 'only TCP 80 and 443 may be open to anyone';
    expect((await stackViolationsOf(noServicePortFromInternet, [edgeGroup, balancer('edge', false, edgeGroup), rule])).map((violation) => violation.message)).toEqual([
      `edge-lb: ingress tcp 8443-8443 from 0.0.0.0/0 on internet-facing load balancer edge: ${tail}`,
      `edge-lb: ingress tcp 80-443 from 0.0.0.0/0 on internet-facing load balancer edge: ${tail}`,
      `edge-lb: ingress udp 443-443 from 0.0.0.0/0 on internet-facing load balancer edge: ${tail}`,
      `edge-lb-all: ingress -1 *-* from 0.0.0.0/0 on internet-facing load balancer edge: ${tail}`,
    ]);
  });

  it('finds a standalone rule on an internet-facing load balancer group through its securityGroupId', async () => {
    const edgeGroup = lbGroup('edge-lb', []);
    const https = linked(TYPES.ingressRule, 'edge-lb-443', { ipProtocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/0' }, { securityGroupId: [edgeGroup] });
    expect(await stackViolationsOf(noServicePortFromInternet, [edgeGroup, balancer('edge', false, edgeGroup), https])).toEqual([]);
    // The same rule with no link to its group is a host port as far as anyone can tell.
    const unlinked = linked(TYPES.ingressRule, 'edge-lb-443', https.props);
    expect(await stackViolationsOf(noServicePortFromInternet, [edgeGroup, balancer('edge', false, edgeGroup), unlinked])).toHaveLength(1);
  });
});

/** The engine's own proxy over a resource's inputs (@pulumi/policy ships it untyped): reading a value a preview cannot know throws. */
const engine = require('@pulumi/policy/proxy') as { unknownCheckingProxy<T extends object>(props: T): T; unknownStringValue: string; unknownNumberValue: string };

const API_LOGS = '/berth/prod/api-service';
const awslogs = (group: string) => ({ logDriver: 'awslogs', options: { 'awslogs-group': group, 'awslogs-region': 'eu-west-1', 'awslogs-stream-prefix': 'ecs' } });
const ecsContainer = (fields: Record<string, unknown> = {}) => ({ name: 'api-service', image: PINNED, essential: true, memory: 512, logConfiguration: awslogs(API_LOGS), ...fields });
const taskProps = (containers: Record<string, unknown>[], props: Record<string, any> = {}) => ({ family: 'berth-prod-api-service', networkMode: 'bridge', containerDefinitions: JSON.stringify(containers), ...props });
const task = (containers: Record<string, unknown>[], props: Record<string, any> = {}, stack = 'prod') => ({ type: TYPES.taskDefinition, name: 'api-service-task', stack, props: taskProps(containers, props) });

/** containerDefinitions as a preview may show it: unknown to the engine (its proxy throws on reading it), unknown offline, or not set. */
const unknownContainers = (): Record<string, any>[] => [
  engine.unknownCheckingProxy({ family: 'berth-prod-api-service', networkMode: 'bridge', containerDefinitions: engine.unknownStringValue }),
  { family: 'berth-prod-api-service', networkMode: 'bridge', containerDefinitions: UNKNOWN_MARKER },
  { family: 'berth-prod-api-service', networkMode: 'bridge' },
];

describe('ECS policies over task definitions whose containers a preview cannot know', () => {
  it('the engine proxy in these tests throws on reading an unknown input, as it does in a preview', () => {
    expect(() => unknownContainers()[0].containerDefinitions).toThrow("string value at .containerDefinitions can't be known during preview");
  });

  it.each([imagesPinnedByDigest, noPrivilegedContainers, ecsAwslogs, noHostNamespaces])('$name reports nothing', async (policy) => {
    for (const props of unknownContainers()) {
      expect(await violationsOf(policy, { type: TYPES.taskDefinition, props })).toEqual([]);
    }
  });

  it('berth-ecs-log-group-retention reports nothing, and still checks the stack\'s other task definitions', async () => {
    const undeclared = linked(TYPES.taskDefinition, 'report-worker-task', taskProps([ecsContainer({ name: 'report-worker', logConfiguration: awslogs('/berth/prod/report-worker') })]));
    for (const props of unknownContainers()) {
      expect(await stackViolationsOf(ecsLogGroupRetention, [linked(TYPES.taskDefinition, 'api-service-task', props), undeclared])).toEqual([
        {
          message: 'report-worker-task: container report-worker logs to log group /berth/prod/report-worker, which this stack does not declare; declare it (aws.cloudwatch.LogGroup with name = /berth/prod/report-worker) with retentionInDays',
          urn: undeclared.urn,
        },
      ]);
    }
  });

  it('reads the containers of a known containerDefinitions, and nothing from anything else', () => {
    expect(taskContainers(taskProps([ecsContainer()]))).toEqual([ecsContainer()]);
    expect(taskContainers({ containerDefinitions: '{"name":"api-service"}' })).toBeUndefined();
    expect(taskContainers({ containerDefinitions: '[null, {"name":"api-service"}]' })).toEqual([{ name: 'api-service' }]);
  });
});

describe('policy: images pinned by digest, in ECS task definitions', () => {
  it('passes pinned images in every stack, with or without a tag before the digest', async () => {
    expect(await violationsOf(imagesPinnedByDigest, task([ecsContainer()], {}, 'dev'))).toEqual([]);
    expect(await violationsOf(imagesPinnedByDigest, task([ecsContainer({ image: `berth/api-service:main@${DIGEST}` })], {}, 'prod'))).toEqual([]);
  });

  it('reports a tag, a malformed digest and no image, in dev too, naming each container', async () => {
    const containers = [
      ecsContainer({ image: 'berth/api-service:main' }),
      ecsContainer({ name: 'envoy', image: 'envoyproxy/envoy@sha256:abc' }),
      { essential: false, logConfiguration: awslogs(API_LOGS) },
    ];
    const tail = 'not pinned by digest; a task definition runs only repo@sha256:<64 hex>, in every stack (resolve the tag to its digest before writing it)';
    expect(await violationsOf(imagesPinnedByDigest, task(containers, {}, 'dev'))).toEqual([
      `api-service-task: container api-service runs image "berth/api-service:main", ${tail}`,
      `api-service-task: container envoy runs image "envoyproxy/envoy@sha256:abc", ${tail}`,
      `api-service-task: container (unnamed) runs image null, ${tail}`,
    ]);
  });
});

describe('policy: no privileged containers, in ECS task definitions', () => {
  const exemption = '(a task definition has no allowPrivilegedReason to exempt it)';
  const volumes = [
    { name: 'data', hostPath: '/srv/berth/prod/api-service' },
    { name: 'shared', efsVolumeConfiguration: { fileSystemId: 'fs-0a1b2c3d', transitEncryption: 'ENABLED' } },
    { name: 'docker', hostPath: '/var/run/docker.sock' },
    { name: 'docker-api', host: { sourcePath: '/run/docker.sock' } },
    { name: 'var-run', hostPath: '/var/run/' },
    { name: 'host-root', host: { sourcePath: '/' } },
    { name: 'run-berth', hostPath: '/run/berth' },
  ];

  it('passes mounts of data and EFS volumes, a socket volume no container mounts, and harmless capabilities', async () => {
    const container = ecsContainer({
      mountPoints: [
        { sourceVolume: 'data', containerPath: '/data' },
        { sourceVolume: 'shared', containerPath: '/shared', readOnly: true },
        // A directory below /run that does not hold the socket.
        { sourceVolume: 'run-berth', containerPath: '/run/berth' },
      ],
      linuxParameters: { capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] } },
    });
    expect(await violationsOf(noPrivilegedContainers, task([container, ecsContainer({ name: 'envoy', privileged: false })], { volumes }))).toEqual([]);
  });

  it('reports a privileged container, with no exemption', async () => {
    expect(await violationsOf(noPrivilegedContainers, task([ecsContainer({ privileged: true })]))).toEqual([`api-service-task: container api-service is privileged; drop privileged ${exemption}`]);
  });

  it('reports a mount of a task volume that is the Docker socket, by hostPath or host.sourcePath', async () => {
    const container = ecsContainer({
      name: 'log-router',
      mountPoints: [
        { sourceVolume: 'data', containerPath: '/data' },
        { sourceVolume: 'docker', containerPath: '/var/run/docker.sock' },
        { sourceVolume: 'docker-api', containerPath: '/run/docker.sock', readOnly: true },
      ],
    });
    expect(await violationsOf(noPrivilegedContainers, task([container], { volumes }))).toEqual([
      `api-service-task: container log-router mounts the Docker socket (/var/run/docker.sock, task volume docker); remove the mount ${exemption}`,
      `api-service-task: container log-router mounts the Docker socket (/run/docker.sock, task volume docker-api); remove the mount ${exemption}`,
    ]);
  });

  it('reports a mount of a host directory the Docker socket is in, the host root included', async () => {
    const container = ecsContainer({
      name: 'log-router',
      mountPoints: [
        { sourceVolume: 'var-run', containerPath: '/host/var/run' },
        { sourceVolume: 'host-root', containerPath: '/host', readOnly: true },
      ],
    });
    expect(await violationsOf(noPrivilegedContainers, task([container], { volumes }))).toEqual([
      `api-service-task: container log-router mounts the Docker socket (/var/run/, task volume var-run); remove the mount ${exemption}`,
      `api-service-task: container log-router mounts the Docker socket (/, task volume host-root); remove the mount ${exemption}`,
    ]);
  });

  it('reports SYS_ADMIN and ALL added, however Docker would take them', async () => {
    const container = ecsContainer({ linuxParameters: { capabilities: { add: ['NET_ADMIN', 'SYS_ADMIN', 'ALL', 'cap_sys_admin'] } } });
    expect(await violationsOf(noPrivilegedContainers, task([container]))).toEqual([
      `api-service-task: container api-service adds capability SYS_ADMIN; remove it from linuxParameters.capabilities.add ${exemption}`,
      `api-service-task: container api-service adds capability ALL; remove it from linuxParameters.capabilities.add ${exemption}`,
      `api-service-task: container api-service adds capability cap_sys_admin; remove it from linuxParameters.capabilities.add ${exemption}`,
    ]);
  });

  it('still checks the containers when the volumes are not known yet', async () => {
    const props = engine.unknownCheckingProxy(taskProps([ecsContainer({ privileged: true, mountPoints: [{ sourceVolume: 'docker', containerPath: '/var/run/docker.sock' }] })], { volumes: engine.unknownStringValue }));
    expect(await violationsOf(noPrivilegedContainers, { type: TYPES.taskDefinition, name: 'api-service-task', props })).toEqual([`api-service-task: container api-service is privileged; drop privileged ${exemption}`]);
  });
});

describe('policy: ECS containers log to CloudWatch', () => {
  it('passes awslogs with a log group', async () => {
    expect(await violationsOf(ecsAwslogs, task([ecsContainer(), ecsContainer({ name: 'envoy' })]))).toEqual([]);
  });

  it('reports no log driver, another driver, and awslogs with no or an empty group', async () => {
    const containers = [
      ecsContainer({ logConfiguration: undefined }),
      ecsContainer({ name: 'envoy', logConfiguration: { logDriver: 'json-file', options: { 'max-size': '10m' } } }),
      ecsContainer({ name: 'log-router', logConfiguration: { logDriver: 'awslogs' } }),
      ecsContainer({ name: 'sidecar', logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': ' ', 'awslogs-region': 'eu-west-1' } } }),
    ];
    expect(await violationsOf(ecsAwslogs, task(containers))).toEqual([
      'api-service-task: container api-service has no log driver; set logConfiguration.logDriver to "awslogs" with an awslogs-group option',
      'api-service-task: container envoy has log driver "json-file"; set logConfiguration.logDriver to "awslogs" with an awslogs-group option',
      'api-service-task: container log-router logs with awslogs to no log group; set logConfiguration.options["awslogs-group"]',
      'api-service-task: container sidecar logs with awslogs to no log group; set logConfiguration.options["awslogs-group"]',
    ]);
  });

  it('ignores other resource types', async () => {
    expect(await violationsOf(ecsAwslogs, { type: TYPES.command, props: spec({}) })).toEqual([]);
  });
});

describe('policy: ECS log groups are declared with retention', () => {
  const group = (name: string, props: Record<string, any>) => linked(TYPES.logGroup, name, props);
  const apiLogs = group('api-service-logs', { name: API_LOGS, retentionInDays: 90 });
  const taskOf = (containers: Record<string, unknown>[]) => linked(TYPES.taskDefinition, 'api-service-task', taskProps(containers));

  it('passes containers that log to groups the stack declares with retention', async () => {
    const envoyLogs = group('envoy-logs', { name: '/berth/prod/envoy', retentionInDays: 7 });
    expect(await stackViolationsOf(ecsLogGroupRetention, [apiLogs, envoyLogs, taskOf([ecsContainer(), ecsContainer({ name: 'envoy', logConfiguration: awslogs('/berth/prod/envoy') })])])).toEqual([]);
  });

  it('reports a group the stack does not declare, against the task definition', async () => {
    const definition = taskOf([ecsContainer({ logConfiguration: awslogs('/berth/prod/api') })]);
    expect(await stackViolationsOf(ecsLogGroupRetention, [apiLogs, group('unnamed-logs', { retentionInDays: 90 }), definition])).toEqual([
      { message: 'api-service-task: container api-service logs to log group /berth/prod/api, which this stack does not declare; declare it (aws.cloudwatch.LogGroup with name = /berth/prod/api) with retentionInDays', urn: definition.urn },
    ]);
  });

  it("reports a declared group without retention, by berth-log-retention's rule (0 never expires)", async () => {
    const definition = taskOf([ecsContainer(), ecsContainer({ name: 'envoy', logConfiguration: awslogs('/berth/prod/envoy') })]);
    const resources = [group('api-service-logs', { name: API_LOGS }), group('envoy-logs', { name: '/berth/prod/envoy', retentionInDays: 0 }), definition];
    expect(await stackViolationsOf(ecsLogGroupRetention, resources)).toEqual([
      { message: `api-service-task: container api-service logs to log group ${API_LOGS} (api-service-logs), which has no retention; set retentionInDays on api-service-logs`, urn: definition.urn },
      { message: 'api-service-task: container envoy logs to log group /berth/prod/envoy (envoy-logs), which has no retention; set retentionInDays on envoy-logs', urn: definition.urn },
    ]);
  });

  it('leaves containers without an awslogs group to berth-ecs-awslogs', async () => {
    const containers = [ecsContainer({ logConfiguration: undefined }), ecsContainer({ name: 'envoy', logConfiguration: { logDriver: 'json-file', options: { 'awslogs-group': '/berth/prod/envoy' } } })];
    expect(await stackViolationsOf(ecsLogGroupRetention, [taskOf(containers)])).toEqual([]);
  });

  it('reports neither while a group name or retention is not known yet', async () => {
    const unknownName = linked(TYPES.logGroup, 'other-logs', engine.unknownCheckingProxy({ name: engine.unknownStringValue, retentionInDays: 30 }));
    const unknownDays = linked(TYPES.logGroup, 'api-service-logs', engine.unknownCheckingProxy({ name: API_LOGS, retentionInDays: engine.unknownNumberValue }));
    expect(await stackViolationsOf(ecsLogGroupRetention, [unknownName, taskOf([ecsContainer({ logConfiguration: awslogs('/berth/prod/api') })])])).toEqual([]);
    expect(await stackViolationsOf(ecsLogGroupRetention, [unknownDays, taskOf([ecsContainer()])])).toEqual([]);
  });
});

describe('policy: no host namespaces', () => {
  it('passes bridge networking and task-scoped pid and ipc namespaces', async () => {
    expect(await violationsOf(noHostNamespaces, task([ecsContainer()]))).toEqual([]);
    expect(await violationsOf(noHostNamespaces, task([ecsContainer()], { pidMode: 'task', ipcMode: 'none' }))).toEqual([]);
  });

  it('reports each of networkMode, pidMode and ipcMode set to host', async () => {
    expect(await violationsOf(noHostNamespaces, task([ecsContainer()], { networkMode: 'host', pidMode: 'host', ipcMode: 'host' }))).toEqual([
      'api-service-task: networkMode is "host", so its containers share the host\'s network stack; use "bridge"',
      'api-service-task: pidMode is "host", so its containers share the host\'s processes; leave pidMode unset, or "task"',
      'api-service-task: ipcMode is "host", so its containers share the host\'s shared memory; leave ipcMode unset, or "task" or "none"',
    ]);
  });

  it('reports nothing for a mode not known yet', async () => {
    const props = engine.unknownCheckingProxy(taskProps([ecsContainer()], { networkMode: engine.unknownStringValue, pidMode: 'host' }));
    expect(await violationsOf(noHostNamespaces, { type: TYPES.taskDefinition, name: 'api-service-task', props })).toEqual([
      'api-service-task: pidMode is "host", so its containers share the host\'s processes; leave pidMode unset, or "task"',
    ]);
  });

  it('ignores other resource types', async () => {
    expect(await violationsOf(noHostNamespaces, { type: TYPES.instance, props: { networkMode: 'host' } })).toEqual([]);
  });
});

describe('policy: IMDSv2 and encrypted volumes, in launch templates', () => {
  const template = (props: Record<string, any>) => ({
    type: TYPES.launchTemplate,
    name: 'prod-ecs-hosts',
    props: { imageId: 'ami-0a1b2c3d4e5f60718', metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled' }, blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'true', volumeSize: 30 } }], ...props },
  });

  it('passes a template that requires tokens and encrypts every EBS volume, with encrypted as the provider\'s string or as true', async () => {
    expect(await violationsOf(imdsv2Required, template({}))).toEqual([]);
    const mappings = [{ deviceName: '/dev/xvda', ebs: { encrypted: true } }, { deviceName: '/dev/sdb', ebs: { encrypted: 'true', volumeSize: 100 } }, { deviceName: '/dev/sdc', virtualName: 'ephemeral0' }];
    expect(await violationsOf(encryptedRootVolume, template({ blockDeviceMappings: mappings }))).toEqual([]);
  });

  it('reports optional or missing IMDSv2 tokens, as for an instance', async () => {
    expect(await violationsOf(imdsv2Required, template({ metadataOptions: { httpTokens: 'optional' } }))).toEqual(['prod-ecs-hosts: metadataOptions.httpTokens is "optional"; IMDSv2 needs "required"']);
    expect(await violationsOf(imdsv2Required, template({ metadataOptions: undefined }))).toEqual(['prod-ecs-hosts: metadataOptions.httpTokens is null; IMDSv2 needs "required"']);
  });

  it('reports each EBS volume not encrypted, by device name or else by index', async () => {
    const mappings = [{ deviceName: '/dev/xvda', ebs: { encrypted: 'false', volumeSize: 30 } }, { deviceName: '/dev/sdc', virtualName: 'ephemeral0' }, { ebs: { volumeSize: 100 } }];
    expect(await violationsOf(encryptedRootVolume, template({ blockDeviceMappings: mappings }))).toEqual([
      'prod-ecs-hosts: EBS volume /dev/xvda is not encrypted; set blockDeviceMappings[0].ebs.encrypted to "true"',
      'prod-ecs-hosts: EBS volume blockDeviceMappings[2] is not encrypted; set blockDeviceMappings[2].ebs.encrypted to "true"',
    ]);
  });

  it("reports a template that maps no EBS volume, leaving the root volume to the AMI's snapshot", async () => {
    const none = 'prod-ecs-hosts: launch template maps no EBS volume, so nothing encrypts the root volume; add blockDeviceMappings for the AMI\'s root device with ebs.encrypted "true"';
    expect(await violationsOf(encryptedRootVolume, template({ blockDeviceMappings: undefined }))).toEqual([none]);
    expect(await violationsOf(encryptedRootVolume, template({ blockDeviceMappings: [{ deviceName: '/dev/sdc', virtualName: 'ephemeral0' }] }))).toEqual([none]);
  });
});

describe('ECS policies over offline synth', () => {
  const ecsStack = (): SynthResult => ({
    stack: 'prod',
    resources: [
      { type: TYPES.launchTemplate, name: 'prod-ecs-hosts', parent: null, inputs: { metadataOptions: { httpTokens: 'required' }, blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'true' } }] } },
      { type: TYPES.logGroup, name: 'api-service-logs', parent: null, inputs: { name: API_LOGS, retentionInDays: 90 } },
      { type: TYPES.taskDefinition, name: 'api-service-task', parent: null, propertyDependencies: { containerDefinitions: ['api-service-logs'] }, inputs: taskProps([ecsContainer()]) },
    ],
  });

  it('passes a stack of compliant task definitions, log groups and launch templates', async () => {
    expect(await runPoliciesOffline(ecsStack())).toEqual([]);
  });

  it('reports each broken ECS resource through the pack, naming the resource', async () => {
    const result = ecsStack();
    const [template, logs, definition] = result.resources;
    template.inputs.metadataOptions = { httpTokens: 'optional' };
    template.inputs.blockDeviceMappings = [{ deviceName: '/dev/xvda', ebs: { encrypted: 'false' } }];
    delete logs.inputs.retentionInDays;
    definition.inputs = taskProps([ecsContainer({ image: 'berth/api-service:main', privileged: true }), ecsContainer({ name: 'envoy', logConfiguration: undefined })], { networkMode: 'host' });
    const of = (resource: RecordedResource, policy: string, message: string) => ({ policy, resource: resource.name, type: resource.type, message });
    expect(await runPoliciesOffline(result)).toEqual([
      of(definition, 'berth-images-pinned-by-digest', 'api-service-task: container api-service runs image "berth/api-service:main", not pinned by digest; a task definition runs only repo@sha256:<64 hex>, in every stack (resolve the tag to its digest before writing it)'),
      of(template, 'berth-imdsv2-required', 'prod-ecs-hosts: metadataOptions.httpTokens is "optional"; IMDSv2 needs "required"'),
      of(template, 'berth-encrypted-root-volume', 'prod-ecs-hosts: EBS volume /dev/xvda is not encrypted; set blockDeviceMappings[0].ebs.encrypted to "true"'),
      of(logs, 'berth-log-retention', 'api-service-logs: log group has no retention; set retentionInDays'),
      of(definition, 'berth-no-privileged-containers', 'api-service-task: container api-service is privileged; drop privileged (a task definition has no allowPrivilegedReason to exempt it)'),
      of(definition, 'berth-no-host-namespaces', 'api-service-task: networkMode is "host", so its containers share the host\'s network stack; use "bridge"'),
      of(definition, 'berth-ecs-awslogs', 'api-service-task: container envoy has no log driver; set logConfiguration.logDriver to "awslogs" with an awslogs-group option'),
      of(definition, 'berth-ecs-log-group-retention', `api-service-task: container api-service logs to log group ${API_LOGS} (api-service-logs), which has no retention; set retentionInDays on api-service-logs`),
    ]);
  });
});

describe('the policy pack', () => {
  it('has eighteen uniquely named, mandatory policies', () => {
    const names = policies.map((policy) => policy.name);
    expect(names).toHaveLength(18);
    expect(new Set(names).size).toBe(18);
    expect(names.slice(11)).toEqual([
      'berth-lb-access-logs',
      'berth-lb-deletion-protection-in-prod',
      'berth-lb-https-only',
      'berth-no-service-port-from-internet',
      'berth-no-host-namespaces',
      'berth-ecs-awslogs',
      'berth-ecs-log-group-retention',
    ]);
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
    { type: TYPES.securityGroup, name: 'edge-lb', parent: null, inputs: { ingress: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }] } },
    {
      type: TYPES.loadBalancer,
      name: 'edge',
      parent: null,
      propertyDependencies: { securityGroups: ['edge-lb'] },
      inputs: { internal: false, securityGroups: ['sg-0a1b'], accessLogs: { enabled: true, bucket: 'berth-prod-lb-logs' }, enableDeletionProtection: true },
    },
    { type: TYPES.listener, name: 'edge-https', parent: null, propertyDependencies: { loadBalancerArn: ['edge'] }, inputs: { port: 443, protocol: 'HTTPS', certificateArn: CERTIFICATE, defaultActions: FORWARD } },
    { type: TYPES.listener, name: 'edge-http', parent: null, propertyDependencies: { loadBalancerArn: ['edge'] }, inputs: { port: 80, protocol: 'HTTP', defaultActions: REDIRECT_TO_HTTPS } },
    { type: TYPES.launchTemplate, name: 'ecs-hosts', parent: null, inputs: { metadataOptions: { httpTokens: 'required' }, blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'true' } }] } },
  ];
  /** A task definition comes with the log group it writes to (prod has log groups already, so that one cannot be told apart by type). */
  const taskStandIns: RecordedResource[] = [
    { type: TYPES.logGroup, name: 'ecs-api-service-logs', parent: null, inputs: { name: '/berth/prod/ecs/api-service', retentionInDays: 90 } },
    { type: TYPES.taskDefinition, name: 'api-service-task', parent: null, inputs: taskProps([ecsContainer({ logConfiguration: awslogs('/berth/prod/ecs/api-service') })]) },
  ];

  async function prodWithEveryKind(): Promise<SynthResult> {
    const result = await synthStack('prod');
    for (const standIn of standIns) {
      const present = result.resources.some((resource) => resource.type === standIn.type && (standIn.type !== TYPES.command || agentSpecOf(resource.inputs)));
      if (!present) {
        result.resources.push(structuredClone(standIn));
      }
    }
    if (!result.resources.some((resource) => resource.type === TYPES.taskDefinition)) {
      result.resources.push(...structuredClone(taskStandIns));
    }
    return result;
  }

  it('a broken prod reports each violation, naming the resource', async () => {
    const result = await prodWithEveryKind();
    expect(await runPoliciesOffline(result)).toEqual([]);

    const expected: { policy: string; resource: string }[] = [];
    for (const resource of result.resources) {
      const inputs = resource.inputs as Record<string, any>;
      if (resource.type === TYPES.instance || resource.type === TYPES.launchTemplate) {
        inputs.metadataOptions = { ...inputs.metadataOptions, httpTokens: 'optional' };
        expected.push({ policy: 'berth-imdsv2-required', resource: resource.name });
      } else if (resource.type === TYPES.taskDefinition) {
        inputs.networkMode = 'host';
        expected.push({ policy: 'berth-no-host-namespaces', resource: resource.name });
        const containers = taskContainers(inputs);
        if (containers) {
          inputs.containerDefinitions = JSON.stringify(containers.map((container) => ({ ...container, image: String(container.image).replace(/@sha256:[0-9a-f]{64}$/, ':latest'), privileged: true })));
          expected.push({ policy: 'berth-images-pinned-by-digest', resource: resource.name }, { policy: 'berth-no-privileged-containers', resource: resource.name });
        }
      } else if (resource.type === TYPES.volume) {
        inputs.encrypted = false;
        expected.push({ policy: 'berth-encrypted-data-volume', resource: resource.name });
      } else if (resource.type === TYPES.securityGroup) {
        inputs.ingress = [...(inputs.ingress ?? []), { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] }, { protocol: 'tcp', fromPort: 8080, toPort: 8080, cidrBlocks: ['0.0.0.0/0'] }];
        expected.push({ policy: 'berth-no-ssh-from-internet', resource: resource.name }, { policy: 'berth-no-service-port-from-internet', resource: resource.name });
      } else if (resource.type === TYPES.loadBalancer) {
        // Internet-facing, so that every listener must be HTTPS or redirect to it.
        inputs.internal = false;
        inputs.accessLogs = { ...(inputs.accessLogs as object), enabled: false };
        inputs.enableDeletionProtection = false;
        expected.push({ policy: 'berth-lb-access-logs', resource: resource.name }, { policy: 'berth-lb-deletion-protection-in-prod', resource: resource.name });
      } else if (resource.type === TYPES.listenerRule) {
        const listener = result.resources.find((other) => other.type === TYPES.listener && (resource.propertyDependencies?.listenerArn ?? []).includes(other.name));
        if (String(listener?.inputs.protocol).toUpperCase() === 'HTTP') {
          // A rule that forwards on an HTTP listener now faces the internet.
          expected.push({ policy: 'berth-lb-https-only', resource: resource.name });
        }
      } else if (resource.type === TYPES.listener) {
        if (String(inputs.protocol).toUpperCase() === 'HTTPS') {
          delete inputs.certificateArn;
        } else {
          inputs.defaultActions = FORWARD;
        }
        expected.push({ policy: 'berth-lb-https-only', resource: resource.name });
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
    for (const policy of [
      'berth-imdsv2-required',
      'berth-encrypted-data-volume',
      'berth-no-ssh-from-internet',
      'berth-images-pinned-by-digest',
      'berth-no-privileged-containers',
      'berth-agent-spec-valid',
      'berth-lb-access-logs',
      'berth-lb-deletion-protection-in-prod',
      'berth-lb-https-only',
      'berth-no-service-port-from-internet',
      'berth-no-host-namespaces',
    ]) {
      expect(found.some((violation) => violation.policy === policy)).toBe(true);
    }
  });

  it("links each input to the resources synth names in propertyDependencies, so stack policies see a listener's load balancer and a rule's group", async () => {
    const result: SynthResult = {
      stack: 'dev',
      resources: [
        { type: TYPES.securityGroup, name: 'edge', parent: null, inputs: { ingress: [] } },
        { type: TYPES.ingressRule, name: 'edge-443', parent: null, propertyDependencies: { securityGroupId: [`${TYPES.securityGroup}::edge`] }, inputs: { ipProtocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/0' } },
        { type: TYPES.ingressRule, name: 'edge-8443', parent: null, propertyDependencies: { securityGroupId: [`${TYPES.securityGroup}::edge`] }, inputs: { ipProtocol: 'tcp', fromPort: 8443, toPort: 8443, cidrIpv4: '0.0.0.0/0' } },
        {
          type: TYPES.loadBalancer,
          name: 'edge',
          parent: null,
          propertyDependencies: { securityGroups: [`${TYPES.securityGroup}::edge`] },
          inputs: { internal: false, accessLogs: { enabled: true, bucket: 'berth-dev-lb-logs' } },
        },
        { type: TYPES.listener, name: 'edge-http', parent: null, propertyDependencies: { loadBalancerArn: [`${TYPES.loadBalancer}::edge`] }, inputs: { port: 80, protocol: 'HTTP', defaultActions: FORWARD } },
      ],
    };
    expect(await runPoliciesOffline(result)).toEqual([
      {
        policy: 'berth-lb-https-only',
        resource: 'edge-http',
        type: TYPES.listener,
        message: 'edge-http: HTTP listener on port 80 of internet-facing load balancer edge serves plain HTTP; make it HTTPS with a certificate, or redirect to HTTPS (defaultActions: redirect with protocol HTTPS)',
      },
      {
        policy: 'berth-no-service-port-from-internet',
        resource: 'edge-8443',
        type: TYPES.ingressRule,
        message: 'edge-8443: ingress tcp 8443-8443 from 0.0.0.0/0 on internet-facing load balancer edge: only TCP 80 and 443 may be open to anyone',
      },
    ]);
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
