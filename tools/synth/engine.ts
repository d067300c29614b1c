/**
 * Offline synth: what a stack declares, without cloud, CLI or credentials.
 *
 *   npm run --silent synth -- <stack> [--format json|markdown]
 *
 * Prints `{ stack, resources: [{ type, name, parent, options?, propertyDependencies?, inputs }] }`
 * with every secret shown as "[secret]" and resources in a stable order.
 * `options` holds the lifecycle options the engine gets for the resource
 * (dependsOn, deleteBeforeReplace, replaceOnChanges, ignoreChanges,
 * retainOnDelete, protect, additionalSecretOutputs; provider SDK defaults
 * included), each only when set, and is absent when none is;
 * `propertyDependencies` names, per input, the resources it takes values
 * from. See ResourceOptions in ./offline. Invalid config: the validation
 * messages on stderr, nothing on stdout, exit 1.
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
    const rows = (byType.get(section.type) ?? []).flatMap((resource) => section.rows(resource, result.resources));
    if (rows.length === 0) {
      continue;
    }
    lines.push(`## ${section.title}`, '', `| ${section.columns.join(' | ')} |`, `| ${section.columns.map(() => '---').join(' | ')} |`);
    for (const row of rows) {
      lines.push(`| ${row.map((cell) => String(cell ?? '').replace(/\|/g, '\\|')).join(' | ')} |`);
    }
    lines.push('');
  }
  lines.push(...lifecycleSection(result.resources));
  lines.push('## All resources by type', '', '| type | count |', '| --- | --- |');
  for (const type of [...byType.keys()].sort()) {
    lines.push(`| \`${type}\` | ${byType.get(type)!.length} |`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The options that decide what `pulumi up` does on a change or a delete, one
 * row per resource that sets any (dependsOn, in the JSON output, is left out
 * here: every resource with inputs from others has some).
 */
function lifecycleSection(resources: RecordedResource[]): string[] {
  const rows = resources
    .filter(({ options }) => options && (options.deleteBeforeReplace || options.replaceOnChanges || options.ignoreChanges || options.retainOnDelete || options.protect))
    .map(({ type, name, options }) => [
      name,
      `\`${type}\``,
      (options!.replaceOnChanges ?? []).join(', '),
      (options!.ignoreChanges ?? []).join(', '),
      options!.deleteBeforeReplace ? 'yes' : '',
      options!.retainOnDelete ? 'yes' : '',
      options!.protect ? 'yes' : '',
    ]);
  if (rows.length === 0) {
    return [];
  }
  return [
    '## Lifecycle options',
    '',
    '| resource | type | replace on changes | ignore changes | delete before replace | retain on delete | protect |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`),
    '',
  ];
}

interface MarkdownSection {
  type: string;
  title: string;
  columns: string[];
  /** Rows for one resource (the whole stack at hand); a resource may contribute none. */
  rows: (resource: RecordedResource, all: RecordedResource[]) => unknown[][];
}

/**
 * A deploy step as reviewers see it: the service (its ContainerService) and
 * the pinned image its command expects. The spec itself travels in the
 * secret stdin, so ports and volumes are not readable here.
 */
function deployStep(resource: RecordedResource): { service: string; image: string } | undefined {
  const create = resource.inputs.create;
  if (typeof create !== 'string' || !create.includes('berth-agent deploy')) {
    return undefined;
  }
  return { service: resource.parent ?? '', image: /--expect-image\s+(\S+)/.exec(create)?.[1] ?? '' };
}

const ON_CALENDAR = /^OnCalendar=(.*)$/m;

/**
 * The prune timer's OnCalendar line: from the (gzipped) user data, or from
 * what a step connected to the host sends it (the readiness step ships the
 * host's files, the timer among them).
 */
function pruneSchedule(host: RecordedResource, all: RecordedResource[]): string {
  const encoded = host.inputs.userDataBase64;
  if (typeof encoded === 'string') {
    try {
      const found = ON_CALENDAR.exec(gunzipSync(Buffer.from(encoded, 'base64')).toString('utf8'))?.[1];
      if (found) {
        return found;
      }
    } catch {
      // Not gzip: look at the host's steps instead.
    }
  }
  for (const step of all) {
    const connection = step.propertyDependencies?.connection ?? [];
    if (step.type === 'command:remote:Command' && (connection.includes(host.name) || connection.includes(`${host.type}::${host.name}`)) && typeof step.inputs.stdin === 'string') {
      const found = ON_CALENDAR.exec(step.inputs.stdin)?.[1];
      if (found) {
        return found;
      }
    }
  }
  return '';
}

const MARKDOWN_SECTIONS: MarkdownSection[] = [
  {
    type: 'aws:ec2/instance:Instance',
    title: 'Hosts',
    columns: ['host', 'instance type', 'subnet', 'IMDS tokens', 'root GiB', 'public IP', 'prune schedule'],
    rows: (r, all) => [[r.name, r.inputs.instanceType, r.inputs.subnetId, (r.inputs.metadataOptions as any)?.httpTokens, (r.inputs.rootBlockDevice as any)?.volumeSize, r.inputs.associatePublicIpAddress ? 'yes' : 'no', pruneSchedule(r, all)]],
  },
  {
    type: 'command:remote:Command',
    title: 'Services',
    columns: ['deploy step', 'service', 'image (pinned)'],
    rows: (r) => {
      const step = deployStep(r);
      return step ? [[r.name, step.service, step.image]] : [];
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

/**
 * Writes to stdout and resolves once the text is handed to the OS. A pipe
 * takes writes asynchronously, and `process.exit` would otherwise cut a long
 * output short (`synth prod | jq`, and `synth diff` reading the base's synth).
 */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}

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
    await writeStdout(args.format === 'markdown' ? renderMarkdown(result) : JSON.stringify(result, null, 2) + '\n');
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
