/**
 * The ECS task Berth renders, run for real: renderContainerDefinitions' definitions replayed
 * against the real engine the way the ECS agent runs them (test/support/ecsReplay.ts), and the
 * ECS instance's user data run through bash. What is checked is what the engine and the
 * container do — the bytes the service reads at its config target, the read-only mount, the
 * health status Docker reports, the host port that answers — not what the definitions declare.
 */
import { createHash } from 'crypto';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CONFIG_CONTAINER,
  CONFIG_VARIABLE,
  CONFIG_VOLUME,
  CONFIG_FILE_MAX_BYTES,
  configSha256,
  ContainerDefinitionsInput,
  renderContainerDefinitions,
} from '../../components/task/taskDefinition';
import { renderEcsAgentConfig, renderEcsUserData, EcsUserDataArgs } from '../../components/cluster/render';
import { buildImage, docker, pushImage, run, TEST_REGISTRY, uniqueName } from '../support/docker';
import { EcsContainerDefinition, EcsTaskVolume, ecsCreateArgs, removeLabelled, replayTask, ReplayedTask } from '../support/ecsReplay';

/** The label every container and volume of this file carries, to remove them by. */
const CLEANUP_LABEL = 'berth-it.ecs-task';
const RUN_ID = uniqueName('ecs');
const CONFIG_ARN = 'arn:aws:ssm:eu-west-1:123456789012:parameter/berth/test/web/config-file';
const DB_PASSWORD_ARN = 'arn:aws:ssm:eu-west-1:123456789012:parameter/berth/test/web/secrets/DB_PASSWORD';
const DB_PASSWORD = 'not-a-real-password-$(id)-"x"';
const HEALTH_CMD = 'wget -q -O /dev/null http://127.0.0.1:8080/health';
/** The task volume EcsService declares beside the definitions (components/task/ecsService.ts). */
const TASK_VOLUMES: EcsTaskVolume[] = [{ name: CONFIG_VOLUME, dockerVolumeConfiguration: { scope: 'task', driver: 'local' } }];

const repository = `${TEST_REGISTRY}/berth-it/${RUN_ID}`;
let image = '';
let nonRootImage = '';
/** Whether this engine can give a container the definitions' ulimits (see beforeAll). */
let ulimits = false;
let taskCount = 0;

function input(overrides: Partial<ContainerDefinitionsInput> & { content?: string; target?: string } = {}): ContainerDefinitionsInput {
  const { content = 'greeting=hello\n', target = '/config/application.properties', ...rest } = overrides;
  return {
    project: 'berth',
    env: 'test',
    service: 'web',
    image,
    region: 'eu-west-1',
    ports: ['8080:8080'],
    health: { cmd: HEALTH_CMD, timeoutSeconds: 30 },
    memoryMiB: 64,
    pidsLimit: 256,
    environment: { GREETING: 'hello from ecs', JAVA_OPTS: '-Xmx48m -Dfile.encoding=UTF-8' },
    secrets: { DB_PASSWORD: DB_PASSWORD_ARN },
    configFile: { target, content },
    volumes: [],
    logGroupName: '/berth/test/web',
    ...rest,
  };
}

/** Renders the definitions and runs them as one task; `content` is what SSM would hand the config container. */
async function runTask(options: { content?: string; target?: string; definitions?: EcsContainerDefinition[]; overrides?: Partial<ContainerDefinitionsInput> } = {}): Promise<ReplayedTask> {
  const content = options.content ?? 'greeting=hello\n';
  const definitions = options.definitions ?? (renderContainerDefinitions(input({ content, target: options.target, ...options.overrides })) as unknown as EcsContainerDefinition[]);
  taskCount += 1;
  return replayTask({
    id: `${RUN_ID}-t${taskCount}`,
    definitions,
    volumes: TASK_VOLUMES,
    parameterValues: { [CONFIG_ARN]: content, [DB_PASSWORD_ARN]: DB_PASSWORD },
    labels: { [CLEANUP_LABEL]: RUN_ID },
    ulimits,
  });
}

/** The service container's Docker name, after checking the whole task started. */
function serviceOf(task: ReplayedTask): string {
  expect(task.stoppedReason).toBeUndefined();
  expect(task.containers[CONFIG_CONTAINER]).toMatchObject({ started: true, exitCode: 0 });
  expect(task.containers.web.started).toBe(true);
  return task.containers.web.dockerName;
}

/** The bytes of a file as a process in the container reads them. */
function readInContainer(container: string, file: string): Buffer {
  return execFileSync('docker', ['exec', container, 'cat', file], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function inspect<T>(container: string, format: string): T {
  return JSON.parse(docker('inspect', '--format', `{{json ${format}}}`, container)) as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthStatus(container: string, wanted: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let status = '';
  while (Date.now() < deadline) {
    status = inspect<{ Status: string }>(container, '.State.Health').Status;
    if (status === wanted) {
      break;
    }
    await sleep(500);
  }
  return status;
}

/** The largest config file an ECS task takes (CONFIG_FILE_MAX_BYTES of JSON text): multi-line text with every awkward character. */
function largestConfig(): string {
  const jsonBytes = (text: string) => Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
  const line = `k=%s\\n '"$HOME $(id) \`id\` é✓ -n\n`;
  let text = '';
  for (let i = 0; jsonBytes(text + line) <= CONFIG_FILE_MAX_BYTES - 12; i += 1) {
    text += `${String(i).padStart(5, '0')}${line}`;
  }
  return text + 'x'.repeat(CONFIG_FILE_MAX_BYTES - jsonBytes(text));
}

describe('ECS task definitions replayed on a real engine', () => {
  beforeAll(() => {
    const tag = `${repository}/web:v1`;
    buildImage({
      tag,
      instructions: ['RUN mkdir -p /www && echo ok > /www/health && echo hello > /www/index.html', 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]'],
    });
    image = `${repository}/web@${pushImage(tag)}`;
    const nonRootTag = `${repository}/web-nonroot:v1`;
    buildImage({ tag: nonRootTag, from: tag, instructions: ['USER 1000:1000'] });
    nonRootImage = `${repository}/web-nonroot@${pushImage(nonRootTag)}`;
    // An ECS instance's dockerd may raise a container's open-files limit to the definitions'
    // 65536; an engine running below that without CAP_SYS_RESOURCE refuses to start such a
    // container at all. The replay passes ulimits on exactly when this engine can apply them.
    ulimits = run('docker', ['run', '--rm', '--ulimit', 'nofile=65536:65536', tag, 'true']).status === 0;
  });

  afterEach(async () => {
    await removeLabelled(CLEANUP_LABEL, RUN_ID);
  });

  afterAll(async () => {
    await removeLabelled(CLEANUP_LABEL, RUN_ID);
    run('docker', ['image', 'rm', `${repository}/web:v1`, `${repository}/web-nonroot:v1`, image, nonRootImage]);
  });

  it('translates the rendered definitions into the docker arguments the agent would use', () => {
    const definitions = renderContainerDefinitions(input()) as unknown as EcsContainerDefinition[];
    const context = { volumes: { [CONFIG_VOLUME]: 'vol-config' }, parameterValues: { [CONFIG_ARN]: 'greeting=hello\n', [DB_PASSWORD_ARN]: 'pw' }, labels: { [CLEANUP_LABEL]: 'x' }, ulimits: true };
    expect(definitions.map((definition) => definition.name)).toEqual([CONFIG_CONTAINER, 'web']);
    expect(ecsCreateArgs(definitions[0], { ...context, dockerName: 't-config' })).toEqual([
      'create',
      '--name',
      't-config',
      '--label',
      `${CLEANUP_LABEL}=x`,
      '--label',
      'com.amazonaws.ecs.container-name=config',
      '-e',
      'AWS_EXECUTION_ENV=AWS_ECS_EC2',
      '-e',
      `${CONFIG_VARIABLE}=greeting=hello\n`,
      '-v',
      'vol-config:/config',
      '--memory',
      '32m',
      '--user',
      '0',
      '--security-opt',
      'no-new-privileges',
      '--entrypoint',
      '/bin/sh',
      image,
      '-c',
      `umask 022 && printf '%s' "$BERTH_CONFIG_FILE" > '/config/application.properties'.tmp && mv '/config/application.properties'.tmp '/config/application.properties'`,
    ]);
    expect(ecsCreateArgs(definitions[1], { ...context, dockerName: 't-web' })).toEqual([
      'create',
      '--name',
      't-web',
      '--label',
      `${CLEANUP_LABEL}=x`,
      '--label',
      `berth.config-sha256=${configSha256('greeting=hello\n')}`,
      '--label',
      'berth.env=test',
      '--label',
      'berth.pids-limit=256',
      '--label',
      'berth.project=berth',
      '--label',
      'berth.service=web',
      '--label',
      'com.amazonaws.ecs.container-name=web',
      '-e',
      'AWS_EXECUTION_ENV=AWS_ECS_EC2',
      '-e',
      'BERTH_ENV=test',
      '-e',
      'GREETING=hello from ecs',
      '-e',
      'JAVA_OPTS=-Xmx48m -Dfile.encoding=UTF-8',
      '-e',
      'DB_PASSWORD=pw',
      '-v',
      'vol-config:/config:ro',
      '-p',
      '0:8080/tcp',
      '--memory',
      '64m',
      '--init',
      '--security-opt',
      'no-new-privileges',
      '--ulimit',
      'nofile=65536:65536',
      '--health-cmd',
      HEALTH_CMD,
      '--health-interval',
      '10s',
      '--health-timeout',
      '5s',
      '--health-retries',
      '3',
      '--health-start-period',
      '30s',
      image,
    ]);
  });

  const contents: [string, string][] = [
    ['percent signs', 'rate=100%\nformat=%s %d %% %n %b\n'],
    ['backslashes', 'path=C:\\temp\\new\nregex=\\d+\\.\\n\\\\\nend=\\\n'],
    ['single and double quotes', `single='it'\\''s'\ndouble="say \\"hi\\""\nmixed='"'"'\n`],
    ['$VAR and $(cmd) text, never expanded', 'home=$HOME\nuser=${USER:-nobody}\nnow=$(date)\nold=`id`\nself=$BERTH_CONFIG_FILE\narith=$((1+2))\n'],
    ['a leading dash', '-n -e --help\n--\n-\n'],
    ['unicode', 'greeting=héllo wörld ✓ 日本語 🚢\nnbsp=a\u00a0b\n'],
    ['no trailing newline', 'key=value'],
    ['several trailing newlines', 'key=value\n\n\n\n'],
    ['CRLF line endings and tabs', 'a=1\r\nb=\t2\r\n'],
    ['the largest file (32 KiB)', largestConfig()],
  ];

  it.each(contents)('the service reads the config file byte for byte: %s', async (_name, content) => {
    const task = await runTask({ content });
    const service = serviceOf(task);
    const read = readInContainer(service, '/config/application.properties');
    expect(read.equals(Buffer.from(content, 'utf8'))).toBe(true);
    // The revision's label names exactly these bytes.
    expect(inspect<Record<string, string>>(service, '.Config.Labels')['berth.config-sha256']).toBe(createHash('sha256').update(read).digest('hex'));
    // Only the file is left in the volume: the temporary file was renamed over it.
    expect(docker('exec', service, 'ls', '-a', '/config').split('\n').sort()).toEqual(['.', '..', 'application.properties']);
  });

  it('the 32 KiB case (as JSON text) is the largest file the renderer takes; one byte more is refused', () => {
    const content = contents[contents.length - 1][1];
    expect(Buffer.byteLength(JSON.stringify(content), 'utf8') - 2).toBe(32768);
    expect(() => renderContainerDefinitions(input({ content: content + 'x' }))).toThrow(
      'web: configFile: at most 32768 bytes on ECS as JSON text (it is part of the task definition, which ECS caps at 64 KiB; quotes, backslashes and line breaks count twice); got 32769',
    );
  });

  it('the service cannot write to the config directory; the config container could', async () => {
    const content = 'greeting=hello\n';
    const task = await runTask({ content });
    const service = serviceOf(task);
    for (const command of ['echo x > /config/new', 'echo x > /config/application.properties', 'rm -f /config/application.properties', 'mkdir /config/sub']) {
      const result = run('docker', ['exec', service, 'sh', '-c', command]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/Read-only file system/);
    }
    expect(readInContainer(service, '/config/application.properties').toString('utf8')).toBe(content);
    const mounts = (name: string) => inspect<{ Destination: string; RW: boolean; Name: string }[]>(name, '.Mounts');
    expect(mounts(service)).toEqual([expect.objectContaining({ Destination: '/config', RW: false, Name: task.volumes[CONFIG_VOLUME] })]);
    expect(mounts(task.containers[CONFIG_CONTAINER].dockerName)).toEqual([expect.objectContaining({ Destination: '/config', RW: true, Name: task.volumes[CONFIG_VOLUME] })]);
    // The file is readable by any user of the image (umask 022).
    expect(docker('exec', service, 'stat', '-c', '%a', '/config/application.properties')).toBe('644');
  });

  it('the health check: healthy when the service serves its health path, unhealthy when the command fails', async () => {
    // Both at once: the failing one needs three failed checks 10 s apart after its 1 s start period.
    const [served, failing] = await Promise.all([
      runTask(),
      runTask({ overrides: { health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/missing', timeoutSeconds: 1 } } }),
    ]);
    const good = serviceOf(served);
    const bad = serviceOf(failing);
    expect(inspect<unknown>(good, '.Config.Healthcheck')).toEqual({ Test: ['CMD-SHELL', HEALTH_CMD], Interval: 10e9, Timeout: 5e9, StartPeriod: 30e9, Retries: 3 });
    const [goodStatus, badStatus] = await Promise.all([healthStatus(good, 'healthy', 30_000), healthStatus(bad, 'unhealthy', 60_000)]);
    expect(goodStatus).toBe('healthy');
    expect(badStatus).toBe('unhealthy');
    const log = inspect<{ Log: { ExitCode: number }[]; FailingStreak: number }>(bad, '.State.Health');
    expect(log.FailingStreak).toBeGreaterThanOrEqual(3);
    expect(log.Log.every((entry) => entry.ExitCode !== 0)).toBe(true);
    // An unhealthy container keeps running: ECS, not Docker, replaces the task.
    expect(inspect<{ Status: string }>(bad, '.State').Status).toBe('running');
  });

  it('each task gets its own dynamic host port, and it reaches the container port', async () => {
    const [first, second] = await Promise.all([runTask(), runTask()]);
    const [ephemeralFirst, ephemeralLast] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports: number[] = [];
    for (const task of [first, second]) {
      const service = serviceOf(task);
      const bindings = inspect<Record<string, { HostIp: string; HostPort: string }[]>>(service, '.NetworkSettings.Ports')['8080/tcp'];
      const port = Number(bindings[0].HostPort);
      expect(port).toBeGreaterThanOrEqual(ephemeralFirst);
      expect(port).toBeLessThanOrEqual(ephemeralLast);
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('ok\n');
      ports.push(port);
    }
    expect(ports[0]).not.toBe(ports[1]);
  });

  it('BERTH_ENV, the environment and the secrets reach the service; the labels are set; init, no-new-privileges and the memory limit apply', async () => {
    const task = await runTask();
    const service = serviceOf(task);
    const environ = docker('exec', service, 'env').split('\n');
    expect(environ).toEqual(expect.arrayContaining(['BERTH_ENV=test', 'GREETING=hello from ecs', 'JAVA_OPTS=-Xmx48m -Dfile.encoding=UTF-8', `DB_PASSWORD=${DB_PASSWORD}`]));
    // The config file's text went to the config container only.
    expect(environ.some((line) => line.startsWith(`${CONFIG_VARIABLE}=`))).toBe(false);
    const labels = inspect<Record<string, string>>(service, '.Config.Labels');
    expect(labels).toMatchObject({
      'berth.env': 'test',
      'berth.project': 'berth',
      'berth.service': 'web',
      'berth.pids-limit': '256',
      'berth.config-sha256': configSha256('greeting=hello\n'),
    });
    // PID 1 is Docker's init (which reaps and forwards SIGTERM), and it runs the image's command.
    expect(docker('exec', service, 'cat', '/proc/1/comm')).toBe('docker-init');
    expect(docker('exec', service, 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline')).toMatch(/^\/sbin\/docker-init -- httpd -f -p 8080 -h \/www\s*$/);
    expect(docker('exec', service, 'grep', 'NoNewPrivs', '/proc/1/status')).toMatch(/^NoNewPrivs:\s+1$/);
    expect(inspect<number>(service, '.HostConfig.Memory')).toBe(64 * 1024 * 1024);
    expect(inspect<number>(task.containers[CONFIG_CONTAINER].dockerName, '.HostConfig.Memory')).toBe(32 * 1024 * 1024);
    // Only where this engine can raise the limit (see beforeAll); the exact flag is checked above.
    if (ulimits) {
      expect(docker('exec', service, 'sh', '-c', 'ulimit -n')).toBe('65536');
    }
  });

  const targets: [string, string][] = [
    ['a space and a single quote in the file name', "/config/it's a file.properties"],
    ['a space in the directory', '/etc/my app/application.properties'],
    ['double quotes, $, backquotes and a backslash in the file name', '/config/"x" $HOME `id` a\\b.conf'],
    ['a leading dash in the file name', '/config/-n.properties'],
    ['a colon in the file name', '/config/app:prod.properties'],
    ['a nested directory', '/opt/app/conf/application.yml'],
  ];

  it.each(targets)('a target with %s works', async (_name, target) => {
    const content = "name='value' \"$HOME\"\n";
    const task = await runTask({ content, target });
    const service = serviceOf(task);
    expect(readInContainer(service, target).equals(Buffer.from(content, 'utf8'))).toBe(true);
    expect(docker('exec', service, 'ls', '-A', path.posix.dirname(target))).toBe(path.posix.basename(target));
  });

  // The agent mounts the task volume as `<volume>:<dir>[:ro]` (task.go dockerHostBinds), which the engine
  // refuses for a directory with a colon ("invalid mode: prod"): the renderer refuses it before anything runs.
  it('a target whose directory holds a colon is refused before anything runs', () => {
    expect(() => renderContainerDefinitions(input({ target: '/etc/app:prod/application.properties' }))).toThrow(
      'configFile.target: a directory without ":" (ECS mounts it as <volume>:<directory>), got "/etc/app:prod/application.properties"',
    );
  });

  // The config container runs as root (`user: "0"`): the task volume is root's, and the 0644 file it writes
  // is what a non-root service reads, as on a hosts group.
  it('a service whose image runs as a non-root user reads its config file', async () => {
    const content = 'greeting=hello\n';
    const task = await runTask({ content, overrides: { image: nonRootImage } });
    const service = serviceOf(task);
    expect(readInContainer(service, '/config/application.properties').toString('utf8')).toBe(content);
    expect(docker('exec', service, 'id', '-u')).toBe('1000');
  });

  it('a config container that exits non-zero stops the task: the service container is never created', async () => {
    const rendered = renderContainerDefinitions(input()) as unknown as EcsContainerDefinition[];
    const definitions = rendered.map((definition) =>
      definition.name === CONFIG_CONTAINER ? { ...definition, command: ['echo "cannot write the config file" >&2; exit 3'] } : definition,
    );
    const task = await runTask({ definitions });
    expect(task.stoppedReason).toMatch(/^web: dependency .*-config exited with code 3 \(condition SUCCESS\)$/);
    expect(task.containers[CONFIG_CONTAINER]).toMatchObject({ started: true, exitCode: 3 });
    expect(task.containers.web.started).toBe(false);
    const created = docker('ps', '-a', '--filter', `label=${CLEANUP_LABEL}=${RUN_ID}`, '--format', '{{.Names}}').split('\n').filter(Boolean);
    expect(created).toEqual([task.containers[CONFIG_CONTAINER].dockerName]);
    expect(run('docker', ['logs', task.containers[CONFIG_CONTAINER].dockerName]).stderr).toContain('cannot write the config file');
  });
});

describe('ECS instance user data, run for real', () => {
  const cases: [string, EcsUserDataArgs][] = [
    ['defaults', { project: 'berth', env: 'test', clusterName: 'berth-test-web' }],
    [
      'every option set',
      { project: 'berth', env: 'prod', clusterName: 'berth_prod-workers', taskPidsLimit: 512, imageCleanup: { intervalMinutes: 60, minimumAgeMinutes: 180, imagesPerRun: 10, stoppedTaskMinutes: 15 } },
    ],
  ];
  const roots: string[] = [];

  afterAll(() => {
    for (const root of roots) {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it.each(cases)('shellcheck passes on it (%s)', (_name, args) => {
    const result = run('shellcheck', ['--shell=bash', '--severity=style', '-'], { input: renderEcsUserData(args) });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(cases)('it writes exactly renderEcsAgentConfig\'s text, 0644, whatever was there and whatever the umask (%s)', (_name, args) => {
    const script = renderEcsUserData(args);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ecs-userdata-'));
    roots.push(root);
    // ONLY in this test: /etc/ecs is rewritten to a folder under `root` with sed, so the script
    // runs as root without touching this machine's /etc. Nothing else of the script changes.
    const substituted = run('sed', ['-e', `s#/etc/ecs#${root}/etc/ecs#g`], { input: script });
    expect(substituted.status).toBe(0);
    expect(substituted.stdout).not.toBe(script);
    expect(substituted.stdout.split(`${root}/etc/ecs`).join('/etc/ecs')).toBe(script);
    const file = path.join(root, 'user-data.sh');
    fs.writeFileSync(file, substituted.stdout);
    const config = path.join(root, 'etc', 'ecs', 'ecs.config');

    // A first boot, under the strictest umask cloud-init could run it with.
    let result = run('bash', ['-c', 'umask 077 && bash "$0"', file]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(fs.readFileSync(config, 'utf8')).toBe(renderEcsAgentConfig(args));
    expect(fs.statSync(config).mode & 0o777).toBe(0o644);
    expect(fs.statSync(path.dirname(config)).mode & 0o777).toBe(0o755);

    // Run again over a stale, longer file: it is replaced, not appended to or merged.
    fs.writeFileSync(config, 'ECS_CLUSTER=default\nECS_ENABLE_TASK_IAM_ROLE=false\n'.repeat(20), { mode: 0o600 });
    result = run('bash', [file]);
    expect(result.status).toBe(0);
    expect(fs.readFileSync(config, 'utf8')).toBe(renderEcsAgentConfig(args));
    expect(fs.statSync(config).mode & 0o777).toBe(0o644);
    expect(fs.readdirSync(root).sort()).toEqual(['etc', 'user-data.sh']);
  });
});
