import * as pulumi from '@pulumi/pulumi';
import { BASE_IMAGE_BUILD_ARG, LayeredImages } from '../../components/registry/layeredImages';
import { ecrRegistryOutputs } from '../../components/registry/contract';
import { resolveServiceImage } from '../../components/registry/resolveImage';
import { offlineDigest, OFFLINE_ACCOUNT_ID, settle } from '../../tools/offline/runtime';
import { evaluate, valueOf } from '../support/pulumi';

const HOST = `${OFFLINE_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com`;
const DIGEST = `sha256:${'f6'.repeat(32)}`;

describe('LayeredImages', () => {
  const declare = () =>
    new LayeredImages('images', {
      base: { context: 'images/base', repositoryUrl: `${HOST}/berth/base` },
      services: {
        'report-worker': { context: 'images/report-worker', repositoryUrl: `${HOST}/berth/report-worker` },
        'auth-service': { context: 'images/auth-service', dockerfile: 'Dockerfile.jvm', repositoryUrl: `${HOST}/berth/auth-service`, args: { JAR: 'auth.jar' } },
      },
      tag: 'build-3f2c1a9',
    });

  it('builds the base, then each service FROM the base pinned by its digest, never at preview', async () => {
    const { ofType, one } = await evaluate(declare);
    const images = ofType('docker:index/image:Image');
    expect(images.map((image) => [image.name, image.parent])).toEqual([
      ['images-auth-service', 'images'],
      ['images-base', 'images'],
      ['images-report-worker', 'images'],
    ]);
    const baseRef = `${HOST}/berth/base@${offlineDigest(`${HOST}/berth/base`, 'build-3f2c1a9')}`;
    expect(one('docker:index/image:Image', 'images-base').inputs).toEqual({
      imageName: `${HOST}/berth/base:build-3f2c1a9`,
      build: { context: 'images/base', dockerfile: 'Dockerfile', platform: 'linux/amd64', builderVersion: 'BuilderBuildKit', args: {} },
      buildOnPreview: false,
      skipPush: false,
    });
    expect(one('docker:index/image:Image', 'images-auth-service').inputs).toEqual({
      imageName: `${HOST}/berth/auth-service:build-3f2c1a9`,
      build: { context: 'images/auth-service', dockerfile: 'Dockerfile.jvm', platform: 'linux/amd64', builderVersion: 'BuilderBuildKit', args: { JAR: 'auth.jar', [BASE_IMAGE_BUILD_ARG]: baseRef } },
      buildOnPreview: false,
      skipPush: false,
    });
    expect((one('docker:index/image:Image', 'images-report-worker').inputs.build as any).args).toEqual({ BASE_IMAGE: baseRef });
  });

  it('outputs every image as repo@sha256:<digest>', async () => {
    const { result } = await evaluate(declare);
    const serviceRef = (repo: string) => `${HOST}/${repo}@${offlineDigest(`${HOST}/${repo}`, 'build-3f2c1a9')}`;
    await expect(valueOf(result.baseImage)).resolves.toBe(serviceRef('berth/base'));
    await expect(valueOf(result.serviceImages)).resolves.toEqual({
      'auth-service': serviceRef('berth/auth-service'),
      'report-worker': serviceRef('berth/report-worker'),
    });
  });

  it('hands registry credentials to the push as a secret and lets a transform adjust each image', async () => {
    const { ofType } = await evaluate(
      () =>
        new LayeredImages('images', {
          base: { context: 'images/base', repositoryUrl: `${HOST}/berth/base` },
          services: {},
          registry: { server: HOST, username: 'AWS', password: pulumi.secret('token') },
          builderVersion: 'BuilderV1',
          transform: { image: (args, _opts, name) => void (args.imageName = `${HOST}/berth/${name}:pinned`) },
        }),
    );
    const [base] = ofType('docker:index/image:Image');
    expect(base.inputs.imageName).toBe(`${HOST}/berth/images-base:pinned`);
    expect(base.inputs.registry).toEqual({ server: HOST, username: 'AWS', password: '[secret]' });
    expect((base.inputs.build as any).builderVersion).toBe('BuilderV1');
  });
});

describe('resolveServiceImage', () => {
  it('passes a digest through unchanged, prefixed with the registry', async () => {
    const { result, runtime } = await evaluate(() => resolveServiceImage(`berth/api-service@${DIGEST}`, pulumi.output(HOST)));
    await expect(valueOf(result)).resolves.toBe(`${HOST}/berth/api-service@${DIGEST}`);
    expect(runtime.calls).toEqual([]);
  });

  it('keeps a registry host the reference names, and drops a tag next to a digest', async () => {
    const { result } = await evaluate(() => resolveServiceImage(`registry.example.com:5000/berth/api-service:v2@${DIGEST}`, HOST));
    await expect(valueOf(result)).resolves.toBe(`registry.example.com:5000/berth/api-service@${DIGEST}`);
  });

  it('resolves a tag to the digest ECR reports at deploy time and pins to it, asking the registry named by the registry URL', async () => {
    const { result, runtime } = await evaluate(() => resolveServiceImage('berth/auth-service:main', `${HOST}/`));
    await settle();
    await expect(valueOf(result)).resolves.toBe(`${HOST}/berth/auth-service@${offlineDigest('berth/auth-service', 'main')}`);
    expect(runtime.calls).toEqual([
      { token: 'aws:ecr/getImage:getImage', inputs: { repositoryName: 'berth/auth-service', imageTag: 'main', registryId: OFFLINE_ACCOUNT_ID, region: 'eu-west-1' } },
    ]);
  });

  it("looks a followed tag up in the registry stack's account and region, not the deployer's", async () => {
    // The deployer runs in OFFLINE_ACCOUNT_ID / eu-west-1; the registry stack lives in another account and region.
    const registryStack = 'acme/berth-registry/shared';
    const outputs = ecrRegistryOutputs({ accountId: '210987654321', region: 'us-east-1', services: ['auth-service'] });
    const { result, runtime } = await evaluate(
      () => resolveServiceImage('berth/auth-service:main', new pulumi.StackReference(registryStack).requireOutput('registryUrl') as pulumi.Output<string>),
      { stackOutputs: { [registryStack]: { ...outputs } } },
    );
    await expect(valueOf(result)).resolves.toBe(`210987654321.dkr.ecr.us-east-1.amazonaws.com/berth/auth-service@${offlineDigest('berth/auth-service', 'main')}`);
    expect(runtime.calls.filter((call) => call.token === 'aws:ecr/getImage:getImage').map((call) => call.inputs)).toEqual([
      { repositoryName: 'berth/auth-service', imageTag: 'main', registryId: '210987654321', region: 'us-east-1' },
    ]);
  });

  it('looks a tag up in the account and region an ECR host names', async () => {
    const ref = `210987654321.dkr.ecr.us-east-1.amazonaws.com/berth/auth-service:main`;
    const { result, runtime } = await evaluate(() => resolveServiceImage(ref, HOST));
    await expect(valueOf(result)).resolves.toBe(`210987654321.dkr.ecr.us-east-1.amazonaws.com/berth/auth-service@${offlineDigest('berth/auth-service', 'main')}`);
    expect(runtime.calls[0].inputs).toEqual({ repositoryName: 'berth/auth-service', imageTag: 'main', registryId: '210987654321', region: 'us-east-1' });
  });

  it('refuses a malformed reference and a tag on a registry that is not ECR', () => {
    expect(() => resolveServiceImage('berth/auth-service', HOST)).toThrow('resolveServiceImage: "berth/auth-service": names neither a digest nor a tag');
    expect(() => resolveServiceImage('registry.example.com/berth/auth-service:main', HOST)).toThrow(/not an ECR registry/);
  });
});
