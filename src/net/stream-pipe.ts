/**
 * One netcat session: an input stream (stdin) goes to a connection, and what the connection sends goes to a
 * sink (the CLI's stdout, through its bounded event queue), byte for byte in both directions.
 *
 * - The end of the input shuts down the connection's write side (FIN) unless `shutdown` is false; soket keeps
 *   reading until the peer closes, as `nc -N` does. When the peer finishes first, the session ends (as with
 *   nc): soket stops sending and closes its side.
 * - Backpressure both ways: a full sink pauses the connection; a connection that does not take data pauses
 *   the input. Memory stays bounded whatever the speeds.
 * - The input is borrowed, not consumed: when the session ends it is paused and left as it was, so a
 *   listener with `--keep` can hand the same stdin to the next client. An input that already ended gives the
 *   next client an immediate FIN.
 *
 * @module
 */
import type net from 'node:net';
import { toSoketError } from '../core/errors.js';

/** Where the connection's bytes go. */
export interface PipeSink {
  /** Take a chunk; `false` asks the session to pause the connection until {@link onDrain} calls back. */
  push(chunk: Uint8Array): boolean;
  /** Call back once the sink has room again. */
  onDrain(callback: () => void): void;
}

/** Options of {@link pipeSession}. */
export interface PipeSessionOptions {
  /** What to send (stdin); `undefined`: nothing, shut down at once (with `shutdown`). */
  input?: NodeJS.ReadableStream | undefined;
  /** Where received bytes go. */
  sink: PipeSink;
  /** Shut down the write side at the end of the input. @default true */
  shutdown?: boolean;
  /** Cuts the session (the connection is destroyed). */
  signal?: AbortSignal;
}

/** How a session went. */
export interface PipeResult {
  /** Bytes received from the peer. */
  bytesIn: number;
  /** Bytes sent to the peer. */
  bytesOut: number;
  /** Milliseconds from start to close. */
  durationMs: number;
  /** `closed` (both sides finished), `reset` (the peer reset), `aborted`, or `error`. */
  end: 'closed' | 'reset' | 'aborted' | 'error';
  /** The error's message, for `reset` and `error`. */
  detail?: string;
}

/**
 * Run one session on a connected socket.
 *
 * @param socket - the connection (TCP, TLS or Unix; created with `allowHalfOpen` for half-close to work)
 * @param options - input, sink, shutdown, signal
 * @returns byte counts and how it ended, once the connection has closed
 * @example
 * ```ts
 * const r = await pipeSession(socket, { input: process.stdin, sink: { push: (b) => process.stdout.write(b), onDrain: (cb) => process.stdout.once('drain', cb) } });
 * console.error(`${r.bytesIn} in, ${r.bytesOut} out`);
 * ```
 */
export function pipeSession(socket: net.Socket, options: PipeSessionOptions): Promise<PipeResult> {
  const { input, sink, signal } = options;
  const shutdown = options.shutdown ?? true;
  const t0 = performance.now();
  const read0 = socket.bytesRead;
  const written0 = socket.bytesWritten;
  let end: PipeResult['end'] = 'closed';
  let detail: string | undefined;

  const onSocketData = (chunk: Buffer) => {
    if (!sink.push(chunk)) {
      socket.pause();
      sink.onDrain(() => socket.resume());
    }
  };
  socket.on('data', onSocketData);

  const inputEnded = () => (input as { readableEnded?: boolean } | undefined)?.readableEnded === true;
  const onInputData = (chunk: Buffer | string) => {
    if (socket.destroyed || socket.writableEnded) return;
    if (!socket.write(chunk)) input?.pause();
  };
  const onSocketDrain = () => input?.resume();
  const onInputEnd = () => {
    if (shutdown && !socket.destroyed && !socket.writableEnded) socket.end();
  };
  if (input && !inputEnded()) {
    input.on('data', onInputData);
    input.on('end', onInputEnd);
    socket.on('drain', onSocketDrain);
    input.resume();
  } else if (shutdown) {
    socket.end();
  }
  const onAbort = () => {
    end = 'aborted';
    socket.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  return new Promise<PipeResult>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (end !== 'closed') return;
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') end = 'reset';
      else end = 'error';
      detail = toSoketError(err).message;
    });
    socket.once('close', () => {
      signal?.removeEventListener('abort', onAbort);
      socket.off('data', onSocketData);
      if (input) {
        input.off('data', onInputData);
        input.off('end', onInputEnd);
        input.pause();
      }
      const r: PipeResult = {
        bytesIn: socket.bytesRead - read0,
        bytesOut: socket.bytesWritten - written0,
        durationMs: performance.now() - t0,
        end,
      };
      if (detail !== undefined) r.detail = detail;
      resolve(r);
    });
    // The peer finished: the session is over (as with nc), so stop sending and end our side too.
    socket.once('end', () => {
      if (input) {
        input.off('data', onInputData);
        input.pause();
      }
      if (!socket.writableEnded) socket.end();
    });
  });
}
