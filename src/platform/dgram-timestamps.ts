/**
 * Kernel timestamps for a request/reply client on Node's own `dgram` socket, the way chrony takes them:
 *
 * - Receive (T4): the ioctl SIOCGSTAMPNS returns the kernel's receive timestamp of the last datagram read from
 *   the socket. libuv reads one datagram per recvmsg(2) and calls back into JavaScript before it reads the
 *   next, so called first thing in the `message` listener it is the timestamp of that very datagram, taken
 *   when the packet arrived, however late the event loop woke up.
 * - Transmit (T1): SO_TIMESTAMPING with SOF_TIMESTAMPING_TX_SOFTWARE (+ OPT_TSONLY) makes the kernel queue a
 *   software transmit timestamp on the socket's error queue when the packet leaves (for loopback and most
 *   drivers, inside the send call itself). It is read right after the send with recvmsg(MSG_ERRQUEUE); the
 *   reporting flag SOF_TIMESTAMPING_SOFTWARE is switched on only around that read, because while it is on the
 *   kernel stops recording the receive timestamp SIOCGSTAMPNS reads.
 *
 * Both are CLOCK_REALTIME, the clock {@link realtimeClock} reads. Where something is refused (not Linux, no FFI,
 * an old kernel), {@link dgramKernelStamps} returns undefined or a stamper with `tx: false`, and the caller
 * reads the clock itself.
 *
 * @module
 */
import type dgram from 'node:dgram';
import { isLinux64, linuxConstants, socketConstants } from './constants.js';
import { ffiAvailable, libc } from './ffi.js';
import { ioctlBuffer, setsockoptInt } from './socket.js';

/** Kernel timestamps of one dgram socket. */
export interface KernelStamps {
  /** Whether transmit timestamps are on (receive timestamps always are). */
  readonly tx: boolean;
  /**
   * Right after a send: the kernel's transmit timestamp of the datagram just sent, in Unix ms, or undefined
   * when none is there (yet).
   */
  sent(): number | undefined;
  /** First thing in the `message` listener: the kernel's receive timestamp of that datagram, in Unix ms. */
  received(): number | undefined;
}

/** The file descriptor of a bound or connected dgram socket (Node keeps it in the socket's internal state). */
export function dgramSocketFd(socket: dgram.Socket): number | undefined {
  const s = socket as unknown as Record<symbol, unknown>;
  const sym = Object.getOwnPropertySymbols(s).find((x) => x.description === 'state symbol');
  const state = sym ? (s[sym] as { handle?: { fd?: number } | null } | undefined) : undefined;
  const fd = state?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

const MSGHDR = 56;
const CONTROL = 256;

/**
 * Turn kernel timestamps on for a dgram socket that has a file descriptor (bound or connected).
 *
 * @param socket - the client's socket
 * @param options - `transmit: false` for receive stamps only (a server that sends many replies must not have
 *   a transmit stamp queued for each: nobody would read them)
 * @returns the stamper, or undefined where the kernel or FFI cannot (then read the clock yourself)
 * @example
 * ```ts
 * socket.connect(123, '127.0.0.1', () => {
 *   const stamps = dgramKernelStamps(socket);
 *   socket.on('message', () => {
 *     const t4 = stamps?.received() ?? clock.now();
 *   });
 *   const before = clock.now();
 *   socket.send(request);
 *   const t1 = stamps?.sent() ?? before;
 * });
 * ```
 */
export function dgramKernelStamps(
  socket: dgram.Socket,
  options: { transmit?: boolean } = {},
): KernelStamps | undefined {
  const lc = linuxConstants();
  if (!lc || !isLinux64() || !ffiAvailable().ok) return undefined;
  const fd = dgramSocketFd(socket);
  if (fd === undefined) return undefined;
  const k = socketConstants();
  const stamp = new Uint8Array(16);
  const words = new Uint32Array(stamp.buffer);
  // The first SIOCGSTAMPNS turns receive stamping on for the socket (and says ENOENT: nothing received yet).
  const first = ioctlBuffer(fd, lc.SIOCGSTAMPNS, stamp);
  if (first !== 0 && first !== -2) return undefined;
  const received = (): number | undefined => {
    if (ioctlBuffer(fd, lc.SIOCGSTAMPNS, stamp) !== 0) return undefined;
    return ((words[0] as number) + (words[1] as number) * 4294967296) * 1000 + (words[2] as number) / 1e6;
  };

  if (options.transmit === false) return { tx: false, sent: () => undefined, received };
  const generate = lc.SOF_TIMESTAMPING_TX_SOFTWARE | lc.SOF_TIMESTAMPING_OPT_TSONLY;
  const tx = setsockoptInt(fd, k.SOL_SOCKET, lc.SO_TIMESTAMPING, generate).ok;
  if (!tx) return { tx: false, sent: () => undefined, received };

  const { koffi, lib } = libc();
  const recvmsg = lib.func('recvmsg', 'long', ['int', 'uintptr_t', 'int']) as unknown as (
    fd: number,
    msg: number,
    flags: number,
  ) => number;
  const mem = koffi.alloc('uint8_t', MSGHDR + 8 + CONTROL);
  const base = Number(koffi.address(mem));
  const u32 = new Uint32Array(koffi.view(mem, MSGHDR + 8 + CONTROL));
  const ctrlOffset = MSGHDR + 8;
  const write64 = (offset: number, value: number) => {
    u32[offset >>> 2] = value % 4294967296;
    u32[(offset >>> 2) + 1] = Math.floor(value / 4294967296);
  };
  /** Read every transmit timestamp queued; the last one's time in ms, or undefined. */
  const drain = (): number | undefined => {
    let last: number | undefined;
    setsockoptInt(fd, k.SOL_SOCKET, lc.SO_TIMESTAMPING, generate | lc.SOF_TIMESTAMPING_SOFTWARE);
    try {
      for (let i = 0; i < 16; i++) {
        u32.fill(0, 0, MSGHDR >>> 2);
        write64(32, base + ctrlOffset); // msg_control
        write64(40, CONTROL); // msg_controllen
        if (recvmsg(fd, base, lc.MSG_ERRQUEUE | k.MSG_DONTWAIT) < 0) break;
        const len = u32[40 >>> 2] as number;
        for (let off = 0; off + 16 <= len; ) {
          const w = (ctrlOffset + off) >>> 2;
          const cmsgLen = u32[w] as number;
          if (cmsgLen < 16) break;
          // SCM_TIMESTAMPING: struct scm_timestamping { struct timespec ts[3]; }, ts[0] = software
          if (u32[w + 2] === k.SOL_SOCKET && u32[w + 3] === lc.SO_TIMESTAMPING && cmsgLen >= 16 + 48) {
            const sec = (u32[w + 4] as number) + (u32[w + 5] as number) * 4294967296;
            const nsec = u32[w + 6] as number;
            if (sec !== 0 || nsec !== 0) last = sec * 1000 + nsec / 1e6;
          }
          off += (cmsgLen + 7) & ~7;
        }
      }
    } finally {
      setsockoptInt(fd, k.SOL_SOCKET, lc.SO_TIMESTAMPING, generate);
    }
    return last;
  };
  socket.once('close', () => koffi.free(mem));
  return { tx: true, sent: drain, received };
}
