/**
 * An in-memory host proxy behind the agent's ProxyRuntime interface, modelling
 * what HAProxy 2.6 (master-worker, as berth-proxy.service runs it) does for
 * the calls the agent makes, as a real one answered them (see
 * test/unit/agent/proxy.test.ts, "the fake proxy"):
 *
 * - `reload()` starts a new process from the `*.cfg` files in the services
 *   folder (alphabetical, as HAProxy reads a folder): `listen <name>`,
 *   `bind`, `mode`, `server <slot> 127.0.0.1:<port> [disabled]`. A server
 *   `disabled` starts in maintenance, the others ready. The new process
 *   carries no session of the old one (the old process keeps those until they
 *   end; `show stat` answers from the new one). With `reloadLag` set, the
 *   old process keeps answering that many commands before the new one does.
 *   Each process has a pid of its own, which `show info` answers (`Pid: …`,
 *   as a 2.6 worker's stats socket does), so a reload shows once the new
 *   process answers.
 * - `oldProcesses()` is the master CLI's `show proc`: the processes a reload
 *   replaced that still finish their connections (`# old workers`). A
 *   replaced process carrying nothing exits at once, as HAProxy's soft-stopped
 *   worker does; one carrying sessions stays listed until they end (for as
 *   many `show proc` answers as their `endsAfterPolls`, or for good without
 *   it, or until a test calls `finishOld`). `oldProcessLife` overrides that
 *   with a fixed number of answers.
 * - `show stat` answers HAProxy 2.6's CSV: its exact header, a FRONTEND row,
 *   one row a server and a BACKEND row for each section, every line ending in
 *   a comma, the answer in an empty line.
 * - `set server <section>/<server> state ready|drain|maint` answers an empty
 *   line, or HAProxy's refusals: `Require 'backend/server'.`, `No such
 *   backend.`, `No such server.`, `'set server <srv> state' expects 'ready',
 *   'drain' and 'maint'.`.
 * - `check()` answers `problem` when a test sets one (what `haproxy -c`
 *   prints), else a duplicate section name or a line it cannot read.
 *
 * Every call is recorded in order (`calls`: `show proc` for `oldProcesses()`), and also in `shared` (the fake
 * engine's calls) as `proxy <call>`, so a test asserts one sequence.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { ProxyRuntime } from '../../../components/service/agent/proxy';

/** The columns of HAProxy 2.6's `show stat`, in order (from a real 2.6.12). */
export const SHOW_STAT_COLUMNS = (
  'pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,' +
  'pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,' +
  'hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,' +
  'agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,' +
  'conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,' +
  'idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,' +
  'ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,' +
  'h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,' +
  'h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out'
).split(',');

export const SHOW_STAT_HEADER = `# ${SHOW_STAT_COLUMNS.join(',')},`;

export type ServerState = 'ready' | 'drain' | 'maint';

export interface FakeServer {
  name: string;
  /** `127.0.0.1:30000` */
  addr: string;
  state: ServerState;
  /** Sessions (connections, or requests in http mode) the server carries now. */
  current: number;
  queued: number;
  /** When set: the sessions end after this many more `show stat` answers. */
  endsAfterPolls?: number;
}

export interface FakeSection {
  name: string;
  mode: string;
  bind: string;
  servers: FakeServer[];
}

/** What `show stat` calls a server's state (no health checks configured, as Berth's files have none). */
const STATUS: Record<ServerState, string> = { ready: 'no check', drain: 'DRAIN', maint: 'MAINT' };

const ANSWER = {
  done: '\n',
  requireServer: "Require 'backend/server'.\n\n",
  noBackend: 'No such backend.\n\n',
  noServer: 'No such server.\n\n',
  badState: "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n",
  unknown: 'Unknown command, but maybe one of the following ones is a better match:\n  set server <bk>/<srv> [opts]            : change a server\'s state, weight, address or ssl\n\n',
} as const;

export class FakeProxy implements ProxyRuntime {
  /** Every call, in order: `show stat`, `show info`, `set server …`, `check`, `reload`, `show proc`. */
  readonly calls: string[] = [];
  /** What the serving process carries. */
  sections: FakeSection[] = [];
  /** What `check()` answers; undefined when the files are fine. */
  problem: string | undefined;
  /** How many commands after a reload the old process still answers. */
  reloadLag = 0;
  /** How many reloads the proxy took. */
  reloads = 0;
  /** How many commands from now fail as a socket that changes hands does. */
  unavailable = 0;
  /**
   * When set: how many `show proc` answers a replaced process stays among the
   * old ones, whatever it carries. Unset: for as long as the sessions it took
   * along last (see the file's comment).
   */
  oldProcessLife: number | undefined;
  /** The pid of the process that answers the runtime API. */
  pid = 100;
  /** The processes a reload replaced that are still finishing connections, oldest first; `life` in `show proc` answers. */
  private old: { pid: number; life: number }[] = [];
  private pending: FakeSection[] | undefined;
  private pendingPid = 0;
  private nextPid = 101;
  private lagLeft = 0;

  constructor(
    readonly servicesDir: string,
    private readonly shared?: string[],
  ) {}

  // ---- set-up for tests ----

  /** The server `section/server` of the serving process; throws when it has none. */
  server(section: string, server: string): FakeServer {
    const found = this.sections.find((candidate) => candidate.name === section)?.servers.find((candidate) => candidate.name === server);
    if (found === undefined) {
      throw new Error(`the fake proxy carries no server ${section}/${server}`);
    }
    return found;
  }

  /** `current` sessions on a server (requests in flight); with `endsAfterPolls`, they end after that many `show stat` answers. */
  setSessions(section: string, server: string, current: number, options: { queued?: number; endsAfterPolls?: number } = {}): void {
    const target = this.server(section, server);
    target.current = current;
    target.queued = options.queued ?? 0;
    target.endsAfterPolls = options.endsAfterPolls;
  }

  /** `section/server state`, one a server, in the serving process's order. */
  states(): string[] {
    return this.sections.flatMap((section) => section.servers.map((server) => `${section.name}/${server.name} ${server.state}`));
  }

  /** The serving process loads the files now, without a reload call (as a proxy started at boot does). */
  boot(): void {
    this.sections = parseServices(this.servicesDir).sections;
  }

  clearCalls(): void {
    this.calls.length = 0;
  }

  /** The replaced process `pid` has finished its connections: from the next `show proc` it is not among the old ones. */
  finishOld(pid: number): void {
    const old = this.old.find((candidate) => candidate.pid === pid);
    if (old === undefined) {
      throw new Error(`the fake proxy has no old process ${pid}`);
    }
    old.life = 0;
  }

  // ---- ProxyRuntime ----

  async command(line: string): Promise<string> {
    this.record(line);
    if (this.unavailable > 0) {
      this.unavailable--;
      throw new Error(`connect ECONNREFUSED ${path.join(this.servicesDir, '..', 'admin.sock')}`);
    }
    if (this.pending !== undefined) {
      if (this.lagLeft > 0) {
        this.lagLeft--;
      } else {
        this.takeOver();
      }
    }
    const words = line.trim().split(/\s+/);
    if (line.trim() === 'show info') {
      return this.showInfo();
    }
    if (line.trim() === 'show stat') {
      return this.showStat();
    }
    if (words[0] === 'set' && words[1] === 'server') {
      return this.setServer(words.slice(2));
    }
    return ANSWER.unknown;
  }

  check(): string | undefined {
    this.record('check');
    if (this.problem !== undefined) {
      return this.problem;
    }
    return parseServices(this.servicesDir).problem;
  }

  async reload(): Promise<void> {
    this.record('reload');
    const parsed = parseServices(this.servicesDir);
    if (parsed.problem !== undefined || this.problem !== undefined) {
      // The master keeps the old workers when the new configuration fails.
      return;
    }
    this.reloads++;
    if (this.pending !== undefined) {
      // A reload before the last one took over: that new process never served.
      this.takeOver();
    }
    this.pending = parsed.sections;
    this.pendingPid = this.nextPid++;
    this.lagLeft = this.reloadLag;
    if (this.lagLeft === 0) {
      this.takeOver();
    }
  }

  async oldProcesses(): Promise<number[]> {
    this.record('show proc');
    // Listed in this answer, then one answer of its life gone.
    const listed = this.old.filter((old) => old.life > 0);
    for (const old of listed) {
      old.life--;
    }
    this.old = listed;
    return listed.map((old) => old.pid);
  }

  // ---- internals ----

  /** The new process serves; the one it replaces finishes what it carries, as an old worker. */
  private takeOver(): void {
    const carried = this.sections.flatMap((section) => section.servers).filter((server) => server.current + server.queued > 0);
    const life =
      this.oldProcessLife ?? (carried.length === 0 ? 0 : carried.every((server) => server.endsAfterPolls !== undefined) ? Math.max(...carried.map((server) => server.endsAfterPolls!)) : Infinity);
    this.old.push({ pid: this.pid, life });
    this.sections = this.pending!;
    this.pid = this.pendingPid;
    this.pending = undefined;
  }

  /** A 2.6 worker's `show info`, shortened to its first fields (to `Pid`, this process's), the answer in an empty line. */
  private showInfo(): string {
    return ['Name: HAProxy', 'Version: 2.6.12-1+deb12u4', 'Nbthread: 2', 'Nbproc: 1', 'Process_num: 1', `Pid: ${this.pid}`, '', ''].join('\n');
  }

  private record(call: string): void {
    this.calls.push(call);
    this.shared?.push(`proxy ${call}`);
  }

  private showStat(): string {
    const lines = [SHOW_STAT_HEADER];
    for (const section of this.sections) {
      const total = section.servers.reduce((sum, server) => sum + server.current, 0);
      lines.push(row({ pxname: section.name, svname: 'FRONTEND', scur: total, status: 'OPEN', type: 0, mode: section.mode }));
      for (const server of section.servers) {
        lines.push(row({ pxname: section.name, svname: server.name, qcur: server.queued, scur: server.current, status: STATUS[server.state], weight: 1, type: 2, addr: server.addr, mode: section.mode }));
      }
      const up = section.servers.some((server) => server.state === 'ready');
      lines.push(row({ pxname: section.name, svname: 'BACKEND', qcur: 0, scur: total, status: up ? 'UP' : 'DOWN', type: 1, mode: section.mode, algo: 'roundrobin' }));
    }
    // Sessions that were to end do so once this answer is out.
    for (const server of this.sections.flatMap((section) => section.servers)) {
      if (server.endsAfterPolls !== undefined && --server.endsAfterPolls <= 0) {
        server.current = 0;
        server.queued = 0;
        server.endsAfterPolls = undefined;
      }
    }
    return `${lines.join('\n')}\n\n`;
  }

  private setServer(args: string[]): string {
    const [target, keyword, state] = args;
    const slash = target?.indexOf('/') ?? -1;
    if (target === undefined || slash < 0) {
      return ANSWER.requireServer;
    }
    const section = this.sections.find((candidate) => candidate.name === target.slice(0, slash));
    if (section === undefined) {
      return ANSWER.noBackend;
    }
    const server = section.servers.find((candidate) => candidate.name === target.slice(slash + 1));
    if (server === undefined) {
      return ANSWER.noServer;
    }
    if (keyword !== 'state' || (state !== 'ready' && state !== 'drain' && state !== 'maint')) {
      return ANSWER.badState;
    }
    server.state = state;
    return ANSWER.done;
  }
}

function row(values: Record<string, string | number>): string {
  return `${SHOW_STAT_COLUMNS.map((column) => (values[column] === undefined ? '' : String(values[column]))).join(',')},`;
}

/** The sections of the services' files, or the first problem `haproxy -c` would report. */
export function parseServices(dir: string): { sections: FakeSection[]; problem?: string } {
  const sections: FakeSection[] = [];
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((name) => name.endsWith('.cfg')).sort();
  } catch {
    return { sections };
  }
  for (const name of files) {
    const file = path.join(dir, name);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    let section: FakeSection | undefined;
    for (const [index, raw] of lines.entries()) {
      const words = raw.trim().split(/\s+/);
      const where = `[${file}:${index + 1}]`;
      if (raw.trim() === '' || raw.trim().startsWith('#')) {
        continue;
      }
      if (words[0] === 'listen') {
        if (words.length !== 2) {
          return { sections: [], problem: `[ALERT]    (1) : config : parsing ${where} : 'listen' expects <name> as argument.` };
        }
        if (sections.some((other) => other.name === words[1])) {
          return { sections: [], problem: `[ALERT]    (1) : config : Parsing ${where}: proxy '${words[1]}' has the same name as another proxy.` };
        }
        section = { name: words[1], mode: 'tcp', bind: '', servers: [] };
        sections.push(section);
        continue;
      }
      if (section === undefined) {
        return { sections: [], problem: `[ALERT]    (1) : config : parsing ${where} : unknown keyword '${words[0]}' out of section.` };
      }
      if (words[0] === 'bind') {
        section.bind = words[1];
      } else if (words[0] === 'mode') {
        section.mode = words[1];
      } else if (words[0] === 'server') {
        if (words.length < 3 || !/^[0-9.]+:[0-9]+$/.test(words[2]) || (words.length > 3 && (words.length !== 4 || words[3] !== 'disabled'))) {
          return { sections: [], problem: `[ALERT]    (1) : config : parsing ${where} : 'server ${words.slice(1).join(' ')}' is not a server Berth writes.` };
        }
        section.servers.push({ name: words[1], addr: words[2], state: words[3] === 'disabled' ? 'maint' : 'ready', current: 0, queued: 0 });
      }
    }
  }
  return { sections };
}
