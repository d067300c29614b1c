import { diffLines } from '../../components/common/lineDiff';

/** A unified-style line diff (`---`/`+++`, `@@ -a,b +c,d @@` hunks), for showing a promotion's exact change. */
export function unifiedDiff(before: string, after: string, beforeLabel: string, afterLabel: string, context = 2): string {
  const ops = diffLines(before, after);
  const changed = ops.map((op, index) => (op.kind !== ' ' ? index : -1)).filter((index) => index >= 0);
  if (changed.length === 0) {
    return '';
  }
  const lines = [`--- ${beforeLabel}`, `+++ ${afterLabel}`];
  let cursor = 0;
  while (cursor < changed.length) {
    const first = Math.max(0, changed[cursor] - context);
    let last = changed[cursor];
    while (cursor + 1 < changed.length && changed[cursor + 1] - last <= 2 * context + 1) {
      last = changed[++cursor];
    }
    cursor++;
    const end = Math.min(ops.length - 1, last + context);
    const hunk = ops.slice(first, end + 1);
    const aCount = hunk.filter((op) => op.kind !== '+').length;
    const bCount = hunk.filter((op) => op.kind !== '-').length;
    lines.push(`@@ -${hunk[0].aLine + 1},${aCount} +${hunk[0].bLine + 1},${bCount} @@`);
    lines.push(...hunk.map((op) => `${op.kind}${op.text}`));
  }
  return lines.join('\n') + '\n';
}
