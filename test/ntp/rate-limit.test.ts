import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
