/**
 * Issue 17, item 4: the SNTP client's sanity checks on a reply (RFC 5905's packet tests), as the pure
 * `checkReply` and end to end against a responder that sends each insane reply before a good one.
 *
 * Before the fix a reply with receive timestamp 0 was accepted (offset +4.6 years, delay 9 years) and one with
 * T3 < T2 gave a negative delay: every such reply was taken as the answer.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type DecodedNtpPacket, NtpMode, type NtpPacket } from '../../src/codec/ntp.js';
import { unixMsToNtp } from '../../src/codec/ntp-timestamp.js';
import { TimeoutError } from '../../src/core/errors.js';
import { checkReply, type ReplyExpectation, sntpQuery } from '../../src/ntp/client.js';
import { type Request, type Responder, replyTo, startResponder } from '../helpers/ntp-responder.js';

// A fixed exchange: T1, the server's T2 = T1 + 4 ms and T3 = T1 + 6 ms, T4 = T1 + 10 ms (offset 0, delay 8 ms).
const T1 = 1_760_000_000_000;
const COOKIE = 0x1234_5678_9abc_def0n;

function expectation(overrides: Partial<ReplyExpectation> = {}): ReplyExpectation {
  return {
    version: 4,
    pending: new Map([[COOKIE, { t1Ms: T1, attempt: 1 }]]),
    t4Ms: T1 + 10,
    label: '127.0.0.1:123',
    ...overrides,
  };
}

function reply(overrides: Partial<NtpPacket> = {}): DecodedNtpPacket {
  return {
    leap: 0,
    version: 4,
    mode: NtpMode.server,
    stratum: 2,
    poll: 6,
    precision: -20,
    rootDelay: 0.001,
    rootDispersion: 0.002,
    referenceId: 0xc0000201,
    referenceTimestamp: unixMsToNtp(T1 - 60_000),
    originTimestamp: COOKIE,
    receiveTimestamp: unixMsToNtp(T1 + 4),
    transmitTimestamp: unixMsToNtp(T1 + 6),
    extensionLength: 0,
    ...overrides,
  };
}

/** Insane replies, each breaking one RFC 5905 packet test, and the reason checkReply must give. */
const INSANE: Array<{ what: string; packet: Partial<NtpPacket>; reason: RegExp }> = [
  { what: 'receive timestamp 0', packet: { receiveTimestamp: 0n }, reason: /receive timestamp is zero/ },
  {
    what: 'reference timestamp 0',
    packet: { referenceTimestamp: 0n },
    reason: /reference timestamp is zero/,
  },
  {
    what: 'reference timestamp later than transmit',
    packet: { referenceTimestamp: unixMsToNtp(T1 + 1000) },
    reason: /reference timestamp is later than the transmit/,
  },
  {
    what: 'T3 < T2',
    packet: { receiveTimestamp: unixMsToNtp(T1 + 5), transmitTimestamp: unixMsToNtp(T1 + 4) },
    reason: /T3 < T2/,
  },
  {
    what: 'negative round-trip delay (the server claims to have held the request longer than the round trip)',
    packet: { receiveTimestamp: unixMsToNtp(T1 - 1000), transmitTimestamp: unixMsToNtp(T1 + 5) },
    reason: /negative round-trip delay/,
  },
  { what: 'root dispersion 16 s', packet: { rootDispersion: 16 }, reason: /root distance 16\.\d+ s/ },
  { what: 'root delay 32 s', packet: { rootDelay: 32 }, reason: /root distance 16\.\d+ s/ },
  {
    what: 'root delay / 2 + root dispersion = 16 s exactly',
    packet: { rootDelay: 20, rootDispersion: 6 },
    reason: /root distance 16\.000 s is 16 s or more/,
  },
];

describe('checkReply (pure)', () => {
  test('a sane reply is accepted with the offset and delay of T1..T4', () => {
    const v = checkReply(reply(), expectation());
    assert.equal(v.kind, 'accept');
    if (v.kind !== 'accept') return;
    assert.ok(Math.abs(v.offset) < 1e-6, `offset ${v.offset}`);
    assert.ok(Math.abs(v.delay - 0.008) < 1e-6, `delay ${v.delay}`);
    assert.equal(v.attempt, 1);
    assert.equal(v.t1Ms, T1);
  });

  for (const c of INSANE) {
    test(`ignored: ${c.what}`, () => {
      const v = checkReply(reply(c.packet), expectation());
      assert.equal(
        v.kind,
        'ignore',
        JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}` : x)),
      );
      if (v.kind === 'ignore') assert.match(v.reason, c.reason);
    });
  }

  test('just under the limits is still accepted: root distance 15.99 s, a delay negative within precision', () => {
    assert.equal(checkReply(reply({ rootDelay: 20, rootDispersion: 5.99 }), expectation()).kind, 'accept');
    // T3 - T2 one microsecond longer than T4 - T1: rounding of two clocks, not an insane server.
    const within = reply({ receiveTimestamp: unixMsToNtp(T1), transmitTimestamp: unixMsToNtp(T1 + 10.001) });
    const v = checkReply(within, expectation());
    assert.equal(v.kind, 'accept');
    if (v.kind === 'accept') assert.ok(v.delay < 0 && v.delay > -2e-6, `delay ${v.delay}`);
    // ... and 5 µs is beyond 2^-20 s + 1 µs.
    const beyond = reply({ receiveTimestamp: unixMsToNtp(T1), transmitTimestamp: unixMsToNtp(T1 + 10.005) });
    assert.equal(checkReply(beyond, expectation()).kind, 'ignore');
    // A coarse server clock (precision 2^-10 s, about 1 ms) widens the tolerance.
    assert.equal(checkReply({ ...beyond, precision: -10 }, expectation()).kind, 'accept');
  });

  test('timestamps across the 2036 era boundary compare as differences, not as raw numbers', () => {
    // Reference just before the boundary (era 0), transmit just after it (era 1, small raw value).
    const ERA = 1n << 64n;
    const v = checkReply(
      reply({
        referenceTimestamp: ERA - (1n << 32n), // 1 s before the wrap
        receiveTimestamp: 1n << 32n,
        transmitTimestamp: (1n << 32n) + 1000n,
      }),
      expectation(),
    );
    // The server's clock is years from T1, which is its business (offset); no sanity test trips on the wrap.
    assert.equal(v.kind, 'accept', v.kind === 'ignore' ? v.reason : v.kind);
  });

  test('an unsynchronised server or a kiss-o-death ends the query instead', () => {
    assert.equal(checkReply(reply({ leap: 3 }), expectation()).kind, 'fail');
    assert.equal(checkReply(reply({ stratum: 16 }), expectation()).kind, 'fail');
  });
});

describe('sntpQuery against insane replies', () => {
  const open: Responder[] = [];
  after(async () => {
    for (const r of open) await r.close();
  });

  /** A responder that answers each request with `bad` replies first, then (unless `goodToo` is false) a good one. */
  async function responder(bad: (req: Request) => Uint8Array[], goodToo = true): Promise<Responder> {
    const r = await startResponder((req, s) => {
      for (const b of bad(req)) s.send(req, b);
      if (goodToo) s.send(req, replyTo(req));
    });
    open.push(r);
    return r;
  }

  const now = () => performance.timeOrigin + performance.now();
  const cases: Array<{ what: string; bad: (req: Request) => Uint8Array }> = [
    { what: 'receive timestamp 0', bad: (req) => replyTo(req, { receiveTimestamp: 0n }) },
    { what: 'reference timestamp 0', bad: (req) => replyTo(req, { referenceTimestamp: 0n }) },
    {
      what: 'reference later than transmit',
      bad: (req) => replyTo(req, { referenceTimestamp: unixMsToNtp(now() + 60_000) }),
    },
    {
      what: 'T3 < T2',
      bad: (req) =>
        replyTo(req, { receiveTimestamp: unixMsToNtp(now()), transmitTimestamp: unixMsToNtp(now() - 1) }),
    },
    {
      what: 'negative round-trip delay',
      bad: (req) =>
        replyTo(req, {
          receiveTimestamp: unixMsToNtp(now() - 1000),
          transmitTimestamp: unixMsToNtp(now()),
        }),
    },
    {
      what: 'root delay/2 + root dispersion ≥ 16 s',
      bad: (req) => replyTo(req, { rootDelay: 8, rootDispersion: 12 }),
    },
  ];

  for (const c of cases) {
    test(`${c.what}: ignored and counted; the good reply after it is taken`, async () => {
      const r = await responder((req) => [c.bad(req)]);
      const res = await sntpQuery('127.0.0.1', { port: r.port, timeout: 3000 });
      assert.equal(res.ignored, 1);
      assert.equal(res.tries, 1);
      assert.ok(res.delay >= 0, `delay ${res.delay}`);
      assert.ok(Math.abs(res.offset) < 1, `offset ${res.offset}`);
      assert.ok(res.rootDistance < 16);
    });
  }

  test('only insane replies: the query keeps waiting through every try and times out', async () => {
    const r = await responder((req) => cases.map((c) => c.bad(req)), false);
    await assert.rejects(sntpQuery('127.0.0.1', { port: r.port, timeout: 600, retries: 2 }), TimeoutError);
    assert.equal(r.requests.length, 3, 'every try was made: no insane reply ended the query');
  });
});
