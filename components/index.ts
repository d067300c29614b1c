/**
 * Berth: Pulumi components for Docker microservices on plain EC2 hosts, every
 * container pinned to an image digest. This file is the whole public API: the
 * components, their Args (and transform) types, and the few helpers a program
 * that composes them needs. Everything else (renderers, policies, the host
 * agent's wire format, the CLIs) is internal and may change in any release;
 * test/unit/public-api.test.ts pins this list.
 */

// Registry: ECR repositories and layered images, in a stack of their own
export { ServiceRegistry } from './registry/serviceRegistry';
export type { ServiceRegistryArgs, ServiceRegistryTransform } from './registry/serviceRegistry';
export { LayeredImages, BASE_IMAGE_BUILD_ARG } from './registry/layeredImages';
export type { ImageBuild, LayeredImagesArgs, LayeredImagesTransform } from './registry/layeredImages';
// An environment reads the registry stack through a StackReference: the outputs' shape,
// the repository-name rule to look an ARN up by service, and the image resolution.
export type { RegistryStackOutputs } from './registry/contract';
export { repositoryName } from './registry/contract';
export { resolveServiceImage } from './registry/resolveImage';

// Hosts
export { DockerHostGroup } from './host/dockerHostGroup';
export type { DockerHost, DockerHostGroupArgs, DockerHostGroupTransform, HostSshArgs } from './host/dockerHostGroup';
export type { HostLoggingConfig } from './host/dockerConfig';

// Services on the hosts
export { ContainerService } from './service/containerService';
export type { ContainerServiceArgs, ContainerServiceTransform, ContainerVolume } from './service/containerService';

// Services on ECS with EC2 capacity: a host group with `engine: "ecs"`
export { EcsCluster } from './cluster/ecsCluster';
export type { EcsCapacity, EcsClusterArgs, EcsClusterTransform } from './cluster/ecsCluster';
export type { ImageCleanup } from './cluster/render';
export { EcsService } from './task/ecsService';
export type { EcsServiceArgs, EcsServiceTarget, EcsServiceTransform } from './task/ecsService';

// Monitoring
export { EnvironmentMonitoring } from './monitoring/environmentMonitoring';
export type { EnvironmentMonitoringArgs, EnvironmentMonitoringTransform } from './monitoring/environmentMonitoring';

// Traffic: the load balancer per environment and the names services call each other by
export { EnvironmentTraffic } from './traffic/environmentTraffic';
export type {
  EnvironmentTrafficArgs,
  EnvironmentTrafficTransform,
  LoadBalancerRole,
  LoadBalancerScheme,
  ServiceRoute,
  TrafficHost,
  TrafficService,
  WebEndpoint,
} from './traffic/environmentTraffic';

// Shared vocabulary: image references, names and tags, the transform hook
export { DIGEST_PATTERN, parseImageRef, pinnedRef } from './common/image';
export type { ImageRef } from './common/image';
export { berthTags, DEFAULT_PROJECT, envName, serviceLogGroupName } from './common/naming';
export type { Transform } from './common/transform';
