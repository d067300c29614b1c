/**
 * An in-memory Docker engine behind the agent's Engine interface, modelling
 * what the real one does for the calls the agent makes: containers with
 * names, labels, states and port bindings; images named by digest reference,
 * by local tag and by id; a registry to pull from; the engine's refusals
 * (409 on a name in use, 404 for a missing image or container, 500 when a
 * host port is already allocated). Every call is recorded, in order, with
 * container ids shown as the container's name at the time of the call, so a
 * test asserts the exact sequence of a deploy.
 */
import { createHash } from 'crypto';
import type {
  ContainerCreateBody,
  ContainerDetails,
  ContainerSummary,
  Engine,
  ExecResult,
  Filters,
  ImageSummary,
  PruneReport,
  RegistryAuth,
} from '../../../components/service/agent/engine';
import { EngineError } from '../../../components/service/agent/engine';

/** The clock a test host runs on: `sleep` advances it at once, so a health timeout takes no real time. */
export class FakeClock {
  /** Every pause asked for, in ms, in order. */
  readonly sleeps: number[] = [];

  constructor(public ms: number = Date.UTC(2025, 5, 2, 9, 14, 3)) {}

  now = (): number => this.ms;

  advance(ms: number): void {
    this.ms += ms;
  }

  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.advance(ms);
  };

  /** RFC 3339 with milliseconds, as the engine reports times. */
  iso(): string {
    return new Date(this.ms).toISOString();
  }
}

export type ContainerState = 'created' | 'running' | 'exited' | 'paused' | 'restarting' | 'dead';

export interface FakeContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  state: ContainerState;
  /** The image as the create body named it. */
  image: string;
  imageId: string;
  body: ContainerCreateBody;
  /** Unix seconds. */
  created: number;
  /** RFC 3339; year 1 when it never finished. */
  finishedAt: string;
  sizeRw: number;
  /** How many health checks (execs) ran in it. */
  checks: number;
}

export interface FakeImage {
  id: string;
  /** `repo:tag` references. */
  tags: Set<string>;
  /** `repo@sha256:…` references. */
  digests: Set<string>;
  size: number;
  /** Layer ids deleted with the image when it is pruned. */
  layers: string[];
}

export interface HealthCheck {
  container: FakeContainer;
  /** 1 for the first check in this container. */
  attempt: number;
  cmd: string[];
  timeoutMs: number;
}

/** What a health command does in a container of an image. */
export type HealthFn = (check: HealthCheck) => ExecResult | Promise<ExecResult>;

export const healthy = (): HealthFn => () => ({ exitCode: 0, output: '' });
/** Fails the first `n - 1` checks in each container, passes from the n-th on. */
export const healthyAfter =
  (n: number, output = 'connection refused\n'): HealthFn =>
  ({ attempt }) =>
    attempt >= n ? { exitCode: 0, output: '' } : { exitCode: 1, output };
export const neverHealthy =
  (output = 'wget: server returned error: HTTP/1.1 404 Not Found\n'): HealthFn =>
  () => ({ exitCode: 1, output });

export const NEVER_FINISHED = '0001-01-01T00:00:00Z';

/** Container ids are predictable: the n-th created is `000n` repeated (64 hex digits). */
export const containerIdFor = (n: number): string => String(n).padStart(4, '0').repeat(16);
/** An image's id is the sha256 of the reference it was first known by. */
export const imageIdFor = (reference: string): string => `sha256:${createHash('sha256').update(reference).digest('hex')}`;

interface InjectedFailure {
  method: keyof Engine;
  error: Error;
  when?: (...args: unknown[]) => boolean;
}

interface RegistryEntry {
  size: number;
  layers: string[];
  /** When set, a pull must carry exactly these credentials. */
  auth?: RegistryAuth;
}

const CONTAINER_FILTERS = new Set(['label', 'status', 'publish']);

export class FakeEngine implements Engine {
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Map<string, FakeImage>();
  readonly registry = new Map<string, RegistryEntry>();
  /** Every call, in order: `create berth-prod-web-next`, `stop berth-prod-web`, … */
  readonly calls: string[] = [];
  /** The credentials each pull carried. */
  readonly pulls: { reference: string; auth?: RegistryAuth }[] = [];
  /** The create bodies, by the name each was created with. */
  readonly bodies = new Map<string, ContainerCreateBody>();
  private readonly health = new Map<string, HealthFn>();
  private readonly logText = new Map<string, string>();
  private readonly failures: InjectedFailure[] = [];
  private created = 0;

  constructor(readonly clock: FakeClock = new FakeClock()) {}

  // ---- set-up for tests ----

  /** An image the registry serves (pulled by this digest reference). */
  publish(reference: string, options: { size?: number; layers?: string[]; auth?: RegistryAuth } = {}): void {
    this.registry.set(reference, { size: options.size ?? 1000, layers: options.layers ?? [], auth: options.auth });
  }

  /** An image already on the host, known by `reference`. */
  addImage(reference: string, options: { size?: number; layers?: string[] } = {}): FakeImage {
    const id = imageIdFor(reference);
    const image = this.images.get(id) ?? { id, tags: new Set<string>(), digests: new Set<string>(), size: options.size ?? 1000, layers: options.layers ?? [] };
    (reference.includes('@') ? image.digests : image.tags).add(reference);
    this.images.set(id, image);
    return image;
  }

  /** Gone from the host altogether (as after `docker image rm -f`). */
  deleteImage(reference: string): void {
    const image = this.findImage(reference);
    if (image !== undefined) {
      this.images.delete(image.id);
    }
  }

  /** The health command's behaviour in containers of `image`; healthy when not set. */
  setHealth(image: string, health: HealthFn): void {
    this.health.set(image, health);
  }

  /** What containers of `image` log. */
  setLogs(image: string, text: string): void {
    this.logText.set(image, text);
  }

  /** The next call of `method` (for which `when` holds, if given) throws `error`. */
  failNext(method: keyof Engine, error: Error, when?: (...args: unknown[]) => boolean): void {
    this.failures.push({ method, error, when });
  }

  /** The container named `name` (without the slash), or undefined. */
  byName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].find((container) => container.name === name);
  }

  /** `name id state`, one string a container, sorted by name. */
  containerLines(): string[] {
    return [...this.containers.values()].map((container) => `${container.name} ${container.id.slice(0, 12)} ${container.state}`).sort();
  }

  /** The digest reference (or id) of the image `reference` names, or undefined. */
  imageOf(reference: string): string | undefined {
    const image = this.findImage(reference);
    return image === undefined ? undefined : ([...image.digests][0] ?? image.id);
  }

  /** Every tag on the host: `berth/web:prod-current -> <digest reference>`, sorted. */
  tagLines(): string[] {
    const lines: string[] = [];
    for (const image of this.images.values()) {
      for (const tag of image.tags) {
        lines.push(`${tag} -> ${[...image.digests][0] ?? image.id}`);
      }
    }
    return lines.sort();
  }

  /** The calls that change something (no listing, inspecting, exec, logs or image look-up). */
  mutations(): string[] {
    return this.calls.filter((call) => !/^(list|inspect|exec|logs|hasImage|listImages) /.test(call));
  }

  clearCalls(): void {
    this.calls.length = 0;
    this.pulls.length = 0;
  }

  // ---- the Engine interface ----

  async listContainers(filters: Filters, options: { size?: boolean } = {}): Promise<ContainerSummary[]> {
    this.record('listContainers', `list ${JSON.stringify(filters)}${options.size ? ' size' : ''}`, filters, options);
    for (const key of Object.keys(filters)) {
      if (!CONTAINER_FILTERS.has(key)) {
        throw new EngineError(`invalid filter '${key}'`, 400);
      }
    }
    // Newest first, as the engine lists them.
    const rows = [...this.containers.values()].reverse().filter((container) => this.matches(container, filters));
    return rows.map((container) => ({
      Id: container.id,
      Names: [`/${container.name}`],
      State: container.state,
      Labels: { ...container.labels },
      Created: container.created,
      ...(options.size ? { SizeRw: container.sizeRw } : {}),
      Image: container.image,
    }));
  }

  async inspectContainer(nameOrId: string): Promise<ContainerDetails | undefined> {
    this.record('inspectContainer', `inspect ${this.shown(nameOrId)}`, nameOrId);
    const container = this.find(nameOrId);
    if (container === undefined) {
      return undefined;
    }
    return {
      Id: container.id,
      Name: `/${container.name}`,
      Created: new Date(container.created * 1000).toISOString(),
      State: { Status: container.state, Running: container.state === 'running', FinishedAt: container.finishedAt },
      Config: { Labels: Object.keys(container.labels).length === 0 ? null : { ...container.labels } },
      HostConfig: { PortBindings: structuredClone(container.body.HostConfig.PortBindings) },
    };
  }

  async createContainer(name: string, body: ContainerCreateBody): Promise<string> {
    this.record('createContainer', `create ${name}`, name, body);
    const taken = this.byName(name);
    if (taken !== undefined) {
      throw new EngineError(
        `Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        409,
      );
    }
    const image = this.findImage(body.Image);
    if (image === undefined) {
      throw new EngineError(`No such image: ${body.Image}`, 404);
    }
    const id = containerIdFor(++this.created);
    this.containers.set(id, {
      id,
      name,
      labels: { ...body.Labels },
      state: 'created',
      image: body.Image,
      imageId: image.id,
      body: structuredClone(body),
      created: Math.floor(this.clock.now() / 1000),
      finishedAt: NEVER_FINISHED,
      sizeRw: 0,
      checks: 0,
    });
    this.bodies.set(name, structuredClone(body));
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.record('startContainer', `start ${this.shown(id)}`, id);
    const container = this.mustFind(id);
    if (container.state === 'running') {
      return; // already started (the API's 304)
    }
    for (const wanted of hostBindings(container)) {
      const holder = [...this.containers.values()].find(
        (other) => other !== container && other.state === 'running' && hostBindings(other).some((held) => clashes(held, wanted)),
      );
      if (holder !== undefined) {
        throw new EngineError(
          `driver failed programming external connectivity on endpoint ${container.name} (${container.id}): Bind for ${wanted.ip || '0.0.0.0'}:${wanted.port} failed: port is already allocated`,
          500,
        );
      }
    }
    container.state = 'running';
  }

  async stopContainer(id: string): Promise<void> {
    this.record('stopContainer', `stop ${this.shown(id)}`, id);
    const container = this.mustFind(id);
    if (container.state === 'running' || container.state === 'paused' || container.state === 'restarting') {
      container.state = 'exited';
      container.finishedAt = this.clock.iso();
    }
  }

  async removeContainer(id: string): Promise<void> {
    this.record('removeContainer', `remove ${this.shown(id)}`, id);
    const container = this.mustFind(id);
    this.containers.delete(container.id);
  }

  async renameContainer(id: string, name: string): Promise<void> {
    this.record('renameContainer', `rename ${this.shown(id)} ${name}`, id, name);
    const container = this.mustFind(id);
    const taken = this.byName(name);
    if (taken !== undefined && taken !== container) {
      throw new EngineError(`Conflict. The container name "/${name}" is already in use by container "${taken.id}".`, 409);
    }
    container.name = name;
  }

  async exec(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    this.record('exec', `exec ${this.shown(id)} ${JSON.stringify(cmd)} ${timeoutMs}`, id, cmd, timeoutMs);
    const container = this.mustFind(id);
    if (container.state !== 'running') {
      throw new EngineError(`container ${container.id} is not running`, 409);
    }
    container.checks++;
    const health = this.health.get(container.image) ?? healthy();
    return health({ container, attempt: container.checks, cmd, timeoutMs });
  }

  async logs(id: string, lines: number): Promise<string> {
    this.record('logs', `logs ${this.shown(id)} ${lines}`, id, lines);
    const container = this.mustFind(id);
    // A container that never started logged nothing.
    if (container.state === 'created') {
      return '';
    }
    return (this.logText.get(container.image) ?? '').split('\n').slice(-lines - 1).join('\n');
  }

  async hasImage(reference: string): Promise<boolean> {
    this.record('hasImage', `hasImage ${reference}`, reference);
    return this.findImage(reference) !== undefined;
  }

  async pullImage(reference: string, auth?: RegistryAuth): Promise<void> {
    this.record('pullImage', `pull ${reference}`, reference, auth);
    this.pulls.push(auth === undefined ? { reference } : { reference, auth });
    const entry = this.registry.get(reference);
    if (entry === undefined) {
      throw new EngineError(`manifest for ${reference} not found: manifest unknown: manifest unknown`, 404);
    }
    if (entry.auth !== undefined && JSON.stringify(auth) !== JSON.stringify(entry.auth)) {
      throw new EngineError(`Head "https://${reference.split('/')[0]}/v2/": no basic auth credentials`, 500);
    }
    this.addImage(reference, { size: entry.size, layers: entry.layers });
  }

  async tagImage(source: string, repository: string, tag: string): Promise<void> {
    this.record('tagImage', `tag ${source} ${repository}:${tag}`, source, repository, tag);
    const image = this.findImage(source);
    if (image === undefined) {
      throw new EngineError(`No such image: ${source}`, 404);
    }
    const reference = `${repository}:${tag}`;
    // A tag names one image: it moves.
    for (const other of this.images.values()) {
      other.tags.delete(reference);
    }
    image.tags.add(reference);
  }

  async removeImage(reference: string): Promise<void> {
    this.record('removeImage', `removeImage ${reference}`, reference);
    const image = [...this.images.values()].find((candidate) => candidate.tags.has(reference) || candidate.digests.has(reference));
    if (image === undefined) {
      throw new EngineError(`No such image: ${reference}`, 404);
    }
    image.tags.delete(reference);
    image.digests.delete(reference);
    if (image.tags.size === 0 && image.digests.size === 0 && !this.inUse(image)) {
      this.images.delete(image.id);
    }
  }

  async listImages(filters: Filters): Promise<ImageSummary[]> {
    this.record('listImages', `listImages ${JSON.stringify(filters)}`, filters);
    this.onlyDangling(filters);
    return [...this.images.values()].filter((image) => image.tags.size === 0).map((image) => ({ Id: image.id, RepoDigests: image.digests.size === 0 ? null : [...image.digests] }));
  }

  async pruneImages(filters: Filters): Promise<PruneReport> {
    this.record('pruneImages', `pruneImages ${JSON.stringify(filters)}`, filters);
    this.onlyDangling(filters);
    const deleted: { Deleted?: string; Untagged?: string }[] = [];
    let reclaimed = 0;
    for (const image of [...this.images.values()]) {
      if (image.tags.size > 0 || this.inUse(image)) {
        continue;
      }
      for (const digest of image.digests) {
        deleted.push({ Untagged: digest });
      }
      deleted.push({ Deleted: image.id });
      for (const layer of image.layers) {
        deleted.push({ Deleted: layer });
      }
      reclaimed += image.size;
      this.images.delete(image.id);
    }
    return { ImagesDeleted: deleted.length === 0 ? null : deleted, SpaceReclaimed: reclaimed };
  }

  // ---- internals ----

  private record(method: keyof Engine, call: string, ...args: unknown[]): void {
    this.calls.push(call);
    const index = this.failures.findIndex((failure) => failure.method === method && (failure.when === undefined || failure.when(...args)));
    if (index >= 0) {
      const [failure] = this.failures.splice(index, 1);
      throw failure.error;
    }
  }

  private shown(nameOrId: string): string {
    return this.find(nameOrId)?.name ?? nameOrId;
  }

  private find(nameOrId: string): FakeContainer | undefined {
    if (nameOrId === '') {
      return undefined;
    }
    const exact = this.containers.get(nameOrId) ?? this.byName(nameOrId);
    if (exact !== undefined) {
      return exact;
    }
    const prefixed = [...this.containers.values()].filter((container) => container.id.startsWith(nameOrId));
    return prefixed.length === 1 ? prefixed[0] : undefined;
  }

  private mustFind(id: string): FakeContainer {
    const container = this.find(id);
    if (container === undefined) {
      throw new EngineError(`No such container: ${id}`, 404);
    }
    return container;
  }

  private findImage(reference: string): FakeImage | undefined {
    return this.images.get(reference) ?? [...this.images.values()].find((image) => image.tags.has(reference) || image.digests.has(reference));
  }

  private inUse(image: FakeImage): boolean {
    return [...this.containers.values()].some((container) => container.imageId === image.id);
  }

  private onlyDangling(filters: Filters): void {
    if (JSON.stringify(filters) !== JSON.stringify({ dangling: ['true'] })) {
      throw new EngineError(`the fake engine lists and prunes dangling images only, got ${JSON.stringify(filters)}`, 400);
    }
  }

  private matches(container: FakeContainer, filters: Filters): boolean {
    const labels = filters.label ?? [];
    for (const wanted of labels) {
      const at = wanted.indexOf('=');
      const key = at < 0 ? wanted : wanted.slice(0, at);
      if (!(key in container.labels) || (at >= 0 && container.labels[key] !== wanted.slice(at + 1))) {
        return false;
      }
    }
    if (filters.status !== undefined && !filters.status.includes(container.state)) {
      return false;
    }
    if (filters.publish !== undefined) {
      // Published ports exist while the container runs.
      if (container.state !== 'running') {
        return false;
      }
      const bindings = hostBindings(container);
      return filters.publish.every((wanted) => {
        const [port, proto] = wanted.split('/');
        return bindings.some((binding) => String(binding.port) === port && (proto === undefined || binding.proto === proto));
      });
    }
    return true;
  }
}

interface HostBinding {
  ip: string;
  port: number;
  proto: string;
}

function hostBindings(container: FakeContainer): HostBinding[] {
  const bindings: HostBinding[] = [];
  for (const [key, list] of Object.entries(container.body.HostConfig.PortBindings)) {
    const proto = key.split('/')[1] ?? 'tcp';
    for (const binding of list) {
      if (binding.HostPort === '') {
        continue;
      }
      const [first, last = first] = binding.HostPort.split('-').map(Number);
      for (let port = first; port <= last; port++) {
        bindings.push({ ip: binding.HostIp, port, proto });
      }
    }
  }
  return bindings;
}

const anyAddress = (ip: string): boolean => ip === '' || ip === '0.0.0.0';

function clashes(a: HostBinding, b: HostBinding): boolean {
  return a.port === b.port && a.proto === b.proto && (anyAddress(a.ip) || anyAddress(b.ip) || a.ip === b.ip);
}
