/**
 * Promotion without rebuild: copies a service's image digest from one
 * environment's stack file to the next (dev -> test -> stage -> prod), and
 * optionally moves the environment's tag in the registry to that digest.
 *
 *   npm run promote -- auth-service --from test --to stage [--verify] [--tag] [--dry-run]
 *   npm run promote -- --all --from stage --to prod --tag
 *
 * Logic: components/registry/promote/. Exit 0 done, 1 refused (nothing
 * changed), 2 bad arguments.
 */
import { runPromote } from '../components/registry/promote/cli';
import { PROJECT_ROOT } from './config';

if (require.main === module) {
  runPromote(process.argv.slice(2), {
    root: PROJECT_ROOT,
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`promote: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
