import { readStackFile, validateStackConfig, ENVIRONMENTS, parseRuntimeConfig, toRuntimeConfig } from '../../stacks/env/config';
import { generateKeyPairSync } from 'crypto';
import { catalogue as defaultCatalogue, CatalogueService } from '../../stacks/env/catalogue';
import { configOf, errorsOf } from '../support/stackConfig';


const PINNED = 'berth/auth-service@sha256:' + 'ab'.repeat(32);

describe('stack config validation', () => {
  it.each(ENVIRONMENTS)('accepts the example %s stack', (stack) => {
    const config = validateStackConfig(stack, readStackFile(stack).config);
    expect(config.env).toBe(stack);
    expect(config.services.map((service) => service.name)).toEqual(['api-service', 'auth-service', 'report-worker']);
    expect(config.hostGroups.map((group) => group.name)).toEqual(['app', 'workers']);
  });

  it('applies defaults: data volumes retained in stage and prod only, replicas on every host', () => {
    expect(validateStackConfig('dev', configOf('dev')).hostGroups[0].retainDataVolume).toBe(false);
    expect(validateStackConfig('test', configOf('test')).hostGroups[0].retainDataVolume).toBe(false);
    const prod = validateStackConfig('prod', configOf('prod'));
    expect(prod.hostGroups[0].retainDataVolume).toBe(true);
    expect(prod.services.find((service) => service.name === 'api-service')?.replicas).toBe(3);
  });

  it('refuses a tag-only image in prod with the file, key and expectation', () => {
    const raw = configOf('prod');
    raw['berth:services']['auth-service'].image = 'auth-service:latest';
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:services.auth-service.image: stage and prod need an image pinned by digest (repo@sha256:<64 hex>), got "auth-service:latest"',
    ]);
  });

  it('refuses a tag-only image in stage, and in test, and in dev unless followTags is set', () => {
    for (const stack of ['stage', 'test']) {
      const raw = configOf(stack);
      raw['berth:services']['api-service'].image = 'berth/api-service:main';
      expect(errorsOf(stack, raw)).toHaveLength(1);
    }
    const dev = configOf('dev');
    delete dev['berth:followTags'];
    expect(errorsOf('dev', dev)).toEqual([
      'Pulumi.dev.yaml: berth:services.auth-service.image: an image pinned by digest (repo@sha256:<64 hex>), or set berth:followTags to true to follow a tag in dev, got "berth/auth-service:main"',
    ]);
  });

  it('refuses followTags outside dev', () => {
    const raw = configOf('test');
    raw['berth:followTags'] = true;
    expect(errorsOf('test', raw)).toEqual(['Pulumi.test.yaml: berth:followTags: only dev may follow tags; test runs images pinned by digest']);
  });

  it('refuses a malformed digest', () => {
    const raw = configOf('stage');
    raw['berth:services']['auth-service'].image = 'berth/auth-service@sha256:abc123';
    expect(errorsOf('stage', raw)).toEqual([
      'Pulumi.stage.yaml: berth:services.auth-service.image: an image repo@sha256:<64 hex>: malformed digest "sha256:abc123": expected sha256:<64 lowercase hex>, got "berth/auth-service@sha256:abc123"',
    ]);
  });

  it('refuses unknown keys at every level, naming them', () => {
    const raw = configOf('dev');
    raw['berth:servcies'] = {};
    raw['berth:services']['api-service'].imgae = PINNED;
    raw['berth:hostGroups'].app.instancetype = 't3.small';
    expect(errorsOf('dev', raw)).toEqual([
      'Pulumi.dev.yaml: berth:hostGroups.app: unknown key "instancetype"',
      'Pulumi.dev.yaml: berth:services.api-service: unknown key "imgae"',
      'Pulumi.dev.yaml: berth:servcies: unknown key "servcies" (berth keys are: network, registryStack, registryHost, allowedRegistries, hostGroups, services, traffic, logging, monitoring, prune, ssh, followTags, sshPublicKey, sshPrivateKey, secrets)',
    ]);
  });

  it('refuses missing required keys', () => {
    const raw = configOf('test');
    delete raw['berth:services']['api-service'].hostGroup;
    delete raw['berth:registryStack'];
    delete raw['aws:region'];
    expect(errorsOf('test', raw)).toEqual([
      'Pulumi.test.yaml: aws:region: expected an AWS region like eu-west-1, got undefined',
      'Pulumi.test.yaml: berth:registryStack: required',
      'Pulumi.test.yaml: berth:services.api-service.hostGroup: required (the host group that runs the service)',
    ]);
  });

  it('refuses a service on a host group that does not exist', () => {
    const raw = configOf('stage');
    raw['berth:services']['report-worker'].hostGroup = 'batch';
    expect(errorsOf('stage', raw)).toEqual([
      'Pulumi.stage.yaml: berth:services.report-worker.hostGroup: no host group "batch"; host groups are: app, workers',
    ]);
  });

  it('refuses two services publishing the same host port on one host group', () => {
    const service = (port: string): CatalogueService => ({
      ports: [`${port}:8080`],
      health: { cmd: 'true', timeoutSeconds: 5 },
      volumes: [],
      configTarget: '/config/application.properties',
      memoryMiB: 64,
      pidsLimit: 64,
    });
    const catalogue = { 'api-service': service('8080'), 'auth-service': service('8080'), 'report-worker': service('9090') };
    const raw = configOf('prod');
    // (TCP services of this catalogue take no route.)
    delete raw['berth:services']['api-service'].route;
    delete raw['berth:services']['auth-service'].route;
    expect(errorsOf('prod', raw, { catalogue })).toEqual([
      'Pulumi.prod.yaml: berth:services.auth-service.hostGroup: host port 8080 on host group "app" is already published by api-service',
    ]);
  });

  it('refuses a config file that does not exist, and a path instead of a file name', () => {
    const raw = configOf('prod');
    raw['berth:services']['auth-service'].configFile = 'application-production.properties';
    raw['berth:services']['api-service'].configFile = '../auth-service/application-prod.properties';
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:services.api-service.configFile: a file name in stacks/env/service-config/api-service/, got "../auth-service/application-prod.properties"',
      'Pulumi.prod.yaml: berth:services.auth-service.configFile: file stacks/env/service-config/auth-service/application-production.properties does not exist',
    ]);
  });

  it('refuses an unknown stack name', () => {
    expect(errorsOf('qa', configOf('dev'))).toEqual(['Pulumi.qa.yaml: unknown stack "qa": expected one of dev, test, stage, prod']);
    expect(() => readStackFile('production')).toThrow('Pulumi.production.yaml: unknown stack "production": expected one of dev, test, stage, prod');
  });

  it('refuses a service missing from the catalogue', () => {
    const raw = configOf('dev');
    raw['berth:services']['billing-service'] = { image: PINNED.replace('auth-service', 'billing-service'), hostGroup: 'app', configFile: 'application-dev.properties' };
    expect(errorsOf('dev', raw)).toEqual([
      'Pulumi.dev.yaml: berth:services.billing-service: no service "billing-service" in the catalogue (stacks/env/catalogue.ts); known services: api-service, auth-service, report-worker',
      'Pulumi.dev.yaml: berth:services.billing-service.configFile: file stacks/env/service-config/billing-service/application-dev.properties does not exist',
    ]);
  });

  it('refuses host settings out of range: instance type, volume size, SSH from anywhere, CIDRs, public IPs in prod', () => {
    const raw = configOf('prod');
    raw['berth:hostGroups'].app.instanceType = 'large';
    raw['berth:hostGroups'].app.dataVolumeGiB = 0;
    raw['berth:hostGroups'].workers.associatePublicIp = true;
    raw['berth:network'].adminCidrs = ['0.0.0.0/0', '10.1.0.0/33'];
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:network.adminCidrs[1]: expected a CIDR block: prefix /33 is longer than the 32 bits of an IPv4 address',
      'Pulumi.prod.yaml: berth:hostGroups.app.instanceType: expected an EC2 instance type like t3.small or m7g.large',
      'Pulumi.prod.yaml: berth:hostGroups.app.dataVolumeGiB: expected a data volume of at least 1 GiB',
      'Pulumi.prod.yaml: berth:network.adminCidrs[0]: SSH is never open to 0.0.0.0/0; name your admin networks or use a bastion security group',
      'Pulumi.prod.yaml: berth:hostGroups.workers.associatePublicIp: prod hosts get no public IP unless publicIpReason says why',
    ]);
  });

  it('refuses a prune schedule that is not a systemd calendar expression, and SSH from ::/0', () => {
    const raw = configOf('stage');
    raw['berth:prune'].schedule = 'every night at 3';
    raw['berth:network'].adminCidrs = ['::/0'];
    expect(errorsOf('stage', raw)).toEqual([
      'Pulumi.stage.yaml: berth:prune.schedule: expected a systemd calendar expression (OnCalendar=), e.g. daily, weekly, Sun *-*-* 03:00:00 or *-*-* 04:30:00',
      'Pulumi.stage.yaml: berth:network.adminCidrs[0]: SSH is never open to ::/0; name your admin networks or use a bastion security group',
    ]);
  });

  it('pins a host group to an AMI when asked, and refuses anything that is not an AMI id', () => {
    const raw = configOf('prod');
    raw['berth:hostGroups'].app.ami = 'ami-0123456789abcdef0';
    expect(validateStackConfig('prod', raw).hostGroups.find((group) => group.name === 'app')?.ami).toBe('ami-0123456789abcdef0');
    expect(validateStackConfig('prod', configOf('prod')).hostGroups[0].ami).toBeUndefined();
    raw['berth:hostGroups'].app.ami = 'al2023-latest';
    expect(errorsOf('prod', raw)).toEqual(['Pulumi.prod.yaml: berth:hostGroups.app.ami: expected an AMI id like ami-0123456789abcdef0']);
  });

  it('refuses an SSH user other than the one EC2 authorises the key pair for', () => {
    const raw = configOf('dev');
    raw['berth:ssh'] = { user: 'deploy' };
    expect(errorsOf('dev', raw)).toEqual(['Pulumi.dev.yaml: berth:ssh.user: expected ec2-user: the user EC2 authorises the key pair for on Amazon Linux 2023']);
  });

  it('reports every problem of one file in one run', () => {
    const raw = configOf('prod');
    raw['berth:services']['auth-service'].image = 'auth-service:latest';
    raw['berth:services']['api-service'].hostGroup = 'nowhere';
    raw['berth:services']['report-worker'].configFile = 'missing.properties';
    raw['berth:typo'] = true;
    expect(errorsOf('prod', raw)).toHaveLength(4);
  });

  it('round-trips the runtime encoding of structured config values', () => {
    const raw = configOf('stage');
    expect(parseRuntimeConfig(toRuntimeConfig(raw))).toEqual(raw);
  });
});

const REGISTRY_HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const OTHER_HOST = '210987654321.dkr.ecr.eu-west-1.amazonaws.com';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('images and the registry they come from', () => {
  it('refuses an image written with a registry host when berth:registryHost does not name it', () => {
    const raw = configOf('prod');
    raw['berth:services']['auth-service'].image = `${REGISTRY_HOST}/berth/auth-service@${DIGEST}`;
    expect(errorsOf('prod', raw)).toEqual([
      `Pulumi.prod.yaml: berth:services.auth-service.image: an image of the registry stack's registry, written without a host (berth/auth-service@sha256:<64 hex>) or with the host set in berth:registryHost; an image from another registry needs its host in berth:allowedRegistries; got "${REGISTRY_HOST}/berth/auth-service@${DIGEST}"`,
    ]);
  });

  it("refuses an image of another host than berth:registryHost, and accepts the stack's own", () => {
    const raw = configOf('stage');
    raw['berth:registryHost'] = REGISTRY_HOST;
    raw['berth:services']['auth-service'].image = `${OTHER_HOST}/berth/auth-service@${DIGEST}`;
    raw['berth:services']['api-service'].image = `${REGISTRY_HOST}/berth/api-service@${DIGEST}`;
    expect(errorsOf('stage', raw)).toEqual([
      `Pulumi.stage.yaml: berth:services.auth-service.image: an image of the registry stack's registry ${REGISTRY_HOST} (berth:registryHost); an image from another registry needs its host in berth:allowedRegistries; got "${OTHER_HOST}/berth/auth-service@${DIGEST}"`,
    ]);
    raw['berth:services']['auth-service'].image = `berth/auth-service@${DIGEST}`;
    const config = validateStackConfig('stage', raw);
    expect(config.registryHost).toBe(REGISTRY_HOST);
    expect(config.services.find((service) => service.name === 'api-service')?.image).toBe(`${REGISTRY_HOST}/berth/api-service@${DIGEST}`);
  });

  it("refuses a repository of the registry stack's registry that is not berth/<service>, with or without the host", () => {
    const raw = configOf('test');
    raw['berth:registryHost'] = REGISTRY_HOST;
    raw['berth:services']['auth-service'].image = `berth/api-service@${DIGEST}`;
    raw['berth:services']['report-worker'].image = `${REGISTRY_HOST}/reports/worker@${DIGEST}`;
    expect(errorsOf('test', raw)).toEqual([
      `Pulumi.test.yaml: berth:services.auth-service.image: the repository berth/auth-service of the registry stack's registry, got "berth/api-service" in "berth/api-service@${DIGEST}" (an image from another registry needs its host in berth:allowedRegistries)`,
      `Pulumi.test.yaml: berth:services.report-worker.image: the repository berth/report-worker of the registry stack's registry, got "reports/worker" in "${REGISTRY_HOST}/reports/worker@${DIGEST}" (an image from another registry needs its host in berth:allowedRegistries)`,
    ]);
  });

  it('accepts an image of an allowed registry as it is, but no followed tag outside ECR', () => {
    const raw = configOf('dev');
    raw['berth:allowedRegistries'] = ['registry.example.com:5000', OTHER_HOST];
    raw['berth:services']['api-service'].image = `registry.example.com:5000/vendor/api@${DIGEST}`;
    raw['berth:services']['report-worker'].image = `${OTHER_HOST}/shared/report-worker:main`;
    const config = validateStackConfig('dev', raw);
    expect(config.allowedRegistries).toEqual([OTHER_HOST, 'registry.example.com:5000']);
    raw['berth:services']['api-service'].image = 'registry.example.com:5000/vendor/api:main';
    expect(errorsOf('dev', raw)).toEqual([
      'Pulumi.dev.yaml: berth:services.api-service.image: an image pinned by digest (repo@sha256:<64 hex>): registry.example.com:5000 is not an ECR registry, and only ECR tags are resolved at deploy time, got "registry.example.com:5000/vendor/api:main"',
    ]);
  });

  it('refuses a berth:registryHost that is not an ECR registry host, an allowed registry that is not a host, and the stack registry listed as allowed', () => {
    const raw = configOf('prod');
    raw['berth:registryHost'] = 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/';
    raw['berth:allowedRegistries'] = ['registry.example.com/berth'];
    expect(errorsOf('prod', raw)).toEqual([
      "Pulumi.prod.yaml: berth:registryHost: expected an ECR registry host <account>.dkr.ecr.<region>.amazonaws.com (the registry stack's registryUrl), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      'Pulumi.prod.yaml: berth:allowedRegistries[0]: expected a registry host like registry.example.com or registry.example.com:5000',
    ]);
    raw['berth:registryHost'] = REGISTRY_HOST;
    raw['berth:allowedRegistries'] = [REGISTRY_HOST];
    expect(errorsOf('prod', raw)).toEqual([
      `Pulumi.prod.yaml: berth:allowedRegistries[0]: ${REGISTRY_HOST} is the registry stack's registry (berth:registryHost), whose images get pull permission; list only other registries`,
    ]);
  });
});

/** An SSH wire-format string (RFC 4251 §5): uint32 length, then the bytes. */
function wireString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** A fresh ed25519 key pair: the private key as PKCS#8 PEM, the public key as an OpenSSH line built here from the raw key. */
function ed25519Pair(comment: string): { privatePem: string; publicLine: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const blob = Buffer.concat([wireString(Buffer.from('ssh-ed25519')), wireString(raw)]).toString('base64');
  return { privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicLine: `ssh-ed25519 ${blob} ${comment}` };
}

describe('SSH keys', () => {
  it('requires berth:sshPublicKey and exposes it trimmed', () => {
    const raw = configOf('test');
    const line = raw['berth:sshPublicKey'];
    expect(validateStackConfig('test', { ...raw, 'berth:sshPublicKey': `  ${line}\n` }).sshPublicKey).toBe(line);
    delete raw['berth:sshPublicKey'];
    expect(errorsOf('test', raw)).toEqual(['Pulumi.test.yaml: berth:sshPublicKey: required (the public half of berth:sshPrivateKey, e.g. the line of ~/.ssh/berth-<env>.pub)']);
  });

  it('refuses a private key pasted as the public key without quoting it, and garbage', () => {
    const { privatePem } = ed25519Pair('pasted');
    const raw = configOf('prod');
    raw['berth:sshPublicKey'] = privatePem;
    const [pasted] = errorsOf('prod', raw);
    expect(pasted).toBe(
      'Pulumi.prod.yaml: berth:sshPublicKey: this is a private key, not a public key: give the public half (the .pub file, or what `ssh-keygen -y -f <private key file>` prints)',
    );
    raw['berth:sshPublicKey'] = 'not-a-key';
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:sshPublicKey: expected an OpenSSH public key line "<type> <base64 key> [comment]" (the .pub file), type ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 or ecdsa-sha2-nistp521; got a line starting with "not-a-key"',
    ]);
  });

  it('refuses a key type EC2 cannot import as a key pair', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]);
    const blob = Buffer.concat([wireString(Buffer.from('ecdsa-sha2-nistp256')), wireString(Buffer.from('nistp256')), wireString(point)]).toString('base64');
    const raw = configOf('stage');
    raw['berth:sshPublicKey'] = `ecdsa-sha2-nistp256 ${blob} ops`;
    expect(errorsOf('stage', raw)).toEqual([
      'Pulumi.stage.yaml: berth:sshPublicKey: an ssh-ed25519 or ssh-rsa key, the types EC2 imports as a key pair; got ecdsa-sha2-nistp256 (make one with ssh-keygen -t ed25519)',
    ]);
  });

  it('refuses a public key that is not the half of berth:sshPrivateKey when the private key is in clear, and skips the check for the offline mask', () => {
    const deploy = ed25519Pair('berth-prod');
    const other = ed25519Pair('someone-else');
    const raw = configOf('prod');
    raw['berth:sshPrivateKey'] = deploy.privatePem;
    raw['berth:sshPublicKey'] = deploy.publicLine;
    expect(validateStackConfig('prod', raw).sshPublicKey).toBe(deploy.publicLine);
    // What `pulumi up` hands the program: structured values JSON-encoded, secrets decrypted.
    expect(validateStackConfig('prod', parseRuntimeConfig(toRuntimeConfig(raw))).sshPublicKey).toBe(deploy.publicLine);
    raw['berth:sshPublicKey'] = other.publicLine;
    const errors = errorsOf('prod', raw);
    expect(errors).toEqual([
      'Pulumi.prod.yaml: berth:sshPublicKey: the public half of berth:sshPrivateKey (what `ssh-keygen -y -f <private key file>` prints); this key belongs to another key pair',
    ]);
    expect(validateStackConfig('prod', { ...raw, 'berth:sshPrivateKey': '[secret]' }).sshPublicKey).toBe(other.publicLine);
  });

  it('refuses a berth:sshPrivateKey in clear that is not a private key, without quoting it', () => {
    const raw = configOf('dev');
    raw['berth:sshPrivateKey'] = 'hunter2-not-a-key';
    const errors = errorsOf('dev', raw);
    expect(errors).toEqual([
      'Pulumi.dev.yaml: berth:sshPrivateKey: expected a private key in OpenSSH format (-----BEGIN OPENSSH PRIVATE KEY-----) or PEM (RSA PRIVATE KEY, EC PRIVATE KEY, PRIVATE KEY), with its BEGIN and END lines',
    ]);
    expect(errors.join('\n')).not.toContain('hunter2');
  });

  it('takes the bastion host key, checked the same way and only with a bastion host', () => {
    const hostKey = ed25519Pair('root@bastion').publicLine;
    const raw = configOf('stage');
    raw['berth:ssh'] = { bastionHost: 'bastion.example.com', bastionHostKey: hostKey };
    expect(validateStackConfig('stage', raw).ssh).toEqual({ user: 'ec2-user', bastionHost: 'bastion.example.com', bastionHostKey: hostKey });
    raw['berth:ssh'] = { bastionHost: 'bastion.example.com', bastionHostKey: `bastion.example.com ${hostKey}` };
    expect(errorsOf('stage', raw)).toEqual([
      "Pulumi.stage.yaml: berth:ssh.bastionHostKey: authorized_keys options before the key type are not accepted: give the key alone, starting with ssh-ed25519 (the bastion's host key: the line of its /etc/ssh/ssh_host_ed25519_key.pub, or a line of `ssh-keyscan <bastion>` without the host name)",
    ]);
    raw['berth:ssh'] = { bastionHostKey: hostKey };
    expect(errorsOf('stage', raw)).toEqual([
      'Pulumi.stage.yaml: berth:ssh.bastionHostKey: pins the host key of berth:ssh.bastionHost, which is not set: set both, or neither',
    ]);
  });
});

describe('names', () => {
  it('refuses a service name the host agent would refuse at deploy time, naming the file and key', () => {
    const raw = configOf('dev');
    raw['berth:services']['auth--svc'] = raw['berth:services']['auth-service'];
    delete raw['berth:services']['auth-service'];
    const catalogue = { ...defaultCatalogue, 'auth--svc': defaultCatalogue['auth-service'] };
    expect(errorsOf('dev', raw, { catalogue, fileExists: () => true })).toEqual([
      'Pulumi.dev.yaml: berth:services.auth--svc: a service name is lowercase letters and digits in words joined by single hyphens (e.g. auth-service), at most 48 characters; got "auth--svc"',
      'Pulumi.dev.yaml: berth:services.auth--svc.image: the repository berth/auth--svc of the registry stack\'s registry, got "berth/auth-service" in "berth/auth-service:main" (an image from another registry needs its host in berth:allowedRegistries)',
    ]);
  });

  it('refuses host group names that break the name rule or do not fit the IAM name prefix', () => {
    const raw = configOf('stage');
    raw['berth:hostGroups']['-edge'] = raw['berth:hostGroups'].workers;
    raw['berth:hostGroups']['batch-processing-jobs'] = raw['berth:hostGroups'].workers;
    raw['berth:hostGroups']['batch-processing-job'] = raw['berth:hostGroups'].workers;
    expect(errorsOf('stage', raw)).toEqual([
      'Pulumi.stage.yaml: berth:hostGroups.-edge: a host group name is lowercase letters and digits in words joined by single hyphens (e.g. app), at most 48 characters; got "-edge"',
      'Pulumi.stage.yaml: berth:hostGroups.batch-processing-jobs: a host group name of at most 20 characters in stage: it starts the IAM name prefix berth-stage-batch-processing-jobs-host-, which AWS caps at 38 characters; got 21',
    ]);
  });

  it('applies the name rule to the stack name', () => {
    expect(errorsOf('Dev', configOf('dev'))).toEqual([
      'Pulumi.Dev.yaml: unknown stack "Dev": expected one of dev, test, stage, prod (a environment name is lowercase letters and digits in words joined by single hyphens (e.g. auth-service), at most 48 characters; got "Dev")',
    ]);
  });
});
