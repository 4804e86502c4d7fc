/**
 * Clocks. Library code that needs the time takes a `clock` option so tests can drive it without sleeping.
 *
 * @module
 */
import { ValidationError } from './errors.js';
import { describeValue } from './validate.js';

/** A source of time. */
export interface Clock {
  /** Wall-clock time in milliseconds since the Unix epoch, with sub-millisecond precision. */
  now(): number;
  /** Monotonic milliseconds from an arbitrary origin, for measuring durations. */
  monotonic(): number;
}

/**
 * The system clock: wall time from `performance.timeOrigin + performance.now()` (sub-millisecond and
 * monotonic within a run, unlike `Date.now()`), and `performance.now()` for durations.
 *
 * @example
 * ```ts
 * const t0 = systemClock.monotonic();
 * await work();
 * const ms = systemClock.monotonic() - t0;
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  monotonic: () => performance.now(),
};

/**
 * A clock for tests: time moves only when `advance` is called.
 *
 * @param startMs - initial wall time in ms since the epoch
 * @example
 * ```ts
 * const clock = manualClock(1_700_000_000_000);
 * clock.advance(5);
 * clock.now(); // 1_700_000_000_005
 * ```
 */
export function manualClock(startMs = 0): Clock & { advance(ms: number): void; set(ms: number): void } {
  const ms = (value: unknown, what: string): number => {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new ValidationError(`Invalid ${what} '${describeValue(value)}': expected a finite number of ms`);
    }
    return value;
  };
  let wall = ms(startMs, 'start time');
  let mono = 0;
  return {
    now: () => wall,
    monotonic: () => mono,
    advance(by: number) {
      wall += ms(by, 'clock advance');
      mono += by;
    },
    set(to: number) {
      wall = ms(to, 'clock time');
    },
  };
}

/**
 * Milliseconds elapsed since `start` (a `monotonic()` reading), rounded to 0.001 ms.
 *
 * @example
 * ```ts
 * const t0 = systemClock.monotonic();
 * elapsedMs(t0); // 0.012
 * ```
 */
export function elapsedMs(start: number, clock: Clock = systemClock): number {
  return Math.round((clock.monotonic() - start) * 1000) / 1000;
}

/**
 * Check a `clock` option from plain JavaScript: an object with `now()` and `monotonic()`.
 *
 * @param value - the option as given
 * @returns the clock, or `undefined` when absent
 * @throws {ValidationError} when it is not a clock
 * @example
 * ```ts
 * const clock = checkClock(options.clock) ?? systemClock;
 * ```
 */
export function checkClock(value: unknown): Clock | undefined {
  if (value === undefined) return undefined;
  const c = value as Partial<Clock> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    typeof c.now !== 'function' ||
    typeof c.monotonic !== 'function'
  ) {
    throw new ValidationError(
      `Invalid clock '${describeValue(value)}': expected an object with now() and monotonic()`,
    );
  }
  return c as Clock;
}
