import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClosedError, UnsupportedError, ValidationError } from '../../src/core/errors.js';
import { getSocketOptions, type SocketOptions, setSocketOptions } from '../../src/net/sockopt.js';
import { expectedBufferSize, readSocketLimits } from '../../src/net/sysctl.js';
import { PYTHON, pythonSockopt, ssSockets } from '../helpers/kernel-view.js';
import { requirePeer } from '../helpers/peers.js';

const limits = readSocketLimits();

/** A listener and the sockets of one connection to it. */
interface Pair {
  server: net.Server;
  client: net.Socket;
  accepted: net.Socket;
  port: number;
}

const open: Array<{ destroy(): void } | net.Server | dgram.Socket> = [];

async function listen(host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  open.push(server);
  return server;
}

async function connectTo(server: net.Server): Promise<Pair> {
  const { port, address } = server.address() as net.AddressInfo;
  const acceptedP = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(port, address);
  await once(client, 'connect');
  const [accepted] = await acceptedP;
  open.push(client, accepted);
  return { server, client, accepted, port };
}

function fdOf(s: net.Socket): number {
  return (s as unknown as { _handle: { fd: number } })._handle.fd;
}

async function udp(type: 'udp4' | 'udp6'): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  s.bind(0, type === 'udp6' ? '::1' : '127.0.0.1');
  await once(s, 'listening');
  open.push(s);
  return s;
}

function strip(r: ReturnType<typeof getSocketOptions>): Record<string, unknown> {
  const { fd: _fd, receiveTimeout: _r, sendTimeout: _s, ...rest } = r;
  return rest;
}

describe('socket options (getsockopt/setsockopt through FFI)', () => {
  before(() => {
    assert.ok(limits.wmemMax !== null && limits.rmemMax !== null, 'these tests run on Linux with /proc/sys');
  });
  after(() => {
    for (const s of open) {
      if (s instanceof net.Server) s.close();
      else if (s instanceof dgram.Socket) {
        try {
          s.close();
        } catch {
          // already closed
        }
      } else s.destroy();
    }
  });

  test('TCP client: what soket sets and reads back agrees with Python on the same fd and with ss', async (t) => {
    if (
      !requirePeer(t, PYTHON, 'apt-get install python3') ||
      !requirePeer(t, 'ss', 'apt-get install iproute2')
    )
      return;
    const { client, port } = await connectTo(await listen());
    const wanted: SocketOptions = {
      sendBufferSize: 65536,
      receiveBufferSize: 32768,
      noDelay: true,
      keepAlive: true,
      keepAliveIdle: 30,
      keepAliveInterval: 5,
      keepAliveCount: 3,
      ttl: 17,
    };
    const report = setSocketOptions(client, wanted);
    assert.equal(report.type, 'tcp');
    assert.equal(report.family, 4);
    assert.equal(report.sendBufferSize, expectedBufferSize(65536, limits.wmemMax));
    assert.equal(report.sendBufferSize, 131072, 'Linux doubles it');
    assert.equal(report.receiveBufferSize, 65536);
    assert.equal(report.noDelay, true);
    assert.equal(report.keepAlive, true);
    assert.deepEqual(
      [report.keepAliveIdle, report.keepAliveInterval, report.keepAliveCount, report.ttl],
      [30, 5, 3, 17],
    );
    assert.equal(report.receiveTimeout, 0);
    assert.deepEqual(getSocketOptions(client), report);

    const py = await pythonSockopt(report.fd);
    assert.deepEqual(py, strip(report));

    const ss = (await ssSockets(port)).find((s) => s.localPort === client.localPort);
    assert.ok(ss, 'ss lists the client');
    assert.equal(ss.rb, report.receiveBufferSize);
    assert.equal(ss.tb, report.sendBufferSize);
  });

  test('what Python sets through the fd, soket reads', async (t) => {
    if (!requirePeer(t, PYTHON, 'apt-get install python3')) return;
    const { client } = await connectTo(await listen());
    const before = getSocketOptions(client);
    assert.equal(before.noDelay, false);
    const py = await pythonSockopt(fdOf(client), { ttl: 99, sendBufferSize: 12345, noDelay: true });
    const now = getSocketOptions(client);
    assert.equal(now.ttl, 99);
    assert.equal(now.sendBufferSize, 24690);
    assert.equal(now.noDelay, true);
    assert.deepEqual(py, strip(now));
  });

  test('a listening server: accepted sockets inherit its options', async (t) => {
    if (
      !requirePeer(t, PYTHON, 'apt-get install python3') ||
      !requirePeer(t, 'ss', 'apt-get install iproute2')
    )
      return;
    const server = await listen();
    const plain = await connectTo(server);
    const control = getSocketOptions(plain.accepted);
    assert.equal(control.noDelay, false);
    assert.equal(control.keepAlive, false);

    const set = setSocketOptions(server, {
      receiveBufferSize: 20000,
      sendBufferSize: 30000,
      noDelay: true,
      keepAlive: true,
      keepAliveIdle: 40,
      ttl: 33,
    });
    assert.equal(set.receiveBufferSize, 40000);
    assert.equal(getSocketOptions(server).noDelay, true);

    const { accepted, port } = await connectTo(server);
    const inherited = getSocketOptions(accepted);
    assert.equal(inherited.receiveBufferSize, 40000);
    assert.equal(inherited.sendBufferSize, 60000);
    assert.equal(inherited.noDelay, true);
    assert.equal(inherited.keepAlive, true);
    assert.equal(inherited.keepAliveIdle, 40);
    assert.equal(inherited.ttl, 33);
    assert.deepEqual(await pythonSockopt(inherited.fd), strip(inherited));
    const ss = (await ssSockets(port)).find(
      (s) => s.localPort === port && s.peerPort === accepted.remotePort,
    );
    assert.ok(ss, 'ss lists the accepted socket');
    assert.equal(ss.rb, 40000);
    assert.equal(ss.tb, 60000);
    // the connection accepted before the change kept its own values
    assert.equal(getSocketOptions(plain.accepted).noDelay, false);
  });

  test("UDP IPv4 and IPv6: agrees with Python and with Node's own buffer-size getters", async (t) => {
    if (!requirePeer(t, PYTHON, 'apt-get install python3')) return;
    const u4 = await udp('udp4');
    const r4 = setSocketOptions(u4, {
      sendBufferSize: 50000,
      receiveBufferSize: 70000,
      ttl: 5,
      reuseAddress: true,
    });
    assert.deepEqual(
      [r4.type, r4.family, r4.sendBufferSize, r4.receiveBufferSize, r4.ttl, r4.reuseAddress],
      ['udp', 4, 100000, 140000, 5, true],
    );
    assert.equal(r4.noDelay, null);
    assert.equal(r4.keepAliveIdle, null);
    assert.equal(u4.getSendBufferSize(), r4.sendBufferSize);
    assert.equal(u4.getRecvBufferSize(), r4.receiveBufferSize);
    assert.deepEqual(await pythonSockopt(r4.fd), strip(r4));

    const u6 = await udp('udp6');
    const r6 = setSocketOptions(u6, { ttl: 7, receiveBufferSize: 4096 });
    assert.equal(r6.family, 6);
    assert.equal(r6.ttl, 7);
    assert.equal(r6.receiveBufferSize, 8192);
    assert.deepEqual(await pythonSockopt(r6.fd), strip(r6));
  });

  test('a buffer size above net.core.rmem_max is capped, then doubled; a tiny one is raised', async (t) => {
    if (!requirePeer(t, PYTHON, 'apt-get install python3')) return;
    const max = limits.rmemMax as number;
    const u = await udp('udp4');
    const r = setSocketOptions(u, { receiveBufferSize: Math.min(max + 100_000, 2_147_483_647) });
    assert.equal(r.receiveBufferSize, 2 * max);
    assert.equal((await pythonSockopt(r.fd)).receiveBufferSize, 2 * max);
    const tiny = setSocketOptions(u, { receiveBufferSize: 1 });
    assert.ok(tiny.receiveBufferSize > 2, `raised to the kernel minimum, got ${tiny.receiveBufferSize}`);
    assert.equal((await pythonSockopt(r.fd)).receiveBufferSize, tiny.receiveBufferSize);
  });

  test('bad values: a clear ValidationError and the socket left as it was', async () => {
    const { client } = await connectTo(await listen());
    const before = getSocketOptions(client);
    const cases: Array<[unknown, RegExp]> = [
      [{ sendBufferSize: -1 }, /^Invalid sendBufferSize -1: expected an integer from 1 to 2147483647$/],
      [{ sendBufferSize: 0 }, /Invalid sendBufferSize 0/],
      [{ receiveBufferSize: 1.5 }, /Invalid receiveBufferSize 1.5/],
      [{ receiveBufferSize: '4096' }, /Invalid receiveBufferSize '4096'/],
      [{ receiveBufferSize: Number.NaN }, /Invalid receiveBufferSize NaN/],
      [{ sendBufferSize: 2 ** 31 }, /Invalid sendBufferSize 2147483648/],
      [{ noDelay: 'yes' }, /Invalid noDelay 'yes': expected true or false/],
      [{ ttl: 0 }, /Invalid ttl 0: expected an integer from 1 to 255/],
      [{ ttl: 256 }, /Invalid ttl 256/],
      [{ keepAliveCount: 128 }, /Invalid keepAliveCount 128/],
      [{ sndbuf: 4096 }, /Unknown socket option 'sndbuf'/],
      [null, /Invalid socket options null: expected an object/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => setSocketOptions(client, options as SocketOptions),
        (err) => err instanceof ValidationError && message.test(err.message),
        JSON.stringify(options),
      );
    }
    assert.deepEqual(getSocketOptions(client), before);
  });

  test('closed and not-yet-open sockets', async () => {
    const { client, server } = await connectTo(await listen());
    client.destroy();
    assert.throws(() => getSocketOptions(client), ClosedError);
    assert.throws(
      () => setSocketOptions(client, { noDelay: true }),
      /^ClosedError: Cannot set options on a closed socket$/,
    );
    server.close();
    assert.throws(() => getSocketOptions(server), ClosedError);
    const u = await udp('udp4');
    u.close();
    assert.throws(() => getSocketOptions(u), /Cannot read options of a closed UDP socket/);

    assert.throws(
      () => getSocketOptions(new net.Socket()),
      (err) => err instanceof ValidationError && /not connected yet.*connectTcp/.test(err.message),
    );
    const unbound = dgram.createSocket('udp4');
    assert.throws(() => getSocketOptions(unbound), /no file descriptor yet; bind it first/);
    unbound.close();
    assert.throws(() => getSocketOptions({} as net.Socket), ValidationError);
  });

  test('an option the OS does not support on this socket: UnsupportedError, no crash', async () => {
    const u = await udp('udp4');
    assert.throws(
      () => setSocketOptions(u, { noDelay: true }),
      (err) =>
        err instanceof UnsupportedError &&
        err.message ===
          'Option TCP_NODELAY is not supported on a UDP socket by this OS (ENOPROTOOPT from setsockopt)',
    );
    assert.throws(
      () => setSocketOptions(u, { keepAliveIdle: 10 }),
      /TCP_KEEPIDLE is not supported on a UDP socket/,
    );
    // the socket still works
    assert.equal(setSocketOptions(u, { ttl: 9 }).ttl, 9);
    const peer = await udp('udp4');
    const got = once(peer, 'message');
    u.send('ping', peer.address().port, '127.0.0.1');
    assert.equal(String((await got)[0]), 'ping');
  });

  test('without FFI (SOKET_NO_FFI=1): UnsupportedError explaining why, and the rest of soket works', async () => {
    const src = fileURLToPath(new URL('../../src/', import.meta.url));
    const script = `
      import net from 'node:net';
      import dgram from 'node:dgram';
      import { getSocketOptions, setSocketOptions } from '${src}net/sockopt.ts';
      import { connectTcp } from '${src}net/tcp-client.ts';
      const out = {};
      const u = dgram.createSocket('udp4');
      await new Promise((r) => u.bind(0, '127.0.0.1', r));
      try { getSocketOptions(u); } catch (e) { out.get = { name: e.name, code: e.code, message: e.message }; }
      try { setSocketOptions(u, { sendBufferSize: 4096 }); } catch (e) { out.set = e.name; }
      try { setSocketOptions(u, { sendBufferSize: -4 }); } catch (e) { out.bad = e.name; }
      u.close();
      const server = net.createServer((s) => s.end('hi'));
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address();
      const c = await connectTcp({ host: '127.0.0.1', port, connectTimeout: 5000 });
      out.plain = String(await new Promise((r) => c.socket.once('data', r)));
      c.socket.destroy();
      try { await connectTcp({ host: '127.0.0.1', port, socketOptions: { receiveBufferSize: 4096 } }); }
      catch (e) { out.withOptions = e.name; }
      server.close();
      console.log(JSON.stringify(out));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, SOKET_NO_FFI: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const [code] = await once(child, 'close');
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout);
    assert.deepEqual(out.get, {
      name: 'UnsupportedError',
      code: 'SOKET_UNSUPPORTED',
      message: 'Socket options and kernel clock state need FFI (koffi), which is disabled by SOKET_NO_FFI=1',
    });
    assert.equal(out.set, 'UnsupportedError');
    assert.equal(out.bad, 'ValidationError', 'bad input is still reported as such');
    assert.equal(out.plain, 'hi', 'connectTcp without socket options needs no FFI');
    assert.equal(out.withOptions, 'UnsupportedError');
  });
});
