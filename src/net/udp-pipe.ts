/**
 * A raw UDP listener, like `nc -u -l`: every datagram that arrives is handed over unchanged (with who sent
 * it), and what you send goes back to the most recent sender — or, with `lock`, only ever to the first one
 * (netcat connects its socket to the first peer; datagrams from anyone else are then ignored and counted).
 *
 * UDP has no connection to answer on: "the peer" is simply the address and port of a datagram that arrived.
 * Data sent before any peer has spoken is held (up to `pendingLimit` datagrams) and sent to the first one.
 *
 * @module
 */
import type dgram from 'node:dgram';
import { ClosedError, ValidationError } from '../core/errors.js';
import { EventQueue } from '../core/event-queue.js';
import type { InetAddress } from '../core/lifecycle.js';
import { formatHostPort } from '../core/validate.js';
import { UdpServer, type UdpServerOptions, type UdpServerStats } from './udp-server.js';

/** Options of {@link UdpPipe}: the server's, and the pipe's own. */
export interface UdpPipeOptions extends UdpServerOptions {
  /** Answer only the first peer; ignore (and count) datagrams from anyone else. @default false */
  lock?: boolean;
  /** Datagrams held for the first peer when data is sent before anyone spoke. @default 64 */
  pendingLimit?: number;
  /** Events held for a slow reader; datagrams beyond it are dropped and counted. @default 1024 */
  queueLimit?: number;
}

/** Every default of {@link UdpPipeOptions} (the server's are in `UDP_SERVER_DEFAULTS`). */
export const UDP_PIPE_DEFAULTS = { lock: false, pendingLimit: 64, queueLimit: 1024 } as const;

/** A peer: who sent a datagram. */
export interface UdpPeer {
  address: string;
  port: number;
  /** `127.0.0.1:50000`, `[::1]:50000`. */
  peer: string;
}

/** Counters of a {@link UdpPipe}: the server's, and the pipe's own. */
export interface UdpPipeStats extends UdpServerStats {
  /** Datagrams from other peers ignored because of `lock`. */
  ignored: number;
  /** Datagrams sent before any peer spoke and dropped because `pendingLimit` was reached. */
  unsent: number;
  /** Peers seen (distinct address and port). */
  peers: number;
}

/** The events of a {@link UdpPipe}. Every event has an `event` field. */
export type UdpPipeEvent =
  | { event: 'listening'; address: InetAddress; lock: boolean }
  | ({ event: 'peer'; locked: boolean } & UdpPeer)
  | { event: 'datagram'; data: Buffer; bytes: number; from: UdpPeer }
  | ({ event: 'end' } & UdpPipeStats);

/**
 * A raw UDP listener. `listen()` binds; iterate it for events; `send()` answers the current peer.
 *
 * @example
 * ```ts
 * const pipe = new UdpPipe({ host: '127.0.0.1', port: 0, lock: true });
 * const { port } = await pipe.listen();
 * for await (const e of pipe) if (e.event === 'datagram') pipe.send(Buffer.from(`got ${e.bytes} bytes`));
 * ```
 */
export class UdpPipe implements AsyncIterable<UdpPipeEvent> {
  /** The UDP server underneath (its lifecycle: `address`, `finished`, `close()`). */
  readonly server: UdpServer;
  readonly #lock: boolean;
  readonly #pendingLimit: number;
  readonly #queue: EventQueue<UdpPipeEvent>;
  #peer: UdpPeer | undefined;
  readonly #seen = new Set<string>();
  #pending: Uint8Array[] = [];
  #ignored = 0;
  #unsent = 0;

  /**
   * @param options - where to bind (see `UdpServerOptions`), `lock`, limits
   * @throws {ValidationError} for bad options
   */
  constructor(options: UdpPipeOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid UDP pipe options: expected an object');
    }
    const o = { ...UDP_PIPE_DEFAULTS, ...options };
    if (typeof o.lock !== 'boolean')
      throw new ValidationError(`Invalid lock '${String(o.lock)}': expected true or false`);
    for (const [name, v] of [
      ['pendingLimit', o.pendingLimit],
      ['queueLimit', o.queueLimit],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new ValidationError(`Invalid ${name} '${String(v)}': expected a positive integer`);
    }
    this.#lock = o.lock;
    this.#pendingLimit = o.pendingLimit;
    this.#queue = new EventQueue({ limit: o.queueLimit });
    const { lock: _l, pendingLimit: _p, queueLimit: _q, ...serverOptions } = options;
    this.server = new UdpServer(serverOptions, (data, rinfo) => this.#onDatagram(data, rinfo));
    void this.server.finished.then(() => {
      this.#queue.push({ event: 'end', ...this.stats() });
      this.#queue.end();
    });
  }

  #onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): boolean {
    const key = formatHostPort(rinfo.address, rinfo.port);
    if (this.#lock && this.#peer !== undefined && this.#peer.peer !== key) {
      this.#ignored++;
      return true;
    }
    const from: UdpPeer = { address: rinfo.address, port: rinfo.port, peer: key };
    if (!this.#seen.has(key)) this.#seen.add(key);
    if (this.#peer?.peer !== key) {
      this.#peer = from;
      this.#queue.push({ event: 'peer', locked: this.#lock, ...from });
      this.#flush();
    }
    return this.#queue.offer({ event: 'datagram', data, bytes: data.length, from });
  }

  #flush(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const d of pending) this.send(d);
  }

  /** Bind; resolves with the address. */
  async listen(): Promise<InetAddress> {
    const address = await this.server.listen();
    this.#queue.push({ event: 'listening', address, lock: this.#lock });
    return address;
  }

  /** The peer that `send()` answers now, if any has spoken. */
  get peer(): UdpPeer | undefined {
    return this.#peer;
  }

  /**
   * Send one datagram to the current peer (the most recent sender, or the first with `lock`). Before any
   * peer has spoken it is held, up to `pendingLimit` datagrams, and sent to the first one.
   *
   * @param data - the payload
   * @returns `true` when sent now, `false` when held (or dropped, counted as `unsent`)
   * @throws {ClosedError} when the listener is closed
   * @throws {ValidationError} when larger than one datagram can be
   */
  send(data: Uint8Array | string): boolean {
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (payload.length > 65_527) {
      throw new ValidationError(`UDP payload of ${payload.length} bytes is too large for one datagram`);
    }
    if (this.server.socket === undefined || !this.server.listening) {
      throw new ClosedError('Cannot send: the UDP listener is not listening');
    }
    const peer = this.#peer;
    if (peer === undefined) {
      if (this.#pending.length < this.#pendingLimit) this.#pending.push(payload);
      else this.#unsent++;
      return false;
    }
    this.server.send(payload, peer);
    return true;
  }

  /** A snapshot of the counters. */
  stats(): UdpPipeStats {
    return {
      ...this.server.stats(),
      ignored: this.#ignored,
      unsent: this.#unsent + this.#pending.length,
      peers: this.#seen.size,
    };
  }

  /** Resolves with the server's final counters when it has closed. */
  get finished(): Promise<UdpServerStats> {
    return this.server.finished;
  }

  /**
   * Close the listener.
   *
   * @returns the final counters
   */
  async close(): Promise<UdpPipeStats> {
    await this.server.close();
    return this.stats();
  }

  [Symbol.asyncIterator](): AsyncIterator<UdpPipeEvent> {
    return this.#queue[Symbol.asyncIterator]();
  }
}
