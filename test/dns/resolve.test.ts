import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { AbortError, DnsError, TimeoutError, ValidationError } from '../../src/core/errors.js';
import { type DnsRecord, parseRecordType, type RECORD_TYPES, recordData } from '../../src/dns/records.js';
import { checkLookupName, resolve } from '../../src/dns/resolve.js';
import { parseDnsServer, parseDnsServers } from '../../src/dns/server-address.js';
import { RCODE, startDnsResponder, startSplitDnsResponder } from '../helpers/dns-responder.js';
import { type Dnsmasq, startDnsmasq, ZONE } from '../helpers/dnsmasq.js';
import { findExecutable, requirePeer, STRICT } from '../helpers/peers.js';
import { freeTcpUdpPort } from '../helpers/ports.js';

/** dig +short against the same server, names without their final dot (soket prints them without). */
function digShort(server: Dnsmasq, name: string, type: string): string[] {
  const out = execFileSync(
    'dig',
    [`@${server.host}`, '-p', String(server.port), '+short', '+tries=1', name, type],
    {
      encoding: 'utf8',
    },
  );
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/\.(?=\s|$)/g, ''));
}

const sorted = (xs: string[]) => [...xs].sort();

describe('resolve over DNS (dnsmasq)', () => {
  let dnsmasq: Dnsmasq | undefined;

  before(async () => {
    if (findExecutable('dnsmasq')) dnsmasq = await startDnsmasq();
    else if (STRICT) throw new Error('Required peer missing under CI=true: dnsmasq');
  });
  after(async () => {
    await dnsmasq?.stop();
  });

  test('addresses: A and AAAA with TTLs, filtered by family', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const both = await resolve(ZONE.www, { server: dnsmasq.server });
    assert.deepEqual(both.types, ['A', 'AAAA']);
    assert.equal(both.resolver, 'dns');
    assert.equal(both.server, dnsmasq.server);
    assert.deepEqual(
      both.records.map((r) => [r.type, r.data, r.ttl]),
      [
        ['A', ZONE.wwwV4, ZONE.ttl],
        ['AAAA', ZONE.wwwV6, ZONE.ttl],
      ],
    );
    assert.ok(both.elapsedMs > 0);
    const v4 = await resolve(ZONE.www, { server: dnsmasq.server, family: 4 });
    assert.deepEqual(v4.types, ['A']);
    assert.deepEqual(
      v4.records.map((r) => r.data),
      [ZONE.wwwV4],
    );
    const v6 = await resolve(ZONE.www, { server: dnsmasq.server, family: 6 });
    assert.deepEqual(
      v6.records.map((r) => r.data),
      [ZONE.wwwV6],
    );
    // A name with only an A record: the empty AAAA answer is not an error.
    const only4 = await resolve(ZONE.v4only, { server: dnsmasq.server });
    assert.deepEqual(
      only4.records.map((r) => r.data),
      [ZONE.v4onlyAddress],
    );
    const only6 = await resolve(ZONE.v6only, { server: dnsmasq.server });
    assert.deepEqual(
      only6.records.map((r) => r.data),
      [ZONE.v6onlyAddress],
    );
  });

  test('every record type agrees with dig +short on the same server', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    if (!requirePeer(t, 'dig', 'apt-get install bind9-dnsutils')) return;
    const cases: Array<[string, (typeof RECORD_TYPES)[number]]> = [
      [ZONE.www, 'A'],
      [ZONE.www, 'AAAA'],
      [ZONE.alias, 'CNAME'],
      [ZONE.domain, 'MX'],
      [ZONE.domain, 'NS'],
      [ZONE.domain, 'TXT'],
      [ZONE.domain, 'SOA'],
      [ZONE.srvName, 'SRV'],
      [ZONE.domain, 'CAA'],
      [`${ZONE.wwwV4.split('.').reverse().join('.')}.in-addr.arpa`, 'PTR'],
      [ZONE.domain, 'NAPTR'],
      [ZONE.domain, 'ANY'],
    ];
    for (const [name, type] of cases) {
      const r = await resolve(name, { server: dnsmasq.server, type });
      assert.deepEqual(r.types, [type]);
      assert.ok(r.records.length > 0, `${type} has records`);
      if (type !== 'ANY') assert.ok(r.records.every((rec) => rec.type === type));
      assert.deepEqual(
        sorted(r.records.map((rec) => rec.data)),
        sorted(digShort(dnsmasq, name, type)),
        `${name} ${type}`,
      );
    }
  });

  test('records carry typed fields, not only text', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const s = dnsmasq.server;
    const one = async (name: string, type: (typeof RECORD_TYPES)[number]): Promise<DnsRecord> => {
      const r = await resolve(name, { server: s, type });
      assert.equal(r.records.length, 1, `${name} ${type}`);
      return r.records[0] as DnsRecord;
    };
    assert.deepEqual(await one(ZONE.domain, 'MX'), {
      type: 'MX',
      ttl: null,
      data: '10 mail.example.test',
      ...ZONE.mx,
    });
    assert.deepEqual(await one(ZONE.srvName, 'SRV'), {
      type: 'SRV',
      ttl: null,
      data: '0 5 5060 sip.example.test',
      ...ZONE.srv,
    });
    const txt = await one(ZONE.domain, 'TXT');
    assert.equal(txt.type, 'TXT');
    if (txt.type === 'TXT') assert.deepEqual(txt.entries, [...ZONE.txt]);
    const soa = await one(ZONE.domain, 'SOA');
    assert.deepEqual(
      { ...soa, data: undefined, type: undefined, ttl: undefined },
      {
        ...ZONE.soa,
        data: undefined,
        type: undefined,
        ttl: undefined,
      },
    );
    const caa = await one(ZONE.domain, 'CAA');
    if (caa.type === 'CAA') assert.deepEqual([caa.flags, caa.tag, caa.value], [0, 'issue', ZONE.caa.value]);
    const naptr = await one(ZONE.domain, 'NAPTR');
    if (naptr.type === 'NAPTR') assert.equal(naptr.replacement, ZONE.naptr.replacement);
    const cname = await one(ZONE.alias, 'CNAME');
    if (cname.type === 'CNAME') assert.equal(cname.target, ZONE.www);
    // Asking an alias for A follows the CNAME, as resolvers do.
    const viaAlias = await resolve(ZONE.alias, { server: s, type: 'a' });
    assert.deepEqual(
      viaAlias.records.map((r) => r.data),
      [ZONE.wwwV4],
    );
  });

  test('NXDOMAIN, no data and REFUSED have distinct codes and name the name, type and server', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const s = dnsmasq.server;
    const nx = await resolve(ZONE.nxdomain, { server: s, type: 'A' }).catch((e: unknown) => e);
    assert.ok(nx instanceof DnsError);
    assert.equal(nx.code, 'ENOTFOUND');
    assert.equal(nx.message, `Name ${ZONE.nxdomain} does not exist (NXDOMAIN; A query to ${s})`);
    assert.deepEqual([nx.hostname, nx.rrtype, nx.server], [ZONE.nxdomain, 'A', s]);

    const nodata = await resolve(ZONE.www, { server: s, type: 'MX' }).catch((e: unknown) => e);
    assert.ok(nodata instanceof DnsError);
    assert.equal(nodata.code, 'ENODATA');
    assert.match(nodata.message, new RegExp(`^Name ${ZONE.www} has no MX records .*MX query to ${s}\\)$`));

    const noAddresses = await resolve(ZONE.domain, { server: s }).catch((e: unknown) => e);
    assert.ok(noAddresses instanceof DnsError);
    assert.equal(noAddresses.code, 'ENODATA');
    assert.equal(noAddresses.rrtype, 'A/AAAA');

    const refused = await resolve(ZONE.refused, { server: s, type: 'A' }).catch((e: unknown) => e);
    assert.ok(refused instanceof DnsError);
    assert.equal(refused.code, 'EREFUSED');
    assert.equal(refused.message, `DNS server ${s} refused the A query for ${ZONE.refused} (REFUSED)`);
  });

  test('SERVFAIL and NOTIMP from a server have their own codes', async () => {
    for (const [rcode, code, text] of [
      [RCODE.SERVFAIL, 'ESERVFAIL', 'failed to answer the TXT query'],
      [RCODE.NOTIMP, 'ENOTIMP', 'does not implement the TXT query'],
    ] as const) {
      const responder = await startDnsResponder(rcode);
      try {
        const err = await resolve(ZONE.domain, { server: responder.server, type: 'TXT', tries: 1 }).catch(
          (e: unknown) => e,
        );
        assert.ok(err instanceof DnsError, String(err));
        assert.equal(err.code, code);
        assert.equal(
          err.message.includes(`DNS server ${responder.server} ${text} for ${ZONE.domain}`),
          true,
          err.message,
        );
      } finally {
        await responder.close();
      }
    }
  });

  test('a silent server times out after the limit, with a message saying what, where and how long', async () => {
    const silent = await startDnsResponder('silent');
    try {
      const t0 = performance.now();
      const err = await resolve(ZONE.www, { server: silent.server, type: 'A', timeout: 300, tries: 2 }).catch(
        (e: unknown) => e,
      );
      const took = performance.now() - t0;
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal(err.code, 'SOKET_TIMEOUT');
      assert.equal(err.timeoutMs, 300);
      assert.equal(
        err.message,
        `Name lookup of ${ZONE.www} (A query to ${silent.server}) timed out after 300 ms (2 tries)`,
      );
      assert.ok(took >= 295, `gave up after ${took} ms`);
      assert.ok(silent.queries() >= 1);
    } finally {
      await silent.close();
    }
  });

  test('a closed port is ECONNREFUSED, not a timeout', async () => {
    const port = await freeTcpUdpPort();
    const err = await resolve(ZONE.www, { server: `127.0.0.1:${port}`, type: 'A', timeout: 3000 }).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof DnsError, String(err));
    assert.equal(err.code, 'ECONNREFUSED');
    assert.match(
      err.message,
      new RegExp(`^Cannot reach DNS server 127\\.0\\.0\\.1:${port}: connection refused`),
    );
  });

  test('the signal aborts a query in flight and a call that has not started', async () => {
    const silent = await startDnsResponder('silent');
    try {
      const controller = new AbortController();
      const pending = resolve(ZONE.www, {
        server: silent.server,
        signal: controller.signal,
        timeout: 10_000,
      });
      setTimeout(() => controller.abort(), 50);
      await assert.rejects(pending, AbortError);
      await assert.rejects(
        resolve(ZONE.www, { server: silent.server, signal: AbortSignal.abort() }),
        (e: unknown) => e instanceof AbortError,
      );
      await assert.rejects(resolve('localhost', { signal: AbortSignal.abort() }), AbortError);
    } finally {
      await silent.close();
    }
  });
});

describe('addresses over DNS: one family failing does not fail the name (as getaddrinfo)', () => {
  for (const [what, aaaa, code] of [
    ['NXDOMAIN', RCODE.NXDOMAIN, 'ENOTFOUND'],
    ['REFUSED', RCODE.REFUSED, 'EREFUSED'],
    ['SERVFAIL', RCODE.SERVFAIL, 'ESERVFAIL'],
    ['silence', 'silent', 'SOKET_TIMEOUT'],
  ] as const) {
    test(`A answered, AAAA ${what}: the A records, and what AAAA returned`, async () => {
      const server = await startSplitDnsResponder({ A: '192.0.2.7', AAAA: aaaa });
      try {
        const r = await resolve('x.test', { server: server.server, timeout: aaaa === 'silent' ? 400 : 3000 });
        assert.deepEqual(
          r.records.map((x) => [x.type, x.data]),
          [['A', '192.0.2.7']],
        );
        assert.equal(r.failed?.length, 1, JSON.stringify(r));
        assert.equal(r.failed?.[0]?.type, 'AAAA');
        assert.equal(r.failed?.[0]?.code, code);
        assert.match(r.failed?.[0]?.message ?? '', /x\.test/);
        assert.deepEqual(JSON.parse(JSON.stringify(r)).failed, r.failed, 'plain data, for --json');
      } finally {
        await server.close();
      }
    });
  }

  test('AAAA answered, A SERVFAIL: the AAAA records', async () => {
    const server = await startSplitDnsResponder({ A: RCODE.SERVFAIL, AAAA: '2001:db8::7' });
    try {
      const r = await resolve('x.test', { server: server.server });
      assert.deepEqual(
        r.records.map((x) => [x.type, x.data]),
        [['AAAA', '2001:db8::7']],
      );
      assert.deepEqual(
        r.failed?.map((f) => [f.type, f.code]),
        [['A', 'ESERVFAIL']],
      );
    } finally {
      await server.close();
    }
  });

  test('both answered: no failures reported; no data for AAAA is not a failure', async () => {
    const both = await startSplitDnsResponder({ A: '192.0.2.7', AAAA: '2001:db8::7' });
    const v4only = await startSplitDnsResponder({ A: '192.0.2.7' });
    try {
      const r = await resolve('x.test', { server: both.server });
      assert.equal(r.records.length, 2);
      assert.equal(r.failed, undefined);
      const r4 = await resolve('x.test', { server: v4only.server });
      assert.deepEqual(
        r4.records.map((x) => x.data),
        ['192.0.2.7'],
      );
      assert.equal(r4.failed, undefined);
    } finally {
      await both.close();
      await v4only.close();
    }
  });

  test('neither family has an address: the name fails as before', async () => {
    const nodataAndFail = await startSplitDnsResponder({ AAAA: RCODE.SERVFAIL });
    const bothSilent = await startSplitDnsResponder({ A: 'silent', AAAA: 'silent' });
    try {
      const err = await resolve('x.test', { server: nodataAndFail.server }).catch((e: unknown) => e);
      assert.ok(err instanceof DnsError, String(err));
      assert.equal(err.code, 'ESERVFAIL');
      const t = await resolve('x.test', { server: bothSilent.server, timeout: 300 }).catch((e: unknown) => e);
      assert.ok(t instanceof TimeoutError, String(t));
      assert.equal(
        t.message,
        `Name lookup of x.test (A/AAAA query to ${bothSilent.server}) timed out after 300 ms (2 tries)`,
      );
    } finally {
      await nodataAndFail.close();
      await bothSilent.close();
    }
  });
});

describe('resolve with the system resolver', () => {
  test('localhost comes from getaddrinfo, like getent ahostsv4', async (t) => {
    if (!requirePeer(t, 'getent', 'apt-get install libc-bin')) return;
    const r = await resolve('localhost', { family: 4 });
    assert.equal(r.resolver, 'system');
    assert.equal(r.server, 'the system resolver');
    assert.deepEqual(r.types, ['A']);
    const getent = execFileSync('getent', ['ahostsv4', 'localhost'], { encoding: 'utf8' });
    const expected = [
      ...new Set(
        getent
          .trim()
          .split('\n')
          .map((l) => l.split(/\s+/)[0] as string),
      ),
    ];
    assert.deepEqual(
      r.records.map((rec) => (rec.type === 'A' && rec.address === rec.data ? rec.data : rec)),
      expected,
    );
    assert.ok(r.records.every((rec) => rec.ttl === null));
    // An address literal is its own answer.
    const literal = await resolve('127.0.0.1');
    assert.deepEqual(
      literal.records.map((rec) => rec.data),
      ['127.0.0.1'],
    );
  });
});

describe('input checks', () => {
  test('names: host names, SRV-style labels, IDNs and addresses; everything else is a ValidationError', () => {
    assert.equal(checkLookupName(' www.example.test '), 'www.example.test');
    assert.equal(checkLookupName('_sip._udp.example.test.'), '_sip._udp.example.test.');
    assert.equal(checkLookupName('bücher.example'), 'xn--bcher-kva.example');
    assert.equal(checkLookupName('2001:db8::1'), '2001:db8::1');
    for (const bad of [
      '',
      ' ',
      'bad..name',
      '-lead.example',
      'a b',
      `${'x'.repeat(64)}.example`,
      'ex!ample',
    ]) {
      assert.throws(() => checkLookupName(bad), ValidationError, JSON.stringify(bad));
    }
  });

  test('bad or conflicting options are ValidationErrors before anything is sent', async () => {
    const cases: Array<[Parameters<typeof resolve>[1], RegExp]> = [
      [{ family: 5 as 4 }, /Invalid family '5'/],
      [{ type: 'BOGUS' as 'A' }, /Unknown record type 'BOGUS'/],
      [{ resolver: 'system', server: '127.0.0.1' }, /system resolver only looks up addresses/],
      [{ resolver: 'system', type: 'MX' }, /system resolver only looks up addresses/],
      [{ family: 4, type: 'AAAA', server: '127.0.0.1' }, /Family 4 cannot be used with record type AAAA/],
      [{ family: 6, type: 'MX', server: '127.0.0.1' }, /Family 6 cannot be used with record type MX/],
      [{ server: 'dns.example' }, /Invalid DNS server 'dns.example': expected an IP address/],
      [{ server: '127.0.0.1:70000' }, /Invalid port '70000'/],
      [{ server: '' }, /Invalid DNS server: must not be empty/],
      [{ tries: 0 }, /Invalid tries '0'/],
      [{ timeout: -1 }, /Invalid timeout '-1'/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(resolve('localhost', options), (e: unknown) => {
        assert.ok(e instanceof ValidationError, String(e));
        assert.match(e.message, message);
        return true;
      });
    }
  });

  test('server addresses and record types parse as documented', () => {
    assert.deepEqual(parseDnsServer('127.0.0.1'), { address: '127.0.0.1', port: 53, text: '127.0.0.1:53' });
    assert.deepEqual(parseDnsServer('[::1]:5353'), { address: '::1', port: 5353, text: '[::1]:5353' });
    assert.deepEqual(parseDnsServer('::1'), { address: '::1', port: 53, text: '[::1]:53' });
    assert.deepEqual(
      parseDnsServers(['127.0.0.1:5353,[::1]:5353', '127.0.0.1:5353']).map((s) => s.text),
      ['127.0.0.1:5353', '[::1]:5353'],
    );
    assert.equal(parseRecordType('naptr'), 'NAPTR');
    assert.equal(
      recordData({ type: 'TXT', ttl: null, entries: ['a "quoted" \\ text'] }),
      '"a \\"quoted\\" \\\\ text"',
    );
    assert.equal(
      recordData({ type: 'CAA', ttl: null, flags: 128, tag: 'iodef', value: 'mailto:x@example.test' }),
      '128 iodef "mailto:x@example.test"',
    );
  });
});
