// contract: v2 (issue 10: the shared exchange helper; timeout = the whole request)
/**
 * A UDP request/reply client: send one datagram, wait for the reply, sending again on a schedule (the shared
 * exchange helper: `timeout` bounds the whole request, each try gets `tryTimeout`).
 *
 * The socket is connected (connect(2) on a UDP socket sends nothing): the kernel then delivers only
 * datagrams whose source is the server's address and port, so datagrams from other sources are ignored
 * before they reach us, and an ICMP "port unreachable" comes back as `ECONNREFUSED` at once instead of a
 * silent timeout.
 *
 * A request to a multicast group, or to a broadcast address with `broadcast: true` (SO_BROADCAST), is sent
 * from an unconnected socket instead: the answer comes from a member's (or host's) own address, which a
 * connected socket would drop, so the first datagram from anyone is the reply (`from` says who). Without
 * SO_BROADCAST, a broadcast address fails at once with `EACCES`, and the error names the missing option.
 *
 * ## Truncation: what can and cannot be detected
 * A C program that calls `recvfrom(fd, buf, 1024, 0, ...)` silently loses the end of a longer datagram (the
 * kernel sets MSG_TRUNC only in `recvmsg` flags). Node always reads a datagram into a 64 KiB buffer (libuv's
 * receive size), larger than the largest UDP payload (65,507 bytes over IPv4, 65,527 over IPv6; IPv6
 * jumbograms are not used by UDP sockets), so soket always receives the whole datagram and knows its real
 * size. `bufferSize` is the size of the reader's buffer (what `recvfrom` would be given): a reply longer than
 * that is reported as `truncated`, with its real `size`, and `data` holds only what such a reader would get.
 * With the default (65,536) a reply is never truncated.
 *
 * What cannot be seen from Node is a datagram the kernel dropped because the socket's receive buffer
 * (SO_RCVBUF) was full or smaller than the datagram: it never reaches the socket. On Linux soket reads the
 * socket's drop counter from /proc/net/udp{,6} when a request times out and says so in the error.
 *
 * @module
 */
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Deadline, throwIfAborted, withTimeout } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import { NetworkError, toSoketError, ValidationError } from '../core/errors.js';
import { exchange } from '../core/exchange.js';
import { checkTimeout, formatHostPort, parseHost, parseInteger, parsePort } from '../core/validate.js';
import { type SocketOptions, setSocketOptions, validateSocketOptions } from './sockopt.js';
import { parseSourceAddress, type SourceAddress } from './udp-connect.js';
import {
  applySendGroupOptions,
  checkSendGroupOptions,
  isBroadcastAddress,
  isMulticastAddress,
  type UdpSendGroupOptions,
  udpSendError,
} from './udp-multicast.js';

/** Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header). */
export const MAX_UDP_PAYLOAD_IPV4 = 65_507;
/** Largest UDP payload over IPv6 without jumbograms: 65,535 − 8 (the IPv6 payload length covers UDP's header). */
export const MAX_UDP_PAYLOAD_IPV6 = 65_527;

/** Options of {@link udpRequest}. */
export interface UdpRequestOptions extends UdpSendGroupOptions {
  /** Server host name or address. */
  host: string;
  /** Server port. */
  port: number;
  /** The request payload (a string is sent as UTF-8). */
  message: string | Uint8Array;
  /** Address family to use for a host name: 0 any, 4 or 6. @default 0 */
  family?: 0 | 4 | 6;
  /** Limit of the whole request (name lookup and every try), in ms. @default 6000 */
  timeout?: number;
  /** Limit of one try, in ms. @default an even share of the timeout (2000 with the defaults) */
  tryTimeout?: number;
  /** How many times to send again when no reply came. @default 2 */
  retries?: number;
  /** The reader's buffer: a longer reply is reported `truncated` and cut to this size. @default 65536 */
  bufferSize?: number;
  /** SO_RCVBUF for the client socket in bytes; 0 keeps the system default. @default 0 */
  receiveBufferSize?: number;
  /** Local address to bind. @default undefined (any) */
  localAddress?: string;
  /** Local port to bind. @default 0 (any) */
  localPort?: number;
  /** Local address and port to send from, as one: `'127.0.0.2'`, `'[::1]:5000'`, `':5000'` (instead of localAddress/localPort). */
  source?: string | SourceAddress;
  /** More socket options, applied before sending. @default undefined */
  socketOptions?: SocketOptions;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** Every default of {@link UdpRequestOptions}. */
export const UDP_REQUEST_DEFAULTS = {
  family: 0,
  timeout: 6000,
  retries: 2,
  bufferSize: 65_536,
  receiveBufferSize: 0,
  localPort: 0,
} as const;

/** The reply {@link udpRequest} got. */
export interface UdpReply {
  /** The reply as a reader with `bufferSize` bytes would see it (all of it unless `truncated`). */
  data: Buffer;
  /** The reply's real size in bytes. */
  size: number;
  /** Whether the reply was longer than `bufferSize`. */
  truncated: boolean;
  /** Who sent it. */
  from: { address: string; port: number; family: 4 | 6 };
  /** The local address and port the request went out from. */
  local: { address: string; port: number };
  /** How many datagrams were sent (1 when the first try was answered). */
  attempts: number;
  /** Time from the last send to the reply, in ms. */
  rttMs: number;
  /** Bytes sent. */
  sent: number;
}

/**
 * The largest UDP payload for an address family.
 *
 * @param family - 4 or 6
 * @returns 65,507 or 65,527
 * @example
 * ```ts
 * maxUdpPayload(4); // 65507
 * ```
 */
export function maxUdpPayload(family: 4 | 6): number {
  return family === 6 ? MAX_UDP_PAYLOAD_IPV6 : MAX_UDP_PAYLOAD_IPV4;
}

/**
 * Check that a payload fits one UDP datagram.
 *
 * @param size - payload bytes
 * @param family - 4 or 6
 * @throws {ValidationError} when it is too large, saying the limit
 * @example
 * ```ts
 * checkUdpPayload(70000, 4); // throws: UDP payload of 70000 bytes is too large: IPv4 allows at most 65507
 * ```
 */
export function checkUdpPayload(size: number, family: 4 | 6): void {
  const max = maxUdpPayload(family);
  if (size > max) {
    throw new ValidationError(
      `UDP payload of ${size} bytes is too large: IPv${family} allows at most ${max} bytes in one datagram`,
    );
  }
}

/**
 * The kernel's count of datagrams dropped on a UDP socket (receive buffer full), from /proc/net/udp{,6}, by
 * local port. Linux only; `undefined` elsewhere or when the socket is not listed.
 *
 * @param localPort - the socket's local port
 * @param family - 4 or 6
 * @returns the drop counter, or `undefined`
 * @example
 * ```ts
 * udpDrops(socket.address().port, 4); // 0
 * ```
 */
export function udpDrops(localPort: number, family: 4 | 6): number | undefined {
  let text: string;
  try {
    text = readFileSync(family === 6 ? '/proc/net/udp6' : '/proc/net/udp', 'utf8');
  } catch {
    return undefined;
  }
  const hexPort = localPort.toString(16).toUpperCase().padStart(4, '0');
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1]?.endsWith(`:${hexPort}`)) {
      const drops = Number(cols[cols.length - 1]);
      return Number.isFinite(drops) ? drops : undefined;
    }
  }
  return undefined;
}

async function resolve(host: string, family: 0 | 4 | 6, signal: AbortSignal | undefined, timeout?: number) {
  const ip = isIP(host);
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
        throw toSoketError(err, `Cannot resolve ${host}`);
      }
    },
    { ...(timeout ? { timeout } : {}), ...(signal ? { signal } : {}) },
    { phase: 'lookup', target: host },
  );
}

/**
 * Send one datagram and wait for the reply, sending again up to `retries` times when a try brings none
 * (`tryTimeout`, by default an even share of `timeout`, which bounds the whole request). Only datagrams from
 * the server's address and port are accepted.
 *
 * @param options - see {@link UdpRequestOptions}
 * @returns the reply, who sent it, whether it was truncated, and timings
 * @throws {ValidationError} for bad options or a payload larger than one datagram can carry
 * @throws {TimeoutError} (phase `response`) when no try got a reply; the message says how many tries and
 *   whether the kernel dropped datagrams for want of receive buffer
 * @throws {NetworkError} `ECONNREFUSED` when the server's host answered "port unreachable"
 * @throws {AbortError} when the signal fires
 * @example
 * ```ts
 * import { udpRequest } from 'soket';
 * const r = await udpRequest({ host: '127.0.0.1', port: 9000, message: 'Hello, server!', timeout: 3000 });
 * console.log(`${r.data} from ${r.from.address}:${r.from.port}${r.truncated ? ' (truncated)' : ''}`);
 * ```
 */
export async function udpRequest(options: UdpRequestOptions): Promise<UdpReply> {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid UDP request options: expected an object with host, port and message');
  }
  const o = { ...UDP_REQUEST_DEFAULTS, ...options };
  const host = parseHost(o.host);
  const port = parsePort(o.port);
  const timeout = checkTimeout(o.timeout) ?? UDP_REQUEST_DEFAULTS.timeout;
  const tryTimeout = checkTimeout(o.tryTimeout, { what: 'tryTimeout' });
  const retries = parseInteger(o.retries, 'retries', { min: 0, max: 100 });
  const bufferSize = parseInteger(o.bufferSize, 'buffer size', { min: 1, max: 65_536 });
  const rcvbuf = parseInteger(o.receiveBufferSize, 'receive buffer size', { min: 0 });
  const localPort = parsePort(o.localPort, { allowZero: true, what: 'local port' });
  if (o.family !== 0 && o.family !== 4 && o.family !== 6) {
    throw new ValidationError(`Invalid family '${String(o.family)}': expected 0, 4 or 6`);
  }
  if (typeof o.message !== 'string' && !(o.message instanceof Uint8Array)) {
    throw new ValidationError('Invalid message: expected a string or bytes');
  }
  if (options.socketOptions) validateSocketOptions(options.socketOptions);
  const group = checkSendGroupOptions(o);
  if (o.source !== undefined && (o.localAddress !== undefined || o.localPort !== 0)) {
    throw new ValidationError('Give either source or localAddress/localPort, not both');
  }
  const source: SourceAddress =
    o.source === undefined
      ? {
          address: o.localAddress === undefined ? undefined : parseHost(o.localAddress, 'local address'),
          port: localPort,
        }
      : typeof o.source === 'string'
        ? parseSourceAddress(o.source, 'source')
        : {
            address:
              o.source.address === undefined ? undefined : parseHost(o.source.address, 'source address'),
            port: parsePort(o.source.port ?? 0, { allowZero: true, what: 'source port' }),
          };
  const payload = typeof o.message === 'string' ? Buffer.from(o.message, 'utf8') : Buffer.from(o.message);
  const signal = options.signal;
  throwIfAborted(signal, `UDP request to ${formatHostPort(host, port)}`);
  const deadline = new Deadline(timeout, formatHostPort(host, port));

  const target = await resolve(host, o.family, signal, deadline.remaining());
  checkUdpPayload(payload.length, target.family);
  const where = formatHostPort(target.address, port);
  const socketOpts: dgram.SocketOptions = { type: target.family === 6 ? 'udp6' : 'udp4' };
  if (rcvbuf > 0) socketOpts.recvBufferSize = rcvbuf;
  const socket = dgram.createSocket(socketOpts);

  // Answers to a group or a broadcast come from other addresses: such a socket stays unconnected.
  const connected = !(
    isMulticastAddress(target.address) ||
    (group.broadcast && isBroadcastAddress(target.address))
  );
  try {
    // Bind first (SO_BROADCAST and the multicast options need a bound socket, and must be set before
    // connect(2), which refuses a broadcast address without SO_BROADCAST).
    await new Promise<void>((res, rej) => {
      socket.once('error', rej);
      const bindOpts: dgram.BindOptions = { port: source.port };
      if (source.address !== undefined) bindOpts.address = source.address;
      socket.bind(bindOpts, () => {
        socket.off('error', rej);
        res();
      });
    }).catch((err: unknown) => {
      const s =
        source.address !== undefined ? formatHostPort(source.address, source.port) : `port ${source.port}`;
      throw toSoketError(err, `Cannot bind the source ${s}`);
    });
    applySendGroupOptions(socket, target.family, group);
    if (options.socketOptions && Object.keys(options.socketOptions).length > 0) {
      setSocketOptions(socket, options.socketOptions);
    }
    if (connected) {
      await new Promise<void>((res, rej) => {
        let settled = false;
        const onError = (err: Error) => {
          if (settled) return;
          settled = true;
          rej(err);
        };
        socket.once('error', onError);
        // Node 20 hands a connect error to the callback (and then sending would fail confusingly): check it.
        socket.connect(port, target.address, ((err?: Error) => {
          socket.off('error', onError);
          if (settled) return;
          settled = true;
          if (err) rej(err);
          else res();
        }) as () => void);
      }).catch((err: unknown) => {
        throw udpSendError(err, where, group.broadcast);
      });
    }
  } catch (err) {
    socket.close();
    throw err;
  }
  const local = socket.address();
  const dropsBefore = udpDrops(local.port, target.family);
  let sentAt = 0;

  return exchange<UdpReply>(
    {
      target: where,
      tries: retries + 1,
      deadline,
      tryTimeout,
      signal,
      timeoutDetail: () => {
        const after = udpDrops(local.port, target.family);
        const dropped = dropsBefore !== undefined && after !== undefined ? after - dropsBefore : 0;
        return dropped > 0
          ? `; the kernel dropped ${dropped} datagram${dropped === 1 ? '' : 's'} for want of receive buffer (SO_RCVBUF)`
          : '';
      },
    },
    (ctl) => {
      socket.on('message', (data: Buffer, rinfo: dgram.RemoteInfo) => {
        // The connected socket only receives from the server; check anyway (defence in depth). A group or
        // broadcast request takes the first answer from anyone.
        if (connected && (rinfo.port !== port || normalize(rinfo.address) !== normalize(target.address))) {
          debug('udp', 'ignored a datagram from another source', { from: rinfo.address, port: rinfo.port });
          return;
        }
        const rttMs = performance.now() - sentAt;
        const truncated = data.length > bufferSize;
        ctl.resolve({
          data: truncated ? data.subarray(0, bufferSize) : data,
          size: data.length,
          truncated,
          from: { address: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 6 : 4 },
          local: { address: local.address, port: local.port },
          attempts: ctl.attempt,
          rttMs,
          sent: payload.length,
        });
      });
      const onError = (err: NodeJS.ErrnoException) => {
        ctl.reject(
          err.code === 'ECONNREFUSED'
            ? new NetworkError(
                `Cannot reach ${where}: connection refused (ICMP port unreachable: nothing listens there)`,
                'ECONNREFUSED',
                { cause: err, ...(err.syscall ? { syscall: err.syscall } : {}) },
              )
            : udpSendError(err, where, group.broadcast),
        );
      };
      socket.on('error', onError);
      return {
        send(attempt) {
          sentAt = performance.now();
          debug('udp', 'request sent', { to: where, attempt, bytes: payload.length });
          const done = (err: Error | null) => {
            if (err) onError(err as NodeJS.ErrnoException);
          };
          if (connected) socket.send(payload, done);
          else socket.send(payload, port, target.address, done);
        },
        cleanup() {
          try {
            socket.close();
          } catch {
            // already closed
          }
        },
      };
    },
  );
}

function normalize(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
