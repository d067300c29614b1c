import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { applyTransform, Transform } from '../common/transform';

/**
 * The build arg through which a service's Dockerfile receives the base image,
 * pinned by digest. A service Dockerfile starts:
 *
 * ```Dockerfile
 * ARG BASE_IMAGE
 * FROM ${BASE_IMAGE}
 * ```
 */
export const BASE_IMAGE_BUILD_ARG = 'BASE_IMAGE';

/** The build args of a service image: the base image pinned by its digest. */
export function serviceBuildArgs<T>(basePinnedRef: T, extra: Record<string, T> = {}): Record<string, T> {
  return { ...extra, [BASE_IMAGE_BUILD_ARG]: basePinnedRef };
}

export interface ImageBuild {
  /**
   * Build context folder.
   * @example "./images/auth-service"
   */
  context: string;
  /**
   * Dockerfile, relative to the context.
   * @default "Dockerfile"
   * @example "Dockerfile.jvm"
   */
  dockerfile?: string;
  /**
   * Repository URL to push to (a ServiceRegistry's `repositoryUrls[...]`).
   * @example "123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service"
   */
  repositoryUrl: pulumi.Input<string>;
  /**
   * Extra build args. `BASE_IMAGE` is always set by the component for service images.
   * @default {}
   * @example { JAR: "target/auth-service.jar" }
   */
  args?: Record<string, pulumi.Input<string>>;
}

export interface LayeredImagesArgs {
  /**
   * The base image (OS + shared libraries), built and pushed first.
   * @example { context: "./images/base", repositoryUrl: registry.repositoryUrls.apply((u) => u["berth/base"]) }
   */
  base: ImageBuild;
  /**
   * Service images by service name, each built FROM the base image pinned by digest.
   * @example { "auth-service": { context: "./images/auth-service", repositoryUrl: authUrl } }
   */
  services: Record<string, ImageBuild>;
  /**
   * Tag pushed with every build, e.g. the commit. Containers never run by this
   * tag: the output is the digest. Previous builds lose the tag and become
   * untagged, so the registry's lifecycle policy may expire them unless an
   * environment tag protects them.
   * @default "latest"
   * @example "build-3f2c1a9"
   */
  tag?: pulumi.Input<string>;
  /**
   * Registry credentials for the push (e.g. from `aws.ecr.getAuthorizationTokenOutput`).
   * None: the engine's own login (`docker login`) is used.
   * @default undefined
   * @example { server: token.proxyEndpoint, username: token.userName, password: token.password }
   */
  registry?: pulumi.Input<docker.types.input.Registry>;
  /**
   * Target platform of every image.
   * @default "linux/amd64"
   * @example "linux/arm64"
   */
  platform?: string;
  /**
   * Builder the engine uses.
   * @default "BuilderBuildKit"
   * @example "BuilderV1"
   */
  builderVersion?: docker.BuilderVersion;
  /**
   * Adjust what the component creates before it is created: one hook per underlying
   * resource, each given the resource's args and options (mutate them in place) and its
   * logical name.
   * @default {}
   * @example { image: (args) => { args.build = { ...args.build, network: "host" }; } }
   */
  transform?: LayeredImagesTransform;
}

/** The transform hooks of a LayeredImages (`<name>` is the component's name). */
export interface LayeredImagesTransform {
  /** Each `docker.Image`: the base `<name>-base`, then one `<name>-<service>` per service image. */
  image?: Transform<docker.ImageArgs>;
}

/**
 * Builds and pushes the base image and each service image on top of it, and outputs
 * each image as `repo@sha256:<digest>`.
 *
 * @example
 * #### A base image and one service built FROM it
 * ```ts
 * const images = new LayeredImages('images', {
 *   base: { context: './images/base', repositoryUrl: urls['berth/base'] },
 *   services: { 'auth-service': { context: './images/auth-service', repositoryUrl: urls['berth/auth-service'] } },
 *   tag: process.env.GIT_SHA,
 * });
 * export const authImage = images.serviceImages.apply((refs) => refs['auth-service']);
 * ```
 *
 * @remarks
 * The digest form is the only one other components consume. A service image is built
 * FROM the base image pinned by the digest the base push produced (the build arg
 * `BASE_IMAGE`), so it adds only its own layers and a rebuilt base cannot slip
 * in unnoticed. Nothing is built or pushed during `pulumi preview` (`buildOnPreview: false`);
 * digests are unknown in a preview and known after `pulumi up`. Teams whose CI builds the
 * images skip this component and put the digests in `Pulumi.<env>.yaml`.
 */
export class LayeredImages extends pulumi.ComponentResource {
  /** The base image, `repo@sha256:…`. */
  readonly baseImage: pulumi.Output<string>;
  /** Each service image by service name, `repo@sha256:…`. */
  readonly serviceImages: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: LayeredImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('berth:registry:LayeredImages', name, {}, opts);
    const tag = args.tag ?? 'latest';
    const platform = args.platform ?? 'linux/amd64';
    const builderVersion = args.builderVersion ?? 'BuilderBuildKit';
    const declare = (resourceName: string, build: ImageBuild, buildArgs: Record<string, pulumi.Input<string>>, dependsOn: pulumi.Resource[]) => {
      const [imageArgs, imageOpts] = applyTransform(
        args.transform?.image,
        resourceName,
        {
          imageName: pulumi.interpolate`${build.repositoryUrl}:${tag}`,
          build: { context: build.context, dockerfile: build.dockerfile ?? 'Dockerfile', platform, builderVersion, args: buildArgs },
          registry: args.registry,
          buildOnPreview: false,
          skipPush: false,
        } as docker.ImageArgs,
        { parent: this, dependsOn } as pulumi.CustomResourceOptions,
      );
      return new docker.Image(resourceName, imageArgs, imageOpts);
    };

    const base = declare(`${name}-base`, args.base, args.base.args ?? {}, []);
    this.baseImage = pinned(base);
    const services = Object.keys(args.services).sort();
    const images = services.map((service) => {
      const build = args.services[service];
      return pinned(declare(`${name}-${service}`, build, serviceBuildArgs<pulumi.Input<string>>(this.baseImage, build.args), [base]));
    });
    this.serviceImages = pulumi.all(images).apply((refs) => Object.fromEntries(services.map((service, index) => [service, refs[index]])));
    this.registerOutputs({ baseImage: this.baseImage, serviceImages: this.serviceImages });
  }
}

/** docker.Image's repoDigest, checked to be `repo@sha256:<64 hex>` (a local-only build would give an image id). */
function pinned(image: docker.Image): pulumi.Output<string> {
  return image.repoDigest.apply((ref) => {
    if (!/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(ref)) {
      throw new pulumi.ResourceError(`expected the pushed image as repo@sha256:<64 hex>, got "${ref}"`, image);
    }
    return ref;
  });
}
