import { execFileSync } from 'child_process';
import { generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseSshPublicKey, publicKeyMatchesPrivate, publicKeyOfPrivateKey } from '../../components/common/sshKeys';

// Real keys from OpenSSH's ssh-keygen (openssh-client), in every format it
// writes. The expected public key is always the .pub file ssh-keygen wrote
// beside the private key, never something the module under test computed.
let dir: string;
interface Generated {
  privateKey: string;
  publicLine: string;
}
const keys: Record<string, Generated> = {};

function keygen(name: string, args: string[], passphrase = ''): Generated {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', ...args, '-N', passphrase, '-C', `${name}@berth test key`, '-f', file], { stdio: 'pipe' });
  return { privateKey: fs.readFileSync(file, 'utf8'), publicLine: fs.readFileSync(`${file}.pub`, 'utf8') };
}

/** `type blob` of a .pub line, without its comment and newline. */
const typeAndBlob = (line: string) => line.trim().split(' ').slice(0, 2).join(' ');

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-keys-'));
  keys['ed25519 (OpenSSH)'] = keygen('ed25519', ['-t', 'ed25519']);
  keys['rsa 3072 (OpenSSH)'] = keygen('rsa', ['-t', 'rsa', '-b', '3072']);
  keys['rsa 2048 (PEM, BEGIN RSA PRIVATE KEY)'] = keygen('rsa-pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM']);
  keys['rsa 4096 (PKCS#8, BEGIN PRIVATE KEY)'] = keygen('rsa-pkcs8', ['-t', 'rsa', '-b', '4096', '-m', 'PKCS8']);
  keys['ecdsa nistp256 (OpenSSH)'] = keygen('ecdsa256', ['-t', 'ecdsa', '-b', '256']);
  keys['ecdsa nistp384 (PEM, BEGIN EC PRIVATE KEY)'] = keygen('ecdsa384-pem', ['-t', 'ecdsa', '-b', '384', '-m', 'PEM']);
  keys['ecdsa nistp521 (PKCS#8)'] = keygen('ecdsa521-pkcs8', ['-t', 'ecdsa', '-b', '521', '-m', 'PKCS8']);
  keys['ed25519 with a passphrase (OpenSSH)'] = keygen('ed25519-pw', ['-t', 'ed25519'], 'correct horse battery');
  keys['rsa with a passphrase (OpenSSH)'] = keygen('rsa-pw', ['-t', 'rsa', '-b', '3072'], 'correct horse battery');
  keys['rsa encrypted (PEM)'] = keygen('rsa-pem-pw', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'], 'correct horse battery');
  keys.rsa1024 = keygen('rsa1024', ['-t', 'rsa', '-b', '1024']);
  keys.dsa = keygen('dsa', ['-t', 'dsa']);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const READABLE = [
  'ed25519 (OpenSSH)',
  'rsa 3072 (OpenSSH)',
  'rsa 2048 (PEM, BEGIN RSA PRIVATE KEY)',
  'rsa 4096 (PKCS#8, BEGIN PRIVATE KEY)',
  'ecdsa nistp256 (OpenSSH)',
  'ecdsa nistp384 (PEM, BEGIN EC PRIVATE KEY)',
  'ecdsa nistp521 (PKCS#8)',
  'ed25519 with a passphrase (OpenSSH)',
  'rsa with a passphrase (OpenSSH)',
];

describe('the ssh-keygen keys this test uses', () => {
  it('are in the formats their names say', () => {
    expect(keys['ed25519 (OpenSSH)'].privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    expect(keys['rsa 2048 (PEM, BEGIN RSA PRIVATE KEY)'].privateKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(keys['rsa 4096 (PKCS#8, BEGIN PRIVATE KEY)'].privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(keys['ecdsa nistp384 (PEM, BEGIN EC PRIVATE KEY)'].privateKey).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    expect(keys['ecdsa nistp521 (PKCS#8)'].privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(keys['rsa encrypted (PEM)'].privateKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n/);
    // ssh-keygen itself needs the passphrase to open these: only the header is in clear.
    expect(() => execFileSync('ssh-keygen', ['-y', '-P', '', '-f', path.join(dir, 'ed25519-pw')], { stdio: 'pipe' })).toThrow();
  });
});

describe('parseSshPublicKey', () => {
  it.each(READABLE)('reads the %s public key line ssh-keygen wrote', (name) => {
    const [type, blob, ...comment] = keys[name].publicLine.trim().split(' ');
    expect(parseSshPublicKey(keys[name].publicLine)).toEqual({ type, blob, comment: comment.join(' ') });
    expect(comment.join(' ')).toMatch(/@berth test key$/);
  });

  it('keeps the comment, spaces included', () => {
    const [type, blob] = keys['ed25519 (OpenSSH)'].publicLine.trim().split(' ');
    expect(parseSshPublicKey(`${type} ${blob} ci deploy key @ berth\n`)).toEqual({ type: 'ssh-ed25519', blob, comment: 'ci deploy key @ berth' });
    expect(parseSshPublicKey(`  ${type}\t${blob}  `)).toEqual({ type: 'ssh-ed25519', blob, comment: '' });
    expect(parseSshPublicKey(keys['ed25519 (OpenSSH)'].publicLine)).toEqual({ type: 'ssh-ed25519', blob, comment: 'ed25519@berth test key' });
  });

  it('refuses a private key pasted as the public key, without quoting it', () => {
    for (const name of ['ed25519 (OpenSSH)', 'rsa 2048 (PEM, BEGIN RSA PRIVATE KEY)', 'rsa 4096 (PKCS#8, BEGIN PRIVATE KEY)']) {
      const result = parseSshPublicKey(keys[name].privateKey);
      expect(result).toEqual({
        error: 'this is a private key, not a public key: give the public half (the .pub file, or what `ssh-keygen -y -f <private key file>` prints)',
      });
    }
    expect(parseSshPublicKey('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n')).toMatchObject({ error: expect.stringMatching(/^this is a private key/) });
  });

  it('refuses key data that is not base64', () => {
    for (const data of ['AAAA!!!!', 'not-base64', 'AAAAC3NzaC1lZDI1NTE5AAAAI=', 'AAAA====', 'AAAAC3NzaC1lZDI1NTE5AAAAIA']) {
      expect(parseSshPublicKey(`ssh-ed25519 ${data} me@host`)).toEqual({
        error:
          'the key data after ssh-ed25519 is not valid base64; expected an OpenSSH public key line "<type> <base64 key> [comment]" (the .pub file), type ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 or ecdsa-sha2-nistp521',
      });
    }
  });

  it('refuses a line whose type is not the type inside its key data', () => {
    const [, edBlob] = keys['ed25519 (OpenSSH)'].publicLine.split(' ');
    expect(parseSshPublicKey(`ssh-rsa ${edBlob}`)).toEqual({ error: "the line says ssh-rsa but its key data is a ssh-ed25519 key; the type must be the key's own" });
    const [, ecBlob] = keys['ecdsa nistp256 (OpenSSH)'].publicLine.split(' ');
    expect(parseSshPublicKey(`ecdsa-sha2-nistp384 ${ecBlob}`)).toEqual({
      error: "the line says ecdsa-sha2-nistp384 but its key data is a ecdsa-sha2-nistp256 key; the type must be the key's own",
    });
  });

  it('refuses truncated, padded and off-curve key data', () => {
    const blobOf = (name: string) => Buffer.from(keys[name].publicLine.split(' ')[1], 'base64');
    const ed = blobOf('ed25519 (OpenSSH)');
    expect(parseSshPublicKey(`ssh-ed25519 ${ed.subarray(0, ed.length - 4).toString('base64')}`)).toEqual({ error: 'the ssh-ed25519 key data is truncated or malformed' });
    expect(parseSshPublicKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5')).toEqual({ error: 'the ssh-ed25519 key data is truncated or malformed' });
    expect(parseSshPublicKey(`ssh-ed25519 ${Buffer.concat([ed, Buffer.from([0, 0, 0, 0])]).toString('base64')}`)).toEqual({ error: 'the ssh-ed25519 key data has 4 bytes after the key' });
    const ec = Buffer.from(blobOf('ecdsa nistp256 (OpenSSH)'));
    ec[ec.length - 1] ^= 0x01;
    expect(parseSshPublicKey(`ecdsa-sha2-nistp256 ${ec.toString('base64')}`)).toEqual({ error: 'this ecdsa-sha2-nistp256 key is not a point on the nistp256 curve' });
    const rsa = blobOf('rsa 3072 (OpenSSH)');
    expect(parseSshPublicKey(`ssh-rsa ${rsa.subarray(0, 200).toString('base64')}`)).toEqual({ error: 'the ssh-rsa key data is truncated or malformed' });
  });

  it('refuses weak and unsupported keys, saying what to use instead', () => {
    expect(parseSshPublicKey(keys.rsa1024.publicLine)).toEqual({ error: 'this RSA key has 1024 bits; at least 2048 are required (or use ed25519)' });
    expect(parseSshPublicKey(keys.dsa.publicLine)).toEqual({
      error: 'DSA (ssh-dss) keys are refused: OpenSSH disables them by default; use an ed25519 key (ssh-keygen -t ed25519)',
    });
    expect(parseSshPublicKey('sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t me')).toMatchObject({ error: expect.stringMatching(/security-key \(FIDO\) key/) });
  });

  it('refuses what is not one key line', () => {
    const expected = 'expected an OpenSSH public key line "<type> <base64 key> [comment]" (the .pub file), type ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 or ecdsa-sha2-nistp521';
    const ed = keys['ed25519 (OpenSSH)'].publicLine.trim();
    expect(parseSshPublicKey('')).toEqual({ error: `${expected}; got an empty value` });
    expect(parseSshPublicKey('hello world')).toEqual({ error: `${expected}; got a line starting with "hello"` });
    expect(parseSshPublicKey('ssh-ed25519')).toEqual({ error: `the base64 key data after ssh-ed25519 is missing; ${expected}` });
    expect(parseSshPublicKey(`${ed}\n${keys['rsa 3072 (OpenSSH)'].publicLine}`)).toEqual({ error: `${expected}; got 2 lines: give exactly one key` });
    expect(parseSshPublicKey(`from="10.0.0.0/8",no-pty ${ed}`)).toEqual({
      error: 'authorized_keys options before the key type are not accepted: give the key alone, starting with ssh-ed25519',
    });
    const rfc4716 = execFileSync('ssh-keygen', ['-e', '-f', path.join(dir, 'ed25519.pub')], { encoding: 'utf8' });
    expect(parseSshPublicKey(rfc4716)).toEqual({ error: `this is an RFC 4716 (SSH2) public key block; convert it to one line with \`ssh-keygen -i -f <file>\`; ${expected}` });
  });
});

describe('publicKeyOfPrivateKey', () => {
  it.each(READABLE)('derives from the %s private key the public key ssh-keygen wrote', (name) => {
    const derived = publicKeyOfPrivateKey(keys[name].privateKey);
    expect(derived).toEqual({ type: keys[name].publicLine.split(' ')[0], blob: keys[name].publicLine.split(' ')[1], line: typeAndBlob(keys[name].publicLine) });
  });

  it('reads a key with Windows line endings or without its final newline', () => {
    const { privateKey, publicLine } = keys['ed25519 (OpenSSH)'];
    expect(publicKeyOfPrivateKey(privateKey.replace(/\n/g, '\r\n'))).toMatchObject({ line: typeAndBlob(publicLine) });
    expect(publicKeyOfPrivateKey(privateKey.trim())).toMatchObject({ line: typeAndBlob(publicLine) });
  });

  it('derives an Ed25519 PKCS#8 key (which ssh-keygen cannot write) as RFC 8709 encodes it', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
    // string "ssh-ed25519" (length 11), then string <32 key bytes>.
    const blob = Buffer.concat([Buffer.from('0000000b7373682d6564323535313900000020', 'hex'), raw]).toString('base64');
    expect(blob.startsWith('AAAAC3NzaC1lZDI1NTE5AAAAI')).toBe(true);
    expect(publicKeyOfPrivateKey(pem)).toEqual({ type: 'ssh-ed25519', blob, line: `ssh-ed25519 ${blob}` });
  });

  it('needs the passphrase of an encrypted PEM key, and says when it is wrong', () => {
    const { privateKey, publicLine } = keys['rsa encrypted (PEM)'];
    expect(publicKeyOfPrivateKey(privateKey)).toEqual({ error: 'this PEM private key is encrypted: its public half cannot be read without the passphrase' });
    expect(publicKeyOfPrivateKey(privateKey, 'wrong passphrase')).toEqual({ error: 'the passphrase does not decrypt this PEM private key' });
    expect(publicKeyOfPrivateKey(privateKey, 'correct horse battery')).toMatchObject({ line: typeAndBlob(publicLine) });
  });

  it('refuses what is not a usable private key, without quoting it', () => {
    expect(publicKeyOfPrivateKey(keys['ed25519 (OpenSSH)'].publicLine)).toEqual({ error: 'this is a public key; expected the private key (-----BEGIN OPENSSH PRIVATE KEY----- …)' });
    expect(publicKeyOfPrivateKey('')).toEqual({ error: 'expected a private key (-----BEGIN OPENSSH PRIVATE KEY----- or a PEM private key); got nothing' });
    expect(publicKeyOfPrivateKey('hunter2')).toEqual({
      error: 'expected a private key in OpenSSH format (-----BEGIN OPENSSH PRIVATE KEY-----) or PEM (RSA PRIVATE KEY, EC PRIVATE KEY, PRIVATE KEY), with its BEGIN and END lines',
    });
    expect(publicKeyOfPrivateKey(keys.dsa.privateKey)).toEqual({
      error: 'DSA (ssh-dss) keys are refused: OpenSSH disables them by default; use an ed25519 key (ssh-keygen -t ed25519)',
    });
    expect(publicKeyOfPrivateKey(keys.rsa1024.privateKey)).toEqual({ error: 'this RSA key has 1024 bits; at least 2048 are required (or use ed25519)' });
    const damaged = keys['ed25519 (OpenSSH)'].privateKey.replace(/\n[A-Za-z0-9+/]{8}/, '\n@@@@@@@@');
    expect(publicKeyOfPrivateKey(damaged)).toEqual({ error: 'this OpenSSH private key is damaged: its BEGIN/END block is not an openssh-key-v1 key' });
    const pem = keys['rsa 2048 (PEM, BEGIN RSA PRIVATE KEY)'].privateKey;
    const cut = pem.split('\n');
    const truncated = [...cut.slice(0, 5), ...cut.slice(-2)].join('\n');
    const result = publicKeyOfPrivateKey(truncated);
    expect(result).toEqual({ error: 'this PEM private key (RSA PRIVATE KEY) cannot be read: is it complete, with its BEGIN and END lines?' });
    expect(publicKeyOfPrivateKey('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n')).toEqual({
      error: 'this is a PuTTY (.ppk) key; convert it with `puttygen <key.ppk> -O private-openssh -o <key>` and give that',
    });
    const ed448 = generateKeyPairSync('ed448').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(publicKeyOfPrivateKey(ed448)).toEqual({ error: 'this is a ed448 private key; expected an ed25519, RSA or ECDSA key' });
    // No message carries any line of a private key.
    for (const text of [damaged, truncated, keys.dsa.privateKey]) {
      const message = (publicKeyOfPrivateKey(text) as { error: string }).error;
      for (const line of text.split('\n').filter((l) => l.length > 8 && !l.startsWith('-----'))) {
        expect(message).not.toContain(line);
      }
    }
  });
});

describe('publicKeyMatchesPrivate', () => {
  it.each(READABLE)('is true for the %s pair ssh-keygen wrote', (name) => {
    expect(publicKeyMatchesPrivate(keys[name].publicLine, keys[name].privateKey)).toBe(true);
  });

  it('is false for a public key of another private key, of the same or another type', () => {
    expect(publicKeyMatchesPrivate(keys['ed25519 (OpenSSH)'].publicLine, keys['ed25519 with a passphrase (OpenSSH)'].privateKey)).toBe(false);
    expect(publicKeyMatchesPrivate(keys['rsa 3072 (OpenSSH)'].publicLine, keys['rsa 2048 (PEM, BEGIN RSA PRIVATE KEY)'].privateKey)).toBe(false);
    expect(publicKeyMatchesPrivate(keys['ed25519 (OpenSSH)'].publicLine, keys['ecdsa nistp256 (OpenSSH)'].privateKey)).toBe(false);
  });

  it('uses the passphrase of an encrypted PEM key', () => {
    const { privateKey, publicLine } = keys['rsa encrypted (PEM)'];
    expect(publicKeyMatchesPrivate(publicLine, privateKey, 'correct horse battery')).toBe(true);
    expect(publicKeyMatchesPrivate(publicLine, privateKey)).toEqual({ error: 'private key: this PEM private key is encrypted: its public half cannot be read without the passphrase' });
  });

  it('says which key cannot be read', () => {
    expect(publicKeyMatchesPrivate(keys['ed25519 (OpenSSH)'].privateKey, keys['ed25519 (OpenSSH)'].privateKey)).toEqual({
      error: 'public key: this is a private key, not a public key: give the public half (the .pub file, or what `ssh-keygen -y -f <private key file>` prints)',
    });
    expect(publicKeyMatchesPrivate(keys['ed25519 (OpenSSH)'].publicLine, keys['ed25519 (OpenSSH)'].publicLine)).toEqual({
      error: 'private key: this is a public key; expected the private key (-----BEGIN OPENSSH PRIVATE KEY----- …)',
    });
  });
});
