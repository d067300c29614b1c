/**
 * Helpers for integration tests that reach the test bed's sshd (test/testbed/setup.sh): a dedicated
 * OpenSSH server on loopback that lets one deploy user in by key only, with passwordless sudo and an
 * AL2023-like sshd_config (AcceptEnv only for the locale variables).
 *
 * sshRun runs a command the way @pulumi/command's remote.Command runs `create` with `stdin`: one
 * "exec" request carrying the command string, which sshd hands to the user's shell (`bash -c`), no
 * tty, stdin streamed then closed, no environment sent unless asked for.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { RunResult, TESTBED_DIR } from './docker';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** The private key authorized for `user` (ed25519, mode 0600). */
  privateKeyPath: string;
  publicKeyPath: string;
  /** A known_hosts file holding the test sshd's host key, as `[host]:port`. */
  knownHostsPath: string;
  /** The test sshd's own log (LogLevel VERBOSE). */
  logPath: string;
}

const SSH_DIR = path.join(TESTBED_DIR, 'ssh');

export const SSH_TARGET: SshTarget = {
  host: '127.0.0.1',
  port: Number(process.env.BERTH_TEST_SSH_PORT ?? 2222),
  user: 'berth-deploy',
  privateKeyPath: path.join(SSH_DIR, 'id_ed25519'),
  publicKeyPath: path.join(SSH_DIR, 'id_ed25519.pub'),
  knownHostsPath: path.join(SSH_DIR, 'known_hosts'),
  logPath: path.join(SSH_DIR, 'sshd.log'),
};

/** The authorized private key's text, as a Pulumi `connection.privateKey` would carry it. */
export function sshPrivateKey(): string {
  return fs.readFileSync(SSH_TARGET.privateKeyPath, 'utf8');
}

/** The test sshd's host public key (`ssh-ed25519 AAAA...`), for pinning. */
export function sshHostKey(): string {
  const line = fs.readFileSync(SSH_TARGET.knownHostsPath, 'utf8').trim();
  return line.split(/\s+/).slice(1, 3).join(' ');
}

export interface SshOptions {
  /** Key to authenticate with. @default SSH_TARGET.privateKeyPath */
  identityFile?: string;
  /** Login name. @default SSH_TARGET.user */
  user?: string;
  /**
   * Environment variables to offer the server (OpenSSH SendEnv); the server keeps only those its
   * AcceptEnv names. OpenSSH's client sends them without asking for a reply, so a refusal is silent
   * here; @pulumi/command's client asks for one and fails the command instead.
   */
  sendEnv?: Record<string, string>;
  /** Gives up after this long (the ssh process is killed). @default 120 */
  timeoutSeconds?: number;
}

/** The OpenSSH client options every call uses: no system or user ssh_config, host key pinned, no prompts. */
export function sshOptionArgs(options: SshOptions = {}): string[] {
  const args = [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${SSH_TARGET.knownHostsPath}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'ConnectTimeout=10',
    '-o', 'LogLevel=ERROR',
    '-i', options.identityFile ?? SSH_TARGET.privateKeyPath,
  ];
  for (const name of Object.keys(options.sendEnv ?? {})) {
    args.push('-o', `SendEnv=${name}`);
  }
  return args;
}

function spawn(command: string, args: string[], stdin: string, options: SshOptions): RunResult {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...options.sendEnv };
  const result = spawnSync(command, args, {
    input: stdin,
    env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: (options.timeoutSeconds ?? 120) * 1000,
    killSignal: 'SIGKILL',
  });
  if (result.error && (result.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') {
    throw result.error;
  }
  return { status: result.status ?? 1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/**
 * Runs `command` on the test host through the test sshd and returns its exit status and output.
 * The command string is executed by the login user's shell (bash -c, not a login shell), with no
 * tty; `stdin` (default: nothing) is streamed to it and then closed. Never throws on a non-zero exit;
 * ssh's own failures (refused key, unknown host key) exit 255.
 */
export function sshRun(command: string, stdin?: string, options: SshOptions = {}): RunResult {
  const args = [
    ...sshOptionArgs(options),
    '-T',
    '-p', String(SSH_TARGET.port),
    '-l', options.user ?? SSH_TARGET.user,
    SSH_TARGET.host,
    '--',
    command,
  ];
  return spawn('ssh', args, stdin ?? '', options);
}

/**
 * Copies a local file to `remotePath` on the test host over SFTP (OpenSSH's scp speaks SFTP since
 * 9.0), as @pulumi/command's CopyToRemote does. The file lands owned by the login user.
 */
export function sshCopy(localPath: string, remotePath: string, options: SshOptions = {}): RunResult {
  const args = [...sshOptionArgs(options), '-q', '-P', String(SSH_TARGET.port), localPath, `${options.user ?? SSH_TARGET.user}@${SSH_TARGET.host}:${remotePath}`];
  return spawn('scp', args, '', options);
}
