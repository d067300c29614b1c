/** What a folder holds, for tests that must show a command left a host's folders as they were. */
import * as fs from 'fs';
import * as path from 'path';

function walk(root: string, visit: (full: string, entry: fs.Dirent) => void): void {
  if (!fs.existsSync(root)) {
    return;
  }
  const into = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      visit(full, entry);
      if (entry.isDirectory()) {
        into(full);
      }
    }
  };
  into(root);
}

/** Every path under `root` with its mode, mtime and (for files) content, sorted. */
export function listTree(root: string): string[] {
  const lines: string[] = [];
  walk(root, (full, entry) => {
    const stat = fs.statSync(full);
    lines.push(`${path.relative(root, full)} ${stat.mode.toString(8)} ${stat.mtimeMs} ${entry.isFile() ? fs.readFileSync(full, 'utf8') : ''}`);
  });
  return lines.sort();
}

/** Every file under `root` (relative path), sorted. */
export function filesUnder(root: string): string[] {
  const files: string[] = [];
  walk(root, (full, entry) => {
    if (!entry.isDirectory()) {
      files.push(path.relative(root, full));
    }
  });
  return files.sort();
}
