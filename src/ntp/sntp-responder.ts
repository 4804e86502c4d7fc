/**
 * The SNTP server's reply logic as a plain handler (RFC 4330 §6, RFC 5905 §7–9), apart from any socket:
 * request bytes + the client's address + the receive time in, a reply (built in the request's own buffer) or
 * nothing out. The dgram server (`server.ts`) and the batched engine's workers run the same responder.
 *
 * - Only client requests (mode 3, version 1–4, at least 48 bytes, source port ≠ 0) are answered, with mode 4.
 * - Version and poll are copied from the request; its transmit timestamp goes into the origin field bit for bit.
 * - The reply is the request's first 48 bytes overwritten: never larger than the request, no allocation (an NTS
 *   reply, as long as its request, is written over all of it).
 * - Each client address (IPv6: its /64) gets a token bucket; over its rate it gets one RATE kiss-o'-death
 *   per interval (written by the codec) and silence otherwise.
 * - The leap indicator comes from the kernel's clock state (adjtimex) when it can be read: a clock no daemon
 *   keeps synchronised is announced as LI = 3 and stratum 16. `refresh()` re-reads it (once a second).
 * - Whatever follows the header must be well-formed extension fields and MAC (RFC 7822), or the request is
 *   dropped as malformed. With `nts` cookie keys and/or symmetric `keys`, the authentication step
 *   ({@link NtpServerAuth}) runs after the rate limit: NTS requests get authenticated replies with fresh cookies
 *   (or an NTS NAK), MAC'd requests a reply with the same key's MAC; failures are dropped and counted. The
 *   transmit time is written before the final seal, so only one AEAD operation or digest follows it.
 *
 * @module
 */
import {
  type LeapIndicator,
  NTP_HEADER_LENGTH,
  parseRefId,
  refIdToText,
  writeKissOfDeath,
} from '../codec/ntp.js';
import { ntpTailError } from '../codec/ntp-extensions.js';
import { secondsToNtpShort, writeNtpTimestampMs } from '../codec/ntp-timestamp.js';
import { type Clock, checkClock } from '../core/clock.js';
import { debug } from '../core/debug.js';
import { ValidationError } from '../core/errors.js';
import { parseInteger } from '../core/validate.js';
import { readKernelClock } from '../platform/kernel-clock.js';
import { realtimeClock } from '../platform/realtime.js';
import { NtsCookieKeys, type NtsCookieKeysState } from './nts-cookies.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { NtpServerAuth, type ServerAuthCheck } from './server-auth.js';
import type { SymmetricKeys } from './symmetric-key.js';

const NO_AUTH: ServerAuthCheck = { kind: 'none' };

/** What the responder announces and how it limits clients. */
export interface SntpResponderOptions {
  /** NTS (RFC 8915): the cookie keys shared with the NTS-KE server (see `createNtsKeServer`). @default none */
  nts?: NtsCookieKeys | NtsCookieKeysState;
  /** Symmetric keys by ID (see `readKeyFile`): MAC'd requests are answered with the same key's MAC. @default none */
  keys?: SymmetricKeys;
  /** Stratum to announce (1–15). @default 10 (like chrony's `local` clock) */
  stratum?: number;
  /**
   * Reference ID: four ASCII characters for stratum 1 (`GPS`, `LOCL`), an IPv4 or IPv6 address (hashed) for
   * stratum 2 and above, or a 32-bit number. @default 'LOCL' for stratum 1, '127.127.1.1' otherwise
   */
  referenceId?: string | number;
  /**
   * Leap indicator: `kernel` reads the kernel's clock state (adjtimex) every second; a number fixes it.
   * @default 'kernel'
   */
  leap?: 'kernel' | LeapIndicator;
  /** Leap indicator used when `leap` is `kernel` but the kernel state cannot be read (no FFI). @default 0 */
  fallbackLeap?: LeapIndicator;
  /** Precision to announce, signed log2 of seconds. @default measured from the clock at start */
  precision?: number;
  /** Root delay to announce, in seconds. @default 0 */
  rootDelay?: number;
  /** Root dispersion to announce, in seconds. @default 0 */
  rootDispersion?: number;
  /** Per-client rate limit, or `false` for none. @default {} (2 s average, burst of 8) */
  rateLimit?: false | RateLimitOptions;
  /**
   * Where the timestamps come from. @default realtimeClock() (CLOCK_REALTIME through FFI, the clock the kernel
   * stamps packets with; without FFI `performance.timeOrigin + performance.now()`)
   */
  clock?: Clock;
}

/** The defaults of {@link SntpResponderOptions}, in one place. */
export const SNTP_RESPONDER_DEFAULTS = {
  stratum: 10,
  leap: 'kernel',
  fallbackLeap: 0,
  rootDelay: 0,
  rootDispersion: 0,
} as const;

/** Counters, since the server started. */
export interface SntpServerStats {
  /** Datagrams received. */
  received: number;
  /** Replies sent with the time. */
  answered: number;
  /** RATE kiss-o'-death replies sent. */
  kod: number;
  /** Datagrams dropped without a reply, by reason. */
  dropped: {
    /** Shorter than 48 bytes, version 0 or above 4, or source port 0. */
    malformed: number;
    /** Not a client request (mode ≠ 3: symmetric, broadcast, control, private, ...). */
    notClient: number;
    /** Over the client's rate, after its kiss-o'-death for this interval. */
    rateLimited: number;
  };
  /** Errors the socket reported for sends (ENOBUFS under overload, ...). */
  sendErrors: number;
  /** Authentication (absent on a path that does not authenticate). */
  auth?: SntpAuthStats;
}

/** Authentication counters of an SNTP server. */
export interface SntpAuthStats {
  /** Replies authenticated with NTS. */
  nts: number;
  /** Replies authenticated with a symmetric key. */
  symmetric: number;
  /** NTS NAKs sent (a cookie the server cannot open, an authenticator that does not verify). */
  naks: number;
  /** Requests dropped: a MAC with an unknown key or a wrong digest, NTS fields missing or repeated, or NTS or
   * keys not enabled here. */
  failed: number;
}

/** Where the announced leap indicator comes from. */
export type LeapSource = 'kernel' | 'option' | 'fallback';

function measurePrecision(clock: Clock): number {
  let min = Number.POSITIVE_INFINITY;
  let prev = clock.now();
  for (let i = 0; i < 2000; i++) {
    const t = clock.now();
    const d = t - prev;
    if (d > 0 && d < min) min = d;
    prev = t;
  }
  if (!Number.isFinite(min)) return -20;
  return Math.max(-30, Math.min(0, Math.ceil(Math.log2(min / 1000))));
}

function checkLeap(value: unknown, what: string): LeapIndicator {
  if (value === 0 || value === 1 || value === 2 || value === 3) return value;
  throw new ValidationError(`Invalid ${what} '${String(value)}': expected 0, 1, 2 or 3`);
}

function checkSeconds(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 65536) {
    throw new ValidationError(`Invalid ${what} '${String(value)}': expected seconds from 0 to below 65536`);
  }
  return value;
}

/** A fresh set of counters. */
export function emptySntpStats(): SntpServerStats {
  return {
    received: 0,
    answered: 0,
    kod: 0,
    dropped: { malformed: 0, notClient: 0, rateLimited: 0 },
    sendErrors: 0,
    auth: { nts: 0, symmetric: 0, naks: 0, failed: 0 },
  };
}

/**
 * Answers SNTP client requests in place, counting what it does.
 *
 * @example
 * ```ts
 * const responder = new SntpResponder({ leap: 0 });
 * const reply = responder.respond(request, '127.0.0.1', 50000, responder.clock.now());
 * if (reply) socket.send(reply, 50000, '127.0.0.1');
 * ```
 */
export class SntpResponder {
  /** Announced reference ID (32-bit) and its text. */
  readonly referenceId: number;
  readonly referenceIdText: string;
  /** Announced precision (signed log2 s). */
  readonly precision: number;
  /** Where the timestamps come from. */
  readonly clock: Clock;
  /** The counters (mutated in place; copy with {@link snapshot}). */
  readonly stats: SntpServerStats = emptySntpStats();
  readonly #configuredStratum: number;
  readonly #leapOption: 'kernel' | LeapIndicator;
  readonly #fallbackLeap: LeapIndicator;
  readonly #limiter: RateLimiter | undefined;
  /** The tail check and authentication step. */
  readonly #auth: NtpServerAuth;
  readonly #kodPoll: number;
  readonly #template = new Uint8Array(NTP_HEADER_LENGTH);
  readonly #templateTail: Uint8Array;
  #leap: LeapIndicator;
  #leapSource: LeapSource;
  #leapReason: string | undefined;
  #stratum: number;

  /**
   * @param options - what to announce and how to limit clients
   * @throws {ValidationError} for bad options
   */
  constructor(options: SntpResponderOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid SNTP responder options: expected an object');
    }
    this.#configuredStratum = parseInteger(options.stratum ?? SNTP_RESPONDER_DEFAULTS.stratum, 'stratum', {
      min: 1,
      max: 15,
    });
    const refOpt = options.referenceId ?? (this.#configuredStratum === 1 ? 'LOCL' : '127.127.1.1');
    if (typeof refOpt !== 'number' && typeof refOpt !== 'string') {
      throw new ValidationError(
        `Invalid reference ID '${String(refOpt)}': expected four ASCII characters, an IP address or a number`,
      );
    }
    this.referenceId =
      typeof refOpt === 'number'
        ? parseInteger(refOpt, 'reference ID', { min: 0, max: 0xffff_ffff })
        : parseRefId(refOpt, this.#configuredStratum);
    this.referenceIdText = refIdToText(this.referenceId, this.#configuredStratum);
    const leapOpt = options.leap ?? SNTP_RESPONDER_DEFAULTS.leap;
    if (leapOpt !== 'kernel') checkLeap(leapOpt, 'leap indicator');
    this.#leapOption = leapOpt;
    this.#fallbackLeap = checkLeap(
      options.fallbackLeap ?? SNTP_RESPONDER_DEFAULTS.fallbackLeap,
      'fallback leap',
    );
    this.clock = checkClock(options.clock) ?? realtimeClock();
    this.precision =
      options.precision === undefined
        ? measurePrecision(this.clock)
        : parseInteger(options.precision, 'precision', { min: -128, max: 127 });
    const rootDelay = checkSeconds(options.rootDelay ?? SNTP_RESPONDER_DEFAULTS.rootDelay, 'root delay');
    const rootDispersion = checkSeconds(
      options.rootDispersion ?? SNTP_RESPONDER_DEFAULTS.rootDispersion,
      'root dispersion',
    );
    if (
      options.rateLimit !== undefined &&
      options.rateLimit !== false &&
      typeof options.rateLimit !== 'object'
    ) {
      throw new ValidationError(
        `Invalid rateLimit '${String(options.rateLimit)}': expected false or an object`,
      );
    }
    this.#limiter = options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? {});
    // a KoD raises the client's poll to at least the limiter's interval (rounded up to a power of two)
    this.#kodPoll = this.#limiter
      ? Math.min(17, Math.max(0, Math.ceil(Math.log2(this.#limiter.interval / 1000))))
      : 0;
    // NtsCookieKeys, or its state() handed to a worker thread: the same secret opens the same cookies
    const nts =
      options.nts === undefined || options.nts instanceof NtsCookieKeys
        ? options.nts
        : NtsCookieKeys.fromState(options.nts, this.clock);
    if (options.keys !== undefined && !(options.keys instanceof Map)) {
      throw new ValidationError('Invalid keys: expected a Map of symmetric keys by ID (see readKeyFile)');
    }
    this.#auth = new NtpServerAuth({
      ...(nts ? { nts } : {}),
      ...(options.keys ? { keys: options.keys } : {}),
    });
    // Bytes 3..23 of every reply (precision, root delay, root dispersion, reference ID and time).
    const view = new DataView(this.#template.buffer);
    view.setInt8(3, this.precision);
    view.setUint32(4, secondsToNtpShort(rootDelay));
    view.setUint32(8, secondsToNtpShort(rootDispersion));
    view.setUint32(12, this.referenceId);
    this.#templateTail = this.#template.subarray(3, 24);
    this.#leap = this.#fallbackLeap;
    this.#leapSource = leapOpt === 'kernel' ? 'kernel' : 'option';
    this.#stratum = this.#configuredStratum;
    this.refresh();
  }

  /** Announced stratum (16 while the leap indicator is 3). */
  get stratum(): number {
    return this.#stratum;
  }

  /** The leap indicator now being announced. */
  get leap(): LeapIndicator {
    return this.#leap;
  }

  /** Where it comes from; with `fallback`, {@link leapReason} says why the kernel could not be read. */
  get leapSource(): LeapSource {
    return this.#leapSource;
  }

  get leapReason(): string | undefined {
    return this.#leapReason;
  }

  /** The rate limiter's interval in ms, or undefined without rate limiting. */
  get rateInterval(): number | undefined {
    return this.#limiter?.interval;
  }

  /** The rate limiter's burst, or undefined without rate limiting. */
  get rateBurst(): number | undefined {
    return this.#limiter?.burst;
  }

  /** Re-read the leap indicator and stamp the reference time. Call it once a second. */
  refresh(): void {
    if (this.#leapOption !== 'kernel') this.#leap = this.#leapOption;
    else if (this.#leapSource === 'kernel') {
      try {
        this.#leap = readKernelClock().leap;
      } catch (err) {
        this.#leapSource = 'fallback';
        this.#leapReason = (err as Error).message;
        this.#leap = this.#fallbackLeap;
        debug('ntp', `server: kernel clock state unreadable, announcing leap ${this.#leap}`, {
          reason: this.#leapReason,
        });
      }
    }
    this.#stratum = this.#leap === 3 ? 16 : this.#configuredStratum;
    this.#template[1] = this.#stratum;
    // Reference time: the last moment the clock's state was checked.
    writeNtpTimestampMs(this.#template, 16, this.clock.now());
  }

  /** A copy of the counters. */
  snapshot(): SntpServerStats {
    const s = this.stats;
    return { ...s, dropped: { ...s.dropped }, ...(s.auth ? { auth: { ...s.auth } } : {}) };
  }

  /** Zero the counters. */
  resetStats(): void {
    Object.assign(this.stats, emptySntpStats());
  }

  /**
   * Answer one datagram.
   *
   * @param msg - the request; its first 48 bytes are overwritten with the reply (all of it with an NTS reply)
   * @param address - the client's address (for the rate limit)
   * @param port - the client's port (0 is dropped)
   * @param rxMs - when the request arrived, in Unix ms from this responder's clock
   * @param limit - apply the rate limit (false for a server's own warm-up request) @default true
   * @returns the reply to send to the client, or undefined to stay silent
   */
  respond(
    msg: Uint8Array,
    address: string,
    port: number,
    rxMs: number,
    limit = true,
  ): Uint8Array | undefined {
    const stats = this.stats;
    stats.received++;
    if (msg.length < NTP_HEADER_LENGTH || port === 0) {
      stats.dropped.malformed++;
      return undefined;
    }
    const b0 = msg[0] as number;
    if ((b0 & 7) !== 3) {
      stats.dropped.notClient++;
      return undefined;
    }
    const version = (b0 >>> 3) & 7;
    if (version === 0 || version > 4) {
      stats.dropped.malformed++;
      return undefined;
    }
    // Extension fields and MAC must be well-formed (RFC 7822); checked before the rate limit, it costs nothing.
    if (msg.length > NTP_HEADER_LENGTH && ntpTailError(msg) !== undefined) {
      stats.dropped.malformed++;
      return undefined;
    }
    // The reply header is built in the request's own buffer: never larger than the request, no allocation.
    const reply = msg.length === NTP_HEADER_LENGTH ? msg : msg.subarray(0, NTP_HEADER_LENGTH);
    if (this.#limiter && limit) {
      const decision = this.#limiter.check(address, this.clock.monotonic());
      if (decision !== 'allow') {
        if (decision === 'drop') {
          stats.dropped.rateLimited++;
          return undefined;
        }
        // An authenticated client gets an authenticated kiss-o'-death (it would ignore any other); one that
        // fails authentication gets nothing.
        const kodCheck = msg.length === NTP_HEADER_LENGTH ? NO_AUTH : this.#auth.check(msg);
        if (kodCheck.kind === 'drop' || kodCheck.kind === 'nak') {
          stats.dropped.rateLimited++;
          return undefined;
        }
        writeKissOfDeath(reply, { code: 'RATE', minPoll: this.#kodPoll, precision: this.precision });
        stats.kod++;
        debug('ntp', `server: rate limit, sent RATE to ${address}`);
        return kodCheck.kind === 'none' ? reply : this.#auth.seal(kodCheck, reply, msg);
      }
    }
    const check = msg.length === NTP_HEADER_LENGTH ? NO_AUTH : this.#auth.check(msg);
    if (check.kind === 'drop') {
      if (check.reason === 'malformed') stats.dropped.malformed++;
      else if (stats.auth) stats.auth.failed++;
      return undefined;
    }
    if (check.kind === 'nak') {
      writeKissOfDeath(reply, { code: 'NTSN', minPoll: -128, precision: this.precision });
      if (stats.auth) stats.auth.naks++;
      return this.#auth.seal(check, reply, msg);
    }
    reply.copyWithin(24, 40, 48); // origin = request transmit, bit for bit
    reply[0] = (this.#leap << 6) | (version << 3) | 4; // poll (byte 2) stays as the client sent it
    reply[1] = this.#stratum;
    reply.set(this.#templateTail, 3);
    writeNtpTimestampMs(reply, 32, rxMs);
    writeNtpTimestampMs(reply, 40, this.clock.now()); // transmit timestamp: last thing before the send
    stats.answered++;
    if (check.kind === 'none') return reply;
    if (stats.auth) stats.auth[check.kind === 'nts' ? 'nts' : 'symmetric']++;
    return this.#auth.seal(check, reply, msg);
  }
}
