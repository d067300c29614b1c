export { DEFAULT_CHAIN, checkChain, describeChanges, planPromotion, promotableImage } from './plan';
export type { ImageChange, PromotionPlan, PromotionRequest } from './plan';
export { PromotionError, listServices, parseStackFile, readServiceImage, replaceServiceImage } from './stackFile';
export { RegistryClient, registryBaseUrl, basicCredentials, MANIFEST_ACCEPT } from './registryClient';
export type { RegistryClientOptions, Manifest } from './registryClient';
export { unifiedDiff } from './diff';
export { parsePromoteArgs, runPromote, PROMOTE_USAGE, UsageError } from './cli';
export type { PromoteArgs, PromoteIo } from './cli';
