// contract: v2 (issue 10: the common server lifecycle)
/**
 * A UDP server: one socket answers many clients at once, each at the address and port its datagram came
 * from. Modes: echo (send each datagram back), reply (answer each with a fixed text) and print (hand each to
 * a callback). Counters for datagrams and bytes in both directions.
 *
 * Multicast: `join` groups (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP, or source-specific joins as `GROUP@SOURCE`) on
 * an interface (`iface`) once bound; bind the wildcard address (`0.0.0.0`, `::`) or the group itself to receive
 * them. A socket bound to the wildcard address also receives broadcasts to its port. `allow`/`deny` drop
 * datagrams from peers outside the rules before the handler sees them (counted as `denied`).
 *
 * Node reads each datagram into a 64 KiB buffer, larger than any UDP payload (65,507 bytes over IPv4, 65,527
 * over IPv6), so the server always sees whole datagrams. A datagram is a message: no framing is needed.
 *
 * The built-in modes (echo, reply, print) run on the batched UDP engine where FFI works
 * (platform/udp-engine.ts: recvmmsg/sendmmsg in `workers` threads, 1 by default); print mode's datagrams come
 * back to the main thread in batches. Custom handlers, multicast joins, allow/deny lists and extra socket
 * options run on Node's `dgram` socket, as does everything without FFI. `stats().datapath` says which.
 *
 * @module
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { AccessList, createAccessList } from '../core/cidr.js';
import { debug } from '../core/debug.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import { type InetAddress, listening, ServerLifecycle } from '../core/lifecycle.js';
import { printable } from '../core/text.js';
import {
  checkBoolean,
  checkString,
  describeValue,
  formatHostPort,
  parseHost,
  parseInteger,
  parsePort,
} from '../core/validate.js';
import type { DatagramHandlerSpec, Datapath } from '../platform/datagram-handler.js';
import { builtinHandler } from '../platform/datagram-handlers.js';
import { batchedDatapath, UDP_ENGINE_LIMITS, UdpEngine } from '../platform/udp-engine.js';
import { type SocketOptions, setSocketOptions, validateSocketOptions } from './sockopt.js';
import {
  isMulticastAddress,
  joinGroups,
  type MulticastInterface,
  type MulticastJoin,
  parseMulticastJoins,
  resolveInterface,
  type UdpJoinOptions,
} from './udp-multicast.js';

/** The UDP server modes. */
export type UdpMode = 'echo' | 'reply' | 'print';

/** Every UDP mode. */
export const UDP_MODES: readonly UdpMode[] = ['echo', 'reply', 'print'];

/** Options of {@link createUdpServer}. */
export interface UdpServerOptions extends UdpJoinOptions {
  /** Address to bind; `::` is dual stack. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** With `::`, IPv6 only. @default false */
  ipv6Only?: boolean;
  /** SO_RCVBUF in bytes (Linux doubles it); 0 keeps the system default. @default 0 */
  receiveBufferSize?: number;
  /** SO_SNDBUF in bytes; 0 keeps the system default. @default 0 */
  sendBufferSize?: number;
  /** More socket options (TTL, SO_REUSEPORT, ...), applied after binding. @default undefined */
  socketOptions?: SocketOptions;
  /** Peers whose datagrams are handled (CIDR text); others are dropped and counted. @default everyone */
  allow?: string | readonly string[];
  /** Peers whose datagrams are dropped, checked before `allow`. @default none */
  deny?: string | readonly string[];
  /** Or a ready access list (instead of `allow`/`deny`). */
  access?: AccessList;
  /**
   * Worker threads on the batched path, each with its own SO_REUSEPORT socket (one client always reaches the
   * same one). One worker keeps print mode's datagrams in arrival order across clients; more use more cores.
   * @default 1
   */
  workers?: number;
  /** `auto` serves the built-in modes batched where it can; `dgram` always uses Node's socket. @default 'auto' */
  datapath?: 'auto' | Datapath;
  /** Closes the server when it fires. @default undefined */
  signal?: AbortSignal;
}

/** Every default of {@link UdpServerOptions}. */
export const UDP_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  ipv6Only: false,
  receiveBufferSize: 0,
  sendBufferSize: 0,
  workers: 1,
  datapath: 'auto',
} as const;

/** Counters of a UDP server. */
export interface UdpServerStats {
  /** Datagrams received. */
  datagramsIn: number;
  /** Datagrams sent. */
  datagramsOut: number;
  /** Payload bytes received. */
  bytesIn: number;
  /** Payload bytes sent. */
  bytesOut: number;
  /** Sends that failed (EMSGSIZE, ENOBUFS, ...; the error is published as a debug event). */
  sendErrors: number;
  /** Datagrams received but dropped by the handler (print mode with a consumer that is behind). */
  dropped: number;
  /** Datagrams dropped because their sender was outside `allow` or inside `deny`. */
  denied: number;
  /** `batched` (the UDP engine's workers) or `dgram` (Node's socket). */
  datapath: Datapath;
  /** Workers (sockets) serving. */
  workers: number;
  /** Datagrams the kernel dropped because the receive queue was full (batched path; 0 on dgram). */
  kernelDrops: number;
}

/** One datagram received, as print mode reports it. */
export interface UdpMessage {
  /** The payload. */
  data: Buffer;
  /** Sender address. */
  address: string;
  /** Sender port. */
  port: number;
  /** `127.0.0.1:50000`. */
  peer: string;
  /** The payload as text (control characters escaped). */
  text: string;
}

/**
 * What a UDP server does with each datagram: `server.send(reply, rinfo)` answers its sender. Returning
 * `false` says the datagram was dropped (counted in `dropped`).
 */
export type UdpHandler = (data: Buffer, rinfo: dgram.RemoteInfo, server: UdpServer) => unknown;

/** How a built-in handler runs on the batched engine: its worker handler, and print mode's callback. */
interface EngineForm {
  spec: DatagramHandlerSpec;
  onMessage?: (message: UdpMessage) => unknown;
}

const ENGINE_FORM = Symbol('soket.udpEngineForm');

/** Mark a built-in handler with its engine form (when the engine's worker modules are there). */
function withEngineForm(handler: UdpHandler, form: () => EngineForm): UdpHandler {
  try {
    (handler as UdpHandler & { [ENGINE_FORM]?: EngineForm })[ENGINE_FORM] = form();
  } catch {
    // no worker modules next to this build: the handler runs on dgram
  }
  return handler;
}

/** Events of a {@link UdpServer} (besides the lifecycle's `listening`, `close` and `error`). */
export type UdpServerEvents = Record<never, never>;

/**
 * A UDP server with the common server lifecycle. Made by {@link createUdpServer}, or `new UdpServer()` and
 * `listen()`.
 *
 * @example
 * ```ts
 * const server = await createUdpServer({ port: 0 }, udpEchoHandler());
 * console.log(server.address.port, server.stats().datagramsIn);
 * await server.close();
 * ```
 */
export class UdpServer extends ServerLifecycle<UdpServerStats, InetAddress, UdpServerEvents> {
  protected readonly kind = 'UDP server';
  /** The socket (created by `listen()`). */
  socket: dgram.Socket | undefined;
  readonly #handler: UdpHandler;
  readonly #host: string;
  readonly #port: number;
  readonly #ipv6Only: boolean;
  readonly #rcv: number;
  readonly #snd: number;
  readonly #socketOptions: SocketOptions | undefined;
  readonly #joins: MulticastJoin[];
  readonly #iface: MulticastInterface | undefined;
  readonly #access: AccessList | undefined;
  #denied = 0;
  /** The groups joined, as text (`239.1.2.3 on eth0`), once listening. */
  joined: string[] = [];
  #datagramsIn = 0;
  #datagramsOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #sendErrors = 0;
  #dropped = 0;
  readonly #workers: number;
  readonly #datapath: 'auto' | Datapath;
  #engine: UdpEngine | undefined;

  /**
   * @param options - where to bind; see {@link UdpServerOptions}
   * @param handler - what to do with each datagram
   * @throws {ValidationError} for bad options or a missing handler
   */
  constructor(options: UdpServerOptions, handler: UdpHandler) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid UDP server options: expected an object');
    }
    super(options.signal);
    const o = { ...UDP_SERVER_DEFAULTS, ...options };
    this.#host = parseHost(o.host, 'listen address');
    this.#port = parsePort(o.port, { allowZero: true });
    this.#ipv6Only = checkBoolean(o.ipv6Only, 'ipv6Only') ?? false;
    this.#rcv = parseInteger(o.receiveBufferSize, 'receive buffer size', { min: 0 });
    this.#snd = parseInteger(o.sendBufferSize, 'send buffer size', { min: 0 });
    if (typeof handler !== 'function') throw new ValidationError('A UDP server needs a datagram handler');
    this.#socketOptions = options.socketOptions ? validateSocketOptions(options.socketOptions) : undefined;
    this.#joins = o.join === undefined ? [] : parseMulticastJoins(o.join, 'join');
    this.#iface = o.iface === undefined ? undefined : resolveInterface(o.iface, 'iface');
    if (this.#iface !== undefined && this.#joins.length === 0) {
      throw new ValidationError('Option iface names the interface to join groups on: give join too');
    }
    const wildcard = this.#host === '0.0.0.0' || this.#host === '::';
    for (const j of this.#joins) {
      if (!wildcard && this.#host !== j.group) {
        throw new ValidationError(
          `Cannot receive group ${j.group} on ${this.#host}: bind ${j.family === 6 ? '[::]' : '0.0.0.0'} (or the group address) to receive multicast`,
        );
      }
    }
    if (isMulticastAddress(this.#host) && !this.#joins.some((j) => j.group === this.#host)) {
      throw new ValidationError(
        `Binding the group ${this.#host} receives nothing without joining it: add join`,
      );
    }
    if (options.access !== undefined && (options.allow !== undefined || options.deny !== undefined)) {
      throw new ValidationError('Give either access or allow/deny, not both');
    }
    if (options.access !== undefined && !(options.access instanceof AccessList)) {
      throw new ValidationError(
        `Invalid access '${describeValue(options.access)}': expected an access list (createAccessList)`,
      );
    }
    const access =
      options.access ??
      (options.allow !== undefined || options.deny !== undefined
        ? createAccessList({ allow: options.allow, deny: options.deny })
        : undefined);
    this.#access = access?.active ? access : undefined;
    this.#handler = handler;
    this.#workers = parseInteger(o.workers, 'workers', { min: 1, max: UDP_ENGINE_LIMITS.workers });
    if (o.datapath !== 'auto' && o.datapath !== 'batched' && o.datapath !== 'dgram') {
      throw new ValidationError(`Invalid datapath '${String(o.datapath)}': expected auto, batched or dgram`);
    }
    this.#datapath = o.datapath;
    if (o.datapath === 'batched') {
      const why = this.#dgramOnly();
      if (why) throw new ValidationError(`Cannot serve on the batched datapath: ${why}`);
    }
  }

  /** Why this server must run on dgram whatever the platform, or undefined. */
  #dgramOnly(): string | undefined {
    if (!(this.#handler as UdpHandler & { [ENGINE_FORM]?: EngineForm })[ENGINE_FORM]) {
      return 'a custom handler runs in the main thread';
    }
    if (this.#joins.length > 0) return 'multicast joins';
    if (this.#access) return 'allow/deny lists';
    if (this.#socketOptions && Object.keys(this.#socketOptions).length > 0) return 'extra socket options';
    return undefined;
  }

  /** The path that serves: `batched` or `dgram` (known once `listen()` resolved). */
  get datapath(): Datapath {
    return this.#engine?.datapath ?? 'dgram';
  }

  async #startEngine(form: EngineForm): Promise<InetAddress> {
    const engine = new UdpEngine(
      {
        host: this.#host,
        port: this.#port,
        ipv6Only: this.#ipv6Only,
        workers: this.#workers,
        receiveBufferSize: this.#rcv,
        sendBufferSize: this.#snd,
        datapath: this.#datapath,
        // Datagrams forwarded to a consumer here (print mode) are held until it takes them: bound them in
        // bytes too (256 of up to 64 KiB each), not only in count.
        ...(form.onMessage ? { forwardLimit: FORWARD_LIMIT } : {}),
      },
      form.spec,
    );
    const onMessage = form.onMessage;
    if (onMessage) {
      engine.on('message', (m) => {
        if (onMessage(udpMessage(m.data, m.address, m.port, m.peer)) === false) this.#dropped++;
      });
    }
    engine.on('error', (err) => this.reportError(err));
    const address = await engine.listen();
    this.#engine = engine;
    debug('udp', 'listening', { ...address, datapath: engine.datapath, workers: this.#workers });
    return address;
  }

  protected async start(): Promise<InetAddress> {
    const form = (this.#handler as UdpHandler & { [ENGINE_FORM]?: EngineForm })[ENGINE_FORM];
    const dgramOnly = this.#dgramOnly();
    const batched = batchedDatapath();
    if (form && !dgramOnly && this.#datapath !== 'dgram' && (batched.ok || this.#datapath === 'batched')) {
      return this.#startEngine(form);
    }
    debug('udp', 'dgram datapath', {
      reason: dgramOnly ?? (this.#datapath === 'dgram' ? 'asked for' : batched.ok ? '' : batched.reason),
    });
    const host = this.#host;
    const where = formatHostPort(host, this.#port);
    const family = isIP(host) === 6 ? 6 : 4;
    const socketOpts: dgram.SocketOptions = {
      type: family === 6 ? 'udp6' : 'udp4',
      ipv6Only: this.#ipv6Only,
    };
    if (this.#rcv > 0) socketOpts.recvBufferSize = this.#rcv;
    if (this.#snd > 0) socketOpts.sendBufferSize = this.#snd;
    const socket = dgram.createSocket(socketOpts);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(toSoketError(err, `Cannot bind ${where}`));
      socket.once('error', onError);
      socket.bind({ port: this.#port, address: host }, () => {
        socket.off('error', onError);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    if (this.#socketOptions && Object.keys(this.#socketOptions).length > 0) {
      try {
        setSocketOptions(socket, this.#socketOptions);
      } catch (err) {
        socket.close();
        throw err;
      }
    }
    if (this.#joins.length > 0) {
      try {
        this.joined = joinGroups(socket, family, this.#joins, this.#iface);
      } catch (err) {
        socket.close();
        throw err;
      }
      debug('udp', 'joined', { groups: this.joined });
    }
    this.socket = socket;
    const handler = this.#handler;
    const access = this.#access;
    socket.on('message', (data, rinfo) => {
      if (access !== undefined && !access.allows(rinfo.address)) {
        this.#denied++;
        return;
      }
      this.#datagramsIn++;
      this.#bytesIn += data.length;
      if (handler(data, rinfo, this) === false) this.#dropped++;
    });
    socket.on('error', (err) => {
      // On a bound UDP socket errors come from sends (EMSGSIZE, ENOBUFS, EACCES, ...): count them, carry on.
      const e = err as NodeJS.ErrnoException;
      this.#sendErrors++;
      debug('udp', 'send failed', { error: e.message, code: e.code });
      this.reportError(toSoketError(err, 'UDP send failed'));
    });
    const a = socket.address();
    const address: InetAddress = { address: a.address, port: a.port, family: a.family === 'IPv6' ? 6 : 4 };
    debug('udp', 'listening', { ...address });
    return address;
  }

  protected async stop(timeout: number | undefined): Promise<void> {
    if (this.#engine) {
      await this.#engine.close(timeout === undefined ? {} : { timeout });
      debug('udp', 'server closed', { port: this.address.port, ...this.stats() });
      return;
    }
    const socket = this.socket;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
    debug('udp', 'server closed', { port: this.address.port, ...this.stats() });
  }

  /**
   * Send a datagram to a client (counted).
   *
   * @param data - the payload
   * @param to - the client's address and port (the `rinfo` of its datagram)
   */
  send(data: Buffer | Uint8Array, to: { address: string; port: number }): void {
    if (this.#engine) {
      this.#datagramsOut++;
      this.#bytesOut += data.length;
      this.#engine.send(data, to);
      return;
    }
    const socket = this.socket;
    if (!socket) return;
    socket.send(data, to.port, to.address, this.#onSent);
  }

  // Node tells only a callback that sendmsg(2) failed (EPERM from a firewall, EMSGSIZE, ENOBUFS, ...): without
  // one the error is lost, and the datagram would count as sent.
  readonly #onSent = (err: Error | null, bytes: number): void => {
    if (!err) {
      this.#datagramsOut++;
      this.#bytesOut += bytes;
      return;
    }
    this.#sendErrors++;
    debug('udp', 'send failed', { error: err.message, code: (err as NodeJS.ErrnoException).code });
    this.reportError(toSoketError(err, 'UDP send failed'));
  };

  /** A snapshot of the counters. */
  stats(): UdpServerStats {
    const e = this.#engine?.stats();
    if (e) {
      return {
        datagramsIn: e.datagramsIn,
        datagramsOut: e.datagramsOut + this.#datagramsOut,
        bytesIn: e.bytesIn,
        bytesOut: e.bytesOut + this.#bytesOut,
        sendErrors: e.sendErrors,
        dropped: this.#dropped + e.forwardDropped + e.truncated + e.handlerErrors,
        denied: this.#denied,
        datapath: e.datapath,
        workers: e.workers,
        kernelDrops: e.kernelDrops,
      };
    }
    return {
      datagramsIn: this.#datagramsIn,
      datagramsOut: this.#datagramsOut,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      sendErrors: this.#sendErrors,
      dropped: this.#dropped,
      denied: this.#denied,
      datapath: 'dgram',
      workers: this.socket ? 1 : 0,
      kernelDrops: 0,
    };
  }
}

/**
 * Echo mode: send each datagram back to its sender.
 *
 * @returns a handler for {@link createUdpServer}
 * @example
 * ```ts
 * const server = await createUdpServer({ port: 0 }, udpEchoHandler());
 * ```
 */
export function udpEchoHandler(): UdpHandler {
  return withEngineForm(
    (data, rinfo, server) => server.send(data, rinfo),
    () => ({ spec: builtinHandler('echo') }),
  );
}

/**
 * Reply mode: answer each datagram with one datagram holding `text` (no newline is added: a datagram is
 * already a message).
 *
 * @param text - the answer @default 'message received'
 * @returns a handler
 * @throws {ValidationError} when `text` is not a string or too large for one datagram
 * @example
 * ```ts
 * const server = await createUdpServer({ port: 0 }, udpReplyHandler('message received'));
 * ```
 */
export function udpReplyHandler(text = 'message received'): UdpHandler {
  const reply = Buffer.from(checkString(text, 'reply text'));
  checkReplySize(reply.length);
  return withEngineForm(
    (_data, rinfo, server) => server.send(reply, rinfo),
    () => ({ spec: builtinHandler('reply', { reply: new Uint8Array(reply) }) }),
  );
}

/** Datagrams per engine worker in flight to a main-thread consumer (print mode) before more are dropped. */
const FORWARD_LIMIT = 256;

/** Largest reply a UDP server can send (IPv4's limit; IPv6 allows 20 bytes more). */
const MAX_REPLY = 65_507;

function checkReplySize(size: number): void {
  if (size > MAX_REPLY) {
    throw new ValidationError(
      `Reply of ${size} bytes is too large for one UDP datagram: at most ${MAX_REPLY} bytes`,
    );
  }
}

/**
 * Print mode: hand each datagram to `onMessage`; nothing is sent back. When `onMessage` returns `false` (its
 * consumer is behind) the datagram counts as dropped.
 *
 * @param onMessage - called for each datagram
 * @returns a handler
 * @example
 * ```ts
 * const server = await createUdpServer({ port: 0 }, udpPrintHandler((m) => console.log(m.peer, m.text)));
 * ```
 */
export function udpPrintHandler(onMessage: (message: UdpMessage) => unknown): UdpHandler {
  if (typeof onMessage !== 'function') throw new ValidationError('Print mode needs an onMessage callback');
  return withEngineForm(
    (data, rinfo) =>
      onMessage(udpMessage(data, rinfo.address, rinfo.port, formatHostPort(rinfo.address, rinfo.port))),
    () => ({ spec: builtinHandler('forward'), onMessage }),
  );
}

/** A message whose text is escaped when first read (a consumer that drops the datagram never pays for it). */
function udpMessage(data: Buffer, address: string, port: number, peer: string): UdpMessage {
  let text: string | undefined;
  return {
    data,
    address,
    port,
    peer,
    get text() {
      text ??= printable(data);
      return text;
    },
  };
}

/**
 * The handler for a mode by name, as the CLI's `--mode` picks it.
 *
 * @param mode - `echo`, `reply` or `print`
 * @param options - `reply` text, `onMessage` for print
 * @returns a handler
 * @throws {ValidationError} for an unknown mode or print without a callback
 * @example
 * ```ts
 * const handler = udpModeHandler('reply', { reply: 'pong' });
 * ```
 */
export function udpModeHandler(
  mode: UdpMode,
  options: { reply?: string; onMessage?: (message: UdpMessage) => unknown } = {},
): UdpHandler {
  switch (mode) {
    case 'echo':
      return udpEchoHandler();
    case 'reply':
      return udpReplyHandler(options.reply);
    case 'print':
      if (!options.onMessage) throw new ValidationError('Print mode needs an onMessage callback');
      return udpPrintHandler(options.onMessage);
    default:
      throw new ValidationError(
        `Unknown UDP mode '${String(mode)}': expected one of ${UDP_MODES.join(', ')}`,
      );
  }
}

/**
 * Check a UDP mode name given by a user.
 *
 * @param value - the name
 * @returns the mode
 * @throws {ValidationError} when unknown
 * @example
 * ```ts
 * parseUdpMode('echo'); // 'echo'
 * ```
 */
export function parseUdpMode(value: string): UdpMode {
  if ((UDP_MODES as readonly string[]).includes(value)) return value as UdpMode;
  throw new ValidationError(`Unknown mode '${value}': expected one of ${UDP_MODES.join(', ')}`);
}

/**
 * Bind a UDP server and resolve once it is bound.
 *
 * @param options - where to bind; see {@link UdpServerOptions}
 * @param handler - what to do with each datagram
 * @returns the bound server
 * @throws {ValidationError} for bad options
 * @throws {NetworkError} when it cannot bind (`EADDRINUSE`, `EACCES`, ...)
 * @throws {AbortError} when the signal fires before it is bound
 * @example
 * ```ts
 * import { createUdpServer, udpEchoHandler } from 'soket';
 * const server = await createUdpServer({ host: '127.0.0.1', port: 0 }, udpEchoHandler());
 * console.log(`UDP echo on port ${server.address.port}`);
 * ```
 */
export async function createUdpServer(options: UdpServerOptions, handler: UdpHandler): Promise<UdpServer> {
  return listening(new UdpServer(options, handler));
}
