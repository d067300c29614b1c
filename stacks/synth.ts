/**
 * Offline synth: what a stack declares, without cloud, CLI or credentials.
 *
 *   npm run --silent synth -- <stack> [--format json|markdown]
 *
 * Prints `{ stack, resources: [{ type, name, parent, inputs }] }` with every
 * secret shown as "[secret]" and resources in a stable order. Invalid config:
 * the validation messages on stderr, nothing on stdout, exit 1.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import * as YAML from 'yaml';
import { gunzipSync } from 'zlib';
import { ConfigError, readStackFile, StackConfig, toRuntimeConfig, validateStackConfig, ValidateOptions } from './config';
import { OFFLINE_ACCOUNT_ID, RecordedResource, settle, startOfflineRuntime } from './offline';
import { oneOf, parseStackArgs, required, UsageError } from './cliArgs';
import { declareStack } from './stack';
import { declareRegistry, parseRegistrySettings, REGISTRY_PROJECT, REGISTRY_ROOT, REGISTRY_STACK } from './registry/program';

/** `synth registry` evaluates the registry project's stack instead of an environment. */
export const REGISTRY_SYNTH_NAME = 'registry';
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

/**
 * The registry project's one stack (`stacks/registry`, stack `shared`), under
 * mocks: what `pulumi up` there would declare.
 */
export async function synthRegistry(): Promise<SynthResult> {
  const file = path.join(REGISTRY_ROOT, `Pulumi.${REGISTRY_STACK}.yaml`);
  const document = YAML.parse(fs.readFileSync(file, 'utf8')) as { config?: Record<string, unknown> };
  const rawConfig = document.config ?? {};
  let settings;
  try {
    settings = parseRegistrySettings(REGISTRY_STACK, rawConfig);
  } catch (error) {
    throw new ConfigError((error as Error).message.split('\n'));
  }
  pulumi.runtime.setAllConfig(toRuntimeConfig(rawConfig), []);
  const runtime = await startOfflineRuntime({ project: REGISTRY_PROJECT, stack: REGISTRY_STACK, region: String(rawConfig['aws:region'] ?? 'eu-west-1') });
  await evaluateProgram(() => declareRegistry(settings));
  return { stack: `${REGISTRY_PROJECT}/${REGISTRY_STACK}`, resources: runtime.sortedResources() };
}

/** Evaluates one stack under mocks and returns every resource it declares. */
export async function synthStack(stack: string, options: SynthOptions = {}): Promise<SynthResult> {
  if (stack === REGISTRY_SYNTH_NAME) {
    return synthRegistry();
  }
  const file = readStackFile(stack, options.root);
  const config = validateStackConfig(stack, file.config, options);
  return synthConfig(config, file.config);
}

/**
 * The value a secret has offline. It must never appear in synth output: every
 * place a secret reaches shows the mask instead, which the tests check.
 */
export function offlineSecretValue(key: string): string {
  return `berth-offline-secret-value:${key}`;
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
  await evaluateProgram(() =>
    // Secrets are never available offline; the program sees placeholders that stay secret.
    declareStack(config, {
      sshPrivateKey: pulumi.secret(offlineSecretValue('sshPrivateKey')),
      secrets: pulumi.secret(Object.fromEntries(config.secretKeys.map((key) => [key, offlineSecretValue(`secrets.${key}`)]))),
    }),
  );
  return { stack: config.stack, resources: runtime.sortedResources() };
}

/** A program that failed while the offline runtime evaluated it; the message says what failed. */
export class ProgramError extends Error {}

/**
 * Runs a program and waits for every registration. An error thrown inside an
 * apply surfaces as an unhandled rejection, not from the call: collect those
 * and fail with their messages instead of a crash.
 */
async function evaluateProgram(declare: () => unknown): Promise<void> {
  const failures: unknown[] = [];
  let failed!: () => void;
  // A failed registration never completes, so waiting for all of them would hang: stop at the first failure.
  const firstFailure = new Promise<void>((resolve) => (failed = resolve));
  const onRejection = (reason: unknown) => {
    failures.push(reason);
    failed();
  };
  process.on('unhandledRejection', onRejection);
  try {
    declare();
    await Promise.race([settle(), firstFailure]);
    // Rejections are reported on the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('unhandledRejection', onRejection);
  }
  if (failures.length > 0) {
    const messages = [...new Set(failures.map((failure) => (failure instanceof Error ? failure.message : String(failure))))];
    throw new ProgramError(`the program failed while declaring resources:\n${messages.join('\n')}`);
  }
}

/** A reviewer's summary: one table per kind of thing a stack runs. */
export function renderMarkdown(result: SynthResult): string {
  const byType = new Map<string, RecordedResource[]>();
  for (const resource of result.resources) {
    byType.set(resource.type, [...(byType.get(resource.type) ?? []), resource]);
  }
  const lines = [`# Stack \`${result.stack}\``, '', `${result.resources.length} resources.`, ''];
  for (const section of MARKDOWN_SECTIONS) {
    const rows = (byType.get(section.type) ?? []).flatMap(section.rows);
    if (rows.length === 0) {
      continue;
    }
    lines.push(`## ${section.title}`, '', `| ${section.columns.join(' | ')} |`, `| ${section.columns.map(() => '---').join(' | ')} |`);
    for (const row of rows) {
      lines.push(`| ${row.map((cell) => String(cell ?? '').replace(/\|/g, '\\|')).join(' | ')} |`);
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
  /** Rows for one resource; a resource may contribute none. */
  rows: (resource: RecordedResource) => unknown[][];
}

/** The agent spec a deploy step sends, as reviewers see it (secret values masked). */
function deploySpec(resource: RecordedResource): Record<string, any> | undefined {
  const review = Array.isArray(resource.inputs.triggers) ? resource.inputs.triggers[0] : undefined;
  try {
    return typeof review === 'string' ? JSON.parse(review) : undefined;
  } catch {
    return undefined;
  }
}

/** The prune timer's OnCalendar line, read from a host's (gzipped) user data. */
function pruneSchedule(resource: RecordedResource): string {
  const encoded = resource.inputs.userDataBase64;
  if (typeof encoded !== 'string') {
    return '';
  }
  try {
    const text = gunzipSync(Buffer.from(encoded, 'base64')).toString('utf8');
    return /^OnCalendar=(.*)$/m.exec(text)?.[1] ?? '';
  } catch {
    return '';
  }
}

const MARKDOWN_SECTIONS: MarkdownSection[] = [
  {
    type: 'aws:ec2/instance:Instance',
    title: 'Hosts',
    columns: ['host', 'instance type', 'subnet', 'IMDS tokens', 'root GiB', 'public IP', 'prune schedule'],
    rows: (r) => [[r.name, r.inputs.instanceType, r.inputs.subnetId, (r.inputs.metadataOptions as any)?.httpTokens, (r.inputs.rootBlockDevice as any)?.volumeSize, r.inputs.associatePublicIpAddress ? 'yes' : 'no', pruneSchedule(r)]],
  },
  {
    type: 'command:remote:Command',
    title: 'Services',
    columns: ['deploy step', 'service', 'image (pinned)', 'ports', 'volumes'],
    rows: (r) => {
      const spec = deploySpec(r);
      return spec ? [[r.name, spec.name, spec.image, (spec.ports ?? []).join(', '), (spec.volumes ?? []).join(', ')]] : [];
    },
  },
  {
    type: 'aws:ebs/volume:Volume',
    title: 'Data volumes',
    columns: ['volume', 'GiB', 'type', 'encrypted'],
    rows: (r) => [[r.name, r.inputs.size, r.inputs.type, r.inputs.encrypted ? 'yes' : 'no']],
  },
  {
    type: 'aws:cloudwatch/metricAlarm:MetricAlarm',
    title: 'Alarms',
    columns: ['alarm', 'metric', 'threshold', 'dimensions'],
    rows: (r) => [[r.name, `${r.inputs.namespace}/${r.inputs.metricName}`, r.inputs.threshold, JSON.stringify(r.inputs.dimensions)]],
  },
  {
    type: 'aws:ecr/repository:Repository',
    title: 'Image repositories',
    columns: ['repository', 'scan on push', 'encryption', 'tags'],
    rows: (r) => [[r.inputs.name, (r.inputs.imageScanningConfiguration as any)?.scanOnPush ? 'yes' : 'no', (r.inputs.encryptionConfigurations as any)?.[0]?.encryptionType, r.inputs.imageTagMutability]],
  },
  {
    type: 'aws:cloudwatch/logGroup:LogGroup',
    title: 'Log groups',
    columns: ['log group', 'retention (days)'],
    rows: (r) => [[r.inputs.name, r.inputs.retentionInDays]],
  },
];

export function parseSynthArgs(argv: string[]): { stack: string; format: 'json' | 'markdown'; root?: string } {
  const { stack, options } = parseStackArgs(argv, {
    format: oneOf('--format', ['json', 'markdown'] as const),
    root: required('--root takes the folder that holds Pulumi.<stack>.yaml'),
  });
  return { stack, format: (options.format as 'json' | 'markdown' | undefined) ?? 'json', root: options.root };
}

export { UsageError };

const USAGE = 'usage: npm run --silent synth -- <dev|test|stage|prod|registry> [--format json|markdown] [--root <folder with Pulumi.<stack>.yaml>]';

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'diff') {
    // Loaded on demand: plain synth never pays for git and diff code.
    const { runSynthDiff } = await import('./synthDiff');
    return runSynthDiff(argv.slice(1));
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
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
    if (error instanceof ProgramError) {
      process.stderr.write(`synth: ${error.message}\n`);
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
