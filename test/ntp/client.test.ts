/**
 * sntpQuery and getNetworkTime against small responders of our own on loopback, each breaking one rule.
 * Kiss-o'-death replies come from our responder: Debian's chrony 4.3 has no `kod` option on `ratelimit`, so it
 * cannot send one (see docs/api.md, SNTP).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { asciiToRefId } from '../../src/codec/ntp.js';
import { NTP_ERA1_START_UNIX_NS, unixMsToNtp, unixNsToNtp } from '../../src/codec/ntp-timestamp.js';
import { manualClock } from '../../src/core/clock.js';
import {
  AbortError,
  KissOfDeathError,
  NetworkError,
  SoketError,
  TimeoutError,
  UnsynchronizedError,
  ValidationError,
} from '../../src/core/errors.js';
import { sntpQuery } from '../../src/ntp/client.js';
import { combineServers, getNetworkTime } from '../../src/ntp/network-time.js';
import { freeUdpPort } from '../helpers/chrony.js';
import { otherSocket, type Responder, replyTo, startResponder } from '../helpers/ntp-responder.js';

const open: Array<{ close(): unknown }> = [];
after(async () => {
  for (const o of open) await o.close();
});

async function responder(...args: Parameters<typeof startResponder>): Promise<Responder> {
  const r = await startResponder(...args);
  open.push(r);
  return r;
}

describe('sntpQuery', () => {
  test('accepts a good reply and computes offset and delay from T1..T4', async () => {
    const r = await responder((req, s) => s.send(req, replyTo(req, {}, 250)));
    const res = await sntpQuery('127.0.0.1', { port: r.port, timeout: 2000 });
    assert.equal(res.address, '127.0.0.1');
    assert.equal(res.port, r.port);
    assert.equal(res.family, 4);
    assert.equal(res.mode, 4);
    assert.equal(res.version, 4);
    assert.equal(res.stratum, 2);
    assert.equal(res.referenceIdText, '192.0.2.1');
    assert.equal(res.leapText, 'no warning');
    assert.equal(res.rootDelay, Math.round(0.001 * 65536) / 65536); // NTP short format: 2^-16 s steps
    assert.equal(res.tries, 1);
    assert.equal(res.ignored, 0);
    // the responder's clock is 250 ms ahead; T2 and T3 were taken between T1 and T4, so the error is within δ/2
    assert.ok(
      Math.abs(res.offset - 0.25) <= res.delay / 2 + 1e-6,
      `offset ${res.offset}, delay ${res.delay}`,
    );
    assert.ok(res.delay >= 0);
    assert.equal(res.error, res.delay / 2);
    assert.ok(Math.abs(res.rootDistance - (res.delay / 2 + 0.0005 + 0.002)) < 1e-4);
    assert.ok(res.originTime < res.destinationTime);
  });

  test('the request is minimal: version, mode 3 and a random transmit timestamp, never T1', async () => {
    const clock = manualClock(1_800_000_000_000);
    const r = await responder((req, s) => s.send(req, replyTo(req)));
    const res = await sntpQuery('127.0.0.1', { port: r.port, clock, version: 3 });
    const req = r.requests[0];
    assert.ok(req);
    assert.equal(req.bytes.length, 48);
    assert.equal(req.bytes[0], 0x1b); // LI 0, VN 3, mode 3
    assert.ok(req.bytes.subarray(1, 40).every((b) => b === 0));
    assert.notEqual(req.packet.transmitTimestamp, 0n);
    assert.notEqual(req.packet.transmitTimestamp, unixMsToNtp(clock.now()));
    assert.equal(res.originTime, unixMsToNtp(clock.now())); // T1 is kept locally
    assert.equal(res.version, 3);
  });

  test('a reply whose origin is not the cookie, bit for bit, is ignored', async () => {
    const r = await responder((req, s) => {
      const t = req.packet.transmitTimestamp;
      s.send(req, replyTo(req, { originTimestamp: t ^ 1n })); // one bit off
      s.send(req, replyTo(req, { originTimestamp: 0n }));
      s.send(req, replyTo(req, { originTimestamp: unixMsToNtp(performance.timeOrigin + performance.now()) }));
      setTimeout(() => s.send(req, replyTo(req)), 20);
    });
    const res = await sntpQuery('127.0.0.1', { port: r.port, timeout: 2000 });
    assert.equal(res.ignored, 3);
    const only = await responder((req, s) =>
      s.send(req, replyTo(req, { originTimestamp: req.packet.transmitTimestamp + 1n })),
    );
    await assert.rejects(sntpQuery('127.0.0.1', { port: only.port, timeout: 300, retries: 0 }), TimeoutError);
  });

  test('wrong mode, wrong version, zero transmit and short packets are ignored', async () => {
    const r = await responder((req, s) => {
      s.send(req, replyTo(req, { mode: 3 }));
      s.send(req, replyTo(req, { mode: 5 }));
      s.send(req, replyTo(req, { version: 3 }));
      s.send(req, replyTo(req, { transmitTimestamp: 0n }));
      s.send(req, replyTo(req).subarray(0, 47));
      setTimeout(() => s.send(req, replyTo(req)), 20);
    });
    const res = await sntpQuery('127.0.0.1', { port: r.port, timeout: 2000 });
    assert.equal(res.ignored, 5);
  });

  test('a reply from another port or another address is not accepted', async () => {
    const wrongPort = await otherSocket('127.0.0.1');
    const wrongAddr = await otherSocket('127.0.0.2');
    open.push({ close: () => wrongPort.close() }, { close: () => wrongAddr.close() });
    const spoofOnly = await responder((req, s) => {
      s.send(req, replyTo(req), wrongPort);
      s.send(req, replyTo(req), wrongAddr);
    });
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: spoofOnly.port, timeout: 300, retries: 0 }),
      TimeoutError,
    );
    const spoofFirst = await responder((req, s) => {
      s.send(req, replyTo(req, {}, 3_600_000), wrongPort); // an attacker's hour
      s.send(req, replyTo(req, {}, 3_600_000), wrongAddr);
      setTimeout(() => s.send(req, replyTo(req)), 30);
    });
    const res = await sntpQuery('127.0.0.1', { port: spoofFirst.port, timeout: 2000 });
    assert.ok(Math.abs(res.offset) < 1, `took the spoofed time: ${res.offset}`);
  });

  test('kiss-o-death: RATE says back off, DENY and RSTR say stop asking', async () => {
    const kod = (code: string) =>
      responder((req, s) =>
        s.send(
          req,
          replyTo(req, {
            leap: 3,
            stratum: 0,
            referenceId: asciiToRefId(code),
            receiveTimestamp: req.packet.transmitTimestamp,
            transmitTimestamp: req.packet.transmitTimestamp,
          }),
        ),
      );
    const rate = await kod('RATE');
    await assert.rejects(sntpQuery('127.0.0.1', { port: rate.port, timeout: 2000 }), (err: unknown) => {
      assert.ok(err instanceof KissOfDeathError);
      assert.equal(err.code, 'SOKET_KOD');
      assert.equal(err.kissCode, 'RATE');
      assert.equal(err.server, `127.0.0.1:${rate.port}`);
      assert.match(
        err.message,
        /Kiss-o'-Death RATE: rate exceeded; back off and query this server less often$/,
      );
      return true;
    });
    assert.equal(rate.requests.length, 1, 'a kiss-o-death is final: no retry');
    for (const code of ['DENY', 'RSTR']) {
      const r = await kod(code);
      await assert.rejects(
        sntpQuery('127.0.0.1', { port: r.port, timeout: 2000 }),
        (err: unknown) =>
          err instanceof KissOfDeathError &&
          err.kissCode === code &&
          /stop sending requests to this server$/.test(err.message),
      );
    }
    const other = await kod('INIT');
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: other.port, timeout: 2000 }),
      (err: unknown) => err instanceof KissOfDeathError && /no usable time/.test(err.message),
    );
  });

  test('a forged kiss-o-death (wrong origin) and unknown X codes are ignored', async () => {
    const r = await responder((req, s) => {
      s.send(req, replyTo(req, { stratum: 0, referenceId: asciiToRefId('DENY'), originTimestamp: 42n }));
      s.send(req, replyTo(req, { stratum: 0, referenceId: asciiToRefId('XFOO') }));
      setTimeout(() => s.send(req, replyTo(req)), 20);
    });
    const res = await sntpQuery('127.0.0.1', { port: r.port, timeout: 2000 });
    assert.equal(res.ignored, 2);
  });

  test('LI = 3 or stratum 16 is "not synchronised"', async () => {
    const li3 = await responder((req, s) => s.send(req, replyTo(req, { leap: 3 })));
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: li3.port, timeout: 2000 }),
      (err: unknown) =>
        err instanceof UnsynchronizedError &&
        err.code === 'SOKET_UNSYNCHRONIZED' &&
        err.message === `NTP server 127.0.0.1:${li3.port} is not synchronised (leap indicator 3)`,
    );
    const s16 = await responder((req, s) => s.send(req, replyTo(req, { stratum: 16 })));
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: s16.port, timeout: 2000 }),
      /is not synchronised \(stratum 16\)/,
    );
  });

  test('retries: a fresh cookie each try, spread over the timeout', async () => {
    const r = await responder((req, s) => {
      if (s.requests.length === 3) s.send(req, replyTo(req));
    });
    const res = await sntpQuery('127.0.0.1', { port: r.port, timeout: 1500, retries: 2 });
    assert.equal(res.tries, 3);
    const cookies = new Set(r.requests.map((q) => q.packet.transmitTimestamp));
    assert.equal(cookies.size, 3);
  });

  test('a late reply to an earlier try is still matched to its own T1', async () => {
    const r = await responder((req, s) => {
      if (s.requests.length === 1) setTimeout(() => s.send(req, replyTo(req)), 400);
    });
    const res = await sntpQuery('127.0.0.1', { port: r.port, timeout: 1200, retries: 3 });
    assert.ok(res.tries >= 2, `accepted after try ${res.tries}`);
    assert.ok(res.delay > 0.35, `delay ${res.delay} measured from the first try's T1`);
  });

  test('timeout: the message says where, how long and how many tries', async () => {
    const r = await responder(() => {});
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: r.port, timeout: 300, retries: 2 }),
      (err: unknown) => {
        assert.ok(err instanceof TimeoutError);
        assert.equal(
          err.message,
          `Waiting for a response from NTP server 127.0.0.1:${r.port} timed out after 300 ms (3 tries of 100 ms)`,
        );
        return true;
      },
    );
    assert.equal(r.requests.length, 3);
  });

  test('abort, connection refused, bad options', async () => {
    const r = await responder(() => {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: r.port, timeout: 5000, signal: controller.signal }),
      AbortError,
    );
    const closed = await freeUdpPort();
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: closed, timeout: 2000 }),
      (err: unknown) =>
        err instanceof NetworkError &&
        err.code === 'ECONNREFUSED' &&
        err.message === `Cannot reach NTP server 127.0.0.1:${closed}: connection refused`,
    );
    await assert.rejects(sntpQuery('127.0.0.1', { port: r.port, version: 5 }), /Invalid NTP version '5'/);
    await assert.rejects(sntpQuery('127.0.0.1', { port: r.port, family: 6 }), ValidationError);
    await assert.rejects(sntpQuery('bad..name', { port: r.port }), ValidationError);
    await assert.rejects(sntpQuery('127.0.0.1', { port: r.port, retries: -1 }), ValidationError);
  });

  test('HOST:PORT servers and an injected clock across the 2036 era wrap', async () => {
    // local clock 4 s after the wrap, frozen; the server says 6 s before it: offset -10 s, delay 0
    const wrapMs = Number(NTP_ERA1_START_UNIX_NS / 1_000_000n);
    const clock = manualClock(wrapMs + 4000);
    const serverTime = unixNsToNtp(NTP_ERA1_START_UNIX_NS - 6_000_000_000n);
    const r = await responder((req, s) =>
      s.send(req, replyTo(req, { receiveTimestamp: serverTime, transmitTimestamp: serverTime })),
    );
    const res = await sntpQuery(`127.0.0.1:${r.port}`, { clock });
    assert.equal(res.offset, -10);
    assert.equal(res.delay, 0);
    assert.equal(res.time, wrapMs - 6000);
    assert.equal(res.originTime >> 32n, 4n); // T1: seconds field wrapped to 4
  });
});

describe('getNetworkTime', () => {
  test('lowest-delay sample per server; a majority agrees and the liar is left out', async () => {
    const slowFirst = await responder((req, s) => {
      // the first two samples wait 80 ms before answering (queueing), the third is prompt
      if (s.requests.length <= 2) setTimeout(() => s.send(req, replyTo(req)), 80);
      else s.send(req, replyTo(req));
    });
    const honest = await responder((req, s) => s.send(req, replyTo(req)));
    const liar = await responder((req, s) => s.send(req, replyTo(req, {}, 5000)));
    const servers = [`127.0.0.1:${slowFirst.port}`, `127.0.0.1:${honest.port}`, `127.0.0.1:${liar.port}`];
    const t = await getNetworkTime(servers, { samples: 3, interval: 10, timeout: 2000 });
    assert.equal(t.method, 'intersection');
    assert.deepEqual(t.agreed, servers.slice(0, 2));
    assert.deepEqual(t.disagreed, [servers[2]]);
    assert.ok(Math.abs(t.offset) < 0.05, `offset ${t.offset}`);
    assert.ok(t.spread < 0.05);
    const first = t.servers[0];
    assert.equal(first?.samples.length, 3);
    assert.ok(first?.best);
    assert.equal(first.best.delay, Math.min(...first.samples.map((x) => x.delay)));
    assert.ok(first.best.delay < 0.08, `chose the prompt sample: ${first.best.delay}`);
    assert.equal(t.servers[2]?.agreed, false);
  });

  test('a kiss-o-death stops sampling that server; the others still count', async () => {
    const rate = await responder((req, s) =>
      s.send(req, replyTo(req, { stratum: 0, leap: 3, referenceId: asciiToRefId('RATE') })),
    );
    const good = await responder((req, s) => s.send(req, replyTo(req)));
    const t = await getNetworkTime([`127.0.0.1:${rate.port}`, `127.0.0.1:${good.port}`], {
      samples: 3,
      interval: 10,
    });
    assert.equal(rate.requests.length, 1);
    assert.equal(t.servers[0]?.error?.code, 'SOKET_KOD');
    assert.equal(t.servers[1]?.samples.length, 3);
    assert.deepEqual(t.agreed, [`127.0.0.1:${good.port}`]);
  });

  test('no usable server: one server rethrows its error, several are summarised', async () => {
    const silent = await responder(() => {});
    await assert.rejects(
      getNetworkTime(`127.0.0.1:${silent.port}`, { samples: 1, timeout: 200, retries: 0 }),
      TimeoutError,
    );
    const silent2 = await responder(() => {});
    await assert.rejects(
      getNetworkTime([`127.0.0.1:${silent.port}`, `127.0.0.1:${silent2.port}`], {
        samples: 1,
        timeout: 200,
        retries: 0,
      }),
      (err: unknown) =>
        err instanceof SoketError &&
        err.code === 'SOKET_TIMEOUT' &&
        /^No NTP server gave a usable time: /.test(err.message),
    );
    await assert.rejects(getNetworkTime([]), ValidationError);
    await assert.rejects(getNetworkTime(['127.0.0.1:0x']), ValidationError);
  });

  test('combineServers: intersection with a majority, median without', () => {
    const a = combineServers(
      [
        { offset: 0.001, rootDistance: 0.01 },
        { offset: 0.003, rootDistance: 0.01 },
        { offset: 5, rootDistance: 0.01 },
      ],
      'intersection',
    );
    assert.equal(a.method, 'intersection');
    assert.deepEqual([...a.agreedIndexes], [0, 1]);
    assert.ok(Math.abs(a.offset - 0.002) < 1e-12);
    assert.ok(a.error <= 0.01 + 1e-12);
    const b = combineServers([
      { offset: 0, rootDistance: 0.001 },
      { offset: 1, rootDistance: 0.001 },
    ]);
    assert.equal(b.method, 'median');
    assert.equal(b.offset, 0.5);
    assert.deepEqual([...b.agreedIndexes], []);
    const one = combineServers([{ offset: 0.25, rootDistance: 0.002 }]);
    assert.deepEqual(
      { ...one, agreedIndexes: [...one.agreedIndexes] },
      {
        offset: 0.25,
        error: 0.0020000000000000018,
        method: 'intersection',
        agreedIndexes: [0],
      },
    );
  });
});
