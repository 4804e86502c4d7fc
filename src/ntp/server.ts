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
 * - Where FFI works it runs on the batched UDP engine (platform/udp-engine.ts): `workers` threads (one per core
 *   by default), each with its own SO_REUSEPORT socket and its own responder and rate limiter (the kernel
 *   keeps a client on one worker), T2 from the kernel's receive timestamp and T3 read just before sendmmsg.
 *   NTS cookie keys and symmetric keys go to the workers as plain data (see sntp-engine-handler.ts; a manual
 *   `rotate()` of the cookie keys is in force in every worker at once, through shared memory). Without FFI, or
 *   with a custom `clock` (which a worker cannot take), it runs on one `dgram` socket in the main thread;
 *   `stats().datapath` says which, and a debug event (`-v`) why.
 *
 * @module
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { NTP_HEADER_LENGTH } from '../codec/ntp.js';
import { debug } from '../core/debug.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import { type InetAddress, listening, ServerLifecycle } from '../core/lifecycle.js';
import { formatHostPort, parseHost, parseInteger, parsePort } from '../core/validate.js';
import type { Datapath } from '../platform/datagram-handler.js';
import { dgramKernelStamps, type KernelStamps } from '../platform/dgram-timestamps.js';
import { batchedDatapath, coreCount, UDP_ENGINE_LIMITS, UdpEngine } from '../platform/udp-engine.js';
import { type SntpEngineConfig, sntpEngineHandler, sntpStatsFromEngine } from './sntp-engine-handler.js';
import {
  type LeapSource,
  SNTP_RESPONDER_DEFAULTS,
  SntpResponder,
  type SntpResponderOptions,
  type SntpServerStats as SntpResponderStats,
} from './sntp-responder.js';

export type { LeapSource } from './sntp-responder.js';

/** The server's counters: the responder's, and the path that serves. */
export interface SntpServerStats extends SntpResponderStats {
  /** `batched` (recvmmsg/sendmmsg in worker threads, kernel timestamps) or `dgram` (one Node socket). */
  datapath: Datapath;
  /** Workers (sockets) serving. */
  workers: number;
  /** Requests the kernel dropped because a receive queue was full (counted, never lost silently). */
  kernelDrops: number;
}

/**
 * The responder options a worker thread can take: plain data (sntpEngineHandler makes the cookie keys and the
 * symmetric keys plain), no functions.
 */
const TRANSFERABLE = new Set<string>([
  'nts',
  'keys',
  'stratum',
  'referenceId',
  'leap',
  'fallbackLeap',
  'precision',
  'rootDelay',
  'rootDispersion',
  'rateLimit',
]);
/** Options of the server itself (not the responder's). */
const SERVER_ONLY = new Set<string>(['host', 'port', 'signal', 'workers', 'datapath']);

/** Options of {@link createSntpServer}: where to listen, and what to announce (see {@link SntpResponderOptions}). */
export interface SntpServerOptions extends SntpResponderOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one (see `address.port`). @default 123 */
  port?: number;
  /** Closes the server when it fires. */
  signal?: AbortSignal;
  /** Worker threads on the batched path (each its own socket and rate limiter); 0 for one per core. @default 0 */
  workers?: number;
  /** `auto` serves batched where it can and falls back to `dgram`; the others insist. @default 'auto' */
  datapath?: 'auto' | Datapath;
}

/** The defaults of {@link SntpServerOptions}, in one place. */
export const SNTP_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 123,
  workers: 0,
  datapath: 'auto',
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
  #engine: UdpEngine | undefined;
  readonly #workers: number;
  readonly #datapath: 'auto' | Datapath;
  /** Whether the caller gave a clock (then every time is read from it, never from the kernel). */
  readonly #ownClock: boolean;
  /** What the workers are made with, or why they cannot be (then the dgram path serves). */
  readonly #engineConfig: SntpEngineConfig | string;

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
    const workers = parseInteger(options.workers ?? SNTP_SERVER_DEFAULTS.workers, 'workers', {
      min: 0,
      max: UDP_ENGINE_LIMITS.workers,
    });
    this.#workers = workers === 0 ? coreCount() : workers;
    const datapath = options.datapath ?? SNTP_SERVER_DEFAULTS.datapath;
    if (datapath !== 'auto' && datapath !== 'batched' && datapath !== 'dgram') {
      throw new ValidationError(`Invalid datapath '${String(datapath)}': expected auto, batched or dgram`);
    }
    this.#datapath = datapath;
    this.#ownClock = options.clock !== undefined;
    this.responder = new SntpResponder(options);
    // Workers get plain options; every worker announces the precision measured here.
    const config: Record<string, unknown> = { precision: this.responder.precision };
    const cannot: string[] = [];
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined || SERVER_ONLY.has(key)) continue;
      if (TRANSFERABLE.has(key)) config[key] = value;
      else cannot.push(key);
    }
    this.#engineConfig = cannot.length
      ? `option${cannot.length > 1 ? 's' : ''} ${cannot.join(', ')} cannot be handed to worker threads`
      : (config as SntpEngineConfig);
    if (typeof this.#engineConfig === 'string' && datapath === 'batched') {
      throw new ValidationError(`Cannot serve SNTP on the batched datapath: ${this.#engineConfig}`);
    }
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

  /** The path that serves: `batched` or `dgram` (known once `listen()` resolved). */
  get datapath(): Datapath {
    return this.#engine?.datapath ?? 'dgram';
  }

  /** A copy of the counters. */
  stats(): SntpServerStats {
    const engine = this.#engine;
    if (engine) {
      const e = engine.stats();
      return {
        ...sntpStatsFromEngine(e.handler, e.sendErrors),
        datapath: e.datapath,
        workers: e.workers,
        kernelDrops: e.kernelDrops,
      };
    }
    return { ...this.responder.snapshot(), datapath: 'dgram', workers: this.#socket ? 1 : 0, kernelDrops: 0 };
  }

  protected async start(): Promise<InetAddress> {
    const config = this.#engineConfig;
    const batched = batchedDatapath();
    if (
      typeof config !== 'string' &&
      this.#datapath !== 'dgram' &&
      (batched.ok || this.#datapath === 'batched')
    ) {
      const engine = new UdpEngine(
        { host: this.#host, port: this.#port, workers: this.#workers, datapath: this.#datapath },
        sntpEngineHandler(config),
      );
      engine.on('error', (err) => this.reportError(err));
      const address = await engine.listen();
      this.#engine = engine;
      // The responder here answers no requests; it keeps what the server announces current for its getters.
      this.#timer = setInterval(() => this.responder.refresh(), 1000);
      this.#timer.unref();
      debug('ntp', `server: listening on ${formatHostPort(address.address, address.port)}`, {
        stratum: this.responder.stratum,
        leap: this.responder.leap,
        leapSource: this.responder.leapSource,
        datapath: engine.datapath,
        workers: engine.stats().workers,
        ...(engine.fallbackReason ? { fallback: engine.fallbackReason } : {}),
      });
      return address;
    }
    const why =
      typeof config === 'string'
        ? config
        : this.#datapath === 'dgram'
          ? 'asked for'
          : batched.ok
            ? ''
            : batched.reason;
    debug('ntp', `server: dgram datapath (${why})`);
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
    // The kernel's receive timestamp of each request where FFI gives it (SIOCGSTAMPNS), else the clock.
    let stamps: KernelStamps | undefined;
    socket.on('message', (msg, rinfo) => {
      const rxMs = stamps?.received() ?? clock.now(); // receive timestamp: first thing
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
    if (!this.#ownClock) stamps = dgramKernelStamps(socket, { transmit: false });
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

  protected async stop(timeout: number | undefined): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#engine) {
      const final = await this.#engine.close(timeout === undefined ? {} : { timeout });
      debug('ntp', 'server: closed', { ...sntpStatsFromEngine(final.handler, final.sendErrors) });
      return;
    }
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
export async function createSntpServer(options: SntpServerOptions = {}): Promise<SntpServer> {
  return listening(new SntpServer(options));
}
