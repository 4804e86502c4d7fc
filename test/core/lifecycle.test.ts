/**
 * One server lifecycle (issue 10): every soket server is driven here through the same generic test —
 * listen, address, stats, events, AbortSignal, close({ timeout }) → final stats, finished — so a server that
 * drifts from the contract fails here.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { InetAddress, SoketServer } from '../../src/core/lifecycle.js';
import { echoHandler } from '../../src/net/tcp-modes.js';
import { TcpServer } from '../../src/net/tcp-server.js';
import { TcpWorkers } from '../../src/net/tcp-workers.js';
import { UdpServer, udpEchoHandler } from '../../src/net/udp-server.js';
import { SntpServer } from '../../src/ntp/server.js';

interface Case {
  name: string;
  make(signal?: AbortSignal): SoketServer<object, InetAddress> & NodeJS.EventEmitter;
  /** Do one piece of work against the server so its counters move. */
  poke(address: InetAddress): Promise<void>;
  /** The counter that `poke` moves. */
  moved(stats: object): number;
}

async function tcpEcho(address: InetAddress): Promise<void> {
  const socket = net.connect(address.port, address.address);
  socket.end('ping');
  for await (const _ of socket) {
    // read until the echo server closes
  }
}

async function udpPoke(address: InetAddress, payload: Uint8Array): Promise<void> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => {
      socket.once('message', () => resolve());
      socket.send(payload, address.port, address.address);
    });
  } finally {
    socket.close();
  }
}

function sntpRequest(): Uint8Array {
  const b = new Uint8Array(48);
  b[0] = 0x23;
  b[47] = 7;
  return b;
}

const WORKER = fileURLToPath(new URL('../fixtures/tcp-worker.ts', import.meta.url));

/** Wait until `ready()` holds: counters of worker processes arrive over IPC a little after the client is done. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((r) => setTimeout(r, 5));
}

const CASES: Case[] = [
  {
    name: 'TcpServer',
    make: (signal) => new TcpServer({ port: 0, ...(signal ? { signal } : {}) }, echoHandler()),
    poke: tcpEcho,
    moved: (s) => (s as { accepted: number }).accepted,
  },
  {
    name: 'TcpWorkers',
    make: (signal) =>
      new TcpWorkers({
        workers: 2,
        port: 0,
        exec: WORKER,
        closeTimeout: 1000,
        ...(signal ? { signal } : {}),
      }),
    poke: tcpEcho,
    moved: (s) => (s as { closed: number }).closed,
  },
  {
    name: 'UdpServer',
    make: (signal) => new UdpServer({ port: 0, ...(signal ? { signal } : {}) }, udpEchoHandler()),
    poke: (a) => udpPoke(a, Buffer.from('ping')),
    moved: (s) => (s as { datagramsIn: number }).datagramsIn,
  },
  {
    name: 'SntpServer',
    make: (signal) => new SntpServer({ port: 0, leap: 0, rateLimit: false, ...(signal ? { signal } : {}) }),
    poke: (a) => udpPoke(a, sntpRequest()),
    moved: (s) => (s as { answered: number }).answered,
  },
];

describe('the common server lifecycle', () => {
  for (const c of CASES) {
    describe(c.name, () => {
      it('address throws before listen, is known when listen() resolves, and is emitted as listening', async () => {
        const server = c.make();
        assert.throws(() => server.address, { code: 'SOKET_CLOSED' });
        const emitted: InetAddress[] = [];
        server.on('listening', (a: InetAddress) => emitted.push(a));
        const address = await server.listen();
        assert.equal(server.listening, true);
        assert.deepEqual(server.address, address);
        assert.deepEqual(emitted, [address]);
        assert.ok(address.port > 0);
        assert.equal(await server.listen(), address, 'listen() again returns the same address');
        await server.close();
      });

      it('stats move with work; close({ timeout }) returns the final stats, finished has them too', async () => {
        const server = c.make();
        const address = await server.listen();
        assert.equal(c.moved(server.stats()), 0);
        await c.poke(address);
        await until(() => c.moved(server.stats()) >= 1);
        assert.equal(c.moved(server.stats()), 1);
        const closed: object[] = [];
        server.on('close', (s: object) => closed.push(s));
        const final = await server.close({ timeout: 100 });
        assert.equal(c.moved(final), 1);
        assert.deepEqual(await server.finished, final);
        assert.deepEqual(closed, [final]);
        assert.equal(server.listening, false);
        assert.strictEqual(server.close(), server.close(), 'close() is idempotent');
      });

      it('an AbortSignal closes it', async () => {
        const ac = new AbortController();
        const server = c.make(ac.signal);
        await server.listen();
        ac.abort();
        const final = await server.finished;
        assert.equal(c.moved(final), 0);
        assert.equal(server.listening, false);
      });

      it('an already-aborted signal refuses to listen', async () => {
        const ac = new AbortController();
        ac.abort();
        const server = c.make(ac.signal);
        await assert.rejects(server.listen(), { code: 'SOKET_ABORTED' });
      });

      it('close() before listen() resolves at once with empty stats', async () => {
        const server = c.make();
        const final = await server.close();
        assert.equal(c.moved(final), 0);
        await assert.rejects(server.listen(), { code: 'SOKET_CLOSED' });
      });

      it('rejects bad close options with a ValidationError', async () => {
        const server = c.make();
        await server.listen();
        assert.throws(() => server.close({ timeout: -1 }), { code: 'SOKET_INVALID_ARGUMENT' });
        await server.close();
      });
    });
  }
});
