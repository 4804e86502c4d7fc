/**
 * The numbers of the socket API, per OS: option levels and names, address families, socket types, message
 * flags and the kernel timestamping bits. Linux values are checked against the uapi headers
 * (asm-generic/socket.h, linux/in.h, linux/in6.h, linux/tcp.h, linux/net_tstamp.h, linux/errqueue.h,
 * bits/socket.h) for the generic numbering used by x86, arm and arm64; macOS values against xnu
 * (bsd/sys/socket.h, netinet/in.h, netinet6/in6.h, netinet/tcp.h). The test suite runs on Linux only.
 *
 * @module
 */
import { UnsupportedError } from '../core/errors.js';

/** Socket API numbers of one platform. `undefined` means the platform has no such thing. */
export interface SocketConstants {
  SOL_SOCKET: number;
  SO_REUSEADDR: number;
  SO_TYPE: number;
  SO_KEEPALIVE: number;
  SO_SNDBUF: number;
  SO_RCVBUF: number;
  SO_REUSEPORT: number | undefined;
  SO_DOMAIN: number | undefined;
  SO_SNDTIMEO: number;
  SO_RCVTIMEO: number;
  IPPROTO_TCP: number;
  TCP_NODELAY: number;
  TCP_KEEPIDLE: number | undefined;
  TCP_KEEPINTVL: number | undefined;
  TCP_KEEPCNT: number | undefined;
  IPPROTO_IP: number;
  IP_TTL: number;
  IPPROTO_IPV6: number;
  IPV6_UNICAST_HOPS: number;
  IPV6_V6ONLY: number;
  AF_INET: number;
  AF_INET6: number;
  SOCK_STREAM: number;
  SOCK_DGRAM: number;
  /** OR-ed into socket(2)'s type to set close-on-exec atomically; `undefined` → fcntl afterwards. */
  SOCK_CLOEXEC: number | undefined;
  /** shutdown(2) `how`: stop receiving. */
  SHUT_RD: number;
  /** recv flags. */
  MSG_DONTWAIT: number;
  MSG_TRUNC: number;
  MSG_CTRUNC: number;
}

/** Linux-only numbers: batched I/O, kernel packet timestamps, the error queue. */
export interface LinuxConstants {
  /** recvmmsg(2): block for the first datagram only, then take what is queued. */
  MSG_WAITFORONE: number;
  /** recvmsg(2): read the socket's error queue (transmit timestamps). */
  MSG_ERRQUEUE: number;
  /** Receive timestamps as `struct timespec` control messages (SCM_TIMESTAMPNS has the same number). */
  SO_TIMESTAMPNS: number;
  /** The SO_TIMESTAMPING interface (SCM_TIMESTAMPING has the same number). */
  SO_TIMESTAMPING: number;
  /** A control message with the count of datagrams the receive queue dropped (uint32). */
  SO_RXQ_OVFL: number;
  /** ioctl: the receive timestamp of the last datagram read, as a `struct timespec`. */
  SIOCGSTAMPNS: number;
  /** Extended error control messages on the error queue (SOL_IP / SOL_IPV6 levels). */
  IP_RECVERR: number;
  IPV6_RECVERR: number;
  /** `sock_extended_err.ee_origin` of a timestamp. */
  SO_EE_ORIGIN_TIMESTAMPING: number;
  /** SO_TIMESTAMPING flag bits. */
  SOF_TIMESTAMPING_TX_SOFTWARE: number;
  SOF_TIMESTAMPING_RX_SOFTWARE: number;
  SOF_TIMESTAMPING_SOFTWARE: number;
  SOF_TIMESTAMPING_OPT_ID: number;
  SOF_TIMESTAMPING_OPT_TSONLY: number;
  /** ENOMSG: the `ee_errno` of a timestamp on the error queue. */
  ENOMSG: number;
}

const LINUX: SocketConstants = {
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_TYPE: 3,
  SO_KEEPALIVE: 9,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_REUSEPORT: 15,
  SO_DOMAIN: 39,
  SO_RCVTIMEO: 20,
  SO_SNDTIMEO: 21,
  IPPROTO_TCP: 6,
  TCP_NODELAY: 1,
  TCP_KEEPIDLE: 4,
  TCP_KEEPINTVL: 5,
  TCP_KEEPCNT: 6,
  IPPROTO_IP: 0,
  IP_TTL: 2,
  IPPROTO_IPV6: 41,
  IPV6_UNICAST_HOPS: 16,
  IPV6_V6ONLY: 26,
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0o2000000,
  SHUT_RD: 0,
  MSG_DONTWAIT: 0x40,
  MSG_TRUNC: 0x20,
  MSG_CTRUNC: 0x8,
};

const LINUX_EXTRA: LinuxConstants = {
  MSG_WAITFORONE: 0x10000,
  MSG_ERRQUEUE: 0x2000,
  SO_TIMESTAMPNS: 35,
  SO_TIMESTAMPING: 37,
  SO_RXQ_OVFL: 40,
  SIOCGSTAMPNS: 0x8907,
  IP_RECVERR: 11,
  IPV6_RECVERR: 25,
  SO_EE_ORIGIN_TIMESTAMPING: 4,
  SOF_TIMESTAMPING_TX_SOFTWARE: 1 << 1,
  SOF_TIMESTAMPING_RX_SOFTWARE: 1 << 3,
  SOF_TIMESTAMPING_SOFTWARE: 1 << 4,
  SOF_TIMESTAMPING_OPT_ID: 1 << 7,
  SOF_TIMESTAMPING_OPT_TSONLY: 1 << 11,
  ENOMSG: 42,
};

const DARWIN: SocketConstants = {
  SOL_SOCKET: 0xffff,
  SO_REUSEADDR: 0x4,
  SO_TYPE: 0x1008,
  SO_KEEPALIVE: 0x8,
  SO_SNDBUF: 0x1001,
  SO_RCVBUF: 0x1002,
  SO_REUSEPORT: 0x200,
  SO_DOMAIN: undefined,
  SO_SNDTIMEO: 0x1005,
  SO_RCVTIMEO: 0x1006,
  IPPROTO_TCP: 6,
  TCP_NODELAY: 0x1,
  TCP_KEEPIDLE: 0x10, // TCP_KEEPALIVE
  TCP_KEEPINTVL: 0x101,
  TCP_KEEPCNT: 0x102,
  IPPROTO_IP: 0,
  IP_TTL: 4,
  IPPROTO_IPV6: 41,
  IPV6_UNICAST_HOPS: 4,
  IPV6_V6ONLY: 27,
  AF_INET: 2,
  AF_INET6: 30,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: undefined,
  SHUT_RD: 0,
  MSG_DONTWAIT: 0x80,
  MSG_TRUNC: 0x10,
  MSG_CTRUNC: 0x20,
};

/**
 * The socket API numbers of this platform.
 *
 * @returns the constants of Linux or macOS
 * @throws {UnsupportedError} on any other platform
 * @example
 * ```ts
 * const c = socketConstants();
 * c.SO_RCVBUF; // 8 on Linux
 * ```
 */
export function socketConstants(): SocketConstants {
  if (process.platform === 'linux') return LINUX;
  if (process.platform === 'darwin') return DARWIN;
  throw new UnsupportedError(
    `Socket options are implemented for Linux and macOS, not for platform '${process.platform}'`,
  );
}

/**
 * The Linux-only numbers (batched I/O, packet timestamps, error queue), or `undefined` elsewhere.
 *
 * @example
 * ```ts
 * const l = linuxConstants();
 * if (l) console.log(l.SO_TIMESTAMPNS); // 35
 * ```
 */
export function linuxConstants(): LinuxConstants | undefined {
  return process.platform === 'linux' ? LINUX_EXTRA : undefined;
}

/**
 * Whether this is a 64-bit Linux, whose struct layouts (msghdr, mmsghdr, iovec, cmsghdr, timespec) the
 * batched datapath writes by hand.
 *
 * @example
 * ```ts
 * if (!isLinux64()) console.log('batched UDP needs 64-bit Linux');
 * ```
 */
export function isLinux64(): boolean {
  return process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64');
}
