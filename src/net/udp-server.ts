/**
 * A UDP server: one socket answers many clients at once, each at the address and port its datagram came
 * from. Modes: echo (send each datagram back), reply (answer each with a fixed text) and print (hand each to
 * a callback). Counters for datagrams and bytes in both directions.
 *
 * Node reads each datagram into a 64 KiB buffer, larger than any UDP payload (65,507 bytes over IPv4, 65,527
 * over IPv6), so the server always sees whole datagrams. A datagram is a message: no framing is needed.
 *
 * @module
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { throwIfAborted } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import { formatHostPort, parseHost, parseInteger, parsePort } from '../core/validate.js';

import { type SocketOptions, setSocketOptions, validateSocketOptions } from './sockopt.js';
import { printable } from './tcp-modes.js';

/** The UDP server modes. */
export type UdpMode = 'echo' | 'reply' | 'print';

/** Every UDP mode. */
export const UDP_MODES: readonly UdpMode[] = ['echo', 'reply', 'print'];

/** Options of {@link createUdpServer}. */
export interface UdpServerOptions {
  /** Address to bind; `::` is dual stack. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** With `::`, IPv6 only. @default false */
  ipv6Only?: boolean;
  /** SO_RCVBUF in bytes (Linux doubles it); 0 keeps the system default. @default 0 */
  receiveBufferSize?: number;
  /** SO_SNDBUF in bytes; 0 keeps the system default. @default 0 */
  sendBufferSize?: number;
  /** More socket options (TTL, SO_REUSEPORT, ...), applied after binding. @default undefined */
  socketOptions?: SocketOptions;
  /** Closes the server when it fires. @default undefined */
  signal?: AbortSignal;
}

/** Every default of {@link UdpServerOptions}. */
export const UDP_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  ipv6Only: false,
  receiveBufferSize: 0,
  sendBufferSize: 0,
} as const;

/** Counters of a UDP server. */
export interface UdpServerStats {
  /** Datagrams received. */
  datagramsIn: number;
  /** Datagrams sent. */
  datagramsOut: number;
  /** Payload bytes received. */
  bytesIn: number;
  /** Payload bytes sent. */
  bytesOut: number;
  /** Sends that failed (the error is published as a debug event). */
  sendErrors: number;
}

/** One datagram received, as print mode reports it. */
export interface UdpMessage {
  /** The payload. */
  data: Buffer;
  /** Sender address. */
  address: string;
  /** Sender port. */
  port: number;
  /** `127.0.0.1:50000`. */
  peer: string;
  /** The payload as text (control characters escaped). */
  text: string;
}

/** What a UDP server does with each datagram: `server.send(reply, rinfo)` answers its sender. */
export type UdpHandler = (data: Buffer, rinfo: dgram.RemoteInfo, server: UdpServer) => void;

/** Events of a {@link UdpServer}. */
export interface UdpServerEvents {
  /** A socket error other than a failed send (those are counted). Only emitted with a listener. */
  error: [error: Error];
  /** The server closed. */
  close: [stats: UdpServerStats];
}

/**
 * A bound UDP server. Made by {@link createUdpServer}.
 *
 * @example
 * ```ts
 * const server = await createUdpServer({ port: 0 }, udpEchoHandler());
 * console.log(server.address.port, server.stats().datagramsIn);
 * await server.close();
 * ```
 */
export class UdpServer extends EventEmitter<UdpServerEvents> {
  /** The socket. */
  readonly socket: dgram.Socket;
  /** Where it is bound (the real port when 0 was asked for). */
  readonly address: { address: string; port: number; family: 4 | 6 };
  /** Resolves when the server has closed. */
  readonly finished: Promise<UdpServerStats>;
  /** Counters; also see {@link stats}. */
  datagramsIn = 0;
  datagramsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  sendErrors = 0;
  #closed = false;
  #resolve!: (s: UdpServerStats) => void;

  /** @internal Use {@link createUdpServer}. */
  constructor(socket: dgram.Socket, address: { address: string; port: number; family: 4 | 6 }) {
    super();
    this.socket = socket;
    this.address = address;
    this.finished = new Promise((r) => {
      this.#resolve = r;
    });
    socket.on('close', () => {
      this.#closed = true;
      const stats = this.stats();
      debug('udp', 'server closed', { port: address.port, ...stats });
      this.#resolve(stats);
      this.emit('close', stats);
    });
  }

  /**
   * Send a datagram to a client (counted).
   *
   * @param data - the payload
   * @param to - the client's address and port (the `rinfo` of its datagram)
   */
  send(data: Buffer | Uint8Array, to: { address: string; port: number }): void {
    this.datagramsOut++;
    this.bytesOut += data.length;
    this.socket.send(data, to.port, to.address);
  }

  /** A snapshot of the counters. */
  stats(): UdpServerStats {
    return {
      datagramsIn: this.datagramsIn,
      datagramsOut: this.datagramsOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      sendErrors: this.sendErrors,
    };
  }

  /**
   * Close the socket. Calling it again returns the same result.
   *
   * @returns the final counters
   */
  close(): Promise<UdpServerStats> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.socket.close();
      } catch {
        // already closed
      }
    }
    return this.finished;
  }
}

/**
 * Echo mode: send each datagram back to its sender.
 *
 * @returns a handler for {@link createUdpServer}
 * @example
 * ```ts
 * const server = await createUdpServer({ port: 0 }, udpEchoHandler());
 * ```
 */
export function udpEchoHandler(): UdpHandler {
  return (data, rinfo, server) => server.send(data, rinfo);
}

/**
 * Reply mode: answer each datagram with one datagram holding `text` (no newline is added: a datagram is
 * already a message).
 *
 * @param text - the answer @default 'message received'
 * @returns a handler
 * @example
 * ```ts
 * const server = await createUdpServer({ port: 0 }, udpReplyHandler('message received'));
 * ```
 */
export function udpReplyHandler(text = 'message received'): UdpHandler {
  const reply = Buffer.from(text);
  return (_data, rinfo, server) => server.send(reply, rinfo);
}

/**
 * Print mode: hand each datagram to `onMessage`; nothing is sent back.
 *
 * @param onMessage - called for each datagram
 * @returns a handler
 * @example
 * ```ts
 * const server = await createUdpServer({ port: 0 }, udpPrintHandler((m) => console.log(m.peer, m.text)));
 * ```
 */
export function udpPrintHandler(onMessage: (message: UdpMessage) => void): UdpHandler {
  return (data, rinfo) =>
    onMessage({
      data,
      address: rinfo.address,
      port: rinfo.port,
      peer: formatHostPort(rinfo.address, rinfo.port),
      text: printable(data),
    });
}

/**
 * The handler for a mode by name, as the CLI's `--mode` picks it.
 *
 * @param mode - `echo`, `reply` or `print`
 * @param options - `reply` text, `onMessage` for print
 * @returns a handler
 * @throws {ValidationError} for an unknown mode or print without a callback
 * @example
 * ```ts
 * const handler = udpModeHandler('reply', { reply: 'pong' });
 * ```
 */
export function udpModeHandler(
  mode: UdpMode,
  options: { reply?: string; onMessage?: (message: UdpMessage) => void } = {},
): UdpHandler {
  switch (mode) {
    case 'echo':
      return udpEchoHandler();
    case 'reply':
      return udpReplyHandler(options.reply);
    case 'print':
      if (!options.onMessage) throw new ValidationError('Print mode needs an onMessage callback');
      return udpPrintHandler(options.onMessage);
    default:
      throw new ValidationError(
        `Unknown UDP mode '${String(mode)}': expected one of ${UDP_MODES.join(', ')}`,
      );
  }
}

/**
 * Check a UDP mode name given by a user.
 *
 * @param value - the name
 * @returns the mode
 * @throws {ValidationError} when unknown
 * @example
 * ```ts
 * parseUdpMode('echo'); // 'echo'
 * ```
 */
export function parseUdpMode(value: string): UdpMode {
  if ((UDP_MODES as readonly string[]).includes(value)) return value as UdpMode;
  throw new ValidationError(`Unknown mode '${value}': expected one of ${UDP_MODES.join(', ')}`);
}

/**
 * Bind a UDP server and resolve once it is bound.
 *
 * @param options - where to bind; see {@link UdpServerOptions}
 * @param handler - what to do with each datagram
 * @returns the bound server
 * @throws {ValidationError} for bad options
 * @throws {NetworkError} when it cannot bind (`EADDRINUSE`, `EACCES`, ...)
 * @throws {AbortError} when the signal fires before it is bound
 * @example
 * ```ts
 * import { createUdpServer, udpEchoHandler } from 'soket';
 * const server = await createUdpServer({ host: '127.0.0.1', port: 0 }, udpEchoHandler());
 * console.log(`UDP echo on port ${server.address.port}`);
 * ```
 */
export async function createUdpServer(options: UdpServerOptions, handler: UdpHandler): Promise<UdpServer> {
  const o = { ...UDP_SERVER_DEFAULTS, ...options };
  const host = parseHost(o.host, 'listen address');
  const port = parsePort(o.port, { allowZero: true });
  const rcv = parseInteger(o.receiveBufferSize, 'receive buffer size', { min: 0 });
  const snd = parseInteger(o.sendBufferSize, 'send buffer size', { min: 0 });
  if (typeof handler !== 'function') throw new ValidationError('A UDP server needs a datagram handler');
  if (options.socketOptions) validateSocketOptions(options.socketOptions);
  const where = formatHostPort(host, port);
  throwIfAborted(options.signal, `Binding ${where}`);
  const family = isIP(host) === 6 ? 6 : 4;
  const socketOpts: dgram.SocketOptions = { type: family === 6 ? 'udp6' : 'udp4', ipv6Only: o.ipv6Only };
  if (rcv > 0) socketOpts.recvBufferSize = rcv;
  if (snd > 0) socketOpts.sendBufferSize = snd;
  const socket = dgram.createSocket(socketOpts);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(toSoketError(err, `Cannot bind ${where}`));
    socket.once('error', onError);
    socket.bind({ port, address: host }, () => {
      socket.off('error', onError);
      resolve();
    });
  }).catch((err: unknown) => {
    socket.close();
    throw err;
  });
  if (options.socketOptions && Object.keys(options.socketOptions).length > 0) {
    try {
      setSocketOptions(socket, options.socketOptions);
    } catch (err) {
      socket.close();
      throw err;
    }
  }
  const a = socket.address();
  const server = new UdpServer(socket, {
    address: a.address,
    port: a.port,
    family: a.family === 'IPv6' ? 6 : 4,
  });
  socket.on('message', (data, rinfo) => {
    server.datagramsIn++;
    server.bytesIn += data.length;
    handler(data, rinfo, server);
  });
  socket.on('error', (err) => {
    // A failed send (EMSGSIZE, ENOBUFS, ...) does not close the socket; count it and carry on.
    const e = err as NodeJS.ErrnoException;
    if (e.syscall === 'send' || e.syscall === 'sendto' || e.syscall === 'sendmsg') {
      server.sendErrors++;
      debug('udp', 'send failed', { error: e.message });
      return;
    }
    debug('udp', 'socket error', { error: e.message });
    if (server.listenerCount('error') > 0) server.emit('error', toSoketError(err));
  });
  const signal = options.signal;
  if (signal) {
    const onAbort = () => void server.close();
    signal.addEventListener('abort', onAbort, { once: true });
    void server.finished.then(() => signal.removeEventListener('abort', onAbort));
    if (signal.aborted) await server.close();
  }
  debug('udp', 'listening', { ...server.address });
  return server;
}
