// contract: v2 (issue 10: listen and connect return streams/results; main.ts renders them)
/**
 * `soket tcp listen` (a TCP server: echo, reply, print, chat, discard) and `soket tcp connect` (a client: send
 * one message and print the reply, or a binary-safe netcat-style pipe with correct half-close).
 *
 * `tcp listen` is a stream of events — `listening`, `connect`, `disconnect`, `refuse`, `accept-error`,
 * `message` (print mode), `worker-exit`, `stopping`, `stopped` — logged on stderr as text (print mode's
 * messages on stdout), or one JSON object per line with `--json`. `tcp connect --message` is one result;
 * the pipe is a stream: `connected`, `data` (raw bytes on stdout; base64 in JSON), `closed`.
 *
 * @module
 */
import type { Command } from 'commander';
import { ClosedError, TimeoutError, toSoketError, ValidationError } from '../../core/errors.js';
import { EventQueue } from '../../core/event-queue.js';
import { escapeControl, printable } from '../../core/text.js';
import { exclusive, formatHostPort, parseAddress, parseDuration, parseInteger } from '../../core/validate.js';
import { execExposed, prepareExec } from '../../net/exec.js';
import type { SocketOptions, SocketOptionsReport } from '../../net/sockopt.js';
import { parseStreamAddress, parseUnixPerm, type StreamAddress } from '../../net/stream-address.js';
import { connectStream } from '../../net/stream-connect.js';
import { connectTcp, type TcpConnection } from '../../net/tcp-client.js';
import {
  ChatRoom,
  FRAMINGS,
  type Framing,
  parseTcpMode,
  TCP_MODE_DEFAULTS,
  TCP_MODES,
  type TcpMode,
  tcpModeHandler,
} from '../../net/tcp-modes.js';
import { TCP_REQUEST_DEFAULTS, type TcpReply, tcpRequest } from '../../net/tcp-request.js';
import {
  type StreamServerAddress,
  TCP_SERVER_DEFAULTS,
  type TcpCloseReason,
  type TcpConnectionSummary,
  type TcpHandler,
  TcpServer,
  type TcpServerOptions,
  type TcpServerStats,
} from '../../net/tcp-server.js';
import {
  isTcpWorker,
  runTcpWorker,
  TCP_WORKERS_DEFAULTS,
  type TcpWorkerContext,
  TcpWorkers,
} from '../../net/tcp-workers.js';
import { prepareTlsServer } from '../../net/tls-config.js';
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
import {
  type AccessFlags,
  accessFromFlags,
  addAccessFlags,
  addHexFlags,
  addTlsClientFlags,
  addTlsServerFlags,
  type HexFlags,
  type HexSink,
  hasTlsClientFlags,
  hexFromFlags,
  type TlsClientFlags,
  type TlsServerFlags,
  tapHex,
  tlsClientFromFlags,
  tlsServerFlagWithoutTls,
  tlsServerFromFlags,
} from '../stream-flags.js';
import {
  addressText,
  execListen,
  pipeListen,
  quietConnectText,
  streamConnect,
  type TlsListenInfo,
  tlsListenInfo,
  tlsListenLines,
} from '../tcp-stream-modes.js';

interface ListenFlags extends AccessFlags, HexFlags, TlsServerFlags, Record<string, unknown> {
  mode?: string;
  keep?: boolean;
  exec?: string;
  sh?: string;
  unixPerm?: string;
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

interface ConnectFlags extends TlsClientFlags, HexFlags, Record<string, unknown> {
  message?: string;
  source?: string;
  exec?: string;
  sh?: string;
  wait?: string;
  timeout?: string;
  connectTimeout?: string;
  idleTimeout?: string;
  shutdown?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
  quiet?: boolean;
}

/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`): an IPv4 listen address, which --ipv6-only cannot serve. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}(\.\d{1,3}){3}|[0-9a-f]{1,4}:[0-9a-f]{1,4})$/i;

const REASON_TEXT: Record<TcpCloseReason, string> = {
  'client-closed': 'client closed',
  reset: 'reset by client',
  'idle-timeout': 'idle timeout',
  shutdown: 'server shutting down',
  dropped: 'dropped',
  'server-closed': 'closed by server',
  error: 'error',
};

/** The events of `tcp listen`. */
export type ListenEvent =
  | ({
      event: 'listening';
      mode: TcpMode;
      reply?: string;
      workers?: number;
      strategy?: string;
      maxConnections?: number;
      idleTimeout?: number;
      once?: boolean;
      socketOptions?: SocketOptionsReport;
      tls?: TlsListenInfo;
    } & StreamServerAddress)
  | { event: 'connect'; peer: string; open: number; worker?: number }
  | ({ event: 'disconnect'; worker?: number } & TcpConnectionSummary)
  | { event: 'refuse'; peer: string; maxConnections: number | undefined; worker?: number }
  | { event: 'accept-error'; code: string; count: number; message: string; worker?: number }
  | { event: 'deny'; peer: string; rule: string }
  | { event: 'tls-error'; peer: string; message: string }
  /** Print mode: `text` is the message as sent (UTF-8); the text output escapes it, JSON carries it exactly. */
  | { event: 'message'; peer: string; text: string; worker?: number }
  /** `--hex`: the dump lines of one read or write (`<` received, `>` sent). */
  | { event: 'hex'; peer: string; lines: string[] }
  | { event: 'worker-exit'; worker: number; code: number | null; signal: string | null }
  | { event: 'stopping'; open: number; closeTimeout: number }
  | ({ event: 'stopped' } & TcpServerStats);

/** One line for a closed connection: `closed: client closed; in 14 B, out 14 B, 2.1 ms`. */
function closedLine(s: TcpConnectionSummary): string {
  const why = s.detail ? `${REASON_TEXT[s.reason]} (${s.detail})` : REASON_TEXT[s.reason];
  return `${s.peer} closed: ${why}; in ${formatBytes(s.bytesIn)}, out ${formatBytes(s.bytesOut)}, ${formatMs(s.durationMs)}`;
}

function totalsLine(s: TcpServerStats): string {
  const reasons = Object.entries(s.reasons)
    .map(([r, n]) => `${REASON_TEXT[r as TcpCloseReason] ?? r} ${n}`)
    .join(', ');
  const acceptErrors = s.acceptErrors ? `, ${s.acceptErrors} accept errors` : '';
  return `${s.accepted} connection${s.accepted === 1 ? '' : 's'} (peak ${s.peak} open), ${s.refused} refused${acceptErrors}; in ${formatBytes(s.bytesIn)}, out ${formatBytes(s.bytesOut)}${reasons ? `; ${reasons}` : ''}`;
}

/** The text of `tcp listen`'s events: logs on stderr (only start, errors and totals with --quiet), messages on stdout. */
function listenText(quiet: boolean) {
  return (e: ListenEvent, ctx: RenderContext): Rendered => {
    switch (e.event) {
      case 'listening': {
        const where = addressText(e, Boolean(e.tls));
        const modeText =
          e.mode === 'reply' ? `reply mode: "${escapeControl(e.reply ?? '')}"` : `${e.mode} mode`;
        const extra = [
          e.workers && e.workers > 1
            ? `${e.workers} workers sharing the port via ${e.strategy === 'reuseport' ? 'SO_REUSEPORT' : 'cluster round-robin'}`
            : '',
          e.maxConnections ? `at most ${e.maxConnections} connections` : '',
          e.idleTimeout ? `idle timeout ${e.idleTimeout} ms` : '',
          e.once ? 'one client' : '',
        ].filter(Boolean);
        const lines = [
          `Listening on ${where} (TCP, ${modeText}${extra.length ? `, ${extra.join(', ')}` : ''}); Ctrl-C stops`,
        ];
        if (e.tls) lines.push(...tlsListenLines(e.tls));
        if (e.socketOptions) {
          lines.push(
            `Socket options on the listener (accepted sockets inherit them): ${JSON.stringify(e.socketOptions)}`,
          );
        }
        return { err: lines.join('\n') };
      }
      case 'connect':
        return quiet ? undefined : { err: `${e.peer} connected (${e.open} open)` };
      case 'disconnect':
        return quiet ? undefined : { err: escapeControl(closedLine(e)) };
      case 'refuse':
        return quiet
          ? undefined
          : { err: `${e.peer} refused: ${e.maxConnections ?? '?'} connections open (--max-conns)` };
      case 'accept-error':
        return {
          err: ctx.color.yellow(
            `Warning: ${escapeControl(e.message)} (${e.count} connection${e.count === 1 ? '' : 's'} dropped)`,
          ),
        };
      case 'hex':
        return { err: e.lines.join('\n') };
      case 'message':
        return `[${e.peer}] ${printable(Buffer.from(e.text))}`;
      case 'deny':
        return quiet ? undefined : { err: `${e.peer} denied (${e.rule})` };
      case 'tls-error':
        return quiet ? undefined : { err: `${e.peer} TLS handshake failed: ${escapeControl(e.message)}` };
      case 'worker-exit':
        return { err: `Worker ${e.worker} exited (code ${e.code}, signal ${e.signal}); starting it again` };
      case 'stopping':
        return e.open > 0
          ? {
              err: `Stopping: letting ${e.open} open connection${e.open === 1 ? '' : 's'} finish (up to ${e.closeTimeout} ms)`,
            }
          : undefined;
      case 'stopped':
        return { err: `Stopped: ${totalsLine(e)}` };
    }
  };
}

interface ListenPlan {
  mode: TcpMode;
  reply?: string;
  framing?: Framing;
  chatQueue?: number;
  workers: number;
  server: TcpServerOptions;
  socketOptions: SocketOptions;
  /** Where, as given. */
  address: StreamAddress;
  /** TLS on the listener (`--tls` or `tls:`). */
  tls: boolean;
  /** `--mode pipe`, `--exec`/`--sh`, or one of the library's modes. */
  role: 'mode' | 'pipe' | 'exec';
}

function planListen(addressText: string, flags: ListenFlags): ListenPlan {
  const address = parseStreamAddress(addressText, {
    defaultHost: TCP_SERVER_DEFAULTS.host,
    allowZero: true,
    what: 'listen address',
  });
  const host = address.kind === 'tcp' ? address.host : '';
  const port = address.kind === 'tcp' ? address.port : 0;
  const tls = address.tls || Boolean(flags.tls);
  const withoutTls = tls ? undefined : tlsServerFlagWithoutTls(flags);
  if (withoutTls) throw new ValidationError(`Option ${withoutTls} needs --tls (or a tls: listen address)`);
  if (!tls && flags.alpn !== undefined) throw new ValidationError('Option --alpn needs --tls');
  exclusive({
    '--exec': flags.exec !== undefined,
    '--sh': flags.sh !== undefined,
    '--mode': flags.mode !== undefined && (flags.exec !== undefined || flags.sh !== undefined),
  });
  const role: ListenPlan['role'] =
    flags.exec !== undefined || flags.sh !== undefined ? 'exec' : flags.mode === 'pipe' ? 'pipe' : 'mode';
  if (flags.keep && role !== 'pipe') throw new ValidationError('Option --keep applies to --mode pipe only');
  let mode: TcpMode = flags.mode !== undefined && role === 'mode' ? parseTcpMode(flags.mode) : 'echo';
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
    flags.workers !== undefined
      ? parseInteger(flags.workers, '--workers', { min: 1, max: TCP_WORKERS_DEFAULTS.maxWorkers })
      : 1;
  if (workers > 1 && flags.once)
    throw new ValidationError('Options --once and --workers cannot be used together');
  if (flags.ipv6Only && (!host.includes(':') || IPV4_MAPPED.test(host))) {
    throw new ValidationError(`Option --ipv6-only needs an IPv6 listen address such as [::], not ${host}`);
  }
  if (workers > 1 && (address.kind === 'unix' || tls || role !== 'mode')) {
    throw new ValidationError('Option --workers works with TCP echo/reply/print/chat/discard listeners only');
  }
  const socketOptions = socketOptionsFromFlags(flags);
  const server: ListenPlan['server'] = address.kind === 'unix' ? { path: address.path } : { host, port };
  if (flags.unixPerm !== undefined) {
    if (address.kind !== 'unix') throw new ValidationError('Option --unix-perm needs a unix: listen address');
    server.unixPerm = parseUnixPerm(flags.unixPerm, '--unix-perm');
  }
  const access = accessFromFlags(flags);
  if (access) {
    if (address.kind === 'unix')
      throw new ValidationError('Options --allow/--deny apply to TCP listeners, not unix:');
    if (workers > 1) throw new ValidationError('Options --allow/--deny cannot be used with --workers');
    server.access = access;
  }
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
  const plan: ListenPlan = { mode, workers, server, socketOptions, address, tls, role };
  if (flags.reply !== undefined) plan.reply = flags.reply;
  else if (mode === 'reply') plan.reply = TCP_MODE_DEFAULTS.reply;
  if (flags.framing !== undefined) {
    if (!(FRAMINGS as readonly string[]).includes(flags.framing)) {
      throw new ValidationError(`Invalid --framing '${flags.framing}': expected ${FRAMINGS.join(', ')}`);
    }
    plan.framing = flags.framing as Framing;
  }
  if (flags.chatQueue !== undefined)
    plan.chatQueue = parseInteger(flags.chatQueue, '--chat-queue', { min: 1 });
  return plan;
}

/**
 * `--exec 'PROGRAM ARGS...'`: the words of one string, split on whitespace with no shell (as ncat's --exec);
 * `--sh` is for anything that needs quoting, pipes or redirection.
 */
function splitProgram(text: string): { program: string; args: string[] } {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [program, ...args] = words;
  if (program === undefined) throw new ValidationError('Invalid --exec: expected a program');
  return { program, args };
}

/** The handler for a plan; print messages go to `onMessage` (false: pause until `onDrain`). */
function handlerFor(
  plan: ListenPlan,
  onMessage: (m: { peer: string; data: Buffer }) => boolean,
  onDrain: (resume: () => void) => void,
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
    onDrain,
    ...(plan.reply !== undefined ? { reply: plan.reply } : {}),
    ...(plan.framing !== undefined ? { framing: plan.framing } : {}),
  });
}

/** The handler, with each connection's bytes dumped (`--hex`) before the handler sees them. */
function withHex(
  handler: TcpHandler,
  hex: HexSink | undefined,
  push: (peer: string, lines: string[]) => void,
): TcpHandler {
  if (!hex) return handler;
  return (conn) => {
    tapHex(conn.socket, hex.dumper(conn.id), (lines) =>
      hex.file ? hex.file(lines) : push(conn.peer, lines),
    );
    conn.socket.once('close', () => hex.forget(conn.id));
    handler(conn);
  };
}

async function listen(io: Io, address: string, flags: ListenFlags) {
  const plan = planListen(address, flags);
  // Everything that can fail on input is checked before anything listens: the program, the TLS files.
  const spec =
    plan.role === 'exec'
      ? prepareExec(
          flags.exec !== undefined ? splitProgram(flags.exec) : { shell: flags.sh as string },
          io.env,
        )
      : undefined;
  if (plan.tls) {
    plan.server.tls = await prepareTlsServer({
      ...tlsServerFromFlags(flags, (v, what) => parseDuration(v, what, { allowZero: false })),
      selfSignedHosts: plan.address.kind === 'tcp' ? [plan.address.host] : [],
    });
  }
  if ((flags.hex || flags.hexFile !== undefined) && plan.workers > 1)
    throw new ValidationError('Option --hex needs one process: drop --workers');
  const hex = hexFromFlags(flags);
  if (plan.role === 'pipe') {
    return pipeListen(io, {
      server: plan.server,
      keep: Boolean(flags.keep),
      tls: plan.server.tls,
      hex,
      quiet: Boolean(flags.quiet),
    });
  }
  if (spec) {
    const a = plan.address;
    const exposed = a.kind === 'tcp' && execExposed(a.host);
    return execListen(io, {
      server: plan.server,
      spec,
      tls: plan.server.tls,
      quiet: Boolean(flags.quiet),
      hex,
      warning: exposed
        ? `--exec on ${a.kind === 'tcp' ? a.host : ''} hands ${spec.display} to anyone who can reach this port; bind 127.0.0.1 or use --allow`
        : undefined,
    });
  }
  const closeTimeout = plan.server.closeTimeout ?? TCP_SERVER_DEFAULTS.closeTimeout;
  const quiet = Boolean(flags.quiet);

  if (isTcpWorker()) {
    // A worker process started by `--workers`: serve, and report everything to the primary (which prints).
    const { done } = await runTcpWorker(
      (ctx) =>
        handlerFor(
          plan,
          (m) => {
            ctx.emit({ peer: m.peer, text: m.data.toString('utf8') });
            return true;
          },
          (resume) => resume(),
          ctx,
        ),
      { signal: io.signal },
    );
    // No events: the worker's stream ends when its server has stopped and the primary has the counters.
    const events: AsyncIterable<ListenEvent> = {
      async *[Symbol.asyncIterator]() {
        await done;
        yield* [];
      },
    };
    return stream(events, () => undefined);
  }

  // Events flow through a bounded queue to main.ts; print mode's messages pause their connection while
  // stdout is behind (TCP flow control then slows the client), so memory stays flat.
  // Bounded by count and by the characters of the messages held (1024 reads of 64 KiB would be 64 MiB).
  const queue = new EventQueue<ListenEvent>({ sizeOf: (e) => (e.event === 'message' ? e.text.length : 0) });
  const onMessage = (m: { peer: string; data: Buffer }) =>
    queue.push({ event: 'message', peer: m.peer, text: m.data.toString('utf8') });
  const onDrain = (resume: () => void) => queue.onDrain(resume);
  const server =
    plan.workers > 1
      ? new TcpWorkers({ ...plan.server, workers: plan.workers, signal: io.signal })
      : new TcpServer<StreamServerAddress>(
          { ...plan.server, signal: io.signal },
          withHex(handlerFor(plan, onMessage, onDrain), hex, (peer, lines) =>
            queue.push({ event: 'hex', peer, lines }),
          ),
        );
  const perWorker =
    plan.server.maxConnections && plan.workers > 1
      ? Math.ceil(plan.server.maxConnections / plan.workers)
      : plan.server.maxConnections;
  if (server instanceof TcpWorkers) {
    server.on('connect', (c) =>
      queue.push({ event: 'connect', peer: c.peer, open: server.stats().active, worker: c.worker }),
    );
    server.on('message', (m, worker) => {
      const msg = m as { peer: string; text: string };
      queue.push({ event: 'message', peer: msg.peer, text: msg.text, worker });
    });
    server.on('worker-exit', (w) => queue.push({ event: 'worker-exit', ...w }));
    server.on('accept-error', (e) => queue.push({ event: 'accept-error', ...e }));
  } else {
    server.on('connect', (c) =>
      queue.push({ event: 'connect', peer: c.peer, open: server.connections.size }),
    );
    server.on('accept-error', (e) => queue.push({ event: 'accept-error', ...e }));
    server.on('deny', (d) => queue.offer({ event: 'deny', peer: d.peer, rule: d.rule }));
    server.on('tls-error', (t) => queue.offer({ event: 'tls-error', ...t }));
  }
  const onDisconnect = (s: TcpConnectionSummary & { worker?: number }) => {
    queue.push({ event: 'disconnect', ...s, durationMs: Math.round(s.durationMs * 1000) / 1000 });
  };
  const onRefuse = (r: { peer: string; worker?: number }) => {
    queue.push({
      event: 'refuse',
      peer: r.peer,
      maxConnections: perWorker,
      ...(r.worker !== undefined ? { worker: r.worker } : {}),
    });
  };
  if (server instanceof TcpWorkers) {
    server.on('disconnect', onDisconnect);
    server.on('refuse', onRefuse);
  } else {
    server.on('disconnect', onDisconnect);
    server.on('refuse', onRefuse);
  }
  await server.listen();
  const listening: ListenEvent = {
    event: 'listening',
    ...server.address,
    mode: plan.mode,
    ...(plan.reply !== undefined ? { reply: plan.reply } : {}),
    ...(plan.server.maxConnections ? { maxConnections: plan.server.maxConnections } : {}),
    ...(plan.server.idleTimeout ? { idleTimeout: plan.server.idleTimeout } : {}),
    ...(plan.server.once ? { once: true } : {}),
  };
  if (server instanceof TcpWorkers) {
    Object.assign(listening, { workers: plan.workers, strategy: server.strategy });
  } else if (server.socketOptions) {
    Object.assign(listening, { socketOptions: server.socketOptions });
  }
  if (plan.server.tls) Object.assign(listening, { tls: tlsListenInfo(plan.server.tls) });
  queue.push(listening);
  io.signal.addEventListener(
    'abort',
    () => {
      const open = server instanceof TcpWorkers ? server.stats().active : server.connections.size;
      queue.push({ event: 'stopping', open, closeTimeout });
    },
    { once: true },
  );
  void server.finished.then((stats) => {
    queue.push({ event: 'stopped', ...stats });
    queue.end();
  });
  return stream(queue, listenText(quiet));
}

/** The events of the `tcp connect` pipe. */
export type PipeEvent =
  | {
      event: 'connected';
      remote: { address: string; port: number };
      local: { address: string; port: number };
      family: 4 | 6;
      connectMs: number;
    }
  | { event: 'data'; bytes: number; data: Uint8Array }
  | { event: 'closed'; bytesIn: number; bytesOut: number; durationMs: number; by: 'server' | 'us' };

function pipeText(e: PipeEvent): Rendered {
  switch (e.event) {
    case 'connected':
      return {
        err: `Connected to ${formatHostPort(e.remote.address, e.remote.port)} from ${formatHostPort(e.local.address, e.local.port)} in ${formatMs(e.connectMs)}`,
      };
    case 'data':
      return e.data;
    case 'closed': {
      const rate = e.durationMs > 0 ? ((e.bytesIn + e.bytesOut) / e.durationMs) * 1000 : 0;
      return {
        err: `Closed: in ${formatBytes(e.bytesIn)}, out ${formatBytes(e.bytesOut)} in ${formatMs(e.durationMs)} (${formatBytes(Math.round(rate))}/s)`,
      };
    }
  }
}

/** stdin → socket, socket → events, with backpressure both ways; ends when the socket closes. */
async function* pipeEvents(io: Io, conn: TcpConnection, shutdown: boolean): AsyncGenerator<PipeEvent> {
  const { socket } = conn;
  const started = performance.now();
  yield {
    event: 'connected',
    remote: { address: conn.remoteAddress, port: conn.remotePort },
    local: { address: conn.localAddress, port: conn.localPort },
    family: conn.family,
    connectMs: Math.round(conn.connectMs * 1000) / 1000,
  };
  const stdin = io.stdin as NodeJS.ReadableStream & { unpipe(dest?: NodeJS.WritableStream): unknown };
  let serverEnded = false;
  socket.on('end', () => {
    serverEnded = true;
    stdin.unpipe(socket);
  });
  // After the server closed its side, writes of late stdin data fail; that is not an error of the session.
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (serverEnded && (err.code === 'EPIPE' || err.code === 'ERR_STREAM_WRITE_AFTER_END')) return;
  });
  stdin.pipe(socket, { end: shutdown });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  try {
    for await (const chunk of socket as AsyncIterable<Buffer>) {
      yield { event: 'data', bytes: chunk.length, data: chunk };
    }
  } catch (err) {
    if (
      !(
        serverEnded && ['EPIPE', 'ERR_STREAM_WRITE_AFTER_END'].includes((err as { code?: string }).code ?? '')
      )
    )
      throw toSoketError(err, `Connection to ${formatHostPort(conn.remoteAddress, conn.remotePort)}`);
  }
  socket.destroy();
  await closed;
  yield {
    event: 'closed',
    bytesIn: socket.bytesRead,
    bytesOut: socket.bytesWritten,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    by: serverEnded ? 'server' : 'us',
  };
}

function replyText(r: TcpReply): Rendered {
  const where = formatHostPort(r.remote.address, r.remote.port);
  const why =
    r.end === 'server-closed'
      ? 'the server closed the connection'
      : r.end === 'cap'
        ? `the reply passed ${formatBytes(r.data.length)} and was cut there`
        : 'no more data came';
  const summary = `Connected to ${where} from ${formatHostPort(r.local.address, r.local.port)} in ${formatMs(r.connectMs)}; sent ${formatBytes(r.sent)}, received ${formatBytes(r.data.length)}${r.replyMs !== null ? ` (last byte after ${formatMs(r.replyMs)})` : ''}; ${why}`;
  // The reply to a text message is text: end it with a newline when it has none (--json has the exact bytes).
  const out =
    r.data.length > 0 && r.data[r.data.length - 1] !== 0x0a
      ? Buffer.concat([r.data, Buffer.from('\n')])
      : r.data;
  return { out, err: summary };
}

function replyJson(r: TcpReply, wait: number) {
  return {
    remote: r.remote,
    local: r.local,
    family: r.family,
    connectMs: round(r.connectMs),
    sent: r.sent,
    received: r.data.length,
    reply: r.data.toString('utf8'),
    replyBase64: r.data.toString('base64'),
    replyMs: r.replyMs === null ? null : round(r.replyMs),
    end:
      r.end === 'server-closed' ? 'server closed' : r.end === 'cap' ? 'size cap' : `no data for ${wait} ms`,
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** `--source ADDR[:PORT]`: the local address (an IP of this machine) and optionally the port to bind. */
function parseSource(text: string): { localAddress: string; localPort?: number } {
  const a = parseStreamAddress(text, { defaultPort: 0, allowZero: true, what: '--source' });
  if (a.kind !== 'tcp' || a.tls)
    throw new ValidationError(`Invalid --source '${text}': expected ADDR or ADDR:PORT`);
  const { address } = parseAddress(a.host, '--source address');
  return a.port ? { localAddress: address, localPort: a.port } : { localAddress: address };
}

async function connect(io: Io, hostArg: string, portArg: string | undefined, flags: ConnectFlags) {
  // `tcp connect HOST PORT`, or one stream address: `HOST:PORT`, `unix:/path`, `tls:HOST:PORT`.
  const address = parseStreamAddress(
    portArg === undefined
      ? hostArg
      : `${hostArg.includes(':') && !hostArg.startsWith('[') && !/^(unix|tls|tcp):/i.test(hostArg) ? `[${hostArg}]` : hostArg}:${portArg}`,
    { what: 'target' },
  );
  const useTls = address.tls || Boolean(flags.tls);
  if (!useTls && hasTlsClientFlags(flags))
    throw new ValidationError('TLS options (--ca, --pin, --insecure, ...) need --tls or a tls: address');
  exclusive({
    '--exec': flags.exec !== undefined,
    '--sh': flags.sh !== undefined,
    '--message': flags.message !== undefined,
  });
  const source = flags.source !== undefined ? parseSource(flags.source) : undefined;
  if (source && address.kind === 'unix')
    throw new ValidationError('Option --source applies to TCP, not unix:');
  const spec =
    flags.exec !== undefined
      ? prepareExec(splitProgram(flags.exec), io.env)
      : flags.sh !== undefined
        ? prepareExec({ shell: flags.sh }, io.env)
        : undefined;
  const hex = hexFromFlags(flags);
  const host = address.kind === 'tcp' ? address.host : '';
  const port = address.kind === 'tcp' ? address.port : 0;
  exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
  const socketOptions = socketOptionsFromFlags(flags);
  if (flags.wait !== undefined && flags.message === undefined) {
    throw new ValidationError('Option --wait needs --message');
  }
  const timeout =
    flags.timeout !== undefined ? parseDuration(flags.timeout, '--timeout', { allowZero: false }) : undefined;
  const connectTimeout =
    flags.connectTimeout !== undefined
      ? parseDuration(flags.connectTimeout, '--connect-timeout', { allowZero: false })
      : undefined;
  const idle =
    flags.idleTimeout !== undefined
      ? parseDuration(flags.idleTimeout, '--idle-timeout', { allowZero: false })
      : undefined;
  const common = {
    host,
    port,
    family: (flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0) as 0 | 4 | 6,
    signal: io.signal,
    ...(timeout !== undefined ? { timeout } : {}),
    ...(connectTimeout !== undefined ? { connectTimeout } : {}),
    ...(hasSocketOptions(socketOptions) ? { socketOptions } : {}),
    ...(source ?? {}),
  };
  if (address.kind === 'unix' || useTls || spec || hex) {
    if (flags.message !== undefined) {
      throw new ValidationError(
        'Option --message works over plain TCP; pipe the message in instead (printf ... | soket tcp connect ...)',
      );
    }
    const { host: _h, port: _p, ...rest } = common;
    const conn = await connectStream(
      { ...address, tls: useTls },
      {
        ...rest,
        ...(idle !== undefined ? { idleTimeout: idle } : {}),
        ...(useTls ? { tlsOptions: tlsClientFromFlags(flags) } : {}),
      },
    );
    return streamConnect(io, conn, {
      shutdown: flags.shutdown !== false,
      hex,
      exec: spec,
      quiet: Boolean(flags.quiet),
    });
  }
  if (flags.message !== undefined) {
    const wait =
      flags.wait !== undefined
        ? parseDuration(flags.wait, '--wait', { allowZero: false })
        : TCP_REQUEST_DEFAULTS.replyTimeout;
    const r = await tcpRequest({
      ...common,
      message: flags.message,
      replyTimeout: wait,
      shutdown: flags.shutdown !== false,
    });
    const where = formatHostPort(r.remote.address, r.remote.port);
    if (r.data.length === 0 && !io.json) {
      throw r.end === 'server-closed'
        ? new ClosedError(`${where} closed the connection without replying`)
        : new TimeoutError('response', where, wait);
    }
    return result(r, replyText, {
      exitCode: r.data.length > 0 ? EXIT.ok : EXIT.failed,
      json: (v) => replyJson(v, wait),
    });
  }
  const conn = await connectTcp({ ...common, ...(idle !== undefined ? { idleTimeout: idle } : {}) });
  return stream(
    pipeEvents(io, conn, flags.shutdown !== false),
    flags.quiet ? quietConnectText(pipeText) : pipeText,
    {
      json: (e) =>
        e.event === 'data'
          ? { event: 'data', bytes: e.bytes, data: Buffer.from(e.data).toString('base64') }
          : e,
    },
  );
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
      `[HOST:]PORT, unix:/path, unix:@name or tls:[HOST:]PORT to listen on (HOST defaults to ${TCP_SERVER_DEFAULTS.host}; [::]:PORT is dual stack; port 0 picks one)`,
    )
    .option('-m, --mode <mode>', `what to do with each client: ${TCP_MODES.join(', ')}, pipe (default: echo)`)
    .option(
      '--reply <text>',
      `reply mode: the answer to each message, a newline is added (default: "${TCP_MODE_DEFAULTS.reply}")`,
    )
    .option(
      '--framing <framing>',
      `reply/print: what a message is: auto (lines, or what one read brings), line, chunk (default: ${TCP_MODE_DEFAULTS.framing})`,
    )
    .option(
      '--max-conns <n>',
      'at most N clients at once; more are accepted and closed at once (counted as refused)',
    )
    .option('--idle-timeout <ms>', 'close a connection after MS without data either way')
    .option(
      '--close-timeout <ms>',
      `on Ctrl-C, let open connections finish for up to MS before closing them (default: ${TCP_SERVER_DEFAULTS.closeTimeout})`,
    )
    .option('--once', 'serve one client, then exit')
    .option(
      '--workers <n>',
      `use N processes, up to ${TCP_WORKERS_DEFAULTS.maxWorkers} (SO_REUSEPORT where Node has it, else cluster round-robin)`,
    )
    .option(
      '--backlog <n>',
      `length of the queue of connections not yet accepted (default: ${TCP_SERVER_DEFAULTS.backlog})`,
    )
    .option(
      '--chat-queue <bytes>',
      `chat: drop a client with more than BYTES waiting for it (default: ${TCP_MODE_DEFAULTS.chatMaxQueue})`,
    )
    .option('--ipv6-only', 'with [::], accept IPv6 clients only')
    .option('-q, --quiet', 'log only the start, warnings and the totals, not each connection')
    .option('--keep', 'pipe mode: after a client leaves, serve the next one (one at a time)')
    .option(
      '--exec <program>',
      'run PROGRAM ARGS... for each client, its stdin/stdout the connection (split on spaces, no shell)',
    )
    .option('--sh <command>', 'run /bin/sh -c COMMAND for each client')
    .option('--unix-perm <mode>', 'mode of a unix: listening socket, e.g. 0660');
  addTlsServerFlags(listenCmd);
  addAccessFlags(listenCmd);
  addHexFlags(listenCmd);
  addSocketOptionFlags(listenCmd, 'tcp')
    .addHelpText(
      'after',
      `
Modes: echo sends back every byte; reply answers each message with --reply TEXT and a newline; print writes
what each client sends to stdout as "[ADDRESS] text"; chat relays each line to every other client as
"[ADDRESS] line" (a client that stops reading is dropped when its queue passes --chat-queue); discard reads
and drops. A "message" (reply, print) is a line, or what one read brings when it has no newline (--framing).
Ctrl-C or SIGTERM stops accepting, lets open connections finish up to --close-timeout, and exits 0.
With --json, stdout has one JSON object per event: listening, connect, disconnect, refuse, accept-error,
message, worker-exit, stopping, stopped.
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
    .argument(
      '<host>',
      'host name or address, or one address: HOST:PORT, unix:/path, unix:@name, tls:HOST:PORT',
    )
    .argument('[port]', 'port (when HOST is a host)')
    .option('--message <text>', 'send TEXT, print the reply (with a final newline if it has none), exit')
    .option(
      '--wait <ms>',
      `with --message: the reply is complete after MS without more of it (default: ${TCP_REQUEST_DEFAULTS.replyTimeout})`,
    )
    .option(
      '--timeout <ms>',
      'give up after MS in all: name lookup, handshake and (with --message) the reply',
    )
    .option('--connect-timeout <ms>', 'give up the TCP handshake after MS')
    .option('--idle-timeout <ms>', 'pipe: close the connection after MS without data either way')
    .option(
      '--no-shutdown',
      'keep the write side open at end of input (default: shut it down and keep reading)',
    )
    .option('-4, --ipv4', 'IPv4 only')
    .option('-6, --ipv6', 'IPv6 only')
    .option('--source <addr[:port]>', 'bind this local address (and port) before connecting')
    .option('-q, --quiet', 'no Connected/Closed lines on stderr (warnings and errors still)')
    .option(
      '--exec <program>',
      'hand the connection to PROGRAM ARGS... (one string, split on spaces, no shell)',
    )
    .option('--sh <command>', 'hand the connection to /bin/sh -c COMMAND');
  addTlsClientFlags(connectCmd);
  addHexFlags(connectCmd);
  addSocketOptionFlags(connectCmd, 'tcp')
    .addHelpText(
      'after',
      `
Without --message, stdin goes to the socket and the socket to stdout, byte for byte. At the end of stdin the
write side is shut down (the server sees EOF) and soket keeps reading until the server closes the connection;
the byte counts and the rate go to stderr. With --json the pipe prints one JSON object per line: connected,
data (base64), closed.
${examples([
  'soket tcp connect 127.0.0.1 7000 --message "Hello, server!"',
  'printf "GET / HTTP/1.0\\r\\n\\r\\n" | soket tcp connect 127.0.0.1 8080',
  'soket tcp connect ::1 7000 -6 --timeout 2000 < file.bin > echoed.bin',
  'soket tcp connect 127.0.0.1 7000 --message ping --json',
])}`,
    )
    .action(
      run(async (io, host: string, port: string | undefined, flags: ConnectFlags) =>
        connect(io, host, port, flags),
      ),
    );
}
