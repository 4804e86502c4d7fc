/**
 * The bounded event queue between a server's events and main.ts (issue 17, item 3): bounded in count and, with
 * `sizeOf`, in total size — a thousand 64 KiB messages are not "bounded" in any useful sense.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EVENT_QUEUE_DEFAULTS, EventQueue } from '../../src/core/event-queue.js';

async function drain<E>(q: EventQueue<E>, n: number): Promise<E[]> {
  const out: E[] = [];
  const it = q[Symbol.asyncIterator]();
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

describe('EventQueue', () => {
  test('offer drops and counts past the count limit; push always queues and asks to pause', async () => {
    const q = new EventQueue<number>({ limit: 4 });
    for (let i = 0; i < 6; i++) q.offer(i);
    assert.equal(q.length, 4);
    assert.equal(q.dropped, 2);
    assert.equal(q.push(6), false);
    assert.equal(q.length, 5);
    assert.deepEqual(await drain(q, 5), [0, 1, 2, 3, 6]);
  });

  test('with sizeOf, offer drops past maxSize and push asks to pause past it', async () => {
    const q = new EventQueue<string>({ limit: 1000, sizeOf: (s) => s.length, maxSize: 100 });
    assert.equal(q.offer('a'.repeat(60)), true);
    assert.equal(q.offer('b'.repeat(60)), false, 'over the size: dropped');
    assert.equal(q.offer('c'.repeat(40)), true, 'exactly at the size: taken');
    assert.equal(q.size, 100);
    assert.equal(q.dropped, 1);
    assert.equal(q.hasRoom(1), false);
    assert.deepEqual(
      (await drain(q, 2)).map((s) => s[0]),
      ['a', 'c'],
    );
    assert.equal(q.size, 0);
    assert.equal(q.push('d'.repeat(99)), true);
    assert.equal(q.push('e'), false, 'at the size: the producer should pause');
  });

  test('one event larger than maxSize still gets through an empty queue (it is never stuck)', async () => {
    const q = new EventQueue<string>({ sizeOf: (s) => s.length, maxSize: 10 });
    assert.equal(q.hasRoom(1000), true);
    assert.equal(q.offer('x'.repeat(1000)), true);
    assert.equal(q.offer('y'), false);
    assert.deepEqual(
      (await drain(q, 1)).map((s) => s.length),
      [1000],
    );
  });

  test('onDrain waits until both the count and the size are down to half', async () => {
    const q = new EventQueue<string>({ limit: 10, sizeOf: (s) => s.length, maxSize: 100 });
    q.push('a'.repeat(50));
    q.push('b'.repeat(50));
    q.push('c');
    let drained = false;
    q.onDrain(() => {
      drained = true;
    });
    assert.equal(drained, false);
    await drain(q, 1); // size 51: still over half
    assert.equal(drained, false);
    await drain(q, 1); // size 1
    assert.equal(drained, true);
  });

  test('without sizeOf the size is not counted (the count limit alone applies)', () => {
    const q = new EventQueue<string>({ limit: 3 });
    assert.equal(q.offer('x'.repeat(EVENT_QUEUE_DEFAULTS.maxSize * 2)), true);
    assert.equal(q.offer('y'), true);
    assert.equal(q.size, 0);
  });

  test('end: queued events are still delivered, then iteration stops; offer after end is refused', async () => {
    const q = new EventQueue<number>();
    q.push(1);
    q.end();
    assert.equal(q.offer(2), false);
    assert.equal(q.hasRoom(), false);
    const seen: number[] = [];
    for await (const e of q) seen.push(e);
    assert.deepEqual(seen, [1]);
  });
});
