/**
 * The part of the Docker Engine API the agent uses, as an interface: the
 * socket client (socketEngine.ts) implements it on a host, and the unit tests
 * implement it in memory, so every path of a deploy runs without Docker.
 * Field names are the Engine API's own.
 */

/** One row of `GET /containers/json`. */
export interface ContainerSummary {
  Id: string;
  /** With the leading slash, as the API gives them. */
  Names: string[];
  /** created, running, paused, restarting, removing, exited or dead. */
  State: string;
  Labels: Record<string, string>;
  /** Unix seconds. */
  Created: number;
  /** Bytes of the writable layer; only when listed with `size`. */
  SizeRw?: number;
  Image: string;
}

/** What `GET /containers/{id}/json` tells the agent. */
export interface ContainerDetails {
  Id: string;
  /** With the leading slash. */
  Name: string;
  Created: string;
  State: { Status: string; Running: boolean; FinishedAt: string };
  Config: { Labels: Record<string, string> | null };
  HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
}

/** The body of `POST /containers/create`. */
export interface ContainerCreateBody {
  Image: string;
  Labels: Record<string, string>;
  Env: string[];
  ExposedPorts: Record<string, Record<string, never>>;
  StopTimeout?: number;
  HostConfig: {
    Binds: string[];
    PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    SecurityOpt: string[];
    LogConfig?: { Type: string; Config: Record<string, string> };
    Memory?: number;
    PidsLimit?: number;
    Privileged?: boolean;
  };
}

/** Filters as the API takes them: `{ label: ['berth.env=prod'], status: ['exited'] }`. */
export type Filters = Record<string, string[]>;

export interface ExecResult {
  exitCode: number;
  /** stdout and stderr as the command wrote them, interleaved. */
  output: string;
}

/** Registry credentials for a pull, as the engine takes them in X-Registry-Auth. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  identitytoken?: string;
  serveraddress: string;
}

export interface PruneReport {
  ImagesDeleted: { Deleted?: string; Untagged?: string }[] | null;
  SpaceReclaimed: number;
}

export interface ImageSummary {
  Id: string;
  RepoDigests: string[] | null;
}

/** Raised for an answer of the engine other than success; `status` is the HTTP status. */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** The engine cannot be reached at all (no socket, refused, no permission). */
export class EngineUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineUnreachable';
  }
}

export interface Engine {
  listContainers(filters: Filters, options?: { size?: boolean }): Promise<ContainerSummary[]>;
  /** undefined when there is no such container. */
  inspectContainer(nameOrId: string): Promise<ContainerDetails | undefined>;
  /** Creates (does not start) a container; never pulls. Returns its id. */
  createContainer(name: string, body: ContainerCreateBody): Promise<string>;
  /** Starts a container; one already running is left as it is. */
  startContainer(id: string): Promise<void>;
  /** Stops with the container's own stop timeout. */
  stopContainer(id: string): Promise<void>;
  /** Removes, running or not. */
  removeContainer(id: string): Promise<void>;
  renameContainer(id: string, name: string): Promise<void>;
  /** Runs `cmd` in the container and waits for it, at most `timeoutMs`. */
  exec(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult>;
  /** The last `lines` lines the container logged, stdout and stderr. */
  logs(id: string, lines: number): Promise<string>;
  /** True when the image is on this host. */
  hasImage(reference: string): Promise<boolean>;
  /** Pulls `reference`; throws EngineError with the registry's message when it fails. */
  pullImage(reference: string, auth?: RegistryAuth): Promise<void>;
  tagImage(source: string, repository: string, tag: string): Promise<void>;
  /** Removes a reference (untags; the image goes when nothing else names it). Throws when missing. */
  removeImage(reference: string): Promise<void>;
  listImages(filters: Filters): Promise<ImageSummary[]>;
  pruneImages(filters: Filters): Promise<PruneReport>;
}
