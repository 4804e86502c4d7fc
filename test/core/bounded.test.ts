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

function after<T>(ms: number, value: T) {
  const p = new Promise<T>((r) => setTimeout(() => r(value), ms));
  return { result: p, settled: p };
}

describe('runBounded', () => {
  test('unordered yields by arrival, ordered by index', async () => {
    const delays = [30, 5, 15, 1];
    const byArrival = await collect(runBounded(delays, (ms) => after(ms, ms), { concurrency: 4 }));
    assert.deepEqual(
      byArrival.map((d) => d.index),
      [3, 1, 2, 0],
    );
    const ordered = await collect(
      runBounded(delays, (ms) => after(ms, ms), { concurrency: 2, ordered: true }),
    );
    assert.deepEqual(
      ordered.map((d) => (d.ok ? d.value : -1)),
      delays,
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
