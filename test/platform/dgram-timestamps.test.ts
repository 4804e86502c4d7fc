import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { ntpToUnixNs } from '../../src/codec/ntp-timestamp.js';
import { sntpQuery } from '../../src/ntp/client.js';
import { createSntpServer, type SntpServer } from '../../src/ntp/server.js';
import { dgramKernelStamps } from '../../src/platform/dgram-timestamps.js';
import { ffiAvailable } from '../../src/platform/ffi.js';
import { packetTimeNs, realtimeClock, writeNtpTime } from '../../src/platform/realtime.js';
import { requireFfi } from '../helpers/peers.js';

const ffi = ffiAvailable();
const sockets: dgram.Socket[] = [];
const servers: SntpServer[] = [];
after(async () => {
  for (const s of sockets) s.close();
  for (const s of servers) await s.close();
});

function needFfi(t: import('node:test').TestContext): boolean {
  return requireFfi(t, 'kernel timestamps');
}

describe('realtime clock', () => {
  test('clock_gettime(CLOCK_REALTIME) through FFI; NTP timestamps written exactly from ns', (t) => {
    const clock = realtimeClock();
    if (ffi.ok) assert.equal(clock.source, 'clock_gettime');
    const a = clock.read({ sec: 0, nsec: 0 });
    const b = clock.read({ sec: 0, nsec: 0 });
    assert.ok(packetTimeNs(b) >= packetTimeNs(a));
    assert.ok(Math.abs(clock.now() - Date.now()) < 1000, 'the same wall clock as Date');
    const buf = new Uint8Array(8);
    for (const nsec of [0, 1, 999_999_999, 500_000_000]) {
      writeNtpTime(buf, 0, { sec: 1_700_000_000, nsec });
      const back = ntpToUnixNs(Buffer.from(buf).readBigUInt64BE(0));
      const want = 1_700_000_000n * 1_000_000_000n + BigInt(nsec);
      assert.ok(want - back >= 0n && want - back <= 1n, `${nsec}: ${back} vs ${want}`);
    }
    t.diagnostic(`clock source ${clock.source}`);
  });
});

describe('kernel timestamps on a dgram socket', () => {
  test('T1 from the transmit timestamp, T4 from the receive timestamp: before ≤ T1 ≤ T4 ≤ after', async (t) => {
    if (!needFfi(t)) return;
    const server = dgram.createSocket('udp4');
    sockets.push(server);
    server.on('message', (m, r) => server.send(m, r.port, r.address));
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    const c = dgram.createSocket('udp4');
    sockets.push(c);
    await new Promise<void>((resolve) => c.connect(server.address().port, '127.0.0.1', resolve));
    const stamps = dgramKernelStamps(c);
    assert.ok(stamps);
    assert.equal(stamps.tx, true);
    const clock = realtimeClock();
    for (let i = 0; i < 5; i++) {
      const before = clock.now();
      const got = new Promise<{ t4: number | undefined; after: number }>((resolve) =>
        c.once('message', () => resolve({ t4: stamps.received(), after: clock.now() })),
      );
      c.send(Buffer.from(`ping ${i}`));
      const t1 = stamps.sent();
      const { t4, after: afterMs } = await got;
      assert.ok(t1 !== undefined && t4 !== undefined);
      // ms doubles carry ~0.25 µs: compare with that much slack
      const eps = 0.001;
      assert.ok(before <= t1 + eps, `before ${before} ≤ T1 ${t1}`);
      assert.ok(t1 <= t4 + eps, `T1 ${t1} ≤ T4 ${t4}`);
      assert.ok(t4 <= afterMs + eps, `T4 ${t4} ≤ after ${afterMs}`);
    }
  });

  test('sntpQuery against the batched server: T1 ≤ T2 ≤ T3 ≤ T4, every one from the kernel or CLOCK_REALTIME', async (t) => {
    if (!needFfi(t)) return;
    const s = await createSntpServer({ port: 0, leap: 0, rateLimit: false, workers: 1 });
    servers.push(s);
    assert.equal(s.datapath, 'batched');
    for (let i = 0; i < 5; i++) {
      const r = await sntpQuery('127.0.0.1', { port: s.address.port, timeout: 2000 });
      const pivot = BigInt(Math.round(r.time)) * 1_000_000n;
      const [t1, t2, t3, t4] = [r.originTime, r.receiveTime, r.transmitTime, r.destinationTime].map((x) =>
        ntpToUnixNs(x, pivot),
      ) as [bigint, bigint, bigint, bigint];
      // T1 and T4 pass through ms doubles (≈ 0.25 µs); T2 and T3 are exact
      const eps = 500n;
      assert.ok(t1 <= t2 + eps && t2 <= t3 && t3 <= t4 + eps, `${t1} ${t2} ${t3} ${t4}`);
      assert.ok(r.delay >= 0);
    }
  });
});
