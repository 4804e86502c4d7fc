/**
 * A UDP relay (port forwarder for datagrams): datagrams that clients send to `listen` go on to `target`,
 * and the target's replies come back to the client that caused them.
 *
 * UDP has no connections, so the relay keeps a table of clients (address and port). Each client gets its own
 * upstream socket, bound to a free port and connected to the target: the target sees one source per client,
 * and whatever comes back on that socket belongs to that client (the kernel delivers only the target's
 * datagrams to a connected socket, and reports an ICMP port unreachable from it as a refusal, counted).
 *
 * - **Idle expiry**: a client that sent and received nothing for `idleTimeout` ms is dropped and its upstream
 *   socket closed (checked a few times per `idleTimeout`, so the expiry happens within about 1.25× of it).
 * - **A bounded table**: at most `maxClients` at once (each costs a socket, a file descriptor). A new client
 *   beyond that evicts the one idle longest, and the eviction is counted and reported.
 * - **Allow/deny**: CIDR rules checked for each new client; a denied client's datagrams are dropped and counted
 *   (reported once per client until the table of reported peers fills).
 * - **IPv4 ↔ IPv6**: the listening socket and the upstream sockets each have their own family; a relay on
 *   `[::1]:5353` can forward to `127.0.0.1:53` and the other way round.
 * - Every client that ends (idle, evicted, relay closed) is reported with its datagram and byte counters.
 *
 * @module
 */
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import { isIP } from 'node:net';
import { type AccessList, createAccessList } from '../core/cidr.js';
import { withTimeout } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import { type InetAddress, listening, ServerLifecycle } from '../core/lifecycle.js';
import { checkBoolean, formatHostPort, parseHostPort, parseInteger } from '../core/validate.js';

/** Options of {@link UdpRelay}. Defaults in {@link UDP_RELAY_DEFAULTS}. */
export interface UdpRelayOptions {
  /** Where to listen: `PORT` (on 127.0.0.1), `HOST:PORT`, `[::]:PORT`; or `{ host, port }`. */
  listen: string | { host: string; port: number };
  /** Where to forward: `HOST:PORT`, `[v6]:PORT`; or `{ host, port }`. A name is resolved once, at `listen()`. */
  target: string | { host: string; port: number };
  /** Address family for a target name: 0 any, 4 or 6. @default 0 */
  targetFamily?: 0 | 4 | 6;
  /** Drop a client after this many ms without a datagram either way. @default 60000 */
  idleTimeout?: number;
  /** Most clients at once; a new one beyond this evicts the one idle longest. @default 512 */
  maxClients?: number;
  /** Peers let in (CIDR text). @default everyone */
  allow?: string | readonly string[];
  /** Peers refused, checked before `allow`. @default none */
  deny?: string | readonly string[];
  /** Or a ready access list (instead of `allow`/`deny`). */
  access?: AccessList;
  /** With a `[::]` listener, IPv6 only. @default false */
  ipv6Only?: boolean;
  /** SO_RCVBUF of the listening socket, bytes; 0 keeps the system default. @default 0 */
  receiveBufferSize?: number;
  /** SO_SNDBUF of the listening socket, bytes; 0 keeps the system default. @default 0 */
  sendBufferSize?: number;
  /** Milliseconds for resolving a target name. @default 5000 */
  lookupTimeout?: number;
  /** See every datagram relayed (for a hex dump). Slows the relay a little; leave unset otherwise. */
  onData?: (client: UdpRelayClientInfo, direction: 'up' | 'down', data: Uint8Array) => void;
  /** Closes the relay when it fires. */
  signal?: AbortSignal;
}

/** Every default of {@link UdpRelayOptions}, in one place. */
export const UDP_RELAY_DEFAULTS = {
  targetFamily: 0,
  idleTimeout: 60_000,
  maxClients: 512,
  ipv6Only: false,
  receiveBufferSize: 0,
  sendBufferSize: 0,
  lookupTimeout: 5000,
} as const;

/** A client of the relay, as it starts. */
export interface UdpRelayClientInfo {
  /** Sequence number, from 1. */
  id: number;
  /** The client: `127.0.0.1:50000`. */
  peer: string;
  /** The upstream socket's local address and port (what the target sees). */
  via: string;
  /** The target: `127.0.0.1:53`. */
  target: string;
}

/** Why a client left the table. */
export type UdpRelayEndReason =
  /** Nothing moved for `idleTimeout` ms. */
  | 'idle'
  /** The table was full and a new client needed its place. */
  | 'evicted'
  /** The relay closed. */
  | 'shutdown'
  /** Its upstream socket failed. */
  | 'error';

/** A client that left the table, with its counters. */
export interface UdpRelayClientSummary extends UdpRelayClientInfo {
  /** Datagrams client → target. */
  datagramsUp: number;
  /** Datagrams target → client. */
  datagramsDown: number;
  /** Payload bytes client → target. */
  bytesUp: number;
  /** Payload bytes target → client. */
  bytesDown: number;
  /** ICMP port-unreachable reports from the target for this client's datagrams. */
  refused: number;
  /** Milliseconds from its first datagram to its end. */
  durationMs: number;
  /** Why it ended. */
  reason: UdpRelayEndReason;
  /** Details (the error). */
  detail?: string;
}

/** Counters of a {@link UdpRelay}. */
export interface UdpRelayStats {
  /** Clients in the table now. */
  clients: number;
  /** Most clients at once. */
  peak: number;
  /** Clients seen in all (table entries made). */
  clientsTotal: number;
  /** Clients dropped for idleness. */
  expired: number;
  /** Clients evicted because the table was full. */
  evicted: number;
  /** Datagrams dropped because their sender was denied. */
  denied: number;
  /** Datagrams client → target. */
  datagramsUp: number;
  /** Datagrams target → client. */
  datagramsDown: number;
  /** Payload bytes client → target. */
  bytesUp: number;
  /** Payload bytes target → client. */
  bytesDown: number;
  /** ICMP port-unreachable reports from the target. */
  refused: number;
  /** Sends that failed (either direction; counted, the relay carries on). */
  sendErrors: number;
  /** Datagrams dropped while a client's upstream socket was still being set up (more than 64 queued). */
  dropped: number;
}

/** Events of a {@link UdpRelay} (besides the lifecycle's `listening`, `close` and `error`). */
export interface UdpRelayEvents {
  /** A new client: its upstream socket is ready. */
  client: [info: UdpRelayClientInfo];
  /** A client left the table (idle, evicted, shutdown), with its counters. */
  expire: [summary: UdpRelayClientSummary];
  /** Datagrams from a denied peer are being dropped (reported once per peer, as far as memory allows). */
  deny: [refusal: { peer: string; rule: string }];
}

/** Datagrams held per client while its upstream socket binds and connects. */
const PENDING_LIMIT = 64;
/** Denied peers remembered so that each is reported once. */
const DENY_REPORT_LIMIT = 1024;

class Client {
  readonly id: number;
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly peer: string;
  readonly started = performance.now();
  socket: dgram.Socket;
  via = '';
  ready = false;
  closed = false;
  pending: Buffer[] = [];
  lastTick: number;
  datagramsUp = 0;
  datagramsDown = 0;
  bytesUp = 0;
  bytesDown = 0;
  refused = 0;

  constructor(id: number, key: string, address: string, port: number, socket: dgram.Socket, tick: number) {
    this.id = id;
    this.key = key;
    this.address = address;
    this.port = port;
    this.peer = formatHostPort(address, port);
    this.socket = socket;
    this.lastTick = tick;
  }
}

interface Checked {
  listen: { host: string; port: number };
  target: { host: string; port: number };
  targetFamily: 0 | 4 | 6;
  idleTimeout: number;
  maxClients: number;
  access: AccessList | undefined;
  ipv6Only: boolean;
  receiveBufferSize: number;
  sendBufferSize: number;
  lookupTimeout: number;
}

function hostPort(value: unknown, what: string, listen: boolean): { host: string; port: number } {
  if (typeof value === 'string') {
    return listen
      ? parseHostPort(value, { defaultHost: '127.0.0.1', allowZero: true })
      : parseHostPort(value, { allowZero: false });
  }
  if (typeof value === 'object' && value !== null) {
    const v = value as { host?: unknown; port?: unknown };
    if (typeof v.host === 'string' && (typeof v.port === 'number' || typeof v.port === 'string')) {
      return parseHostPort(`${v.host.includes(':') ? `[${v.host}]` : v.host}:${v.port}`, {
        allowZero: listen,
      });
    }
  }
  throw new ValidationError(`Invalid ${what} '${String(value)}': expected HOST:PORT or { host, port }`);
}

function checkOptions(options: UdpRelayOptions): Checked {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid UDP relay options: expected an object such as { listen, target }');
  }
  const o = { ...UDP_RELAY_DEFAULTS, ...options };
  const listen = hostPort(o.listen, 'listen address', true);
  const target = hostPort(o.target, 'target', false);
  if (o.targetFamily !== 0 && o.targetFamily !== 4 && o.targetFamily !== 6) {
    throw new ValidationError(`Invalid targetFamily '${String(o.targetFamily)}': expected 0, 4 or 6`);
  }
  const ms = (v: unknown, what: string, min: number) =>
    parseInteger(v as number, what, { min, max: 2_147_483_647 });
  if (options.access !== undefined && (options.allow !== undefined || options.deny !== undefined)) {
    throw new ValidationError('Give either access or allow/deny, not both');
  }
  const access =
    options.access ??
    (options.allow !== undefined || options.deny !== undefined
      ? createAccessList({ allow: options.allow, deny: options.deny })
      : undefined);
  return {
    listen,
    target,
    targetFamily: o.targetFamily,
    idleTimeout: ms(o.idleTimeout, 'idleTimeout', 1),
    maxClients: parseInteger(o.maxClients, 'maxClients', { min: 1, max: 1_000_000 }),
    access: access?.active ? access : undefined,
    ipv6Only: checkBoolean(o.ipv6Only, 'ipv6Only') ?? false,
    receiveBufferSize: ms(o.receiveBufferSize, 'receiveBufferSize', 0),
    sendBufferSize: ms(o.sendBufferSize, 'sendBufferSize', 0),
    lookupTimeout: ms(o.lookupTimeout, 'lookupTimeout', 1),
  };
}

/**
 * A UDP relay with the common server lifecycle. `listen()` binds and resolves the target; `close()` drops
 * every client (each reported with reason `shutdown`) and resolves with the final counters.
 *
 * @example
 * ```ts
 * const relay = new UdpRelay({ listen: '127.0.0.1:0', target: '127.0.0.1:53', idleTimeout: 30_000 });
 * relay.on('expire', (c) => console.log(`${c.peer}: ${c.datagramsUp} up, ${c.datagramsDown} down (${c.reason})`));
 * const { port } = await relay.listen();
 * ```
 */
export class UdpRelay extends ServerLifecycle<UdpRelayStats, InetAddress, UdpRelayEvents> {
  protected readonly kind = 'UDP relay';
  /** The listening socket (after `listen()`). */
  socket: dgram.Socket | undefined;
  readonly #o: Checked;
  readonly #onData: UdpRelayOptions['onData'];
  #targetAddress = '';
  #targetFamily: 4 | 6 = 4;
  #targetText = '';
  readonly #clients = new Map<string, Client>();
  readonly #deniedReported = new Set<string>();
  #nextId = 1;
  #tick = 0;
  #idleTicks = 4;
  #sweep: NodeJS.Timeout | undefined;
  #stats = {
    peak: 0,
    clientsTotal: 0,
    expired: 0,
    evicted: 0,
    denied: 0,
    datagramsUp: 0,
    datagramsDown: 0,
    bytesUp: 0,
    bytesDown: 0,
    refused: 0,
    sendErrors: 0,
    dropped: 0,
  };

  /**
   * @param options - see {@link UdpRelayOptions}
   * @throws {ValidationError} for bad options (checked here, before anything is bound)
   */
  constructor(options: UdpRelayOptions) {
    const checked = checkOptions(options);
    super(options.signal);
    this.#o = checked;
    if (options.onData !== undefined && typeof options.onData !== 'function') {
      throw new ValidationError('Invalid onData: expected a function');
    }
    this.#onData = options.onData;
  }

  /** The target as resolved by `listen()`: `127.0.0.1:53`. */
  get target(): string {
    return this.#targetText || formatHostPort(this.#o.target.host, this.#o.target.port);
  }

  protected async start(): Promise<InetAddress> {
    const o = this.#o;
    // The target first: a name that does not resolve fails listen() instead of every client.
    const t = o.target;
    const ip = isIP(t.host.split('%')[0] ?? '');
    if (ip !== 0) {
      if (o.targetFamily !== 0 && o.targetFamily !== ip) {
        throw new ValidationError(`Target ${t.host} is IPv${ip} but IPv${o.targetFamily} was asked for`);
      }
      this.#targetAddress = t.host;
      this.#targetFamily = ip as 4 | 6;
    } else {
      const r = await withTimeout(
        async () => {
          try {
            return await dns.lookup(t.host, { family: o.targetFamily });
          } catch (err) {
            throw toSoketError(err, `Cannot resolve the relay target '${t.host}'`);
          }
        },
        { timeout: o.lookupTimeout },
        { phase: 'lookup', target: `'${t.host}'` },
      );
      this.#targetAddress = r.address;
      this.#targetFamily = r.family === 6 ? 6 : 4;
    }
    this.#targetText = formatHostPort(this.#targetAddress, t.port);

    const host = o.listen.host;
    const where = formatHostPort(host, o.listen.port);
    const family = isIP(host.split('%')[0] ?? '') === 6 ? 6 : 4;
    const socketOpts: dgram.SocketOptions = { type: family === 6 ? 'udp6' : 'udp4', ipv6Only: o.ipv6Only };
    if (o.receiveBufferSize > 0) socketOpts.recvBufferSize = o.receiveBufferSize;
    if (o.sendBufferSize > 0) socketOpts.sendBufferSize = o.sendBufferSize;
    const socket = dgram.createSocket(socketOpts);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(toSoketError(err, `Cannot bind ${where}`));
      socket.once('error', onError);
      socket.bind({ port: o.listen.port, address: host }, () => {
        socket.off('error', onError);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    this.socket = socket;
    socket.on('message', (data, rinfo) => this.#fromClient(data, rinfo));
    socket.on('error', (err) => {
      // On the listening socket these come from sends back to clients (EMSGSIZE, ENOBUFS, ...).
      this.#stats.sendErrors++;
      debug('udp-relay', 'send to a client failed', { error: err.message });
      this.reportError(toSoketError(err, 'UDP relay send to a client failed'));
    });
    // Idle expiry: a coarse clock ticks `idleTicks` times per idleTimeout; each datagram stamps its client
    // with the tick (no timer per client, no clock read per datagram).
    const period = Math.max(1, Math.floor(o.idleTimeout / this.#idleTicks));
    this.#sweep = setInterval(() => this.#expire(), period);
    this.#sweep.unref();
    const a = socket.address();
    const address: InetAddress = { address: a.address, port: a.port, family: a.family === 'IPv6' ? 6 : 4 };
    debug('udp-relay', 'listening', { ...address, target: this.#targetText });
    return address;
  }

  #fromClient(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    let c = this.#clients.get(key);
    if (c === undefined) {
      const access = this.#o.access;
      if (access !== undefined && !access.allows(rinfo.address)) {
        this.#stats.denied++;
        if (!this.#deniedReported.has(rinfo.address) && this.#deniedReported.size < DENY_REPORT_LIMIT) {
          this.#deniedReported.add(rinfo.address);
          this.emit('deny', {
            peer: formatHostPort(rinfo.address, rinfo.port),
            rule: access.reason(rinfo.address),
          });
        }
        return;
      }
      c = this.#newClient(key, rinfo);
    } else if (c.lastTick !== this.#tick) {
      // Keep the Map in order of last activity (at most one move per client per tick): the first entry is
      // then the one idle longest, evicted first and swept first.
      c.lastTick = this.#tick;
      this.#clients.delete(key);
      this.#clients.set(key, c);
    }
    c.datagramsUp++;
    c.bytesUp += data.length;
    this.#stats.datagramsUp++;
    this.#stats.bytesUp += data.length;
    if (this.#onData) this.#onData(this.#info(c), 'up', data);
    if (c.ready) this.#sendUp(c, data);
    else if (c.pending.length < PENDING_LIMIT) c.pending.push(data);
    else this.#stats.dropped++;
  }

  #sendUp(c: Client, data: Buffer): void {
    // No callback (no closure per datagram): a failed send is an `error` event on the upstream socket.
    c.socket.send(data);
  }

  #refused(c: Client): void {
    c.refused++;
    this.#stats.refused++;
  }

  #newClient(key: string, rinfo: dgram.RemoteInfo): Client {
    if (this.#clients.size >= this.#o.maxClients) {
      const oldest = this.#clients.values().next().value as Client | undefined;
      if (oldest !== undefined) {
        this.#stats.evicted++;
        this.#end(oldest, 'evicted');
      }
    }
    const socket = dgram.createSocket(this.#targetFamily === 6 ? 'udp6' : 'udp4');
    const c = new Client(this.#nextId++, key, rinfo.address, rinfo.port, socket, this.#tick);
    this.#clients.set(key, c);
    this.#stats.clientsTotal++;
    if (this.#clients.size > this.#stats.peak) this.#stats.peak = this.#clients.size;
    const listenSocket = this.socket as dgram.Socket;
    socket.on('message', (data) => {
      c.datagramsDown++;
      c.bytesDown += data.length;
      this.#stats.datagramsDown++;
      this.#stats.bytesDown += data.length;
      if (c.lastTick !== this.#tick) {
        c.lastTick = this.#tick;
        this.#clients.delete(c.key);
        this.#clients.set(c.key, c);
      }
      if (this.#onData) this.#onData(this.#info(c), 'down', data);
      listenSocket.send(data, c.port, c.address);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // ICMP port unreachable from the target, reported on a receive or handed to the next send (which then
      // did not go out): counted, the client stays.
      if (err.code === 'ECONNREFUSED') {
        this.#refused(c);
        return;
      }
      if (!c.ready) return; // handled by the connect callback
      if (err.syscall === 'send' || err.syscall === 'sendmsg') {
        this.#stats.sendErrors++;
        debug('udp-relay', 'send to the target failed', { peer: c.peer, error: err.message });
        return;
      }
      debug('udp-relay', 'upstream socket error', { peer: c.peer, error: err.message });
      this.#end(c, 'error', err.message);
    });
    socket.connect(this.#o.target.port, this.#targetAddress, ((err?: Error) => {
      if (c.closed) return;
      if (err) {
        this.#stats.sendErrors++;
        this.reportError(toSoketError(err, `UDP relay cannot reach ${this.#targetText} for ${c.peer}`));
        this.#end(c, 'error', err.message);
        return;
      }
      const l = socket.address();
      c.via = formatHostPort(l.address, l.port);
      c.ready = true;
      this.emit('client', this.#info(c));
      const pending = c.pending;
      c.pending = [];
      for (const d of pending) this.#sendUp(c, d);
    }) as () => void);
    return c;
  }

  #info(c: Client): UdpRelayClientInfo {
    return { id: c.id, peer: c.peer, via: c.via, target: this.#targetText };
  }

  #end(c: Client, reason: UdpRelayEndReason, detail?: string): void {
    if (c.closed) return;
    c.closed = true;
    this.#clients.delete(c.key);
    try {
      c.socket.close();
    } catch {
      // already closed
    }
    const summary: UdpRelayClientSummary = {
      ...this.#info(c),
      datagramsUp: c.datagramsUp,
      datagramsDown: c.datagramsDown,
      bytesUp: c.bytesUp,
      bytesDown: c.bytesDown,
      refused: c.refused,
      durationMs: Math.round((performance.now() - c.started) * 1000) / 1000,
      reason,
    };
    if (detail !== undefined) summary.detail = detail;
    this.emit('expire', summary);
  }

  #expire(): void {
    this.#tick++;
    // Entries are in order of last activity: stop at the first one still fresh.
    for (const c of this.#clients.values()) {
      if (this.#tick - c.lastTick <= this.#idleTicks) break;
      this.#stats.expired++;
      this.#end(c, 'idle');
    }
    if (this.#deniedReported.size >= DENY_REPORT_LIMIT) this.#deniedReported.clear();
  }

  protected async stop(): Promise<void> {
    if (this.#sweep) clearInterval(this.#sweep);
    for (const c of [...this.#clients.values()]) this.#end(c, 'shutdown');
    const socket = this.socket;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    debug('udp-relay', 'closed', { ...this.stats() });
  }

  /** A snapshot of the counters. */
  stats(): UdpRelayStats {
    return { clients: this.#clients.size, ...this.#stats };
  }
}

/**
 * Start a UDP relay and wait until it listens.
 *
 * @param options - see {@link UdpRelayOptions}
 * @returns the listening relay
 * @throws {ValidationError} for bad options (a bad address, a bad CIDR rule, a limit out of range)
 * @throws {NetworkError} when it cannot bind, or the target name does not resolve
 * @example
 * ```ts
 * import { createUdpRelay } from 'soket';
 * const relay = await createUdpRelay({ listen: '[::1]:0', target: '127.0.0.1:53', allow: '::1' });
 * console.log(`relaying ${relay.address.port} → ${relay.target}`);
 * await relay.close();
 * ```
 */
export async function createUdpRelay(options: UdpRelayOptions): Promise<UdpRelay> {
  return listening(new UdpRelay(options));
}
