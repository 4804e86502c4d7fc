import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { TimeoutError, ValidationError } from '../../src/core/errors.js';
import { checkQueryName, dnsLookup, dnsLookupMany, openDnsLookups } from '../../src/dns/lookup.js';
import { parseResolvConf, readResolvConf, searchNames } from '../../src/dns/resolv-conf.js';
import { type HostileServer, startHostileServer } from '../helpers/dns-hostile.js';
import { type Dnsmasq, startDnsmasq, ZONE } from '../helpers/dnsmasq.js';
import { findExecutable, requirePeer, STRICT } from '../helpers/peers.js';

describe('resolv.conf', () => {
  test('name servers, search list, options; the last search/domain line wins; junk is ignored', () => {
    const conf = parseResolvConf(
      [
        '# comment',
        'nameserver 127.0.0.53',
        'nameserver ::1',
        'nameserver not-an-address',
        'domain first.test',
        'search a.test b.test. ; trailing comment',
        'options ndots:2 timeout:3 attempts:4 rotate',
        'options ndots:x',
      ].join('\n'),
    );
    assert.deepEqual(conf, {
      nameservers: ['127.0.0.53', '::1'],
      search: ['a.test', 'b.test.'],
      ndots: 2,
      timeout: 3,
      attempts: 4,
    });
    assert.deepEqual(parseResolvConf(''), { nameservers: [], search: [], ndots: 1, timeout: 5, attempts: 2 });
  });

  test('a missing file is the defaults (glibc then asks 127.0.0.1)', async () => {
    assert.deepEqual((await readResolvConf('/nonexistent/resolv.conf')).nameservers, []);
  });

  test('search order follows ndots, as the stub resolver and dig +search do', () => {
    const conf = { search: ['example.test', 'other.test'], ndots: 1 };
    assert.deepEqual(searchNames('www', conf), ['www.example.test.', 'www.other.test.', 'www.']);
    assert.deepEqual(searchNames('www.sub', conf), [
      'www.sub.',
      'www.sub.example.test.',
      'www.sub.other.test.',
    ]);
    assert.deepEqual(searchNames('www.sub', { ...conf, ndots: 2 }), [
      'www.sub.example.test.',
      'www.sub.other.test.',
      'www.sub.',
    ]);
    assert.deepEqual(searchNames('www.', conf), ['www.']);
  });
});

describe('dnsLookup and dnsLookupMany', () => {
  let dnsmasq: Dnsmasq | undefined;
  const hostile: HostileServer[] = [];
  let dir = '';
  before(async () => {
    dir = mkdtempSync(`${os.tmpdir()}/soket-lookup-`);
    if (findExecutable('dnsmasq')) dnsmasq = await startDnsmasq();
    else if (STRICT) throw new Error('Required peer missing under CI=true: dnsmasq');
  });
  after(async () => {
    await dnsmasq?.stop();
    await Promise.all(hostile.map((h) => h.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('names are checked up front: IDN to xn--, label and name limits', () => {
    assert.equal(checkQueryName(' bücher.example '), 'xn--bcher-kva.example');
    assert.throws(() => checkQueryName(`${'x'.repeat(64)}.test`), ValidationError);
    assert.throws(() => checkQueryName(''), ValidationError);
  });

  test('the whole response, whatever its status, with the name as given', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const r = await dnsLookup(ZONE.alias, { server: dnsmasq.server });
    assert.equal(r.query, ZONE.alias);
    assert.deepEqual(
      r.message.answer.map((rr) => rr.type),
      ['CNAME', 'A'],
    );
    const nx = await dnsLookup(ZONE.nxdomain, { server: dnsmasq.server, type: 'MX' });
    assert.equal(nx.message.rcode, 'NXDOMAIN');
    assert.equal(nx.question.type, 'MX');
  });

  test('search: the resolv.conf search list is tried in ndots order until an answer', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const conf = `${dir}/resolv.conf`;
    writeFileSync(conf, 'search nowhere.example.test example.test\noptions ndots:1\n');
    const r = await dnsLookup('www', { server: dnsmasq.server, search: true, resolvConf: conf });
    assert.equal(r.question.name, 'www.example.test.');
    assert.deepEqual(r.searched, ['www.nowhere.example.test.']);
    assert.equal(r.message.answer[0]?.data.format, 'a');
  });

  test('several servers: one that does not answer is skipped (and named); a malformed answer is not', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const silent = await startHostileServer('silent');
    hostile.push(silent);
    const r = await dnsLookup(ZONE.www, { server: [silent.server, dnsmasq.server], timeout: 300 });
    assert.equal(r.server, dnsmasq.server);
    assert.equal(r.failedServers.length, 1);
    assert.equal(r.failedServers[0]?.server, silent.server);
    assert.match(r.failedServers[0]?.error ?? '', /timed out after 300 ms/);
    const bad = await startHostileServer('cut-short');
    hostile.push(bad);
    await assert.rejects(
      dnsLookup(ZONE.www, { server: `${bad.server},${dnsmasq.server}` }),
      /malformed response/,
    );
    await assert.rejects(dnsLookup(ZONE.www, { server: silent.server, timeout: 200 }), TimeoutError);
  });

  test('a batch: every name and type, bounded, outcomes in order; servers looked up once', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const names = [ZONE.www, ZONE.v4only, ZONE.nxdomain];
    const out = [];
    for await (const o of dnsLookupMany(names, {
      server: dnsmasq.server,
      type: ['A', 'AAAA'],
      ordered: true,
      concurrency: 2,
    }))
      out.push(o);
    assert.deepEqual(
      out.map((o) => [o.index, o.query, o.type, o.ok ? o.result.message.rcode : 'failed']),
      [
        [0, ZONE.www, 'A', 'NOERROR'],
        [1, ZONE.www, 'AAAA', 'NOERROR'],
        [2, ZONE.v4only, 'A', 'NOERROR'],
        [3, ZONE.v4only, 'AAAA', 'NOERROR'],
        [4, ZONE.nxdomain, 'A', 'NXDOMAIN'],
        [5, ZONE.nxdomain, 'AAAA', 'NXDOMAIN'],
      ],
    );
    const lookups = await openDnsLookups({ server: `127.0.0.1:${dnsmasq.port}`, transport: 'tcp' });
    try {
      assert.equal(lookups.via, `${dnsmasq.server} over TCP`);
      let n = 0;
      for await (const o of lookups.many([ZONE.www, ZONE.alias]))
        if (o.ok && o.result.transport === 'tcp') n++;
      assert.equal(n, 2);
    } finally {
      lookups.close();
    }
  });

  test('bad options fail before any question: unknown type, malformed server, bad URL', async () => {
    await assert.rejects(openDnsLookups({ server: '127.0.0.1', type: 'NOPE' }), /Unknown record type 'NOPE'/);
    await assert.rejects(openDnsLookups({ server: 'bad..name' }), /Invalid DNS server 'bad\.\.name'/);
    await assert.rejects(openDnsLookups({ server: '127.0.0.1:0' }), /Invalid DNS server '127\.0\.0\.1:0'/);
    await assert.rejects(openDnsLookups({ server: 'ftp://127.0.0.1/' }), /Invalid DoH URL/);
    const it = dnsLookupMany(['ok.test', 'a..b'], { server: '127.0.0.1' });
    await assert.rejects(it.next(), /Invalid name 'a\.\.b'/);
  });
});
