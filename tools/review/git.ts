/**
 * The few git operations review tooling needs, each a thin wrapper over the
 * git CLI that turns failures into messages naming the ref or file.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export class GitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GitError';
  }
}

function git(cwd: string, args: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('git', args, { cwd, input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.error) {
    throw new GitError(`git ${args[0]}: ${result.error.message}`);
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The repository's top folder and the path of `dir` inside it (`''` at the top). */
export function gitLocation(dir: string): { top: string; prefix: string } | undefined {
  const result = git(dir, ['rev-parse', '--show-toplevel', '--show-prefix']);
  if (result.status !== 0) {
    return undefined;
  }
  const [top, prefix = ''] = result.stdout.split('\n');
  return { top, prefix };
}

/** The commit a ref names, or a GitError naming the ref. */
export function resolveCommit(dir: string, ref: string): string {
  if (ref.startsWith('-')) {
    throw new GitError(`git ref "${ref}" is not a ref`);
  }
  const result = git(dir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  if (result.status !== 0) {
    throw new GitError(`git ref "${ref}" does not exist in ${dir} (fetch it first, e.g. git fetch origin ${ref.replace(/^origin\//, '')})`);
  }
  return result.stdout.trim();
}

/** Whether `file` (relative to `dir`) exists in the tree of `commit`. */
export function existsAt(dir: string, commit: string, file: string): boolean {
  return git(dir, ['cat-file', '-e', `${commit}:./${file}`]).status === 0;
}

/** Writes the tree of `commit` into `target` (`git archive | tar -x`), returning the folder that corresponds to `dir`. */
export function exportTree(dir: string, commit: string, target: string): string {
  const location = gitLocation(dir);
  if (!location) {
    throw new GitError(`${dir} is not inside a git repository`);
  }
  const archive = spawnSync('git', ['archive', '--format=tar', commit], { cwd: location.top, maxBuffer: 1024 * 1024 * 1024 });
  if (archive.status !== 0) {
    throw new GitError(`git archive ${commit}: ${archive.stderr.toString().trim()}`);
  }
  const tar = spawnSync('tar', ['-x', '-C', target], { input: archive.stdout });
  if (tar.status !== 0) {
    throw new GitError(`tar -x into ${target}: ${tar.stderr.toString().trim()}`);
  }
  return path.join(target, location.prefix);
}

export interface FileVersion {
  commit: string;
  content: string;
}

/**
 * Every committed version of `file` reachable from HEAD, newest first
 * (`git rev-list HEAD -- file`, then `git show <rev>:file`). Empty outside a
 * repository or before the first commit.
 */
/** Every committed version of `file` reachable from `ref`, newest first. */
export function fileHistory(dir: string, file: string, ref = 'HEAD'): FileVersion[] {
  const list = git(dir, ['rev-list', ref, '--', file]);
  if (list.status !== 0) {
    return [];
  }
  const versions: FileVersion[] = [];
  for (const commit of list.stdout.split('\n').filter(Boolean)) {
    const shown = git(dir, ['show', `${commit}:./${file}`]);
    if (shown.status === 0) {
      versions.push({ commit, content: shown.stdout });
    }
  }
  return versions;
}

export function isShallow(dir: string): boolean {
  return git(dir, ['rev-parse', '--is-shallow-repository']).stdout.trim() === 'true';
}

/** A fresh scratch folder, removed by the returned function. */
export function scratchDir(prefix: string, parent: string = os.tmpdir()): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
