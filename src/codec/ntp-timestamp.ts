/**
 * NTP time formats (RFC 5905 §6), pure: the 64-bit timestamp (32 bits of seconds since 1900, 32 bits of
 * fraction) kept as a `bigint` and compared bit for bit; conversion to and from Unix time with nanosecond
 * precision; era unfolding around a pivot so that times after 2036-02-07T06:28:16Z (when the seconds field
 * wraps) come out right; the 32-bit "short" format of root delay and root dispersion; signed log2 values
 * (poll, precision); and the on-wire arithmetic of RFC 5905 §8 (offset and delay from T1..T4).
 *
 * @module
 */

/** An NTP timestamp: seconds since 1900-01-01 in the high 32 bits, the fraction of a second in the low 32. */
export type NtpTimestamp = bigint;

/** Seconds from the NTP prime epoch (1900-01-01T00:00:00Z) to the Unix epoch (1970-01-01T00:00:00Z). */
export const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800n;

/** Length of one NTP era (2^32 seconds, about 136 years). */
export const NTP_ERA_SECONDS = 4_294_967_296n;

/**
 * The instant era 0 ends and era 1 begins: 2036-02-07T06:28:16Z, in nanoseconds since the Unix epoch. It is
 * also the default pivot: timestamps unfold into the window 1968-01-20T03:14:08Z .. 2104-02-26T09:42:24Z, the
 * rule of RFC 4330 §3 (seconds with the top bit set are in era 0, the others in era 1).
 */
export const NTP_ERA1_START_UNIX_NS = (NTP_ERA_SECONDS - NTP_UNIX_OFFSET_SECONDS) * 1_000_000_000n;

const FRACTION = 4_294_967_296n; // 2^32 units per second
const NS_PER_S = 1_000_000_000n;
const MASK64 = (1n << 64n) - 1n;
const MASK32 = 0xffff_ffffn;
const ERA_NS = NTP_ERA_SECONDS * NS_PER_S;
const HALF_ERA_NS = ERA_NS / 2n;
const UNIX_OFFSET_NS = NTP_UNIX_OFFSET_SECONDS * NS_PER_S;
const TWO32 = 4_294_967_296;
const UNIX_OFFSET_S = 2_208_988_800;

/** Round `a / b` to the nearest integer, halves away from zero (b > 0). */
function divRound(a: bigint, b: bigint): bigint {
  return a >= 0n ? (a + b / 2n) / b : -((-a + b / 2n) / b);
}

/** Floor of `a / b` (b > 0). */
function divFloor(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/**
 * Build a timestamp from its two 32-bit halves.
 *
 * @param seconds - seconds since 1900 modulo 2^32 (0 to 4294967295)
 * @param fraction - fraction of a second in units of 2^-32 s (0 to 4294967295)
 * @returns the 64-bit timestamp
 * @throws {RangeError} when a half is not an integer from 0 to 2^32 - 1
 * @example
 * ```ts
 * ntpTimestamp(1, 0x8000_0000); // 0x1_8000_0000n, 1.5 s after 1900-01-01
 * ```
 */
export function ntpTimestamp(seconds: number, fraction = 0): NtpTimestamp {
  for (const [name, v] of [
    ['seconds', seconds],
    ['fraction', fraction],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
      throw new RangeError(`NTP timestamp ${name} must be an integer from 0 to 4294967295, got ${v}`);
    }
  }
  return (BigInt(seconds) << 32n) | BigInt(fraction);
}

/**
 * Split a timestamp into its seconds and fraction halves.
 *
 * @param ts - a 64-bit timestamp
 * @returns `{ seconds, fraction }`, each 0 to 2^32 - 1
 * @example
 * ```ts
 * ntpTimestampParts(0x1_8000_0000n); // { seconds: 1, fraction: 2147483648 }
 * ```
 */
export function ntpTimestampParts(ts: NtpTimestamp): { seconds: number; fraction: number } {
  const v = BigInt.asUintN(64, ts);
  return { seconds: Number(v >> 32n), fraction: Number(v & MASK32) };
}

/**
 * Unix time in nanoseconds → NTP timestamp, rounded to the nearest 2^-32 s. The era is dropped (the wire
 * format has none), so the result is the time modulo 2^32 seconds.
 *
 * @param unixNs - nanoseconds since 1970-01-01T00:00:00Z (negative for earlier)
 * @returns the 64-bit timestamp
 * @example
 * ```ts
 * unixNsToNtp(0n); // 0x83aa7e80_00000000n (2208988800 s after 1900)
 * ```
 */
export function unixNsToNtp(unixNs: bigint): NtpTimestamp {
  return BigInt.asUintN(64, divRound((unixNs + UNIX_OFFSET_NS) * FRACTION, NS_PER_S)) & MASK64;
}

/**
 * NTP timestamp → Unix time in nanoseconds, rounded to the nearest nanosecond, in the era that puts it within
 * 2^31 seconds (about 68 years) of `pivotUnixNs`. With the default pivot this is the rule of RFC 4330 §3, so a
 * timestamp just after the 2036 wrap (seconds = 0x00000001) is 2036-02-07T06:28:17Z, not 1900. Pass the local
 * clock as the pivot to decode anything within 68 years of now.
 *
 * @param ts - the 64-bit timestamp
 * @param pivotUnixNs - centre of the decoding window, in ns since the Unix epoch. @default 2036-02-07T06:28:16Z
 * @returns nanoseconds since the Unix epoch
 * @example
 * ```ts
 * ntpToUnixNs(0x83aa7e80_00000000n); // 0n
 * ntpToUnixNs(0x00000001_00000000n); // 2085978497000000000n (2036-02-07T06:28:17Z)
 * ```
 */
export function ntpToUnixNs(ts: NtpTimestamp, pivotUnixNs: bigint = NTP_ERA1_START_UNIX_NS): bigint {
  const era0 = divRound(BigInt.asUintN(64, ts) * NS_PER_S, FRACTION) - UNIX_OFFSET_NS;
  // the one era that puts the result in [pivot - half, pivot + half)
  const era = divFloor(pivotUnixNs + HALF_ERA_NS - 1n - era0, ERA_NS);
  return era0 + era * ERA_NS;
}

/**
 * Unix time in milliseconds (a `Clock.now()` reading, with sub-millisecond precision) → NTP timestamp.
 *
 * @param unixMs - milliseconds since the Unix epoch
 * @returns the 64-bit timestamp
 * @example
 * ```ts
 * unixMsToNtp(1500); // 0x83aa7e81_80000000n
 * ```
 */
export function unixMsToNtp(unixMs: number): NtpTimestamp {
  return unixNsToNtp(unixMsToNs(unixMs));
}

/**
 * NTP timestamp → Unix time in milliseconds (a number, with sub-millisecond precision).
 *
 * @param ts - the 64-bit timestamp
 * @param pivotUnixNs - see {@link ntpToUnixNs}
 * @returns milliseconds since the Unix epoch
 * @example
 * ```ts
 * ntpToUnixMs(0x83aa7e81_80000000n); // 1500
 * ```
 */
export function ntpToUnixMs(ts: NtpTimestamp, pivotUnixNs?: bigint): number {
  const ns = ntpToUnixNs(ts, pivotUnixNs);
  const ms = divFloor(ns, 1_000_000n);
  return Number(ms) + Number(ns - ms * 1_000_000n) / 1e6;
}

/**
 * Milliseconds as a float (a clock reading) → whole nanoseconds as a `bigint`, without the precision loss of
 * `BigInt(Math.round(ms * 1e6))` (which exceeds 2^53 for today's dates).
 *
 * @param unixMs - milliseconds since the Unix epoch
 * @returns nanoseconds since the Unix epoch
 * @example
 * ```ts
 * unixMsToNs(1.5); // 1500000n
 * ```
 */
export function unixMsToNs(unixMs: number): bigint {
  if (!Number.isFinite(unixMs)) throw new RangeError(`Not a finite time in ms: ${unixMs}`);
  const whole = Math.floor(unixMs);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((unixMs - whole) * 1e6));
}

/**
 * NTP timestamp → RFC 3339 UTC text with nine fractional digits, e.g. `2036-02-07T06:28:16.500000000Z`.
 *
 * @param ts - the 64-bit timestamp
 * @param pivotUnixNs - see {@link ntpToUnixNs}
 * @returns the ISO 8601 / RFC 3339 string
 * @example
 * ```ts
 * formatNtpTimestamp(0x83aa7e81_80000000n); // '1970-01-01T00:00:01.500000000Z'
 * ```
 */
export function formatNtpTimestamp(ts: NtpTimestamp, pivotUnixNs?: bigint): string {
  return formatUnixNs(ntpToUnixNs(ts, pivotUnixNs));
}

/**
 * Unix nanoseconds → RFC 3339 UTC text with nine fractional digits.
 *
 * @param unixNs - nanoseconds since the Unix epoch
 * @returns e.g. `1970-01-01T00:00:00.000000001Z`
 * @example
 * ```ts
 * formatUnixNs(1n); // '1970-01-01T00:00:00.000000001Z'
 * ```
 */
export function formatUnixNs(unixNs: bigint): string {
  const s = divFloor(unixNs, NS_PER_S);
  const frac = unixNs - s * NS_PER_S;
  const iso = new Date(Number(s) * 1000).toISOString(); // 'YYYY-MM-DDTHH:MM:SS.000Z'
  return `${iso.slice(0, -5)}.${frac.toString().padStart(9, '0')}Z`;
}

/**
 * Write a clock reading as an NTP timestamp into 8 bytes of a buffer, big-endian, without allocating — the
 * server's hot path. Same rounding as {@link unixMsToNtp} up to the precision of a `number`.
 *
 * @param buf - destination
 * @param offset - where the 8 bytes start
 * @param unixMs - milliseconds since the Unix epoch
 * @example
 * ```ts
 * const b = new Uint8Array(48);
 * writeNtpTimestampMs(b, 40, performance.timeOrigin + performance.now());
 * ```
 */
export function writeNtpTimestampMs(buf: Uint8Array, offset: number, unixMs: number): void {
  let s = Math.floor(unixMs / 1000);
  let frac = Math.round(((unixMs - s * 1000) / 1000) * TWO32);
  if (frac >= TWO32) {
    frac -= TWO32;
    s += 1;
  }
  const sec = (((s + UNIX_OFFSET_S) % TWO32) + TWO32) % TWO32;
  buf[offset] = sec >>> 24;
  buf[offset + 1] = (sec >>> 16) & 0xff;
  buf[offset + 2] = (sec >>> 8) & 0xff;
  buf[offset + 3] = sec & 0xff;
  buf[offset + 4] = frac >>> 24;
  buf[offset + 5] = (frac >>> 16) & 0xff;
  buf[offset + 6] = (frac >>> 8) & 0xff;
  buf[offset + 7] = frac & 0xff;
}

/**
 * Read 8 big-endian bytes as a 64-bit timestamp.
 *
 * @param buf - source
 * @param offset - where the 8 bytes start
 * @returns the timestamp
 * @example
 * ```ts
 * readNtpTimestamp(new Uint8Array([0, 0, 0, 1, 0x80, 0, 0, 0]), 0); // 0x1_8000_0000n
 * ```
 */
export function readNtpTimestamp(buf: Uint8Array, offset: number): NtpTimestamp {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(buf[offset + i] ?? 0);
  return v;
}

/**
 * Write a 64-bit timestamp as 8 big-endian bytes.
 *
 * @param buf - destination
 * @param offset - where the 8 bytes start
 * @param ts - the timestamp (taken modulo 2^64)
 * @example
 * ```ts
 * writeNtpTimestamp(new Uint8Array(8), 0, 0x1_8000_0000n);
 * ```
 */
export function writeNtpTimestamp(buf: Uint8Array, offset: number, ts: NtpTimestamp): void {
  let v = BigInt.asUintN(64, ts);
  for (let i = 7; i >= 0; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/**
 * The signed difference `a - b` in seconds, computed in 64-bit two's complement as RFC 5905 §6 prescribes, so
 * it is right across an era boundary as long as the two are within 68 years of each other.
 *
 * @param a - a timestamp
 * @param b - a timestamp
 * @returns seconds, negative when `a` is earlier
 * @example
 * ```ts
 * ntpDiffSeconds(0x0_0000_0001_0000_0000n, 0xffff_ffff_0000_0000n); // 2 (across the 2036 wrap)
 * ```
 */
export function ntpDiffSeconds(a: NtpTimestamp, b: NtpTimestamp): number {
  return Number(BigInt.asIntN(64, a - b)) / TWO32;
}

/** The on-wire result of one exchange (RFC 5905 §8). */
export interface OffsetDelay {
  /** Clock offset θ = ((T2 − T1) + (T3 − T4)) / 2 in seconds: how far the server's clock is ahead of ours. */
  offset: number;
  /** Round-trip delay δ = (T4 − T1) − (T3 − T2) in seconds: network time, not counting the server's. */
  delay: number;
}

/**
 * Offset and delay from the four timestamps of an exchange (RFC 5905 §8, RFC 4330 §5). Differences are taken
 * in 64-bit two's complement, so an exchange that straddles the 2036 wrap is right.
 *
 * @param t1 - origin: client's clock when the request left
 * @param t2 - receive: server's clock when the request arrived
 * @param t3 - transmit: server's clock when the reply left
 * @param t4 - destination: client's clock when the reply arrived
 * @returns offset and delay in seconds
 * @example
 * ```ts
 * const s = (n: number) => BigInt(n) << 32n;
 * ntpOffsetDelay(s(1), s(2), s(3), s(4)); // { offset: 0, delay: 2 }
 * ```
 */
export function ntpOffsetDelay(
  t1: NtpTimestamp,
  t2: NtpTimestamp,
  t3: NtpTimestamp,
  t4: NtpTimestamp,
): OffsetDelay {
  const a = BigInt.asIntN(64, t2 - t1);
  const b = BigInt.asIntN(64, t3 - t4);
  const c = BigInt.asIntN(64, t4 - t1);
  const d = BigInt.asIntN(64, t3 - t2);
  return { offset: Number(a + b) / (2 * TWO32), delay: Number(c - d) / TWO32 };
}

/**
 * NTP short format (16 bits of seconds, 16 of fraction; root delay, root dispersion) → seconds.
 *
 * @param value - the 32-bit field as an unsigned integer
 * @returns seconds (exact: every short value is a double)
 * @example
 * ```ts
 * ntpShortToSeconds(0x0001_8000); // 1.5
 * ```
 */
export function ntpShortToSeconds(value: number): number {
  return (value >>> 0) / 65536;
}

/**
 * Seconds → NTP short format, rounded to the nearest 2^-16 s and clamped to 0 .. 65535.99998.
 *
 * @param seconds - a non-negative duration
 * @returns the 32-bit field as an unsigned integer
 * @example
 * ```ts
 * secondsToNtpShort(1.5); // 0x0001_8000
 * ```
 */
export function secondsToNtpShort(seconds: number): number {
  if (!(seconds > 0)) return 0;
  return Math.min(0xffff_ffff, Math.round(seconds * 65536));
}

/**
 * A signed log2 field (poll, precision) → seconds: `2^value`.
 *
 * @param log2 - e.g. -20 for about a microsecond, 6 for 64 s
 * @returns seconds
 * @example
 * ```ts
 * log2ToSeconds(-10); // 0.0009765625
 * ```
 */
export function log2ToSeconds(log2: number): number {
  return 2 ** log2;
}

/**
 * Seconds → the nearest signed log2 value, clamped to an int8 (−128 .. 127).
 *
 * @param seconds - a positive duration
 * @returns the log2 value
 * @example
 * ```ts
 * secondsToLog2(64); // 6
 * secondsToLog2(0.000001); // -20
 * ```
 */
export function secondsToLog2(seconds: number): number {
  if (!(seconds > 0)) return -128;
  return Math.max(-128, Math.min(127, Math.round(Math.log2(seconds))));
}
