/**
 * The test bed's sshd is a host as Berth's deployer meets it: key-only login for the deploy user,
 * passwordless sudo, the host key pinned on the client, and an sshd_config that accepts only the
 * locale variables (as AL2023's does).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run } from '../support/docker';
import { SSH_TARGET, sshCopy, sshHostKey, sshRun } from '../support/ssh';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-it-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('test bed sshd', () => {
  it('lets the deploy user in by key, in bash, without a tty, with passwordless sudo', () => {
    const result = sshRun('echo "user=$(id -un) shell=$0 tty=$(tty)"; sudo -n true && echo sudo-ok');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`user=${SSH_TARGET.user} shell=bash tty=not a tty\nsudo-ok\n`);
    expect(sshRun('sudo -n id -u').stdout).toBe('0\n');
  });

  it('hands the command string to the shell and streams stdin to it, as remote.Command does', () => {
    const secret = 'line one\nline "two" with $NOT_EXPANDED\n';
    const result = sshRun('set -euo pipefail; read -r first; rest="$(cat)"; printf "%s|%s" "$first" "$rest"', secret);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('line one|line "two" with $NOT_EXPANDED');
    // The exit status of the command is the one the client reports.
    expect(sshRun('exit 7').status).toBe(7);
    // sudo passes stdin on, which is how a secret reaches a root command without a file or an argument.
    expect(sshRun('sudo -n sh -c "wc -c"', 'x'.repeat(1000)).stdout.trim()).toBe('1000');
  });

  it('refuses a key that is not authorized', () => {
    const wrongKey = path.join(scratch, 'id_wrong');
    expect(run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]).status).toBe(0);
    const result = sshRun('echo in', undefined, { identityFile: wrongKey });
    expect(result.status).toBe(255);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Permission denied (publickey)');
  });

  it('refuses root, even with the authorized key', () => {
    const result = sshRun('echo in', undefined, { user: 'root' });
    expect(result.status).toBe(255);
    expect(result.stderr).toContain('Permission denied');
  });

  it('pins the host key: a known_hosts without it fails the connection', () => {
    expect(sshHostKey()).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+$/);
    const otherKnownHosts = path.join(scratch, 'known_hosts');
    fs.writeFileSync(otherKnownHosts, '');
    const result = run('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${otherKnownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-i', SSH_TARGET.privateKeyPath, '-p', String(SSH_TARGET.port), `${SSH_TARGET.user}@${SSH_TARGET.host}`, 'echo in']);
    expect(result.status).toBe(255);
    expect(result.stderr).toContain('Host key verification failed');
  });

  it('drops environment variables the server does not accept (why Berth turns off addPreviousOutputInEnv)', () => {
    // @pulumi/command sets PULUMI_COMMAND_STDOUT/STDERR through SSH "env" requests when
    // addPreviousOutputInEnv is on (its default). An AL2023 sshd, like this one, accepts only
    // LANG/LC_*: OpenSSH's client is told nothing and the variable is simply absent, while
    // @pulumi/command's client asks for a reply and fails the command. Locale variables pass, so
    // the refusal is the server's choice, not a client that sends nothing.
    const result = sshRun('echo "stdout=${PULUMI_COMMAND_STDOUT-unset} lang=${LANG-unset}"', undefined, {
      sendEnv: { PULUMI_COMMAND_STDOUT: 'previous output', LANG: 'C.UTF-8' },
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('stdout=unset lang=C.UTF-8\n');
  });

  it('copies a file over SFTP, as CopyToRemote does', () => {
    const local = path.join(scratch, 'payload.txt');
    fs.writeFileSync(local, 'berth payload\n');
    const remote = `/tmp/berth-ssh-it-${process.pid}.txt`;
    const copy = sshCopy(local, remote);
    expect(copy.stderr).toBe('');
    expect(copy.status).toBe(0);
    const read = sshRun(`stat -c %U "${remote}"; cat "${remote}"; rm -f "${remote}"`);
    expect(read.stdout).toBe(`${SSH_TARGET.user}\nberth payload\n`);
  });
});
