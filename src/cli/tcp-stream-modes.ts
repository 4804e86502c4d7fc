/**
 * The netcat roles of `soket tcp`: the pipe listener (`tcp listen --mode pipe`, like `nc -l`), exec on a
 * listener or a client (`--exec`/`--sh`, like `ncat --exec`), and the client pipe over any stream address
 * (TCP, Unix, TLS) with an optional hex dump. Each returns a stream of events for main.ts; no socket code
 * beyond wiring the library's pieces together.
 *
 * @module
 */
import { ClosedError } from '../core/errors.js';
import { EventQueue } from '../core/event-queue.js';
import { escapeControl, oneLine } from '../core/text.js';
import { formatHostPort } from '../core/validate.js';
import { type ExecSpec, runExec } from '../net/exec.js';
import type { StreamConnection } from '../net/stream-connect.js';
import { type PipeResult, pipeSession } from '../net/stream-pipe.js';
import {
  type StreamServerAddress,
  type TcpConnectionSummary,
  TcpServer,
  type TcpServerConnection,
  type TcpServerOptions,
  type TcpServerStats,
} from '../net/tcp-server.js';
import type { TlsSession } from '../net/tls-client.js';
import type { PreparedTlsServer } from '../net/tls-config.js';
import { EXIT, type Rendered, stream } from './command.js';
import { formatBytes, formatMs } from './format.js';
import type { Io } from './io.js';
import { type HexSink, tapHex } from './stream-flags.js';

/** How a stream address is shown: `127.0.0.1:7000`, `[::1]:7000`, `unix:/run/a.sock`. */
export function addressText(a: StreamServerAddress, tls = false): string {
  const base = a.family === 'unix' ? `unix:${a.path}` : formatHostPort(a.address, a.port);
  return tls ? `tls:${base}` : base;
}

/** What a TLS listener tells the user at start: its certificate, and how to pin a self-signed one. */
export interface TlsListenInfo {
  selfSigned: boolean;
  subject: string;
  fingerprint256: string;
  pin: string;
  warnings?: string[];
}

/** The TLS facts of a prepared server, for the `listening` event. */
export function tlsListenInfo(t: PreparedTlsServer): TlsListenInfo {
  const info: TlsListenInfo = {
    selfSigned: t.selfSigned,
    subject: t.certificate.subject,
    fingerprint256: t.certificate.fingerprint256,
    pin: t.certificate.pin,
  };
  if (t.warnings.length) info.warnings = t.warnings;
  return info;
}

/** Lines describing a TLS listener's certificate. */
export function tlsListenLines(t: TlsListenInfo): string[] {
  const lines = t.selfSigned
    ? [
        `TLS with an ephemeral self-signed certificate (${escapeControl(t.subject)})`,
        `  SHA-256 fingerprint ${t.fingerprint256}`,
        `  clients can pin it: --pin ${t.pin}`,
      ]
    : [`TLS certificate ${escapeControl(t.subject)}, SHA-256 ${t.fingerprint256}`];
  for (const w of t.warnings ?? []) lines.push(`Warning: ${w}`);
  return lines;
}

/** A TLS session in one line: `TLSv1.3 TLS_AES_256_GCM_SHA384, ALPN h2; certificate CN=x (pinned)`. */
export function tlsSessionLine(s: TlsSession): string {
  const c = s.certificate;
  const how =
    s.accepted === 'pinned'
      ? 'pinned'
      : s.accepted === 'insecure'
        ? `NOT VERIFIED (--insecure)${s.verified ? '' : `: ${s.verifyReason ?? s.verifyCode}`}`
        : 'verified';
  return `${s.protocol ?? 'TLS'} ${s.cipher}${s.alpn ? `, ALPN ${s.alpn}` : ''}; certificate ${escapeControl(c?.subject ?? 'none')} (issuer ${escapeControl(c?.issuer ?? '-')}; SANs ${escapeControl(c?.subjectAltNames.join(', ') || 'none')}; valid to ${c?.validTo ?? '-'}; SHA-256 ${c?.fingerprint256 ?? '-'}) ${how}`;
}

function rateText(bytes: number, ms: number): string {
  return ms > 0 ? `${formatBytes(Math.round((bytes / ms) * 1000))}/s` : '-';
}

// ---------------------------------------------------------------------------------------------------------
// The pipe listener

/** Events of `tcp listen --mode pipe`. */
export type PipeListenEvent =
  | { event: 'listening'; address: string; mode: 'pipe'; keep: boolean; tls?: TlsListenInfo }
  | { event: 'connect'; peer: string }
  | { event: 'data'; bytes: number; data: Uint8Array }
  | { event: 'hex'; lines: string[] }
  | ({ event: 'disconnect'; peer: string } & PipeResult & { rate: number })
  | { event: 'deny'; peer: string; rule: string }
  | { event: 'tls-error'; peer: string; message: string }
  | ({ event: 'stopped' } & TcpServerStats);

function pipeListenText(quiet: boolean) {
  return (e: PipeListenEvent): Rendered => {
    switch (e.event) {
      case 'listening':
        return {
          err: [
            `Listening on ${e.address} (pipe: the client's bytes to stdout, stdin to the client${e.keep ? '; one client after another' : '; one client'}); Ctrl-C stops`,
            ...(e.tls ? tlsListenLines(e.tls) : []),
          ].join('\n'),
        };
      case 'connect':
        return quiet ? undefined : { err: `${e.peer} connected` };
      case 'data':
        return e.data;
      case 'hex':
        return { err: e.lines.join('\n') };
      case 'disconnect':
        return {
          err: `${e.peer} closed (${e.end}${e.detail ? `: ${oneLine(e.detail)}` : ''}): in ${formatBytes(e.bytesIn)}, out ${formatBytes(e.bytesOut)} in ${formatMs(e.durationMs)} (${rateText(e.bytesIn + e.bytesOut, e.durationMs)})`,
        };
      case 'deny':
        return quiet ? undefined : { err: `${e.peer} denied (${e.rule})` };
      case 'tls-error':
        return quiet ? undefined : { err: `${e.peer} TLS handshake failed: ${oneLine(e.message)}` };
      case 'stopped':
        return undefined;
    }
  };
}

/** Options of {@link pipeListen}. */
export interface PipeListenPlan {
  server: TcpServerOptions;
  keep: boolean;
  tls: PreparedTlsServer | undefined;
  hex: HexSink | undefined;
  quiet: boolean;
}

/**
 * `tcp listen --mode pipe`: serve one client (or, with `keep`, one after another; the others wait in the
 * kernel's queue... soket accepts them and holds them unread until their turn), stdin ↔ client.
 */
export async function pipeListen(io: Io, plan: PipeListenPlan) {
  const queue = new EventQueue<PipeListenEvent>();
  const waiting: TcpServerConnection[] = [];
  let busy = false;
  let served = 0;
  let current: Promise<unknown> = Promise.resolve();
  const sink = {
    push: (chunk: Uint8Array) => queue.push({ event: 'data', bytes: chunk.length, data: chunk }),
    onDrain: (cb: () => void) => queue.onDrain(cb),
  };
  const hexOf = (conn: TcpServerConnection) => {
    if (!plan.hex) return;
    tapHex(conn.socket, plan.hex.dumper(conn.id), (lines) =>
      plan.hex?.file ? plan.hex.file(lines) : queue.push({ event: 'hex', lines }),
    );
  };
  let server: TcpServer<StreamServerAddress>;
  const serveNext = () => {
    const conn = waiting.shift();
    if (!conn) return;
    busy = true;
    served++;
    queue.push({ event: 'connect', peer: conn.peer });
    hexOf(conn);
    conn.socket.resume();
    current = pipeSession(conn.socket, { input: io.stdin, sink }).then((r) => {
      plan.hex?.forget(conn.id);
      queue.push({
        event: 'disconnect',
        peer: conn.peer,
        ...r,
        rate: r.durationMs > 0 ? ((r.bytesIn + r.bytesOut) / r.durationMs) * 1000 : 0,
      });
      busy = false;
      if (!plan.keep) {
        void server.close({ timeout: 0 });
        return;
      }
      serveNext();
    });
  };
  server = new TcpServer<StreamServerAddress>(
    { ...plan.server, ...(plan.keep ? {} : { once: true }), signal: io.signal },
    (conn) => {
      conn.socket.pause();
      waiting.push(conn);
      if (!busy) serveNext();
    },
  );
  server.on('deny', (d) => queue.offer({ event: 'deny', peer: d.peer, rule: d.rule }));
  server.on('tls-error', (t) => queue.offer({ event: 'tls-error', ...t }));
  const address = await server.listen();
  const listening: PipeListenEvent = {
    event: 'listening',
    address: addressText(address, Boolean(plan.tls)),
    mode: 'pipe',
    keep: plan.keep,
  };
  if (plan.tls) listening.tls = tlsListenInfo(plan.tls);
  queue.push(listening);
  // The server finishes as the last connection closes; the session's own summary comes from the same close.
  void server.finished.then(async (stats) => {
    await current;
    plan.hex?.close();
    queue.push({ event: 'stopped', ...stats });
    queue.end();
  });
  return stream(queue, pipeListenText(plan.quiet), {
    json: (e) =>
      e.event === 'data'
        ? { event: 'data', bytes: e.bytes, data: Buffer.from(e.data).toString('base64') }
        : e,
    exitCode: () => (served > 0 || io.signal.aborted ? EXIT.ok : EXIT.failed),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Exec on a listener

/** Events of `tcp listen --exec/--sh`. */
export type ExecListenEvent =
  | { event: 'listening'; address: string; exec: string; tls?: TlsListenInfo; warning?: string }
  | { event: 'connect'; peer: string; pid: number | undefined }
  | { event: 'hex'; peer: string; lines: string[] }
  | { event: 'stderr'; peer: string; pid: number | undefined; line: string }
  | {
      event: 'exit';
      peer: string;
      pid: number | undefined;
      code: number | null;
      signal: string | null;
      durationMs: number;
      bytesIn: number;
      bytesOut: number;
    }
  | ({ event: 'disconnect' } & TcpConnectionSummary)
  | { event: 'refuse'; peer: string }
  | { event: 'deny'; peer: string; rule: string }
  | { event: 'tls-error'; peer: string; message: string }
  | ({ event: 'stopped' } & TcpServerStats);

function execListenText(quiet: boolean) {
  return (e: ExecListenEvent): Rendered => {
    switch (e.event) {
      case 'listening':
        return {
          err: [
            ...(e.warning ? [`Warning: ${e.warning}`] : []),
            `Listening on ${e.address}; each client runs ${escapeControl(e.exec)}; Ctrl-C stops`,
            ...(e.tls ? tlsListenLines(e.tls) : []),
          ].join('\n'),
        };
      case 'connect':
        return quiet ? undefined : { err: `${e.peer} connected: started pid ${e.pid ?? '?'}` };
      case 'hex':
        return { err: e.lines.join('\n') };
      case 'stderr':
        return { err: `[${e.peer} pid ${e.pid ?? '?'}] ${escapeControl(e.line)}` };
      case 'exit':
        return {
          err: `${e.peer} pid ${e.pid ?? '?'} exited ${e.signal ? `on ${e.signal}` : `with status ${e.code}`} after ${formatMs(e.durationMs)}; in ${formatBytes(e.bytesIn)}, out ${formatBytes(e.bytesOut)}`,
        };
      case 'disconnect':
        return undefined;
      case 'refuse':
        return quiet ? undefined : { err: `${e.peer} refused: too many connections (--max-conns)` };
      case 'deny':
        return quiet ? undefined : { err: `${e.peer} denied (${e.rule})` };
      case 'tls-error':
        return quiet ? undefined : { err: `${e.peer} TLS handshake failed: ${oneLine(e.message)}` };
      case 'stopped':
        return {
          err: `Stopped: ${e.accepted} connection${e.accepted === 1 ? '' : 's'}, ${e.refused} refused, ${e.denied} denied`,
        };
    }
  };
}

/** `tcp listen --exec/--sh`: each client gets its own run of the program. */
export async function execListen(
  io: Io,
  plan: {
    server: TcpServerOptions;
    spec: ExecSpec;
    tls: PreparedTlsServer | undefined;
    quiet: boolean;
    warning: string | undefined;
    hex?: HexSink | undefined;
  },
) {
  const queue = new EventQueue<ExecListenEvent>();
  const running = new Set<Promise<unknown>>();
  const server = new TcpServer<StreamServerAddress>({ ...plan.server, signal: io.signal }, (conn) => {
    const peer = conn.peer;
    const hex = plan.hex;
    if (hex) {
      tapHex(conn.socket, hex.dumper(conn.id), (lines) =>
        hex.file ? hex.file(lines) : queue.push({ event: 'hex', peer, lines }),
      );
      conn.socket.once('close', () => hex.forget(conn.id));
    }
    let pid: number | undefined;
    const run: Promise<unknown> = runExec(plan.spec, conn.socket, {
      env: io.env,
      ...(conn.remoteAddress !== 'unix'
        ? { peer: { address: conn.remoteAddress, port: conn.remotePort } }
        : {}),
      ...(conn.socket.localAddress
        ? { local: { address: conn.socket.localAddress, port: conn.socket.localPort ?? 0 } }
        : {}),
      onStart: (p) => {
        pid = p;
        queue.offer({ event: 'connect', peer, pid });
      },
      onStderr: (line) => queue.offer({ event: 'stderr', peer, pid, line }),
    }).then((r) => {
      running.delete(run);
      queue.push({
        event: 'exit',
        peer,
        pid: r.pid,
        code: r.code,
        signal: r.signal,
        durationMs: r.durationMs,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
      });
    });
    running.add(run);
  });
  server.on('refuse', (r) => queue.offer({ event: 'refuse', peer: r.peer }));
  server.on('deny', (d) => queue.offer({ event: 'deny', peer: d.peer, rule: d.rule }));
  server.on('tls-error', (t) => queue.offer({ event: 'tls-error', ...t }));
  server.on('disconnect', (s) => queue.offer({ event: 'disconnect', ...s }));
  const address = await server.listen();
  const listening: ExecListenEvent = {
    event: 'listening',
    address: addressText(address, Boolean(plan.tls)),
    exec: plan.spec.display,
  };
  if (plan.tls) listening.tls = tlsListenInfo(plan.tls);
  if (plan.warning) listening.warning = plan.warning;
  queue.push(listening);
  void server.finished.then(async (stats) => {
    await Promise.all(running);
    queue.push({ event: 'stopped', ...stats });
    queue.end();
  });
  return stream(queue, execListenText(plan.quiet));
}

// ---------------------------------------------------------------------------------------------------------
// The client: pipe or exec over any stream

/** Events of `tcp connect` in pipe or exec mode over a stream address. */
export type StreamPipeEvent =
  | {
      event: 'connected';
      target: string;
      remote?: string;
      local?: string;
      connectMs: number;
      tls?: TlsSession;
    }
  | { event: 'data'; bytes: number; data: Uint8Array }
  | { event: 'hex'; lines: string[] }
  | { event: 'stderr'; pid: number | undefined; line: string }
  | { event: 'exit'; pid: number | undefined; code: number | null; signal: string | null }
  | {
      event: 'closed';
      bytesIn: number;
      bytesOut: number;
      durationMs: number;
      rate: number;
      end: string;
      detail?: string;
    };

function streamPipeText(e: StreamPipeEvent): Rendered {
  switch (e.event) {
    case 'connected':
      return {
        err: [
          `Connected to ${e.target}${e.remote && e.remote !== e.target ? ` (${e.remote})` : ''}${e.local ? ` from ${e.local}` : ''} in ${formatMs(e.connectMs)}`,
          ...(e.tls ? [`TLS ${tlsSessionLine(e.tls)}`] : []),
          ...(e.tls?.accepted === 'insecure'
            ? [
                "WARNING: --insecure: the server's certificate was NOT checked; anyone on the path can read and change this connection",
              ]
            : []),
        ].join('\n'),
      };
    case 'data':
      return e.data;
    case 'hex':
      return { err: e.lines.join('\n') };
    case 'stderr':
      return { err: `[pid ${e.pid ?? '?'}] ${escapeControl(e.line)}` };
    case 'exit':
      return { err: `pid ${e.pid ?? '?'} exited ${e.signal ? `on ${e.signal}` : `with status ${e.code}`}` };
    case 'closed':
      return {
        err: `Closed (${e.end}${e.detail ? `: ${oneLine(e.detail)}` : ''}): in ${formatBytes(e.bytesIn)}, out ${formatBytes(e.bytesOut)} in ${formatMs(e.durationMs)} (${rateText(e.bytesIn + e.bytesOut, e.durationMs)})`,
      };
  }
}

/**
 * `tcp connect -q`: no Connected/Closed lines; what a user must see stays (the `--insecure` warning, the data,
 * a program's stderr and exit, the hex dump).
 */
export function quietConnectText<E extends { event: string; tls?: TlsSession }>(
  render: (e: E) => Rendered,
): (e: E) => Rendered {
  return (e) => {
    if (e.event === 'closed') return undefined;
    if (e.event !== 'connected') return render(e);
    return e.tls?.accepted === 'insecure'
      ? {
          err: "WARNING: --insecure: the server's certificate was NOT checked; anyone on the path can read and change this connection",
        }
      : undefined;
  };
}

/** `tcp connect` over a connected stream: stdin ↔ connection (or the connection ↔ a program). */
export function streamConnect(
  io: Io,
  conn: StreamConnection,
  options: { shutdown: boolean; hex: HexSink | undefined; exec: ExecSpec | undefined; quiet?: boolean },
) {
  const queue = new EventQueue<StreamPipeEvent>();
  const connected: StreamPipeEvent = {
    event: 'connected',
    target: conn.target,
    connectMs: Math.round(conn.connectMs * 1000) / 1000,
  };
  if (conn.remoteAddress !== undefined && conn.remotePort !== undefined)
    connected.remote = formatHostPort(conn.remoteAddress, conn.remotePort);
  if (conn.localAddress !== undefined && conn.localPort !== undefined)
    connected.local = formatHostPort(conn.localAddress, conn.localPort);
  if (conn.tls) connected.tls = conn.tls;
  queue.push(connected);
  const socket = conn.socket;
  if (options.hex) {
    tapHex(socket, options.hex.dumper(0), (lines) =>
      options.hex?.file ? options.hex.file(lines) : queue.push({ event: 'hex', lines }),
    );
  }
  const abort = () => socket.destroy(new ClosedError('Interrupted'));
  io.signal.addEventListener('abort', abort, { once: true });
  let failed = false;
  if (options.exec) {
    const t0 = performance.now();
    void runExec(options.exec, socket, {
      env: io.env,
      ...(conn.remoteAddress !== undefined
        ? { peer: { address: conn.remoteAddress, port: conn.remotePort ?? 0 } }
        : {}),
      ...(conn.localAddress !== undefined
        ? { local: { address: conn.localAddress, port: conn.localPort ?? 0 } }
        : {}),
      onStderr: (line) => queue.offer({ event: 'stderr', pid: undefined, line }),
    }).then((r) => {
      io.signal.removeEventListener('abort', abort);
      failed = r.code !== 0;
      queue.push({ event: 'exit', pid: r.pid, code: r.code, signal: r.signal });
      const durationMs = performance.now() - t0;
      queue.push({
        event: 'closed',
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        durationMs,
        rate: ((r.bytesIn + r.bytesOut) / Math.max(durationMs, 1)) * 1000,
        end: 'closed',
      });
      options.hex?.close();
      queue.end();
    });
  } else {
    void pipeSession(socket, {
      input: io.stdin,
      shutdown: options.shutdown,
      sink: {
        push: (chunk) => queue.push({ event: 'data', bytes: chunk.length, data: chunk }),
        onDrain: (cb) => queue.onDrain(cb),
      },
    }).then((r) => {
      io.signal.removeEventListener('abort', abort);
      failed = r.end === 'error';
      const closed: StreamPipeEvent = {
        event: 'closed',
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        durationMs: Math.round(r.durationMs * 1000) / 1000,
        rate: r.durationMs > 0 ? ((r.bytesIn + r.bytesOut) / r.durationMs) * 1000 : 0,
        end: r.end,
      };
      if (r.detail !== undefined) closed.detail = r.detail;
      queue.push(closed);
      options.hex?.close();
      queue.end();
    });
  }
  return stream(queue, options.quiet ? quietConnectText(streamPipeText) : streamPipeText, {
    json: (e) =>
      e.event === 'data'
        ? { event: 'data', bytes: e.bytes, data: Buffer.from(e.data).toString('base64') }
        : e,
    exitCode: () => (io.signal.aborted ? EXIT.interrupted : failed ? EXIT.failed : EXIT.ok),
  });
}
