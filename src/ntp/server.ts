// contract: v2 (issue 10: the common server lifecycle; the reply logic is the plain handler in sntp-responder.ts)
/**
 * A safe SNTP server (RFC 4330 §6, RFC 5905 §7–9) on a UDP socket, with the common server lifecycle. What it
 * answers and how is {@link SntpResponder}'s business (client requests only, origin copied bit for bit,
 * replies never larger than requests, a per-client rate limit with RATE kiss-o'-death, the kernel's leap
 * state); this module receives, timestamps and sends.
 *
 * - The receive time is taken first thing on arrival, the transmit time last thing before the send.
 * - Before serving, one request to itself warms the reply path up (not counted, not rate-limited), so a
 *   client's first request does not get a receive timestamp a millisecond late.
 *
 * @module
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { NTP_HEADER_LENGTH } from '../codec/ntp.js';
import { debug } from '../core/debug.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import { type InetAddress, listening, ServerLifecycle } from '../core/lifecycle.js';
import { formatHostPort, parseHost, parsePort } from '../core/validate.js';
import {
  type LeapSource,
  SNTP_RESPONDER_DEFAULTS,
  SntpResponder,
  type SntpResponderOptions,
  type SntpServerStats,
} from './sntp-responder.js';

export type { LeapSource, SntpServerStats } from './sntp-responder.js';

/** Options of {@link createSntpServer}: where to listen, and what to announce (see {@link SntpResponderOptions}). */
export interface SntpServerOptions extends SntpResponderOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one (see `address.port`). @default 123 */
  port?: number;
  /** Closes the server when it fires. */
  signal?: AbortSignal;
}

/** The defaults of {@link SntpServerOptions}, in one place. */
export const SNTP_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 123,
  ...SNTP_RESPONDER_DEFAULTS,
} as const;

/** Events of an {@link SntpServer} (besides the lifecycle's `listening`, `close` and `error`). */
export type SntpServerEvents = Record<never, never>;

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

/**
 * An SNTP server on a UDP socket. Made by {@link createSntpServer}, or `new SntpServer()` and `listen()`.
 *
 * @example
 * ```ts
 * const server = new SntpServer({ port: 0, leap: 0 });
 * const { port } = await server.listen();
 * const stats = await server.close();
 * ```
 */
export class SntpServer extends ServerLifecycle<SntpServerStats, InetAddress, SntpServerEvents> {
  protected readonly kind = 'SNTP server';
  /** The reply logic: what is announced, the counters, the rate limit. */
  readonly responder: SntpResponder;
  readonly #host: string;
  readonly #port: number;
  #socket: dgram.Socket | undefined;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param options - address, stratum, reference ID, leap source, rate limit, clock, signal
   * @throws {ValidationError} for bad options
   */
  constructor(options: SntpServerOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid SNTP server options: expected an object');
    }
    super(options.signal);
    this.#host = parseHost(options.host ?? SNTP_SERVER_DEFAULTS.host, 'listen address');
    if (isIP(this.#host) === 0) {
      throw new ValidationError(`Invalid listen address '${this.#host}': expected an IP address`);
    }
    this.#port = parsePort(options.port ?? SNTP_SERVER_DEFAULTS.port, { allowZero: true });
    this.responder = new SntpResponder(options);
  }

  /** Announced stratum (16 while the leap indicator is 3). */
  get stratum(): number {
    return this.responder.stratum;
  }
  /** Announced reference ID and its text. */
  get referenceId(): number {
    return this.responder.referenceId;
  }
  get referenceIdText(): string {
    return this.responder.referenceIdText;
  }
  /** Announced precision (signed log2 s). */
  get precision(): number {
    return this.responder.precision;
  }
  /** The leap indicator now being announced, where it comes from, and why when it is the fallback. */
  get leap(): 0 | 1 | 2 | 3 {
    return this.responder.leap;
  }
  get leapSource(): LeapSource {
    return this.responder.leapSource;
  }
  get leapReason(): string | undefined {
    return this.responder.leapReason;
  }

  /** A copy of the counters. */
  stats(): SntpServerStats {
    return this.responder.snapshot();
  }

  protected async start(): Promise<InetAddress> {
    const family = isIP(this.#host) === 6 ? 6 : 4;
    const responder = this.responder;
    const clock = responder.clock;
    // Replies go to the address a request came from, always an IP literal: resolve it synchronously instead
    // of through dns.lookup, which would defer every send to the next tick (later transmit, slower server).
    const literal = (
      address: string,
      fam: unknown,
      callback: (err: null, address: string, family: number) => void,
    ) => callback(null, address, fam === 6 || fam === 'IPv6' ? 6 : family);
    let warming = true;
    const socket = dgram.createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      lookup: literal as unknown as dgram.SocketOptions['lookup'],
    });
    socket.on('message', (msg, rinfo) => {
      const rxMs = clock.now(); // receive timestamp: first thing
      const reply = responder.respond(msg, rinfo.address, rinfo.port, rxMs, !warming);
      if (reply) socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(toSoketError(err, `Cannot listen on ${formatHostPort(this.#host, this.#port)} (UDP)`));
      };
      socket.once('error', onError);
      socket.bind({ address: this.#host, port: this.#port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    // Without a send callback (cheaper: no deferred completion), a failed send surfaces here.
    socket.on('error', (err) => {
      responder.stats.sendErrors++;
      debug('ntp', 'server: socket error', { error: err.message });
      this.reportError(toSoketError(err, 'SNTP reply failed'));
    });
    this.#socket = socket;
    const bound = socket.address();
    await warmUp(bound.address, bound.port, family);
    warming = false;
    responder.resetStats();
    this.#timer = setInterval(() => responder.refresh(), 1000);
    this.#timer.unref();
    const address: InetAddress = { address: bound.address, port: bound.port, family };
    debug('ntp', `server: listening on ${formatHostPort(address.address, address.port)}`, {
      stratum: responder.stratum,
      leap: responder.leap,
      leapSource: responder.leapSource,
    });
    return address;
  }

  protected async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    const socket = this.#socket;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    debug('ntp', 'server: closed', { ...this.responder.stats });
  }
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
export function createSntpServer(options: SntpServerOptions = {}): Promise<SntpServer> {
  return listening(new SntpServer(options));
}
