/**
 * What the UDP engine's main thread and its workers share: the messages between them, the layout of the
 * shared counters and control words, and where each worker-loadable module lives in the three shapes soket
 * runs in (TypeScript sources under tsx, tsc's `dist/`, and the CLI's esbuild bundles).
 *
 * @internal
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DatagramHandlerSpec } from './datagram-handler.js';

/** Engine counters, by index into each worker's Float64Array. */
export const C = {
  datagramsIn: 0,
  datagramsOut: 1,
  bytesIn: 2,
  bytesOut: 3,
  sendErrors: 4,
  receiveErrors: 5,
  truncated: 6,
  handlerErrors: 7,
  forwarded: 8,
  forwardDropped: 9,
  batches: 10,
  kernelDrops: 11,
  kernelTimestamps: 12,
  maxBatch: 13,
  /** The current estimate of the time from the transmit-time read to the kernel's transmit stamp, in ns. */
  sendDelayNs: 14,
  /** Transmit timestamps read from the error queue. */
  txTimestamps: 15,
} as const;

/** Index of the first handler counter; {@link HANDLER_SLOTS} of them follow. */
export const HANDLER_BASE = 16;
/** How many named handler counters a worker can publish. */
export const HANDLER_SLOTS = 48;
/** Doubles in each worker's counter block. */
export const COUNTER_WORDS = HANDLER_BASE + HANDLER_SLOTS;

/** Control words (Int32Array): the stop flag, and datagrams forwarded but not yet taken by the main thread. */
export const CONTROL = { stop: 0, inFlight: 1 } as const;
export const CONTROL_WORDS = 2;

/** What the main thread hands a worker. */
export interface WorkerInit {
  fd: number;
  index: number;
  workers: number;
  handler: DatagramHandlerSpec;
  batch: number;
  slotSize: number;
  forwardLimit: number;
  /** Longest stretch of batches before the worker lets its event loop run (timers, the handler's own work). */
  yieldMs: number;
  counters: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** One forwarded datagram as posted by a worker. */
export interface ForwardItem {
  data: Uint8Array;
  family: 4 | 6;
  address: string;
  port: number;
  sec: number;
  nsec: number;
}

/** Worker → main. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; message: string; unsupported: boolean }
  | { t: 'counter'; name: string; slot: number }
  | { t: 'forward'; items: ForwardItem[] }
  | { t: 'error'; message: string; count: number }
  | { t: 'stopped' };

/**
 * The URL of a worker-loadable module, given its path under `src/` without extension
 * (`platform/udp-engine-worker`). From sources: the `.ts` file (tsx loads it in the worker too); from tsc's
 * `dist/`: the `.js` file; from the CLI bundles: `dist/workers/<path with - for />.cjs`.
 *
 * @param path - e.g. `ntp/sntp-engine-handler`
 * @returns a file URL
 * @throws {Error} when no shape of the module is found next to this one
 * @example
 * ```ts
 * const url = workerModuleUrl('platform/datagram-handlers');
 * ```
 */
export function workerModuleUrl(path: string): string {
  const here = import.meta.url;
  const candidates: string[] = [];
  if (here.endsWith('.ts')) candidates.push(new URL(`../${path}.ts`, here).href);
  else if (here.endsWith('.js')) candidates.push(new URL(`../${path}.js`, here).href);
  else {
    // A CLI bundle: dist/soket.cjs, dist/commands/NAME.cjs or dist/workers/NAME.cjs.
    const file = `${path.replace(/\//g, '-')}.cjs`;
    candidates.push(new URL(`./workers/${file}`, here).href, new URL(`../workers/${file}`, here).href);
  }
  for (const c of candidates) if (existsSync(fileURLToPath(c))) return c;
  throw new Error(`Cannot find the worker module ${path} (looked for ${candidates.join(', ')})`);
}

/**
 * A module specifier a user gave (file URL or path) as a file URL.
 *
 * @example
 * ```ts
 * toModuleUrl('/srv/handler.js'); // 'file:///srv/handler.js'
 * ```
 */
export function toModuleUrl(module: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module;
  return pathToFileURL(module).href;
}
