/**
 * Batches of forward and reverse lookups with bounded concurrency, streamed as an async iterable.
 *
 * Why soket schedules the work itself: c-ares has no queue — an unbounded burst of queries overflows the
 * server's and the client's socket buffers, and the dropped queries come back as timeouts after retries;
 * getaddrinfo and getnameinfo run on libuv's thread pool, which runs only (threads + 1) / 2 of them at once
 * (2 with the default 4 threads), so a lookup queued behind others would spend its timeout waiting. Here a
 * DNS-protocol batch keeps at most `concurrency` names in flight on one resolver, and a system-resolver batch
 * at most as many as libuv really runs; a lookup that timed out keeps its slot until the resolver lets go.
 *
 * @module
 */
import type dns from 'node:dns';
import { deferIterator, runBounded, type StartedTask } from '../core/bounded.js';
import { debug } from '../core/debug.js';
import type { SoketError } from '../core/errors.js';
import { toSoketError } from '../core/errors.js';
import { checkList, parseInteger } from '../core/validate.js';
import {
  checkLookupName,
  createResolver,
  planResolve,
  type ResolveOptions,
  type ResolveResult,
  startResolve,
} from './resolve.js';
import {
  checkReverseAddress,
  planReverse,
  type ReverseOptions,
  type ReverseResult,
  startReverse,
} from './reverse.js';

/** Names in flight at once over the DNS protocol by default (one resolver, one socket per server). */
export const DNS_CONCURRENCY = 64;

/**
 * Lookups in flight at once through getaddrinfo/getnameinfo that the CLI sizes libuv's thread pool for (when
 * `UV_THREADPOOL_SIZE` is not set): twice as many threads, since libuv runs half its pool for lookups.
 */
export const SYSTEM_CONCURRENCY = 8;

/** The largest `concurrency` accepted. */
export const MAX_CONCURRENCY = 1024;

/** Batch options, on top of the options of a single lookup. */
export interface BatchOptions {
  /**
   * Lookups in flight at once. For the system resolver it is capped at what libuv's thread pool runs at once
   * ({@link systemLookupSlots}).
   * @default 64 over DNS; {@link systemLookupSlots} for the system resolver
   */
  concurrency?: number;
  /** Yield results in input order (early ones wait for the ones before them). @default false */
  ordered?: boolean;
}

/** Options of {@link resolveMany}. */
export interface ResolveManyOptions extends ResolveOptions, BatchOptions {}

/** Options of {@link reverseMany}. */
export interface ReverseManyOptions extends ReverseOptions, BatchOptions {}

/** One lookup of a batch: its position, what was asked, how long it took, and its answer or error. */
export type BatchOutcome<R, Q extends string = string> = {
  /** Position of the input (0-based). */
  index: number;
  /** The name or address as given. */
  query: Q;
  /** How long the lookup took, in ms (up to the answer, the error or the timeout). */
  elapsedMs: number;
} & ({ ok: true; result: R; error?: undefined } | { ok: false; error: SoketError; result?: undefined });

/** One name of {@link resolveMany}. */
export type ResolveOutcome = BatchOutcome<ResolveResult>;

/** One address of {@link reverseMany}. */
export type ReverseOutcome = BatchOutcome<ReverseResult>;

/**
 * How many getaddrinfo/getnameinfo calls libuv runs at once: half its thread pool, rounded up
 * (`UV_THREADPOOL_SIZE`, 4 threads by default, so 2). The pool is sized once, on first use.
 *
 * @param env - where to read `UV_THREADPOOL_SIZE`
 * @returns at least 1
 * @example
 * ```ts
 * systemLookupSlots({}); // 2
 * systemLookupSlots({ UV_THREADPOOL_SIZE: '16' }); // 8
 * ```
 */
export function systemLookupSlots(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number.parseInt(env.UV_THREADPOOL_SIZE ?? '', 10);
  const threads = Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
  return Math.max(1, Math.floor((threads + 1) / 2));
}

/**
 * The concurrency a batch will really use.
 *
 * @param resolver - `system` or `dns`
 * @param requested - the `concurrency` option
 * @returns the requested value (default 64) over DNS; at most {@link systemLookupSlots} for the system resolver
 * @throws {ValidationError} when `requested` is not an integer from 1 to 1024
 * @example
 * ```ts
 * batchConcurrency('dns', undefined); // 64
 * ```
 */
export function batchConcurrency(resolver: 'system' | 'dns', requested: number | undefined): number {
  const wanted =
    requested === undefined
      ? undefined
      : parseInteger(requested, 'concurrency', { min: 1, max: MAX_CONCURRENCY });
  if (resolver === 'dns') return wanted ?? DNS_CONCURRENCY;
  const slots = systemLookupSlots();
  return Math.min(wanted ?? slots, slots);
}

function toOutcome<R>(
  task: { index: number; ok: true; value: R } | { index: number; ok: false; error: unknown },
  query: string,
  started: number[],
  elapsed: (value: R) => number,
): BatchOutcome<R> {
  if (task.ok)
    return { index: task.index, query, elapsedMs: elapsed(task.value), ok: true, result: task.value };
  const t0 = started[task.index] ?? performance.now();
  return {
    index: task.index,
    query,
    elapsedMs: performance.now() - t0,
    ok: false,
    error: toSoketError(task.error),
  };
}

function batch<I, R>(
  items: readonly I[],
  queries: readonly string[],
  resolver: dns.promises.Resolver | undefined,
  concurrency: number,
  options: BatchOptions & { signal?: AbortSignal | undefined },
  start: (item: I, resolver: dns.promises.Resolver | undefined) => StartedTask<R>,
  elapsed: (value: R) => number,
): AsyncGenerator<BatchOutcome<R>, void, undefined> {
  const started: number[] = [];
  const onAbort = () => resolver?.cancel();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  return runBounded(
    items,
    (item, index) => {
      started[index] = performance.now();
      return start(item, resolver);
    },
    {
      concurrency,
      ordered: options.ordered ?? false,
      signal: options.signal,
      map: (task) => toOutcome(task, queries[task.index] ?? '', started, elapsed),
      onEnd: () => {
        options.signal?.removeEventListener('abort', onAbort);
        // However the batch ended, drop whatever is still in flight on its own resolver.
        resolver?.cancel();
      },
    },
  );
}

/**
 * Look up many names with bounded concurrency, yielding each answer (or error) as it arrives, or in input
 * order with `ordered`. Every name and option is checked before the first lookup; a failed lookup is an
 * outcome (`ok: false`), not an exception, so one bad name never hides the others.
 *
 * @param names - the names to look up
 * @param options - everything {@link resolve} takes, plus `concurrency` and `ordered`
 * @returns an async iterable of outcomes, one per name
 * @throws {ValidationError} (on the first iteration) for a bad name or option
 * @throws {AbortError} when `signal` fires; lookups in flight over DNS are cancelled
 * @example
 * ```ts
 * import { resolveMany } from 'soket';
 * for await (const o of resolveMany(['a.example.test', 'b.example.test'], { server: '127.0.0.1:5353' })) {
 *   console.log(o.query, o.ok ? o.result.records.map((r) => r.data) : o.error.code);
 * }
 * ```
 */
export function resolveMany(
  names: Iterable<string>,
  options: ResolveManyOptions = {},
): AsyncGenerator<ResolveOutcome, void, undefined> {
  return deferIterator(() => {
    const plan = planResolve(options);
    const queries = checkList(names, 'names');
    const checked = queries.map((n) => checkLookupName(n));
    const concurrency = batchConcurrency(plan.resolver, options.concurrency);
    const resolver = plan.resolver === 'dns' ? createResolver(plan) : undefined;
    debug('dns', 'resolve batch', {
      names: queries.length,
      concurrency,
      server: plan.server,
      types: plan.types,
    });
    return batch(
      checked,
      queries,
      resolver,
      concurrency,
      options,
      (name, r) => startResolve(plan, name, { resolver: r }),
      (r) => r.elapsedMs,
    );
  });
}

/**
 * Reverse-look-up many addresses with bounded concurrency; like {@link resolveMany}.
 *
 * @param addresses - IPv4 or IPv6 addresses
 * @param options - everything {@link reverse} takes, plus `concurrency` and `ordered`
 * @returns an async iterable of outcomes, one per address
 * @throws {ValidationError} (on the first iteration) for an invalid address or option
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * import { reverseMany } from 'soket';
 * for await (const o of reverseMany(['192.0.2.10', '192.0.2.11'], { server: '127.0.0.1:5353', ordered: true })) {
 *   console.log(o.query, o.ok ? o.result.names.join(' ') : o.error.message);
 * }
 * ```
 */
export function reverseMany(
  addresses: Iterable<string>,
  options: ReverseManyOptions = {},
): AsyncGenerator<ReverseOutcome, void, undefined> {
  return deferIterator(() => {
    const plan = planReverse(options);
    const queries = checkList(addresses, 'addresses');
    const checked = queries.map((a) => checkReverseAddress(a));
    const concurrency = batchConcurrency(plan.resolver, options.concurrency);
    const resolver = plan.resolver === 'dns' ? createResolver(plan) : undefined;
    debug('dns', 'reverse batch', { addresses: queries.length, concurrency, server: plan.server });
    return batch(
      checked,
      queries,
      resolver,
      concurrency,
      options,
      (item, r) => startReverse(plan, item, { resolver: r }),
      (r) => r.elapsedMs,
    );
  });
}
