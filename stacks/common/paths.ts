import * as path from 'path';

/** Root of the repository: where `Pulumi.<env>.yaml`, `components/`, `stacks/` and `tools/` live. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
