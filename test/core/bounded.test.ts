import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { deferIterator, runBounded } from '../../src/core/bounded.js';
import { AbortError, ValidationError } from '../../src/core/errors.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function after<T>(ms: number, value: T) {
  const p = new Promise<T>((r) => setTimeout(() => r(value), ms));
  return { result: p, settled: p };
}

describe('runBounded', () => {
  test('unordered yields by arrival, ordered by index', async () => {
    // Each task finishes when the test says so, in the order 3, 1, 2, 0.
    const run = async (ordered: boolean) => {
      const gates = [0, 1, 2, 3].map(() => deferred<number>());
      const it = runBounded(
        [0, 1, 2, 3],
        (i) => {
          const p = (gates[i] as Deferred<number>).promise;
          return { result: p, settled: p };
        },
        { concurrency: 4, ordered },
      );
      const seen = collect(it);
      for (const i of [3, 1, 2, 0]) {
        (gates[i] as Deferred<number>).resolve(i * 10);
        await tick();
      }
      return seen;
    };
    const byArrival = await run(false);
    assert.deepEqual(
      byArrival.map((d) => d.index),
      [3, 1, 2, 0],
    );
    const ordered = await run(true);
    assert.deepEqual(
      ordered.map((d) => (d.ok ? d.value : -1)),
      [0, 10, 20, 30],
    );
  });

  test('never more than `concurrency` unsettled tasks, counting ones whose result came early', async () => {
    let unsettled = 0;
    let peak = 0;
    const outcomes = await collect(
      runBounded(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => {
          unsettled++;
          peak = Math.max(peak, unsettled);
          // The result arrives at once (a timeout reported to the caller), the work goes on for a while.
          const settled = (async () => {
            for (let k = 0; k < (i % 4) + 2; k++) await tick();
            unsettled--;
          })();
          return { result: Promise.resolve(i), settled };
        },
        { concurrency: 5 },
      ),
    );
    assert.equal(outcomes.length, 40);
    assert.equal(peak, 5);
  });

  test('a failed task is an outcome, not an exception; a throwing start too', async () => {
    const out = await collect(
      runBounded(
        [1, 2, 3],
        (n) => {
          if (n === 3) throw new Error('cannot start');
          return n === 2
            ? { result: Promise.reject(new Error('x')), settled: Promise.resolve() }
            : { result: Promise.resolve(n), settled: Promise.resolve() };
        },
        { concurrency: 1, ordered: true },
      ),
    );
    assert.deepEqual(
      out.map((o) => o.ok),
      [true, false, false],
    );
  });

  test('breaking out stops starting tasks; onEnd runs once', async () => {
    let started = 0;
    let ended = 0;
    for await (const _ of runBounded(
      Array.from({ length: 100 }, (_, i) => i),
      (i) => {
        started++;
        return after(10, i);
      },
      { concurrency: 3, onEnd: () => ended++ },
    )) {
      break;
    }
    const atBreak = started;
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(atBreak <= 6, `started ${atBreak}`);
    assert.equal(started, atBreak, 'nothing started after the break');
    assert.equal(ended, 1);
  });

  test('the signal aborts the iteration; bad concurrency is a ValidationError', async () => {
    const ac = new AbortController();
    const it = runBounded(
      [1, 2, 3, 4],
      (n) => {
        if (n === 2) ac.abort();
        return after(5, n);
      },
      { concurrency: 1, signal: ac.signal },
    );
    await assert.rejects(collect(it), AbortError);
    await assert.rejects(collect(runBounded([1], (n) => after(1, n), { concurrency: 0 })), ValidationError);
  });

  test('deferIterator rejects the first next() when making the source throws', async () => {
    const it = deferIterator<number>(() => {
      throw new ValidationError('bad input');
    });
    await assert.rejects(it.next(), ValidationError);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });
});
