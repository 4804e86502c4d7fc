/**
 * The one wall clock for NTP: CLOCK_REALTIME read with clock_gettime(2) through the FFI door, the clock the
 * kernel stamps packets with (SO_TIMESTAMPNS, SO_TIMESTAMPING, SIOCGSTAMPNS). Without FFI it falls back to
 * `performance.timeOrigin + performance.now()` (core/clock.ts's `systemClock`), and says so in `source`.
 *
 * Times are kept as whole seconds and nanoseconds ({@link PacketTime}) so that no precision is lost on the
 * way to a 64-bit NTP timestamp (a double of Unix milliseconds resolves about 0.24 µs today).
 *
 * @module
 */
import type { Clock } from '../core/clock.js';
import { libc } from './ffi.js';

/** A CLOCK_REALTIME reading: Unix seconds and nanoseconds. */
export interface PacketTime {
  /** Whole seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds, 0 to 999,999,999. */
  nsec: number;
}

/** Seconds from 1900 (NTP era 0) to 1970 (Unix). */
const NTP_UNIX_OFFSET = 2_208_988_800;
const CLOCK_REALTIME = 0;

/** The wall clock with nanosecond readings; also a `Clock` (ms) for code that takes one. */
export interface RealtimeClock extends Clock {
  /** `clock_gettime` (FFI) or `performance` (the fallback). */
  readonly source: 'clock_gettime' | 'performance';
  /** Read the clock into `out` (allocation-free) and return it. */
  read(out: PacketTime): PacketTime;
}

let ffiClock: RealtimeClock | null | undefined;

function makeFfiClock(): RealtimeClock | null {
  try {
    const { koffi, lib } = libc();
    const fn = lib.func('clock_gettime', 'int', ['int', 'void *']) as unknown as (
      clk: number,
      ts: unknown,
    ) => number;
    // A fixed native block the kernel writes into: no marshalling of a struct per call.
    const mem = koffi.alloc('uint8_t', 16);
    const view = new Uint32Array(koffi.view(mem, 16));
    const le = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    const [lo, hi, ns] = le ? [0, 1, 2] : [1, 0, 3];
    if (fn(CLOCK_REALTIME, mem) !== 0) return null;
    const read = (out: PacketTime): PacketTime => {
      fn(CLOCK_REALTIME, mem);
      out.sec = (view[lo] as number) + (view[hi] as number) * 4294967296;
      out.nsec = view[ns] as number;
      return out;
    };
    const scratch: PacketTime = { sec: 0, nsec: 0 };
    return {
      source: 'clock_gettime',
      read,
      now: () => {
        read(scratch);
        return scratch.sec * 1000 + scratch.nsec / 1e6;
      },
      monotonic: () => performance.now(),
    };
  } catch {
    return null;
  }
}

const perfClock: RealtimeClock = {
  source: 'performance',
  read(out) {
    const ms = performance.timeOrigin + performance.now();
    const sec = Math.floor(ms / 1000);
    out.sec = sec;
    out.nsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
    return out;
  },
  now: () => performance.timeOrigin + performance.now(),
  monotonic: () => performance.now(),
};

/**
 * The wall clock for NTP: clock_gettime(CLOCK_REALTIME) when FFI is available, else the `performance` clock.
 *
 * @example
 * ```ts
 * const clock = realtimeClock();
 * const t = clock.read({ sec: 0, nsec: 0 });
 * console.log(clock.source, t.sec, t.nsec);
 * ```
 */
export function realtimeClock(): RealtimeClock {
  if (ffiClock === undefined) ffiClock = makeFfiClock();
  return ffiClock ?? perfClock;
}

/**
 * Write a {@link PacketTime} as a 64-bit NTP timestamp (big-endian seconds since 1900, then the fraction) at
 * `offset`, exactly: the fraction is `floor(nsec × 2^32 / 10^9)`.
 *
 * @example
 * ```ts
 * const reply = new Uint8Array(48);
 * writeNtpTime(reply, 32, realtimeClock().read({ sec: 0, nsec: 0 }));
 * ```
 */
export function writeNtpTime(buf: Uint8Array, offset: number, t: PacketTime): void {
  const s = (t.sec + NTP_UNIX_OFFSET) >>> 0;
  const f = Math.floor(t.nsec * 4.294967296) >>> 0;
  buf[offset] = s >>> 24;
  buf[offset + 1] = (s >>> 16) & 0xff;
  buf[offset + 2] = (s >>> 8) & 0xff;
  buf[offset + 3] = s & 0xff;
  buf[offset + 4] = f >>> 24;
  buf[offset + 5] = (f >>> 16) & 0xff;
  buf[offset + 6] = (f >>> 8) & 0xff;
  buf[offset + 7] = f & 0xff;
}

/**
 * A {@link PacketTime} as Unix milliseconds (a double: about 0.24 µs resolution today).
 *
 * @example
 * ```ts
 * packetTimeMs({ sec: 1, nsec: 500_000 }); // 1000.5
 * ```
 */
export function packetTimeMs(t: PacketTime): number {
  return t.sec * 1000 + t.nsec / 1e6;
}

/**
 * A {@link PacketTime} as Unix nanoseconds, exactly.
 *
 * @example
 * ```ts
 * packetTimeNs({ sec: 1, nsec: 5 }); // 1000000005n
 * ```
 */
export function packetTimeNs(t: PacketTime): bigint {
  return BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
}
