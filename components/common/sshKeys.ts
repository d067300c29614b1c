/**
 * OpenSSH keys, read without running ssh-keygen: the public key line a host's
 * `authorized_keys` (or an EC2 key pair) receives, and the public half of the
 * private key the deploy steps connect with. Pure apart from node's crypto
 * parser; nothing throws: every function returns what is wrong, so config
 * validation can report it with the file and the key. No message ever quotes a
 * private key.
 *
 * Formats (OpenSSH PROTOCOL.key and PROTOCOL, RFC 4253 §6.6, RFC 5656 §3.1,
 * RFC 8709 §4):
 * - a public key line is `<type> <base64 key blob> [comment]`; the blob starts
 *   with its own copy of the type, which must be the line's;
 * - `-----BEGIN OPENSSH PRIVATE KEY-----` holds "openssh-key-v1\0", the cipher
 *   and KDF names, the KDF options, the number of keys and then each public key
 *   blob in clear, before the (possibly encrypted) private part: the public half
 *   of a passphrase-protected key can be read without the passphrase;
 * - PEM keys (`RSA PRIVATE KEY`, `EC PRIVATE KEY`, PKCS#8 `PRIVATE KEY`) are
 *   parsed by node's crypto and their public half encoded as an SSH blob here.
 */
import { createPublicKey, KeyObject } from 'crypto';

/** The key types Berth accepts, as OpenSSH names them. */
export const SSH_KEY_TYPES = ['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/**
 * The types EC2 can import as a key pair: "Imports the public key from an RSA
 * or ED25519 key pair" (EC2 API Reference, ImportKeyPair). ECDSA keys work in
 * authorized_keys but not as an aws.ec2.KeyPair.
 */
export const EC2_KEY_PAIR_TYPES: readonly SshKeyType[] = ['ssh-ed25519', 'ssh-rsa'];

/** RSA moduli shorter than this are refused (NIST SP 800-57: 2048 bits at least). */
export const MIN_RSA_BITS = 2048;

export interface SshPublicKey {
  type: SshKeyType;
  /** The key blob, base64 as in the key line. */
  blob: string;
  /** The comment after the blob; empty when there is none. */
  comment: string;
}

/** A public key as derived from a private key: no comment, and the line `type blob`. */
export interface DerivedPublicKey {
  type: SshKeyType;
  blob: string;
  /** `<type> <blob>`: what `ssh-keygen -y` prints, without a comment. */
  line: string;
}

export interface KeyProblem {
  error: string;
}

const CURVES: Record<string, { name: string; jwk: string; coordinateBytes: number }> = {
  'ecdsa-sha2-nistp256': { name: 'nistp256', jwk: 'P-256', coordinateBytes: 32 },
  'ecdsa-sha2-nistp384': { name: 'nistp384', jwk: 'P-384', coordinateBytes: 48 },
  'ecdsa-sha2-nistp521': { name: 'nistp521', jwk: 'P-521', coordinateBytes: 66 },
};

const TYPES_TEXT = `${SSH_KEY_TYPES.slice(0, -1).join(', ')} or ${SSH_KEY_TYPES[SSH_KEY_TYPES.length - 1]}`;
const LINE_EXPECTED = `expected an OpenSSH public key line "<type> <base64 key> [comment]" (the .pub file), type ${TYPES_TEXT}`;
const PRIVATE_MARKER = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-\d/;

function isKeyType(value: string): value is SshKeyType {
  return (SSH_KEY_TYPES as readonly string[]).includes(value);
}

/** A short, printable rendering of a token that is not a secret, for messages. */
function shown(token: string): string {
  const printable = /^[\x21-\x7e]*$/.test(token);
  if (!printable) {
    return 'a word with unprintable characters';
  }
  return JSON.stringify(token.length > 40 ? `${token.slice(0, 40)}…` : token);
}

function refusedType(type: string): string | undefined {
  if (type === 'ssh-dss') {
    return 'DSA (ssh-dss) keys are refused: OpenSSH disables them by default; use an ed25519 key (ssh-keygen -t ed25519)';
  }
  if (type.startsWith('sk-')) {
    return `${type} is a security-key (FIDO) key: every connection would need the hardware key, which deploy steps do not have; use an ed25519 key`;
  }
  return undefined;
}

/** Reads the SSH wire format: uint32 lengths, strings, mpints (RFC 4251 §5). */
class WireReader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  get remaining(): number {
    return this.data.length - this.offset;
  }

  uint32(): number | undefined {
    if (this.remaining < 4) {
      return undefined;
    }
    const value = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  string(): Buffer | undefined {
    const length = this.uint32();
    if (length === undefined || length > this.remaining) {
      return undefined;
    }
    const value = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  bytes(count: number): Buffer | undefined {
    if (count > this.remaining) {
      return undefined;
    }
    const value = this.data.subarray(this.offset, this.offset + count);
    this.offset += count;
    return value;
  }
}

function wireString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An unsigned big-endian integer as an SSH mpint: no leading zero bytes, a 0x00 before a set high bit. */
function wireMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) {
    start++;
  }
  const digits = unsigned.subarray(start);
  return wireString(digits.length > 0 && digits[0] & 0x80 ? Buffer.concat([Buffer.from([0]), digits]) : digits);
}

/** The magnitude of a positive mpint, or undefined when it is not a canonical positive mpint. */
function positiveMpint(value: Buffer | undefined): Buffer | undefined {
  if (!value || value.length === 0 || value[0] & 0x80) {
    return undefined;
  }
  if (value[0] === 0 && (value.length === 1 || !(value[1] & 0x80))) {
    return undefined;
  }
  return value[0] === 0 ? value.subarray(1) : value;
}

function bitLength(magnitude: Buffer): number {
  return magnitude.length * 8 - Math.clz32(magnitude[0]) + 24;
}

/** Checks a public key blob from end to end; `expected` is the type the line (if any) names. */
function checkBlob(blob: Buffer, expected?: SshKeyType): { type: SshKeyType } | KeyProblem {
  const reader = new WireReader(blob);
  const typeBytes = reader.string();
  if (!typeBytes || typeBytes.length === 0 || typeBytes.length > 64) {
    return { error: 'the key data does not start with a key type: it is not an SSH public key' };
  }
  const type = typeBytes.toString('latin1');
  if (!isKeyType(type)) {
    return { error: refusedType(type) ?? `the key data holds a ${shown(type)} key; expected type ${TYPES_TEXT}` };
  }
  if (expected && type !== expected) {
    return { error: `the line says ${expected} but its key data is a ${type} key; the type must be the key's own` };
  }
  const truncated = { error: `the ${type} key data is truncated or malformed` };
  if (type === 'ssh-ed25519') {
    const key = reader.string();
    if (!key || key.length !== 32) {
      return key ? { error: `an ssh-ed25519 key is 32 bytes; this one is ${key.length}` } : truncated;
    }
  } else if (type === 'ssh-rsa') {
    const exponent = positiveMpint(reader.string());
    const modulus = positiveMpint(reader.string());
    if (!exponent || !modulus) {
      return truncated;
    }
    const bits = bitLength(modulus);
    if (bits < MIN_RSA_BITS) {
      return { error: `this RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required (or use ed25519)` };
    }
    if (!(modulus[modulus.length - 1] & 1) || !(exponent[exponent.length - 1] & 1)) {
      return { error: 'this RSA key is not valid: its modulus and exponent must be odd' };
    }
  } else {
    const curve = CURVES[type];
    const name = reader.string();
    const point = reader.string();
    if (!name || !point) {
      return truncated;
    }
    if (name.toString('latin1') !== curve.name) {
      return { error: `a ${type} key names the curve ${curve.name}; this one names ${shown(name.toString('latin1'))}` };
    }
    if (point.length !== 1 + 2 * curve.coordinateBytes || point[0] !== 0x04) {
      return { error: `a ${type} key holds an uncompressed ${curve.name} point of ${1 + 2 * curve.coordinateBytes} bytes; this one does not` };
    }
    const x = point.subarray(1, 1 + curve.coordinateBytes).toString('base64url');
    const y = point.subarray(1 + curve.coordinateBytes).toString('base64url');
    try {
      createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x, y }, format: 'jwk' });
    } catch {
      return { error: `this ${type} key is not a point on the ${curve.name} curve` };
    }
  }
  if (reader.remaining !== 0) {
    return { error: `the ${type} key data has ${reader.remaining} bytes after the key` };
  }
  return { type };
}

/** Strict base64: the canonical encoding of the bytes it decodes to. */
function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    return undefined;
  }
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/**
 * Reads one OpenSSH public key line (`ssh-ed25519 AAAA… comment`). Refuses,
 * saying what was expected: a private key, an RFC 4716 block, several lines,
 * options before the type, an unsupported type (DSA, security keys), data that
 * is not base64, a blob whose embedded type differs from the line's, a
 * malformed or weak key.
 */
export function parseSshPublicKey(text: string): SshPublicKey | KeyProblem {
  if (typeof text !== 'string') {
    return { error: `${LINE_EXPECTED}; got ${text === undefined ? 'nothing' : typeof text}` };
  }
  if (PRIVATE_MARKER.test(text)) {
    return { error: 'this is a private key, not a public key: give the public half (the .pub file, or what `ssh-keygen -y -f <private key file>` prints)' };
  }
  if (/---- BEGIN SSH2 PUBLIC KEY ----/.test(text)) {
    return { error: `this is an RFC 4716 (SSH2) public key block; convert it to one line with \`ssh-keygen -i -f <file>\`; ${LINE_EXPECTED}` };
  }
  const line = text.trim();
  if (line === '') {
    return { error: `${LINE_EXPECTED}; got an empty value` };
  }
  if (/[\r\n]/.test(line)) {
    return { error: `${LINE_EXPECTED}; got ${line.split(/\r?\n/).length} lines: give exactly one key` };
  }
  const [type, data, ...comment] = line.split(/[ \t]+/);
  if (!isKeyType(type)) {
    const refused = refusedType(type);
    if (refused) {
      return { error: refused };
    }
    const laterType = [data, ...comment].find((token) => token !== undefined && isKeyType(token));
    if (laterType) {
      return { error: `authorized_keys options before the key type are not accepted: give the key alone, starting with ${laterType}` };
    }
    return { error: `${LINE_EXPECTED}; got a line starting with ${shown(type)}` };
  }
  if (data === undefined) {
    return { error: `the base64 key data after ${type} is missing; ${LINE_EXPECTED}` };
  }
  const blob = decodeBase64(data);
  if (!blob) {
    return { error: `the key data after ${type} is not valid base64; ${LINE_EXPECTED}` };
  }
  const checked = checkBlob(blob, type);
  if ('error' in checked) {
    return checked;
  }
  return { type, blob: data, comment: comment.join(' ') };
}

function derived(blob: Buffer): DerivedPublicKey | KeyProblem {
  const checked = checkBlob(blob);
  if ('error' in checked) {
    return checked;
  }
  const base64 = blob.toString('base64');
  return { type: checked.type, blob: base64, line: `${checked.type} ${base64}` };
}

const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

function fromOpenSshPrivateKey(body: string): DerivedPublicKey | KeyProblem {
  const bad = { error: 'this OpenSSH private key is damaged: its BEGIN/END block is not an openssh-key-v1 key' };
  const data = decodeBase64(body.replace(/\s+/g, ''));
  if (!data || data.length < OPENSSH_MAGIC.length || !data.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) {
    return bad;
  }
  const reader = new WireReader(data);
  reader.bytes(OPENSSH_MAGIC.length);
  const cipher = reader.string();
  const kdf = reader.string();
  const kdfOptions = reader.string();
  const count = reader.uint32();
  if (!cipher || !kdf || !kdfOptions || count === undefined) {
    return bad;
  }
  if (count !== 1) {
    return { error: `this OpenSSH private key file holds ${count} keys; give a file with exactly one` };
  }
  const publicBlob = reader.string();
  return publicBlob ? derived(publicBlob) : bad;
}

function fromKeyObject(key: KeyObject): DerivedPublicKey | KeyProblem {
  const jwk = key.export({ format: 'jwk' });
  const bytes = (field: string | undefined) => Buffer.from(field ?? '', 'base64url');
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return derived(Buffer.concat([wireString('ssh-ed25519'), wireString(bytes(jwk.x))]));
    case 'rsa':
      return derived(Buffer.concat([wireString('ssh-rsa'), wireMpint(bytes(jwk.e)), wireMpint(bytes(jwk.n))]));
    case 'ec': {
      const type = Object.keys(CURVES).find((name) => CURVES[name].jwk === jwk.crv);
      if (!type) {
        return { error: `this EC private key is on the curve ${shown(String(jwk.crv))}; SSH takes P-256, P-384 or P-521 (nistp256, nistp384, nistp521)` };
      }
      const point = Buffer.concat([Buffer.from([0x04]), bytes(jwk.x), bytes(jwk.y)]);
      return derived(Buffer.concat([wireString(type), wireString(CURVES[type].name), wireString(point)]));
    }
    case 'dsa':
      return { error: refusedType('ssh-dss') as string };
    default:
      return { error: `this is a ${key.asymmetricKeyType} private key; expected an ed25519, RSA or ECDSA key` };
  }
}

/**
 * The public key of a private key, as `ssh-keygen -y` would print it: from an
 * OpenSSH private key (passphrase-protected or not: the public half is stored
 * in clear) or a PEM key (PKCS#1 RSA, SEC 1 EC, PKCS#8; an encrypted PEM key
 * needs its passphrase).
 */
export function publicKeyOfPrivateKey(privateKeyText: string, passphrase?: string): DerivedPublicKey | KeyProblem {
  if (typeof privateKeyText !== 'string' || privateKeyText.trim() === '') {
    return { error: 'expected a private key (-----BEGIN OPENSSH PRIVATE KEY----- or a PEM private key); got nothing' };
  }
  const text = privateKeyText.replace(/\r\n/g, '\n');
  const openssh = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (openssh) {
    return fromOpenSshPrivateKey(openssh[1]);
  }
  if (/PuTTY-User-Key-File-\d/.test(text)) {
    return { error: 'this is a PuTTY (.ppk) key; convert it with `puttygen <key.ppk> -O private-openssh -o <key>` and give that' };
  }
  if (/-----BEGIN DSA PRIVATE KEY-----/.test(text)) {
    return { error: refusedType('ssh-dss') as string };
  }
  const pem = /-----BEGIN (RSA PRIVATE KEY|EC PRIVATE KEY|PRIVATE KEY|ENCRYPTED PRIVATE KEY)-----[\s\S]*?-----END \1-----/.exec(text);
  if (!pem) {
    if (SSH_KEY_TYPES.some((type) => text.trim().startsWith(`${type} `))) {
      return { error: 'this is a public key; expected the private key (-----BEGIN OPENSSH PRIVATE KEY----- …)' };
    }
    return { error: 'expected a private key in OpenSSH format (-----BEGIN OPENSSH PRIVATE KEY-----) or PEM (RSA PRIVATE KEY, EC PRIVATE KEY, PRIVATE KEY), with its BEGIN and END lines' };
  }
  const encrypted = pem[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(pem[0]);
  if (encrypted && passphrase === undefined) {
    return { error: 'this PEM private key is encrypted: its public half cannot be read without the passphrase' };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem[0], format: 'pem', ...(encrypted ? { passphrase } : {}) });
  } catch (error) {
    // A wrong passphrase usually fails the padding check (ERR_OSSL_BAD_DECRYPT), but now and then
    // it decrypts to bytes that fail later, as a malformed key: with a passphrase, both mean it is wrong.
    if (encrypted) {
      return { error: 'the passphrase does not decrypt this PEM private key' };
    }
    return { error: `this PEM private key (${pem[1]}) cannot be read: is it complete, with its BEGIN and END lines?` };
  }
  return fromKeyObject(key);
}

/**
 * Whether a public key line is the public half of a private key. Either key
 * that cannot be read gives its problem, prefixed with which key it is.
 */
export function publicKeyMatchesPrivate(publicLine: string, privateKeyText: string, passphrase?: string): boolean | KeyProblem {
  const publicKey = parseSshPublicKey(publicLine);
  if ('error' in publicKey) {
    return { error: `public key: ${publicKey.error}` };
  }
  const fromPrivate = publicKeyOfPrivateKey(privateKeyText, passphrase);
  if ('error' in fromPrivate) {
    return { error: `private key: ${fromPrivate.error}` };
  }
  return publicKey.type === fromPrivate.type && publicKey.blob === fromPrivate.blob;
}
