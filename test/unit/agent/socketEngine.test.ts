/**
 * The Engine over the Docker Engine API (components/service/agent/socketEngine.ts):
 * the pure helpers, then every call against a small HTTP server on a unix socket
 * in a scratch folder that answers as dockerd does. No Docker.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { EngineError, EngineUnreachable } from '../../../components/service/agent/engine';
import { rejection } from '../../support/rejection';
import { demultiplex, ENGINE_API_VERSION, engineSocketPath, pullStreamError, registryAuthHeader, SocketEngine } from '../../../components/service/agent/socketEngine';

const IMAGE = `registry.example.com/berth/web@sha256:${'a1'.repeat(32)}`;

/** One frame of the engine's multiplexed stream: stream type, 3 zero bytes, big-endian size, payload. */
function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('demultiplex', () => {
  it('joins the frames of stdout and stderr in order', () => {
    expect(demultiplex(Buffer.concat([frame(1, 'hello '), frame(2, 'wörld\n'), frame(1, '')]))).toBe('hello wörld\n');
  });

  it('ignores a trailing partial header and cuts a frame that claims more than there is', () => {
    expect(demultiplex(Buffer.concat([frame(1, 'ok'), Buffer.from([1, 0, 0])]))).toBe('ok');
    const short = frame(1, 'abcdef').subarray(0, 11);
    expect(demultiplex(short)).toBe('abc');
    expect(demultiplex(Buffer.alloc(0))).toBe('');
  });
});

describe('registryAuthHeader', () => {
  it('is the credentials as JSON, URL-safe base64 with padding', () => {
    expect(registryAuthHeader({ username: 'u', password: '????>', serveraddress: 'r' })).toBe(
      'eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6Ij8_Pz8-Iiwic2VydmVyYWRkcmVzcyI6InIifQ==',
    );
    expect(registryAuthHeader({ identitytoken: 't', serveraddress: 'r' })).toBe('eyJpZGVudGl0eXRva2VuIjoidCIsInNlcnZlcmFkZHJlc3MiOiJyIn0=');
  });
});

describe('pullStreamError', () => {
  it('finds the error a pull stream ends with', () => {
    const progress = '{"status":"Pulling from berth/web","id":"sha256"}\n\n{"status":"Downloading","progressDetail":{"current":1,"total":2}}\n';
    expect(pullStreamError(progress)).toBeUndefined();
    expect(pullStreamError('')).toBeUndefined();
    expect(pullStreamError(`${progress}{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown: short"}\n`)).toBe('manifest unknown');
    expect(pullStreamError('{"error":"denied: requested access to the resource is denied"}')).toBe('denied: requested access to the resource is denied');
    expect(pullStreamError('{"errorDetail":{},"error":"fallback"}')).toBe('fallback');
  });

  it('reports a line that is not JSON, cut to 200 characters', () => {
    expect(pullStreamError('<html>Bad Gateway</html>')).toBe('unreadable answer from the engine: <html>Bad Gateway</html>');
    expect(pullStreamError(`x${'y'.repeat(300)}`)).toBe(`unreadable answer from the engine: x${'y'.repeat(199)}`);
  });
});

describe('engineSocketPath', () => {
  it('is the default socket, or the unix socket DOCKER_HOST names', () => {
    expect(engineSocketPath(undefined)).toBe('/var/run/docker.sock');
    expect(engineSocketPath('')).toBe('/var/run/docker.sock');
    expect(engineSocketPath('unix:///run/user/1000/docker.sock')).toBe('/run/user/1000/docker.sock');
  });

  it('refuses any other DOCKER_HOST', () => {
    expect(() => engineSocketPath('tcp://10.0.0.1:2375')).toThrow(new EngineUnreachable('DOCKER_HOST must name a unix socket (unix:///path), got tcp://10.0.0.1:2375'));
    expect(() => engineSocketPath('ssh://host')).toThrow(EngineUnreachable);
  });
});

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Answer = { status: number; body?: string | Buffer; json?: unknown } | 'hang' | 'reset' | { stream: Buffer };

describe('SocketEngine', () => {
  let dir: string;
  let socket: string;
  let server: http.Server;
  let seen: Seen[];
  let answers: Answer[];
  let hanging: http.ServerResponse[];
  let engine: SocketEngine;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-socket-unit-'));
    socket = path.join(dir, 'docker.sock');
    seen = [];
    answers = [];
    hanging = [];
    server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        const answer = answers.shift() ?? { status: 500, json: { message: 'the test gave no answer' } };
        if (answer === 'hang') {
          hanging.push(response);
          return;
        }
        if (answer === 'reset') {
          request.socket.destroy();
          return;
        }
        if ('stream' in answer) {
          // As dockerd answers an exec: the headers and what the command wrote so far, then nothing until it ends.
          response.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
          response.write(answer.stream);
          hanging.push(response);
          return;
        }
        const body = answer.json !== undefined ? JSON.stringify(answer.json) : (answer.body ?? '');
        response.writeHead(answer.status, answer.json !== undefined ? { 'Content-Type': 'application/json' } : {});
        response.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    engine = new SocketEngine(socket);
  });

  afterEach(async () => {
    engine.close();
    for (const response of hanging) {
      response.destroy();
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const calls = () => seen.map((request) => `${request.method} ${request.url}`);

  async function engineError(promise: Promise<unknown>, message: string, status: number): Promise<void> {
    const error = await rejection(promise);
    expect(error).toBeInstanceOf(EngineError);
    expect([error.message, (error as EngineError).status]).toEqual([message, status]);
  }

  it('lists containers with all, the filters as JSON, and the size when asked', async () => {
    const rows = [{ Id: 'c1', Names: ['/berth-prod-web'], State: 'running', Labels: {}, Created: 1, Image: IMAGE }];
    answers.push({ status: 200, json: rows }, { status: 200, json: [] });
    await expect(engine.listContainers({ label: ['berth.env=prod'] })).resolves.toEqual(rows);
    await expect(engine.listContainers({ status: ['exited'] }, { size: true })).resolves.toEqual([]);
    expect(calls()).toEqual([
      'GET /v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.env%3Dprod%22%5D%7D',
      'GET /v1.41/containers/json?all=1&size=1&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D',
    ]);
  });

  it('inspects a container by name: the details, undefined when there is none, an error otherwise', async () => {
    const details = { Id: 'c1', Name: '/berth-prod-web' };
    answers.push({ status: 200, json: details }, { status: 404, json: { message: 'No such container: x' } }, { status: 500, json: { message: 'engine is shutting down' } });
    await expect(engine.inspectContainer('berth-prod-web')).resolves.toEqual(details);
    await expect(engine.inspectContainer('a/b')).resolves.toBeUndefined();
    await engineError(engine.inspectContainer('c1'), 'engine is shutting down', 500);
    expect(calls()).toEqual(['GET /v1.41/containers/berth-prod-web/json', 'GET /v1.41/containers/a%2Fb/json', 'GET /v1.41/containers/c1/json']);
  });

  it('creates a container with the body as JSON, and reports a conflict', async () => {
    const body = { Image: IMAGE, Labels: { a: 'b' }, Env: ['A=1'], ExposedPorts: {}, HostConfig: { Binds: [], PortBindings: {}, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, SecurityOpt: [] } };
    answers.push({ status: 201, json: { Id: 'new-id', Warnings: [] } }, { status: 409, json: { message: 'Conflict. The container name "/x" is already in use' } });
    await expect(engine.createContainer('berth-prod-web-next', body)).resolves.toBe('new-id');
    await engineError(engine.createContainer('x', body), 'Conflict. The container name "/x" is already in use', 409);
    expect(calls()).toEqual(['POST /v1.41/containers/create?name=berth-prod-web-next', 'POST /v1.41/containers/create?name=x']);
    expect(JSON.parse(seen[0].body)).toEqual(body);
    expect([seen[0].headers['content-type'], seen[0].headers['content-length']]).toEqual(['application/json', String(Buffer.byteLength(JSON.stringify(body)))]);
  });

  it('starts and stops: done, or already so (304), else an error', async () => {
    answers.push({ status: 204 }, { status: 304 }, { status: 500, body: 'port is already allocated\n' }, { status: 204 }, { status: 304 }, { status: 404, json: { message: 'No such container: c9' } });
    await engine.startContainer('c1');
    await engine.startContainer('c1');
    await engineError(engine.startContainer('c2'), 'port is already allocated', 500);
    await engine.stopContainer('c1');
    await engine.stopContainer('c1');
    await engineError(engine.stopContainer('c9'), 'No such container: c9', 404);
    expect(calls()).toEqual(['POST /v1.41/containers/c1/start', 'POST /v1.41/containers/c1/start', 'POST /v1.41/containers/c2/start', 'POST /v1.41/containers/c1/stop', 'POST /v1.41/containers/c1/stop', 'POST /v1.41/containers/c9/stop']);
  });

  it('removes with force and renames', async () => {
    answers.push({ status: 204 }, { status: 204 }, { status: 409, json: { message: 'name in use' } });
    await engine.removeContainer('c1');
    await engine.renameContainer('c2', 'berth-prod-web');
    await engineError(engine.renameContainer('c2', 'taken'), 'name in use', 409);
    expect(calls()).toEqual(['DELETE /v1.41/containers/c1?force=1', 'POST /v1.41/containers/c2/rename?name=berth-prod-web', 'POST /v1.41/containers/c2/rename?name=taken']);
  });

  it('runs a command: creates the exec, reads its stream, then its exit code', async () => {
    answers.push(
      { status: 201, json: { Id: 'e1' } },
      { status: 200, body: Buffer.concat([frame(1, 'up '), frame(2, 'warn\n')]) },
      { status: 200, json: { ExitCode: 3 } },
      { status: 201, json: { Id: 'e2' } },
      { status: 200, body: '' },
      { status: 200, json: { ExitCode: null } },
    );
    await expect(engine.exec('c1', ['sh', '-c', 'true'], 5000)).resolves.toEqual({ exitCode: 3, output: 'up warn\n' });
    await expect(engine.exec('c1', ['true'], 5000)).resolves.toEqual({ exitCode: 1, output: '' });
    expect(calls()).toEqual(['POST /v1.41/containers/c1/exec', 'POST /v1.41/exec/e1/start', 'GET /v1.41/exec/e1/json', 'POST /v1.41/containers/c1/exec', 'POST /v1.41/exec/e2/start', 'GET /v1.41/exec/e2/json']);
    expect(JSON.parse(seen[0].body)).toEqual({ Cmd: ['sh', '-c', 'true'], AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
    expect(JSON.parse(seen[1].body)).toEqual({ Detach: false, Tty: false });
  });

  it('gives up on a command after its timeout, with exit code 124', async () => {
    answers.push({ status: 201, json: { Id: 'e1' } }, 'hang');
    const started = Date.now();
    await expect(engine.exec('c1', ['sleep', '60'], 300)).resolves.toEqual({ exitCode: 124, output: 'timed out after 0.3s' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(calls()).toEqual(['POST /v1.41/containers/c1/exec', 'POST /v1.41/exec/e1/start']);
  });

  it('gives up on a command that is still running after its timeout, its output started', async () => {
    answers.push({ status: 201, json: { Id: 'e1' } }, { stream: frame(1, 'checking') });
    await expect(engine.exec('c1', ['sleep', '60'], 300)).resolves.toEqual({ exitCode: 124, output: 'timed out after 0.3s' });
    expect(calls()).toEqual(['POST /v1.41/containers/c1/exec', 'POST /v1.41/exec/e1/start']);
  });

  it('counts an engine that does not answer within 5 minutes (an hour for a stop or a pull) as unreachable', async () => {
    const untilSeen = async (count: number) => {
      while (seen.length < count) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      answers.push('hang', 'hang');
      const removal = rejection(engine.removeContainer('c1'));
      let stopped: Error | undefined;
      void rejection(engine.stopContainer('c2')).then((error) => (stopped = error));
      await untilSeen(2);
      jest.advanceTimersByTime(5 * 60_000);
      const error = await removal;
      expect(error).toBeInstanceOf(EngineUnreachable);
      expect(error.message).toBe(`the Docker engine at ${socket} did not answer DELETE /containers/c1 within 300s`);
      await new Promise((resolve) => setImmediate(resolve));
      expect(stopped).toBeUndefined();
      jest.advanceTimersByTime(55 * 60_000);
      while (stopped === undefined) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(stopped).toBeInstanceOf(EngineUnreachable);
      expect(stopped.message).toBe(`the Docker engine at ${socket} did not answer POST /containers/c2/stop within 3600s`);
    } finally {
      jest.useRealTimers();
    }
  });

  it('speaks Engine API 1.41', () => {
    expect(ENGINE_API_VERSION).toBe('1.41');
  });

  it('reports an exec that cannot start, and passes a broken connection through', async () => {
    answers.push({ status: 201, json: { Id: 'e1' } }, { status: 409, json: { message: 'container c1 is not running' } });
    await engineError(engine.exec('c1', ['true'], 5000), 'container c1 is not running', 409);
    answers.push({ status: 201, json: { Id: 'e2' } }, 'reset');
    const error = await rejection(engine.exec('c1', ['true'], 5000));
    expect(error).not.toBeInstanceOf(EngineError);
    expect(error).not.toBeInstanceOf(EngineUnreachable);
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  it('reads the last lines of the logs', async () => {
    answers.push({ status: 200, body: Buffer.concat([frame(1, 'v3 starting\n'), frame(2, 'v3 is broken\n')]) });
    await expect(engine.logs('c1', 50)).resolves.toBe('v3 starting\nv3 is broken\n');
    expect(calls()).toEqual(['GET /v1.41/containers/c1/logs?stdout=1&stderr=1&tail=50']);
  });

  it('knows whether an image is on the host', async () => {
    answers.push({ status: 200, json: { Id: 'sha256:1' } }, { status: 404, json: { message: 'No such image' } });
    await expect(engine.hasImage(IMAGE)).resolves.toBe(true);
    await expect(engine.hasImage('berth/web:prod-current')).resolves.toBe(false);
    expect(calls()).toEqual([`GET /v1.41/images/${IMAGE}/json`, 'GET /v1.41/images/berth/web:prod-current/json']);
  });

  it('pulls by digest or tag, with the credentials in X-Registry-Auth, and reports a failure in the stream', async () => {
    answers.push(
      { status: 200, body: '{"status":"Pulling"}\n{"status":"Digest: sha256:a1"}\n' },
      { status: 200, body: '' },
      { status: 200, body: '' },
      { status: 200, body: '{"status":"Pulling"}\n{"errorDetail":{"message":"no basic auth credentials"},"error":"x"}\n' },
      { status: 404, json: { message: 'pull access denied for berth/none' } },
    );
    const auth = { username: 'u', password: '????>', serveraddress: 'r' };
    await engine.pullImage(IMAGE, auth);
    await engine.pullImage('localhost:5000/web:v1');
    await engine.pullImage('localhost:5000/web');
    await engineError(engine.pullImage(IMAGE), 'no basic auth credentials', 500);
    await engineError(engine.pullImage('berth/none'), 'pull access denied for berth/none', 404);
    expect(calls()).toEqual([
      `POST /v1.41/images/create?fromImage=registry.example.com%2Fberth%2Fweb&tag=sha256%3A${'a1'.repeat(32)}`,
      'POST /v1.41/images/create?fromImage=localhost%3A5000%2Fweb&tag=v1',
      'POST /v1.41/images/create?fromImage=localhost%3A5000%2Fweb&tag=latest',
      `POST /v1.41/images/create?fromImage=registry.example.com%2Fberth%2Fweb&tag=sha256%3A${'a1'.repeat(32)}`,
      'POST /v1.41/images/create?fromImage=berth%2Fnone&tag=latest',
    ]);
    expect(seen.map((request) => request.headers['x-registry-auth'])).toEqual([
      'eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6Ij8_Pz8-Iiwic2VydmVyYWRkcmVzcyI6InIifQ==',
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('tags, untags, lists and prunes images', async () => {
    const report = { ImagesDeleted: [{ Deleted: 'sha256:1' }], SpaceReclaimed: 10 };
    answers.push({ status: 201 }, { status: 200, json: [{ Untagged: 'berth/web:prod-current' }] }, { status: 404, json: { message: 'No such image: berth/web:prod-previous' } });
    answers.push({ status: 200, json: [{ Id: 'sha256:1', RepoDigests: null }] }, { status: 200, json: report });
    await engine.tagImage(IMAGE, 'berth/web', 'prod-current');
    await engine.removeImage('berth/web:prod-current');
    await engineError(engine.removeImage('berth/web:prod-previous'), 'No such image: berth/web:prod-previous', 404);
    await expect(engine.listImages({ dangling: ['true'] })).resolves.toEqual([{ Id: 'sha256:1', RepoDigests: null }]);
    await expect(engine.pruneImages({ dangling: ['true'] })).resolves.toEqual(report);
    expect(calls()).toEqual([
      `POST /v1.41/images/${IMAGE}/tag?repo=berth%2Fweb&tag=prod-current`,
      'DELETE /v1.41/images/berth/web:prod-current',
      'DELETE /v1.41/images/berth/web:prod-previous',
      'GET /v1.41/images/json?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D',
      'POST /v1.41/images/prune?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D',
    ]);
  });

  it("takes an error's message from its JSON, else its text, else its status", async () => {
    answers.push({ status: 400, body: '{"error":"no message field"}' }, { status: 502, body: '  Bad Gateway \n' }, { status: 503, body: '' });
    await engineError(engine.removeContainer('a'), '{"error":"no message field"}', 400);
    await engineError(engine.removeContainer('b'), 'Bad Gateway', 502);
    await engineError(engine.removeContainer('c'), 'HTTP 503', 503);
  });

  it('keeps its connection alive until closed', async () => {
    answers.push({ status: 204 }, { status: 204 });
    await engine.removeContainer('a');
    await engine.removeContainer('b');
    const connections = () => new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    await expect(connections()).resolves.toBe(1);
    engine.close();
    for (let tries = 0; tries < 50 && (await connections()) > 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await expect(connections()).resolves.toBe(0);
  });
});

describe('an engine that is not there', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-socket-unit-'));
    fs.writeFileSync(path.join(dir, 'not-a-socket'), '');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['no socket', 'missing.sock', 'ENOENT'],
    ['a file that no one listens on', 'not-a-socket', 'ECONNREFUSED'],
  ])('is unreachable: %s', async (_label, file, code) => {
    const socket = path.join(dir, file);
    const engine = new SocketEngine(socket);
    try {
      await expect(engine.listContainers({})).rejects.toThrow(new EngineUnreachable(`cannot reach the Docker engine at ${socket}: ${code}; is dockerd running?`));
      await expect(engine.hasImage(IMAGE)).rejects.toBeInstanceOf(EngineUnreachable);
    } finally {
      engine.close();
    }
  });
});
