import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { AbortError, ClosedError, type NetworkError, ValidationError } from '../../src/core/errors.js';
import { parseDatagramSplit, splitDatagrams } from '../../src/net/datagram-split.js';
import {
  parseSourceAddress,
  type UdpConnectEvent,
  type UdpConnection,
  udpConnect,
} from '../../src/net/udp-connect.js';
import { freeUdpPort } from '../helpers/ports.js';

/** A raw dgram socket that answers with `respond(msg)` (or stays silent). */
async function rawServer(
  respond: (msg: Buffer, rinfo: dgram.RemoteInfo, socket: dgram.Socket) => void,
  type: 'udp4' | 'udp6' = 'udp4',
): Promise<{ socket: dgram.Socket; port: number; seen: dgram.RemoteInfo[] }> {
  const socket = dgram.createSocket(type);
  const seen: dgram.RemoteInfo[] = [];
  socket.on('message', (m, r) => {
    seen.push(r);
    respond(m, r, socket);
  });
  socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1');
  await once(socket, 'listening');
  after(() => socket.close());
  return { socket, port: socket.address().port, seen };
}

async function collect(conn: UdpConnection): Promise<UdpConnectEvent[]> {
  const events: UdpConnectEvent[] = [];
  for await (const e of conn) events.push(e);
  return events;
}

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('splitDatagrams', () => {
  test('line: one datagram per line, without \\n or \\r\\n; lines across chunks; a last line without \\n', async () => {
    const got = await all(splitDatagrams(chunks('a\nb', 'c\r\n\n', 'last'), { split: 'line' }));
    assert.deepEqual(
      got.map((d) => Buffer.from(d).toString()),
      ['a', 'bc', '', 'last'],
    );
  });

  test('line with keepNewline: each datagram keeps its line ending, as netcat sends lines', async () => {
    const got = await all(
      splitDatagrams(chunks('a\nb', 'c\r\n', 'last'), { split: 'line', keepNewline: true }),
    );
    assert.deepEqual(
      got.map((d) => Buffer.from(d).toString()),
      ['a\n', 'bc\r\n', 'last'],
    );
  });

  test('none: the whole input; a number: fixed-size pieces', async () => {
    const none = await all(splitDatagrams(chunks('a\nb', 'c'), { split: 'none' }));
    assert.deepEqual(
      none.map((d) => Buffer.from(d).toString()),
      ['a\nbc'],
    );
    const sized = await all(splitDatagrams(chunks('abcde', 'fg', 'hijkl'), { split: 4 }));
    assert.deepEqual(
      sized.map((d) => Buffer.from(d).toString()),
      ['abcd', 'efgh', 'ijkl'],
    );
    const rest = await all(splitDatagrams(chunks('abcde'), { split: 3 }));
    assert.deepEqual(
      rest.map((d) => Buffer.from(d).toString()),
      ['abc', 'de'],
    );
  });

  test('too long for one datagram is a ValidationError; bad split values', async () => {
    await assert.rejects(
      all(splitDatagrams(chunks('x'.repeat(20)), { split: 'line', maxSize: 10 })),
      ValidationError,
    );
    await assert.rejects(
      all(splitDatagrams(chunks('x'.repeat(20)), { split: 'none', maxSize: 10 })),
      ValidationError,
    );
    assert.equal(parseDatagramSplit('line'), 'line');
    assert.equal(parseDatagramSplit('512'), 512);
    for (const bad of ['0', '70000', 'lines', '-1', '1.5'])
      assert.throws(() => parseDatagramSplit(bad), ValidationError);
  });
});

describe('parseSourceAddress', () => {
  test('forms', () => {
    assert.deepEqual(parseSourceAddress('127.0.0.2'), { address: '127.0.0.2', port: 0 });
    assert.deepEqual(parseSourceAddress('127.0.0.2:5000'), { address: '127.0.0.2', port: 5000 });
    assert.deepEqual(parseSourceAddress('::1'), { address: '::1', port: 0 });
    assert.deepEqual(parseSourceAddress('[::1]:5000'), { address: '::1', port: 5000 });
    assert.deepEqual(parseSourceAddress(':5000'), { address: undefined, port: 5000 });
    for (const bad of ['', 'localhost', 'host:80', '127.0.0.1:99999', '[::1]:x']) {
      assert.throws(() => parseSourceAddress(bad, '--source'), ValidationError, bad);
    }
  });
});

describe('udpConnect', () => {
  test('sends each input item as one datagram, receives the replies, lingers, then ends with counters', async () => {
    const server = await rawServer((m, r, s) =>
      s.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address),
    );
    const conn = await udpConnect({
      host: '127.0.0.1',
      port: server.port,
      input: ['one', '', 'three'],
      linger: 300,
    });
    const events = await collect(conn);
    assert.equal(events[0]?.event, 'connected');
    const replies = events.filter((e) => e.event === 'datagram').map((e) => e.data.toString());
    assert.deepEqual(replies.sort(), ['re:', 're:one', 're:three']);
    const sent = events.filter((e) => e.event === 'sent');
    assert.deepEqual(
      sent.map((e) => Buffer.from(e.data).toString()),
      ['one', '', 'three'],
    );
    const end = events.at(-1);
    assert.equal(end?.event, 'end');
    assert.ok(end?.event === 'end');
    assert.equal(end.reason, 'linger');
    assert.equal(end.stats.datagramsOut, 3);
    assert.equal(end.stats.bytesOut, 8);
    assert.equal(end.stats.datagramsIn, 3);
    assert.equal(end.stats.bytesIn, 17);
    assert.equal(end.stats.refused, 0);
    assert.deepEqual(await conn.finished, end.stats);
    await assert.rejects(conn.send('late'), ClosedError);
  });

  test('the kernel delivers only the peer: a datagram from another socket never arrives', async () => {
    const server = await rawServer(() => {});
    const conn = await udpConnect({ host: '127.0.0.1', port: server.port, linger: 100 });
    const stranger = dgram.createSocket('udp4');
    after(() => stranger.close());
    const events: UdpConnectEvent[] = [];
    const reading = (async () => {
      for await (const e of conn) events.push(e);
    })();
    await conn.send('hello');
    await once(server.socket, 'message');
    // The stranger sends first; then the peer answers: only the peer's datagram is delivered.
    await new Promise<void>((r) => stranger.send('spoof', conn.local.port, '127.0.0.1', () => r()));
    server.socket.send('real', conn.local.port, '127.0.0.1');
    conn.end();
    await reading;
    const got = events.filter((e) => e.event === 'datagram').map((e) => e.data.toString());
    assert.deepEqual(got, ['real']);
  });

  test('ICMP port unreachable is a refused event; the session carries on and a later server answers', async () => {
    const port = await freeUdpPort();
    const conn = await udpConnect({ host: '127.0.0.1', port, linger: 200 });
    const it = conn[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.event, 'connected');
    await conn.send('anyone?');
    const events: UdpConnectEvent[] = [];
    for (;;) {
      const { value } = await it.next();
      events.push(value as UdpConnectEvent);
      if (value?.event === 'refused') break;
    }
    const refused = events.at(-1);
    assert.ok(refused?.event === 'refused');
    assert.equal(refused.afterDatagrams, 1);
    assert.match(refused.message, /ICMP port unreachable/);
    // Now a server appears on that port: the same connected socket gets its reply.
    const late = dgram.createSocket('udp4');
    after(() => late.close());
    late.on('message', (m, r) => late.send(m, r.port, r.address));
    await new Promise<void>((r) => late.bind(port, '127.0.0.1', () => r()));
    await conn.send('now?');
    let reply: string | undefined;
    for (;;) {
      const { value, done } = await it.next();
      if (done) break;
      if (value.event === 'datagram') {
        reply = value.data.toString();
        conn.end();
      }
    }
    assert.equal(reply, 'now?');
    const stats = await conn.finished;
    assert.equal(stats.refused, 1);
    assert.equal(stats.datagramsOut, 2);
  });

  test('source address and port; IPv6', async () => {
    const server = await rawServer((m, r, s) => s.send(m, r.port, r.address));
    const port = await freeUdpPort();
    const conn = await udpConnect({
      host: '127.0.0.1',
      port: server.port,
      source: `127.0.0.3:${port}`,
      input: ['x'],
      linger: 200,
    });
    assert.equal(conn.local.address, '127.0.0.3');
    assert.equal(conn.local.port, port);
    await collect(conn);
    assert.equal(server.seen[0]?.address, '127.0.0.3');
    assert.equal(server.seen[0]?.port, port);

    const v6 = await rawServer((m, r, s) => s.send(m, r.port, r.address), 'udp6');
    const c6 = await udpConnect({ host: '::1', port: v6.port, source: '::1', input: ['six'], linger: 200 });
    assert.equal(c6.remote.family, 6);
    const ev = await collect(c6);
    assert.deepEqual(
      ev.filter((e) => e.event === 'datagram').map((e) => e.data.toString()),
      ['six'],
    );
  });

  test('bad options are ValidationErrors before any socket exists', async () => {
    const bad: Array<[string, object]> = [
      ['port', { host: '127.0.0.1', port: 0 }],
      ['source family', { host: '127.0.0.1', port: 9, source: '::1' }],
      ['source name', { host: '127.0.0.1', port: 9, source: 'localhost' }],
      ['ttl', { host: '127.0.0.1', port: 9, ttl: 0 }],
      ['multicast ttl', { host: '127.0.0.1', port: 9, multicastTtl: 256 }],
      ['interface', { host: '127.0.0.1', port: 9, multicastInterface: 'nosuch0' }],
      ['linger', { host: '127.0.0.1', port: 9, linger: -1 }],
      ['family', { host: '::1', port: 9, family: 4 }],
    ];
    for (const [what, o] of bad) {
      await assert.rejects(udpConnect(o as never), ValidationError, what);
    }
  });

  test('a source that is not local fails to bind with EADDRNOTAVAIL', async () => {
    await assert.rejects(
      udpConnect({ host: '127.0.0.1', port: 9, source: '192.0.2.1' }),
      (err: NetworkError) => {
        assert.equal(err.code, 'EADDRNOTAVAIL');
        assert.match(err.message, /Cannot bind the source 192\.0\.2\.1/);
        return true;
      },
    );
  });

  test('too large a payload is a ValidationError; the session stays usable', async () => {
    const server = await rawServer((m, r, s) => s.send(m, r.port, r.address));
    const conn = await udpConnect({ host: '127.0.0.1', port: server.port, linger: 100 });
    await assert.rejects(conn.send(Buffer.alloc(65_508)), ValidationError);
    await conn.send(Buffer.alloc(65_507));
    conn.end();
    const events = await collect(conn);
    assert.equal(events.filter((e) => e.event === 'datagram')[0]?.bytes, 65_507);
  });

  test('idle timeout ends a silent session; abort ends it too', async () => {
    const server = await rawServer(() => {});
    const idle = await udpConnect({ host: '127.0.0.1', port: server.port, idleTimeout: 50 });
    const ev = await collect(idle);
    assert.ok(ev.at(-1)?.event === 'end' && ev.at(-1)?.event === 'end');
    assert.equal((ev.at(-1) as { reason: string }).reason, 'idle');

    const ac = new AbortController();
    const conn = await udpConnect({ host: '127.0.0.1', port: server.port, signal: ac.signal });
    const reading = collect(conn);
    ac.abort();
    const ev2 = await reading;
    assert.equal((ev2.at(-1) as { reason: string }).reason, 'aborted');
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(
      udpConnect({ host: '127.0.0.1', port: server.port, signal: pre.signal }),
      AbortError,
    );
  });

  test('close() ends at once without lingering', async () => {
    const server = await rawServer(() => {});
    const conn = await udpConnect({ host: '127.0.0.1', port: server.port, linger: 60_000 });
    await conn.send('x');
    conn.end();
    const stats = await conn.close();
    assert.equal(stats.datagramsOut, 1);
    const ev = await collect(conn);
    assert.equal((ev.at(-1) as { reason: string }).reason, 'closed');
  });
});
