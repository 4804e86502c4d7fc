import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ValidationError } from '../../src/core/errors.js';
import { clientKey, RateLimiter } from '../../src/ntp/rate-limit.js';

describe('RateLimiter', () => {
  test('a burst, then one kiss-o-death per interval, then tokens come back at the average rate', () => {
    const l = new RateLimiter({ interval: 1000, burst: 3 });
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((t) => l.check('192.0.2.1', t)),
      ['allow', 'allow', 'allow', 'kod', 'drop', 'drop'],
    );
    assert.equal(l.check('192.0.2.2', 5), 'allow', 'other clients are not affected');
    assert.equal(l.check('192.0.2.1', 900), 'drop', 'no token yet, and the KoD interval has not passed');
    assert.equal(l.check('192.0.2.1', 1002), 'allow', 'one token per interval');
    assert.equal(l.check('192.0.2.1', 1003), 'kod', 'a second KoD once the KoD interval has passed');
    assert.equal(l.check('192.0.2.1', 1500), 'drop');
    assert.equal(l.check('192.0.2.1', 10_000), 'allow');
    assert.equal(l.check('192.0.2.1', 10_001), 'allow');
    assert.equal(l.check('192.0.2.1', 10_002), 'allow', 'refills up to the burst, no further');
    assert.equal(l.check('192.0.2.1', 10_003), 'kod');
  });

  test('the table is bounded: refilled clients are forgotten first, else the oldest', () => {
    const l = new RateLimiter({ interval: 1000, burst: 1, maxClients: 2 });
    assert.equal(l.check('192.0.2.1', 0), 'allow');
    assert.equal(l.check('192.0.2.2', 500), 'allow');
    assert.equal(l.check('192.0.2.2', 600), 'kod');
    // at 1200 .1 has refilled (idle 1200 ms ≥ burst × interval), .2 has not: .1 goes
    assert.equal(l.check('192.0.2.3', 1200), 'allow');
    assert.equal(l.size, 2);
    assert.equal(l.check('192.0.2.2', 1300), 'drop', '.2 was kept, still limited');
    // now nothing has refilled: the oldest (.2) goes
    assert.equal(l.check('192.0.2.4', 1300), 'allow');
    assert.equal(l.size, 2);
    assert.equal(l.check('192.0.2.3', 1301), 'kod', '.3 was kept');
    assert.equal(l.check('192.0.2.2', 1302), 'allow', '.2 was forgotten');
  });

  test('IPv6 clients share a bucket per /64; mapped IPv4 counts as IPv4', () => {
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2');
    assert.equal(clientKey('2001:db8:1:2::bbbb'), '2001:db8:1:2');
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0');
    assert.equal(clientKey('::1'), '0:0:0:0');
    assert.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(clientKey('192.0.2.1'), '192.0.2.1');
    const l = new RateLimiter({ interval: 1000, burst: 1 });
    assert.equal(l.check('2001:db8:1:2::1', 0), 'allow');
    assert.equal(l.check('2001:db8:1:2::2', 0), 'kod');
  });

  test('settings are checked', () => {
    assert.throws(() => new RateLimiter({ burst: 0 }), ValidationError);
    assert.throws(() => new RateLimiter({ interval: Number.NaN }), ValidationError);
    assert.throws(() => new RateLimiter({ maxClients: 0 }), ValidationError);
  });
});

describe('RateLimiter under a flood of new sources', () => {
  const v4 = (n: number) => `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

  /** Work (table entries touched) per request from a new client once the table holds `size` clients. */
  function workPerNewClient(size: number): number {
    const l = new RateLimiter({ maxClients: size });
    for (let n = 0; n < size; n++) l.check(v4(n), n / 1000);
    assert.equal(l.size, size);
    const before = l.work;
    const newcomers = 2000;
    // half of them arrive while nothing has refilled (the oldest goes), half after (the idlest goes)
    for (let n = 0; n < newcomers / 2; n++) l.check(v4(size + n), size / 1000 + 1);
    for (let n = newcomers / 2; n < newcomers; n++) l.check(v4(size + n), 1e9);
    assert.equal(l.size, size, 'the table stays at its bound');
    return (l.work - before) / newcomers;
  }

  test('the cost of a new client does not grow with the table (work counted, not timed)', () => {
    const small = workPerNewClient(1000);
    const large = workPerNewClient(100_000);
    assert.ok(small < 30, `${small} entries touched per new client`);
    assert.ok(large < small * 2, `1k clients: ${small} per new client, 100k clients: ${large}`);
  });

  test('the table never holds more than maxClients, whatever arrives', () => {
    const l = new RateLimiter({ maxClients: 500, interval: 10, burst: 2 });
    for (let n = 0; n < 20_000; n++) {
      l.check(n % 3 ? v4(n) : `2001:db8:${(n & 0xffff).toString(16)}::${n % 7}`, n);
      assert.ok(l.size <= 500);
    }
    assert.equal(l.size, 500);
  });

  test('the hash table agrees with a plain model of the policy (random traffic, small tables)', () => {
    // The policy, written the slow and obvious way: a Map in arrival order plus last-seen times.
    class Model {
      readonly m = new Map<string, { tokens: number; last: number; lastKod: number; born: number }>();
      born = 0;
      constructor(
        readonly interval: number,
        readonly burst: number,
        readonly max: number,
      ) {}
      check(address: string, now: number): string {
        const key = clientKey(address);
        const refilled = Math.max(this.burst * this.interval, this.interval);
        let b = this.m.get(key);
        if (!b) {
          if (this.m.size >= this.max) {
            const all = [...this.m];
            const idlest = all.reduce((a, c) => (c[1].last < a[1].last ? c : a));
            const victim =
              now - idlest[1].last >= refilled
                ? idlest
                : all.reduce((a, c) => (c[1].born < a[1].born ? c : a));
            this.m.delete(victim[0]);
          }
          b = { tokens: this.burst, last: now, lastKod: Number.NEGATIVE_INFINITY, born: this.born++ };
          this.m.set(key, b);
        } else {
          const idle = now - b.last;
          b.tokens = Math.min(this.burst, b.tokens + idle / this.interval);
          if (idle >= refilled) b.born = this.born++;
        }
        b.last = now;
        if (b.tokens >= 1) {
          b.tokens -= 1;
          return 'allow';
        }
        if (now - b.lastKod >= this.interval) {
          b.lastKod = now;
          return 'kod';
        }
        return 'drop';
      }
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 30 })), {
          maxLength: 400,
        }),
        (max, burst, steps) => {
          const l = new RateLimiter({ interval: 10, burst, maxClients: max });
          const model = new Model(10, burst, max);
          let now = 0;
          for (const [who, dt] of steps) {
            now += dt;
            const address = who % 2 ? v4(who) : `2001:db8::${who}:1`;
            assert.equal(l.check(address, now), model.check(address, now));
            assert.equal(l.size, model.m.size);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('addresses and times are checked', () => {
    const l = new RateLimiter();
    for (const bad of ['', 'host.test', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'fe80::zz', null, 5]) {
      assert.throws(() => l.check(bad as string, 0), ValidationError, String(bad));
    }
    assert.throws(() => l.check('192.0.2.1', Number.NaN), ValidationError);
    assert.throws(() => l.check('192.0.2.1', '1' as unknown as number), ValidationError);
    assert.throws(() => new RateLimiter(null as unknown as object), ValidationError);
    assert.throws(() => new RateLimiter({ maxClients: 1.5 }), ValidationError);
    assert.equal(l.check('::FFFF:192.0.2.1', 0), 'allow');
    assert.equal(l.check('fe80::1%eth0', 0), 'allow');
  });
});
