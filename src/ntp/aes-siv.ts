/**
 * AEAD_AES_SIV_CMAC_256 (RFC 5297 §6, the AEAD every NTS implementation has) and AES-CMAC (RFC 4493, the MAC
 * of RFC 8573 for NTP symmetric keys).
 *
 * What exists for Node: its crypto module has no SIV mode (`crypto.getCiphers()` lists no `aes-*-siv`;
 * OpenSSL 3 has it, but Node does not expose it) and no CMAC; WebCrypto has neither. `@noble/ciphers` (audited,
 * dependency-free) has `aessiv` and `cmac`, and they are RFC 5297/4493 exactly — the tests check them against
 * the RFC 5297 appendix A vectors (with several associated-data strings and a nonce), RFC 4493's CMAC vectors
 * and chrony's own SIV test vectors. But noble's AES runs in JavaScript and expands keys on every call: about
 * 50 µs per NTS authenticator, where an NTS server needs four AEAD operations per request.
 *
 * So this module runs the same construction on OpenSSL's AES (AES-NI) through `node:crypto`, and noble
 * stays the reference it is tested against (the same vectors, and a differential test over random keys,
 * nonces, associated data and plaintexts):
 * - CMAC (RFC 4493) is CBC-MAC over the message with the last block masked by the subkey K1 or K2: one
 *   `aes-*-cbc` cipher object per key, fed whole messages; each message restarts the chain at a zero IV by
 *   XORing the previous output block into its first block (CBC then computes E(M1 ⊕ C ⊕ C) = E(M1)).
 * - S2V (RFC 5297 §2.4) combines the CMACs of the associated data, the nonce and the plaintext with `dbl`.
 * - CTR (§2.6) is the keystream of `aes-*-ecb` over the counter blocks Q, Q+1, ... (Q = the synthetic IV with
 *   bits 31 and 63 cleared), XORed into the data.
 *
 * A {@link SivKey} keeps its cipher objects, so repeated use of one key (an NTS server's cookie key) costs
 * no key setup. The AEAD interface of RFC 5297 §6: `S2V(K1, AD, N, P)`, the output being the 16-byte synthetic
 * IV followed by the ciphertext, as NTS puts it on the wire.
 *
 * @module
 */
import { type Cipher, createCipheriv, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../core/errors.js';

/** Key length of AEAD_AES_SIV_CMAC_256: two AES-128 keys (S2V, then CTR). */
export const AES_SIV_CMAC_256_KEY_LENGTH = 32;
/** Length of the synthetic IV that starts every ciphertext. */
export const AES_SIV_TAG_LENGTH = 16;

const ZERO_IV = Buffer.alloc(16);

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

/** AES-CMAC with one key, on a reusable CBC cipher object. */
class Cmac {
  readonly #cbc: Cipher;
  /** The last ciphertext block the CBC object produced: its chaining state. */
  #chain: Uint8Array = new Uint8Array(16);
  readonly #k1: Uint8Array;
  readonly #k2: Uint8Array;

  constructor(key: Uint8Array) {
    this.#cbc = createCipheriv(key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, ZERO_IV);
    this.#cbc.setAutoPadding(false);
    const l = this.#cbcMac(new Uint8Array(16));
    this.#k1 = dbl(l, new Uint8Array(16));
    this.#k2 = dbl(this.#k1, new Uint8Array(16));
  }

  /** CBC-MAC with a zero IV over whole blocks (`blocks` is modified). */
  #cbcMac(blocks: Uint8Array): Uint8Array {
    xorInto(blocks, 0, this.#chain);
    const out = this.#cbc.update(blocks);
    this.#chain = new Uint8Array(out.buffer, out.byteOffset + out.length - 16, 16);
    return this.#chain;
  }

  /** CMAC of `m` (RFC 4493 §2.4); the result is a fresh 16-byte array. */
  mac(m: Uint8Array): Uint8Array {
    const n = m.length === 0 ? 1 : Math.ceil(m.length / 16);
    const buf = new Uint8Array(n * 16);
    buf.set(m);
    const last = (n - 1) * 16;
    if (m.length > 0 && m.length % 16 === 0) xorInto(buf, last, this.#k1);
    else {
      buf[m.length] = 0x80;
      xorInto(buf, last, this.#k2);
    }
    return this.#cbcMac(buf).slice();
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
  /** The CTR key, and its ECB cipher once needed (a key that only verifies empty plaintexts never needs it). */
  readonly #k2: Buffer;
  #ecb: Cipher | undefined;
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
    this.#k2 = Buffer.from(key.subarray(16));
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
    const blocks = Math.ceil(data.length / 16);
    const counters = new Uint8Array(blocks * 16);
    const q = new Uint8Array(v); // a copy, also of a Buffer
    q[8] = (q[8] as number) & 0x7f;
    q[12] = (q[12] as number) & 0x7f;
    for (let b = 0; b < blocks; b++) {
      counters.set(q, b * 16);
      for (let i = 15; i >= 0; i--) {
        q[i] = ((q[i] as number) + 1) & 0xff;
        if (q[i] !== 0) break;
      }
    }
    if (!this.#ecb) {
      this.#ecb = createCipheriv('aes-128-ecb', this.#k2, null);
      this.#ecb.setAutoPadding(false);
    }
    const stream = this.#ecb.update(counters);
    for (let i = 0; i < data.length; i++) out[16 + i] = (data[i] as number) ^ (stream[i] as number);
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
