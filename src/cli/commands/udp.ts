// contract: v2 (issue 10: listen returns a stream, send a result; main.ts renders them)
/**
 * `soket udp listen` (a UDP server: echo, reply, print) and `soket udp send` (one request, its reply and
 * who sent it, with timeout, retries and truncation detection).
 *
 * `udp listen` is a stream of events — `listening`, `datagram` (with `--log`), `message` (print mode),
 * `stopped` — logged on stderr as text (print mode's messages on stdout), or one JSON object per line with
 * `--json`. `udp send` is one result.
 *
 * @module
 */
import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import { EventQueue } from '../../core/event-queue.js';
import { escapeControl, printable } from '../../core/text.js';
import {
  exclusive,
  formatHostPort,
  parseDuration,
  parseHost,
  parseHostPort,
  parseInteger,
  parsePort,
} from '../../core/validate.js';
import { parseDatagramSplit } from '../../net/datagram-split.js';
import { UDP_REQUEST_DEFAULTS, type UdpReply, udpRequest } from '../../net/udp-client.js';
import {
  parseUdpMode,
  UDP_MODES,
  UDP_SERVER_DEFAULTS,
  type UdpMode,
  UdpServer,
  type UdpServerOptions,
  type UdpServerStats,
  udpModeHandler,
} from '../../net/udp-server.js';
import type { Datapath } from '../../platform/datagram-handler.js';
import { UDP_ENGINE_LIMITS } from '../../platform/udp-engine.js';
import {
  EXIT,
  examples,
  type RenderContext,
  type Rendered,
  type Runner,
  result,
  stream,
} from '../command.js';
import { formatBytes, formatMs } from '../format.js';
import type { Io } from '../io.js';
import { addSocketOptionFlags, hasSocketOptions, socketOptionsFromFlags } from '../socket-flags.js';
import { type AccessFlags, accessFromFlags, addAccessFlags } from '../stream-flags.js';
import { addUdpConnectCommand } from '../udp-connect.js';
import {
  addUdpJoinFlags,
  addUdpSendFlags,
  type UdpJoinFlags,
  type UdpSendFlags,
  udpJoinOptionsFromFlags,
  udpSendOptionsFromFlags,
  wildcardForJoins,
  withoutTtl,
} from '../udp-flags.js';
import { udpPipeCommand } from '../udp-pipe.js';

interface ListenFlags extends AccessFlags, UdpJoinFlags, Record<string, unknown> {
  lock?: boolean;
  split?: string;
  hex?: boolean;
  mode?: string;
  reply?: string;
  log?: boolean;
  ipv6Only?: boolean;
  quiet?: boolean;
  workers?: string;
}

interface SendFlags extends UdpSendFlags, Record<string, unknown> {
  message?: string;
  timeout?: string;
  tryTimeout?: string;
  retries?: string;
  bufferSize?: string;
  ipv4?: boolean;
  ipv6?: boolean;
}

/** The reply mode's default answer. */
const DEFAULT_REPLY = 'message received';
/** The largest payload `udp send` reads from stdin. */
const MAX_STDIN = 65_536;
/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`): an IPv4 listen address, which --ipv6-only cannot serve. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}(\.\d{1,3}){3}|[0-9a-f]{1,4}:[0-9a-f]{1,4})$/i;

/** The events of `udp listen`. */
export type UdpListenEvent =
  | {
      event: 'listening';
      address: string;
      port: number;
      family: 4 | 6;
      mode: UdpMode;
      reply?: string;
      joined?: string[];
      /** `batched` (recvmmsg/sendmmsg worker threads) or `dgram` (Node's socket). */
      datapath: Datapath;
      workers: number;
    }
  | { event: 'datagram'; peer: string; bytes: number }
  /** Print mode: `text` is the datagram as sent (UTF-8); the text output escapes it, JSON carries it exactly. */
  | { event: 'message'; peer: string; text: string }
  | ({ event: 'stopped' } & UdpServerStats);

function statsLine(s: UdpServerStats): string {
  return `${s.datagramsIn} datagram${s.datagramsIn === 1 ? '' : 's'} in (${formatBytes(s.bytesIn)}), ${s.datagramsOut} out (${formatBytes(s.bytesOut)}), ${s.sendErrors} send error${s.sendErrors === 1 ? '' : 's'}${s.dropped ? `, ${s.dropped} dropped (stdout behind)` : ''}${s.denied ? `, ${s.denied} denied (--allow/--deny)` : ''}`;
}

function listenText(quiet: boolean) {
  return (e: UdpListenEvent): Rendered => {
    switch (e.event) {
      case 'listening': {
        const where = formatHostPort(e.address, e.port);
        const modeText =
          e.mode === 'reply' ? `reply mode: "${escapeControl(e.reply ?? '')}"` : `${e.mode} mode`;
        const joined = e.joined?.length ? `; joined ${e.joined.join(', ')}` : '';
        const path =
          e.datapath === 'batched'
            ? `batched (recvmmsg/sendmmsg), ${e.workers} worker${e.workers === 1 ? '' : 's'}`
            : 'dgram (one Node socket; -v says why)';
        return { err: `Listening on ${where} (UDP, ${modeText}${joined}); Ctrl-C stops\nDatapath: ${path}` };
      }
      case 'datagram':
        return quiet ? undefined : { err: `${e.peer} sent ${formatBytes(e.bytes)}` };
      case 'message':
        return `[${e.peer}] ${printable(Buffer.from(e.text))}`;
      case 'stopped':
        return { err: `Stopped: ${statsLine(e)}` };
    }
  };
}

async function listen(io: Io, address: string, flags: ListenFlags) {
  const groups = udpJoinOptionsFromFlags(flags);
  // A socket bound to 127.0.0.1 receives no multicast: with --join and no host, bind the wildcard address.
  const barePort = /^:?\d+$/.test(address.trim());
  const defaultHost = groups.join && barePort ? wildcardForJoins(groups.join) : UDP_SERVER_DEFAULTS.host;
  const { host, port } = parseHostPort(address.trim().replace(/^:/, ''), { defaultHost, allowZero: true });
  const access = accessFromFlags(flags);
  if (flags.mode === 'pipe') {
    for (const [flag, v] of [
      ['--reply', flags.reply],
      ['--log', flags.log],
      ['--workers', flags.workers],
    ] as const) {
      if (v !== undefined) throw new ValidationError(`Option ${flag} does not apply to --mode pipe`);
    }
    if (flags.ipv6Only && (!host.includes(':') || IPV4_MAPPED.test(host))) {
      throw new ValidationError(`Option --ipv6-only needs an IPv6 listen address such as [::], not ${host}`);
    }
    const socketOptions = socketOptionsFromFlags(flags);
    return udpPipeCommand(
      io,
      {
        host,
        port,
        ...(flags.ipv6Only ? { ipv6Only: true } : {}),
        ...(flags.lock ? { lock: true } : {}),
        ...(hasSocketOptions(socketOptions) ? { socketOptions } : {}),
        ...(access ? { access } : {}),
        ...groups,
      },
      parseDatagramSplit(flags.split ?? 'line', '--split'),
      Boolean(flags.hex),
    );
  }
  for (const [flag, v] of [
    ['--lock', flags.lock],
    ['--split', flags.split],
    ['--hex', flags.hex],
  ] as const) {
    if (v !== undefined) throw new ValidationError(`Option ${flag} needs --mode pipe`);
  }
  let mode: UdpMode = flags.mode !== undefined ? parseUdpMode(flags.mode) : 'echo';
  if (flags.reply !== undefined) {
    if (flags.mode === undefined) mode = 'reply';
    else if (mode !== 'reply')
      throw new ValidationError(`Option --reply needs --mode reply, not --mode ${mode}`);
  }
  if (flags.ipv6Only && (!host.includes(':') || IPV4_MAPPED.test(host))) {
    throw new ValidationError(`Option --ipv6-only needs an IPv6 listen address such as [::], not ${host}`);
  }
  const socketOptions = socketOptionsFromFlags(flags);
  const options: UdpServerOptions = { host, port, signal: io.signal };
  if (flags.ipv6Only) options.ipv6Only = true;
  if (hasSocketOptions(socketOptions)) options.socketOptions = socketOptions;
  if (access) options.access = access;
  if (groups.join) options.join = groups.join;
  if (groups.iface) options.iface = groups.iface;
  if (flags.workers !== undefined) {
    options.workers = parseInteger(flags.workers, '--workers', { min: 1, max: UDP_ENGINE_LIMITS.workers });
  }
  const reply = mode === 'reply' ? (flags.reply ?? DEFAULT_REPLY) : undefined;
  // Datagrams beyond the queue (a stdout that is not read) are dropped and counted: UDP may lose them.
  const queue = new EventQueue<UdpListenEvent>({
    sizeOf: (e) => (e.event === 'message' ? e.text.length : 0),
  });
  const inner = udpModeHandler(mode, {
    ...(reply !== undefined ? { reply } : {}),
    // Room is checked before the text is built: a datagram that will be dropped costs nothing more.
    onMessage: (m) =>
      queue.hasRoom(m.data.length) &&
      queue.offer({ event: 'message', peer: m.peer, text: m.data.toString('utf8') }),
  });
  const handler: typeof inner = flags.log
    ? (data, rinfo, server) => {
        queue.offer({
          event: 'datagram',
          peer: formatHostPort(rinfo.address, rinfo.port),
          bytes: data.length,
        });
        return inner(data, rinfo, server);
      }
    : inner;
  const server = new UdpServer(options, handler);
  const bound = await server.listen();
  queue.push({
    event: 'listening',
    ...bound,
    mode,
    ...(reply !== undefined ? { reply } : {}),
    ...(server.joined.length ? { joined: server.joined } : {}),
    datapath: server.datapath,
    workers: server.stats().workers,
  });
  void server.finished.then((stats) => {
    queue.push({ event: 'stopped', ...stats });
    queue.end();
  });
  return stream(queue, listenText(Boolean(flags.quiet)));
}

async function readStdin(io: Io): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(b);
    size += b.length;
    if (size > MAX_STDIN) break;
  }
  return Buffer.concat(chunks);
}

function replyJson(r: UdpReply) {
  return {
    from: r.from,
    local: r.local,
    sent: r.sent,
    size: r.size,
    truncated: r.truncated,
    reply: r.data.toString('utf8'),
    replyBase64: r.data.toString('base64'),
    attempts: r.attempts,
    rttMs: Math.round(r.rttMs * 1000) / 1000,
  };
}

function replyText(tries: number, bufferSize: number) {
  return (r: UdpReply, ctx: RenderContext): Rendered => {
    const from = formatHostPort(r.from.address, r.from.port);
    // A datagram is a message: end it with a newline when it has none (--json has the exact bytes).
    const out =
      r.data.length > 0 && r.data[r.data.length - 1] !== 0x0a
        ? Buffer.concat([r.data, Buffer.from('\n')])
        : r.data;
    const lines = [
      `Reply from ${from}: ${formatBytes(r.size)} in ${formatMs(r.rttMs)} (try ${r.attempts} of ${tries}; sent ${formatBytes(r.sent)} from ${formatHostPort(r.local.address, r.local.port)})`,
    ];
    if (r.truncated) {
      lines.push(
        ctx.color.yellow(
          `Warning: the reply from ${from} was truncated: ${r.size} bytes arrived, the ${bufferSize}-byte buffer kept ${r.data.length} (recvfrom(2) would lose the other ${r.size - r.data.length} silently)`,
        ),
      );
    }
    return { out, err: lines.join('\n') };
  };
}

async function send(io: Io, hostArg: string, portArg: string, flags: SendFlags) {
  const host = parseHost(hostArg);
  const port = parsePort(portArg);
  exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
  const { ttl, ...groupOptions } = udpSendOptionsFromFlags(flags, host);
  const socketOptions = socketOptionsFromFlags(withoutTtl(flags));
  if (ttl !== undefined) socketOptions.ttl = ttl;
  const timeout =
    flags.timeout !== undefined
      ? parseDuration(flags.timeout, '--timeout', { allowZero: false })
      : UDP_REQUEST_DEFAULTS.timeout;
  const tryTimeout =
    flags.tryTimeout !== undefined
      ? parseDuration(flags.tryTimeout, '--try-timeout', { allowZero: false })
      : undefined;
  const retries =
    flags.retries !== undefined
      ? parseInteger(flags.retries, '--retries', { min: 0, max: 100 })
      : UDP_REQUEST_DEFAULTS.retries;
  const bufferSize =
    flags.bufferSize !== undefined
      ? parseInteger(flags.bufferSize, '--buffer-size', { min: 1, max: 65_536 })
      : UDP_REQUEST_DEFAULTS.bufferSize;
  let message: string | Buffer;
  if (flags.message !== undefined) message = flags.message;
  else if (!io.stdinIsTTY) message = await readStdin(io);
  else throw new ValidationError('Give --message TEXT, or pipe the payload into stdin');
  const r = await udpRequest({
    host,
    port,
    message,
    timeout,
    ...(tryTimeout !== undefined ? { tryTimeout } : {}),
    retries,
    bufferSize,
    family: flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0,
    signal: io.signal,
    ...groupOptions,
    ...(hasSocketOptions(socketOptions) ? { socketOptions } : {}),
  });
  // Not an exception when truncated: the reply is printed (as far as the buffer holds it); exit 1 says bytes were lost.
  return result(r, replyText(retries + 1, bufferSize), {
    json: replyJson,
    exitCode: r.truncated ? EXIT.failed : EXIT.ok,
  });
}

export function register(program: Command, run: Runner): void {
  const udp = program
    .command('udp')
    .description('UDP server (echo, reply, print, pipe), request client, and interactive connect (nc -u)');

  const listenCmd = udp
    .command('listen')
    .description('serve UDP clients: echo, reply or print; each is answered at its own address')
    .argument(
      '<address>',
      `[HOST:]PORT to bind (HOST defaults to ${UDP_SERVER_DEFAULTS.host}; [::]:PORT is dual stack; port 0 picks one)`,
    )
    .option(
      '-m, --mode <mode>',
      `what to do with each datagram: ${[...UDP_MODES, 'pipe'].join(', ')} (default: echo)`,
    )
    .option(
      '--reply <text>',
      `reply mode: the answer to each datagram, sent as is, no newline added (default: "${DEFAULT_REPLY}")`,
    )
    .option('--log', 'log each datagram on stderr')
    .option('--ipv6-only', 'with [::], accept IPv6 clients only')
    .option('-q, --quiet', 'with --log: log only the start and the totals')
    .option(
      '--workers <n>',
      `worker threads of the batched datapath (FFI), each its own SO_REUSEPORT socket; a client always reaches the same one (default: ${UDP_SERVER_DEFAULTS.workers})`,
    )
    .option('--lock', 'pipe mode: answer only the first peer and ignore the others (as nc -u -l does)')
    .option('--split <how>', 'pipe mode: how stdin becomes datagrams: line, none or BYTES (default: line)')
    .option('--hex', 'pipe mode: dump both directions as hex on stderr (> sent, < received)');
  addUdpJoinFlags(listenCmd);
  addAccessFlags(listenCmd);
  addSocketOptionFlags(listenCmd, 'udp')
    .addHelpText(
      'after',
      `
Modes: echo sends each datagram back; reply answers each with --reply TEXT; print writes each to stdout as
"[ADDRESS] text" (when stdout falls behind, datagrams are dropped and counted); pipe (like nc -u -l) writes
each datagram to stdout unchanged and sends each stdin line back to the most recent sender (--lock: only the
first). A listener bound to 0.0.0.0 also receives broadcasts to its port; --join receives multicast groups
(with --join and a bare PORT it binds 0.0.0.0, or [::] for IPv6 groups). --allow/--deny drop datagrams from
other peers (counted). Ctrl-C or SIGTERM stops and prints the counters. With --json, stdout has one JSON
object per event: listening, datagram, message, stopped (pipe mode: listening, peer, datagram, sent, stopped).
${examples([
  'soket udp listen 9000',
  'soket udp listen 0 --mode reply --reply "message received"',
  'soket udp listen [::]:9000 --mode print',
  'soket udp listen 9000 --mode pipe --lock',
  'soket udp listen 5000 --mode print --join 239.1.2.3 --iface eth0',
  'soket udp listen [::]:5000 --mode print --join ff02::1:3%eth0',
  'soket udp listen 0.0.0.0:9000 --allow 10.0.0.0/8 --deny 10.0.0.66',
])}`,
    )
    .action(run(async (io, address: string, flags: ListenFlags) => listen(io, address, flags)));

  const sendCmd = udp
    .command('send')
    .description('send one datagram and print the reply and who sent it')
    .argument('<host>', 'host name or address')
    .argument('<port>', 'port')
    .option('-m, --message <text>', 'the payload (default: read stdin when it is not a terminal)')
    .option(
      '--timeout <ms>',
      `give up after MS in all, every try included (default: ${UDP_REQUEST_DEFAULTS.timeout})`,
    )
    .option(
      '--try-timeout <ms>',
      'wait MS for the reply to one try (default: the timeout shared by the tries)',
    )
    .option(
      '--retries <n>',
      `how many times to send again when no reply came (default: ${UDP_REQUEST_DEFAULTS.retries})`,
    )
    .option(
      '--buffer-size <bytes>',
      `the reader's buffer, like recvfrom's length: a longer reply is reported truncated (default: ${UDP_REQUEST_DEFAULTS.bufferSize})`,
    )
    .option('-4, --ipv4', 'IPv4 only')
    .option('-6, --ipv6', 'IPv6 only');
  addUdpSendFlags(sendCmd);
  addSocketOptionFlags(sendCmd, 'udp')
    .addHelpText(
      'after',
      `
Only a datagram from HOST:PORT counts as the reply (the socket is connected, so the kernel drops others, and
an ICMP "port unreachable" is reported as connection refused at once). The payload may be at most 65,507
bytes over IPv4 and 65,527 over IPv6. Exit 1 when no reply came or it was truncated. To a multicast group,
or a broadcast address with --broadcast (SO_BROADCAST; without it the kernel refuses with EACCES), the socket
stays unconnected and the first answer from anyone is the reply. --ttl sets the multicast TTL for a group
(0 keeps it on this host), the unicast hop limit otherwise.
${examples([
  'soket udp send 127.0.0.1 9000 --message "Hello, server!"',
  'soket udp send ::1 9000 --message ping --timeout 2000 --retries 3',
  'soket udp send 127.0.0.1 9000 --message ping --buffer-size 16 --json',
  'soket udp send 10.0.0.255 9000 --broadcast --message "anyone?"',
  'soket udp send 239.1.2.3 5000 --ttl 4 --multicast-iface eth0 --message hello',
])}`,
    )
    .action(run(async (io, host: string, port: string, flags: SendFlags) => send(io, host, port, flags)));

  addUdpConnectCommand(udp, run);
}
