import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { asciiToRefId, decodeNtpPacket, encodeNtpPacket, refIdToText } from '../../src/codec/ntp.js';
import { ntpDiffSeconds, unixMsToNtp } from '../../src/codec/ntp-timestamp.js';
import { KissOfDeathError, NetworkError, ValidationError } from '../../src/core/errors.js';
import { sntpQuery } from '../../src/ntp/client.js';
import { NtsClient } from '../../src/ntp/nts-client.js';
import { NtsCookieKeys } from '../../src/ntp/nts-cookies.js';
import { createNtsKeServer, type NtsKeServer } from '../../src/ntp/nts-ke-server.js';
import { createSntpServer, type SntpServer, type SntpServerOptions } from '../../src/ntp/server.js';
import { appendMac, parseKeyFile, verifyMac } from '../../src/ntp/symmetric-key.js';
import { ffiAvailable } from '../../src/platform/ffi.js';
import { readKernelClock } from '../../src/platform/kernel-clock.js';
import { requireFfi } from '../helpers/peers.js';

const servers: SntpServer[] = [];
const keServers: NtsKeServer[] = [];
const sockets: dgram.Socket[] = [];
after(async () => {
  for (const s of keServers) await s.close();
  for (const s of servers) await s.close();
  for (const s of sockets) s.close();
});

async function server(options: SntpServerOptions = {}): Promise<SntpServer> {
  const s = await createSntpServer({ port: 0, leap: 0, ...options });
  servers.push(s);
  return s;
}

/** A client socket that collects every datagram it receives. */
async function client(from = '127.0.0.1'): Promise<{
  send(port: number, bytes: Uint8Array): void;
  inbox: Buffer[];
  next(): Promise<Buffer>;
}> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((resolve) => s.bind(0, from, resolve));
  const inbox: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  s.on('message', (b) => {
    inbox.push(b);
    waiters.shift()?.(b);
  });
  return {
    inbox,
    send: (port, bytes) => s.send(bytes, port, '127.0.0.1'),
    next: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

function request(version = 4, poll = 6, transmit = randomBytes(8)): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (version << 3) | 3;
  b[2] = poll;
  transmit.copy(b, 40);
  return b;
}

const now = () => performance.timeOrigin + performance.now();

describe('createSntpServer', () => {
  test('answers mode 3 with mode 4, copies version and poll, origin = request transmit bit for bit', async () => {
    const s = await server({ stratum: 3, referenceId: '192.0.2.7', precision: -22, rateLimit: false });
    const c = await client();
    for (const version of [1, 2, 3, 4]) {
      for (const tx of [randomBytes(8), Buffer.alloc(8, 0xff), Buffer.from('0000000000000001', 'hex')]) {
        const req = request(version, version - 10, tx);
        const t1 = unixMsToNtp(now());
        c.send(s.address.port, req);
        const reply = await c.next();
        const t4 = unixMsToNtp(now());
        assert.equal(reply.length, 48);
        assert.deepEqual(reply.subarray(24, 32), tx, 'origin is the request transmit, byte for byte');
        const p = decodeNtpPacket(reply);
        assert.equal(p.mode, 4);
        assert.equal(p.version, version);
        assert.equal(p.poll, version - 10);
        assert.equal(p.leap, 0);
        assert.equal(p.stratum, 3);
        assert.equal(p.precision, -22);
        assert.equal(refIdToText(p.referenceId, p.stratum), '192.0.2.7');
        // same clock on both sides: T1 <= T2 <= T3 <= T4
        assert.ok(ntpDiffSeconds(p.receiveTimestamp, t1) >= -1e-6);
        assert.ok(ntpDiffSeconds(p.transmitTimestamp, p.receiveTimestamp) >= 0);
        assert.ok(ntpDiffSeconds(t4, p.transmitTimestamp) >= -1e-6);
        assert.ok(ntpDiffSeconds(p.transmitTimestamp, p.referenceTimestamp) >= 0);
        assert.ok(ntpDiffSeconds(p.transmitTimestamp, p.referenceTimestamp) < 2);
      }
    }
    assert.equal(s.stats().answered, 12);
  });

  test('a reply is never larger than its request: extension fields are not echoed', async () => {
    const s = await server();
    const c = await client();
    // an unknown extension field (type 0x2005, 68 bytes): well-formed, ignored
    const field = Buffer.alloc(68, 0xab);
    field.writeUInt16BE(0x2005, 0);
    field.writeUInt16BE(68, 2);
    const big = Buffer.concat([request(), field]);
    c.send(s.address.port, big);
    const reply = await c.next();
    assert.equal(reply.length, 48);
    assert.deepEqual(reply.subarray(24, 32), big.subarray(40, 48));
  });

  test('a tail that is not well-formed extension fields or a MAC (RFC 7822) is dropped as malformed', async () => {
    const s = await server();
    const c = await client();
    c.send(s.address.port, Buffer.concat([request(), Buffer.alloc(68, 0xab)])); // a field longer than the packet
    c.send(s.address.port, Buffer.concat([request(), Buffer.alloc(8, 1)])); // 8 stray bytes
    const good = request();
    c.send(s.address.port, good);
    const reply = await c.next();
    assert.deepEqual(reply.subarray(24, 32), good.subarray(40, 48), 'the only reply is to the good request');
    assert.equal(s.stats().dropped.malformed, 2);
  });

  test('malformed and non-client packets are dropped silently and counted', async () => {
    const s = await server();
    const c = await client();
    const bad: Buffer[] = [Buffer.alloc(0), request().subarray(0, 47)];
    for (const v of [0, 5, 6, 7]) bad.push(request(v));
    for (const mode of [0, 1, 2, 4, 5, 6, 7]) {
      const b = request();
      b[0] = (4 << 3) | mode;
      bad.push(b);
    }
    for (const b of bad) c.send(s.address.port, b);
    const good = request();
    c.send(s.address.port, good);
    const reply = await c.next();
    assert.deepEqual(reply.subarray(24, 32), good.subarray(40, 48), 'the only reply is to the good request');
    // a second good request's reply arrives after anything the bad ones could have caused
    c.send(s.address.port, request());
    await c.next();
    assert.equal(c.inbox.length, 2);
    const st = s.stats();
    assert.equal(st.received, bad.length + 2);
    assert.equal(st.answered, 2);
    assert.deepEqual(st.dropped, { malformed: 6, notClient: 7, rateLimited: 0 });
  });

  test('rate limit per client: a RATE kiss-o-death once, then silence; on by default', async () => {
    const s = await server({ rateLimit: { burst: 3, interval: 10_000 } });
    const c = await client();
    for (let i = 0; i < 3; i++) {
      c.send(s.address.port, request());
      assert.equal(decodeNtpPacket(await c.next()).stratum, 10);
    }
    const over = request(4, 2);
    c.send(s.address.port, over);
    const kod = await c.next();
    assert.equal(kod.length, 48);
    const p = decodeNtpPacket(kod);
    assert.equal(p.leap, 3);
    assert.equal(p.mode, 4);
    assert.equal(p.stratum, 0);
    assert.equal(p.referenceId, asciiToRefId('RATE'));
    assert.equal(p.poll, 4, 'poll raised to the limiter interval (10 s → 2^4 s)');
    const tx = over.readBigUInt64BE(40);
    assert.equal(p.originTimestamp, tx);
    assert.equal(p.receiveTimestamp, tx, 'a KoD carries no usable time');
    assert.equal(p.transmitTimestamp, tx);
    c.send(s.address.port, request());
    c.send(s.address.port, request());
    // soket's own client reports the KoD (from another port of the same address: same bucket)
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: s.address.port, timeout: 300, retries: 0 }),
      (err: unknown) => err instanceof KissOfDeathError || (err as Error).name === 'TimeoutError',
    );
    const st = s.stats();
    assert.equal(st.answered, 3);
    assert.equal(st.kod, 1);
    assert.ok(st.dropped.rateLimited >= 2);
    assert.equal(c.inbox.length, 4);

    const defaults = await server();
    const d = await client();
    for (let i = 0; i < 9; i++) d.send(defaults.address.port, request());
    await d.next();
    while (defaults.stats().received < 9) await new Promise((r) => setTimeout(r, 5));
    assert.equal(defaults.stats().answered, 8, 'default burst is 8');
    assert.equal(defaults.stats().kod, 1);

    const open = await server({ rateLimit: false });
    const o = await client();
    for (let i = 0; i < 50; i++) {
      o.send(open.address.port, request());
      await o.next();
    }
    assert.equal(open.stats().answered, 50);
  });

  test('soket client against soket server: offset within the delay bound', async () => {
    const s = await server({ stratum: 1, referenceId: 'GPS' });
    const r = await sntpQuery(`127.0.0.1:${s.address.port}`, { timeout: 2000 });
    assert.equal(r.stratum, 1);
    assert.equal(r.referenceIdText, 'GPS');
    assert.ok(Math.abs(r.offset) <= r.delay / 2 + 1e-6, `offset ${r.offset}, delay ${r.delay}`);
  });

  test('leap indicator: fixed, or from the kernel clock state (adjtimex)', async (t) => {
    const fixed = await server({ leap: 1 });
    assert.equal(fixed.leap, 1);
    assert.equal(fixed.leapSource, 'option');
    const unsync = await server({ leap: 3, stratum: 4 });
    const c = await client();
    c.send(unsync.address.port, request());
    const p = decodeNtpPacket(await c.next());
    assert.equal(p.leap, 3);
    assert.equal(p.stratum, 16, 'an unsynchronised server says stratum 16 as well');
    assert.equal(unsync.stratum, 16);

    if (!ffiAvailable().ok) {
      t.diagnostic('FFI unavailable: kernel leap not checked here (the CLI test covers the fallback)');
      return;
    }
    const k = readKernelClock();
    const kernel = await server({ leap: 'kernel' });
    assert.equal(kernel.leapSource, 'kernel');
    assert.equal(kernel.leap, k.leap);
    c.send(kernel.address.port, request());
    assert.equal(decodeNtpPacket(await c.next()).leap, k.leap);
    assert.equal(k.synchronized, k.leap !== 3);
    assert.ok([0, 1, 2, 3, 4, 5].includes(k.state));
  });

  test('options are checked; a taken port is EADDRINUSE; close is idempotent; signal closes', async () => {
    await assert.rejects(server({ stratum: 0 }), ValidationError);
    await assert.rejects(server({ stratum: 16 }), ValidationError);
    await assert.rejects(server({ stratum: 2, referenceId: 'GPS' }), /expected an IPv4 or IPv6 address/);
    await assert.rejects(server({ leap: 4 as 0 }), ValidationError);
    await assert.rejects(server({ host: 'example.com' }), ValidationError);
    await assert.rejects(server({ rateLimit: { burst: 0 } }), ValidationError);
    const s = await server();
    await assert.rejects(
      createSntpServer({ port: s.address.port }),
      (err: unknown) => err instanceof NetworkError && err.code === 'EADDRINUSE',
    );
    await s.close();
    await s.close();
    const controller = new AbortController();
    const t = await server({ signal: controller.signal });
    controller.abort();
    // the port is free again once closed
    await new Promise((r) => setTimeout(r, 20));
    const again = await server({ port: t.address.port });
    assert.equal(again.address.port, t.address.port);
  });

  test('IPv6 loopback', async (t) => {
    let s: SntpServer;
    try {
      s = await server({ host: '::1' });
    } catch (err) {
      t.skip(`no IPv6 loopback: ${(err as Error).message}`);
      return;
    }
    const r = await sntpQuery(`[::1]:${s.address.port}`, { timeout: 2000 });
    assert.equal(r.family, 6);
    assert.equal(r.address, '::1');
  });
});

/**
 * Client addresses the engine's steering sends to worker 0 and to worker 1 of two (its BPF program: the IPv4
 * source times 0x9e3779b1, shifted right by 16, modulo the workers), so a test reaches both.
 */
const EACH_WORKER = ['127.0.0.2', '127.0.0.1'];
for (const [i, address] of EACH_WORKER.entries()) {
  const a = address.split('.').reduce((n, x) => n * 256 + Number(x), 0);
  assert.equal((Math.imul(a, 0x9e3779b1) >>> 16) % 2, i, `${address} reaches worker ${i}`);
}

for (const datapath of ['batched', 'dgram'] as const) {
  describe(`authentication on the ${datapath} datapath`, () => {
    const skip = (t: import('node:test').TestContext): boolean => datapath !== 'dgram' && !requireFfi(t);
    const workers = datapath === 'batched' ? 2 : 1;

    /** One NTS request sealed with the client's next cookie, sent from `from`; the reply and its check. */
    async function ntsExchange(nts: NtsClient, port: number, from: string) {
      const sealed = nts
        .authenticator()
        .seal(encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: 7n }));
      const c = await client(from);
      const reply = c.next();
      c.send(port, sealed.packet);
      const r = await reply;
      return { reply: r, check: sealed.verify(r) };
    }

    test('NTS: cookies from the NTS-KE server open in every worker; a manual rotation reaches them; auth counted', async (t) => {
      if (skip(t)) return;
      const cookieKeys = new NtsCookieKeys({ keep: 0 });
      const ntp = await server({ nts: cookieKeys, rateLimit: false, workers, datapath });
      const ke = await createNtsKeServer({ port: 0, cookieKeys, ntpPort: ntp.address.port });
      keServers.push(ke);
      assert.deepEqual([ntp.datapath, ntp.stats().workers], [datapath, workers]);

      const r = await sntpQuery(`127.0.0.1:${ke.address.port}`, {
        nts: { ca: ke.certificate.cert },
        timeout: 3000,
      });
      assert.equal(r.authenticated, 'nts');
      assert.ok(Math.abs(r.offset) <= r.delay / 2 + 1e-3, `offset ${r.offset}, delay ${r.delay}`);

      // counted from here: sntpQuery may have sent more than one request on a busy machine
      const before = ntp.stats();
      assert.ok((before.auth?.nts ?? 0) >= 1);
      const nts = new NtsClient(`127.0.0.1:${ke.address.port}`, { ca: ke.certificate.cert });
      await nts.ensureSession({ timeout: 3000 });
      for (const from of EACH_WORKER) {
        const { reply, check } = await ntsExchange(nts, ntp.address.port, from);
        assert.ok(check.ok, `from ${from}: ${check.ok ? '' : check.reason}`);
        assert.equal(reply.readBigUInt64BE(24), 7n, 'origin');
      }
      // keep 0: after one rotation on this thread, every worker refuses the cookies it was issued before
      cookieKeys.rotate();
      for (const from of EACH_WORKER) {
        const { reply, check } = await ntsExchange(nts, ntp.address.port, from);
        assert.equal(check.ok ? undefined : check.nak, true, `from ${from}: an NTS NAK`);
        assert.equal(reply.subarray(12, 16).toString('latin1'), 'NTSN');
      }
      // cookies issued after the rotation open everywhere
      nts.reset();
      await nts.ensureSession({ timeout: 3000 });
      for (const from of EACH_WORKER) {
        const { check } = await ntsExchange(nts, ntp.address.port, from);
        assert.ok(check.ok, `after the rotation, from ${from}: ${check.ok ? '' : check.reason}`);
      }
      const stats = ntp.stats();
      const b = before.auth ?? { nts: 0, naks: 0 };
      assert.deepEqual(stats.auth, { nts: b.nts + 4, symmetric: 0, naks: b.naks + 2, failed: 0 });
      assert.equal(stats.answered - before.answered, 4);
      assert.equal(stats.received - before.received, 6);
    });

    test('symmetric keys: MAC-authenticated replies from every worker; a wrong MAC is dropped and counted', async (t) => {
      if (skip(t)) return;
      const keys = parseKeyFile(
        `1 SHA1 HEX:${randomBytes(20).toString('hex')}\n2 AES128 HEX:${randomBytes(16).toString('hex')}\n`,
      );
      const ntp = await server({ keys, rateLimit: false, workers, datapath });
      assert.equal(ntp.datapath, datapath);
      for (const key of keys.values()) {
        const r = await sntpQuery(`127.0.0.1:${ntp.address.port}`, { key, timeout: 3000 });
        assert.equal(r.authenticated, 'symmetric');
      }
      // counted from here: sntpQuery may have sent more than one request on a busy machine
      const before = ntp.stats().auth?.symmetric ?? 0;
      for (const key of keys.values()) {
        for (const from of EACH_WORKER) {
          const c = await client(from);
          const reply = c.next();
          c.send(ntp.address.port, appendMac(request(), key));
          const m = verifyMac(await reply, key);
          assert.ok(m.ok, `key ${key.id} from ${from}: ${m.ok ? '' : m.reason}`);
        }
      }
      const wrong = appendMac(request(), keys.get(1) as NonNullable<ReturnType<typeof keys.get>>);
      wrong[wrong.length - 1] = (wrong[wrong.length - 1] as number) ^ 1;
      const c = await client(EACH_WORKER[0]);
      c.send(ntp.address.port, wrong);
      // the drop is silent: a good request after it, from the same client (the same worker), shows it was taken
      const good = c.next();
      c.send(ntp.address.port, appendMac(request(), keys.get(2) as NonNullable<ReturnType<typeof keys.get>>));
      assert.ok(verifyMac(await good, keys.get(2) as NonNullable<ReturnType<typeof keys.get>>).ok);
      assert.deepEqual(ntp.stats().auth, { nts: 0, symmetric: before + 5, naks: 0, failed: 1 });
    });
  });
}
