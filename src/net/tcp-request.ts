/**
 * A TCP request/reply client, beside `udpRequest`: connect, send one message, shut down the write side (the
 * server sees EOF), and collect the reply until the server closes or stays quiet for `replyTimeout` ms. TCP
 * carries a byte stream, not messages, so "the reply" is everything that arrives until one of those happens.
 *
 * Timing, in the common vocabulary: `timeout` bounds the whole request (lookup, connect and reply);
 * `lookupTimeout`/`connectTimeout` bound those phases; `replyTimeout` is how long a quiet server is waited for.
 *
 * @module
 */
import { Deadline } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import { exchange } from '../core/exchange.js';
import { checkTimeout, formatHostPort, parseInteger } from '../core/validate.js';
import { type ConnectTcpOptions, connectTcp } from './tcp-client.js';

/** Options of {@link tcpRequest}: those of `connectTcp` (but `idleTimeout`) and these. */
export interface TcpRequestOptions extends Omit<ConnectTcpOptions, 'idleTimeout'> {
  /** The request (a string is sent as UTF-8). */
  message: string | Uint8Array;
  /** The reply is complete after this many ms without data (or when the server closes). @default 2000 */
  replyTimeout?: number;
  /** Shut down the write side after sending, so the server sees EOF. @default true */
  shutdown?: boolean;
  /** Most reply bytes kept; more ends the request with the reply cut there (`truncated`). @default 16777216 */
  maxReplyBytes?: number;
}

/** The defaults of {@link TcpRequestOptions}, in one place. */
export const TCP_REQUEST_DEFAULTS = {
  replyTimeout: 2000,
  shutdown: true,
  maxReplyBytes: 16 * 1024 * 1024,
} as const;

/** What {@link tcpRequest} got. */
export interface TcpReply {
  /** The reply's bytes. */
  data: Buffer;
  /** Why the reply is considered complete: the server closed, it was quiet for `replyTimeout`, or the cap. */
  end: 'server-closed' | 'quiet' | 'cap';
  /** Whether more than `maxReplyBytes` arrived (the rest was not read). */
  truncated: boolean;
  /** The peer and the local end. */
  remote: { address: string; port: number };
  local: { address: string; port: number };
  /** 4 or 6. */
  family: 4 | 6;
  /** Milliseconds of the TCP handshake, and of the name lookup (0 for an address). */
  connectMs: number;
  lookupMs: number;
  /** Milliseconds from sending to the last byte of the reply, or null when nothing came. */
  replyMs: number | null;
  /** Bytes sent. */
  sent: number;
}

/**
 * Send one message over TCP and collect the reply.
 *
 * @param options - host, port, message, timeouts, socket options, signal
 * @returns the reply and how it ended
 * @throws {ValidationError} for bad options
 * @throws {TimeoutError} when the lookup, the connect or the whole request ran out of time
 * @throws {NetworkError} when the server cannot be reached or resets the connection
 * @throws {AbortError} when the signal fires
 * @example
 * ```ts
 * import { tcpRequest } from 'soket';
 * const r = await tcpRequest({ host: '127.0.0.1', port: 7000, message: 'Hello, server!', timeout: 3000 });
 * console.log(r.data.toString(), r.end);
 * ```
 */
export async function tcpRequest(options: TcpRequestOptions): Promise<TcpReply> {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid TCP request options: expected an object with host, port and message');
  }
  const { message, replyTimeout: rt, shutdown: sd, maxReplyBytes: mx, ...connectOptions } = options;
  if (typeof message !== 'string' && !(message instanceof Uint8Array)) {
    throw new ValidationError('Invalid message: expected a string or bytes');
  }
  const replyTimeout =
    checkTimeout(rt ?? TCP_REQUEST_DEFAULTS.replyTimeout, { what: 'replyTimeout' }) ??
    TCP_REQUEST_DEFAULTS.replyTimeout;
  const shutdown = sd ?? TCP_REQUEST_DEFAULTS.shutdown;
  if (typeof shutdown !== 'boolean') throw new ValidationError('Invalid shutdown: expected true or false');
  const maxReplyBytes = parseInteger(mx ?? TCP_REQUEST_DEFAULTS.maxReplyBytes, 'maxReplyBytes', { min: 1 });
  const payload = typeof message === 'string' ? Buffer.from(message, 'utf8') : Buffer.from(message);
  const conn = await connectTcp(connectOptions);
  const { socket } = conn;
  const where = formatHostPort(conn.remoteAddress, conn.remotePort);
  const deadline = new Deadline(options.timeout, where);
  const chunks: Buffer[] = [];
  let size = 0;
  let sentAt = 0;
  let lastData = 0;

  return exchange<TcpReply>({ target: where, deadline, signal: options.signal }, (ctl) => {
    let quiet: NodeJS.Timeout | undefined;
    const done = (end: TcpReply['end']) => {
      const data = Buffer.concat(chunks);
      const truncated = end === 'cap';
      ctl.resolve({
        data: truncated ? data.subarray(0, maxReplyBytes) : data,
        end,
        truncated,
        remote: { address: conn.remoteAddress, port: conn.remotePort },
        local: { address: conn.localAddress, port: conn.localPort },
        family: conn.family,
        connectMs: conn.connectMs,
        lookupMs: conn.lookupMs,
        replyMs: size > 0 ? lastData - sentAt : null,
        sent: payload.length,
      });
    };
    const arm = () => {
      if (quiet) clearTimeout(quiet);
      quiet = setTimeout(() => done('quiet'), replyTimeout);
    };
    socket.on('data', (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      lastData = performance.now();
      if (size > maxReplyBytes) done('cap');
      else arm();
    });
    socket.on('end', () => done('server-closed'));
    socket.on('error', (err) => ctl.reject(toSoketError(err, `Connection to ${where}`)));
    return {
      send() {
        sentAt = performance.now();
        socket.write(payload);
        if (shutdown) socket.end();
        arm();
        debug('tcp', 'request sent', { to: where, bytes: payload.length });
      },
      cleanup() {
        if (quiet) clearTimeout(quiet);
        socket.destroy();
      },
    };
  });
}
