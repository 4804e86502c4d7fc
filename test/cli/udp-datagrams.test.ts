/**
 * The CLI's interactive and raw UDP roles (udp connect, udp listen --mode pipe), access lists, and broadcast
 * and multicast from the command line — the last only inside a LAN of namespaces this file creates.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { collect, runCli, SOKET_BIN, startCli, waitForLine } from '../helpers/cli.js';
import { canUseLan, createLan, type Lan, type LanHost } from '../helpers/lan.js';
import { requireCapability, requirePeer } from '../helpers/peers.js';
import { freeUdpPort } from '../helpers/ports.js';

const children: ChildProcess[] = [];
const sockets: dgram.Socket[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const s of sockets) s.close();
});

/** A UDP echo socket on loopback that prefixes its answers. */
async function echo(prefix = ''): Promise<{ socket: dgram.Socket; port: number; seen: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const seen: Buffer[] = [];
  socket.on('message', (m, r) => {
    seen.push(m);
    socket.send(Buffer.concat([Buffer.from(prefix), m]), r.port, r.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  sockets.push(socket);
  return { socket, port: socket.address().port, seen };
}

async function client(address = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(0, address);
  await once(s, 'listening');
  sockets.push(s);
  return s;
}

describe('soket udp connect', () => {
  test('each stdin line is one datagram; replies print as they arrive, escaped; a summary on stderr', async () => {
    const e = await echo('re:');
    const r = await runCli(['udp', 'connect', '127.0.0.1', String(e.port), '--linger', '300'], {
      input: 'one\ntwo\r\n\u001b[2Jthree\n',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      e.seen.map((b) => b.toString()),
      ['one', 'two', '\u001b[2Jthree'],
    );
    assert.equal(r.stdout, 're:one\nre:two\nre:\\x1b[2Jthree\n');
    assert.match(r.stderr, /^Connected to 127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+ \(UDP\)/);
    assert.match(r.stderr, /Sent 3 datagrams \(15 B\), received 3 \(24 B\) in /);
  });

  test('--split none and BYTES, --binary keeps replies byte for byte', async () => {
    const e = await echo();
    const bytes = randomBytes(3000);
    const r = await runCli(
      ['udp', 'connect', '127.0.0.1', String(e.port), '--split', '1000', '--binary', '--linger', '300'],
      { input: bytes },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      e.seen.map((b) => b.length),
      [1000, 1000, 1000],
    );
    assert.deepEqual(r.stdoutBytes, bytes);
    const none = await runCli(
      ['udp', 'connect', '127.0.0.1', String(e.port), '--split', 'none', '--linger', '200'],
      {
        input: 'a\nb\n',
      },
    );
    assert.equal(none.code, 0);
    assert.equal(e.seen.at(-1)?.toString(), 'a\nb\n');
  });

  test('--hex dumps both directions on stderr; --json is one event per line', async () => {
    const e = await echo('ok ');
    const r = await runCli(['udp', 'connect', '127.0.0.1', String(e.port), '--hex', '--linger', '300'], {
      input: 'ping\n',
    });
    assert.match(r.stderr, /^> 00000000 {2}70 69 6e 67 +\|ping\|$/m);
    assert.match(r.stderr, /^< 00000000 {2}6f 6b 20 70 69 6e 67 +\|ok ping\|$/m);
    const j = await runCli(['udp', 'connect', '127.0.0.1', String(e.port), '--json', '--linger', '300'], {
      input: 'x\n',
    });
    const events = j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; base64?: string });
    assert.deepEqual(
      events.map((ev) => ev.event),
      ['connected', 'sent', 'datagram', 'end'],
    );
    assert.equal(events[2]?.base64, Buffer.from('ok x').toString('base64'));
  });

  test('nothing listening: "refused" (ICMP port unreachable) and exit 1', async () => {
    const port = await freeUdpPort();
    const r = await runCli(['udp', 'connect', '127.0.0.1', String(port), '--linger', '300'], {
      input: 'hello?\n',
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /127\.0\.0\.1:\d+ refused: ICMP port unreachable \(nothing listens on that port\)/,
    );
    assert.match(r.stderr, /refused 1 time/);
  });

  test('--source sends from the given address and port (connect and send)', async () => {
    const e = await echo();
    const port = await freeUdpPort();
    const r = await runCli(
      ['udp', 'connect', '127.0.0.1', String(e.port), '--source', `127.0.0.5:${port}`, '--linger', '200'],
      { input: 'x\n' },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`from 127\\.0\\.0\\.5:${port}`));
    const s = await runCli(['udp', 'send', '127.0.0.1', String(e.port), '-m', 'y', '--source', '127.0.0.6']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /sent 1 B from 127\.0\.0\.6:\d+/);
  });

  test('bad input exits 2 with one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['udp', 'connect', '127.0.0.1', '9', '--split', '0'], /Invalid --split '0'/],
      [['udp', 'connect', '127.0.0.1', '9', '--ttl', '256'], /Invalid --ttl '256'/],
      [
        ['udp', 'connect', '239.1.2.3', '9', '--hops', '300'],
        /Invalid --hops '300': expected an integer from 0 to 255/,
      ],
      [
        ['udp', 'connect', '127.0.0.1', '9', '--ttl', '2', '--hops', '2'],
        /--ttl and --hops cannot be used together/,
      ],
      [['udp', 'connect', '127.0.0.1', '9', '--source', 'nowhere'], /Invalid --source 'nowhere'/],
      [
        ['udp', 'connect', '127.0.0.1', '9', '--multicast-iface', 'nosuch0'],
        /Invalid --multicast-iface 'nosuch0': no such interface/,
      ],
      [['udp', 'send', '127.0.0.1', '9', '-m', 'x', '--ttl', '0'], /a TTL of 0 keeps multicast on this host/],
      [
        ['udp', 'listen', '0', '--join', '10.1.2.3'],
        /Invalid --join '10\.1\.2\.3': 10\.1\.2\.3 is not a multicast address/,
      ],
      [['udp', 'listen', '0', '--join', '239.1.2.3', '--iface', 'nosuch0'], /Invalid --iface 'nosuch0'/],
      [['udp', 'listen', '0', '--iface', 'lo'], /give --join too/],
      [['udp', 'listen', '127.0.0.1:0', '--join', '239.1.2.3'], /bind 0\.0\.0\.0 \(or the group address\)/],
      [['udp', 'listen', '0', '--join', '239.1.2.3,ff02::1'], /mixes IPv4 and IPv6 groups/],
      [['udp', 'listen', '0', '--lock'], /Option --lock needs --mode pipe/],
      [
        ['udp', 'listen', '0', '--allow', '10.0.0.0/33'],
        /Invalid allow rule '10\.0\.0\.0\/33': prefix length must be 0 to 32/,
      ],
      [['udp', 'listen', '0', '--mode', 'pipe', '--reply', 'x'], /--reply does not apply to --mode pipe/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, args.join(' '));
    }
  });
});

describe('soket udp listen --mode pipe and --allow/--deny', () => {
  test('datagrams to stdout unchanged (binary); stdin lines go back to the most recent sender', async () => {
    const child = startCli(['udp', 'listen', '127.0.0.1:0', '--mode', 'pipe']);
    children.push(child);
    const [, port] = await waitForLine(child, /Listening on 127\.0\.0\.1:(\d+)/);
    const done = collect(child);
    const a = await client();
    const b = await client();
    const bytes = randomBytes(2000);
    a.send(bytes, Number(port), '127.0.0.1');
    await waitForLine(child, /Peer 127\.0\.0\.1:\d+/);
    const toA = once(a, 'message') as Promise<[Buffer]>;
    child.stdin?.write('back to a\n');
    assert.equal(
      (await toA)[0].toString(),
      'back to a\n',
      'lines go with their newline, as netcat sends them',
    );
    b.send('b', Number(port), '127.0.0.1');
    await waitForLine(child, new RegExp(`Peer 127\\.0\\.0\\.1:${b.address().port}`));
    const toB = once(b, 'message') as Promise<[Buffer]>;
    child.stdin?.write('back to b\n');
    assert.equal((await toB)[0].toString(), 'back to b\n');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdoutBytes, Buffer.concat([bytes, Buffer.from('b')]));
    assert.match(r.stderr, /Stopped: 2 datagrams in \(1\.96 KiB|Stopped: 2 datagrams in/);
    assert.match(r.stderr, /2 out .* with 2 peers/);
  });

  test('--lock answers only the first peer; ncat -u is the client', async (t) => {
    const ncat = requirePeer(t, 'ncat', 'apt-get install ncat');
    if (!ncat) return;
    const child = startCli(['udp', 'listen', '127.0.0.1:0', '--mode', 'pipe', '--lock']);
    children.push(child);
    const [, port] = await waitForLine(child, /Listening on 127\.0\.0\.1:(\d+)/);
    const done = collect(child);
    const nc = spawn(ncat, ['-u', '127.0.0.1', port as string]);
    children.push(nc);
    nc.stdin.write('first\n');
    await waitForLine(child, /Locked to 127\.0\.0\.1:\d+/);
    const other = await client();
    other.send('intruder\n', Number(port), '127.0.0.1');
    nc.stdin.write('second\n');
    child.stdin?.write('hello ncat\n');
    const [reply] = (await once(nc.stdout, 'data')) as [Buffer];
    assert.equal(reply.toString(), 'hello ncat\n');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.stdout, 'first\nsecond\n');
    assert.match(r.stderr, /1 ignored \(--lock\)/);
  });

  test('--allow/--deny on an echo listener: denied datagrams are not answered, and counted', async () => {
    const child = startCli(['udp', 'listen', '127.0.0.1:0', '--deny', '127.0.0.9', '--allow', '127.0.0.0/8']);
    children.push(child);
    const [, port] = await waitForLine(child, /Listening on 127\.0\.0\.1:(\d+)/);
    const done = collect(child);
    const bad = await client('127.0.0.9');
    bad.send('no', Number(port), '127.0.0.1');
    const good = await client();
    const got = once(good, 'message') as Promise<[Buffer]>;
    good.send('yes', Number(port), '127.0.0.1');
    assert.equal((await got)[0].toString(), 'yes');
    child.kill('SIGINT');
    const r = await done;
    assert.match(r.stderr, /Stopped: 1 datagram in .*, 1 denied \(--allow\/--deny\)/);
  });
});

describe('broadcast and multicast from the command line, on a LAN of namespaces', () => {
  let lan: Lan | undefined;
  let h0: LanHost;
  let h1: LanHost;
  const can = canUseLan();
  before(() => {
    if (!can.ok) return;
    lan = createLan('clibc', 2);
    [h0, h1] = lan.hosts as [LanHost, LanHost];
  });
  after(() => lan?.destroy());

  const on = (host: LanHost) => ['ip', 'netns', 'exec', host.ns, process.execPath, SOKET_BIN];

  test('udp send to a broadcast address: EACCES naming --broadcast (exit 1); with --broadcast a host answers', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    for (const address of ['255.255.255.255', '10.77.0.255']) {
      const r = await runCli(['udp', 'send', address, '9', '-m', 'x'], { prefix: on(h0) });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `soket: Cannot send to ${address}:9: permission denied (EACCES): ${address} is a broadcast address and sending there needs SO_BROADCAST, which is off (set broadcast: true; on the command line --broadcast)`,
      );
    }
    const listener = startCli(['udp', 'listen', '0.0.0.0:41000'], { prefix: on(h1) });
    children.push(listener);
    await waitForLine(listener, /Listening on 0\.0\.0\.0:41000/);
    const r = await runCli(['udp', 'send', '10.77.0.255', '41000', '-m', 'anyone?', '--broadcast'], {
      prefix: on(h0),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'anyone?\n');
    assert.match(r.stderr, /Reply from 10\.77\.0\.2:41000/);
    listener.kill('SIGINT');
    await collect(listener);
  });

  test('udp listen --join (IPv4 on an interface, IPv6 %iface) and udp send/connect to the group', async (t) => {
    if (!requireCapability(t, can.ok, can.reason)) return;
    const v4 = startCli(
      ['udp', 'listen', '41001', '--mode', 'print', '--join', '239.5.5.5', '--iface', 'veth0'],
      {
        prefix: on(h1),
      },
    );
    children.push(v4);
    await waitForLine(v4, /Listening on 0\.0\.0\.0:41001/);
    const s = await runCli(
      [
        'udp',
        'send',
        '239.5.5.5',
        '41001',
        '-m',
        'hello group',
        '--ttl',
        '1',
        '--multicast-iface',
        'veth0',
        '--timeout',
        '300',
        '--retries',
        '0',
      ],
      { prefix: on(h0) },
    );
    assert.equal(s.code, 1, 'print mode does not answer: the request times out');
    await waitForLine(v4, /\[10\.77\.0\.1:\d+\] hello group/, 'stdout');
    v4.kill('SIGINT');
    await collect(v4);

    const v6 = startCli(['udp', 'listen', '[::]:41002', '--join', 'ff02::4:4%veth0'], { prefix: on(h1) });
    children.push(v6);
    await waitForLine(v6, /Listening on \[::\]:41002/);
    const c = await runCli(['udp', 'connect', 'ff02::4:4%veth0', '41002', '--hops', '1', '--linger', '500'], {
      prefix: on(h0),
      input: 'six\n',
    });
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /unconnected/);
    assert.match(
      c.stdout,
      /^\[fe80::[0-9a-f:]+(%\w+)?\]:41002\] six$|^\[\[fe80::[0-9a-f:]+(%\w+)?\]:41002\] six$/m,
    );
    v6.kill('SIGINT');
    await collect(v6);
  });
});
