/**
 * `npm run promote -- <service>|--all --from <env> --to <env> [options]`: the
 * thin layer around the pure planning functions. Every check runs before
 * anything is changed; the target file is written last, atomically (temp
 * file + rename), so on any error both stack files are byte-identical.
 */
import * as fs from 'fs';
import * as path from 'path';
import { stackFileName } from '../../common/records';
import { DEFAULT_CHAIN, describeChanges, planPromotion, PromotionPlan, registryFor, repositoryPath } from './plan';
import { Manifest, RegistryClient } from './registryClient';
import { PromotionError } from './stackFile';

export const PROMOTE_USAGE = `usage: npm run promote -- <service>|--all --from <env> --to <env> [options]

  --from <env>, --to <env>  one step along ${DEFAULT_CHAIN.join(' -> ')}
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

export class UsageError extends Error {}

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
  const args: Partial<PromoteArgs> & { services: string[] } = { services: [], force: false, verify: false, tag: false, dryRun: false };
  let all = false;
  const value = (index: number, option: string, what: string) => {
    const next = argv[index + 1];
    if (next === undefined || next.startsWith('--')) {
      throw new UsageError(`${option} takes ${what}`);
    }
    return next;
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    switch (arg) {
      case '-h':
      case '--help':
        return 'help';
      case '--from':
        args.from = value(index++, arg, 'an environment name');
        break;
      case '--to':
        args.to = value(index++, arg, 'an environment name');
        break;
      case '--registry':
        args.registry = value(index++, arg, 'a registry host, e.g. 127.0.0.1:5000');
        break;
      case '--root':
        args.root = value(index++, arg, 'the folder holding Pulumi.<env>.yaml');
        break;
      case '--all':
        all = true;
        break;
      case '--force':
        args.force = true;
        break;
      case '--verify':
        args.verify = true;
        break;
      case '--tag':
        args.tag = true;
        break;
      case '--dry-run':
        args.dryRun = true;
        break;
      default:
        if (arg.startsWith('-')) {
          throw new UsageError(`unknown option ${arg}`);
        }
        args.services.push(arg);
    }
  }
  if (!args.from || !args.to) {
    throw new UsageError(`${!args.from ? '--from' : '--to'} is required`);
  }
  if (all === (args.services.length > 0)) {
    throw new UsageError(all ? '--all promotes every service; name no service with it' : 'name a service to promote, or pass --all');
  }
  return { ...(args as PromoteArgs), services: all ? 'all' : args.services };
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
