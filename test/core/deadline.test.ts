import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Deadline, sleep, withTimeout } from '../../src/core/deadline.js';
import { AbortError, TimeoutError } from '../../src/core/errors.js';

describe('deadline', () => {
  test('withTimeout returns the result when in time', async () => {
    const v = await withTimeout(async () => 42, { timeout: 1000 }, { phase: 'connect', target: 'x' });
    assert.equal(v, 42);
  });

  test('withTimeout rejects with TimeoutError and aborts the inner signal, even if the work ignores it', async () => {
    let inner: AbortSignal | undefined;
    const never = (signal: AbortSignal) => {
      inner = signal;
      return new Promise<never>(() => {});
    };
    await assert.rejects(
      withTimeout(never, { timeout: 20 }, { phase: 'connect', target: '127.0.0.1:9000' }),
      (err) => {
        assert.ok(err instanceof TimeoutError);
        assert.equal(err.message, 'Connect to 127.0.0.1:9000 timed out after 20 ms');
        return true;
      },
    );
    assert.equal(inner?.aborted, true);
  });

  test("withTimeout rejects with AbortError when the caller's signal fires", async () => {
    const ac = new AbortController();
    const p = withTimeout(
      () => new Promise<never>(() => {}),
      { signal: ac.signal },
      { phase: 'lookup', target: 'a' },
    );
    ac.abort();
    await assert.rejects(p, AbortError);
    await assert.rejects(
      withTimeout(async () => 1, { signal: AbortSignal.abort() }, { phase: 'lookup', target: 'a' }),
      AbortError,
    );
  });

  test('sleep can be aborted', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    setImmediate(() => ac.abort());
    await assert.rejects(p, AbortError);
    await sleep(1);
  });

  test('Deadline caps phases and reports expiry', async () => {
    const none = new Deadline(undefined, 'x');
    assert.equal(none.remaining(), undefined);
    assert.equal(none.cap(500), 500);
    const d = new Deadline(30, 'example:1');
    assert.ok((d.cap(10_000) ?? 0) <= 30);
    assert.ok((d.cap(5) ?? 0) <= 5);
    await sleep(40);
    assert.ok(d.expired());
    assert.throws(() => d.check(), /Operation on example:1 timed out after 30 ms/);
  });
});
