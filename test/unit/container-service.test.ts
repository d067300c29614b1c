import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { ContainerService, ContainerServiceArgs, deployCommand, removeCommand, renderServiceSpec } from '../../components/service/containerService';
import type { DockerHost } from '../../components/host/dockerHostGroup';
import { agentSpecJson } from '../../components/service/spec';
import { fakeHost } from '../support/hosts';
import { evaluate, valueOf } from '../support/pulumi';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:' + 'c3'.repeat(32);
const CONFIG = path.resolve(__dirname, '../../stacks/env/service-config/auth-service/application-prod.properties');

/** Hosts app-1 … app-N as a DockerHostGroup hands them over (declared inside the evaluation). */
function fakeHosts(count: number): DockerHost[] {
  return Array.from({ length: count }, (_, index) => fakeHost(`app-${index + 1}`, `10.20.0.${index + 10}`));
}

function serviceArgs(overrides: Partial<ContainerServiceArgs> = {}): ContainerServiceArgs {
  return {
    env: 'prod',
    image: IMAGE,
    hosts: overrides.hosts ?? fakeHosts(3),
    ports: ['8081:8081'],
    health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8081/health', timeoutSeconds: 60 },
    volumes: [{ name: 'logs', containerPath: '/var/log/auth-service' }],
    configFile: { path: CONFIG, target: '/config/application.properties' },
    environment: { JAVA_OPTS: '-Xmx384m' },
    ...overrides,
  };
}

describe('ContainerService', () => {
  it('renders the agent spec exactly', () => {
    const spec = renderServiceSpec({
      project: 'berth',
      env: 'prod',
      service: 'auth-service',
      image: IMAGE,
      region: 'eu-west-1',
      args: serviceArgs({ hosts: [] }),
      configContent: 'a=1\n',
      secretEnvironment: { DB_PASSWORD: 'p' },
    });
    expect(spec).toEqual({
      name: 'auth-service',
      env: 'prod',
      image: IMAGE,
      ports: ['8081:8081'],
      volumes: ['/srv/berth/prod/auth-service/logs:/var/log/auth-service'],
      environment: { BERTH_ENV: 'prod', JAVA_OPTS: '-Xmx384m' },
      health: { cmd: 'wget -q -O /dev/null http://127.0.0.1:8081/health', timeoutSeconds: 60 },
      memoryMiB: 512,
      pidsLimit: 256,
      restart: 'unless-stopped',
      update: 'start-first',
      drainSeconds: 30,
      proxyMode: 'tcp',
      log: {
        driver: 'awslogs',
        options: {
          'awslogs-create-group': 'false',
          'awslogs-group': '/berth/prod/auth-service',
          'awslogs-region': 'eu-west-1',
          'max-buffer-size': '4m',
          mode: 'non-blocking',
          tag: '{{.Name}}/{{.ID}}',
        },
      },
      configFile: { content: 'a=1\n', target: '/config/application.properties' },
      secretEnvironment: { DB_PASSWORD: 'p' },
    });
  });

  it('creates the log group with retention, and one agent deploy per host, rolled out host by host', async () => {
    const { ofType, one, runtime } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ logging: { driver: 'awslogs', retentionDays: 90 } })));
    expect(one('aws:cloudwatch/logGroup:LogGroup', 'auth-service-logs').inputs).toEqual({
      name: '/berth/prod/auth-service',
      retentionInDays: 90,
      tags: { 'berth:env': 'prod', 'berth:project': 'berth', 'berth:service': 'auth-service' },
    });
    const deploys = ofType('command:remote:Command').filter((d) => d.name.startsWith('auth-service-'));
    const deployOn = (host: string) =>
      `sudo /usr/local/bin/berth-agent deploy --deployment auth-service-${host} --expect-image ${IMAGE}`;
    const removeOn = (host: string) => `sudo /usr/local/bin/berth-agent remove auth-service --env prod --deployment auth-service-${host}`;
    expect(deploys.map((d) => [d.name, d.inputs.create, d.inputs.update, d.inputs.delete])).toEqual([
      ['auth-service-app-1', deployOn('app-1'), deployOn('app-1'), removeOn('app-1')],
      ['auth-service-app-2', deployOn('app-2'), deployOn('app-2'), removeOn('app-2')],
      ['auth-service-app-3', deployOn('app-3'), deployOn('app-3'), removeOn('app-3')],
    ]);
    // Each waits for its host's setup and volume attachment (so a destroy removes it before the
    // detach stops the host), and for the host before it.
    expect(runtime.optionsOf('command:remote:Command', 'auth-service-app-1').dependsOn).toEqual(['app-1-data', 'app-1-ready', 'auth-service-logs']);
    expect(runtime.optionsOf('command:remote:Command', 'auth-service-app-2').dependsOn).toEqual(['app-2-data', 'app-2-ready', 'auth-service-app-1', 'auth-service-logs']);
    expect(runtime.optionsOf('command:remote:Command', 'auth-service-app-3').dependsOn).toEqual(['app-3-data', 'app-3-ready', 'auth-service-app-2', 'auth-service-logs']);
  });

  it('never puts anything in triggers, so no change of spec, image, secret or connection replaces a step', async () => {
    const { ofType, runtime } = await evaluate(() =>
      new ContainerService('auth-service', serviceArgs({ secretEnvironment: { DB_PASSWORD: pulumi.secret('p') } })),
    );
    for (const deploy of ofType('command:remote:Command').filter((d) => d.name.startsWith('auth-service-'))) {
      expect(deploy.inputs.triggers).toBeUndefined();
      // AL2023's sshd refuses the variables the provider would send with earlier output.
      expect(deploy.inputs.addPreviousOutputInEnv).toBe(false);
      // A forced replacement deletes the old step first: the two never race on one host.
      expect(runtime.optionsOf('command:remote:Command', deploy.name).deleteBeforeReplace).toBe(true);
    }
  });

  it('refuses a step name the agent would refuse as a deployment id, and an image the shell would read', () => {
    expect(() => deployCommand('auth service', IMAGE)).toThrow('must match');
    expect(() => deployCommand('auth-service-app-1', 'berth/auth-service:latest; rm -rf /')).toThrow('image must be <repository>@sha256:<64 hex>');
    expect(() => removeCommand('auth-service', 'prod', '$(reboot)')).toThrow('must match');
  });

  it('reports the image once every host ran its deploy step', async () => {
    const { result } = await evaluate(() => new ContainerService('auth-service', serviceArgs()));
    expect(await valueOf(result.image)).toBe(IMAGE);
    expect(await pulumi.isSecret(result.image)).toBe(false);
  });

  it('sends a plain spec on stdin when the service has no secrets, identical to the one reviewers see', async () => {
    const { ofType } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ logging: { driver: 'local' } })));
    const deploy = ofType('command:remote:Command').find((d) => d.name === 'auth-service-app-1')!;
    const spec = JSON.parse(String(deploy.inputs.stdin));
    expect(spec.image).toBe(IMAGE);
    expect(spec.log).toEqual({ driver: 'local', options: { 'max-file': '5', 'max-size': '20m' } });
    expect(spec.configFile.content).toContain('spring.profiles.active=prod');
    expect(ofType('aws:cloudwatch/logGroup:LogGroup')).toEqual([]);
  });

  it('keeps secret values out of plain state: stdin is secret, reviewers still see the image on the command line', async () => {
    const { one, ofType, result } = await evaluate(() =>
      new ContainerService('auth-service', serviceArgs({ secretEnvironment: { DB_PASSWORD: pulumi.secret('hunter2-very-secret') } })),
    );
    const deploy = one('command:remote:Command', 'auth-service-app-1');
    expect(deploy.inputs.stdin).toBe('[secret]');
    expect(deploy.inputs.create).toBe(`sudo /usr/local/bin/berth-agent deploy --deployment auth-service-app-1 --expect-image ${IMAGE}`);
    expect(JSON.stringify(ofType('command:remote:Command'))).not.toContain('hunter2');
    // The host still receives the real value, inside the secret stdin.
    const stdin = await valueOf(result.deployments[0].stdin);
    expect(JSON.parse(String(stdin)).secretEnvironment).toEqual({ DB_PASSWORD: 'hunter2-very-secret' });
    expect(await pulumi.isSecret(result.deployments[0].stdin)).toBe(true);
  });

  it('passes privileged access to the agent only with a reason', async () => {
    const spec = renderServiceSpec({
      project: 'berth', env: 'dev', service: 'log-shipper', image: IMAGE, region: 'eu-west-1', secretEnvironment: {},
      args: { health: { cmd: 'true', timeoutSeconds: 5 }, hostAccess: { dockerSocket: true, reason: 'reads other containers through the Docker API' } },
    });
    expect(spec).toMatchObject({ dockerSocket: true, allowPrivilegedReason: 'reads other containers through the Docker API' });
    expect(spec.privileged).toBeUndefined();
    expect(agentSpecJson(spec)).toContain('"dockerSocket": true');
  });

  it('refuses, before anything is declared, ports and traffic settings the agent would refuse, naming the argument', async () => {
    await expect(evaluate(() => new ContainerService('auth-service', serviceArgs({ drainSeconds: 3601 })))).rejects.toThrow(
      'ContainerService auth-service: args.drainSeconds: must be whole seconds, 0 to 3600, got 3601',
    );
    await expect(evaluate(() => new ContainerService('auth-service', serviceArgs({ update: 'rolling' as never, proxyMode: 'udp' as never })))).rejects.toThrow(
      'ContainerService auth-service: args.update: must be start-first or stop-first, got "rolling"; args.proxyMode: must be http or tcp, got "udp"',
    );
    await expect(evaluate(() => new ContainerService('auth-service', serviceArgs({ ports: ['8081:8081', '30001:80'] })))).rejects.toThrow(
      'ContainerService auth-service: args.ports[1]: host port 30001 is in the range the host proxy keeps for containers (30000-32767); publish another',
    );
    const { result } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ drainSeconds: 0, update: 'stop-first', proxyMode: 'http' })));
    expect(JSON.parse(String(await valueOf(result.deployments[0].stdin)))).toMatchObject({ drainSeconds: 0, update: 'stop-first', proxyMode: 'http' });
  });

  it('refuses hosts it cannot reach', async () => {
    const host = { name: 'app-1', instance: undefined as never, dataVolume: undefined as never, attachment: undefined as never, ready: undefined as never, connection: undefined as never };
    await expect(evaluate(() => new ContainerService('auth-service', serviceArgs({ hosts: [host] })))).rejects.toThrow(
      /host app-1 has no SSH connection/,
    );
  });
});
