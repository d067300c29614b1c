/**
 * What every command of the agent works with, passed in rather than reached
 * for, so the unit tests run each command against a fake engine, scratch
 * folders and their own clock. main.ts builds the real one.
 */
import type { Engine, RegistryAuth } from './engine';
import type { Roots } from './layout';
import type { Held } from './locks';
import type { ProxyHost } from './proxyHost';

export const PROG = 'berth-agent';

/** Refused input: exit 2, nothing on the host touched. */
export class Refused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Refused';
  }
}

/** The action failed: exit 1. */
export class Failed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Failed';
  }
}

export interface LockProvider {
  forService(env: string, service: string, waitMs: number): Promise<Held>;
  forPrune(waitMs: number): Promise<Held>;
  /** The host proxy's files and reloads, one agent at a time. */
  forProxy(waitMs: number): Promise<Held>;
}

export interface AgentContext {
  engine: Engine;
  /** The host proxy that owns the services' published TCP ports; undefined where the host has none. */
  proxy?: ProxyHost;
  roots: Roots;
  locks: LockProvider;
  /** How long to wait for a lock before giving up. */
  lockWaitMs: number;
  /** Credentials to pull an image with, or undefined for an anonymous pull. */
  credentials(reference: string): Promise<RegistryAuth | undefined>;
  /** Progress, one line (without the newline). */
  say(line: string): void;
  /** Warnings and failure reports, one line or block (without the final newline). */
  warn(text: string): void;
  sleep(ms: number): Promise<void>;
  now(): number;
}

/** Every progress line and warning starts with the program's name. */
export const prefixed = (text: string): string => `${PROG}: ${text}`;
