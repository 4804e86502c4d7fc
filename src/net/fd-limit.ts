/**
 * The open-files limit (RLIMIT_NOFILE, what `ulimit -n` sets) and how many descriptors are left under it, read
 * from /proc (Linux). Batches that open one socket per task (probes) size their concurrency by it, so that a
 * low limit slows them down instead of failing tasks with EMFILE.
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The soft and hard open-files limits; `Infinity` for unlimited. */
export interface OpenFilesLimit {
  soft: number;
  hard: number;
}

/**
 * The process's open-files limit from /proc/self/limits, or `undefined` where that file does not exist.
 *
 * @returns the soft and hard limits
 * @example
 * ```ts
 * openFilesLimit(); // { soft: 1024, hard: 524288 }
 * ```
 */
export function openFilesLimit(): OpenFilesLimit | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return undefined;
  const value = (s: string) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  const soft = value(m[1] as string);
  const hard = value(m[2] as string);
  if (Number.isNaN(soft) || Number.isNaN(hard)) return undefined;
  return { soft, hard };
}

/**
 * Descriptors this process can still open under its soft limit, keeping `reserve` free for everything else
 * (files, the event loop, other sockets); at least 1. `undefined` when /proc cannot tell.
 *
 * @param reserve - descriptors to leave free
 * @returns how many more descriptors may be opened
 * @example
 * ```ts
 * const room = freeDescriptors(); // e.g. 19950 under `ulimit -n 20000`
 * ```
 */
export function freeDescriptors(reserve = 32): number | undefined {
  const limit = openFilesLimit();
  if (!limit || limit.soft === Number.POSITIVE_INFINITY) return undefined;
  let used: number;
  try {
    used = readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
  return Math.max(1, limit.soft - used - reserve);
}
