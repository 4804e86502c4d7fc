import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { AbortError, NetworkError, UnsupportedError, ValidationError } from '../../src/core/errors.js';
import { getSocketOptions } from '../../src/net/sockopt.js';
import { echoHandler } from '../../src/net/tcp-modes.js';
import {
  createTcpServer,
  reusePortSupported,
  type TcpConnectionSummary,
  type TcpServer,
} from '../../src/net/tcp-server.js';
import { ffiAvailable } from '../../src/platform/ffi.js';
import { requireCapability } from '../helpers/peers.js';

const servers: TcpServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close({ timeout: 1 })));
});

async function start(...args: Parameters<typeof createTcpServer>): Promise<TcpServer> {
  const s = await createTcpServer(...args);
  servers.push(s);
  return s;
}

/** Connect, optionally send and half-close, and collect everything until the server closes. */
async function exchange(
  port: number,
  send?: string | Buffer,
  host = '127.0.0.1',
): Promise<{ data: Buffer; error?: NodeJS.ErrnoException }> {
  const socket = net.connect({ port, host, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (b: Buffer) => chunks.push(b));
  socket.on('end', () => socket.end());
  let error: NodeJS.ErrnoException | undefined;
  socket.on('error', (e) => {
    error = e;
  });
  if (send !== undefined) socket.end(send);
  await once(socket, 'close');
  return error ? { data: Buffer.concat(chunks), error } : { data: Buffer.concat(chunks) };
}

function nextDisconnect(server: TcpServer): Promise<TcpConnectionSummary> {
  return new Promise((resolve) => server.once('disconnect', resolve));
}

describe('createTcpServer', () => {
  test('binds 127.0.0.1 by default and reports the real port for port 0', async () => {
    const s = await start({}, echoHandler());
    assert.equal(s.address.address, '127.0.0.1');
    assert.equal(s.address.family, 4);
    assert.ok(s.address.port > 0);
    const r = await exchange(s.address.port, 'ping');
    assert.equal(r.data.toString(), 'ping');
  });

  test(':: gives a dual-stack listener (IPv4 and IPv6 clients)', async () => {
    const s = await start({ host: '::' }, echoHandler());
    assert.equal(s.address.family, 6);
    const v4 = await exchange(s.address.port, 'v4', '127.0.0.1');
    const v6 = await exchange(s.address.port, 'v6', '::1');
    assert.equal(v4.data.toString(), 'v4');
    assert.equal(v6.data.toString(), 'v6');
  });

  test('counts bytes and reports each connection: peer, bytes, duration, reason', async () => {
    const s = await start({}, echoHandler());
    const seen: TcpConnectionSummary[] = [];
    s.on('disconnect', (d) => seen.push(d));
    const connects: string[] = [];
    s.on('connect', (c) => connects.push(c.peer));
    const closed = nextDisconnect(s);
    await exchange(s.address.port, Buffer.alloc(1000, 7));
    const d = await closed;
    assert.equal(d.bytesIn, 1000);
    assert.equal(d.bytesOut, 1000);
    assert.equal(d.reason, 'client-closed');
    assert.match(d.peer, /^127\.0\.0\.1:\d+$/);
    assert.ok(d.durationMs >= 0);
    assert.deepEqual(connects, [d.peer]);
    const st = s.stats();
    assert.equal(st.accepted, 1);
    assert.equal(st.closed, 1);
    assert.equal(st.active, 0);
    assert.equal(st.bytesIn, 1000);
    assert.equal(st.reasons['client-closed'], 1);
  });

  test('maxConnections: extra clients get a clean close and are counted; room frees up again', async () => {
    const s = await start({ maxConnections: 2 }, echoHandler());
    const refused: string[] = [];
    s.on('refuse', (r) => refused.push(r.peer));
    const a = net.connect(s.address.port, '127.0.0.1');
    const b = net.connect(s.address.port, '127.0.0.1');
    a.write('a');
    b.write('b');
    await Promise.all([once(a, 'data'), once(b, 'data')]);
    const third = await exchange(s.address.port);
    assert.equal(third.data.length, 0, 'refused client gets no data');
    assert.equal(third.error, undefined, 'a clean close (FIN), not a reset');
    // Even a client that sends at once (its data unread) gets a FIN, not a reset.
    const eager = await exchange(s.address.port, Buffer.alloc(50_000));
    assert.equal(eager.error, undefined, 'no reset for a client that sent data');
    assert.equal(eager.data.length, 0);
    assert.equal(s.stats().refused, 2);
    assert.equal(refused.length, 2);
    const gone = nextDisconnect(s);
    a.end();
    await gone;
    const fourth = await exchange(s.address.port, 'again');
    assert.equal(fourth.data.toString(), 'again');
    b.destroy();
  });

  test('idleTimeout closes a client that never sends; others are unaffected', async () => {
    const s = await start({ idleTimeout: 200 }, echoHandler());
    const closed = nextDisconnect(s);
    const idle = net.connect(s.address.port, '127.0.0.1');
    idle.on('error', () => {});
    const idleClosed = once(idle, 'close');
    const busy = await exchange(s.address.port, 'busy');
    assert.equal(busy.data.toString(), 'busy');
    const d = await closed.then(async (first) =>
      first.reason === 'idle-timeout' ? first : nextDisconnect(s),
    );
    assert.equal(d.reason, 'idle-timeout');
    assert.match(d.detail ?? '', /no data for 200 ms/);
    await idleClosed;
  });

  test('close(): stops accepting, lets open connections finish up to the bound, then destroys them', async () => {
    const s = await createTcpServer({}, echoHandler());
    const port = s.address.port;
    const lingering = net.connect(port, '127.0.0.1');
    lingering.on('error', () => {});
    const lingeringClosed = once(lingering, 'close');
    const finishing = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await Promise.all([once(lingering, 'connect'), once(finishing, 'connect')]);
    while (s.stats().active < 2) await new Promise((r) => setImmediate(r));
    const reasons: string[] = [];
    s.on('disconnect', (d) => reasons.push(d.reason));
    const closing = s.close({ timeout: 400 });
    // New clients are refused at once.
    const refused = net.connect(port, '127.0.0.1');
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
    // An open connection keeps being served during the grace period and can finish cleanly.
    finishing.write('still here');
    const [echo] = (await once(finishing, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'still here');
    finishing.end();
    const stats = await closing;
    assert.deepEqual(reasons.sort(), ['client-closed', 'shutdown']);
    assert.equal(stats.active, 0);
    assert.equal(stats.reasons.shutdown, 1);
    await lingeringClosed;
  });

  test('close() resolves early when the last connection finishes within the bound', async () => {
    const s = await createTcpServer({ closeTimeout: 60_000 }, echoHandler());
    const c = net.connect({ port: s.address.port, host: '127.0.0.1', allowHalfOpen: true });
    await once(c, 'connect');
    while (s.stats().active < 1) await new Promise((r) => setImmediate(r));
    const closing = s.close();
    c.end('bye');
    const stats = await closing;
    assert.equal(stats.reasons['client-closed'], 1);
  });

  test('AbortSignal: aborting closes the server; an aborted signal refuses to start', async () => {
    const ac = new AbortController();
    const s = await createTcpServer({ signal: ac.signal, closeTimeout: 50 }, echoHandler());
    ac.abort();
    const stats = await s.finished;
    assert.equal(stats.active, 0);
    assert.equal(s.listening, false);
    await assert.rejects(createTcpServer({ signal: ac.signal }, echoHandler()), AbortError);
  });

  test('once: serves one client, refuses the next, finishes when the first closes', async () => {
    const s = await createTcpServer({ once: true }, echoHandler());
    const first = net.connect({ port: s.address.port, host: '127.0.0.1', allowHalfOpen: true });
    await once(first, 'connect');
    while (s.stats().accepted < 1) await new Promise((r) => setImmediate(r));
    const second = net.connect(s.address.port, '127.0.0.1');
    const [err] = (await once(second, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
    first.end('only me');
    const [data] = (await once(first, 'data')) as [Buffer];
    assert.equal(data.toString(), 'only me');
    const stats = await s.finished;
    assert.equal(stats.accepted, 1);
  });

  test('a handler that throws closes only its own connection', async () => {
    let n = 0;
    const s = await start({}, (conn) => {
      n++;
      if (n === 1) throw new Error('boom');
      echoHandler()(conn);
    });
    const bad = nextDisconnect(s);
    await exchange(s.address.port, 'x');
    const d = await bad;
    assert.equal(d.reason, 'error');
    assert.match(d.detail ?? '', /handler failed: boom/);
    assert.equal((await exchange(s.address.port, 'ok')).data.toString(), 'ok');
  });

  test('errors: address in use is a NetworkError; bad options are ValidationErrors', async () => {
    const s = await start({}, echoHandler());
    await assert.rejects(createTcpServer({ port: s.address.port }, echoHandler()), (err: unknown) => {
      assert.ok(err instanceof NetworkError);
      assert.equal(err.code, 'EADDRINUSE');
      assert.equal(err.message, `Cannot listen on 127.0.0.1:${s.address.port}: address already in use`);
      return true;
    });
    await assert.rejects(createTcpServer({ port: 70000 }, echoHandler()), ValidationError);
    await assert.rejects(createTcpServer({ host: 'bad host' }, echoHandler()), ValidationError);
    await assert.rejects(createTcpServer({ idleTimeout: -1 }, echoHandler()), ValidationError);
    await assert.rejects(createTcpServer({ maxConnections: 1.5 }, echoHandler()), ValidationError);
  });

  test('reusePort: two listeners share a port where Node supports it, otherwise a clear UnsupportedError', async () => {
    const supported = await reusePortSupported();
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    assert.equal(supported, major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12));
    if (!supported) {
      await assert.rejects(createTcpServer({ reusePort: true }, echoHandler()), UnsupportedError);
      return;
    }
    const a = await start({ reusePort: true, exclusive: true }, echoHandler());
    const b = await start({ port: a.address.port, reusePort: true, exclusive: true }, echoHandler());
    assert.equal(a.address.port, b.address.port);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => exchange(a.address.port, `m${i}`)),
    );
    assert.deepEqual(
      replies.map((r) => r.data.toString()),
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    assert.equal(a.stats().accepted + b.stats().accepted, 20);
  });

  test('socketOptions are set on the listener and inherited by accepted sockets', async (t) => {
    const ffi = ffiAvailable();
    if (!requireCapability(t, ffi.ok, ffi.ok ? '' : ffi.reason)) return;
    let accepted: ReturnType<typeof getSocketOptions> | undefined;
    const s = await start({ socketOptions: { receiveBufferSize: 65_536, keepAlive: true } }, (conn) => {
      accepted = getSocketOptions(conn.socket);
      echoHandler()(conn);
    });
    assert.equal(s.socketOptions?.receiveBufferSize, 131_072, 'Linux doubles the size asked for');
    assert.equal((await exchange(s.address.port, 'x')).data.toString(), 'x');
    assert.equal(accepted?.receiveBufferSize, 131_072);
    assert.equal(accepted?.keepAlive, true);
    assert.equal(accepted?.noDelay, true, 'noDelay is on by default');
  });
});
