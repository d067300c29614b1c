/**
 * Writes to stdout and resolves once the text is handed to the OS. A pipe
 * takes writes asynchronously, and `process.exit` would otherwise cut a long
 * output short (`synth prod | jq`, and `synth diff` reading the base's synth).
 */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}
