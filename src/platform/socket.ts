/**
 * The raw socket system calls soket makes through the FFI door ({@link libc}): socket(2), bind(2),
 * getsockname(2), getsockopt(2)/setsockopt(2), shutdown(2), close(2) and ioctl(2). Each is declared once on
 * the shared libc handle. Option calls return `{ ok, errno }` so the caller can phrase the error for what
 * it was doing; the others throw a `NetworkError` carrying the OS code.
 *
 * @module
 */
import { endianness } from 'node:os';
import { NetworkError, osErrorText } from '../core/errors.js';
import { type SocketConstants, socketConstants } from './constants.js';
import { libc } from './ffi.js';
import { decodeSockaddr, encodeSockaddr, type SockAddr } from './sockaddr.js';

/** The result of a call that may fail with an errno. */
export type SysResult<T> = { ok: true; value: T } | { ok: false; errno: number };

interface Calls {
  getsockopt: (...args: unknown[]) => unknown;
  getsockoptBytes: (...args: unknown[]) => unknown;
  setsockopt: (...args: unknown[]) => unknown;
  setsockoptBytes: (...args: unknown[]) => unknown;
  socket: (...args: unknown[]) => unknown;
  bind: (...args: unknown[]) => unknown;
  getsockname: (...args: unknown[]) => unknown;
  close: (...args: unknown[]) => unknown;
  shutdown: (...args: unknown[]) => unknown;
  ioctl: (...args: unknown[]) => unknown;
  sendto: (...args: unknown[]) => unknown;
  fcntl: (...args: unknown[]) => unknown;
  errno: () => number;
  names: Map<number, string>;
}

let calls: Calls | undefined;

function c(): Calls {
  if (calls) return calls;
  const { koffi, func } = libc();
  const names = new Map<number, string>();
  for (const [name, n] of Object.entries(koffi.os.errno)) if (!names.has(n)) names.set(n, name);
  calls = {
    getsockopt: func(
      'int getsockopt(int fd, int level, int name, _Out_ int *value, _Inout_ uint32_t *length)',
    ),
    getsockoptBytes: func(
      'int getsockopt(int fd, int level, int name, void *value, _Inout_ uint32_t *length)',
    ),
    setsockopt: func('int setsockopt(int fd, int level, int name, const int *value, uint32_t length)'),
    setsockoptBytes: func('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)'),
    socket: func('int socket(int domain, int type, int protocol)'),
    bind: func('int bind(int fd, const void *addr, uint32_t length)'),
    getsockname: func('int getsockname(int fd, void *addr, _Inout_ uint32_t *length)'),
    close: func('int close(int fd)'),
    shutdown: func('int shutdown(int fd, int how)'),
    ioctl: func('int ioctl(int fd, unsigned long request, void *arg)'),
    sendto: func(
      'long sendto(int fd, const void *buf, size_t length, int flags, const void *to, uint32_t tolen)',
    ),
    fcntl: func('int fcntl(int fd, int cmd, int arg)'),
    errno: () => koffi.errno(),
    names,
  };
  return calls;
}

const le = endianness() === 'LE';

/**
 * The name of an errno value (`ECONNREFUSED`), or `errno N` when unknown.
 *
 * @example
 * ```ts
 * errnoName(98); // 'EADDRINUSE' on Linux
 * ```
 */
export function errnoName(errno: number): string {
  return c().names.get(errno) ?? `errno ${errno}`;
}

/**
 * getsockopt(2) of an `int` option.
 *
 * @example
 * ```ts
 * const r = getsockoptInt(fd, 1, 8); // SOL_SOCKET, SO_RCVBUF on Linux
 * if (r.ok) console.log(r.value);
 * ```
 */
export function getsockoptInt(fd: number, level: number, name: number): SysResult<number> {
  const x = c();
  const value = [0];
  if (x.getsockopt(fd, level, name, value, [4]) !== 0) return { ok: false, errno: x.errno() };
  return { ok: true, value: value[0] ?? 0 };
}

/**
 * getsockopt(2) of a `struct timeval` option (SO_RCVTIMEO, SO_SNDTIMEO), in ms.
 *
 * @example
 * ```ts
 * getsockoptTimeval(fd, 1, 20); // { ok: true, value: 0 }
 * ```
 */
export function getsockoptTimeval(fd: number, level: number, name: number): SysResult<number> {
  const x = c();
  // struct timeval: a 64-bit tv_sec, then tv_usec (64-bit on Linux, 32-bit plus padding on macOS).
  const buf = Buffer.alloc(16);
  if (x.getsockoptBytes(fd, level, name, buf, [16]) !== 0) return { ok: false, errno: x.errno() };
  const sec = le ? buf.readBigInt64LE(0) : buf.readBigInt64BE(0);
  const usec = le ? buf.readInt32LE(8) : buf.readInt32BE(process.platform === 'darwin' ? 8 : 12);
  return { ok: true, value: Number(sec) * 1000 + Math.round(usec / 1000) };
}

/**
 * setsockopt(2) of an `int` option.
 *
 * @example
 * ```ts
 * setsockoptInt(fd, 1, 15, 1); // SO_REUSEPORT on Linux
 * ```
 */
export function setsockoptInt(fd: number, level: number, name: number, value: number): SysResult<void> {
  const x = c();
  if (x.setsockopt(fd, level, name, [value], 4) !== 0) return { ok: false, errno: x.errno() };
  return { ok: true, value: undefined };
}

/**
 * setsockopt(2) of a `struct timeval` option (SO_RCVTIMEO, SO_SNDTIMEO), from ms (64-bit Linux layout).
 *
 * @example
 * ```ts
 * setsockoptTimeval(fd, 1, 20, 100); // a blocking receive gives up after 100 ms
 * ```
 */
export function setsockoptTimeval(fd: number, level: number, name: number, ms: number): SysResult<void> {
  const x = c();
  const buf = Buffer.alloc(16);
  const sec = Math.floor(ms / 1000);
  const usec = Math.round((ms - sec * 1000) * 1000);
  if (le) {
    buf.writeBigInt64LE(BigInt(sec), 0);
    if (process.platform === 'darwin') buf.writeInt32LE(usec, 8);
    else buf.writeBigInt64LE(BigInt(usec), 8);
  } else {
    buf.writeBigInt64BE(BigInt(sec), 0);
    buf.writeBigInt64BE(BigInt(usec), 8);
  }
  if (x.setsockoptBytes(fd, level, name, buf, 16) !== 0) return { ok: false, errno: x.errno() };
  return { ok: true, value: undefined };
}

function fail(action: string, syscall: string, errno: number): NetworkError {
  const code = errnoName(errno);
  return new NetworkError(`${action}: ${osErrorText(code)}`, code, { syscall, errno });
}

/**
 * Create a socket (socket(2), close-on-exec).
 *
 * @param family - 4 or 6
 * @param kind - `tcp` (SOCK_STREAM) or `udp` (SOCK_DGRAM)
 * @returns the new file descriptor; the caller owns it (close it with {@link closeFd})
 * @throws {UnsupportedError} when FFI is unavailable
 * @throws {NetworkError} when socket(2) fails (EMFILE, EAFNOSUPPORT, ...)
 * @example
 * ```ts
 * const fd = openSocketFd(4, 'udp');
 * closeFd(fd);
 * ```
 */
export function openSocketFd(family: 4 | 6, kind: 'tcp' | 'udp'): number {
  const k: SocketConstants = socketConstants();
  const x = c();
  const domain = family === 6 ? k.AF_INET6 : k.AF_INET;
  const type = kind === 'tcp' ? k.SOCK_STREAM : k.SOCK_DGRAM;
  const fd = x.socket(domain, type | (k.SOCK_CLOEXEC ?? 0), 0) as number;
  if (fd < 0) {
    throw fail(`Cannot create an IPv${family} ${kind.toUpperCase()} socket`, 'socket', x.errno());
  }
  if (k.SOCK_CLOEXEC === undefined) {
    const F_SETFD = 2;
    const FD_CLOEXEC = 1;
    x.fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  return fd;
}

/**
 * Bind a socket (bind(2)).
 *
 * @param fd - the socket
 * @param address - an IP literal
 * @param port - 0 picks a free one
 * @throws {NetworkError} `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, ... with the address in the message
 * @example
 * ```ts
 * bindFd(fd, '127.0.0.1', 0);
 * localAddressOf(fd).port; // the port the kernel picked
 * ```
 */
export function bindFd(fd: number, address: string, port: number): void {
  const x = c();
  const sa = encodeSockaddr(address, port);
  if (x.bind(fd, sa, sa.length) !== 0) {
    const where = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    throw fail(`Cannot bind ${where} (UDP)`, 'bind', x.errno());
  }
}

/**
 * The address a socket is bound to (getsockname(2)).
 *
 * @throws {NetworkError} when the call fails (EBADF, ...)
 * @example
 * ```ts
 * localAddressOf(fd); // { family: 4, address: '127.0.0.1', port: 40000 }
 * ```
 */
export function localAddressOf(fd: number): SockAddr {
  const x = c();
  const buf = Buffer.alloc(128);
  const length = [128];
  if (x.getsockname(fd, buf, length) !== 0)
    throw fail(`Cannot read the address of fd ${fd}`, 'getsockname', x.errno());
  const a = decodeSockaddr(buf);
  if (!a) throw new NetworkError(`Socket fd ${fd} is not an IPv4 or IPv6 socket`, 'EAFNOSUPPORT');
  return a;
}

/**
 * Close a file descriptor that was never handed to Node (close(2)).
 *
 * @example
 * ```ts
 * closeFd(openSocketFd(4, 'udp'));
 * ```
 */
export function closeFd(fd: number): void {
  c().close(fd);
}

/**
 * Stop receiving on a socket (shutdown(2) with SHUT_RD). On Linux this wakes a thread blocked in recv(2) or
 * recvmmsg(2) on it, even for an unconnected UDP socket (the call itself then reports ENOTCONN, ignored).
 *
 * @example
 * ```ts
 * shutdownRead(fd); // a worker blocked in recvmmsg returns
 * ```
 */
export function shutdownRead(fd: number): void {
  c().shutdown(fd, socketConstants().SHUT_RD);
}

/**
 * ioctl(2) with a buffer argument.
 *
 * @returns 0, or the errno as a negative number
 * @example
 * ```ts
 * const ts = Buffer.alloc(16);
 * ioctlBuffer(fd, 0x8907, ts); // SIOCGSTAMPNS on Linux
 * ```
 */
export function ioctlBuffer(fd: number, request: number, buf: Uint8Array): number {
  const x = c();
  return x.ioctl(fd, request, buf) === 0 ? 0 : -x.errno();
}

/**
 * Send one datagram (sendto(2)).
 *
 * @param fd - a UDP socket
 * @param data - the payload
 * @param address - an IP literal of the socket's family (IPv4-mapped for IPv4 peers of a dual-stack socket)
 * @param port - the destination port
 * @returns the bytes sent
 * @throws {NetworkError} when the kernel refuses it (EMSGSIZE, ENOBUFS, ...)
 * @example
 * ```ts
 * sendToFd(fd, new TextEncoder().encode('hi'), '127.0.0.1', 9999);
 * ```
 */
export function sendToFd(fd: number, data: Uint8Array, address: string, port: number): number {
  const x = c();
  const sa = encodeSockaddr(address, port);
  const n = x.sendto(fd, data, data.byteLength, 0, sa, sa.length) as number;
  if (n < 0) {
    const where = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    throw fail(`Cannot send ${data.byteLength} bytes to ${where}`, 'sendto', x.errno());
  }
  return n;
}

/** One classic BPF instruction: opcode, jump-if-true, jump-if-false, constant. */
export type CbpfInstruction = readonly [code: number, jt: number, jf: number, k: number];

/**
 * Attach a classic BPF program to a socket's SO_REUSEPORT group (SO_ATTACH_REUSEPORT_CBPF, Linux): for each
 * datagram the program returns the index of the socket that gets it (in the order the sockets were bound).
 *
 * @param fd - a bound socket of the group
 * @param program - the instructions
 * @returns ok, or the errno
 * @example
 * ```ts
 * attachReuseportCbpf(fd, [[0x06, 0, 0, 0]]); // every datagram to the first socket
 * ```
 */
export function attachReuseportCbpf(fd: number, program: readonly CbpfInstruction[]): SysResult<void> {
  const { koffi } = libc();
  const x = c();
  // struct sock_filter[] (8 bytes each), then struct sock_fprog { u16 len; pad; struct sock_filter *filter }
  const filter = koffi.alloc('uint8_t', program.length * 8);
  const view = new DataView(koffi.view(filter, program.length * 8));
  program.forEach(([code, jt, jf, k], i) => {
    view.setUint16(i * 8, code, le);
    view.setUint8(i * 8 + 2, jt);
    view.setUint8(i * 8 + 3, jf);
    view.setUint32(i * 8 + 4, k >>> 0, le);
  });
  const fprog = Buffer.alloc(16);
  fprog.writeUInt16LE(program.length, 0);
  const address = BigInt(koffi.address(filter));
  if (le) fprog.writeBigUInt64LE(address, 8);
  else fprog.writeBigUInt64BE(address, 8);
  const SO_ATTACH_REUSEPORT_CBPF = 51;
  try {
    if (x.setsockoptBytes(fd, socketConstants().SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog, 16) !== 0) {
      return { ok: false, errno: x.errno() };
    }
    return { ok: true, value: undefined };
  } finally {
    koffi.free(filter); // the kernel keeps its own copy
  }
}
