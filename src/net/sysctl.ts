/**
 * The kernel's socket buffer limits, read from /proc/sys when present (Linux), to explain what a buffer size
 * you set turns into: Linux caps the request at `net.core.wmem_max` (send) or `net.core.rmem_max` (receive),
 * then doubles it (the extra half pays for its bookkeeping), and never goes below a small minimum.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { ValidationError } from '../core/errors.js';
import { checkOptionsObject, describeValue } from '../core/validate.js';

/** Socket buffer limits of the running kernel; `null` where the file is absent (not Linux, no /proc). */
export interface SocketLimits {
  /** `net.core.wmem_max`: the largest SO_SNDBUF request honoured (before doubling). */
  wmemMax: number | null;
  /** `net.core.rmem_max`: the largest SO_RCVBUF request honoured (before doubling). */
  rmemMax: number | null;
  /** `net.core.wmem_default`: SO_SNDBUF of a new UDP socket. */
  wmemDefault: number | null;
  /** `net.core.rmem_default`: SO_RCVBUF of a new UDP socket. */
  rmemDefault: number | null;
  /** `net.ipv4.tcp_wmem`: min, default, max of an auto-tuned TCP send buffer. */
  tcpWmem: [number, number, number] | null;
  /** `net.ipv4.tcp_rmem`: min, default, max of an auto-tuned TCP receive buffer. */
  tcpRmem: [number, number, number] | null;
  /** `net.ipv4.tcp_syn_retries`: SYN retransmissions before a connect fails on its own. */
  tcpSynRetries: number | null;
  /** Where the values came from, or why there are none. */
  source: string;
}

/** Options for {@link readSocketLimits}. */
export interface SocketLimitsOptions {
  /** Directory holding `net/core/...`. @default '/proc/sys' */
  root?: string;
}

function readNumbers(path: string): number[] | null {
  try {
    const nums = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    return nums.every(Number.isSafeInteger) ? nums : null;
  } catch {
    return null;
  }
}

function one(path: string): number | null {
  const n = readNumbers(path);
  return n && n.length === 1 ? (n[0] ?? null) : null;
}

function three(path: string): [number, number, number] | null {
  const n = readNumbers(path);
  return n && n.length === 3 ? [n[0] ?? 0, n[1] ?? 0, n[2] ?? 0] : null;
}

/**
 * Read the kernel's socket buffer limits from /proc/sys.
 *
 * @param options - `root` to read another directory (tests)
 * @returns the limits; fields are `null` where the file is missing or unreadable
 * @example
 * ```ts
 * const limits = readSocketLimits();
 * console.log(limits.rmemMax); // 212992 on a default Linux
 * ```
 */
export function readSocketLimits(options: SocketLimitsOptions = {}): SocketLimits {
  checkOptionsObject(options, 'socket limits options');
  const root = options.root ?? '/proc/sys';
  if (typeof root !== 'string' || root === '') {
    throw new ValidationError(`Invalid root '${describeValue(root)}': expected a directory path`);
  }
  const limits: SocketLimits = {
    wmemMax: one(`${root}/net/core/wmem_max`),
    rmemMax: one(`${root}/net/core/rmem_max`),
    wmemDefault: one(`${root}/net/core/wmem_default`),
    rmemDefault: one(`${root}/net/core/rmem_default`),
    tcpWmem: three(`${root}/net/ipv4/tcp_wmem`),
    tcpRmem: three(`${root}/net/ipv4/tcp_rmem`),
    tcpSynRetries: one(`${root}/net/ipv4/tcp_syn_retries`),
    source: `${root}/net`,
  };
  if (Object.values(limits).every((v) => v === null || typeof v === 'string')) {
    limits.source = `${root}/net not readable (not Linux?)`;
  }
  return limits;
}

/**
 * What Linux reports for a buffer size you set: the request capped at the `*_max` limit, then doubled. (The
 * kernel also enforces a minimum of a few KiB, which this does not model; the result is `null` when the cap is
 * unknown.)
 *
 * @param requested - the bytes asked for with SO_SNDBUF / SO_RCVBUF
 * @param max - `wmemMax` or `rmemMax` from {@link readSocketLimits}
 * @returns the expected getsockopt value, or `null` without a known cap
 * @example
 * ```ts
 * expectedBufferSize(65536, 212992); // 131072
 * expectedBufferSize(1 << 20, 212992); // 425984 (capped, then doubled)
 * ```
 */
export function expectedBufferSize(requested: number, max: number | null): number | null {
  if (max === null) return null;
  return Math.min(requested, max) * 2;
}

/**
 * How long a TCP connect waits on its own (no timeout set) before the kernel gives up: the initial SYN plus
 * `tcp_syn_retries` retransmissions, with a 1 s initial retransmission timeout doubling each time.
 *
 * @param synRetries - `tcpSynRetries` from {@link readSocketLimits}
 * @returns seconds (127 for the default of 6 retries)
 * @example
 * ```ts
 * kernelConnectTimeoutSeconds(6); // 127
 * ```
 */
export function kernelConnectTimeoutSeconds(synRetries: number): number {
  return 2 ** (synRetries + 1) - 1;
}
