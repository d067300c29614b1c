import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { hasRegistryHost, parseImageRef, pinnedRef } from '../common/image';

const ECR_HOST = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/**
 * The image a container runs, always pinned to a digest:
 * `<registryUrl>/<repo>@sha256:…`.
 *
 * - `repo@sha256:…` passes through, prefixed with `registryUrl` unless the
 *   reference names its own registry host.
 * - `repo:tag` (dev with `berth:followTags`) is looked up in ECR at deploy time
 *   (`aws.ecr.getImage`) and pinned to the digest the tag points at then.
 *
 * @example
 * ```ts
 * resolveServiceImage('berth/auth-service:main', registry.registryUrl)
 * // => 123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:…
 * ```
 */
export function resolveServiceImage(image: string, registryUrl: pulumi.Input<string>, opts?: pulumi.InvokeOutputOptions): pulumi.Output<string> {
  const ref = parseImageRef(image);
  if ('error' in ref) {
    throw new Error(`resolveServiceImage: "${image}": ${ref.error}`);
  }
  const withHost = hasRegistryHost(ref.repository);
  const host = withHost ? ref.repository.split('/')[0] : undefined;
  const path = withHost ? ref.repository.slice(host!.length + 1) : ref.repository;
  const repositoryRef: pulumi.Output<string> = withHost ? pulumi.output(ref.repository) : pulumi.interpolate`${pulumi.output(registryUrl).apply(trimSlash)}/${path}`;
  if (ref.digest) {
    return repositoryRef.apply((repository) => pinnedRef(repository, ref.digest!));
  }
  const ecr = host ? ECR_HOST.exec(host) : undefined;
  if (host && !ecr) {
    throw new Error(`resolveServiceImage: "${image}" follows a tag on ${host}, which is not an ECR registry; only ECR tags are resolved at deploy time. Pin it by digest instead.`);
  }
  const found = aws.ecr.getImageOutput(
    { repositoryName: path, imageTag: ref.tag!, ...(ecr ? { registryId: ecr[1], region: ecr[2] } : {}) },
    opts,
  );
  return pulumi.all([repositoryRef, found.imageDigest]).apply(([repository, digest]) => pinnedRef(repository, digest));
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
