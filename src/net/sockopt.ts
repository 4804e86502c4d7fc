/**
 * Socket options Node does not expose: getsockopt(2)/setsockopt(2) on the file descriptor of a TCP socket
 * (connected, accepted, or created by {@link connectTcp} before its handshake), a listening TCP server, or a
 * bound UDP socket. The system calls themselves live in `platform/socket.ts` (the FFI door, koffi); this
 * module finds the descriptor, checks options and phrases the errors.
 *
 * Where the file descriptor lives (Unix; on Windows there is none and FFI does not load):
 * - `net.Socket` and `net.Server`: `socket._handle.fd`, a getter of Node's TCPWrap/LibuvStreamWrap that
 *   returns libuv's `uv_fileno()`. It is -1 until the fd exists: a client socket gets one only inside
 *   `connect()` (libuv creates it lazily), a server once it listens. It is reliable for as long as `_handle`
 *   is set; Node sets `_handle` to null when the socket is destroyed or the server closed.
 * - `dgram.Socket`: the same getter on UDPWrap, reached through the socket's internal state (the symbol
 *   described `state symbol`), because `dgram.Socket#_handle` is a deprecated accessor (DEP0112) that prints
 *   a warning. The fd exists once the socket is bound (`bind()` or the first `send()`).
 *
 * Node keeps its own record of TCP_NODELAY and SO_KEEPALIVE on a `net.Socket` and skips calls that match it,
 * so after setting those two through FFI this module also calls `setNoDelay` / `setKeepAlive` (without a
 * delay, which libuv would turn into TCP_KEEPIDLE/INTVL/CNT) to keep that record in step with the kernel.
 *
 * @module
 */

import type dgram from 'node:dgram';
import type net from 'node:net';
import { debug } from '../core/debug.js';
import { ClosedError, NetworkError, osErrorText, UnsupportedError, ValidationError } from '../core/errors.js';
import { type SocketConstants as Constants, socketConstants as constants } from '../platform/constants.js';
import {
  errnoName,
  getsockoptInt,
  getsockoptTimeval,
  openSocketFd,
  setsockoptInt,
  closeFd as sysCloseFd,
} from '../platform/socket.js';

/** Any socket whose options soket can read and set. */
export type AnySocket = net.Socket | net.Server | dgram.Socket;

/**
 * Options to set on a socket. Absent fields are left as they are. Buffer sizes are the bytes you ask for:
 * Linux doubles them (the extra half is for its bookkeeping) and caps the request at `net.core.wmem_max` /
 * `net.core.rmem_max` first (see {@link readSocketLimits}).
 */
export interface SocketOptions {
  /** SO_SNDBUF, bytes. @default unchanged */
  sendBufferSize?: number;
  /** SO_RCVBUF, bytes; set before connect it also fixes the TCP window scale offered in the SYN. @default unchanged */
  receiveBufferSize?: number;
  /** TCP_NODELAY: send small segments at once instead of coalescing them (Nagle). TCP only. @default unchanged */
  noDelay?: boolean;
  /** SO_KEEPALIVE: probe an idle connection. @default unchanged */
  keepAlive?: boolean;
  /** TCP_KEEPIDLE (macOS: TCP_KEEPALIVE), seconds of idleness before the first probe, 1 to 32767. @default unchanged */
  keepAliveIdle?: number;
  /** TCP_KEEPINTVL, seconds between probes, 1 to 32767. @default unchanged */
  keepAliveInterval?: number;
  /** TCP_KEEPCNT, unanswered probes before the connection is dropped, 1 to 127. @default unchanged */
  keepAliveCount?: number;
  /** SO_REUSEADDR; matters before bind. @default unchanged */
  reuseAddress?: boolean;
  /** SO_REUSEPORT; matters before bind. @default unchanged */
  reusePort?: boolean;
  /** IP_TTL (IPv4) or IPV6_UNICAST_HOPS (IPv6), 1 to 255. @default unchanged */
  ttl?: number;
}

/** What the kernel reports for a socket. `null` means the option does not apply to this socket or OS. */
export interface SocketOptionsReport {
  /** `tcp` (SOCK_STREAM) or `udp` (SOCK_DGRAM), from SO_TYPE. */
  type: 'tcp' | 'udp';
  /** 4 or 6, from SO_DOMAIN (Linux) or the socket's address. */
  family: 4 | 6;
  /** The file descriptor. */
  fd: number;
  /** SO_SNDBUF as the kernel reports it (on Linux twice what was set). */
  sendBufferSize: number;
  /** SO_RCVBUF as the kernel reports it (on Linux twice what was set). */
  receiveBufferSize: number;
  /** TCP_NODELAY; `null` on UDP. */
  noDelay: boolean | null;
  /** SO_KEEPALIVE. */
  keepAlive: boolean;
  /** TCP_KEEPIDLE in seconds; `null` on UDP or where the OS lacks it. */
  keepAliveIdle: number | null;
  /** TCP_KEEPINTVL in seconds; `null` on UDP or where the OS lacks it. */
  keepAliveInterval: number | null;
  /** TCP_KEEPCNT; `null` on UDP or where the OS lacks it. */
  keepAliveCount: number | null;
  /** SO_REUSEADDR. */
  reuseAddress: boolean;
  /** SO_REUSEPORT; `null` where the OS lacks it. */
  reusePort: boolean | null;
  /** IP_TTL or IPV6_UNICAST_HOPS: the hop limit of outgoing unicast packets. */
  ttl: number;
  /** SO_RCVTIMEO in ms, 0 for none. Node's sockets are non-blocking, so the kernel never applies it. */
  receiveTimeout: number;
  /** SO_SNDTIMEO in ms, 0 for none. Node's sockets are non-blocking, so the kernel never applies it. */
  sendTimeout: number;
}

/** Validation limits, one place. */
const LIMITS = {
  bufferSize: { min: 1, max: 2_147_483_647 },
  keepAliveIdle: { min: 1, max: 32_767 },
  keepAliveInterval: { min: 1, max: 32_767 },
  keepAliveCount: { min: 1, max: 127 },
  ttl: { min: 1, max: 255 },
} as const;

const NUMERIC: Record<string, { min: number; max: number }> = {
  sendBufferSize: LIMITS.bufferSize,
  receiveBufferSize: LIMITS.bufferSize,
  keepAliveIdle: LIMITS.keepAliveIdle,
  keepAliveInterval: LIMITS.keepAliveInterval,
  keepAliveCount: LIMITS.keepAliveCount,
  ttl: LIMITS.ttl,
};
const BOOLEAN = new Set(['noDelay', 'keepAlive', 'reuseAddress', 'reusePort']);

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined)
    return String(value);
  return `'${Object.prototype.toString.call(value)}'`;
}

/**
 * Check socket options before anything is done with them: sizes and counts are integers in range, flags are
 * booleans, and no unknown option is given (a misspelt option is an error, not silently ignored).
 *
 * @param options - the options as given
 * @returns the same options, typed
 * @throws {ValidationError} naming the first bad option, e.g. `Invalid sendBufferSize '-1': expected an
 *   integer from 1 to 2147483647`
 * @example
 * ```ts
 * validateSocketOptions({ receiveBufferSize: 65536, noDelay: true }); // ok
 * validateSocketOptions({ sendBufferSize: -1 }); // throws ValidationError
 * ```
 */
export function validateSocketOptions(options: unknown): SocketOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ValidationError(`Invalid socket options ${show(options)}: expected an object`);
  }
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const range = NUMERIC[name];
    if (range) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
        throw new ValidationError(
          `Invalid ${name} ${show(value)}: expected an integer from ${range.min} to ${range.max}`,
        );
      }
    } else if (BOOLEAN.has(name)) {
      if (typeof value !== 'boolean') {
        throw new ValidationError(`Invalid ${name} ${show(value)}: expected true or false`);
      }
    } else {
      throw new ValidationError(
        `Unknown socket option '${name}': expected one of ${[...Object.keys(NUMERIC), ...BOOLEAN].join(', ')}`,
      );
    }
  }
  return options as SocketOptions;
}

type Kind = 'socket' | 'server' | 'udp';

interface Target {
  fd: number;
  kind: Kind;
  socket: AnySocket;
}

interface HandleLike {
  fd?: number;
}

/** The fd of any supported socket, or the reason there is none. */
function target(socket: AnySocket, action: 'read' | 'set'): Target {
  const what = action === 'read' ? 'read options of' : 'set options on';
  if (socket === null || typeof socket !== 'object') {
    throw new ValidationError(`Cannot ${what} '${String(socket)}': expected a Node socket or server`);
  }
  const s = socket as unknown as Record<string | symbol, unknown>;
  let kind: Kind;
  let handle: HandleLike | null | undefined;
  if (typeof s.setBroadcast === 'function' && typeof s.addMembership === 'function') {
    kind = 'udp';
    const state = Object.getOwnPropertySymbols(s).find((sym) => sym.description === 'state symbol');
    const st = state ? (s[state] as { handle?: HandleLike | null } | undefined) : undefined;
    if (!st)
      throw new UnsupportedError(`Cannot ${what} this UDP socket: Node's internal state is not reachable`);
    handle = st.handle;
    if (!handle) throw new ClosedError(`Cannot ${what} a closed UDP socket`);
  } else if (typeof s.listen === 'function' && typeof s.getConnections === 'function') {
    kind = 'server';
    handle = s._handle as HandleLike | null | undefined;
    if (!handle)
      throw new ClosedError(`Cannot ${what} a server that is not listening (closed or not started)`);
  } else if (typeof s.setNoDelay === 'function' && 'destroyed' in s) {
    kind = 'socket';
    handle = s._handle as HandleLike | null | undefined;
    if (s.destroyed) throw new ClosedError(`Cannot ${what} a closed socket`);
    // A socket that never connected has no handle yet; reported below as "no file descriptor yet".
    if (!handle) handle = { fd: -1 };
  } else {
    throw new ValidationError(
      `Cannot ${what} ${show(socket)}: expected a net.Socket, net.Server or dgram.Socket`,
    );
  }
  const fd = handle.fd;
  if (typeof fd !== 'number') {
    throw new UnsupportedError(
      `Cannot ${what} this socket: it is not a TCP or UDP socket with a file descriptor`,
    );
  }
  if (fd < 0) {
    if (process.platform === 'win32') {
      throw new UnsupportedError(`Cannot ${what} a socket on Windows: Node does not expose its handle`);
    }
    const hint =
      kind === 'udp'
        ? 'bind it first'
        : kind === 'server'
          ? 'wait for it to listen'
          : 'it is not connected yet (use connectTcp({ socketOptions }) to set options before the handshake)';
    throw new ValidationError(`Cannot ${what} this socket: it has no file descriptor yet; ${hint}`);
  }
  return { fd, kind, socket };
}

const OPTION_NAMES: Record<keyof SocketOptions, string> = {
  sendBufferSize: 'SO_SNDBUF',
  receiveBufferSize: 'SO_RCVBUF',
  noDelay: 'TCP_NODELAY',
  keepAlive: 'SO_KEEPALIVE',
  keepAliveIdle: 'TCP_KEEPIDLE',
  keepAliveInterval: 'TCP_KEEPINTVL',
  keepAliveCount: 'TCP_KEEPCNT',
  reuseAddress: 'SO_REUSEADDR',
  reusePort: 'SO_REUSEPORT',
  ttl: 'IP_TTL',
};

function failure(
  errno: number,
  option: string,
  action: 'read' | 'set',
  type: string,
  fd: number,
): UnsupportedError | ClosedError | NetworkError {
  const code = errnoName(errno);
  if (code === 'ENOPROTOOPT' || code === 'EOPNOTSUPP' || code === 'ENOTSUP') {
    return new UnsupportedError(
      `Option ${option} is not supported on ${type ? `a ${type}` : 'this'} socket by this OS (${code} from ${action === 'read' ? 'getsockopt' : 'setsockopt'})`,
    );
  }
  if (code === 'EBADF' || code === 'ENOTSOCK') {
    return new ClosedError(`Cannot ${action} ${option}: file descriptor ${fd} is closed (${code})`);
  }
  return new NetworkError(`Cannot ${action} ${option} on fd ${fd}: ${osErrorText(code)}`, code, {
    syscall: action === 'read' ? 'getsockopt' : 'setsockopt',
    errno,
  });
}

function readInt(fd: number, level: number, name: number, option: string, type: string): number {
  const r = getsockoptInt(fd, level, name);
  if (!r.ok) throw failure(r.errno, option, 'read', type, fd);
  return r.value;
}

function readTimeout(fd: number, c: Constants, name: number, option: string, type: string): number {
  const r = getsockoptTimeval(fd, c.SOL_SOCKET, name);
  if (!r.ok) throw failure(r.errno, option, 'read', type, fd);
  return r.value;
}

function familyOf(t: Target, c: Constants): 4 | 6 {
  if (c.SO_DOMAIN !== undefined) {
    const domain = readInt(t.fd, c.SOL_SOCKET, c.SO_DOMAIN, 'SO_DOMAIN', '');
    if (domain === c.AF_INET) return 4;
    if (domain === c.AF_INET6) return 6;
    throw new UnsupportedError(`Socket fd ${t.fd} is not an IPv4 or IPv6 socket (address family ${domain})`);
  }
  const address = (t.socket as { address(): unknown }).address() as { family?: string | number } | null;
  const f = address?.family;
  return f === 'IPv6' || f === 6 ? 6 : 4;
}

function describe(t: Target, c: Constants): { type: 'tcp' | 'udp'; family: 4 | 6 } {
  const so = readInt(t.fd, c.SOL_SOCKET, c.SO_TYPE, 'SO_TYPE', '');
  let type: 'tcp' | 'udp';
  if (so === c.SOCK_STREAM) type = 'tcp';
  else if (so === c.SOCK_DGRAM) type = 'udp';
  else throw new UnsupportedError(`Socket fd ${t.fd} is neither TCP nor UDP (socket type ${so})`);
  return { type, family: familyOf(t, c) };
}

function report(t: Target): SocketOptionsReport {
  const c = constants();
  const { type, family } = describe(t, c);
  const label = type.toUpperCase();
  const int = (level: number, name: number, option: string) => readInt(t.fd, level, name, option, label);
  const tcpOnly = (name: number | undefined, option: string): number | null =>
    type === 'tcp' && name !== undefined ? int(c.IPPROTO_TCP, name, option) : null;
  const noDelay = tcpOnly(c.TCP_NODELAY, 'TCP_NODELAY');
  return {
    type,
    family,
    fd: t.fd,
    sendBufferSize: int(c.SOL_SOCKET, c.SO_SNDBUF, 'SO_SNDBUF'),
    receiveBufferSize: int(c.SOL_SOCKET, c.SO_RCVBUF, 'SO_RCVBUF'),
    noDelay: noDelay === null ? null : noDelay !== 0,
    keepAlive: int(c.SOL_SOCKET, c.SO_KEEPALIVE, 'SO_KEEPALIVE') !== 0,
    keepAliveIdle: tcpOnly(c.TCP_KEEPIDLE, 'TCP_KEEPIDLE'),
    keepAliveInterval: tcpOnly(c.TCP_KEEPINTVL, 'TCP_KEEPINTVL'),
    keepAliveCount: tcpOnly(c.TCP_KEEPCNT, 'TCP_KEEPCNT'),
    reuseAddress: int(c.SOL_SOCKET, c.SO_REUSEADDR, 'SO_REUSEADDR') !== 0,
    reusePort: c.SO_REUSEPORT === undefined ? null : int(c.SOL_SOCKET, c.SO_REUSEPORT, 'SO_REUSEPORT') !== 0,
    ttl:
      family === 6
        ? int(c.IPPROTO_IPV6, c.IPV6_UNICAST_HOPS, 'IPV6_UNICAST_HOPS')
        : int(c.IPPROTO_IP, c.IP_TTL, 'IP_TTL'),
    receiveTimeout: readTimeout(t.fd, c, c.SO_RCVTIMEO, 'SO_RCVTIMEO', label),
    sendTimeout: readTimeout(t.fd, c, c.SO_SNDTIMEO, 'SO_SNDTIMEO', label),
  };
}

/**
 * Read a socket's options from the kernel (getsockopt(2)).
 *
 * @param socket - a connected or accepted `net.Socket`, a listening `net.Server`, or a bound `dgram.Socket`
 * @returns type, family, fd and every option's current value
 * @throws {UnsupportedError} when FFI is unavailable (koffi missing, `SOKET_NO_FFI=1`, unsupported platform)
 * @throws {ClosedError} when the socket or server is closed
 * @throws {ValidationError} when the socket has no file descriptor yet (not connected, bound or listening)
 * @example
 * ```ts
 * import net from 'node:net';
 * import { getSocketOptions } from 'soket';
 * const socket = net.connect(80, '127.0.0.1', () => {
 *   const o = getSocketOptions(socket);
 *   console.log(o.type, o.family, o.sendBufferSize, o.noDelay); // 'tcp' 4 2626560 false
 * });
 * ```
 */
export function getSocketOptions(socket: AnySocket): SocketOptionsReport {
  const t = target(socket, 'read');
  return report(t);
}

/**
 * Set socket options (setsockopt(2)) and read them back. Options are applied in a fixed order (buffers,
 * reuse flags, TTL, keep-alive, Nagle); if one fails, those before it stay applied. Options set on a listening
 * `net.Server` are inherited by the sockets it accepts afterwards (Linux copies the listener's options to
 * each new connection). SO_REUSEADDR/SO_REUSEPORT only matter before bind, so on a bound socket they change
 * the reported value but not the binding.
 *
 * @param socket - a connected or accepted `net.Socket`, a listening `net.Server`, or a bound `dgram.Socket`
 * @param options - the options to set; absent ones are left alone
 * @returns what the kernel reports afterwards (buffer sizes doubled on Linux)
 * @throws {ValidationError} for a bad value (negative or non-integer size, unknown option)
 * @throws {UnsupportedError} when FFI is unavailable, or the OS does not support an option on this socket
 *   (TCP_NODELAY on UDP → ENOPROTOOPT)
 * @throws {ClosedError} when the socket or server is closed
 * @example
 * ```ts
 * import dgram from 'node:dgram';
 * import { setSocketOptions } from 'soket';
 * const udp = dgram.createSocket('udp4');
 * udp.bind(0, '127.0.0.1', () => {
 *   const after = setSocketOptions(udp, { receiveBufferSize: 65536, ttl: 8 });
 *   console.log(after.receiveBufferSize); // 131072 on Linux
 *   udp.close();
 * });
 * ```
 */
export function setSocketOptions(socket: AnySocket, options: SocketOptions): SocketOptionsReport {
  validateSocketOptions(options);
  const t = target(socket, 'set');
  const c = constants();
  const { type, family } = describe(t, c);
  const label = type.toUpperCase();
  const set = (key: keyof SocketOptions, level: number, name: number | undefined, value: number) => {
    const option = key === 'ttl' && family === 6 ? 'IPV6_UNICAST_HOPS' : OPTION_NAMES[key];
    if (name === undefined) {
      throw new UnsupportedError(`Option ${option} is not available on ${process.platform}`);
    }
    const r = setsockoptInt(t.fd, level, name, value);
    if (!r.ok) throw failure(r.errno, option, 'set', label, t.fd);
  };
  const o = options;
  if (o.sendBufferSize !== undefined) set('sendBufferSize', c.SOL_SOCKET, c.SO_SNDBUF, o.sendBufferSize);
  if (o.receiveBufferSize !== undefined)
    set('receiveBufferSize', c.SOL_SOCKET, c.SO_RCVBUF, o.receiveBufferSize);
  if (o.reuseAddress !== undefined) set('reuseAddress', c.SOL_SOCKET, c.SO_REUSEADDR, o.reuseAddress ? 1 : 0);
  if (o.reusePort !== undefined) set('reusePort', c.SOL_SOCKET, c.SO_REUSEPORT, o.reusePort ? 1 : 0);
  if (o.ttl !== undefined) {
    if (family === 6) {
      set('ttl', c.IPPROTO_IPV6, c.IPV6_UNICAST_HOPS, o.ttl);
      // IPv4-mapped traffic on an IPv6 socket uses IP_TTL; Linux accepts it on AF_INET6 sockets, others may not.
      setsockoptInt(t.fd, c.IPPROTO_IP, c.IP_TTL, o.ttl);
    } else {
      set('ttl', c.IPPROTO_IP, c.IP_TTL, o.ttl);
    }
  }
  if (o.keepAlive !== undefined) {
    set('keepAlive', c.SOL_SOCKET, c.SO_KEEPALIVE, o.keepAlive ? 1 : 0);
    if (t.kind === 'socket') (socket as net.Socket).setKeepAlive(o.keepAlive);
  }
  if (o.keepAliveIdle !== undefined) set('keepAliveIdle', c.IPPROTO_TCP, c.TCP_KEEPIDLE, o.keepAliveIdle);
  if (o.keepAliveInterval !== undefined)
    set('keepAliveInterval', c.IPPROTO_TCP, c.TCP_KEEPINTVL, o.keepAliveInterval);
  if (o.keepAliveCount !== undefined) set('keepAliveCount', c.IPPROTO_TCP, c.TCP_KEEPCNT, o.keepAliveCount);
  if (o.noDelay !== undefined) {
    set('noDelay', c.IPPROTO_TCP, c.TCP_NODELAY, o.noDelay ? 1 : 0);
    if (t.kind === 'socket') (socket as net.Socket).setNoDelay(o.noDelay);
  }
  const after = report(t);
  debug('sockopt', 'socket options set', { fd: t.fd, type, family, options: { ...o } });
  return after;
}

/**
 * Create an unconnected TCP socket's file descriptor (socket(2), close-on-exec), so options can be set on it
 * before the handshake; hand it to `new net.Socket({ fd })` and connect that. Used by {@link connectTcp}.
 *
 * @param family - 4 or 6
 * @returns the new file descriptor; the caller owns it (close it with {@link closeFd} if it is not wrapped)
 * @throws {UnsupportedError} when FFI is unavailable
 * @throws {NetworkError} when socket(2) fails (EMFILE, EAFNOSUPPORT, ...)
 * @example
 * ```ts
 * const fd = createTcpSocketFd(4);
 * const socket = new net.Socket({ fd });
 * setSocketOptions(socket, { receiveBufferSize: 4096 });
 * socket.connect(8080, '127.0.0.1');
 * ```
 */
export function createTcpSocketFd(family: 4 | 6): number {
  return openSocketFd(family, 'tcp');
}

/**
 * Close a file descriptor made by {@link createTcpSocketFd} that was never handed to Node.
 *
 * @param fd - the descriptor
 * @example
 * ```ts
 * const fd = createTcpSocketFd(4);
 * closeFd(fd);
 * ```
 */
export function closeFd(fd: number): void {
  sysCloseFd(fd);
}
