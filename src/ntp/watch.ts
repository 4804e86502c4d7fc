/**
 * Network time as a series: {@link getNetworkTime} again and again, politely. A RATE kiss-o'-death doubles the
 * interval (the server asked to be polled less often); DENY and RSTR end the series (stop asking); other
 * failures are reported and the series goes on. Remote servers are never polled more often than once a
 * second; only loopback servers may be polled faster (for tests and demos).
 *
 * @module
 */
import { isIP } from 'node:net';
import { sleep } from '../core/deadline.js';
import {
  AbortError,
  KissOfDeathError,
  type SoketError,
  toSoketError,
  ValidationError,
} from '../core/errors.js';
import { parseDuration, parseHostPort } from '../core/validate.js';
import { isLoopback } from '../net/host-info.js';
import { SNTP_QUERY_DEFAULTS } from './client.js';
import { getNetworkTime, type NetworkTime, type NetworkTimeOptions } from './network-time.js';

/** Options of {@link watchNetworkTime}: those of `getNetworkTime` (one sample per round) and the pace. */
export interface WatchNetworkTimeOptions extends Omit<NetworkTimeOptions, 'samples'> {
  /** Time between rounds in ms; doubled after each RATE kiss-o'-death. @default 8000 */
  interval?: number;
}

/** The defaults of {@link WatchNetworkTimeOptions}, and the polling floor. */
export const WATCH_DEFAULTS = {
  interval: 8000,
  /** The least interval for servers that are not loopback addresses, in ms. */
  minRemoteInterval: 1000,
} as const;

/** One round of a watch. */
export type WatchEvent =
  | { event: 'sample'; round: number; time: NetworkTime; intervalMs: number }
  | { event: 'failure'; round: number; error: SoketError; intervalMs: number; backedOff: boolean };

/**
 * Whether every server is a loopback IP literal (then any polling interval is allowed).
 *
 * @param servers - servers as given (`HOST` or `HOST:PORT`)
 * @returns true when all are loopback addresses
 * @example
 * ```ts
 * allLoopback(['127.0.0.1:11123']); // true
 * ```
 */
export function allLoopback(servers: readonly string[]): boolean {
  return servers.every((s) => {
    const host = parseHostPort(s, { defaultPort: SNTP_QUERY_DEFAULTS.port }).host;
    return isIP(host) !== 0 && isLoopback(host);
  });
}

/**
 * Check a polling interval against the floor for these servers.
 *
 * @param interval - ms between queries
 * @param servers - the servers
 * @param what - the option's name for the message @default 'interval'
 * @returns the interval
 * @throws {ValidationError} when below the floor for remote servers
 * @example
 * ```ts
 * checkPollInterval(200, ['127.0.0.1:11123']); // 200
 * ```
 */
export function checkPollInterval(interval: number, servers: readonly string[], what = 'interval'): number {
  const ms = parseDuration(interval, what);
  if (ms < WATCH_DEFAULTS.minRemoteInterval && !allLoopback(servers)) {
    throw new ValidationError(
      `Invalid ${what} '${interval}': at least ${WATCH_DEFAULTS.minRemoteInterval} ms between queries to a remote server, to be polite`,
    );
  }
  return ms;
}

/**
 * Query the servers every `interval` ms until the signal fires.
 *
 * @param servers - NTP servers, each `HOST` or `HOST:PORT`
 * @param options - interval, and the options of each round
 * @returns an async iterable of rounds (samples and failures)
 * @throws {ValidationError} for bad options or an interval below the floor for remote servers
 * @throws {KissOfDeathError} DENY or RSTR: the server asked to stop
 * @example
 * ```ts
 * import { watchNetworkTime } from 'soket';
 * const ac = new AbortController();
 * for await (const round of watchNetworkTime(['127.0.0.1:11123'], { interval: 200, signal: ac.signal })) {
 *   if (round.event === 'sample') console.log(round.time.offset);
 *   if (round.round >= 3) ac.abort();
 * }
 * ```
 */
export async function* watchNetworkTime(
  servers: string | string[],
  options: WatchNetworkTimeOptions = {},
): AsyncGenerator<WatchEvent> {
  const list = typeof servers === 'string' ? [servers] : servers;
  if (!Array.isArray(list) || list.length === 0) throw new ValidationError('Give at least one NTP server');
  let interval = checkPollInterval(options.interval ?? WATCH_DEFAULTS.interval, list);
  const signal = options.signal;
  for (let round = 1; ; round++) {
    if (signal?.aborted) return;
    try {
      const time = await getNetworkTime(list, { ...options, samples: 1, interval: 0 });
      yield { event: 'sample', round, time, intervalMs: interval };
    } catch (err) {
      if (err instanceof AbortError || signal?.aborted) return;
      const e = toSoketError(err);
      if (e instanceof KissOfDeathError && (e.kissCode === 'DENY' || e.kissCode === 'RSTR')) throw e;
      const backedOff = e instanceof KissOfDeathError && e.kissCode === 'RATE';
      if (backedOff) interval *= 2;
      yield { event: 'failure', round, error: e, intervalMs: interval, backedOff };
    }
    try {
      await sleep(interval, signal);
    } catch {
      return;
    }
  }
}
