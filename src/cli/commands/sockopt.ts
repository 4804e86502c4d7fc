/**
 * `soket sockopt`: make a socket on loopback (TCP: a connected client and the socket the listener accepted;
 * UDP: a bound socket), show its options as the kernel reports them, apply the requested ones, show them
 * again, and explain what the kernel did with them (doubling, the wmem_max/rmem_max cap). It also shows the
 * default timeout of a fresh socket (none) and what a timeout means for each phase of a connection.
 *
 * @module
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Command } from 'commander';
import { TimeoutError, toSoketError } from '../../core/errors.js';
import { exclusive, formatHostPort, parseDuration } from '../../core/validate.js';
import {
  getSocketOptions,
  type SocketOptions,
  type SocketOptionsReport,
  setSocketOptions,
} from '../../net/sockopt.js';
import {
  expectedBufferSize,
  kernelConnectTimeoutSeconds,
  readSocketLimits,
  type SocketLimits,
} from '../../net/sysctl.js';
import { connectTcp } from '../../net/tcp-client.js';
import { EXIT, examples, type Runner } from '../command.js';
import { table } from '../format.js';
import type { Io } from '../io.js';
import { addSocketOptionFlags, socketOptionsFromFlags } from '../socket-flags.js';

interface SockoptFlags extends Record<string, unknown> {
  tcp?: boolean;
  udp?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
  timeout?: string;
}

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

/** What `soket sockopt --json` prints. */
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

const DEFAULT_EXPLAIN_MS = 2000;

function onOff(v: boolean | null): string {
  return v === null ? '-' : v ? 'on' : 'off';
}

function num(v: number | null): string {
  return v === null ? '-' : String(v);
}

const ROWS: Array<[string, (r: SocketOptionsReport) => string]> = [
  ['type / family', (r) => `${r.type} / IPv${r.family}`],
  ['SO_SNDBUF (bytes)', (r) => String(r.sendBufferSize)],
  ['SO_RCVBUF (bytes)', (r) => String(r.receiveBufferSize)],
  ['TCP_NODELAY', (r) => onOff(r.noDelay)],
  ['SO_KEEPALIVE', (r) => onOff(r.keepAlive)],
  ['TCP_KEEPIDLE (s)', (r) => num(r.keepAliveIdle)],
  ['TCP_KEEPINTVL (s)', (r) => num(r.keepAliveInterval)],
  ['TCP_KEEPCNT', (r) => num(r.keepAliveCount)],
  ['SO_REUSEADDR', (r) => onOff(r.reuseAddress)],
  ['SO_REUSEPORT', (r) => onOff(r.reusePort)],
  ['IP_TTL / hop limit', (r) => String(r.ttl)],
  ['SO_RCVTIMEO (ms)', (r) => (r.receiveTimeout ? String(r.receiveTimeout) : 'none')],
  ['SO_SNDTIMEO (ms)', (r) => (r.sendTimeout ? String(r.sendTimeout) : 'none')],
];

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
  signal: AbortSignal,
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
    const conn = await connectTcp({ host, port, connectTimeout: timeout, signal });
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

/** Word-wrap a paragraph to the terminal width; continuation lines are indented two more spaces. */
function wrap(text: string, indent: string, width: number): string {
  const max = Math.max(40, width - indent.length);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = `  ${word}`;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join('\n');
}

function render(io: Io, r: SockoptResult): void {
  const c = io.color;
  const width = Math.min(io.columns, 110);
  if (r.protocol === 'tcp') {
    const client = r.sockets[0];
    io.out(
      c.bold(
        `TCP on loopback (IPv${r.family}): client ${client?.local} → ${client?.remote}, accepted socket`,
      ),
    );
  } else {
    io.out(c.bold(`UDP socket bound to ${r.sockets[0]?.local}`));
  }
  const applied = Object.keys(r.requested).length > 0;
  const head =
    r.protocol === 'tcp'
      ? ['', 'client before', applied ? 'client after' : '', 'accepted']
      : ['', 'before', applied ? 'after' : ''];
  const rows: string[][] = [head.filter((h, i) => h !== '' || i === 0).map((h) => c.dim(h))];
  for (const [label, get] of ROWS) {
    const first = r.sockets[0];
    if (!first) break;
    const b = get(first.before);
    const a = get(first.after);
    const row = [label, b];
    if (applied) row.push(a !== b ? `${c.bold(a)} *` : a);
    if (r.protocol === 'tcp' && r.sockets[1]) row.push(get(r.sockets[1].after));
    rows.push(row);
  }
  io.out('');
  io.out(table(rows, '  '));
  if (applied) io.out(c.dim('  * changed'));
  else io.out(c.dim('  (no options given: showing the defaults; try --sndbuf 65536 --nodelay)'));
  if (r.notes.length) {
    io.out('');
    io.out(c.bold('What the kernel did'));
    for (const n of r.notes) io.out(wrap(n, '  ', width));
  }
  io.out('');
  io.out(c.bold('Timeouts'));
  const d = r.timeouts.default;
  const giveUp =
    d.kernelConnectGiveUpSeconds === null
      ? 'until the kernel gives up'
      : `until the kernel gives up (net.ipv4.tcp_syn_retries ${r.limits.tcpSynRetries}: about ${d.kernelConnectGiveUpSeconds} s)`;
  io.out(
    wrap(
      `A fresh socket has none: Node's socket.timeout is undefined, SO_RCVTIMEO/SO_SNDTIMEO are 0 (a non-blocking socket ignores them anyway), and a connect to a silent host waits ${giveUp}`,
      '  ',
      width,
    ),
  );
  io.out(`  A timeout of ${r.timeouts.ms} ms, per phase (connectTcp options):`);
  io.out(
    table(
      r.timeouts.phases.map((p) => [p.phase, p.option, p.meaning]),
      '    ',
    ),
  );
  io.out(c.dim(`  e.g. TimeoutError: ${r.timeouts.phases[1]?.message}`));
}

export function register(program: Command, run: Runner): void {
  const cmd = program
    .command('sockopt')
    .description(
      'show socket options (SO_SNDBUF, SO_RCVBUF, TCP_NODELAY, ...), set some, and explain the result',
    )
    .option('--tcp', 'a TCP client and the socket the listener accepted, on loopback (the default)')
    .option('--udp', 'a UDP socket bound on loopback')
    .option('-4, --ipv4', 'use 127.0.0.1 (the default)')
    .option('-6, --ipv6', 'use ::1')
    .option(
      '--timeout <ms>',
      'connect timeout for the pair, and the value the timeout table explains',
      '2000',
    );
  addSocketOptionFlags(cmd)
    .addHelpText(
      'after',
      `
Options are read and set with getsockopt/setsockopt through FFI (koffi); without it the command fails with
an explanation. On Linux the kernel doubles a buffer size you set and caps the request at net.core.wmem_max /
rmem_max, which are read from /proc/sys and shown in the explanation.
${examples([
  'soket sockopt',
  'soket sockopt --sndbuf 65536 --rcvbuf 64k --nodelay',
  'soket sockopt --keepalive --keepalive-idle 30 --keepalive-interval 5 --keepalive-count 3',
  'soket sockopt --udp --rcvbuf 1m --ttl 8',
  'soket sockopt -6 --ttl 5 --json',
  'soket sockopt --timeout 5000',
])}`,
    )
    .action(
      run(async (io, flags: SockoptFlags) => {
        exclusive({ '--tcp': flags.tcp, '--udp': flags.udp });
        exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
        const requested = socketOptionsFromFlags(flags);
        const ms = parseDuration(flags.timeout ?? String(DEFAULT_EXPLAIN_MS), '--timeout', {
          allowZero: false,
        });
        const protocol = flags.udp ? 'udp' : 'tcp';
        const family = flags.ipv6 ? 6 : 4;
        const limits = readSocketLimits();
        const sockets =
          protocol === 'tcp'
            ? await tcpPair(family, requested, ms, io.signal)
            : await udpSocket(family, requested);
        const first = sockets[0] as SockoptSocket;
        const host = family === 6 ? '::1' : '127.0.0.1';
        const target = first.remote ?? formatHostPort(host, 9000);
        const result: SockoptResult = {
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
        if (io.json) io.printJson(result);
        else render(io, result);
        return EXIT.ok;
      }),
    );
}
