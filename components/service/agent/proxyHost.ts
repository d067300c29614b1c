/**
 * What the agent needs of the host proxy, as an interface: HaproxyRuntime
 * (./proxy.ts) is the real one, the unit tests' fake another. Its own module,
 * so the agent's context can name it without importing the proxy's code.
 */

/** The HAProxy runtime API and reload, as the agent needs them. */
export interface ProxyRuntime {
  /** One runtime API command; the answer text. */
  command(line: string): Promise<string>;
  /** Checks the configuration the proxy would load; a message when it is not valid. */
  check(): string | undefined;
  /** Asks the proxy to load its configuration again; returns once the request is sent. */
  reload(): Promise<void>;
  /** The pids of the proxy's old processes: those a reload replaced that still finish connections. */
  oldProcesses(): Promise<number[]>;
}

/** Where the host proxy's files are, and how to reach it. */
export interface ProxyHost {
  runtime: ProxyRuntime;
  /** The folder of the services' files (HAProxy loads every `*.cfg` in it). */
  servicesDir: string;
}
