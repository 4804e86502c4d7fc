// contract: v2 (issue 10)
/**
 * Network time from several servers: a few samples from each, politely spaced; the lowest-delay sample of each
 * server (the one least disturbed by queueing, as NTP's clock filter prefers); then the servers combined by
 * Marzullo's intersection of their correctness intervals (offset ± root distance), which picks the largest
 * group of servers that can all be right at once and leaves out the ones that cannot (falsetickers).
 *
 * @module
 */
import { Deadline, sleep } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import {
  AbortError,
  KissOfDeathError,
  NtsError,
  SoketError,
  TlsError,
  toSoketError,
  UnsynchronizedError,
  ValidationError,
} from '../core/errors.js';
import { parseHostPort, parseInteger } from '../core/validate.js';
import {
  checkQueryOptions,
  queryNts,
  queryResolved,
  resolveServer,
  SNTP_QUERY_DEFAULTS,
  type SntpQueryOptions,
  type SntpResult,
} from './client.js';
import { type NtsClient, ntsClientFor } from './nts-client.js';

/** Options of {@link getNetworkTime}: those of `sntpQuery` (applied to each query) and these. */
export interface NetworkTimeOptions extends SntpQueryOptions {
  /** Samples per server. @default 4 */
  samples?: number;
  /** Time between two samples of one server, in ms (NTP's iburst spacing is 2 s). @default 2000 */
  interval?: number;
  /** How to combine servers: `intersection` (falls back to `median` without a majority) or `median`. @default 'intersection' */
  combine?: 'intersection' | 'median';
}

/** Delay between the first queries of successive servers, in ms. */
const STAGGER_MS = 25;

/** The defaults of {@link NetworkTimeOptions}, in one place. */
export const NETWORK_TIME_DEFAULTS = { samples: 4, interval: 2000, combine: 'intersection' } as const;

/** What one server gave. */
export interface ServerTime {
  /** The server as given. */
  server: string;
  /** Every accepted sample, in order. */
  samples: SntpResult[];
  /** The lowest-delay sample, the one used; absent when none was accepted. */
  best?: SntpResult;
  /** Why sampling failed or stopped early (the last error), if it did. */
  error?: SoketError;
  /** Queries that failed. */
  failures: number;
  /** Whether this server is in the agreeing group. */
  agreed: boolean;
}

/** The combined result. */
export interface NetworkTime {
  /** How far the network's time is ahead of the local clock, in seconds. */
  offset: number;
  /** Bound on the error of `offset`, in seconds (half-width of what the agreeing servers allow). */
  error: number;
  /** The estimated true time when the result was made, in ms since the Unix epoch. */
  time: number;
  /** `intersection` when a majority agreed; `median` otherwise (or when asked). */
  method: 'intersection' | 'median';
  /** Servers whose correctness intervals contain the result. */
  agreed: string[];
  /** Servers that answered but disagree. */
  disagreed: string[];
  /** Largest difference between the offsets of agreeing servers, in seconds. */
  spread: number;
  /** Every server, in the order given. */
  servers: ServerTime[];
}

/**
 * Query several servers (concurrently), a few samples each, and combine them.
 *
 * @param servers - host names or addresses, each optionally `HOST:PORT`
 * @param options - samples, interval, combine, and the options of `sntpQuery` (timeout is per query)
 * @returns the combined offset, which servers agreed, the spread, and every server's samples
 * @throws {ValidationError} for bad options or servers (before anything is sent)
 * @throws {SoketError} when no server gave a usable sample (with one server, that server's own error)
 * @throws {AbortError} when the signal fires
 * @example
 * ```ts
 * import { getNetworkTime } from 'soket';
 * const t = await getNetworkTime(['127.0.0.1:11123', '127.0.0.1:11124'], { samples: 3, interval: 500 });
 * console.log(t.offset, t.agreed, t.spread);
 * ```
 */
export async function getNetworkTime(
  servers: string | string[],
  options: NetworkTimeOptions = {},
): Promise<NetworkTime> {
  const list = typeof servers === 'string' ? [servers] : servers;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
    throw new ValidationError(
      `Invalid NTP servers '${String(servers)}': expected a server (HOST[:PORT]) or an array of servers`,
    );
  }
  if (list.length === 0) throw new ValidationError('Give at least one NTP server');
  const checked = checkQueryOptions(options);
  const samples = parseInteger(options.samples ?? NETWORK_TIME_DEFAULTS.samples, 'samples', {
    min: 1,
    max: 1000,
  });
  const interval = options.interval ?? NETWORK_TIME_DEFAULTS.interval;
  if (!Number.isFinite(interval) || interval < 0) {
    throw new ValidationError(`Invalid sample interval '${interval}': expected a non-negative number of ms`);
  }
  const combine = options.combine ?? NETWORK_TIME_DEFAULTS.combine;
  if (combine !== 'intersection' && combine !== 'median') {
    throw new ValidationError(`Invalid combine method '${String(combine)}': expected intersection or median`);
  }
  for (const s of list) parseHostPort(s, { defaultPort: options.port ?? SNTP_QUERY_DEFAULTS.port });

  const results = await Promise.all(
    list.map(async (server, index): Promise<ServerTime> => {
      const out: ServerTime = { server, samples: [], failures: 0, agreed: false };
      // Stagger the servers so that their replies do not reach the event loop at the same moment (one reply
      // waiting behind another's handler would count the wait as network delay).
      if (index > 0) await sleep(index * STAGGER_MS, options.signal);
      let target: Awaited<ReturnType<typeof resolveServer>> | undefined;
      let nts: NtsClient | undefined;
      try {
        // With NTS the server is the NTS-KE server; its client (and cookies) serve every sample.
        if (checked.nts) nts = ntsClientFor(server, checked.nts, options.port);
        else target = await resolveServer(server, options, new Deadline(checked.timeout, server));
      } catch (err) {
        if (err instanceof AbortError || err instanceof ValidationError) throw err;
        out.error = toSoketError(err);
        out.failures++;
        return out;
      }
      for (let i = 0; i < samples; i++) {
        if (i > 0 && interval > 0) await sleep(interval, options.signal);
        try {
          const r = nts
            ? await queryNts(nts, checked, options, new Deadline(checked.timeout, server))
            : await queryResolved(
                target as Awaited<ReturnType<typeof resolveServer>>,
                checked,
                options.signal,
                new Deadline(checked.timeout, (target as { label: string }).label),
              );
          out.samples.push(r);
        } catch (err) {
          if (err instanceof AbortError) throw err;
          out.failures++;
          out.error = toSoketError(err);
          // A kiss-o'-death asks us to stop (DENY, RSTR) or slow down (RATE): either way, no more samples now.
          if (err instanceof KissOfDeathError || err instanceof UnsynchronizedError) break;
          // A certificate that is not trusted or an NTS-KE server that refuses will not change by asking again.
          if (err instanceof TlsError || err instanceof NtsError) break;
        }
      }
      const best = lowestDelay(out.samples);
      if (best) out.best = best;
      return out;
    }),
  );

  const answered = results.filter((r) => r.best !== undefined);
  if (answered.length === 0) {
    const errors = results.map((r) => r.error ?? new SoketError(`No reply from ${r.server}`));
    if (errors.length === 1) throw errors[0];
    const first = errors[0] as SoketError;
    throw new SoketError(
      `No NTP server gave a usable time: ${results.map((r, i) => `${r.server}: ${errors[i]?.message}`).join('; ')}`,
      first.code,
      { cause: new AggregateError(errors) },
    );
  }
  const combined = combineServers(
    answered.map((r) => r.best as SntpResult),
    combine,
  );
  for (const r of answered) r.agreed = combined.agreedIndexes.has(answered.indexOf(r));
  const agreed = answered.filter((r) => r.agreed);
  const offsets = agreed.map((r) => (r.best as SntpResult).offset);
  const clock = checked.clock;
  const result: NetworkTime = {
    offset: combined.offset,
    error: combined.error,
    time: clock.now() + combined.offset * 1000,
    method: combined.method,
    agreed: agreed.map((r) => r.server),
    disagreed: answered.filter((r) => !r.agreed).map((r) => r.server),
    spread: offsets.length ? Math.max(...offsets) - Math.min(...offsets) : 0,
    servers: results,
  };
  debug('ntp', 'network time', {
    offset: result.offset,
    method: result.method,
    agreed: result.agreed,
    spread: result.spread,
  });
  return result;
}

/**
 * The sample with the lowest delay (NTP's clock filter keeps the one least disturbed by queueing).
 *
 * @param samples - accepted samples
 * @returns the lowest-delay sample, or undefined for none
 * @example
 * ```ts
 * import { lowestDelay, type SntpResult } from 'soket';
 * declare const samples: SntpResult[];
 * lowestDelay(samples)?.offset;
 * ```
 */
export function lowestDelay(samples: SntpResult[]): SntpResult | undefined {
  let best: SntpResult | undefined;
  for (const s of samples) if (best === undefined || s.delay < best.delay) best = s;
  return best;
}

/** A server's best sample, reduced to what combining needs. */
export interface OffsetInterval {
  /** Offset in seconds. */
  offset: number;
  /** Half-width of its correctness interval (root distance) in seconds. */
  rootDistance: number;
}

/** The outcome of {@link combineServers}. */
export interface Combined {
  offset: number;
  error: number;
  method: 'intersection' | 'median';
  /** Indexes (into the input) of the agreeing servers. */
  agreedIndexes: Set<number>;
}

const MIN_DISTANCE = 1e-6;

/**
 * Combine servers' best samples. `intersection` (Marzullo's algorithm): find the point covered by the most
 * intervals `offset ± rootDistance`; if more than half of the servers cover it, they agree, and the result is
 * their distance-weighted mean offset, kept inside the intersection. Otherwise (or with `median`): the median
 * offset, and the servers whose intervals contain it agree. Pure.
 *
 * @param samples - offset and root distance per server
 * @param method - `intersection` or `median`
 * @returns offset, error bound, method used and the agreeing servers
 * @example
 * ```ts
 * import { combineServers } from 'soket';
 * combineServers([{ offset: 0.001, rootDistance: 0.01 }, { offset: 0.002, rootDistance: 0.01 }, { offset: 5, rootDistance: 0.01 }], 'intersection');
 * // → method 'intersection', agreedIndexes {0, 1}
 * ```
 */
export function combineServers(
  samples: OffsetInterval[],
  method: 'intersection' | 'median' = 'intersection',
): Combined {
  const n = samples.length;
  const iv = samples.map((s) => {
    const d = Math.max(MIN_DISTANCE, s.rootDistance);
    return { lo: s.offset - d, hi: s.offset + d, offset: s.offset, d };
  });
  if (method === 'intersection' && n > 0) {
    // Sweep the endpoints; starts sort before ends at the same value so touching intervals overlap.
    const ends = iv.flatMap((v) => [
      { x: v.lo, type: 1 },
      { x: v.hi, type: -1 },
    ]);
    ends.sort((a, b) => a.x - b.x || b.type - a.type);
    let count = 0;
    let best = 0;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < ends.length; i++) {
      const e = ends[i] as { x: number; type: number };
      count += e.type;
      if (count > best) {
        best = count;
        lo = e.x;
        hi = (ends[i + 1] as { x: number }).x;
      }
    }
    if (best * 2 > n) {
      const agreed = new Set<number>();
      iv.forEach((v, i) => {
        if (v.lo <= lo && v.hi >= hi) agreed.add(i);
      });
      let wsum = 0;
      let sum = 0;
      for (const i of agreed) {
        const v = iv[i] as (typeof iv)[number];
        const w = 1 / (v.d * v.d);
        wsum += w;
        sum += w * v.offset;
      }
      const offset = Math.min(hi, Math.max(lo, sum / wsum));
      return {
        offset,
        error: Math.max(offset - lo, hi - offset),
        method: 'intersection',
        agreedIndexes: agreed,
      };
    }
  }
  const sorted = iv.map((v) => v.offset).sort((a, b) => a - b);
  const mid = Math.floor(n / 2);
  const offset =
    n % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  const agreed = new Set<number>();
  iv.forEach((v, i) => {
    if (v.lo <= offset && v.hi >= offset) agreed.add(i);
  });
  const pool = agreed.size > 0 ? [...agreed].map((i) => iv[i] as (typeof iv)[number]) : iv;
  const error = Math.max(0, ...pool.map((v) => Math.abs(v.offset - offset) + v.d));
  return { offset, error, method: 'median', agreedIndexes: agreed };
}
