/**
 * The TCP server under load and abuse: 10,000 clients held at once (in another process: the open-file limit
 * is per process), a long checksummed stream, and clients that reset, half-close, never send, or send far
 * faster than they read — while a well-behaved client keeps being served.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { echoHandler } from '../../src/net/tcp-modes.js';
import { createTcpServer, type TcpConnectionSummary, type TcpServer } from '../../src/net/tcp-server.js';
import { echoloadBinary, keyValues, TCP_HOLD_FIXTURE } from '../helpers/echoload.js';

const run = promisify(execFile);
const servers: TcpServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close({ timeout: 1 })));
});

async function start(options: Parameters<typeof createTcpServer>[0]): Promise<TcpServer> {
  const s = await createTcpServer(options, echoHandler());
  servers.push(s);
  return s;
}

function connect(port: number, options: Partial<net.NetConnectOpts> = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', ...options } as net.NetConnectOpts, () => resolve(s));
    s.once('error', reject);
  });
}

/** A well-behaved client: N request/response echoes of 1 KiB, each checked. */
async function healthyRoundTrips(port: number, n: number): Promise<number> {
  const s = await connect(port);
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const msg = randomBytes(1024);
    const got: Buffer[] = [];
    let len = 0;
    const done = new Promise<void>((resolve) => {
      const onData = (b: Buffer) => {
        got.push(b);
        len += b.length;
        if (len >= msg.length) {
          s.off('data', onData);
          resolve();
        }
      };
      s.on('data', onData);
    });
    s.write(msg);
    await done;
    if (Buffer.concat(got).equals(msg)) ok++;
  }
  s.destroy();
  return ok;
}

describe('TCP server robustness', () => {
  test('10,000 concurrent clients held, each echoed correctly before and after the hold', async () => {
    const server = await start({ backlog: 4096 });
    const port = String(server.address.port);
    const echoload = echoloadBinary();
    const [file, args] = echoload
      ? [echoload, ['tcp-hold', '127.0.0.1', port, '-c', '10000', '-s', '64', '-d', '1']]
      : [process.execPath, [TCP_HOLD_FIXTURE, '127.0.0.1', port, '10000', '1', '64']];
    const { stdout } = await run(file, args, { timeout: 90_000 });
    const r = keyValues(stdout);
    assert.equal(r.echo_before, '10000', stdout);
    assert.equal(r.echo_after, '10000', stdout);
    assert.equal(r.errors, '0');
    assert.equal(r.mismatches, '0');
    const st = server.stats();
    assert.equal(st.accepted, 10_000);
    assert.equal(st.peak, 10_000, 'all 10,000 were open at the same time');
  });

  test('a long checksummed stream comes back with no byte lost or reordered', async () => {
    const server = await start({});
    const socket = await connect(server.address.port, { allowHalfOpen: true });
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let receivedBytes = 0;
    socket.on('data', (b: Buffer) => {
      received.update(b);
      receivedBytes += b.length;
    });
    const ended = once(socket, 'end');
    const total = 48 * 1024 * 1024;
    const chunk = 256 * 1024;
    for (let off = 0; off < total; off += chunk) {
      const b = randomBytes(chunk);
      sent.update(b);
      if (!socket.write(b)) await once(socket, 'drain');
    }
    socket.end();
    await ended;
    socket.destroy();
    assert.equal(receivedBytes, total);
    assert.equal(received.digest('hex'), sent.digest('hex'));
  });

  test('resets, half-closes, silent clients and fast senders leave everyone else served; memory stays bounded', async () => {
    const server = await start({ idleTimeout: 800 });
    const port = server.address.port;
    const reasons: TcpConnectionSummary[] = [];
    server.on('disconnect', (d) => reasons.push(d));
    const healthy = healthyRoundTrips(port, 200);

    // 1. Resets mid-stream.
    for (let i = 0; i < 5; i++) {
      const s = await connect(port);
      s.on('error', () => {});
      s.write(randomBytes(200_000));
      await new Promise((r) => setTimeout(r, 5));
      s.resetAndDestroy();
    }

    // 2. Half-close: everything sent before the FIN is still echoed, then the server closes.
    const half = await connect(port, { allowHalfOpen: true });
    const payload = randomBytes(1_000_000);
    const halfGot: Buffer[] = [];
    half.on('data', (b: Buffer) => halfGot.push(b));
    const halfEnded = once(half, 'end');
    half.end(payload);
    await halfEnded;
    half.destroy();
    assert.ok(Buffer.concat(halfGot).equals(payload), 'half-closed client got its full echo');

    // 3. A client that never sends: the idle timeout closes it.
    const silent = await connect(port);
    silent.on('error', () => {});
    const silentClosed = once(silent, 'close');

    // 4. A client that sends far faster than it reads (it does not read at all for a while).
    const flood = await connect(port);
    flood.pause();
    let maxBuffered = 0;
    const sampler = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, server.stats().bufferedBytes);
    }, 5);
    const floodSent = createHash('sha256');
    const floodTotal = 32 * 1024 * 1024;
    const block = randomBytes(64 * 1024);
    for (let off = 0; off < floodTotal; off += block.length) {
      flood.write(block);
      floodSent.update(block);
    }
    // Give the server time to fill every buffer it can while the client reads nothing.
    await new Promise((r) => setTimeout(r, 200));
    const stalledAt = flood.writableLength;
    assert.ok(
      stalledAt > floodTotal / 2,
      `the sender was held back by TCP flow control (${stalledAt} bytes unsent)`,
    );
    // Now read everything back and check it.
    const floodGot = createHash('sha256');
    let floodBytes = 0;
    const floodDone = new Promise<void>((resolve) => {
      flood.on('data', (b: Buffer) => {
        floodGot.update(b);
        floodBytes += b.length;
        if (floodBytes >= floodTotal) resolve();
      });
    });
    flood.resume();
    await floodDone;
    clearInterval(sampler);
    flood.destroy();
    assert.equal(floodGot.digest('hex'), floodSent.digest('hex'), 'the flood came back intact');
    // Node's stream high-water marks (16–64 KiB each way) bound what the server holds, not the 32 MiB sent.
    assert.ok(maxBuffered < 1024 * 1024, `server buffered at most ${maxBuffered} bytes`);

    await silentClosed;
    assert.equal(await healthy, 200, 'the well-behaved client got all 200 echoes');
    while (server.stats().active > 0) await new Promise((r) => setTimeout(r, 10));
    const count = (reason: string) => reasons.filter((d) => d.reason === reason).length;
    assert.equal(count('reset'), 5);
    assert.equal(count('idle-timeout'), 1);
    assert.ok(count('client-closed') >= 1);
  });
});
