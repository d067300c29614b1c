/** A generated stack for benchmarks: N services spread over H hosts, valid by Berth's own rules. */
import * as path from 'path';
import { readStackFile, SERVICE_CONFIG_DIR, StackConfig, validateStackConfig } from '../../stacks/env/config';
import { CatalogueService } from '../../stacks/env/catalogue';

/** Every generated service reads this one properties file. */
const SHARED_CONFIG_FILE = path.join(SERVICE_CONFIG_DIR, 'api-service', 'application-prod.properties');

export function generatedStack(serviceCount: number, hostCount: number): { config: StackConfig; raw: Record<string, unknown> } {
  const raw = JSON.parse(JSON.stringify(readStackFile('prod').config)) as Record<string, any>;
  const catalogue: Record<string, CatalogueService> = {};
  const services: Record<string, unknown> = {};
  raw['berth:hostGroups'] = { app: { count: hostCount, instanceType: 'm7i.large', dataVolumeGiB: 100 } };
  for (let index = 0; index < serviceCount; index++) {
    const name = `svc-${String(index).padStart(3, '0')}`;
    catalogue[name] = {
      ports: [`${10000 + index}:8080`],
      health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/health', timeoutSeconds: 30 },
      volumes: [{ name: 'data', containerPath: '/var/lib/app' }],
      configTarget: '/config/application.properties',
      memoryMiB: 256,
      pidsLimit: 128,
    };
    services[name] = {
      image: `berth/${name}@sha256:${index.toString(16).padStart(64, '0')}`,
      hostGroup: 'app',
      replicas: 1,
      configFile: 'application-prod.properties',
      environment: { SERVICE_INDEX: String(index) },
    };
  }
  raw['berth:services'] = services;
  const config = validateStackConfig('prod', raw, { catalogue, fileExists: () => true });
  for (const service of config.services) {
    service.configPath = SHARED_CONFIG_FILE;
  }
  return { config, raw };
}
