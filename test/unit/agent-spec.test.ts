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
      'health', 'log', 'memoryMiB', 'pidsLimit', 'restart', 'stopTimeoutSeconds', 'privileged', 'dockerSocket', 'allowPrivilegedReason',
    ]);
    expect(checkAgentSpec({ ...fullSpec(), replicas: 2, zone: 'a' }).problems).toEqual([
      'spec: unknown field(s) replicas, zone (allowed: name, env, image, ports, volumes, environment, secretEnvironment, configFile, health, log, memoryMiB, pidsLimit, restart, stopTimeoutSeconds, privileged, dockerSocket, allowPrivilegedReason)',
    ]);
    expect(checkAgentSpec(fullSpec())).toEqual({ spec: fullSpec() });
  });
});
