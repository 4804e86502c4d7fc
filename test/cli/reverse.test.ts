import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { batchResults, runCli, SOKET_BIN } from '../helpers/cli.js';
import { type DnsNetns, startDnsNetns } from '../helpers/dns-netns.js';
import { type Dnsmasq, startDnsmasq, ZONE } from '../helpers/dnsmasq.js';
import { canUseNetns } from '../helpers/netns.js';
import { findExecutable, requireCapability, requirePeer, STRICT } from '../helpers/peers.js';

describe('soket reverse (dnsmasq)', () => {
  let dnsmasq: Dnsmasq | undefined;
  before(async () => {
    if (findExecutable('dnsmasq')) dnsmasq = await startDnsmasq();
    else if (STRICT) throw new Error('Required peer missing under CI=true: dnsmasq');
  });
  after(async () => {
    await dnsmasq?.stop();
  });

  test('PTR records over DNS for IPv4 and IPv6; a missing one fails alone', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const r = await runCli([
      'reverse',
      ZONE.wwwV4,
      ZONE.ptrOnlyV6,
      ZONE.noPtrV4,
      '[2001:db8::10]',
      '--server',
      dnsmasq.server,
      '--ordered',
    ]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0] as string, /^192\.0\.2\.10 +www\.example\.test {2}[\d.]+ (µs|ms)$/);
    assert.match(lines[1] as string, /^2001:db8::20 +ptr6\.example\.test /);
    assert.match(lines[2] as string, /^\[2001:db8::10\] +www\.example\.test /);
    assert.match(
      r.stderr,
      /^soket: Address 192\.0\.2\.99 has no name: 99\.2\.0\.192\.in-addr\.arpa does not exist \(NXDOMAIN; PTR query to 127\.0\.0\.1:\d+\)/m,
    );
    assert.match(r.stderr, /^4 addresses: 3 ok, 1 failed .*PTR via 127\.0\.0\.1:\d+, concurrency 64\)$/m);
  });

  test('--json and --short', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const j = await runCli(['reverse', ZONE.ptrOnlyV4, '-s', dnsmasq.server, '--json']);
    assert.equal(j.code, 0);
    const [one] = batchResults(j.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      { ...one, elapsedMs: 0 },
      {
        query: ZONE.ptrOnlyV4,
        ok: true,
        elapsedMs: 0,
        address: ZONE.ptrOnlyV4,
        family: 4,
        ptr: '20.2.0.192.in-addr.arpa',
        names: [ZONE.ptrOnlyV4Name],
        resolver: 'dns',
        server: dnsmasq.server,
      },
    );
    const s = await runCli([
      'reverse',
      ZONE.wwwV4,
      ZONE.ptrOnlyV4,
      '-s',
      dnsmasq.server,
      '--short',
      '--ordered',
    ]);
    assert.equal(s.stdout, `${ZONE.www}\n${ZONE.ptrOnlyV4Name}\n`);
  });

  test('an invalid address is a usage error (2), with where it came from', async () => {
    for (const [args, message] of [
      [['reverse', '1.2.3'], /Invalid IP address '1\.2\.3'/],
      [
        ['reverse', '127.0.0.1', 'www.example.test'],
        /Invalid IP address 'www\.example\.test'.*\(argument 2\)/,
      ],
      [['reverse'], /Give at least one address/],
      [['reverse', '127.0.0.1', '--server', 'x'], /Invalid DNS server 'x'/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    const stdin = await runCli(['reverse', '-'], { input: '127.0.0.1\nnot-an-address\n' });
    assert.equal(stdin.code, 2);
    assert.match(stdin.stderr, /Invalid IP address 'not-an-address'.*\(stdin line 2\)/);
  });
});

describe('soket reverse with the system resolver (getnameinfo)', () => {
  test('127.0.0.1 from /etc/hosts', async () => {
    const r = await runCli(['reverse', '127.0.0.1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [one] = batchResults(r.stdout) as Array<{ resolver: string; names: string[] }>;
    assert.equal(one?.resolver, 'system');
    assert.equal(one?.names.length, 1);
  });

  describe('in a network namespace whose resolv.conf points at dnsmasq', () => {
    let ns: DnsNetns | undefined;
    let skip = '';
    before(async () => {
      const can = canUseNetns();
      if (!can.ok || !findExecutable('dnsmasq')) {
        skip = can.ok ? 'dnsmasq not installed' : can.reason;
        return;
      }
      ns = await startDnsNetns('reverse', {
        hosts: ['127.0.0.1 localhost', '::1 localhost', '192.0.2.77 mapped.test'],
      });
    });
    after(async () => {
      await ns?.stop();
    });

    test('getnameinfo sees the hosts file first, then DNS PTR records; IPv4 and IPv6', async (t) => {
      if (!requireCapability(t, ns !== undefined, skip) || !ns) return;
      const prefix = [...ns.exec, process.execPath, SOKET_BIN];
      const r = await runCli(
        [
          'reverse',
          '192.0.2.77',
          ZONE.ptrOnlyV4,
          ZONE.ptrOnlyV6,
          '::1',
          ZONE.noPtrV4,
          '--ordered',
          '--short',
        ],
        { prefix },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), [
        'mapped.test',
        ZONE.ptrOnlyV4Name,
        ZONE.ptrOnlyV6Name,
        'localhost',
      ]);
      assert.match(
        r.stderr,
        /^soket: Address 192\.0\.2\.99 has no name \(the system resolver: getnameinfo\)/m,
      );
      const viaDns = await runCli(['reverse', '--dns', '192.0.2.77', ZONE.wwwV4, '--ordered', '--short'], {
        prefix,
      });
      // Over DNS the hosts-file name is unknown: dnsmasq runs with --no-hosts.
      assert.equal(viaDns.code, 1);
      assert.equal(viaDns.stdout, `${ZONE.www}\n`);
    });
  });
});
