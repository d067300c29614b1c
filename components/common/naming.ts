/**
 * Names and tags shared by every Berth component, so all resources of one
 * environment are found, named and billed the same way.
 */

/** Project name used when a component's `project` arg is not given. */
export const DEFAULT_PROJECT = 'berth';

/** Tags every Berth resource carries. */
export function berthTags(project: string, env: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'berth:project': project, 'berth:env': env, ...extra };
}

/** `<project>-<env>-<parts…>`: the physical-name prefix Berth gives an environment's resources. */
export function envName(project: string, env: string, ...parts: string[]): string {
  return [project, env, ...parts].join('-');
}

/** CloudWatch log group of a service's containers: `/<project>/<env>/<service>`. */
export function serviceLogGroupName(project: string, env: string, service: string): string {
  return `/${project}/${env}/${service}`;
}
