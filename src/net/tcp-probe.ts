/**
 * One TCP connect probe, made accurate under load (issue 17):
 *
 * - the port's timer starts when its SYN has been sent, not when the probe was queued: Node issues connect(2)
 *   for an IP literal in a tick it queues inside `connect()`, and the timer is armed in the tick after it;
 * - when the timer fires, one poll phase is let through before calling it a timeout — libuv runs timers
 *   before polling, so a reply that has already arrived may still be waiting in the kernel;
 * - on loopback, where nothing is lost in transit, a port that still timed out is tried once more;
 * - a TCP self-connect (the kernel picked the probed port as the source port, so the socket connected to
 *   itself: simultaneous open) is not an open port: nothing listens there;
 * - EMFILE/ENFILE (descriptors exhausted by something else) waits for descriptors and tries again instead of
 *   reporting the port.
 *
 * @module
 */
import net from 'node:net';
import { abortError } from '../core/deadline.js';
import { toSoketError } from '../core/errors.js';
import { formatHostPort } from '../core/validate.js';
import type { ProbeResult } from './probe.js';

/** Options of {@link probeTcpPort}. */
export interface TcpProbeOptions {
  /** Time from the SYN to an answer, in ms; no answer makes the port `filtered`. */
  timeout: number;
  /** Stops the probe (`AbortError`). */
  signal?: AbortSignal | undefined;
  /** Source port to connect from (like nmap's `-g`). @default an ephemeral port */
  localPort?: number | undefined;
  /** Source address to bind before connecting (`--source`). @default chosen by the kernel */
  localAddress?: string | undefined;
}

/** The code of a self-connect result. */
export const SELF_CONNECT = 'SOKET_SELF_CONNECT';

type Outcome =
  | { kind: 'open'; ms: number }
  | { kind: 'self' }
  | { kind: 'timeout' }
  | { kind: 'aborted' }
  | { kind: 'error'; error: NodeJS.ErrnoException };

const FILTERING = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EACCES', 'EPERM']);
const OUT_OF_DESCRIPTORS = new Set(['EMFILE', 'ENFILE']);
const MAX_DESCRIPTOR_WAITS = 200;

/** Whether an address is loopback (127/8, ::1, or IPv4-mapped 127/8). */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || /^::ffff:127\./i.test(address);
}

function attempt(address: string, port: number, options: TcpProbeOptions) {
  const { timeout, signal, localPort } = options;
  return new Promise<Outcome>((resolve) => {
    const socket = new net.Socket();
    let timer: NodeJS.Timeout | undefined;
    let start = 0;
    let done = false;
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    const onAbort = () => finish({ kind: 'aborted' });
    socket.once('connect', () => {
      const self = socket.localPort === port && socket.localAddress === socket.remoteAddress;
      finish(self ? { kind: 'self' } : { kind: 'open', ms: performance.now() - start });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => finish({ kind: 'error', error }));
    const target: net.TcpSocketConnectOpts = { host: address, port };
    if (localPort !== undefined) target.localPort = localPort;
    if (options.localAddress !== undefined) target.localAddress = options.localAddress;
    socket.connect(target);
    process.nextTick(() => {
      if (done) return;
      start = performance.now();
      timer = setTimeout(() => setImmediate(() => finish({ kind: 'timeout' })), timeout);
    });
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Probe one TCP port: `open` (handshake completed), `closed` (refused, or a self-connect), `filtered` (no
 * answer in time, or unreachable) or `error`.
 *
 * @param address - an IP address (already resolved)
 * @param port - the port
 * @param options - `timeout` from the SYN, `signal`
 * @returns the result; never rejects except with `AbortError` when `signal` fires
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * const r = await probeTcpPort('127.0.0.1', 22, { timeout: 1000 });
 * r.state; // 'open' | 'closed' | 'filtered' | 'error'
 * ```
 */
export async function probeTcpPort(
  address: string,
  port: number,
  options: TcpProbeOptions,
): Promise<ProbeResult> {
  const { timeout, signal } = options;
  const base = { port, address };
  let rechecked = false;
  let waits = 0;
  for (;;) {
    if (signal?.aborted) throw abortError(signal, `Probe of ${formatHostPort(address, port)}`);
    const o = await attempt(address, port, options);
    switch (o.kind) {
      case 'aborted':
        throw abortError(signal as AbortSignal, `Probe of ${formatHostPort(address, port)}`);
      case 'open':
        return { ...base, state: 'open', connectMs: o.ms, code: null, reason: null };
      case 'self':
        return {
          ...base,
          state: 'closed',
          connectMs: null,
          code: SELF_CONNECT,
          reason: 'nothing listens: the connection reached its own socket (TCP self-connect)',
        };
      case 'timeout':
        if (!rechecked && isLoopback(address)) {
          rechecked = true;
          continue;
        }
        return {
          ...base,
          state: 'filtered',
          connectMs: null,
          code: 'SOKET_TIMEOUT',
          reason: `no answer within ${timeout} ms${rechecked ? ' (tried twice)' : ''}`,
        };
      case 'error': {
        const code = o.error.code ?? '';
        if (OUT_OF_DESCRIPTORS.has(code) && waits++ < MAX_DESCRIPTOR_WAITS) {
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        const e = toSoketError(o.error, `Cannot reach ${formatHostPort(address, port)}`);
        if (code === 'ECONNREFUSED') {
          return { ...base, state: 'closed', connectMs: null, code, reason: 'connection refused' };
        }
        if (FILTERING.has(code))
          return { ...base, state: 'filtered', connectMs: null, code, reason: e.message };
        return { ...base, state: 'error', connectMs: null, code: e.code, reason: e.message };
      }
    }
  }
}
