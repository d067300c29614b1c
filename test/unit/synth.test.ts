import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ENVIRONMENTS, PROJECT_ROOT } from '../../stacks/env/config';
import { synthStack } from '../../tools/synth/engine';
import { renderMarkdown } from '../../tools/synth/markdown';

function synthCli(args: string[]) {
  const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'tools/synth/cli.ts', ...args], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('offline synth', () => {
  it.each(ENVIRONMENTS)('evaluates the %s stack, the same way every time', async (stack) => {
    const first = await synthStack(stack);
    const second = await synthStack(stack);
    expect(first.stack).toBe(stack);
    expect(first.resources.length).toBeGreaterThan(0);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    for (const resource of first.resources) {
      // options and propertyDependencies only where there are any (see synth-options.test.ts).
      expect(Object.keys(resource)).toEqual(['type', 'name', 'parent', ...('options' in resource ? ['options'] : []), ...('propertyDependencies' in resource ? ['propertyDependencies'] : []), 'inputs']);
    }
    expect(first.resources.filter((resource) => resource.options).length).toBeGreaterThan(0);
    const names = first.resources.map((resource) => `${resource.name}\u0000${resource.type}`);
    expect(names).toEqual([...names].sort());
  });

  it('never shows a secret value: SSH keys and secret environment stay "[secret]"', async () => {
    for (const stack of ENVIRONMENTS) {
      // Offline secrets have a known value; it must not surface anywhere.
      expect(JSON.stringify(await synthStack(stack))).not.toContain('berth-offline-secret-value');
    }
    const result = await synthStack('prod');
    const deploy = result.resources.find((r) => r.type === 'command:remote:Command' && r.name === 'auth-service-app-1')!;
    expect(deploy.inputs.connection).toBe('[secret]');
    // The agent spec, secret environment included, travels only in the secret stdin.
    expect(deploy.inputs.stdin).toBe('[secret]');
    expect(deploy.options?.additionalSecretOutputs).toContain('connection');
  });

  it('pins every container to a digest, dev included (its followed tag resolved at deploy time)', async () => {
    for (const stack of ['dev', 'prod']) {
      const result = await synthStack(stack);
      const images = result.resources
        .filter((r) => r.type === 'command:remote:Command' && String(r.inputs.create).includes('berth-agent deploy'))
        .map((r) => /--expect-image (\S+)/.exec(String(r.inputs.create))?.[1]);
      expect(images.length).toBeGreaterThan(0);
      for (const image of images) {
        expect(image).toMatch(/^123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/berth\/[a-z-]+@sha256:[0-9a-f]{64}$/);
      }
    }
  });

  it('synthesises the registry project: one scanned, encrypted repository per service plus the base, each with a lifecycle policy', async () => {
    const result = await synthStack('registry');
    expect(result.stack).toBe('berth-registry/shared');
    const repositories = result.resources.filter((r) => r.type === 'aws:ecr/repository:Repository');
    expect(repositories.map((r) => r.inputs.name)).toEqual(['berth/api-service', 'berth/auth-service', 'berth/base', 'berth/report-worker']);
    for (const repository of repositories) {
      expect(repository.inputs).toMatchObject({ imageScanningConfiguration: { scanOnPush: true }, encryptionConfigurations: [{ encryptionType: 'KMS' }], forceDelete: false });
    }
    expect(result.resources.filter((r) => r.type === 'aws:ecr/lifecyclePolicy:LifecyclePolicy')).toHaveLength(4);
    expect(renderMarkdown(result)).toContain('| berth/auth-service | yes | KMS | MUTABLE |');
  });

  it('reads the registry through a stack reference', async () => {
    const { resources } = await synthStack('prod');
    expect(resources.filter((resource) => resource.type === 'pulumi:pulumi:StackReference')).toEqual([
      { type: 'pulumi:pulumi:StackReference', name: 'acme/berth-registry/shared', parent: null, inputs: { name: 'acme/berth-registry/shared' } },
    ]);
  });

  it('renders a markdown summary', async () => {
    const markdown = renderMarkdown(await synthStack('stage'));
    expect(markdown).toContain('# Stack `stage`');
    expect(markdown).toContain('| `pulumi:pulumi:StackReference` | 1 |');
    expect(markdown).toContain('| app-1 | t3.medium | subnet-0a1b2c3d4e5f60711 | required | 30 | no | *-*-* 03:30:00 |');
    expect(markdown).toContain(
      '| auth-service-app-2 | auth-service | 123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:' + 'c3'.repeat(32) + ' |',
    );
    expect(markdown).toContain('| app-1-data | 50 | gp3 | yes |');
    expect(markdown).toContain('| /berth/stage/docker | 30 |');
    expect(markdown).toContain('| app-1-data | `aws:ec2/volumeAttachment:VolumeAttachment` |  |  | yes |  |  |');
    expect(markdown).toMatch(/\| app-2-status-check \| AWS\/EC2\/StatusCheckFailed \| 1 \|/);
    // How traffic reaches a service, read from what components/traffic declares (see synth-traffic.test.ts).
    expect(markdown).toContain('| stage-edge | edge | internal | HTTP:80 -> HTTPS, HTTPS:443 | on (stage-access-logs) | no |');
    expect(markdown).toMatch(
      /\| auth-service \| edge \| HTTPS:443 \| hosts api\.stage\.example\.com; paths \/auth\/\* \| \d+ \| berth-stage-e-auth-serv-[0-9a-f]{8} HTTP:8081 \| \/actuator\/health \(200-399\) \| 30 s \| auth-service\.stage\.internal \|/,
    );
    expect(markdown).toMatch(/\| auth-service \| edge \| HTTP:80 \| hosts auth-service\.stage\.internal \| \d+ \| /);
  });

  it('prints JSON for every stack from the command line', () => {
    for (const stack of ENVIRONMENTS) {
      const result = synthCli([stack]);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const printed = JSON.parse(result.stdout) as { stack: string; resources: { type: string; options?: { replaceOnChanges?: string[] } }[] };
      expect(printed.stack).toBe(stack);
      // The command provider's replaceOnChanges reaches the printed output.
      expect(printed.resources.find((resource) => resource.type === 'command:remote:Command')?.options?.replaceOnChanges).toContain('triggers[*]');
    }
  });

  it('fails cleanly on invalid config: messages on stderr, nothing on stdout', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-synth-'));
    const prod = fs.readFileSync(path.join(PROJECT_ROOT, 'Pulumi.prod.yaml'), 'utf8');
    fs.writeFileSync(path.join(root, 'Pulumi.prod.yaml'), prod.replace(/image: berth\/auth-service@sha256:[0-9a-f]{64}/, 'image: auth-service:latest'));
    const result = synthCli(['prod', '--root', root]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'synth: invalid configuration\nPulumi.prod.yaml: berth:services.auth-service.image: stage and prod need an image pinned by digest (repo@sha256:<64 hex>), got "auth-service:latest"\n',
    );
    fs.rmSync(root, { recursive: true });
  });

  it('reports an error thrown while declaring resources as a failure of the program, not a crash', () => {
    const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'test/fixtures/synth-program-error.ts', 'synth'], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 120000 });
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/^ProgramError: the program failed while declaring resources:\n/);
    expect(result.stdout).toContain('region: "mars-north-1x" is not an AWS region name such as eu-west-1\n');
  });

  it("reports it the same way through the unit tests' evaluate, which shares synth's harness, instead of hanging", () => {
    const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'test/fixtures/synth-program-error.ts', 'evaluate'], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 120000 });
    expect(result.status).toBe(1);
    // It stops at the first failure; which apply fails first depends on the config the helper sets.
    expect(result.stdout).toMatch(/^ProgramError: the program failed while declaring resources:\n(.*\n)*.*mars-north-1x/);
  });

  it('refuses an unknown stack and bad arguments', () => {
    expect(synthCli(['qa'])).toMatchObject({ status: 1, stdout: '', stderr: expect.stringContaining('Pulumi.qa.yaml: unknown stack "qa"') });
    expect(synthCli(['dev', '--format', 'yaml'])).toMatchObject({ status: 2, stdout: '', stderr: expect.stringContaining('--format takes json or markdown') });
  });

  it('reports a YAML syntax error with the file and line', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-synth-'));
    fs.writeFileSync(path.join(root, 'Pulumi.dev.yaml'), 'config:\n  aws:region: eu-west-1\n  berth:services: [unclosed\n');
    const result = synthCli(['dev', '--root', root]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Pulumi\.dev\.yaml: line \d+: /);
    fs.rmSync(root, { recursive: true });
  });
});
