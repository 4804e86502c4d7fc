/**
 * NTS-KE, client and server, on loopback: soket's client against soket's server (certificates trusted by
 * `ca` or `pin`), the server's answers to rule-breaking requests, ALPN and TLS-version refusals, the cookie
 * keys' rotation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import {
  decodeNtsKeResponse,
  encodeNtsKeRecords,
  encodeNtsKeRequest,
  NTS_KE_ALPN,
  ntsKeMessageLength,
} from '../../src/codec/nts-ke.js';
import { manualClock } from '../../src/core/clock.js';
import { NtsError, TlsError, ValidationError } from '../../src/core/errors.js';
import { type CertificateBundle, createSelfSignedCertificate } from '../../src/net/tls-cert.js';
import { NTS_COOKIE_LENGTH, NtsCookieKeys, type NtsCookieKeysState } from '../../src/ntp/nts-cookies.js';
import { ntsKeyExchange } from '../../src/ntp/nts-ke-client.js';
import { createNtsKeServer, type NtsKeServer } from '../../src/ntp/nts-ke-server.js';

const keys32 = () => ({ c2s: new Uint8Array(32).fill(1), s2c: new Uint8Array(32).fill(2) });

describe('NTS cookie keys', () => {
  test('seal and open; a cookie is 100 bytes and every one differs', () => {
    const k = new NtsCookieKeys();
    const a = k.seal(keys32());
    const b = k.seal(keys32());
    assert.equal(a.length, NTS_COOKIE_LENGTH);
    assert.equal(NTS_COOKIE_LENGTH, 100);
    assert.notDeepEqual(a, b);
    assert.deepEqual(k.open(a)?.c2s, new Uint8Array(32).fill(1));
    assert.deepEqual(k.open(b)?.s2c, new Uint8Array(32).fill(2));
  });

  test('altered, truncated or foreign cookies do not open', () => {
    const k = new NtsCookieKeys();
    const c = k.seal(keys32());
    for (let i = 0; i < c.length; i++) {
      const bad = c.slice();
      bad[i] = (bad[i] as number) ^ 0x80;
      assert.equal(k.open(bad), undefined, `byte ${i}`);
    }
    assert.equal(k.open(c.subarray(0, 99)), undefined);
    assert.equal(new NtsCookieKeys().open(c), undefined);
  });

  test('rotation: due keys rotate on seal; `keep` earlier keys still open; older ones do not', () => {
    const clock = manualClock(0);
    const k = new NtsCookieKeys({ rotate: 60_000, keep: 2, clock });
    const first = k.seal(keys32());
    const id0 = k.currentId;
    clock.advance(59_999);
    k.seal(keys32());
    assert.equal(k.currentId, id0);
    clock.advance(1);
    const second = k.seal(keys32());
    assert.notEqual(k.currentId, id0);
    assert.ok(k.open(first) && k.open(second));
    k.rotate();
    assert.ok(k.open(first), 'two earlier keys are kept');
    k.rotate();
    assert.equal(k.open(first), undefined, 'the third earlier key is gone');
    assert.ok(k.open(second));
    assert.equal(k.rotations, 4);
  });

  test('state() → fromState(): another thread opens the same cookies and follows the same periods', () => {
    const clock = manualClock(1_700_000_000_000);
    const main = new NtsCookieKeys({ rotate: 60_000, keep: 1, clock });
    const worker = NtsCookieKeys.fromState(structuredClone(main.state()), clock);
    const a = main.seal(keys32());
    assert.deepEqual(worker.open(a)?.c2s, new Uint8Array(32).fill(1));
    clock.advance(60_000);
    const b = worker.seal(keys32());
    assert.equal(worker.currentId, main.currentId);
    assert.ok(main.open(b) && main.open(a) && worker.open(a));
    clock.advance(60_000);
    assert.equal(main.open(a), undefined, 'two periods old with keep 1');
    // a thread whose clock is a moment ahead seals with the next period's key: still opened
    const ahead = NtsCookieKeys.fromState(main.state(), manualClock(clock.now() + 60_000));
    assert.ok(main.open(ahead.seal(keys32())));
    // the same secret given explicitly: the same keys
    const secret = new Uint8Array(32).fill(9);
    const x = new NtsCookieKeys({ secret, clock });
    const y = new NtsCookieKeys({ secret, clock });
    assert.ok(y.open(x.seal(keys32())));
    assert.equal(new NtsCookieKeys({ clock }).open(x.seal(keys32())), undefined);
    assert.throws(() => new NtsCookieKeys({ secret: new Uint8Array(16) }), ValidationError);
  });

  test('manual rotations are shared by the keys made from one state (a worker follows at once); a copy without the shared counter is not', () => {
    const clock = manualClock(1_700_000_000_000);
    const main = new NtsCookieKeys({ rotate: 60_000, keep: 0, clock });
    const worker = NtsCookieKeys.fromState(structuredClone(main.state()), clock);
    const unshared = (): NtsCookieKeysState => {
      const { sharedOffset: _, ...rest } = main.state();
      return rest; // e.g. a state handed to another process
    };
    const detached = NtsCookieKeys.fromState(unshared(), clock);
    const old = main.seal(keys32());
    main.rotate();
    assert.equal(worker.currentId, main.currentId, 'the worker moved with the main thread');
    assert.equal(worker.open(old), undefined, 'keep 0: the old cookie is refused in the worker too');
    assert.ok(worker.open(main.seal(keys32())));
    assert.equal(detached.currentId, main.currentId - 1, 'a state without the shared counter stays behind');
    worker.rotate();
    assert.equal(main.currentId, worker.currentId, 'either side rotates both');
    assert.equal(main.state().offset, 2);
    const later = NtsCookieKeys.fromState(unshared(), clock);
    assert.equal(later.currentId, main.currentId, 'offset alone: the rotations so far');
  });

  test('sealInto writes a cookie at an offset of a larger buffer, which opens; it checks the room', () => {
    const k = new NtsCookieKeys();
    const out = new Uint8Array(7 + NTS_COOKIE_LENGTH + 5).fill(0xaa);
    assert.equal(k.sealInto(keys32(), out, 7), out);
    assert.deepEqual(k.open(out.subarray(7, 7 + NTS_COOKIE_LENGTH))?.c2s, new Uint8Array(32).fill(1));
    assert.deepEqual(
      [...out.subarray(0, 7), ...out.subarray(7 + NTS_COOKIE_LENGTH)],
      new Array(12).fill(0xaa),
    );
    assert.throws(() => k.sealInto(keys32(), out, 13), ValidationError);
    assert.throws(() => k.sealInto(keys32(), out, -1), ValidationError);
  });

  test('options are checked', () => {
    assert.throws(() => new NtsCookieKeys({ rotate: 10 }), ValidationError);
    assert.throws(() => new NtsCookieKeys({ keep: -1 }), ValidationError);
    assert.throws(
      () => new NtsCookieKeys().seal({ c2s: new Uint8Array(16), s2c: new Uint8Array(32) }),
      ValidationError,
    );
  });
});

describe('NTS-KE client ↔ server', () => {
  let cert: CertificateBundle;
  let server: NtsKeServer;
  let selfSigned: NtsKeServer;
  before(async () => {
    // a certificate made beforehand, as an operator's would be: names nts.test and 127.0.0.1
    cert = await createSelfSignedCertificate({ hosts: ['nts.test', '127.0.0.1'] });
    server = await createNtsKeServer({ port: 0, cert: cert.cert, key: cert.key, ntpPort: 11123 });
    selfSigned = await createNtsKeServer({ port: 0, ntpServer: '127.0.0.2' });
  });
  after(async () => {
    await server?.close();
    await selfSigned?.close();
  });

  test('a key exchange: 8 cookies, keys from the exporter, the NTP port announced', async () => {
    const r = await ntsKeyExchange(`127.0.0.1:${server.address.port}`, { ca: cert.cert });
    assert.equal(r.cookies.length, 8);
    assert.ok(r.cookies.every((c) => c.length === 100));
    assert.equal(r.c2s.length, 32);
    assert.notDeepEqual(r.c2s, r.s2c);
    assert.equal(r.ntpServer, '127.0.0.1');
    assert.equal(r.ntpPort, 11123);
    assert.equal(r.aeadAlgorithm, 15);
    assert.equal(r.tls.protocol, 'TLSv1.3');
    // the server opens the cookies and finds the same keys: both ends exported the same material
    const opened = server.cookieKeys.open(r.cookies[0] as Uint8Array);
    assert.deepEqual(opened?.c2s, r.c2s);
    assert.deepEqual(opened?.s2c, r.s2c);
    const s = server.stats();
    assert.equal(s.keyExchanges >= 1, true);
    assert.equal(s.cookies >= 8, true);
  });

  test('the ephemeral self-signed certificate: trusted by its PEM or by its pin; the server name announced', async () => {
    assert.equal(selfSigned.certificate.selfSigned, true);
    const where = `127.0.0.1:${selfSigned.address.port}`;
    const byCa = await ntsKeyExchange(where, { ca: selfSigned.certificate.cert });
    assert.equal(byCa.ntpServer, '127.0.0.2');
    assert.equal(byCa.ntpPort, 123);
    const byPin = await ntsKeyExchange(where, { pin: selfSigned.certificate.pin });
    assert.equal(byPin.cookies.length, 8);
    await assert.rejects(
      ntsKeyExchange(where, { pin: `sha256:${'00'.repeat(32)}` }),
      (err: unknown) => err instanceof TlsError && err.reason === 'PIN_MISMATCH',
    );
  });

  test('an untrusted certificate or a wrong name is a TlsError with the reason', async () => {
    const where = `127.0.0.1:${server.address.port}`;
    await assert.rejects(
      ntsKeyExchange(where, {}),
      (err: unknown) => err instanceof TlsError && err.reason === 'DEPTH_ZERO_SELF_SIGNED_CERT',
    );
    await assert.rejects(
      ntsKeyExchange(where, { ca: cert.cert, servername: 'other.test' }),
      (err: unknown) => err instanceof TlsError && err.reason === 'ERR_TLS_CERT_ALTNAME_INVALID',
    );
    const ok = await ntsKeyExchange(where, { ca: cert.cert, servername: 'nts.test' });
    assert.equal(ok.cookies.length, 8);
  });

  /** A raw TLS client: sends bytes, returns the server's response (or what happened). */
  async function raw(
    port: number,
    bytes: Uint8Array | undefined,
    opts: tls.ConnectionOptions = {},
  ): Promise<{ response?: Uint8Array; error?: string; alpn?: string | false }> {
    return new Promise((resolve) => {
      const s = tls.connect({
        host: '127.0.0.1',
        port,
        ca: cert.cert,
        ALPNProtocols: [NTS_KE_ALPN],
        ...opts,
      });
      const chunks: Buffer[] = [];
      s.on('secureConnect', () => {
        if (bytes) s.write(bytes);
      });
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('error', (err) => resolve({ error: (err as Error & { code?: string }).code ?? err.message }));
      s.on('close', () =>
        resolve({ response: new Uint8Array(Buffer.concat(chunks)), alpn: s.alpnProtocol ?? false }),
      );
    });
  }

  test('rule-breaking requests get an Error record, then the connection closes', async () => {
    const port = server.address.port;
    const before = server.stats().errorResponses;
    const twoNpn = encodeNtsKeRecords([
      { critical: true, type: 1, body: new Uint8Array([0, 0]) },
      { critical: true, type: 1, body: new Uint8Array([0, 0]) },
      { critical: true, type: 4, body: new Uint8Array([0, 15]) },
      { critical: true, type: 0, body: new Uint8Array(0) },
    ]);
    const r1 = await raw(port, twoNpn);
    assert.equal(decodeNtsKeResponse(r1.response as Uint8Array).error, 1);
    const unknownCritical = encodeNtsKeRequest({
      unknown: [{ critical: true, type: 0x1234, body: new Uint8Array(0) }],
    });
    const r2 = await raw(port, unknownCritical);
    assert.equal(decodeNtsKeResponse(r2.response as Uint8Array).error, 0);
    const r3 = await raw(port, encodeNtsKeRequest({ nextProtocols: [0x8001] }));
    const d3 = decodeNtsKeResponse(r3.response as Uint8Array);
    assert.equal(d3.nextProtocol, undefined);
    assert.deepEqual(d3.cookies, []);
    const r4 = await raw(port, encodeNtsKeRequest({ aeadAlgorithms: [30] }));
    const d4 = decodeNtsKeResponse(r4.response as Uint8Array);
    assert.equal(d4.nextProtocol, 0);
    assert.equal(d4.aeadAlgorithm, undefined);
    assert.equal(server.stats().errorResponses, before + 2);
    // a request split over many writes is reassembled
    const split = await new Promise<Uint8Array>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: cert.cert, ALPNProtocols: [NTS_KE_ALPN] });
      const req = encodeNtsKeRequest({});
      const chunks: Buffer[] = [];
      s.on('secureConnect', () => {
        for (const b of req) s.write(new Uint8Array([b]));
      });
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('close', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    });
    assert.equal(ntsKeMessageLength(split), split.length);
    assert.equal(decodeNtsKeResponse(split).cookies.length, 8);
  });

  test('no ALPN, or TLS 1.2: refused', async () => {
    const port = server.address.port;
    const before = server.stats();
    const noAlpn = await raw(port, encodeNtsKeRequest({}), { ALPNProtocols: [] });
    assert.equal(noAlpn.response?.length ?? 0, 0);
    const v12 = await raw(port, encodeNtsKeRequest({}), { maxVersion: 'TLSv1.2' });
    assert.ok(v12.error, 'TLS 1.2 handshake fails');
    const after = server.stats();
    assert.equal(after.failed.alpn, before.failed.alpn + 1);
    assert.equal(after.keyExchanges, before.keyExchanges);
  });

  test('a server that sends an Error record: NtsError', async () => {
    // a one-shot fake NTS-KE server answering every request with Error 2
    const fake = tls.createServer({
      cert: cert.cert,
      key: cert.key,
      ALPNProtocols: [NTS_KE_ALPN],
      minVersion: 'TLSv1.3',
    });
    fake.on('secureConnection', (s) => {
      s.once('data', () =>
        s.end(
          encodeNtsKeRecords([
            { critical: true, type: 2, body: new Uint8Array([0, 2]) },
            { critical: true, type: 0, body: new Uint8Array(0) },
          ]),
        ),
      );
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (fake.address() as { port: number }).port;
      await assert.rejects(
        ntsKeyExchange(`127.0.0.1:${port}`, { ca: cert.cert }),
        (err: unknown) =>
          err instanceof NtsError && /sent error 2 \(internal server error\)/.test(err.message),
      );
    } finally {
      await new Promise<void>((r) => fake.close(() => r()));
    }
  });

  test('options are checked before connecting', async () => {
    await assert.rejects(ntsKeyExchange('127.0.0.1:1', { ca: 'not pem' }), ValidationError);
    await assert.rejects(ntsKeyExchange('127.0.0.1:1', { pin: 'nope' }), ValidationError);
    await assert.rejects(ntsKeyExchange('127.0.0.1:99999'), ValidationError);
    await assert.rejects(createNtsKeServer({ cert: cert.cert }), ValidationError);
  });

  test('close() resolves with the final counters', async () => {
    const s = await createNtsKeServer({ port: 0 });
    await ntsKeyExchange(`127.0.0.1:${s.address.port}`, { ca: s.certificate.cert });
    const final = await s.close();
    assert.equal(final.keyExchanges, 1);
    assert.deepEqual(await s.finished, final);
  });
});
