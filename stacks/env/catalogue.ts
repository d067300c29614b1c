/**
 * The service catalogue: what a service *is*, the same in every environment
 * (ports, health check, data directories, limits). What differs per
 * environment (image digest, placement, environment variables, config file)
 * lives in `Pulumi.<env>.yaml` under `berth:services`.
 */

export interface CatalogueVolume {
  /** Directory name under the service's folder on the host's data volume. */
  name: string;
  /** Where the container sees it. */
  containerPath: string;
}

export interface CatalogueService {
  /** Docker `-p` publications, `hostPort:containerPort[/proto]`. */
  ports: string[];
  /** Shell command run inside the container; exit 0 means healthy. */
  health: { cmd: string; timeoutSeconds: number };
  /** Data that outlives the container, kept on the host's data volume. */
  volumes: CatalogueVolume[];
  /** Where the container reads its per-environment `application-<env>.properties`. */
  configTarget: string;
  memoryMiB: number;
  pidsLimit: number;
}

export const catalogue: Record<string, CatalogueService> = {
  'auth-service': {
    ports: ['8081:8081'],
    health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8081/actuator/health', timeoutSeconds: 60 },
    volumes: [{ name: 'logs', containerPath: '/var/log/auth-service' }],
    configTarget: '/config/application.properties',
    memoryMiB: 512,
    pidsLimit: 256,
  },
  'api-service': {
    ports: ['8080:8080'],
    health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/actuator/health', timeoutSeconds: 60 },
    volumes: [
      { name: 'logs', containerPath: '/var/log/api-service' },
      { name: 'uploads', containerPath: '/var/lib/api-service/uploads' },
    ],
    configTarget: '/config/application.properties',
    memoryMiB: 768,
    pidsLimit: 256,
  },
  'report-worker': {
    ports: [],
    health: { cmd: 'test -f /tmp/worker-alive', timeoutSeconds: 45 },
    volumes: [
      { name: 'logs', containerPath: '/var/log/report-worker' },
      { name: 'spool', containerPath: '/var/spool/report-worker' },
    ],
    configTarget: '/config/application.properties',
    memoryMiB: 512,
    pidsLimit: 128,
  },
};
