/**
 * Authenticated time with real peers on loopback (recipes in ../shared/PEERS.md), and the attacks NTS and
 * symmetric keys exist for:
 * - soket's client → chronyd's NTS server; chronyd's NTS client (`chronyd -Q`, strict) → soket's NTS server
 *   (NTS-KE with the ephemeral self-signed certificate, trusted by chrony through `ntstrustedcerts`);
 * - the same pairs with symmetric keys, for every key type (MD5, SHA1, SHA256, AES128, AES256);
 * - a man in the middle (a UDP relay) that alters the transmit timestamp, replays an old reply, strips the
 *   authenticator or MAC, or swaps cookies between two clients: each rejected and counted — and, for
 *   contrast, the altered timestamp accepted by a client that has only the origin check.
 *
 * Servers run with `leap: 0` (a machine whose clock no daemon disciplines would otherwise announce LI = 3).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { NtsError } from '../../src/core/errors.js';
import { sntpQuery } from '../../src/ntp/client.js';
import { getNetworkTime } from '../../src/ntp/network-time.js';
import { NtsClient } from '../../src/ntp/nts-client.js';
import { NtsCookieKeys } from '../../src/ntp/nts-cookies.js';
import { createNtsKeServer, type NtsKeServer } from '../../src/ntp/nts-ke-server.js';
import { createSntpServer, type SntpServer } from '../../src/ntp/server.js';
import { parseKeyFile } from '../../src/ntp/symmetric-key.js';
import { type ChronyNtsServer, runChronyAuthClient, startChronyNtsServer } from '../helpers/chrony-nts.js';
import { startMitmRelay } from '../helpers/mitm-relay.js';
import { findExecutable, requirePeer } from '../helpers/peers.js';

const KEYS = [
  `1 MD5 HEX:${randomBytes(20).toString('hex')}`,
  `2 SHA1 HEX:${randomBytes(20).toString('hex')}`,
  `3 SHA256 HEX:${randomBytes(32).toString('hex')}`,
  `4 AES128 HEX:${randomBytes(16).toString('hex')}`,
  `5 AES256 HEX:${randomBytes(32).toString('hex')}`,
].join('\n');
const keys = parseKeyFile(KEYS);
const key = (id: number) => keys.get(id) as NonNullable<ReturnType<typeof keys.get>>;

const stops: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const stop of stops.reverse()) await stop();
});

/** soket's NTP server with NTS and the keys, and its NTS-KE server (self-signed certificate). */
async function soketServers(options: { ntpPort?: number; cookieKeys?: NtsCookieKeys } = {}): Promise<{
  ntp: SntpServer;
  ke: NtsKeServer;
}> {
  const cookieKeys = options.cookieKeys ?? new NtsCookieKeys();
  const ntp = await createSntpServer({ port: 0, leap: 0, nts: cookieKeys, keys, rateLimit: false });
  stops.push(() => ntp.close());
  const ke = await createNtsKeServer({ port: 0, cookieKeys, ntpPort: options.ntpPort ?? ntp.address.port });
  stops.push(() => ke.close());
  return { ntp, ke };
}

describe('NTS and symmetric keys against chronyd', () => {
  let chrony: ChronyNtsServer | undefined;
  before(async () => {
    const chronyd = findExecutable('chronyd');
    if (chronyd) {
      chrony = await startChronyNtsServer(chronyd, { keys: `${KEYS}\n` });
      stops.push(() => (chrony as ChronyNtsServer).stop());
    }
  });

  test('soket client → chronyd NTS server: authenticated samples, cookies reused, offset within the delay bound', async (t) => {
    if (!requirePeer(t, 'chronyd', 'apt-get install chrony') || !chrony) return;
    const nts = new NtsClient(`127.0.0.1:${chrony.ntsPort}`, { ca: chrony.certificate.cert });
    const r = await getNetworkTime(`127.0.0.1:${chrony.ntsPort}`, {
      nts,
      samples: 6,
      interval: 20,
      timeout: 5000,
    });
    const server = r.servers[0];
    assert.equal(server?.samples.length, 6);
    for (const s of server?.samples ?? []) {
      assert.equal(s.authenticated, 'nts');
      assert.equal(s.port, chrony.ntpPort, 'the NTP port chrony announced in NTS-KE');
      assert.equal(s.stratum, 7);
      assert.equal(s.authFailures, 0);
    }
    assert.equal(server?.samples[0]?.nts?.keyExchanged, true);
    assert.equal(server?.samples[5]?.nts?.keyExchanged, false);
    assert.equal(nts.stats().keyExchanges, 1, 'one NTS-KE, then cookies from the replies');
    assert.equal(nts.session?.cookies.length, 8);
    const best = server?.best;
    assert.ok(best);
    t.diagnostic(`offset ${(best.offset * 1e6).toFixed(1)} µs, delay ${(best.delay * 1e6).toFixed(1)} µs`);
    // the same system clock on both ends: |offset| cannot exceed half the round trip
    assert.ok(Math.abs(best.offset) <= best.delay / 2 + 20e-6, `offset ${best.offset * 1e6} µs`);
  });

  test('soket client → chronyd with each symmetric key type, NTPv4 and NTPv3', async (t) => {
    if (!requirePeer(t, 'chronyd', 'apt-get install chrony') || !chrony) return;
    for (const key of keys.values()) {
      for (const version of [4, 3]) {
        const r = await sntpQuery('127.0.0.1', { port: chrony.ntpPort, key, version, timeout: 3000 });
        assert.equal(r.authenticated, 'symmetric', `${key.type} v${version}`);
        assert.equal(r.keyId, key.id);
        assert.equal(r.authFailures, 0);
      }
    }
  });

  test('chronyd NTS client → soket server (self-signed NTS-KE certificate): chrony accepts the samples', async (t) => {
    const chronyd = requirePeer(t, 'chronyd', 'apt-get install chrony');
    if (!chronyd) return;
    const { ntp, ke } = await soketServers();
    assert.equal(ke.certificate.selfSigned, true);
    const r = await runChronyAuthClient(chronyd, {
      ntpPort: ntp.address.port,
      nts: { ntsPort: ke.address.port, cert: ke.certificate.cert },
    });
    assert.notEqual(r.offset, undefined, `chronyd did not accept soket's NTS server:\n${r.output}`);
    t.diagnostic(`chronyd: system clock wrong by ${r.offset} s`);
    assert.ok(Math.abs(r.offset as number) < 0.01);
    assert.ok(ke.stats().keyExchanges >= 1);
    const auth = ntp.stats().auth;
    assert.ok(auth && auth.nts >= 1, `NTS replies: ${auth?.nts}`);
    assert.equal(auth?.naks, 0);
  });

  test('chronyd with each symmetric key type → soket server: chrony accepts the MAC-authenticated samples', async (t) => {
    const chronyd = requirePeer(t, 'chronyd', 'apt-get install chrony');
    if (!chronyd) return;
    const { ntp } = await soketServers();
    const results = await Promise.all(
      [...keys.values()].map((k) =>
        runChronyAuthClient(chronyd, { ntpPort: ntp.address.port, key: { id: k.id, keys: KEYS } }),
      ),
    );
    results.forEach((r, i) => {
      assert.notEqual(r.offset, undefined, `key ${i + 1}: chronyd did not accept:\n${r.output}`);
    });
    assert.ok((ntp.stats().auth?.symmetric ?? 0) >= 5, `MAC replies: ${ntp.stats().auth?.symmetric}`);
    assert.equal(ntp.stats().auth?.failed, 0);
  });
});

describe('soket client ↔ soket server', () => {
  test('NTS NAK after the server forgot its cookie keys: the client runs NTS-KE again and succeeds', async () => {
    const cookieKeys = new NtsCookieKeys({ keep: 0 });
    const { ntp, ke } = await soketServers({ cookieKeys });
    const nts = new NtsClient(`127.0.0.1:${ke.address.port}`, { ca: ke.certificate.cert });
    const first = await sntpQuery(nts.keServer, { nts, timeout: 3000 });
    assert.equal(first.nts?.keyExchanged, true);
    cookieKeys.rotate(); // keep 0: every cookie the client holds is now unknown
    const second = await sntpQuery(nts.keServer, { nts, timeout: 3000 });
    assert.equal(second.authenticated, 'nts');
    assert.equal(second.nts?.keyExchanged, true);
    assert.equal(nts.stats().naks, 1);
    assert.equal(nts.stats().keyExchanges, 2);
    assert.equal(ntp.stats().auth?.naks, 1);
  });

  test('the same nts options object across calls (a watch loop) keeps the client and its cookies', async () => {
    const { ke } = await soketServers();
    const nts = { ca: ke.certificate.cert };
    const port = ke.address.port;
    const a = await sntpQuery('127.0.0.1', { nts, port, timeout: 3000 });
    const b = await getNetworkTime(['127.0.0.1'], { nts, port, samples: 1, timeout: 3000 });
    assert.equal(a.nts?.keyExchanged, true);
    assert.equal(b.servers[0]?.best?.nts?.keyExchanged, false, 'cookies from the first call');
    assert.equal(ke.stats().keyExchanges, 1);
  });

  test('rate limit: an authenticated client over its rate gets an authenticated RATE kiss-o’-death', async () => {
    const cookieKeys = new NtsCookieKeys();
    const ntp = await createSntpServer({
      port: 0,
      leap: 0,
      nts: cookieKeys,
      keys,
      rateLimit: { burst: 1, interval: 60_000 },
    });
    stops.push(() => ntp.close());
    const ke = await createNtsKeServer({ port: 0, cookieKeys, ntpPort: ntp.address.port });
    stops.push(() => ke.close());
    const nts = new NtsClient(`127.0.0.1:${ke.address.port}`, { ca: ke.certificate.cert });
    assert.equal((await sntpQuery(nts.keServer, { nts, timeout: 3000 })).authenticated, 'nts');
    await assert.rejects(sntpQuery(nts.keServer, { nts, timeout: 3000, retries: 0 }), { code: 'SOKET_KOD' });
    assert.equal(nts.stats().rejected, 0, 'the KoD was authenticated, so it counts');
    assert.equal(ntp.stats().kod, 1);
    // a MAC'd client: the same, with the key's MAC on the KoD
    const mac = await createSntpServer({ port: 0, leap: 0, keys, rateLimit: { burst: 1, interval: 60_000 } });
    stops.push(() => mac.close());
    await sntpQuery('127.0.0.1', { port: mac.address.port, key: key(2), timeout: 3000 });
    await assert.rejects(
      sntpQuery('127.0.0.1', { port: mac.address.port, key: key(2), timeout: 3000, retries: 0 }),
      {
        code: 'SOKET_KOD',
      },
    );
  });

  test('an untrusted certificate: TlsError, nothing sent over NTP', async () => {
    const { ntp, ke } = await soketServers();
    await assert.rejects(sntpQuery(`127.0.0.1:${ke.address.port}`, { nts: true, timeout: 3000 }), {
      code: 'SOKET_TLS',
    });
    assert.equal(ntp.stats().received, 0);
  });

  test('options: nts with key, or nts with NTPv3, are refused', async () => {
    const key = keys.get(2);
    await assert.rejects(sntpQuery('127.0.0.1:1', { nts: true, ...(key ? { key } : {}) }), {
      code: 'SOKET_INVALID_ARGUMENT',
    });
    await assert.rejects(sntpQuery('127.0.0.1:1', { nts: true, version: 3 }), {
      code: 'SOKET_INVALID_ARGUMENT',
    });
    const other = new NtsClient('127.0.0.1:4460');
    await assert.rejects(sntpQuery('127.0.0.1:4461', { nts: other }), { code: 'SOKET_INVALID_ARGUMENT' });
  });
});

describe('a man in the middle', () => {
  const quick = { timeout: 4000, tryTimeout: 400, retries: 3 } as const;

  /** soket's NTP server behind a MITM relay, and an NTS-KE server that sends clients to the relay. */
  async function viaRelay(): Promise<{
    ntp: SntpServer;
    relay: Awaited<ReturnType<typeof startMitmRelay>>;
    ke: NtsKeServer;
  }> {
    const cookieKeys = new NtsCookieKeys();
    const ntp = await createSntpServer({ port: 0, leap: 0, nts: cookieKeys, keys, rateLimit: false });
    stops.push(() => ntp.close());
    const relay = await startMitmRelay(ntp.address.port);
    stops.push(() => relay.close());
    const ke = await createNtsKeServer({ port: 0, cookieKeys, ntpPort: relay.port });
    stops.push(() => ke.close());
    return { ntp, relay, ke };
  }

  test('moves the server’s timestamps by +1 s: the origin check alone accepts it; NTS and a MAC reject it', async () => {
    const { relay, ke } = await viaRelay();
    relay.set('alter-transmit', 1);
    const plain = await sntpQuery('127.0.0.1', { port: relay.port, ...quick });
    assert.equal(plain.authenticated, 'none');
    assert.ok(plain.offset > 0.9, `unauthenticated: the attacker moved the clock by ${plain.offset} s`);

    relay.set('alter-transmit', 1);
    const nts = await sntpQuery(`127.0.0.1:${ke.address.port}`, {
      nts: { ca: ke.certificate.cert },
      ...quick,
    });
    assert.equal(nts.authenticated, 'nts');
    assert.equal(nts.authFailures, 1);
    assert.ok(Math.abs(nts.offset) < 0.5);

    relay.set('alter-transmit', 1);
    const mac = await sntpQuery('127.0.0.1', { port: relay.port, key: key(5), ...quick });
    assert.equal(mac.authenticated, 'symmetric');
    assert.equal(mac.authFailures, 1);
    assert.ok(Math.abs(mac.offset) < 0.5);
    assert.equal(relay.attacked, 3);
  });

  test('replays an old reply with the origin patched: the origin check alone takes the stale time; NTS and a MAC reject it', async () => {
    const { relay, ke } = await viaRelay();
    const age = 300; // ms between the genuine reply and its replay
    const aged = () => new Promise((r) => setTimeout(r, age));

    await sntpQuery('127.0.0.1', { port: relay.port, ...quick });
    await aged();
    relay.set('replay', 1);
    const plain = await sntpQuery('127.0.0.1', { port: relay.port, ...quick });
    assert.ok(
      plain.offset < -0.2,
      `unauthenticated: a ${age} ms old reply taken as new (offset ${plain.offset} s)`,
    );

    const nts = new NtsClient(`127.0.0.1:${ke.address.port}`, { ca: ke.certificate.cert });
    relay.set('none');
    await sntpQuery(nts.keServer, { nts, ...quick });
    await aged();
    relay.set('replay', 1);
    const r = await sntpQuery(nts.keServer, { nts, ...quick });
    assert.equal(r.authenticated, 'nts');
    assert.equal(r.authFailures, 1, 'the replayed reply: not this request’s unique identifier');
    assert.ok(Math.abs(r.offset) < 0.1);

    relay.set('none');
    await sntpQuery('127.0.0.1', { port: relay.port, key: key(3), ...quick });
    await aged();
    relay.set('replay', 1);
    const m = await sntpQuery('127.0.0.1', { port: relay.port, key: key(3), ...quick });
    assert.equal(m.authFailures, 1, 'the MAC covers the origin timestamp');
    assert.ok(Math.abs(m.offset) < 0.1);
    assert.equal(relay.attacked, 3);
  });

  test('strips the authenticator or the MAC: rejected and counted', async () => {
    const { relay, ke } = await viaRelay();
    relay.set('strip-auth', 1);
    const r = await sntpQuery(`127.0.0.1:${ke.address.port}`, { nts: { ca: ke.certificate.cert }, ...quick });
    assert.equal(r.authenticated, 'nts');
    assert.equal(r.authFailures, 1);
    relay.set('strip-mac', 1);
    const m = await sntpQuery('127.0.0.1', { port: relay.port, key: key(1), ...quick });
    assert.equal(m.authenticated, 'symmetric');
    assert.equal(m.authFailures, 1);
    assert.equal(relay.attacked, 2);
  });

  test('swaps cookies between two clients: the server answers NTS NAK to both, they re-key and succeed', async () => {
    const { ntp, relay, ke } = await viaRelay();
    const a = new NtsClient(`127.0.0.1:${ke.address.port}`, { ca: ke.certificate.cert });
    const b = new NtsClient(`127.0.0.1:${ke.address.port}`, { ca: ke.certificate.cert });
    await Promise.all([a.ensureSession(), b.ensureSession()]);
    relay.set('swap-cookies', 2);
    const [ra, rb] = await Promise.all([
      sntpQuery(a.keServer, { nts: a, ...quick }),
      sntpQuery(b.keServer, { nts: b, ...quick }),
    ]);
    assert.equal(relay.attacked, 2);
    assert.equal(ra.authenticated, 'nts');
    assert.equal(rb.authenticated, 'nts');
    assert.equal(ntp.stats().auth?.naks, 2, 'each swapped cookie opened with the other client’s keys: NAK');
    assert.equal(a.stats().naks + b.stats().naks, 2);
    assert.equal(a.stats().keyExchanges + b.stats().keyExchanges, 4);
  });

  test('NTS NAK twice in a row (cookies the NTP server cannot open): NtsError', async () => {
    const ntp = await createSntpServer({ port: 0, leap: 0, nts: new NtsCookieKeys(), rateLimit: false });
    stops.push(() => ntp.close());
    const ke = await createNtsKeServer({
      port: 0,
      cookieKeys: new NtsCookieKeys(),
      ntpPort: ntp.address.port,
    });
    stops.push(() => ke.close());
    await assert.rejects(
      sntpQuery(`127.0.0.1:${ke.address.port}`, { nts: { ca: ke.certificate.cert }, ...quick }),
      (err: unknown) => err instanceof NtsError && /NTS NAK/.test(err.message),
    );
    assert.equal(ntp.stats().auth?.naks, 1, 'cookies fresh from NTS-KE were refused: no second key exchange');
  });
});
