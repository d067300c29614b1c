/** `npm run synth -- diff <stack> --base <git-ref>`: not built yet. */
export async function runSynthDiff(argv: string[]): Promise<number> {
  process.stderr.write(`synth diff: not implemented (${argv.join(' ')})\n`);
  return 2;
}
