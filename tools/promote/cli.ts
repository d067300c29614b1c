/**
 * Promotion without rebuild: copies a service's image digest from one
 * environment's stack file to the next (dev -> test -> stage -> prod), and
 * optionally moves the environment's tag in the registry to that digest.
 *
 *   npm run promote -- auth-service --from test --to stage [--verify] [--tag] [--dry-run]
 *   npm run promote -- --all --from stage --to prod --tag
 *
 * The thin layer around the pure planning functions (./plan). Every check
 * runs before anything is changed; the target file is written last,
 * atomically (temp file + rename), so on any error both stack files are
 * byte-identical. Exit 0 done, 1 refused (nothing changed), 2 bad arguments.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PROMOTION_CHAIN } from '../../components/common/environments';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { stackFileName } from '../../stacks/common/stackFile';
import { notAnOption, parseCommandLine, UsageError } from '../cli/args';
import { describeChanges, planPromotion, PromotionPlan, registryFor, repositoryPath } from './plan';
import { Manifest, RegistryClient } from './registryClient';
import { PromotionError } from './stackFile';

export const PROMOTE_USAGE = `usage: npm run promote -- <service>|--all --from <env> --to <env> [options]

  --from <env>, --to <env>  one step along ${PROMOTION_CHAIN.join(' -> ')}
  --all                     every service of the --from environment
  --force                   allow skipping a step or going backwards
  --verify                  check that each digest exists in the registry
  --tag                     point the registry tag <to> (e.g. stage) at each digest
                            (manifest PUT of the same bytes: nothing uploaded or rebuilt)
  --registry <host>         registry to talk to; default: the host in the image, else $BERTH_REGISTRY
  --root <dir>              folder holding Pulumi.<env>.yaml (default: the project root)
  --dry-run                 show what would change; change nothing

Registry credentials: BERTH_REGISTRY_AUTH=<user:password | password (user AWS)>,
e.g. BERTH_REGISTRY_AUTH=$(aws ecr get-login-password). Plain HTTP only for 127.0.0.1/localhost.`;

export interface PromoteArgs {
  services: string[] | 'all';
  from: string;
  to: string;
  force: boolean;
  verify: boolean;
  tag: boolean;
  dryRun: boolean;
  registry?: string;
  root?: string;
}

export function parsePromoteArgs(argv: string[]): PromoteArgs | 'help' {
  const line = parseCommandLine(argv, {
    values: {
      from: notAnOption('--from takes an environment name'),
      to: notAnOption('--to takes an environment name'),
      registry: notAnOption('--registry takes a registry host, e.g. 127.0.0.1:5000'),
      root: notAnOption('--root takes the folder holding Pulumi.<env>.yaml'),
    },
    switches: ['all', 'force', 'verify', 'tag', 'dry-run'],
  });
  if (line.help) {
    return 'help';
  }
  const { from, to, registry, root } = line.values;
  if (!from || !to) {
    throw new UsageError(`${!from ? '--from' : '--to'} is required`);
  }
  const all = line.switches.all;
  const services = line.positional;
  if (all === (services.length > 0)) {
    throw new UsageError(all ? '--all promotes every service; name no service with it' : 'name a service to promote, or pass --all');
  }
  return {
    services: all ? 'all' : services,
    from,
    to,
    force: line.switches.force,
    verify: line.switches.verify,
    tag: line.switches.tag,
    dryRun: line.switches['dry-run'],
    ...(registry === undefined ? {} : { registry }),
    ...(root === undefined ? {} : { root }),
  };
}

export interface PromoteIo {
  /** Folder holding Pulumi.<env>.yaml when --root is not given. */
  root: string;
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  fetch?: typeof fetch;
}

/** Runs the CLI; returns the exit code (0 done, 1 refused or failed, 2 bad arguments). */
export async function runPromote(argv: string[], io: PromoteIo): Promise<number> {
  let args: PromoteArgs | 'help';
  try {
    args = parsePromoteArgs(argv);
  } catch (error) {
    io.stderr(`promote: ${(error as Error).message}\n${PROMOTE_USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    io.stdout(`${PROMOTE_USAGE}\n`);
    return 0;
  }
  try {
    await promote(args, io);
    return 0;
  } catch (error) {
    if (error instanceof PromotionError) {
      io.stderr(`promote: ${error.message}\nnothing was changed.\n`);
      return 1;
    }
    throw error;
  }
}

async function promote(args: PromoteArgs, io: PromoteIo): Promise<void> {
  const root = path.resolve(args.root ?? io.root);
  const fromPath = path.join(root, stackFileName(args.from));
  const toPath = path.join(root, stackFileName(args.to));
  const fromText = readFile(fromPath, root);
  const toText = readFile(toPath, root);
  const plan = planPromotion({ from: args.from, to: args.to, services: args.services, force: args.force }, fromText, toText);

  // Registry checks (read-only) before anything changes, also in a dry run.
  const tagMoves: { service: string; client: RegistryClient; repository: string; manifest: Manifest; previous?: string }[] = [];
  const registryLines: string[] = [];
  if (args.verify || args.tag) {
    const clients = new Map<string, RegistryClient>();
    for (const change of plan.changes) {
      const registry = args.registry ?? registryFor(change.repository, io.env.BERTH_REGISTRY || undefined);
      if (!registry) {
        throw new PromotionError(`${change.service}: ${change.repository} names no registry host; pass --registry <host> or set BERTH_REGISTRY`);
      }
      const client = clients.get(registry) ?? new RegistryClient({ registry, auth: io.env.BERTH_REGISTRY_AUTH, fetch: io.fetch });
      clients.set(registry, client);
      const repository = repositoryPath(change.repository);
      const manifest = await client.getManifest(repository, change.digest);
      if (!manifest) {
        throw new PromotionError(`${change.service}: ${repository}@${change.digest} is not in the registry at ${client.baseUrl}; was it pushed (or expired)?`);
      }
      registryLines.push(`${change.service}: ${repository}@${change.digest} exists in ${client.baseUrl}`);
      if (args.tag) {
        tagMoves.push({ service: change.service, client, repository, manifest, previous: await client.tagDigest(repository, args.to) });
      }
    }
  }

  const verb = args.dryRun ? 'would promote' : 'promoting';
  io.stdout(`${verb} ${args.from} -> ${args.to} (${plan.fromFile} -> ${plan.toFile})\n`);
  io.stdout(describeChanges(plan).map((line) => `${line}\n`).join(''));
  if (plan.diff) {
    io.stdout(plan.diff);
  }
  io.stdout(registryLines.map((line) => `${line}\n`).join(''));

  for (const move of tagMoves) {
    const line = `${move.service}: tag ${move.repository}:${args.to} ${move.previous ?? '(new)'} -> ${move.manifest.digest}`;
    if (move.previous === move.manifest.digest) {
      io.stdout(`${line} (already there)\n`);
    } else if (args.dryRun) {
      io.stdout(`would tag: ${line}\n`);
    } else {
      await move.client.putTag(move.repository, args.to, move.manifest);
      io.stdout(`tagged: ${line} (manifest PUT, no layer uploaded)\n`);
    }
  }

  if (plan.newText === toText) {
    io.stdout(`${plan.toFile} already runs these images; not rewritten.\n`);
  } else if (args.dryRun) {
    io.stdout(`dry run: ${plan.toFile} not written, registry not changed.\n`);
  } else {
    writeAtomically(toPath, toText, plan.newText);
    io.stdout(`wrote ${plan.toFile}; run pulumi up --stack ${args.to} to deploy.\n`);
  }
}

function readFile(file: string, root: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PromotionError(`${path.basename(file)}: ${code === 'ENOENT' ? `no such file in ${root}` : `cannot read (${code})`}`);
  }
}

/** Writes `text` to a temp file beside `file` and renames it over `file`, unless `file` changed since it was read. */
export function writeAtomically(file: string, expectedBefore: string, text: string): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.promote-${process.pid}.tmp`);
  try {
    const mode = fs.statSync(file).mode & 0o777;
    const fd = fs.openSync(temp, 'wx', mode);
    try {
      fs.writeFileSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (fs.readFileSync(file, 'utf8') !== expectedBefore) {
      throw new PromotionError(`${path.basename(file)} changed while promoting; run the promotion again`);
    }
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    if (error instanceof PromotionError) {
      throw error;
    }
    throw new PromotionError(`${path.basename(file)}: cannot write (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

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
