/**
 * The host proxy module (components/service/agent/proxy.ts): its pure
 * renderers and parsers to the character, the slot port allocation, and the
 * reload-or-switch, drain and removal steps against the fake HAProxy
 * (./fakeProxy.ts), which is itself held to what a real HAProxy 2.6 answers.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { Failed } from '../../../components/service/agent/context';
import {
  allocateListeners,
  applyRoute,
  configFileOf,
  drainSlot,
  HaproxyRuntime,
  otherSlot,
  parseOldProcesses,
  parseStat,
  ProxyHost,
  ProxyListener,
  ProxyRoute,
  ProxyRuntime,
  readRoute,
  removeRoute,
  renderProxyConfig,
  restoreSlot,
  routeFile,
  sameListeners,
  sectionName,
  slotPublications,
  splitPublications,
  startDrain,
} from '../../../components/service/agent/proxy';
import { rejection } from '../../support/rejection';
import { FakeProxy, parseServices, SHOW_STAT_COLUMNS, SHOW_STAT_HEADER } from './fakeProxy';
import { mode, removeScratchHosts, TestHost, testHost } from './testHost';

afterEach(removeScratchHosts);


async function expectFailed(promise: Promise<unknown>, message: string): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(Failed);
  expect(error.message).toBe(message);
}

const listener = (hostPort: number, containerPort: number, a: number, b: number, bind = ''): ProxyListener => ({ bind, hostPort, containerPort, slots: { a, b } });
const WEB: ProxyRoute = { env: 'prod', name: 'web', mode: 'tcp', listeners: [listener(8080, 8080, 30000, 30001)] };
const TWO: ProxyRoute = { env: 'prod', name: 'web', mode: 'tcp', listeners: [listener(8080, 8080, 30000, 30001), listener(9090, 9091, 30002, 30003, '127.0.0.1')] };

/** A scratch host with the fake proxy; the proxy host the functions take. */
function proxyHost(): { host: TestHost; fake: FakeProxy; proxy: ProxyHost; dir: string } {
  const host = testHost({ proxy: true });
  const dir = path.join(host.roots.state, 'prod', 'web');
  fs.mkdirSync(dir, { recursive: true });
  return { host, fake: host.proxy!, proxy: host.context.proxy!, dir };
}

/** A route file for service env/name (or its reservation under next/). */
function writeRoute(stateRoot: string, env: string, name: string, listeners: ProxyListener[], reservation = false): void {
  const dir = path.join(stateRoot, env, name, ...(reservation ? ['next'] : []));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'proxy.json'), JSON.stringify({ env, name, mode: 'tcp', listeners }));
}

/** Listeners that hold every slot port from `first` to `last` (an even count). */
function holding(first: number, last: number): ProxyListener[] {
  const listeners: ProxyListener[] = [];
  for (let port = first; port < last; port += 2) {
    listeners.push(listener(port - 20000, 80, port, port + 1));
  }
  return listeners;
}

describe('splitPublications', () => {
  it('gives the proxy single TCP host ports and leaves UDP, ranges and random host ports to the engine', () => {
    expect(splitPublications(['8080:80', '127.0.0.1:9090:9090', '53:53/udp', '8000-8001:8000-8001', '80', '8443:443/tcp'])).toEqual({
      proxied: [
        { bind: '', hostPort: 8080, containerPort: 80 },
        { bind: '127.0.0.1', hostPort: 9090, containerPort: 9090 },
        { bind: '', hostPort: 8443, containerPort: 443 },
      ],
      direct: ['53:53/udp', '8000-8001:8000-8001', '80'],
    });
    expect(splitPublications(['127.0.0.1::80', '5000:5000/sctp', ':80', '8080:80/tcpx'])).toEqual({ proxied: [], direct: ['127.0.0.1::80', '5000:5000/sctp', ':80', '8080:80/tcpx'] });
    expect(splitPublications([])).toEqual({ proxied: [], direct: [] });
  });
});

describe('the route helpers', () => {
  it('name a section berth-<env>-<name>-<host port>, and the other slot', () => {
    expect(sectionName({ env: 'stage', name: 'api' }, { hostPort: 9090 })).toBe('berth-stage-api-9090');
    expect([otherSlot('a'), otherSlot('b')]).toEqual(['b', 'a']);
  });

  it('compare listeners by mode, address, host port and container port, in order', () => {
    const ports = [
      { bind: '', hostPort: 8080, containerPort: 8080 },
      { bind: '127.0.0.1', hostPort: 9090, containerPort: 9091 },
    ];
    expect(sameListeners(TWO, 'tcp', ports)).toBe(true);
    expect(sameListeners(TWO, 'http', ports)).toBe(false);
    expect(sameListeners(TWO, 'tcp', [ports[1], ports[0]])).toBe(false);
    expect(sameListeners(TWO, 'tcp', [ports[0]])).toBe(false);
    expect(sameListeners(TWO, 'tcp', [ports[0], { ...ports[1], bind: '' }])).toBe(false);
    expect(sameListeners(TWO, 'tcp', [ports[0], { ...ports[1], hostPort: 9091 }])).toBe(false);
    expect(sameListeners(TWO, 'tcp', [ports[0], { ...ports[1], containerPort: 9090 }])).toBe(false);
  });

  it('publish a slot container on its loopback slot ports, then the direct publications', () => {
    expect(slotPublications(TWO, 'a', ['53:53/udp'])).toEqual(['127.0.0.1:30000:8080', '127.0.0.1:30002:9091', '53:53/udp']);
    expect(slotPublications(TWO, 'b', [])).toEqual(['127.0.0.1:30001:8080', '127.0.0.1:30003:9091']);
  });

  it('keep the route in proxy.json and the config in <services>/<env>-<name>.cfg', () => {
    expect(routeFile('/var/lib/berth/prod/web')).toBe('/var/lib/berth/prod/web/proxy.json');
    expect(configFileOf({ runtime: new FakeProxy('/x'), servicesDir: '/etc/berth/proxy/services' }, WEB)).toBe('/etc/berth/proxy/services/prod-web.cfg');
  });
});

describe('renderProxyConfig', () => {
  it('renders an http route with a bind address and without, serving slot a', () => {
    const route: ProxyRoute = { env: 'prod', name: 'web', mode: 'http', active: 'a', listeners: [listener(9090, 9090, 30010, 30011, '127.0.0.1'), listener(8080, 80, 30012, 30013)] };
    expect(renderProxyConfig(route)).toBe(
      [
        '# Berth: prod/web, written by berth-agent; the serving slot is a.',
        '',
        'listen berth-prod-web-9090',
        '    bind 127.0.0.1:9090',
        '    mode http',
        '    option httplog',
        '    option forwardfor',
        '    option idle-close-on-response',
        '    timeout http-request 10s',
        '    option dontlog-normal',
        '    balance roundrobin',
        '    retries 2',
        '    option redispatch 1',
        '    timeout tunnel 1h',
        '    server a 127.0.0.1:30010',
        '    server b 127.0.0.1:30011 disabled',
        '',
        'listen berth-prod-web-8080',
        '    bind *:8080',
        '    mode http',
        '    option httplog',
        '    option forwardfor',
        '    option idle-close-on-response',
        '    timeout http-request 10s',
        '    option dontlog-normal',
        '    balance roundrobin',
        '    retries 2',
        '    option redispatch 1',
        '    timeout tunnel 1h',
        '    server a 127.0.0.1:30012',
        '    server b 127.0.0.1:30013 disabled',
        '',
      ].join('\n'),
    );
  });

  it('renders a tcp route serving slot b', () => {
    expect(renderProxyConfig({ ...TWO, env: 'stage', name: 'api', active: 'b' })).toBe(
      [
        '# Berth: stage/api, written by berth-agent; the serving slot is b.',
        '',
        'listen berth-stage-api-8080',
        '    bind *:8080',
        '    mode tcp',
        '    option tcplog',
        '    option dontlog-normal',
        '    balance roundrobin',
        '    retries 2',
        '    option redispatch 1',
        '    timeout tunnel 1h',
        '    server a 127.0.0.1:30000 disabled',
        '    server b 127.0.0.1:30001',
        '',
        'listen berth-stage-api-9090',
        '    bind 127.0.0.1:9090',
        '    mode tcp',
        '    option tcplog',
        '    option dontlog-normal',
        '    balance roundrobin',
        '    retries 2',
        '    option redispatch 1',
        '    timeout tunnel 1h',
        '    server a 127.0.0.1:30002 disabled',
        '    server b 127.0.0.1:30003',
        '',
      ].join('\n'),
    );
  });

  it('renders a route that serves no slot yet with both servers disabled, and one with no listeners as its comment only', () => {
    expect(renderProxyConfig(WEB)).toBe(
      [
        '# Berth: prod/web, written by berth-agent; the serving slot is none yet.',
        '',
        'listen berth-prod-web-8080',
        '    bind *:8080',
        '    mode tcp',
        '    option tcplog',
        '    option dontlog-normal',
        '    balance roundrobin',
        '    retries 2',
        '    option redispatch 1',
        '    timeout tunnel 1h',
        '    server a 127.0.0.1:30000 disabled',
        '    server b 127.0.0.1:30001 disabled',
        '',
      ].join('\n'),
    );
    expect(renderProxyConfig({ ...WEB, listeners: [] })).toBe('# Berth: prod/web, written by berth-agent; the serving slot is none yet.\n');
  });

  it('is a configuration the real HAProxy 2.6 accepts', () => {
    const haproxy = '/usr/sbin/haproxy';
    if (!fs.existsSync(haproxy)) {
      return; // checked where HAProxy is installed (the test bed, CI)
    }
    const { host } = proxyHost();
    const file = path.join(host.scratch, 'web.cfg');
    fs.writeFileSync(file, `defaults\n    timeout connect 5s\n    timeout client 1m\n    timeout server 1m\n\n${renderProxyConfig({ ...TWO, mode: 'http', active: 'a' })}`);
    const runtime = new HaproxyRuntime({ socket: '', masterSocket: '', binary: haproxy, configs: [file] });
    expect(runtime.check()).toBeUndefined();
  });
});

// What a real HAProxy 2.6.12 answered (one connection in flight on slot a).
const REAL_SHOW_STAT = [
  "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,",
  "berth-prod-web-18080,FRONTEND,,,1,1,9980,1,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,1,0,1,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,1,1,1,,0,0,0,,,,,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,",
  "berth-prod-web-18080,a,0,0,1,1,,1,0,0,,0,,0,0,0,0,no check,1,1,0,,,0,,,1,2,1,,1,,2,1,,1,,,,,,,,,,,,,,0,0,,,,,0,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:30000,,tcp,,,,,,,,0,1,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,",
  "berth-prod-web-18080,b,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,,,0,,,1,2,2,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:30001,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,",
  "berth-prod-web-18080,BACKEND,0,0,1,1,998,1,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,0,0,,1,2,0,,1,,1,1,,1,,,,,,,,,,,,,,0,0,0,0,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,tcp,roundrobin,,,,,,,0,1,0,,,,,0,0,0,0,0,,,,,1,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,",
  "",
  "",
].join("\n");

describe('parseStat', () => {
  it("reads a real HAProxy's show stat: servers only, their sessions, queue, sessions so far and status", () => {
    expect(parseStat(REAL_SHOW_STAT)).toEqual([
      { section: 'berth-prod-web-18080', server: 'a', current: 1, queued: 0, total: 1, status: 'no check' },
      { section: 'berth-prod-web-18080', server: 'b', current: 0, queued: 0, total: 0, status: 'MAINT' },
    ]);
  });

  it('finds the columns by the header, whatever their order, and counts an empty cell as 0', () => {
    const text = ['# status,scur,svname,qcur,pxname', 'DRAIN,4,a,2,s1', ',,FRONTEND,,s1', 'UP,,b,,s1', ',1,BACKEND,0,s1', ''].join('\n');
    expect(parseStat(text)).toEqual([
      { section: 's1', server: 'a', current: 4, queued: 2, total: 0, status: 'DRAIN' },
      { section: 's1', server: 'b', current: 0, queued: 0, total: 0, status: 'UP' },
    ]);
    expect(parseStat(`${SHOW_STAT_HEADER}\n\n`)).toEqual([]);
  });

  it('refuses an answer with no header', async () => {
    expect(() => parseStat('Unknown command.\n')).toThrow(new Failed('the proxy answered show stat with no header: Unknown command.\n'));
    expect(() => parseStat('')).toThrow(new Failed('the proxy answered show stat with no header: '));
    expect(() => parseStat(`x${'y'.repeat(300)}`)).toThrow(new Failed(`the proxy answered show stat with no header: x${'y'.repeat(199)}`));
  });
});

// What a real HAProxy 2.6.12's master CLI answered to `show proc` after two reloads, one old worker
// still holding a connection.
const REAL_SHOW_PROC = [
  '#<PID>          <type>          <reloads>       <uptime>        <version>      ',
  '7358            master          2 [failed: 0]   0d00h00m02s     2.6.12-1+deb12u4',
  '# workers',
  '7381            worker          0               0d00h00m01s     2.6.12-1+deb12u4',
  '# old workers',
  '7377            worker          1               0d00h00m02s     2.6.12-1+deb12u4',
  '# programs',
  '',
  '',
].join('\n');

describe('parseOldProcesses', () => {
  it("reads a real HAProxy's show proc: the pids under # old workers only", () => {
    expect(parseOldProcesses(REAL_SHOW_PROC)).toEqual([7377]);
  });

  it('reads every old worker, none of the workers, the master or the programs, and none when there are none', () => {
    const text = [
      '#<PID>          <type>          <reloads>       <uptime>        <version>      ',
      '7358            master          3 [failed: 0]   0d00h01m00s     2.6.12-1+deb12u4',
      '# workers',
      '7390            worker          0               0d00h00m01s     2.6.12-1+deb12u4',
      '# old workers   ',
      '7377            worker          2               0d00h01m00s     2.6.12-1+deb12u4',
      '7381            worker          1               0d00h00m30s     2.6.12-1+deb12u4',
      '# programs',
      '7400            logger          0               0d00h01m00s     -',
      '',
    ].join('\n');
    expect(parseOldProcesses(text)).toEqual([7377, 7381]);
    expect(parseOldProcesses(REAL_SHOW_PROC.replace(/# old workers\n7377.*\n/, '# old workers\n'))).toEqual([]);
    expect(parseOldProcesses('')).toEqual([]);
    // Only a line that starts with a pid and a space is a process.
    expect(parseOldProcesses('# old workers\n 7377 worker\n7378\nx7379 worker\n7380\tworker\n')).toEqual([7380]);
  });
});

describe('readRoute', () => {
  it('reads the recorded route, and undefined when there is none', () => {
    const { dir } = proxyHost();
    expect(readRoute(dir)).toBeUndefined();
    const route: ProxyRoute = { ...TWO, mode: 'http', active: 'b' };
    fs.writeFileSync(path.join(dir, 'proxy.json'), JSON.stringify(route));
    expect(readRoute(dir)).toEqual(route);
    fs.writeFileSync(path.join(dir, 'proxy.json'), JSON.stringify({ ...WEB, listeners: [listener(8080, 80, 30000, 32767)] }));
    expect(readRoute(dir)).toEqual({ ...WEB, listeners: [listener(8080, 80, 30000, 32767)] });
  });

  it.each([
    ['not JSON', '{"env":'],
    ['null', 'null'],
    ['no env', JSON.stringify({ ...WEB, env: 1 })],
    ['no name', JSON.stringify({ ...WEB, name: undefined })],
    ['another mode', JSON.stringify({ ...WEB, mode: 'udp' })],
    ['no listeners', JSON.stringify({ ...WEB, listeners: {} })],
    ['a listener without bind', JSON.stringify({ ...WEB, listeners: [{ ...WEB.listeners[0], bind: undefined }] })],
    ['a fractional host port', JSON.stringify({ ...WEB, listeners: [{ ...WEB.listeners[0], hostPort: 80.5 }] })],
    ['no container port', JSON.stringify({ ...WEB, listeners: [{ ...WEB.listeners[0], containerPort: '80' }] })],
    ['no slots', JSON.stringify({ ...WEB, listeners: [{ ...WEB.listeners[0], slots: undefined }] })],
    ['a slot below the range', JSON.stringify({ ...WEB, listeners: [listener(8080, 80, 29999, 30001)] })],
    ['a slot above the range', JSON.stringify({ ...WEB, listeners: [listener(8080, 80, 30000, 32768)] })],
    ['a slot not a whole number', JSON.stringify({ ...WEB, listeners: [listener(8080, 80, 30000, 30000.5)] })],
    ['another active slot', JSON.stringify({ ...WEB, active: 'c' })],
  ])('refuses a damaged file (%s) with its path', (_what, text) => {
    const { dir } = proxyHost();
    fs.writeFileSync(path.join(dir, 'proxy.json'), text);
    expect(() => readRoute(dir)).toThrow(new Failed(`${dir}/proxy.json is damaged; move it away and deploy again (the proxy keeps serving what it has)`));
  });
});

describe('allocateListeners', () => {
  // The ports below 32000 are held by other services' routes in these tests, so they never
  // depend on what else on this machine listens in the low part of the range.
  it('takes the lowest free slot ports, two per published port, that no route and no reservation holds', async () => {
    const { host } = proxyHost();
    const state = host.roots.state;
    writeRoute(state, 'prod', 'api', holding(30000, 31000));
    writeRoute(state, 'stage', 'api', holding(31000, 31998));
    // A deploy in progress reserved these.
    writeRoute(state, 'stage', 'db', [listener(5432, 5432, 31998, 31999)], true);
    // Skipped: a damaged route of another service, a file where a service folder would be.
    fs.mkdirSync(path.join(state, 'test', 'broken'), { recursive: true });
    fs.writeFileSync(path.join(state, 'test', 'broken', 'proxy.json'), '{');
    fs.writeFileSync(path.join(state, 'README'), 'not an environment');
    fs.writeFileSync(path.join(state, 'prod', 'notes'), 'not a service');
    const ports = [
      { bind: '', hostPort: 8080, containerPort: 80 },
      { bind: '127.0.0.1', hostPort: 9090, containerPort: 9091 },
    ];
    expect(await allocateListeners(state, ports)).toEqual([
      { bind: '', hostPort: 8080, containerPort: 80, slots: { a: 32000, b: 32001 } },
      { bind: '127.0.0.1', hostPort: 9090, containerPort: 9091, slots: { a: 32002, b: 32003 } },
    ]);
    expect(await allocateListeners(state, [])).toEqual([]);
    expect(await allocateListeners(path.join(host.scratch, 'no-state'), [])).toEqual([]);
  });

  it('skips a port something listens on', async () => {
    const { host } = proxyHost();
    writeRoute(host.roots.state, 'prod', 'api', holding(30000, 32100));
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 32101 }, resolve));
    try {
      expect(await allocateListeners(host.roots.state, [{ bind: '', hostPort: 8080, containerPort: 80 }])).toEqual([listener(8080, 80, 32100, 32102)]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('takes the last two ports of the range, and fails when fewer are left than it needs', async () => {
    const { host } = proxyHost();
    writeRoute(host.roots.state, 'prod', 'api', holding(30000, 32766));
    const port = { bind: '', hostPort: 8080, containerPort: 80 };
    expect(await allocateListeners(host.roots.state, [port])).toEqual([listener(8080, 80, 32766, 32767)]);
    await expectFailed(allocateListeners(host.roots.state, [port, { ...port, hostPort: 8081 }]), 'no free proxy slot ports left in 30000-32767');
    writeRoute(host.roots.state, 'prod', 'db', [listener(5432, 5432, 32766, 32767)], true);
    await expectFailed(allocateListeners(host.roots.state, [port]), 'no free proxy slot ports left in 30000-32767');
  });
});

/** The fake's calls without the polls. */
const changes = (fake: FakeProxy): string[] => fake.calls.filter((call) => call !== 'show stat');

describe('applyRoute', () => {
  it('the first time: writes the route (0600) and the file (0644), checks and reloads, and waits until a new process answers with the sections', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    fake.reloadLag = 2;
    expect(await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context)).toEqual({ how: 'reloaded', oldProcess: 100 });
    // The old process answers twice more after the reload (its pid, no sections), then the new one.
    expect(fake.calls).toEqual(['show stat', 'check', 'show info', 'reload', 'show info', 'show stat', 'show info', 'show stat']);
    expect(host.clock.sleeps).toEqual([100]);
    expect(fake.pid).toBe(101);
    const file = path.join(fake.servicesDir, 'prod-web.cfg');
    expect(fs.readFileSync(file, 'utf8')).toBe(renderProxyConfig({ ...TWO, active: 'a' }));
    expect(mode(file)).toBe(0o644);
    expect(fs.readFileSync(path.join(dir, 'proxy.json'), 'utf8')).toBe(`${JSON.stringify({ ...TWO, active: 'a' })}\n`);
    expect(mode(path.join(dir, 'proxy.json'))).toBe(0o600);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a ready', 'berth-prod-web-8080/b maint', 'berth-prod-web-9090/a ready', 'berth-prod-web-9090/b maint']);
    expect(fs.readdirSync(fake.servicesDir)).toEqual(['prod-web.cfg']);
  });

  it('makes the services folder when it is missing, and waits through a socket that changes hands', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    fs.rmSync(fake.servicesDir, { recursive: true });
    const realReload = fake.reload.bind(fake);
    fake.reload = async () => {
      await realReload();
      fake.unavailable = 2;
    };
    expect(await applyRoute(proxy, dir, { ...WEB, active: 'b' }, host.context)).toEqual({ how: 'reloaded', oldProcess: 100 });
    expect(fake.calls).toEqual(['show stat', 'check', 'show info', 'reload', 'show info', 'show stat', 'show info', 'show stat']);
    expect(host.clock.sleeps).toEqual([100]);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a maint', 'berth-prod-web-8080/b ready']);
  });

  it('after a reload that keeps the section names (a new mode), waits until a process other than the replaced one answers', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    fake.clearCalls();
    fake.reloadLag = 4;
    // The old process lists the same sections: only its pid tells it from the new one.
    expect(await applyRoute(proxy, dir, { ...TWO, mode: 'http', active: 'a' }, host.context)).toEqual({ how: 'reloaded', oldProcess: 101 });
    expect(fake.calls).toEqual(['show stat', 'check', 'show info', 'reload', 'show info', 'show stat', 'show info', 'show stat', 'show info', 'show stat']);
    expect(host.clock.sleeps).toEqual([100, 100]);
    expect(fake.pid).toBe(102);
    expect(fake.sections.map((section) => section.mode)).toEqual(['http', 'http']);
  });

  it('does not take a process that does not say its pid for the new one', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context);
    fake.clearCalls();
    const command = fake.command.bind(fake);
    let withoutPid = 0;
    const realReload = fake.reload.bind(fake);
    fake.reload = async () => {
      await realReload();
      withoutPid = 2;
    };
    fake.command = async (line) => {
      const answer = await command(line);
      return line === 'show info' && withoutPid-- > 0 ? 'Name: HAProxy\n\n' : answer;
    };
    expect(await applyRoute(proxy, dir, { ...WEB, mode: 'http', active: 'a' }, host.context)).toEqual({ how: 'reloaded', oldProcess: 101 });
    expect(changes(fake)).toEqual(['check', 'show info', 'reload', 'show info', 'show info', 'show info']);
    expect(host.clock.sleeps).toEqual([100, 100]);
  });

  it('takes any process that answers after the reload when none said its pid before', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    const command = fake.command.bind(fake);
    fake.command = async (line) => {
      const answer = await command(line);
      return line === 'show info' && fake.reloads === 0 ? 'Unknown command.\n\n' : answer;
    };
    expect(await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context)).toEqual({ how: 'reloaded', oldProcess: undefined });
    expect(fake.calls).toEqual(['show stat', 'check', 'show info', 'reload', 'show info', 'show stat']);
    expect(host.clock.sleeps).toEqual([]);
  });

  it('with the same listeners the proxy carries: switches with set server, every new slot ready before any old one drains, and reloads nothing', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    fake.clearCalls();
    expect(await applyRoute(proxy, dir, { ...TWO, active: 'b' }, host.context)).toEqual({ how: 'switched' });
    expect(fake.calls).toEqual([
      'show stat',
      'set server berth-prod-web-8080/b state ready',
      'set server berth-prod-web-9090/b state ready',
      'set server berth-prod-web-8080/a state drain',
      'set server berth-prod-web-9090/a state drain',
    ]);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a drain', 'berth-prod-web-8080/b ready', 'berth-prod-web-9090/a drain', 'berth-prod-web-9090/b ready']);
    // The file says what a reload or a reboot must bring back.
    expect(fs.readFileSync(configFileOf(proxy, TWO), 'utf8')).toBe(renderProxyConfig({ ...TWO, active: 'b' }));
    expect(readRoute(dir)).toEqual({ ...TWO, active: 'b' });
    expect(fake.reloads).toBe(1);
  });

  it('drains only the servers of the other slot that are not in maintenance already (a stop-first deploy drained them)', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    await fake.command('set server berth-prod-web-9090/a state maint');
    await fake.command('set server berth-prod-web-8080/b state drain');
    fake.clearCalls();
    expect(await applyRoute(proxy, dir, { ...TWO, active: 'b' }, host.context)).toEqual({ how: 'switched' });
    expect(fake.calls).toEqual(['show stat', 'set server berth-prod-web-8080/b state ready', 'set server berth-prod-web-9090/b state ready', 'set server berth-prod-web-8080/a state drain']);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a drain', 'berth-prod-web-8080/b ready', 'berth-prod-web-9090/a maint', 'berth-prod-web-9090/b ready']);
    // A server draining already is told again (HAProxy takes it).
    fake.clearCalls();
    expect(await applyRoute(proxy, dir, { ...TWO, active: 'b' }, host.context)).toEqual({ how: 'switched' });
    expect(changes(fake)).toEqual(['set server berth-prod-web-8080/b state ready', 'set server berth-prod-web-9090/b state ready', 'set server berth-prod-web-8080/a state drain']);
  });

  it.each([
    ['the mode changed', { ...TWO, mode: 'http' as const, active: 'b' as const }],
    ['a host port changed', { ...TWO, listeners: [TWO.listeners[0], { ...TWO.listeners[1], hostPort: 9091 }], active: 'b' as const }],
    ['a bind address changed', { ...TWO, listeners: [TWO.listeners[0], { ...TWO.listeners[1], bind: '' }], active: 'b' as const }],
    ['a slot port changed', { ...TWO, listeners: [TWO.listeners[0], { ...TWO.listeners[1], slots: { a: 30002, b: 30004 } }], active: 'b' as const }],
    ['a listener was added', { ...TWO, listeners: [...TWO.listeners, listener(7070, 7070, 30004, 30005)], active: 'b' as const }],
  ])('reloads when %s', async (_what, route) => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    fake.clearCalls();
    expect(await applyRoute(proxy, dir, route, host.context)).toEqual({ how: 'reloaded', oldProcess: 101 });
    expect(changes(fake)).toEqual(['check', 'show info', 'reload', 'show info']);
    expect(fs.readFileSync(configFileOf(proxy, route), 'utf8')).toBe(renderProxyConfig(route));
    expect(readRoute(dir)).toEqual(route);
  });

  it('switches when only a container port changed: the proxy sends to the same slot ports', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    fake.clearCalls();
    const route = { ...TWO, listeners: [TWO.listeners[0], { ...TWO.listeners[1], containerPort: 9090 }], active: 'b' as const };
    expect(await applyRoute(proxy, dir, route, host.context)).toEqual({ how: 'switched' });
    expect(readRoute(dir)).toEqual(route);
  });

  it('reloads when the file is the same but the running proxy does not carry a section (a proxy restarted without it)', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    fake.sections = fake.sections.filter((section) => section.name !== 'berth-prod-web-9090');
    fake.clearCalls();
    expect(await applyRoute(proxy, dir, { ...TWO, active: 'b' }, host.context)).toEqual({ how: 'reloaded', oldProcess: 101 });
    expect(changes(fake)).toEqual(['check', 'show info', 'reload', 'show info']);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a maint', 'berth-prod-web-8080/b ready', 'berth-prod-web-9090/a maint', 'berth-prod-web-9090/b ready']);
  });

  it('puts a configuration the proxy would refuse back as it was and reloads nothing', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context);
    const before = fs.readFileSync(configFileOf(proxy, WEB), 'utf8');
    fake.problem = "[ALERT]    (1) : config : parsing [prod-web.cfg:3] : 'bind *:8080' unknown keyword";
    fake.clearCalls();
    await expectFailed(
      applyRoute(proxy, dir, { ...WEB, mode: 'http', active: 'b' }, host.context),
      `the proxy would refuse its configuration; nothing was reloaded:\n${fake.problem}`,
    );
    expect(fake.calls).toEqual(['show stat', 'check']);
    expect(fs.readFileSync(configFileOf(proxy, WEB), 'utf8')).toBe(before);
    expect(fs.readdirSync(fake.servicesDir)).toEqual(['prod-web.cfg']);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a ready', 'berth-prod-web-8080/b maint']);
  });

  // Was a bug: the route was recorded before the check, so proxy.json named what the proxy refused.
  it('keeps the recorded route as it was when the proxy would refuse the configuration', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context);
    fake.problem = 'refused';
    await rejection(applyRoute(proxy, dir, { ...WEB, mode: 'http', active: 'b' }, host.context));
    expect(readRoute(dir)).toEqual({ ...WEB, active: 'a' });
  });

  it('removes the file again when the first configuration would be refused', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    fake.problem = 'refused';
    await expectFailed(applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context), 'the proxy would refuse its configuration; nothing was reloaded:\nrefused');
    expect(fs.readdirSync(fake.servicesDir)).toEqual([]);
    expect(fake.calls).toEqual(['show stat', 'check']);
    expect(fs.existsSync(routeFile(dir))).toBe(false);
  });

  it('fails when no new proxy process answers within 15 s, and records no route', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    fake.reloadLag = 1000;
    await expectFailed(applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context), `the proxy did not load ${configFileOf(proxy, WEB)} within 15s`);
    expect(host.clock.sleeps.length).toBe(150);
    expect(fake.calls.filter((call) => call === 'show stat').length).toBe(152);
    expect(fake.calls.filter((call) => call === 'show info').length).toBe(152);
    expect(fs.existsSync(routeFile(dir))).toBe(false);
  });

  it('fails when the new process does not carry the sections within 15 s, and keeps the recorded route', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context);
    // A new process answers, but without the service's section (it loaded something else).
    const realReload = fake.reload.bind(fake);
    fake.reload = async () => {
      await realReload();
      fake.sections = [];
    };
    await expectFailed(applyRoute(proxy, dir, { ...WEB, mode: 'http', active: 'a' }, host.context), `the proxy did not load ${configFileOf(proxy, WEB)} within 15s`);
    expect(fake.pid).toBe(102);
    expect(host.clock.sleeps.length).toBe(150);
    expect(readRoute(dir)).toEqual({ ...WEB, active: 'a' });
  });

  it("fails with the proxy's answer when a switch is refused, and takes a notice that nothing changed", async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context);
    fake.sections[0].servers = fake.sections[0].servers.filter((server) => server.name !== 'b');
    await expectFailed(applyRoute(proxy, dir, { ...WEB, active: 'b' }, host.context), 'the proxy refused "set server berth-prod-web-8080/b state ready": No such server.');
    // Recorded only once the proxy took it.
    expect(readRoute(dir)).toEqual({ ...WEB, active: 'a' });

    const answers: string[] = [];
    const noticing: ProxyRuntime = {
      command: async (line) => {
        answers.push(line);
        return line === 'show stat' ? fake.command(line) : line.endsWith('ready') ? 'Nothing changed.\n' : 'Server state already drain.\n';
      },
      check: () => undefined,
      reload: async () => undefined,
      oldProcesses: async () => [],
    };
    expect(await applyRoute({ runtime: noticing, servicesDir: proxy.servicesDir }, dir, { ...WEB, active: 'a' }, host.context)).toEqual({ how: 'switched' });
    expect(answers).toEqual(['show stat', 'set server berth-prod-web-8080/a state ready', 'set server berth-prod-web-8080/b state drain']);
  });

  // BUG: applyRoute (proxy.ts, the `writeAtomically(file, text, 0o644)` before the `set server` loop)
  // leaves the file with the new active slot when a runtime switch fails: the proxy still serves slot a,
  // proxy.json says a, but the file says b with a `disabled`, so the next reload (another service's
  // deploy, a reboot) serves slot b, whose container deploy.ts removed on the failure. Input: WEB serving
  // a, applyRoute active b with `set server .../b state ready` refused. Expected: the file as it was
  // (active a); actual: renderProxyConfig({ ...WEB, active: 'b' }).
  it('puts the file back as it was when a switch is refused', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context);
    fake.sections[0].servers = fake.sections[0].servers.filter((server) => server.name !== 'b');
    await rejection(applyRoute(proxy, dir, { ...WEB, active: 'b' }, host.context));
    expect(fs.readFileSync(configFileOf(proxy, WEB), 'utf8')).toBe(renderProxyConfig({ ...WEB, active: 'a' }));
  });
});

/** One poll of a drain: the slot's sessions, then the serving process's pid. */
const POLL = ['show stat', 'show info'];
/** One poll of a drain that waits for replaced processes too. */
const POLL_OLD = [...POLL, 'show proc'];
const times = (count: number, calls: string[]): string[] => Array.from({ length: count }, () => calls).flat();
/** The fake's `set server` calls. */
const settings = (fake: FakeProxy): string[] => fake.calls.filter((call) => call.startsWith('set server'));

describe('drainSlot', () => {
  async function serving(route: ProxyRoute = TWO): Promise<ReturnType<typeof proxyHost>> {
    const made = proxyHost();
    await applyRoute(made.proxy, made.dir, { ...route, active: 'a' }, made.host.context);
    await applyRoute(made.proxy, made.dir, { ...route, active: 'b' }, made.host.context);
    made.fake.clearCalls();
    made.host.clock.sleeps.length = 0;
    return made;
  }

  it('reads the serving process, then waits until the slot carries nothing (its pid on every poll), then puts its servers in maintenance', async () => {
    const { host, fake, proxy } = await serving();
    fake.setSessions('berth-prod-web-8080', 'a', 2, { endsAfterPolls: 3 });
    fake.setSessions('berth-prod-web-9090', 'a', 0, { queued: 1, endsAfterPolls: 2 });
    // Another slot's sessions do not count.
    fake.setSessions('berth-prod-web-8080', 'b', 7);
    expect(await drainSlot(proxy, { ...TWO, active: 'b' }, 'a', 30, host.context)).toBe(0);
    // The same process serves throughout: no old process is asked about.
    expect(fake.calls).toEqual(['show info', ...times(4, POLL), 'set server berth-prod-web-8080/a state maint', 'set server berth-prod-web-9090/a state maint']);
    expect(host.clock.sleeps).toEqual([100, 100, 100]);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a maint', 'berth-prod-web-8080/b ready', 'berth-prod-web-9090/a maint', 'berth-prod-web-9090/b ready']);
  });

  it("does not count another service's sessions", async () => {
    const { host, fake, proxy, dir } = await serving();
    const api: ProxyRoute = { env: 'prod', name: 'api', mode: 'tcp', listeners: [listener(7070, 7070, 30010, 30011)], active: 'a' };
    fs.mkdirSync(dir.replace('/web', '/api'));
    await applyRoute(proxy, dir.replace('/web', '/api'), api, host.context);
    fake.setSessions('berth-prod-api-7070', 'a', 5);
    fake.clearCalls();
    expect(await drainSlot(proxy, TWO, 'a', 30, host.context)).toBe(0);
    expect(fake.calls).toEqual(['show info', ...POLL, 'set server berth-prod-web-8080/a state maint', 'set server berth-prod-web-9090/a state maint']);
  });

  it('gives up after the drain time and returns what was still in flight (sessions and queue)', async () => {
    const { host, fake, proxy } = await serving();
    fake.setSessions('berth-prod-web-8080', 'a', 2);
    fake.setSessions('berth-prod-web-9090', 'a', 1, { queued: 1 });
    expect(await drainSlot(proxy, TWO, 'a', 2, host.context)).toBe(4);
    expect(host.clock.sleeps).toEqual(Array(20).fill(100));
    expect(fake.calls).toEqual(['show info', ...times(21, POLL), 'set server berth-prod-web-8080/a state maint', 'set server berth-prod-web-9090/a state maint']);
  });

  it('with no drain time: one look, then maintenance', async () => {
    const { host, fake, proxy } = await serving(WEB);
    fake.setSessions('berth-prod-web-8080', 'a', 3);
    expect(await drainSlot(proxy, WEB, 'a', 0, host.context)).toBe(3);
    expect(fake.calls).toEqual(['show info', ...POLL, 'set server berth-prod-web-8080/a state maint']);
    expect(host.clock.sleeps).toEqual([]);
  });

  it('puts the servers in maintenance in the order of their names', async () => {
    const { host, fake, proxy } = await serving({ ...TWO, listeners: [listener(9090, 9090, 30000, 30001), listener(8080, 8080, 30002, 30003)] });
    await drainSlot(proxy, { ...TWO, listeners: [listener(9090, 9090, 30000, 30001), listener(8080, 8080, 30002, 30003)] }, 'a', 1, host.context);
    expect(settings(fake)).toEqual(['set server berth-prod-web-8080/a state maint', 'set server berth-prod-web-9090/a state maint']);
  });

  it('counts a slot it could never look at as carrying something when the time runs out', async () => {
    const { host, fake, proxy } = await serving(WEB);
    const command = fake.command.bind(fake);
    fake.command = async (line) => {
      if (line === 'show stat') {
        throw new Error('connect ECONNREFUSED');
      }
      return command(line);
    };
    expect(await drainSlot(proxy, WEB, 'a', 1, host.context)).toBe(1);
    expect(settings(fake)).toEqual(['set server berth-prod-web-8080/a state maint']);
  });

  it('does not take a pid it could not read (the socket changing hands) for a reload', async () => {
    const { host, fake, proxy } = await serving(WEB);
    fake.setSessions('berth-prod-web-8080', 'a', 1, { endsAfterPolls: 3 });
    // The first look at the serving process fails, and so does the second poll's.
    fake.unavailable = 1;
    host.afterSleep = () => {
      if (host.clock.sleeps.length === 1) {
        fake.unavailable = 1;
      }
    };
    expect(await drainSlot(proxy, WEB, 'a', 30, host.context)).toBe(0);
    // The poll whose pid could not be read proves nothing: one more poll.
    expect(fake.calls).toEqual(['show info', ...times(5, POLL), 'set server berth-prod-web-8080/a state maint']);
    expect(host.clock.sleeps).toEqual([100, 100, 100, 100]);
  });
});

describe('drainSlot after a reload', () => {
  /** Serving WEB on slot a, then reloaded (a new mode) onto slot b: the replaced process, and the route. */
  async function reloaded(setUp: (fake: FakeProxy) => void = () => undefined): Promise<ReturnType<typeof proxyHost> & { route: ProxyRoute; oldProcess?: number }> {
    const made = proxyHost();
    await applyRoute(made.proxy, made.dir, { ...WEB, active: 'a' }, made.host.context);
    setUp(made.fake);
    const route: ProxyRoute = { ...WEB, mode: 'http', active: 'b' };
    const { oldProcess } = await applyRoute(made.proxy, made.dir, route, made.host.context);
    made.fake.clearCalls();
    made.host.clock.sleeps.length = 0;
    return { ...made, route, oldProcess };
  }

  it('counts the replaced process as one in flight while it is among the old ones, then puts the slot in maintenance', async () => {
    const { host, fake, proxy, route, oldProcess } = await reloaded((fake) => {
      fake.oldProcessLife = 3;
    });
    expect(oldProcess).toBe(101);
    expect(await drainSlot(proxy, route, 'a', 30, host.context, oldProcess)).toBe(0);
    expect(fake.calls).toEqual(['show info', ...times(4, POLL_OLD), 'set server berth-prod-web-8080/a state maint']);
    expect(host.clock.sleeps).toEqual([100, 100, 100]);
  });

  it('gives up after the drain time with the replaced process still finishing its connections: one more in flight', async () => {
    const { host, fake, proxy, route, oldProcess } = await reloaded((fake) => {
      // Held on the old process for good: it stays among the old workers.
      fake.setSessions('berth-prod-web-8080', 'a', 2);
    });
    fake.setSessions('berth-prod-web-8080', 'a', 2);
    expect(await drainSlot(proxy, route, 'a', 1, host.context, oldProcess)).toBe(3);
    expect(host.clock.sleeps).toEqual(Array(10).fill(100));
    expect(fake.calls).toEqual(['show info', ...times(11, POLL_OLD), 'set server berth-prod-web-8080/a state maint']);
  });

  it('counts only the sessions when the replaced process is gone, or is not among the old ones', async () => {
    const { host, fake, proxy, route, oldProcess } = await reloaded((fake) => {
      fake.oldProcessLife = 100;
    });
    expect(await drainSlot(proxy, route, 'a', 30, host.context, oldProcess! + 7)).toBe(0);
    expect(fake.calls).toEqual(['show info', ...POLL_OLD, 'set server berth-prod-web-8080/a state maint']);
    const gone = await reloaded();
    expect(await drainSlot(gone.proxy, gone.route, 'a', 30, gone.host.context, gone.oldProcess)).toBe(0);
    expect(gone.fake.calls).toEqual(['show info', ...POLL_OLD, 'set server berth-prod-web-8080/a state maint']);
    expect(gone.host.clock.sleeps).toEqual([]);
  });

  it('counts the replaced process as there while the master refuses show proc (it re-executes itself after a reload), and asks again', async () => {
    const { host, fake, proxy, route, oldProcess } = await reloaded((fake) => {
      fake.oldProcessLife = 1;
    });
    const oldProcesses = fake.oldProcesses.bind(fake);
    let refusals = 2;
    fake.oldProcesses = async () => {
      if (refusals-- > 0) {
        throw new Failed('the host proxy (master.sock) did not answer "show proc": connect ECONNREFUSED master.sock');
      }
      return oldProcesses();
    };
    expect(await drainSlot(proxy, route, 'a', 30, host.context, oldProcess)).toBe(0);
    // Two refused looks, one that lists it, one that does not.
    expect(fake.calls).toEqual(['show info', ...times(2, POLL), ...times(2, POLL_OLD), 'set server berth-prod-web-8080/a state maint']);
    expect(host.clock.sleeps).toEqual([100, 100, 100]);
    // Refused until the time runs out: still counted.
    const refused = await reloaded();
    refused.fake.oldProcesses = async () => {
      throw new Failed('refused');
    };
    expect(await drainSlot(refused.proxy, refused.route, 'a', 1, refused.host.context, refused.oldProcess)).toBe(1);
  });

  it('once the replaced process has gone, asks no more about old processes', async () => {
    const { host, fake, proxy, route, oldProcess } = await reloaded((fake) => {
      fake.oldProcessLife = 1;
    });
    // Sessions on the serving process outlast the replaced one.
    fake.setSessions('berth-prod-web-8080', 'a', 1, { endsAfterPolls: 3 });
    expect(await drainSlot(proxy, route, 'a', 30, host.context, oldProcess)).toBe(0);
    expect(fake.calls).toEqual(['show info', ...times(2, POLL_OLD), ...times(2, POLL), 'set server berth-prod-web-8080/a state maint']);
  });
});

// Another service's deploy reloads the proxy while this one drains: the process it replaced carries
// the slot's sessions, which the new process cannot count.
describe('drainSlot while another reload happens', () => {
  /** WEB switched from slot a to b without a reload (pid 101), `sessions` held on slot a for good. */
  async function draining(sessions: number): Promise<ReturnType<typeof proxyHost>> {
    const made = proxyHost();
    await applyRoute(made.proxy, made.dir, { ...WEB, active: 'a' }, made.host.context);
    await applyRoute(made.proxy, made.dir, { ...WEB, active: 'b' }, made.host.context);
    made.fake.setSessions('berth-prod-web-8080', 'a', sessions);
    made.fake.clearCalls();
    made.host.clock.sleeps.length = 0;
    return made;
  }

  /** Runs `step` after the `n`th pause of the drain. */
  function after(host: TestHost, steps: Record<number, () => void | Promise<void>>): void {
    host.afterSleep = async () => {
      await steps[host.clock.sleeps.length]?.();
    };
  }

  it('waits for the replaced process, one in flight, while it is among the old ones, and ends when it goes', async () => {
    const { host, fake, proxy } = await draining(2);
    expect(fake.pid).toBe(101);
    after(host, {
      2: () => fake.reload(),
      5: () => fake.finishOld(101),
    });
    expect(await drainSlot(proxy, { ...WEB, active: 'b' }, 'a', 30, host.context)).toBe(0);
    expect(fake.pid).toBe(102);
    // The new process carries none of the sessions; the replaced one is asked about from the poll
    // that sees the new pid until it is not listed any more.
    expect(fake.server('berth-prod-web-8080', 'a')).toMatchObject({ state: 'maint', current: 0 });
    expect(fake.calls).toEqual(['show info', ...POLL, ...POLL, 'reload', ...times(4, POLL_OLD), 'set server berth-prod-web-8080/a state maint']);
    expect(host.clock.sleeps).toEqual(Array(5).fill(100));
  });

  it('returns the replaced process as one still in flight when the drain time runs out', async () => {
    const { host, fake, proxy } = await draining(2);
    after(host, { 1: () => fake.reload() });
    expect(await drainSlot(proxy, WEB, 'a', 1, host.context)).toBe(1);
    expect(fake.calls).toEqual(['show info', ...POLL, 'reload', ...times(10, POLL_OLD), 'set server berth-prod-web-8080/a state maint']);
    expect(await fake.oldProcesses()).toEqual([101]);
  });

  it('counts each process replaced during the drain as one, beside the one its own reload replaced', async () => {
    const made = proxyHost();
    const { host, fake, proxy, dir } = made;
    await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context);
    fake.oldProcessLife = 10_000;
    // Its own reload (a new mode) replaced 101; the drain starts on 102.
    const route: ProxyRoute = { ...WEB, mode: 'http', active: 'b' };
    const { oldProcess } = await applyRoute(proxy, dir, route, host.context);
    expect([oldProcess, fake.pid]).toEqual([101, 102]);
    fake.clearCalls();
    host.clock.sleeps.length = 0;
    after(host, {
      1: () => fake.reload(),
      3: () => fake.reload(),
    });
    // 101, 102 and 103 are still finishing their connections when the time runs out.
    expect(await drainSlot(proxy, route, 'a', 1, host.context, oldProcess)).toBe(3);
    expect(fake.pid).toBe(104);
    expect(await fake.oldProcesses()).toEqual([101, 102, 103]);
  });

  it('ends once every replaced process has gone, one by one', async () => {
    // The session on slot a goes with the first reload's replaced process; both replaced ones stay listed.
    const { host, fake, proxy } = await draining(1);
    fake.oldProcessLife = 10_000;
    after(host, {
      1: () => fake.reload(),
      2: () => fake.reload(),
      4: () => fake.finishOld(102),
      6: () => fake.finishOld(101),
    });
    expect(await drainSlot(proxy, WEB, 'a', 30, host.context)).toBe(0);
    // Polls: 1 (the session), 2 (101), 3-5 (101 and 102), 6 (101), done at 7.
    expect(fake.calls).toEqual(['show info', ...POLL, 'reload', ...POLL_OLD, 'reload', ...times(5, POLL_OLD), 'set server berth-prod-web-8080/a state maint']);
    expect(host.clock.sleeps).toEqual(Array(6).fill(100));
  });

  it('takes the pid from before a poll that could not read one (the socket changing hands) for the replaced process', async () => {
    const { host, fake, proxy } = await draining(1);
    fake.reloadLag = 1;
    after(host, {
      1: async () => {
        await fake.reload();
        fake.unavailable = 1;
      },
      4: () => fake.finishOld(101),
    });
    expect(await drainSlot(proxy, WEB, 'a', 30, host.context)).toBe(0);
    // Poll 2 reads no pid, and 101 answers its show stat (the session); poll 3 sees 102, and waits for 101.
    expect(fake.calls).toEqual(['show info', ...POLL, 'reload', ...POLL, ...times(3, POLL_OLD), 'set server berth-prod-web-8080/a state maint']);
    expect(host.clock.sleeps).toEqual(Array(4).fill(100));
  });

  // BUG: proxy.ts drainSlot reads the serving pid (`show info`) BEFORE `show stat` in each poll. When
  // another reload's new process takes over between the two (the old one answered show info, the new
  // one answers show stat), or when show info fails while the socket changes hands and show stat is
  // answered by the new process, the poll counts the new process's sessions (none) and no replaced
  // process, and the drain ends while the replaced process still carries the slot's connections (the
  // deploy then stops the old container under them). Input: WEB draining slot a with 1 session held,
  // another reload during the drain (fake reloadLag 3, so poll 3's show info is answered by 101 and
  // its show stat by 102; or reloadLag 0 with the next show info refused). Expected: the drain waits
  // for 101 (returns 0 only after finishOld(101)); actual: returns 0 at poll 3 (resp. poll 2) with 101
  // among the old processes. A fix: read the pid after show stat (a process the stat came from has
  // replaced, or is, the one read after it).
  it('is not misled when the new process takes over between the pid and the stat of one poll', async () => {
    for (const setUp of [
      (fake: FakeProxy) => {
        fake.reloadLag = 3;
        return fake.reload();
      },
      async (fake: FakeProxy) => {
        await fake.reload();
        // The next show info only is refused.
        const command = fake.command.bind(fake);
        let refuse = true;
        fake.command = async (line) => {
          if (line === 'show info' && refuse) {
            refuse = false;
            throw new Error('connect ECONNREFUSED');
          }
          return command(line);
        };
      },
    ]) {
      const { host, fake, proxy } = await draining(1);
      after(host, {
        1: () => setUp(fake),
        6: () => fake.finishOld(101),
      });
      expect(await drainSlot(proxy, WEB, 'a', 30, host.context)).toBe(0);
      expect(host.clock.sleeps).toEqual(Array(6).fill(100));
    }
  });

  it('does not wait for a replaced process that carried nothing: it has gone at once', async () => {
    const { host, fake, proxy } = await draining(1);
    fake.setSessions('berth-prod-web-8080', 'a', 1, { endsAfterPolls: 1 });
    after(host, { 1: () => fake.reload() });
    expect(await drainSlot(proxy, WEB, 'a', 30, host.context)).toBe(0);
    expect(fake.calls).toEqual(['show info', ...POLL, 'reload', ...POLL_OLD, 'set server berth-prod-web-8080/a state maint']);
  });

  it('waits through a reload the proxy is still making (the old process answers a few more commands)', async () => {
    const { host, fake, proxy } = await draining(1);
    fake.reloadLag = 2;
    after(host, {
      1: () => fake.reload(),
      4: () => fake.finishOld(101),
    });
    expect(await drainSlot(proxy, WEB, 'a', 30, host.context)).toBe(0);
    // Poll 2 is answered by 101 still (its pid, the session); poll 3 by 102, which replaced it.
    expect(fake.calls).toEqual(['show info', ...POLL, 'reload', ...POLL, ...times(3, POLL_OLD), 'set server berth-prod-web-8080/a state maint']);
  });
});

// BUG: proxy.ts drainSlot passes a refused `show stat` (the stats socket changing hands while another
// service's deploy reloads the proxy, which reloadFor and servingProcess tolerate) straight out: the
// drain, and the deploy with it, fails although the switch was done. Input: WEB draining slot a, the
// poll's show stat refused once. Expected: the poll is taken again and the drain ends (0); actual:
// rejects with "connect ECONNREFUSED …". (In a start-first deploy, converge then warns that "the
// previous container is running" while the proxy sends to the new one, slot a left draining.)
describe('drainSlot and a refused show stat', () => {
  it('polls again', async () => {
    const made = proxyHost();
    await applyRoute(made.proxy, made.dir, { ...WEB, active: 'a' }, made.host.context);
    await applyRoute(made.proxy, made.dir, { ...WEB, active: 'b' }, made.host.context);
    made.fake.setSessions('berth-prod-web-8080', 'a', 1, { endsAfterPolls: 2 });
    made.host.afterSleep = () => {
      if (made.host.clock.sleeps.length === 1) {
        // Poll 2: its show info answers, its show stat is refused.
        const command = made.fake.command.bind(made.fake);
        let refuse = true;
        made.fake.command = async (line) => {
          if (line === 'show stat' && refuse) {
            refuse = false;
            throw new Error('connect ECONNREFUSED');
          }
          return command(line);
        };
      }
    };
    expect(await drainSlot(made.proxy, WEB, 'a', 30, made.host.context)).toBe(0);
  });
});

describe('drainSlot progress', () => {
  /** WEB serving slot b, 3 sessions held on slot a, and what `progress` was told (left, waited, ms since the start). */
  async function watched(): Promise<ReturnType<typeof proxyHost> & { said: string[]; progress: (left: number, waited: number) => void }> {
    const made = proxyHost();
    await applyRoute(made.proxy, made.dir, { ...WEB, active: 'a' }, made.host.context);
    await applyRoute(made.proxy, made.dir, { ...WEB, active: 'b' }, made.host.context);
    made.fake.setSessions('berth-prod-web-8080', 'a', 3);
    made.host.clock.sleeps.length = 0;
    const start = made.host.clock.now();
    const said: string[] = [];
    return { ...made, said, progress: (left, waited) => said.push(`${left} after ${waited}s at ${made.host.clock.now() - start}ms`) };
  }

  it('says what is still in flight every 60 s of waiting: none before 60 s, one at 60, one at 120', async () => {
    const { host, proxy, said, progress } = await watched();
    const when: number[] = [];
    expect(await drainSlot(proxy, WEB, 'a', 150, host.context, undefined, (left, waited) => {
      when.push(host.clock.sleeps.length);
      progress(left, waited);
    })).toBe(3);
    expect(said).toEqual(['3 after 60s at 60000ms', '3 after 120s at 120000ms']);
    // Said before the poll's pause: after 600 and 1200 pauses of 100 ms.
    expect(when).toEqual([600, 1200]);
    expect(host.clock.sleeps.length).toBe(1500);
  });

  it('says nothing when the drain time runs out at 60 s, or the slot drains just before', async () => {
    const timedOut = await watched();
    expect(await drainSlot(timedOut.proxy, WEB, 'a', 60, timedOut.host.context, undefined, timedOut.progress)).toBe(3);
    expect(timedOut.said).toEqual([]);
    // The sessions end with the 600th answer: the 601st poll, at 60 s, finds the slot empty.
    const drained = await watched();
    drained.fake.setSessions('berth-prod-web-8080', 'a', 3, { endsAfterPolls: 600 });
    expect(await drainSlot(drained.proxy, WEB, 'a', 300, drained.host.context, undefined, drained.progress)).toBe(0);
    expect(drained.said).toEqual([]);
    // One answer more: said once, at 60 s.
    const once = await watched();
    once.fake.setSessions('berth-prod-web-8080', 'a', 3, { endsAfterPolls: 601 });
    expect(await drainSlot(once.proxy, WEB, 'a', 300, once.host.context, undefined, once.progress)).toBe(0);
    expect(once.said).toEqual(['3 after 60s at 60000ms']);
  });

  it('counts a replaced process in what it says', async () => {
    const { host, fake, proxy, said, progress } = await watched();
    host.afterSleep = async () => {
      if (host.clock.sleeps.length === 1) {
        await fake.reload();
      }
    };
    expect(await drainSlot(proxy, WEB, 'a', 70, host.context, undefined, progress)).toBe(1);
    expect(said).toEqual(['1 after 60s at 60000ms']);
  });

  it('keeps to the 60 s cadence from the start, whole seconds rounded, when polls take longer than their pause', async () => {
    const { host, proxy, said, progress } = await watched();
    // Each poll takes 450 ms besides its pause of 100.
    host.afterSleep = () => host.clock.advance(450);
    expect(await drainSlot(proxy, WEB, 'a', 150, host.context, undefined, progress)).toBe(3);
    expect(said).toEqual(['3 after 61s at 60500ms', '3 after 120s at 120450ms']);
  });
});

describe('startDrain and restoreSlot', () => {
  it('drain a slot now, and set it ready again', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    fake.clearCalls();
    await startDrain(proxy, { ...TWO, active: 'a' }, 'a');
    expect(fake.states()).toEqual(['berth-prod-web-8080/a drain', 'berth-prod-web-8080/b maint', 'berth-prod-web-9090/a drain', 'berth-prod-web-9090/b maint']);
    await restoreSlot(proxy, TWO, 'a');
    expect(fake.calls).toEqual([
      'set server berth-prod-web-8080/a state drain',
      'set server berth-prod-web-9090/a state drain',
      'set server berth-prod-web-8080/a state ready',
      'set server berth-prod-web-9090/a state ready',
    ]);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a ready', 'berth-prod-web-8080/b maint', 'berth-prod-web-9090/a ready', 'berth-prod-web-9090/b maint']);
    expect(fake.reloads).toBe(1);
    await expectFailed(startDrain(proxy, { ...TWO, name: 'gone' }, 'a'), 'the proxy refused "set server berth-prod-gone-8080/a state drain": No such backend.');
    await expectFailed(restoreSlot(proxy, { ...TWO, name: 'gone' }, 'b'), 'the proxy refused "set server berth-prod-gone-8080/b state ready": No such backend.');
  });

  it('startDrain first writes the file with no slot serving, so a reload meanwhile (another service) sends nothing to the drained slot', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    const file = configFileOf(proxy, TWO);
    // What the file says when the proxy is told to drain.
    const seen: string[] = [];
    const command = fake.command.bind(fake);
    fake.command = async (line) => {
      seen.push(`${line}: ${fs.readFileSync(file, 'utf8') === renderProxyConfig({ ...TWO, active: undefined }) ? 'none serving' : 'other'}`);
      return command(line);
    };
    await startDrain(proxy, { ...TWO, active: 'a' }, 'a');
    expect(seen).toEqual(['set server berth-prod-web-8080/a state drain: none serving', 'set server berth-prod-web-9090/a state drain: none serving']);
    expect(fs.readFileSync(file, 'utf8')).toBe(renderProxyConfig({ ...TWO, active: undefined }));
    expect(mode(file)).toBe(0o644);
    // The recorded route still names the slot that served (the drain is not a switch).
    expect(readRoute(dir)).toEqual({ ...TWO, active: 'a' });
    await fake.reload();
    expect(fake.states()).toEqual(['berth-prod-web-8080/a maint', 'berth-prod-web-8080/b maint', 'berth-prod-web-9090/a maint', 'berth-prod-web-9090/b maint']);
  });

  it('restoreSlot first writes the file with the slot serving again, so a reload after it keeps it serving', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'b' }, host.context);
    await startDrain(proxy, { ...TWO, active: 'b' }, 'b');
    const file = configFileOf(proxy, TWO);
    const seen: string[] = [];
    const command = fake.command.bind(fake);
    fake.command = async (line) => {
      seen.push(`${line}: ${fs.readFileSync(file, 'utf8') === renderProxyConfig({ ...TWO, active: 'b' }) ? 'b serving' : 'other'}`);
      return command(line);
    };
    // Whatever the route it is given says serves.
    await restoreSlot(proxy, { ...TWO, active: undefined }, 'b');
    expect(seen).toEqual(['set server berth-prod-web-8080/b state ready: b serving', 'set server berth-prod-web-9090/b state ready: b serving']);
    expect(fs.readFileSync(file, 'utf8')).toBe(renderProxyConfig({ ...TWO, active: 'b' }));
    expect(mode(file)).toBe(0o644);
    await fake.reload();
    expect(fake.states()).toEqual(['berth-prod-web-8080/a maint', 'berth-prod-web-8080/b ready', 'berth-prod-web-9090/a maint', 'berth-prod-web-9090/b ready']);
  });
});

describe('removeRoute', () => {
  it('deletes the file, reloads, waits until the sections are gone, then deletes the route', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    const api: ProxyRoute = { env: 'prod', name: 'api', mode: 'tcp', listeners: [listener(7070, 7070, 30010, 30011)], active: 'b' };
    fs.mkdirSync(path.join(host.roots.state, 'prod', 'api'));
    await applyRoute(proxy, path.join(host.roots.state, 'prod', 'api'), api, host.context);
    fake.clearCalls();
    host.clock.sleeps.length = 0;
    fake.reloadLag = 2;
    await removeRoute(proxy, dir, { ...TWO, active: 'a' }, host.context);
    expect(fake.calls).toEqual(['check', 'show info', 'reload', 'show info', 'show stat', 'show info', 'show stat']);
    expect(host.clock.sleeps).toEqual([100]);
    expect(fake.pid).toBe(103);
    expect(fs.readdirSync(fake.servicesDir)).toEqual(['prod-api.cfg']);
    expect(fs.existsSync(path.join(dir, 'proxy.json'))).toBe(false);
    expect(fake.states()).toEqual(['berth-prod-api-7070/a maint', 'berth-prod-api-7070/b ready']);
  });

  it('without a file only deletes the route', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    fs.writeFileSync(path.join(dir, 'proxy.json'), JSON.stringify(WEB));
    await removeRoute(proxy, dir, WEB, host.context);
    expect(fake.calls).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'proxy.json'))).toBe(false);
  });

  it('puts the file back and keeps the route when the proxy would refuse what is left', async () => {
    const { host, fake, proxy, dir } = proxyHost();
    await applyRoute(proxy, dir, { ...WEB, active: 'a' }, host.context);
    fake.problem = 'refused';
    fake.clearCalls();
    await expectFailed(removeRoute(proxy, dir, WEB, host.context), 'the proxy would refuse its configuration; nothing was reloaded:\nrefused');
    expect(fake.calls).toEqual(['check']);
    expect(fs.readFileSync(configFileOf(proxy, WEB), 'utf8')).toBe(renderProxyConfig({ ...WEB, active: 'a' }));
    expect(readRoute(dir)).toEqual({ ...WEB, active: 'a' });
  });
});

describe('HaproxyRuntime', () => {
  /** A unix socket that answers each line with `answer(line)`, recording the lines. */
  async function socketServer(file: string, answer: (line: string) => string | undefined): Promise<{ lines: string[]; close(): Promise<void> }> {
    const lines: string[] = [];
    // Half-open, as HAProxy's CLI: the agent ends its side after the line, the answer comes after.
    const open = new Set<net.Socket>();
    const server = net.createServer({ allowHalfOpen: true }, (connection) => {
      open.add(connection);
      connection.on('close', () => open.delete(connection));
      let text = '';
      connection.on('data', (chunk) => {
        text += chunk.toString();
      });
      connection.on('end', () => {
        lines.push(text);
        const reply = answer(text);
        if (reply !== undefined) {
          connection.end(reply);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(file, resolve));
    return {
      lines,
      close: () => {
        open.forEach((connection) => connection.destroy());
        return new Promise((resolve) => server.close(() => resolve()));
      },
    };
  }

  it('sends a command on the stats socket and a reload on the master socket, one line each, and returns the answer', async () => {
    const { host } = proxyHost();
    const socket = path.join(host.scratch, 'admin.sock');
    const masterSocket = path.join(host.scratch, 'master.sock');
    const stats = await socketServer(socket, (line) => (line === 'show stat\n' ? `${SHOW_STAT_HEADER}\n\n` : '\n'));
    const master = await socketServer(masterSocket, () => '');
    try {
      const runtime = new HaproxyRuntime({ socket, masterSocket, binary: '/nonexistent', configs: [] });
      expect(await runtime.command('show stat')).toBe(`${SHOW_STAT_HEADER}\n\n`);
      expect(await runtime.command('set server x/a state ready')).toBe('\n');
      await runtime.reload();
      expect(stats.lines).toEqual(['show stat\n', 'set server x/a state ready\n']);
      expect(master.lines).toEqual(['reload\n']);
    } finally {
      await stats.close();
      await master.close();
    }
  });

  it("asks the master socket for show proc, and reads the old workers' pids", async () => {
    const { host } = proxyHost();
    const masterSocket = path.join(host.scratch, 'master.sock');
    const master = await socketServer(masterSocket, (line) => (line === 'show proc\n' ? REAL_SHOW_PROC : '\n'));
    try {
      const runtime = new HaproxyRuntime({ socket: path.join(host.scratch, 'none.sock'), masterSocket, binary: '/nonexistent', configs: [] });
      expect(await runtime.oldProcesses()).toEqual([7377]);
      expect(master.lines).toEqual(['show proc\n']);
    } finally {
      await master.close();
    }
  });

  it('tries the reload again while the master socket refuses (it re-executes itself on a reload), for up to its timeout', async () => {
    const { host } = proxyHost();
    const masterSocket = path.join(host.scratch, 'master.sock');
    const runtime = new HaproxyRuntime({ socket: '', masterSocket, binary: '/nonexistent', configs: [] }, 5000);
    let master: Awaited<ReturnType<typeof socketServer>> | undefined;
    const back = new Promise<void>((resolve) =>
      setTimeout(async () => {
        master = await socketServer(masterSocket, () => '');
        resolve();
      }, 350),
    );
    const started = Date.now();
    try {
      await runtime.reload();
      await back;
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(master!.lines).toEqual(['reload\n']);
    } finally {
      await back;
      await master?.close();
    }
    // Gone for longer than the timeout: the last refusal.
    const short = new HaproxyRuntime({ socket: '', masterSocket, binary: '/nonexistent', configs: [] }, 300);
    const before = Date.now();
    await expectFailed(short.reload(), `the host proxy (${masterSocket}) did not answer "reload": connect ENOENT ${masterSocket}`);
    expect(Date.now() - before).toBeGreaterThanOrEqual(290);
  });

  // HAProxy 2.7 and later answer a reload on the master CLI with its outcome, then `--` and the
  // startup logs; 2.6 answers nothing (held to a real 2.6.12: an empty answer).
  const STARTUP = '[NOTICE]   (2186) : haproxy version is 2.8.3-1~bpo12+1\n[NOTICE]   (2186) : path to executable is /usr/sbin/haproxy\n';
  const FAILED_STARTUP =
    "[NOTICE]   (2186) : haproxy version is 2.8.3-1~bpo12+1\n[ALERT]    (2186) : config : parsing [/etc/berth/proxy/services/prod-web.cfg:3] : unknown keyword 'bnid' in 'listen' section\n[ALERT]    (2186) : config : Fatal errors found in configuration.\n";

  it.each([
    ['nothing (2.6)', ''],
    ['Success=1 and the startup logs (2.7 and later)', `Success=1\n--\n${STARTUP}\n`],
    ['Success=1 with a log line that names Success=0 inside it', `Success=1\n--\n[WARNING]  (2186) : a log line about Success=0\n`],
  ])('takes a reload the master answers with %s', async (_what, answer) => {
    const { host } = proxyHost();
    const masterSocket = path.join(host.scratch, 'master.sock');
    const master = await socketServer(masterSocket, () => answer);
    try {
      await new HaproxyRuntime({ socket: '', masterSocket, binary: '/nonexistent', configs: [] }).reload();
      expect(master.lines).toEqual(['reload\n']);
    } finally {
      await master.close();
    }
  });

  it.each([
    ['at the start of the answer', `Success=0\n--\n${FAILED_STARTUP}\n`],
    ['on a line of its own after another', `\nSuccess=0\n--\n${FAILED_STARTUP}`],
  ])('fails with the answer, and does not try again, when the master answers Success=0 %s', async (_what, answer) => {
    const { host } = proxyHost();
    const masterSocket = path.join(host.scratch, 'master.sock');
    const master = await socketServer(masterSocket, () => answer);
    try {
      await expectFailed(new HaproxyRuntime({ socket: '', masterSocket, binary: '/nonexistent', configs: [] }).reload(), `the proxy did not reload:\n${answer.trim()}`);
      expect(master.lines).toEqual(['reload\n']);
    } finally {
      await master.close();
    }
  });

  it('fails naming the socket when the proxy cannot be reached or does not answer in time', async () => {
    const { host } = proxyHost();
    const socket = path.join(host.scratch, 'admin.sock');
    const runtime = new HaproxyRuntime({ socket, masterSocket: socket, binary: '/nonexistent', configs: [] }, 200);
    await expectFailed(runtime.command('show stat'), `the host proxy (${socket}) did not answer "show stat": connect ENOENT ${socket}`);
    const silent = await socketServer(socket, () => undefined);
    try {
      await expectFailed(runtime.reload(), `the host proxy (${socket}) did not answer "reload": no answer within 0.2s`);
    } finally {
      await silent.close();
    }
  });

  it('checks the configuration with <binary> -c -q -f <each config>, and reports what it printed', () => {
    const { host } = proxyHost();
    const binary = path.join(host.scratch, 'haproxy');
    const args = path.join(host.scratch, 'args');
    fs.writeFileSync(binary, `#!/bin/sh\necho "$@" > ${args}\n[ -e ${host.scratch}/ok ] && exit 0\n[ -e ${host.scratch}/quiet ] && exit 3\necho "[ALERT] config : parsing [x.cfg:2] : unknown keyword 'bnid'" >&2\nexit 1\n`, { mode: 0o755 });
    const runtime = new HaproxyRuntime({ socket: '', masterSocket: '', binary, configs: ['/etc/berth/proxy/haproxy.cfg', '/etc/berth/proxy/services'] });
    expect(runtime.check()).toBe("[ALERT] config : parsing [x.cfg:2] : unknown keyword 'bnid'");
    expect(fs.readFileSync(args, 'utf8')).toBe('-c -q -f /etc/berth/proxy/haproxy.cfg -f /etc/berth/proxy/services\n');
    fs.writeFileSync(path.join(host.scratch, 'quiet'), '');
    expect(runtime.check()).toBe('exit 3');
    fs.writeFileSync(path.join(host.scratch, 'ok'), '');
    expect(runtime.check()).toBeUndefined();
    expect(new HaproxyRuntime({ socket: '', masterSocket: '', binary: path.join(host.scratch, 'missing'), configs: [] }).check()).toBe(`spawnSync ${path.join(host.scratch, 'missing')} ENOENT`);
  });
});

describe('the fake proxy', () => {
  // Held to a real HAProxy 2.6.12 (the same commands on both, their answers compared; see the report
  // of the change that added it). These pin what the comparison found.
  it("answers show stat in HAProxy 2.6's columns, with a FRONTEND, the servers and a BACKEND a section", async () => {
    const { fake } = proxyHost();
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-web.cfg'), renderProxyConfig({ ...WEB, listeners: [listener(18080, 8080, 30000, 30001, '127.0.0.1')], active: 'a' }));
    fake.boot();
    fake.setSessions('berth-prod-web-18080', 'a', 1);
    const text = await fake.command('show stat');
    expect(text.split('\n')[0]).toBe(REAL_SHOW_STAT.split('\n')[0]);
    // The fake does not count the sessions a server was given (stot is empty, read as 0): what a
    // quiet wait reads as no new session, so a test that needs one sets the column itself.
    const withoutTotal = (answer: string) => parseStat(answer).map(({ total: _total, ...row }) => row);
    expect(withoutTotal(text)).toEqual(withoutTotal(REAL_SHOW_STAT));
    const cells = (answer: string) =>
      answer
        .split('\n')
        .slice(1)
        .map((line) => ['pxname', 'svname', 'qcur', 'scur', 'status', 'addr', 'mode', 'type'].map((column) => line.split(',')[SHOW_STAT_COLUMNS.indexOf(column)]).join(','));
    expect(cells(text)).toEqual(cells(REAL_SHOW_STAT));
    expect(text.endsWith(',\n\n')).toBe(true);
  });

  it("answers set server as HAProxy does, and refuses what it refuses in HAProxy's words", async () => {
    const { fake } = proxyHost();
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-web.cfg'), renderProxyConfig({ ...WEB, active: 'a' }));
    fake.boot();
    expect(await fake.command('set server berth-prod-web-8080/b state ready')).toBe('\n');
    expect(await fake.command('set server berth-prod-web-8080/a state drain')).toBe('\n');
    expect(parseStat(await fake.command('show stat')).map((row) => row.status)).toEqual(['DRAIN', 'no check']);
    expect(await fake.command('set server berth-prod-web-8080/a state maint')).toBe('\n');
    expect(await fake.command('set server berth-prod-web-8080/a state maint')).toBe('\n');
    expect(await fake.command('set server berth-prod-web-8080/zz state ready')).toBe('No such server.\n\n');
    expect(await fake.command('set server nosuch/a state ready')).toBe('No such backend.\n\n');
    expect(await fake.command('set server berth-prod-web-8080 state ready')).toBe("Require 'backend/server'.\n\n");
    expect(await fake.command('set server berth-prod-web-8080/a state bogus')).toBe("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n");
    expect(await fake.command('bogus')).toMatch(/^Unknown command/);
    expect(fake.states()).toEqual(['berth-prod-web-8080/a maint', 'berth-prod-web-8080/b ready']);
  });

  it("answers show info with the serving process's pid, which changes once the new process answers after a reload", async () => {
    const { fake } = proxyHost();
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-web.cfg'), renderProxyConfig({ ...WEB, active: 'a' }));
    fake.boot();
    const pid = async () => /^Pid: ([0-9]+)$/m.exec(await fake.command('show info'))?.[1];
    const info = await fake.command('show info');
    expect(info).toBe('Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nNbthread: 2\nNbproc: 1\nProcess_num: 1\nPid: 100\n\n');
    fake.reloadLag = 1;
    await fake.reload();
    expect([await pid(), await pid(), await pid()]).toEqual(['100', '101', '101']);
    // A failed reload keeps the process.
    fake.problem = 'refused';
    await fake.reload();
    expect(await pid()).toBe('101');
    fake.problem = undefined;
    fake.reloadLag = 0;
    await fake.reload();
    expect(await pid()).toBe('102');
    expect(fake.calls.filter((call) => call === 'show info').length).toBe(6);
  });

  it('lists a replaced process among the old ones for as long as the sessions it took along last, or as oldProcessLife says', async () => {
    const { fake } = proxyHost();
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-web.cfg'), renderProxyConfig({ ...WEB, active: 'a' }));
    fake.boot();
    expect(await fake.oldProcesses()).toEqual([]);
    // Carrying nothing, it exits at once.
    await fake.reload();
    expect(await fake.oldProcesses()).toEqual([]);
    // Sessions that end after 2 answers, and queued ones that never end.
    fake.setSessions('berth-prod-web-8080', 'a', 1, { endsAfterPolls: 2 });
    await fake.reload();
    fake.setSessions('berth-prod-web-8080', 'a', 0, { queued: 1 });
    await fake.reload();
    expect(fake.pid).toBe(103);
    expect(await fake.oldProcesses()).toEqual([101, 102]);
    expect(await fake.oldProcesses()).toEqual([101, 102]);
    expect(await fake.oldProcesses()).toEqual([102]);
    for (let answer = 0; answer < 50; answer++) {
      await fake.oldProcesses();
    }
    expect(await fake.oldProcesses()).toEqual([102]);
    // The new process took none of it.
    expect(fake.server('berth-prod-web-8080', 'a')).toMatchObject({ current: 0, queued: 0 });
    fake.oldProcessLife = 1;
    await fake.reload();
    expect(await fake.oldProcesses()).toEqual([102, 103]);
    expect(await fake.oldProcesses()).toEqual([102]);
    expect(fake.calls.filter((call) => call === 'show proc').length).toBe(58);
  });

  it('loads the files on reload into a new process that carries none of the old sessions; a failed check keeps the old one', async () => {
    const { fake } = proxyHost();
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-web.cfg'), renderProxyConfig({ ...WEB, active: 'a' }));
    fs.writeFileSync(path.join(fake.servicesDir, 'notes.txt'), 'listen x\n');
    await fake.reload();
    fake.setSessions('berth-prod-web-8080', 'a', 3);
    await fake.reload();
    expect(fake.server('berth-prod-web-8080', 'a')).toEqual({ name: 'a', addr: '127.0.0.1:30000', state: 'ready', current: 0, queued: 0 });
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-api.cfg'), 'listen berth-prod-web-8080\n');
    expect(fake.check()).toMatch(/proxy 'berth-prod-web-8080' has the same name as another proxy/);
    await fake.reload();
    expect(fake.reloads).toBe(2);
    expect(() => fake.server('berth-prod-web-8080', 'c')).toThrow('the fake proxy carries no server berth-prod-web-8080/c');
    expect(parseServices(path.join(fake.servicesDir, 'missing'))).toEqual({ sections: [] });
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-api.cfg'), 'server a 127.0.0.1:1\n');
    expect(fake.check()).toMatch(/unknown keyword 'server' out of section/);
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-api.cfg'), 'listen\n');
    expect(fake.check()).toMatch(/'listen' expects <name>/);
    fs.writeFileSync(path.join(fake.servicesDir, 'prod-api.cfg'), 'listen y\n    server a localhost:1 backup\n');
    expect(fake.check()).toMatch(/is not a server Berth writes/);
  });
});
