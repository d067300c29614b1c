import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import { ContainerService, ContainerServiceArgs, renderServiceSpec } from '../../components/service/containerService';
import type { DockerHost } from '../../components/host/dockerHostGroup';
import { agentSpecJson } from '../../components/service/spec';
import { evaluate, valueOf } from '../support/pulumi';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/auth-service@sha256:' + 'c3'.repeat(32);
const CONFIG = path.resolve(__dirname, '../../stacks/config/auth-service/application-prod.properties');

/** Hosts as a DockerHostGroup hands them over; only their name, connection and readiness matter here. */
function fakeHosts(count: number): DockerHost[] {
  return Array.from({ length: count }, (_, index) => {
    const name = `app-${index + 1}`;
    return {
      name,
      instance: undefined as never,
      dataVolume: undefined as never,
      connection: pulumi.output({ host: `10.20.0.${index + 10}`, user: 'ec2-user', privateKey: pulumi.secret('key') }) as pulumi.Output<command.types.input.remote.ConnectionArgs>,
    };
  });
}

function serviceArgs(overrides: Partial<ContainerServiceArgs> = {}): ContainerServiceArgs {
  return {
    env: 'prod',
    image: IMAGE,
    hosts: fakeHosts(3),
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
      args: serviceArgs(),
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
    const deploys = ofType('command:remote:Command');
    expect(deploys.map((d) => [d.name, d.inputs.create, d.inputs.update, d.inputs.delete])).toEqual([
      ['auth-service-app-1', 'sudo /usr/local/bin/berth-agent deploy', 'sudo /usr/local/bin/berth-agent deploy', 'sudo /usr/local/bin/berth-agent remove auth-service --env prod'],
      ['auth-service-app-2', 'sudo /usr/local/bin/berth-agent deploy', 'sudo /usr/local/bin/berth-agent deploy', 'sudo /usr/local/bin/berth-agent remove auth-service --env prod'],
      ['auth-service-app-3', 'sudo /usr/local/bin/berth-agent deploy', 'sudo /usr/local/bin/berth-agent deploy', 'sudo /usr/local/bin/berth-agent remove auth-service --env prod'],
    ]);
    expect(runtime.optionsOf('command:remote:Command', 'auth-service-app-1').dependsOn).toEqual(['auth-service-logs']);
    expect(runtime.optionsOf('command:remote:Command', 'auth-service-app-2').dependsOn).toEqual(['auth-service-app-1', 'auth-service-logs']);
    expect(runtime.optionsOf('command:remote:Command', 'auth-service-app-3').dependsOn).toEqual(['auth-service-app-2', 'auth-service-logs']);
  });

  it('sends a plain spec on stdin when the service has no secrets, identical to the one reviewers see', async () => {
    const { ofType } = await evaluate(() => new ContainerService('auth-service', serviceArgs({ logging: { driver: 'local' } })));
    const [deploy] = ofType('command:remote:Command');
    const spec = JSON.parse(String(deploy.inputs.stdin));
    expect(spec.image).toBe(IMAGE);
    expect(spec.log).toEqual({ driver: 'local', options: { 'max-file': '5', 'max-size': '20m' } });
    expect(spec.configFile.content).toContain('spring.profiles.active=prod');
    expect(deploy.inputs.triggers).toEqual([deploy.inputs.stdin]);
    expect(ofType('aws:cloudwatch/logGroup:LogGroup')).toEqual([]);
  });

  it('keeps secret values out of plain state: stdin is secret, reviewers see the spec with values masked', async () => {
    const { ofType, result } = await evaluate(() =>
      new ContainerService('auth-service', serviceArgs({ secretEnvironment: { DB_PASSWORD: pulumi.secret('hunter2-very-secret') } })),
    );
    const [deploy] = ofType('command:remote:Command');
    expect(deploy.inputs.stdin).toBe('[secret]');
    const review = JSON.parse(String((deploy.inputs.triggers as unknown[])[0]));
    expect(review.secretEnvironment).toEqual({ DB_PASSWORD: '[secret]' });
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

  it('refuses hosts it cannot reach', async () => {
    const [host] = fakeHosts(1);
    await expect(evaluate(() => new ContainerService('auth-service', serviceArgs({ hosts: [{ ...host, connection: undefined }] })))).rejects.toThrow(
      /host app-1 has no SSH connection/,
    );
  });
});
