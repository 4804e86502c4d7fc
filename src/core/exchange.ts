/**
 * The one request/reply loop of soket: send, wait for an acceptable reply, send again on a schedule, respect
 * an overall deadline and an `AbortSignal`, and finish exactly once (with a reply, an error, a timeout or an
 * abort), cleaning up once. `udpRequest`, `sntpQuery`, `tcpRequest` and the DNS clients use it; what a
 * request is and which reply is acceptable is theirs.
 *
 * Timing, in the common vocabulary: `timeout` bounds the whole exchange; `tryTimeout` bounds one attempt
 * (by default `timeout / tries`, so the last attempt ends at the deadline). Each attempt gets the smaller of
 * its `tryTimeout` and the time left.
 *
 * @module
 */
import { abortError, Deadline } from './deadline.js';
import { TimeoutError, toSoketError, ValidationError } from './errors.js';

/** Options of {@link exchange}. */
export interface ExchangeOptions {
  /** What is asked, for messages: `NTP server 127.0.0.1:123`, `127.0.0.1:9000`. */
  target: string;
  /** Attempts in all (1 + retries). @default 1 */
  tries?: number;
  /** Limit of the whole exchange in ms; 0 or absent for none (unless `deadline` is given). */
  timeout?: number | undefined;
  /** Limit of one attempt in ms. @default timeout / tries */
  tryTimeout?: number | undefined;
  /** A deadline already running (e.g. one that a name lookup used first); it replaces `timeout`. */
  deadline?: Deadline | undefined;
  /** Cancels the exchange (`AbortError`). */
  signal?: AbortSignal | undefined;
  /** Appended to the timeout message, e.g. `; the kernel dropped 3 datagrams`. */
  timeoutDetail?: () => string;
}

/** What the request side of an exchange can do. */
export interface ExchangeControl<R> {
  /** Accept a reply: the exchange resolves with it. Ignored once finished. */
  resolve(value: R): void;
  /** Fail the exchange (errors become soket errors). Ignored once finished. */
  reject(err: unknown): void;
  /** The attempt in progress, from 1. */
  readonly attempt: number;
  /** Whether the exchange has finished. */
  readonly done: boolean;
}

/** What the caller gives {@link exchange}: how to send, and what to undo at the end. */
export interface ExchangeHandlers {
  /** Send attempt `attempt` (from 1). A throw or rejection fails the exchange. */
  send(attempt: number): void | Promise<void>;
  /** Called exactly once when the exchange finishes, however it finishes. */
  cleanup?(): void;
}

/**
 * Run one request/reply exchange.
 *
 * @param options - target, tries, timeouts, signal
 * @param setup - called once with the control; returns how to send (and clean up). Wire reply listeners
 *   here and call `ctl.resolve(reply)` for an acceptable one.
 * @returns the accepted reply
 * @throws {TimeoutError} phase `response` after the last attempt, naming the whole limit and the tries:
 *   `Waiting for a response from 127.0.0.1:9000 timed out after 3000 ms (3 tries)`
 * @throws {AbortError} when the signal fires
 * @throws whatever `ctl.reject` or `send` gave, as a soket error
 * @example
 * ```ts
 * const reply = await exchange<Buffer>({ target: '127.0.0.1:9000', tries: 3, timeout: 3000 }, (ctl) => {
 *   socket.on('message', (m) => ctl.resolve(m));
 *   return { send: () => socket.send(request), cleanup: () => socket.close() };
 * });
 * ```
 */
export function exchange<R>(
  options: ExchangeOptions,
  setup: (ctl: ExchangeControl<R>) => ExchangeHandlers,
): Promise<R> {
  const tries = options.tries ?? 1;
  if (!Number.isInteger(tries) || tries < 1) {
    throw new ValidationError(`Invalid tries '${String(tries)}': expected an integer of at least 1`);
  }
  const deadline = options.deadline ?? new Deadline(options.timeout || undefined, options.target);
  // Each try's share of the whole budget (capped below by the time left when it starts).
  const total = deadline.totalMs || undefined;
  const tryTimeout = options.tryTimeout || (total === undefined ? undefined : Math.max(1, total / tries));
  const run = new Exchange<R>(options, deadline, tries, tryTimeout);
  return new Promise<R>((resolve, reject) => run.start(setup, resolve, reject));
}

/**
 * One exchange's state; it is also the control handed to `setup`. A class, not an object literal with
 * getters and a closure per step: clients run this per query, thousands a second (an object literal with
 * accessors costs microseconds to create in V8). `resolve` and `reject` are bound, so callers may pass them
 * around on their own.
 */
class Exchange<R> implements ExchangeControl<R> {
  attempt = 0;
  done = false;
  #timer: NodeJS.Timeout | undefined;
  #handlers: ExchangeHandlers | undefined;
  #settleResolve: ((value: R) => void) | undefined;
  #settleReject: ((err: unknown) => void) | undefined;
  #onAbort: (() => void) | undefined;
  readonly #options: ExchangeOptions;
  readonly #deadline: Deadline;
  readonly #tries: number;
  readonly #tryTimeout: number | undefined;

  constructor(options: ExchangeOptions, deadline: Deadline, tries: number, tryTimeout: number | undefined) {
    this.#options = options;
    this.#deadline = deadline;
    this.#tries = tries;
    this.#tryTimeout = tryTimeout;
  }

  readonly resolve = (value: R): void => {
    if (this.#finish()) (this.#settleResolve as (value: R) => void)(value);
  };

  readonly reject = (err: unknown): void => {
    if (this.#finish()) (this.#settleReject as (err: unknown) => void)(toSoketError(err));
  };

  start(
    setup: (ctl: ExchangeControl<R>) => ExchangeHandlers,
    resolve: (value: R) => void,
    reject: (err: unknown) => void,
  ): void {
    const signal = this.#options.signal;
    if (signal?.aborted) {
      reject(abortError(signal, `Request to ${this.#options.target}`));
      return;
    }
    this.#settleResolve = resolve;
    this.#settleReject = reject;
    if (signal) {
      this.#onAbort = () => this.reject(abortError(signal, `Request to ${this.#options.target}`));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    try {
      this.#handlers = setup(this);
    } catch (err) {
      this.reject(err);
      return;
    }
    if (!this.done) this.#next();
  }

  /** Mark the exchange finished and undo everything, once: true the first time. */
  #finish(): boolean {
    if (this.done) return false;
    this.done = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#onAbort) this.#options.signal?.removeEventListener('abort', this.#onAbort);
    try {
      this.#handlers?.cleanup?.();
    } catch {
      // cleanup must not mask the outcome
    }
    return true;
  }

  #next(): void {
    if (this.done) return;
    this.attempt++;
    try {
      const sent = this.#handlers?.send(this.attempt);
      if (sent && typeof (sent as Promise<void>).then === 'function')
        (sent as Promise<void>).catch(this.reject);
    } catch (err) {
      this.reject(err);
      return;
    }
    if (this.done) return;
    const left = this.#deadline.remaining();
    const tryTimeout = this.#tryTimeout;
    const wait = left === undefined ? tryTimeout : Math.min(tryTimeout ?? left, left);
    if (wait === undefined) return; // no limit: wait for a reply or the signal
    this.#timer = setTimeout(onTimer, wait, this);
  }

  /** The attempt's time is up: try again, or time out. */
  expire(): void {
    this.#timer = undefined;
    if (this.attempt < this.#tries && !this.#deadline.expired()) {
      this.#next();
      return;
    }
    const attempt = this.attempt;
    const tryTimeout = this.#tryTimeout;
    const each = tryTimeout !== undefined && attempt > 1 ? ` of ${Math.round(tryTimeout)} ms` : '';
    const detail = `(${attempt} ${attempt === 1 ? 'try' : 'tries'}${each}${this.#options.timeoutDetail?.() ?? ''})`;
    const limit = this.#deadline.totalMs || Math.round((tryTimeout ?? 0) * attempt);
    this.reject(new TimeoutError('response', this.#options.target, Math.round(limit), detail));
  }
}

/** The timer's callback (one function for every exchange, given the exchange as its argument). */
function onTimer(run: { expire(): void }): void {
  run.expire();
}
