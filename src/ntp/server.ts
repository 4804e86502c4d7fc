/**
 * A safe SNTP server (RFC 4330 §6, RFC 5905 §7–9): it answers client requests (mode 3) with server replies
 * (mode 4) from the local clock, and nothing else.
 *
 * - Version and poll are copied from the request; the request's transmit timestamp goes into the origin field
 *   bit for bit (the bytes are copied, never converted), which is what lets clients reject forged replies.
 * - The receive time is taken first thing on arrival, the transmit time last thing before the send.
 * - The leap indicator comes from the kernel's clock state (adjtimex) when it can be read: a clock no daemon
 *   keeps synchronised is announced as LI = 3 and stratum 16, so clients do not trust it. Without FFI, or when
 *   told, a configured leap indicator is used.
 * - Replies are never larger than requests (48 bytes; requests shorter than 48 bytes are dropped), so the server
 *   cannot amplify. Packets that are malformed or not client requests (control and private modes included) are
 *   dropped silently and counted.
 * - Each client address (IPv6: its /64) gets a token bucket; a client over its rate gets a RATE kiss-o'-death,
 *   at most one per interval, and silence otherwise. On by default.
 *
 * @module
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { type LeapIndicator, NTP_HEADER_LENGTH, parseRefId, refIdToText } from '../codec/ntp.js';
import { secondsToNtpShort, writeNtpTimestampMs } from '../codec/ntp-timestamp.js';
import { type Clock, systemClock } from '../core/clock.js';
import { debug } from '../core/debug.js';
import { ClosedError, toSoketError, ValidationError } from '../core/errors.js';
import { formatHostPort, parseHost, parseInteger, parsePort } from '../core/validate.js';
import { readKernelClock } from '../platform/kernel-clock.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';

/** Options of {@link createSntpServer}. */
export interface SntpServerOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one (see `address.port`). @default 123 */
  port?: number;
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
  /** Where the timestamps come from. @default systemClock */
  clock?: Clock;
  /** Closes the server when it fires. */
  signal?: AbortSignal;
}

/** The defaults of {@link SntpServerOptions}, in one place. */
export const SNTP_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 123,
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
  /**
   * Errors the socket reported. Replies are sent without a completion callback (it would cost a deferred call
   * per reply), so a send the kernel refuses outright (ENOBUFS under overload) is not counted here.
   */
  sendErrors: number;
}

/** Where the announced leap indicator comes from. */
export type LeapSource = 'kernel' | 'option' | 'fallback';

/** A running server. */
export interface SntpServer {
  /** The bound address and the real port. */
  readonly address: { address: string; port: number; family: 4 | 6 };
  /** Announced stratum (16 while the leap indicator is 3). */
  readonly stratum: number;
  /** Announced reference ID and its text. */
  readonly referenceId: number;
  readonly referenceIdText: string;
  /** Announced precision (signed log2 s). */
  readonly precision: number;
  /** The leap indicator now being announced. */
  readonly leap: LeapIndicator;
  /** Where it comes from; with `fallback`, `leapReason` says why the kernel could not be read. */
  readonly leapSource: LeapSource;
  readonly leapReason: string | undefined;
  /** A copy of the counters. */
  stats(): SntpServerStats;
  /** Stop answering and release the port. Idempotent. */
  close(): Promise<void>;
}

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

function resetStats(stats: SntpServerStats): void {
  stats.received = 0;
  stats.answered = 0;
  stats.kod = 0;
  stats.dropped = { malformed: 0, notClient: 0, rateLimited: 0 };
  stats.sendErrors = 0;
}

/** Send one client request to the server just bound and wait (briefly) for its reply; failures are ignored. */
async function warmUp(address: string, port: number, family: 4 | 6): Promise<void> {
  const to = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 200);
      s.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      s.once('error', () => {
        clearTimeout(timer);
        resolve();
      });
      const req = new Uint8Array(NTP_HEADER_LENGTH);
      req[0] = 0x23;
      req[47] = 1;
      s.send(req, port, to);
    });
  } finally {
    s.close();
  }
}

function checkLeap(value: unknown, what: string): LeapIndicator {
  if (value === 0 || value === 1 || value === 2 || value === 3) return value;
  throw new ValidationError(`Invalid ${what} '${String(value)}': expected 0, 1, 2 or 3`);
}

function checkSeconds(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 65536) {
    throw new ValidationError(`Invalid ${what} '${value}': expected seconds from 0 to below 65536`);
  }
  return value;
}

/**
 * Start an SNTP server.
 *
 * @param options - address, stratum, reference ID, leap source, rate limit, clock, signal
 * @returns the running server (bound and answering)
 * @throws {ValidationError} for bad options
 * @throws {NetworkError} when the address cannot be bound (`EADDRINUSE`, `EACCES` for port 123 without root)
 * @example
 * ```ts
 * import { createSntpServer, sntpQuery } from 'soket';
 * const server = await createSntpServer({ port: 0, leap: 0 });
 * const r = await sntpQuery('127.0.0.1', { port: server.address.port });
 * console.log(r.offset, server.stats().answered); // ~0, 1
 * await server.close();
 * ```
 */
export async function createSntpServer(options: SntpServerOptions = {}): Promise<SntpServer> {
  const host = parseHost(options.host ?? SNTP_SERVER_DEFAULTS.host, 'listen address');
  const family = isIP(host);
  if (family === 0) throw new ValidationError(`Invalid listen address '${host}': expected an IP address`);
  const port = parsePort(options.port ?? SNTP_SERVER_DEFAULTS.port, { allowZero: true });
  const configuredStratum = parseInteger(options.stratum ?? SNTP_SERVER_DEFAULTS.stratum, 'stratum', {
    min: 1,
    max: 15,
  });
  const refOpt = options.referenceId ?? (configuredStratum === 1 ? 'LOCL' : '127.127.1.1');
  const referenceId =
    typeof refOpt === 'number'
      ? parseInteger(refOpt, 'reference ID', { min: 0, max: 0xffff_ffff })
      : parseRefId(refOpt, configuredStratum);
  const leapOpt = options.leap ?? SNTP_SERVER_DEFAULTS.leap;
  if (leapOpt !== 'kernel') checkLeap(leapOpt, 'leap indicator');
  const fallbackLeap = checkLeap(options.fallbackLeap ?? SNTP_SERVER_DEFAULTS.fallbackLeap, 'fallback leap');
  const clock = options.clock ?? systemClock;
  const precision =
    options.precision === undefined
      ? measurePrecision(clock)
      : parseInteger(options.precision, 'precision', { min: -128, max: 127 });
  const rootDelay = checkSeconds(options.rootDelay ?? SNTP_SERVER_DEFAULTS.rootDelay, 'root delay');
  const rootDispersion = checkSeconds(
    options.rootDispersion ?? SNTP_SERVER_DEFAULTS.rootDispersion,
    'root dispersion',
  );
  const limiter = options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? {});
  // a KoD raises the client's poll to at least the limiter's interval (rounded up to a power of two)
  const kodPoll = limiter ? Math.min(17, Math.max(0, Math.ceil(Math.log2(limiter.interval / 1000)))) : 0;
  if (options.signal?.aborted) throw new ClosedError('SNTP server not started: the signal had already fired');

  // Bytes 1..23 of every reply (stratum, precision, root delay, root dispersion, reference ID and time).
  const template = new Uint8Array(NTP_HEADER_LENGTH);
  const tview = new DataView(template.buffer);
  tview.setInt8(3, precision);
  tview.setUint32(4, secondsToNtpShort(rootDelay));
  tview.setUint32(8, secondsToNtpShort(rootDispersion));
  tview.setUint32(12, referenceId);

  let leap: LeapIndicator = fallbackLeap;
  let leapSource: LeapSource = leapOpt === 'kernel' ? 'kernel' : 'option';
  let leapReason: string | undefined;
  let stratum = configuredStratum;
  const refresh = () => {
    if (leapOpt !== 'kernel') leap = leapOpt;
    else if (leapSource === 'kernel') {
      try {
        leap = readKernelClock().leap;
      } catch (err) {
        leapSource = 'fallback';
        leapReason = (err as Error).message;
        leap = fallbackLeap;
        debug('ntp', `server: kernel clock state unreadable, announcing leap ${leap}`, {
          reason: leapReason,
        });
      }
    }
    stratum = leap === 3 ? 16 : configuredStratum;
    template[1] = stratum;
    // Reference time: the last moment the clock's state was checked.
    writeNtpTimestampMs(template, 16, clock.now());
  };
  refresh();

  const stats: SntpServerStats = {
    received: 0,
    answered: 0,
    kod: 0,
    dropped: { malformed: 0, notClient: 0, rateLimited: 0 },
    sendErrors: 0,
  };
  // Replies go to the address a request came from, always an IP literal: resolve it synchronously instead of
  // through dns.lookup, which would defer every send to the next tick (later transmit, slower server).
  const literal = (
    address: string,
    fam: unknown,
    callback: (err: null, address: string, family: number) => void,
  ) => callback(null, address, fam === 6 || fam === 'IPv6' ? 6 : family);
  // One request to itself before serving, so that V8 has compiled the reply path before a client's first
  // request (which would otherwise get a receive timestamp a millisecond late); not counted, not rate-limited.
  let warming = true;
  const socket = dgram.createSocket({
    type: family === 6 ? 'udp6' : 'udp4',
    lookup: literal as unknown as dgram.SocketOptions['lookup'],
  });
  const templateTail = template.subarray(3, 24);
  socket.on('message', (msg, rinfo) => {
    const rxMs = clock.now(); // receive timestamp: first thing
    stats.received++;
    if (msg.length < NTP_HEADER_LENGTH || rinfo.port === 0) {
      stats.dropped.malformed++;
      return;
    }
    const b0 = msg[0] as number;
    if ((b0 & 7) !== 3) {
      stats.dropped.notClient++;
      return;
    }
    const version = (b0 >>> 3) & 7;
    if (version === 0 || version > 4) {
      stats.dropped.malformed++;
      return;
    }
    // The reply is built in the request's own buffer: never larger than the request, no allocation.
    const reply = msg.length === NTP_HEADER_LENGTH ? msg : msg.subarray(0, NTP_HEADER_LENGTH);
    reply.copyWithin(24, 40, 48); // origin = request transmit, bit for bit
    if (limiter && !warming) {
      const decision = limiter.check(rinfo.address, clock.monotonic());
      if (decision !== 'allow') {
        if (decision === 'drop') {
          stats.dropped.rateLimited++;
          return;
        }
        // RATE kiss-o'-death: LI 3, stratum 0, refid RATE, poll raised to the limiter's interval, and the
        // receive and transmit times set to the client's own transmit time, so it carries no usable time.
        reply[0] = 0xc0 | (version << 3) | 4;
        reply[1] = 0;
        reply[2] = Math.max(((reply[2] as number) << 24) >> 24, kodPoll) & 0xff;
        reply[3] = template[3] as number;
        reply.fill(0, 4, 12);
        reply[12] = 0x52; // R
        reply[13] = 0x41; // A
        reply[14] = 0x54; // T
        reply[15] = 0x45; // E
        reply.fill(0, 16, 24);
        reply.copyWithin(32, 24, 32);
        reply.copyWithin(40, 24, 32);
        stats.kod++;
        debug('ntp', `server: rate limit, sent RATE to ${formatHostPort(rinfo.address, rinfo.port)}`);
        socket.send(reply, rinfo.port, rinfo.address);
        return;
      }
    }
    reply[0] = (leap << 6) | (version << 3) | 4; // poll (byte 2) stays as the client sent it
    reply[1] = stratum;
    reply.set(templateTail, 3);
    writeNtpTimestampMs(reply, 32, rxMs);
    writeNtpTimestampMs(reply, 40, clock.now()); // transmit timestamp: last thing before the send
    socket.send(reply, rinfo.port, rinfo.address);
    stats.answered++;
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      socket.close();
      reject(toSoketError(err, `Cannot listen on ${formatHostPort(host, port)} (UDP)`));
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  // Without a send callback (cheaper: no deferred completion), a failed send surfaces here.
  socket.on('error', (err) => {
    stats.sendErrors++;
    debug('ntp', 'server: socket error', { error: err.message });
  });

  const bound = socket.address();
  await warmUp(bound.address, bound.port, family === 6 ? 6 : 4);
  warming = false;
  resetStats(stats);

  const timer = setInterval(refresh, 1000);
  timer.unref();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (!closing) {
      closing = new Promise<void>((resolve) => {
        clearInterval(timer);
        options.signal?.removeEventListener('abort', onAbort);
        socket.close(() => resolve());
      });
      debug('ntp', 'server: closed', { ...stats });
    }
    return closing;
  };
  const onAbort = () => {
    void close();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  debug('ntp', `server: listening on ${formatHostPort(bound.address, bound.port)}`, {
    stratum,
    leap,
    leapSource,
  });
  return {
    address: { address: bound.address, port: bound.port, family: family as 4 | 6 },
    get stratum() {
      return stratum;
    },
    referenceId,
    referenceIdText: refIdToText(referenceId, configuredStratum),
    precision,
    get leap() {
      return leap;
    },
    get leapSource() {
      return leapSource;
    },
    get leapReason() {
      return leapReason;
    },
    stats: () => ({ ...stats, dropped: { ...stats.dropped } }),
    close,
  };
}
