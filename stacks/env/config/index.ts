/**
 * Typed, validated stack configuration of the environment program, by job:
 * ./schema (each `berth:` key's shape), ./validate (the rules across keys,
 * the typed StackConfig), ./stackFile (reading `Pulumi.<env>.yaml`). What both
 * Pulumi programs share lives in ../../common: the stack-file reader, the
 * runtime-config codec, ConfigError and the message format; the environments
 * and the promotion chain live in components/common/environments.
 *
 * Re-exported here for the program and its existing importers.
 */
export { ENVIRONMENTS, isEnvironmentName, PINNED_ENVIRONMENTS } from '../../../components/common/environments';
export type { EnvironmentName } from '../../../components/common/environments';
export { ConfigError } from '../../common/configErrors';
export { PROJECT_ROOT } from '../../common/paths';
export { parseRuntimeConfig, toRuntimeConfig } from '../../common/runtimeConfig';
export { stackFileName } from '../../common/stackFile';
export type { StackFile } from '../../common/stackFile';
export { CONFIG_NAMESPACE } from './schema';
export { readStackFile } from './stackFile';
export { SERVICE_CONFIG_DIR, SERVICE_CONFIG_PATH, validateStackConfig } from './validate';
export type { EcsGroupConfig, HostGroupConfig, HostsGroupConfig, ServiceConfig, StackConfig, TrafficConfig, ValidateOptions } from './validate';
