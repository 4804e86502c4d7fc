import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AbortError, ValidationError } from '../../src/core/errors.js';
import { portService } from '../../src/net/port-service.js';
import {
  parseHexPayload,
  parseRate,
  probeUdp,
  probeUdpPorts,
  type UdpProbeResult,
  udpProbePayload,
} from '../../src/net/udp-probe.js';
import { createUdpServer, type UdpServer, udpEchoHandler } from '../../src/net/udp-server.js';
import { canUseLan, createLan, type Lan, type LanHost } from '../helpers/lan.js';
import { findExecutable, requireCapability, requirePeer } from '../helpers/peers.js';
import { freeUdpPort } from '../helpers/ports.js';

const PY_UDP_ECHO = fileURLToPath(new URL('../fixtures/py_udp_echo_server.py', import.meta.url));

describe('UDP probe helpers', () => {
  test('default payloads: a DNS query on 53, an SNTP request on 123, empty elsewhere', () => {
    const dns = udpProbePayload(53);
    assert.equal(dns.length, 17);
    assert.deepEqual([...dns.subarray(2)], [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
    const ntp = udpProbePayload(123);
    assert.equal(ntp.length, 48);
    assert.equal(ntp[0], 0x23, 'LI 0, version 4, mode 3 (client)');
    assert.equal(udpProbePayload(9).length, 0);
  });

  test('services, rates, hex payloads', () => {
    assert.equal(portService(53, 'udp'), 'domain');
    assert.equal(portService(123, 'udp'), 'ntp');
    assert.equal(portService(22, 'tcp'), 'ssh');
    assert.equal(portService(47_999, 'udp'), null);
    assert.equal(parseRate('500'), 500);
    assert.equal(parseRate('500/s'), 500);
    assert.equal(parseRate('30/m'), 0.5);
    assert.equal(parseRate('0'), 0);
    for (const bad of ['-1', 'fast', '10/h', ''])
      assert.throws(() => parseRate(bad, '--rate'), ValidationError);
    assert.deepEqual([...parseHexPayload('de:ad be ef')], [0xde, 0xad, 0xbe, 0xef]);
    assert.deepEqual([...parseHexPayload('0x00ff')], [0, 255]);
    assert.deepEqual([...parseHexPayload('')], []);
    for (const bad of ['abc', 'zz', '0x1'])
      assert.throws(() => parseHexPayload(bad, '--payload'), ValidationError);
  });

  test('bad options are ValidationErrors', async () => {
    const bad: Array<[string, () => AsyncGenerator<UdpProbeResult>]> = [
      ['no ports', () => probeUdpPorts('127.0.0.1', [])],
      ['port 0', () => probeUdpPorts('127.0.0.1', [0])],
      ['tries', () => probeUdpPorts('127.0.0.1', [9], { tries: 0 })],
      ['rate', () => probeUdpPorts('127.0.0.1', [9], { rate: -1 })],
      ['payload', () => probeUdpPorts('127.0.0.1', [9], { payload: 'xyz' })],
      ['source family', () => probeUdpPorts('127.0.0.1', [9], { source: '::1' })],
    ];
    for (const [what, make] of bad) await assert.rejects(make().next(), ValidationError, what);
  });
});

describe('UDP probe on loopback', () => {
  const servers: UdpServer[] = [];
  const sockets: dgram.Socket[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) c.kill();
    for (const s of sockets) s.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  test('open (soket and Python echo servers), closed (nothing bound), open|filtered (a silent socket)', async (t) => {
    const python = requirePeer(
      t,
      findExecutable('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
      'apt-get install python3',
    );
    if (!python) return;
    const soket = await createUdpServer({ host: '127.0.0.1', port: 0 }, udpEchoHandler());
    servers.push(soket);
    const py = spawn(python, [PY_UDP_ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(py);
    const [line] = (await once(py.stdout, 'data')) as [Buffer];
    const pyPort = Number(line.toString().trim());
    const silent = dgram.createSocket('udp4');
    sockets.push(silent);
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    const closed = await freeUdpPort();
    const ports = [soket.address.port, pyPort, silent.address().port, closed];
    const results = await probeUdp('127.0.0.1', ports, { timeout: 400, tries: 2 });
    const state = (p: number) => results.find((r) => r.port === p);
    assert.equal(state(soket.address.port)?.state, 'open');
    assert.equal(state(soket.address.port)?.replyBytes, 0, 'the empty probe came back empty');
    assert.equal(state(pyPort)?.state, 'open');
    const s = state(silent.address().port);
    assert.equal(s?.state, 'open|filtered');
    assert.equal(s?.tries, 2);
    assert.equal(s?.code, 'SOKET_TIMEOUT');
    const c = state(closed);
    assert.equal(c?.state, 'closed');
    assert.equal(c?.code, 'ECONNREFUSED');
    assert.equal(c?.tries, 1);
    assert.ok((c?.rttMs ?? -1) >= 0);
    assert.deepEqual(
      results.map((r) => r.port),
      [...ports].sort((a, b) => a - b),
    );
  });

  test('a payload override is sent as given; IPv6; abort', async () => {
    const got: Buffer[] = [];
    const s = dgram.createSocket('udp6');
    sockets.push(s);
    s.on('message', (m, r) => {
      got.push(m);
      s.send('ok', r.port, r.address);
    });
    s.bind(0, '::1');
    await once(s, 'listening');
    const [r] = await probeUdp('::1', [s.address().port], { payload: 'cafe' });
    assert.equal(r?.state, 'open');
    assert.equal(r?.replyBytes, 2);
    assert.equal(got[0]?.toString('hex'), 'cafe');
    const ac = new AbortController();
    const silent = dgram.createSocket('udp4');
    sockets.push(silent);
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    const running = probeUdp('127.0.0.1', [silent.address().port], { timeout: 60_000, signal: ac.signal });
    ac.abort();
    await assert.rejects(running, AbortError);
  });
});

describe('UDP probe against real services on a LAN of namespaces', () => {
  let lan: Lan | undefined;
  let h0: LanHost;
  let h1: LanHost;
  const children: ChildProcess[] = [];
  let dir = '';
  const can = canUseLan();
  before(() => {
    if (!can.ok) return;
    lan = createLan('uprobe', 2);
    [h0, h1] = lan.hosts as [LanHost, LanHost];
    dir = mkdtempSync(join(tmpdir(), 'soket-uprobe-'));
  });
  after(() => {
    for (const c of children) c.kill();
    lan?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('DNS on 53 (dnsmasq) and SNTP on 123 (chronyd) answer their default payloads; an empty one gets silence', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const dnsmasq = requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq');
    const chronyd = requirePeer(t, 'chronyd', 'apt-get install chrony');
    if (!dnsmasq || !chronyd) return;
    const l = lan as Lan;
    children.push(
      l.spawn(h1, dnsmasq, [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--port=53',
        `--listen-address=${h1.ipv4}`,
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        '--local=/example.test/',
        '--pid-file=',
        '--user=root',
      ]),
    );
    const conf = join(dir, 'chrony.conf');
    writeFileSync(
      conf,
      `port 123\nbindaddress ${h1.ipv4}\nallow all\nlocal stratum 7\ncmdport 0\npidfile ${join(dir, 'chronyd.pid')}\n`,
    );
    children.push(l.spawn(h1, chronyd, ['-f', conf, '-x', '-d', '-u', 'root']));
    await l.waitUdp(h1, 53);
    await l.waitUdp(h1, 123);
    const results = await l.on(h0, () => probeUdp(h1.ipv4, [53, 123], { timeout: 2000 }));
    assert.deepEqual(
      results.map((r) => [r.port, r.service, r.state]),
      [
        [53, 'domain', 'open'],
        [123, 'ntp', 'open'],
      ],
    );
    assert.equal(results[1]?.replyBytes, 48);
    // chronyd ignores a datagram that is not an NTP packet: the payload is what makes it answer.
    const empty = await l.on(h0, () => probeUdp(h1.ipv4, [123], { payload: '', timeout: 300, tries: 1 }));
    assert.equal(empty[0]?.state, 'open|filtered');
  });

  test('nftables: a dropped port is open|filtered, admin-prohibited is filtered, a closed port whose ICMP is dropped is open|filtered', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const nft = requirePeer(t, 'nft', 'apt-get install nftables');
    if (!nft) return;
    const l = lan as Lan;
    const rules = [
      'add table inet soket',
      'add chain inet soket input { type filter hook input priority 0; }',
      'add rule inet soket input udp dport 7001 drop',
      'add rule inet soket input udp dport 7002 reject with icmpx type admin-prohibited',
    ];
    for (const r of rules) l.exec(h1, nft, r.split(' '));
    // 7003: nothing bound, no rule: closed. Lift the per-host ICMP rate limit so every error is sent.
    l.exec(h1, 'sysctl', ['-qw', 'net.ipv4.icmp_ratelimit=0']);
    const results = await l.on(h0, () => probeUdp(h1.ipv4, [7001, 7002, 7003], { timeout: 400, tries: 2 }));
    assert.deepEqual(
      results.map((r) => [r.port, r.state, r.code]),
      [
        [7001, 'open|filtered', 'SOKET_TIMEOUT'],
        [7002, 'filtered', 'EHOSTUNREACH'],
        [7003, 'closed', 'ECONNREFUSED'],
      ],
    );
    // The same closed port, with its ICMP error dropped on the way out: silence, so open|filtered.
    for (const r of [
      'add chain inet soket output { type filter hook output priority 0; }',
      'add rule inet soket output icmp type destination-unreachable drop',
    ]) {
      l.exec(h1, nft, r.split(' '));
    }
    const silenced = await l.on(h0, () => probeUdp(h1.ipv4, [7003], { timeout: 300, tries: 2 }));
    assert.equal(silenced[0]?.state, 'open|filtered');
    l.exec(h1, nft, ['delete', 'table', 'inet', 'soket']);
  });

  test("the target's ICMP rate limit: probing faster than it turns closed ports into open|filtered; --rate under it sees them all", async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const l = lan as Lan;
    // One ICMP error per 50 ms per destination (a burst of 6), like Linux's default 1 s scaled down 20×.
    l.exec(h1, 'sysctl', ['-qw', 'net.ipv4.icmp_ratelimit=50']);
    const ports = Array.from({ length: 40 }, (_, i) => 20_000 + i);
    const fast = await l.on(h0, () =>
      probeUdp(h1.ipv4, ports, { rate: 0, tries: 1, timeout: 500, concurrency: 40 }),
    );
    const closedFast = fast.filter((r) => r.state === 'closed').length;
    const silentFast = fast.filter((r) => r.state === 'open|filtered').length;
    assert.equal(closedFast + silentFast, 40, 'never open, never an error');
    assert.ok(
      silentFast > 0,
      `some ICMP errors were suppressed (closed ${closedFast}, silent ${silentFast})`,
    );
    const paced = await l.on(h0, () =>
      probeUdp(h1.ipv4, ports.slice(0, 8), { rate: 10, tries: 1, timeout: 1000, concurrency: 8 }),
    );
    assert.deepEqual(
      paced.map((r) => r.state),
      Array(8).fill('closed'),
    );
  });
});
