import { buildImage, docker, DIGEST_PATTERN, pushImage, registryDigest, TEST_REGISTRY, uniqueName } from '../support/docker';

describe('integration test bed', () => {
  it('pushes an image to the local registry and reads back the same digest', async () => {
    const repository = `berth-it/${uniqueName('testbed')}`;
    const tag = `${TEST_REGISTRY}/${repository}:v1`;
    buildImage({ tag, instructions: [`RUN echo ${repository} > /marker`] });

    const pushed = pushImage(tag);
    expect(pushed).toMatch(DIGEST_PATTERN);

    await expect(registryDigest(repository, 'v1')).resolves.toBe(pushed);
    await expect(registryDigest(repository, pushed)).resolves.toBe(pushed);
    // The engine records the same digest once the image has been pushed.
    expect(docker('image', 'inspect', '--format', '{{join .RepoDigests ","}}', tag)).toContain(`${TEST_REGISTRY}/${repository}@${pushed}`);
    docker('image', 'rm', tag);
  });
});
