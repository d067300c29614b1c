/**
 * Layered images against the real engine and registry: a service image built
 * FROM the base image pinned by digest (the build arg LayeredImages passes)
 * adds only its own layers, and pushing it uploads only those.
 *
 * Every push goes through a small recording HTTP proxy on 127.0.0.1 in front
 * of the test registry, so blob uploads are counted on the wire as well as
 * from `docker push` output. Docker commands run asynchronously: the proxy
 * lives in this process and must keep serving while they run.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { BASE_IMAGE_BUILD_ARG, serviceBuildArgs } from '../../components/registry/layeredImages';
import { docker, DIGEST_PATTERN, TEST_BASE_IMAGE, TEST_REGISTRY, uniqueName } from '../support/docker';

interface Recorded {
  method: string;
  url: string;
  status: number;
}

/** Forwards every request to the test registry unchanged (Host kept, so Location headers point back here) and records it. */
function startRecordingProxy(): Promise<{ host: string; requests: Recorded[]; close: () => Promise<void> }> {
  const [upstreamHost, upstreamPort] = TEST_REGISTRY.split(':');
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const upstream = http.request({ host: upstreamHost, port: Number(upstreamPort), method: req.method, path: req.url, headers: req.headers }, (answer) => {
      requests.push({ method: req.method!, url: req.url!, status: answer.statusCode! });
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        requests,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    ),
  );
}

function dockerAsync(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('docker', args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error ? reject(new Error(`docker ${args.join(' ')} failed:\n${stderr}`)) : resolve(stdout),
    ),
  );
}

async function build(tag: string, dockerfile: string, buildArgs: Record<string, string> = {}): Promise<void> {
  const context = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-layers-'));
  try {
    fs.writeFileSync(path.join(context, 'Dockerfile'), dockerfile);
    const args = Object.entries(buildArgs).flatMap(([key, value]) => ['--build-arg', `${key}=${value}`]);
    await dockerAsync(['build', '-q', ...args, '-t', tag, context], { ...process.env, DOCKER_BUILDKIT: '0' });
  } finally {
    fs.rmSync(context, { recursive: true, force: true });
  }
}

/** `docker push` and its per-layer report: short layer id -> "Pushed" | "Layer already exists" | "Mounted from …". */
async function push(tag: string): Promise<{ digest: string; layers: Map<string, string> }> {
  const output = await dockerAsync(['push', tag]);
  const layers = new Map<string, string>();
  for (const match of output.matchAll(/^([0-9a-f]{12}): (Pushed|Layer already exists|Mounted from \S+)\s*$/gm)) {
    layers.set(match[1], match[2]);
  }
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(output)?.[1];
  if (!digest) {
    throw new Error(`docker push ${tag} printed no digest:\n${output}`);
  }
  return { digest, layers };
}

function diffIds(tag: string): string[] {
  return JSON.parse(docker('image', 'inspect', '--format', '{{json .RootFS.Layers}}', tag));
}

async function manifest(host: string, repository: string, reference: string): Promise<{ config: { digest: string }; layers: { digest: string }[] }> {
  const response = await fetch(`http://${host}/v2/${repository}/manifests/${reference}`, {
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { config: { digest: string }; layers: { digest: string }[] };
}

/** Digests of blobs whose upload completed (the final PUT of an upload session carries ?digest=). */
function uploadedBlobs(requests: Recorded[], repository: string): string[] {
  return requests
    .filter((r) => r.method === 'PUT' && r.url.startsWith(`/v2/${repository}/blobs/uploads/`) && r.status === 201)
    .map((r) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(r.url)?.[1] ?? ''))
    .sort();
}

describe('layered images on the real engine and registry', () => {
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  const namespace = `berth-it/${uniqueName('layers')}`;
  const tags: string[] = [];

  beforeAll(async () => {
    proxy = await startRecordingProxy();
  });

  afterAll(async () => {
    for (const tag of tags) {
      try {
        docker('image', 'rm', tag);
      } catch {
        // already gone
      }
    }
    await proxy.close();
  });

  it('pushes a service image after the base by uploading only the service layers', async () => {
    const baseTag = `${proxy.host}/${namespace}/base:build`;
    tags.push(baseTag);
    await build(baseTag, [`FROM ${TEST_BASE_IMAGE}`, `RUN echo ${namespace} > /etc/base-release`, 'RUN mkdir -p /opt/lib && echo shared-library > /opt/lib/shared.txt', ''].join('\n'));
    const base = await push(baseTag);
    expect(base.digest).toMatch(DIGEST_PATTERN);
    const baseRef = `${proxy.host}/${namespace}/base@${base.digest}`;
    const baseLayers = diffIds(baseTag);
    const baseManifest = await manifest(proxy.host, `${namespace}/base`, base.digest);

    const figures: string[] = [];
    for (const service of ['svc-a', 'svc-b']) {
      const tag = `${proxy.host}/${namespace}/${service}:build`;
      tags.push(tag);
      // The Dockerfile convention LayeredImages relies on: the base arrives pinned by digest as a build arg.
      const buildArgs = serviceBuildArgs(baseRef);
      expect(buildArgs).toEqual({ [BASE_IMAGE_BUILD_ARG]: baseRef });
      await build(tag, [`ARG ${BASE_IMAGE_BUILD_ARG}`, `FROM \${${BASE_IMAGE_BUILD_ARG}}`, `RUN echo ${service}-${namespace} > /opt/${service}`, ''].join('\n'), buildArgs);

      const layers = diffIds(tag);
      expect(layers.slice(0, baseLayers.length)).toEqual(baseLayers);
      const ownLayers = layers.slice(baseLayers.length);
      expect(ownLayers).toHaveLength(1);

      proxy.requests.length = 0;
      const pushed = await push(tag);
      const short = (diffId: string) => diffId.slice('sha256:'.length, 'sha256:'.length + 12);
      // docker push's own account: base layers already in the registry, only the service layer pushed.
      for (const diffId of baseLayers) {
        expect([short(diffId), pushed.layers.get(short(diffId))]).toEqual([short(diffId), expect.stringMatching(/^(Layer already exists|Mounted from berth-it\/)/)]);
      }
      // docker push reports layers as their uploads finish, in no promised order.
      expect([...pushed.layers].filter(([, status]) => status === 'Pushed').map(([id]) => id).sort()).toEqual(ownLayers.map(short).sort());

      // The wire's account: the blobs uploaded are the service layer and the image config, nothing of the base.
      const serviceManifest = await manifest(proxy.host, `${namespace}/${service}`, pushed.digest);
      expect(serviceManifest.layers.slice(0, baseManifest.layers.length)).toEqual(baseManifest.layers);
      const ownBlobs = serviceManifest.layers.slice(baseManifest.layers.length).map((layer) => layer.digest);
      const uploads = uploadedBlobs(proxy.requests, `${namespace}/${service}`);
      expect(uploads).toEqual([...ownBlobs, serviceManifest.config.digest].sort());
      for (const layer of baseManifest.layers) {
        expect(uploads).not.toContain(layer.digest);
      }
      figures.push(
        `${service}: ${layers.length} layers, ${baseLayers.length} from the base reported ${[...new Set(baseLayers.map((id) => pushed.layers.get(short(id))!.replace(/ from .*/, '')))].join('/')}, ` +
          `${uploads.length} blob uploads (${ownBlobs.length} layer + 1 config), ${proxy.requests.length} requests`,
      );
    }
    process.stdout.write(`registry-images figures:\n${figures.join('\n')}\n`);
  });
});
