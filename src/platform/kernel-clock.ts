/**
 * The kernel's clock discipline state, read with adjtimex(2) (modes = 0, which changes nothing and needs no
 * privilege) through the FFI door. An SNTP server uses it to tell clients the truth about its leap indicator:
 * when no daemon keeps the clock synchronised the kernel says `TIME_ERROR` / `STA_UNSYNC`, and the server
 * must answer with LI = 3 (alarm).
 *
 * @module
 */
import { UnsupportedError } from '../core/errors.js';
import { libc } from './ffi.js';

/** adjtimex(2) return values: the clock state. */
export const CLOCK_STATE = {
  TIME_OK: 0,
  TIME_INS: 1,
  TIME_DEL: 2,
  TIME_OOP: 3,
  TIME_WAIT: 4,
  TIME_ERROR: 5,
} as const;

/** `status` bit: the clock is not synchronised (set until a daemon clears it). */
export const STA_UNSYNC = 0x0040;
/** `status` bit: a leap second will be inserted at the end of the UTC day. */
export const STA_INS = 0x0010;
/** `status` bit: a leap second will be deleted at the end of the UTC day. */
export const STA_DEL = 0x0020;

/** What adjtimex says about the system clock. */
export interface KernelClockState {
  /** The return value: 0 TIME_OK, 1 TIME_INS, 2 TIME_DEL, 3 TIME_OOP, 4 TIME_WAIT, 5 TIME_ERROR. */
  state: number;
  /** The `status` bits (STA_*). */
  status: number;
  /** Whether the kernel considers the clock synchronised (state ≠ TIME_ERROR and STA_UNSYNC clear). */
  synchronized: boolean;
  /** The leap indicator a server should send: 3 when unsynchronised, 1/2 for a pending leap second, else 0. */
  leap: 0 | 1 | 2 | 3;
  /** Maximum error, in seconds, as the kernel keeps it. */
  maxError: number;
  /** Estimated error, in seconds. */
  estError: number;
}

type Adjtimex = (buf: Record<string, unknown>) => number;
let adjtimexFn: Adjtimex | undefined;

function adjtimex(): Adjtimex {
  if (adjtimexFn) return adjtimexFn;
  if (process.platform !== 'linux') {
    throw new UnsupportedError(
      `Reading the kernel clock state needs Linux adjtimex(2), not ${process.platform}`,
    );
  }
  const { koffi, lib } = libc();
  // struct timex from <sys/timex.h> (glibc, LP64 and ILP32 alike: `long` fields, 11 trailing padding ints).
  // On x86_64 it is 208 bytes with `status` at offset 40 and `time` at 72; koffi applies the C alignment rules.
  const timeval = koffi.struct('soket_timeval', { tv_sec: 'long', tv_usec: 'long' });
  const timex = koffi.struct('soket_timex', {
    modes: 'unsigned int',
    offset: 'long',
    freq: 'long',
    maxerror: 'long',
    esterror: 'long',
    status: 'int',
    constant: 'long',
    precision: 'long',
    tolerance: 'long',
    time: timeval,
    tick: 'long',
    ppsfreq: 'long',
    jitter: 'long',
    shift: 'int',
    stabil: 'long',
    jitcnt: 'long',
    calcnt: 'long',
    errcnt: 'long',
    stbcnt: 'long',
    tai: 'int',
    padding: koffi.array('int', 11),
  });
  const fn = lib.func('adjtimex', 'int', [koffi.inout(koffi.pointer(timex))]);
  adjtimexFn = fn as unknown as Adjtimex;
  return adjtimexFn;
}

/**
 * Read the kernel clock state with adjtimex(2), changing nothing.
 *
 * @returns the state, status bits and the leap indicator they imply
 * @throws {UnsupportedError} when FFI is unavailable or the platform is not Linux
 * @example
 * ```ts
 * try {
 *   const k = readKernelClock();
 *   console.log(k.synchronized ? 'synchronised' : 'not synchronised', k.leap);
 * } catch (err) {
 *   // no FFI here: use a configured leap indicator instead
 * }
 * ```
 */
export function readKernelClock(): KernelClockState {
  const buf: Record<string, unknown> = { modes: 0 };
  const state = adjtimex()(buf);
  if (state < 0) throw new UnsupportedError('adjtimex(2) failed reading the kernel clock state');
  const status = Number(buf.status ?? 0);
  const synchronized = state !== CLOCK_STATE.TIME_ERROR && (status & STA_UNSYNC) === 0;
  let leap: 0 | 1 | 2 | 3 = 0;
  if (!synchronized) leap = 3;
  else if (state === CLOCK_STATE.TIME_INS || status & STA_INS) leap = 1;
  else if (state === CLOCK_STATE.TIME_DEL || status & STA_DEL) leap = 2;
  return {
    state,
    status,
    synchronized,
    leap,
    maxError: Number(buf.maxerror ?? 0) / 1e6,
    estError: Number(buf.esterror ?? 0) / 1e6,
  };
}
