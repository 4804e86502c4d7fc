/**
 * An interactive UDP session over a connected socket, like `nc -u HOST PORT`: send datagrams, receive the
 * replies as they arrive, hear about an ICMP "port unreachable", and after the input ends wait a while for
 * late replies.
 *
 * What `connect(2)` means for a UDP socket: nothing is sent. The kernel records the peer, so that
 * - `send(2)` needs no address (and Node skips its per-datagram address lookup);
 * - only datagrams whose source is that peer's address and port are delivered to the socket — others are
 *   dropped by the kernel before they reach soket;
 * - an ICMP "port unreachable" that comes back for one of its datagrams is reported on the socket as
 *   `ECONNREFUSED` (an unconnected socket never hears of it). The error is reported once, on the next
 *   receive or send; the socket stays usable, and a later datagram may well be answered (the server started).
 *
 * Broadcast and multicast: a session to a multicast group, or to a broadcast address with `broadcast: true`
 * (SO_BROADCAST), is not connected: answers come from the members' (or hosts') own addresses, which a
 * connected socket would drop, so every datagram that reaches the local port is delivered, and its `from`
 * says who sent it. Without SO_BROADCAST, `connect(2)` to a broadcast address fails with `EACCES` at once, and
 * the error says which option is missing. Multicast sends use `multicastTtl`, `multicastInterface` and
 * `multicastLoopback` (see `udp-multicast.ts`).
 *
 * @module
 */
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import { isIP } from 'node:net';
import { throwIfAborted, withTimeout } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import { ClosedError, toSoketError, ValidationError } from '../core/errors.js';
import { EventQueue } from '../core/event-queue.js';
import { checkTimeout, formatHostPort, parseHost, parseHostPort, parsePort } from '../core/validate.js';
import { type SocketOptions, setSocketOptions, validateSocketOptions } from './sockopt.js';
import {
  applySendGroupOptions,
  checkSendGroupOptions,
  isBroadcastAddress,
  isMulticastAddress,
  type UdpSendGroupOptions,
  udpSendError,
} from './udp-multicast.js';

/** Largest UDP payload over IPv4 and IPv6 (without jumbograms). */
const MAX_PAYLOAD = { 4: 65_507, 6: 65_527 } as const;

/** A local address to bind before connecting: `ADDRESS`, `ADDRESS:PORT`, `[v6]:PORT` or `:PORT`. */
export interface SourceAddress {
  /** The local address; `undefined` for any. */
  address: string | undefined;
  /** The local port; 0 for any. */
  port: number;
}

/**
 * Parse a source address as `--source` gives it: `ADDRESS`, `ADDRESS:PORT`, `[IPv6]:PORT`, or `:PORT` (any
 * address, that port). The address must be an IP address (a local one; the kernel checks when binding).
 *
 * @param text - `127.0.0.2`, `127.0.0.2:5000`, `[::1]:5000`, `::1`, `:5000`
 * @param what - for the message (`--source`)
 * @returns the address and port
 * @throws {ValidationError} for anything else
 * @example
 * ```ts
 * parseSourceAddress('[::1]:5000'); // { address: '::1', port: 5000 }
 * ```
 */
export function parseSourceAddress(text: string, what = 'source address'): SourceAddress {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new ValidationError(`Invalid ${what} '${String(text)}': expected ADDRESS[:PORT]`);
  }
  const v = text.trim();
  if (v.startsWith(':') && /^:\d+$/.test(v)) {
    return { address: undefined, port: parsePort(v.slice(1), { allowZero: true, what: `${what} port` }) };
  }
  const plain = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  if (isIP(plain) !== 0 || (plain.includes('%') && isIP(plain.split('%')[0] ?? '') === 6)) {
    return { address: plain, port: 0 };
  }
  let hp: { host: string; port: number };
  try {
    hp = parseHostPort(v, { allowZero: true });
  } catch {
    throw new ValidationError(`Invalid ${what} '${text}': expected ADDRESS[:PORT], such as 127.0.0.2:5000`);
  }
  const host = hp.host;
  if (isIP(host.split('%')[0] ?? '') === 0) {
    throw new ValidationError(`Invalid ${what} '${text}': the address must be an IP address, not a name`);
  }
  return { address: host, port: hp.port };
}

/** Options of {@link udpConnect}. */
export interface UdpConnectOptions extends UdpSendGroupOptions {
  /** The peer's host name or address. */
  host: string;
  /** The peer's port. */
  port: number;
  /** Address family for a host name: 0 any, 4 or 6. @default 0 */
  family?: 0 | 4 | 6;
  /** Local address (and port) to bind first: `'127.0.0.2'`, `'[::1]:5000'`, or `{ address, port }`. */
  source?: string | SourceAddress;
  /** Milliseconds for the name lookup. @default 5000 */
  lookupTimeout?: number;
  /** After the input ends (`end()`), how long to wait for late replies before closing, in ms. @default 1000 */
  linger?: number;
  /** Close after this many ms without a datagram either way; 0 for never. @default 0 */
  idleTimeout?: number;
  /** IP_TTL / IPV6_UNICAST_HOPS of unicast datagrams, 1 to 255. @default the system's (64) */
  ttl?: number;
  /** SO_RCVBUF in bytes; 0 keeps the system default. @default 0 */
  receiveBufferSize?: number;
  /** SO_SNDBUF in bytes; 0 keeps the system default. @default 0 */
  sendBufferSize?: number;
  /** More socket options, set after binding. */
  socketOptions?: SocketOptions;
  /**
   * Datagrams to send, one per item (see `splitDatagrams` for cutting a stream). When it ends, the session
   * lingers and closes. Without it, call `send()` and `end()` yourself.
   */
  input?: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;
  /** Events held for a slow reader; received datagrams beyond it are dropped and counted. @default 1024 */
  queueLimit?: number;
  /** Closes the session (it ends normally, with reason `aborted`). */
  signal?: AbortSignal;
}

/** Every default of {@link UdpConnectOptions}. */
export const UDP_CONNECT_DEFAULTS = {
  family: 0,
  lookupTimeout: 5000,
  linger: 1000,
  idleTimeout: 0,
  receiveBufferSize: 0,
  sendBufferSize: 0,
  queueLimit: 1024,
} as const;

/** An IP address and port. */
export interface UdpEndpoint {
  address: string;
  port: number;
  family: 4 | 6;
}

/** Counters of a {@link UdpConnection}. */
export interface UdpConnectionStats {
  /** Datagrams sent. */
  datagramsOut: number;
  /** Payload bytes sent. */
  bytesOut: number;
  /** Datagrams received (from the peer: the kernel drops others). */
  datagramsIn: number;
  /** Payload bytes received. */
  bytesIn: number;
  /** ICMP port-unreachable reports (each `refused` event). */
  refused: number;
  /** Received datagrams dropped because the reader of events fell behind. */
  dropped: number;
  /** Milliseconds from connect to now (or to the end). */
  durationMs: number;
}

/** Why a session ended. */
export type UdpConnectionEndReason = 'linger' | 'idle' | 'closed' | 'aborted' | 'error';

/** The events of a {@link UdpConnection}, in order. Every event has an `event` field. */
export type UdpConnectEvent =
  | { event: 'connected'; local: UdpEndpoint; remote: UdpEndpoint }
  | { event: 'sent'; data: Uint8Array; bytes: number; datagram: number }
  | { event: 'datagram'; data: Buffer; bytes: number; from: UdpEndpoint }
  | {
      event: 'refused';
      remote: UdpEndpoint;
      /** Datagrams sent before the ICMP port unreachable was reported. */
      afterDatagrams: number;
      message: string;
    }
  | { event: 'end'; reason: UdpConnectionEndReason; stats: UdpConnectionStats };

/**
 * A connected UDP socket: send with {@link UdpConnection.send}, read events with `for await`. Made by
 * {@link udpConnect}.
 *
 * @example
 * ```ts
 * const conn = await udpConnect({ host: '127.0.0.1', port: 9000, linger: 200 });
 * await conn.send('hello');
 * conn.end();
 * for await (const e of conn) if (e.event === 'datagram') console.log(e.data.toString());
 * ```
 */
export class UdpConnection implements AsyncIterable<UdpConnectEvent> {
  /** The socket. */
  readonly socket: dgram.Socket;
  /** The local address and port. */
  readonly local: UdpEndpoint;
  /** The peer. */
  readonly remote: UdpEndpoint;
  /** Resolves with the final counters when the session has ended. */
  readonly finished: Promise<UdpConnectionStats>;
  /**
   * Whether the socket is connected. It is not for a multicast group or a broadcast address: answers to
   * those come from the members' own addresses, which a connected socket would drop (`from` tells them apart).
   */
  readonly connected: boolean;
  #queue: EventQueue<UdpConnectEvent>;
  #started = performance.now();
  #ended: number | undefined;
  #stats = { datagramsOut: 0, bytesOut: 0, datagramsIn: 0, bytesIn: 0, refused: 0 };
  #closed = false;
  #ending = false;
  #pendingSends = 0;
  #lingerMs: number;
  #idleMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lastActivity = performance.now();
  #broadcast: boolean;
  #where: string;
  #resolveFinished!: (s: UdpConnectionStats) => void;
  #signal: AbortSignal | undefined;
  #onAbort = () => this.#close('aborted');

  /** @internal Use {@link udpConnect}. */
  constructor(
    socket: dgram.Socket,
    local: UdpEndpoint,
    remote: UdpEndpoint,
    o: {
      linger: number;
      idleTimeout: number;
      queueLimit: number;
      broadcast: boolean;
      connected: boolean;
      signal?: AbortSignal;
    },
  ) {
    this.socket = socket;
    this.local = local;
    this.remote = remote;
    this.#lingerMs = o.linger;
    this.#idleMs = o.idleTimeout;
    this.#broadcast = o.broadcast;
    this.connected = o.connected;
    this.#where = formatHostPort(remote.address, remote.port);
    this.#queue = new EventQueue({ limit: o.queueLimit });
    this.finished = new Promise((r) => {
      this.#resolveFinished = r;
    });
    this.#queue.push({ event: 'connected', local, remote });
    socket.on('message', (data, rinfo) => {
      this.#stats.datagramsIn++;
      this.#stats.bytesIn += data.length;
      this.#lastActivity = performance.now();
      this.#queue.offer({
        event: 'datagram',
        data,
        bytes: data.length,
        from: { address: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 6 : 4 },
      });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') this.#refused();
      else {
        // A receive error other than a refusal: report it once and end.
        debug('udp', 'connected socket error', { to: this.#where, error: err.message });
        this.#queue.fail(toSoketError(err, `UDP session with ${this.#where}`));
        this.#close('error');
      }
    });
    if (this.#idleMs > 0) this.#armIdle();
    if (o.signal) {
      this.#signal = o.signal;
      if (o.signal.aborted) queueMicrotask(this.#onAbort);
      else o.signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  #refused(): void {
    this.#stats.refused++;
    debug('udp', 'ICMP port unreachable', { to: this.#where });
    this.#queue.push({
      event: 'refused',
      remote: this.remote,
      afterDatagrams: this.#stats.datagramsOut,
      message: `${this.#where} refused: ICMP port unreachable (nothing listens on that port)`,
    });
  }

  #armIdle(): void {
    const check = () => {
      const idle = performance.now() - this.#lastActivity;
      if (idle >= this.#idleMs) this.#close('idle');
      else this.#timer = setTimeout(check, this.#idleMs - idle + 1);
    };
    this.#timer = setTimeout(check, this.#idleMs);
  }

  /** A snapshot of the counters. */
  stats(): UdpConnectionStats {
    return {
      ...this.#stats,
      dropped: this.#queue.dropped,
      durationMs: Math.round(((this.#ended ?? performance.now()) - this.#started) * 1000) / 1000,
    };
  }

  /** Whether the session has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Send one datagram to the peer.
   *
   * @param data - the payload (a string is sent as UTF-8); empty is allowed
   * @returns resolves once the kernel took it
   * @throws {ValidationError} when it is larger than one datagram can be
   * @throws {ClosedError} after the session ended
   * @throws {NetworkError} when the kernel refuses it (`EACCES` to a broadcast address without `broadcast`,
   *   `EMSGSIZE`, ...). An ICMP port unreachable is not an error: it is a `refused` event.
   */
  async send(data: Uint8Array | string): Promise<void> {
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const max = MAX_PAYLOAD[this.remote.family];
    if (payload.length > max) {
      throw new ValidationError(
        `UDP payload of ${payload.length} bytes is too large: IPv${this.remote.family} allows at most ${max} bytes in one datagram`,
      );
    }
    if (this.#closed || this.#ending) {
      throw new ClosedError(
        `Cannot send to ${this.#where}: the session has ${this.#closed ? 'ended' : 'ended its input'}`,
      );
    }
    this.#pendingSends++;
    try {
      await this.#sendOnce(payload, true);
    } finally {
      this.#pendingSends--;
      if (this.#ending && this.#pendingSends === 0) this.#startLinger();
    }
  }

  #sendOnce(payload: Uint8Array, retryRefused: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err: Error | null) => {
        if (!err) {
          this.#stats.datagramsOut++;
          this.#stats.bytesOut += payload.length;
          this.#lastActivity = performance.now();
          this.#queue.push({
            event: 'sent',
            data: payload,
            bytes: payload.length,
            datagram: this.#stats.datagramsOut,
          });
          resolve();
          return;
        }
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ECONNREFUSED' && retryRefused && !this.#closed) {
          // The kernel handed a pending ICMP error to this send instead of to a receive, and did not send:
          // report the refusal and send once more (the error is consumed now).
          this.#refused();
          this.#sendOnce(payload, false).then(resolve, reject);
          return;
        }
        reject(udpSendError(err, this.#where, this.#broadcast));
      };
      if (this.connected) this.socket.send(payload, done);
      else this.socket.send(payload, this.remote.port, this.remote.address, done);
    });
  }

  /**
   * No more datagrams will be sent: wait `linger` ms (from the last send) for late replies, then end.
   * Idempotent.
   */
  end(): void {
    if (this.#ending || this.#closed) return;
    this.#ending = true;
    if (this.#pendingSends === 0) this.#startLinger();
  }

  #startLinger(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#close('linger'), this.#lingerMs);
  }

  /**
   * End now (without lingering).
   *
   * @returns the final counters
   */
  close(): Promise<UdpConnectionStats> {
    this.#close('closed');
    return this.finished;
  }

  #close(reason: UdpConnectionEndReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ended = performance.now();
    if (this.#timer) clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    try {
      this.socket.close();
    } catch {
      // already closed
    }
    const stats = this.stats();
    debug('udp', 'session ended', { to: this.#where, reason, ...stats });
    this.#queue.push({ event: 'end', reason, stats });
    this.#queue.end();
    this.#resolveFinished(stats);
  }

  /** Pump `input`: send each item, then end. Failures end the session with that error. */
  async pump(input: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>): Promise<void> {
    try {
      for await (const chunk of input) {
        if (this.#closed) return;
        await this.send(chunk);
        // Backpressure: a reader that falls behind on events slows the input, not memory.
        if (this.#queue.length >= this.#queue.limit) await new Promise<void>((r) => this.#queue.onDrain(r));
      }
      this.end();
    } catch (err) {
      if (this.#closed) return;
      this.#queue.fail(toSoketError(err));
      this.#close('error');
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<UdpConnectEvent> {
    return this.#queue[Symbol.asyncIterator]();
  }
}

async function resolveTarget(
  host: string,
  family: 0 | 4 | 6,
  lookupTimeout: number,
  signal: AbortSignal | undefined,
): Promise<{ address: string; family: 4 | 6 }> {
  const ip = isIP(host.split('%')[0] ?? '');
  if (ip !== 0) {
    if (family !== 0 && family !== ip) {
      throw new ValidationError(`Address ${host} is IPv${ip} but IPv${family} was asked for`);
    }
    return { address: host, family: ip as 4 | 6 };
  }
  return withTimeout(
    async () => {
      try {
        const r = await dns.lookup(host, { family });
        return { address: r.address, family: r.family as 4 | 6 };
      } catch (err) {
        throw toSoketError(err, `Cannot resolve '${host}'`);
      }
    },
    { timeout: lookupTimeout, ...(signal ? { signal } : {}) },
    { phase: 'lookup', target: `'${host}'` },
  );
}

function checkMs(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2_147_483_647) {
    throw new ValidationError(
      `Invalid ${what} '${String(value)}': expected milliseconds from 0 to 2147483647`,
    );
  }
  return Math.round(value);
}

/**
 * Open a connected UDP socket to a peer. Nothing is sent until you send (or `input` yields).
 *
 * @param options - see {@link UdpConnectOptions}
 * @returns the session; iterate it for events (`connected`, `sent`, `datagram`, `refused`, `end`)
 * @throws {ValidationError} for bad options (an unknown interface, a TTL out of range, a source of the other
 *   family, ...)
 * @throws {NetworkError} when it cannot bind or connect — `EACCES` for a broadcast address without
 *   `broadcast: true` (the message says so), `EADDRNOTAVAIL` for a source that is not local
 * @throws {TimeoutError} when the name lookup takes longer than `lookupTimeout`
 * @throws {AbortError} when the signal fires before the socket is connected
 * @example
 * ```ts
 * import { udpConnect } from 'soket';
 * const conn = await udpConnect({ host: '127.0.0.1', port: 9000, input: ['ping', 'pong'], linger: 300 });
 * for await (const e of conn) {
 *   if (e.event === 'datagram') console.log(`${e.bytes} bytes: ${e.data}`);
 *   if (e.event === 'refused') console.log('nothing listens there');
 * }
 * ```
 */
export async function udpConnect(options: UdpConnectOptions): Promise<UdpConnection> {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('udpConnect needs options such as { host, port }');
  }
  const o = { ...UDP_CONNECT_DEFAULTS, ...options };
  const host = parseHost(o.host);
  const port = parsePort(o.port);
  if (o.family !== 0 && o.family !== 4 && o.family !== 6) {
    throw new ValidationError(`Invalid family '${String(o.family)}': expected 0, 4 or 6`);
  }
  const lookupTimeout =
    checkTimeout(o.lookupTimeout, { what: 'lookupTimeout' }) ?? UDP_CONNECT_DEFAULTS.lookupTimeout;
  const linger = checkMs(o.linger, 'linger');
  const idleTimeout = checkMs(o.idleTimeout, 'idleTimeout');
  const rcv = checkMs(o.receiveBufferSize, 'receiveBufferSize');
  const snd = checkMs(o.sendBufferSize, 'sendBufferSize');
  const queueLimit = o.queueLimit;
  if (!Number.isInteger(queueLimit) || queueLimit < 1) {
    throw new ValidationError(`Invalid queueLimit '${String(queueLimit)}': expected a positive integer`);
  }
  if (o.ttl !== undefined && (!Number.isInteger(o.ttl) || o.ttl < 1 || o.ttl > 255)) {
    throw new ValidationError(`Invalid ttl '${String(o.ttl)}': expected an integer from 1 to 255`);
  }
  const group = checkSendGroupOptions(o);
  if (options.socketOptions) validateSocketOptions(options.socketOptions);
  const source: SourceAddress | undefined =
    o.source === undefined
      ? undefined
      : typeof o.source === 'string'
        ? parseSourceAddress(o.source, 'source')
        : {
            address:
              o.source.address === undefined ? undefined : parseHost(o.source.address, 'source address'),
            port: parsePort(o.source.port ?? 0, { allowZero: true, what: 'source port' }),
          };
  const sourceFamily =
    source?.address === undefined ? 0 : (isIP(source.address.split('%')[0] ?? '') as 4 | 6);
  if (sourceFamily !== 0 && o.family !== 0 && sourceFamily !== o.family) {
    throw new ValidationError(
      `The source ${source?.address} is IPv${sourceFamily} but IPv${o.family} was asked for`,
    );
  }
  const signal = options.signal;
  throwIfAborted(signal, `UDP connect to ${formatHostPort(host, port)}`);

  const target = await resolveTarget(host, sourceFamily || o.family, lookupTimeout, signal);
  if (sourceFamily !== 0 && sourceFamily !== target.family) {
    throw new ValidationError(
      `The source ${source?.address} is IPv${sourceFamily} but ${host} is IPv${target.family}: use a source of the same family`,
    );
  }
  const where = formatHostPort(target.address, port);
  const socketOpts: dgram.SocketOptions = { type: target.family === 6 ? 'udp6' : 'udp4' };
  if (rcv > 0) socketOpts.recvBufferSize = rcv;
  if (snd > 0) socketOpts.sendBufferSize = snd;
  const socket = dgram.createSocket(socketOpts);
  const fail = (err: unknown): never => {
    try {
      socket.close();
    } catch {
      // already closed
    }
    throw err;
  };
  // Bind first (to the source, or to any address and a free port): SO_BROADCAST and the multicast options
  // must be set on a bound socket, and before connect(2), which the kernel refuses for a broadcast address
  // without SO_BROADCAST.
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    const bind: dgram.BindOptions = { port: source?.port ?? 0 };
    if (source?.address !== undefined) bind.address = source.address;
    socket.bind(bind, () => {
      socket.off('error', onError);
      resolve();
    });
  }).catch((err: unknown) => {
    const s =
      source?.address !== undefined ? formatHostPort(source.address, source.port) : `port ${source?.port}`;
    fail(toSoketError(err, `Cannot bind the source ${s}`));
  });
  try {
    applySendGroupOptions(socket, target.family, group);
    if (o.ttl !== undefined) socket.setTTL(o.ttl);
    if (options.socketOptions && Object.keys(options.socketOptions).length > 0) {
      setSocketOptions(socket, options.socketOptions);
    }
  } catch (err) {
    fail(toSoketError(err));
  }
  const groupDestination =
    isMulticastAddress(target.address) || (group.broadcast && isBroadcastAddress(target.address));
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const onError = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    socket.once('error', onError);
    // A group or broadcast destination stays unconnected (its answers come from other addresses); without
    // SO_BROADCAST, connect(2) to a broadcast address is what reports EACCES, early and clearly.
    if (groupDestination) {
      resolve();
      return;
    }
    // Node 20 passes a connect error to the callback; others emit it: take whichever comes first.
    socket.connect(port, target.address, ((err?: Error) => {
      socket.off('error', onError);
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve();
    }) as () => void);
  }).catch((err: unknown) => fail(udpSendError(err, where, group.broadcast)));
  const l = socket.address();
  const r = groupDestination ? { address: target.address, port } : socket.remoteAddress();
  const conn = new UdpConnection(
    socket,
    { address: l.address, port: l.port, family: l.family === 'IPv6' ? 6 : 4 },
    { address: r.address, port: r.port, family: target.family },
    {
      linger,
      idleTimeout,
      queueLimit,
      broadcast: group.broadcast,
      connected: !groupDestination,
      ...(signal ? { signal } : {}),
    },
  );
  debug('udp', 'connected', { local: formatHostPort(l.address, l.port), remote: where });
  if (options.input !== undefined) void conn.pump(options.input);
  return conn;
}
