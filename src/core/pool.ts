/**
 * Bounded concurrency for batches (DNS names, ports to probe): run at most `concurrency` tasks at once and
 * yield results as they finish, or in input order. Unbounded bursts are what make c-ares drop queries and
 * exhaust libuv's thread pool; every batch in soket goes through here instead.
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { abortError } from './deadline.js';
import { ValidationError } from './errors.js';

/** Options for {@link mapConcurrent}. */
export interface MapConcurrentOptions {
  /** Most tasks in flight at once. */
  concurrency: number;
  /** Yield results in input order (buffering early finishers) instead of as they finish. @default false */
  ordered?: boolean;
  /** Stops starting new tasks and aborts the signal handed to running ones. */
  signal?: AbortSignal;
}

/**
 * Map `fn` over `items` with at most `concurrency` calls in flight, yielding each result. A task that throws
 * ends the iteration with that error (make `fn` return failures as values to keep going). Breaking out of the
 * loop aborts the signal given to running tasks.
 *
 * @param items - a (possibly async, possibly lazy) sequence
 * @param fn - the task; receives the item, its index and a signal that fires when the batch stops
 * @param options - `concurrency`, `ordered`, `signal`
 * @returns an async iterable of results
 * @throws {ValidationError} when `concurrency` is not a positive integer
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * for await (const r of mapConcurrent([1, 2, 3], async (n) => n * 2, { concurrency: 2, ordered: true })) {
 *   console.log(r); // 2, 4, 6
 * }
 * ```
 */
export async function* mapConcurrent<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  options: MapConcurrentOptions,
): AsyncGenerator<R, void, undefined> {
  const { concurrency, ordered = false, signal } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ValidationError(`Invalid concurrency '${concurrency}': expected a positive integer`);
  }
  const stop = new AbortController();
  // Every running task may listen on this one signal; that is by design, not a leak.
  setMaxListeners(0, stop.signal);
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const iterator =
    Symbol.asyncIterator in items
      ? (items as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (items as Iterable<T>)[Symbol.iterator]();
  const running = new Map<number, Promise<{ index: number; value: R }>>();
  const early = new Map<number, R>();
  let nextIndex = 0;
  let nextOut = 0;
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && running.size < concurrency) {
        if (signal?.aborted) throw abortError(signal);
        const step = await iterator.next();
        if (step.done) {
          exhausted = true;
          break;
        }
        const index = nextIndex++;
        const task = fn(step.value, index, stop.signal).then((value) => ({ index, value }));
        task.catch(() => {}); // observed through Promise.race below; never an unhandled rejection
        running.set(index, task);
      }
      if (running.size === 0) return;
      const { index, value } = await Promise.race(running.values());
      running.delete(index);
      if (signal?.aborted) throw abortError(signal);
      if (!ordered) {
        yield value;
        continue;
      }
      early.set(index, value);
      while (early.has(nextOut)) {
        const v = early.get(nextOut) as R;
        early.delete(nextOut++);
        yield v;
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (running.size > 0 || !exhausted) stop.abort();
  }
}
