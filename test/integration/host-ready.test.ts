/** The readiness step a deploy waits for, run for real against marker files and a stand-in agent upload. */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { hostScriptPath } from '../../components/host/scripts';
import { run } from '../support/docker';

const SCRIPT = hostScriptPath('berth-host-ready');
const AGENT = '#!/usr/bin/env bash\necho berth-agent stand-in\n';

describe('berth-host-ready', () => {
  let dir: string;
  let ready: string;
  let failed: string;
  let upload: string;
  let target: string;
  const markers = () => ['--ready-marker', ready, '--failed-marker', failed];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ready-'));
    ready = path.join(dir, 'ready');
    failed = path.join(dir, 'failed');
    upload = path.join(dir, 'upload');
    target = path.join(dir, 'bin', 'berth-agent');
    fs.writeFileSync(upload, AGENT);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is shellcheck-clean', () => {
    expect(run('shellcheck', [SCRIPT])).toMatchObject({ status: 0, stdout: '' });
  });

  it('waits for boot setup to finish, then installs the agent it was sent', async () => {
    const digest = createHash('sha256').update(AGENT).digest('hex');
    const child = spawn('bash', [SCRIPT, '--timeout', '30', '--install-agent', upload, target, '--agent-sha256', digest, ...markers()]);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    // Boot setup finishes a moment after the step started waiting.
    setTimeout(() => fs.writeFileSync(ready, ''), 1500);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stdout).toBe(`berth-host-ready: ready; agent installed at ${target}\n`);
    expect(fs.readFileSync(target, 'utf8')).toBe(AGENT);
    expect(fs.statSync(target).mode & 0o777).toBe(0o755);
    expect(fs.existsSync(upload)).toBe(false);
  });

  it('stops at once with the reason when boot setup failed', () => {
    fs.writeFileSync(failed, 'user data line 42: dnf install docker');
    const result = run('bash', [SCRIPT, '--timeout', '30', ...markers()]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('berth-host-ready: boot setup failed: user data line 42: dnf install docker\n');
  });

  it('gives up after its timeout with a clear message', () => {
    const result = run('bash', [SCRIPT, '--timeout', '1', ...markers()]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('boot setup did not finish within 1s');
  });

  it('refuses an upload that does not match the expected sha256, installing nothing', () => {
    fs.writeFileSync(ready, '');
    const result = run('bash', [SCRIPT, '--install-agent', upload, target, '--agent-sha256', '0'.repeat(64), ...markers()]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('does not match sha256');
    expect(fs.existsSync(target)).toBe(false);
  });
});
