import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { NetworkError, TimeoutError, ValidationError } from '../../src/core/errors.js';
import { getSocketOptions } from '../../src/net/sockopt.js';
import { checkUdpPayload, udpDrops, udpRequest } from '../../src/net/udp-client.js';
import {
  createUdpServer,
  type UdpMessage,
  type UdpServer,
  udpEchoHandler,
  udpPrintHandler,
  udpReplyHandler,
} from '../../src/net/udp-server.js';
import { ffiAvailable } from '../../src/platform/ffi.js';
import { requireCapability, requirePeer } from '../helpers/peers.js';

const servers: UdpServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(...args: Parameters<typeof createUdpServer>): Promise<UdpServer> {
  const s = await createUdpServer(...args);
  servers.push(s);
  return s;
}

/** A raw dgram socket that answers with `respond(msg)` (or stays silent when it returns undefined). */
async function rawServer(
  respond: (msg: Buffer, rinfo: dgram.RemoteInfo, socket: dgram.Socket) => void,
  type: 'udp4' | 'udp6' = 'udp4',
): Promise<{ socket: dgram.Socket; port: number }> {
  const socket = dgram.createSocket(type);
  socket.on('message', (m, r) => respond(m, r, socket));
  socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1');
  await once(socket, 'listening');
  after(() => socket.close());
  return { socket, port: socket.address().port };
}

describe('createUdpServer', () => {
  test('echo: many clients at once, each answered at its own address', async () => {
    const s = await start({}, udpEchoHandler());
    assert.equal(s.address.address, '127.0.0.1');
    const clients = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const c = dgram.createSocket('udp4');
        c.bind(0, '127.0.0.1');
        await once(c, 'listening');
        return { c, i };
      }),
    );
    const replies = await Promise.all(
      clients.map(async ({ c, i }) => {
        const got = once(c, 'message') as Promise<[Buffer, dgram.RemoteInfo]>;
        c.send(`client ${i}`, s.address.port, '127.0.0.1');
        const [msg, rinfo] = await got;
        c.close();
        return { msg: msg.toString(), from: rinfo.port, i };
      }),
    );
    for (const r of replies) {
      assert.equal(r.msg, `client ${r.i}`);
      assert.equal(r.from, s.address.port);
    }
    const st = s.stats();
    assert.equal(st.datagramsIn, 50);
    assert.equal(st.datagramsOut, 50);
    assert.equal(st.bytesIn, st.bytesOut);
  });

  test('reply and print modes; dual stack on ::', async () => {
    const r = await start({ host: '::' }, udpReplyHandler('message received'));
    const v4 = await udpRequest({ host: '127.0.0.1', port: r.address.port, message: 'Hello, server!' });
    const v6 = await udpRequest({ host: '::1', port: r.address.port, message: 'Hello, server!' });
    assert.equal(v4.data.toString(), 'message received');
    assert.equal(v6.data.toString(), 'message received');
    assert.equal(v6.from.family, 6);

    const printed: UdpMessage[] = [];
    const p = await start(
      {},
      udpPrintHandler((m) => printed.push(m)),
    );
    const c = dgram.createSocket('udp4');
    c.send('hello\u0000there', p.address.port, '127.0.0.1');
    while (printed.length === 0) await new Promise((res) => setTimeout(res, 5));
    c.close();
    assert.equal(printed[0]?.text, 'hello\\x00there');
    assert.match(printed[0]?.peer ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(p.stats().datagramsOut, 0);
  });

  test('socketOptions are applied after binding', async (t) => {
    const ffi = ffiAvailable();
    if (!requireCapability(t, ffi.ok, ffi.ok ? '' : ffi.reason)) return;
    const s = await start({ socketOptions: { receiveBufferSize: 65_536, ttl: 7 } }, udpEchoHandler());
    assert.ok(s.socket, 'the dgram path has a socket');
    const o = getSocketOptions(s.socket);
    assert.equal(o.receiveBufferSize, 131_072);
    assert.equal(o.ttl, 7);
    const r = await udpRequest({
      host: '127.0.0.1',
      port: s.address.port,
      message: 'x',
      socketOptions: { ttl: 3 },
    });
    assert.equal(r.data.toString(), 'x');
  });

  test('bind errors and bad options', async () => {
    const s = await start({}, udpEchoHandler());
    await assert.rejects(createUdpServer({ port: s.address.port }, udpEchoHandler()), (err: unknown) => {
      assert.ok(err instanceof NetworkError);
      assert.equal(err.code, 'EADDRINUSE');
      return true;
    });
    await assert.rejects(createUdpServer({ port: -1 }, udpEchoHandler()), ValidationError);
  });
});

describe('udpRequest', () => {
  test('returns the reply, who sent it, and the attempt count', async () => {
    const s = await start({}, udpEchoHandler());
    const r = await udpRequest({ host: '127.0.0.1', port: s.address.port, message: 'ping' });
    assert.equal(r.data.toString(), 'ping');
    assert.deepEqual(r.from, { address: '127.0.0.1', port: s.address.port, family: 4 });
    assert.equal(r.attempts, 1);
    assert.equal(r.truncated, false);
    assert.equal(r.size, 4);
    assert.ok(r.rttMs >= 0);
  });

  test('retries after a timeout and counts the tries', async () => {
    let seen = 0;
    const { port } = await rawServer((m, rinfo, sock) => {
      seen++;
      if (seen >= 3) sock.send(m, rinfo.port, rinfo.address);
    });
    const r = await udpRequest({
      host: '127.0.0.1',
      port,
      message: 'x',
      tryTimeout: 100,
      timeout: 3000,
      retries: 2,
    });
    assert.equal(r.attempts, 3);
    assert.equal(seen, 3);
  });

  test('a silent server: TimeoutError naming the target, tries and per-try wait', async () => {
    const { port } = await rawServer(() => {});
    await assert.rejects(
      udpRequest({ host: '127.0.0.1', port, message: 'x', timeout: 200, retries: 1 }),
      (err: unknown) => {
        assert.ok(err instanceof TimeoutError);
        assert.equal(err.phase, 'response');
        assert.equal(
          err.message,
          `Waiting for a response from 127.0.0.1:${port} timed out after 200 ms (2 tries of 100 ms)`,
        );
        return true;
      },
    );
  });

  test('a closed port: ECONNREFUSED at once (ICMP port unreachable), no waiting', async () => {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const { port } = socket.address();
    socket.close();
    await once(socket, 'close');
    await assert.rejects(
      udpRequest({ host: '127.0.0.1', port, message: 'x', timeout: 5000, retries: 3 }),
      (err: unknown) => {
        assert.ok(err instanceof NetworkError);
        assert.equal(err.code, 'ECONNREFUSED');
        assert.match(err.message, /^Cannot reach 127\.0\.0\.1:\d+: connection refused/);
        return true;
      },
    );
  });

  test('ignores datagrams from other sources', async () => {
    const rogue = dgram.createSocket('udp4');
    after(() => rogue.close());
    const { port } = await rawServer((m, rinfo, sock) => {
      // Before answering, a third party sends to the client's port; the client must not take it.
      rogue.send('rogue', rinfo.port, rinfo.address, () => {
        setTimeout(() => sock.send(m, rinfo.port, rinfo.address), 50);
      });
    });
    const r = await udpRequest({ host: '127.0.0.1', port, message: 'genuine', timeout: 2000 });
    assert.equal(r.data.toString(), 'genuine');
    assert.equal(r.from.port, port);
  });

  test('detects a reply longer than the reader buffer and reports its real size', async () => {
    const { port } = await rawServer((_m, rinfo, sock) =>
      sock.send(Buffer.alloc(2000, 0x61), rinfo.port, rinfo.address),
    );
    const r = await udpRequest({ host: '127.0.0.1', port, message: 'x', bufferSize: 1024 });
    assert.equal(r.truncated, true);
    assert.equal(r.size, 2000);
    assert.equal(r.data.length, 1024);
    const whole = await udpRequest({ host: '127.0.0.1', port, message: 'x' });
    assert.equal(whole.truncated, false);
    assert.equal(whole.data.length, 2000);
  });

  test('payload limits: 65,507 bytes over IPv4 and 65,527 over IPv6 go through; one more is refused', async () => {
    const v4 = await start({}, udpEchoHandler());
    const big4 = await udpRequest({
      host: '127.0.0.1',
      port: v4.address.port,
      message: Buffer.alloc(65_507, 1),
    });
    assert.equal(big4.size, 65_507);
    await assert.rejects(
      udpRequest({ host: '127.0.0.1', port: v4.address.port, message: Buffer.alloc(65_508) }),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.equal(
          err.message,
          'UDP payload of 65508 bytes is too large: IPv4 allows at most 65507 bytes in one datagram',
        );
        return true;
      },
    );
    const v6 = await start({ host: '::1' }, udpEchoHandler());
    const big6 = await udpRequest({ host: '::1', port: v6.address.port, message: Buffer.alloc(65_527, 2) });
    assert.equal(big6.size, 65_527);
    assert.throws(() => checkUdpPayload(65_528, 6), /IPv6 allows at most 65527/);
  });

  test('bad options are ValidationErrors', async () => {
    await assert.rejects(udpRequest({ host: '127.0.0.1', port: 0, message: 'x' }), ValidationError);
    await assert.rejects(
      udpRequest({ host: '127.0.0.1', port: 9, message: 'x', retries: -1 }),
      ValidationError,
    );
    await assert.rejects(udpRequest({ host: '::1', port: 9, message: 'x', family: 4 }), ValidationError);
  });

  test('udpDrops reads the kernel drop counter of a socket whose receive buffer overflowed', async (t) => {
    const python = requirePeer(t, '/usr/bin/python3', 'apt-get install python3');
    if (!python) return;
    // A socket with the smallest receive buffer that never reads: the second datagram does not fit.
    const child = spawn(python, [
      '-c',
      [
        'import socket, sys, time',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)',
        "s.bind(('127.0.0.1', 0))",
        'print(s.getsockname()[1], flush=True)',
        'sys.stdin.read()',
      ].join('\n'),
    ]);
    after(() => child.kill());
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    assert.equal(udpDrops(port, 4), 0);
    const sender = dgram.createSocket('udp4');
    for (let i = 0; i < 5; i++) {
      sender.send(Buffer.alloc(8000), port, '127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, 50));
    sender.close();
    assert.ok((udpDrops(port, 4) ?? 0) >= 1, 'the kernel counted dropped datagrams');
    child.stdin.end();
  });
});
