/**
 * dig-like lookups: a name (or many) and record types asked of DNS servers named the way people name them —
 * `IP`, `IP:PORT`, `[IPv6]:PORT`, a host name (looked up first with the system resolver, as dig does with
 * `@name`), a DoH URL, or nothing (the servers of /etc/resolv.conf) — with the search list and `ndots` of
 * resolv.conf when asked (`dig +search`), and several servers tried in turn when one does not answer.
 *
 * A lookup returns the whole response (see {@link DnsResponse}) whatever its response code; a batch keeps at
 * most `concurrency` questions in flight on one shared client per server (one UDP socket, one TCP/TLS
 * connection or one HTTP/2 session), and yields each outcome as it arrives or in input order.
 *
 * @module
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { parseDnsName, plainNameWireLength } from '../codec/dns-name.js';
import { dnsClassNumber, dnsTypeName, dnsTypeNumber } from '../codec/dns-types.js';
import { runBounded, type StartedTask } from '../core/bounded.js';
import { withTimeout } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import { DnsError, type SoketError, toSoketError, ValidationError } from '../core/errors.js';
import {
  checkBoolean,
  checkList,
  checkOptionsObject,
  checkSignal,
  checkString,
  checkTimeout,
  describeValue,
  formatHostPort,
  parseHostPort,
  parseInteger,
} from '../core/validate.js';
import {
  DNS_QUERY_DEFAULTS,
  DnsClient,
  type DnsClientOptions,
  type DnsResponse,
  type DnsTransport,
  type PlannedQuestion,
  planQuestion,
  planServer,
} from './query.js';
import { RESOLV_CONF, readResolvConf, searchNames } from './resolv-conf.js';

/** Options of {@link dnsLookup} and {@link dnsLookupMany}. */
export interface DnsLookupOptions extends Omit<DnsClientOptions, 'server' | 'signal'> {
  /**
   * Server(s), tried in turn when one does not answer: `IP`, `IP:PORT`, `[IPv6]:PORT`, `HOST[:PORT]` (looked
   * up first), or a DoH URL. A string may hold a comma-separated list. @default the resolv.conf name servers
   */
  server?: string | readonly string[];
  /** Record type(s) to ask for, each its own question. @default 'A' */
  type?: string | number | ReadonlyArray<string | number>;
  /** The questions' class. @default 'IN' */
  class?: string | number;
  /** Apply resolv.conf's search list and ndots to names without a final dot (`dig +search`). @default false */
  search?: boolean;
  /** Where to read the search list and default servers. @default '/etc/resolv.conf' */
  resolvConf?: string;
  /** Address family of server names' addresses: 4, 6, or 0 for either. @default 0 */
  family?: 0 | 4 | 6;
  /** Limit for looking up a server's name, in ms. @default 5000 */
  lookupTimeout?: number;
  /** Cancels the lookup or the batch (`AbortError`). */
  signal?: AbortSignal;
}

/** Options of {@link dnsLookupMany}. */
export interface DnsLookupManyOptions extends DnsLookupOptions {
  /** Questions in flight at once. @default 64 */
  concurrency?: number;
  /** Yield results in input order. @default false */
  ordered?: boolean;
}

/** Defaults of {@link DnsLookupManyOptions}. */
export const DNS_LOOKUP_DEFAULTS = {
  type: 'A',
  concurrency: 64,
  lookupTimeout: 5000,
  search: false,
} as const;

/** One name's answer. */
export interface DnsLookupResult extends DnsResponse {
  /** The name as given. */
  query: string;
  /** The names tried before this answer, with `search` (each NXDOMAIN or empty); empty otherwise. */
  searched: string[];
  /** Servers that failed before this one answered, with why. */
  failedServers: Array<{ server: string; error: string }>;
}

/** One outcome of {@link dnsLookupMany}. */
export type DnsLookupOutcome = {
  /** Position in the batch (names × types, names first). */
  index: number;
  /** The name as given. */
  query: string;
  /** The type asked. */
  type: string;
  elapsedMs: number;
} & (
  | { ok: true; result: DnsLookupResult; error?: undefined }
  | { ok: false; error: SoketError; result?: undefined }
);

/**
 * Check a name for a DNS question: trimmed, an internationalised name in its `xn--` form, at most 63 bytes a
 * label and 255 in all; `\.` and `\DDD` escapes allowed.
 *
 * @param name - as given
 * @returns the name as it will be asked (without a final dot unless one was given)
 * @throws {ValidationError} naming the name and what is wrong
 * @example
 * ```ts
 * checkQueryName('bücher.example'); // 'xn--bcher-kva.example'
 * ```
 */
export function checkQueryName(name: string): string {
  // The common case (a batch checks thousands): a plain name within the limits is its own answer.
  if (typeof name === 'string' && plainNameWireLength(name) > 0) return name;
  const v = checkString(name, 'name').trim();
  if (v.length === 0) throw new ValidationError('Invalid name: must not be empty');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: any non-ASCII character marks an IDN
  const ascii = /[^\x00-\x7f]/.test(v) ? domainToASCII(v) : v;
  if (ascii === '')
    throw new ValidationError(`Invalid name '${name}': not a valid internationalised domain name`);
  parseDnsName(ascii);
  return ascii;
}

/** A server as given, before any name is looked up. */
type ServerSpec =
  | { kind: 'address'; text: string }
  | { kind: 'url'; text: string }
  | { kind: 'name'; host: string; port: number | undefined; text: string };

function parseSpec(value: string, transport: DnsTransport | undefined): ServerSpec {
  const v = value.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    planServer(v, transport);
    return { kind: 'url', text: v };
  }
  let host: string;
  let port: number;
  try {
    // Port 0 marks "none given" (the transport's default applies); an explicit 0 is refused by parsePort.
    ({ host, port } = parseHostPort(v, { defaultPort: 0 }));
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ValidationError(`Invalid DNS server '${value}': ${err.message}`);
  }
  if (isIP(host.split('%')[0] ?? '') !== 0) {
    planServer(v, transport);
    return { kind: 'address', text: v };
  }
  return { kind: 'name', host, port: port === 0 ? undefined : port, text: v };
}

/**
 * Check the `server` option without looking anything up.
 *
 * @throws {ValidationError} for a malformed address, port, host name or URL
 * @internal
 */
export function parseServerSpecs(value: string | readonly string[], transport?: DnsTransport): ServerSpec[] {
  if (typeof value !== 'string' && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
    throw new ValidationError(
      `Invalid DNS server '${describeValue(value)}': expected a string or an array of strings`,
    );
  }
  const parts = (typeof value === 'string' ? [value] : value)
    .flatMap((v) => (/^https:\/\//i.test(v.trim()) ? [v] : v.split(',')))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  if (parts.length === 0) throw new ValidationError('Invalid DNS server: must not be empty');
  return parts.map((p) => parseSpec(p, transport));
}

/**
 * Turn server specs into addresses: names are looked up with the system resolver (getaddrinfo), as dig does
 * for `@name`; every address of a name becomes a server, in the resolver's order.
 *
 * @throws {DnsError} `ENOTFOUND` and the like when a server's name does not resolve
 * @throws {TimeoutError} when the lookup takes longer than `lookupTimeout`
 * @internal
 */
export async function resolveServerSpecs(
  specs: ServerSpec[],
  options: {
    family?: 0 | 4 | 6;
    lookupTimeout?: number | undefined;
    signal?: AbortSignal | undefined;
    transport?: DnsTransport | undefined;
  },
): Promise<string[]> {
  const out: string[] = [];
  for (const spec of specs) {
    if (spec.kind !== 'name') {
      out.push(spec.text);
      continue;
    }
    const port =
      spec.port ?? (options.transport === 'tls' ? DNS_QUERY_DEFAULTS.tlsPort : DNS_QUERY_DEFAULTS.port);
    const addresses = await withTimeout(
      () =>
        dns.promises
          .lookup(spec.host, { all: true, family: options.family ?? 0, order: 'verbatim' })
          .catch((err: unknown) => {
            const code = (err as { code?: string }).code ?? 'EAI_FAIL';
            throw new DnsError(
              `Cannot resolve DNS server name ${spec.host}: ${code === 'ENOTFOUND' ? 'no such name' : code} (the system resolver)`,
              code,
              {
                hostname: spec.host,
                rrtype: options.family === 6 ? 'AAAA' : options.family === 4 ? 'A' : 'A/AAAA',
                server: 'the system resolver',
              },
              { cause: err },
            );
          }),
      {
        timeout: options.lookupTimeout ?? DNS_LOOKUP_DEFAULTS.lookupTimeout,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      { phase: 'lookup', target: `DNS server name ${spec.host}` },
    );
    for (const a of addresses) out.push(formatHostPort(a.address, port));
  }
  return [...new Set(out)];
}

function typesOf(type: DnsLookupOptions['type']): number[] {
  const list =
    type === undefined ? [DNS_LOOKUP_DEFAULTS.type] : Array.isArray(type) ? type : [type as string | number];
  if (list.length === 0) throw new ValidationError('Give at least one record type');
  for (const t of list) checkMnemonic(t, 'type');
  return [...new Set(list.map((t) => dnsTypeNumber(t)))];
}

function checkMnemonic(value: unknown, what: string): void {
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new ValidationError(`Invalid ${what} '${describeValue(value)}': expected a mnemonic or a number`);
  }
}

/** Everything a batch needs, checked and with server names looked up. */
interface LookupPlan {
  clients: DnsClient[];
  types: number[];
  cls: number;
  search: { search: string[]; ndots: number } | undefined;
  via: string;
}

async function planLookup(options: DnsLookupOptions, signal: AbortSignal | undefined): Promise<LookupPlan> {
  checkSignal(signal);
  const types = typesOf(options.type);
  const {
    server,
    type: _t,
    class: qclass,
    search,
    resolvConf,
    family,
    lookupTimeout,
    signal: _s,
    ...client
  } = options;
  if (qclass !== undefined) checkMnemonic(qclass, 'class');
  const cls = qclass === undefined ? 1 : dnsClassNumber(qclass);
  checkBoolean(search, 'search');
  if (resolvConf !== undefined) checkString(resolvConf, 'resolvConf');
  checkTimeout(lookupTimeout, { what: 'lookupTimeout' });
  const specs = server === undefined ? undefined : parseServerSpecs(server, options.transport);
  if (family !== undefined && family !== 0 && family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid family '${String(family)}': expected 0, 4 or 6`);
  }
  // Check every option before any lookup (planServer/planClient throw ValidationError).
  new DnsClient({ ...client, server: specs?.[0]?.kind === 'url' ? specs[0].text : '127.0.0.1' }).close();
  const conf = server === undefined || search ? await readResolvConf(resolvConf ?? RESOLV_CONF) : undefined;
  let servers: string[];
  if (specs) {
    servers = await resolveServerSpecs(specs, {
      family: family ?? 0,
      lookupTimeout,
      signal,
      transport: options.transport,
    });
  } else {
    servers = conf?.nameservers.length ? conf.nameservers : ['127.0.0.1'];
    if (family === 4 || family === 6) {
      const fit = servers.filter((s) => isIP(s.split('%')[0] ?? '') === family);
      if (fit.length) servers = fit;
    }
  }
  if (servers.length === 0)
    throw new DnsError('No address for the DNS server', 'ENOTFOUND', {
      hostname: String(server),
      rrtype: 'A/AAAA',
      server: 'the system resolver',
    });
  const clients = servers.map((s) => new DnsClient({ ...client, server: s, ...(signal ? { signal } : {}) }));
  const first = clients[0] as DnsClient;
  const via = `${clients.map((c) => c.server).join(', ')}${first.plan.server.transport === 'udp' ? '' : ` over ${first.plan.server.transport.toUpperCase()}`}`;
  return {
    clients,
    types,
    cls,
    search: search && conf ? { search: conf.search, ndots: conf.ndots } : undefined,
    via,
  };
}

/** Whether a server failure means "ask the next one" (it did not answer or could not be reached). */
function tryNext(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    code === 'SOKET_TIMEOUT' ||
    code === 'SOKET_TLS' ||
    (typeof code === 'string' && /^E[A-Z]+$/.test(code) && code !== 'EBADRESP')
  );
}

/** Whether an answer ends a search: anything but NXDOMAIN, SERVFAIL and an empty NOERROR (as glibc's res_search). */
function searchStops(r: DnsResponse): boolean {
  if (r.message.rcode === 'NXDOMAIN' || r.message.rcode === 'SERVFAIL') return false;
  return !(r.message.rcode === 'NOERROR' && r.message.answer.length === 0);
}

function lookupOne(
  plan: LookupPlan,
  name: string,
  query: string,
  type: number,
  signal: AbortSignal | undefined,
): Promise<DnsLookupResult> {
  if (!plan.search && plan.clients.length === 1) {
    // The common case (one server, no search list): straight to the client.
    let q: PlannedQuestion;
    try {
      q = planQuestion({ name, type, class: plan.cls });
    } catch (err) {
      return Promise.reject(err);
    }
    return (plan.clients[0] as DnsClient).queryPlanned(q, signal, query) as Promise<DnsLookupResult>;
  }
  return lookupSearching(plan, name, query, type, signal);
}

function withQuery(
  r: DnsResponse,
  query: string,
  searched: string[],
  failedServers: DnsLookupResult['failedServers'],
): DnsLookupResult {
  const out = r as DnsLookupResult;
  out.query = query;
  out.searched = searched;
  out.failedServers = failedServers;
  return out;
}

async function lookupSearching(
  plan: LookupPlan,
  name: string,
  query: string,
  type: number,
  signal: AbortSignal | undefined,
): Promise<DnsLookupResult> {
  const names = plan.search ? searchNames(name, plan.search) : [name];
  const searched: string[] = [];
  const failedServers: DnsLookupResult['failedServers'] = [];
  let last: DnsResponse | undefined;
  for (const candidate of names) {
    const q = planQuestion({ name: candidate, type, class: plan.cls });
    let response: DnsResponse | undefined;
    let lastError: unknown;
    for (const client of plan.clients) {
      try {
        response = await client.queryPlanned(q, signal);
        break;
      } catch (err) {
        lastError = err;
        if (!tryNext(err) || client === plan.clients[plan.clients.length - 1]) throw err;
        failedServers.push({ server: client.server, error: toSoketError(err).message });
      }
    }
    if (!response) throw toSoketError(lastError);
    last = response;
    if (!plan.search || searchStops(response) || candidate === names[names.length - 1]) break;
    searched.push(candidate);
  }
  return withQuery(last as DnsResponse, query, searched, failedServers);
}

/**
 * Ask for one name, dig-style: the whole response, whatever its response code.
 *
 * @param name - a domain name (an IDN is converted to its `xn--` form)
 * @param options - servers, type, search, transport, flags, timeouts (see {@link DnsLookupOptions}); with
 *   several types, the first is asked (use {@link dnsLookupMany} for all)
 * @returns the response and how it was found
 * @throws {ValidationError} for a bad name, type, server or option
 * @throws {DnsError} `ENOTFOUND` when a server's name does not resolve; `EBADRESP` for a malformed reply
 * @throws {TimeoutError} when no server answered in time
 * @example
 * ```ts
 * import { dnsLookup } from 'soket';
 * const r = await dnsLookup('example.test', { type: 'MX', server: '127.0.0.1:5353' });
 * r.message.answer[0]?.ttl; // 300
 * ```
 */
export async function dnsLookup(name: string, options: DnsLookupOptions = {}): Promise<DnsLookupResult> {
  checkQueryName(name);
  checkOptionsObject(options, 'DNS lookup options');
  const plan = await planLookup(options, options.signal);
  try {
    return await lookupOne(plan, checkQueryName(name), name, plan.types[0] as number, options.signal);
  } finally {
    for (const c of plan.clients) c.close();
  }
}

/**
 * Ask for many names (and each of several types), dig-style, with at most `concurrency` questions in flight
 * on shared clients. Every name and option is checked, and server names are looked up, before the first
 * question; a failed question is an outcome (`ok: false`), not an exception.
 *
 * @param names - the names
 * @param options - see {@link DnsLookupManyOptions}
 * @returns an async iterable of outcomes, one per name and type
 * @throws {ValidationError} (on the first iteration) for a bad name or option
 * @throws {DnsError} (on the first iteration) when a server's name does not resolve
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * import { dnsLookupMany } from 'soket';
 * for await (const o of dnsLookupMany(['a.example.test', 'b.example.test'], { server: '127.0.0.1:5353', type: ['A', 'AAAA'] })) {
 *   console.log(o.query, o.type, o.ok ? o.result.message.rcode : o.error.code);
 * }
 * ```
 */
export function dnsLookupMany(
  names: Iterable<string>,
  options: DnsLookupManyOptions = {},
): AsyncGenerator<DnsLookupOutcome, void, undefined> {
  // The list is copied now; a wrong one fails on the first iteration, as every other check does.
  let queries: string[] | undefined;
  let invalid: unknown;
  try {
    queries = checkList(names, 'names');
  } catch (err) {
    invalid = err;
  }
  return lazyIterator(async () => {
    if (queries === undefined) throw invalid;
    for (const q of queries) checkQueryName(q);
    checkOptionsObject(options, 'DNS lookup options');
    const lookups = await openDnsLookups(options);
    return lookups.many(queries, { ...options, close: true });
  });
}

/** Options of {@link DnsLookups.many}. */
export interface DnsLookupBatchOptions {
  /** Questions in flight at once. @default 64 */
  concurrency?: number;
  /** Yield results in input order. @default false */
  ordered?: boolean;
  /** Close the clients when the batch ends. @default false */
  close?: boolean;
}

/**
 * Lookups prepared once: options checked, server names looked up, resolv.conf read, one client per server.
 * Ask with {@link DnsLookups.many}; close when done.
 */
export interface DnsLookups {
  /** The servers and transport, for summaries: `127.0.0.1:53`, `https://.../dns-query over HTTPS`. */
  readonly via: string;
  /** The record types asked for each name. */
  readonly types: string[];
  /** Every name and type, with bounded concurrency; outcomes as they arrive (or in input order). */
  many(
    names: readonly string[],
    options?: DnsLookupBatchOptions,
  ): AsyncGenerator<DnsLookupOutcome, void, undefined>;
  /** Replies the clients ignored (another source, ID or question). */
  ignored(): number;
  /** Close the sockets and connections. */
  close(): void;
}

/**
 * Prepare lookups: check every option, read resolv.conf if needed, and look up server names (as dig does with
 * `@name`), so that what can go wrong before the first question does.
 *
 * @param options - servers, types, search, transport, flags, timeouts
 * @returns the prepared lookups
 * @throws {ValidationError} for a bad option, type, server or URL
 * @throws {DnsError} `ENOTFOUND` (and the like) when a server's name does not resolve
 * @throws {TimeoutError} when looking up a server's name takes longer than `lookupTimeout`
 * @example
 * ```ts
 * import { openDnsLookups } from 'soket';
 * const lookups = await openDnsLookups({ server: '127.0.0.1:5353', type: ['A', 'AAAA'] });
 * for await (const o of lookups.many(['a.example.test', 'b.example.test'])) console.log(o.query, o.type, o.ok);
 * lookups.close();
 * ```
 */
export async function openDnsLookups(options: DnsLookupOptions = {}): Promise<DnsLookups> {
  checkOptionsObject(options, 'DNS lookup options');
  const plan = await planLookup(options, options.signal);
  const close = () => {
    for (const c of plan.clients) c.close();
  };
  return {
    via: plan.via,
    types: plan.types.map(dnsTypeName),
    ignored: () => plan.clients.reduce((n, c) => n + c.ignored, 0),
    close,
    many(names, batch = {}) {
      const queries = checkList(names, 'names');
      checkOptionsObject(batch, 'DNS lookup batch options');
      const checked = queries.map(checkQueryName);
      const concurrency = parseInteger(batch.concurrency ?? DNS_LOOKUP_DEFAULTS.concurrency, 'concurrency', {
        min: 1,
        max: 1024,
      });
      const types = plan.types;
      const perName = types.length;
      // Positions only (a packed array of small integers; position = name × types + type): each question is
      // planned and encoded as it starts. Thousands of objects built here would live through the batch, and
      // V8 would move their allocation sites to the old generation (pretenuring) and recompile the code
      // around them, which costs the first batch of a process more than the planning itself.
      const positions = Array.from({ length: queries.length * perName }, (_, i) => i);
      debug('dns', 'lookup batch', {
        names: queries.length,
        types: plan.types.map(dnsTypeName),
        via: plan.via,
        concurrency,
      });
      const started: number[] = [];
      return runBounded(
        positions,
        (index): StartedTask<DnsLookupResult> => {
          started[index] = performance.now();
          const i = (index / perName) | 0;
          const type = types[index - i * perName] as number;
          const result = lookupOne(plan, checked[i] as string, queries[i] as string, type, options.signal);
          return { result, settled: result };
        },
        {
          concurrency,
          ordered: checkBoolean(batch.ordered, 'ordered') ?? false,
          signal: options.signal,
          map: (task): DnsLookupOutcome => {
            const i = (task.index / perName) | 0;
            const query = queries[i] as string;
            const type = dnsTypeName(types[task.index - i * perName] as number);
            if (task.ok) {
              return {
                index: task.index,
                query,
                type,
                elapsedMs: task.value.elapsedMs,
                ok: true,
                result: task.value,
              };
            }
            return {
              index: task.index,
              query,
              type,
              elapsedMs: performance.now() - (started[task.index] ?? 0),
              ok: false,
              error: toSoketError(task.error),
            };
          },
          onEnd: () => {
            if (batch.close) close();
          },
        },
      );
    },
  };
}

/**
 * An async iterator whose source is made (asynchronously) on the first `next()`; after that, `next()` goes
 * straight to the source, without a generator layer per item.
 */
function lazyIterator<T>(
  make: () => Promise<AsyncGenerator<T, void, undefined>>,
): AsyncGenerator<T, void, undefined> {
  let inner: AsyncGenerator<T, void, undefined> | undefined;
  let making: Promise<AsyncGenerator<T, void, undefined>> | undefined;
  let finished = false;
  const get = () => {
    making ??= make().then((g) => {
      inner = g;
      return g;
    });
    return making;
  };
  const done = (): IteratorResult<T, void> => ({ done: true, value: undefined });
  const self: AsyncGenerator<T, void, undefined> = {
    next() {
      if (inner) return inner.next();
      if (finished) return Promise.resolve(done());
      return get().then(
        (g) => g.next(),
        (err) => {
          finished = true;
          throw err;
        },
      );
    },
    return(value) {
      finished = true;
      return inner ? inner.return(value) : Promise.resolve(done());
    },
    throw(err) {
      finished = true;
      return inner ? inner.throw(err) : Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return self;
    },
  };
  return self;
}
