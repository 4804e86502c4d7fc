/**
 * dnsQuery against real servers: BIND's named (authoritative, signed zones with every record type of issue
 * 14), unbound (recursive, with DoT and DoH) and dnsmasq — and, for every question, soket's answer set, TTLs,
 * flags and response code against `dig +noall +answer +comments` asked of the same server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ResourceRecord, rdataText } from '../../src/codec/dns.js';
import { TlsError } from '../../src/core/errors.js';
import { DnsClient, type DnsResponse, dnsQuery } from '../../src/dns/query.js';
import {
  AUTH_QUESTIONS,
  AUTH_ZONE,
  type AuthServer,
  authToolsMissing,
  type DigAnswer,
  dig,
  startAuthServer,
} from '../helpers/dns-auth.js';
import { type Dnsmasq, startDnsmasq, ZONE } from '../helpers/dnsmasq.js';
import { findExecutable, requirePeer, STRICT } from '../helpers/peers.js';
import { startUnbound, type Unbound, unboundMissing } from '../helpers/unbound.js';

/** A record as dig prints it: owner, TTL, class, type, data. */
function line(rr: ResourceRecord): string {
  return `${rr.name} ${rr.ttl} ${rr.class} ${rr.type} ${rdataText(rr.data, rr.rdata, { now: Date.now() })}`;
}

/** The header flags in dig's order. */
function flags(r: DnsResponse): string[] {
  const f = r.message.flags;
  return (['qr', 'aa', 'tc', 'rd', 'ra', 'ad', 'cd'] as const).filter((k) => f[k]);
}

function digLines(d: DigAnswer): string[] {
  return d.answer.map((a) => `${a.name} ${a.ttl} ${a.class} ${a.type} ${a.data}`).sort();
}

function sameAsDig(r: DnsResponse, d: DigAnswer, what: string): void {
  assert.equal(r.message.rcode, d.status, `${what}: rcode`);
  assert.deepEqual(flags(r), d.flags, `${what}: flags`);
  assert.deepEqual(r.message.answer.map(line).sort(), digLines(d), `${what}: answer`);
}

/** The answer without TTLs (a cache counts them down between two queries). */
function answerSet(r: DnsResponse): string[] {
  return r.message.answer.map((rr) => line(rr).replace(/^(\S+) \d+ /, '$1 ')).sort();
}

describe('dnsQuery against named (authoritative, signed zones)', () => {
  let auth: AuthServer | undefined;
  before(async () => {
    const missing = authToolsMissing();
    if (!missing) auth = await startAuthServer();
    else if (STRICT) throw new Error(`Required peer missing under CI=true: ${missing}`);
  });
  after(async () => {
    await auth?.stop();
  });
  const need = (t: import('node:test').TestContext) =>
    requirePeer(t, authToolsMissing() ?? 'named', 'apt-get install bind9 bind9-utils') !== undefined &&
    auth !== undefined &&
    requirePeer(t, 'dig', 'apt-get install bind9-dnsutils') !== undefined;

  test(`every type of the zone: answer set, TTLs, flags and rcode equal dig's (${AUTH_QUESTIONS.length} questions)`, async (t) => {
    if (!need(t) || !auth) return;
    const client = new DnsClient({ server: auth.server });
    try {
      for (const [name, type] of AUTH_QUESTIONS) {
        const [r, d] = [await client.query({ name, type }), dig(auth.server, name, type)];
        sameAsDig(r, d, `${name} ${type}`);
      }
    } finally {
      client.close();
    }
  });

  test('with DO (+dnssec): RRSIGs, NSEC3 and NSEC records equal dig +dnssec', async (t) => {
    if (!need(t) || !auth) return;
    for (const [name, type] of [
      ['www.soket.test', 'A'],
      ['soket.test', 'DNSKEY'],
      ['nosuch.soket.test', 'A'],
      ['www.nsec.test', 'A'],
      ['alias.soket.test', 'A'],
    ] as const) {
      const r = await dnsQuery({ name, type }, { server: auth.server, dnssecOk: true });
      sameAsDig(r, dig(auth.server, name, type, ['+dnssec']), `${name} ${type} +dnssec`);
      assert.equal(r.message.edns?.dnssecOk, true);
    }
    const nx = await dnsQuery(
      { name: AUTH_ZONE.nxdomain, type: 'A' },
      { server: auth.server, dnssecOk: true },
    );
    assert.deepEqual([...new Set(nx.message.authority.map((rr) => rr.type))].sort(), [
      'NSEC3',
      'RRSIG',
      'SOA',
    ]);
    const nsec = await dnsQuery(
      { name: 'nosuch.nsec.test', type: 'A' },
      { server: auth.server, dnssecOk: true },
    );
    assert.ok(nsec.message.authority.some((rr) => rr.type === 'NSEC' && rr.data.format === 'nsec'));
  });

  test('a CNAME chain is in the answer, each link with its TTL', async (t) => {
    if (!need(t) || !auth) return;
    const r = await dnsQuery({ name: AUTH_ZONE.alias, type: 'A' }, { server: auth.server });
    assert.deepEqual(
      r.message.answer.map((rr) => `${rr.name} ${rr.ttl} ${rr.type} ${rdataText(rr.data, rr.rdata)}`),
      [
        'alias.soket.test. 300 CNAME alias2.soket.test.',
        'alias2.soket.test. 300 CNAME www.soket.test.',
        'www.soket.test. 300 A 192.0.2.10',
      ],
    );
  });

  test('a set over 1232 bytes is truncated over UDP and asked again over TCP; one over 512 only without EDNS', async (t) => {
    if (!need(t) || !auth) return;
    const big = await dnsQuery({ name: AUTH_ZONE.big, type: 'TXT' }, { server: auth.server });
    assert.deepEqual(
      [big.truncated, big.transport, big.message.answer.length],
      [true, 'tcp', AUTH_ZONE.bigCount],
    );
    assert.ok(big.size > 1232);
    const medium = await dnsQuery({ name: AUTH_ZONE.medium, type: 'A' }, { server: auth.server });
    assert.deepEqual(
      [medium.truncated, medium.transport, medium.message.answer.length],
      [false, 'udp', AUTH_ZONE.mediumCount],
    );
    assert.ok(medium.size > 512);
    const noEdns = await dnsQuery(
      { name: AUTH_ZONE.medium, type: 'A' },
      { server: auth.server, edns: false },
    );
    assert.deepEqual(
      [noEdns.truncated, noEdns.transport, noEdns.message.answer.length],
      [true, 'tcp', AUTH_ZONE.mediumCount],
    );
    assert.equal(noEdns.message.edns, undefined);
    const d = dig(auth.server, AUTH_ZONE.medium, 'A', ['+noedns']);
    assert.deepEqual(noEdns.message.answer.map(line).sort(), digLines(d));
  });

  test('a delegation: no answer, NS in authority, glue in additional, AA clear', async (t) => {
    if (!need(t) || !auth) return;
    const r = await dnsQuery(
      { name: AUTH_ZONE.delegated, type: 'A' },
      { server: auth.server, recursionDesired: false },
    );
    assert.equal(r.message.rcode, 'NOERROR');
    assert.equal(r.message.flags.aa, false);
    assert.equal(r.message.flags.rd, false);
    assert.deepEqual(r.message.answer, []);
    assert.deepEqual(r.message.authority.map(line), ['sub.soket.test. 300 IN NS ns.sub.soket.test.']);
    assert.deepEqual(r.message.additional.map(line), ['ns.sub.soket.test. 300 IN A 127.0.0.2']);
  });

  test('NSID, cookies and the EDNS fields, as dig shows them', async (t) => {
    if (!need(t) || !auth) return;
    const r = await dnsQuery(
      { name: AUTH_ZONE.www, type: 'A' },
      { server: auth.server, nsid: true, cookie: true, udpSize: 4096 },
    );
    const opts = r.message.edns?.options ?? [];
    assert.deepEqual(
      opts.filter((o) => o.option === 'nsid').map((o) => (o.option === 'nsid' ? o.text : '')),
      [AUTH_ZONE.nsid],
    );
    const cookie = opts.find((o) => o.option === 'cookie');
    assert.ok(cookie && cookie.option === 'cookie' && cookie.server.length >= 16, 'a server cookie');
    assert.equal(r.message.edns?.udpSize, 1232);
    assert.equal(r.message.edns?.version, 0);
  });

  test('over TCP and over IPv6, the same answers', async (t) => {
    if (!need(t) || !auth) return;
    for (const [name, type] of AUTH_QUESTIONS.slice(0, 12)) {
      const udp = await dnsQuery({ name, type }, { server: auth.server });
      const tcp = await dnsQuery({ name, type }, { server: auth.server, transport: 'tcp' });
      const v6 = await dnsQuery({ name, type }, { server: auth.server6 });
      assert.deepEqual(tcp.message.answer.map(line), udp.message.answer.map(line), `${name} ${type} tcp`);
      assert.deepEqual(v6.message.answer.map(line), udp.message.answer.map(line), `${name} ${type} v6`);
      assert.equal(tcp.transport, 'tcp');
    }
  });

  test('ANY (RFC 8482 lets a server answer with a subset; named answers every set, over TCP here)', async (t) => {
    if (!need(t) || !auth) return;
    const r = await dnsQuery({ name: AUTH_ZONE.zone, type: 'ANY' }, { server: auth.server });
    assert.equal(r.truncated, true);
    assert.ok(new Set(r.message.answer.map((rr) => rr.type)).size >= 10);
  });
});

describe('dnsQuery over DoT and DoH (unbound) against the same query over UDP', () => {
  let auth: AuthServer | undefined;
  let unbound: Unbound | undefined;
  before(async () => {
    const missing = authToolsMissing() ?? unboundMissing();
    if (!missing) {
      auth = await startAuthServer();
      unbound = await startUnbound({ upstream: auth.server });
    } else if (STRICT) throw new Error(`Required peer missing under CI=true: ${missing}`);
  });
  after(async () => {
    await unbound?.stop();
    await auth?.stop();
  });
  const need = (t: import('node:test').TestContext) =>
    requirePeer(
      t,
      unboundMissing() ?? authToolsMissing() ?? 'unbound',
      'apt-get install unbound bind9 openssl',
    ) !== undefined && unbound !== undefined;

  test('TLS, HTTPS POST and HTTPS GET answer as UDP does: answer set, rcode, flags', async (t) => {
    if (!need(t) || !unbound) return;
    const u = unbound;
    const clients = {
      udp: new DnsClient({ server: u.server }),
      tls: new DnsClient({ server: u.tlsServer, transport: 'tls', ca: u.ca }),
      post: new DnsClient({ server: u.dohUrl, ca: u.ca }),
      get: new DnsClient({ server: u.dohUrl, ca: u.ca, method: 'GET' }),
    };
    try {
      // Not ANY (a resolver may answer it from its cache, RFC 8482), not the delegation (no server behind it).
      for (const [name, type] of AUTH_QUESTIONS.filter(
        ([n, ty]) => ty !== 'ANY' && n !== AUTH_ZONE.delegated,
      )) {
        const udp = await clients.udp.query({ name, type });
        for (const [via, c] of [
          ['tls', clients.tls],
          ['post', clients.post],
          ['get', clients.get],
        ] as const) {
          const r = await c.query({ name, type });
          assert.equal(r.message.rcode, udp.message.rcode, `${name} ${type} ${via}: rcode`);
          assert.deepEqual(
            flags(r).filter((f) => f !== 'tc'),
            flags(udp).filter((f) => f !== 'tc'),
            `${name} ${type} ${via}: flags`,
          );
          assert.deepEqual(answerSet(r), answerSet(udp), `${name} ${type} ${via}: answer`);
          for (const rr of r.message.answer) assert.ok(rr.ttl <= AUTH_ZONE.ttl);
        }
      }
      const tls = await clients.tls.query({ name: AUTH_ZONE.www });
      assert.deepEqual([tls.transport, tls.tls?.verified, tls.tls?.protocol], ['tls', true, 'TLSv1.3']);
      const doh = await clients.post.query({ name: AUTH_ZONE.www });
      assert.deepEqual(
        [doh.transport, doh.httpVersion, doh.tls?.alpn, doh.tls?.verified],
        ['https', '2', 'h2', true],
      );
    } finally {
      for (const c of Object.values(clients)) c.close();
    }
  });

  test('a batch over DoH shares one HTTP/2 connection; over DoT one TLS connection', async (t) => {
    if (!need(t) || !unbound) return;
    for (const options of [
      { server: unbound.dohUrl },
      { server: unbound.tlsServer, transport: 'tls' as const },
    ]) {
      const client: DnsClient = new DnsClient({ ...options, ca: unbound.ca });
      try {
        const rs: DnsResponse[] = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            client.query({ name: i % 2 ? AUTH_ZONE.www : AUTH_ZONE.alias }),
          ),
        );
        assert.ok(rs.every((r) => r.message.rcode === 'NOERROR' && r.message.answer.length > 0));
        assert.equal(new Set(rs.map((r) => r.tls)).size, 1, 'one TLS session');
      } finally {
        client.close();
      }
    }
  });

  test('the certificate is checked: another CA or another name is refused; --servername picks the name', async (t) => {
    if (!need(t) || !unbound) return;
    const u = unbound;
    await assert.rejects(
      dnsQuery({ name: AUTH_ZONE.www }, { server: u.tlsServer, transport: 'tls', ca: u.otherCa }),
      (e: Error) => e instanceof TlsError && /not trusted/.test(e.message),
    );
    await assert.rejects(
      dnsQuery({ name: AUTH_ZONE.www }, { server: u.dohUrl, ca: u.ca, servername: 'other.soket.test' }),
      (e: Error) => e instanceof TlsError && /not for other\.soket\.test/.test(e.message),
    );
    await assert.rejects(
      dnsQuery({ name: AUTH_ZONE.www }, { server: u.tlsServer, transport: 'tls' }),
      TlsError,
    );
    const r = await dnsQuery(
      { name: AUTH_ZONE.www },
      { server: u.tlsServer, transport: 'tls', ca: u.ca, servername: u.servername },
    );
    assert.equal(r.tls?.servername, u.servername);
    const insecure = await dnsQuery(
      { name: AUTH_ZONE.www },
      { server: u.tlsServer, transport: 'tls', insecure: true },
    );
    assert.deepEqual([insecure.tls?.verified, insecure.tls?.accepted], [false, 'insecure']);
  });

  test('unbound answers NSID over every transport', async (t) => {
    if (!need(t) || !unbound) return;
    for (const options of [
      { server: unbound.server },
      { server: unbound.tlsServer, transport: 'tls' as const, ca: unbound.ca },
      { server: unbound.dohUrl, ca: unbound.ca },
    ]) {
      const r = await dnsQuery({ name: AUTH_ZONE.www }, { ...options, nsid: true });
      assert.ok(r.message.edns?.options.some((o) => o.option === 'nsid' && o.text === 'soket-unbound'));
    }
  });
});

describe('dnsQuery against dnsmasq', () => {
  let dnsmasq: Dnsmasq | undefined;
  before(async () => {
    if (findExecutable('dnsmasq')) dnsmasq = await startDnsmasq();
    else if (STRICT) throw new Error('Required peer missing under CI=true: dnsmasq');
  });
  after(async () => {
    await dnsmasq?.stop();
  });

  test("answers equal dig's for the test zone, NXDOMAIN and REFUSED included", async (t) => {
    if (
      !requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') ||
      !dnsmasq ||
      !requirePeer(t, 'dig', 'apt-get install bind9-dnsutils')
    )
      return;
    for (const [name, type] of [
      [ZONE.www, 'A'],
      [ZONE.www, 'AAAA'],
      [ZONE.alias, 'A'],
      [ZONE.domain, 'MX'],
      [ZONE.domain, 'TXT'],
      [ZONE.srvName, 'SRV'],
      [ZONE.domain, 'CAA'],
      [ZONE.domain, 'NAPTR'],
      [ZONE.domain, 'SOA'],
      [ZONE.nxdomain, 'A'],
      [ZONE.refused, 'A'],
    ] as const) {
      const r = await dnsQuery({ name, type }, { server: dnsmasq.server });
      sameAsDig(r, dig(dnsmasq.server, name, type), `${name} ${type}`);
    }
  });
});
