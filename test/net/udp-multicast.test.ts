/**
 * Broadcast and multicast, only inside a LAN of network namespaces this file creates (test/helpers/lan.ts):
 * nothing here is sent from the machine's own interfaces.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { type NetworkError, ValidationError } from '../../src/core/errors.js';
import { udpRequest } from '../../src/net/udp-client.js';
import { udpConnect } from '../../src/net/udp-connect.js';
import {
  checkMulticastTtl,
  isMulticastAddress,
  joinGroups,
  parseMulticastJoin,
  parseMulticastJoins,
  resolveInterface,
} from '../../src/net/udp-multicast.js';
import { createUdpServer, type UdpServer } from '../../src/net/udp-server.js';
import { canUseLan, createLan, type Lan, type LanHost } from '../helpers/lan.js';
import { findExecutable, requireCapability, requirePeer } from '../helpers/peers.js';

describe('multicast options (no network)', () => {
  test('parseMulticastJoin', () => {
    assert.deepEqual(parseMulticastJoin('239.1.2.3'), { group: '239.1.2.3', family: 4 });
    assert.deepEqual(parseMulticastJoin('232.1.1.1@10.0.0.5'), {
      group: '232.1.1.1',
      family: 4,
      source: '10.0.0.5',
    });
    assert.deepEqual(parseMulticastJoin('ff02::1:3%lo'), { group: 'ff02::1:3', family: 6, iface: 'lo' });
    assert.deepEqual(parseMulticastJoin('[ff3e::1]@[2001:db8::5]'), {
      group: 'ff3e::1',
      family: 6,
      source: '2001:db8::5',
    });
    assert.equal(parseMulticastJoins('239.1.2.3, 239.1.2.4').length, 2);
    assert.equal(parseMulticastJoins(['239.1.2.3', 'ff05::1']).length, 2);
  });

  test('groups outside 224.0.0.0/4 and ff00::/8, bad sources and interfaces are ValidationErrors', () => {
    const bad: Array<[string, RegExp]> = [
      ['10.0.0.1', /not a multicast address \(IPv4 groups are in 224\.0\.0\.0\/4, IPv6 in ff00::\/8\)/],
      ['240.0.0.1', /not a multicast address/],
      ['2001:db8::1', /not a multicast address/],
      ['example.com', /expected a multicast address/],
      ['239.1.2.3@ff02::1', /is IPv6 but the group is IPv4/],
      ['239.1.2.3@239.1.2.4', /must be a unicast address/],
      ['239.1.2.3@host', /must be an IP address/],
      ['239.1.2.3%lo', /%INTERFACE is for IPv6 groups/],
      ['ff02::1%nosuch0', /no such interface/],
      ['239.1.2.3,,239.1.2.4', /empty item/],
    ];
    for (const [text, re] of bad) {
      assert.throws(
        () => parseMulticastJoins(text, '--join'),
        (e: Error) => e instanceof ValidationError && re.test(e.message),
        text,
      );
    }
    assert.throws(() => parseMulticastJoin('10.0.0.1', '--join'), {
      message:
        "Invalid --join '10.0.0.1': 10.0.0.1 is not a multicast address (IPv4 groups are in 224.0.0.0/4, IPv6 in ff00::/8)",
    });
  });

  test('TTL range and interfaces', () => {
    assert.equal(checkMulticastTtl(0), 0);
    assert.equal(checkMulticastTtl(255), 255);
    for (const bad of [-1, 256, 1.5, '4'])
      assert.throws(() => checkMulticastTtl(bad, '--ttl'), ValidationError);
    assert.equal(resolveInterface('lo').name, 'lo');
    assert.equal(resolveInterface('lo').ipv4, '127.0.0.1');
    assert.equal(resolveInterface('127.0.0.1').name, 'lo');
    assert.equal(resolveInterface('lo').ipv6Scope, '::%lo');
    assert.throws(
      () => resolveInterface('nosuch0', '--iface'),
      /Invalid --iface 'nosuch0': no such interface \(interfaces: .*lo/,
    );
    assert.throws(
      () => resolveInterface('192.0.2.77', '--iface'),
      /no interface of this host has that address/,
    );
    assert.equal(isMulticastAddress('224.0.0.1'), true);
    assert.equal(isMulticastAddress('239.255.255.255'), true);
    assert.equal(isMulticastAddress('223.255.255.255'), false);
    assert.equal(isMulticastAddress('ff02::1%eth0'), true);
    assert.equal(isMulticastAddress('fe80::1'), false);
  });
});

describe('broadcast and multicast on a LAN of namespaces', () => {
  let lan: Lan | undefined;
  const sockets: dgram.Socket[] = [];
  const servers: UdpServer[] = [];
  const children: ChildProcess[] = [];
  let h0: LanHost;
  let h1: LanHost;
  let h2: LanHost;
  const can = canUseLan();

  before(() => {
    if (!can.ok) return;
    lan = createLan('mcast', 3);
    [h0, h1, h2] = lan.hosts as [LanHost, LanHost, LanHost];
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    for (const c of children) c.kill();
    for (const s of sockets) {
      try {
        s.close();
      } catch {
        // closed
      }
    }
    lan?.destroy();
  });

  /** A socket bound on a host, collecting what it receives. */
  async function receiver(
    host: LanHost,
    port: number,
    type: 'udp4' | 'udp6' = 'udp4',
  ): Promise<{
    socket: dgram.Socket;
    got: Array<{ text: string; from: string }>;
    next: () => Promise<string>;
  }> {
    const l = lan as Lan;
    const socket = await l.on(host, async () => {
      const s = dgram.createSocket({ type, reuseAddr: true });
      s.bind(port, type === 'udp4' ? '0.0.0.0' : '::');
      await once(s, 'listening');
      return s;
    });
    sockets.push(socket);
    const got: Array<{ text: string; from: string }> = [];
    const waiters: Array<(t: string) => void> = [];
    socket.on('message', (m, r) => {
      const item = { text: m.toString(), from: r.address.split('%')[0] ?? '' };
      got.push(item);
      waiters.shift()?.(item.text);
    });
    let taken = 0;
    const next = () =>
      new Promise<string>((resolve) => {
        const have = got[taken];
        taken++;
        if (have) resolve(have.text);
        else waiters.push(resolve);
      });
    return { socket, got, next };
  }

  async function sendFrom(
    host: LanHost,
    text: string,
    port: number,
    address: string,
    setup?: (s: dgram.Socket) => void,
  ) {
    const l = lan as Lan;
    const s = await l.on(host, async () => {
      const sock = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
      sock.bind(0);
      await once(sock, 'listening');
      return sock;
    });
    sockets.push(s);
    setup?.(s);
    await new Promise<void>((resolve, reject) =>
      s.send(text, port, address, (e) => (e ? reject(e) : resolve())),
    );
    return s;
  }

  test('a send to the broadcast address without SO_BROADCAST is EACCES, and the message says so', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const l = lan as Lan;
    await assert.rejects(
      l.on(h0, () => udpConnect({ host: l.broadcast, port: 9 })),
      (err: NetworkError) => {
        assert.equal(err.code, 'EACCES');
        assert.match(
          err.message,
          /^Cannot send to 10\.77\.0\.255:9: permission denied \(EACCES\): 10\.77\.0\.255 is a broadcast address and sending there needs SO_BROADCAST, which is off \(set broadcast: true; on the command line --broadcast\)$/,
        );
        return true;
      },
    );
    await assert.rejects(
      l.on(h0, () => udpConnect({ host: '255.255.255.255', port: 9 })),
      /255\.255\.255\.255 is a broadcast address/,
    );
  });

  test('with broadcast: true every host bound to 0.0.0.0 gets it (soket and socat UDP4-RECV)', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const socat = requirePeer(t, 'socat', 'apt-get install socat');
    if (!socat) return;
    const l = lan as Lan;
    const port = 40001;
    const r1 = await receiver(h1, port);
    const peer = l.spawn(h2, socat, ['-u', `UDP4-RECV:${port},reuseaddr`, 'STDOUT']);
    children.push(peer);
    // Wait until socat's socket exists on h2 (ss in that namespace), without sleeping blindly.
    await l.waitUdp(h2, port);
    const conn = await l.on(h0, () => udpConnect({ host: l.broadcast, port, broadcast: true, linger: 0 }));
    await conn.send('hello everyone\n');
    conn.end();
    await conn.finished;
    assert.equal(await r1.next(), 'hello everyone\n');
    assert.equal(r1.got[0]?.from, h0.ipv4);
    const [chunk] = (await once(peer.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'hello everyone\n');
  });

  test('a broadcast or multicast session is unconnected: answers from every host arrive, each with its from', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const l = lan as Lan;
    const port = 40010;
    const group = '239.10.10.10';
    for (const h of [h1, h2]) {
      const r = await receiver(h, port);
      await l.on(h, () => joinGroups(r.socket, 4, parseMulticastJoins(group), resolveInterface('veth0')));
      r.socket.on('message', (m, from) => r.socket.send(`${h.ipv4} heard ${m}`, from.port, from.address));
    }
    for (const [host, extra] of [
      [l.broadcast, { broadcast: true }],
      [group, { multicastInterface: 'veth0' }],
    ] as const) {
      const conn = await l.on(h0, () => udpConnect({ host, port, linger: 60_000, ...extra }));
      assert.equal(conn.connected, false);
      await conn.send('who is there?');
      const answers: string[] = [];
      for await (const e of conn) {
        if (e.event !== 'datagram') continue;
        answers.push(`${e.from.address}: ${e.data}`);
        if (answers.length === 2) void conn.close();
      }
      assert.deepEqual(answers.sort(), [
        `${h1.ipv4}: ${h1.ipv4} heard who is there?`,
        `${h2.ipv4}: ${h2.ipv4} heard who is there?`,
      ]);
    }
  });

  test('udpRequest: EACCES without broadcast (not a garbled port error); with it, the first answer from any host', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const l = lan as Lan;
    const port = 40011;
    await assert.rejects(
      l.on(h0, () => udpRequest({ host: l.broadcast, port, message: 'x' })),
      (err: NetworkError) => {
        assert.equal(err.code, 'EACCES');
        assert.match(err.message, /SO_BROADCAST, which is off .*--broadcast/);
        return true;
      },
    );
    const r1 = await receiver(h1, port);
    r1.socket.on('message', (m, from) => r1.socket.send(`ack ${m}`, from.port, from.address));
    const reply = await l.on(h0, () =>
      udpRequest({
        host: l.broadcast,
        port,
        message: 'anyone?',
        broadcast: true,
        source: `${h0.ipv4}:40012`,
      }),
    );
    assert.equal(reply.data.toString(), 'ack anyone?');
    assert.equal(reply.from.address, h1.ipv4);
    assert.deepEqual(reply.local, { address: h0.ipv4, port: 40012 });
    assert.equal(r1.got[0]?.from, h0.ipv4);
  });

  test('socat UDP4-DATAGRAM,broadcast reaches a soket receiver bound to 0.0.0.0', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const socat = requirePeer(t, 'socat', 'apt-get install socat');
    if (!socat) return;
    const l = lan as Lan;
    const port = 40002;
    const r1 = await receiver(h1, port);
    const p = l.spawn(h0, socat, ['-u', 'STDIN', `UDP4-DATAGRAM:${l.broadcast}:${port},broadcast`]);
    children.push(p);
    p.stdin?.end('from socat');
    assert.equal(await r1.next(), 'from socat');
    assert.equal(r1.got[0]?.from, h0.ipv4);
  });

  test('IPv4 multicast: joined on an interface, sent with a TTL and an interface; socat and Python members', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const socat = requirePeer(t, 'socat', 'apt-get install socat');
    const python = findExecutable('/usr/bin/python3') ?? findExecutable('python3');
    if (!socat || !python) return;
    const l = lan as Lan;
    const port = 40003;
    const group = '239.7.7.7';
    const r1 = await receiver(h1, port);
    const joined = await l.on(h1, () =>
      joinGroups(r1.socket, 4, parseMulticastJoins(group), resolveInterface('veth0')),
    );
    assert.deepEqual(joined, ['239.7.7.7 on veth0']);
    const sc = l.spawn(h2, socat, [
      '-u',
      `UDP4-RECV:${port},reuseaddr,ip-add-membership=${group}:veth0`,
      'STDOUT',
    ]);
    children.push(sc);
    const py = l.spawn(h2, python, [
      '-c',
      `import socket,struct,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('0.0.0.0',${port}))
s.setsockopt(socket.IPPROTO_IP,socket.IP_ADD_MEMBERSHIP,struct.pack('4s4s',socket.inet_aton('${group}'),socket.inet_aton('${h2.ipv4}')))
print('ready',flush=True)
d,a=s.recvfrom(100)
print(d.decode(),a[0],flush=True)`,
    ]);
    children.push(py);
    const pyOut = lines(py.stdout as NodeJS.ReadableStream);
    assert.equal(await pyOut(), 'ready');
    await l.waitUdp(h2, port, 2);
    const conn = await l.on(h0, () =>
      udpConnect({ host: group, port, multicastTtl: 1, multicastInterface: 'veth0', linger: 0 }),
    );
    await conn.send('to the group');
    conn.end();
    await conn.finished;
    assert.equal(await r1.next(), 'to the group');
    const [fromSocat] = (await once(sc.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    assert.equal(fromSocat.toString(), 'to the group');
    assert.equal(await pyOut(), `to the group ${h0.ipv4}`);
  });

  test('a Python multicast sender reaches a soket member', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const python = findExecutable('/usr/bin/python3') ?? findExecutable('python3');
    if (!python) return;
    const l = lan as Lan;
    const port = 40004;
    const group = '239.8.8.8';
    const r1 = await receiver(h1, port);
    await l.on(h1, () => joinGroups(r1.socket, 4, parseMulticastJoins(group), resolveInterface(h1.ipv4)));
    l.exec(h0, python, [
      '-c',
      `import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_TTL,1)
s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton('${h0.ipv4}'))
s.sendto(b'from python',('${group}',${port}))`,
    ]);
    assert.equal(await r1.next(), 'from python');
    assert.equal(r1.got[0]?.from, h0.ipv4);
  });

  test('IPv6 link-local group ff02::…%veth0, sent with hops and an interface', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const l = lan as Lan;
    const port = 40005;
    const r1 = await receiver(h1, port, 'udp6');
    await l.on(h1, () => joinGroups(r1.socket, 6, parseMulticastJoins('ff02::5:6%veth0')));
    const conn = await l.on(h0, () =>
      udpConnect({ host: 'ff02::5:6', port, multicastTtl: 1, multicastInterface: 'veth0', linger: 0 }),
    );
    await conn.send('six');
    conn.end();
    await conn.finished;
    assert.equal(await r1.next(), 'six');
    assert.match(r1.got[0]?.from ?? '', /^fe80::|^fd77::1$/);
  });

  test('source-specific join (GROUP@SOURCE): only that source is received', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const port = 40006;
    const group = '232.1.1.1';
    const r1 = await receiver(h1, port);
    await (lan as Lan).on(h1, () =>
      joinGroups(r1.socket, 4, parseMulticastJoins(`${group}@${h0.ipv4}`), resolveInterface('veth0')),
    );
    // h2 sends to the group (filtered out), then a unicast marker over the same path: once the marker is
    // in, h2's group datagram would have been too.
    const s2 = await sendFrom(h2, 'not for you', port, group);
    await new Promise<void>((r) => s2.send('marker', port, h1.ipv4, () => r()));
    assert.equal(await r1.next(), 'marker');
    await sendFrom(h0, 'from the source', port, group);
    assert.equal(await r1.next(), 'from the source');
    assert.deepEqual(
      r1.got.map((g) => g.text),
      ['marker', 'from the source'],
    );
  });

  test('multicastLoopback: false keeps this host’s own members from getting a copy', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const l = lan as Lan;
    const port = 40007;
    const group = '239.9.9.9';
    const r0 = await receiver(h0, port);
    await l.on(h0, () => joinGroups(r0.socket, 4, parseMulticastJoins(group), resolveInterface('veth0')));
    const quiet = await l.on(h0, () =>
      udpConnect({ host: group, port, multicastInterface: 'veth0', multicastLoopback: false, linger: 0 }),
    );
    const loud = await l.on(h0, () =>
      udpConnect({ host: group, port, multicastInterface: 'veth0', linger: 0 }),
    );
    await quiet.send('no copy');
    await loud.send('copy');
    quiet.end();
    loud.end();
    assert.equal(await r0.next(), 'copy');
    assert.deepEqual(
      r0.got.map((g) => g.text),
      ['copy'],
    );
  });

  test('createUdpServer joins IPv4 (socat sender), IPv6 and source-specific groups on an interface', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const socat = requirePeer(t, 'socat', 'apt-get install socat');
    if (!socat) return;
    const l = lan as Lan;
    const got: string[] = [];
    let wake: (() => void) | undefined;
    const handler = (m: Buffer, r: dgram.RemoteInfo) => {
      got.push(`${m} from ${r.address.split('%')[0]}`);
      wake?.();
    };
    const arrived = (n: number) =>
      new Promise<void>((resolve) => {
        wake = () => got.length >= n && resolve();
        wake();
      });
    const v4 = await l.on(h1, () =>
      createUdpServer({ host: '0.0.0.0', port: 40020, join: '239.4.4.4', iface: 'veth0' }, handler),
    );
    servers.push(v4);
    assert.deepEqual(v4.joined, ['239.4.4.4 on veth0']);
    const sender = l.spawn(h0, socat, [
      '-u',
      'STDIN',
      `UDP4-DATAGRAM:239.4.4.4:40020,ip-multicast-if=${h0.ipv4}`,
    ]);
    children.push(sender);
    sender.stdin?.end('from socat');
    await arrived(1);
    assert.equal(got[0], `from socat from ${h0.ipv4}`);
    const v6 = await l.on(h1, () =>
      createUdpServer({ host: '::', port: 40021, join: 'ff02::7:7%veth0' }, handler),
    );
    servers.push(v6);
    await sendFrom(h0, 'six', 40021, 'ff02::7:7', (s) => s.setMulticastInterface('::%veth0'));
    await arrived(2);
    assert.match(got[1] ?? '', /^six from fe80::/);
    const ssm = await l.on(h1, () =>
      createUdpServer(
        { host: '0.0.0.0', port: 40022, join: `232.2.2.2@${h2.ipv4}`, iface: h1.ipv4 },
        handler,
      ),
    );
    servers.push(ssm);
    const s0 = await sendFrom(h0, 'not the source', 40022, '232.2.2.2');
    await new Promise<void>((r) => s0.send('marker', 40022, h1.ipv4, () => r()));
    await arrived(3);
    await sendFrom(h2, 'the source', 40022, '232.2.2.2');
    await arrived(4);
    assert.deepEqual(got.slice(2), [`marker from ${h0.ipv4}`, `the source from ${h2.ipv4}`]);
  });

  test('createUdpServer: bad groups, a unicast bind with join, iface without join, an unknown interface', async () => {
    const h = () => {};
    const bad: Array<[object, RegExp]> = [
      [{ host: '0.0.0.0', join: '10.1.2.3' }, /not a multicast address/],
      [{ host: '127.0.0.1', join: '239.1.1.1' }, /bind 0\.0\.0\.0 \(or the group address\)/],
      [{ host: '0.0.0.0', iface: 'lo' }, /give join too/],
      [
        { host: '0.0.0.0', join: '239.1.1.1', iface: 'nosuch0' },
        /Invalid iface 'nosuch0': no such interface/,
      ],
      [{ host: '239.1.1.1' }, /receives nothing without joining it/],
    ];
    for (const [o, re] of bad)
      await assert.rejects(
        async () => createUdpServer(o, h),
        (e: Error) => e instanceof ValidationError && re.test(e.message),
      );
  });

  test('joining a group of the other family, or on an interface without IPv4, is a ValidationError', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const r = await receiver(h1, 40008);
    assert.throws(
      () => joinGroups(r.socket, 4, parseMulticastJoins('ff02::1')),
      /IPv6 group and the socket is IPv4/,
    );
  });
});

/** Lines of a stream, one per call, none lost between calls. */
function lines(stream: NodeJS.ReadableStream): () => Promise<string> {
  const got: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else got.push(line);
      i = buf.indexOf('\n');
    }
  });
  return () =>
    new Promise((resolve) => {
      const have = got.shift();
      if (have !== undefined) resolve(have);
      else waiters.push(resolve);
    });
}
