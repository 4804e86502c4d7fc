/**
 * Connect to any stream address ({@link parseStreamAddress}): TCP through {@link connectTcp}, a Unix socket
 * (a path or an abstract name), and TLS on top of either through {@link startTls}. The relay and the CLI's
 * `tcp connect` use this one door.
 *
 * @module
 */
import net from 'node:net';
import type tls from 'node:tls';
import { Deadline, throwIfAborted, withTimeout } from '../core/deadline.js';
import { TimeoutError, toSoketError, ValidationError } from '../core/errors.js';
import { checkBoolean, checkOptionsObject, checkTimeout } from '../core/validate.js';
import {
  formatStreamAddress,
  nodeUnixPath,
  parseStreamAddress,
  type StreamAddress,
} from './stream-address.js';
import { type ConnectTcpOptions, connectTcp } from './tcp-client.js';
import { type StartTlsOptions, startTls, type TlsSession } from './tls-client.js';
import { type PreparedTlsClient, prepareTlsClient, type TlsClientOptions } from './tls-config.js';

/** Options of {@link connectStream}. */
export interface ConnectStreamOptions extends Omit<ConnectTcpOptions, 'host' | 'port'> {
  /** TLS settings, used when the address is `tls:` (or `tls` is set). */
  tlsOptions?: TlsClientOptions | PreparedTlsClient;
  /** Use TLS even without `tls:` in the address. @default false */
  tls?: boolean;
}

/** A connected stream. */
export interface StreamConnection {
  /** The socket (a `tls.TLSSocket` with TLS). */
  socket: net.Socket | tls.TLSSocket;
  /** The address connected to. */
  address: StreamAddress;
  /** The peer as text: `127.0.0.1:80`, `unix:/run/a.sock`, `tls:127.0.0.1:443`. */
  target: string;
  /** Remote IP and port (TCP), or undefined for Unix. */
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** Local IP and port (TCP), or undefined for Unix. */
  localAddress: string | undefined;
  localPort: number | undefined;
  /** Milliseconds for the connection (lookup and handshake), TLS not included. */
  connectMs: number;
  /** The TLS session, with TLS. */
  tls: TlsSession | undefined;
}

function isPrepared(o: TlsClientOptions | PreparedTlsClient): o is PreparedTlsClient {
  return typeof (o as PreparedTlsClient).insecure === 'boolean' && 'handshakeTimeout' in o && 'pin' in o;
}

/**
 * Connect to a stream address.
 *
 * @param address - a parsed address, or text such as `127.0.0.1:80`, `unix:/run/a.sock`, `tls:host:443`
 * @param options - timeouts, signal, local address (TCP), TLS settings
 * @returns the connected socket and facts about it
 * @throws {ValidationError} for a bad address or options
 * @throws {NetworkError} `ECONNREFUSED`, `ENOENT` (no such Unix socket), ...
 * @throws {TlsError} when TLS fails or the certificate is refused
 * @throws {TimeoutError} phases `lookup`, `connect`, `handshake`
 * @example
 * ```ts
 * import { connectStream } from 'soket';
 * const { socket } = await connectStream('unix:/run/app.sock', { connectTimeout: 1000 });
 * socket.end('ping\n');
 * ```
 */
export async function connectStream(
  address: StreamAddress | string,
  options: ConnectStreamOptions = {},
): Promise<StreamConnection> {
  checkOptionsObject(options, 'connect options');
  checkBoolean(options.tls, 'tls');
  // An address given parsed must be one from parseStreamAddress: formatStreamAddress checks that.
  if (typeof address !== 'string') formatStreamAddress(address);
  const a = typeof address === 'string' ? parseStreamAddress(address, { what: 'target' }) : address;
  const useTls = a.tls || Boolean(options.tls);
  if (options.tlsOptions !== undefined) checkOptionsObject(options.tlsOptions, 'tlsOptions');
  const tlsSettings =
    options.tlsOptions === undefined
      ? prepareTlsClient({})
      : isPrepared(options.tlsOptions)
        ? options.tlsOptions
        : prepareTlsClient(options.tlsOptions);
  const target = formatStreamAddress({ ...a, tls: useTls });
  throwIfAborted(options.signal, `Connect to ${target}`);
  let socket: net.Socket;
  let connectMs: number;
  let remoteAddress: string | undefined;
  let remotePort: number | undefined;
  let localAddress: string | undefined;
  let localPort: number | undefined;
  let host: string | undefined;
  if (a.kind === 'tcp') {
    const c = await connectTcp({ ...options, host: a.host, port: a.port });
    socket = c.socket;
    connectMs = c.lookupMs + c.connectMs;
    remoteAddress = c.remoteAddress;
    remotePort = c.remotePort;
    localAddress = c.localAddress;
    localPort = c.localPort;
    host = a.host;
  } else {
    if (options.localAddress !== undefined || options.localPort !== undefined) {
      throw new ValidationError(`A local address (--source) applies to TCP, not to ${target}`);
    }
    const t0 = performance.now();
    socket = await connectUnix(a, target, options);
    connectMs = performance.now() - t0;
  }
  let session: TlsSession | undefined;
  if (useTls) {
    const start: StartTlsOptions = { target, tls: tlsSettings };
    if (host !== undefined) start.host = host;
    if (options.signal) start.signal = options.signal;
    const timeout = checkTimeout(options.timeout, { what: 'timeout' });
    if (timeout !== undefined) start.deadline = new Deadline(Math.max(1, timeout - connectMs), target);
    const r = await startTls(socket, start);
    socket = r.socket;
    session = r.session;
  }
  return {
    socket,
    address: a,
    target,
    remoteAddress,
    remotePort,
    localAddress,
    localPort,
    connectMs,
    tls: session,
  };
}

async function connectUnix(
  a: Extract<StreamAddress, { kind: 'unix' }>,
  target: string,
  options: ConnectStreamOptions,
): Promise<net.Socket> {
  const limit =
    checkTimeout(options.connectTimeout, { what: 'connectTimeout' }) ??
    checkTimeout(options.timeout, { what: 'timeout' });
  const o: { timeout?: number; signal?: AbortSignal } = {};
  if (limit !== undefined) o.timeout = limit;
  if (options.signal) o.signal = options.signal;
  const socket = await withTimeout(
    (signal) =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ path: nodeUnixPath(a), allowHalfOpen: true });
        const onAbort = () => s.destroy();
        signal.addEventListener('abort', onAbort, { once: true });
        s.once('connect', () => {
          signal.removeEventListener('abort', onAbort);
          s.off('error', onError);
          resolve(s);
        });
        const onError = (err: Error) => {
          signal.removeEventListener('abort', onAbort);
          reject(toSoketError(err, `Cannot reach ${target}`));
        };
        s.once('error', onError);
      }),
    o,
    { phase: 'connect', target },
  );
  if (options.idleTimeout) {
    const idle = options.idleTimeout;
    socket.setTimeout(idle, () => socket.destroy(new TimeoutError('idle', target, idle)));
  }
  return socket;
}
