/**
 * Symmetric-key authentication of NTP packets: the MAC trailer of RFC 5905 §7.3 (a 32-bit key ID and a
 * digest of key ‖ packet) and AES-CMAC of RFC 8573, with keys written the way chrony's keyfile writes them.
 *
 * - Digest types MD5, SHA1, SHA256, SHA384, SHA512: `digest = H(key ‖ packet)`. In an NTPv4 packet a digest
 *   longer than 20 bytes is truncated to 20, because RFC 7822 only lets a MAC of at most 24 bytes be told apart
 *   from an extension field; in NTPv3 packets it is sent whole. This is what chrony does (ntp_auth.c), and it
 *   checks the same way: the received digest must be exactly `min(digest length, 20 or 64)` bytes.
 * - CMAC types AES128 and AES256 (RFC 8573): `AES-CMAC(key, packet)`, 16 bytes, keys of exactly 16 or 32 bytes.
 *
 * Keyfile lines (chrony): `ID [TYPE] KEY`, where TYPE defaults to MD5 and KEY is `HEX:…`, `ASCII:…` or bare
 * ASCII; blank lines and lines starting with `#`, `!`, `;` or `%` are ignored.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeNtpExtensions, NTP_MAX_V4_MAC_LENGTH, NTP_MIN_MAC_LENGTH } from '../codec/ntp-extensions.js';
import { BadPacketError, toSoketError, ValidationError } from '../core/errors.js';
import { readInputFile } from '../core/input-file.js';
import { aesCmac } from './aes-siv.js';
import type { RequestAuthenticator } from './request-auth.js';

/** The key types soket knows (chrony's names). */
export const SYMMETRIC_KEY_TYPES = ['MD5', 'SHA1', 'SHA256', 'SHA384', 'SHA512', 'AES128', 'AES256'] as const;

/** A key type. */
export type SymmetricKeyType = (typeof SYMMETRIC_KEY_TYPES)[number];

/** One symmetric key. */
export interface SymmetricKey {
  /** Key ID, 1–4294967295 (0 is reserved for the crypto-NAK). */
  id: number;
  /** Key type: a digest (MD5, SHA1, SHA256, ...) or a CMAC cipher (AES128, AES256). */
  type: SymmetricKeyType;
  /** The key's bytes. */
  key: Uint8Array;
}

/** Keys by ID. */
export type SymmetricKeys = ReadonlyMap<number, SymmetricKey>;

const HASH: Record<string, string> = {
  MD5: 'md5',
  SHA1: 'sha1',
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
};
const CMAC_LENGTH: Record<string, number> = { AES128: 16, AES256: 32 };
/** Shortest key chrony calls secure (80 bits); shorter keys are refused here. */
const MIN_KEY_LENGTH = 10;

function checkType(type: string, what: string): SymmetricKeyType {
  const upper = type.toUpperCase();
  if ((SYMMETRIC_KEY_TYPES as readonly string[]).includes(upper)) return upper as SymmetricKeyType;
  throw new ValidationError(
    `Invalid key type '${type}' in ${what}: expected one of ${SYMMETRIC_KEY_TYPES.join(', ')}`,
  );
}

function checkId(text: string, what: string): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) < 1 || Number(text) > 0xffff_ffff) {
    throw new ValidationError(
      `Invalid key ID '${text}' in ${what}: expected an integer from 1 to 4294967295`,
    );
  }
  return Number(text);
}

/** chrony's key encodings: `HEX:…`, `ASCII:…`, or bare ASCII. */
function decodeKeyText(text: string, what: string, bareIsHex: boolean): Uint8Array {
  let bytes: Uint8Array;
  if (text.startsWith('HEX:') || bareIsHex) {
    const hex = text.startsWith('HEX:') ? text.slice(4) : text;
    if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
      throw new ValidationError(`Invalid key in ${what}: 'HEX:' needs an even number of hexadecimal digits`);
    }
    bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  } else {
    const ascii = text.startsWith('ASCII:') ? text.slice(6) : text;
    if (!/^[\x21-\x7e]+$/.test(ascii)) {
      throw new ValidationError(`Invalid key in ${what}: expected printable ASCII without spaces`);
    }
    bytes = new Uint8Array(Buffer.from(ascii, 'ascii'));
  }
  return bytes;
}

function makeKey(id: number, type: SymmetricKeyType, key: Uint8Array, what: string): SymmetricKey {
  const need = CMAC_LENGTH[type];
  if (need !== undefined && key.length !== need) {
    throw new ValidationError(
      `Invalid ${type} key ${id} in ${what}: ${key.length} bytes, expected ${need} (${need * 8} bits)`,
    );
  }
  if (key.length < MIN_KEY_LENGTH) {
    throw new ValidationError(
      `Key ${id} in ${what} is ${key.length} bytes: at least ${MIN_KEY_LENGTH} (80 bits) are needed`,
    );
  }
  return { id, type, key };
}

/**
 * A key from the command line: `ID:TYPE:HEX` (the key in hexadecimal), or `ID:TYPE:HEX:…` / `ID:TYPE:ASCII:…`
 * as in a keyfile.
 *
 * @param spec - e.g. `1:SHA1:b2159c05d6a219673a3b7e896b6de07f6a440995`
 * @returns the key
 * @throws {ValidationError} naming `--key` for a bad ID, type, encoding or length
 * @example
 * ```ts
 * parseSymmetricKey('4:AES128:2da837c4b6573748ca692b8c828e4891').type; // 'AES128'
 * ```
 */
export function parseSymmetricKey(spec: string, what = '--key'): SymmetricKey {
  if (typeof spec !== 'string') throw new ValidationError(`Invalid ${what}: expected ID:TYPE:HEX`);
  const m = /^([^:]*):([^:]*):(.*)$/.exec(spec);
  if (!m)
    throw new ValidationError(`Invalid ${what} '${redact(spec)}': expected ID:TYPE:HEX, e.g. 1:SHA1:0123…`);
  const id = checkId(m[1] as string, what);
  const type = checkType(m[2] as string, what);
  const text = m[3] as string;
  const bareIsHex = !text.startsWith('ASCII:');
  return makeKey(id, type, decodeKeyText(text, what, bareIsHex), what);
}

/** A key never goes into a message whole. */
function redact(spec: string): string {
  const parts = spec.split(':');
  return parts.length >= 3 ? `${parts[0]}:${parts[1]}:…` : '…';
}

/**
 * Parse a chrony keyfile.
 *
 * @param text - the file's contents
 * @param source - the file's name, for messages. @default 'keyfile'
 * @returns the keys by ID (a repeated ID is an error)
 * @throws {ValidationError} naming the file and line of the first bad line
 * @example
 * ```ts
 * const keys = parseKeyFile('# test keys\n1 SHA1 HEX:B2159C05D6A219673A3B7E896B6DE07F6A440995\n2 MD5 ASCII:AVeryLongPassword\n');
 * keys.get(2)?.type; // 'MD5'
 * ```
 */
export function parseKeyFile(text: string, source = 'keyfile'): Map<number, SymmetricKey> {
  if (typeof text !== 'string') {
    throw new ValidationError(`Invalid key file text '${String(text)}': expected a string`);
  }
  if (typeof source !== 'string') source = 'keyfile';
  const keys = new Map<number, SymmetricKey>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || '!;#%'.includes(line[0] as string)) return;
    const where = `${source} line ${index + 1}`;
    const words = line.split(/\s+/);
    if (words.length < 2 || words.length > 3) {
      throw new ValidationError(`Invalid ${where}: expected 'ID [TYPE] KEY'`);
    }
    const id = checkId(words[0] as string, where);
    const type = words.length === 3 ? checkType(words[1] as string, where) : 'MD5';
    const key = makeKey(id, type, decodeKeyText(words[words.length - 1] as string, where, false), where);
    if (keys.has(id)) throw new ValidationError(`Duplicate key ID ${id} in ${where}`);
    keys.set(id, key);
  });
  return keys;
}

/** The largest keyfile read: chrony's hold a few keys per line, a few hundred lines at most. */
const KEYFILE_MAX_BYTES = 1024 * 1024;

/**
 * Read and parse a chrony keyfile.
 *
 * @param path - the file
 * @returns the keys by ID
 * @throws {ValidationError} for a bad line
 * @throws {NetworkError} (with the OS code, e.g. `ENOENT`) when the file cannot be read
 * @example
 * ```ts
 * const keys = await readKeyFile('/etc/chrony/chrony.keys');
 * ```
 */
export async function readKeyFile(path: string): Promise<Map<number, SymmetricKey>> {
  if (typeof path !== 'string' || path === '') {
    throw new ValidationError(`Invalid keyfile path '${String(path)}': expected a file path`);
  }
  let text: string;
  try {
    // capped and stream-read: a device or a FIFO named as the keyfile cannot grow memory or hang exit
    text = (await readInputFile(path, { maxBytes: KEYFILE_MAX_BYTES, what: 'keyfile' })).toString('utf8');
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw toSoketError(err, `Cannot read keyfile ${path}`);
  }
  return parseKeyFile(text, path);
}

/** Longest digest for an NTP version: 20 bytes in NTPv4 (RFC 7822), 64 before. */
function maxDigest(version: number): number {
  return version === 4 ? NTP_MAX_V4_MAC_LENGTH - 4 : 64;
}

/**
 * The MAC digest of `data` (the packet up to the MAC) with `key`, truncated for the NTP version as chrony
 * does.
 *
 * @param key - the key
 * @param data - the packet bytes before the MAC
 * @param version - the packet's NTP version (4: digests longer than 20 bytes are truncated to 20)
 * @returns the digest
 * @example
 * ```ts
 * const key = parseSymmetricKey('1:SHA256:000102030405060708090a0b0c0d0e0f');
 * symmetricDigest(key, new Uint8Array(48), 4).length; // 20
 * symmetricDigest(key, new Uint8Array(48), 3).length; // 32
 * ```
 */
export function symmetricDigest(key: SymmetricKey, data: Uint8Array, version: number): Uint8Array {
  if (CMAC_LENGTH[key.type] !== undefined) return aesCmac(key.key, data);
  const hash = HASH[key.type];
  if (hash === undefined) throw new ValidationError(`Unsupported key type '${key.type}'`);
  const digest = createHash(hash).update(key.key).update(data).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, Math.min(digest.length, maxDigest(version)));
}

/**
 * Append a MAC to a packet.
 *
 * @param packet - the header and any extension fields
 * @param key - the key to sign with
 * @returns a new packet with the key ID and digest after it
 * @example
 * ```ts
 * const key = parseSymmetricKey('1:SHA1:b2159c05d6a219673a3b7e896b6de07f6a440995');
 * appendMac(encodeNtpPacket({ version: 4, mode: 3 }), key).length; // 72
 * ```
 */
export function appendMac(packet: Uint8Array, key: SymmetricKey): Uint8Array {
  const version = ((packet[0] as number) >>> 3) & 7;
  const digest = symmetricDigest(key, packet, version);
  const out = new Uint8Array(packet.length + 4 + digest.length);
  out.set(packet);
  new DataView(out.buffer).setUint32(packet.length, key.id);
  out.set(digest, packet.length + 4);
  return out;
}

/** The outcome of {@link verifyMac}. */
export type MacCheck =
  | { ok: true; key: SymmetricKey; macOffset: number }
  | {
      ok: false;
      reason: 'missing' | 'crypto-nak' | 'unknown-key' | 'wrong-key' | 'bad-mac' | 'malformed';
      keyId?: number;
    };

/**
 * Check a packet's MAC.
 *
 * @param packet - the whole datagram
 * @param keys - the keys to accept: one key (the reply must use exactly it), or a map of keys by ID
 * @returns `{ ok: true, key }`, or why not: no MAC (`missing`), a crypto-NAK, a key ID not in `keys`
 *   (`unknown-key`), another key than the one asked (`wrong-key`), a digest that does not match (`bad-mac`),
 *   or a tail that does not parse (`malformed`)
 * @example
 * ```ts
 * const key = parseSymmetricKey('1:SHA1:b2159c05d6a219673a3b7e896b6de07f6a440995');
 * verifyMac(appendMac(encodeNtpPacket({ version: 4, mode: 4 }), key), key).ok; // true
 * ```
 */
export function verifyMac(packet: Uint8Array, keys: SymmetricKey | SymmetricKeys): MacCheck {
  let mac: { keyId: number; digest: Uint8Array; offset: number } | undefined;
  try {
    mac = decodeNtpExtensions(packet).mac;
  } catch (err) {
    if (err instanceof BadPacketError) return { ok: false, reason: 'malformed' };
    throw err;
  }
  if (mac === undefined) return { ok: false, reason: 'missing' };
  if (mac.keyId === 0 && mac.digest.length === 0) return { ok: false, reason: 'crypto-nak' };
  const keyId = mac.keyId;
  if (mac.digest.length + 4 < NTP_MIN_MAC_LENGTH) return { ok: false, reason: 'malformed', keyId };
  let key: SymmetricKey | undefined;
  if (isKey(keys)) {
    if (keys.id !== keyId) return { ok: false, reason: 'wrong-key', keyId };
    key = keys;
  } else {
    key = keys.get(keyId);
    if (key === undefined) return { ok: false, reason: 'unknown-key', keyId };
  }
  const version = ((packet[0] as number) >>> 3) & 7;
  // chrony's rule: in NTPv4 a MAC of at most 24 bytes carries a digest truncated to 20 bytes
  const limit = version === 4 && mac.digest.length + 4 <= NTP_MAX_V4_MAC_LENGTH ? 20 : 64;
  const full = symmetricDigestFull(key, packet.subarray(0, mac.offset));
  const expected = full.subarray(0, Math.min(full.length, limit));
  if (expected.length !== mac.digest.length || !timingSafeEqual(expected, mac.digest)) {
    return { ok: false, reason: 'bad-mac', keyId };
  }
  return { ok: true, key, macOffset: mac.offset };
}

function symmetricDigestFull(key: SymmetricKey, data: Uint8Array): Uint8Array {
  return symmetricDigest(key, data, 3);
}

function isKey(k: SymmetricKey | SymmetricKeys): k is SymmetricKey {
  return (k as SymmetricKey).key instanceof Uint8Array && typeof (k as SymmetricKey).id === 'number';
}

/** Text for a failed {@link MacCheck}, for messages. */
export function macCheckText(check: Exclude<MacCheck, { ok: true }>): string {
  switch (check.reason) {
    case 'missing':
      return 'no MAC';
    case 'crypto-nak':
      return 'a crypto-NAK (the server does not accept the key)';
    case 'unknown-key':
      return `MAC with unknown key ${check.keyId}`;
    case 'wrong-key':
      return `MAC with key ${check.keyId}, not the key asked`;
    case 'bad-mac':
      return `MAC with key ${check.keyId} does not verify`;
    default:
      return 'a malformed MAC';
  }
}

/**
 * Seal requests with a symmetric key and accept only replies carrying a valid MAC with the same key.
 *
 * @param key - the key (see {@link parseSymmetricKey}, {@link readKeyFile})
 * @returns the authenticator the SNTP client uses (`sntpQuery(server, { key })` builds it for you)
 * @example
 * ```ts
 * const auth = symmetricAuthenticator(parseSymmetricKey('1:SHA1:b2159c05d6a219673a3b7e896b6de07f6a440995'));
 * const { packet, verify } = auth.seal(encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: 1n }));
 * ```
 */
export function symmetricAuthenticator(key: SymmetricKey): RequestAuthenticator {
  if (!isKey(key)) throw new ValidationError('Invalid key: expected a symmetric key (see parseSymmetricKey)');
  return {
    mode: 'symmetric',
    keyId: key.id,
    seal(header) {
      return {
        packet: appendMac(header, key),
        verify(reply) {
          const check = verifyMac(reply, key);
          return check.ok ? { ok: true } : { ok: false, reason: macCheckText(check) };
        },
      };
    },
  };
}
