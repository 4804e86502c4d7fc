/**
 * Timeouts and cancellation. Every blocking wait in soket goes through these helpers so that a timeout is
 * always a `TimeoutError` naming the phase, the target and the limit, and a fired `AbortSignal` is always an
 * `AbortError`.
 *
 * @module
 */
import { AbortError, SoketError, TimeoutError, type TimeoutPhase, ValidationError } from './errors.js';

/** What every waiting call accepts. */
export interface WaitOptions {
  /** Milliseconds before giving up; `0` or absent means no limit. */
  timeout?: number;
  /** Cancels the wait. */
  signal?: AbortSignal;
}

/** Describes a wait for error messages. */
export interface WaitTarget {
  /** Which phase this is (`connect`, `lookup`, `response`, ...). */
  phase: TimeoutPhase;
  /** What is waited for, e.g. `127.0.0.1:9000`. */
  target: string;
  /** Appended to a timeout message, e.g. `(3 tries)`. */
  detail?: string;
}

/**
 * The error to throw for an aborted signal: its reason when that is already a soket error, otherwise an
 * `AbortError` naming what was aborted.
 *
 * @example
 * ```ts
 * if (signal.aborted) throw abortError(signal, 'Connect to 127.0.0.1:80');
 * ```
 */
export function abortError(signal: AbortSignal, what?: string): SoketError {
  const reason: unknown = signal.reason;
  if (reason instanceof SoketError) return reason;
  return new AbortError(what ? `${what} was aborted` : 'The operation was aborted', { cause: reason });
}

/**
 * Throw an `AbortError` when the signal has fired.
 *
 * @example
 * ```ts
 * throwIfAborted(options.signal, 'Batch lookup');
 * ```
 */
export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

/**
 * Run `fn` with a signal that fires when `timeout` elapses or the caller's `signal` fires. The returned
 * promise settles as soon as either happens, even if `fn` ignores its signal.
 *
 * @param fn - the work; it should stop when its signal fires
 * @param options - `timeout`, `signal`
 * @param target - phase and target for the `TimeoutError` message
 * @returns what `fn` returns
 * @throws {TimeoutError} when the time runs out
 * @throws {AbortError} when the caller's signal fires
 * @example
 * ```ts
 * const socket = await withTimeout((signal) => connect(host, port, signal), { timeout: 2000 },
 *   { phase: 'connect', target: '127.0.0.1:9000' });
 * ```
 */
export async function withTimeout<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  options: WaitOptions,
  target: WaitTarget,
): Promise<T> {
  const { timeout, signal } = options;
  throwIfAborted(signal, describe(target));
  if (!timeout && !signal) return fn(new AbortController().signal);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    if (timeout) {
      timer = setTimeout(() => {
        const err = new TimeoutError(target.phase, target.target, timeout, target.detail ?? '');
        controller.abort(err);
        reject(err);
      }, timeout);
    }
    if (signal) {
      onAbort = () => {
        const err = abortError(signal, describe(target));
        controller.abort(err);
        reject(err);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([fn(controller.signal), stopped]);
  } finally {
    if (timer) clearTimeout(timer);
    if (signal && onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function describe(target: WaitTarget): string {
  return `${target.phase.charAt(0).toUpperCase()}${target.phase.slice(1)} ${target.target}`;
}

/**
 * Wait `ms` milliseconds, or less if the signal fires (then reject with `AbortError`).
 *
 * @example
 * ```ts
 * await sleep(100, signal);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 2_147_483_647) {
    return Promise.reject(
      new ValidationError(`Invalid sleep time '${String(ms)}': expected a number of ms from 0 to 2147483647`),
    );
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return Promise.reject(new ValidationError(`Invalid signal '${String(signal)}': expected an AbortSignal`));
  }
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An overall deadline shared by several phases: each phase asks how much time is left.
 *
 * @example
 * ```ts
 * const deadline = new Deadline(5000, 'example.com:443');
 * await withTimeout(lookup, { timeout: deadline.remaining() }, { phase: 'lookup', target: 'example.com' });
 * deadline.check(); // throws TimeoutError('overall', ...) when spent
 * ```
 */
export class Deadline {
  readonly #end: number;
  readonly #total: number;
  readonly #target: string;

  /**
   * @param totalMs - the overall budget; `0` or `undefined` for none
   * @param target - what the deadline is for, for the message
   */
  constructor(totalMs: number | undefined, target: string) {
    this.#total = totalMs ?? 0;
    this.#end = totalMs ? performance.now() + totalMs : Number.POSITIVE_INFINITY;
    this.#target = target;
  }

  /** The whole budget in ms, or 0 for none. */
  get totalMs(): number {
    return this.#total;
  }

  /** Milliseconds left (at least 1 while not expired), or `undefined` when there is no deadline. */
  remaining(): number | undefined {
    if (this.#end === Number.POSITIVE_INFINITY) return undefined;
    return Math.max(1, Math.ceil(this.#end - performance.now()));
  }

  /** The smaller of a phase's own timeout and the time left. */
  cap(phaseTimeout: number | undefined): number | undefined {
    const left = this.remaining();
    if (left === undefined) return phaseTimeout || undefined;
    return phaseTimeout ? Math.min(phaseTimeout, left) : left;
  }

  /** Whether the deadline has passed. */
  expired(): boolean {
    return performance.now() >= this.#end;
  }

  /** Throw `TimeoutError` (phase `overall`) when the deadline has passed. */
  check(): void {
    if (this.expired()) throw new TimeoutError('overall', this.#target, this.#total);
  }

  /** A `TimeoutError` for this deadline, for callers that detect expiry themselves. */
  error(): TimeoutError {
    return new TimeoutError('overall', this.#target, this.#total);
  }
}
