/**
 * One lifecycle for every soket server (TCP, TCP workers, UDP, SNTP, and the ones built on them):
 *
 * ```
 * const server = new XServer(options, handler);   // or: await createXServer(options, handler)
 * const address = await server.listen();          // bound; server.address is set from here on
 * server.on('…', …);                              // typed events of that server
 * server.stats();                                 // a snapshot of its private counters
 * const final = await server.close({ timeout });  // stop, let work finish up to `timeout` ms → final stats
 * await server.finished;                          // the same final stats, however the server ended
 * ```
 *
 * An `AbortSignal` in the options closes the server (with its default close timeout) when it fires. Every
 * server emits `listening` (its address) and `close` (its final stats), and `error` for a problem that does
 * not stop it (only when someone listens, so an unhandled `error` never crashes a process).
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { abortError } from './deadline.js';
import { ClosedError, type SoketError, toSoketError, ValidationError } from './errors.js';

/** An IPv4 or IPv6 address and port a server is bound to. */
export interface InetAddress {
  /** 4 or 6. */
  family: 4 | 6;
  /** The bound address (`127.0.0.1`, `::`). */
  address: string;
  /** The bound port (the real one when 0 was asked for). */
  port: number;
}

/** A Unix domain socket a server listens on. */
export interface UnixAddress {
  family: 'unix';
  /** The socket file's path, or `@name` in Linux's abstract namespace. */
  path: string;
  /** Whether it is in the abstract namespace (no file). */
  abstract: boolean;
}

/** Where a server listens. */
export type ServerAddress = InetAddress | UnixAddress;

/** Options of {@link SoketServer.close}. */
export interface CloseOptions {
  /** How long open work (connections, queued datagrams) may finish before it is cut, in ms. */
  timeout?: number;
}

/** The events every server emits, besides its own. */
export interface LifecycleEvents<S, A> {
  /** The server is bound and serving. */
  listening: [address: A];
  /** The server has stopped; the final counters. */
  close: [stats: S];
  /** A problem that does not stop the server (emitted only when someone listens). */
  error: [error: SoketError];
}

/** What every soket server offers. */
export interface SoketServer<S, A extends ServerAddress = InetAddress> {
  /** Where it listens. Throws `ClosedError` before {@link listen} resolved. */
  readonly address: A;
  /** Whether it is serving now (after `listen()`, before `close()`). */
  readonly listening: boolean;
  /** Bind and start serving; resolves with the address. Calling it again returns the same promise. */
  listen(): Promise<A>;
  /** A snapshot of the counters. */
  stats(): S;
  /** Resolves with the final counters once the server has stopped, however it stopped. */
  readonly finished: Promise<S>;
  /** Stop: let open work finish for up to `timeout` ms, then cut it. Idempotent. Resolves with the final counters. */
  close(options?: CloseOptions): Promise<S>;
}

type AnyEvents<E> = { [K in keyof E]: unknown[] };

/**
 * The shared part of every server: `listen()`/`close()` idempotency, the abort signal, `finished`, and the
 * `listening`/`close`/`error` events. A server implements {@link start} (bind), {@link stop} (wind down) and
 * `stats()`; one that ends by itself (a `once` server) calls {@link finish}.
 *
 * @example
 * ```ts
 * class NullServer extends ServerLifecycle<{ n: number }, InetAddress, {}> {
 *   protected async start() { return { family: 4 as const, address: '127.0.0.1', port: 0 }; }
 *   protected async stop() {}
 *   stats() { return { n: 0 }; }
 * }
 * ```
 */
export abstract class ServerLifecycle<S, A extends ServerAddress, E extends AnyEvents<E>>
  extends EventEmitter<
    // biome-ignore lint/suspicious/noExplicitAny: the event map is the subclass's; EventEmitter needs it open
    any
  >
  implements SoketServer<S, A>
{
  readonly finished: Promise<S>;
  #address: A | undefined;
  #listening: Promise<A> | undefined;
  #closing: Promise<S> | undefined;
  #finished = false;
  #resolveFinished!: (stats: S) => void;
  readonly #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  /** What the server is, for messages: `TCP server`, `SNTP server`. */
  protected abstract readonly kind: string;

  /**
   * @param signal - closes the server when it fires
   */
  constructor(signal: AbortSignal | undefined) {
    super();
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new ValidationError('Invalid signal: expected an AbortSignal');
    }
    this.#signal = signal;
    this.finished = new Promise((resolve) => {
      this.#resolveFinished = resolve;
    });
  }

  /** Bind and start serving. */
  protected abstract start(): Promise<A>;
  /** Stop serving: stop accepting, let open work finish for up to `timeout` ms, cut the rest, release. */
  protected abstract stop(timeout: number | undefined): Promise<void>;
  /** A snapshot of the counters. */
  abstract stats(): S;

  get address(): A {
    if (this.#address === undefined) throw new ClosedError(`The ${this.kind} is not listening yet`);
    return this.#address;
  }

  get listening(): boolean {
    return this.#address !== undefined && this.#closing === undefined && !this.#finished;
  }

  listen(): Promise<A> {
    this.#listening ??= (async () => {
      if (this.#signal?.aborted) throw abortError(this.#signal, `Starting the ${this.kind}`);
      if (this.#closing) throw new ClosedError(`The ${this.kind} was closed before it listened`);
      const address = await this.start();
      this.#address = address;
      if (this.#signal) {
        this.#onAbort = () => void this.close();
        this.#signal.addEventListener('abort', this.#onAbort, { once: true });
        if (this.#signal.aborted) void this.close();
      }
      this.#emitLifecycle('listening', address);
      return address;
    })();
    return this.#listening;
  }

  close(options: CloseOptions = {}): Promise<S> {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid close options: expected an object such as { timeout: 1000 }');
    }
    const t = options.timeout;
    if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t < 0)) {
      throw new ValidationError(`Invalid close timeout '${String(t)}': expected milliseconds, 0 or more`);
    }
    this.#closing ??= (async () => {
      if (this.#address !== undefined && !this.#finished) {
        try {
          await this.stop(t);
        } catch (err) {
          this.reportError(toSoketError(err, `Closing the ${this.kind}`));
        }
      }
      this.finish();
      return this.finished;
    })();
    return this.#closing;
  }

  /** Resolve `finished` and emit `close` (once). For servers that end by themselves, and after `stop()`. */
  protected finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#signal && this.#onAbort) this.#signal.removeEventListener('abort', this.#onAbort);
    const stats = this.stats();
    this.#resolveFinished(stats);
    this.#emitLifecycle('close', stats);
  }

  /** Whether `close()` was called. */
  protected get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** Emit a non-fatal `error`, only when someone listens. */
  protected reportError(error: SoketError): void {
    if (this.listenerCount('error') > 0) this.#emitLifecycle('error', error);
  }

  #emitLifecycle(event: keyof LifecycleEvents<S, A>, arg: unknown): void {
    EventEmitter.prototype.emit.call(this, event, arg);
  }

  /** Typed `on` for a server's own and the lifecycle events. */
  override on<K extends keyof (E & LifecycleEvents<S, A>) & string>(
    event: K,
    listener: (
      ...args: (E & LifecycleEvents<S, A>)[K] extends unknown[] ? (E & LifecycleEvents<S, A>)[K] : never
    ) => void,
  ): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  /** Typed `once`. */
  override once<K extends keyof (E & LifecycleEvents<S, A>) & string>(
    event: K,
    listener: (
      ...args: (E & LifecycleEvents<S, A>)[K] extends unknown[] ? (E & LifecycleEvents<S, A>)[K] : never
    ) => void,
  ): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }

  /** Typed `off`. */
  override off<K extends keyof (E & LifecycleEvents<S, A>) & string>(
    event: K,
    listener: (
      ...args: (E & LifecycleEvents<S, A>)[K] extends unknown[] ? (E & LifecycleEvents<S, A>)[K] : never
    ) => void,
  ): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  /** Typed `emit`. */
  override emit<K extends keyof (E & LifecycleEvents<S, A>) & string>(
    event: K,
    ...args: (E & LifecycleEvents<S, A>)[K] extends unknown[] ? (E & LifecycleEvents<S, A>)[K] : never
  ): boolean {
    return super.emit(event, ...args);
  }
}

/**
 * Create a server and wait for it to listen: the `createXServer(options, handler)` shape every server offers.
 *
 * @param server - a new server
 * @returns the same server, listening
 * @example
 * ```ts
 * export const createTcpServer = (o, h) => listening(new TcpServer(o, h));
 * ```
 */
export async function listening<T extends { listen(): Promise<unknown> }>(server: T): Promise<T> {
  await server.listen();
  return server;
}
