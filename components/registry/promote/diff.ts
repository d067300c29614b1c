/** A unified-style line diff (`---`/`+++`, `@@ -a,b +c,d @@` hunks), for showing a promotion's exact change. */
export function unifiedDiff(before: string, after: string, beforeLabel: string, afterLabel: string, context = 2): string {
  const a = before.split('\n');
  const b = after.split('\n');
  // Longest common subsequence table; stack files are a few hundred lines at most.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  type Op = { kind: ' ' | '-' | '+'; text: string; aLine: number; bLine: number };
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: ' ', text: a[i], aLine: i++, bLine: j++ });
    } else if (i < a.length && (j >= b.length || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push({ kind: '-', text: a[i], aLine: i++, bLine: j });
    } else {
      ops.push({ kind: '+', text: b[j], aLine: i, bLine: j++ });
    }
  }
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
