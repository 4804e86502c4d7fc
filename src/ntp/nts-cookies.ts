/**
 * Server-side NTS cookies (RFC 8915 §6): the server keeps no per-client state; each cookie carries the
 * client's two AEAD keys, sealed with a key only the server knows.
 *
 * A cookie is 100 bytes: the server key's 32-bit ID, a 16-byte nonce, and AES-SIV-CMAC-256 (the key ID as
 * associated data) over the client-to-server and server-to-client keys. The AEAD algorithm is not stored: only
 * AEAD_AES_SIV_CMAC_256 is served.
 *
 * The server key changes every `rotate` ms (by default daily) and the `keep` keys before it stay valid (by
 * default three), so a cookie stays usable for days after it was issued; a client with older cookies gets an
 * NTS NAK and runs NTS-KE again. Each key is derived from one master secret and the number of its period
 * (HMAC-SHA256 of the period number, periods counted on the wall clock), and the period number is the key's ID:
 * every thread or process given the same secret ({@link NtsCookieKeys.state}) seals and opens the same cookies
 * without talking to the others — the NTS-KE server in the main thread and NTP workers on every core. No timer.
 * Manual rotations ({@link NtsCookieKeys.rotate}) are a counter in shared memory that every thread's keys made
 * from the same state read: a rotation in one thread is in force in all of them at once, with no message.
 *
 * @module
 */
import { createHmac, randomBytes } from 'node:crypto';
import { type Clock, checkClock, systemClock } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import { AES_SIV_CMAC_256_KEY_LENGTH, randomPooledInto, SivKey } from './aes-siv.js';

/** Length of a cookie soket makes. */
export const NTS_COOKIE_LENGTH = 4 + 16 + 16 + 2 * AES_SIV_CMAC_256_KEY_LENGTH;

/** The client's keys being sealed into a cookie: scratch, zeroed after each seal. */
const PLAINTEXT = new Uint8Array(2 * AES_SIV_CMAC_256_KEY_LENGTH);

/** Options of {@link NtsCookieKeys}. */
export interface NtsCookieKeysOptions {
  /** How often the server key changes, in ms. @default 86400000 (a day) */
  rotate?: number;
  /** How many earlier keys are still accepted. @default 3 */
  keep?: number;
  /** The clock whose wall time (`now()`) counts the key periods. @default systemClock */
  clock?: Clock;
  /**
   * The master secret (32 bytes) every key is derived from. Give the same one to every thread or process that
   * must open the same cookies (see {@link NtsCookieKeys.state}). @default 32 random bytes
   */
  secret?: Uint8Array;
}

/** What another thread needs to seal and open the same cookies (structured-cloneable). */
export interface NtsCookieKeysState {
  secret: Uint8Array;
  rotate: number;
  keep: number;
  /** Manual rotations so far (see {@link NtsCookieKeys.rotate}). */
  offset: number;
  /**
   * The manual rotations in shared memory (one Int32 over a SharedArrayBuffer): keys made from this state in
   * any thread of this process read and move the same counter, so `rotate()` in one is in force in all. Without
   * it (a state from another process, or written out), the keys start from `offset` and rotate on their own.
   */
  sharedOffset?: Int32Array;
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
  readonly #secret: Uint8Array;
  readonly #cache = new Map<number, SivKey>();
  /** Manual rotations, shared with the keys made from this object's {@link state} (Atomics). */
  #offset: Int32Array = new Int32Array(new SharedArrayBuffer(4));
  #lastEpoch: number | undefined;
  #rotations = 0;

  /**
   * @param options - rotation interval, how many old keys to keep, clock, master secret
   * @throws {ValidationError} for a rotation under a second, a `keep` outside 0–100, or a secret that is not
   *   32 bytes
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
    if (
      options.secret !== undefined &&
      (!(options.secret instanceof Uint8Array) || options.secret.length !== 32)
    ) {
      throw new ValidationError('Invalid NTS cookie master secret: expected 32 bytes');
    }
    this.#secret = new Uint8Array(options.secret ?? randomBytes(32));
    this.#epoch();
  }

  /**
   * Cookie keys from another thread's {@link state}: the same secret, period and manual rotations (shared: a
   * later `rotate()` on either is in force on both).
   *
   * @param state - what `state()` gave
   * @param clock - this thread's clock @default systemClock
   * @returns keys that seal and open the same cookies
   * @example
   * ```ts
   * new Worker(url, { workerData: { nts: keys.state() } }); // in the worker: NtsCookieKeys.fromState(workerData.nts)
   * ```
   */
  static fromState(state: NtsCookieKeysState, clock?: Clock): NtsCookieKeys {
    if (typeof state !== 'object' || state === null) {
      throw new ValidationError('Invalid NTS cookie key state: expected what NtsCookieKeys.state() returns');
    }
    const keys = new NtsCookieKeys({
      rotate: state.rotate,
      keep: state.keep,
      secret: state.secret,
      ...(clock ? { clock } : {}),
    });
    const shared = state.sharedOffset;
    if (shared instanceof Int32Array && shared.length >= 1 && shared.buffer instanceof SharedArrayBuffer) {
      keys.#offset = shared;
    } else if (Number.isInteger(state.offset)) {
      keys.#offset[0] = state.offset;
    }
    return keys;
  }

  /**
   * The master secret and settings, to make the same keys in another thread ({@link fromState}). Treat it as
   * the private key it is. It is structured-cloneable (`workerData`, `postMessage`): its `sharedOffset` stays
   * shared memory, so manual rotations reach the keys made from it.
   */
  state(): NtsCookieKeysState {
    return {
      secret: new Uint8Array(this.#secret),
      rotate: this.rotateMs,
      keep: this.keep,
      offset: Atomics.load(this.#offset, 0),
      sharedOffset: this.#offset,
    };
  }

  /** The period (and key ID) now in force. */
  #epoch(): number {
    const e = Math.floor(this.#clock.now() / this.rotateMs) + Atomics.load(this.#offset, 0);
    if (e !== this.#lastEpoch) {
      this.#lastEpoch = e;
      this.#rotations++;
      for (const id of this.#cache.keys()) if (id < e - this.keep || id > e + 1) this.#cache.delete(id);
    }
    return e;
  }

  /** The key of a period: HMAC-SHA256(secret, label ‖ period). */
  #key(epoch: number): SivKey {
    let key = this.#cache.get(epoch);
    if (!key) {
      const period = Buffer.alloc(8);
      period.writeUInt32BE(Math.floor(epoch / 2 ** 32), 0);
      period.writeUInt32BE(epoch >>> 0, 4);
      const bytes = createHmac('sha256', this.#secret).update('soket NTS cookie key').update(period).digest();
      key = new SivKey(new Uint8Array(bytes));
      bytes.fill(0);
      this.#cache.set(epoch, key);
    }
    return key;
  }

  /** The ID of the key new cookies are sealed with (the period number, modulo 2^32). */
  get currentId(): number {
    return this.#epoch() >>> 0;
  }

  /** Key changes seen so far (the first key counts). */
  get rotations(): number {
    return this.#rotations;
  }

  /**
   * Move to the next key now (for tests and emergencies); the keys beyond `keep` stop opening. It is in force
   * at once in every thread whose keys share this object's rotations ({@link state} → {@link fromState}: the
   * NTP server's workers), not in other processes.
   */
  rotate(): void {
    Atomics.add(this.#offset, 0, 1);
    this.#epoch();
  }

  /**
   * Seal a client's keys into a cookie with the key now in force.
   *
   * @param contents - the client's c2s and s2c keys (32 bytes each)
   * @returns a 100-byte cookie
   * @throws {ValidationError} when a key is not 32 bytes
   */
  seal(contents: NtsCookieContents): Uint8Array {
    return this.sealInto(contents, new Uint8Array(NTS_COOKIE_LENGTH), 0);
  }

  /**
   * {@link seal} into an existing buffer: the cookie's 100 bytes at `out[at]` (the NTP server writes the
   * cookies of a reply this way, without an array per cookie).
   *
   * @param contents - the client's c2s and s2c keys (32 bytes each)
   * @param out - where the cookie goes
   * @param at - its offset there
   * @returns `out`
   * @throws {ValidationError} when a key is not 32 bytes or the cookie does not fit
   */
  sealInto(contents: NtsCookieContents, out: Uint8Array, at: number): Uint8Array {
    if (
      typeof contents !== 'object' ||
      contents === null ||
      !(contents.c2s instanceof Uint8Array) ||
      !(contents.s2c instanceof Uint8Array) ||
      contents.c2s.length !== AES_SIV_CMAC_256_KEY_LENGTH ||
      contents.s2c.length !== AES_SIV_CMAC_256_KEY_LENGTH
    ) {
      throw new ValidationError('Invalid NTS keys for a cookie: expected 32 bytes each');
    }
    if (
      !(out instanceof Uint8Array) ||
      !Number.isInteger(at) ||
      at < 0 ||
      at + NTS_COOKIE_LENGTH > out.length
    ) {
      throw new ValidationError(
        `An NTS cookie does not fit at ${String(at)} in ${out instanceof Uint8Array ? out.length : 0} bytes`,
      );
    }
    const epoch = this.#epoch();
    const key = this.#key(epoch);
    const id = epoch >>> 0;
    out[at] = id >>> 24;
    out[at + 1] = (id >>> 16) & 0xff;
    out[at + 2] = (id >>> 8) & 0xff;
    out[at + 3] = id & 0xff;
    randomPooledInto(out, at + 4, 16);
    const { c2s, s2c } = contents;
    for (let i = 0; i < AES_SIV_CMAC_256_KEY_LENGTH; i++) {
      PLAINTEXT[i] = c2s[i] as number;
      PLAINTEXT[AES_SIV_CMAC_256_KEY_LENGTH + i] = s2c[i] as number;
    }
    key.sealInto(out.subarray(at + 4, at + 20), out.subarray(at, at + 4), PLAINTEXT, out, at + 20);
    PLAINTEXT.fill(0);
    return out;
  }

  /**
   * Open a cookie.
   *
   * @param cookie - a cookie from a client
   * @returns the client's keys, or `undefined` when the cookie is not one of ours (a key older than `keep`
   *   periods or not yet in force, altered bytes, wrong length)
   */
  open(cookie: Uint8Array): NtsCookieContents | undefined {
    if (cookie.length !== NTS_COOKIE_LENGTH) return undefined;
    const id =
      (((cookie[0] as number) << 24) |
        ((cookie[1] as number) << 16) |
        ((cookie[2] as number) << 8) |
        (cookie[3] as number)) >>>
      0;
    const current = this.#epoch();
    // periods back, modulo 2^32; one period ahead is accepted too (another thread's clock a moment ahead)
    const back = ((current >>> 0) - id) >>> 0;
    const age = back === 0xffff_ffff ? -1 : back;
    if (age > this.keep) return undefined;
    const plaintext = this.#key(current - age).open(
      cookie.subarray(4, 20),
      cookie.subarray(0, 4),
      cookie.subarray(20),
    );
    if (!plaintext || plaintext.length !== 2 * AES_SIV_CMAC_256_KEY_LENGTH) return undefined;
    return {
      c2s: plaintext.subarray(0, AES_SIV_CMAC_256_KEY_LENGTH),
      s2c: plaintext.subarray(AES_SIV_CMAC_256_KEY_LENGTH),
    };
  }
}
