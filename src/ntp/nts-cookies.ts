/**
 * Server-side NTS cookies (RFC 8915 §6): the server keeps no per-client state; each cookie carries the
 * client's two AEAD keys, sealed with a key only the server knows.
 *
 * A cookie is 100 bytes: the server key's 32-bit ID, a 16-byte nonce, and AES-SIV-CMAC-256 (the key ID as
 * associated data) over the client-to-server and server-to-client keys. The AEAD algorithm is not stored: only
 * AEAD_AES_SIV_CMAC_256 is served.
 *
 * The server key rotates (by default daily) and the previous keys are kept for a while (by default three), so
 * a cookie stays usable for days after it was issued; a client with older cookies gets an NTS NAK and runs
 * NTS-KE again. Rotation is checked when a cookie is made, on the monotonic clock: no timer.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type Clock, checkClock, systemClock } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import { AES_SIV_CMAC_256_KEY_LENGTH, randomPooled, SivKey } from './aes-siv.js';

/** Length of a cookie soket makes. */
export const NTS_COOKIE_LENGTH = 4 + 16 + 16 + 2 * AES_SIV_CMAC_256_KEY_LENGTH;

/** Options of {@link NtsCookieKeys}. */
export interface NtsCookieKeysOptions {
  /** How often the server key changes, in ms. @default 86400000 (a day) */
  rotate?: number;
  /** How many earlier keys are still accepted. @default 3 */
  keep?: number;
  /** The monotonic clock rotation is measured on. @default systemClock */
  clock?: Clock;
}

/** The defaults of {@link NtsCookieKeysOptions}, in one place. */
export const NTS_COOKIE_DEFAULTS = { rotate: 86_400_000, keep: 3 } as const;

/** The client's keys a cookie carries. */
export interface NtsCookieContents {
  c2s: Uint8Array;
  s2c: Uint8Array;
}

/**
 * The server keys cookies are sealed with: makes cookies and opens them.
 *
 * @example
 * ```ts
 * const keys = new NtsCookieKeys({ rotate: 3_600_000 });
 * const cookie = keys.seal({ c2s, s2c });
 * keys.open(cookie)?.c2s; // c2s
 * ```
 */
export class NtsCookieKeys {
  /** Rotation interval in ms. */
  readonly rotateMs: number;
  /** Earlier keys kept. */
  readonly keep: number;
  readonly #clock: Clock;
  readonly #keys = new Map<number, SivKey>();
  #order: number[] = [];
  #current = 0;
  #since = 0;
  #rotations = 0;

  /**
   * @param options - rotation interval, how many old keys to keep, clock
   * @throws {ValidationError} for a rotation under a second or a negative `keep`
   */
  constructor(options: NtsCookieKeysOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid NTS cookie key options: expected an object');
    }
    this.rotateMs = options.rotate ?? NTS_COOKIE_DEFAULTS.rotate;
    this.keep = options.keep ?? NTS_COOKIE_DEFAULTS.keep;
    if (typeof this.rotateMs !== 'number' || !Number.isFinite(this.rotateMs) || this.rotateMs < 1000) {
      throw new ValidationError(
        `Invalid NTS key rotation '${String(this.rotateMs)}' ms: expected at least 1000`,
      );
    }
    if (!Number.isInteger(this.keep) || this.keep < 0 || this.keep > 100) {
      throw new ValidationError(`Invalid number of old NTS keys '${String(this.keep)}': expected 0 to 100`);
    }
    this.#clock = checkClock(options.clock) ?? systemClock;
    this.rotate();
  }

  /** The ID of the key new cookies are sealed with. */
  get currentId(): number {
    return this.#current;
  }

  /** Key changes so far (the first key counts). */
  get rotations(): number {
    return this.#rotations;
  }

  /** Make a new server key now; the oldest beyond `keep` is forgotten. */
  rotate(): void {
    let id: number;
    do id = randomBytes(4).readUInt32BE(0);
    while (this.#keys.has(id));
    const secret = new Uint8Array(randomBytes(AES_SIV_CMAC_256_KEY_LENGTH));
    this.#keys.set(id, new SivKey(secret));
    secret.fill(0);
    this.#order.push(id);
    while (this.#order.length > this.keep + 1) {
      const old = this.#order.shift() as number;
      this.#keys.delete(old);
    }
    this.#current = id;
    this.#since = this.#clock.monotonic();
    this.#rotations++;
  }

  /**
   * Seal a client's keys into a cookie (rotating the server key first when it is due).
   *
   * @param contents - the client's c2s and s2c keys (32 bytes each)
   * @returns a 100-byte cookie
   * @throws {ValidationError} when a key is not 32 bytes
   */
  seal(contents: NtsCookieContents): Uint8Array {
    if (
      contents.c2s.length !== AES_SIV_CMAC_256_KEY_LENGTH ||
      contents.s2c.length !== AES_SIV_CMAC_256_KEY_LENGTH
    ) {
      throw new ValidationError('Invalid NTS keys for a cookie: expected 32 bytes each');
    }
    if (this.#clock.monotonic() - this.#since >= this.rotateMs) this.rotate();
    const key = this.#keys.get(this.#current) as SivKey;
    const cookie = new Uint8Array(NTS_COOKIE_LENGTH);
    const view = new DataView(cookie.buffer);
    view.setUint32(0, this.#current);
    const nonce = randomPooled(16);
    cookie.set(nonce, 4);
    const plaintext = new Uint8Array(2 * AES_SIV_CMAC_256_KEY_LENGTH);
    plaintext.set(contents.c2s, 0);
    plaintext.set(contents.s2c, AES_SIV_CMAC_256_KEY_LENGTH);
    cookie.set(key.seal(nonce, cookie.subarray(0, 4), plaintext), 20);
    return cookie;
  }

  /**
   * Open a cookie.
   *
   * @param cookie - a cookie from a client
   * @returns the client's keys, or `undefined` when the cookie is not one of ours (unknown or expired key,
   *   altered bytes, wrong length)
   */
  open(cookie: Uint8Array): NtsCookieContents | undefined {
    if (cookie.length !== NTS_COOKIE_LENGTH) return undefined;
    const id = new DataView(cookie.buffer, cookie.byteOffset, 4).getUint32(0);
    const key = this.#keys.get(id);
    if (!key) return undefined;
    const plaintext = key.open(cookie.subarray(4, 20), cookie.subarray(0, 4), cookie.subarray(20));
    if (!plaintext || plaintext.length !== 2 * AES_SIV_CMAC_256_KEY_LENGTH) return undefined;
    return {
      c2s: plaintext.subarray(0, AES_SIV_CMAC_256_KEY_LENGTH),
      s2c: plaintext.subarray(AES_SIV_CMAC_256_KEY_LENGTH),
    };
  }
}
