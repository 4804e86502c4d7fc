import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { AbortError, DnsError, TimeoutError, ValidationError } from '../../src/core/errors.js';
import { ptrName, reverse } from '../../src/dns/reverse.js';
import { startDnsResponder } from '../helpers/dns-responder.js';
import { type Dnsmasq, startDnsmasq, ZONE } from '../helpers/dnsmasq.js';
import { findExecutable, requirePeer, STRICT } from '../helpers/peers.js';

describe('ptrName (RFC 1035 §3.5, RFC 3596 §2.5)', () => {
  test('known answers', () => {
    assert.equal(ptrName('192.0.2.10'), '10.2.0.192.in-addr.arpa');
    assert.equal(ptrName('[127.0.0.1]'), '1.0.0.127.in-addr.arpa');
    // RFC 3596 §2.5's own example: 4321:0:1:2:3:4:567:89ab
    assert.equal(
      ptrName('4321:0:1:2:3:4:567:89ab'),
      'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa',
    );
    assert.equal(ptrName('::1'), `1${'.0'.repeat(31)}.ip6.arpa`);
    assert.equal(ptrName('::'), `0${'.0'.repeat(31)}.ip6.arpa`);
    assert.equal(
      ptrName('2001:db8::20'),
      '0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
    );
    assert.equal(
      ptrName('::ffff:192.0.2.1'),
      '1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa',
    );
    assert.equal(ptrName('2001:DB8:0:0:1::'), ptrName('2001:db8::1:0:0:0'));
    assert.throws(() => ptrName('1.2.3'), ValidationError);
    assert.throws(() => ptrName('www.example.test'), ValidationError);
  });
});

describe('reverse over DNS (dnsmasq)', () => {
  let dnsmasq: Dnsmasq | undefined;
  before(async () => {
    if (findExecutable('dnsmasq')) dnsmasq = await startDnsmasq();
    else if (STRICT) throw new Error('Required peer missing under CI=true: dnsmasq');
  });
  after(async () => {
    await dnsmasq?.stop();
  });

  test('PTR records for IPv4 and IPv6, and the PTR name dig asks for', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const s = dnsmasq.server;
    const cases: Array<[string, string]> = [
      [ZONE.wwwV4, ZONE.www],
      [ZONE.wwwV6, ZONE.www],
      [ZONE.ptrOnlyV4, ZONE.ptrOnlyV4Name],
      [ZONE.ptrOnlyV6, ZONE.ptrOnlyV6Name],
    ];
    for (const [address, name] of cases) {
      const r = await reverse(address, { server: s });
      assert.deepEqual(r.names, [name], address);
      assert.equal(r.resolver, 'dns');
      assert.equal(r.server, s);
      assert.equal(r.family, address.includes(':') ? 6 : 4);
      assert.ok(r.elapsedMs > 0);
      if (findExecutable('dig')) {
        const question = execFileSync(
          'dig',
          [`@${dnsmasq.host}`, '-p', String(dnsmasq.port), '+noall', '+question', '+tries=1', '-x', address],
          { encoding: 'utf8' },
        );
        assert.match(question, new RegExp(`^;${r.ptr.replace(/\./g, '\\.')}\\.\\s+IN\\s+PTR`, 'm'));
      }
    }
  });

  test('no PTR record: ENOTFOUND naming the address, the PTR name and the server', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const err = await reverse(ZONE.noPtrV4, { server: dnsmasq.server }).catch((e: unknown) => e);
    assert.ok(err instanceof DnsError, String(err));
    assert.equal(err.code, 'ENOTFOUND');
    assert.equal(
      err.message,
      `Address ${ZONE.noPtrV4} has no name: 99.2.0.192.in-addr.arpa does not exist (NXDOMAIN; PTR query to ${dnsmasq.server})`,
    );
    assert.equal(err.rrtype, 'PTR');
  });

  test('timeouts and aborts', async () => {
    const silent = await startDnsResponder('silent');
    try {
      const err = await reverse(ZONE.wwwV4, { server: silent.server, timeout: 200, tries: 1 }).catch(
        (e: unknown) => e,
      );
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal(
        err.message,
        `Name lookup of ${ZONE.wwwV4} (PTR query to ${silent.server}) timed out after 200 ms (1 try)`,
      );
      const controller = new AbortController();
      const pending = reverse(ZONE.wwwV4, { server: silent.server, signal: controller.signal });
      controller.abort();
      await assert.rejects(pending, AbortError);
    } finally {
      await silent.close();
    }
  });
});

describe('reverse with the system resolver (getnameinfo)', () => {
  test('127.0.0.1 is named from /etc/hosts, as getent hosts says', async (t) => {
    if (!requirePeer(t, 'getent', 'apt-get install libc-bin')) return;
    const r = await reverse('127.0.0.1');
    assert.equal(r.resolver, 'system');
    assert.equal(r.ptr, '1.0.0.127.in-addr.arpa');
    const getent = execFileSync('getent', ['hosts', '127.0.0.1'], { encoding: 'utf8' });
    assert.deepEqual(r.names, [getent.trim().split(/\s+/)[1]]);
  });

  test('an invalid address is a ValidationError, and so are bad options', async () => {
    for (const bad of ['', '1.2.3', '256.1.1.1', 'localhost', '::g', '1.2.3.4:80']) {
      await assert.rejects(reverse(bad), ValidationError, bad);
    }
    await assert.rejects(reverse('127.0.0.1', { resolver: 'system', server: '127.0.0.1' }), ValidationError);
    await assert.rejects(reverse('127.0.0.1', { server: 'ns.example' }), ValidationError);
  });
});
