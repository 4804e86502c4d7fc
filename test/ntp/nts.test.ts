/**
 * NTS for NTP without sockets: a client session sealing requests, the server's auth step checking them and
 * sealing replies, and the client verifying those replies — plus every way a reply or request can be wrong.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeNtpPacket } from '../../src/codec/ntp.js';
import {
  decodeNtpExtensions,
  encodeNtpExtensionField,
  encodeNtpExtensions,
  NtpExtensionType,
} from '../../src/codec/ntp-extensions.js';
import { writeNtpTimestampMs } from '../../src/codec/ntp-timestamp.js';
import { NtsError } from '../../src/core/errors.js';
import { NtsClient, verifyNtsReply } from '../../src/ntp/nts-client.js';
import { NtsCookieKeys } from '../../src/ntp/nts-cookies.js';
import type { NtsKeResult } from '../../src/ntp/nts-ke-client.js';
import { NtpServerAuth, type ServerAuthCheck } from '../../src/ntp/server-auth.js';
import { appendMac, parseSymmetricKey } from '../../src/ntp/symmetric-key.js';

/** A client with a session whose cookies `server` made, as NTS-KE would have left it. */
function session(server: NtsCookieKeys, cookies = 8): NtsClient {
  const c2s = new Uint8Array(randomBytes(32));
  const s2c = new Uint8Array(randomBytes(32));
  const ke: NtsKeResult = {
    keServer: '127.0.0.1:4460',
    keAddress: '127.0.0.1',
    ntpServer: '127.0.0.1',
    ntpPort: 123,
    aeadAlgorithm: 15,
    c2s,
    s2c,
    cookies: Array.from({ length: cookies }, () => server.seal({ c2s, s2c })),
    warnings: [],
    tls: { protocol: 'TLSv1.3', cipher: 'x', fingerprint256: undefined },
    durationMs: 1,
  };
  const client = new NtsClient('127.0.0.1');
  client.useKeyExchange(ke);
  return client;
}

/** What the responder does: a 48-byte reply header (origin = request transmit), or an NTSN kiss-o'-death. */
function header(request: Uint8Array, check: ServerAuthCheck): Uint8Array {
  const h = request.slice(0, 48);
  h.copyWithin(24, 40, 48);
  const v = ((h[0] as number) >>> 3) & 7;
  if (check.kind === 'nak') {
    h[0] = 0xc0 | (v << 3) | 4;
    h[1] = 0;
    h.set([0x4e, 0x54, 0x53, 0x4e], 12);
    return h;
  }
  h[0] = (v << 3) | 4;
  h[1] = 3;
  const now = performance.timeOrigin + performance.now();
  writeNtpTimestampMs(h, 16, now - 1000);
  writeNtpTimestampMs(h, 32, now);
  writeNtpTimestampMs(h, 40, now);
  return h;
}

const req = (tx = 0x0102030405060708n) => encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: tx });

describe('NTS request → server auth step → reply → client', () => {
  test('a round trip: request and reply the same length, the cookie spent and replaced, never reused', () => {
    const keys = new NtsCookieKeys();
    const client = session(keys);
    const jar = () => client.session?.cookies.length;
    assert.equal(jar(), 8);
    const first = client.session?.cookies[0];
    const sealed = client.authenticator().seal(req());
    assert.equal(jar(), 7);
    assert.ok(!client.session?.cookies.includes(first as Uint8Array));
    const server = new NtpServerAuth({ nts: keys });
    const check = server.check(sealed.packet);
    assert.equal(check.kind, 'nts');
    const reply = server.seal(check, header(sealed.packet, check));
    assert.equal(reply.length, sealed.packet.length);
    assert.deepEqual(sealed.verify(reply), { ok: true });
    assert.equal(jar(), 8);
    // the same reply again is not used twice
    assert.equal(sealed.verify(reply).ok, false);
    const s = client.stats();
    assert.equal(s.authenticated, 1);
    assert.equal(s.rejected, 1);
    assert.equal(s.cookiesReceived, 1);
  });

  test('placeholders refill the jar: a client with 3 cookies asks for 6 more', () => {
    const keys = new NtsCookieKeys();
    const client = session(keys, 3);
    const sealed = client.authenticator().seal(req());
    const fields = decodeNtpExtensions(sealed.packet).fields.map((f) => f.type);
    assert.deepEqual(fields, [0x0104, 0x0204, 0x0304, 0x0304, 0x0304, 0x0304, 0x0304, 0x0404]);
    const server = new NtpServerAuth({ nts: keys });
    const check = server.check(sealed.packet);
    const reply = server.seal(check, header(sealed.packet, check));
    assert.equal(reply.length, sealed.packet.length);
    assert.equal(sealed.verify(reply).ok, true);
    assert.equal(client.session?.cookies.length, 8);
  });

  test('property: the reply is never longer than the request, for any number of placeholders', () => {
    const keys = new NtsCookieKeys();
    const server = new NtpServerAuth({ nts: keys });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), (have) => {
        const client = session(keys, have);
        const sealed = client.authenticator().seal(req());
        const check = server.check(sealed.packet);
        const reply = server.seal(check, header(sealed.packet, check));
        assert.ok(reply.length <= sealed.packet.length);
        assert.equal(sealed.verify(reply).ok, true);
      }),
      { numRuns: 30 },
    );
  });

  test('in place: the reply written over the request equals the one built in a new array, byte for byte', () => {
    const keys = new NtsCookieKeys();
    const server = new NtpServerAuth({ nts: keys });
    for (let have = 1; have <= 8; have++) {
      const client = session(keys, have);
      const sealed = client.authenticator().seal(req());
      const check = server.check(sealed.packet);
      assert.equal(check.kind, 'nts');
      const h = header(sealed.packet, check);
      const fresh = server.seal(check, h);
      // the responder's way: the header written over the request's first 48 bytes, the request handed over
      const packet = sealed.packet.slice();
      packet.set(h);
      const inPlace = server.seal(check, packet.subarray(0, 48), packet);
      assert.equal(inPlace.buffer, packet.buffer, 'written over the request');
      assert.deepEqual(inPlace, fresh);
      assert.equal(inPlace.length, sealed.packet.length);
      assert.equal(sealed.verify(inPlace).ok, true);
      // a request that is not where the header is: a new array
      const elsewhere = server.seal(check, h, sealed.packet.slice());
      assert.notEqual(elsewhere.buffer, h.buffer);
      assert.deepEqual(elsewhere, fresh);
    }
  });

  test('out of cookies: NtsError, nothing sent', () => {
    const client = session(new NtsCookieKeys(), 1);
    client.authenticator().seal(req());
    assert.throws(() => client.authenticator().seal(req()), NtsError);
  });

  test('a cookie from another server (or an expired key): NTS NAK, which the client recognises', () => {
    const client = session(new NtsCookieKeys());
    const sealed = client.authenticator().seal(req());
    const server = new NtpServerAuth({ nts: new NtsCookieKeys() });
    const check = server.check(sealed.packet);
    assert.equal(check.kind, 'nak');
    const reply = server.seal(check, header(sealed.packet, check));
    assert.equal(reply.length, 48 + 36);
    const v = sealed.verify(reply);
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.nak, true);
    assert.equal(client.stats().naks, 1);
  });

  test('a request whose authenticator does not verify (altered on the way): NAK', () => {
    const keys = new NtsCookieKeys();
    const sealed = session(keys).authenticator().seal(req());
    const bad = sealed.packet.slice();
    bad[45] = (bad[45] as number) ^ 1; // the transmit timestamp
    assert.equal(new NtpServerAuth({ nts: keys }).check(bad).kind, 'nak');
  });

  test('malformed NTS requests are dropped', () => {
    const keys = new NtsCookieKeys();
    const server = new NtpServerAuth({ nts: keys });
    const cookie = keys.seal({ c2s: new Uint8Array(32), s2c: new Uint8Array(32) });
    const uid = new Uint8Array(32);
    const auth = new Uint8Array(36);
    auth[1] = 16;
    auth[3] = 16;
    const f = (type: number, body: Uint8Array) => ({ type, body });
    const cases: Array<[string, Array<{ type: number; body: Uint8Array }>]> = [
      ['no unique identifier', [f(0x0204, cookie), f(0x0404, auth)]],
      ['short unique identifier', [f(0x0104, new Uint8Array(16)), f(0x0204, cookie), f(0x0404, auth)]],
      ['two unique identifiers', [f(0x0104, uid), f(0x0104, uid), f(0x0204, cookie), f(0x0404, auth)]],
      ['no cookie', [f(0x0104, uid), f(0x0404, auth)]],
      ['two cookies', [f(0x0104, uid), f(0x0204, cookie), f(0x0204, cookie), f(0x0404, auth)]],
      ['no authenticator', [f(0x0104, uid), f(0x0204, cookie)]],
      ['authenticator not last', [f(0x0104, uid), f(0x0404, auth), f(0x0204, cookie)]],
      [
        'placeholder of another length',
        [f(0x0104, uid), f(0x0204, cookie), f(0x0304, new Uint8Array(96)), f(0x0404, auth)],
      ],
    ];
    for (const [what, fields] of cases) {
      const p = encodeNtpExtensions(req(), fields);
      assert.deepEqual(server.check(p), { kind: 'drop', reason: 'nts' }, what);
    }
    // NTS not enabled on this server
    const sealed = session(keys).authenticator().seal(req());
    assert.deepEqual(new NtpServerAuth({}).check(sealed.packet), { kind: 'drop', reason: 'nts' });
  });

  test('tails: malformed is dropped; unknown fields are ignored; plain requests pass untouched', () => {
    const server = new NtpServerAuth({});
    assert.deepEqual(server.check(req()), { kind: 'none' });
    const stray = new Uint8Array(52);
    stray.set(req());
    stray[51] = 7;
    assert.deepEqual(server.check(stray), { kind: 'drop', reason: 'malformed' });
    const unknown = encodeNtpExtensions(req(), [{ type: 0x2005, body: new Uint8Array(24) }]);
    assert.deepEqual(server.check(unknown), { kind: 'none' });
    const h = req();
    assert.equal(server.seal({ kind: 'none' }, h), h);
  });

  test('symmetric keys on the server: good MAC → reply with the same key; anything else dropped', () => {
    const key = parseSymmetricKey('7:SHA256:00112233445566778899aabbccddeeff');
    const server = new NtpServerAuth({ keys: new Map([[7, key]]) });
    const signed = appendMac(req(), key);
    const check = server.check(signed);
    assert.equal(check.kind, 'mac');
    const reply = server.seal(check, header(signed, check));
    assert.equal(reply.length, signed.length);
    const other = appendMac(req(), parseSymmetricKey('8:SHA256:00112233445566778899aabbccddeeff'));
    assert.deepEqual(server.check(other), { kind: 'drop', reason: 'mac' });
    const bad = signed.slice();
    bad[60] = (bad[60] as number) ^ 1;
    assert.deepEqual(server.check(bad), { kind: 'drop', reason: 'mac' });
    const nak = new Uint8Array(52);
    nak.set(req());
    assert.deepEqual(server.check(nak), { kind: 'drop', reason: 'mac' });
    assert.deepEqual(new NtpServerAuth({}).check(signed), { kind: 'drop', reason: 'mac' });
  });
});

describe('NTS replies the client must reject (the attacks of a man in the middle)', () => {
  const keys = new NtsCookieKeys();
  const server = new NtpServerAuth({ nts: keys });
  const exchange = () => {
    const client = session(keys);
    const sealed = client.authenticator().seal(req(BigInt(`0x${randomBytes(8).toString('hex')}`)));
    const check = server.check(sealed.packet);
    const reply = server.seal(check, header(sealed.packet, check));
    return { client, sealed, reply };
  };

  test('an altered transmit timestamp (or any header byte) fails the authenticator', () => {
    const { sealed, reply } = exchange();
    for (const at of [1, 3, 12, 16, 32, 40, 47]) {
      const bad = reply.slice();
      bad[at] = (bad[at] as number) ^ 0x01;
      const v = sealed.verify(bad);
      assert.deepEqual(v, { ok: false, reason: 'NTS authenticator does not verify' }, `byte ${at}`);
    }
    assert.equal(sealed.verify(reply).ok, true);
  });

  test('a replayed reply to an earlier request: not this request’s unique identifier', () => {
    const a = exchange();
    const b = exchange();
    assert.equal(b.sealed.verify(a.reply).ok, false);
    assert.match((b.sealed.verify(a.reply) as { reason: string }).reason, /unique identifier/);
  });

  test('the authenticator stripped: no authenticator (and not a NAK: stratum is not 0)', () => {
    const { sealed, reply } = exchange();
    const stripped = reply.slice(0, 48 + 36);
    assert.deepEqual(sealed.verify(stripped), { ok: false, reason: 'no NTS authenticator' });
    assert.deepEqual(sealed.verify(reply.slice(0, 48)), { ok: false, reason: 'no unique identifier' });
  });

  test('the reply authenticated for another client (a swapped cookie or key): does not verify', () => {
    const a = exchange();
    const b = exchange();
    // b's reply with a's unique identifier put in: the authenticator (over the whole packet, with b's key) fails
    const forged = b.reply.slice();
    const uidA = decodeNtpExtensions(a.sealed.packet).fields[0]?.body as Uint8Array;
    forged.set(uidA, 52);
    assert.deepEqual(a.sealed.verify(forged), { ok: false, reason: 'NTS authenticator does not verify' });
  });

  test('verifyNtsReply never throws on garbage after the header', () => {
    const uid = new Uint8Array(32);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (tail) => {
        const p = new Uint8Array(48 + tail.length);
        p.set(req());
        p.set(tail, 48);
        assert.equal(verifyNtsReply(p, uid, new Uint8Array(32)).ok, false);
      }),
      { numRuns: 500 },
    );
    const withCookieOutside = encodeNtpExtensions(req(), [
      { type: NtpExtensionType.uniqueIdentifier, body: uid },
      { type: NtpExtensionType.ntsCookie, body: new Uint8Array(100) },
    ]);
    assert.equal(verifyNtsReply(withCookieOutside, uid, new Uint8Array(32)).ok, false);
    assert.equal(encodeNtpExtensionField(1, new Uint8Array(0)).length, 16);
  });
});
