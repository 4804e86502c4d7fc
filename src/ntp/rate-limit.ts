/**
 * Per-client rate limiting for the SNTP server: a token bucket per client address (IPv6 clients by their /64,
 * since one host owns a whole /64), and at most one kiss-o'-death per client per interval so that the KoD
 * replies themselves cannot be used for a flood. Pure bookkeeping: the caller passes the time.
 *
 * Every operation costs the same whatever the table holds (a flood of new sources must not slow the server
 * down): one hash lookup, and a constant number of entries touched in two intrusive lists kept in typed
 * arrays — one in order of last request (its head is the client idle longest), one in order of arrival (its
 * head is the client tracked longest). The table never holds more than `maxClients` entries; its arrays grow
 * by doubling up to that bound (about 40 bytes per client, plus the address string and its map entry).
 *
 * @module
 */
import { isIPv6 } from 'node:net';
import { ValidationError } from '../core/errors.js';

/** Rate limit settings. */
export interface RateLimitOptions {
  /** Average time a client must leave between requests, in ms: one token is added per interval. @default 2000 */
  interval?: number;
  /** Requests a client may send in a burst before it is limited. @default 8 */
  burst?: number;
  /** Least time between two kiss-o'-death replies to one client, in ms. @default the `interval` */
  kodInterval?: number;
  /**
   * Most clients tracked. When full, a client whose bucket has refilled is forgotten (nothing is lost), and
   * failing that the one tracked longest. @default 100000
   */
  maxClients?: number;
}

/** What to do with a request. */
export type RateDecision = 'allow' | 'kod' | 'drop';

/** The defaults, in one place. */
export const RATE_LIMIT_DEFAULTS = { interval: 2000, burst: 8, maxClients: 100_000 } as const;

const NONE = -1;
const FIRST_CAPACITY = 1024;

// The key of the address parsed last (no allocation per request): family 4 or 6, and 64 bits — an IPv4
// address in `lo`, an IPv6 /64 prefix in `hi` and `lo`.
let keyFamily = 0;
let keyHi = 0;
let keyLo = 0;

/** Parse `address` into the key above; false when it is not an IP address. */
function parseKey(address: string): boolean {
  if (address.includes(':')) {
    if (!isIPv6(address)) return false;
    const prefix = clientKey(address);
    if (!prefix.includes(':')) return parseIPv4(prefix);
    const g = prefix.split(':');
    let hi = 0;
    let lo = 0;
    for (let k = 0; k < 4; k++) {
      const text = g[k] as string;
      if (!/^[0-9a-fA-F]{1,4}$/.test(text)) return false;
      const v = Number.parseInt(text, 16);
      if (k < 2) hi = hi * 65536 + v;
      else lo = lo * 65536 + v;
    }
    keyFamily = 6;
    keyHi = hi;
    keyLo = lo;
    return true;
  }
  return parseIPv4(address);
}

function parseIPv4(address: string): boolean {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let k = 0; k < address.length; k++) {
    const c = address.charCodeAt(k);
    if (c === 46) {
      if (digits === 0 || dots === 3) return false;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48);
      digits++;
      if (octet > 255) return false;
    } else return false;
  }
  if (digits === 0 || dots !== 3) return false;
  keyFamily = 4;
  keyHi = 0;
  keyLo = value * 256 + octet;
  return true;
}

/**
 * A token bucket per client, in a bounded table where every operation is O(1).
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ interval: 1000, burst: 2 });
 * limiter.check('192.0.2.1', 0); // 'allow'
 * limiter.check('192.0.2.1', 1); // 'allow'
 * limiter.check('192.0.2.1', 2); // 'kod' (then 'drop' until the KoD interval has passed)
 * ```
 */
export class RateLimiter {
  readonly interval: number;
  readonly burst: number;
  readonly kodInterval: number;
  readonly maxClients: number;
  /** Idle time after which a bucket is full again and its KoD interval over: forgetting it loses nothing. */
  readonly #refilledAfter: number;
  /** Hash seed, random per limiter, so that nobody can choose addresses that collide. */
  readonly #seed = (Math.random() * 2 ** 32) >>> 0;
  #size = 0;
  // the entries, by slot
  #family = new Uint8Array(0);
  #hi = new Uint32Array(0);
  #lo = new Uint32Array(0);
  #tokens = new Float64Array(0);
  #last = new Float64Array(0);
  #lastKod = new Float64Array(0);
  // open addressing (linear probing, deletion by backward shift): bucket p holds the slot at 2p (or NONE) and
  // that entry's hash at 2p + 1, so that a deletion never has to read the entries it shifts
  #index = new Int32Array(0);
  #mask = 0;
  // by last request: #idle is the head (least recently seen), #busy the tail
  #seenPrev = new Int32Array(0);
  #seenNext = new Int32Array(0);
  #idle = NONE;
  #busy = NONE;
  // by arrival: #oldest is the head, #newest the tail
  #bornPrev = new Int32Array(0);
  #bornNext = new Int32Array(0);
  #oldest = NONE;
  #newest = NONE;
  #work = 0;

  /**
   * @param options - interval, burst, KoD interval, table size
   * @throws {ValidationError} when a setting is not a positive number
   */
  constructor(options: RateLimitOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new ValidationError(`Invalid rate limit options '${String(options)}': expected an object`);
    }
    this.interval = options.interval ?? RATE_LIMIT_DEFAULTS.interval;
    this.burst = options.burst ?? RATE_LIMIT_DEFAULTS.burst;
    this.kodInterval = options.kodInterval ?? this.interval;
    this.maxClients = options.maxClients ?? RATE_LIMIT_DEFAULTS.maxClients;
    for (const [name, v, min] of [
      ['rate limit interval', this.interval, 1],
      ['rate limit burst', this.burst, 1],
      ['KoD interval', this.kodInterval, 0],
      ['rate limit table size', this.maxClients, 1],
    ] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
        throw new ValidationError(`Invalid ${name} '${String(v)}': expected a number of at least ${min}`);
      }
    }
    if (!Number.isInteger(this.maxClients) || this.maxClients > 2 ** 28) {
      throw new ValidationError(
        `Invalid rate limit table size '${this.maxClients}': expected an integer from 1 to ${2 ** 28}`,
      );
    }
    this.#refilledAfter = Math.max(this.burst * this.interval, this.kodInterval);
  }

  /**
   * Account for one request from `address` at time `now` (ms, any monotonic origin).
   *
   * @param address - the client's IP address
   * @param now - the current time in ms
   * @returns `allow` to answer, `kod` to send a RATE kiss-o'-death, `drop` to stay silent
   * @throws {ValidationError} when `address` is not an IP address or `now` not a number
   */
  check(address: string, now: number): RateDecision {
    if (typeof address !== 'string' || !parseKey(address)) {
      throw new ValidationError(`Invalid client address '${String(address)}': expected an IP address`);
    }
    if (typeof now !== 'number' || Number.isNaN(now)) {
      throw new ValidationError(`Invalid time '${String(now)}': expected a number of ms`);
    }
    let i = this.#find();
    if (i === NONE) {
      i = this.#admit(now);
      this.#tokens[i] = this.burst;
      this.#lastKod[i] = Number.NEGATIVE_INFINITY;
    } else {
      const idle = now - (this.#last[i] as number);
      this.#tokens[i] = Math.min(this.burst, (this.#tokens[i] as number) + idle / this.interval);
      this.#unlinkSeen(i);
      if (idle >= this.#refilledAfter) {
        // refilled: the same as a new client, so it counts as arriving now
        this.#unlinkBorn(i);
        this.#appendBorn(i);
      }
    }
    this.#last[i] = now;
    this.#appendSeen(i);
    const tokens = this.#tokens[i] as number;
    if (tokens >= 1) {
      this.#tokens[i] = tokens - 1;
      return 'allow';
    }
    if (now - (this.#lastKod[i] as number) >= this.kodInterval) {
      this.#lastKod[i] = now;
      return 'kod';
    }
    return 'drop';
  }

  /** Number of clients tracked. */
  get size(): number {
    return this.#size;
  }

  /**
   * Table entries touched since the limiter was made (hash probes, list links, evictions): a measure of work
   * that does not depend on the machine, for tests and benchmarks. A request costs a small constant number.
   */
  get work(): number {
    return this.#work;
  }

  #hash(family: number, hi: number, lo: number): number {
    let h = Math.imul(lo ^ this.#seed, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ hi, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 13) ^ family, 0xc2b2ae3d);
    return h ^ (h >>> 16);
  }

  /** The slot of the parsed key, or NONE. */
  #find(): number {
    if (this.#size === 0) return NONE;
    for (let p = this.#hash(keyFamily, keyHi, keyLo) & this.#mask; ; p = (p + 1) & this.#mask) {
      this.#work++;
      const i = this.#index[2 * p] as number;
      if (i === NONE) return NONE;
      if (this.#lo[i] === keyLo && this.#hi[i] === keyHi && this.#family[i] === keyFamily) return i;
    }
  }

  /** A slot for the parsed key: a fresh one while the table has room, else that of the client forgotten. */
  #admit(now: number): number {
    let i: number;
    if (this.#size < this.maxClients) {
      if (this.#size >= this.#tokens.length) this.#grow();
      i = this.#size++;
    } else {
      // The client idle longest has the oldest `last` of all: if its bucket has not refilled, none has.
      i = this.#idle;
      this.#work++;
      if (now - (this.#last[i] as number) < this.#refilledAfter) i = this.#oldest;
      this.#remove(i);
      this.#unlinkSeen(i);
      this.#unlinkBorn(i);
    }
    this.#family[i] = keyFamily;
    this.#hi[i] = keyHi;
    this.#lo[i] = keyLo;
    this.#insert(i);
    this.#appendBorn(i);
    return i;
  }

  #insert(i: number): void {
    const h = this.#hash(this.#family[i] as number, this.#hi[i] as number, this.#lo[i] as number);
    let p = h & this.#mask;
    while (this.#index[2 * p] !== NONE) {
      this.#work++;
      p = (p + 1) & this.#mask;
    }
    this.#work++;
    this.#index[2 * p] = i;
    this.#index[2 * p + 1] = h;
  }

  /** Take slot `i` out of the index, shifting back the entries after it (no tombstones). */
  #remove(i: number): void {
    const mask = this.#mask;
    const index = this.#index;
    let p = this.#hash(this.#family[i] as number, this.#hi[i] as number, this.#lo[i] as number) & mask;
    while (index[2 * p] !== i) {
      this.#work++;
      p = (p + 1) & mask;
    }
    for (let q = (p + 1) & mask; ; q = (q + 1) & mask) {
      this.#work++;
      const j = index[2 * q] as number;
      if (j === NONE) break;
      const home = (index[2 * q + 1] as number) & mask;
      // the entry at q may move back to the hole at p unless its home lies cyclically in (p, q]
      if (((q - home) & mask) >= ((q - p) & mask)) {
        index[2 * p] = j;
        index[2 * p + 1] = index[2 * q + 1] as number;
        p = q;
      }
    }
    index[2 * p] = NONE;
  }

  /** Double the entry arrays (up to maxClients) and rebuild the index at twice their size: amortised O(1). */
  #grow(): void {
    const n = Math.min(this.maxClients, Math.max(FIRST_CAPACITY, this.#tokens.length * 2));
    const grow = <T extends Float64Array | Int32Array | Uint32Array | Uint8Array>(
      a: T,
      make: (n: number) => T,
    ) => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.#family = grow(this.#family, (k) => new Uint8Array(k));
    this.#hi = grow(this.#hi, (k) => new Uint32Array(k));
    this.#lo = grow(this.#lo, (k) => new Uint32Array(k));
    this.#tokens = grow(this.#tokens, (k) => new Float64Array(k));
    this.#last = grow(this.#last, (k) => new Float64Array(k));
    this.#lastKod = grow(this.#lastKod, (k) => new Float64Array(k));
    this.#seenPrev = grow(this.#seenPrev, (k) => new Int32Array(k));
    this.#seenNext = grow(this.#seenNext, (k) => new Int32Array(k));
    this.#bornPrev = grow(this.#bornPrev, (k) => new Int32Array(k));
    this.#bornNext = grow(this.#bornNext, (k) => new Int32Array(k));
    // at most half full: probes stay short
    let size = 1;
    while (size < n * 2) size *= 2;
    this.#index = new Int32Array(2 * size).fill(NONE);
    this.#mask = size - 1;
    for (let i = 0; i < this.#size; i++) this.#insert(i);
  }

  #unlinkSeen(i: number): void {
    const p = this.#seenPrev[i] as number;
    const n = this.#seenNext[i] as number;
    if (p === NONE) this.#idle = n;
    else this.#seenNext[p] = n;
    if (n === NONE) this.#busy = p;
    else this.#seenPrev[n] = p;
    this.#work++;
  }

  #appendSeen(i: number): void {
    this.#seenPrev[i] = this.#busy;
    this.#seenNext[i] = NONE;
    if (this.#busy === NONE) this.#idle = i;
    else this.#seenNext[this.#busy] = i;
    this.#busy = i;
    this.#work++;
  }

  #unlinkBorn(i: number): void {
    const p = this.#bornPrev[i] as number;
    const n = this.#bornNext[i] as number;
    if (p === NONE) this.#oldest = n;
    else this.#bornNext[p] = n;
    if (n === NONE) this.#newest = p;
    else this.#bornPrev[n] = p;
    this.#work++;
  }

  #appendBorn(i: number): void {
    this.#bornPrev[i] = this.#newest;
    this.#bornNext[i] = NONE;
    if (this.#newest === NONE) this.#oldest = i;
    else this.#bornNext[this.#newest] = i;
    this.#newest = i;
    this.#work++;
  }
}

/** IPv4 addresses as they are; IPv6 addresses by their first four groups (the /64). */
export function clientKey(address: string): string {
  if (typeof address !== 'string') {
    throw new ValidationError(`Invalid client address '${String(address)}': expected an IP address string`);
  }
  if (!address.includes(':')) return address;
  if (/^::ffff:/i.test(address) && address.includes('.')) return address.slice(7);
  const [head = '', tail] = address.split('%')[0]?.split('::') ?? [];
  const h = head ? head.split(':') : [];
  if (h.length >= 4) return h.slice(0, 4).join(':');
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return groups.slice(0, 4).join(':');
}
