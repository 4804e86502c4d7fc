/**
 * Per-client rate limiting for the SNTP server: a token bucket per client address (IPv6 clients by their /64,
 * since one host owns a whole /64), and at most one kiss-o'-death per client per interval so that the KoD
 * replies themselves cannot be used for a flood. Pure bookkeeping: the caller passes the time.
 *
 * @module
 */
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
   * Most clients tracked. When full, clients whose buckets have refilled are forgotten (nothing is lost), and
   * failing that the one tracked longest. @default 100000
   */
  maxClients?: number;
}

/** What to do with a request. */
export type RateDecision = 'allow' | 'kod' | 'drop';

interface Bucket {
  tokens: number;
  last: number;
  lastKod: number;
}

/** The defaults, in one place. */
export const RATE_LIMIT_DEFAULTS = { interval: 2000, burst: 8, maxClients: 100_000 } as const;

/**
 * A token bucket per client.
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
  readonly #buckets = new Map<string, Bucket>();

  /**
   * @param options - interval, burst, KoD interval, table size
   * @throws {ValidationError} when a setting is not a positive number
   */
  constructor(options: RateLimitOptions = {}) {
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
      if (!Number.isFinite(v) || v < min) {
        throw new ValidationError(`Invalid ${name} '${v}': expected a number of at least ${min}`);
      }
    }
  }

  /**
   * Account for one request from `address` at time `now` (ms, any monotonic origin).
   *
   * @param address - the client's IP address
   * @param now - the current time in ms
   * @returns `allow` to answer, `kod` to send a RATE kiss-o'-death, `drop` to stay silent
   */
  check(address: string, now: number): RateDecision {
    const key = address.includes(':') ? clientKey(address) : address;
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.maxClients) this.#evict(now);
      b = { tokens: this.burst, last: now, lastKod: Number.NEGATIVE_INFINITY };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + (now - b.last) / this.interval);
      b.last = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'allow';
    }
    if (now - b.lastKod >= this.kodInterval) {
      b.lastKod = now;
      return 'kod';
    }
    return 'drop';
  }

  /**
   * Make room: forget every client whose bucket has refilled (it is then the same as a new one, so forgetting
   * it loses nothing), and if none has, the oldest one.
   */
  #evict(now: number): void {
    const idle = this.burst * this.interval;
    for (const [key, b] of this.#buckets) {
      if (now - b.last >= idle && now - b.lastKod >= this.kodInterval) this.#buckets.delete(key);
    }
    if (this.#buckets.size >= this.maxClients) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
  }

  /** Number of clients tracked. */
  get size(): number {
    return this.#buckets.size;
  }
}

/** IPv4 addresses as they are; IPv6 addresses by their first four groups (the /64). */
export function clientKey(address: string): string {
  if (!address.includes(':')) return address;
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  const [head = '', tail] = address.split('%')[0]?.split('::') ?? [];
  const h = head ? head.split(':') : [];
  if (h.length >= 4) return h.slice(0, 4).join(':');
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return groups.slice(0, 4).join(':');
}
