/**
 * Offline synth: what a stack declares, without cloud, CLI or credentials.
 *
 *   npm run --silent synth -- <stack> [--format json|markdown]
 *
 * Prints `{ stack, resources: [{ type, name, parent, inputs }] }` with every
 * secret shown as "[secret]" and resources in a stable order. Invalid config:
 * the validation messages on stderr, nothing on stdout, exit 1.
 */
import * as pulumi from '@pulumi/pulumi';
import { ConfigError, readStackFile, StackConfig, toRuntimeConfig, validateStackConfig, ValidateOptions } from './config';
import { OFFLINE_ACCOUNT_ID, RecordedResource, SECRET_MARKER, settle, startOfflineRuntime } from './offline';
import { declareStack } from './stack';
import { ecrRegistryOutputs, RegistryStackOutputs } from '../components/registry/contract';

export interface SynthResult {
  stack: string;
  resources: RecordedResource[];
}

export interface SynthOptions extends ValidateOptions {
  /** Folder holding `Pulumi.<stack>.yaml`. @default the project root */
  root?: string;
}

/**
 * What the registry stack exports (the RegistryStackOutputs contract), as the
 * offline runtime answers a StackReference to it: the base repository and one
 * repository per service of the config.
 */
export function offlineRegistryOutputs(config: StackConfig): RegistryStackOutputs & Record<string, unknown> {
  return { ...ecrRegistryOutputs({ accountId: OFFLINE_ACCOUNT_ID, region: config.region, services: config.services.map((service) => service.name) }) };
}

/** Evaluates one stack under mocks and returns every resource it declares. */
export async function synthStack(stack: string, options: SynthOptions = {}): Promise<SynthResult> {
  const file = readStackFile(stack, options.root);
  const config = validateStackConfig(stack, file.config, options);
  return synthConfig(config, file.config);
}

/** Evaluates an already validated config; `rawConfig` is handed to providers as stack config. */
export async function synthConfig(config: StackConfig, rawConfig: Record<string, unknown>): Promise<SynthResult> {
  pulumi.runtime.setAllConfig(toRuntimeConfig(rawConfig), []);
  const runtime = await startOfflineRuntime({
    project: 'berth',
    stack: config.stack,
    region: config.region,
    stackOutputs: { [config.registryStack]: offlineRegistryOutputs(config) },
  });
  // Secrets are never available offline; the program sees placeholders that stay secret.
  declareStack(config, {
    sshPrivateKey: pulumi.secret(SECRET_MARKER),
    secrets: pulumi.secret(Object.fromEntries(config.secretKeys.map((key) => [key, SECRET_MARKER]))),
  });
  await settle();
  return { stack: config.stack, resources: runtime.sortedResources() };
}

/** A reviewer's summary: one table per kind of thing a stack runs. */
export function renderMarkdown(result: SynthResult): string {
  const byType = new Map<string, RecordedResource[]>();
  for (const resource of result.resources) {
    byType.set(resource.type, [...(byType.get(resource.type) ?? []), resource]);
  }
  const lines = [`# Stack \`${result.stack}\``, '', `${result.resources.length} resources.`, ''];
  for (const section of MARKDOWN_SECTIONS) {
    const resources = byType.get(section.type) ?? [];
    if (resources.length === 0) {
      continue;
    }
    lines.push(`## ${section.title}`, '', `| ${section.columns.join(' | ')} |`, `| ${section.columns.map(() => '---').join(' | ')} |`);
    for (const resource of resources) {
      lines.push(`| ${section.row(resource).map((cell) => String(cell ?? '').replace(/\|/g, '\\|')).join(' | ')} |`);
    }
    lines.push('');
  }
  lines.push('## All resources by type', '', '| type | count |', '| --- | --- |');
  for (const type of [...byType.keys()].sort()) {
    lines.push(`| \`${type}\` | ${byType.get(type)!.length} |`);
  }
  return lines.join('\n') + '\n';
}

interface MarkdownSection {
  type: string;
  title: string;
  columns: string[];
  row: (resource: RecordedResource) => unknown[];
}

const MARKDOWN_SECTIONS: MarkdownSection[] = [];

/** Registers a summary table for one resource type; components add theirs next to their code. */
export function addMarkdownSection(section: MarkdownSection): void {
  MARKDOWN_SECTIONS.push(section);
}

export function parseSynthArgs(argv: string[]): { stack: string; format: 'json' | 'markdown'; root?: string } {
  const positional: string[] = [];
  let format: 'json' | 'markdown' = 'json';
  let root: string | undefined;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === '--format') {
      const value = argv[++index];
      if (value !== 'json' && value !== 'markdown') {
        throw new UsageError(`--format takes json or markdown, got ${JSON.stringify(value)}`);
      }
      format = value;
    } else if (arg === '--root') {
      root = argv[++index];
      if (!root) {
        throw new UsageError('--root takes the folder that holds Pulumi.<stack>.yaml');
      }
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) {
    throw new UsageError('expected exactly one stack name');
  }
  return { stack: positional[0], format, root };
}

export class UsageError extends Error {}

const USAGE = 'usage: npm run --silent synth -- <dev|test|stage|prod> [--format json|markdown] [--root <folder with Pulumi.<stack>.yaml>]';

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'diff') {
    // Loaded on demand: plain synth never pays for git and diff code.
    const { runSynthDiff } = await import('./synthDiff');
    return runSynthDiff(argv.slice(1));
  }
  let args;
  try {
    args = parseSynthArgs(argv);
  } catch (error) {
    process.stderr.write(`synth: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    const result = await synthStack(args.stack, { root: args.root });
    process.stdout.write(args.format === 'markdown' ? renderMarkdown(result) : JSON.stringify(result, null, 2) + '\n');
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`synth: invalid configuration\n${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`synth: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
