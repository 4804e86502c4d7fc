/**
 * AEAD_AES_SIV_CMAC_256 (RFC 5297 §6, the AEAD every NTS implementation has) and AES-CMAC (RFC 4493, the MAC
 * of RFC 8573 for NTP symmetric keys).
 *
 * What exists for Node: its crypto module has no SIV mode (`crypto.getCiphers()` lists no `aes-*-siv`;
 * OpenSSL 3 has it, but Node does not expose it) and no CMAC; WebCrypto has neither. `@noble/ciphers` (audited,
 * dependency-free) has `aessiv` and `cmac`, and they are RFC 5297/4493 exactly — the tests check them against
 * the RFC 5297 appendix A vectors (with several associated-data strings and a nonce), RFC 4493's CMAC vectors
 * and chrony's own SIV test vectors. But `aessiv` expands both keys and allocates its whole pipeline on every
 * call: about 50 µs per NTS authenticator, where an NTS server needs four AEAD operations per request. Built on
 * `node:crypto` instead (CBC-MAC and an ECB keystream on OpenSSL's AES), each operation still crosses into
 * OpenSSL 3 a dozen times, and each crossing (EVP fetch, buffer allocation) costs more than the AES itself for
 * NTS's short messages: measured, the server path was slower still.
 *
 * So this module composes the RFC 5297 construction over noble's AES block function (`unsafe.expandKeyLE`,
 * `unsafe.encrypt`: the same T-table AES its `aessiv` uses), on 32-bit words, keeping each key's schedule and
 * CMAC subkeys in a {@link SivKey}:
 * - CMAC (RFC 4493 §2.4): CBC-MAC with the last block masked by the subkey K1 (whole) or K2 (padded);
 * - S2V (RFC 5297 §2.4): CMACs of the associated data and the nonce folded with `dbl`, then of the plaintext;
 * - CTR (§2.6): the keystream from the counter Q (the synthetic IV with bits 31 and 63 cleared), +1 per block.
 * noble's own `aessiv` and `cmac` stay the reference in the tests (the vectors run through both, and a
 * differential test compares them over random keys, nonces, associated data and plaintexts).
 *
 * The AEAD interface of RFC 5297 §6: `S2V(K1, AD, N, P)`; the output is the 16-byte synthetic IV followed by
 * the ciphertext, as NTS puts it on the wire.
 *
 * @module
 */
import { randomFillSync, timingSafeEqual } from 'node:crypto';
import { unsafe } from '@noble/ciphers/aes.js';
import { ValidationError } from '../core/errors.js';

/** Key length of AEAD_AES_SIV_CMAC_256: two AES-128 keys (S2V, then CTR). */
export const AES_SIV_CMAC_256_KEY_LENGTH = 32;
/** Length of the synthetic IV that starts every ciphertext. */
export const AES_SIV_TAG_LENGTH = 16;

const { expandKeyLE, encrypt } = unsafe;

/** RFC 5297 §2.3: multiplication by x in GF(2^128), in place into `out`. */
function dbl(b: Uint8Array, out: Uint8Array): Uint8Array {
  let carry = 0;
  for (let i = 15; i >= 0; i--) {
    const v = b[i] as number;
    out[i] = ((v << 1) | carry) & 0xff;
    carry = v >>> 7;
  }
  if (carry) out[15] = (out[15] as number) ^ 0x87;
  return out;
}

function xorInto(target: Uint8Array, at: number, mask: Uint8Array): void {
  for (let i = 0; i < 16; i++) target[at + i] = (target[at + i] as number) ^ (mask[i] as number);
}

/** Four bytes as noble's state word (little-endian, whatever the platform). */
function word(b: Uint8Array, i: number): number {
  return (
    (b[i] as number) |
    ((b[i + 1] as number) << 8) |
    ((b[i + 2] as number) << 16) |
    ((b[i + 3] as number) << 24)
  );
}

function putWord(b: Uint8Array, i: number, w: number): void {
  b[i] = w & 0xff;
  b[i + 1] = (w >>> 8) & 0xff;
  b[i + 2] = (w >>> 16) & 0xff;
  b[i + 3] = (w >>> 24) & 0xff;
}

/** AES-CMAC with one key: its schedule and subkeys made once. */
class Cmac {
  readonly #xk: Uint32Array;
  readonly #k1: Uint8Array;
  readonly #k2: Uint8Array;
  /** The last block, masked: reused between calls. */
  readonly #last = new Uint8Array(16);

  constructor(key: Uint8Array) {
    this.#xk = expandKeyLE(key);
    const l = this.#block(new Uint8Array(16));
    this.#k1 = dbl(l, new Uint8Array(16));
    this.#k2 = dbl(this.#k1, new Uint8Array(16));
  }

  /** AES of one 16-byte block, into a new array. */
  #block(b: Uint8Array): Uint8Array {
    const o = encrypt(this.#xk, word(b, 0), word(b, 4), word(b, 8), word(b, 12));
    const out = new Uint8Array(16);
    putWord(out, 0, o.s0);
    putWord(out, 4, o.s1);
    putWord(out, 8, o.s2);
    putWord(out, 12, o.s3);
    return out;
  }

  /** CMAC of `m` (RFC 4493 §2.4): a fresh 16-byte array. */
  mac(m: Uint8Array): Uint8Array {
    const xk = this.#xk;
    const n = m.length === 0 ? 1 : Math.ceil(m.length / 16);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let b = 0, i = 0; b < n - 1; b++, i += 16) {
      const o = encrypt(xk, s0 ^ word(m, i), s1 ^ word(m, i + 4), s2 ^ word(m, i + 8), s3 ^ word(m, i + 12));
      s0 = o.s0;
      s1 = o.s1;
      s2 = o.s2;
      s3 = o.s3;
    }
    const last = this.#last;
    const from = (n - 1) * 16;
    const rest = m.length - from;
    last.fill(0);
    for (let i = 0; i < rest; i++) last[i] = m[from + i] as number;
    if (m.length > 0 && rest === 16) xorInto(last, 0, this.#k1);
    else {
      last[rest] = 0x80;
      xorInto(last, 0, this.#k2);
    }
    const o = encrypt(xk, s0 ^ word(last, 0), s1 ^ word(last, 4), s2 ^ word(last, 8), s3 ^ word(last, 12));
    const out = new Uint8Array(16);
    putWord(out, 0, o.s0);
    putWord(out, 4, o.s1);
    putWord(out, 8, o.s2);
    putWord(out, 12, o.s3);
    return out;
  }
}

/**
 * An AEAD_AES_SIV_CMAC_256 key, ready for repeated use (its AES key schedules are made once).
 *
 * @example
 * ```ts
 * const key = new SivKey(new Uint8Array(32));
 * const sealed = key.seal(nonce, associatedData, plaintext);
 * key.open(nonce, associatedData, sealed); // plaintext, or undefined
 * ```
 */
export class SivKey {
  readonly #cmac: Cmac;
  /** The CTR key's schedule, made when first needed (a key that only verifies empty plaintexts never needs it). */
  readonly #k2: Uint8Array;
  #xk2: Uint32Array | undefined;
  /** S2V's first value, CMAC(K1, <zero>): the same for every message under this key. */
  readonly #d0: Uint8Array;

  /**
   * @param key - 32 bytes: K1 (S2V) then K2 (CTR)
   * @throws {ValidationError} for another length
   */
  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== AES_SIV_CMAC_256_KEY_LENGTH) {
      throw new ValidationError(
        `Invalid AES-SIV-CMAC-256 key: ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key}, expected 32 bytes`,
      );
    }
    this.#cmac = new Cmac(key.subarray(0, 16));
    this.#k2 = new Uint8Array(key.subarray(16));
    this.#d0 = this.#cmac.mac(new Uint8Array(16));
  }

  /** S2V(K1, S1, ..., Sn-1, P) (RFC 5297 §2.4), with at least one string before P. */
  #s2v(strings: readonly Uint8Array[], p: Uint8Array): Uint8Array {
    const d = this.#d0.slice();
    for (const s of strings) {
      dbl(d, d);
      xorInto(d, 0, this.#cmac.mac(s));
    }
    let t: Uint8Array;
    if (p.length >= 16) {
      t = new Uint8Array(p); // a copy, also of a Buffer (whose slice() is a view)
      xorInto(t, p.length - 16, d);
    } else {
      t = dbl(d, new Uint8Array(16));
      for (let i = 0; i < p.length; i++) t[i] = (t[i] as number) ^ (p[i] as number);
      t[p.length] = (t[p.length] as number) ^ 0x80;
    }
    return this.#cmac.mac(t);
  }

  /** XOR the CTR keystream from counter `v` (bits 31 and 63 cleared) into `data`, writing to `out` at 16. */
  #ctr(v: Uint8Array, data: Uint8Array, out: Uint8Array): void {
    if (data.length === 0) return;
    this.#xk2 ??= expandKeyLE(this.#k2);
    const xk = this.#xk2;
    const q = new Uint8Array(v); // a copy, also of a Buffer (whose slice() is a view)
    q[8] = (q[8] as number) & 0x7f;
    q[12] = (q[12] as number) & 0x7f;
    const stream = new Uint8Array(16);
    for (let at = 0; at < data.length; at += 16) {
      const o = encrypt(xk, word(q, 0), word(q, 4), word(q, 8), word(q, 12));
      putWord(stream, 0, o.s0);
      putWord(stream, 4, o.s1);
      putWord(stream, 8, o.s2);
      putWord(stream, 12, o.s3);
      const n = Math.min(16, data.length - at);
      for (let i = 0; i < n; i++) out[16 + at + i] = (data[at + i] as number) ^ (stream[i] as number);
      for (let i = 15; i >= 0; i--) {
        q[i] = ((q[i] as number) + 1) & 0xff;
        if (q[i] !== 0) break;
      }
    }
  }

  /**
   * Encrypt and authenticate (the AEAD interface: S2V over the associated data, then the nonce).
   *
   * @param nonce - the nonce (NTS uses 16 bytes)
   * @param associatedData - authenticated, not encrypted
   * @param plaintext - encrypted and authenticated
   * @returns the synthetic IV followed by the ciphertext
   */
  seal(nonce: Uint8Array, associatedData: Uint8Array, plaintext: Uint8Array): Uint8Array {
    return this.sealStrings([associatedData, nonce], plaintext);
  }

  /**
   * Verify and decrypt (the AEAD interface).
   *
   * @param nonce - the nonce the sender used
   * @param associatedData - what the sender authenticated
   * @param sealed - the synthetic IV followed by the ciphertext
   * @returns the plaintext, or `undefined` when it does not verify
   */
  open(nonce: Uint8Array, associatedData: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
    return this.openStrings([associatedData, nonce], sealed);
  }

  /**
   * RFC 5297's general form: any number (1–126) of associated-data strings, the nonce (if any) being the last.
   *
   * @param strings - S1 ... Sn-1
   * @param plaintext - Sn, encrypted
   * @returns the synthetic IV followed by the ciphertext
   */
  sealStrings(strings: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array {
    checkStrings(strings);
    const v = this.#s2v(strings, plaintext);
    const out = new Uint8Array(16 + plaintext.length);
    out.set(v);
    this.#ctr(v, plaintext, out);
    return out;
  }

  /**
   * Verify and decrypt, RFC 5297's general form.
   *
   * @param strings - S1 ... Sn-1, as sealed
   * @param sealed - the synthetic IV followed by the ciphertext
   * @returns the plaintext, or `undefined` when it does not verify
   */
  openStrings(strings: readonly Uint8Array[], sealed: Uint8Array): Uint8Array | undefined {
    checkStrings(strings);
    if (sealed.length < AES_SIV_TAG_LENGTH) return undefined;
    const v = sealed.subarray(0, 16);
    const buf = new Uint8Array(sealed.length);
    this.#ctr(v, sealed.subarray(16), buf);
    const p = buf.subarray(16);
    const t = this.#s2v(strings, p);
    return timingSafeEqual(t, v) ? p : undefined;
  }
}

function checkStrings(strings: readonly Uint8Array[]): void {
  if (strings.length < 1 || strings.length > 126) {
    throw new ValidationError(`AES-SIV takes 1 to 126 associated-data strings, got ${strings.length}`);
  }
}

function sivKey(key: Uint8Array | SivKey): SivKey {
  return key instanceof SivKey ? key : new SivKey(key);
}

/**
 * Encrypt and authenticate (RFC 5297 §6 AEAD interface).
 *
 * @param key - 32 bytes, or a prepared {@link SivKey}
 * @param nonce - the nonce (any length; NTS uses 16)
 * @param associatedData - authenticated, not encrypted
 * @param plaintext - encrypted and authenticated
 * @returns the 16-byte synthetic IV followed by the ciphertext
 * @throws {ValidationError} when the key is not 32 bytes
 * @example
 * ```ts
 * const key = new Uint8Array(32), nonce = new Uint8Array(16);
 * const sealed = aesSivSeal(key, nonce, new Uint8Array(48), new Uint8Array(0));
 * sealed.length; // 16
 * ```
 */
export function aesSivSeal(
  key: Uint8Array | SivKey,
  nonce: Uint8Array,
  associatedData: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return sivKey(key).seal(nonce, associatedData, plaintext);
}

/**
 * Verify and decrypt (RFC 5297 §6 AEAD interface).
 *
 * @param key - 32 bytes, or a prepared {@link SivKey}
 * @param nonce - the nonce the sender used
 * @param associatedData - what the sender authenticated
 * @param sealed - the synthetic IV followed by the ciphertext
 * @returns the plaintext, or `undefined` when authentication fails (wrong key, altered data)
 * @throws {ValidationError} when the key is not 32 bytes
 * @example
 * ```ts
 * const key = new Uint8Array(32), nonce = new Uint8Array(16), ad = new Uint8Array(4);
 * aesSivOpen(key, nonce, ad, aesSivSeal(key, nonce, ad, new Uint8Array([1, 2]))); // Uint8Array [1, 2]
 * aesSivOpen(key, nonce, new Uint8Array(5), aesSivSeal(key, nonce, ad, new Uint8Array([1, 2]))); // undefined
 * ```
 */
export function aesSivOpen(
  key: Uint8Array | SivKey,
  nonce: Uint8Array,
  associatedData: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  return sivKey(key).open(nonce, associatedData, sealed);
}

/**
 * AES-CMAC (RFC 4493; AES-256 for a 32-byte key, as RFC 8573's AES256 key type).
 *
 * @param key - 16 bytes (AES-128) or 32 bytes (AES-256)
 * @param message - the data
 * @returns the 16-byte MAC
 * @throws {ValidationError} for another key length
 * @example
 * ```ts
 * aesCmac(new Uint8Array(16), new Uint8Array(0)).length; // 16
 * ```
 */
export function aesCmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || (key.length !== 16 && key.length !== 32)) {
    throw new ValidationError('Invalid AES-CMAC key: expected 16 or 32 bytes');
  }
  return new Cmac(key).mac(message);
}

const POOL_SIZE = 4096;
let pool = new Uint8Array(0);
let poolAt = 0;

/**
 * Random bytes for nonces and identifiers, from the system CSPRNG in 4 KiB batches (as Node's `randomUUID`
 * does): one call into OpenSSL per 256 nonces instead of one per nonce.
 *
 * @param n - how many bytes (at most 4096)
 * @returns a new array of `n` random bytes
 * @example
 * ```ts
 * const nonce = randomPooled(16);
 * ```
 */
export function randomPooled(n: number): Uint8Array {
  if (poolAt + n > pool.length) {
    pool = new Uint8Array(POOL_SIZE);
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = pool.slice(poolAt, poolAt + n);
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
}
