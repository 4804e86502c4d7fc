/**
 * One worker of the batched UDP engine (a `node:worker_threads` thread): it owns the receive loop of one
 * SO_REUSEPORT socket that the main thread created and bound. Loop: block in recvmmsg (MSG_WAITFORONE, so the
 * first datagram wakes it and whatever else is queued comes along, up to the batch size), run the handler on
 * each datagram, stamp the replies that asked for a late transmit time, send them all with one sendmmsg.
 *
 * The thread blocks in the kernel, not in its event loop, so it lets the loop run every `yieldMs` of busy
 * work and whenever the socket's receive timeout (set by the main thread) passes without traffic. The main
 * thread stops it by setting the shared stop word and shutting the socket down for reading, which wakes a
 * blocked recvmmsg at once.
 *
 * @internal
 * @module
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type {
  DatagramHandler,
  DatagramHandlerContext,
  DatagramHandlerInstance,
  DatagramPeer,
  ReceivedTime,
} from './datagram-handler.js';
import { loadDatagramHandler } from './datagram-handler.js';
import { BatchIo } from './mmsg.js';
import { type PacketTime, realtimeClock, writeNtpTime } from './realtime.js';
import { sockaddrAddress, sockaddrFamily, sockaddrPort } from './sockaddr.js';
import {
  C,
  CONTROL,
  type ForwardItem,
  type FromWorker,
  HANDLER_BASE,
  HANDLER_SLOTS,
  type WorkerInit,
} from './udp-engine-shared.js';

const EAGAIN = 11;
const EINTR = 4;
/** The share of the fastest measured send path added to late transmit stamps (see handleBatch). */
const SEND_DELAY_SHARE = 0.8;

function post(message: FromWorker): void {
  parentPort?.postMessage(message);
}

/** The peer of the datagram being handled: address text made only when asked for. */
class BatchPeer implements DatagramPeer {
  readonly #bytes: Uint8Array;
  #offset = 0;
  #address: string | undefined;
  family: 4 | 6 = 4;
  port = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  set(offset: number): void {
    this.#offset = offset;
    this.#address = undefined;
    this.family = sockaddrFamily(this.#bytes, offset) === 6 ? 6 : 4;
    this.port = sockaddrPort(this.#bytes, offset);
  }

  get address(): string {
    this.#address ??= sockaddrAddress(this.#bytes, this.#offset);
    return this.#address;
  }
}

async function run(init: WorkerInit): Promise<void> {
  const counters = new Float64Array(init.counters);
  const control = new Int32Array(init.control);
  const clock = realtimeClock();
  let io: BatchIo;
  try {
    io = new BatchIo(init.fd, { batch: init.batch, slotSize: init.slotSize });
  } catch (err) {
    post({ t: 'failed', message: (err as Error).message, unsupported: true });
    return;
  }
  // Probe: a kernel (or seccomp policy) that refuses recvmmsg makes the engine fall back to dgram.
  const probe = io.receive(false);
  if (probe < 0 && probe !== -EAGAIN && probe !== -EINTR) {
    io.free();
    post({ t: 'failed', message: `recvmmsg failed with errno ${-probe}`, unsupported: true });
    return;
  }
  const pendingProbe = probe > 0 ? probe : 0;

  let stampAt = -1;
  let errors = 0;
  const forwardQueue: ForwardItem[] = [];
  const context: DatagramHandlerContext = {
    worker: init.index,
    workers: init.workers,
    datapath: 'batched',
    clock,
    forward(data, peer, received) {
      if (Atomics.load(control, CONTROL.inFlight) + forwardQueue.length >= init.forwardLimit) {
        counters[C.forwardDropped] = (counters[C.forwardDropped] as number) + 1;
        return false;
      }
      const t = received ?? clock.read({ sec: 0, nsec: 0 });
      forwardQueue.push({
        data: data.slice(),
        family: peer.family,
        address: peer.address,
        port: peer.port,
        sec: t.sec,
        nsec: t.nsec,
      });
      counters[C.forwarded] = (counters[C.forwarded] as number) + 1;
      return true;
    },
    stampTransmit(offset) {
      stampAt = offset;
    },
  };
  const require = createRequire(import.meta.url);
  let handler: DatagramHandlerInstance;
  try {
    handler = await loadDatagramHandler(init.handler, context, async (specifier) =>
      specifier.endsWith('.cjs')
        ? (require(new URL(specifier).pathname) as Record<string, unknown>)
        : ((await import(specifier)) as Record<string, unknown>),
    );
  } catch (err) {
    io.free();
    post({ t: 'failed', message: (err as Error).message, unsupported: false });
    return;
  }
  const handle = handler.handle;
  const slots = new Map<string, number>();
  const syncCounters = () => {
    if (!handler.counters) return;
    const values = handler.counters();
    for (const name in values) {
      let slot = slots.get(name);
      if (slot === undefined) {
        if (slots.size >= HANDLER_SLOTS) continue;
        slot = slots.size;
        slots.set(name, slot);
        post({ t: 'counter', name, slot });
      }
      counters[HANDLER_BASE + slot] = values[name] as number;
    }
  };
  syncCounters();
  const onMessage = (data: unknown) => {
    try {
      handler.message?.(data);
    } catch (err) {
      post({ t: 'error', message: (err as Error)?.message ?? String(err), count: ++errors });
    }
  };
  parentPort?.on('message', onMessage);
  post({ t: 'ready' });

  const peer = new BatchPeer(io.bytes);
  const time: ReceivedTime = { sec: 0, nsec: 0, kernel: false };
  const now: PacketTime = { sec: 0, nsec: 0 };
  const drops = { value: -1 };
  const stamps: number[] = [];
  // Late transmit stamps are read just before sendmmsg, but the datagram leaves the host a little later: the
  // time through the send path (µs; tens when the thread has just woken up). The kernel's software transmit
  // timestamp of a reply measures it (at most every 2 ms). Once 8 are in, SEND_DELAY_SHARE of the fastest send
  // this worker has measured is added to the transmit times: a T3 must never come after the reply left, or a
  // client with kernel timestamps sees a negative round-trip delay and rightly rejects the reply. The fastest
  // of a recent window was not a floor (one reply in ten went out sooner; a measured send also carries the
  // timestamp request), so the floor is the fastest ever, less a fifth.
  let fastest = Number.POSITIVE_INFINITY;
  let delayCount = 0;
  let sendDelayNs = 0;
  let lastTxStampMs = Number.NEGATIVE_INFINITY;
  let firstStampK = -1;
  const raw: PacketTime = { sec: 0, nsec: 0 };
  const tx: PacketTime = { sec: 0, nsec: 0 };
  let lastErrorReport = 0;

  const handleBatch = (n: number): void => {
    let read = false;
    let datagrams = 0;
    for (let i = 0; i < n; i++) {
      if (io.nameLength(i) === 0) continue; // a wake-up after shutdown, not a datagram
      const len = io.length(i);
      datagrams++;
      counters[C.datagramsIn] = (counters[C.datagramsIn] as number) + 1;
      counters[C.bytesIn] = (counters[C.bytesIn] as number) + len;
      if (io.truncated(i)) {
        counters[C.truncated] = (counters[C.truncated] as number) + 1;
        continue;
      }
      if (io.control(i, time, drops)) {
        time.kernel = true;
        counters[C.kernelTimestamps] = (counters[C.kernelTimestamps] as number) + 1;
      } else {
        if (!read) {
          clock.read(now);
          read = true;
        }
        time.sec = now.sec;
        time.nsec = now.nsec;
        time.kernel = false;
      }
      if (drops.value > (counters[C.kernelDrops] as number)) counters[C.kernelDrops] = drops.value;
      peer.set(io.nameOffset(i));
      stampAt = -1;
      let reply: ReturnType<DatagramHandler>;
      try {
        reply = handle(io.request(i), peer, time);
      } catch (err) {
        counters[C.handlerErrors] = (counters[C.handlerErrors] as number) + 1;
        errors++;
        const t = performance.now();
        if (t - lastErrorReport > 1000) {
          lastErrorReport = t;
          post({ t: 'error', message: (err as Error)?.message ?? String(err), count: errors });
        }
        continue;
      }
      if (reply) {
        const at = io.reply(i, reply);
        if (at < 0) counters[C.sendErrors] = (counters[C.sendErrors] as number) + 1;
        else if (stampAt >= 0 && stampAt + 8 <= reply.byteLength) {
          if (stamps.length === 0) firstStampK = io.pending - 1;
          stamps.push(at + stampAt);
        }
      }
    }
    if (datagrams > 0) {
      counters[C.batches] = (counters[C.batches] as number) + 1;
      if (datagrams > (counters[C.maxBatch] as number)) counters[C.maxBatch] = datagrams;
    }
    // Counters first: whoever gets a reply must find it already counted.
    syncCounters();
    const queued = io.pending;
    if (queued > 0) {
      const queuedBytes = io.pendingBytes;
      counters[C.datagramsOut] = (counters[C.datagramsOut] as number) + queued;
      counters[C.bytesOut] = (counters[C.bytesOut] as number) + queuedBytes;
      let measure = false;
      if (stamps.length > 0) {
        // Whether to measure is settled before the clock is read: from the read to the send, a measured batch
        // does exactly what any other batch does, so what it measures holds for the others.
        const ms = performance.now();
        if (ms - lastTxStampMs >= 2) {
          lastTxStampMs = ms;
          io.requestTxStamp(firstStampK);
          measure = true;
        }
        clock.read(raw); // the transmit time: as late as possible, just before the send
        now.sec = raw.sec;
        now.nsec = raw.nsec + sendDelayNs;
        if (now.nsec >= 1e9) {
          now.sec += 1;
          now.nsec -= 1e9;
        }
        for (const at of stamps) writeNtpTime(io.bytes, at, now);
        stamps.length = 0;
      }
      const r = io.flush();
      if (measure && io.readTxStamp(tx)) {
        counters[C.txTimestamps] = (counters[C.txTimestamps] as number) + 1;
        const d = (tx.sec - raw.sec) * 1e9 + (tx.nsec - raw.nsec);
        if (d >= 0 && d < 1e6) {
          if (d < fastest) fastest = d;
          if (++delayCount >= 8) {
            sendDelayNs = Math.round(fastest * SEND_DELAY_SHARE);
            counters[C.sendDelayNs] = sendDelayNs;
          }
        }
      }
      if (r.failed > 0) {
        counters[C.datagramsOut] = (counters[C.datagramsOut] as number) - r.failed;
        counters[C.bytesOut] = (counters[C.bytesOut] as number) - (queuedBytes - r.bytes);
        counters[C.sendErrors] = (counters[C.sendErrors] as number) + r.failed;
      }
    }
    if (forwardQueue.length > 0) {
      Atomics.add(control, CONTROL.inFlight, forwardQueue.length);
      post({ t: 'forward', items: forwardQueue.splice(0) });
    }
  };

  if (pendingProbe > 0) handleBatch(pendingProbe);

  /** Run batches until the stop word is set ('stop'), the socket idles ('idle') or it is time to yield. */
  const spin = (): 'stop' | 'idle' | 'yield' => {
    const start = performance.now();
    for (;;) {
      if (Atomics.load(control, CONTROL.stop) !== 0) return 'stop';
      const n = io.receive(true);
      if (n < 0) {
        if (n === -EINTR) continue;
        if (n !== -EAGAIN) counters[C.receiveErrors] = (counters[C.receiveErrors] as number) + 1;
        return 'idle';
      }
      handleBatch(n);
      if (performance.now() - start >= init.yieldMs) return 'yield';
    }
  };

  for (;;) {
    const r = spin();
    if (r === 'stop') break;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  parentPort?.off('message', onMessage);
  try {
    handler.close?.();
  } catch {
    // the worker is stopping anyway
  }
  syncCounters();
  io.free();
  post({ t: 'stopped' });
  // Nothing keeps this thread's event loop alive now: it ends, and the main thread sees 'exit'.
}

if (parentPort && workerData) {
  run(workerData as WorkerInit).catch((err: unknown) => {
    post({ t: 'failed', message: (err as Error)?.message ?? String(err), unsupported: false });
  });
}
