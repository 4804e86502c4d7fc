/**
 * Forward lookups: a name's addresses the way applications get them (the system resolver: getaddrinfo, so
 * /etc/hosts and nsswitch apply), or any record type over the DNS protocol from chosen servers (Node's c-ares
 * `Resolver`), with TTLs where the resolver reports them and how long each answer took.
 *
 * @module
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import type { StartedTask } from '../core/bounded.js';
import { debug } from '../core/debug.js';
import { TimeoutError, ValidationError } from '../core/errors.js';
import { checkOptionsObject, checkSignal, checkTimeout, isHostname, parseInteger } from '../core/validate.js';
import { type LookupTarget, lookupError, timeoutDetail, timeoutTarget } from './lookup-error.js';
import { raceLookup } from './race.js';
import { type AnswerType, type DnsRecord, fromNode, parseRecordType, type RecordType } from './records.js';
import { type DnsServer, describeServers, normalizeServerText, parseDnsServers } from './server-address.js';

/** Which resolver answers. */
export type ResolverKind = 'system' | 'dns';

/** The label used for the system resolver in answers and messages. */
export const SYSTEM_RESOLVER = 'the system resolver';

/** Options of {@link resolve} (and, with batch options, of `resolveMany`). */
export interface ResolveOptions {
  /**
   * `system`: getaddrinfo (/etc/hosts, nsswitch, every address; what applications connect to). `dns`: the DNS
   * protocol via c-ares, to `server` or to the servers in /etc/resolv.conf.
   * @default 'system', or 'dns' when `server` or `type` is given
   */
  resolver?: ResolverKind;
  /** Only IPv4 (4) or IPv6 (6) addresses; with `type`, only `A` goes with 4 and `AAAA` with 6. @default 0 */
  family?: 0 | 4 | 6;
  /** Record type to ask for (DNS protocol); case-insensitive. @default addresses: A and AAAA */
  type?: RecordType | Lowercase<RecordType>;
  /** DNS server(s) to ask, `HOST[:PORT]` (port 53 by default); a string may hold a comma-separated list. */
  server?: string | readonly string[];
  /** Limit for one name, all tries included, in ms; `0` for none. @default 5000 */
  timeout?: number;
  /** DNS protocol: queries sent to each server before giving up (spread over `timeout`). @default 2 */
  tries?: number;
  /** Cancels the lookup (`AbortError`); a DNS query in flight is cancelled with `Resolver.cancel()`. */
  signal?: AbortSignal;
}

/** Defaults of {@link ResolveOptions}, in one place. */
export const RESOLVE_DEFAULTS = { family: 0, timeout: 5000, tries: 2 } as const;

/** One name's answer. */
export interface ResolveResult {
  /** The name looked up (trimmed; an internationalised name in its ASCII `xn--` form). */
  name: string;
  /** What was asked for: `['A', 'AAAA']` for addresses, otherwise the one type. */
  types: RecordType[];
  /** Which resolver answered. */
  resolver: ResolverKind;
  /** The server(s) asked (`127.0.0.1:53`), or `the system resolver`. */
  server: string;
  /** The records, in the resolver's order (addresses: A then AAAA over DNS; getaddrinfo's order otherwise). */
  records: DnsRecord[];
  /** How long the lookup took, in ms. */
  elapsedMs: number;
  /**
   * Addresses over DNS only: a family whose query failed (NXDOMAIN, REFUSED, SERVFAIL, no reply in time) while
   * the other family answered with records — the name then resolves, as with getaddrinfo, and this says what
   * the failing family returned. Absent when nothing failed (no data for one family is not a failure).
   */
  failed?: FamilyFailure[];
}

/**
 * A checked set of options, shared by every lookup of a batch.
 * @internal
 */
export interface ResolvePlan {
  resolver: ResolverKind;
  family: 0 | 4 | 6;
  /** The record type, or undefined for addresses. */
  type: RecordType | undefined;
  types: RecordType[];
  servers: DnsServer[] | undefined;
  server: string;
  timeout: number | undefined;
  tries: number;
}

/**
 * Check options once and work out what will be asked of whom.
 *
 * @throws {ValidationError} on bad or conflicting options
 * @internal
 */
export function planResolve(options: ResolveOptions): ResolvePlan {
  checkOptionsObject(options, 'lookup options');
  checkSignal(options.signal);
  const family = options.family ?? RESOLVE_DEFAULTS.family;
  if (family !== 0 && family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid family '${String(family)}': expected 0, 4 or 6`);
  }
  const type = options.type === undefined ? undefined : parseRecordType(options.type);
  const servers = options.server === undefined ? undefined : parseDnsServers(options.server);
  const wantsDns = type !== undefined || servers !== undefined;
  const resolver = options.resolver ?? (wantsDns ? 'dns' : 'system');
  if (resolver !== 'system' && resolver !== 'dns') {
    throw new ValidationError(`Invalid resolver '${String(resolver)}': expected 'system' or 'dns'`);
  }
  if (resolver === 'system' && wantsDns) {
    throw new ValidationError(
      `The system resolver only looks up addresses; ${type !== undefined ? 'a record type' : 'a server'} needs the DNS protocol (resolver 'dns')`,
    );
  }
  if (family !== 0 && type !== undefined && type !== (family === 4 ? 'A' : 'AAAA')) {
    throw new ValidationError(`Family ${family} cannot be used with record type ${type}`);
  }
  const timeout = checkTimeout(options.timeout ?? RESOLVE_DEFAULTS.timeout, { what: 'timeout' });
  const tries = parseInteger(options.tries ?? RESOLVE_DEFAULTS.tries, 'tries', { min: 1, max: 20 });
  const types: RecordType[] =
    type !== undefined ? [type] : family === 4 ? ['A'] : family === 6 ? ['AAAA'] : ['A', 'AAAA'];
  let server = SYSTEM_RESOLVER;
  if (resolver === 'dns') {
    server = servers
      ? describeServers(servers)
      : new dns.promises.Resolver().getServers().map(normalizeServerText).join(', ') || 'no DNS server';
  }
  return { resolver, family, type, types, servers, server, timeout, tries };
}

/**
 * Check a name to look up: a host name (underscores allowed, as in `_sip._udp.example.com`; a trailing dot
 * allowed), an IP address, or an internationalised name (converted to its ASCII `xn--` form).
 *
 * @param name - the name as given
 * @returns the name to send to the resolver
 * @throws {ValidationError} when it cannot be a DNS name
 * @example
 * ```ts
 * checkLookupName('bücher.example'); // 'xn--bcher-kva.example'
 * ```
 */
export function checkLookupName(name: string): string {
  const v = typeof name === 'string' ? name.trim() : '';
  if (typeof name !== 'string')
    throw new ValidationError(`Invalid name '${String(name)}': expected a string`);
  if (v.length === 0) throw new ValidationError('Invalid name: must not be empty');
  if (isIP(v) !== 0) return v;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: any non-ASCII character marks an IDN
  const ascii = /[^\x00-\x7f]/.test(v) ? domainToASCII(v) : v;
  if (ascii === '' || !isHostname(ascii)) {
    throw new ValidationError(`Invalid name '${name}': not a valid DNS name or IP address`);
  }
  return ascii;
}

/**
 * A c-ares resolver for a plan: its servers, and a per-try timeout that spreads `tries` over `timeout`.
 * @internal
 */
export function createResolver(
  plan: Pick<ResolvePlan, 'servers' | 'timeout' | 'tries'>,
): dns.promises.Resolver {
  const perTry = plan.timeout === undefined ? -1 : Math.max(1, Math.floor(plan.timeout / plan.tries));
  const resolver = new dns.promises.Resolver({ timeout: perTry, tries: plan.tries });
  if (plan.servers) resolver.setServers(plan.servers.map((s) => s.text));
  return resolver;
}

type Query = (r: dns.promises.Resolver, name: string) => Promise<unknown>;

/** What a lookup found: its records, and for A+AAAA the family that failed while the other answered. */
interface Answer {
  records: DnsRecord[];
  failed?: FamilyFailure[];
}

const QUERIES: Record<RecordType, Query> = {
  A: (r, n) => r.resolve4(n, { ttl: true }),
  AAAA: (r, n) => r.resolve6(n, { ttl: true }),
  CNAME: (r, n) => r.resolveCname(n),
  MX: (r, n) => r.resolveMx(n),
  NS: (r, n) => r.resolveNs(n),
  TXT: (r, n) => r.resolveTxt(n),
  SOA: (r, n) => r.resolveSoa(n).then((soa) => [soa]),
  SRV: (r, n) => r.resolveSrv(n),
  CAA: (r, n) => r.resolveCaa(n),
  PTR: (r, n) => r.resolvePtr(n),
  NAPTR: (r, n) => r.resolveNaptr(n),
  ANY: (r, n) => r.resolveAny(n),
};

function toRecords(type: RecordType, raw: unknown): DnsRecord[] {
  const list = Array.isArray(raw) ? raw : [];
  const out: DnsRecord[] = [];
  for (const item of list) {
    const own = type === 'ANY' ? String((item as { type?: unknown })?.type ?? '') : type;
    const record = fromNode(own as AnswerType, item);
    if (record) out.push(record);
  }
  return out;
}

function targetOf(plan: ResolvePlan, name: string, rrtype: string): LookupTarget {
  return plan.resolver === 'system'
    ? { hostname: name, rrtype, server: plan.server, system: true }
    : { hostname: name, rrtype, server: plan.server, system: false, tries: plan.tries };
}

/** One DNS query, its error mapped to a soket error. */
function query(
  resolver: dns.promises.Resolver,
  plan: ResolvePlan,
  name: string,
  type: RecordType,
  t0: number,
): Promise<DnsRecord[]> {
  return QUERIES[type](resolver, name).then(
    (raw) => toRecords(type, raw),
    (err: unknown) => {
      throw lookupError(err, targetOf(plan, name, type), performance.now() - t0);
    },
  );
}

/** A query of one family that failed while the other family answered (see {@link ResolveResult.failed}). */
export interface FamilyFailure {
  /** `A` or `AAAA`. */
  type: RecordType;
  /** The error's code: `ENOTFOUND` (NXDOMAIN), `EREFUSED`, `ESERVFAIL`, `SOKET_TIMEOUT`, ... */
  code: string;
  /** The error's message. */
  message: string;
}

function failureOf(type: RecordType, err: unknown): FamilyFailure {
  const e = err as { code?: unknown; message?: unknown };
  return { type, code: String(e?.code ?? 'ERROR'), message: String(e?.message ?? err) };
}

const isNoData = (err: unknown) => (err as { code?: string } | undefined)?.code === 'ENODATA';

/**
 * A and AAAA in parallel, combined the way getaddrinfo combines them: records from either family are the
 * answer, and the other family's failure (NXDOMAIN, REFUSED, SERVFAIL, no reply by the deadline) is reported
 * beside them rather than failing the name. No data for one type is not a failure; no data for both is
 * `ENODATA` for `A/AAAA`; no records and a failure is that failure. The deadline (`plan.timeout`) is kept
 * here, so that an answer from one family is not lost to the other's silence: when it passes with records in
 * hand they are returned, else it is a `TimeoutError`.
 */
function addresses(
  resolver: dns.promises.Resolver,
  plan: ResolvePlan,
  name: string,
  t0: number,
  onTimeout: (() => void) | undefined,
): { work: Promise<Answer>; settled: Promise<void> } {
  const outcomes: Array<{ records?: DnsRecord[]; error?: unknown } | undefined> = [undefined, undefined];
  const types = ['A', 'AAAA'] as const;
  const queries = types.map((type, k) =>
    query(resolver, plan, name, type, t0).then(
      (records) => {
        outcomes[k] = { records };
      },
      (error: unknown) => {
        outcomes[k] = { error };
      },
    ),
  );
  const settled = Promise.all(queries).then(() => undefined);
  const combine = (final: boolean): Answer | undefined => {
    const records = outcomes.flatMap((o) => o?.records ?? []);
    if (records.length === 0) {
      if (!final && outcomes.some((o) => o === undefined)) return undefined;
      const errors = outcomes.map((o) => o?.error);
      if (errors.every(isNoData)) {
        throw lookupError({ code: 'ENODATA' }, targetOf(plan, name, 'A/AAAA'), performance.now() - t0);
      }
      const failure = errors.find((e) => e !== undefined && !isNoData(e));
      if (failure !== undefined) throw failure;
      return undefined; // final, nothing answered: the caller's timeout
    }
    if (!final && outcomes.some((o) => o === undefined)) return undefined;
    const failed: FamilyFailure[] = [];
    outcomes.forEach((o, k) => {
      const type = types[k] as RecordType;
      if (o === undefined) {
        const target = targetOf(plan, name, type);
        failed.push(
          failureOf(
            type,
            new TimeoutError('lookup', timeoutTarget(target), plan.timeout ?? 0, timeoutDetail(target)),
          ),
        );
      } else if (o.error !== undefined && !isNoData(o.error)) failed.push(failureOf(type, o.error));
    });
    return failed.length ? { records, failed } : { records };
  };
  const work = new Promise<Answer>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = (final: boolean) => {
      let answer: Answer | undefined;
      try {
        answer = combine(final);
      } catch (err) {
        if (timer !== undefined) clearTimeout(timer);
        reject(err);
        return;
      }
      if (answer) {
        if (timer !== undefined) clearTimeout(timer);
        if (final) onTimeout?.();
        resolve(answer);
      } else if (final) {
        onTimeout?.();
        const target = targetOf(plan, name, 'A/AAAA');
        reject(new TimeoutError('lookup', timeoutTarget(target), plan.timeout ?? 0, timeoutDetail(target)));
      }
    };
    for (const q of queries) void q.then(() => settle(false));
    if (plan.timeout) timer = setTimeout(() => settle(true), plan.timeout);
  });
  return { work, settled };
}

function system(plan: ResolvePlan, name: string, t0: number): Promise<DnsRecord[]> {
  return dns.promises.lookup(name, { all: true, family: plan.family, order: 'verbatim' }).then(
    (list) =>
      list.map((a): DnsRecord => {
        const type = a.family === 6 ? 'AAAA' : 'A';
        return { type, ttl: null, data: a.address, address: a.address };
      }),
    (err: unknown) => {
      throw lookupError(err, targetOf(plan, name, plan.types.join('/')), performance.now() - t0);
    },
  );
}

/** How a lookup is run: the shared resolver of a batch, or one of its own. */
export interface LookupContext {
  /** The c-ares resolver (DNS protocol plans). */
  resolver?: dns.promises.Resolver | undefined;
  /** Cancel `resolver` when this lookup times out or is aborted (only when the resolver is its own). */
  cancelOnStop?: boolean;
  /** The caller's signal. */
  signal?: AbortSignal | undefined;
}

/**
 * Start one lookup under a plan. `result` settles on the answer, an error, the timeout or the signal;
 * `settled` when the resolver has really finished with it (getaddrinfo cannot be cancelled).
 *
 * @param plan - from {@link planResolve}
 * @param name - a name checked by {@link checkLookupName}
 * @param context - the resolver to use and the signal
 * @internal
 */
export function startResolve(
  plan: ResolvePlan,
  name: string,
  context: LookupContext = {},
): StartedTask<ResolveResult> {
  const t0 = performance.now();
  const { resolver } = context;
  const cancel = context.cancelOnStop && resolver ? () => resolver.cancel() : undefined;
  let work: Promise<Answer>;
  let settled: Promise<void>;
  // the A+AAAA combination keeps its own deadline (an answer from one family outlives the other's silence)
  let raceTimeout = plan.timeout;
  if (plan.resolver === 'system') work = system(plan, name, t0).then((records) => ({ records }));
  else if (!resolver) throw new Error('startResolve: a DNS plan needs a resolver');
  else if (plan.type === undefined && plan.family === 0) {
    const both = addresses(resolver, plan, name, t0, cancel);
    work = both.work;
    // handled here too: a race that ends first (abort) leaves the combined answer to nobody
    work.catch(() => undefined);
    settled = both.settled;
    raceTimeout = undefined;
  } else {
    work = query(resolver, plan, name, plan.types[0] as RecordType, t0).then((records) => ({ records }));
  }
  settled ??= work.then(
    () => undefined,
    () => undefined,
  );
  const target = targetOf(plan, name, plan.types.join('/'));
  const result = raceLookup(
    work,
    raceTimeout,
    context.signal,
    { target: timeoutTarget(target), detail: timeoutDetail(target) },
    cancel,
  ).then(
    (answer): ResolveResult => ({
      name,
      types: plan.types,
      resolver: plan.resolver,
      server: plan.server,
      records: answer.records,
      elapsedMs: performance.now() - t0,
      ...(answer.failed ? { failed: answer.failed } : {}),
    }),
  );
  return { result, settled };
}

/**
 * Look up a name: its addresses through the system resolver (getaddrinfo: /etc/hosts, nsswitch, every
 * address), or — when `server` or `type` is given — any record type over the DNS protocol.
 *
 * @param name - a host name, an IDN, or an IP address (returned as is by getaddrinfo)
 * @param options - `resolver`, `family`, `type`, `server`, `timeout`, `tries`, `signal`
 * @returns the records, the server asked and how long it took
 * @throws {ValidationError} for a bad name or options
 * @throws {DnsError} `ENOTFOUND` (NXDOMAIN), `ENODATA` (no records of that type), `EREFUSED`, `ESERVFAIL`, ...
 * @throws {TimeoutError} when no answer came within `timeout`
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * import { resolve } from 'soket';
 * (await resolve('localhost')).records.map((r) => r.data); // ['127.0.0.1']
 * const mx = await resolve('example.test', { type: 'MX', server: '127.0.0.1:5353' });
 * mx.records[0]; // { type: 'MX', ttl: null, data: '10 mail.example.test', priority: 10, exchange: 'mail.example.test' }
 * ```
 */
export async function resolve(name: string, options: ResolveOptions = {}): Promise<ResolveResult> {
  const plan = planResolve(options);
  const host = checkLookupName(name);
  const resolver = plan.resolver === 'dns' ? createResolver(plan) : undefined;
  debug('dns', 'resolve', { name: host, types: plan.types, server: plan.server });
  return startResolve(plan, host, { resolver, cancelOnStop: true, signal: options.signal }).result;
}
