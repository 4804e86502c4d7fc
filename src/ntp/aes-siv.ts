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
 * So this module composes the RFC 5297 construction over its own AES block function (FIPS-197 with 32-bit
 * T-tables, the technique noble's AES uses too, on big-endian words with the result in a shared array instead
 * of a new object per block: about twice as fast as calling noble's block function), keeping each key's
 * schedule and CMAC subkeys in a {@link SivKey}, and working on words in place (no array per block or per
 * CMAC):
 * - CMAC (RFC 4493 §2.4): CBC-MAC with the last block masked by the subkey K1 (whole) or K2 (padded);
 * - S2V (RFC 5297 §2.4): CMACs of the associated data and the nonce folded with `dbl`, then of the plaintext;
 * - CTR (§2.6): the keystream from the counter Q (the synthetic IV with bits 31 and 63 cleared), +1 per block.
 * noble's own `aessiv` and `cmac` stay the reference in the tests (the vectors run through both, and a
 * differential test compares them over random keys, nonces, associated data and plaintexts). Like any
 * table-based AES in software, lookups depend on the data (cache timing); noble's is built the same way.
 *
 * The AEAD interface of RFC 5297 §6: `S2V(K1, AD, N, P)`; the output is the 16-byte synthetic IV followed by
 * the ciphertext, as NTS puts it on the wire.
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';
import { ValidationError } from '../core/errors.js';

/** Key length of AEAD_AES_SIV_CMAC_256: two AES-128 keys (S2V, then CTR). */
export const AES_SIV_CMAC_256_KEY_LENGTH = 32;
/** Length of the synthetic IV that starts every ciphertext. */
export const AES_SIV_TAG_LENGTH = 16;

// ---- AES (FIPS-197): the S-box and the four round tables, built once

const SBOX = new Uint8Array(256);
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);

/** Multiplication by x in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
function xtime(b: number): number {
  return ((b << 1) ^ (b & 0x80 ? 0x1b : 0)) & 0xff;
}

{
  // Walk the multiplicative group with generator 3 (p) and its inverse (q): S(p) = affine(p^-1).
  let p = 1;
  let q = 1;
  do {
    p = p ^ xtime(p);
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    const r = (x: number, n: number) => ((x << n) | (x >>> (8 - n))) & 0xff;
    SBOX[p] = (q ^ r(q, 1) ^ r(q, 2) ^ r(q, 3) ^ r(q, 4) ^ 0x63) & 0xff;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let i = 0; i < 256; i++) {
    const s = SBOX[i] as number;
    const w = (xtime(s) << 24) | (s << 16) | (s << 8) | (xtime(s) ^ s); // MixColumns (2, 1, 1, 3)
    T0[i] = w;
    T1[i] = (w >>> 8) | (w << 24);
    T2[i] = (w >>> 16) | (w << 16);
    T3[i] = (w >>> 24) | (w << 8);
  }
}

/** Four bytes as a big-endian word. */
function be32(b: Uint8Array, i: number): number {
  return (
    ((b[i] as number) << 24) |
    ((b[i + 1] as number) << 16) |
    ((b[i + 2] as number) << 8) |
    (b[i + 3] as number)
  );
}

function putBe32(b: Uint8Array, i: number, w: number): void {
  b[i] = w >>> 24;
  b[i + 1] = (w >>> 16) & 0xff;
  b[i + 2] = (w >>> 8) & 0xff;
  b[i + 3] = w & 0xff;
}

function subWord(w: number): number {
  return (
    ((SBOX[w >>> 24] as number) << 24) |
    ((SBOX[(w >>> 16) & 0xff] as number) << 16) |
    ((SBOX[(w >>> 8) & 0xff] as number) << 8) |
    (SBOX[w & 0xff] as number)
  );
}

/**
 * The AES key schedule (FIPS-197 §5.2) of a 16- or 32-byte key: 44 or 60 big-endian words, into `rk` when it
 * has that length (re-keying without an allocation: a schedule is larger than V8 keeps on its heap).
 */
function expandKey(key: Uint8Array, into?: Int32Array): Int32Array {
  const nk = key.length >>> 2;
  const rk = into?.length === 4 * (nk + 7) ? into : new Int32Array(4 * (nk + 7));
  for (let i = 0; i < nk; i++) rk[i] = be32(key, 4 * i);
  let rcon = 1;
  for (let i = nk; i < rk.length; i++) {
    let t = rk[i - 1] as number;
    if (i % nk === 0) {
      t = subWord((t << 8) | (t >>> 24)) ^ (rcon << 24);
      rcon = xtime(rcon);
    } else if (nk > 6 && i % nk === 4) {
      t = subWord(t);
    }
    rk[i] = (rk[i - nk] as number) ^ t;
  }
  return rk;
}

/** The output of {@link encryptBlock}: one block as four big-endian words. */
const BLOCK = new Int32Array(4);

/** AES-encrypt one block (four big-endian words) with a key schedule; the result goes to {@link BLOCK}. */
function encryptBlock(rk: Int32Array, a0: number, a1: number, a2: number, a3: number): void {
  let s0 = a0 ^ (rk[0] as number);
  let s1 = a1 ^ (rk[1] as number);
  let s2 = a2 ^ (rk[2] as number);
  let s3 = a3 ^ (rk[3] as number);
  const last = rk.length - 4;
  let k = 4;
  for (; k < last; k += 4) {
    const t0 =
      (T0[s0 >>> 24] as number) ^
      (T1[(s1 >>> 16) & 0xff] as number) ^
      (T2[(s2 >>> 8) & 0xff] as number) ^
      (T3[s3 & 0xff] as number) ^
      (rk[k] as number);
    const t1 =
      (T0[s1 >>> 24] as number) ^
      (T1[(s2 >>> 16) & 0xff] as number) ^
      (T2[(s3 >>> 8) & 0xff] as number) ^
      (T3[s0 & 0xff] as number) ^
      (rk[k + 1] as number);
    const t2 =
      (T0[s2 >>> 24] as number) ^
      (T1[(s3 >>> 16) & 0xff] as number) ^
      (T2[(s0 >>> 8) & 0xff] as number) ^
      (T3[s1 & 0xff] as number) ^
      (rk[k + 2] as number);
    const t3 =
      (T0[s3 >>> 24] as number) ^
      (T1[(s0 >>> 16) & 0xff] as number) ^
      (T2[(s1 >>> 8) & 0xff] as number) ^
      (T3[s2 & 0xff] as number) ^
      (rk[k + 3] as number);
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  // the last round: SubBytes and ShiftRows, no MixColumns
  BLOCK[0] =
    (((SBOX[s0 >>> 24] as number) << 24) |
      ((SBOX[(s1 >>> 16) & 0xff] as number) << 16) |
      ((SBOX[(s2 >>> 8) & 0xff] as number) << 8) |
      (SBOX[s3 & 0xff] as number)) ^
    (rk[k] as number);
  BLOCK[1] =
    (((SBOX[s1 >>> 24] as number) << 24) |
      ((SBOX[(s2 >>> 16) & 0xff] as number) << 16) |
      ((SBOX[(s3 >>> 8) & 0xff] as number) << 8) |
      (SBOX[s0 & 0xff] as number)) ^
    (rk[k + 1] as number);
  BLOCK[2] =
    (((SBOX[s2 >>> 24] as number) << 24) |
      ((SBOX[(s3 >>> 16) & 0xff] as number) << 16) |
      ((SBOX[(s0 >>> 8) & 0xff] as number) << 8) |
      (SBOX[s1 & 0xff] as number)) ^
    (rk[k + 2] as number);
  BLOCK[3] =
    (((SBOX[s3 >>> 24] as number) << 24) |
      ((SBOX[(s0 >>> 16) & 0xff] as number) << 16) |
      ((SBOX[(s1 >>> 8) & 0xff] as number) << 8) |
      (SBOX[s2 & 0xff] as number)) ^
    (rk[k + 3] as number);
}

// ---- CMAC (RFC 4493) and S2V (RFC 5297 §2.4) on words

/** The last block of a CMAC, padded: scratch. */
const LAST = new Uint8Array(16);
/** The S2V state D, and a CMAC result: scratch. */
const D = new Int32Array(4);
const MAC = new Int32Array(4);
/** A copy of S2V's last string, its end XORed with D ("xorend"): scratch, grown as needed. */
let xorend = new Uint8Array(512);
const ZERO_BLOCK = new Uint8Array(16);
/** S2V's last string when shorter than a block: padded, XORed with dbl(D). Scratch. */
const PADDED = new Uint8Array(16);

/** RFC 5297 §2.3: multiplication by x in GF(2^128), in place on four big-endian words. */
function dbl(w: Int32Array): void {
  const carry = (w[0] as number) >>> 31;
  w[0] = ((w[0] as number) << 1) | ((w[1] as number) >>> 31);
  w[1] = ((w[1] as number) << 1) | ((w[2] as number) >>> 31);
  w[2] = ((w[2] as number) << 1) | ((w[3] as number) >>> 31);
  w[3] = ((w[3] as number) << 1) ^ (carry ? 0x87 : 0);
}

/** AES-CMAC with one key: its schedule and subkeys made once. */
class Cmac {
  rk: Int32Array;
  /** K1 (words 0–3) and K2 (words 4–7). */
  readonly #sub = new Int32Array(8);

  constructor(key: Uint8Array) {
    this.rk = expandKey(key);
    this.#subkeys();
  }

  /** Take another key of the same length, reusing the schedule's memory. */
  setKey(key: Uint8Array): void {
    this.rk = expandKey(key, this.rk);
    this.#subkeys();
  }

  /** K1 = dbl(AES(0)), K2 = dbl(K1). */
  #subkeys(): void {
    encryptBlock(this.rk, 0, 0, 0, 0);
    const sub = this.#sub;
    sub.set(BLOCK, 0);
    dbl(sub);
    sub.copyWithin(4, 0, 4);
    dbl(sub.subarray(4));
  }

  /** CMAC of `m[from, to)` (RFC 4493 §2.4), as four words into `out`. */
  macInto(m: Uint8Array, from: number, to: number, out: Int32Array): void {
    const rk = this.rk;
    const length = to - from;
    const blocks = length === 0 ? 1 : Math.ceil(length / 16);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = from;
    for (let b = 1; b < blocks; b++, i += 16) {
      encryptBlock(rk, s0 ^ be32(m, i), s1 ^ be32(m, i + 4), s2 ^ be32(m, i + 8), s3 ^ be32(m, i + 12));
      s0 = BLOCK[0] as number;
      s1 = BLOCK[1] as number;
      s2 = BLOCK[2] as number;
      s3 = BLOCK[3] as number;
    }
    const sub = this.#sub;
    const rest = to - i;
    let k = 0;
    let last: Uint8Array = m;
    let at = i;
    if (length === 0 || rest !== 16) {
      LAST.fill(0);
      for (let j = 0; j < rest; j++) LAST[j] = m[i + j] as number;
      LAST[rest] = 0x80;
      last = LAST;
      at = 0;
      k = 4;
    }
    encryptBlock(
      rk,
      s0 ^ be32(last, at) ^ (sub[k] as number),
      s1 ^ be32(last, at + 4) ^ (sub[k + 1] as number),
      s2 ^ be32(last, at + 8) ^ (sub[k + 2] as number),
      s3 ^ be32(last, at + 12) ^ (sub[k + 3] as number),
    );
    // four stores: TypedArray.prototype.set costs more than that for one block
    out[0] = BLOCK[0] as number;
    out[1] = BLOCK[1] as number;
    out[2] = BLOCK[2] as number;
    out[3] = BLOCK[3] as number;
  }

  /** CMAC of `m`: a fresh 16-byte array. */
  mac(m: Uint8Array): Uint8Array {
    this.macInto(m, 0, m.length, MAC);
    const out = new Uint8Array(16);
    for (let j = 0; j < 4; j++) putBe32(out, 4 * j, MAC[j] as number);
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
  readonly #k2 = new Uint8Array(16);
  #rk2: Int32Array | undefined;
  #rk2Ready = false;
  /** S2V's first value, CMAC(K1, <zero>): the same for every message under this key. */
  readonly #d0 = new Int32Array(4);

  /**
   * @param key - 32 bytes: K1 (S2V) then K2 (CTR)
   * @throws {ValidationError} for another length
   */
  constructor(key: Uint8Array) {
    checkKey(key);
    this.#cmac = new Cmac(key.subarray(0, 16));
    this.#k2.set(key.subarray(16));
    this.#cmac.macInto(ZERO_BLOCK, 0, 16, this.#d0);
  }

  /**
   * Change to another key, reusing this object's memory (a server re-keys one object per request instead of
   * making two per request).
   *
   * @param key - 32 bytes: K1 (S2V) then K2 (CTR)
   * @returns this
   * @throws {ValidationError} for another length
   */
  setKey(key: Uint8Array): this {
    checkKey(key);
    this.#cmac.setKey(key.subarray(0, 16));
    const k2 = this.#k2;
    for (let i = 0; i < 16; i++) k2[i] = key[16 + i] as number;
    this.#rk2Ready = false;
    this.#cmac.macInto(ZERO_BLOCK, 0, 16, this.#d0);
    return this;
  }

  /** S2V: start (D = CMAC(K1, <zero>)). */
  #s2vStart(): void {
    const d0 = this.#d0;
    D[0] = d0[0] as number;
    D[1] = d0[1] as number;
    D[2] = d0[2] as number;
    D[3] = d0[3] as number;
  }

  /** S2V: one more string before the last (D = dbl(D) xor CMAC(K1, S)). */
  #s2vAdd(s: Uint8Array): void {
    dbl(D);
    this.#cmac.macInto(s, 0, s.length, MAC);
    D[0] = (D[0] as number) ^ (MAC[0] as number);
    D[1] = (D[1] as number) ^ (MAC[1] as number);
    D[2] = (D[2] as number) ^ (MAC[2] as number);
    D[3] = (D[3] as number) ^ (MAC[3] as number);
  }

  /** S2V: the last string (the plaintext); the synthetic IV V goes to {@link MAC}. */
  #s2vFinish(p: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n >= 16) {
      if (xorend.length < n) xorend = new Uint8Array(Math.max(n, 2 * xorend.length));
      const t = xorend;
      for (let i = 0; i < n; i++) t[i] = p[from + i] as number;
      const e = n - 16;
      for (let j = 0; j < 4; j++) putBe32(t, e + 4 * j, be32(t, e + 4 * j) ^ (D[j] as number));
      this.#cmac.macInto(t, 0, n, MAC);
    } else {
      dbl(D);
      LAST.fill(0);
      for (let i = 0; i < n; i++) LAST[i] = p[from + i] as number;
      LAST[n] = 0x80;
      for (let j = 0; j < 4; j++) putBe32(PADDED, 4 * j, be32(LAST, 4 * j) ^ (D[j] as number));
      this.#cmac.macInto(PADDED, 0, 16, MAC); // the CMAC of one whole block
    }
  }

  /**
   * XOR the CTR keystream from the counter V (bits 31 and 63 cleared) into `data[from, from + n)`, writing to
   * `out` from `outAt`.
   */
  #ctr(
    v0: number,
    v1: number,
    v2: number,
    v3: number,
    data: Uint8Array,
    from: number,
    n: number,
    out: Uint8Array,
    outAt: number,
  ): void {
    if (n === 0) return;
    if (!this.#rk2Ready) {
      this.#rk2 = expandKey(this.#k2, this.#rk2);
      this.#rk2Ready = true;
    }
    const rk = this.#rk2 as Int32Array;
    let q0 = v0;
    let q1 = v1;
    let q2 = v2 & 0x7fffffff;
    let q3 = v3 & 0x7fffffff;
    for (let at = 0; at < n; at += 16) {
      encryptBlock(rk, q0, q1, q2, q3);
      const m = Math.min(16, n - at);
      for (let i = 0; i < m; i++) {
        const w = BLOCK[i >>> 2] as number;
        out[outAt + at + i] = (data[from + at + i] as number) ^ ((w >>> (24 - 8 * (i & 3))) & 0xff);
      }
      q3 = (q3 + 1) | 0;
      if (q3 === 0) {
        q2 = (q2 + 1) | 0;
        if (q2 === 0) {
          q1 = (q1 + 1) | 0;
          if (q1 === 0) q0 = (q0 + 1) | 0;
        }
      }
    }
  }

  /** The synthetic IV in {@link MAC} and the ciphertext of `plaintext` after it, into `out` at `at`. */
  #sealed(
    plaintext: Uint8Array,
    out: Uint8Array = new Uint8Array(16 + plaintext.length),
    at = 0,
  ): Uint8Array {
    const v0 = MAC[0] as number;
    const v1 = MAC[1] as number;
    const v2 = MAC[2] as number;
    const v3 = MAC[3] as number;
    putBe32(out, at, v0);
    putBe32(out, at + 4, v1);
    putBe32(out, at + 8, v2);
    putBe32(out, at + 12, v3);
    this.#ctr(v0, v1, v2, v3, plaintext, 0, plaintext.length, out, at + 16);
    return out;
  }

  /** Decrypt, then check S2V over `strings` (the nonce last, when `nonce` is given) against the IV. */
  #opened(
    strings: readonly Uint8Array[] | undefined,
    ad: Uint8Array,
    nonce: Uint8Array | undefined,
    sealed: Uint8Array,
  ): Uint8Array | undefined {
    if (sealed.length < AES_SIV_TAG_LENGTH) return undefined;
    const v0 = be32(sealed, 0);
    const v1 = be32(sealed, 4);
    const v2 = be32(sealed, 8);
    const v3 = be32(sealed, 12);
    const p = new Uint8Array(sealed.length - 16);
    this.#ctr(v0, v1, v2, v3, sealed, 16, p.length, p, 0);
    this.#s2vStart();
    if (strings) for (const s of strings) this.#s2vAdd(s);
    else {
      this.#s2vAdd(ad);
      this.#s2vAdd(nonce as Uint8Array);
    }
    this.#s2vFinish(p, 0, p.length);
    // constant time: every word compared, whatever the first difference
    const diff =
      ((MAC[0] as number) ^ v0) |
      ((MAC[1] as number) ^ v1) |
      ((MAC[2] as number) ^ v2) |
      ((MAC[3] as number) ^ v3);
    return diff === 0 ? p : undefined;
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
    this.#s2vStart();
    this.#s2vAdd(associatedData);
    this.#s2vAdd(nonce);
    this.#s2vFinish(plaintext, 0, plaintext.length);
    return this.#sealed(plaintext);
  }

  /**
   * {@link seal} into an existing buffer: the synthetic IV at `out[at]`, the ciphertext after it
   * (`16 + plaintext.length` bytes). The nonce and the associated data may lie in `out` before `at`; the
   * plaintext must not overlap what is written.
   *
   * @param nonce - the nonce
   * @param associatedData - authenticated, not encrypted
   * @param plaintext - encrypted and authenticated
   * @param out - where the result goes
   * @param at - its offset there
   * @returns `out`
   */
  sealInto(
    nonce: Uint8Array,
    associatedData: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    at: number,
  ): Uint8Array {
    if (at < 0 || at + 16 + plaintext.length > out.length) {
      throw new ValidationError(
        `AES-SIV output of ${16 + plaintext.length} bytes does not fit at ${at} in ${out.length} bytes`,
      );
    }
    this.#s2vStart();
    this.#s2vAdd(associatedData);
    this.#s2vAdd(nonce);
    this.#s2vFinish(plaintext, 0, plaintext.length);
    return this.#sealed(plaintext, out, at);
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
    return this.#opened(undefined, associatedData, nonce, sealed);
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
    this.#s2vStart();
    for (const s of strings) this.#s2vAdd(s);
    this.#s2vFinish(plaintext, 0, plaintext.length);
    return this.#sealed(plaintext);
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
    return this.#opened(strings, ZERO_BLOCK, undefined, sealed);
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AES_SIV_CMAC_256_KEY_LENGTH) {
    throw new ValidationError(
      `Invalid AES-SIV-CMAC-256 key: ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key}, expected 32 bytes`,
    );
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
  return randomPooledInto(new Uint8Array(n), 0, n);
}

/**
 * {@link randomPooled} written into an existing buffer.
 *
 * @param out - where the bytes go
 * @param at - the offset there
 * @param n - how many bytes (at most 4096)
 * @returns `out`
 * @example
 * ```ts
 * randomPooledInto(packet, 52, 16); // a nonce in place
 * ```
 */
export function randomPooledInto(out: Uint8Array, at: number, n: number): Uint8Array {
  if (poolAt + n > pool.length) {
    pool = new Uint8Array(POOL_SIZE);
    randomFillSync(pool);
    poolAt = 0;
  }
  // a plain loop: for nonce-sized reads cheaper than slice() and fill(), which go through the generic paths
  for (let i = at, j = poolAt, end = at + n; i < end; i++, j++) {
    out[i] = pool[j] as number;
    pool[j] = 0;
  }
  poolAt += n;
  return out;
}
