/** One line of a line-by-line comparison: kept (' '), removed ('-') or added ('+'), with its 0-based line numbers. */
export interface LineOp {
  kind: ' ' | '-' | '+';
  text: string;
  aLine: number;
  bLine: number;
}

/**
 * Compares two texts line by line by longest common subsequence, the basis of
 * every diff Berth prints (promotion edits, synth diffs). Quadratic, which is
 * fine for stack files and rendered scripts of a few hundred lines.
 */
export function diffLines(before: string, after: string): LineOp[] {
  const a = before.split('\n');
  const b = after.split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops: LineOp[] = [];
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
  return ops;
}
