/**
 * A stream relay (port forwarder): every client that connects to `listen` gets its own connection to
 * `target`, and bytes flow both ways until both sides are done. Either side may be TCP, a Unix socket or
 * TLS: `tls:` on the listening side terminates TLS, on the target side originates it.
 *
 * - **Half-close**: when one side shuts down its write half (FIN, or TLS close_notify), the relay shuts down
 *   the same half towards the other side and keeps relaying the other direction until it ends too.
 * - **Backpressure**: each direction is a stream pipe: when the receiving side's send buffer is full, the
 *   relay stops reading from the sending side until it drains, so a slow side slows the fast one (TCP flow
 *   control) and the relay's memory per connection stays bounded by the sockets' high-water marks.
 * - **Limits**: `maxConnections` (more clients get a clean FIN and are counted as refused), `idleTimeout`
 *   (nothing moved either way), `connectTimeout` to the target, an allow/deny list checked at accept.
 * - **PROXY protocol**: `sendProxy` prepends a v1 or v2 header with the client's addresses to the upstream
 *   connection; `acceptProxy` reads one from each client first (and relays the client's own bytes after it).
 * - A target that refuses closes that client's connection cleanly (reason `target-failed`); the relay keeps
 *   serving. Each connection ends with one `disconnect` event: bytes each way, duration, reason.
 *
 * @module
 */
import net from 'node:net';
import {
  encodeProxyHeader,
  type ProxyHeader,
  type ProxyInetAddress,
  readProxyHeader,
} from '../codec/proxy-protocol.js';
import { AccessList, createAccessList } from '../core/cidr.js';
import { debug } from '../core/debug.js';
import { TimeoutError, toSoketError, ValidationError } from '../core/errors.js';
import { type CloseOptions, listening, type ServerAddress, ServerLifecycle } from '../core/lifecycle.js';
import {
  checkBoolean,
  checkFunction,
  checkOptionsObject,
  checkTimeout,
  describeValue,
  parseInteger,
} from '../core/validate.js';
import {
  formatStreamAddress,
  parseStreamAddress,
  parseUnixPerm,
  type StreamAddress,
} from './stream-address.js';
import { connectStream } from './stream-connect.js';
import { StreamListener, type StreamPeer } from './stream-listener.js';
import {
  type PreparedTlsClient,
  type PreparedTlsServer,
  prepareTlsClient,
  prepareTlsServer,
  type TlsClientOptions,
  type TlsServerOptions,
} from './tls-config.js';

/** Options of {@link RelayServer}. Defaults in {@link RELAY_DEFAULTS}. */
export interface RelayOptions {
  /** Where to listen: `PORT`, `HOST:PORT`, `unix:/path`, `unix:@name`, `tls:HOST:PORT` (TLS termination). */
  listen: string | StreamAddress;
  /** Where to connect for each client: `HOST:PORT`, `unix:/path`, `tls:HOST:PORT` (TLS origination). */
  target: string | StreamAddress;
  /** TLS settings of the listening side (with `tls:`; no certificate: an ephemeral self-signed one). */
  listenTls?: TlsServerOptions | PreparedTlsServer;
  /** TLS settings towards the target (with `tls:`). @default system CAs, SNI = the target host */
  targetTls?: TlsClientOptions | PreparedTlsClient;
  /** Most clients at once; more get a clean FIN and count as refused. 0: no limit. @default 0 */
  maxConnections?: number;
  /** Close a relayed connection after this many ms with no data either way. 0: never. @default 0 */
  idleTimeout?: number;
  /** Milliseconds to connect to the target (and finish its TLS handshake). @default 10000 */
  connectTimeout?: number;
  /** How long {@link RelayServer.close} lets open connections finish, in ms. @default 5000 */
  closeTimeout?: number;
  /** Peers let in (CIDR text or rules); TCP listeners only. @default everyone */
  allow?: string | readonly string[];
  /** Peers refused, checked before `allow`. @default none */
  deny?: string | readonly string[];
  /** Or a ready access list (instead of `allow`/`deny`). */
  access?: AccessList;
  /** Send a PROXY protocol header (version 1 or 2) to the target first. @default none */
  sendProxy?: 1 | 2;
  /** Read a PROXY protocol header from each client first. @default false */
  acceptProxy?: boolean;
  /** Milliseconds a client has to send its PROXY header. @default 5000 */
  proxyTimeout?: number;
  /** Mode of a Unix listening socket file. @default the umask's */
  unixPerm?: number;
  /** Kernel accept queue length. @default 511 */
  backlog?: number;
  /** See every chunk relayed (for a hex dump). Slows the relay a little; leave unset otherwise. */
  onData?: (id: number, direction: 'up' | 'down', data: Uint8Array) => void;
  /** Closes the relay when it fires. */
  signal?: AbortSignal;
}

/** Every default of {@link RelayOptions}, in one place. */
export const RELAY_DEFAULTS = {
  maxConnections: 0,
  idleTimeout: 0,
  connectTimeout: 10_000,
  closeTimeout: 5000,
  proxyTimeout: 5000,
  backlog: 511,
} as const;

/** Why a relayed connection ended. */
export type RelayCloseReason =
  /** Both sides finished (each shut down its half). */
  | 'done'
  /** The client reset or failed. */
  | 'client-error'
  /** The target reset or failed after connecting. */
  | 'target-error'
  /** The target could not be reached (refused, timed out, TLS failed). */
  | 'target-failed'
  /** Nothing moved for `idleTimeout` ms. */
  | 'idle-timeout'
  /** The client's PROXY header was missing, late or malformed. */
  | 'bad-proxy-header'
  /** The relay was closing and the connection outlived `closeTimeout`. */
  | 'shutdown';

/** One relayed connection, once it ends. */
export interface RelaySummary {
  /** Sequence number, from 1. */
  id: number;
  /** The client: `127.0.0.1:50000`, or `unix`. */
  peer: string;
  /** The client's address according to its PROXY header (with `acceptProxy`). */
  proxiedPeer?: string;
  /** The target as text. */
  target: string;
  /** Bytes from the client to the target. */
  bytesUp: number;
  /** Bytes from the target to the client. */
  bytesDown: number;
  /** Milliseconds from accept to close. */
  durationMs: number;
  /** Why it ended. */
  reason: RelayCloseReason;
  /** Details (the error). */
  detail?: string;
}

/** A relayed connection, as it starts (the target is connected). */
export interface RelayConnectInfo {
  id: number;
  peer: string;
  proxiedPeer?: string;
  target: string;
  /** Milliseconds to connect to the target. */
  connectMs: number;
}

/** Counters of a relay. */
export interface RelayStats {
  /** Clients accepted (past the access list and the limit). */
  accepted: number;
  /** Relayed connections open now. */
  active: number;
  /** Most open at once. */
  peak: number;
  /** Clients turned away by `maxConnections`. */
  refused: number;
  /** Clients turned away by the access list. */
  denied: number;
  /** Clients whose TLS handshake failed. */
  tlsErrors: number;
  /** Connections whose target could not be reached. */
  targetFailures: number;
  /** Connections ended. */
  closed: number;
  /** Bytes client → target, ended and open connections. */
  bytesUp: number;
  /** Bytes target → client. */
  bytesDown: number;
  /** Ended connections by reason. */
  reasons: Partial<Record<RelayCloseReason, number>>;
}

/** Events of a {@link RelayServer}. */
export interface RelayEvents {
  /** A client is being relayed (its target connection is up). */
  connect: [info: RelayConnectInfo];
  /** A relayed connection ended. */
  disconnect: [summary: RelaySummary];
  /** A client was refused: `max-conns` or `denied` (with the rule). */
  refuse: [refusal: { peer: string; why: 'max-conns' | 'denied'; rule?: string }];
  /** A client's TLS handshake failed. */
  'tls-error': [failure: { peer: string; message: string }];
}

interface Checked {
  listen: StreamAddress;
  target: StreamAddress;
  maxConnections: number;
  idleTimeout: number;
  connectTimeout: number;
  closeTimeout: number;
  proxyTimeout: number;
  backlog: number;
  sendProxy: 1 | 2 | undefined;
  acceptProxy: boolean;
  access: AccessList | undefined;
  targetTls: PreparedTlsClient | undefined;
}

/** An address given parsed (or not at all). */
function givenAddress(value: StreamAddress | undefined, what: string): StreamAddress {
  if (value === undefined) throw new ValidationError(`A relay needs a ${what}`);
  // formatStreamAddress checks it is one from parseStreamAddress
  formatStreamAddress(value);
  return value;
}

function checkOptions(o: RelayOptions): Checked {
  if (typeof o !== 'object' || o === null)
    throw new ValidationError('Invalid relay options: expected an object');
  const listen =
    typeof o.listen === 'string'
      ? parseStreamAddress(o.listen, { defaultHost: '127.0.0.1', allowZero: true, what: 'listen address' })
      : givenAddress(o.listen, 'listen address');
  const target =
    typeof o.target === 'string'
      ? parseStreamAddress(o.target, { what: 'target' })
      : givenAddress(o.target, 'target');
  checkOptionsObject(o.listenTls, 'listenTls');
  checkOptionsObject(o.targetTls, 'targetTls');
  if (o.access !== undefined && !(o.access instanceof AccessList)) {
    throw new ValidationError(
      `Invalid access '${describeValue(o.access)}': expected an access list (createAccessList)`,
    );
  }
  if (o.unixPerm !== undefined) {
    if (typeof o.unixPerm !== 'number')
      throw new ValidationError(`Invalid unixPerm '${describeValue(o.unixPerm)}': expected a number`);
    parseUnixPerm(o.unixPerm, 'unixPerm');
  }
  checkFunction(o.onData, 'onData');
  if (o.sendProxy !== undefined && o.sendProxy !== 1 && o.sendProxy !== 2) {
    throw new ValidationError(`Invalid PROXY protocol version '${String(o.sendProxy)}': expected 1 or 2`);
  }
  const hasRules = o.allow !== undefined || o.deny !== undefined;
  if (hasRules && o.access) throw new ValidationError('Give allow/deny or an access list, not both');
  const access = o.access ?? (hasRules ? createAccessList({ allow: o.allow, deny: o.deny }) : undefined);
  if (access?.active && listen.kind === 'unix') {
    throw new ValidationError('Allow/deny lists apply to TCP listeners; a Unix socket peer has no address');
  }
  const d = RELAY_DEFAULTS;
  let targetTls: PreparedTlsClient | undefined;
  if (target.tls) {
    const t = o.targetTls ?? {};
    targetTls =
      'handshakeTimeout' in t && 'pin' in t && typeof t.insecure === 'boolean'
        ? (t as PreparedTlsClient)
        : prepareTlsClient(t as TlsClientOptions);
  }
  return {
    listen,
    target,
    maxConnections: parseInteger(o.maxConnections ?? d.maxConnections, 'max connections', { min: 0 }),
    idleTimeout: checkTimeout(o.idleTimeout, { what: 'idle timeout' }) ?? 0,
    connectTimeout: checkTimeout(o.connectTimeout, { what: 'connect timeout' }) ?? d.connectTimeout,
    closeTimeout:
      o.closeTimeout === 0 ? 0 : (checkTimeout(o.closeTimeout, { what: 'close timeout' }) ?? d.closeTimeout),
    proxyTimeout: checkTimeout(o.proxyTimeout, { what: 'PROXY header timeout' }) ?? d.proxyTimeout,
    backlog: parseInteger(o.backlog ?? d.backlog, 'backlog', { min: 0, max: 65535 }),
    sendProxy: o.sendProxy,
    acceptProxy: checkBoolean(o.acceptProxy, 'acceptProxy') ?? false,
    access,
    targetTls,
  };
}

/** One relayed connection's state. */
class Relayed {
  upstream: net.Socket | undefined;
  reason: RelayCloseReason | undefined;
  detail: string | undefined;
  proxiedPeer: string | undefined;
  proxySource: ProxyInetAddress | undefined;
  readonly startedAt = performance.now();
  constructor(
    readonly id: number,
    readonly client: net.Socket,
    readonly peer: StreamPeer,
  ) {}

  fail(reason: RelayCloseReason, detail?: string): void {
    if (this.reason === undefined) {
      this.reason = reason;
      this.detail = detail;
    }
    this.client.destroy();
    this.upstream?.destroy();
  }
}

/**
 * A stream relay with the common server lifecycle. See the module notes.
 *
 * @example
 * ```ts
 * import { RelayServer } from 'soket';
 * const relay = new RelayServer({ listen: '127.0.0.1:0', target: '127.0.0.1:8080', idleTimeout: 60_000 });
 * const { port } = (await relay.listen()) as { port: number };
 * relay.on('disconnect', (s) => console.log(`${s.peer} up ${s.bytesUp} down ${s.bytesDown} ${s.reason}`));
 * const stats = await relay.close();
 * ```
 */
export class RelayServer extends ServerLifecycle<RelayStats, ServerAddress, RelayEvents> {
  protected readonly kind = 'relay';
  readonly #o: Checked;
  readonly #options: RelayOptions;
  #listener: StreamListener | undefined;
  readonly #live = new Set<Relayed>();
  readonly #targetText: string;
  #nextId = 1;
  #accepted = 0;
  #peak = 0;
  #refused = 0;
  #denied = 0;
  #tlsErrors = 0;
  #targetFailures = 0;
  #closed = 0;
  #bytesUp = 0;
  #bytesDown = 0;
  #reasons: Partial<Record<RelayCloseReason, number>> = {};
  #accepting = false;
  #drained: (() => void) | undefined;

  /**
   * @param options - listen and target addresses, TLS, limits, PROXY protocol; see {@link RelayOptions}
   * @throws {ValidationError} for bad options
   */
  constructor(options: RelayOptions) {
    super(options?.signal);
    this.#o = checkOptions(options);
    this.#options = options;
    this.#targetText = formatStreamAddress(this.#o.target);
  }

  protected async start(): Promise<ServerAddress> {
    const o = this.#o;
    let tls: PreparedTlsServer | undefined;
    if (o.listen.tls) {
      const t = this.#options.listenTls ?? {};
      tls =
        'secure' in t && 'certificate' in t
          ? (t as PreparedTlsServer)
          : await prepareTlsServer({
              ...(t as TlsServerOptions),
              selfSignedHosts: o.listen.kind === 'tcp' ? [o.listen.host] : [],
            });
    }
    this.tlsServer = tls;
    const listenerOptions: ConstructorParameters<typeof StreamListener>[0] = {
      address: o.listen,
      backlog: o.backlog,
      noDelay: true,
    };
    if (tls) listenerOptions.tls = tls;
    if (o.access) listenerOptions.access = o.access;
    if (this.#options.unixPerm !== undefined) listenerOptions.unixPerm = this.#options.unixPerm;
    const listener = new StreamListener(listenerOptions, {
      accepted: (socket) => this.#admit(socket),
      connection: (socket, peer) => this.#relay(socket, peer),
      denied: (peer, rule) => {
        this.#denied++;
        if (this.listenerCount('refuse') > 0) this.emit('refuse', { peer: peer.peer, why: 'denied', rule });
      },
      tlsError: (err, peer) => {
        this.#tlsErrors++;
        if (this.listenerCount('tls-error') > 0)
          this.emit('tls-error', { peer: peer.peer, message: err.message });
      },
      acceptError: (err) => this.reportError(toSoketError(err, 'Cannot accept a connection')),
    });
    this.#listener = listener;
    const address = await listener.listen();
    this.#accepting = true;
    debug('relay', 'listening', { address, target: this.#targetText });
    return address;
  }

  /** The listening side's TLS settings (with `tls:`), e.g. to show a self-signed certificate's fingerprint. */
  tlsServer: PreparedTlsServer | undefined;

  /** Check the limit before any work (TLS, PROXY header) is spent on a client. */
  #admit(socket: net.Socket): boolean {
    if (!this.#accepting) {
      socket.destroy();
      return false;
    }
    const max = this.#o.maxConnections;
    if (max > 0 && this.#live.size >= max) {
      this.#refused++;
      if (this.listenerCount('refuse') > 0) {
        const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix';
        this.emit('refuse', { peer, why: 'max-conns' });
      }
      socket.on('error', () => {});
      socket.setTimeout(1000, () => socket.destroy());
      socket.resume();
      socket.end();
      return false;
    }
    return true;
  }

  #relay(client: net.Socket, peer: StreamPeer): void {
    if (!this.#accepting) {
      client.destroy();
      return;
    }
    const r = new Relayed(this.#nextId++, client, peer);
    this.#live.add(r);
    this.#accepted++;
    if (this.#live.size > this.#peak) this.#peak = this.#live.size;
    client.pause();
    client.on('error', (err: NodeJS.ErrnoException) => r.fail('client-error', errText(err)));
    client.on('close', () => this.#sideClosed(r));
    if (this.#o.idleTimeout > 0) {
      client.setTimeout(this.#o.idleTimeout, () =>
        r.fail('idle-timeout', `no data for ${this.#o.idleTimeout} ms`),
      );
    }
    if (this.#o.acceptProxy) this.#readProxyHeader(r);
    else void this.#connectUpstream(r, undefined);
  }

  #readProxyHeader(r: Relayed): void {
    const client = r.client;
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(
      () => r.fail('bad-proxy-header', `no PROXY header within ${this.#o.proxyTimeout} ms`),
      this.#o.proxyTimeout,
    );
    const onData = (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      let read: ReturnType<typeof readProxyHeader>;
      try {
        read = readProxyHeader(buffered);
      } catch (err) {
        cleanup();
        r.fail('bad-proxy-header', (err as Error).message);
        return;
      }
      if (!read) return;
      cleanup();
      client.pause();
      const rest = buffered.subarray(read.length);
      if (rest.length > 0) client.unshift(rest);
      const h = read.header;
      if (h.command === 'proxy' && h.source && 'address' in h.source) {
        r.proxySource = h.source;
        r.proxiedPeer = h.source.address.includes(':')
          ? `[${h.source.address}]:${h.source.port}`
          : `${h.source.address}:${h.source.port}`;
      }
      void this.#connectUpstream(r, h);
    };
    const onEnd = () => {
      cleanup();
      r.fail('bad-proxy-header', 'the client closed before sending a PROXY header');
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onEnd);
    };
    client.on('data', onData);
    client.on('end', onEnd);
    client.resume();
  }

  async #connectUpstream(r: Relayed, _accepted: ProxyHeader | undefined): Promise<void> {
    const o = this.#o;
    const t0 = performance.now();
    let upstream: net.Socket;
    try {
      if (o.target.kind === 'tcp' && !o.target.tls) {
        upstream = await connectPlain(o.target.host, o.target.port, o.connectTimeout, this.#targetText);
      } else {
        // Only the connect phase (and the TLS handshake) is bounded: an overall `timeout` would cut the
        // relayed connection later.
        const opts: Parameters<typeof connectStream>[1] = { connectTimeout: o.connectTimeout };
        if (o.targetTls) opts.tlsOptions = { ...o.targetTls, handshakeTimeout: o.connectTimeout };
        const c = await connectStream(o.target, opts);
        upstream = c.socket;
      }
    } catch (err) {
      this.#targetFailures++;
      const e = toSoketError(err);
      debug('relay', 'target failed', { id: r.id, error: e.message });
      if (r.reason === undefined) {
        r.reason = 'target-failed';
        r.detail = e.message;
      }
      // Close the client cleanly: FIN, drop what it sends, give up after a second.
      const client = r.client;
      if (!client.destroyed) {
        client.setTimeout(1000, () => client.destroy());
        client.resume();
        client.end();
      }
      return;
    }
    if (r.client.destroyed || r.reason !== undefined) {
      upstream.destroy();
      return;
    }
    r.upstream = upstream;
    upstream.setNoDelay?.(true);
    // connectTcp's own timeouts are for connecting: the relay's idle timeout is on the client socket.
    upstream.setTimeout(0);
    upstream.on('error', (err: NodeJS.ErrnoException) => r.fail('target-error', errText(err)));
    upstream.on('close', () => this.#sideClosed(r));
    if (o.sendProxy) {
      const header = this.#proxyHeaderFor(r, o.sendProxy);
      upstream.write(header);
    }
    const client = r.client;
    const onData = this.#options.onData;
    if (onData) {
      client.on('data', (d: Buffer) => onData(r.id, 'up', d));
      upstream.on('data', (d: Buffer) => onData(r.id, 'down', d));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    if (this.listenerCount('connect') > 0) {
      const info: RelayConnectInfo = {
        id: r.id,
        peer: r.peer.peer,
        target: this.#targetText,
        connectMs: performance.now() - t0,
      };
      if (r.proxiedPeer) info.proxiedPeer = r.proxiedPeer;
      this.emit('connect', info);
    }
  }

  #proxyHeaderFor(r: Relayed, version: 1 | 2): Uint8Array {
    const client = r.client;
    const src = r.proxySource ?? { address: r.peer.remoteAddress, port: r.peer.remotePort };
    const dst = { address: client.localAddress ?? '', port: client.localPort ?? 0 };
    const unmap = (a: string) => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);
    const s = unmap(src.address);
    const d = unmap(dst.address);
    const v4 = /^\d+\.\d+\.\d+\.\d+$/;
    const family =
      v4.test(s) && v4.test(d) ? 'inet' : s.includes(':') && d.includes(':') ? 'inet6' : undefined;
    if (!family) {
      return encodeProxyHeader({
        version,
        command: version === 2 ? 'local' : 'proxy',
        family: 'unspec',
        transport: 'unspec',
      });
    }
    return encodeProxyHeader({
      version,
      command: 'proxy',
      family,
      transport: 'stream',
      source: { address: s, port: src.port },
      destination: { address: d, port: dst.port },
    });
  }

  #sideClosed(r: Relayed): void {
    if (!r.client.destroyed) return;
    if (r.upstream && !r.upstream.destroyed) {
      // The client is gone for good: the upstream has nobody to deliver to.
      if (r.reason === undefined && !r.client.readableEnded) r.reason = 'client-error';
      r.upstream.destroy();
      return;
    }
    if (!this.#live.delete(r)) return;
    const up = r.client.bytesRead;
    const down = r.upstream ? r.upstream.bytesRead : 0;
    this.#bytesUp += up;
    this.#bytesDown += down;
    this.#closed++;
    const reason = r.reason ?? 'done';
    this.#reasons[reason] = (this.#reasons[reason] ?? 0) + 1;
    if (this.listenerCount('disconnect') > 0) {
      const s: RelaySummary = {
        id: r.id,
        peer: r.peer.peer,
        target: this.#targetText,
        bytesUp: up,
        bytesDown: down,
        durationMs: performance.now() - r.startedAt,
        reason,
      };
      if (r.proxiedPeer) s.proxiedPeer = r.proxiedPeer;
      if (r.detail !== undefined) s.detail = r.detail;
      this.emit('disconnect', s);
    }
    if (this.#live.size === 0) this.#drained?.();
  }

  protected async stop(timeout: number | undefined): Promise<void> {
    this.#accepting = false;
    this.#listener?.close();
    const bound = timeout ?? this.#o.closeTimeout;
    if (this.#live.size > 0 && bound > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, bound);
        this.#drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    if (this.#live.size > 0) {
      const all = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      for (const r of [...this.#live]) r.fail('shutdown');
      await all;
    }
  }

  /** Stop accepting, let open connections finish up to `timeout` ms (default `closeTimeout`), then cut them. */
  override close(options: CloseOptions = {}): Promise<RelayStats> {
    return super.close(options);
  }

  /** Relayed connections open now. */
  get active(): number {
    return this.#live.size;
  }

  stats(): RelayStats {
    let up = this.#bytesUp;
    let down = this.#bytesDown;
    for (const r of this.#live) {
      up += r.client.bytesRead;
      down += r.upstream?.bytesRead ?? 0;
    }
    return {
      accepted: this.#accepted,
      active: this.#live.size,
      peak: this.#peak,
      refused: this.#refused,
      denied: this.#denied,
      tlsErrors: this.#tlsErrors,
      targetFailures: this.#targetFailures,
      closed: this.#closed,
      bytesUp: up,
      bytesDown: down,
      reasons: { ...this.#reasons },
    };
  }
}

/**
 * The upstream TCP connection: a plain `net.Socket` (no wrapper in the data path, as the relay copies every
 * chunk through it), half-open, TCP_NODELAY, bounded by the connect timeout.
 */
function connectPlain(host: string, port: number, timeout: number, target: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TimeoutError('connect', target, timeout));
    }, timeout);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(toSoketError(err, `Cannot reach ${target}`));
    };
    socket.once('error', onError);
  });
}

function errText(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNRESET') return 'connection reset';
  if (err.code === 'EPIPE') return 'broken pipe';
  return toSoketError(err).message;
}

/**
 * Start a relay and wait until it listens.
 *
 * @param options - see {@link RelayOptions}
 * @returns the listening relay
 * @throws {ValidationError} for bad options
 * @throws {NetworkError} when it cannot listen
 * @example
 * ```ts
 * import { createRelay } from 'soket';
 * const relay = await createRelay({ listen: '127.0.0.1:8443', target: '127.0.0.1:8080', listenTls: {} });
 * console.log(relay.tlsServer?.certificate.pin); // the self-signed certificate's pin
 * ```
 */
export async function createRelay(options: RelayOptions): Promise<RelayServer> {
  return listening(new RelayServer(options));
}
