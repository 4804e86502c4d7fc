import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { once } from 'node:events';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AbortError,
  NetworkError,
  SoketError,
  TimeoutError,
  ValidationError,
} from '../../src/core/errors.js';
import { getSocketOptions } from '../../src/net/sockopt.js';
import { type ConnectTcpOptions, connectTcp, type LookupFunction } from '../../src/net/tcp-client.js';
import { requireDnsmasq } from '../helpers/dnsmasq.js';
import { PYTHON, pythonSockopt, ssSockets } from '../helpers/kernel-view.js';
import { canUseNetns, createNetns, deleteNetns } from '../helpers/netns.js';
import { requireCapability, requirePeer } from '../helpers/peers.js';

const cleanups: Array<() => void> = [];

async function server(onConnection: (s: net.Socket) => void = () => {}, host = '127.0.0.1') {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    onConnection(s);
  });
  srv.listen(0, host);
  await once(srv, 'listening');
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return { srv, port: (srv.address() as net.AddressInfo).port, sockets };
}

function track<T extends { socket: net.Socket }>(c: T): T {
  c.socket.on('error', () => {});
  cleanups.push(() => c.socket.destroy());
  return c;
}

/**
 * A listener that never accepts: Python listens with backlog 0 and never calls accept(); one connection
 * fills the accept queue, after which the kernel drops SYNs to it, so a connect hangs.
 */
async function hangingListener(): Promise<number> {
  const py = spawn(
    PYTHON,
    [
      '-c',
      "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  cleanups.push(() => py.kill());
  const [line] = (await once(py.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  const port = Number(String(line).trim());
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => {});
  cleanups.push(() => filler.destroy());
  await once(filler, 'connect'); // completes into the accept queue, which is now full
  const second = net.connect(port, '127.0.0.1'); // its SYNs are dropped
  second.on('error', () => {});
  cleanups.push(() => second.destroy());
  return port;
}

/** A DNS "server" that receives queries and never answers. */
async function silentDns(): Promise<{ port: number; queries: () => number }> {
  const s = dgram.createSocket('udp4');
  let n = 0;
  s.on('message', () => n++);
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  cleanups.push(() => s.close());
  return { port: s.address().port, queries: () => n };
}

/** A `lookup` for connectTcp that asks the given DNS servers (dns.Resolver), cancelled by the signal. */
function resolverLookup(servers: string[]): LookupFunction {
  return async (hostname, { signal }) => {
    const resolver = new dns.promises.Resolver({ timeout: 10_000, tries: 1 });
    resolver.setServers(servers);
    signal.addEventListener('abort', () => resolver.cancel(), { once: true });
    const addresses = await resolver.resolve4(hostname);
    return addresses.map((address) => ({ address, family: 4 }));
  };
}

function errorOf(socket: net.Socket): Promise<unknown> {
  return new Promise((resolve) => socket.once('error', resolve));
}

describe('connectTcp', () => {
  after(() => {
    for (const f of cleanups.reverse()) f();
  });

  test('connects to an IP address and reports addresses and phase times', async () => {
    const { port } = await server((s) => s.end('hello'));
    const c = track(await connectTcp({ host: '127.0.0.1', port }));
    assert.equal(c.remoteAddress, '127.0.0.1');
    assert.equal(c.remotePort, port);
    assert.equal(c.localAddress, '127.0.0.1');
    assert.ok(c.localPort > 0);
    assert.equal(c.family, 4);
    assert.equal(c.lookupMs, 0);
    assert.ok(c.connectMs >= 0);
    const [data] = await once(c.socket, 'data');
    assert.equal(String(data), 'hello');
  });

  test('an option set before connect is in force at the handshake (window scale seen by the peer)', async (t) => {
    if (
      !requirePeer(t, 'ss', 'apt-get install iproute2') ||
      !requirePeer(t, PYTHON, 'apt-get install python3')
    )
      return;
    const { port } = await server();
    const pre = track(
      await connectTcp({
        host: '127.0.0.1',
        port,
        socketOptions: { receiveBufferSize: 4096, keepAlive: true, keepAliveIdle: 11, keepAliveInterval: 3 },
      }),
    );
    // Control: the same receive buffer, set after the handshake.
    const post = track(await connectTcp({ host: '127.0.0.1', port }));
    const { setSocketOptions } = await import('../../src/net/sockopt.js');
    setSocketOptions(post.socket, { receiveBufferSize: 4096 });

    const ss = await ssSockets(port);
    const side = (localPort: number) => ({
      client: ss.find((s) => s.localPort === localPort),
      accepted: ss.find((s) => s.localPort === port && s.peerPort === localPort),
    });
    const a = side(pre.localPort);
    const b = side(post.localPort);
    assert.ok(a.client && a.accepted && b.client && b.accepted, 'ss lists all four sockets');
    // Both clients now have the same buffer ...
    assert.equal(a.client.rb, 8192);
    assert.equal(b.client.rb, 8192);
    // ... but only the one set before connect offered a small window in its SYN: the accepted side sees the
    // client's window scale 0 and a window of at most 8 KiB; the control offered a scaled window.
    assert.equal(a.accepted.wscale?.[0], 0);
    assert.ok((a.accepted.sndWnd ?? Number.POSITIVE_INFINITY) <= 8192, `snd_wnd ${a.accepted.sndWnd}`);
    assert.ok((b.accepted.wscale?.[0] ?? 0) > 0, `control wscale ${b.accepted.wscale}`);
    assert.ok((b.accepted.sndWnd ?? 0) > 8192, `control snd_wnd ${b.accepted.sndWnd}`);
    // and the keep-alive settings made before connect survived it (Node re-applies SO_KEEPALIVE only)
    const o = getSocketOptions(pre.socket);
    assert.deepEqual([o.keepAlive, o.keepAliveIdle, o.keepAliveInterval], [true, 11, 3]);
    const py = await pythonSockopt(o.fd);
    assert.deepEqual(
      [py.receiveBufferSize, py.keepAlive, py.keepAliveIdle, py.keepAliveInterval],
      [8192, true, 11, 3],
    );
  });

  test('IPv6 with options, and a local address bound before connect', async (t) => {
    if (!requirePeer(t, PYTHON, 'apt-get install python3')) return;
    const six = await server(() => {}, '::1');
    const c6 = track(
      await connectTcp({ host: '::1', port: six.port, socketOptions: { ttl: 5, noDelay: true } }),
    );
    assert.equal(c6.family, 6);
    const py = await pythonSockopt(getSocketOptions(c6.socket).fd);
    assert.deepEqual([py.family, py.ttl, py.noDelay], [6, 5, true]);

    const four = await server();
    const accepted = once(four.srv, 'connection') as Promise<[net.Socket]>;
    const c4 = track(
      await connectTcp({
        host: '127.0.0.1',
        port: four.port,
        localAddress: '127.0.0.3',
        socketOptions: { reuseAddress: true },
      }),
    );
    assert.equal(c4.localAddress, '127.0.0.3');
    assert.equal((await accepted)[0].remoteAddress, '127.0.0.3');
    assert.equal(getSocketOptions(c4.socket).reuseAddress, true);
  });

  test('connect timeout: a listener whose accept queue is full', async (t) => {
    if (!requirePeer(t, PYTHON, 'apt-get install python3')) return;
    const port = await hangingListener();
    await assert.rejects(connectTcp({ host: '127.0.0.1', port, connectTimeout: 300 }), (err) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.code, 'SOKET_TIMEOUT');
      assert.equal(err.phase, 'connect');
      assert.equal(err.message, `Connect to 127.0.0.1:${port} timed out after 300 ms`);
      return true;
    });
    // The overall deadline binds when it is the shorter one.
    await assert.rejects(connectTcp({ host: '127.0.0.1', port, connectTimeout: 5000, timeout: 250 }), {
      name: 'TimeoutError',
      phase: 'overall',
      message: `Operation on 127.0.0.1:${port} timed out after 250 ms`,
    });
    // With socket options (soket's own fd): the same, and the fd is closed afterwards.
    const fds = readdirSync('/proc/self/fd').length;
    await assert.rejects(
      connectTcp({
        host: '127.0.0.1',
        port,
        connectTimeout: 200,
        socketOptions: { receiveBufferSize: 8192 },
      }),
      { phase: 'connect' },
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(readdirSync('/proc/self/fd').length, fds, 'no file descriptor leaked');
  });

  test('idle timeout: a server that accepts and never sends', async () => {
    const { port } = await server();
    const c = await connectTcp({ host: '127.0.0.1', port, idleTimeout: 200 });
    cleanups.push(() => c.socket.destroy());
    const err = await errorOf(c.socket);
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.phase, 'idle');
    assert.equal(err.message, `Idle connection to 127.0.0.1:${port} timed out after 200 ms`);
    assert.ok(c.socket.destroyed);
  });

  test('idle timeout restarts with every chunk of data', async () => {
    const { port } = await server((s) => {
      let n = 0;
      const timer = setInterval(() => {
        s.write(`chunk ${++n}\n`);
        if (n === 8) clearInterval(timer);
      }, 100);
      s.on('close', () => clearInterval(timer));
    });
    const c = await connectTcp({ host: '127.0.0.1', port, idleTimeout: 500 });
    cleanups.push(() => c.socket.destroy());
    let text = '';
    c.socket.on('data', (b: Buffer) => {
      text += b.toString();
    });
    const err = await errorOf(c.socket);
    assert.ok(err instanceof TimeoutError && err.phase === 'idle');
    // 800 ms of data arrived in full although the idle limit is 500 ms: the timer only fires after it stops.
    assert.match(text, /chunk 8\n$/);
  });

  test('overall timeout after connect destroys the socket', async () => {
    const { port } = await server();
    const c = await connectTcp({ host: '127.0.0.1', port, timeout: 300 });
    cleanups.push(() => c.socket.destroy());
    const err = await errorOf(c.socket);
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.phase, 'overall');
    assert.equal(err.message, `Operation on 127.0.0.1:${port} timed out after 300 ms`);
  });

  test('lookup timeout: a resolver that never answers', async () => {
    const dnsServer = await silentDns();
    const lookup = resolverLookup([`127.0.0.1:${dnsServer.port}`]);
    await assert.rejects(
      connectTcp({ host: 'www.example.test', port: 80, lookupTimeout: 300, lookup }),
      (err) => {
        assert.ok(err instanceof TimeoutError);
        assert.equal(err.phase, 'lookup');
        assert.equal(err.message, 'Name lookup of www.example.test timed out after 300 ms');
        return true;
      },
    );
    assert.ok(dnsServer.queries() >= 1, 'the query reached the silent server');
    await assert.rejects(connectTcp({ host: 'www.example.test', port: 80, timeout: 200, lookup }), {
      phase: 'overall',
      message: 'Operation on www.example.test:80 timed out after 200 ms',
    });
  });

  test('lookup timeout with the default lookup (getaddrinfo), in a network namespace', async (t) => {
    const ns = canUseNetns();
    if (!requireCapability(t, ns.ok, ns.reason)) return;
    // `ip netns exec` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf: the resolver is 127.0.0.1:53
    // inside the namespace, where a UDP socket receives the queries and never answers. getaddrinfo itself gives
    // up after 1 s (timeout:1), so the child exits soon after; soket's 300 ms limit fires well before that.
    const name = createNetns('lookup', true);
    const etc = `/etc/netns/${name}`;
    cleanups.push(() => {
      rmSync(etc, { recursive: true, force: true });
      deleteNetns(name);
    });
    mkdirSync(etc, { recursive: true });
    writeFileSync(`${etc}/resolv.conf`, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    const src = fileURLToPath(new URL('../../src/net/tcp-client.ts', import.meta.url));
    const script = `
      import dgram from 'node:dgram';
      import { connectTcp } from '${src}';
      const s = dgram.createSocket('udp4');
      let queries = 0;
      s.on('message', () => queries++);
      await new Promise((r) => s.bind(53, '127.0.0.1', r));
      try { await connectTcp({ host: 'slow.example.test', port: 80, lookupTimeout: 300 }); console.log('connected?'); }
      catch (e) { console.log(JSON.stringify({ name: e.name, phase: e.phase, message: e.message, queries })); }
      process.exit(0);
    `;
    const child: ChildProcess = spawn(
      'ip',
      ['netns', 'exec', name, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let errText = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr?.on('data', (b: Buffer) => {
      errText += b.toString();
    });
    const [code] = await once(child, 'close');
    assert.equal(code, 0, errText);
    const r = JSON.parse(out);
    assert.equal(r.name, 'TimeoutError');
    assert.equal(r.phase, 'lookup');
    assert.equal(r.message, 'Name lookup of slow.example.test timed out after 300 ms');
    assert.ok(r.queries >= 1, 'getaddrinfo asked the silent resolver');
  });

  test('a name resolved by a real DNS server (dnsmasq), and a name it does not know', async (t) => {
    // The shared helper waits until dnsmasq says it has bound, and picks another port if the one it chose was
    // taken in the meantime (a hand-rolled start once waited 20 s on a dnsmasq that had exited).
    const dnsmasq = await requireDnsmasq(t, {
      zone: false,
      extraArgs: ['--local=/example.test/', '--host-record=svc.example.test,127.0.0.1'],
    });
    if (!dnsmasq) return;
    cleanups.push(() => void dnsmasq.stop());
    const lookup = resolverLookup([dnsmasq.server]);
    const { port } = await server((s) => s.end('via dns'));
    const c = await connectTcp({ host: 'svc.example.test', port, lookup, lookupTimeout: 5000 });
    track(c);
    assert.equal(c.remoteAddress, '127.0.0.1');
    assert.ok(c.lookupMs > 0);
    assert.equal(String((await once(c.socket, 'data'))[0]), 'via dns');
    await assert.rejects(
      connectTcp({ host: 'nosuch.example.test', port, lookup, lookupTimeout: 2000 }),
      (err) => {
        assert.ok(err instanceof NetworkError);
        assert.equal(err.code, 'ENOTFOUND');
        assert.equal(err.message, 'Cannot resolve nosuch.example.test: name not found');
        return true;
      },
    );
  });

  test('connection refused, and addresses tried in turn', async () => {
    const closed = await server();
    closed.srv.close();
    await once(closed.srv, 'close');
    for (const socketOptions of [undefined, { noDelay: true }]) {
      const opts: ConnectTcpOptions = { host: '127.0.0.1', port: closed.port };
      if (socketOptions) opts.socketOptions = socketOptions;
      await assert.rejects(connectTcp(opts), (err) => {
        assert.ok(err instanceof NetworkError);
        assert.equal(err.code, 'ECONNREFUSED');
        assert.equal(err.message, `Cannot reach 127.0.0.1:${closed.port}: connection refused`);
        return true;
      });
    }
    // A name with two addresses: nothing listens on 127.0.0.2, so the second one is used.
    const { port } = await server();
    const lookup: LookupFunction = async () => [
      { address: '127.0.0.2', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];
    const c = track(await connectTcp({ host: 'two.example.test', port, lookup }));
    assert.equal(c.remoteAddress, '127.0.0.1');
  });

  test('errors after connect are soket errors on the socket', async () => {
    // The server resets the connection once the client has sent something (so after connect for sure).
    const { port } = await server((s) => s.once('data', () => s.resetAndDestroy()));
    const c = await connectTcp({ host: '127.0.0.1', port });
    cleanups.push(() => c.socket.destroy());
    const errP = errorOf(c.socket);
    c.socket.write('x');
    const err = await errP;
    assert.ok(err instanceof NetworkError);
    assert.equal(err.code, 'ECONNRESET');
    assert.equal(err.message, `Connection to 127.0.0.1:${port}: connection reset by peer`);

    // Node's own errors keep their code under a SoketError.
    const quiet = await server();
    const d = await connectTcp({ host: '127.0.0.1', port: quiet.port });
    cleanups.push(() => d.socket.destroy());
    const afterEnd = errorOf(d.socket);
    d.socket.end();
    d.socket.write('x');
    const e2 = await afterEnd;
    assert.ok(e2 instanceof SoketError);
    assert.equal(e2.code, 'ERR_STREAM_WRITE_AFTER_END');
    assert.equal(e2.message, `Connection to 127.0.0.1:${quiet.port}: write after end`);
  });

  test('AbortSignal: before, during and after connect', async (t) => {
    if (!requirePeer(t, PYTHON, 'apt-get install python3')) return;
    await assert.rejects(connectTcp({ host: '127.0.0.1', port: 9, signal: AbortSignal.abort() }), AbortError);
    const hanging = await hangingListener();
    const ac = new AbortController();
    const p = connectTcp({ host: '127.0.0.1', port: hanging, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, { name: 'AbortError', message: `Connect to 127.0.0.1:${hanging} was aborted` });

    const { port } = await server();
    const ac2 = new AbortController();
    const c = await connectTcp({ host: '127.0.0.1', port, signal: ac2.signal });
    cleanups.push(() => c.socket.destroy());
    const errP = errorOf(c.socket);
    ac2.abort();
    const err = await errP;
    assert.ok(err instanceof AbortError);
    assert.equal(err.message, `Connection to 127.0.0.1:${port} was aborted`);
    assert.ok(c.socket.destroyed);
  });

  test('bad input: ValidationError before any network activity', async () => {
    const cases: Array<[Partial<ConnectTcpOptions>, RegExp]> = [
      [{ host: '', port: 80 }, /Invalid host: must not be empty/],
      [{ host: 'bad..name', port: 80 }, /Invalid host 'bad..name'/],
      [{ host: '127.0.0.1', port: 0 }, /Invalid port '0'/],
      [{ host: '127.0.0.1', port: 70000 }, /Invalid port '70000'/],
      [{ host: '127.0.0.1', port: Number.NaN }, /Invalid port/],
      [{ host: '127.0.0.1', port: 80, family: 5 as 4 }, /Invalid family '5'/],
      [{ host: '127.0.0.1', port: 80, family: 6 }, /not an IPv6 address/],
      [{ host: '127.0.0.1', port: 80, connectTimeout: -1 }, /Invalid connectTimeout '-1'/],
      [{ host: '127.0.0.1', port: 80, timeout: Number.NaN }, /Invalid timeout/],
      [{ host: '127.0.0.1', port: 80, localAddress: 'nope' }, /Invalid local address 'nope'/],
      [{ host: '127.0.0.1', port: 80, socketOptions: { sendBufferSize: -1 } }, /Invalid sendBufferSize -1/],
      [
        { host: '127.0.0.1', port: 80, socketOptions: { rcvbuf: 1 } as never },
        /Unknown socket option 'rcvbuf'/,
      ],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(
        connectTcp(options as ConnectTcpOptions),
        (err) => err instanceof ValidationError && err instanceof SoketError && message.test(err.message),
        JSON.stringify(options),
      );
    }
  });
});
