import { AGENT_SPEC_FIELDS, agentSpecJson, AgentServiceSpec, checkAgentSpec } from '../../components/service/spec';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

function fullSpec(): AgentServiceSpec {
  return {
    allowPrivilegedReason: 'reads other containers through the Docker API',
    dockerSocket: true,
    privileged: false,
    stopTimeoutSeconds: 20,
    restart: 'on-failure:3',
    pidsLimit: 256,
    memoryMiB: 512,
    log: { options: { 'awslogs-stream': 'auth', 'awslogs-group': '/berth/prod' }, driver: 'awslogs' },
    health: { timeoutSeconds: 60, cmd: 'wget -q -O /dev/null http://127.0.0.1:8080/health' },
    configFile: { target: '/app/application-prod.properties', content: 'a=1\n' },
    secretEnvironment: { Z_PASSWORD: 'z', DB_PASSWORD: 'p' },
    environment: { ZONE: 'eu', APP: 'auth' },
    volumes: ['/srv/berth/auth/b:/b', '/srv/berth/auth/a:/a:ro'],
    ports: ['9090:9090', '8080:8080'],
    image: `registry.example.com/berth/auth@${DIGEST}`,
    env: 'prod',
    name: 'auth',
  };
}

describe('agentSpecJson', () => {
  it('renders every field in the fixed order, maps sorted, arrays as given', () => {
    expect(agentSpecJson(fullSpec())).toBe(
      [
        '{',
        '  "name": "auth",',
        '  "env": "prod",',
        `  "image": "registry.example.com/berth/auth@${DIGEST}",`,
        '  "ports": [',
        '    "9090:9090",',
        '    "8080:8080"',
        '  ],',
        '  "volumes": [',
        '    "/srv/berth/auth/b:/b",',
        '    "/srv/berth/auth/a:/a:ro"',
        '  ],',
        '  "environment": {',
        '    "APP": "auth",',
        '    "ZONE": "eu"',
        '  },',
        '  "secretEnvironment": {',
        '    "DB_PASSWORD": "p",',
        '    "Z_PASSWORD": "z"',
        '  },',
        '  "configFile": {',
        '    "content": "a=1\\n",',
        '    "target": "/app/application-prod.properties"',
        '  },',
        '  "health": {',
        '    "cmd": "wget -q -O /dev/null http://127.0.0.1:8080/health",',
        '    "timeoutSeconds": 60',
        '  },',
        '  "log": {',
        '    "driver": "awslogs",',
        '    "options": {',
        '      "awslogs-group": "/berth/prod",',
        '      "awslogs-stream": "auth"',
        '    }',
        '  },',
        '  "memoryMiB": 512,',
        '  "pidsLimit": 256,',
        '  "restart": "on-failure:3",',
        '  "stopTimeoutSeconds": 20,',
        '  "privileged": false,',
        '  "dockerSocket": true,',
        '  "allowPrivilegedReason": "reads other containers through the Docker API"',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('leaves out what is not set', () => {
    const spec: AgentServiceSpec = {
      name: 'web',
      env: 'dev',
      image: `web@${DIGEST}`,
      health: { cmd: 'true', timeoutSeconds: 5 },
      configFile: undefined,
      log: { driver: 'json-file' },
    };
    expect(JSON.parse(agentSpecJson(spec))).toEqual({
      name: 'web',
      env: 'dev',
      image: `web@${DIGEST}`,
      health: { cmd: 'true', timeoutSeconds: 5 },
      log: { driver: 'json-file' },
    });
    expect(Object.keys(JSON.parse(agentSpecJson(spec)))).toEqual(['name', 'env', 'image', 'health', 'log']);
  });

  it('gives the same text whatever order the input was built in', () => {
    const shuffled = Object.fromEntries(Object.entries(fullSpec()).reverse()) as unknown as AgentServiceSpec;
    expect(agentSpecJson(shuffled)).toBe(agentSpecJson(fullSpec()));
  });

  it('refuses a field the agent would refuse, naming it', () => {
    const spec = { ...fullSpec(), replicas: 2 } as unknown as AgentServiceSpec;
    expect(() => agentSpecJson(spec)).toThrow('unknown field(s) replicas in the spec of service "auth"');
  });

  it('knows exactly the fields the agent accepts, and the agent refuses any other', () => {
    expect(AGENT_SPEC_FIELDS).toEqual([
      'name', 'env', 'image', 'ports', 'volumes', 'environment', 'secretEnvironment', 'configFile',
      'health', 'log', 'memoryMiB', 'pidsLimit', 'restart', 'stopTimeoutSeconds', 'update', 'drainSeconds', 'proxyMode', 'privileged', 'dockerSocket', 'allowPrivilegedReason',
    ]);
    expect(checkAgentSpec({ ...fullSpec(), replicas: 2, zone: 'a' }).problems).toEqual([
      'spec: unknown field(s) replicas, zone (allowed: name, env, image, ports, volumes, environment, secretEnvironment, configFile, health, log, memoryMiB, pidsLimit, restart, stopTimeoutSeconds, update, drainSeconds, proxyMode, privileged, dockerSocket, allowPrivilegedReason)',
    ]);
    expect(checkAgentSpec(fullSpec())).toEqual({ spec: fullSpec() });
  });
});

describe('the spec schema the agent, the component and the policy pack share', () => {
  const valid = { name: 'web', env: 'dev', image: `web@${DIGEST}`, health: { cmd: 'true', timeoutSeconds: 5 } };
  const cases: [string, unknown, string[]][] = [
    ['not an object', [], ['spec: must be a JSON object']],
    ['a missing name', { ...valid, name: undefined }, ['spec.name: required, lowercase letters and digits in single-hyphen-separated words, at most 48 characters, got null']],
    ['a bad env', { ...valid, env: 'Prod' }, ['spec.env: required, lowercase letters and digits in single-hyphen-separated words, at most 48 characters, got "Prod"']],
    ['a tag', { ...valid, image: 'web:1' }, ['spec.image: must be <repository>@sha256:<64 hex> (a tag is refused), got "web:1"']],
    ['a tag and a digest', { ...valid, image: `web:1@${DIGEST}` }, [`spec.image: must be <repository>@sha256:<64 hex> (a tag is refused), got "web:1@${DIGEST}"`]],
    ['ports not a list', { ...valid, ports: '80' }, ['spec.ports: must be an array of strings']],
    ['a bad port', { ...valid, ports: ['80:80', 'http'] }, ['spec.ports[1]: must be docker -p syntax [ip:][hostPort:]containerPort[/proto], got "http"']],
    ['an unknown update order', { ...valid, update: 'rolling' }, ['spec.update: must be start-first or stop-first, got "rolling"']],
    ['a negative drain', { ...valid, drainSeconds: -1 }, ['spec.drainSeconds: must be whole seconds, 0 to 3600, got -1']],
    ['a drain over an hour', { ...valid, drainSeconds: 3601 }, ['spec.drainSeconds: must be whole seconds, 0 to 3600, got 3601']],
    ['a fractional drain', { ...valid, drainSeconds: 1.5 }, ['spec.drainSeconds: must be whole seconds, 0 to 3600, got 1.5']],
    ['an unknown proxy mode', { ...valid, proxyMode: 'udp' }, ['spec.proxyMode: must be http or tcp, got "udp"']],
    ['a container range for one host port', { ...valid, ports: ['8080:80-90'] }, ['spec.ports[0]: must be docker -p syntax [ip:][hostPort:]containerPort[/proto], got "8080:80-90"']],
    ['ranges of different lengths', { ...valid, ports: ['8000-8002:80-81/udp'] }, ['spec.ports[0]: must be docker -p syntax [ip:][hostPort:]containerPort[/proto], got "8000-8002:80-81/udp"']],
    ['a range from high to low', { ...valid, ports: ['90-80'] }, ['spec.ports[0]: must be docker -p syntax [ip:][hostPort:]containerPort[/proto], got "90-80"']],
    ['port 0 and a port over 65535', { ...valid, ports: ['0', '127.0.0.1:70000:80'] }, [
      'spec.ports[0]: must be docker -p syntax [ip:][hostPort:]containerPort[/proto], got "0"',
      'spec.ports[1]: must be docker -p syntax [ip:][hostPort:]containerPort[/proto], got "127.0.0.1:70000:80"',
    ]],
    ['a named volume', { ...valid, volumes: ['data:/data'] }, ['spec.volumes[0]: must be /host/path:/container/path[:ro] with the host path under <data root>/<env>/<name>, got "data:/data"']],
    ['a bad variable name', { ...valid, environment: { 'A-B': 'x' } }, ['spec.environment.A-B: not a valid variable name']],
    ['a value not a string', { ...valid, environment: { A: 1 } }, ['spec.environment.A: value must be a string']],
    ['environment not an object', { ...valid, environment: ['A=1'] }, ['spec.environment: must be an object of NAME: "value"']],
    ['a multi-line secret, its value never shown', { ...valid, secretEnvironment: { DB_PASSWORD: 'hunter2\nx' } }, ['spec.secretEnvironment.DB_PASSWORD: value must be a single line']],
    ['a config file without content', { ...valid, configFile: { target: '/a/b' } }, ['spec.configFile.content: required string']],
    ['a config file target that is a folder', { ...valid, configFile: { content: '', target: '/a/' } }, ['spec.configFile.target: required absolute file path in the container, got "/a/"']],
    ['an unknown config file field', { ...valid, configFile: { content: '', target: '/a', mode: '0600' } }, ['spec.configFile: unknown field(s) mode (allowed: content, target)']],
    ['no health', { ...valid, health: undefined }, ['spec.health: required object { cmd, timeoutSeconds }']],
    ['a blank health command', { ...valid, health: { cmd: ' ', timeoutSeconds: 5 } }, ['spec.health.cmd: required shell command run inside the container']],
    ['a health timeout over an hour', { ...valid, health: { cmd: 'true', timeoutSeconds: 3601 } }, ['spec.health.timeoutSeconds: required whole seconds, 1 to 3600, got 3601']],
    ['a fractional health timeout', { ...valid, health: { cmd: 'true', timeoutSeconds: 1.5 } }, ['spec.health.timeoutSeconds: required whole seconds, 1 to 3600, got 1.5']],
    ['an unknown health field', { ...valid, health: { cmd: 'true', timeoutSeconds: 5, retries: 3 } }, ['spec.health: unknown field(s) retries (allowed: cmd, timeoutSeconds)']],
    ['a bad log driver', { ...valid, log: { driver: 'Aws Logs' } }, ['spec.log.driver: required log driver name, got "Aws Logs"']],
    ['a log option not a string', { ...valid, log: { driver: 'local', options: { 'max-size': 10 } } }, ['spec.log.options.max-size: must be a string']],
    ['a zero memory limit', { ...valid, memoryMiB: 0 }, ['spec.memoryMiB: must be a positive whole number, got 0']],
    ['a text PID limit', { ...valid, pidsLimit: '256' }, ['spec.pidsLimit: must be a positive whole number, got "256"']],
    ['a negative stop timeout', { ...valid, stopTimeoutSeconds: -1 }, ['spec.stopTimeoutSeconds: must be a positive whole number, got -1']],
    ['a bad restart policy', { ...valid, restart: 'on-failure:x' }, ['spec.restart: must be no, always, unless-stopped or on-failure[:N], got "on-failure:x"']],
    ['privileged not a boolean', { ...valid, privileged: 'yes' }, ['spec.privileged: must be true or false']],
    ['a blank reason', { ...valid, dockerSocket: true, allowPrivilegedReason: ' ' }, ['spec.allowPrivilegedReason: must be a non-empty string']],
    ['privileged without a reason', { ...valid, privileged: true }, ['spec.privileged: refused without spec.allowPrivilegedReason explaining why the service needs root on the host']],
    ['the Docker socket without a reason', { ...valid, dockerSocket: true }, ['spec.dockerSocket: refused without spec.allowPrivilegedReason explaining why the service needs root on the host']],
    ['several problems at once, each named', { ...valid, image: 'web', memoryMiB: 0, extra: 1 }, [
      'spec.image: must be <repository>@sha256:<64 hex> (a tag is refused), got "web"',
      'spec.memoryMiB: must be a positive whole number, got 0',
      'spec: unknown field(s) extra (allowed: name, env, image, ports, volumes, environment, secretEnvironment, configFile, health, log, memoryMiB, pidsLimit, restart, stopTimeoutSeconds, update, drainSeconds, proxyMode, privileged, dockerSocket, allowPrivilegedReason)',
    ]],
  ];
  it.each(cases)('refuses %s, naming the field', (_label, value, problems) => {
    const result = checkAgentSpec(JSON.parse(JSON.stringify(value)));
    expect(result.problems).toEqual(problems);
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('takes null for a field left out, and accepts every option set', () => {
    expect(checkAgentSpec({ ...valid, memoryMiB: null, log: null }).spec).toEqual(valid);
    expect(checkAgentSpec({ ...valid, restart: 'on-failure:3', privileged: true, allowPrivilegedReason: 'reads the host' }).problems).toBeUndefined();
    const ports = ['80', '8080:80', '127.0.0.1:8080:80/udp', '8000-8001:80-81', '8000-8010:80', '9000-9001', '65535:1/sctp'];
    expect(checkAgentSpec({ ...valid, ports }).problems).toBeUndefined();
  });
});
