import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { ClosedError, NetworkError, ValidationError } from '../../src/core/errors.js';
import type { Datapath } from '../../src/platform/datagram-handler.js';
import { builtinHandler } from '../../src/platform/datagram-handlers.js';
import { ffiAvailable } from '../../src/platform/ffi.js';
import { type PacketTime, realtimeClock } from '../../src/platform/realtime.js';
import {
  createUdpEngine,
  UdpEngine,
  type UdpEngineMessage,
  type UdpEngineOptions,
} from '../../src/platform/udp-engine.js';
import { requireFfi } from '../helpers/peers.js';

const FIXTURE = new URL('../fixtures/engine-handlers.ts', import.meta.url).href;
const engines: UdpEngine[] = [];
const sockets: dgram.Socket[] = [];
after(async () => {
  for (const e of engines) await e.close();
  for (const s of sockets) s.close();
});

async function engine(
  datapath: Datapath,
  options: UdpEngineOptions,
  spec: Parameters<typeof createUdpEngine>[1],
): Promise<UdpEngine> {
  const e = await createUdpEngine({ datapath, ...options }, spec);
  engines.push(e);
  return e;
}

/** A client socket with an inbox. */
async function client(
  family: 4 | 6 = 4,
  local: string = family === 6 ? '::1' : '127.0.0.1',
): Promise<{
  socket: dgram.Socket;
  send(port: number, data: string | Uint8Array, host?: string): void;
  next(): Promise<Buffer>;
  inbox: Buffer[];
}> {
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, local, resolve));
  const inbox: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  socket.on('message', (b) => {
    const w = waiters.shift();
    if (w) w(b);
    else inbox.push(b);
  });
  return {
    socket,
    inbox,
    send: (port, data, host = family === 6 ? '::1' : '127.0.0.1') => socket.send(data, port, host),
    next: () => {
      const b = inbox.shift();
      return b ? Promise.resolve(b) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

const ns = (t: PacketTime) => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
const batched = ffiAvailable();

for (const datapath of ['batched', 'dgram'] as const) {
  describe(`UDP engine, ${datapath} datapath`, () => {
    const skip = (t: import('node:test').TestContext): boolean => datapath !== 'dgram' && !requireFfi(t);
    const workers = datapath === 'batched' ? 2 : 1;

    test('echo: many clients at once, each answered at its own address; stats merged over the workers', async (t) => {
      if (skip(t)) return;
      const e = await engine(datapath, { workers }, builtinHandler('echo'));
      assert.equal(e.datapath, datapath);
      assert.equal(e.stats().datapath, datapath);
      assert.equal(e.stats().workers, workers);
      const clients = await Promise.all(Array.from({ length: 24 }, () => client()));
      await Promise.all(
        clients.map(async (c, i) => {
          for (let k = 0; k < 5; k++) {
            const text = `client ${i} datagram ${k}`;
            c.send(e.address.port, text);
            assert.equal((await c.next()).toString(), text);
          }
        }),
      );
      const s = e.stats();
      assert.equal(s.datagramsIn, 120);
      assert.equal(s.datagramsOut, 120);
      assert.equal(s.bytesIn, s.bytesOut);
      assert.equal(s.sendErrors + s.handlerErrors + s.truncated + s.receiveErrors, 0);
      if (datapath === 'batched') {
        assert.equal(s.kernelTimestamps, 120, 'every datagram carried its kernel receive timestamp');
        assert.ok(s.batches >= 1 && s.batches <= 120 && s.maxBatch >= 1);
      }
      const final = await e.close();
      assert.equal(final.datagramsIn, 120);
    });

    test('a handler module by URL: its config, peer, kernel receive time, counters, errors, late stamps, broadcast', async (t) => {
      if (skip(t)) return;
      const e = await engine(
        datapath,
        { workers },
        { module: FIXTURE, export: 'tricky', config: { tag: 'T' } },
      );
      const c = await client();
      const clock = realtimeClock();
      const before = clock.read({ sec: 0, nsec: 0 });
      c.send(e.address.port, 'info');
      const info = JSON.parse((await c.next()).toString()) as Record<string, unknown>;
      const afterReply = clock.read({ sec: 0, nsec: 0 });
      assert.equal(info.tag, 'T');
      assert.equal(info.datapath, datapath);
      assert.equal(info.family, 4);
      assert.equal(info.address, '127.0.0.1');
      assert.equal(info.port, c.socket.address().port);
      const rx = { sec: info.sec as number, nsec: info.nsec as number };
      assert.ok(ns(before) <= ns(rx) && ns(rx) <= ns(afterReply), 'receive time between send and reply');
      if (datapath === 'batched') assert.equal(info.kernel, true);
      assert.equal(info.clock, batched.ok ? 'clock_gettime' : 'performance');

      c.send(e.address.port, 'stamp');
      const stamped = await c.next();
      const afterStamp = clock.read({ sec: 0, nsec: 0 });
      const ntpSec = stamped.readUInt32BE(8) - 2_208_988_800;
      const frac = stamped.readUInt32BE(12);
      const stampNs = BigInt(ntpSec) * 1_000_000_000n + (BigInt(frac) * 1_000_000_000n) / 2n ** 32n;
      assert.ok(
        stampNs >= ns(afterReply) && stampNs <= ns(afterStamp),
        'transmit stamp written before the send',
      );

      c.send(e.address.port, 'throw');
      c.send(e.address.port, 'echo me');
      assert.equal(
        (await c.next()).toString(),
        'echo me',
        'a throwing handler drops one datagram, not the worker',
      );
      e.broadcast('hello workers');
      // Workers take broadcasts between batches: ask until this client's worker has it.
      let note = '';
      for (let i = 0; i < 100 && note !== 'hello workers'; i++) {
        c.send(e.address.port, 'note');
        note = (await c.next()).toString();
        if (note !== 'hello workers') await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(note, 'hello workers');
      const s = await e.close();
      assert.equal(s.handlerErrors, 1);
      assert.equal(s.handler.seen, s.datagramsIn, 'handler counters summed over the workers');
    });

    test('forward: datagrams reach the main thread as message events, with their peer and time', async (t) => {
      if (skip(t)) return;
      const e = await engine(datapath, { workers }, builtinHandler('forward'));
      const c = await client();
      const got: UdpEngineMessage[] = [];
      const all = new Promise<void>((resolve) =>
        e.on('message', (m) => {
          got.push(m);
          if (got.length === 20) resolve();
        }),
      );
      for (let i = 0; i < 20; i++) c.send(e.address.port, `line ${i}`);
      await all;
      assert.deepEqual(
        got.map((m) => m.data.toString()).sort(),
        Array.from({ length: 20 }, (_, i) => `line ${i}`).sort(),
      );
      assert.equal(got[0]?.peer, `127.0.0.1:${c.socket.address().port}`);
      assert.ok((got[0]?.time.sec ?? 0) > 1_600_000_000);
      const s = await e.close();
      assert.equal(s.forwarded, 20);
      assert.equal(s.datagramsOut, 0);
    });

    test('dual stack on ::, and datagrams longer than maxDatagramSize are dropped and counted', async (t) => {
      if (skip(t)) return;
      const e = await engine(datapath, { host: '::', workers, maxDatagramSize: 100 }, builtinHandler('echo'));
      assert.equal(e.address.family, 6);
      const v4 = await client(4);
      v4.send(e.address.port, 'over IPv4');
      assert.equal((await v4.next()).toString(), 'over IPv4');
      const v6 = await client(6);
      v6.send(e.address.port, Buffer.alloc(101, 1));
      v6.send(e.address.port, 'over IPv6');
      assert.equal((await v6.next()).toString(), 'over IPv6');
      const s = await e.close();
      assert.equal(s.truncated, 1);
      assert.equal(s.datagramsOut, 2);
    });

    test('close is idempotent, resolves with the final stats; an abort signal closes; a taken port is EADDRINUSE', async (t) => {
      if (skip(t)) return;
      const ac = new AbortController();
      const e = new UdpEngine({ datapath, workers, signal: ac.signal }, builtinHandler('echo'));
      assert.throws(() => e.address, ClosedError);
      await e.listen();
      engines.push(e);
      const taken = new UdpEngine({ datapath, port: e.address.port, workers }, builtinHandler('echo'));
      await assert.rejects(
        taken.listen(),
        (err: unknown) => err instanceof NetworkError && err.code === 'EADDRINUSE',
      );
      ac.abort();
      const s = await e.finished;
      assert.equal(s.datapath, datapath);
      assert.equal(await e.close(), s);
      assert.equal(e.listening, false);
    });
  });
}

describe('UDP engine, batched only', () => {
  const need = (t: import('node:test').TestContext): boolean => requireFfi(t);

  test('SO_REUSEPORT steered by client address: one address, one worker, whatever its ports; addresses spread', async (t) => {
    if (!need(t)) return;
    const e = await engine('batched', { workers: 2 }, { module: FIXTURE, export: 'whoAmI' });
    assert.equal(e.steering, 'address');
    const ask = async (c: Awaited<ReturnType<typeof client>>) => {
      c.send(e.address.port, 'x');
      return (await c.next()).toString().split(' ')[0] as string;
    };
    // one address, 16 source ports (a client that opens a socket per query): always the same worker
    const same = new Set<string>();
    for (const c of await Promise.all(Array.from({ length: 16 }, () => client(4, '127.0.0.1')))) {
      for (let i = 0; i < 3; i++) same.add(await ask(c));
    }
    assert.equal(same.size, 1, 'one client address, one worker');
    // 32 addresses of 127/8: both workers
    const seen = new Set<string>();
    for (let i = 2; i < 34; i++) seen.add(await ask(await client(4, `127.0.0.${i}`)));
    assert.deepEqual([...seen].sort(), ['worker=0', 'worker=1']);
  });

  test('a worker that dies is reported and started again on the same socket', async (t) => {
    if (!need(t)) return;
    const e = await engine(
      'batched',
      { workers: 1 },
      { module: FIXTURE, export: 'tricky', config: { tag: 'x' } },
    );
    const c = await client();
    // (events.once would also listen for 'error', which the engine emits for a dead worker: listen for both)
    const errors: string[] = [];
    e.on('error', (err) => errors.push(err.message));
    const exited = new Promise<{ worker: number; code: number; restarting: boolean }>((r) =>
      e.once('worker-exit', r),
    );
    const restarted = new Promise((r) => e.once('worker-start', r));
    c.send(e.address.port, 'exit');
    const info = await exited;
    assert.match(errors[0] ?? '', /UDP engine worker 0 died \(exited with code 3\)/);
    assert.deepEqual([info.worker, info.code, info.restarting], [0, 3, true]);
    await restarted;
    c.send(e.address.port, 'after');
    assert.equal((await c.next()).toString(), 'after');
    assert.equal(e.stats().restarts, 1);
  });

  test('forwarding is bounded: past forwardLimit datagrams are dropped and counted, none lost silently', async (t) => {
    if (!need(t)) return;
    const e = await engine(
      'batched',
      { workers: 1, forwardLimit: 4 },
      builtinHandler('forward', { echo: true }),
    );
    const c = await client();
    let events = 0;
    e.on('message', () => events++);
    // Echoes pace the burst: 400 datagrams, at most 32 unanswered at a time.
    let sent = 0;
    let answered = 0;
    const total = 400;
    await new Promise<void>((resolve) => {
      c.socket.on('message', () => {
        answered++;
        if (sent < total) c.send(e.address.port, `${sent++}`);
        if (answered === total) resolve();
      });
      for (; sent < 32; sent++) c.send(e.address.port, `${sent}`);
    });
    const s = await e.close();
    assert.equal(s.forwarded + s.forwardDropped, total);
    assert.equal(events, s.forwarded);
  });

  test('a handler module that cannot load fails listen() and leaves nothing behind', async () => {
    const e = new UdpEngine({ datapath: 'batched' }, { module: FIXTURE, export: 'notAFactory' });
    await assert.rejects(e.listen(), /no factory function named 'notAFactory'/);
  });
});

describe('UDP engine, options and fallback', () => {
  test('bad options and bad handler specs are ValidationErrors', () => {
    const echo = builtinHandler('echo');
    for (const bad of [
      { workers: 0 },
      { workers: 65 },
      { batchSize: 65 },
      { host: 'localhost' },
      { maxDatagramSize: 0 },
      { datapath: 'fast' },
    ]) {
      assert.throws(() => new UdpEngine(bad as UdpEngineOptions, echo), ValidationError, JSON.stringify(bad));
    }
    assert.throws(() => new UdpEngine({}, { module: '' }), ValidationError);
    assert.throws(() => new UdpEngine({}, { module: FIXTURE, config: { f: () => 1 } }), ValidationError);
  });

  test('SOKET_NO_FFI=1: the dgram path, and it says why', () => {
    const script = `
      import { createUdpEngine } from ${JSON.stringify(new URL('../../src/platform/udp-engine.ts', import.meta.url).href)};
      import { builtinHandler } from ${JSON.stringify(new URL('../../src/platform/datagram-handlers.ts', import.meta.url).href)};
      const e = await createUdpEngine({ port: 0, workers: 2 }, builtinHandler('echo'));
      console.log(JSON.stringify({ datapath: e.stats().datapath, workers: e.stats().workers, reason: e.fallbackReason }));
      await e.close();`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, SOKET_NO_FFI: '1', NODE_DEBUG: 'soket' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { datapath: string; workers: number; reason: string };
    assert.equal(out.datapath, 'dgram');
    assert.equal(out.workers, 1);
    assert.match(out.reason, /SOKET_NO_FFI=1/);
    assert.match(
      r.stderr,
      /engine: dgram datapath \(fallback: .*SOKET_NO_FFI=1/,
      'the -v / NODE_DEBUG output says so',
    );
  });
});
