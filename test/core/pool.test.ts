import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { AbortError, ValidationError } from '../../src/core/errors.js';
import { mapConcurrent } from '../../src/core/pool.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe('mapConcurrent', () => {
  test('never runs more than `concurrency` tasks at once, and runs every task', async () => {
    let running = 0;
    let peak = 0;
    const results = await collect(
      mapConcurrent(
        Array.from({ length: 50 }, (_, i) => i),
        async (n) => {
          running++;
          peak = Math.max(peak, running);
          for (let k = 0; k < (n % 5) + 1; k++) await tick();
          running--;
          return n;
        },
        { concurrency: 7 },
      ),
    );
    assert.equal(peak, 7);
    assert.deepEqual(
      [...results].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  test('ordered yields in input order; unordered as they finish', async () => {
    const slowFirst = async (n: number) => {
      for (let k = 0; k < 10 - n; k++) await tick();
      return n;
    };
    const items = [0, 1, 2, 3, 4, 5];
    assert.deepEqual(
      await collect(mapConcurrent(items, slowFirst, { concurrency: 6, ordered: true })),
      items,
    );
    assert.deepEqual(await collect(mapConcurrent(items, slowFirst, { concurrency: 6 })), [5, 4, 3, 2, 1, 0]);
  });

  test('accepts async iterables and stops pulling input when the consumer stops', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield i;
      }
    }
    let aborted = 0;
    for await (const v of mapConcurrent(
      source(),
      async (n, _i, signal) => {
        signal.addEventListener('abort', () => aborted++);
        await tick();
        return n;
      },
      { concurrency: 4 },
    )) {
      if (v >= 2) break;
    }
    assert.ok(pulled < 20, `pulled ${pulled}`);
    assert.ok(aborted > 0, 'running tasks saw the abort');
  });

  test('a throwing task ends the iteration with its error', async () => {
    await assert.rejects(
      collect(
        mapConcurrent(
          [1, 2, 3],
          async (n) => {
            if (n === 2) throw new Error('boom');
            return n;
          },
          { concurrency: 1 },
        ),
      ),
      /boom/,
    );
  });

  test('the caller signal aborts; bad concurrency is a ValidationError', async () => {
    const ac = new AbortController();
    const it = mapConcurrent(
      [1, 2, 3, 4],
      async (n) => {
        if (n === 2) ac.abort();
        return n;
      },
      { concurrency: 1, signal: ac.signal },
    );
    await assert.rejects(collect(it), AbortError);
    await assert.rejects(collect(mapConcurrent([1], async (n) => n, { concurrency: 0 })), ValidationError);
  });
});
