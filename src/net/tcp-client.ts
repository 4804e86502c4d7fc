/**
 * A TCP client connect with a timeout for each phase: name lookup, TCP handshake, idleness after connect, and
 * an overall deadline; an `AbortSignal` cancels any of them. Socket options can be applied before the
 * handshake, so a receive buffer set here shapes the window offered in the SYN.
 *
 * How options get in before the handshake: Node creates a client's file descriptor lazily, inside
 * `connect()`, and offers no hook between creating and connecting it. So with `socketOptions`, soket makes
 * the descriptor itself (socket(2) through FFI, {@link createTcpSocketFd}), wraps it in `net.Socket({ fd })`,
 * sets the options on it, and then connects that socket; libuv connects an fd it was given just as one it
 * made. Without `socketOptions`, no FFI is involved.
 *
 * @module
 */
import dns from 'node:dns';
import net from 'node:net';
import { Deadline, throwIfAborted, withTimeout } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import {
  AbortError,
  NetworkError,
  SoketError,
  TimeoutError,
  toSoketError,
  ValidationError,
} from '../core/errors.js';
import { checkTimeout, formatHostPort, parseAddress, parseHost, parsePort } from '../core/validate.js';
import {
  closeFd,
  createTcpSocketFd,
  type SocketOptions,
  setSocketOptions,
  validateSocketOptions,
} from './sockopt.js';

/** One address a lookup found. */
export interface LookupAddress {
  /** An IPv4 or IPv6 address. */
  address: string;
  /** 4 or 6. */
  family: number;
}

/**
 * Resolves a host name for {@link connectTcp}. It should stop when `signal` fires (the lookup timed out or
 * was aborted); soket stops waiting for it either way.
 */
export type LookupFunction = (
  hostname: string,
  options: { family: 0 | 4 | 6; signal: AbortSignal },
) => Promise<LookupAddress[]>;

/** Options for {@link connectTcp}. */
export interface ConnectTcpOptions {
  /** Host name or IP address to connect to. */
  host: string;
  /** TCP port, 1 to 65535. */
  port: number;
  /** Address family to look up and connect with. @default 0 (any) */
  family?: 0 | 4 | 6;
  /** Local address to bind before connecting. @default chosen by the kernel */
  localAddress?: string;
  /** Local port to bind before connecting. @default chosen by the kernel */
  localPort?: number;
  /** Milliseconds for the name lookup phase. @default none (the resolver's own limits) */
  lookupTimeout?: number;
  /** Milliseconds for the TCP handshake (all addresses tried in turn share it). @default none (the kernel gives up after tcp_syn_retries: about 127 s) */
  connectTimeout?: number;
  /**
   * After connect: destroy the socket with `TimeoutError` (phase `idle`) after this many ms without data in
   * either direction. @default none
   */
  idleTimeout?: number;
  /**
   * Overall deadline in ms: bounds lookup + connect, and after connect destroys the socket with
   * `TimeoutError` (phase `overall`) when it elapses. @default none
   */
  timeout?: number;
  /** Aborts the connect (`AbortError`); after connect, destroys the socket with an `AbortError`. @default none */
  signal?: AbortSignal;
  /**
   * Socket options, applied to the socket before the handshake (needs FFI; see {@link setSocketOptions}).
   * @default none (no FFI needed)
   */
  socketOptions?: SocketOptions;
  /**
   * Resolves `host` when it is a name. Use it to choose the resolver, e.g. a `dns.promises.Resolver` with
   * its own servers. @default `dns.promises.lookup` (getaddrinfo: /etc/hosts, then DNS)
   */
  lookup?: LookupFunction;
}

/** A connected TCP socket and how it was reached. */
export interface TcpConnection {
  /** The connected socket. Errors after connect are emitted on it as soket errors (`SoketError` subclasses). */
  socket: net.Socket;
  /** The peer's address. */
  remoteAddress: string;
  /** The peer's port. */
  remotePort: number;
  /** The local address. */
  localAddress: string;
  /** The local port. */
  localPort: number;
  /** 4 or 6. */
  family: 4 | 6;
  /** Milliseconds spent in the name lookup (0 for an IP address). */
  lookupMs: number;
  /** Milliseconds spent in the TCP handshake (including failed addresses). */
  connectMs: number;
}

const DEFAULTS = {
  family: 0 as 0 | 4 | 6,
  lookup: (async (hostname, { family }) =>
    dns.promises.lookup(hostname, { all: true, family })) satisfies LookupFunction,
};

/**
 * A `net.Socket` whose `error` events carry soket errors: OS errors become `NetworkError`s keeping their code,
 * with a message naming the peer.
 */
class TcpSocket extends net.Socket {
  /** Prefix of messages for OS errors: `Cannot reach ...` before connect, `Connection to ...` after. */
  action = '';

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && args.length > 0 && !(args[0] instanceof SoketError)) {
      args[0] = soketErrorOf(args[0], this.action);
    }
    return super.emit(event, ...args);
  }
}

/**
 * OS errors (they carry a `syscall`) become `NetworkError`s with the OS code; Node's own errors
 * (`ERR_STREAM_WRITE_AFTER_END`, ...) keep their code and message under a `SoketError`.
 */
function soketErrorOf(err: unknown, action: string): SoketError {
  const e = err as { syscall?: unknown; code?: unknown; message?: unknown };
  if (err instanceof Error && e.syscall === undefined && typeof e.code === 'string') {
    return new SoketError(action ? `${action}: ${err.message}` : err.message, e.code, { cause: err });
  }
  return toSoketError(err, action || undefined);
}

interface Checked {
  host: string;
  port: number;
  family: 0 | 4 | 6;
  localAddress: string | undefined;
  localPort: number | undefined;
  lookupTimeout: number | undefined;
  connectTimeout: number | undefined;
  idleTimeout: number | undefined;
  timeout: number | undefined;
  socketOptions: SocketOptions | undefined;
  lookup: LookupFunction;
}

function check(options: ConnectTcpOptions): Checked {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid connect options: expected an object with host and port');
  }
  if (typeof options.host !== 'string') throw new ValidationError('Invalid host: expected a string');
  const host = parseHost(options.host);
  if (typeof options.port !== 'number' && typeof options.port !== 'string') {
    throw new ValidationError(`Invalid port '${String(options.port)}': expected an integer from 1 to 65535`);
  }
  const port = parsePort(options.port);
  const family = options.family ?? DEFAULTS.family;
  if (family !== 0 && family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid family '${String(family)}': expected 0, 4 or 6`);
  }
  const ipFamily = net.isIP(host);
  if (ipFamily !== 0 && family !== 0 && ipFamily !== family) {
    throw new ValidationError(
      `Address ${host} is not an IPv${family} address (family ${family} was asked for)`,
    );
  }
  let localAddress: string | undefined;
  if (options.localAddress !== undefined) {
    const local = parseAddress(options.localAddress, 'local address');
    const f = ipFamily || family;
    if (f !== 0 && local.family !== f) {
      throw new ValidationError(
        `Local address ${local.address} is IPv${local.family}, the target is IPv${f}`,
      );
    }
    localAddress = local.address;
  }
  const localPort =
    options.localPort === undefined
      ? undefined
      : parsePort(options.localPort, { what: 'local port', allowZero: true });
  const socketOptions =
    options.socketOptions === undefined ? undefined : validateSocketOptions(options.socketOptions);
  const lookup = options.lookup ?? DEFAULTS.lookup;
  if (typeof lookup !== 'function') throw new ValidationError('Invalid lookup: expected a function');
  return {
    host,
    port,
    family,
    localAddress,
    localPort,
    lookupTimeout: checkTimeout(options.lookupTimeout, { what: 'lookupTimeout' }),
    connectTimeout: checkTimeout(options.connectTimeout, { what: 'connectTimeout' }),
    idleTimeout: checkTimeout(options.idleTimeout, { what: 'idleTimeout' }),
    timeout: checkTimeout(options.timeout, { what: 'timeout' }),
    socketOptions:
      socketOptions && Object.values(socketOptions).some((v) => v !== undefined) ? socketOptions : undefined,
    lookup,
  };
}

/**
 * Run one phase bounded by its own timeout and the overall deadline; a timeout names whichever ran out.
 */
async function phase<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  name: 'lookup' | 'connect',
  target: string,
  phaseTimeout: number | undefined,
  deadline: Deadline,
  signal: AbortSignal | undefined,
): Promise<T> {
  const left = deadline.remaining();
  const overallBinds = left !== undefined && (phaseTimeout === undefined || left < phaseTimeout);
  const limit = deadline.cap(phaseTimeout);
  const options: { timeout?: number; signal?: AbortSignal } = {};
  if (limit !== undefined) options.timeout = limit;
  if (signal) options.signal = signal;
  try {
    return await withTimeout(fn, options, { phase: name, target });
  } catch (err) {
    if (err instanceof TimeoutError && overallBinds) throw deadline.error();
    if (err instanceof AbortError && signal?.aborted && !(signal.reason instanceof SoketError)) {
      const what = name === 'lookup' ? 'Name lookup of' : 'Connect to';
      throw new AbortError(`${what} ${target} was aborted`, { cause: signal.reason });
    }
    throw err;
  }
}

function orderAddresses(addresses: LookupAddress[], family: 0 | 4 | 6): LookupAddress[] {
  const wanted = addresses.filter(
    (a) => (a.family === 4 || a.family === 6) && (family === 0 || a.family === family),
  );
  const seen = new Set<string>();
  return wanted.filter((a) => {
    if (seen.has(a.address)) return false;
    seen.add(a.address);
    return true;
  });
}

/** Make the socket for one attempt: with socket options, from an fd configured before connect. */
function makeSocket(family: 4 | 6, socketOptions: SocketOptions | undefined): TcpSocket {
  if (!socketOptions) return new TcpSocket();
  const fd = createTcpSocketFd(family);
  let socket: TcpSocket;
  try {
    // manualStart: do not start reading an unconnected socket; Node starts reading once it connects.
    socket = new TcpSocket({ fd, manualStart: true } as net.SocketConstructorOpts);
  } catch (err) {
    closeFd(fd);
    throw toSoketError(err, 'Cannot wrap a new TCP socket');
  }
  try {
    setSocketOptions(socket, socketOptions);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}

function attempt(c: Checked, address: LookupAddress, signal: AbortSignal): Promise<TcpSocket> {
  const family = address.family as 4 | 6;
  const where = formatHostPort(address.address, c.port);
  return new Promise<TcpSocket>((resolve, reject) => {
    const socket = makeSocket(family, c.socketOptions);
    socket.action = `Cannot reach ${where}`;
    const cleanup = () => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: unknown) => {
      cleanup();
      socket.destroy();
      reject(toSoketError(err, `Cannot reach ${where}`));
    };
    const onAbort = () => {
      cleanup();
      socket.destroy();
      reject(
        signal.reason instanceof SoketError
          ? signal.reason
          : new AbortError(`Connect to ${where} was aborted`),
      );
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    const opts: net.TcpSocketConnectOpts = { host: address.address, port: c.port, family };
    if (c.localAddress !== undefined) opts.localAddress = c.localAddress;
    if (c.localPort !== undefined) opts.localPort = c.localPort;
    // Synchronously after creating the socket: nothing polls the unconnected fd in between.
    socket.connect(opts);
  });
}

const RETRYABLE = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/**
 * Open a TCP connection with per-phase timeouts. A host name is looked up first (all addresses, in the
 * resolver's order); addresses are tried in turn until one connects, within one connect timeout.
 *
 * @param options - host, port, timeouts, signal, socket options; see {@link ConnectTcpOptions}
 * @returns the connected socket with its addresses and how long lookup and connect took
 * @throws {ValidationError} for a bad host, port, timeout or socket option
 * @throws {TimeoutError} phase `lookup`, `connect` or `overall`:
 *   `Connect to 127.0.0.1:9000 timed out after 2000 ms`
 * @throws {NetworkError} with the OS code: `Cannot reach 127.0.0.1:9: connection refused` (`ECONNREFUSED`),
 *   `ENOTFOUND` for an unknown name
 * @throws {AbortError} when `signal` fires first
 * @throws {UnsupportedError} when `socketOptions` are given but FFI is unavailable
 * @example
 * ```ts
 * import { connectTcp } from 'soket';
 * const { socket, connectMs } = await connectTcp({
 *   host: '127.0.0.1', port: 8080, connectTimeout: 2000, idleTimeout: 30_000,
 *   socketOptions: { receiveBufferSize: 65536, noDelay: true },
 * });
 * socket.on('error', (err) => console.error(err.message)); // e.g. 'Idle connection to 127.0.0.1:8080 timed out after 30000 ms'
 * socket.end('hello\n');
 * ```
 */
export async function connectTcp(options: ConnectTcpOptions): Promise<TcpConnection> {
  const c = check(options);
  const signal = options.signal;
  const target = formatHostPort(c.host, c.port);
  throwIfAborted(signal, `Connect to ${target}`);
  const deadline = new Deadline(c.timeout, target);

  // Lookup.
  const t0 = performance.now();
  let addresses: LookupAddress[];
  const ipFamily = net.isIP(c.host);
  if (ipFamily !== 0) {
    addresses = [{ address: c.host, family: ipFamily }];
  } else {
    const found = await phase(
      async (s) => {
        try {
          return await c.lookup(c.host, { family: c.family, signal: s });
        } catch (err) {
          throw toSoketError(err, `Cannot resolve ${c.host}`);
        }
      },
      'lookup',
      c.host,
      c.lookupTimeout,
      deadline,
      signal,
    );
    addresses = orderAddresses(found, c.family);
    if (addresses.length === 0) {
      const fam = c.family === 0 ? 'an IPv4 or IPv6' : `an IPv${c.family}`;
      throw new NetworkError(`Cannot resolve ${c.host}: it has no ${fam} address`, 'ENOTFOUND');
    }
  }
  const lookupMs = ipFamily !== 0 ? 0 : performance.now() - t0;
  debug('tcp', 'lookup done', { host: c.host, addresses: addresses.map((a) => a.address), lookupMs });

  // Connect: each address in turn, within one connect timeout.
  const t1 = performance.now();
  const socket = await phase(
    async (s) => {
      let last: SoketError | undefined;
      for (const address of addresses) {
        if (s.aborted) break;
        try {
          return await attempt(c, address, s);
        } catch (err) {
          const e = toSoketError(err);
          if (!(e instanceof NetworkError) || !RETRYABLE.has(e.code)) throw e;
          last = e;
          debug('tcp', 'connect attempt failed', { address: address.address, code: e.code });
        }
      }
      throw last ?? new AbortError(`Connect to ${target} was aborted`);
    },
    'connect',
    target,
    c.connectTimeout,
    deadline,
    signal,
  );
  const connectMs = performance.now() - t1;

  const remoteAddress = socket.remoteAddress ?? '';
  const remotePort = socket.remotePort ?? c.port;
  const peer = formatHostPort(remoteAddress, remotePort);
  socket.action = `Connection to ${peer}`;
  watch(socket, c, deadline, signal, peer, target);
  debug('tcp', 'connected', { peer, local: `${socket.localAddress}:${socket.localPort}`, connectMs });
  return {
    socket,
    remoteAddress,
    remotePort,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    family: socket.remoteFamily === 'IPv6' ? 6 : 4,
    lookupMs,
    connectMs,
  };
}

/** After connect: the idle timeout, the rest of the overall deadline, and the signal. */
function watch(
  socket: TcpSocket,
  c: Checked,
  deadline: Deadline,
  signal: AbortSignal | undefined,
  peer: string,
  target: string,
): void {
  const cleanups: Array<() => void> = [];
  if (c.idleTimeout !== undefined) {
    const idle = c.idleTimeout;
    // Node's socket timeout restarts on every read and write: exactly "no data in either direction".
    socket.setTimeout(idle, () => socket.destroy(new TimeoutError('idle', peer, idle)));
    cleanups.push(() => socket.setTimeout(0));
  }
  const left = deadline.remaining();
  if (left !== undefined && c.timeout !== undefined) {
    const total = c.timeout;
    const timer = setTimeout(() => socket.destroy(new TimeoutError('overall', target, total)), left);
    timer.unref();
    cleanups.push(() => clearTimeout(timer));
  }
  if (signal) {
    const onAbort = () =>
      socket.destroy(
        signal.reason instanceof SoketError
          ? signal.reason
          : new AbortError(`Connection to ${peer} was aborted`),
      );
    signal.addEventListener('abort', onAbort, { once: true });
    cleanups.push(() => signal.removeEventListener('abort', onAbort));
  }
  if (cleanups.length) {
    socket.once('close', () => {
      for (const f of cleanups) f();
    });
  }
}
