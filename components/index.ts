/**
 * Berth: Pulumi components for Docker microservices on plain EC2 hosts, every
 * container pinned to an image digest. This file is the whole public API.
 */

// Shared vocabulary
export { DIGEST_PATTERN, hasRegistryHost, parseImageRef, pinnedRef } from './common/image';
export type { ImageRef } from './common/image';
export { berthTags, envName, serviceLogGroupName } from './common/naming';
export { applyTransform } from './common/transform';
export type { Transform } from './common/transform';

// Registry: ECR repositories, layered images, digest resolution
export { ServiceRegistry } from './registry/serviceRegistry';
export type { ServiceRegistryArgs } from './registry/serviceRegistry';
export { LayeredImages, BASE_IMAGE_BUILD_ARG, serviceBuildArgs } from './registry/layeredImages';
export type { ImageBuild, LayeredImagesArgs } from './registry/layeredImages';
export { resolveServiceImage } from './registry/resolveImage';
export {
  DEFAULT_BASE_IMAGE,
  DEFAULT_KEEP_TAG_PREFIX,
  DEFAULT_NAMESPACE,
  DEFAULT_PROTECTED_TAGS,
  DEFAULT_UNTAGGED_EXPIRY_DAYS,
  ecrRegistryOutputs,
  repositoryName,
} from './registry/contract';
export type { RegistryStackOutputs } from './registry/contract';
export { PULL_ACTIONS, renderLifecyclePolicy, renderPullPolicy } from './registry/policies';

// Hosts: EC2 Docker hosts and what runs on them
export { DockerHostGroup, hostRolePolicy, registryHostOfRepositoryArn } from './host/dockerHostGroup';
export { architectureOf } from './host/architecture';
export type { DockerHost, DockerHostGroupArgs, HostSshArgs } from './host/dockerHostGroup';
export * from './host/render';

// Monitoring
export { EnvironmentMonitoring } from './monitoring/environmentMonitoring';
export type { EnvironmentMonitoringArgs } from './monitoring/environmentMonitoring';

// Services: the host agent and the component that drives it
export { ContainerService, renderServiceSpec } from './service/containerService';
export type { ContainerServiceArgs, ContainerVolume, ServiceSpecInput } from './service/containerService';
export { AGENT_SPEC_FIELDS, agentSpecJson } from './service/spec';
export type { AgentConfigFile, AgentHealthCheck, AgentLogConfig, AgentServiceSpec } from './service/spec';
export { agentScriptPath, readAgentScript } from './service/agentScript';
