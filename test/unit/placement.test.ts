import { readStackFile, validateStackConfig } from '../../stacks/env/config';
import { placement } from '../../stacks/env/stack';
import { generatedStack } from '../bench/generate';

describe('placement of services on the hosts of their group', () => {
  it('runs every replica on a distinct host, in host order', () => {
    const { config } = generatedStack(20, 5);
    for (const service of config.services) {
      const hosts = placement(config, { ...service, replicas: 3 });
      expect(hosts).toHaveLength(3);
      expect(new Set(hosts).size).toBe(3);
      expect(hosts).toEqual([...hosts].sort((a, b) => a - b));
      expect(Math.max(...hosts)).toBeLessThan(5);
    }
  });

  it('does not move a service when another service is added or removed', () => {
    const few = generatedStack(5, 4).config;
    const more = generatedStack(30, 4).config;
    for (const service of few.services) {
      const same = more.services.find((candidate) => candidate.name === service.name)!;
      expect(placement(more, same)).toEqual(placement(few, service));
    }
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
