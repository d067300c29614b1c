/**
 * Image references as Berth uses them: `<repository>@sha256:<64 hex>` pins an
 * image to one digest; `<repository>:<tag>` names a moving tag that only dev
 * may follow, and only after resolving it to a digest at deploy time.
 */

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

export interface ImageRef {
  /** Repository, with registry host when one is given, e.g. `berth/auth-service` or `123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service`. */
  repository: string;
  /** `sha256:<64 hex>` when the reference is pinned. */
  digest?: string;
  /** The tag, when the reference names one. */
  tag?: string;
}

const REPOSITORY_PATTERN = /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Parses `repo@sha256:…`, `repo:tag` or `repo:tag@sha256:…`. Returns a
 * description of what is wrong instead of throwing, so config validation can
 * report it with the key path.
 */
export function parseImageRef(text: string): ImageRef | { error: string } {
  const at = text.indexOf('@');
  let name = text;
  let digest: string | undefined;
  if (at >= 0) {
    name = text.slice(0, at);
    digest = text.slice(at + 1);
    if (!DIGEST_PATTERN.test(digest)) {
      return { error: `malformed digest "${digest}": expected sha256:<64 lowercase hex>` };
    }
  }
  let repository = name;
  let tag: string | undefined;
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) {
    repository = name.slice(0, colon);
    tag = name.slice(colon + 1);
    if (!TAG_PATTERN.test(tag)) {
      return { error: `malformed tag "${tag}"` };
    }
  }
  if (!REPOSITORY_PATTERN.test(repository)) {
    return { error: `malformed repository "${repository}"` };
  }
  if (!digest && !tag) {
    return { error: 'names neither a digest nor a tag' };
  }
  return { repository, digest, tag };
}

/** True when the repository carries its registry host (`host.domain/…` or `host:port/…`). */
export function hasRegistryHost(repository: string): boolean {
  const first = repository.split('/')[0];
  return repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
}

/**
 * Splits a repository into the registry host it names (if any) and its path
 * inside that registry: `1234….amazonaws.com/berth/auth-service` and
 * `berth/auth-service` both have the path `berth/auth-service`, the key the
 * registry stack's outputs use.
 */
export function splitRegistryHost(repository: string): { host?: string; path: string } {
  if (!hasRegistryHost(repository)) {
    return { path: repository };
  }
  const slash = repository.indexOf('/');
  return { host: repository.slice(0, slash), path: repository.slice(slash + 1) };
}

const ECR_HOST_PATTERN = /^(\d{12})\.dkr\.ecr\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.amazonaws\.com(?:\.cn)?$/;

/** The account (registry id) and region of an ECR registry host `<account>.dkr.ecr.<region>.amazonaws.com`; undefined for any other host. */
export function parseEcrHost(host: string): { registryId: string; region: string } | undefined {
  const match = ECR_HOST_PATTERN.exec(host);
  return match ? { registryId: match[1], region: match[2] } : undefined;
}

/** `repository@digest`, the only form a container is ever started from. */
export function pinnedRef(repository: string, digest: string): string {
  return `${repository}@${digest}`;
}
