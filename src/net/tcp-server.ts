// contract: v2 (issue 10: the common server lifecycle)
/**
 * A TCP server that holds thousands of clients: promise-based listen, a connection limit with clean refusals,
 * per-connection idle timeouts, counters and events for connections and bytes, and a graceful close (stop
 * accepting, let open connections finish up to a bound, then destroy them).
 *
 * What each connection does is the handler's business (see `tcp-modes.ts` for echo, reply, print, chat and
 * discard). The server itself adds almost nothing to the per-message path: byte counts come from the
 * socket's own `bytesRead`/`bytesWritten`, read once when a connection closes, and the listeners it puts on
 * each socket are shared functions, not closures, so an idle connection costs little more than Node's own.
 *
 * Half-close: sockets are created with `allowHalfOpen: true`, so when a client shuts down its write side
 * the handler can still flush what it owes (echo finishes echoing) before ending its own side.
 *
 * @module
 */
import net from 'node:net';
import tls from 'node:tls';
import type { AccessList } from '../core/cidr.js';
import { debug } from '../core/debug.js';
import { toSoketError, UnsupportedError, ValidationError } from '../core/errors.js';
import {
  type CloseOptions,
  type InetAddress,
  listening,
  ServerLifecycle,
  type UnixAddress,
} from '../core/lifecycle.js';
import {
  checkBoolean,
  checkTimeout,
  formatHostPort,
  parseHost,
  parseInteger,
  parsePort,
} from '../core/validate.js';
import { openFilesLimit } from './fd-limit.js';
import {
  type SocketOptions,
  type SocketOptionsReport,
  setSocketOptions,
  validateSocketOptions,
} from './sockopt.js';
import { parseStreamAddress } from './stream-address.js';
import { listenUnix, removeOwnUnixSocket } from './stream-listener.js';
import type { PreparedTlsServer } from './tls-config.js';

/** Options of {@link createTcpServer}. Defaults are in {@link TCP_SERVER_DEFAULTS}. */
export interface TcpServerOptions {
  /** Address to bind. `::` gives a dual-stack (IPv4 and IPv6) listener. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one (read it from `server.address`). @default 0 */
  port?: number;
  /** Length of the kernel's queue of connections not yet accepted (capped by net.core.somaxconn). @default 511 */
  backlog?: number;
  /** With host `::`, accept IPv6 only. @default false */
  ipv6Only?: boolean;
  /** Most connections open at once; more get a clean close (FIN) at once and are counted as refused. 0: no limit. @default 0 */
  maxConnections?: number;
  /** Close a connection after this many ms without data in either direction. 0: never. @default 0 */
  idleTimeout?: number;
  /** How long {@link TcpServer.close} lets open connections finish before destroying them, in ms. @default 5000 */
  closeTimeout?: number;
  /** Serve one client: stop accepting after the first connection and finish when it closes. @default false */
  once?: boolean;
  /** Disable Nagle's algorithm on accepted sockets (TCP_NODELAY): small replies leave at once. @default true */
  noDelay?: boolean;
  /** Bind with SO_REUSEPORT so several processes can listen on one port (Node ≥ 22.12 / 23.1). @default false */
  reusePort?: boolean;
  /** In a cluster worker: bind this process's own socket instead of sharing the primary's. @default false */
  exclusive?: boolean;
  /** Socket options applied to the listening socket; accepted sockets inherit them. @default undefined */
  socketOptions?: SocketOptions;
  /** Stops the server gracefully (as {@link TcpServer.close}) when it fires. @default undefined */
  signal?: AbortSignal;
  /**
   * Listen on a Unix stream socket instead of `host`/`port`: a path, or `@name` in Linux's abstract namespace.
   * A live server's socket is never replaced; a stale one is removed; the server removes its own on close.
   * @default undefined (TCP)
   */
  path?: string;
  /** Mode of the Unix socket file (e.g. 0o660), set from its creation on. @default the umask's */
  unixPerm?: number;
  /** Speak TLS on every connection (settings from `prepareTlsServer`); handlers see plaintext. @default none */
  tls?: PreparedTlsServer;
  /** Peers let in, checked at accept before anything else (TCP only). @default everyone */
  access?: AccessList;
}

/** Every default of {@link TcpServerOptions}, in one place. */
export const TCP_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  backlog: 511,
  ipv6Only: false,
  maxConnections: 0,
  idleTimeout: 0,
  closeTimeout: 5000,
  once: false,
  noDelay: true,
  reusePort: false,
  exclusive: false,
} as const;

/** Why a connection closed. */
export type TcpCloseReason =
  /** The client shut down its side (FIN) and the server finished its own. */
  | 'client-closed'
  /** The client reset the connection (RST) or vanished (EPIPE). */
  | 'reset'
  /** Nothing moved for `idleTimeout` ms. */
  | 'idle-timeout'
  /** The server was closing and the connection outlived `closeTimeout`. */
  | 'shutdown'
  /** The handler dropped the client (e.g. a chat client that stopped reading); `detail` says why. */
  | 'dropped'
  /** The handler closed the connection itself. */
  | 'server-closed'
  /** Another socket error; `detail` has it. */
  | 'error';

/** What the server reports when a connection closes. */
export interface TcpConnectionSummary {
  /** Sequence number of the connection in this server, from 1. */
  id: number;
  /** Client address as the OS reports it (`::ffff:127.0.0.1` on a dual-stack listener). */
  remoteAddress: string;
  /** Client port. */
  remotePort: number;
  /** `127.0.0.1:50000` or `[::1]:50000`. */
  peer: string;
  /** Bytes received from the client. */
  bytesIn: number;
  /** Bytes sent to the client (given to the kernel). */
  bytesOut: number;
  /** How long the connection was open, in ms. */
  durationMs: number;
  /** Why it closed. */
  reason: TcpCloseReason;
  /** Human details, e.g. `queue over 1048576 bytes` or the OS error. */
  detail?: string;
}

/** A client the server refused because `maxConnections` were already open. */
export interface TcpRefusal {
  /** Client address. */
  remoteAddress: string;
  /** Client port. */
  remotePort: number;
  /** `127.0.0.1:50000`. */
  peer: string;
}

/** Counters of a server. */
export interface TcpServerStats {
  /** Connections accepted since the start. */
  accepted: number;
  /** Connections open now. */
  active: number;
  /** Most connections open at once. */
  peak: number;
  /** Connections refused because of `maxConnections`. */
  refused: number;
  /** Connections refused by the access list. */
  denied: number;
  /** TLS handshakes that failed. */
  tlsErrors: number;
  /** Connections the kernel completed but accept(2) failed to hand over (EMFILE, ENFILE, ...). */
  acceptErrors: number;
  /** Connections closed. */
  closed: number;
  /** Bytes received, closed and open connections. */
  bytesIn: number;
  /** Bytes sent, closed and open connections. */
  bytesOut: number;
  /** Bytes held in the server's own buffers right now (unsent output plus unread input, all connections). */
  bufferedBytes: number;
  /** Closed connections by reason. */
  reasons: Partial<Record<TcpCloseReason, number>>;
}

/** The address a server listens on. */
export type TcpServerAddress = InetAddress;

/** Where a TCP server (or the same server on a Unix socket) listens. */
export type StreamServerAddress = TcpServerAddress | UnixAddress;

/** Events of a {@link TcpServer}. */
export interface TcpServerEvents {
  /** A client connected (after the handler was attached). */
  connect: [connection: TcpServerConnection];
  /** A connection closed. */
  disconnect: [summary: TcpConnectionSummary];
  /** A client was refused because `maxConnections` were open. */
  refuse: [refusal: TcpRefusal];
  /**
   * accept(2) failed (EMFILE: out of file descriptors, ...): the kernel had completed those handshakes, and
   * the clients are dropped. Emitted at most once a second, with the count since the last one; the server
   * keeps running. (`error` and `close` come from the common lifecycle.)
   */
  'accept-error': [failure: { code: string; count: number; message: string }];
  /** A client the access list refused (closed at accept); `rule` says which rule decided. */
  deny: [refusal: TcpRefusal & { rule: string }];
  /** A client whose TLS handshake failed or timed out. */
  'tls-error': [failure: { peer: string; message: string }];
}

/**
 * What a handler does with a new connection. It gets the connection (its socket is `connection.socket`) and
 * must end its side when the client ends (`'end'` event) so half-closed connections finish.
 */
export type TcpHandler = (connection: TcpServerConnection) => void;

const CONN = Symbol('soket.tcpConnection');
type TaggedSocket = net.Socket & { [CONN]?: TcpServerConnection };

/**
 * One accepted connection, as the handler sees it.
 *
 * @example
 * ```ts
 * const server = await createTcpServer({ port: 0 }, (conn) => {
 *   conn.socket.end(`hello ${conn.peer}\n`);
 * });
 * ```
 */
export class TcpServerConnection {
  /** Sequence number, from 1. */
  readonly id: number;
  /** The accepted socket. */
  readonly socket: net.Socket;
  /** Client address, as the OS reports it. */
  readonly remoteAddress: string;
  /** Client port. */
  readonly remotePort: number;
  /** `performance.now()` when accepted. */
  readonly startedAt: number;
  /** The server that accepted it. */
  readonly server: TcpServer<StreamServerAddress>;
  /** Set when the reason for closing is known before the socket closes. */
  reason: TcpCloseReason | undefined;
  /** Details for {@link reason}. */
  detail: string | undefined;

  /** @internal */
  constructor(server: TcpServer<StreamServerAddress>, id: number, socket: net.Socket) {
    this.server = server;
    this.id = id;
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? (server.unix ? 'unix' : 'unknown');
    this.remotePort = socket.remotePort ?? 0;
    this.startedAt = performance.now();
  }

  /** `127.0.0.1:50000` or `[::1]:50000`. */
  get peer(): string {
    if (this.remoteAddress === 'unix') return 'unix';
    return formatHostPort(this.remoteAddress, this.remotePort);
  }

  /**
   * Destroy the connection now, recording why (the first reason given wins).
   *
   * @param reason - why, for the summary
   * @param detail - human details
   */
  close(reason: TcpCloseReason, detail?: string): void {
    if (this.reason === undefined) {
      this.reason = reason;
      this.detail = detail;
    }
    this.socket.destroy();
  }
}

/**
 * A TCP server: its address, counters and events, and a graceful {@link TcpServer.close}. It has the common
 * server lifecycle (`listen()`, `address`, `stats()`, `finished`, `close({ timeout })`, the signal).
 *
 * @example
 * ```ts
 * const server = new TcpServer({ port: 0 }, echoHandler());
 * const { port } = await server.listen();
 * server.on('disconnect', (s) => console.log(`${s.peer} ${s.reason} in=${s.bytesIn}`));
 * const stats = await server.close({ timeout: 1000 });
 * ```
 */
export class TcpServer<A extends StreamServerAddress = TcpServerAddress> extends ServerLifecycle<
  TcpServerStats,
  A,
  TcpServerEvents
> {
  protected readonly kind = 'TCP server';
  /** The underlying Node server. */
  readonly server: net.Server;
  /** What the kernel reports for the listener after `socketOptions` were applied (when some were given). */
  socketOptions: SocketOptionsReport | undefined;

  readonly #handler: TcpHandler;
  readonly #requested: TcpServerOptions;
  readonly #live = new Set<TcpServerConnection>();
  readonly #options: CheckedOptions;
  #nextId = 1;
  #accepted = 0;
  #refused = 0;
  #denied = 0;
  #tlsErrors = 0;
  readonly #tls: tls.Server | undefined;
  readonly #unix: { path: string; abstract: boolean } | undefined;
  #unixIno: number | undefined;
  #acceptErrors = 0;
  /** Accepted sockets whose descriptor is at or above this are closed at once (see {@link FD_RESERVE}). */
  #fdCeiling = Number.POSITIVE_INFINITY;
  #acceptErrorsReported = 0;
  #acceptErrorTimer: NodeJS.Timeout | undefined;
  #lastAcceptError: NodeJS.ErrnoException | undefined;
  #closed = 0;
  #peak = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #reasons: Partial<Record<TcpCloseReason, number>> = {};
  #accepting = false;
  #drainWaiters: Array<() => void> = [];
  #listenerClosed = false;
  #allClosed: Promise<void>;
  #resolveAllClosed!: () => void;

  /**
   * @param options - where to listen and how to treat connections; see {@link TcpServerOptions}
   * @param handler - what to do with each connection (e.g. `echoHandler()` from `tcp-modes`)
   * @throws {ValidationError} for bad options or a missing handler
   */
  constructor(options: TcpServerOptions, handler: TcpHandler) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid TCP server options: expected an object');
    }
    super(options.signal);
    this.#options = checkOptions(options);
    if (options.socketOptions) validateSocketOptions(options.socketOptions);
    if (typeof handler !== 'function') throw new ValidationError('A TCP server needs a connection handler');
    this.#handler = handler;
    this.#requested = options;
    // TCP_NODELAY through Node (set on each accepted socket); the other options go on the listener.
    const noDelay = options.socketOptions?.noDelay ?? this.#options.noDelay;
    this.server = net.createServer({ allowHalfOpen: true, noDelay });
    if (options.path !== undefined) {
      const a = parseStreamAddress(`unix:${options.path}`, { what: 'Unix socket path' });
      if (a.kind === 'unix') this.#unix = { path: a.path, abstract: a.abstract };
      if (options.access?.active) {
        throw new ValidationError(
          'Allow/deny lists apply to TCP listeners; a Unix socket peer has no address',
        );
      }
    }
    if (options.tls) {
      // Connections are handed to a TLS server that never listens itself: access checks and the limit come first.
      const t = tls.createServer({ ...options.tls.secure, allowHalfOpen: true });
      t.on('secureConnection', (secure: tls.TLSSocket) => this.#admit(secure));
      t.on('tlsClientError', (err: Error, secure: tls.TLSSocket) => {
        this.#tlsErrors++;
        secure.destroy();
        if (this.listenerCount('tls-error') > 0) {
          const peer = secure.remoteAddress
            ? formatHostPort(secure.remoteAddress, secure.remotePort ?? 0)
            : 'unix';
          this.emit('tls-error', { peer, message: err.message });
        }
      });
      this.#tls = t;
    }
    this.server.on('connection', (socket: net.Socket) => this.#accept(socket));
    this.#allClosed = new Promise((resolve) => {
      this.#resolveAllClosed = resolve;
    });
    // Node emits the server's 'close' a tick before the last sockets' 'close' events: finish after both.
    this.server.on('close', () => {
      this.#listenerClosed = true;
      this.#maybeAllClosed();
    });
  }

  /** Whether it listens on a Unix socket. */
  get unix(): boolean {
    return this.#unix !== undefined;
  }

  protected async start(): Promise<A> {
    const limit = openFilesLimit()?.soft;
    if (limit !== undefined && Number.isFinite(limit)) this.#fdCeiling = Math.max(1, limit - FD_RESERVE);
    if (this.#unix) {
      const u = this.#unix;
      this.#unixIno = await listenUnix(this.server, u, {
        backlog: this.#options.backlog,
        ...(this.#requested.unixPerm !== undefined ? { unixPerm: this.#requested.unixPerm } : {}),
      });
      this.server.on('error', (err) => this.#acceptError(err as NodeJS.ErrnoException));
      this.#accepting = true;
      const address: UnixAddress = { family: 'unix', path: u.path, abstract: u.abstract };
      debug('tcp', 'listening', { ...address });
      return address as A;
    }
    const opts = this.#options;
    const where = formatHostPort(opts.host, opts.port);
    if (opts.reusePort && !(await reusePortSupported())) {
      throw new UnsupportedError(
        `Listening with reusePort needs Node 22.12 or 23.1 and later; this is Node ${process.versions.node}`,
      );
    }
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        server.off('listening', onListening);
        reject(toSoketError(err, `Cannot listen on ${where}`));
      };
      const onListening = () => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      const listenOptions: net.ListenOptions & { reusePort?: boolean } = {
        host: opts.host,
        port: opts.port,
        backlog: opts.backlog,
        ipv6Only: opts.ipv6Only,
        exclusive: opts.exclusive,
      };
      if (opts.reusePort) listenOptions.reusePort = true;
      server.listen(listenOptions);
    });
    const socketOptions = this.#requested.socketOptions;
    if (socketOptions && Object.keys(socketOptions).length > 0) {
      try {
        this.socketOptions = setSocketOptions(server, socketOptions);
      } catch (err) {
        server.close();
        throw err;
      }
    }
    server.on('error', (err) => this.#acceptError(err as NodeJS.ErrnoException));
    this.#accepting = true;
    const info = server.address() as net.AddressInfo;
    const address: TcpServerAddress = {
      address: info.address,
      port: info.port,
      family: info.family === 'IPv6' || (info.family as unknown) === 6 ? 6 : 4,
    };
    debug('tcp', 'listening', { ...address });
    return address as A;
  }

  /**
   * Stop gracefully: stop accepting at once, let open connections finish for up to `timeout` ms (default:
   * the server's `closeTimeout`), then destroy those still open (reason `shutdown`).
   */
  protected async stop(timeout: number | undefined): Promise<void> {
    const bound = timeout ?? this.#options.closeTimeout;
    this.#stopAccepting();
    if (this.#live.size > 0 && bound > 0) await this.#waitDrained(bound);
    for (const c of [...this.#live]) c.close('shutdown');
    await this.#allClosed;
    if (this.#acceptErrorTimer) clearTimeout(this.#acceptErrorTimer);
    this.#reportAcceptErrors(false); // the last burst's tail, before the final counters
    if (this.#unix && !this.#unix.abstract) removeOwnUnixSocket(this.#unix.path, this.#unixIno);
    debug('tcp', 'server closed', { address: this.address, ...this.stats() });
  }

  /**
   * Stop: stop accepting at once, let open connections finish for up to `timeout` ms, then destroy those
   * still open (reason `shutdown`). Calling it again returns the same promise.
   *
   * @param options - `timeout`: the bound in ms (default: the server's `closeTimeout`)
   * @returns the final counters
   * @example
   * ```ts
   * const stats = await server.close({ timeout: 1000 });
   * ```
   */
  override close(options: CloseOptions = {}): Promise<TcpServerStats> {
    if (options?.timeout !== undefined) checkTimeout(options.timeout, { what: 'close timeout' });
    return super.close(options);
  }

  /** Connections open now. */
  get connections(): ReadonlySet<TcpServerConnection> {
    return this.#live;
  }

  /**
   * Counters, including the bytes of open connections and what the server holds in its buffers now.
   *
   * @returns a snapshot
   */
  stats(): TcpServerStats {
    let bytesIn = this.#bytesIn;
    let bytesOut = this.#bytesOut;
    let bufferedBytes = 0;
    for (const c of this.#live) {
      bytesIn += c.socket.bytesRead;
      bytesOut += c.socket.bytesWritten;
      bufferedBytes += c.socket.writableLength + c.socket.readableLength;
    }
    return {
      accepted: this.#accepted,
      active: this.#live.size,
      peak: this.#peak,
      refused: this.#refused,
      denied: this.#denied,
      tlsErrors: this.#tlsErrors,
      acceptErrors: this.#acceptErrors,
      closed: this.#closed,
      bytesIn,
      bytesOut,
      bufferedBytes,
      reasons: { ...this.#reasons },
    };
  }

  #accept(socket: net.Socket): void {
    if (!this.#accepting) {
      socket.destroy();
      return;
    }
    // Descriptors are given lowest first: one this high means the process is about to run out. Close it now
    // and count it, before accept(2) fails with EMFILE (libuv then closes waiting clients without a word).
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd !== undefined && fd >= this.#fdCeiling) {
      socket.destroy();
      this.#acceptError(
        Object.assign(new Error(`accept: descriptor ${fd} is within ${FD_RESERVE} of the open-files limit`), {
          code: 'EMFILE',
          syscall: 'accept',
        }),
      );
      return;
    }
    const access = this.#requested.access;
    if (access?.active && !this.#unix) {
      const remoteAddress = socket.remoteAddress ?? '';
      if (!access.allows(remoteAddress)) {
        this.#denied++;
        socket.destroy();
        if (this.listenerCount('deny') > 0) {
          const remotePort = socket.remotePort ?? 0;
          const peer = formatHostPort(remoteAddress, remotePort);
          this.emit('deny', { remoteAddress, remotePort, peer, rule: access.reason(remoteAddress) });
        }
        return;
      }
    }
    const max = this.#options.maxConnections;
    if (max > 0 && this.#live.size >= max) {
      this.#refuseSocket(socket);
      return;
    }
    if (this.#tls) {
      this.#tls.emit('connection', socket);
      return;
    }
    this.#admit(socket);
  }

  /** A connection past the access list, the limit and (with TLS) its handshake: hand it to the handler. */
  #admit(socket: net.Socket): void {
    if (!this.#accepting) {
      socket.destroy();
      return;
    }
    const conn = new TcpServerConnection(this as TcpServer<StreamServerAddress>, this.#nextId++, socket);
    (socket as TaggedSocket)[CONN] = conn;
    this.#live.add(conn);
    this.#accepted++;
    if (this.#live.size > this.#peak) this.#peak = this.#live.size;
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    if (this.#options.idleTimeout > 0) {
      socket.setTimeout(this.#options.idleTimeout, onSocketIdle);
    }
    if (this.#options.once) this.#stopAccepting();
    try {
      this.#handler(conn);
    } catch (err) {
      conn.close('error', `handler failed: ${(err as Error)?.message ?? String(err)}`);
    }
    this.emit('connect', conn);
  }

  /**
   * Refuse a client cleanly: send FIN at once and read (and drop) what it sends until it closes, so the
   * kernel does not answer its unread data with a reset. At most {@link REFUSING_CAP} refusals linger (for
   * up to a second each); past that, under a flood, extra clients are closed at once.
   */
  #refuseSocket(socket: net.Socket): void {
    this.#refused++;
    if (this.listenerCount('refuse') > 0) {
      const remoteAddress = socket.remoteAddress ?? 'unknown';
      const remotePort = socket.remotePort ?? 0;
      this.emit('refuse', { remoteAddress, remotePort, peer: formatHostPort(remoteAddress, remotePort) });
    }
    if (this.#refusing >= REFUSING_CAP) {
      socket.destroy();
      return;
    }
    this.#refusing++;
    socket.on('error', ignore);
    socket.once('close', () => {
      this.#refusing--;
    });
    socket.setTimeout(REFUSING_LINGER_MS, () => socket.destroy());
    socket.resume();
    socket.end();
  }
  #refusing = 0;

  /** accept(2) failed: count it; report once per burst (at most once a second). */
  #acceptError(err: NodeJS.ErrnoException): void {
    this.#acceptErrors++;
    this.#lastAcceptError = err;
    debug('tcp', 'accept failed', { error: err.message });
    if (this.#acceptErrorTimer) return;
    this.#reportAcceptErrors(true);
  }

  /** One `accept-error` event for the failures not yet reported; `again`: hold the next one for a second. */
  #reportAcceptErrors(again: boolean): void {
    this.#acceptErrorTimer = undefined;
    const count = this.#acceptErrors - this.#acceptErrorsReported;
    if (count === 0) return;
    this.#acceptErrorsReported = this.#acceptErrors;
    const e = this.#lastAcceptError as NodeJS.ErrnoException;
    const code = e.code ?? 'EUNKNOWN';
    const message = toSoketError(e, 'Cannot accept connections').message;
    this.emit('accept-error', { code, count, message });
    if (!again) return;
    this.#acceptErrorTimer = setTimeout(() => this.#reportAcceptErrors(true), 1000);
    this.#acceptErrorTimer.unref();
  }

  #maybeAllClosed(): void {
    if (!this.#listenerClosed || this.#live.size > 0) return;
    this.#resolveAllClosed();
    // A `once` server ends by itself when its one client is gone.
    if (!this.closing) this.finish();
  }

  #stopAccepting(): void {
    if (!this.#accepting) return;
    this.#accepting = false;
    this.server.close();
  }

  #waitDrained(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiters = this.#drainWaiters;
      function done() {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i !== -1) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  /** @internal The shared 'close' listener calls this with the socket's connection. */
  finishConnection(conn: TcpServerConnection): void {
    if (!this.#live.delete(conn)) return;
    const s = conn.socket;
    const bytesIn = s.bytesRead;
    const bytesOut = s.bytesWritten;
    this.#bytesIn += bytesIn;
    this.#bytesOut += bytesOut;
    this.#closed++;
    let reason = conn.reason;
    if (reason === undefined) reason = s.readableEnded ? 'client-closed' : 'server-closed';
    this.#reasons[reason] = (this.#reasons[reason] ?? 0) + 1;
    if (this.listenerCount('disconnect') > 0) {
      const summary: TcpConnectionSummary = {
        id: conn.id,
        remoteAddress: conn.remoteAddress,
        remotePort: conn.remotePort,
        peer: conn.peer,
        bytesIn,
        bytesOut,
        durationMs: performance.now() - conn.startedAt,
        reason,
      };
      if (conn.detail !== undefined) summary.detail = conn.detail;
      this.emit('disconnect', summary);
    }
    if (this.#live.size === 0) {
      for (const w of [...this.#drainWaiters]) w();
      this.#maybeAllClosed();
    }
  }
}

/** Most refused clients kept (for a clean FIN) at once. */
const REFUSING_CAP = 1024;
/** How long a refused client may linger before it is closed. */
const REFUSING_LINGER_MS = 1000;
/**
 * Descriptors kept free under the open-files limit (RLIMIT_NOFILE). When every descriptor is taken, accept(2)
 * fails with EMFILE and libuv closes the waiting clients itself without telling Node, so nothing could count
 * them; instead a connection accepted into the last few descriptors is closed at once and counted.
 */
const FD_RESERVE = 8;

function ignore(): void {}

// Shared socket listeners (no per-connection closures). `this` is the socket.
function onSocketError(this: TaggedSocket, err: NodeJS.ErrnoException): void {
  const conn = this[CONN];
  if (!conn || conn.reason !== undefined) return;
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
    conn.reason = 'reset';
    conn.detail = err.code === 'EPIPE' ? 'broken pipe' : 'connection reset by peer';
  } else {
    conn.reason = 'error';
    conn.detail = toSoketError(err).message;
  }
}

function onSocketIdle(this: TaggedSocket): void {
  const conn = this[CONN];
  if (!conn) return;
  const ms = this.timeout ?? 0;
  conn.close('idle-timeout', `no data for ${ms} ms`);
}

function onSocketClose(this: TaggedSocket): void {
  const conn = this[CONN];
  if (conn) conn.server.finishConnection(conn);
}

/**
 * Whether this Node can bind several listeners to one port with SO_REUSEPORT (`reusePort`, Node ≥ 22.12
 * and ≥ 23.1). Probed once by binding two listeners to one loopback port.
 *
 * @returns true when `reusePort: true` works
 * @example
 * ```ts
 * if (await reusePortSupported()) console.log('each worker binds its own socket');
 * ```
 */
export async function reusePortSupported(): Promise<boolean> {
  if (reusePortProbe === undefined) reusePortProbe = probeReusePort();
  return reusePortProbe;
}
let reusePortProbe: Promise<boolean> | undefined;

async function probeReusePort(): Promise<boolean> {
  const listen = (port: number) =>
    new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen({ host: '127.0.0.1', port, reusePort: true, exclusive: true } as net.ListenOptions, () =>
        resolve(s),
      );
    });
  let a: net.Server | undefined;
  let b: net.Server | undefined;
  try {
    a = await listen(0);
    b = await listen((a.address() as net.AddressInfo).port);
    return true;
  } catch {
    return false;
  } finally {
    a?.close();
    b?.close();
  }
}

type CheckedOptions = Required<
  Omit<TcpServerOptions, 'socketOptions' | 'signal' | 'path' | 'unixPerm' | 'tls' | 'access'>
>;

function checkOptions(options: TcpServerOptions): CheckedOptions {
  const o = { ...TCP_SERVER_DEFAULTS, ...options };
  return {
    host: parseHost(o.host, 'listen address'),
    port: parsePort(o.port, { allowZero: true }),
    backlog: parseInteger(o.backlog, 'backlog', { min: 0, max: 65535 }),
    ipv6Only: checkBoolean(o.ipv6Only, 'ipv6Only') ?? false,
    maxConnections: parseInteger(o.maxConnections, 'max connections', { min: 0 }),
    idleTimeout: checkTimeout(o.idleTimeout, { what: 'idle timeout' }) ?? 0,
    closeTimeout: checkTimeout(o.closeTimeout, { what: 'close timeout' }) ?? 0,
    once: checkBoolean(o.once, 'once') ?? false,
    noDelay: checkBoolean(o.noDelay, 'noDelay') ?? false,
    reusePort: checkBoolean(o.reusePort, 'reusePort') ?? false,
    exclusive: checkBoolean(o.exclusive, 'exclusive') ?? false,
  };
}

/**
 * Start a TCP server and resolve once it listens.
 *
 * @param options - where to listen and how to treat connections; see {@link TcpServerOptions}
 * @param handler - what to do with each connection (e.g. `echoHandler()` from `tcp-modes`)
 * @returns the listening server
 * @throws {ValidationError} for bad options
 * @throws {NetworkError} when it cannot listen (`EADDRINUSE`, `EACCES`, ...)
 * @throws {UnsupportedError} for `reusePort` on a Node without it, or socket options without FFI
 * @throws {AbortError} when the signal fires before it listens
 * @example
 * ```ts
 * import { createTcpServer, echoHandler } from 'soket';
 * const server = await createTcpServer({ host: '127.0.0.1', port: 0, idleTimeout: 30_000 }, echoHandler());
 * console.log(`echo on port ${server.address.port}`);
 * process.on('SIGINT', () => void server.close());
 * ```
 */
export async function createTcpServer(options: TcpServerOptions, handler: TcpHandler): Promise<TcpServer> {
  // async: bad options reject the promise rather than throw before it exists
  return listening(new TcpServer(options, handler));
}
