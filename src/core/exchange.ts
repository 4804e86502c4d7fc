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
  const signal = options.signal;

  return new Promise<R>((resolve, reject) => {
    let attempt = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let handlers: ExchangeHandlers | undefined;

    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      try {
        handlers?.cleanup?.();
      } catch {
        // cleanup must not mask the outcome
      }
      settle();
    };
    const fail = (err: unknown) => finish(() => reject(toSoketError(err)));
    const onAbort = () => fail(abortError(signal as AbortSignal, `Request to ${options.target}`));

    const ctl: ExchangeControl<R> = {
      resolve: (value) => finish(() => resolve(value)),
      reject: fail,
      get attempt() {
        return attempt;
      },
      get done() {
        return done;
      },
    };

    const timedOut = () => {
      const each = tryTimeout !== undefined && attempt > 1 ? ` of ${Math.round(tryTimeout)} ms` : '';
      const detail = `(${attempt} ${attempt === 1 ? 'try' : 'tries'}${each}${options.timeoutDetail?.() ?? ''})`;
      const limit = deadline.totalMs || Math.round((tryTimeout ?? 0) * attempt);
      fail(new TimeoutError('response', options.target, Math.round(limit), detail));
    };

    const next = () => {
      if (done) return;
      attempt++;
      try {
        const sent = handlers?.send(attempt);
        if (sent && typeof (sent as Promise<void>).then === 'function') (sent as Promise<void>).catch(fail);
      } catch (err) {
        fail(err);
        return;
      }
      if (done) return;
      const left = deadline.remaining();
      const wait = left === undefined ? tryTimeout : Math.min(tryTimeout ?? left, left);
      if (wait === undefined) return; // no limit: wait for a reply or the signal
      timer = setTimeout(() => {
        timer = undefined;
        if (attempt < tries && !deadline.expired()) next();
        else timedOut();
      }, wait);
    };

    if (signal?.aborted) {
      reject(abortError(signal, `Request to ${options.target}`));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      handlers = setup(ctl);
    } catch (err) {
      fail(err);
      return;
    }
    if (!done) next();
  });
}
