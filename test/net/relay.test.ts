import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import { decodeProxyHeader, readProxyHeader } from '../../src/codec/proxy-protocol.js';
import { ValidationError } from '../../src/core/errors.js';
import { createRelay, type RelayServer, type RelaySummary } from '../../src/net/relay.js';
import { createSelfSignedCertificate } from '../../src/net/tls-cert.js';
import { requirePeer } from '../helpers/peers.js';
import { freeTcpPort, waitListening } from '../helpers/ports.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
});
const dir = mkdtempSync(join(tmpdir(), 'soket-relay-'));
cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

/** An echo server that ends its side when the client ends (half-close done right). */
async function echoServer(
  kind: 'tcp' | 'unix' = 'tcp',
): Promise<{ port: number; path: string; server: net.Server }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const path = join(dir, `echo-${Math.random().toString(36).slice(2)}.sock`);
  if (kind === 'unix') server.listen(path);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { port: kind === 'tcp' ? (server.address() as net.AddressInfo).port : 0, path, server };
}

async function relay(
  options: Parameters<typeof createRelay>[0],
): Promise<{ relay: RelayServer; port: number }> {
  const r = await createRelay(options);
  cleanups.push(() => r.close({ timeout: 0 }));
  const a = r.address;
  return { relay: r, port: a.family === 'unix' ? 0 : a.port };
}

/** Send data, half-close, read everything until the peer ends. */
function roundTrip(socket: net.Socket, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.end(data);
  });
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

describe('relay', () => {
  test('TCP → TCP: bytes both ways, half-close, one summary per connection', async () => {
    const echo = await echoServer();
    const { relay: r, port } = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${echo.port}` });
    const summaries: RelaySummary[] = [];
    r.on('disconnect', (s) => summaries.push(s));
    const data = randomBytes(3 * 1024 * 1024);
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await once(c, 'connect');
    const back = await roundTrip(c, data);
    assert.equal(sha(back), sha(data));
    await once(c, 'close');
    while (summaries.length === 0) await once(r, 'disconnect');
    const s = summaries[0] as RelaySummary;
    assert.equal(s.reason, 'done');
    assert.equal(s.bytesUp, data.length);
    assert.equal(s.bytesDown, data.length);
    assert.equal(r.stats().closed, 1);
  });

  test('half-close: the client can still read after it shut down its write side', async () => {
    // The target answers only after the client's FIN: proves the FIN crossed the relay and the way back stayed open.
    const target = net.createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('end', () => s.end(`got ${Buffer.concat(got).length} bytes\n`));
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    cleanups.push(() => new Promise((res) => target.close(res)));
    const { port } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${(target.address() as net.AddressInfo).port}`,
    });
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await once(c, 'connect');
    assert.equal((await roundTrip(c, Buffer.alloc(1000, 1))).toString(), 'got 1000 bytes\n');
  });

  test('Unix listener → Unix target, mode 0600, stale socket replaced, live one refused, file removed', async () => {
    const echo = await echoServer('unix');
    const path = join(dir, 'relay.sock');
    // A stale socket file: bound by a process that exited without removing it.
    const py = spawn('/usr/bin/python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`,
    ]);
    await once(py, 'exit');
    assert.ok(statSync(path).isSocket());
    const { relay: r } = await relay({
      listen: `unix:${path}`,
      target: `unix:${echo.path}`,
      unixPerm: 0o600,
    });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    await assert.rejects(createRelay({ listen: `unix:${path}`, target: `unix:${echo.path}` }), {
      code: 'EADDRINUSE',
    });
    const c = net.connect({ path, allowHalfOpen: true });
    await once(c, 'connect');
    assert.equal((await roundTrip(c, Buffer.from('over unix\n'))).toString(), 'over unix\n');
    await r.close();
    assert.throws(() => statSync(path), { code: 'ENOENT' });
  });

  test('TLS termination and origination, with an ephemeral certificate and a pin', async () => {
    const echo = await echoServer();
    // relay A: TLS in (self-signed), plain out to the echo server.
    const { relay: a, port: aPort } = await relay({
      listen: 'tls:127.0.0.1:0',
      target: `127.0.0.1:${echo.port}`,
    });
    const pin = a.tlsServer?.certificate.pin as string;
    assert.match(pin, /^sha256:/);
    // relay B: plain in, TLS out to relay A, pinned.
    const { port: bPort } = await relay({
      listen: '127.0.0.1:0',
      target: `tls:127.0.0.1:${aPort}`,
      targetTls: { pin },
    });
    const data = randomBytes(200_000);
    const c = net.connect({ port: bPort, host: '127.0.0.1', allowHalfOpen: true });
    await once(c, 'connect');
    assert.equal(sha(await roundTrip(c, data)), sha(data));
    // A TLS client straight to relay A sees the ephemeral certificate.
    const t = tls.connect({
      port: aPort,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      allowHalfOpen: true,
    } as tls.ConnectionOptions);
    await once(t, 'secureConnect');
    assert.equal(t.getPeerX509Certificate()?.fingerprint256.length, 95);
    assert.equal((await roundTrip(t, Buffer.from('tls\n'))).toString(), 'tls\n');
  });

  test('a refusing target: that client is closed cleanly and logged, the relay keeps serving', async () => {
    const dead = await freeTcpPort();
    const { relay: r, port } = await relay({ listen: '127.0.0.1:0', target: `127.0.0.1:${dead}` });
    for (let i = 0; i < 2; i++) {
      const c = net.connect({ port, host: '127.0.0.1' });
      c.on('error', () => {});
      const [s] = (await once(r, 'disconnect')) as [RelaySummary];
      assert.equal(s.reason, 'target-failed');
      assert.match(s.detail ?? '', /refused/);
      c.destroy();
    }
    assert.equal(r.stats().targetFailures, 2);
    assert.ok(r.listening);
  });

  test('max-conns refuses with a FIN; allow/deny refuses at accept', async () => {
    const echo = await echoServer();
    const { relay: r, port } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${echo.port}`,
      maxConnections: 1,
    });
    const first = net.connect({ port, host: '127.0.0.1' });
    await once(r, 'connect');
    const second = net.connect({ port, host: '127.0.0.1' });
    second.resume();
    await once(second, 'end'); // a clean FIN, not a reset
    assert.equal(r.stats().refused, 1);
    first.destroy();
    second.destroy();

    const { relay: d, port: dport } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${echo.port}`,
      deny: '127.0.0.0/8',
    });
    const refused = once(d, 'refuse');
    const c = net.connect({ port: dport, host: '127.0.0.1' });
    c.on('error', () => {});
    const [ev] = (await refused) as [{ why: string; rule: string }];
    assert.equal(ev.why, 'denied');
    assert.match(ev.rule, /deny 127\.0\.0\.0\/8/);
    await assert.rejects(
      createRelay({ listen: 'unix:/tmp/x.sock', target: '127.0.0.1:1', allow: '10.0.0.0/8' }),
      ValidationError,
    );
    await assert.rejects(
      createRelay({ listen: '127.0.0.1:0', target: '127.0.0.1:1', allow: '10.0.0.0/33' }),
      ValidationError,
    );
  });

  test('a relayed connection outlives the connect timeout (plain and TLS targets)', async () => {
    const echo = await echoServer();
    const { relay: a, port: aPort } = await relay({
      listen: 'tls:127.0.0.1:0',
      target: `127.0.0.1:${echo.port}`,
    });
    const pin = a.tlsServer?.certificate.pin as string;
    for (const target of [`127.0.0.1:${echo.port}`, `tls:127.0.0.1:${aPort}`]) {
      const { port } = await relay({
        listen: '127.0.0.1:0',
        target,
        connectTimeout: 200,
        targetTls: { pin },
      });
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      await once(c, 'connect');
      c.write('a');
      await once(c, 'data');
      // Three times the connect timeout with the connection idle: it must still be there.
      await new Promise((res) => setTimeout(res, 600));
      assert.equal((await roundTrip(c, Buffer.from('still here'))).toString(), 'still here');
    }
  });

  test('idle timeout closes a silent connection', async () => {
    const echo = await echoServer();
    const { relay: r, port } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${echo.port}`,
      idleTimeout: 200,
    });
    const c = net.connect({ port, host: '127.0.0.1' });
    c.on('error', () => {});
    const [s] = (await once(r, 'disconnect')) as [RelaySummary];
    assert.equal(s.reason, 'idle-timeout');
  });

  test('backpressure: a client that does not read makes the relay stop reading the target', async () => {
    // The target writes as fast as it can; the client never reads. The relay must not buffer it all.
    let written = 0;
    const flood = net.createServer((s) => {
      s.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (s.write(chunk)) written += chunk.length;
        written += chunk.length;
      };
      s.on('drain', pump);
      pump();
    });
    flood.listen(0, '127.0.0.1');
    await once(flood, 'listening');
    cleanups.push(() => new Promise((res) => flood.close(res)));
    const { relay: r, port } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${(flood.address() as net.AddressInfo).port}`,
    });
    const c = net.connect({ port, host: '127.0.0.1' });
    c.pause();
    await once(r, 'connect');
    // Wait until the flood stalls: its written count stops growing.
    let last = -1;
    while (written !== last) {
      last = written;
      await new Promise((res) => setTimeout(res, 100));
    }
    // Kernel buffers (both hops) and Node's high-water marks hold what was written; far below 64 MiB.
    assert.ok(
      written < 64 * 1024 * 1024,
      `the target wrote ${written} bytes into a client that reads nothing`,
    );
    c.destroy();
  });

  test('PROXY protocol: send v1/v2 with the client address, accept it on the other side', async () => {
    // A target that records the first bytes it gets.
    const seen: Buffer[] = [];
    const target = net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        seen.push(d);
        s.end();
      });
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    cleanups.push(() => new Promise((res) => target.close(res)));
    const tport = (target.address() as net.AddressInfo).port;
    for (const version of [1, 2] as const) {
      const { port } = await relay({
        listen: '127.0.0.1:0',
        target: `127.0.0.1:${tport}`,
        sendProxy: version,
      });
      const c = net.connect({ port, host: '127.0.0.1' });
      await once(c, 'connect');
      c.write('hello');
      await once(c, 'end');
      const bytes = seen.pop() as Buffer;
      const read = readProxyHeader(bytes);
      assert.ok(read, `v${version} header`);
      assert.equal(read.header.version, version);
      assert.deepEqual(read.header.source, { address: '127.0.0.1', port: c.localPort });
      assert.deepEqual(read.header.destination, { address: '127.0.0.1', port });
      c.destroy();
    }
    // Chain: relay S sends v2 to relay A, which accepts it and sends v1 to the target with the original client.
    const { port: aPort, relay: a } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${tport}`,
      acceptProxy: true,
      sendProxy: 1,
    });
    const { port: sPort } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${aPort}`,
      sendProxy: 2,
    });
    const c = net.connect({ port: sPort, host: '127.0.0.1' });
    await once(c, 'connect');
    const connected = once(a, 'connect');
    c.write('payload');
    const [info] = (await connected) as [{ proxiedPeer: string }];
    assert.equal(info.proxiedPeer, `127.0.0.1:${c.localPort}`);
    await once(c, 'end');
    const bytes = seen.pop() as Buffer;
    const read = readProxyHeader(bytes);
    assert.ok(read);
    assert.deepEqual(read.header.source, { address: '127.0.0.1', port: c.localPort });
    assert.equal(bytes.subarray(read.length).toString(), 'payload');
    // A client without a header is dropped with the reason.
    const bad = net.connect({ port: aPort, host: '127.0.0.1' });
    bad.on('error', () => {});
    bad.write('GET / HTTP/1.0\r\n\r\n');
    let s: RelaySummary;
    do [s] = (await once(a, 'disconnect')) as [RelaySummary];
    while (s.reason === 'done');
    assert.equal(s.reason, 'bad-proxy-header');
    assert.match(s.detail ?? '', /Not a PROXY protocol header/);
  });

  test('2,000 concurrent connections through the relay, no byte lost', async () => {
    const echo = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    echo.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
    await once(echo, 'listening');
    cleanups.push(() => new Promise((res) => echo.close(res)));
    const { relay: r, port } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${(echo.address() as net.AddressInfo).port}`,
      backlog: 4096,
      connectTimeout: 60_000,
    });
    const N = 2000;
    let upstreams = 0;
    const allUp = new Promise<void>((resolve, reject) => {
      r.on('connect', () => {
        if (++upstreams === N) resolve();
      });
      r.on('disconnect', (d) => reject(new Error(`a connection ended early: ${JSON.stringify(d)}`)));
    });
    const sockets: net.Socket[] = [];
    await Promise.all(
      Array.from({ length: N }, async () => {
        const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
        sockets.push(c);
        await once(c, 'connect');
      }),
    );
    // All 2,000 are relayed at once before any data moves.
    await allUp;
    r.removeAllListeners('disconnect');
    assert.equal(r.stats().active, N);
    const results = await Promise.all(
      sockets.map((c, i) => {
        const data = Buffer.from(`connection ${i} `.repeat(50));
        return roundTrip(c, data).then((back) => back.equals(data));
      }),
    );
    assert.equal(results.filter(Boolean).length, N);
    const stats = await r.close();
    assert.equal(stats.closed, N);
    assert.equal(stats.reasons.done, N, JSON.stringify(stats.reasons));
    assert.equal(stats.bytesUp, stats.bytesDown);
  });
});

describe('relay against real peers', () => {
  test('HAProxy parses our v1 and v2 headers and sends back its own', async (t) => {
    const haproxy = requirePeer(t, 'haproxy', 'apt-get install haproxy');
    if (!haproxy) return;
    // soket relay (send-proxy vN) → haproxy (accept-proxy, tcp mode) → send-proxy-v2 → soket relay (accept-proxy) → echo
    const echo = await echoServer();
    const { relay: inner, port: innerPort } = await relay({
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${echo.port}`,
      acceptProxy: true,
    });
    const hport = await freeTcpPort();
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      [
        'global',
        '  maxconn 100',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 10s',
        '  timeout server 10s',
        'frontend fe',
        `  bind 127.0.0.1:${hport} accept-proxy`,
        '  default_backend be',
        'backend be',
        `  server s1 127.0.0.1:${innerPort} send-proxy-v2`,
        '',
      ].join('\n'),
    );
    const hp = spawn(haproxy, ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    hp.stderr?.on('data', (d) => {
      log += d;
    });
    cleanups.push(() => hp.kill('SIGKILL'));
    await waitListening(hport);
    for (const version of [1, 2] as const) {
      const { port } = await relay({
        listen: '127.0.0.1:0',
        target: `127.0.0.1:${hport}`,
        sendProxy: version,
      });
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      await once(c, 'connect');
      const seen = once(inner, 'connect');
      const back = roundTrip(c, Buffer.from(`through haproxy v${version}\n`));
      const [info] = (await seen) as [{ proxiedPeer: string }];
      // haproxy took our header's source and passed it on in its own v2 header.
      assert.equal(info.proxiedPeer, `127.0.0.1:${c.localPort}`, log);
      assert.equal((await back).toString(), `through haproxy v${version}\n`);
    }
    assert.equal(decodeProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')).family, 'unspec');
  });

  test('socat OPENSSL: client through a TLS-terminating relay; socat OPENSSL-LISTEN as a TLS target', async (t) => {
    const socat = requirePeer(t, 'socat', 'apt-get install socat');
    if (!socat) return;
    const cert = await createSelfSignedCertificate({ hosts: ['127.0.0.1'] });
    const certFile = join(dir, 'c.pem');
    const keyFile = join(dir, 'k.pem');
    writeFileSync(certFile, cert.cert);
    writeFileSync(keyFile, cert.key);
    const echo = await echoServer();
    const { port } = await relay({
      listen: 'tls:127.0.0.1:0',
      target: `127.0.0.1:${echo.port}`,
      listenTls: { cert: cert.cert, key: cert.key },
    });
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(socat, ['-', `OPENSSL:127.0.0.1:${port},cafile=${certFile}`], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let o = '';
      let e = '';
      p.stdout.on('data', (d) => {
        o += d;
      });
      p.stderr.on('data', (d) => {
        e += d;
      });
      p.on('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(`socat exited ${code}: ${e}`))));
      p.stdin.end('via socat\n');
    });
    assert.equal(out, 'via socat\n');

    // socat as the TLS server (echo), soket relay originating TLS to it and verifying with the CA.
    const sport = await freeTcpPort();
    const srv = spawn(
      socat,
      [
        `OPENSSL-LISTEN:${sport},bind=127.0.0.1,reuseaddr,fork,cert=${certFile},key=${keyFile},verify=0`,
        'PIPE',
      ],
      { stdio: 'ignore' },
    );
    cleanups.push(() => srv.kill('SIGKILL'));
    await waitListening(sport);
    const { port: rport } = await relay({
      listen: '127.0.0.1:0',
      target: `tls:127.0.0.1:${sport}`,
      targetTls: { ca: cert.cert },
    });
    const c = net.connect({ port: rport, host: '127.0.0.1', allowHalfOpen: true });
    await once(c, 'connect');
    c.write('to socat over tls\n');
    const [d] = (await once(c, 'data')) as [Buffer];
    assert.equal(d.toString(), 'to socat over tls\n');
    c.destroy();
  });
});
