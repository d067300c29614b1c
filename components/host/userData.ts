/**
 * The cloud-init user data of a Berth host: the bootstrap that runs once, at
 * first boot, and installs the packages a host needs. Everything that is
 * configured (daemon.json, units, scripts, the agent, the CloudWatch agent
 * config, the data-volume mount) is shipped and applied by the readiness step
 * over SSH (hostSetup.ts), so a change shows in a preview and reaches running
 * hosts on `pulumi up`.
 *
 * The bootstrap depends on nothing but the project and the environment, so it
 * stays the same from one `up` to the next: a host is replaced for a change of
 * its user data only when Berth's bootstrap itself changes. It holds no
 * secrets (user data is readable by anyone who may describe the instance).
 */
import { HOST_PATHS } from './paths';
import { checkEnv, checkKeys, checkNoSecrets, PROJECT_PATTERN, REGION_PATTERN } from './renderChecks';

export interface UserDataArgs {
  /** Pulumi project name, recorded in the bootstrap's header. */
  project: string;
  /** Environment (stack) name: dev, test, stage, prod. */
  env: string;
}

const ALLOWED_ARGS: ReadonlySet<string> = new Set<keyof UserDataArgs>(['project', 'env']);

/**
 * Amazon Linux 2023 packages a host needs: the engine, the CloudWatch agent,
 * both filesystems' tools (the data volume may be ext4 or xfs, and is grown
 * in place), jq for operators, and the ECR credential helper Docker's client
 * config names for the registry.
 */
export const HOST_PACKAGES: readonly string[] = ['amazon-cloudwatch-agent', 'amazon-ecr-credential-helper', 'docker', 'e2fsprogs', 'jq', 'xfsprogs'];

export function renderUserData(args: UserDataArgs): string {
  checkKeys('renderUserData', 'argument', args, ALLOWED_ARGS);
  if (!PROJECT_PATTERN.test(args.project)) {
    throw new Error(`project: "${args.project}" should match ${PROJECT_PATTERN.source}`);
  }
  checkEnv(args.env);
  const script = [
    '#!/bin/bash',
    `# Berth host bootstrap for project ${args.project}, environment ${args.env}.`,
    '# Rendered by components/host/userData.ts. Holds no secrets. The readiness',
    '# step (components/host/scripts/berth-host-setup) does the rest over SSH.',
    'set -euo pipefail',
    'umask 022',
    `mkdir -p ${dirname(HOST_PATHS.readyMarker)}`,
    `trap 'echo "berth bootstrap failed at line $LINENO" | tee ${HOST_PATHS.failedMarker} >&2' ERR`,
    // The repositories can be briefly unreachable right after launch (NAT or endpoints still coming up).
    'for attempt in 1 2 3 4 5; do',
    `  if dnf install -y ${HOST_PACKAGES.join(' ')}; then break; fi`,
    '  if [ "$attempt" = 5 ]; then false; fi',
    '  sleep 15',
    'done',
    `date -u +%Y-%m-%dT%H:%M:%SZ > ${HOST_PATHS.readyMarker}`,
    '',
  ].join('\n');
  checkNoSecrets('renderUserData', 'the rendered user data', script);
  return script;
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/** EC2 refuses user data over 16 KB before base64 encoding. */
export const USER_DATA_LIMIT_BYTES = 16384;
export { REGION_PATTERN };
