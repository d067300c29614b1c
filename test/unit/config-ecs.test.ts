/**
 * berth:hostGroups.<g>.engine and what comes with it: the keys of each engine, what a service
 * cannot bring to an ECS group, services that move between engines (movingFrom), and the
 * circuit-breaker warning. Every refusal names its file and key.
 */
import * as path from 'path';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { catalogue as defaultCatalogue, CatalogueService } from '../../stacks/env/catalogue';
import { readStackFile, validateStackConfig } from '../../stacks/env/config';
import { configOf, errorsOf } from '../support/stackConfig';

const ECS_ROOT = path.join(PROJECT_ROOT, 'test', 'fixtures', 'ecs');

/** The ECS fixture's prod config (app: hosts; app-ecs and workers: ecs), to break in one place per test. */
function ecsConfig(): Record<string, any> {
  return JSON.parse(JSON.stringify(readStackFile('prod', ECS_ROOT).config));
}

function catalogueWith(name: string, change: Partial<CatalogueService>): Record<string, CatalogueService> {
  return { ...defaultCatalogue, [name]: { ...defaultCatalogue[name], ...change } };
}

const CIRCUIT_BREAKER = (service: string, tasks: string) =>
  `Pulumi.prod.yaml: berth:services.${service}.replicas: ${tasks} on ECS: the deployment circuit breaker rolls back only after 3 failed task starts (its minimum), more than the service has; a broken image is retried that long before the rollback (at least 3 replicas trip it sooner)`;

describe('host group engines', () => {
  it('runs a group on hosts unless it says ecs, each with its own keys', () => {
    for (const stack of ['dev', 'test', 'stage', 'prod']) {
      const config = validateStackConfig(stack, configOf(stack));
      expect(config.hostGroups.map((group) => group.engine)).toEqual(config.hostGroups.map(() => 'hosts'));
    }
    const prod = validateStackConfig('prod', configOf('prod'));
    expect(prod.hostGroups.find((group) => group.name === 'app')).toEqual({
      name: 'app',
      engine: 'hosts',
      count: 3,
      instanceType: 'm7i.large',
      dataVolumeGiB: 100,
      rootVolumeGiB: 30,
      ami: undefined,
      retainDataVolume: true,
      associatePublicIp: false,
      publicIpReason: undefined,
    });
  });

  it('reads ECS groups: maxCount defaults to count, efs to false, retain to the environment default', () => {
    const raw = ecsConfig();
    raw['berth:hostGroups'].spare = { engine: 'ecs', count: 2, instanceType: 't3.small', rootVolumeGiB: 40, retainDataVolume: false };
    const config = validateStackConfig('prod', raw);
    expect(config.hostGroups).toEqual([
      expect.objectContaining({ name: 'app', engine: 'hosts', dataVolumeGiB: 100 }),
      {
        name: 'app-ecs',
        engine: 'ecs',
        count: 2,
        maxCount: 6,
        instanceType: 'm7g.large',
        efs: true,
        rootVolumeGiB: 30,
        ami: undefined,
        retainDataVolume: true,
        associatePublicIp: false,
        publicIpReason: undefined,
      },
      {
        name: 'spare',
        engine: 'ecs',
        count: 2,
        maxCount: 2,
        instanceType: 't3.small',
        efs: false,
        rootVolumeGiB: 40,
        ami: undefined,
        retainDataVolume: false,
        associatePublicIp: false,
        publicIpReason: undefined,
      },
      expect.objectContaining({ name: 'workers', engine: 'ecs', count: 1, maxCount: 1, efs: true }),
    ]);
    expect(config.hostGroups.find((group) => group.name === 'app-ecs')).not.toHaveProperty('dataVolumeGiB');
  });

  it('refuses an engine it does not know', () => {
    const raw = configOf('prod');
    raw['berth:hostGroups'].app.engine = 'fargate';
    expect(errorsOf('prod', raw)).toEqual(['Pulumi.prod.yaml: berth:hostGroups.app.engine: expected one of hosts, ecs']);
  });

  it('requires a data volume on a hosts group, named or by default', () => {
    const raw = configOf('prod');
    delete raw['berth:hostGroups'].app.dataVolumeGiB;
    raw['berth:hostGroups'].workers.engine = 'hosts';
    delete raw['berth:hostGroups'].workers.dataVolumeGiB;
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:hostGroups.app.dataVolumeGiB: required for engine hosts: the size (GiB) of the data volume each host keeps, e.g. 100',
      'Pulumi.prod.yaml: berth:hostGroups.workers.dataVolumeGiB: required for engine hosts: the size (GiB) of the data volume each host keeps, e.g. 100',
    ]);
  });

  it('refuses a data volume on an ECS group', () => {
    const raw = ecsConfig();
    raw['berth:hostGroups']['app-ecs'].dataVolumeGiB = 100;
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:hostGroups.app-ecs.dataVolumeGiB: only for engine hosts: an ECS group has no per-host data volume (tasks move between instances); its services keep data on EFS (efs: true)',
    ]);
  });

  it('refuses a root volume smaller than the ECS AMI\'s snapshot on ECS, and takes it on hosts', () => {
    const raw = ecsConfig();
    raw['berth:hostGroups']['app-ecs'].rootVolumeGiB = 29;
    raw['berth:hostGroups'].app.rootVolumeGiB = 8;
    expect(errorsOf('prod', raw)).toEqual([
      "Pulumi.prod.yaml: berth:hostGroups.app-ecs.rootVolumeGiB: at least 30 on ECS: the ECS-optimised AMI's root snapshot (a smaller volume cannot be launched); got 29",
    ]);
    raw['berth:hostGroups']['app-ecs'].rootVolumeGiB = 30;
    expect(validateStackConfig('prod', raw).hostGroups.map((group) => [group.name, group.rootVolumeGiB])).toEqual([
      ['app', 8],
      ['app-ecs', 30],
      ['workers', 30],
    ]);
  });

  it('refuses a config file larger than an ECS task definition takes, only for a service on ECS', () => {
    const raw = ecsConfig();
    const big = (file: string) => (file.endsWith(path.join('api-service', 'application-prod.properties')) ? 'x'.repeat(32769) : 'a=1\n');
    expect(errorsOf('prod', raw, { readFile: big })).toEqual([
      'Pulumi.prod.yaml: berth:services.api-service.configFile: stacks/env/service-config/api-service/application-prod.properties: at most 32768 bytes on ECS as JSON text (it is part of the task definition, which ECS caps at 64 KiB; quotes, backslashes and line breaks count twice); got 32769',
    ]);
    // The same file on a hosts group is read by the agent, which has no such limit.
    raw['berth:services']['api-service'].hostGroup = 'app';
    expect(() => validateStackConfig('prod', raw, { readFile: big })).not.toThrow();
    // 32768 bytes fit.
    raw['berth:services']['api-service'].hostGroup = 'app-ecs';
    expect(() => validateStackConfig('prod', raw, { readFile: () => 'x'.repeat(32768) })).not.toThrow();
  });

  it('refuses maxCount below count, and accepts it equal', () => {
    const raw = ecsConfig();
    raw['berth:hostGroups']['app-ecs'].maxCount = 1;
    expect(errorsOf('prod', raw)).toEqual(['Pulumi.prod.yaml: berth:hostGroups.app-ecs.maxCount: at least count (2): the Auto Scaling group grows from count to maxCount; got 1']);
    raw['berth:hostGroups']['app-ecs'].maxCount = 2;
    expect(validateStackConfig('prod', raw).hostGroups.find((group) => group.name === 'app-ecs')).toMatchObject({ count: 2, maxCount: 2 });
  });

  it('refuses maxCount and efs on a hosts group', () => {
    const raw = ecsConfig();
    raw['berth:hostGroups'].app.maxCount = 4;
    raw['berth:hostGroups'].app.efs = false;
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:hostGroups.app.maxCount: only for engine ecs: a hosts group has exactly count hosts, each with its own data volume (set engine: ecs to use maxCount)',
      'Pulumi.prod.yaml: berth:hostGroups.app.efs: only for engine ecs: a hosts group has exactly count hosts, each with its own data volume (set engine: ecs to use efs)',
    ]);
  });

  it('refuses local logs once a group runs ECS', () => {
    const raw = ecsConfig();
    raw['berth:logging'] = { driver: 'local' };
    expect(errorsOf('prod', raw)).toEqual([
      "Pulumi.prod.yaml: berth:logging.driver: awslogs: ECS host groups (app-ecs, workers) send their tasks' logs to CloudWatch, with the stack's retention; local logs would be lost with each task",
    ]);
    // Without ECS groups local logs stay allowed.
    const hosts = configOf('prod');
    hosts['berth:logging'] = { driver: 'local' };
    expect(validateStackConfig('prod', hosts).logging.driver).toBe('local');
  });
});

describe('services on ECS', () => {
  it('refuses a service with data volumes on an ECS group without EFS', () => {
    const raw = ecsConfig();
    delete raw['berth:hostGroups']['app-ecs'].efs;
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:services.api-service.hostGroup: api-service keeps data in volumes (logs, uploads: stacks/env/catalogue.ts), and host group "app-ecs" runs ECS without EFS: ' +
        'a volume ECS manages belongs to one task and is deleted with it by default, so the data would be lost at the next deploy; set hostGroups.app-ecs.efs: true, or keep api-service on a hosts group',
    ]);
    // efs: false says the same as no efs.
    raw['berth:hostGroups']['app-ecs'].efs = false;
    expect(errorsOf('prod', raw)).toHaveLength(1);
  });

  it('refuses a TCP service (ports, no web) on ECS, and keeps it on hosts', () => {
    const catalogue = catalogueWith('report-worker', { ports: ['9100:9100', '9101:9101'] });
    expect(errorsOf('prod', ecsConfig(), { catalogue })).toEqual([
      'Pulumi.prod.yaml: berth:services.report-worker.hostGroup: report-worker is a TCP service (ports 9100, 9101, no web in stacks/env/catalogue.ts), and ECS gives each task a dynamic host port, ' +
        'which its service name (the addresses of the hosts that run it) cannot carry; give it web, or keep it on a hosts group',
    ]);
    const raw = ecsConfig();
    raw['berth:services']['report-worker'].hostGroup = 'app';
    expect(validateStackConfig('prod', raw, { catalogue }).services.find((service) => service.name === 'report-worker')!.hostGroup).toBe('app');
  });

  it('takes a service with no published port or with a web endpoint on ECS', () => {
    const config = validateStackConfig('prod', ecsConfig());
    expect(config.services.map((service) => [service.name, service.hostGroup, service.replicas])).toEqual([
      ['api-service', 'app-ecs', 3],
      ['auth-service', 'app', 3],
      ['report-worker', 'workers', 1],
    ]);
  });

  it('allows more replicas than instances on ECS, and never more than hosts on a hosts group', () => {
    const raw = ecsConfig();
    raw['berth:services']['api-service'].replicas = 20;
    expect(validateStackConfig('prod', raw).services.find((service) => service.name === 'api-service')!.replicas).toBe(20);
    raw['berth:services']['auth-service'].replicas = 4;
    expect(errorsOf('prod', raw)).toEqual(['Pulumi.prod.yaml: berth:services.auth-service.replicas: at most 3, the number of hosts in host group "app"; got 4']);
  });

  it('lets two ECS services publish the same host port (each task gets a dynamic one), never two on a hosts group', () => {
    const catalogue = catalogueWith('report-worker', { ports: ['8080:8080'], web: { port: 8080, healthCheckPath: '/health' } });
    expect(validateStackConfig('prod', ecsConfig(), { catalogue }).services).toHaveLength(3);
    const raw = ecsConfig();
    raw['berth:services']['api-service'].hostGroup = 'app';
    raw['berth:services']['report-worker'].hostGroup = 'app';
    expect(errorsOf('prod', raw, { catalogue })).toEqual(['Pulumi.prod.yaml: berth:services.report-worker.hostGroup: host port 8080 on host group "app" is already published by api-service']);
  });

  it('warns that the circuit breaker trips late below 3 tasks, and not at 3', () => {
    const raw = ecsConfig();
    expect(validateStackConfig('prod', raw).warnings).toEqual([CIRCUIT_BREAKER('report-worker', '1 task')]);
    raw['berth:services']['api-service'].replicas = 2;
    expect(validateStackConfig('prod', raw).warnings).toEqual([CIRCUIT_BREAKER('api-service', '2 tasks'), CIRCUIT_BREAKER('report-worker', '1 task')]);
    // Without replicas a service runs as many tasks as its group has instances.
    delete raw['berth:services']['api-service'].replicas;
    expect(validateStackConfig('prod', raw).warnings).toEqual([CIRCUIT_BREAKER('api-service', '2 tasks'), CIRCUIT_BREAKER('report-worker', '1 task')]);
    raw['berth:hostGroups']['app-ecs'].count = 3;
    raw['berth:services']['report-worker'].replicas = 3;
    expect(validateStackConfig('prod', raw).warnings).toEqual([]);
    // A hosts group has no circuit breaker: one host, no warning.
    const dev = validateStackConfig('dev', configOf('dev'));
    expect(dev.warnings).toEqual([]);
  });
});

describe('room for a start-first deployment', () => {
  const MAX_COUNT = (group: string, count: number, services: string) =>
    `Pulumi.prod.yaml: berth:hostGroups.${group}.maxCount: equal to count (${count}): a start-first deployment of ${services} runs a second copy of each task it replaces, which fits only in memory the ${count} instance(s) have free; a larger maxCount lets managed scaling add an instance for it`;

  it('warns when an ECS group cannot grow for the second copy a start-first deployment starts', () => {
    const raw = ecsConfig();
    raw['berth:hostGroups']['app-ecs'].maxCount = 2;
    expect(validateStackConfig('prod', raw).warnings).toEqual([MAX_COUNT('app-ecs', 2, 'api-service'), CIRCUIT_BREAKER('report-worker', '1 task')]);
    // Without maxCount the group has count instances, no more.
    delete raw['berth:hostGroups']['app-ecs'].maxCount;
    raw['berth:services']['auth-service'].hostGroup = 'app-ecs';
    expect(validateStackConfig('prod', raw).warnings).toEqual([MAX_COUNT('app-ecs', 2, 'api-service, auth-service'), CIRCUIT_BREAKER('auth-service', '2 tasks'), CIRCUIT_BREAKER('report-worker', '1 task')]);
  });

  it('does not warn for room to grow, for stop-first services, or for hosts groups', () => {
    // app-ecs grows to 6; workers stays at 1 but runs report-worker stop-first; app is a hosts group.
    expect(validateStackConfig('prod', ecsConfig()).warnings).toEqual([CIRCUIT_BREAKER('report-worker', '1 task')]);
  });
});

describe('movingFrom', () => {
  it('runs a moving service on both groups: as many tasks as asked on the new one, as many hosts as before on the old one', () => {
    const raw = ecsConfig();
    raw['berth:services']['api-service'].movingFrom = 'app';
    delete raw['berth:services']['api-service'].replicas;
    const service = validateStackConfig('prod', raw).services.find((candidate) => candidate.name === 'api-service')!;
    expect([service.hostGroup, service.replicas, service.movingFrom]).toEqual(['app-ecs', 2, { hostGroup: 'app', replicas: 3 }]);
    raw['berth:services']['api-service'].replicas = 2;
    expect(validateStackConfig('prod', raw).services.find((candidate) => candidate.name === 'api-service')!.movingFrom).toEqual({ hostGroup: 'app', replicas: 2 });
  });

  it('moves the other way, from ECS to hosts', () => {
    const raw = ecsConfig();
    raw['berth:services']['report-worker'].hostGroup = 'app';
    raw['berth:services']['report-worker'].movingFrom = 'workers';
    const service = validateStackConfig('prod', raw).services.find((candidate) => candidate.name === 'report-worker')!;
    expect([service.hostGroup, service.replicas, service.movingFrom]).toEqual(['app', 3, { hostGroup: 'workers', replicas: 1 }]);
  });

  it('refuses an unknown group, the group itself, and a group of the same engine', () => {
    const raw = ecsConfig();
    raw['berth:services']['api-service'].movingFrom = 'legacy';
    raw['berth:services']['auth-service'].movingFrom = 'app';
    raw['berth:services']['report-worker'].movingFrom = 'app-ecs';
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:services.api-service.movingFrom: no host group "legacy"; host groups are: app, app-ecs, workers',
      'Pulumi.prod.yaml: berth:services.auth-service.movingFrom: the host group the service moves away from, not hostGroup itself ("app"); remove movingFrom once the move is done',
      'Pulumi.prod.yaml: berth:services.report-worker.movingFrom: a host group of the other engine than hostGroup "workers" (ecs): movingFrom runs a service on both engines while it moves; between two ecs groups change hostGroup alone (its data volumes stay behind: each group has its own, so copy the data first)',
    ]);
  });

  it('refuses a move between two hosts groups', () => {
    const raw = configOf('prod');
    raw['berth:services']['auth-service'].movingFrom = 'workers';
    expect(errorsOf('prod', raw)).toEqual([
      'Pulumi.prod.yaml: berth:services.auth-service.movingFrom: a host group of the other engine than hostGroup "app" (hosts): movingFrom runs a service on both engines while it moves; between two hosts groups change hostGroup alone (its data volumes stay behind: each group has its own, so copy the data first)',
    ]);
  });

  it('checks the group moved from by its own engine: host count and ports on hosts, volumes on ECS', () => {
    const raw = ecsConfig();
    raw['berth:services']['api-service'].movingFrom = 'app';
    raw['berth:services']['api-service'].replicas = 4;
    expect(errorsOf('prod', raw)).toEqual(['Pulumi.prod.yaml: berth:services.api-service.replicas: at most 3, the number of hosts in host group "app"; got 4']);
    const fromEcs = ecsConfig();
    delete fromEcs['berth:hostGroups'].workers.efs;
    fromEcs['berth:services']['report-worker'].hostGroup = 'app';
    fromEcs['berth:services']['report-worker'].movingFrom = 'workers';
    expect(errorsOf('prod', fromEcs)).toEqual([
      'Pulumi.prod.yaml: berth:services.report-worker.movingFrom: report-worker keeps data in volumes (logs, spool: stacks/env/catalogue.ts), and host group "workers" runs ECS without EFS: ' +
        'a volume ECS manages belongs to one task and is deleted with it by default, so the data would be lost at the next deploy; set hostGroups.workers.efs: true, or keep report-worker on a hosts group',
    ]);
  });
});
