/**
 * Socket options, inspected: make a socket on loopback (TCP: a connected client and the socket the listener
 * accepted; UDP: a bound socket), read its options as the kernel reports them, apply the requested ones, read
 * them again, and explain what the kernel did with them (doubling, the wmem_max/rmem_max cap). Also what a
 * fresh socket's timeouts are (none), and what a timeout means for each phase of a connection.
 *
 * @module
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { TimeoutError, toSoketError, ValidationError } from '../core/errors.js';
import { checkSignal, checkTimeout, formatHostPort } from '../core/validate.js';
import {
  getSocketOptions,
  type SocketOptions,
  type SocketOptionsReport,
  setSocketOptions,
  validateSocketOptions,
} from './sockopt.js';
import {
  expectedBufferSize,
  kernelConnectTimeoutSeconds,
  readSocketLimits,
  type SocketLimits,
} from './sysctl.js';
import { connectTcp } from './tcp-client.js';

/** One socket in the result: where it is and its options before and after. */
export interface SockoptSocket {
  /** `client` or `accepted` (TCP), `bound` (UDP). */
  role: 'client' | 'accepted' | 'bound';
  /** Local address and port. */
  local: string;
  /** Peer address and port, `null` for UDP. */
  remote: string | null;
  /** Options before the requested ones were applied. */
  before: SocketOptionsReport;
  /** Options afterwards (the same as `before` for a socket nothing was applied to). */
  after: SocketOptionsReport;
}

/** One phase of a connection and what the timeout means for it. */
export interface TimeoutPhaseInfo {
  phase: 'lookup' | 'connect' | 'idle' | 'overall';
  /** The `connectTcp` option that sets it. */
  option: string;
  /** What happens when it runs out. */
  meaning: string;
  /** The error message it produces. */
  message: string;
}

/** What {@link inspectSocketOptions} finds (and `soket sockopt --json` prints). */
export interface SockoptResult {
  protocol: 'tcp' | 'udp';
  family: 4 | 6;
  requested: SocketOptions;
  /** TCP: the client (options applied to it) and the accepted socket; UDP: the bound socket. */
  sockets: SockoptSocket[];
  /** The kernel's limits from /proc/sys. */
  limits: SocketLimits;
  /** Why the values differ from what was asked. */
  notes: string[];
  timeouts: {
    /** A fresh socket's timeouts: none anywhere. */
    default: {
      nodeSocketTimeout: number | null;
      receiveTimeout: number;
      sendTimeout: number;
      kernelConnectGiveUpSeconds: number | null;
    };
    /** The timeout used to explain the phases, in ms. */
    ms: number;
    phases: TimeoutPhaseInfo[];
  };
}

/** Options of {@link inspectSocketOptions}. */
export interface InspectSocketOptions {
  /** A TCP pair or a UDP socket. @default 'tcp' */
  protocol?: 'tcp' | 'udp';
  /** 4 (127.0.0.1) or 6 (::1). @default 4 */
  family?: 4 | 6;
  /** The options to apply (to the TCP client, or the UDP socket). @default {} */
  socketOptions?: SocketOptions;
  /** Connect timeout of the TCP pair, and the value the timeout table explains, in ms. @default 2000 */
  timeout?: number;
  /** Cancels the connect. */
  signal?: AbortSignal;
}

/** The defaults of {@link InspectSocketOptions}. */
export const INSPECT_SOCKET_DEFAULTS = { protocol: 'tcp', family: 4, timeout: 2000 } as const;

function bufferNote(
  name: 'SO_SNDBUF' | 'SO_RCVBUF',
  asked: number,
  got: number,
  limits: SocketLimits,
): string {
  const sysctl = name === 'SO_SNDBUF' ? 'net.core.wmem_max' : 'net.core.rmem_max';
  const max = name === 'SO_SNDBUF' ? limits.wmemMax : limits.rmemMax;
  const expected = expectedBufferSize(asked, max);
  const head = `${name}: asked for ${asked}, the kernel reports ${got}`;
  if (expected === null) return `${head} (no /proc/sys limits to compare with on this system)`;
  if (got === expected && max !== null && asked > max) {
    return `${head}: the request was capped at ${sysctl} (${max}), then doubled; ${max * 2} is the most an unprivileged process gets`;
  }
  if (got === expected) {
    return `${head}: Linux doubles the size you set (the extra half pays for its own bookkeeping); requests are capped at ${sysctl} (${max}) first`;
  }
  if (got > expected) return `${head}: raised to the kernel's minimum buffer size`;
  return `${head} (expected ${expected} from doubling, capped at ${sysctl} ${max})`;
}

function notesFor(
  protocol: 'tcp' | 'udp',
  requested: SocketOptions,
  after: SocketOptionsReport,
  limits: SocketLimits,
): string[] {
  const notes: string[] = [];
  if (requested.sendBufferSize !== undefined)
    notes.push(bufferNote('SO_SNDBUF', requested.sendBufferSize, after.sendBufferSize, limits));
  if (requested.receiveBufferSize !== undefined)
    notes.push(bufferNote('SO_RCVBUF', requested.receiveBufferSize, after.receiveBufferSize, limits));
  if (protocol === 'tcp' && (requested.sendBufferSize ?? requested.receiveBufferSize) !== undefined) {
    const auto = limits.tcpRmem ? `, within net.ipv4.tcp_rmem ${limits.tcpRmem.join(' ')}` : '';
    notes.push(
      `A TCP buffer you have not set grows and shrinks on its own (auto-tuning${auto}); one you set stays fixed`,
    );
  }
  if (protocol === 'tcp' && requested.receiveBufferSize !== undefined) {
    notes.push(
      'The client was already connected, so its TCP window scale was agreed before SO_RCVBUF changed; to shape the window, set it before connecting (connectTcp({ socketOptions }), or --rcvbuf on the TCP client)',
    );
  }
  if (requested.reuseAddress !== undefined || requested.reusePort !== undefined) {
    notes.push('SO_REUSEADDR and SO_REUSEPORT only matter when binding; this socket is already bound');
  }
  if (protocol === 'udp' && limits.wmemDefault !== null && limits.rmemDefault !== null) {
    notes.push(
      `A new UDP socket starts with net.core.wmem_default (${limits.wmemDefault}) and net.core.rmem_default (${limits.rmemDefault})`,
    );
  }
  return notes;
}

function timeoutPhases(ms: number, target: string, host: string): TimeoutPhaseInfo[] {
  const msg = (phase: string, what: string) => new TimeoutError(phase, what, ms).message;
  return [
    {
      phase: 'lookup',
      option: 'lookupTimeout',
      meaning: `the name lookup (getaddrinfo or DNS) must answer within ${ms} ms`,
      message: msg('lookup', host),
    },
    {
      phase: 'connect',
      option: 'connectTimeout',
      meaning: `the TCP handshake (SYN, SYN-ACK, ACK) must complete within ${ms} ms, all addresses together`,
      message: msg('connect', target),
    },
    {
      phase: 'idle',
      option: 'idleTimeout',
      meaning: `after connect, ${ms} ms without data in either direction destroys the socket`,
      message: msg('idle', target),
    },
    {
      phase: 'overall',
      option: 'timeout',
      meaning: `lookup and connect together within ${ms} ms; after connect, the socket is destroyed ${ms} ms after the start`,
      message: msg('overall', target),
    },
  ];
}

async function tcpPair(
  family: 4 | 6,
  requested: SocketOptions,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<SockoptSocket[]> {
  const host = family === 6 ? '::1' : '127.0.0.1';
  const accepted: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true });
  const acceptedOne = new Promise<net.Socket>((resolve) => {
    server.once('connection', (s) => {
      accepted.push(s);
      resolve(s);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(toSoketError(err, `Cannot listen on ${formatHostPort(host, 0)}`)));
    server.listen({ port: 0, host }, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  let client: net.Socket | undefined;
  try {
    const port = (server.address() as net.AddressInfo).port;
    const conn = await connectTcp({ host, port, connectTimeout: timeout, ...(signal ? { signal } : {}) });
    client = conn.socket;
    client.on('error', () => {
      // the pair lives only for this command; errors surface through the calls below
    });
    const peer = await acceptedOne;
    const before = getSocketOptions(client);
    const after = setSocketOptions(client, requested);
    const acc = getSocketOptions(peer);
    return [
      {
        role: 'client',
        local: formatHostPort(conn.localAddress, conn.localPort),
        remote: formatHostPort(conn.remoteAddress, conn.remotePort),
        before,
        after,
      },
      {
        role: 'accepted',
        local: formatHostPort(peer.localAddress ?? host, peer.localPort ?? port),
        remote: formatHostPort(peer.remoteAddress ?? host, peer.remotePort ?? 0),
        before: acc,
        after: acc,
      },
    ];
  } finally {
    client?.destroy();
    for (const s of accepted) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function udpSocket(family: 4 | 6, requested: SocketOptions): Promise<SockoptSocket[]> {
  const host = family === 6 ? '::1' : '127.0.0.1';
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(toSoketError(err, `Cannot bind ${formatHostPort(host, 0)}`)));
      socket.bind(0, host, () => {
        socket.removeAllListeners('error');
        resolve();
      });
    });
    const before = getSocketOptions(socket);
    const after = setSocketOptions(socket, requested);
    const a = socket.address();
    return [{ role: 'bound', local: formatHostPort(a.address, a.port), remote: null, before, after }];
  } finally {
    socket.close();
  }
}

/**
 * Make a socket on loopback, apply options, and report what the kernel made of them.
 *
 * @param options - protocol, family, the options to apply, the timeout to explain
 * @returns the sockets' options before and after, the kernel's limits, notes and the timeout table
 * @throws {ValidationError} for bad options
 * @throws {UnsupportedError} without FFI (options are read through getsockopt)
 * @example
 * ```ts
 * import { inspectSocketOptions } from 'soket';
 * const r = await inspectSocketOptions({ socketOptions: { sendBufferSize: 65536 } });
 * console.log(r.sockets[0]?.after.sendBufferSize, r.notes[0]); // 131072, 'SO_SNDBUF: asked for 65536, ...'
 * ```
 */
export async function inspectSocketOptions(options: InspectSocketOptions = {}): Promise<SockoptResult> {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid inspect options: expected an object');
  }
  checkSignal(options.signal);
  const protocol = options.protocol ?? INSPECT_SOCKET_DEFAULTS.protocol;
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new ValidationError(`Invalid protocol '${String(protocol)}': expected tcp or udp`);
  }
  const family = options.family ?? INSPECT_SOCKET_DEFAULTS.family;
  if (family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid family '${String(family)}': expected 4 or 6`);
  }
  const requested = validateSocketOptions(options.socketOptions ?? {});
  const ms =
    checkTimeout(options.timeout ?? INSPECT_SOCKET_DEFAULTS.timeout) ?? INSPECT_SOCKET_DEFAULTS.timeout;
  const limits = readSocketLimits();
  const sockets =
    protocol === 'tcp'
      ? await tcpPair(family, requested, ms, options.signal)
      : await udpSocket(family, requested);
  const first = sockets[0] as SockoptSocket;
  const host = family === 6 ? '::1' : '127.0.0.1';
  const target = first.remote ?? formatHostPort(host, 9000);
  return {
    protocol,
    family,
    requested,
    sockets,
    limits,
    notes: notesFor(protocol, requested, first.after, limits),
    timeouts: {
      default: {
        nodeSocketTimeout: new net.Socket().timeout ?? null,
        receiveTimeout: first.before.receiveTimeout,
        sendTimeout: first.before.sendTimeout,
        kernelConnectGiveUpSeconds:
          limits.tcpSynRetries === null ? null : kernelConnectTimeoutSeconds(limits.tcpSynRetries),
      },
      ms,
      phases: timeoutPhases(ms, target, 'localhost'),
    },
  };
}
