/**
 * `soket tcp listen` (a TCP server: echo, reply, print, chat, discard) and `soket tcp connect` (a client:
 * send one message and print the reply, or a binary-safe netcat-style pipe with correct half-close).
 *
 * The server logs on stderr; with `--json` stdout carries one JSON object per line (NDJSON) for each event:
 * `listening`, `connect`, `disconnect`, `refuse`, `message` (print mode) and `stopped`.
 *
 * @module
 */
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { abortError } from '../../core/deadline.js';
import { ClosedError, TimeoutError, toSoketError, ValidationError } from '../../core/errors.js';
import {
  exclusive,
  formatHostPort,
  parseDuration,
  parseHost,
  parseHostPort,
  parseInteger,
  parsePort,
} from '../../core/validate.js';
import type { SocketOptions } from '../../net/sockopt.js';
import { connectTcp } from '../../net/tcp-client.js';
import {
  ChatRoom,
  type Framing,
  type PrintedMessage,
  parseTcpMode,
  TCP_MODES,
  type TcpMode,
  tcpModeHandler,
} from '../../net/tcp-modes.js';
import {
  createTcpServer,
  type TcpCloseReason,
  type TcpConnectionSummary,
  type TcpHandler,
  type TcpServerOptions,
  type TcpServerStats,
} from '../../net/tcp-server.js';
import {
  isTcpWorker,
  runTcpWorker,
  startTcpWorkers,
  type TcpWorkerContext,
  type TcpWorkers,
} from '../../net/tcp-workers.js';
import { EXIT, examples, type Runner } from '../command.js';
import { formatBytes, formatMs } from '../format.js';
import type { Io } from '../io.js';
import { addSocketOptionFlags, hasSocketOptions, socketOptionsFromFlags } from '../socket-flags.js';

interface ListenFlags extends Record<string, unknown> {
  mode?: string;
  reply?: string;
  framing?: string;
  maxConns?: string;
  idleTimeout?: string;
  closeTimeout?: string;
  once?: boolean;
  workers?: string;
  backlog?: string;
  chatQueue?: string;
  ipv6Only?: boolean;
  quiet?: boolean;
}

interface ConnectFlags extends Record<string, unknown> {
  message?: string;
  wait?: string;
  timeout?: string;
  idleTimeout?: string;
  shutdown?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
}

const REASON_TEXT: Record<TcpCloseReason, string> = {
  'client-closed': 'client closed',
  reset: 'reset by client',
  'idle-timeout': 'idle timeout',
  shutdown: 'server shutting down',
  dropped: 'dropped',
  'server-closed': 'closed by server',
  error: 'error',
};

/** One line for a closed connection: `closed: client closed; in 14 B, out 14 B, 2.1 ms`. */
function closedLine(s: TcpConnectionSummary): string {
  const why = s.detail ? `${REASON_TEXT[s.reason]} (${s.detail})` : REASON_TEXT[s.reason];
  return `${s.peer} closed: ${why}; in ${formatBytes(s.bytesIn)}, out ${formatBytes(s.bytesOut)}, ${formatMs(s.durationMs)}`;
}

function totalsLine(s: TcpServerStats): string {
  const reasons = Object.entries(s.reasons)
    .map(([r, n]) => `${REASON_TEXT[r as TcpCloseReason] ?? r} ${n}`)
    .join(', ');
  return `${s.accepted} connection${s.accepted === 1 ? '' : 's'} (peak ${s.peak} open), ${s.refused} refused; in ${formatBytes(s.bytesIn)}, out ${formatBytes(s.bytesOut)}${reasons ? `; ${reasons}` : ''}`;
}

interface ListenPlan {
  host: string;
  port: number;
  mode: TcpMode;
  reply?: string;
  framing?: Framing;
  chatQueue?: number;
  workers: number;
  server: TcpServerOptions;
  socketOptions: SocketOptions;
}

function planListen(address: string, flags: ListenFlags): ListenPlan {
  const { host, port } = parseHostPort(address, { defaultHost: '127.0.0.1', allowZero: true });
  let mode: TcpMode = flags.mode !== undefined ? parseTcpMode(flags.mode) : 'echo';
  if (flags.reply !== undefined) {
    if (flags.mode === undefined) mode = 'reply';
    else if (mode !== 'reply')
      throw new ValidationError(`Option --reply needs --mode reply, not --mode ${mode}`);
  }
  if (flags.framing !== undefined && mode !== 'reply' && mode !== 'print') {
    throw new ValidationError('Option --framing applies to --mode reply and print only');
  }
  if (flags.chatQueue !== undefined && mode !== 'chat') {
    throw new ValidationError('Option --chat-queue applies to --mode chat only');
  }
  const workers =
    flags.workers !== undefined ? parseInteger(flags.workers, '--workers', { min: 1, max: 256 }) : 1;
  if (workers > 1 && flags.once)
    throw new ValidationError('Options --once and --workers cannot be used together');
  const socketOptions = socketOptionsFromFlags(flags);
  const server: TcpServerOptions = { host, port };
  if (flags.maxConns !== undefined)
    server.maxConnections = parseInteger(flags.maxConns, '--max-conns', { min: 1 });
  if (flags.idleTimeout !== undefined)
    server.idleTimeout = parseDuration(flags.idleTimeout, '--idle-timeout', { allowZero: true });
  if (flags.closeTimeout !== undefined)
    server.closeTimeout = parseDuration(flags.closeTimeout, '--close-timeout', { allowZero: true });
  if (flags.backlog !== undefined)
    server.backlog = parseInteger(flags.backlog, '--backlog', { min: 1, max: 65535 });
  if (flags.once) server.once = true;
  if (flags.ipv6Only) server.ipv6Only = true;
  if (hasSocketOptions(socketOptions)) server.socketOptions = socketOptions;
  const plan: ListenPlan = { host, port, mode, workers, server, socketOptions };
  if (flags.reply !== undefined) plan.reply = flags.reply;
  if (flags.framing !== undefined) {
    if (!['auto', 'line', 'chunk'].includes(flags.framing)) {
      throw new ValidationError(`Invalid --framing '${flags.framing}': expected auto, line or chunk`);
    }
    plan.framing = flags.framing as Framing;
  }
  if (flags.chatQueue !== undefined)
    plan.chatQueue = parseInteger(flags.chatQueue, '--chat-queue', { min: 1 });
  return plan;
}

/** The handler for a plan; print messages and chat relays go through `hooks`. */
function handlerFor(
  plan: ListenPlan,
  onMessage: (m: PrintedMessage) => void,
  worker?: TcpWorkerContext,
): TcpHandler {
  if (plan.mode === 'chat') {
    const room = new ChatRoom({
      ...(plan.chatQueue !== undefined ? { maxQueue: plan.chatQueue } : {}),
      ...(worker ? { onRelay: (line: Buffer) => worker.relay(line) } : {}),
    });
    worker?.onRelay((line) => room.deliver(line));
    return room.handler();
  }
  return tcpModeHandler(plan.mode, {
    onMessage,
    ...(plan.reply !== undefined ? { reply: plan.reply } : {}),
    ...(plan.framing !== undefined ? { framing: plan.framing } : {}),
  });
}

/** Text and NDJSON output of the server's events. */
function reporter(io: Io, quiet: boolean) {
  const event = (e: Record<string, unknown>) => {
    if (io.json) io.out(JSON.stringify(e));
  };
  return {
    connect(peer: string, open: number, worker?: number) {
      if (!quiet) io.err(`${peer} connected (${open} open)`);
      event({ event: 'connect', peer, open, ...(worker !== undefined ? { worker } : {}) });
    },
    disconnect(s: TcpConnectionSummary & { worker?: number }) {
      if (!quiet) io.err(closedLine(s));
      event({ event: 'disconnect', ...s, durationMs: Math.round(s.durationMs * 1000) / 1000 });
    },
    refuse(peer: string, max: number | undefined, worker?: number) {
      if (!quiet) io.err(`${peer} refused: ${max ?? '?'} connections open (--max-conns)`);
      event({ event: 'refuse', peer, ...(worker !== undefined ? { worker } : {}) });
    },
    message(m: { peer: string; text: string }) {
      if (io.json) event({ event: 'message', peer: m.peer, text: m.text });
      else io.out(`[${m.peer}] ${m.text}`);
    },
    event,
  };
}

function stopping(io: Io, open: number, closeTimeout: number | undefined): void {
  if (open > 0) {
    io.err(
      `Stopping: letting ${open} open connection${open === 1 ? '' : 's'} finish (up to ${closeTimeout ?? 5000} ms)`,
    );
  }
}

async function listen(io: Io, address: string, flags: ListenFlags): Promise<number> {
  const plan = planListen(address, flags);

  if (isTcpWorker()) {
    // A worker process started by `--workers`: serve, and report everything to the primary.
    const { done } = await runTcpWorker(
      (ctx) => handlerFor(plan, (m) => ctx.emit({ peer: m.peer, text: m.text }), ctx),
      { signal: io.signal },
    );
    await done;
    return EXIT.ok;
  }

  const out = reporter(io, Boolean(flags.quiet));
  const modeText =
    plan.mode === 'reply' ? `reply mode: "${plan.reply ?? 'message received'}"` : `${plan.mode} mode`;

  if (plan.workers > 1) {
    const { once: _once, ...shared } = plan.server;
    const workers: TcpWorkers = await startTcpWorkers({
      ...shared,
      workers: plan.workers,
      signal: io.signal,
    });
    const where = formatHostPort(workers.address.address, workers.address.port);
    io.err(
      `Listening on ${where} (TCP, ${modeText}, ${plan.workers} workers sharing the port via ${workers.strategy === 'reuseport' ? 'SO_REUSEPORT' : 'cluster round-robin'}); Ctrl-C stops`,
    );
    out.event({
      event: 'listening',
      ...workers.address,
      mode: plan.mode,
      workers: plan.workers,
      strategy: workers.strategy,
    });
    const perWorker = plan.server.maxConnections
      ? Math.ceil(plan.server.maxConnections / plan.workers)
      : undefined;
    workers.on('connect', (c) => out.connect(c.peer, workers.stats().active, c.worker));
    workers.on('disconnect', (s) => out.disconnect(s));
    workers.on('refuse', (r) => out.refuse(r.peer, perWorker, r.worker));
    workers.on('message', (m) => out.message(m as { peer: string; text: string }));
    workers.on('worker-exit', (w) =>
      io.err(`Worker ${w.worker} exited (code ${w.code}, signal ${w.signal}); starting it again`),
    );
    io.signal.addEventListener(
      'abort',
      () => stopping(io, workers.stats().active, plan.server.closeTimeout),
      {
        once: true,
      },
    );
    const stats = await workers.finished;
    io.err(`Stopped: ${totalsLine(stats)}`);
    out.event({ event: 'stopped', ...stats });
    return EXIT.ok;
  }

  const server = await createTcpServer(
    { ...plan.server, signal: io.signal },
    handlerFor(plan, (m) => out.message(m)),
  );
  const where = formatHostPort(server.address.address, server.address.port);
  const limits = [
    plan.server.maxConnections ? `at most ${plan.server.maxConnections} connections` : '',
    plan.server.idleTimeout ? `idle timeout ${plan.server.idleTimeout} ms` : '',
    plan.server.once ? 'one client' : '',
  ].filter(Boolean);
  io.err(
    `Listening on ${where} (TCP, ${modeText}${limits.length ? `, ${limits.join(', ')}` : ''}); Ctrl-C stops`,
  );
  if (server.socketOptions) {
    const o = server.socketOptions;
    io.err(`Socket options on the listener (accepted sockets inherit them): ${JSON.stringify(o)}`);
  }
  out.event({ event: 'listening', ...server.address, mode: plan.mode });
  server.on('connect', (c) => out.connect(c.peer, server.connections.size));
  server.on('disconnect', (s) => out.disconnect(s));
  server.on('refuse', (r) => out.refuse(r.peer, plan.server.maxConnections));
  server.on('error', (err) => io.err(`Warning: ${err.message}`));
  io.signal.addEventListener('abort', () => stopping(io, server.connections.size, plan.server.closeTimeout), {
    once: true,
  });
  const stats = await server.finished;
  io.err(`Stopped: ${totalsLine(stats)}`);
  out.event({ event: 'stopped', ...stats });
  return EXIT.ok;
}

/** Wait until `socket` closes; `end` (the server's FIN) stops the stdin pipe. */
async function pipe(
  io: Io,
  flags: ConnectFlags,
  conn: Awaited<ReturnType<typeof connectTcp>>,
): Promise<number> {
  const { socket } = conn;
  const where = formatHostPort(conn.remoteAddress, conn.remotePort);
  const stdin = io.stdin as NodeJS.ReadableStream & { unpipe(dest?: Writable): unknown };
  socket.pipe(io.stdout as Writable, { end: false });
  stdin.pipe(socket, { end: flags.shutdown !== false });
  let serverEnded = false;
  socket.on('end', () => {
    serverEnded = true;
    stdin.unpipe(socket);
  });
  return new Promise<number>((resolve, reject) => {
    const onAbort = () => {
      socket.destroy();
      reject(abortError(io.signal, `Connection to ${where}`));
    };
    io.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // After the server closed its side, writes of late stdin data fail; that is not an error of the session.
      if (serverEnded && (err.code === 'EPIPE' || err.code === 'ERR_STREAM_WRITE_AFTER_END')) return;
      io.signal.removeEventListener('abort', onAbort);
      reject(toSoketError(err, `Connection to ${where}`));
    });
    socket.on('close', (hadError) => {
      io.signal.removeEventListener('abort', onAbort);
      if (!hadError) resolve(EXIT.ok);
    });
  });
}

async function sendMessage(
  io: Io,
  flags: ConnectFlags,
  conn: Awaited<ReturnType<typeof connectTcp>>,
  message: string,
): Promise<number> {
  const { socket } = conn;
  const where = formatHostPort(conn.remoteAddress, conn.remotePort);
  const wait = flags.wait !== undefined ? parseDuration(flags.wait, '--wait', { allowZero: false }) : 2000;
  const chunks: Buffer[] = [];
  const t0 = performance.now();
  let lastData = t0;
  const result = await new Promise<'server' | 'wait'>((resolve, reject) => {
    let timer = setTimeout(() => resolve('wait'), wait);
    const onAbort = () => {
      clearTimeout(timer);
      socket.destroy();
      reject(abortError(io.signal, `Connection to ${where}`));
    };
    io.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (b: Buffer) => {
      chunks.push(b);
      lastData = performance.now();
      clearTimeout(timer);
      timer = setTimeout(() => resolve('wait'), wait);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve('server');
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(toSoketError(err, `Connection to ${where}`));
    });
    socket.write(message);
    if (flags.shutdown !== false) socket.end();
  });
  socket.destroy();
  const reply = Buffer.concat(chunks);
  const replyMs = lastData - t0;
  if (io.json) {
    io.printJson({
      remote: { address: conn.remoteAddress, port: conn.remotePort },
      local: { address: conn.localAddress, port: conn.localPort },
      family: conn.family,
      connectMs: round(conn.connectMs),
      sent: Buffer.byteLength(message),
      received: reply.length,
      reply: reply.toString('utf8'),
      replyBase64: reply.toString('base64'),
      replyMs: reply.length ? round(replyMs) : null,
      end: result === 'server' ? 'server closed' : `no data for ${wait} ms`,
    });
  } else {
    (io.stdout as Writable).write(reply);
    // The reply to a text message is text: end it with a newline when it has none (--json has the exact bytes).
    if (reply.length > 0 && reply[reply.length - 1] !== 0x0a) io.out('');
    io.err(
      `Connected to ${where} from ${formatHostPort(conn.localAddress, conn.localPort)} in ${formatMs(conn.connectMs)}; sent ${formatBytes(Buffer.byteLength(message))}, received ${formatBytes(reply.length)}${reply.length ? ` (last byte after ${formatMs(replyMs)})` : ''}; ${result === 'server' ? 'the server closed the connection' : `no more data for ${wait} ms`}`,
    );
  }
  if (reply.length > 0) return EXIT.ok;
  if (io.json) return EXIT.failed;
  throw result === 'server'
    ? new ClosedError(`${where} closed the connection without replying`)
    : new TimeoutError('response', where, wait);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

async function connect(io: Io, hostArg: string, portArg: string, flags: ConnectFlags): Promise<number> {
  const host = parseHost(hostArg);
  const port = parsePort(portArg);
  exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
  const socketOptions = socketOptionsFromFlags(flags);
  if (flags.wait !== undefined && flags.message === undefined) {
    throw new ValidationError('Option --wait needs --message');
  }
  if (io.json && flags.message === undefined) {
    throw new ValidationError('Option --json needs --message (without it the raw stream goes to stdout)');
  }
  const timeout =
    flags.timeout !== undefined ? parseDuration(flags.timeout, '--timeout', { allowZero: false }) : undefined;
  const idle =
    flags.idleTimeout !== undefined
      ? parseDuration(flags.idleTimeout, '--idle-timeout', { allowZero: false })
      : undefined;
  if (flags.message !== undefined) parseDuration(flags.wait ?? 2000, '--wait', { allowZero: false });
  const conn = await connectTcp({
    host,
    port,
    family: flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0,
    signal: io.signal,
    ...(timeout !== undefined ? { connectTimeout: timeout, lookupTimeout: timeout } : {}),
    ...(idle !== undefined ? { idleTimeout: idle } : {}),
    ...(hasSocketOptions(socketOptions) ? { socketOptions } : {}),
  });
  return flags.message !== undefined ? sendMessage(io, flags, conn, flags.message) : pipe(io, flags, conn);
}

export function register(program: Command, run: Runner): void {
  const tcp = program
    .command('tcp')
    .description(
      'TCP server (echo, reply, print, chat, discard) and client (one message, or a netcat-style pipe)',
    );

  const listenCmd = tcp
    .command('listen')
    .description('serve TCP clients: echo, reply, print, chat or discard; logs each connection on stderr')
    .argument(
      '<address>',
      '[HOST:]PORT to listen on (HOST defaults to 127.0.0.1; [::]:PORT is dual stack; port 0 picks one)',
    )
    .option('-m, --mode <mode>', `what to do with each client: ${TCP_MODES.join(', ')}`, undefined)
    .option('--reply <text>', 'reply mode: the answer to each message (a newline is added)')
    .option(
      '--framing <framing>',
      'reply/print: what a message is: auto (lines, or what one read brings), line, chunk',
    )
    .option(
      '--max-conns <n>',
      'at most N clients at once; more are accepted and closed at once (counted as refused)',
    )
    .option('--idle-timeout <ms>', 'close a connection after MS without data either way')
    .option(
      '--close-timeout <ms>',
      'on Ctrl-C, let open connections finish for up to MS before closing them (default 5000)',
    )
    .option('--once', 'serve one client, then exit')
    .option('--workers <n>', 'use N processes (SO_REUSEPORT where Node has it, else cluster round-robin)')
    .option('--backlog <n>', 'length of the queue of connections not yet accepted (default 511)')
    .option(
      '--chat-queue <bytes>',
      'chat: drop a client with more than BYTES waiting for it (default 1048576)',
    )
    .option('--ipv6-only', 'with [::], accept IPv6 clients only')
    .option('-q, --quiet', 'log only the start and the totals, not each connection');
  addSocketOptionFlags(listenCmd)
    .addHelpText(
      'after',
      `
Modes: echo sends back every byte; reply answers each message with --reply TEXT and a newline; print writes
what each client sends to stdout as "[ADDRESS] text"; chat relays each line to every other client as
"[ADDRESS] line" (a client that stops reading is dropped when its queue passes --chat-queue); discard reads
and drops. A "message" (reply, print) is a line, or what one read brings when it has no newline (--framing).
Ctrl-C or SIGTERM stops accepting, lets open connections finish up to --close-timeout, and exits 0.
With --json, stdout has one JSON object per event (listening, connect, disconnect, refuse, message, stopped).
${examples([
  'soket tcp listen 7000',
  'soket tcp listen 0 --mode reply --reply "message received"',
  'soket tcp listen [::]:7000 --mode chat',
  'soket tcp listen 7000 --mode print --once',
  'soket tcp listen 7000 --max-conns 1000 --idle-timeout 30000 --workers 2',
])}`,
    )
    .action(run(async (io, address: string, flags: ListenFlags) => listen(io, address, flags)));

  const connectCmd = tcp
    .command('connect')
    .description(
      'connect to a TCP server: send --message and print the reply, or pipe stdin ↔ socket like netcat',
    )
    .argument('<host>', 'host name or address')
    .argument('<port>', 'port')
    .option('--message <text>', 'send TEXT, print the reply (with a final newline if it has none), exit')
    .option('--wait <ms>', 'with --message: how long to wait for the reply and for more of it (default 2000)')
    .option('--timeout <ms>', 'give up connecting after MS (name lookup and handshake)')
    .option('--idle-timeout <ms>', 'close the connection after MS without data either way')
    .option(
      '--no-shutdown',
      'keep the write side open at end of input (default: shut it down and keep reading)',
    )
    .option('-4, --ipv4', 'IPv4 only')
    .option('-6, --ipv6', 'IPv6 only');
  addSocketOptionFlags(connectCmd)
    .addHelpText(
      'after',
      `
Without --message, stdin goes to the socket and the socket to stdout, byte for byte. At the end of stdin the
write side is shut down (the server sees EOF) and soket keeps reading until the server closes the connection.
${examples([
  'soket tcp connect 127.0.0.1 7000 --message "Hello, server!"',
  'printf "GET / HTTP/1.0\\r\\n\\r\\n" | soket tcp connect 127.0.0.1 8080',
  'soket tcp connect ::1 7000 -6 --timeout 2000 < file.bin > echoed.bin',
  'soket tcp connect 127.0.0.1 7000 --message ping --json',
])}`,
    )
    .action(
      run(async (io, host: string, port: string, flags: ConnectFlags) => connect(io, host, port, flags)),
    );
}
