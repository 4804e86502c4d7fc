/**
 * DNS over a stream: TCP (RFC 1035 §4.2.2, RFC 7766) or TLS (RFC 7858, port 853, ALPN `dot`). Each message
 * travels with a 2-byte length in front; one connection carries many queries at once (pipelining, RFC 7766
 * §6.2.1), and replies — in any order — go to the query with their ID. A reply whose ID nobody waits for is
 * counted and dropped. A message is at most 65,535 bytes (the length field), so a 64 KiB answer is read whole.
 *
 * @module
 */

import { randomInt } from 'node:crypto';
import type net from 'node:net';
import { BadPacketError, NetworkError, type SoketError, toSoketError } from '../core/errors.js';
import { formatHostPort } from '../core/validate.js';
import { connectTcp } from '../net/tcp-client.js';
import { connectTls, type TlsSession } from '../net/tls-client.js';
import type { TlsClientOptions } from '../net/tls-config.js';

/** Where a stream connection goes. */
export interface StreamTarget {
  address: string;
  port: number;
  /** TLS settings (DoT); absent for plain TCP. */
  tls?: TlsClientOptions | undefined;
}

/** A query waiting on a connection. */
export interface StreamWaiter {
  onReply(bytes: Buffer): void;
  onError(err: SoketError): void;
}

/**
 * One TCP or TLS connection to a DNS server, with queries pipelined on it.
 *
 * @example
 * ```ts
 * const c = await DnsStreamConnection.open({ address: '127.0.0.1', port: 53 }, { timeout: 2000 });
 * const id = c.allocateId();
 * c.wait(id, { onReply: (b) => ..., onError: (e) => ... });
 * c.send(query);
 * ```
 */
export class DnsStreamConnection {
  readonly target: string;
  readonly #socket: net.Socket;
  readonly #waiting = new Map<number, StreamWaiter>();
  #chunks: Buffer[] = [];
  #buffered = 0;
  #closed = false;
  #error: SoketError | undefined;
  /** The TLS session (DoT), or undefined for TCP. */
  readonly tls: TlsSession | undefined;
  /** Messages whose ID no query held. */
  unmatched = 0;
  /** Told of each message whose ID no query holds. */
  onUnmatched: ((id: number | undefined) => void) | undefined;
  /** Time the TCP (and TLS) handshake took, in ms. */
  readonly connectMs: number;

  private constructor(socket: net.Socket, target: string, tls: TlsSession | undefined, connectMs: number) {
    this.#socket = socket;
    this.target = target;
    this.tls = tls;
    this.connectMs = connectMs;
    socket.on('data', (b: Buffer) => this.#onData(b));
    socket.on('error', (err) => this.#fail(toSoketError(err, `Connection to DNS server ${target}`)));
    socket.on('close', () =>
      this.#fail(
        new NetworkError(`DNS server ${target} closed the connection before it answered`, 'ECONNRESET'),
      ),
    );
  }

  /**
   * Connect (and for DoT, run the TLS handshake and check the certificate).
   *
   * @param target - address, port, TLS settings
   * @param options - `timeout` for connect and handshake together, `signal`
   * @throws {NetworkError} `ECONNREFUSED` and other connect failures
   * @throws {TlsError} when the handshake fails or the certificate is not accepted
   * @throws {TimeoutError} phase `connect` or `handshake`
   */
  static async open(
    target: StreamTarget,
    options: { timeout?: number | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<DnsStreamConnection> {
    const text = formatHostPort(target.address, target.port);
    const t0 = performance.now();
    const common = {
      host: target.address,
      port: target.port,
      // Phase limits only: connectTcp's overall `timeout` would go on to end the connection later.
      ...(options.timeout ? { connectTimeout: options.timeout } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    if (target.tls) {
      const c = await connectTls({
        ...common,
        ...target.tls,
        alpn: target.tls.alpn ?? ['dot'],
        ...(options.timeout
          ? { handshakeTimeout: Math.max(1, options.timeout - (performance.now() - t0)) }
          : {}),
      });
      c.socket.setNoDelay(true);
      return new DnsStreamConnection(c.socket, text, c.tls, performance.now() - t0);
    }
    const c = await connectTcp(common);
    c.socket.setNoDelay(true);
    return new DnsStreamConnection(c.socket, text, undefined, performance.now() - t0);
  }

  /** Whether the connection has ended (no more queries can go on it). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Queries waiting for replies. */
  get inFlight(): number {
    return this.#waiting.size;
  }

  /** A random ID no query on this connection holds. */
  allocateId(): number {
    for (;;) {
      const id = randomInt(0, 0x10000);
      if (!this.#waiting.has(id)) return id;
    }
  }

  /** Wait for the reply with message ID `id`; fails with the connection's error if it ends first. */
  wait(id: number, waiter: StreamWaiter): void {
    if (this.#closed) {
      waiter.onError(
        this.#error ?? new NetworkError(`Connection to DNS server ${this.target} is closed`, 'EPIPE'),
      );
      return;
    }
    this.#waiting.set(id, waiter);
  }

  /** Stop waiting for `id`. */
  release(id: number): void {
    this.#waiting.delete(id);
  }

  /** Send a message (the 2-byte length is added). */
  send(message: Uint8Array): void {
    if (this.#closed) return;
    const framed = Buffer.allocUnsafe(message.length + 2);
    framed.writeUInt16BE(message.length, 0);
    framed.set(message, 2);
    this.#socket.write(framed);
  }

  #onData(b: Buffer): void {
    this.#chunks.push(b);
    this.#buffered += b.length;
    for (;;) {
      if (this.#buffered < 2) return;
      if ((this.#chunks[0] as Buffer).length < 2) this.#flatten();
      const head = this.#chunks[0] as Buffer;
      const len = head.readUInt16BE(0);
      if (this.#buffered < len + 2) return;
      this.#flatten();
      const all = this.#chunks[0] as Buffer;
      const msg = all.subarray(2, 2 + len);
      const rest = all.subarray(2 + len);
      this.#chunks = rest.length ? [rest] : [];
      this.#buffered = rest.length;
      this.#dispatch(Buffer.from(msg));
    }
  }

  #flatten(): void {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#buffered)];
  }

  #dispatch(msg: Buffer): void {
    const id = msg.length >= 2 ? msg.readUInt16BE(0) : undefined;
    const w = id === undefined ? undefined : this.#waiting.get(id);
    if (!w) {
      this.unmatched++;
      this.onUnmatched?.(id);
      return;
    }
    w.onReply(msg);
  }

  #fail(err: SoketError): void {
    if (this.#closed) return;
    this.#closed = true;
    let error = err;
    if (this.#buffered > 0 && err.code === 'ECONNRESET') {
      const head = this.#chunks[0];
      const want = head && head.length >= 2 ? head.readUInt16BE(0) + 2 : undefined;
      error = new BadPacketError(
        `DNS server ${this.target} closed the connection after ${this.#buffered} of ${want ?? '?'} bytes of a message`,
      );
    }
    this.#error = error;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.onError(error);
    this.#socket.destroy();
  }

  /** Close the connection; queries still waiting fail. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#socket.end();
    this.#fail(new NetworkError(`Connection to DNS server ${this.target} was closed`, 'ECONNRESET'));
  }
}
