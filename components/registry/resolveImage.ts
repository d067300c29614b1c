import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { parseEcrHost, parseImageRef, pinnedRef, splitRegistryHost } from '../common/image';

/**
 * The image a container runs, always pinned to a digest:
 * `<registryUrl>/<repo>@sha256:…`.
 *
 * - `repo@sha256:…` passes through, prefixed with `registryUrl` unless the
 *   reference names its own registry host.
 * - `repo:tag` (dev with `berth:followTags`) is looked up in ECR at deploy time
 *   (`aws.ecr.getImage`) and pinned to the digest the tag points at then. The
 *   lookup goes to the account and region of the registry that holds the
 *   image — the host the reference names, else `registryUrl` — never to the
 *   deployer's own account and region, which is where getImage looks unless told.
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
  const { host, path } = splitRegistryHost(ref.repository);
  const registry = pulumi.output(registryUrl).apply(trimSlash);
  const repositoryRef: pulumi.Output<string> = host ? pulumi.output(ref.repository) : pulumi.interpolate`${registry}/${path}`;
  if (ref.digest) {
    return repositoryRef.apply((repository) => pinnedRef(repository, ref.digest!));
  }
  if (host && !parseEcrHost(host)) {
    throw new Error(`resolveServiceImage: "${image}" follows a tag on ${host}, which is not an ECR registry; only ECR tags are resolved at deploy time. Pin it by digest instead.`);
  }
  const ecr = registry.apply((url) => {
    const registryHost = host ?? url;
    const parsed = parseEcrHost(registryHost);
    if (!parsed) {
      throw new Error(
        `resolveServiceImage: "${image}" follows a tag in registry ${JSON.stringify(url)}, which is not an ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com); only ECR tags are resolved at deploy time. Pin it by digest instead.`,
      );
    }
    return parsed;
  });
  const found = aws.ecr.getImageOutput({ repositoryName: path, imageTag: ref.tag!, registryId: ecr.registryId, region: ecr.region }, opts);
  return pulumi.all([repositoryRef, found.imageDigest]).apply(([repository, digest]) => pinnedRef(repository, digest));
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
