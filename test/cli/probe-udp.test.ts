import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createUdpServer, type UdpServer, udpEchoHandler } from '../../src/net/udp-server.js';
import { runCli } from '../helpers/cli.js';
import { requirePeer } from '../helpers/peers.js';
import { freeTcpPort, freeUdpPort } from '../helpers/ports.js';

const PY_UDP_ECHO = fileURLToPath(new URL('../fixtures/py_udp_echo_server.py', import.meta.url));
const servers: UdpServer[] = [];
const sockets: dgram.Socket[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill();
  for (const s of sockets) s.close();
  await Promise.all(servers.map((s) => s.close()));
});

describe('soket probe --udp', () => {
  test('open (soket and Python servers), closed, open|filtered; service names; exit 0', async (t) => {
    const python = requirePeer(t, '/usr/bin/python3', 'apt-get install python3');
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
    const r = await runCli(['probe', '--udp', '127.0.0.1', ports.join(','), '--timeout', '400']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^PORT +STATE +RTT +SERVICE\n/);
    assert.match(r.stdout, new RegExp(`^${soket.address.port} +open +[\\d.]+ (µs|ms)$`, 'm'));
    assert.match(r.stdout, new RegExp(`^${pyPort} +open `, 'm'));
    assert.match(r.stdout, new RegExp(`^${silent.address().port} +open\\|filtered$`, 'm'));
    assert.match(r.stdout, new RegExp(`^${closed} +closed +[\\d.]+ (µs|ms)$`, 'm'));
    assert.match(
      r.stdout,
      /127\.0\.0\.1: 2 open, 1 closed, 0 filtered, 1 open\|filtered — 4 ports \(UDP\) in /,
    );
    // Well-known ports are named; nothing listens on 9 (discard) here.
    const named = await runCli(['probe', '--udp', '127.0.0.1', '9', '--timeout', '300', '--tries', '1']);
    assert.match(named.stdout, /^9 +closed +\S+ \S+ +discard$/m);
    assert.equal(named.code, 1, 'no open port: exit 1');
  });

  test('--json: port events with protocol, service, tries and payload size, then a summary', async () => {
    const got: Buffer[] = [];
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.on('message', (m, rinfo) => {
      got.push(m);
      s.send('pong', rinfo.port, rinfo.address);
    });
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    const r = await runCli([
      'probe',
      '-u',
      '127.0.0.1',
      String(s.address().port),
      '--payload',
      'de:ad:be:ef',
      '--json',
    ]);
    const [port, summary] = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(port.event, 'port');
    assert.equal(port.protocol, 'udp');
    assert.equal(port.state, 'open');
    assert.equal(port.replyBytes, 4);
    assert.equal(port.payloadBytes, 4);
    assert.equal(port.tries, 1);
    assert.equal(got[0]?.toString('hex'), 'deadbeef');
    assert.deepEqual(summary.summary, { open: 1, closed: 0, filtered: 0, 'open|filtered': 0, error: 0 });
  });

  test('TCP probe lines name the service too', async () => {
    const closed = await freeTcpPort();
    const r = await runCli(['probe', '127.0.0.1', `9,${closed}`, '--json']);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const nine = events.find((e) => e.port === 9);
    assert.equal(nine.protocol, 'tcp');
    assert.equal(nine.service, 'discard');
    assert.equal(events.find((e) => e.port === closed).service, null);
  });

  test('bad input exits 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['probe', '127.0.0.1', '53', '--payload', '00'], /Option --payload needs --udp/],
      [['probe', '127.0.0.1', '53', '--rate', '10'], /Option --rate needs --udp/],
      [['probe', '--udp', '127.0.0.1', '53', '--rate', 'fast'], /Invalid --rate 'fast'/],
      [['probe', '--udp', '127.0.0.1', '53', '--payload', 'xyz'], /Invalid --payload 'xyz'/],
      [['probe', '--udp', '127.0.0.1', '53', '--tries', '0'], /Invalid --tries '0'/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });
});
