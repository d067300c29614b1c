/**
 * A minimal Docker Registry HTTP API v2 client (ECR speaks it too): enough to
 * check that a manifest exists and to point a tag at an existing manifest by
 * PUTting the very same bytes. No blob is ever uploaded and nothing is built.
 *
 * Credentials come from one string (BERTH_REGISTRY_AUTH) and go only into the
 * Authorization header: never into a URL, a message or an error.
 */
import { createHash } from 'crypto';
import { PromotionError } from './stackFile';

/** Every manifest type a registry may hold for one image: single-platform and multi-platform, Docker and OCI. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * The base URL of a registry: `host[:port]` means HTTPS, except loopback
 * hosts, which mean plain HTTP. An explicit `http://` is refused for any
 * other host, so credentials never cross the network in clear.
 */
export function registryBaseUrl(registry: string): string {
  const match = /^(?:(https?):\/\/)?([^/\s]+?)\/?$/.exec(registry.trim());
  if (!match) {
    throw new PromotionError(`--registry: expected a registry host like 123456789012.dkr.ecr.eu-west-1.amazonaws.com or 127.0.0.1:5000, got "${registry}"`);
  }
  const [, scheme, authority] = match;
  const hostname = authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.split(':')[0];
  const loopback = LOOPBACK.has(hostname.toLowerCase());
  if (scheme === 'http' && !loopback) {
    throw new PromotionError(`--registry: plain HTTP is allowed only for 127.0.0.1 and localhost, got "${registry}"; use https://`);
  }
  return `${scheme ?? (loopback ? 'http' : 'https')}://${authority}`;
}

/**
 * The Basic credentials in BERTH_REGISTRY_AUTH: `user:password`, a bare
 * password (user `AWS`, what `aws ecr get-login-password` prints), or an
 * already base64-encoded `user:password` (ECR's authorizationToken).
 */
export function basicCredentials(auth: string | undefined): string | undefined {
  const value = auth?.trim();
  if (!value) {
    return undefined;
  }
  if (value.includes(':')) {
    return Buffer.from(value).toString('base64');
  }
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? Buffer.from(value, 'base64').toString('utf8') : '';
  if (/^[A-Za-z0-9_.@-]+:\S+$/.test(decoded)) {
    return value;
  }
  return Buffer.from(`AWS:${value}`).toString('base64');
}

export interface Manifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface RegistryClientOptions {
  /** Registry host or URL (see registryBaseUrl). */
  registry: string;
  /** BERTH_REGISTRY_AUTH's value. */
  auth?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Per request. @default 15000 */
  timeoutMs?: number;
}

export class RegistryClient {
  readonly baseUrl: string;
  private readonly basic: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private bearer: string | undefined;

  constructor(options: RegistryClientOptions) {
    this.baseUrl = registryBaseUrl(options.registry);
    this.basic = basicCredentials(options.auth);
    this.fetchImpl = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 15000;
  }

  /** The manifest stored under a digest or tag, or undefined when the registry has none. */
  async getManifest(repository: string, reference: string): Promise<Manifest | undefined> {
    const response = await this.request('GET', `/v2/${repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT });
    if (response.status === 404) {
      return undefined;
    }
    this.check(response, `GET ${repository}:${reference}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const mediaType = response.headers.get('content-type')?.split(';')[0].trim() || mediaTypeOf(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new PromotionError(`registry ${this.baseUrl}: the manifest served for ${repository}@${reference} hashes to ${digest}; refusing to re-tag it`);
    }
    return { digest, mediaType, bytes };
  }

  /** The digest a tag points at now, or undefined when the tag does not exist. */
  async tagDigest(repository: string, tag: string): Promise<string | undefined> {
    const response = await this.request('HEAD', `/v2/${repository}/manifests/${tag}`, { Accept: MANIFEST_ACCEPT });
    if (response.status === 404) {
      return undefined;
    }
    this.check(response, `HEAD ${repository}:${tag}`);
    return response.headers.get('docker-content-digest') ?? (await this.getManifest(repository, tag))?.digest;
  }

  /** Points `tag` at an existing manifest by PUTting its exact bytes: a manifest write, no layer upload. */
  async putTag(repository: string, tag: string, manifest: Manifest): Promise<void> {
    const response = await this.request('PUT', `/v2/${repository}/manifests/${tag}`, { 'Content-Type': manifest.mediaType }, manifest.bytes);
    this.check(response, `PUT ${repository}:${tag}`);
    const stored = response.headers.get('docker-content-digest');
    if (stored && stored !== manifest.digest) {
      throw new PromotionError(`registry ${this.baseUrl}: tagging ${repository}:${tag} stored ${stored}, not ${manifest.digest}`);
    }
  }

  private check(response: Response, what: string): void {
    if (response.ok) {
      return;
    }
    if (response.status === 401 || response.status === 403) {
      throw new PromotionError(
        `registry ${this.baseUrl} refused ${what} (HTTP ${response.status}); ${this.basic ? 'the credentials in BERTH_REGISTRY_AUTH were not accepted' : 'set BERTH_REGISTRY_AUTH (e.g. BERTH_REGISTRY_AUTH=$(aws ecr get-login-password))'}`,
      );
    }
    throw new PromotionError(`registry ${this.baseUrl} answered ${what} with HTTP ${response.status}`);
  }

  private async request(method: string, pathname: string, headers: Record<string, string>, body?: Buffer): Promise<Response> {
    let response = await this.send(method, this.baseUrl + pathname, { ...headers, ...this.authorization() }, body);
    const challenge = response.status === 401 ? response.headers.get('www-authenticate') : null;
    if (challenge && /^bearer /i.test(challenge) && !this.bearer) {
      // Token-auth registries (Docker Hub style): trade the Basic credentials for a bearer token once.
      this.bearer = await this.fetchToken(challenge);
      response = await this.send(method, this.baseUrl + pathname, { ...headers, ...this.authorization() }, body);
    }
    return response;
  }

  private authorization(): Record<string, string> {
    if (this.bearer) {
      return { Authorization: `Bearer ${this.bearer}` };
    }
    return this.basic ? { Authorization: `Basic ${this.basic}` } : {};
  }

  private async fetchToken(challenge: string): Promise<string> {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]]));
    if (!params.realm) {
      throw new PromotionError(`registry ${this.baseUrl} asked for a bearer token without saying where to get one`);
    }
    const realm = new URL(params.realm);
    registryBaseUrl(`${realm.protocol}//${realm.host}`); // refuses plain HTTP off loopback for the token endpoint too
    for (const key of ['service', 'scope']) {
      if (params[key]) {
        realm.searchParams.set(key, params[key]);
      }
    }
    const response = await this.send('GET', realm.toString(), this.basic ? { Authorization: `Basic ${this.basic}` } : {});
    if (!response.ok) {
      throw new PromotionError(`registry ${this.baseUrl}: the token service ${realm.origin} answered HTTP ${response.status}`);
    }
    const json = (await response.json()) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token) {
      throw new PromotionError(`registry ${this.baseUrl}: the token service ${realm.origin} returned no token`);
    }
    return token;
  }

  private async send(method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<Response> {
    try {
      return await this.fetchImpl(url, { method, headers, body, redirect: 'follow', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      // Only the code: a fetch error's message may quote request details.
      const cause = (error as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
      const reason =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs / 1000}s`
          : (cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (error as Error).name);
      throw new PromotionError(`cannot reach the registry at ${new URL(url).origin} (${reason})`);
    }
  }
}

function mediaTypeOf(bytes: Buffer): string {
  try {
    const mediaType = JSON.parse(bytes.toString('utf8')).mediaType;
    if (typeof mediaType === 'string') {
      return mediaType;
    }
  } catch {
    // fall through
  }
  return 'application/vnd.docker.distribution.manifest.v2+json';
}
