import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { decodeNtpPacket } from '../../src/codec/ntp.js';
import { ntpToUnixNs } from '../../src/codec/ntp-timestamp.js';
import { onDebug } from '../../src/core/debug.js';
import { udpDrops } from '../../src/net/udp-client.js';
import { sntpQuery } from '../../src/ntp/client.js';
import { sntpEngineHandler, sntpStatsFromEngine } from '../../src/ntp/sntp-engine-handler.js';
import { packetTimeNs, realtimeClock } from '../../src/platform/realtime.js';
import { createUdpEngine, type UdpEngine } from '../../src/platform/udp-engine.js';
import { requireFfi } from '../helpers/peers.js';

const engines: UdpEngine[] = [];
const sockets: dgram.Socket[] = [];
after(async () => {
  for (const e of engines) await e.close();
  for (const s of sockets) s.close();
});

async function bound(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

function request(tx: bigint, version = 4, poll = 6): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (version << 3) | 3;
  b[2] = poll;
  b.writeBigUInt64BE(tx, 40);
  return b;
}

/**
 * `total` requests from `ports` sockets (distinct source ports, on 16 addresses of 127/8 so that the address
 * steering spreads them over the workers), at most `window` unanswered per socket, each carrying a unique
 * transmit timestamp. Returns how many replies each request got. When a socket hears nothing for 200 ms its
 * unanswered requests are given up (they stay at 0 replies) and it sends a fresh window, so a dropped datagram
 * costs time but never stops the run short of `total`.
 */
async function flood(
  port: number,
  total: number,
  ports: number,
  window: number,
): Promise<{ replies: Map<bigint, number>; bad: number; kod: number; givenUp: number; clientDrops: number }> {
  const replies = new Map<bigint, number>();
  let bad = 0;
  let kod = 0;
  let givenUp = 0;
  let clientDrops = 0;
  let next = 1n;
  const per = Math.ceil(total / ports);
  await Promise.all(
    Array.from({ length: ports }, async (_, p) => {
      const mine = Math.min(per, total - p * per);
      if (mine <= 0) return;
      const s = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => s.bind(0, `127.0.0.${1 + (p % 16)}`, resolve));
      let sent = 0;
      let inFlight = 0;
      let lastHeard = performance.now();
      await new Promise<void>((resolve) => {
        const send = () => {
          const tx = next++;
          replies.set(tx, 0);
          s.send(request(tx), port, '127.0.0.1');
          sent++;
          inFlight++;
        };
        const finishIfDone = () => {
          if (sent >= mine && inFlight === 0) {
            clearInterval(watchdog);
            resolve();
          }
        };
        const watchdog = setInterval(() => {
          if (inFlight > 0 && performance.now() - lastHeard > 200) {
            givenUp += inFlight;
            inFlight = 0;
            lastHeard = performance.now();
            while (sent < mine && inFlight < window) send();
            finishIfDone();
          }
        }, 50);
        s.on('message', (m) => {
          lastHeard = performance.now();
          if (m.length !== 48 || ((m[0] as number) & 7) !== 4) {
            bad++;
            return;
          }
          if (m[1] === 0) kod++;
          const origin = m.readBigUInt64BE(24);
          const n = replies.get(origin);
          if (n === undefined) bad++;
          else replies.set(origin, n + 1);
          if (n === 0 && inFlight > 0) inFlight--;
          if (sent < mine && inFlight < window) send();
          finishIfDone();
        });
        while (sent < Math.min(window, mine)) send();
      });
      // Replies to requests given up may still be on their way: listen until 300 ms pass in silence.
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (performance.now() - lastHeard > 300) {
            clearInterval(check);
            resolve();
          }
        }, 50);
      });
      clientDrops += udpDrops(s.address().port, 4) ?? 0;
      s.close();
    }),
  );
  return { replies, bad, kod, givenUp, clientDrops };
}

for (const datapath of ['batched', 'dgram'] as const) {
  describe(`SNTP on the UDP engine, ${datapath} datapath`, () => {
    const skip = (t: import('node:test').TestContext): boolean => datapath !== 'dgram' && !requireFfi(t);
    const workers = datapath === 'batched' ? 2 : 1;
    const start = async (config: Parameters<typeof sntpEngineHandler>[0]) => {
      const e = await createUdpEngine({ port: 0, workers, datapath }, sntpEngineHandler(config));
      engines.push(e);
      return e;
    };

    test('origin copied bit for bit; T1 ≤ T2 ≤ T3 ≤ T4 on one clock; T2 from the kernel', async (t) => {
      if (skip(t)) return;
      const e = await start({ leap: 0, stratum: 3, rateLimit: false });
      const s = await bound();
      const clock = realtimeClock();
      for (const tx of [1n, 0xffff_ffff_ffff_ffffn, 0x0123_4567_89ab_cdefn]) {
        const t1 = packetTimeNs(clock.read({ sec: 0, nsec: 0 }));
        const reply = new Promise<Buffer>((resolve) => s.once('message', resolve));
        s.send(request(tx), e.address.port, '127.0.0.1');
        const r = await reply;
        const t4 = packetTimeNs(clock.read({ sec: 0, nsec: 0 }));
        assert.equal(r.length, 48);
        assert.equal(r.readBigUInt64BE(24), tx, 'origin = request transmit, bit for bit');
        const p = decodeNtpPacket(r);
        assert.deepEqual([p.mode, p.version, p.stratum, p.leap, p.poll], [4, 4, 3, 0, 6]);
        const t2 = ntpToUnixNs(p.receiveTimestamp, t1);
        const t3 = ntpToUnixNs(p.transmitTimestamp, t1);
        // NTP fractions resolve 0.23 ns: allow 1 ns of rounding between the clocks' nanoseconds
        assert.ok(t1 <= t2 + 1n && t2 <= t3 + 1n && t3 <= t4 + 1n, `${t1} ${t2} ${t3} ${t4}`);
      }
      const stats = e.stats();
      if (datapath === 'batched') assert.equal(stats.kernelTimestamps, 3);
      assert.equal(sntpStatsFromEngine(stats.handler, stats.sendErrors).answered, 3);
    });

    test("soket's client with kernel timestamps: no reply has a negative round-trip delay (T3 never after departure)", async (t) => {
      if (skip(t)) return;
      const e = await start({ leap: 0, rateLimit: false });
      // T1 and T4 are the client's kernel stamps, T2 the server's; T3 is the server's clock read before
      // sendmmsg plus the send path it has measured. When that estimate ran past the real departure (one query
      // in ten did), the client rejected the reply for a negative delay and the query waited for a retry.
      // Counted from the client's own reasons, so a reply late on a loaded machine (retried) does not count.
      const negative: string[] = [];
      const stop = onDebug((e) => {
        if (e.topic === 'ntp' && e.message.includes('negative round-trip delay')) negative.push(e.message);
      });
      try {
        for (let i = 0; i < 300; i++) await sntpQuery(`127.0.0.1:${e.address.port}`, { timeout: 5000 });
      } finally {
        stop();
      }
      assert.ok(
        negative.length <= 2,
        `${negative.length} of 300 replies rejected: ${negative.slice(0, 3).join('; ')}`,
      );
    });

    test('garbage is dropped and counted; a client over its rate gets one RATE KoD, then silence', async (t) => {
      if (skip(t)) return;
      const e = await start({ leap: 0, rateLimit: { interval: 60_000, burst: 2 } });
      const s = await bound();
      const inbox: Buffer[] = [];
      s.on('message', (m) => inbox.push(m));
      s.send(Buffer.alloc(10), e.address.port, '127.0.0.1'); // too short
      const symmetric = request(9n);
      symmetric[0] = 0x21; // mode 1
      s.send(symmetric, e.address.port, '127.0.0.1');
      for (let i = 1n; i <= 4n; i++) {
        s.send(request(i), e.address.port, '127.0.0.1');
        if (i <= 3n) await new Promise((resolve) => s.once('message', resolve));
      }
      // the 4th request is dropped silently: wait until the server has counted it
      for (let i = 0; i < 200 && e.stats().datagramsIn < 6; i++) await new Promise((r) => setTimeout(r, 10));
      const st = sntpStatsFromEngine(e.stats().handler, 0);
      assert.deepEqual(
        [
          st.received,
          st.answered,
          st.kod,
          st.dropped.malformed,
          st.dropped.notClient,
          st.dropped.rateLimited,
        ],
        [6, 2, 1, 1, 1, 1],
      );
      assert.equal(inbox.length, 3);
      const kod = decodeNtpPacket(inbox[2] as Buffer);
      assert.deepEqual([kod.stratum, kod.leap], [0, 3]);
      assert.equal(Buffer.from(inbox[2]?.subarray(12, 16) ?? []).toString(), 'RATE');
      assert.equal(inbox[2]?.readBigUInt64BE(24), 3n, 'the KoD echoes the origin too');
    });

    test('requests from many source ports across the workers: exactly one reply each, nothing lost silently', async (t) => {
      if (skip(t)) return;
      const total = Number(process.env.SOKET_SNTP_FLOOD ?? 20_000);
      const e = await start({ leap: 0, rateLimit: false });
      const r = await flood(e.address.port, total, 64, datapath === 'batched' ? 8 : 2);
      const counts = [...r.replies.values()];
      const missing = counts.filter((n) => n === 0).length;
      const dupes = counts.filter((n) => n > 1).length;
      const s = e.stats();
      const st = sntpStatsFromEngine(s.handler, s.sendErrors);
      t.diagnostic(
        `${total} requests from ${64} ports on 16 addresses: ${total - missing} answered once, ${missing} unanswered, ${dupes} duplicates; server in ${s.datagramsIn}, out ${s.datagramsOut}, kernel drops ${s.kernelDrops}, ${s.workers} workers, batches ${s.batches} (max ${s.maxBatch}); client sockets dropped ${r.clientDrops}`,
      );
      const sent = r.replies.size;
      assert.equal(sent, total, 'every request was sent');
      assert.equal(dupes, 0);
      assert.equal(r.bad, 0);
      assert.equal(r.kod, 0);
      // every request the server did not answer is accounted for by a counter (kernel queue drops)
      assert.equal(
        st.answered,
        s.datagramsOut + s.sendErrors,
        'every answer sent, or counted as a send error',
      );
      assert.equal(st.received, s.datagramsIn);
      // every request the server did not answer is one its sockets' receive queues dropped (counted), and
      // every reply the client did not see is one its own sockets' queues dropped (counted too)
      assert.equal(s.datagramsIn + s.kernelDrops, sent, 'received, or counted as dropped by the kernel');
      assert.equal(
        missing,
        sent - s.datagramsOut + r.clientDrops,
        'unanswered = server drops and send errors + client drops',
      );
    });
  });
}
