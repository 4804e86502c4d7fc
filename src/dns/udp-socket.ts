/**
 * One UDP socket (per address family) shared by many DNS queries in flight, as a resolver keeps one: each
 * query takes a random message ID that no other query in flight holds, and a reply goes to the query with
 * its ID. The socket is not connected, so a datagram from any source arrives here — and is ignored and
 * counted unless it comes from the address and port the query went to (RFC 5452 §9.1: ID, source and, in
 * the caller, the question must all match). A datagram whose ID nobody waits for is counted too.
 *
 * Why not a connected socket (which the kernel would filter)? Then a reply from another port could not be
 * seen or counted, and one socket could not serve many servers. The price: an ICMP "port unreachable" does
 * not surface on an unconnected socket, so a closed port shows as a timeout (dig prints `connection refused`
 * because it connects).
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ipv6Bytes, ipv6Text } from '../codec/dns-wire.js';
import { ClosedError, type SoketError, toSoketError } from '../core/errors.js';

/** What a query waiting on the socket is told. */
export interface UdpWaiter {
  /**
   * The server's address in the form {@link canonicalAddress} gives, and its port: only datagrams from there
   * are replies.
   */
  address: string;
  port: number;
  /** A datagram with this ID from the server. */
  onReply(bytes: Buffer): void;
  /** A datagram with this ID from somewhere else (ignored). */
  onStray(from: string): void;
}

/** Receive buffer asked for each socket (Linux caps it at net.core.rmem_max): bursts of replies fit. */
const RECEIVE_BUFFER = 1 << 20;

const CANONICAL = new Map<string, string>();
const FAMILY = new Map<string, 4 | 6>();

function familyOf(address: string): 4 | 6 {
  let f = FAMILY.get(address);
  if (f === undefined) {
    f = isIPv6(address) ? 6 : 4;
    if (FAMILY.size < 1024) FAMILY.set(address, f);
  }
  return f;
}

/**
 * One spelling per IPv6 address (`::1` and `0:0::1` are the same source); IPv4 as is. A waiter's `address`
 * is in this form, so a reply's source is compared as text.
 *
 * @example
 * ```ts
 * canonicalAddress('0:0::1'); // '::1'
 * ```
 */
export function canonicalAddress(address: string): string {
  let c = CANONICAL.get(address);
  if (c === undefined) {
    c = isIPv6(address) ? ipv6Text(ipv6Bytes(address, 'address')) : address;
    if (CANONICAL.size < 1024) CANONICAL.set(address, c);
  }
  return c;
}

/** `1.2.3.4:53`, `[::1]:53`: a datagram's source for messages. */
function sourceText(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/**
 * The sockets' `lookup`: every address sent to here is an IP literal, so it is its own answer, given at once
 * (dgram's default goes through `dns.lookup`, which defers every send to the next tick).
 */
function literalLookup(
  address: string,
  family: unknown,
  callback: (err: null, address: string, family: number) => void,
): void {
  callback(null, address, family === 6 || family === 'IPv6' ? 6 : 4);
}

/**
 * A shared UDP socket for DNS queries.
 *
 * @example
 * ```ts
 * const sock = new DnsUdpSocket();
 * const id = sock.allocateId();
 * sock.wait(id, { address: canonicalAddress('127.0.0.1'), port: 53, onReply: (b) => ..., onStray: () => {} });
 * sock.send(query, '127.0.0.1', 53, (err) => { if (err) console.error(sendError(err, '127.0.0.1', 53).message); });
 * sock.close();
 * ```
 */
export class DnsUdpSocket {
  readonly #sockets = new Map<4 | 6, Promise<dgram.Socket>>();
  /** The sockets once bound, for sending without waiting. */
  readonly #ready = new Map<4 | 6, dgram.Socket>();
  readonly #waiting = new Map<number, UdpWaiter>();
  #random = Buffer.alloc(0);
  #randomAt = 0;
  #closed = false;
  /** Datagrams whose ID no query held (late replies after a timeout, or forgeries). */
  unmatched = 0;
  readonly #onUnmatched: ((from: string, id: number | undefined) => void) | undefined;

  /**
   * @param onUnmatched - told of each datagram whose ID no query holds
   */
  constructor(onUnmatched?: (from: string, id: number | undefined) => void) {
    this.#onUnmatched = onUnmatched;
  }
  /** Errors the sockets reported (each fails nothing by itself; sends fail on their own). */
  errors = 0;

  /** A random 16-bit message ID that no query in flight holds. */
  allocateId(): number {
    for (;;) {
      if (this.#randomAt + 2 > this.#random.length) {
        this.#random = randomFillSync(Buffer.alloc(4096));
        this.#randomAt = 0;
      }
      const id = this.#random.readUInt16BE(this.#randomAt);
      this.#randomAt += 2;
      if (!this.#waiting.has(id)) return id;
    }
  }

  /** Queries in flight. */
  get inFlight(): number {
    return this.#waiting.size;
  }

  /** Wait for replies with message ID `id`. */
  wait(id: number, waiter: UdpWaiter): void {
    this.#waiting.set(id, waiter);
  }

  /** Stop waiting for `id`: a later datagram with it counts as unmatched. */
  release(id: number): void {
    this.#waiting.delete(id);
  }

  #socket(family: 4 | 6): Promise<dgram.Socket> {
    let s = this.#sockets.get(family);
    if (!s) {
      s = new Promise<dgram.Socket>((resolve, reject) => {
        const socket = dgram.createSocket({
          type: family === 6 ? 'udp6' : 'udp4',
          recvBufferSize: RECEIVE_BUFFER,
          lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
        });
        socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
        socket.once('error', reject);
        socket.bind(0, () => {
          socket.off('error', reject);
          socket.on('error', () => {
            this.errors++;
          });
          if (!this.#closed) this.#ready.set(family, socket);
          resolve(socket);
        });
      });
      this.#sockets.set(family, s);
    }
    return s;
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const id = msg.length >= 2 ? ((msg[0] as number) << 8) | (msg[1] as number) : -1;
    const w = id < 0 ? undefined : this.#waiting.get(id);
    if (!w) {
      this.unmatched++;
      this.#onUnmatched?.(sourceText(canonicalAddress(rinfo.address), rinfo.port), id < 0 ? undefined : id);
      return;
    }
    const from = rinfo.family === 'IPv4' ? rinfo.address : canonicalAddress(rinfo.address);
    if (rinfo.port !== w.port || from !== w.address) {
      w.onStray(sourceText(from, rinfo.port));
      return;
    }
    w.onReply(msg);
  }

  /**
   * Send a datagram to a server (an IP literal). `callback` is told the outcome (an error as it came; see
   * {@link sendError} for the message soket gives it).
   */
  send(bytes: Uint8Array, address: string, port: number, callback: (err: Error | null) => void): void {
    if (this.#closed) {
      callback(new ClosedError('The DNS UDP socket is closed'));
      return;
    }
    const family = familyOf(address);
    const ready = this.#ready.get(family);
    if (ready) {
      ready.send(bytes, port, address, callback);
      return;
    }
    this.#socket(family).then(
      (socket) => socket.send(bytes, port, address, callback),
      (err) => callback(err as Error),
    );
  }

  /** The local port of the IPv4 socket (when open), for tests and messages. */
  async localPort(family: 4 | 6 = 4): Promise<number> {
    return (await this.#socket(family)).address().port;
  }

  /** Close the sockets; queries still waiting time out. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#sockets.values()) {
      s.then(
        (socket) => socket.close(),
        () => undefined,
      );
    }
    this.#sockets.clear();
    this.#ready.clear();
  }
}

/**
 * A send failure as a soket error naming the server.
 *
 * @example
 * ```ts
 * sendError(err, '::1', 53).message; // 'Cannot send to [::1]:53: ...'
 * ```
 */
export function sendError(err: Error, address: string, port: number): SoketError {
  return toSoketError(err, `Cannot send to ${address.includes(':') ? `[${address}]` : address}:${port}`);
}
