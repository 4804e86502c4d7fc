import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { ClosedError, ValidationError } from '../../src/core/errors.js';
import { UdpPipe, type UdpPipeEvent } from '../../src/net/udp-pipe.js';
import { requirePeer } from '../helpers/peers.js';

const pipes: UdpPipe[] = [];
const sockets: dgram.Socket[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill();
  for (const s of sockets) s.close();
  await Promise.all(pipes.map((p) => p.close()));
});

async function pipe(options: ConstructorParameters<typeof UdpPipe>[0] = {}) {
  const p = new UdpPipe({ host: '127.0.0.1', port: 0, ...options });
  pipes.push(p);
  await p.listen();
  const it = p[Symbol.asyncIterator]();
  /** The next event of a given type. */
  const next = async <K extends UdpPipeEvent['event']>(kind: K) => {
    for (;;) {
      const { value, done } = await it.next();
      if (done) throw new Error(`ended before a ${kind} event`);
      if (value.event === kind) return value as Extract<UdpPipeEvent, { event: K }>;
    }
  };
  return { p, next };
}

async function client(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  sockets.push(s);
  return s;
}

describe('UdpPipe (nc -u -l)', () => {
  test('datagrams arrive unchanged; sends go to the most recent sender', async () => {
    const { p, next } = await pipe();
    const port = p.server.address.port;
    const a = await client();
    const b = await client();
    const bytes = randomBytes(1500);
    a.send(bytes, port, '127.0.0.1');
    const d = await next('datagram');
    assert.deepEqual(d.data, bytes);
    assert.equal(d.from.port, a.address().port);
    const toA = once(a, 'message') as Promise<[Buffer]>;
    assert.equal(p.send('to a'), true);
    assert.equal((await toA)[0].toString(), 'to a');
    b.send('from b', port, '127.0.0.1');
    const peer = await next('peer');
    assert.equal(peer.port, b.address().port);
    await next('datagram');
    const toB = once(b, 'message') as Promise<[Buffer]>;
    p.send('to b');
    assert.equal((await toB)[0].toString(), 'to b');
    const stats = await p.close();
    assert.equal(stats.datagramsIn, 2);
    assert.equal(stats.datagramsOut, 2);
    assert.equal(stats.peers, 2);
    const end = await next('end');
    assert.equal(end.datagramsIn, 2);
  });

  test('lock: only the first peer is answered; the others are ignored and counted', async () => {
    const { p, next } = await pipe({ lock: true });
    const port = p.server.address.port;
    const first = await client();
    const other = await client();
    first.send('1', port, '127.0.0.1');
    assert.equal((await next('datagram')).data.toString(), '1');
    other.send('intruder', port, '127.0.0.1');
    first.send('2', port, '127.0.0.1');
    assert.equal((await next('datagram')).data.toString(), '2');
    assert.equal(p.stats().ignored, 1);
    const got = once(first, 'message') as Promise<[Buffer]>;
    p.send('only you');
    assert.equal((await got)[0].toString(), 'only you');
  });

  test('data sent before anyone spoke is held for the first peer; limits', async () => {
    const { p, next } = await pipe({ pendingLimit: 2 });
    assert.equal(p.send('early 1'), false);
    assert.equal(p.send('early 2'), false);
    assert.equal(p.send('early 3'), false);
    assert.equal(p.stats().unsent, 3);
    const c = await client();
    const got: string[] = [];
    const both = new Promise<void>((resolve) =>
      c.on('message', (m) => {
        got.push(m.toString());
        if (got.length === 2) resolve();
      }),
    );
    c.send('hi', p.server.address.port, '127.0.0.1');
    await next('datagram');
    await both;
    assert.deepEqual(got, ['early 1', 'early 2']);
    assert.equal(p.stats().unsent, 1);
    assert.throws(() => p.send(Buffer.alloc(70_000)), ValidationError);
    await p.close();
    assert.throws(() => p.send('late'), ClosedError);
  });

  test('allow/deny on the listener: denied datagrams never reach it and are counted', async () => {
    const { p, next } = await pipe({ deny: '127.0.0.2', allow: '127.0.0.0/8' });
    const port = p.server.address.port;
    const bad = dgram.createSocket('udp4');
    sockets.push(bad);
    bad.bind(0, '127.0.0.2');
    await once(bad, 'listening');
    bad.send('denied', port, '127.0.0.1');
    const good = await client();
    good.send('allowed', port, '127.0.0.1');
    assert.equal((await next('datagram')).data.toString(), 'allowed');
    const stats = p.stats();
    assert.equal(stats.denied, 1);
    assert.equal(stats.datagramsIn, 1);
    assert.throws(() => new UdpPipe({ allow: '10.0.0.0/40' }), ValidationError);
  });

  test('ncat -u as the client', async (t) => {
    const ncat = requirePeer(t, 'ncat', 'apt-get install ncat');
    if (!ncat) return;
    const { p, next } = await pipe();
    const nc = spawn(ncat, ['-u', '127.0.0.1', String(p.server.address.port)]);
    children.push(nc);
    nc.stdin.write('hello from ncat\n');
    const d = await next('datagram');
    assert.equal(d.data.toString(), 'hello from ncat\n');
    p.send('hello back\n');
    const [reply] = (await once(nc.stdout, 'data')) as [Buffer];
    assert.equal(reply.toString(), 'hello back\n');
  });
});
