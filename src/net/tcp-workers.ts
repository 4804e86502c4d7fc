// contract: v2 (issue 10: the common server lifecycle)
/**
 * One TCP server on several cores: N worker processes, each running a {@link createTcpServer} with the same
 * handler, and a primary that starts them, gathers their events and counters, relays chat lines between them
 * and stops them gracefully.
 *
 * Two ways to share the port, picked at run time:
 * - `reuseport` (Node ≥ 22.12 / 23.1, where `listen({ reusePort })` exists): every worker binds its own
 *   socket with SO_REUSEPORT and the kernel spreads new connections across them by a hash of the addresses.
 * - `cluster` (any Node): the primary process listens and hands each accepted connection to the workers in
 *   turn (Node's cluster round-robin scheduling).
 *
 * Workers are cluster workers: the same program is run again (by default the same script with the same
 * arguments), and in that process {@link isTcpWorker} is true and {@link runTcpWorker} starts the worker's
 * server with the options the primary chose (passed in an environment variable).
 *
 * `maxConnections` is split between the workers (each takes its share, rounded up), so the total stays near
 * the limit; `once` makes no sense with several workers and is refused.
 *
 * @module
 */
import cluster, { type ClusterSettings, type Worker } from 'node:cluster';
import { debug } from '../core/debug.js';
import { SoketError, TimeoutError, UnsupportedError, ValidationError } from '../core/errors.js';
import { listening, ServerLifecycle } from '../core/lifecycle.js';
import { parseInteger } from '../core/validate.js';
import {
  createTcpServer,
  reusePortSupported,
  type TcpCloseReason,
  type TcpConnectionSummary,
  type TcpHandler,
  type TcpRefusal,
  type TcpServer,
  type TcpServerAddress,
  type TcpServerOptions,
  type TcpServerStats,
} from './tcp-server.js';

/** The environment variable that carries a worker's server options. */
export const TCP_WORKER_ENV = 'SOKET_TCP_WORKER';
/** Set in every worker process: the primary reports the workers' errors, a worker never prints them. */
export const WORKER_PROCESS_ENV = 'SOKET_WORKER';

/** How workers share the port. */
export type TcpWorkerStrategy = 'reuseport' | 'cluster';

/** Options of {@link startTcpWorkers}. */
export interface TcpWorkersOptions
  extends Omit<TcpServerOptions, 'once' | 'exclusive' | 'reusePort' | 'signal'> {
  /** How many worker processes. */
  workers: number;
  /** How they share the port; `auto` picks `reuseport` where Node supports it. @default 'auto' */
  strategy?: 'auto' | TcpWorkerStrategy;
  /** The script each worker runs. @default the current script (cluster's default) */
  exec?: string;
  /** Its arguments. @default the current arguments (cluster's default) */
  args?: string[];
  /** Node options for the workers. @default the current ones (cluster's default) */
  execArgv?: string[];
  /** How long the workers may take to start listening, in ms. @default 10000 */
  startTimeout?: number;
  /** Stops the workers gracefully when it fires. */
  signal?: AbortSignal;
}

/** Every default of {@link TcpWorkersOptions}. */
export const TCP_WORKERS_DEFAULTS = {
  strategy: 'auto',
  startTimeout: 10_000,
  closeTimeout: 5000,
  /** Most worker processes. */
  maxWorkers: 256,
} as const;

/** A connection as reported by a worker. */
export interface TcpWorkerConnection {
  /** Which worker (0-based). */
  worker: number;
  /** Connection number within that worker. */
  id: number;
  /** `127.0.0.1:50000`. */
  peer: string;
}

/** Events of {@link TcpWorkers}. */
export interface TcpWorkersEvents {
  connect: [connection: TcpWorkerConnection];
  disconnect: [summary: TcpConnectionSummary & { worker: number }];
  refuse: [refusal: TcpRefusal & { worker: number }];
  /** A worker failed to accept connections (EMFILE, ...): once per burst, with how many. */
  'accept-error': [failure: { code: string; count: number; message: string; worker: number }];
  /** An application message a worker sent with `context.emit` (e.g. a line printed in print mode). */
  message: [message: unknown, worker: number];
  /** A worker exited unexpectedly (it is started again). */
  'worker-exit': [info: { worker: number; code: number | null; signal: string | null }];
}

/** What a worker's handler factory gets: a way to talk to the primary and to the other workers. */
export interface TcpWorkerContext {
  /** Which worker this is (0-based). */
  index: number;
  /** Send an application message to the primary (emitted there as `message`). */
  emit(message: unknown): void;
  /** Send bytes to every other worker (delivered to their `onRelay` listeners), e.g. a chat line. */
  relay(data: Buffer): void;
  /** Listen for bytes relayed by other workers. */
  onRelay(listener: (data: Buffer) => void): void;
}

type ToPrimary =
  | { t: 'listening'; address: TcpServerAddress }
  | { t: 'connect'; id: number; peer: string }
  | { t: 'disconnect'; summary: TcpConnectionSummary }
  | { t: 'refuse'; refusal: TcpRefusal }
  | { t: 'accept-error'; failure: { code: string; count: number; message: string } }
  | { t: 'message'; message: unknown }
  | { t: 'relay'; data: string }
  | { t: 'closed'; stats: TcpServerStats }
  | { t: 'error'; error: { code: string; message: string } };

type ToWorker = { t: 'shutdown'; timeout: number } | { t: 'relay'; data: string };

interface WorkerEnv {
  index: number;
  strategy: TcpWorkerStrategy;
  options: Omit<TcpServerOptions, 'signal'>;
}

/**
 * Whether this process is a TCP worker started by {@link startTcpWorkers}.
 *
 * @returns true in a worker
 * @example
 * ```ts
 * if (isTcpWorker()) await runTcpWorker(() => echoHandler());
 * else await startTcpWorkers({ workers: 4, port: 7000 });
 * ```
 */
export function isTcpWorker(): boolean {
  return cluster.isWorker && process.env[TCP_WORKER_ENV] !== undefined;
}

function sendToPrimary(message: ToPrimary): void {
  if (process.connected && process.send) process.send(message);
}

/**
 * In a worker process: start this worker's server with the options the primary chose, report its events to
 * the primary, and stop gracefully when the primary says so. Resolves once it listens.
 *
 * @param makeHandler - builds the connection handler; gets the worker context (for print and chat modes)
 * @param options - `signal` stops the worker's server
 * @returns the worker's server and a `done` promise (settles once the primary has the final counters)
 * @throws {SoketError} when not called in a worker made by {@link startTcpWorkers}, or when it cannot listen
 * @example
 * ```ts
 * if (isTcpWorker()) {
 *   const { done } = await runTcpWorker(() => echoHandler());
 *   await done;
 * }
 * ```
 */
export async function runTcpWorker(
  makeHandler: (context: TcpWorkerContext) => TcpHandler,
  options: { signal?: AbortSignal } = {},
): Promise<TcpWorkerHandle> {
  const raw = process.env[TCP_WORKER_ENV];
  if (!cluster.isWorker || raw === undefined) {
    throw new SoketError('runTcpWorker must run in a worker process started by startTcpWorkers');
  }
  const env = JSON.parse(raw) as WorkerEnv;
  const relayListeners: Array<(data: Buffer) => void> = [];
  const context: TcpWorkerContext = {
    index: env.index,
    emit: (message) => sendToPrimary({ t: 'message', message }),
    relay: (data) => sendToPrimary({ t: 'relay', data: data.toString('base64') }),
    onRelay: (listener) => {
      relayListeners.push(listener);
    },
  };
  let server: TcpServer;
  try {
    const serverOptions: TcpServerOptions = {
      ...env.options,
      exclusive: env.strategy === 'reuseport',
      reusePort: env.strategy === 'reuseport',
    };
    if (options.signal) serverOptions.signal = options.signal;
    server = await createTcpServer(serverOptions, makeHandler(context));
  } catch (err) {
    const e = err instanceof SoketError ? err : new SoketError(String((err as Error)?.message ?? err));
    sendToPrimary({ t: 'error', error: { code: e.code, message: e.message } });
    throw err;
  }
  server.on('connect', (c) => sendToPrimary({ t: 'connect', id: c.id, peer: c.peer }));
  server.on('disconnect', (summary) => sendToPrimary({ t: 'disconnect', summary }));
  server.on('refuse', (refusal) => sendToPrimary({ t: 'refuse', refusal }));
  server.on('accept-error', (failure) => sendToPrimary({ t: 'accept-error', failure }));
  const onMessage = (m: ToWorker) => {
    if (m?.t === 'shutdown') void server.close({ timeout: m.timeout });
    else if (m?.t === 'relay') {
      const data = Buffer.from(m.data, 'base64');
      for (const l of relayListeners) l(data);
    }
  };
  process.on('message', onMessage);
  // If the primary goes away, stop too.
  process.once('disconnect', () => void server.close());
  const done = server.finished.then(
    (stats) =>
      new Promise<TcpServerStats>((resolve) => {
        process.off('message', onMessage);
        if (!process.connected || !process.send) {
          resolve(stats);
          return;
        }
        process.send({ t: 'closed', stats } satisfies ToPrimary, () => {
          if (process.connected) process.disconnect();
          resolve(stats);
        });
      }),
  );
  sendToPrimary({ t: 'listening', address: server.address });
  return { server, done };
}

/** A running worker: its server, and a promise that settles once its final counters reached the primary. */
export interface TcpWorkerHandle {
  /** This worker's server. */
  server: TcpServer;
  /** Resolves with the final counters after the server stopped and the primary has them. */
  done: Promise<TcpServerStats>;
}

interface WorkerState {
  index: number;
  worker: Worker;
  finalStats?: TcpServerStats;
}

/**
 * Several worker processes serving one port (see the module notes), with the common server lifecycle.
 *
 * @example
 * ```ts
 * const workers = new TcpWorkers({ workers: 2, port: 0 });
 * await workers.listen();
 * workers.on('disconnect', (s) => console.log(`worker ${s.worker}: ${s.peer} ${s.reason}`));
 * console.log(workers.address.port, workers.strategy);
 * await workers.close();
 * ```
 */
export class TcpWorkers extends ServerLifecycle<TcpServerStats, TcpServerAddress, TcpWorkersEvents> {
  protected readonly kind = 'TCP workers';
  readonly #states: WorkerState[] = [];
  readonly #options: TcpWorkersOptions;
  readonly #count: number;
  readonly #wanted: 'auto' | TcpWorkerStrategy;
  #strategy: TcpWorkerStrategy | undefined;
  #env: Omit<WorkerEnv, 'index'> | undefined;
  #port = 0;
  #accepted = 0;
  #active = 0;
  #peak = 0;
  #refused = 0;
  #acceptErrors = 0;
  #closed = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #reasons: Partial<Record<TcpCloseReason, number>> = {};
  #stopping = false;
  #allDead: Promise<void>;
  #resolveAllDead!: () => void;

  /**
   * @param options - the server options shared by every worker, the worker count and strategy
   * @throws {ValidationError} for bad options (`workers` < 1, `once`)
   * @throws {UnsupportedError} when called in a worker
   */
  constructor(options: TcpWorkersOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid TCP workers options: expected an object');
    }
    super(options.signal);
    if (!cluster.isPrimary) throw new UnsupportedError('TCP workers must be started in the primary process');
    this.#count = parseInteger(options.workers, 'workers', { min: 1, max: TCP_WORKERS_DEFAULTS.maxWorkers });
    if ((options as TcpServerOptions).once) {
      throw new ValidationError('Serving one client (once) cannot be combined with several workers');
    }
    const wanted = options.strategy ?? TCP_WORKERS_DEFAULTS.strategy;
    if (wanted !== 'auto' && wanted !== 'reuseport' && wanted !== 'cluster') {
      throw new ValidationError(
        `Unknown worker strategy '${String(wanted)}': expected auto, reuseport or cluster`,
      );
    }
    this.#wanted = wanted;
    this.#options = options;
    this.#allDead = new Promise((resolve) => {
      this.#resolveAllDead = resolve;
    });
  }

  /** How the port is shared (known once listening). */
  get strategy(): TcpWorkerStrategy {
    if (this.#strategy === undefined) throw new SoketError('The TCP workers are not listening yet');
    return this.#strategy;
  }

  /** How many workers are running. */
  get workers(): number {
    return this.#states.filter((s) => !s.worker.isDead()).length;
  }

  /** The workers' process ids. */
  get pids(): number[] {
    return this.#states.map((s) => s.worker.process.pid ?? 0);
  }

  /**
   * Counters over every worker, from their connection events. `bufferedBytes` is not known to the primary
   * and is 0.
   *
   * @returns a snapshot
   */
  stats(): TcpServerStats {
    return {
      accepted: this.#accepted,
      active: this.#active,
      peak: this.#peak,
      refused: this.#refused,
      denied: 0,
      tlsErrors: 0,
      acceptErrors: this.#acceptErrors,
      closed: this.#closed,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      bufferedBytes: 0,
      reasons: { ...this.#reasons },
    };
  }

  protected async start(): Promise<TcpServerAddress> {
    const supported = await reusePortSupported();
    if (this.#wanted === 'reuseport' && !supported) {
      throw new UnsupportedError(
        `Workers with reusePort need Node 22.12 or 23.1 and later; this is Node ${process.versions.node}`,
      );
    }
    const strategy: TcpWorkerStrategy =
      this.#wanted === 'auto' ? (supported ? 'reuseport' : 'cluster') : this.#wanted;
    this.#strategy = strategy;
    const {
      workers: _w,
      strategy: _s,
      exec,
      args,
      execArgv,
      startTimeout: _t,
      signal: _signal,
      ...serverOptions
    } = this.#options;
    const max = serverOptions.maxConnections ?? 0;
    if (max > 0) serverOptions.maxConnections = Math.ceil(max / this.#count);
    const settings: ClusterSettings = {};
    if (exec !== undefined) settings.exec = exec;
    if (args !== undefined) settings.args = args;
    if (execArgv !== undefined) settings.execArgv = execArgv;
    cluster.setupPrimary(settings);
    this.#env = { strategy, options: serverOptions };
    const port = serverOptions.port ?? 0;
    try {
      // The first worker settles the port (0 → a real one); with reuseport the others bind that port.
      const address = await this.#spawn(0, port);
      this.#port = strategy === 'reuseport' ? address.port : port;
      await Promise.all(Array.from({ length: this.#count - 1 }, (_, i) => this.#spawn(i + 1, this.#port)));
      this.#port = address.port;
      debug('tcp', 'workers listening', { ...address, workers: this.#count, strategy });
      return address;
    } catch (err) {
      await this.#stopWorkers(0);
      throw err;
    }
  }

  /**
   * Stop every worker gracefully: each stops accepting, lets its connections finish for up to `timeout` ms,
   * then destroys the rest. Workers that do not exit within the bound plus 2 s are killed.
   */
  protected async stop(timeout: number | undefined): Promise<void> {
    await this.#stopWorkers(timeout ?? this.#options.closeTimeout ?? TCP_WORKERS_DEFAULTS.closeTimeout);
  }

  async #stopWorkers(timeout: number): Promise<void> {
    this.#stopping = true;
    const live = this.#states.filter((s) => !s.worker.isDead());
    if (live.length === 0) return;
    for (const s of live) {
      if (s.worker.isConnected()) s.worker.send({ t: 'shutdown', timeout } satisfies ToWorker);
    }
    const killer = setTimeout(() => {
      for (const s of this.#states) if (!s.worker.isDead()) s.worker.process.kill('SIGKILL');
    }, timeout + 2000);
    await this.#allDead;
    clearTimeout(killer);
  }

  /** Fork worker `index` and resolve when it listens. */
  #spawn(index: number, port: number): Promise<TcpServerAddress> {
    const base = this.#env as Omit<WorkerEnv, 'index'>;
    const env: WorkerEnv = { ...base, index, options: { ...base.options, port } };
    const worker = cluster.fork({ [TCP_WORKER_ENV]: JSON.stringify(env), [WORKER_PROCESS_ENV]: '1' });
    const state: WorkerState = { index, worker };
    const existing = this.#states.findIndex((s) => s.index === index);
    if (existing === -1) this.#states.push(state);
    else this.#states[existing] = state;
    const timeout = this.#options.startTimeout ?? TCP_WORKERS_DEFAULTS.startTimeout;
    return new Promise((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        worker.kill();
        reject(new TimeoutError('start', `TCP worker ${index}`, timeout));
      }, timeout);
      worker.on('message', (m: ToPrimary) => {
        switch (m?.t) {
          case 'listening':
            started = true;
            clearTimeout(timer);
            resolve(m.address);
            break;
          case 'error':
            clearTimeout(timer);
            reject(
              m.error.code === 'SOKET_INVALID_ARGUMENT'
                ? new ValidationError(m.error.message)
                : new SoketError(m.error.message, m.error.code),
            );
            break;
          default:
            this.#onWorkerMessage(state, m);
        }
      });
      worker.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (!started) {
          reject(
            new SoketError(`TCP worker ${index} exited before listening (code ${code}, signal ${signal})`),
          );
        }
        if (this.#stopping || !started) {
          if (this.#states.every((s) => s.worker.isDead())) this.#resolveAllDead();
          return;
        }
        debug('tcp', 'worker exited; starting it again', { worker: index, code, signal });
        this.emit('worker-exit', { worker: index, code, signal });
        this.#spawn(index, this.#port).catch((err: unknown) => {
          debug('tcp', 'worker restart failed', { worker: index, error: String(err) });
        });
      });
    });
  }

  #onWorkerMessage(state: WorkerState, m: ToPrimary): void {
    const worker = state.index;
    switch (m?.t) {
      case 'connect':
        this.#accepted++;
        this.#active++;
        if (this.#active > this.#peak) this.#peak = this.#active;
        this.emit('connect', { worker, id: m.id, peer: m.peer });
        break;
      case 'disconnect': {
        const s = m.summary;
        this.#active--;
        this.#closed++;
        this.#bytesIn += s.bytesIn;
        this.#bytesOut += s.bytesOut;
        this.#reasons[s.reason] = (this.#reasons[s.reason] ?? 0) + 1;
        this.emit('disconnect', { ...s, worker });
        break;
      }
      case 'refuse':
        this.#refused++;
        this.emit('refuse', { ...m.refusal, worker });
        break;
      case 'accept-error':
        this.#acceptErrors += m.failure.count;
        this.emit('accept-error', { ...m.failure, worker });
        break;
      case 'message':
        this.emit('message', m.message, worker);
        break;
      case 'relay':
        for (const other of this.#states) {
          if (other !== state && !other.worker.isDead() && other.worker.isConnected()) {
            other.worker.send({ t: 'relay', data: m.data } satisfies ToWorker);
          }
        }
        break;
      case 'closed':
        state.finalStats = m.stats;
        break;
      default:
        break;
    }
  }
}

/**
 * Start `workers` processes serving one TCP port (see the module notes). Call it in the primary process; the
 * same program must call {@link runTcpWorker} when {@link isTcpWorker} is true.
 *
 * @param options - the server options shared by every worker, the worker count and strategy
 * @returns the running workers, once every one listens
 * @throws {ValidationError} for bad options (`workers` < 1, `once`)
 * @throws {UnsupportedError} for `strategy: 'reuseport'` on a Node without it, or when called in a worker
 * @throws {SoketError} / {@link NetworkError} when a worker cannot listen (the others are stopped)
 * @example
 * ```ts
 * import { echoHandler, isTcpWorker, runTcpWorker, startTcpWorkers } from 'soket';
 * if (isTcpWorker()) {
 *   await runTcpWorker(() => echoHandler());
 * } else {
 *   const workers = await startTcpWorkers({ workers: 4, host: '127.0.0.1', port: 7000 });
 *   process.on('SIGINT', () => void workers.close());
 * }
 * ```
 */
export async function startTcpWorkers(options: TcpWorkersOptions): Promise<TcpWorkers> {
  return listening(new TcpWorkers(options));
}
