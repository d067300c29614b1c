import * as fc from 'fast-check';
import * as path from 'path';
import { isName, NAME_PATTERN } from '../../components/common/names';
import type { CatalogueService } from '../../stacks/env/catalogue';
import { readStackFile, SERVICE_CONFIG_DIR, StackConfig, validateStackConfig } from '../../stacks/env/config';
import { placement } from '../../stacks/env/stack';
import { generatedStack } from '../bench/generate';

/** Any service name the config accepts: the one name rule, generated from its own pattern. */
const serviceName = fc.stringMatching(NAME_PATTERN).filter(isName);

interface GeneratedService {
  name: string;
  group: number;
  /** Picks the replica count within the group's size: 1 + (pick mod count). */
  replicaPick: number;
}

const generatedService: fc.Arbitrary<GeneratedService> = fc.record({
  name: serviceName,
  group: fc.nat({ max: 2 }),
  replicaPick: fc.nat({ max: 20 }),
});

/** Host groups g0, g1, g2 of 1 to 7 hosts each. */
const groupSizes = fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }));

/** A list of services with distinct names, in the order a stack file would list them. */
const serviceLists = fc.uniqueArray(generatedService, { selector: (service) => service.name, minLength: 1, maxLength: 12 });

const PROD = readStackFile('prod').config;
const SHARED_CONFIG = path.join(SERVICE_CONFIG_DIR, 'api-service', 'application-prod.properties');

/**
 * A stack config with these host groups and these services, listed in this order, through the
 * real validation (which sorts services by name, so a name decides its list position).
 */
function stackWith(sizes: readonly number[], services: readonly GeneratedService[]): StackConfig {
  const raw = JSON.parse(JSON.stringify(PROD)) as Record<string, any>;
  raw['berth:hostGroups'] = Object.fromEntries(sizes.map((count, index) => [`g${index}`, { count, instanceType: 'm7i.large', dataVolumeGiB: 20 }]));
  const catalogue: Record<string, CatalogueService> = {};
  const entries: Record<string, unknown> = {};
  for (const [index, service] of services.entries()) {
    catalogue[service.name] = {
      ports: [],
      health: { cmd: 'true', timeoutSeconds: 5 },
      volumes: [],
      configTarget: '/config/application.properties',
      memoryMiB: 128,
      pidsLimit: 64,
    };
    entries[service.name] = {
      image: `berth/${service.name}@sha256:${index.toString(16).padStart(64, '0')}`,
      hostGroup: `g${service.group}`,
      replicas: 1 + (service.replicaPick % sizes[service.group]),
      configFile: 'application-prod.properties',
    };
  }
  raw['berth:services'] = entries;
  const config = validateStackConfig('prod', raw, { catalogue, fileExists: () => true });
  for (const service of config.services) {
    service.configPath = SHARED_CONFIG;
  }
  return config;
}

/** Every service's hosts, by name. */
function placements(config: StackConfig): Map<string, number[]> {
  return new Map(config.services.map((service) => [service.name, placement(config, service)]));
}

describe('placement of services on the hosts of their group', () => {
  it('gives each service exactly `replicas` distinct hosts of its own group, in host order', () => {
    fc.assert(
      fc.property(groupSizes, serviceLists, (sizes, services) => {
        const config = stackWith(sizes, services);
        for (const service of config.services) {
          const group = config.hostGroups.find((candidate) => candidate.name === service.hostGroup)!;
          const hosts = placement(config, service);
          expect(hosts).toHaveLength(service.replicas);
          expect(new Set(hosts).size).toBe(service.replicas);
          for (const host of hosts) {
            expect(Number.isInteger(host) && host >= 0 && host < group.count).toBe(true);
          }
          expect(hosts).toEqual([...hosts].sort((a, b) => a - b));
        }
      }),
    );
  });

  it('moves no other service when a service of any name is added anywhere in the list', () => {
    fc.assert(
      fc.property(groupSizes, serviceLists, generatedService, fc.nat(), (sizes, services, added, at) => {
        fc.pre(!services.some((service) => service.name === added.name));
        const position = at % (services.length + 1);
        const before = placements(stackWith(sizes, services));
        const after = placements(stackWith(sizes, [...services.slice(0, position), added, ...services.slice(position)]));
        for (const [name, hosts] of before) {
          expect([name, after.get(name)]).toEqual([name, hosts]);
        }
      }),
    );
  });

  it('moves no other service when any service is removed', () => {
    fc.assert(
      fc.property(groupSizes, serviceLists.filter((services) => services.length >= 2), fc.nat(), (sizes, services, at) => {
        const removed = at % services.length;
        const before = placements(stackWith(sizes, services));
        const after = placements(stackWith(sizes, services.filter((_, index) => index !== removed)));
        for (const [name, hosts] of after) {
          expect([name, hosts]).toEqual([name, before.get(name)]);
        }
      }),
    );
  });

  it('does not move a service when one that sorts before it is added (what list position would get wrong)', () => {
    // An example the properties above shrink to, kept so its failure reads at once.
    const sizes = [4, 1, 1];
    const later = { name: 'zz-last', group: 0, replicaPick: 0 };
    const before = placements(stackWith(sizes, [later]));
    const after = placements(stackWith(sizes, [later, { name: 'aa-first', group: 0, replicaPick: 0 }]));
    expect(after.get('zz-last')).toEqual(before.get('zz-last'));
  });

  it('spreads single-replica services over the group', () => {
    const { config } = generatedStack(100, 10);
    const perHost = new Map<number, number>();
    for (const service of config.services) {
      const [host] = placement(config, service);
      perHost.set(host, (perHost.get(host) ?? 0) + 1);
    }
    expect(perHost.size).toBe(10);
  });

  it('puts a service with replicas equal to the group size on every host', () => {
    const config = validateStackConfig('prod', readStackFile('prod').config);
    const api = config.services.find((service) => service.name === 'api-service')!;
    expect(placement(config, api)).toEqual([0, 1, 2]);
  });
});
