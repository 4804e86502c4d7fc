/**
 * `soket udp listen` (a UDP server: echo, reply, print) and `soket udp send` (one request, its reply and
 * who sent it, with timeout, retries and truncation detection).
 *
 * The server logs on stderr; with `--json` stdout carries one JSON object per line (NDJSON): `listening`,
 * `datagram` (with `--log`), `message` (print mode) and `stopped`.
 *
 * @module
 */
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import {
  exclusive,
  formatHostPort,
  parseDuration,
  parseHost,
  parseHostPort,
  parseInteger,
  parsePort,
} from '../../core/validate.js';
import { type UdpReply, udpRequest } from '../../net/udp-client.js';
import {
  createUdpServer,
  parseUdpMode,
  UDP_MODES,
  type UdpMode,
  type UdpServerOptions,
  type UdpServerStats,
  udpModeHandler,
} from '../../net/udp-server.js';
import { EXIT, examples, type Runner } from '../command.js';
import { formatBytes, formatMs } from '../format.js';
import type { Io } from '../io.js';
import { addSocketOptionFlags, hasSocketOptions, socketOptionsFromFlags } from '../socket-flags.js';

interface ListenFlags extends Record<string, unknown> {
  mode?: string;
  reply?: string;
  log?: boolean;
  ipv6Only?: boolean;
}

interface SendFlags extends Record<string, unknown> {
  message?: string;
  timeout?: string;
  retries?: string;
  bufferSize?: string;
  ipv4?: boolean;
  ipv6?: boolean;
}

function statsLine(s: UdpServerStats): string {
  return `${s.datagramsIn} datagram${s.datagramsIn === 1 ? '' : 's'} in (${formatBytes(s.bytesIn)}), ${s.datagramsOut} out (${formatBytes(s.bytesOut)}), ${s.sendErrors} send error${s.sendErrors === 1 ? '' : 's'}`;
}

async function listen(io: Io, address: string, flags: ListenFlags): Promise<number> {
  const { host, port } = parseHostPort(address, { defaultHost: '127.0.0.1', allowZero: true });
  let mode: UdpMode = flags.mode !== undefined ? parseUdpMode(flags.mode) : 'echo';
  if (flags.reply !== undefined) {
    if (flags.mode === undefined) mode = 'reply';
    else if (mode !== 'reply')
      throw new ValidationError(`Option --reply needs --mode reply, not --mode ${mode}`);
  }
  const socketOptions = socketOptionsFromFlags(flags);
  const options: UdpServerOptions = { host, port, signal: io.signal };
  if (flags.ipv6Only) options.ipv6Only = true;
  if (hasSocketOptions(socketOptions)) options.socketOptions = socketOptions;
  const event = (e: Record<string, unknown>) => {
    if (io.json) io.out(JSON.stringify(e));
  };
  const inner = udpModeHandler(mode, {
    ...(flags.reply !== undefined ? { reply: flags.reply } : {}),
    onMessage: (m) => {
      if (io.json) event({ event: 'message', peer: m.peer, text: m.text });
      else io.out(`[${m.peer}] ${m.text}`);
    },
  });
  const handler: typeof inner = flags.log
    ? (data, rinfo, server) => {
        const peer = formatHostPort(rinfo.address, rinfo.port);
        io.err(`${peer} sent ${formatBytes(data.length)}`);
        event({ event: 'datagram', peer, bytes: data.length });
        inner(data, rinfo, server);
      }
    : inner;
  const server = await createUdpServer(options, handler);
  const where = formatHostPort(server.address.address, server.address.port);
  const modeText = mode === 'reply' ? `reply mode: "${flags.reply ?? 'message received'}"` : `${mode} mode`;
  io.err(`Listening on ${where} (UDP, ${modeText}); Ctrl-C stops`);
  event({ event: 'listening', ...server.address, mode });
  const stats = await server.finished;
  io.err(`Stopped: ${statsLine(stats)}`);
  event({ event: 'stopped', ...stats });
  return EXIT.ok;
}

async function readStdin(io: Io): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (chunks.reduce((n, c) => n + c.length, 0) > 65_536) break;
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

async function send(io: Io, hostArg: string, portArg: string, flags: SendFlags): Promise<number> {
  const host = parseHost(hostArg);
  const port = parsePort(portArg);
  exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
  const socketOptions = socketOptionsFromFlags(flags);
  const timeout =
    flags.timeout !== undefined ? parseDuration(flags.timeout, '--timeout', { allowZero: false }) : 2000;
  const retries =
    flags.retries !== undefined ? parseInteger(flags.retries, '--retries', { min: 0, max: 100 }) : 2;
  const bufferSize =
    flags.bufferSize !== undefined
      ? parseInteger(flags.bufferSize, '--buffer-size', { min: 1, max: 65_536 })
      : 65_536;
  let message: string | Buffer;
  if (flags.message !== undefined) message = flags.message;
  else if (!io.stdinIsTTY) message = await readStdin(io);
  else throw new ValidationError('Give --message TEXT, or pipe the payload into stdin');
  const r = await udpRequest({
    host,
    port,
    message,
    timeout,
    retries,
    bufferSize,
    family: flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0,
    signal: io.signal,
    ...(hasSocketOptions(socketOptions) ? { socketOptions } : {}),
  });
  const from = formatHostPort(r.from.address, r.from.port);
  if (io.json) io.printJson(replyJson(r));
  else {
    (io.stdout as Writable).write(r.data);
    // A datagram is a message: end it with a newline when it has none (--json has the exact bytes).
    if (r.data.length > 0 && r.data[r.data.length - 1] !== 0x0a) io.out('');
    io.err(
      `Reply from ${from}: ${formatBytes(r.size)} in ${formatMs(r.rttMs)} (try ${r.attempts} of ${retries + 1}; sent ${formatBytes(r.sent)} from ${formatHostPort(r.local.address, r.local.port)})`,
    );
  }
  if (r.truncated) {
    // Not an exception: the reply is printed (as far as the buffer holds it); the exit code says bytes were lost.
    io.err(
      `Warning: the reply from ${from} was truncated: ${r.size} bytes arrived, the ${bufferSize}-byte buffer kept ${r.data.length} (recvfrom(2) would lose the other ${r.size - r.data.length} silently)`,
    );
    return EXIT.failed;
  }
  return EXIT.ok;
}

export function register(program: Command, run: Runner): void {
  const udp = program.command('udp').description('UDP server (echo, reply, print) and request client');

  const listenCmd = udp
    .command('listen')
    .description('serve UDP clients: echo, reply or print; each is answered at its own address')
    .argument(
      '<address>',
      '[HOST:]PORT to bind (HOST defaults to 127.0.0.1; [::]:PORT is dual stack; port 0 picks one)',
    )
    .option('-m, --mode <mode>', `what to do with each datagram: ${UDP_MODES.join(', ')}`)
    .option('--reply <text>', 'reply mode: the answer to each datagram (sent as is, no newline added)')
    .option('--log', 'log each datagram on stderr')
    .option('--ipv6-only', 'with [::], accept IPv6 clients only');
  addSocketOptionFlags(listenCmd)
    .addHelpText(
      'after',
      `
Modes: echo sends each datagram back; reply answers each with --reply TEXT; print writes each to stdout as
"[ADDRESS] text". Ctrl-C or SIGTERM stops and prints the counters.
${examples([
  'soket udp listen 9000',
  'soket udp listen 0 --mode reply --reply "message received"',
  'soket udp listen [::]:9000 --mode print',
])}`,
    )
    .action(run(async (io, address: string, flags: ListenFlags) => listen(io, address, flags)));

  const sendCmd = udp
    .command('send')
    .description('send one datagram and print the reply and who sent it')
    .argument('<host>', 'host name or address')
    .argument('<port>', 'port')
    .option('--message <text>', 'the payload (default: read stdin when it is not a terminal)')
    .option('--timeout <ms>', 'how long to wait for a reply to each try (default 2000)')
    .option('--retries <n>', 'how many times to send again when no reply came (default 2)')
    .option(
      '--buffer-size <bytes>',
      "the reader's buffer, like recvfrom's length: a longer reply is reported truncated (default 65536)",
    )
    .option('-4, --ipv4', 'IPv4 only')
    .option('-6, --ipv6', 'IPv6 only');
  addSocketOptionFlags(sendCmd)
    .addHelpText(
      'after',
      `
Only a datagram from HOST:PORT counts as the reply (the socket is connected, so the kernel drops others, and
an ICMP "port unreachable" is reported as connection refused at once). The payload may be at most 65,507
bytes over IPv4 and 65,527 over IPv6. Exit 1 when no reply came or it was truncated.
${examples([
  'soket udp send 127.0.0.1 9000 --message "Hello, server!"',
  'soket udp send ::1 9000 --message ping --timeout 500 --retries 3',
  'soket udp send 127.0.0.1 9000 --message ping --buffer-size 16 --json',
])}`,
    )
    .action(run(async (io, host: string, port: string, flags: SendFlags) => send(io, host, port, flags)));
}
