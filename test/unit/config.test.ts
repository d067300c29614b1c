import { ConfigError, readStackFile, validateStackConfig, ENVIRONMENTS, parseRuntimeConfig, toRuntimeConfig } from '../../stacks/config';
import { CatalogueService } from '../../stacks/catalogue';

/** A deep copy of a stack file's config, to break in one place per test. */
function configOf(stack: string): Record<string, any> {
  return JSON.parse(JSON.stringify(readStackFile(stack).config));
}

function errorsOf(stack: string, raw: Record<string, unknown>, options = {}): string[] {
  try {
    validateStackConfig(stack, raw, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).errors;
  }
  throw new Error('expected the config to be refused');
}

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
      'Pulumi.dev.yaml: berth:servcies: unknown key "servcies" (berth keys are: network, registryStack, hostGroups, services, logging, monitoring, prune, ssh, followTags, sshPrivateKey, secrets)',
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
    expect(errorsOf('prod', configOf('prod'), { catalogue })).toEqual([
      'Pulumi.prod.yaml: berth:services.auth-service.hostGroup: host port 8080 on host group "app" is already published by api-service',
    ]);
  });

  it('refuses a config file that does not exist, and a path instead of a file name', () => {
    const raw = configOf('prod');
    raw['berth:services']['auth-service'].configFile = 'application-production.properties';
    raw['berth:services']['api-service'].configFile = '../auth-service/application-prod.properties';
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:services.api-service.configFile: a file name in stacks/config/api-service/, got "../auth-service/application-prod.properties"',
      'Pulumi.prod.yaml: berth:services.auth-service.configFile: file stacks/config/auth-service/application-production.properties does not exist',
    ]);
  });

  it('refuses an unknown stack name', () => {
    expect(errorsOf('qa', configOf('dev'))).toEqual(['Pulumi.qa.yaml: unknown stack "qa": expected one of dev, test, stage, prod']);
    expect(() => readStackFile('production')).toThrow('Pulumi.production.yaml: unknown stack "production": expected one of dev, test, stage, prod');
  });

  it('refuses a service missing from the catalogue', () => {
    const raw = configOf('dev');
    raw['berth:services']['billing-service'] = { image: PINNED, hostGroup: 'app', configFile: 'application-dev.properties' };
    expect(errorsOf('dev', raw)).toEqual([
      'Pulumi.dev.yaml: berth:services.billing-service: no service "billing-service" in the catalogue (stacks/catalogue.ts); known services: api-service, auth-service, report-worker',
      'Pulumi.dev.yaml: berth:services.billing-service.configFile: file stacks/config/billing-service/application-dev.properties does not exist',
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
