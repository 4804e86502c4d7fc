/**
 * The batched UDP engine: a UDP server whose datagrams are received and answered in batches (recvmmsg(2) and
 * sendmmsg(2), up to 64 per call) by worker threads, one SO_REUSEPORT socket each, running a plain handler
 * function ({@link DatagramHandlerSpec}) on every datagram. A classic BPF program on the SO_REUSEPORT group
 * (SO_ATTACH_REUSEPORT_CBPF) picks the socket from the client's address alone (IPv6: its /64), so a client
 * always lands on the same worker whatever source port it uses (its rate-limit state stays in one place;
 * without the program the kernel hashes addresses and ports). The program only ever picks the engine's own
 * sockets, so a socket another process of the same user binds to the port later receives nothing; one bound
 * there before is detected at `listen()` (EADDRINUSE). Every datagram carries its kernel receive
 * timestamp (SO_TIMESTAMPING, else SO_TIMESTAMPNS), and a reply can ask for a transmit time written just
 * before sendmmsg, corrected by the send-path delay the kernel's transmit timestamps measure.
 *
 * - The main thread creates, configures and binds the sockets, so bind errors surface in `listen()` and the
 *   address is known when it resolves; the workers only run the loop. A worker that dies is reported
 *   (`worker-exit`, and `error` when someone listens) and started again on the same socket, so its clients
 *   keep their worker and nothing queued in the socket is lost.
 * - Counters live in shared memory, one block per worker; `stats()` sums them at any moment, with the
 *   handler's own counters (`stats().handler`) merged by name.
 * - Datagrams a handler forwards (print and pipe modes) reach the main thread in batches as `message` events;
 *   at most `forwardLimit` per worker are in flight, past that they are dropped and counted.
 * - `close()` sets a shared stop word and shuts the sockets down for reading, which wakes a worker blocked in
 *   recvmmsg at once; a worker still busy after the close timeout is terminated.
 *
 * Without FFI (`SOKET_NO_FFI=1`, no koffi, not 64-bit Linux) or when the kernel refuses recvmmsg, the engine
 * runs the same handler on Node's `dgram` socket in the main thread (`stats().datapath === 'dgram'`,
 * {@link UdpEngine.fallbackReason} says why, and a debug event says so under `-v`).
 *
 * @module
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { debug } from '../core/debug.js';
import {
  NetworkError,
  SoketError,
  TimeoutError,
  toSoketError,
  UnsupportedError,
  ValidationError,
} from '../core/errors.js';
import { type InetAddress, listening, ServerLifecycle } from '../core/lifecycle.js';
import { formatHostPort, parseHost, parseInteger, parsePort } from '../core/validate.js';
import { isLinux64, linuxConstants, socketConstants } from './constants.js';
import {
  type DatagramHandler,
  type DatagramHandlerContext,
  type DatagramHandlerInstance,
  type DatagramHandlerSpec,
  type Datapath,
  loadDatagramHandler,
  type ReceivedTime,
} from './datagram-handler.js';
import { ffiAvailable } from './ffi.js';
import { type PacketTime, realtimeClock, writeNtpTime } from './realtime.js';
import { encodeSockaddr } from './sockaddr.js';
import {
  attachReuseportCbpf,
  bindFd,
  type CbpfInstruction,
  closeFd,
  errnoName,
  ioctlBuffer,
  localAddressOf,
  openSocketFd,
  sendToFd,
  setsockoptInt,
  setsockoptTimeval,
  shutdownRead,
} from './socket.js';
import {
  C,
  CONTROL,
  CONTROL_WORDS,
  COUNTER_WORDS,
  type FromWorker,
  HANDLER_BASE,
  toModuleUrl,
  type WorkerInit,
  workerModuleUrl,
} from './udp-engine-shared.js';

/** Options of {@link UdpEngine}. */
export interface UdpEngineOptions {
  /** Address to bind (an IP literal); `::` is dual stack unless `ipv6Only`. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** With an IPv6 address, IPv6 only. @default false */
  ipv6Only?: boolean;
  /** Worker threads, each with its own socket (SO_REUSEPORT when more than one), 1 to 64. @default 1 */
  workers?: number;
  /** Datagrams per recvmmsg/sendmmsg call, 1 to 64. @default 64 */
  batchSize?: number;
  /** Largest datagram taken whole; a longer one is dropped and counted (`truncated`). 1 to 65536. @default 65536 */
  maxDatagramSize?: number;
  /** SO_RCVBUF in bytes per socket (Linux doubles it); 0 keeps the system default. @default 0 */
  receiveBufferSize?: number;
  /** SO_SNDBUF in bytes per socket; 0 keeps the system default. @default 0 */
  sendBufferSize?: number;
  /** `auto` takes the batched path where it can and falls back to `dgram`; the others insist. @default 'auto' */
  datapath?: 'auto' | Datapath;
  /** Forwarded datagrams per worker in flight to the main thread before more are dropped. @default 4096 */
  forwardLimit?: number;
  /** How long the workers may take to load the handler and start, in ms. @default 30000 */
  startTimeout?: number;
  /** Start a worker again when it dies. @default true */
  restart?: boolean;
  /** Closes the engine when it fires. */
  signal?: AbortSignal;
}

/** Every default of {@link UdpEngineOptions}. */
export const UDP_ENGINE_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  ipv6Only: false,
  workers: 1,
  batchSize: 64,
  maxDatagramSize: 65536,
  receiveBufferSize: 0,
  sendBufferSize: 0,
  datapath: 'auto',
  forwardLimit: 4096,
  startTimeout: 30_000,
  restart: true,
  closeTimeout: 2000,
} as const;

/** The most workers and the largest batch. */
export const UDP_ENGINE_LIMITS = { workers: 64, batchSize: 64, maxDatagramSize: 65536 } as const;

/** Counters of a {@link UdpEngine}, summed over its workers. */
export interface UdpEngineStats {
  /** Which path runs: `batched` (recvmmsg/sendmmsg in workers) or `dgram` (the fallback). */
  datapath: Datapath;
  /** Workers (sockets) serving. */
  workers: number;
  /** Datagrams and payload bytes received and sent. */
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Replies the kernel refused (ENOBUFS, EMSGSIZE, ...) or too large for a slot. */
  sendErrors: number;
  /** Receive calls that failed (other than a timeout). */
  receiveErrors: number;
  /** Datagrams longer than `maxDatagramSize`, dropped. */
  truncated: number;
  /** Datagrams whose handler threw, dropped. */
  handlerErrors: number;
  /** Datagrams forwarded to the main thread, and those dropped because too many were in flight. */
  forwarded: number;
  forwardDropped: number;
  /** Datagrams the kernel dropped because a socket's receive queue was full (SO_RXQ_OVFL). */
  kernelDrops: number;
  /** Datagrams that carried a kernel receive timestamp. */
  kernelTimestamps: number;
  /** recvmmsg calls that returned datagrams, and the largest batch seen. */
  batches: number;
  maxBatch: number;
  /** Kernel transmit timestamps read (to measure the send path; at most one per worker every 2 ms). */
  txTimestamps: number;
  /**
   * What is added to late transmit stamps, in ns (the largest over the workers): four fifths of the fastest
   * time measured from reading the clock to the kernel's transmit timestamp, so a stamp is never later than
   * the reply's departure.
   */
  sendDelayNs: number;
  /** Workers started again after they died. */
  restarts: number;
  /** The handler's own counters, summed over the workers by name. */
  handler: Record<string, number>;
}

/** A datagram a handler forwarded to the main thread. */
export interface UdpEngineMessage {
  /** The payload (a copy). */
  data: Buffer;
  /** Sender. */
  family: 4 | 6;
  address: string;
  port: number;
  /** `127.0.0.1:50000`. */
  peer: string;
  /** Receive time (CLOCK_REALTIME). */
  time: PacketTime;
  /** The worker that received it. */
  worker: number;
}

/** Events of a {@link UdpEngine} (besides `listening`, `close` and `error`). */
export interface UdpEngineEvents {
  /** A datagram a handler forwarded. */
  message: [message: UdpEngineMessage];
  /** A worker died; `restarting` says whether it is being started again. */
  'worker-exit': [info: { worker: number; code: number; reason: string; restarting: boolean }];
  /** A worker that died was started again and serves. */
  'worker-start': [info: { worker: number; restarts: number }];
}

interface Slot {
  index: number;
  fd: number;
  /** The socket was closed (once its worker stopped using it). */
  fdClosed: boolean;
  worker: Worker | undefined;
  counters: Float64Array;
  control: Int32Array;
  countersBuffer: SharedArrayBuffer;
  controlBuffer: SharedArrayBuffer;
  names: string[];
  stopped: boolean;
  exited: Promise<void>;
  restarts: number;
  restartTimer: NodeJS.Timeout | undefined;
}

interface Checked {
  host: string;
  family: 4 | 6;
  port: number;
  ipv6Only: boolean;
  workers: number;
  batchSize: number;
  maxDatagramSize: number;
  receiveBufferSize: number;
  sendBufferSize: number;
  datapath: 'auto' | Datapath;
  forwardLimit: number;
  startTimeout: number;
  restart: boolean;
}

/** SKF_NET_OFF: classic BPF loads relative to the network (IP) header. */
const NET = -0x100000;

/**
 * The SO_REUSEPORT steering program: the worker index from the client's address alone (IPv4: the address;
 * IPv6: its /64, the way the SNTP rate limiter keys clients), so every request of one client reaches the same
 * worker whatever source port it uses. The kernel's default hash takes the ports too, and clients that open a
 * fresh socket per query (chrony, ntpdate, soket's own) would spread over the workers.
 */
function steeringProgram(workers: number): CbpfInstruction[] {
  return [
    [0x30, 0, 0, NET], // ldb [net + 0]: version and header length
    [0x74, 0, 0, 4], // rsh #4: the IP version
    [0x15, 2, 0, 6], // jeq #6 → 5, else → 3
    [0x20, 0, 0, NET + 12], // ld [net + 12]: IPv4 source address
    [0x05, 0, 0, 4], // ja → 9
    [0x20, 0, 0, NET + 8], // ld [net + 8]: IPv6 source, first 32 bits
    [0x07, 0, 0, 0], // tax
    [0x20, 0, 0, NET + 12], // ld [net + 12]: the next 32 bits (the /64 ends here)
    [0xac, 0, 0, 0], // xor x
    [0x24, 0, 0, 0x9e3779b1], // mul (Fibonacci hashing)
    [0x74, 0, 0, 16], // rsh #16
    [0x94, 0, 0, workers], // mod #workers
    [0x16, 0, 0, 0], // ret a: the socket's index in the group
  ];
}

/** How long a worker's blocking receive waits before it lets its event loop run, in ms. */
const IDLE_MS = 100;
/** Longest run of batches before a worker lets its event loop run, in ms. */
const YIELD_MS = 20;

function check(options: UdpEngineOptions): Checked {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid UDP engine options: expected an object');
  }
  const o = { ...UDP_ENGINE_DEFAULTS, ...options };
  const host = parseHost(o.host, 'listen address');
  const family = host.includes(':') ? 6 : /^\d+\.\d+\.\d+\.\d+$/.test(host) ? 4 : 0;
  if (family === 0) throw new ValidationError(`Invalid listen address '${host}': expected an IP address`);
  const datapath = o.datapath;
  if (datapath !== 'auto' && datapath !== 'batched' && datapath !== 'dgram') {
    throw new ValidationError(`Invalid datapath '${String(datapath)}': expected auto, batched or dgram`);
  }
  if (typeof o.ipv6Only !== 'boolean') throw new ValidationError('Invalid ipv6Only: expected true or false');
  if (typeof o.restart !== 'boolean') throw new ValidationError('Invalid restart: expected true or false');
  return {
    host,
    family,
    port: parsePort(o.port, { allowZero: true }),
    ipv6Only: o.ipv6Only,
    workers: parseInteger(o.workers, 'workers', { min: 1, max: UDP_ENGINE_LIMITS.workers }),
    batchSize: parseInteger(o.batchSize, 'batch size', { min: 1, max: UDP_ENGINE_LIMITS.batchSize }),
    maxDatagramSize: parseInteger(o.maxDatagramSize, 'largest datagram', {
      min: 1,
      max: UDP_ENGINE_LIMITS.maxDatagramSize,
    }),
    receiveBufferSize: parseInteger(o.receiveBufferSize, 'receive buffer size', { min: 0 }),
    sendBufferSize: parseInteger(o.sendBufferSize, 'send buffer size', { min: 0 }),
    datapath,
    forwardLimit: parseInteger(o.forwardLimit, 'forward limit', { min: 1 }),
    startTimeout: parseInteger(o.startTimeout, 'start timeout', { min: 1 }),
    restart: o.restart,
  };
}

function checkSpec(spec: DatagramHandlerSpec): DatagramHandlerSpec {
  if (typeof spec !== 'object' || spec === null || typeof spec.module !== 'string' || spec.module === '') {
    throw new ValidationError(
      'A UDP engine needs a handler spec: { module: URL or path, export: factory name, config }',
    );
  }
  if (spec.export !== undefined && typeof spec.export !== 'string') {
    throw new ValidationError(`Invalid handler export '${String(spec.export)}': expected a name`);
  }
  try {
    structuredClone(spec.config);
  } catch {
    throw new ValidationError('Invalid handler config: it must survive structuredClone (no functions)');
  }
  const out: DatagramHandlerSpec = { module: toModuleUrl(spec.module) };
  if (spec.export !== undefined) out.export = spec.export;
  if (spec.config !== undefined) out.config = spec.config;
  return out;
}

/** Why the batched path cannot run here, or undefined when it can. */
function batchedUnavailable(): string | undefined {
  const ffi = ffiAvailable();
  if (!ffi.ok) return ffi.reason;
  if (!isLinux64()) return `batched UDP needs 64-bit Linux, not ${process.platform}/${process.arch}`;
  try {
    workerModuleUrl('platform/udp-engine-worker');
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/**
 * Whether the batched datapath can run here (FFI, 64-bit Linux, the worker module present), and why not. The
 * kernel may still refuse recvmmsg at start; the engine then falls back to `dgram` by itself.
 *
 * @example
 * ```ts
 * const b = batchedDatapath();
 * if (!b.ok) console.log(`dgram only: ${b.reason}`);
 * ```
 */
export function batchedDatapath(): { ok: true } | { ok: false; reason: string } {
  const reason = batchedUnavailable();
  return reason === undefined ? { ok: true } : { ok: false, reason };
}

/** Load a handler module in this thread (the dgram fallback). */
async function loadHere(specifier: string): Promise<Record<string, unknown>> {
  if (specifier.endsWith('.cjs')) {
    return createRequire(import.meta.url)(fileURLToPath(specifier)) as Record<string, unknown>;
  }
  return (await import(specifier)) as Record<string, unknown>;
}

/**
 * The sockets bound to exactly this address and port, and the datagrams their receive queues dropped, from
 * /proc/net/udp(6) (Linux, little-endian hosts); `undefined` where that file cannot be read.
 */
function procSockets(
  family: 4 | 6,
  address: string,
  port: number,
): { count: number; drops: number } | undefined {
  let text: string;
  try {
    text = readFileSync(family === 6 ? '/proc/net/udp6' : '/proc/net/udp', 'utf8');
  } catch {
    return undefined;
  }
  const sa = encodeSockaddr(address, port);
  const raw = family === 6 ? sa.subarray(8, 24) : sa.subarray(4, 8);
  let hex = '';
  for (let w = 0; w < raw.length; w += 4) {
    for (let b = 3; b >= 0; b--) hex += (raw[w + b] as number).toString(16).padStart(2, '0');
  }
  const want = `${hex.toUpperCase()}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  let drops = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== want) continue;
    count++;
    drops += Number(f[12] ?? 0) || 0;
  }
  return { count, drops };
}

/**
 * The batched UDP engine. Made by {@link createUdpEngine}, or `new UdpEngine(options, handler)` and
 * `listen()`.
 *
 * @example
 * ```ts
 * import { builtinHandler, UdpEngine } from 'soket';
 * const engine = new UdpEngine({ port: 0, workers: 2 }, builtinHandler('echo'));
 * const { port } = await engine.listen();
 * console.log(port, engine.stats().datapath); // e.g. 40000 'batched'
 * await engine.close();
 * ```
 */
export class UdpEngine extends ServerLifecycle<UdpEngineStats, InetAddress, UdpEngineEvents> {
  protected readonly kind = 'UDP engine';
  readonly #o: Checked;
  readonly #spec: DatagramHandlerSpec;
  #datapath: Datapath = 'batched';
  #fallbackReason: string | undefined;
  #slots: Slot[] = [];
  #address: InetAddress | undefined;
  // dgram fallback
  #socket: dgram.Socket | undefined;
  #fallbackCounters = new Float64Array(COUNTER_WORDS);
  #fallbackHandler: DatagramHandlerInstance | undefined;
  #fallbackNames: string[] = [];
  #open = false;
  #kernelDrops = 0;
  #steering: 'address' | 'flow' | 'none' = 'none';
  /** The last messages broadcast, replayed to a worker that is started again. */
  #broadcasts: unknown[] = [];

  /**
   * @param options - address, workers, batch size, buffers, datapath, signal
   * @param handler - the handler module, factory export and config each worker loads
   * @throws {ValidationError} for bad options or a bad handler spec
   */
  constructor(options: UdpEngineOptions, handler: DatagramHandlerSpec) {
    super(options?.signal);
    this.#o = check(options);
    this.#spec = checkSpec(handler);
  }

  /** The path serving: `batched` or `dgram` (known once `listen()` resolved). */
  get datapath(): Datapath {
    return this.#datapath;
  }

  /**
   * How datagrams are spread over the workers: `address` (a BPF program on the SO_REUSEPORT group: one
   * client address, one worker), `flow` (the kernel's hash of addresses and ports), `none` (one worker).
   */
  get steering(): 'address' | 'flow' | 'none' {
    return this.#steering;
  }

  /** Why the engine fell back to `dgram`, when it did. */
  get fallbackReason(): string | undefined {
    return this.#fallbackReason;
  }

  /** A snapshot of the counters, summed over the workers. */
  stats(): UdpEngineStats {
    const total = new Float64Array(COUNTER_WORDS);
    const handler: Record<string, number> = {};
    const add = (counters: Float64Array, names: string[]) => {
      for (let i = 0; i < HANDLER_BASE; i++) {
        if (i === C.maxBatch || i === C.sendDelayNs)
          total[i] = Math.max(total[i] as number, counters[i] as number);
        else total[i] = (total[i] as number) + (counters[i] as number);
      }
      names.forEach((name, slot) => {
        handler[name] = (handler[name] ?? 0) + (counters[HANDLER_BASE + slot] as number);
      });
    };
    let restarts = 0;
    if (this.#datapath === 'dgram') add(this.#fallbackCounters, this.#fallbackNames);
    else
      for (const s of this.#slots) {
        add(s.counters, s.names);
        restarts += s.restarts;
      }
    // The kernel's own count of datagrams the receive queues dropped (SO_RXQ_OVFL only reports it with the
    // next datagram; Node not at all): read from /proc while the sockets are open, kept once they close.
    if (this.#open) this.#kernelDrops = Math.max(this.#kernelDrops, this.#procDrops());
    total[C.kernelDrops] = Math.max(total[C.kernelDrops] as number, this.#kernelDrops);
    return {
      datapath: this.#datapath,
      workers: this.#datapath === 'dgram' ? (this.#socket ? 1 : 0) : this.#slots.length,
      datagramsIn: total[C.datagramsIn] as number,
      datagramsOut: total[C.datagramsOut] as number,
      bytesIn: total[C.bytesIn] as number,
      bytesOut: total[C.bytesOut] as number,
      sendErrors: total[C.sendErrors] as number,
      receiveErrors: total[C.receiveErrors] as number,
      truncated: total[C.truncated] as number,
      handlerErrors: total[C.handlerErrors] as number,
      forwarded: total[C.forwarded] as number,
      forwardDropped: total[C.forwardDropped] as number,
      kernelDrops: total[C.kernelDrops] as number,
      kernelTimestamps: total[C.kernelTimestamps] as number,
      batches: total[C.batches] as number,
      maxBatch: total[C.maxBatch] as number,
      txTimestamps: total[C.txTimestamps] as number,
      sendDelayNs: total[C.sendDelayNs] as number,
      restarts,
      handler,
    };
  }

  /**
   * Send a datagram from the engine's socket (the first worker's, on the batched path).
   *
   * @param data - the payload
   * @param to - address and port (an IP literal)
   * @throws {ClosedError} before `listen()` or after `close()`
   * @throws {NetworkError} when the kernel refuses it
   */
  send(data: Uint8Array, to: { address: string; port: number }): void {
    if (!this.listening) this.address; // throws ClosedError before listen
    if (this.#datapath === 'dgram') {
      this.#socket?.send(data, to.port, to.address);
      return;
    }
    const slot = this.#slots[0];
    if (!slot) return;
    let address = to.address;
    if (this.#o.family === 6 && !address.includes(':')) address = `::ffff:${address}`;
    sendToFd(slot.fd, data, address, to.port);
  }

  #procDrops(): number {
    const a = this.#address;
    if (!a || process.platform !== 'linux') return 0;
    return procSockets(a.family, a.address, a.port)?.drops ?? 0;
  }

  /**
   * Send a message (anything `structuredClone` takes) to the handler of every worker (its `message` hook),
   * e.g. rotated keys. Workers take it between batches; a worker started again after a crash gets the last
   * 64 replayed.
   *
   * @param message - the message
   */
  broadcast(message: unknown): void {
    if (this.#datapath === 'dgram') {
      this.#fallbackHandler?.message?.(structuredClone(message));
      return;
    }
    this.#broadcasts.push(message);
    if (this.#broadcasts.length > 64) this.#broadcasts.shift();
    for (const s of this.#slots) s.worker?.postMessage(message);
  }

  protected async start(): Promise<InetAddress> {
    const o = this.#o;
    let reason = o.datapath === 'dgram' ? 'asked for' : batchedUnavailable();
    if (reason === undefined) {
      try {
        this.#address = await this.#startBatched();
        this.#datapath = 'batched';
        this.#open = true;
        debug('udp', `engine: batched datapath, ${o.workers} worker(s)`, {
          ...this.#address,
          workers: o.workers,
          batchSize: o.batchSize,
        });
        return this.#address;
      } catch (err) {
        if (!(err instanceof UnsupportedError) || o.datapath === 'batched') throw err;
        reason = err.message;
      }
    } else if (o.datapath === 'batched') {
      throw new UnsupportedError(`The batched UDP datapath is not available here: ${reason}`);
    }
    this.#datapath = 'dgram';
    this.#fallbackReason = reason;
    debug('udp', `engine: dgram datapath (fallback: ${reason})`, { workers: 1 });
    this.#address = await this.#startDgram();
    this.#open = true;
    return this.#address;
  }

  async #startBatched(): Promise<InetAddress> {
    const o = this.#o;
    const k = socketConstants();
    const lc = linuxConstants();
    if (!lc) throw new UnsupportedError('batched UDP needs Linux');
    let bound: InetAddress | undefined;
    for (let attempt = 0; bound === undefined; attempt++) {
      const fds: number[] = [];
      try {
        let port = o.port;
        for (let i = 0; i < o.workers; i++) {
          const fd = openSocketFd(o.family, 'udp');
          fds.push(fd);
          const set = (level: number, name: number, value: number, what: string) => {
            const r = setsockoptInt(fd, level, name, value);
            if (!r.ok) {
              const code = errnoName(r.errno);
              throw new UnsupportedError(`Cannot set ${what} on a UDP socket: ${code}`);
            }
          };
          if (o.family === 6) set(k.IPPROTO_IPV6, k.IPV6_V6ONLY, o.ipv6Only ? 1 : 0, 'IPV6_V6ONLY');
          if (o.workers > 1) set(k.SOL_SOCKET, k.SO_REUSEPORT as number, 1, 'SO_REUSEPORT');
          // Software receive timestamps as SCM_TIMESTAMPING (also reporting the transmit timestamps a reply
          // asks for with a control message); SO_TIMESTAMPNS where the kernel refuses that.
          const ts = setsockoptInt(
            fd,
            k.SOL_SOCKET,
            lc.SO_TIMESTAMPING,
            lc.SOF_TIMESTAMPING_RX_SOFTWARE | lc.SOF_TIMESTAMPING_SOFTWARE | lc.SOF_TIMESTAMPING_OPT_TSONLY,
          );
          if (!ts.ok) set(k.SOL_SOCKET, lc.SO_TIMESTAMPNS, 1, 'SO_TIMESTAMPNS');
          set(k.SOL_SOCKET, lc.SO_RXQ_OVFL, 1, 'SO_RXQ_OVFL');
          if (o.receiveBufferSize > 0) set(k.SOL_SOCKET, k.SO_RCVBUF, o.receiveBufferSize, 'SO_RCVBUF');
          if (o.sendBufferSize > 0) set(k.SOL_SOCKET, k.SO_SNDBUF, o.sendBufferSize, 'SO_SNDBUF');
          const t = setsockoptTimeval(fd, k.SOL_SOCKET, k.SO_RCVTIMEO, IDLE_MS);
          if (!t.ok)
            throw new UnsupportedError(`Cannot set SO_RCVTIMEO on a UDP socket: ${errnoName(t.errno)}`);
          bindFd(fd, o.host, port);
          if (i === 0) port = localAddressOf(fd).port;
        }
        // SO_REUSEPORT lets any socket of this user join the group: make sure the group is only ours.
        if (o.workers > 1) {
          const n = procSockets(o.family, o.host, port)?.count ?? 0;
          if (n > o.workers) {
            if (o.port === 0 && attempt < 5) {
              for (const fd of fds) closeFd(fd);
              continue;
            }
            throw new NetworkError(
              `Cannot bind ${formatHostPort(o.host, port)} (UDP): address already in use (another SO_REUSEPORT socket is bound there)`,
              'EADDRINUSE',
              { syscall: 'bind' },
            );
          }
        }
        if (o.workers > 1) {
          const steer = attachReuseportCbpf(fds[0] as number, steeringProgram(o.workers));
          this.#steering = steer.ok ? 'address' : 'flow';
          if (!steer.ok) {
            debug('udp', 'engine: per-address steering refused; the kernel hashes by address and port', {
              error: errnoName(steer.errno),
            });
          }
        }
        bound = { family: o.family, address: localAddressOf(fds[0] as number).address, port };
        this.#slots = fds.map((fd, index) => {
          const countersBuffer = new SharedArrayBuffer(COUNTER_WORDS * 8);
          const controlBuffer = new SharedArrayBuffer(CONTROL_WORDS * 4);
          return {
            index,
            fd,
            fdClosed: false,
            worker: undefined,
            counters: new Float64Array(countersBuffer),
            control: new Int32Array(controlBuffer),
            countersBuffer,
            controlBuffer,
            names: [],
            stopped: false,
            exited: Promise.resolve(),
            restarts: 0,
            restartTimer: undefined,
          };
        });
      } catch (err) {
        for (const fd of fds) closeFd(fd);
        throw err;
      }
    }
    try {
      await Promise.all(this.#slots.map((s) => this.#spawn(s, true)));
    } catch (err) {
      await this.#stopWorkers(0);
      throw err;
    }
    return bound;
  }

  /** Start the worker of a slot; on the first start, resolve once it is ready (or reject). */
  #spawn(slot: Slot, first: boolean): Promise<void> {
    const o = this.#o;
    const init: WorkerInit = {
      fd: slot.fd,
      index: slot.index,
      workers: this.#slots.length,
      handler: this.#spec,
      batch: o.batchSize,
      slotSize: o.maxDatagramSize,
      forwardLimit: o.forwardLimit,
      yieldMs: YIELD_MS,
      counters: slot.countersBuffer,
      control: slot.controlBuffer,
    };
    Atomics.store(slot.control, CONTROL.inFlight, 0);
    const url = workerModuleUrl('platform/udp-engine-worker');
    let worker: Worker;
    if (url.endsWith('.ts')) {
      // Running from sources under tsx: the worker registers tsx's loader before it imports the module.
      // (tsx's package exports map `tsx/esm/api` for import to dist/esm/api/index.mjs)
      const tsxPackage = createRequire(import.meta.url).resolve('tsx/package.json');
      const tsx = pathToFileURL(`${dirname(tsxPackage)}/dist/esm/api/index.mjs`).href;
      const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
      worker = new Worker(code, { eval: true, workerData: init });
    } else {
      worker = new Worker(new URL(url), { workerData: init });
    }
    slot.worker = worker;
    slot.stopped = false;
    for (const m of this.#broadcasts) worker.postMessage(m);
    let ready = false;
    let failure: string | undefined;
    let unsupported = false;
    let crash: Error | undefined;
    let resolveExit!: () => void;
    slot.exited = new Promise((r) => {
      resolveExit = r;
    });
    return new Promise<void>((resolve, reject) => {
      const timer = first
        ? setTimeout(() => {
            reject(
              new TimeoutError(
                'start',
                `UDP engine worker ${slot.index}`,
                o.startTimeout,
                '(loading the handler)',
              ),
            );
          }, o.startTimeout)
        : undefined;
      worker.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'ready':
            ready = true;
            if (timer) clearTimeout(timer);
            if (!first) {
              debug('udp', `engine: worker ${slot.index} started again`, { restarts: slot.restarts });
              this.emit('worker-start', { worker: slot.index, restarts: slot.restarts });
            }
            resolve();
            break;
          case 'failed':
            failure = m.message;
            unsupported = m.unsupported;
            break;
          case 'counter':
            slot.names[m.slot] = m.name;
            break;
          case 'forward':
            this.#deliver(slot, m.items);
            break;
          case 'error':
            debug('udp', `engine: handler threw in worker ${slot.index}`, {
              error: m.message,
              count: m.count,
            });
            this.reportError(new SoketError(`UDP handler failed in worker ${slot.index}: ${m.message}`));
            break;
          case 'stopped':
            slot.stopped = true;
            // The worker is out of its loop and will not touch the socket again: free the port at once.
            if (this.closing) this.#closeSlotFd(slot);
            break;
        }
      });
      worker.on('error', (err) => {
        crash = err;
      });
      worker.on('exit', (code) => {
        resolveExit();
        if (timer) clearTimeout(timer);
        if (!ready) {
          const why = failure ?? crash?.message ?? `exited with code ${code}`;
          if (unsupported) reject(new UnsupportedError(`batched UDP refused: ${why}`));
          else
            reject(new SoketError(`UDP engine worker ${slot.index} could not start: ${why}`, 'SOKET_ERROR'));
          return;
        }
        if (slot.stopped || this.closing) return;
        const reason = crash?.message ?? failure ?? `exited with code ${code}`;
        const restarting = o.restart;
        debug('udp', `engine: worker ${slot.index} died`, { code, reason, restarting });
        this.emit('worker-exit', { worker: slot.index, code, reason, restarting });
        this.reportError(new SoketError(`UDP engine worker ${slot.index} died (${reason})`));
        if (restarting) {
          const delay = Math.min(5000, 100 * 2 ** Math.min(slot.restarts, 6));
          slot.restarts++;
          slot.restartTimer = setTimeout(() => {
            slot.restartTimer = undefined;
            if (this.closing) return;
            this.#spawn(slot, false).catch((err: unknown) =>
              this.reportError(toSoketError(err, `Restarting UDP engine worker ${slot.index}`)),
            );
          }, delay);
        }
      });
    });
  }

  #deliver(slot: Slot, items: FromWorker & { t: 'forward' } extends { items: infer I } ? I : never): void {
    for (const it of items) {
      this.emit('message', {
        data: Buffer.from(it.data.buffer, it.data.byteOffset, it.data.byteLength),
        family: it.family,
        address: it.address,
        port: it.port,
        peer: formatHostPort(it.address, it.port),
        time: { sec: it.sec, nsec: it.nsec },
        worker: slot.index,
      });
    }
    Atomics.sub(slot.control, CONTROL.inFlight, items.length);
  }

  #closeSlotFd(slot: Slot): void {
    if (slot.fdClosed) return;
    slot.fdClosed = true;
    closeFd(slot.fd);
  }

  async #stopWorkers(timeout: number): Promise<void> {
    for (const s of this.#slots) {
      if (s.restartTimer) clearTimeout(s.restartTimer);
      Atomics.store(s.control, CONTROL.stop, 1);
    }
    // Wake every worker blocked in recvmmsg (a shut-down socket returns at once).
    for (const s of this.#slots) shutdownRead(s.fd);
    const all = Promise.all(this.#slots.map((s) => s.exited));
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeout);
      }),
    ]);
    if (timer) clearTimeout(timer);
    if (late) {
      debug('udp', 'engine: terminating workers still busy after the close timeout', { timeout });
      await Promise.all(this.#slots.map((s) => s.worker?.terminate()));
      await all;
    }
    for (const s of this.#slots) this.#closeSlotFd(s);
  }

  async #startDgram(): Promise<InetAddress> {
    const o = this.#o;
    const counters = this.#fallbackCounters;
    const clock = realtimeClock();
    const lc = linuxConstants();
    const names = this.#fallbackNames;
    let stampAt = -1;
    const context: DatagramHandlerContext = {
      worker: 0,
      workers: 1,
      datapath: 'dgram',
      clock,
      forward: (data, peer, received) => {
        const t = received ?? clock.read({ sec: 0, nsec: 0 });
        counters[C.forwarded] = (counters[C.forwarded] as number) + 1;
        this.emit('message', {
          data: Buffer.from(data),
          family: peer.family,
          address: peer.address,
          port: peer.port,
          peer: formatHostPort(peer.address, peer.port),
          time: { sec: t.sec, nsec: t.nsec },
          worker: 0,
        });
        return true;
      },
      stampTransmit: (offset) => {
        stampAt = offset;
      },
    };
    const handler = await loadDatagramHandler(this.#spec, context, loadHere);
    this.#fallbackHandler = handler;
    const syncCounters = () => {
      if (!handler.counters) return;
      const values = handler.counters();
      for (const name in values) {
        let slot = names.indexOf(name);
        if (slot === -1) {
          if (names.length >= COUNTER_WORDS - HANDLER_BASE) continue;
          slot = names.push(name) - 1;
        }
        counters[HANDLER_BASE + slot] = values[name] as number;
      }
    };
    const literal = (
      address: string,
      fam: unknown,
      callback: (err: null, address: string, family: number) => void,
    ) => callback(null, address, fam === 6 || fam === 'IPv6' ? 6 : o.family);
    const socketOptions: dgram.SocketOptions = {
      type: o.family === 6 ? 'udp6' : 'udp4',
      ipv6Only: o.ipv6Only,
      lookup: literal as unknown as dgram.SocketOptions['lookup'],
    };
    if (o.receiveBufferSize > 0) socketOptions.recvBufferSize = o.receiveBufferSize;
    if (o.sendBufferSize > 0) socketOptions.sendBufferSize = o.sendBufferSize;
    const socket = dgram.createSocket(socketOptions);
    // Kernel receive timestamps on this path too when FFI works: SIOCGSTAMPNS right in the message callback
    // (libuv reads one datagram per recvmsg and calls back at once, so "the last datagram" is this one).
    let stampFd = -1;
    const stampBuf = new Uint8Array(16);
    const stampWords = new Uint32Array(stampBuf.buffer);
    const time: ReceivedTime = { sec: 0, nsec: 0, kernel: false };
    socket.on('message', (msg, rinfo) => {
      counters[C.datagramsIn] = (counters[C.datagramsIn] as number) + 1;
      counters[C.bytesIn] = (counters[C.bytesIn] as number) + msg.length;
      if (msg.length > o.maxDatagramSize) {
        counters[C.truncated] = (counters[C.truncated] as number) + 1;
        return;
      }
      if (stampFd >= 0 && lc && ioctlBuffer(stampFd, lc.SIOCGSTAMPNS, stampBuf) === 0) {
        time.sec = (stampWords[0] as number) + (stampWords[1] as number) * 4294967296;
        time.nsec = stampWords[2] as number;
        time.kernel = true;
        counters[C.kernelTimestamps] = (counters[C.kernelTimestamps] as number) + 1;
      } else {
        clock.read(time);
        time.kernel = false;
      }
      const peer = {
        family: rinfo.family === 'IPv6' ? (6 as const) : (4 as const),
        address: rinfo.address,
        port: rinfo.port,
      };
      stampAt = -1;
      let reply: ReturnType<DatagramHandler>;
      try {
        reply = handler.handle(msg, peer, time);
      } catch (err) {
        counters[C.handlerErrors] = (counters[C.handlerErrors] as number) + 1;
        this.reportError(new SoketError(`UDP handler failed: ${(err as Error)?.message ?? String(err)}`));
        syncCounters();
        return;
      }
      syncCounters(); // before the send: whoever gets the reply finds it counted
      if (reply) {
        if (stampAt >= 0 && stampAt + 8 <= reply.byteLength)
          writeNtpTime(reply, stampAt, clock.read({ sec: 0, nsec: 0 }));
        counters[C.datagramsOut] = (counters[C.datagramsOut] as number) + 1;
        counters[C.bytesOut] = (counters[C.bytesOut] as number) + reply.byteLength;
        socket.send(reply, rinfo.port, rinfo.address);
      }
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(toSoketError(err, `Cannot bind ${formatHostPort(o.host, o.port)} (UDP)`));
      };
      socket.once('error', onError);
      socket.bind({ address: o.host, port: o.port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    socket.on('error', (err) => {
      counters[C.sendErrors] = (counters[C.sendErrors] as number) + 1;
      debug('udp', 'engine: socket error', { error: err.message });
    });
    this.#socket = socket;
    if (lc && ffiAvailable().ok) {
      const fd = dgramFd(socket);
      if (fd !== undefined && fd >= 0) {
        const r = ioctlBuffer(fd, lc.SIOCGSTAMPNS, stampBuf); // the first call turns stamping on (ENOENT)
        if (r === 0 || r === -2) stampFd = fd;
      }
    }
    syncCounters();
    const a = socket.address();
    return { family: o.family, address: a.address, port: a.port };
  }

  protected async stop(timeout: number | undefined): Promise<void> {
    const t = timeout ?? UDP_ENGINE_DEFAULTS.closeTimeout;
    this.#kernelDrops = Math.max(this.#kernelDrops, this.#procDrops());
    this.#open = false;
    if (this.#datapath === 'dgram') {
      const socket = this.#socket;
      try {
        this.#fallbackHandler?.close?.();
      } catch {
        // closing anyway
      }
      if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    } else {
      await this.#stopWorkers(t);
    }
    debug('udp', 'engine: closed', { ...this.stats() });
  }
}

/** The file descriptor of a bound dgram socket (Node keeps it in the socket's internal state). */
function dgramFd(socket: dgram.Socket): number | undefined {
  const s = socket as unknown as Record<symbol, unknown>;
  const sym = Object.getOwnPropertySymbols(s).find((x) => x.description === 'state symbol');
  const state = sym ? (s[sym] as { handle?: { fd?: number } } | undefined) : undefined;
  return state?.handle?.fd;
}

/**
 * Start a UDP engine and wait until it serves.
 *
 * @param options - address, workers, batch size, buffers, datapath, signal
 * @param handler - the handler every worker loads
 * @returns the engine, listening
 * @throws {ValidationError} for bad options
 * @throws {NetworkError} when it cannot bind (`EADDRINUSE`, `EACCES`, ...)
 * @throws {UnsupportedError} when `datapath: 'batched'` was asked for and is not available
 * @example
 * ```ts
 * import { builtinHandler, createUdpEngine } from 'soket';
 * const engine = await createUdpEngine({ port: 0, workers: 2 }, builtinHandler('echo'));
 * console.log(engine.address.port, engine.datapath);
 * const stats = await engine.close();
 * ```
 */
export function createUdpEngine(options: UdpEngineOptions, handler: DatagramHandlerSpec): Promise<UdpEngine> {
  return listening(new UdpEngine(options, handler));
}

/**
 * Workers per core: the default for servers that want one worker per core (`ntp serve`).
 *
 * @example
 * ```ts
 * createUdpEngine({ workers: coreCount() }, spec);
 * ```
 */
export function coreCount(): number {
  return Math.max(1, Math.min(UDP_ENGINE_LIMITS.workers, availableParallelism()));
}
