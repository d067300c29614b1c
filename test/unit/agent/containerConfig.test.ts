/**
 * What the engine is asked to create for a spec (components/service/agent/containerConfig.ts):
 * exact bodies, `docker -p` port bindings with ranges, the host ports a spec wants and a container holds.
 */
import { createBody, heldHostPorts, portBindings, wantedHostPorts } from '../../../components/service/agent/containerConfig';
import type { AgentServiceSpec } from '../../../components/service/spec';

const IMAGE = `registry.example.com/berth/auth@sha256:${'ab'.repeat(32)}`;
const LABELS = { 'berth.service': 'auth', 'berth.env': 'prod', 'berth.image': IMAGE, 'berth.spec-hash': 'f00d' };

describe('createBody', () => {
  it('renders every field of a full spec', () => {
    const spec: AgentServiceSpec = {
      name: 'auth',
      env: 'prod',
      image: IMAGE,
      ports: ['127.0.0.1:8080:8080', '9000-9001:9000-9001/udp', '7000'],
      volumes: ['/srv/berth/prod/auth/data:/data', '/srv/berth/prod/auth/logs:/logs:ro'],
      environment: { APP: 'auth', ZONE: 'eu' },
      secretEnvironment: { DB_PASSWORD: 'p4ss' },
      configFile: { content: 'a=1\n', target: '/app/config/application.properties' },
      health: { cmd: 'true', timeoutSeconds: 30 },
      log: { driver: 'awslogs', options: { 'awslogs-group': '/berth/prod', 'awslogs-stream': 'auth' } },
      memoryMiB: 512,
      pidsLimit: 256,
      restart: 'on-failure:3',
      stopTimeoutSeconds: 20,
      privileged: true,
      dockerSocket: true,
      allowPrivilegedReason: 'reads other containers through the Docker API',
    };
    expect(createBody(spec, 'f00d', '/etc/berth/config/prod/auth/0123456789abcdef/application.properties')).toStrictEqual({
      Image: IMAGE,
      Labels: LABELS,
      Env: ['APP=auth', 'ZONE=eu', 'DB_PASSWORD=p4ss'],
      ExposedPorts: { '8080/tcp': {}, '9000/udp': {}, '9001/udp': {}, '7000/tcp': {} },
      StopTimeout: 20,
      HostConfig: {
        Binds: [
          '/srv/berth/prod/auth/data:/data',
          '/srv/berth/prod/auth/logs:/logs:ro',
          '/var/run/docker.sock:/var/run/docker.sock',
          '/etc/berth/config/prod/auth/0123456789abcdef/application.properties:/app/config/application.properties:ro',
        ],
        PortBindings: {
          '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
          '9000/udp': [{ HostIp: '', HostPort: '9000' }],
          '9001/udp': [{ HostIp: '', HostPort: '9001' }],
          '7000/tcp': [{ HostIp: '', HostPort: '' }],
        },
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
        SecurityOpt: ['no-new-privileges'],
        LogConfig: { Type: 'awslogs', Config: { 'awslogs-group': '/berth/prod', 'awslogs-stream': 'auth' } },
        Memory: 536870912,
        PidsLimit: 256,
        Privileged: true,
      },
    });
  });

  it('leaves out what a minimal spec leaves out', () => {
    const spec: AgentServiceSpec = { name: 'auth', env: 'prod', image: IMAGE, health: { cmd: 'true', timeoutSeconds: 30 } };
    expect(createBody(spec, 'f00d')).toStrictEqual({
      Image: IMAGE,
      Labels: LABELS,
      Env: [],
      ExposedPorts: {},
      HostConfig: {
        Binds: [],
        PortBindings: {},
        RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
        SecurityOpt: ['no-new-privileges'],
      },
    });
  });

  it('mounts no config file without its host path, and nothing for privileges set to false', () => {
    const spec: AgentServiceSpec = {
      name: 'auth',
      env: 'prod',
      image: IMAGE,
      health: { cmd: 'true', timeoutSeconds: 30 },
      configFile: { content: 'a=1\n', target: '/app/a.properties' },
      log: { driver: 'local' },
      restart: 'no',
      privileged: false,
      dockerSocket: false,
    };
    const body = createBody(spec, 'f00d');
    expect(body.HostConfig).toStrictEqual({
      Binds: [],
      PortBindings: {},
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      SecurityOpt: ['no-new-privileges'],
      LogConfig: { Type: 'local', Config: {} },
    });
  });
});

describe('portBindings', () => {
  it('reads docker -p: address, host port, container port, protocol and ranges', () => {
    expect(portBindings(['127.0.0.1:8000-8002:9000-9002/udp', '8080', '7000-7001:80', '5000-5001', '8081:81', '8082:81/sctp'])).toStrictEqual({
      exposed: {
        '9000/udp': {},
        '9001/udp': {},
        '9002/udp': {},
        '8080/tcp': {},
        '80/tcp': {},
        '5000/tcp': {},
        '5001/tcp': {},
        '81/tcp': {},
        '81/sctp': {},
      },
      bindings: {
        '9000/udp': [{ HostIp: '127.0.0.1', HostPort: '8000' }],
        '9001/udp': [{ HostIp: '127.0.0.1', HostPort: '8001' }],
        '9002/udp': [{ HostIp: '127.0.0.1', HostPort: '8002' }],
        '8080/tcp': [{ HostIp: '', HostPort: '' }],
        // A host range for one container port stays one binding.
        '80/tcp': [{ HostIp: '', HostPort: '7000-7001' }],
        '5000/tcp': [{ HostIp: '', HostPort: '' }],
        '5001/tcp': [{ HostIp: '', HostPort: '' }],
        '81/tcp': [{ HostIp: '', HostPort: '8081' }],
        '81/sctp': [{ HostIp: '', HostPort: '8082' }],
      },
    });
  });

  it('publishes one container port on several host ports', () => {
    expect(portBindings(['8080:80', '127.0.0.1:8081:80']).bindings).toStrictEqual({
      '80/tcp': [
        { HostIp: '', HostPort: '8080' },
        { HostIp: '127.0.0.1', HostPort: '8081' },
      ],
    });
  });

  it('refuses ranges of different lengths', () => {
    expect(() => portBindings(['8000-8002:9000-9001'])).toThrow(new Error('port 8000-8002:9000-9001: the host and container ranges differ in length'));
  });
});

describe('the host ports', () => {
  it('a spec wants: fixed ones, ranges expanded, sorted, once each', () => {
    expect(wantedHostPorts(['127.0.0.1:8080:80', '8080:81', '9000-9002:9000-9002', '7000-7001:80/udp', '5000'])).toEqual([7000, 7001, 8080, 9000, 9001, 9002]);
    expect(wantedHostPorts([])).toEqual([]);
  });

  it('a container holds, from its port bindings', () => {
    expect(
      heldHostPorts({
        '80/tcp': [{ HostIp: '', HostPort: '9090' }],
        '81/tcp': [{ HostIp: '', HostPort: '7000-7002' }],
        '82/tcp': [{ HostIp: '', HostPort: '' }],
        '83/tcp': null,
        '84/udp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
      }),
    ).toEqual([7000, 7001, 7002, 8080, 9090]);
    expect(heldHostPorts(null)).toEqual([]);
    expect(heldHostPorts({})).toEqual([]);
  });
});
