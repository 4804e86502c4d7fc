import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../../src/core/errors.js';
import { createUdpRelay, type UdpRelay, type UdpRelayClientSummary } from '../../src/net/udp-relay.js';
import { findExecutable, requirePeer } from '../helpers/peers.js';
import { freeUdpPort } from '../helpers/ports.js';

const PY_UDP_ECHO = fileURLToPath(new URL('../fixtures/py_udp_echo_server.py', import.meta.url));
const relays: UdpRelay[] = [];
const sockets: dgram.Socket[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill();
  await Promise.all(relays.map((r) => r.close()));
  for (const s of sockets) {
    try {
      s.close();
    } catch {
      // closed
    }
  }
});

async function relay(...args: Parameters<typeof createUdpRelay>): Promise<UdpRelay> {
  const r = await createUdpRelay(...args);
  relays.push(r);
  return r;
}

/** A bound socket; echo servers answer `re:` + the datagram. */
async function socket(
  type: 'udp4' | 'udp6' = 'udp4',
  address = type === 'udp4' ? '127.0.0.1' : '::1',
  onMessage?: (m: Buffer, r: dgram.RemoteInfo, s: dgram.Socket) => void,
): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  if (onMessage) s.on('message', (m, r) => onMessage(m, r, s));
  s.bind(0, address);
  await once(s, 'listening');
  sockets.push(s);
  return s;
}

async function echoServer(type: 'udp4' | 'udp6' = 'udp4') {
  const seen: dgram.RemoteInfo[] = [];
  const s = await socket(type, undefined, (m, r, sock) => {
    seen.push(r);
    sock.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address);
  });
  return { socket: s, port: s.address().port, seen };
}

/** Send and wait for the next datagram on the socket. */
async function ask(s: dgram.Socket, text: string, port: number, host: string): Promise<string> {
  const got = once(s, 'message') as Promise<[Buffer, dgram.RemoteInfo]>;
  s.send(text, port, host);
  const [m] = await got;
  return m.toString();
}

describe('UDP relay', () => {
  test('each client gets its own upstream socket; replies find their client; counters per client', async () => {
    const echo = await echoServer();
    const r = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${echo.port}` });
    const clients = await Promise.all(Array.from({ length: 20 }, () => socket()));
    const replies = await Promise.all(
      clients.map((c, i) => ask(c, `client ${i}`, r.address.port, '127.0.0.1')),
    );
    assert.deepEqual(
      replies,
      clients.map((_, i) => `re:client ${i}`),
    );
    // A second round reuses the same upstream sockets.
    await Promise.all(clients.map((c, i) => ask(c, `again ${i}`, r.address.port, '127.0.0.1')));
    const sources = new Set(echo.seen.map((s) => s.port));
    assert.equal(sources.size, 20, 'one upstream socket (source port) per client');
    const s = r.stats();
    assert.equal(s.clients, 20);
    assert.equal(s.clientsTotal, 20);
    assert.equal(s.peak, 20);
    assert.equal(s.datagramsUp, 40);
    assert.equal(s.datagramsDown, 40);
    const ended: UdpRelayClientSummary[] = [];
    r.on('expire', (e) => ended.push(e));
    const final = await r.close();
    assert.equal(final.clients, 0);
    assert.equal(ended.length, 20);
    for (const e of ended) {
      assert.equal(e.reason, 'shutdown');
      assert.equal(e.datagramsUp, 2);
      assert.equal(e.datagramsDown, 2);
      assert.ok(e.bytesDown > e.bytesUp);
      assert.match(e.via, /^127\.0\.0\.1:\d+$/);
    }
  });

  test('IPv6 clients to an IPv4 target, and IPv4 clients to an IPv6 target', async () => {
    const echo4 = await echoServer('udp4');
    const r64 = await relay({ listen: '[::1]:0', target: `127.0.0.1:${echo4.port}` });
    const c6 = await socket('udp6');
    assert.equal(await ask(c6, 'six to four', r64.address.port, '::1'), 're:six to four');
    const echo6 = await echoServer('udp6');
    const r46 = await relay({ listen: '127.0.0.1:0', target: `[::1]:${echo6.port}` });
    const c4 = await socket('udp4');
    assert.equal(await ask(c4, 'four to six', r46.address.port, '127.0.0.1'), 're:four to six');
    assert.equal(echo6.seen[0]?.family, 'IPv6');
  });

  test('an idle client expires with its counters', async () => {
    const echo = await echoServer();
    const r = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${echo.port}`, idleTimeout: 100 });
    const c = await socket();
    const expired = once(r, 'expire') as Promise<[UdpRelayClientSummary]>;
    await ask(c, 'x', r.address.port, '127.0.0.1');
    const [e] = await expired;
    assert.equal(e.reason, 'idle');
    assert.equal(e.datagramsUp, 1);
    assert.equal(e.datagramsDown, 1);
    assert.equal(r.stats().expired, 1);
    assert.equal(r.stats().clients, 0);
    // It comes back as a new client.
    assert.equal(await ask(c, 'y', r.address.port, '127.0.0.1'), 're:y');
    assert.equal(r.stats().clientsTotal, 2);
  });

  test('a full table evicts the client idle longest, counted', async () => {
    const echo = await echoServer();
    const r = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${echo.port}`, maxClients: 2 });
    const [a, b, c] = await Promise.all([socket(), socket(), socket()]);
    const ended: UdpRelayClientSummary[] = [];
    r.on('expire', (e) => ended.push(e));
    await ask(a as dgram.Socket, 'a', r.address.port, '127.0.0.1');
    await ask(b as dgram.Socket, 'b', r.address.port, '127.0.0.1');
    assert.equal(await ask(c as dgram.Socket, 'c', r.address.port, '127.0.0.1'), 're:c');
    assert.equal(r.stats().evicted, 1);
    assert.equal(r.stats().clients, 2);
    assert.equal(ended[0]?.reason, 'evicted');
    assert.equal(ended[0]?.peer, `127.0.0.1:${(a as dgram.Socket).address().port}`);
  });

  test('allow/deny: denied datagrams are dropped, counted and reported once', async () => {
    const echo = await echoServer();
    const r = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${echo.port}`, deny: '127.0.0.2' });
    const denied: Array<{ peer: string; rule: string }> = [];
    r.on('deny', (d) => denied.push(d));
    const bad = await socket('udp4', '127.0.0.2');
    const good = await socket('udp4', '127.0.0.1');
    bad.send('no', r.address.port, '127.0.0.1');
    bad.send('no again', r.address.port, '127.0.0.1');
    // Datagrams on loopback from both arrive in order: once good's reply is back, bad's were handled.
    await new Promise<void>((res) => bad.send('', r.address.port, '127.0.0.1', () => res()));
    assert.equal(await ask(good, 'yes', r.address.port, '127.0.0.1'), 're:yes');
    assert.equal(r.stats().denied, 3);
    assert.equal(denied.length, 1);
    assert.equal(denied[0]?.rule, 'deny 127.0.0.2/32');
    assert.equal(echo.seen.length, 1);
    const allowOnly = await relay({
      listen: '[::]:0',
      target: `127.0.0.1:${echo.port}`,
      allow: '127.0.0.0/8',
    });
    // An IPv4 client of a dual-stack listener arrives as ::ffff:127.0.0.1 and matches the IPv4 rule.
    assert.equal(await ask(good, 'mapped', allowOnly.address.port, '127.0.0.1'), 're:mapped');
    const v6 = await socket('udp6');
    v6.send('nope', allowOnly.address.port, '::1');
    await once(allowOnly, 'deny');
    assert.equal(allowOnly.stats().denied, 1);
  });

  test('a target with nothing listening: ICMP port unreachable is counted per client', async () => {
    const port = await freeUdpPort();
    const r = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${port}` });
    const c = await socket();
    const ended = once(r, 'expire') as Promise<[UdpRelayClientSummary]>;
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((res) => c.send(`${i}`, r.address.port, '127.0.0.1', () => res()));
      // Wait until the refusal for this datagram is counted before the next (no sleeping: poll the counter).
      while (r.stats().refused < i + 1) await new Promise((res) => setImmediate(res));
    }
    await r.close();
    const [e] = await ended;
    assert.equal(e.refused, 3);
    assert.equal(e.datagramsUp, 3);
    assert.equal(e.datagramsDown, 0);
  });

  test('abort closes the relay and resolves finished with the final counters', async () => {
    const echo = await echoServer();
    const ac = new AbortController();
    const r = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${echo.port}`, signal: ac.signal });
    const c = await socket();
    await ask(c, 'x', r.address.port, '127.0.0.1');
    ac.abort();
    const final = await r.finished;
    assert.equal(final.datagramsUp, 1);
    assert.equal(final.clients, 0);
    assert.equal(r.listening, false);
  });

  test('bad options are ValidationErrors', async () => {
    const bad: Array<[string, object]> = [
      ['no target', { listen: '0' }],
      ['target port 0', { listen: '0', target: '127.0.0.1:0' }],
      ['bad listen', { listen: 'x:y', target: '127.0.0.1:9' }],
      ['bad cidr', { listen: '0', target: '127.0.0.1:9', allow: '10.0.0.0/33' }],
      ['idle 0', { listen: '0', target: '127.0.0.1:9', idleTimeout: 0 }],
      ['max 0', { listen: '0', target: '127.0.0.1:9', maxClients: 0 }],
      ['both', { listen: '0', target: '127.0.0.1:9', allow: '::1', access: {} }],
    ];
    for (const [what, o] of bad) {
      await assert.rejects(async () => createUdpRelay(o as never), ValidationError, what);
    }
  });

  test('real peers: socat and ncat clients through the relay to a Python echo server', async (t) => {
    const socat = requirePeer(t, 'socat', 'apt-get install socat');
    const ncat = requirePeer(t, 'ncat', 'apt-get install ncat');
    const python = findExecutable('/usr/bin/python3') ?? findExecutable('python3');
    if (!socat || !ncat || !python) return;
    const py = spawn(python, [PY_UDP_ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(py);
    const [portLine] = (await once(py.stdout, 'data')) as [Buffer];
    const pyPort = Number(portLine.toString().trim());
    const r = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${pyPort}` });
    const viaSocat = spawn(socat, ['-T', '2', '-', `UDP4:127.0.0.1:${r.address.port}`]);
    children.push(viaSocat);
    viaSocat.stdin.write('hello from socat\n');
    const [a] = (await once(viaSocat.stdout, 'data')) as [Buffer];
    assert.equal(a.toString(), 'hello from socat\n');
    viaSocat.kill();
    const viaNcat = spawn(ncat, ['-u', '127.0.0.1', String(r.address.port)]);
    children.push(viaNcat);
    viaNcat.stdin.write('hello from ncat\n');
    const [b] = (await once(viaNcat.stdout, 'data')) as [Buffer];
    assert.equal(b.toString(), 'hello from ncat\n');
    viaNcat.kill();
    assert.equal(r.stats().clientsTotal, 2);
  });
});
