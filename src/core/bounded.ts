/**
 * The scheduler under every batch (DNS names, probed ports): at most `concurrency` tasks in flight, results
 * yielded as they arrive or in input order. Unbounded bursts are what make c-ares drop queries and exhaust
 * libuv's thread pool. Two things set it apart from a plain promise pool:
 *
 * - a task reports its result (`result`) separately from when it really stops using the resolver
 *   (`settled`): a lookup that timed out for the caller may still be running in c-ares or in libuv's thread
 *   pool, and its slot stays taken until it ends, so a batch never piles new work on top of abandoned work;
 * - it costs O(1) per task (no `Promise.race` over everything in flight), which matters at 40k lookups/s.
 *
 * @module
 */
import { abortError } from './deadline.js';
import { ValidationError } from './errors.js';

/** A started task: what it reports, and when it has really finished. */
export interface StartedTask<T> {
  /** Settles with the task's result (possibly early, on a timeout). */
  result: Promise<T>;
  /** Settles when the task stops using the shared resource; its slot is freed then. */
  settled: Promise<unknown>;
}

/** A finished task, in the order the batch yields it. */
export type FinishedTask<T> =
  | { index: number; ok: true; value: T }
  | { index: number; ok: false; error: unknown };

/** Options for {@link runBounded}. */
export interface RunBoundedOptions<T = unknown, O = FinishedTask<T>> {
  /** Most tasks whose `settled` is pending at once. */
  concurrency: number;
  /** Yield in input order instead of as results arrive. @default false */
  ordered?: boolean;
  /** Stops starting tasks; the iteration then throws `AbortError`. */
  signal?: AbortSignal | undefined;
  /** Turns each finished task into what is yielded. @default the task itself */
  map?: (task: FinishedTask<T>) => O;
  /** Runs once when the iteration ends, however it ends (completion, break, abort). */
  onEnd?: () => void;
}

/**
 * Start `start(item, index)` for every item with at most `concurrency` unsettled at once and yield each
 * outcome (a failed task is an outcome, not an exception). Breaking out of the loop stops starting tasks.
 *
 * @param items - the inputs
 * @param start - starts one task
 * @param options - `concurrency`, `ordered`, `signal`, `map`, `onEnd`
 * @returns an async iterable of outcomes (or what `map` makes of them), one per item
 * @throws {ValidationError} when `concurrency` is not a positive integer
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * const tasks = runBounded(['a', 'b'], (s) => { const p = lookup(s); return { result: p, settled: p }; },
 *   { concurrency: 8 });
 * for await (const t of tasks) console.log(t.index, t.ok);
 * ```
 */
export async function* runBounded<I, T, O = FinishedTask<T>>(
  items: readonly I[],
  start: (item: I, index: number) => StartedTask<T>,
  options: RunBoundedOptions<T, O>,
): AsyncGenerator<O, void, undefined> {
  const { concurrency, ordered = false, signal, map, onEnd } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ValidationError(`Invalid concurrency '${concurrency}': expected a positive integer`);
  }
  const total = items.length;
  let next = 0;
  let running = 0;
  let stopped = false;
  const arrived: Array<FinishedTask<T> | undefined> = [];
  let head = 0;
  const early = new Map<number, FinishedTask<T>>();
  let nextOut = 0;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const push = (done: FinishedTask<T>) => {
    if (ordered) early.set(done.index, done);
    else arrived.push(done);
    notify();
  };
  const release = () => {
    running--;
    launch();
  };
  const launch = () => {
    while (!stopped && running < concurrency && next < total) {
      const index = next++;
      running++;
      let task: StartedTask<T>;
      try {
        task = start(items[index] as I, index);
      } catch (error) {
        task = { result: Promise.reject(error), settled: Promise.resolve() };
      }
      if (task.settled === task.result) {
        // One reaction for both (a DNS query's result is when it stops): half the promise work per task.
        task.result.then(
          (value) => {
            push({ index, ok: true, value });
            release();
          },
          (error: unknown) => {
            push({ index, ok: false, error });
            release();
          },
        );
        continue;
      }
      task.result.then(
        (value) => push({ index, ok: true, value }),
        (error: unknown) => push({ index, ok: false, error }),
      );
      task.settled.then(release, release);
    }
  };
  signal?.addEventListener('abort', notify, { once: true });
  try {
    if (signal?.aborted) throw abortError(signal);
    launch();
    for (let produced = 0; produced < total; ) {
      if (signal?.aborted) throw abortError(signal);
      let done: FinishedTask<T> | undefined;
      if (ordered) {
        done = early.get(nextOut);
        if (done) early.delete(nextOut++);
      } else if (head < arrived.length) {
        done = arrived[head];
        arrived[head++] = undefined;
      }
      if (done) {
        produced++;
        yield map ? map(done) : (done as O);
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stopped = true;
    signal?.removeEventListener('abort', notify);
    onEnd?.();
  }
}

/**
 * An async iterator whose source is made on the first `next()`: an error while making it (bad input)
 * rejects that `next()` instead of throwing at the call, as an async generator would, without adding a
 * generator layer (and its promise hops) per item.
 *
 * @param make - builds the real iterator
 * @returns an async iterable iterator
 * @example
 * ```ts
 * const it = deferIterator(() => { check(input); return runBounded(items, start, { concurrency: 8 }); });
 * ```
 */
export function deferIterator<T>(
  make: () => AsyncGenerator<T, void, undefined>,
): AsyncGenerator<T, void, undefined> {
  let inner: AsyncGenerator<T, void, undefined> | undefined;
  let finished = false;
  const ensure = (): AsyncGenerator<T, void, undefined> | undefined => {
    if (!inner && !finished) {
      try {
        inner = make();
      } catch (err) {
        finished = true;
        throw err;
      }
    }
    return inner;
  };
  const done = (): Promise<IteratorResult<T, void>> => Promise.resolve({ done: true, value: undefined });
  const self: AsyncGenerator<T, void, undefined> = {
    next() {
      try {
        return ensure()?.next() ?? done();
      } catch (err) {
        return Promise.reject(err);
      }
    },
    return(value) {
      finished = true;
      return inner ? inner.return(value) : done();
    },
    throw(err: unknown) {
      finished = true;
      return inner ? inner.throw(err) : Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return self;
    },
  };
  return self;
}
