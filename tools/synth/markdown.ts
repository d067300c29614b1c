/**
 * A reviewer's summary of a synth (`synth <stack> --format markdown`): the
 * config's warnings, one table per kind of thing a stack runs (what runs on
 * ECS, its services and clusters, from ./ecs), how traffic
 * reaches each service (./traffic), the lifecycle options that decide what
 * `pulumi up` does on a change or a delete, and a count by type. Pure.
 */
import { gunzipSync } from 'zlib';
import type { RecordedResource, SynthResult } from '../offline/types';
import { ecsSections, isDeployStep, TableSection } from './ecs';
import { trafficOf } from './traffic';

/** A reviewer's summary: one table per kind of thing a stack runs. */
export function renderMarkdown(result: SynthResult): string {
  const byType = new Map<string, RecordedResource[]>();
  for (const resource of result.resources) {
    byType.set(resource.type, [...(byType.get(resource.type) ?? []), resource]);
  }
  const lines = [`# Stack \`${result.stack}\``, '', `${result.resources.length} resources.`, ''];
  lines.push(...warningsSection(result.warnings ?? []));
  for (const section of MARKDOWN_SECTIONS) {
    const rows = (byType.get(section.type) ?? []).flatMap((resource) => section.rows(resource, result.resources));
    if (rows.length > 0) {
      lines.push(`## ${section.title}`, '', ...table(section.columns, rows), '');
    }
    for (const next of section.followedBy?.(result.resources) ?? []) {
      lines.push(`## ${next.title}`, '', ...table(next.columns, next.rows), '');
    }
  }
  lines.push(...trafficSection(result.resources));
  lines.push(...lifecycleSection(result.resources));
  lines.push('## All resources by type', '', '| type | count |', '| --- | --- |');
  for (const type of [...byType.keys()].sort()) {
    lines.push(`| \`${type}\` | ${byType.get(type)!.length} |`);
  }
  return lines.join('\n') + '\n';
}

/** A markdown table; `|` inside a cell is escaped. */
function table(columns: string[], rows: unknown[][]): string[] {
  return [
    `| ${columns.join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map((cell) => String(cell ?? '').replace(/\|/g, '\\|')).join(' | ')} |`),
  ];
}

/** What validation warned about (allowed, but worth a reviewer's look), each naming its file and key. */
function warningsSection(warnings: string[]): string[] {
  if (warnings.length === 0) {
    return [];
  }
  return ['## Warnings', '', ...[...warnings].sort().map((warning) => `- ${warning}`), ''];
}

/**
 * How traffic reaches each service: the load balancers and their listeners;
 * per web service and load balancer, the route (host names, paths), the rule's
 * priority, the target group, its health check and deregistration delay, and
 * the service's DNS name; and TCP-only services with their name and the host
 * IPs it lists.
 */
function trafficSection(resources: RecordedResource[]): string[] {
  const traffic = trafficOf(resources);
  if (traffic.balancers.length + traffic.web.length + traffic.tcp.length === 0) {
    return [];
  }
  const lines = ['## Traffic', ''];
  if (traffic.balancers.length > 0) {
    lines.push(
      ...table(
        ['load balancer', 'role', 'scheme', 'listeners', 'access logs', 'deletion protection'],
        traffic.balancers.map((lb) => [lb.name, lb.role, lb.scheme, lb.listeners.join(', '), lb.accessLogs, lb.deletionProtection ? 'yes' : 'no']),
      ),
      '',
    );
  }
  if (traffic.web.length > 0) {
    lines.push(
      ...table(
        ['service', 'load balancer', 'listener', 'route', 'priority', 'target group', 'health check', 'deregistration delay', 'DNS name'],
        traffic.web.map((row) => [
          row.service,
          row.role,
          row.listener,
          routeText(row.hosts, row.paths),
          row.priorities.join(', '),
          `${row.targetGroup} ${row.protocol}:${row.port}`,
          `${row.healthCheckPath} (${row.healthCheckMatcher})`,
          row.deregistrationDelay === undefined ? '' : `${row.deregistrationDelay} s`,
          row.dnsNames.join(', '),
        ]),
      ),
      '',
    );
  }
  if (traffic.tcp.length > 0) {
    lines.push(...table(['TCP service', 'DNS name', 'record'], traffic.tcp.map((row) => [row.service, row.dnsName, row.record])), '');
  }
  return lines;
}

/** `hosts a, b; paths /x/*`, either part left out when empty. */
export function routeText(hosts: string[], paths: string[]): string {
  return [hosts.length > 0 ? `hosts ${hosts.join(', ')}` : '', paths.length > 0 ? `paths ${paths.join(', ')}` : ''].filter(Boolean).join('; ');
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
  /** Tables of the whole stack shown right after this one (whether or not it has rows), each only when it has rows. */
  followedBy?: (all: RecordedResource[]) => TableSection[];
}

/**
 * A deploy step as reviewers see it: the service (its ContainerService) and
 * the pinned image its command expects. The spec itself travels in the
 * secret stdin, so ports and volumes are not readable here.
 */
function deployStep(resource: RecordedResource): { service: string; image: string } | undefined {
  if (!isDeployStep(resource)) {
    return undefined;
  }
  return { service: resource.parent ?? '', image: /--expect-image\s+(\S+)/.exec(String(resource.inputs.create))?.[1] ?? '' };
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
    // What runs on ECS, next to what the agent deploys to hosts: "ECS services", "ECS clusters".
    followedBy: ecsSections,
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

