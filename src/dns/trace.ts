/**
 * Iterative resolution from the root, step by step, like `dig +trace` — and, with `validate`, DNSSEC
 * validation of every step like `delv`: at each referral whether a DS proves the child signed, each zone's
 * DNSKEY set, and the final answer's verdict (`secure`, `insecure` with the unsigned delegation, `bogus` with the
 * precise reason).
 *
 * How it walks: start at the deepest zone cut already known (the root, from the built-in IANA root hints or
 * `rootHints`), ask one of its servers without recursion, follow the referral to the child zone (glue from the
 * referral; for a glue-less delegation, the name server's address is itself resolved first, with loop
 * protection), until a server answers with authority. CNAME and DNAME chains that leave the zone start again at
 * the deepest known cut for the new name. A server that does not answer within `tryTimeout`, or answers without
 * authority (a lame server: REFUSED, an upward referral, a non-authoritative answer), is reported and the next
 * server is asked. `timeout` bounds the whole trace; `maxSteps` bounds the number of queries.
 *
 * @module
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { type DnsMessage, parseDnsName, type ResourceRecord, rdataText } from '../codec/dns.js';
import { dnsClassNumber, dnsRcodeNumber, dnsTypeName, dnsTypeNumber } from '../codec/dns-types.js';
import { Deadline, throwIfAborted } from '../core/deadline.js';
import { TimeoutError, TraceError, toSoketError, ValidationError } from '../core/errors.js';
import {
  checkBoolean,
  checkFunction,
  checkOptionsObject,
  checkSignal,
  checkString,
  checkTimeout,
  describeValue,
  parseInteger,
} from '../core/validate.js';
import { isSubdomain, joinLabels, labelCount, splitLabels } from '../dnssec/canonical.js';
import { canonicalName, type DnssecRecord, T } from '../dnssec/records.js';
import { checkTrustAnchors, rootTrustAnchors, type TrustAnchor } from '../dnssec/trust-anchor.js';
import {
  ChainValidator,
  type DnssecCheck,
  type DnssecEvent,
  type DnssecMessage,
  type DnssecStatus,
  summarizeChecks,
  type ZoneTrust,
} from '../dnssec/validator.js';
import { type DnsServer, parseDnsServer } from './server-address.js';
import { queryOnce, type TraceTransport } from './trace-transport.js';

/** Defaults of {@link TraceOptions}. */
export const TRACE_DEFAULTS = {
  /** Record type asked. */
  type: 'A',
  /** The whole trace, in ms. */
  timeout: 15_000,
  /** One query to one server, in ms; then the next server is asked. */
  tryTimeout: 1_500,
  /** Queries in all (every server tried counts). */
  maxSteps: 200,
  /** CNAME/DNAME hops followed. */
  maxChain: 16,
  /** Nested lookups of name server addresses (glue-less delegations). */
  maxDepth: 4,
  /** Port of every server (53; other values are for tests). */
  port: 53,
} as const;

/** A root server: name and address. */
export interface RootHint {
  name: string;
  address: string;
}

/** The IANA root servers (https://www.iana.org/domains/root/servers; Debian's `/usr/share/dns/root.hints`). */
export const IANA_ROOT_HINTS: readonly RootHint[] = [
  ['a', '198.41.0.4', '2001:503:ba3e::2:30'],
  ['b', '170.247.170.2', '2801:1b8:10::b'],
  ['c', '192.33.4.12', '2001:500:2::c'],
  ['d', '199.7.91.13', '2001:500:2d::d'],
  ['e', '192.203.230.10', '2001:500:a8::e'],
  ['f', '192.5.5.241', '2001:500:2f::f'],
  ['g', '192.112.36.4', '2001:500:12::d0d'],
  ['h', '198.97.190.53', '2001:500:1::53'],
  ['i', '192.36.148.17', '2001:7fe::53'],
  ['j', '192.58.128.30', '2001:503:c27::2:30'],
  ['k', '193.0.14.129', '2001:7fd::1'],
  ['l', '199.7.83.42', '2001:500:9f::42'],
  ['m', '202.12.27.33', '2001:dc3::35'],
].flatMap(([letter, v4, v6]) => [
  { name: `${letter}.root-servers.net.`, address: v4 as string },
  { name: `${letter}.root-servers.net.`, address: v6 as string },
]);

/**
 * Parse a root hints file (zone-file lines: `. NS a.root-servers.net.` and the servers' A/AAAA records).
 *
 * @param text - the file's contents
 * @param source - for messages
 * @returns one entry per server address
 * @throws {ValidationError} when no NS of the root with an address is found, or an address is malformed
 * @example
 * ```ts
 * parseRootHints('. 3600000 NS ns.root.\nns.root. 3600000 A 127.0.0.1\n').length; // 1
 * ```
 */
export function parseRootHints(text: string, source = 'root hints'): RootHint[] {
  checkString(text, 'root hints text');
  if (typeof source !== 'string') source = 'root hints';
  const ns: string[] = [];
  const addresses = new Map<string, string[]>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/;.*$/, '').trim();
    if (!line) return;
    const tokens = line.split(/\s+/);
    const owner = tokens.shift() as string;
    while (tokens[0] !== undefined && (/^\d+$/.test(tokens[0]) || /^(IN|CH|HS)$/i.test(tokens[0])))
      tokens.shift();
    const type = (tokens.shift() ?? '').toUpperCase();
    const value = tokens[0];
    if (value === undefined)
      throw new ValidationError(`${source} line ${i + 1}: expected a record, got '${line}'`);
    if (type === 'NS' && owner === '.') ns.push(canonicalName(value));
    else if (type === 'A' || type === 'AAAA') {
      const want = type === 'A' ? 4 : 6;
      if (isIP(value) !== want)
        throw new ValidationError(`${source} line ${i + 1}: '${value}' is not an IPv${want} address`);
      const key = canonicalName(owner);
      addresses.set(key, [...(addresses.get(key) ?? []), value]);
    }
  });
  const hints = ns.flatMap((name) => (addresses.get(name) ?? []).map((address) => ({ name, address })));
  if (hints.length === 0)
    throw new ValidationError(`${source}: no root name server with an address (NS of '.' and its A/AAAA)`);
  return hints;
}

/** Options of {@link trace}. */
export interface TraceOptions {
  /** Record type: mnemonic (`AAAA`), `TYPEnnn` or number. @default 'A' */
  type?: string | number;
  /** Where to start. @default {@link IANA_ROOT_HINTS} */
  rootHints?: readonly RootHint[];
  /** Only IPv4 (4) or IPv6 (6) servers. @default 0 (both, IPv4 first) */
  family?: 0 | 4 | 6;
  /** The whole trace, in ms (0: none). @default 15000 */
  timeout?: number;
  /** One query to one server, in ms. @default 1500 */
  tryTimeout?: number;
  /** Most queries in all. @default 200 */
  maxSteps?: number;
  /** Validate with DNSSEC (queries carry DO; DNSKEY sets are fetched). @default false */
  validate?: boolean;
  /** Set DO in every query (DNSSEC records in each step) even without `validate`. @default `validate` */
  dnssecOk?: boolean;
  /**
   * Ask this recursive resolver (`HOST[:PORT]`) instead of walking from the root: every query (the name, and
   * the DS and DNSKEY records validation needs) goes to it with RD, DO and CD set, and soket validates.
   * @default none (iterative, from the root hints)
   */
  server?: string;
  /** Queries to the resolver before giving up on one (`server` only). @default 2 */
  tries?: number;
  /** Trust anchors for `validate`. @default the root KSKs ({@link rootTrustAnchors}) */
  trustAnchors?: readonly TrustAnchor[];
  /** Port every server is asked on. @default 53 */
  port?: number;
  /** Cancels the trace. */
  signal?: AbortSignal;
  /** Sends one query (for tests and custom transports). @default UDP, TCP when truncated */
  transport?: TraceTransport;
  /** Time for signature validity, in seconds since 1970. @default the system clock */
  now?: () => number;
}

/** A server asked. */
export interface TraceServer {
  /** Its name (`a.root-servers.net.`), as the referral named it. */
  name: string;
  /** The address asked. */
  address: string;
  /** The port asked. */
  port: number;
}

/** A record as text fields (RDATA in presentation form, as dig shows it). */
export interface TraceRecord {
  name: string;
  ttl: number;
  class: string;
  type: string;
  data: string;
}

/** Why a query was made. */
export type TracePurpose = 'resolve' | 'ns-address' | 'dnskey' | 'ds';

/** One query and what came of it. */
export interface TraceStep {
  event: 'step';
  /** 1, 2, ... in the order the queries were sent. */
  step: number;
  /** 0 for the name asked (and its CNAME targets); 1+ for nested lookups of name server addresses. */
  depth: number;
  purpose: TracePurpose;
  /** The zone whose server was asked (absent when asking a resolver). */
  zone?: string;
  question: { name: string; type: string };
  server: TraceServer;
  /** Time from sending to the reply (or to giving up). */
  elapsedMs: number;
  /**
   * `referral` to a child zone; an authoritative `answer`, `cname`, `nxdomain` or `nodata`; `lame` (an answer
   * without authority: REFUSED, an upward referral, a non-authoritative answer); `error` (no answer in time,
   * unreachable, SERVFAIL, a malformed reply).
   */
  outcome: 'referral' | 'answer' | 'cname' | 'nxdomain' | 'nodata' | 'lame' | 'error';
  /** Why a server was lame or failed. */
  error?: { code: string; message: string };
  rcode?: string;
  /** The AA flag. */
  aa?: boolean;
  bytes?: number;
  transport?: 'udp' | 'tcp';
  answer: TraceRecord[];
  authority: TraceRecord[];
  additional: TraceRecord[];
  /** For a referral: the child zone, its name servers, and their addresses from the glue. */
  referral?: { zone: string; nameservers: string[]; glue: TraceServer[] };
}

/** A DNSSEC finding: a zone's keys, or a delegation judged. */
export type TraceDnssecEvent = { event: 'dnssec' } & DnssecEvent;

/** The verdict on the whole answer (`validate`). */
export interface TraceVerdict {
  status: DnssecStatus;
  reason: string;
  insecureAt?: string;
  checks: DnssecCheck[];
  /** The chain of trust: each zone's standing, anchor first. */
  chain: { zone: string; status: DnssecStatus; reason: string }[];
}

/** The end of a trace. */
export interface TraceResult {
  event: 'result';
  name: string;
  type: string;
  /** The final response code (of the last name in a CNAME chain). */
  rcode: string;
  /** The answer: CNAME/DNAME records followed, then the records of the type asked. */
  answer: TraceRecord[];
  /** The names the CNAME/DNAME chain went through, the name asked first. */
  names: string[];
  /** The server that gave the final answer. */
  server: TraceServer;
  steps: number;
  elapsedMs: number;
  verdict?: TraceVerdict;
}

/** What {@link traceStream} yields. */
export type TraceEvent = TraceStep | TraceDnssecEvent | TraceResult;

interface NameServer {
  name: string;
  addresses: string[] | undefined;
}

interface Cut {
  zone: string;
  servers: NameServer[];
}

interface Checked {
  type: number;
  server: DnsServer | undefined;
  tries: number;
  hints: readonly RootHint[];
  family: 0 | 4 | 6;
  timeout: number | undefined;
  tryTimeout: number;
  maxSteps: number;
  validate: boolean;
  dnssecOk: boolean;
  anchors: readonly TrustAnchor[];
  port: number;
  transport: TraceTransport;
  now: (() => number) | undefined;
}

function check(options: TraceOptions): Checked {
  checkOptionsObject(options, 'trace options');
  if (options.type !== undefined && typeof options.type !== 'string' && typeof options.type !== 'number') {
    throw new ValidationError(
      `Invalid type '${describeValue(options.type)}': expected a mnemonic or a number`,
    );
  }
  const type = dnsTypeNumber(options.type ?? TRACE_DEFAULTS.type);
  const family = options.family ?? 0;
  if (family !== 0 && family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid family '${String(family)}': expected 0, 4 or 6`);
  }
  const hints = options.rootHints ?? IANA_ROOT_HINTS;
  if (!Array.isArray(hints) || hints.length === 0)
    throw new ValidationError('Invalid rootHints: expected at least one server');
  for (const h of hints) {
    if (h === null || typeof h !== 'object' || typeof h.name !== 'string')
      throw new ValidationError(`Invalid root hint '${describeValue(h)}': expected { name, address }`);
    if (isIP(h.address) === 0) throw new ValidationError(`Invalid root hint address '${h.address}'`);
  }
  if (!hints.some((h) => family === 0 || isIP(h.address) === family)) {
    throw new ValidationError(`No IPv${family} address among the root hints`);
  }
  const timeout =
    options.timeout === undefined
      ? TRACE_DEFAULTS.timeout
      : checkTimeout(options.timeout, { what: 'timeout' });
  if (options.server !== undefined && options.rootHints !== undefined) {
    throw new ValidationError('Give either a resolver (server) or root hints (rootHints), not both');
  }
  const server = options.server === undefined ? undefined : parseDnsServer(options.server);
  checkSignal(options.signal);
  if (server && family !== 0 && isIP(server.address) !== family) {
    throw new ValidationError(`The resolver ${server.text} is not an IPv${family} address`);
  }
  return {
    type,
    server,
    tries: parseInteger(options.tries ?? 2, 'tries', { min: 1, max: 10 }),
    hints,
    family,
    timeout,
    tryTimeout: checkTimeout(options.tryTimeout, { what: 'tryTimeout' }) ?? TRACE_DEFAULTS.tryTimeout,
    maxSteps: parseInteger(options.maxSteps ?? TRACE_DEFAULTS.maxSteps, 'maxSteps', { min: 1 }),
    validate: checkBoolean(options.validate, 'validate') ?? false,
    dnssecOk: checkBoolean(options.dnssecOk, 'dnssecOk') ?? options.validate ?? false,
    anchors: checkTrustAnchors(options.trustAnchors, 'trustAnchors') ?? rootTrustAnchors(),
    port: parseInteger(options.port ?? TRACE_DEFAULTS.port, 'port', { min: 1, max: 65535 }),
    transport: checkFunction(options.transport, 'transport') ?? queryOnce,
    now: checkFunction(options.now, 'now'),
  };
}

/** A decoded record as the validator wants it. */
export function toDnssecRecord(rr: ResourceRecord): DnssecRecord {
  return {
    name: rr.name,
    type: dnsTypeNumber(rr.type),
    class: dnsClassNumber(rr.class),
    ttl: rr.ttl,
    rdata: rr.rdata,
  };
}

/** A decoded message as the validator wants it. */
export function toDnssecMessage(msg: DnsMessage): DnssecMessage {
  return {
    rcode: dnsRcodeNumber(msg.rcode),
    answer: msg.answer.map(toDnssecRecord),
    authority: msg.authority.map(toDnssecRecord),
  };
}

/** A record's text fields. */
export function traceRecord(rr: ResourceRecord): TraceRecord {
  return {
    name: rr.name,
    ttl: rr.ttl,
    class: rr.class,
    type: rr.type,
    data: rdataText(rr.data, rr.rdata, { now: Date.now() }),
  };
}

function same(a: string, b: string): boolean {
  return canonicalName(a) === canonicalName(b);
}

function targetName(rr: ResourceRecord): string {
  return rr.data.format === 'name' ? rr.data.target : '.';
}

/** What a response says about a name: the chain records, and where it ends. */
interface ChainWalk {
  records: ResourceRecord[];
  names: string[];
  /** The chain left what this response can answer: resolve this name next. */
  follow?: string;
  /** The chain loops or is too long. */
  broken?: string;
}

/**
 * Walk a CNAME/DNAME chain through an authoritative answer from `zone`: stop at the data of the type asked, at
 * a name outside the zone or without data and without a negative answer for it (to be resolved anew), or at a
 * negative answer.
 */
function walkChain(msg: DnsMessage, qname: string, qtype: number, zone: string): ChainWalk {
  const out: ChainWalk = { records: [], names: [canonicalName(qname)] };
  let name = canonicalName(qname);
  const type = dnsTypeName(qtype);
  for (let hop = 0; ; hop++) {
    if (hop > 0 && !isSubdomain(name, zone)) {
      out.follow = name;
      return out;
    }
    const data = msg.answer.filter((r) => r.type === type && same(r.name, name));
    if (data.length > 0 || type === 'ANY') {
      out.records.push(...(type === 'ANY' ? msg.answer.filter((r) => same(r.name, name)) : data));
      out.records.push(...msg.answer.filter((r) => r.type === 'RRSIG' && same(r.name, name)));
      return out;
    }
    let next: string | undefined;
    const cname = type === 'CNAME' ? [] : msg.answer.filter((r) => r.type === 'CNAME' && same(r.name, name));
    const dname =
      type === 'DNAME'
        ? undefined
        : msg.answer
            .filter((r) => r.type === 'DNAME' && isSubdomain(name, r.name) && !same(name, r.name))
            .sort((a, b) => labelCount(b.name) - labelCount(a.name))[0];
    if (dname) {
      // The DNAME, and the CNAME the server synthesized from it (as dig shows both).
      out.records.push(
        dname,
        ...msg.answer.filter((r) => r.type === 'RRSIG' && same(r.name, dname.name)),
        ...cname,
      );
      const prefix = splitLabels(name).slice(0, labelCount(name) - labelCount(dname.name));
      next = canonicalName(joinLabels([...prefix, ...splitLabels(targetName(dname))]));
    } else if (cname.length > 0) {
      out.records.push(...cname, ...msg.answer.filter((r) => r.type === 'RRSIG' && same(r.name, name)));
      next = canonicalName(targetName(cname[0] as ResourceRecord));
    }
    if (next === undefined) {
      const negative = msg.rcode === 'NXDOMAIN' || msg.authority.some((r) => r.type === 'SOA');
      if (hop > 0 && !negative) out.follow = name;
      return out;
    }
    if (out.names.includes(next) || hop >= TRACE_DEFAULTS.maxChain) {
      out.broken = out.names.includes(next)
        ? `the CNAME chain loops at ${next}`
        : `the CNAME chain is longer than ${TRACE_DEFAULTS.maxChain}`;
      return out;
    }
    out.names.push(next);
    name = next;
  }
}

interface Context {
  depth: number;
  purpose: TracePurpose;
}

interface ZoneAnswer {
  msg: DnsMessage;
  zone: string;
  server: TraceServer;
}

/** One trace: the cache of zone cuts, the step counter, the deadline, the validator. */
class Tracer {
  readonly #c: Checked;
  readonly #emit: (e: TraceEvent) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #deadline: Deadline;
  readonly #cuts = new Map<string, Cut>();
  readonly #resolvingNs = new Set<string>();
  /** Addresses that timed out or were lame: asked last from then on. */
  readonly #failed = new Set<string>();
  readonly #validator: ChainValidator | undefined;
  readonly #target: string;
  #steps = 0;

  constructor(c: Checked, target: string, emit: (e: TraceEvent) => void, signal: AbortSignal | undefined) {
    this.#c = c;
    this.#emit = emit;
    this.#signal = signal;
    this.#target = target;
    this.#deadline = new Deadline(c.timeout, `trace of ${target}`);
    const root = new Map<string, string[]>();
    for (const h of c.hints)
      root.set(canonicalName(h.name), [...(root.get(canonicalName(h.name)) ?? []), h.address]);
    this.#cuts.set('.', { zone: '.', servers: [...root].map(([name, addresses]) => ({ name, addresses })) });
    if (c.validate) {
      const options: ConstructorParameters<typeof ChainValidator>[0] = {
        anchors: c.anchors,
        fetch: async (name, type) => {
          const answer = await this.resolve(name, type, {
            depth: 0,
            purpose: type === T.DS ? 'ds' : 'dnskey',
          });
          return toDnssecMessage(answer.msg);
        },
        onEvent: (e) => this.#emit({ event: 'dnssec', ...e }),
      };
      if (c.now) options.now = c.now;
      this.#validator = new ChainValidator(options);
    }
  }

  get steps(): number {
    return this.#steps;
  }

  /** The whole trace of `name`: follows CNAME/DNAME chains across zones, validates each answer. */
  async run(name: string): Promise<TraceResult> {
    const started = performance.now();
    const type = this.#c.type;
    const records: ResourceRecord[] = [];
    const names: string[] = [];
    const checks: DnssecCheck[] = [];
    let qname = canonicalName(name);
    let last: ZoneAnswer | undefined;
    for (let segment = 0; ; segment++) {
      if (segment > TRACE_DEFAULTS.maxChain) {
        throw new TraceError(
          `The CNAME chain of ${name} is longer than ${TRACE_DEFAULTS.maxChain}`,
          'chain-limit',
          qname,
        );
      }
      last = await this.resolve(qname, type, { depth: 0, purpose: 'resolve' });
      const walk = walkChain(last.msg, qname, type, last.zone);
      records.push(...walk.records);
      for (const n of walk.names) if (!names.includes(n)) names.push(n);
      if (this.#validator) {
        const v = await this.#validator.validate(
          qname,
          type,
          toDnssecMessage(last.msg),
          this.#c.server ? {} : { zone: last.zone },
        );
        checks.push(...v.checks);
      }
      if (walk.broken)
        throw new TraceError(`Cannot resolve ${name}: ${walk.broken}`, 'chain-limit', last.zone);
      if (walk.follow === undefined) break;
      if (names.slice(0, -1).includes(walk.follow)) {
        throw new TraceError(
          `Cannot resolve ${name}: the CNAME chain loops at ${walk.follow}`,
          'chain-limit',
          last.zone,
        );
      }
      qname = walk.follow;
    }
    const result: TraceResult = {
      event: 'result',
      name: canonicalName(name),
      type: dnsTypeName(type),
      rcode: last.msg.rcode,
      answer: records.map(traceRecord),
      names,
      server: last.server,
      steps: this.#steps,
      elapsedMs: performance.now() - started,
    };
    if (this.#validator) {
      const chain = await this.#validator.chain();
      result.verdict = {
        ...summarizeChecks(checks),
        chain: chain.map((z: ZoneTrust) => ({ zone: z.zone, status: z.status, reason: z.reason })),
      };
    }
    return result;
  }

  /** The deepest known zone cut at or above `name` (strictly above for DS: the parent holds the DS). */
  #closestCut(name: string, strict: boolean): Cut {
    const parts = splitLabels(name);
    for (let i = strict ? 1 : 0; i <= parts.length; i++) {
      const cut = this.#cuts.get(canonicalName(joinLabels(parts.slice(i))));
      if (cut) return cut;
    }
    return this.#cuts.get('.') as Cut;
  }

  /**
   * Resolve `name`/`type` down the tree to an authoritative response (which may be negative, or a CNAME).
   * Referrals seen on the main path are judged by the validator as they come.
   */
  async resolve(name: string, type: number, ctx: Context): Promise<ZoneAnswer> {
    if (this.#c.server) return this.#askResolver(this.#c.server, name, type, ctx);
    let cut = this.#closestCut(name, type === T.DS);
    for (;;) {
      const got = await this.#askZone(cut, name, type, ctx);
      if (!('referral' in got)) return got;
      const child = got.referral;
      const known = this.#cuts.get(child.zone);
      // Keep addresses learned earlier (a glue-less server resolved before).
      if (!known || known.servers.every((s) => s.addresses === undefined)) this.#cuts.set(child.zone, child);
      if (this.#validator && ctx.purpose === 'resolve' && ctx.depth === 0) {
        const parentTrust = await this.#validator.trustFor(cut.zone);
        await this.#validator.referral(parentTrust, child.zone, toDnssecMessage(got.msg));
      }
      cut = this.#cuts.get(child.zone) as Cut;
    }
  }

  #countStep(zone: string): number {
    throwIfAborted(this.#signal, `Trace of ${this.#target}`);
    if (this.#deadline.expired()) throw this.#deadline.error();
    if (this.#steps >= this.#c.maxSteps) {
      throw new TraceError(
        `Trace of ${this.#target} stopped after ${this.#c.maxSteps} queries (the step limit)`,
        'step-limit',
        zone,
      );
    }
    return ++this.#steps;
  }

  /** 1 when every address of the server failed before in this trace. */
  #failedRank(ns: NameServer): number {
    return ns.addresses !== undefined &&
      ns.addresses.length > 0 &&
      ns.addresses.every((a) => this.#failed.has(a))
      ? 1
      : 0;
  }

  #family(address: string): boolean {
    return this.#c.family === 0 || isIP(address) === this.#c.family;
  }

  /** Ask the servers of a zone in turn until one answers with authority or refers further down. */
  async #askZone(
    cut: Cut,
    name: string,
    type: number,
    ctx: Context,
  ): Promise<ZoneAnswer | { referral: Cut; msg: DnsMessage }> {
    const failures: string[] = [];
    let loops = 0;
    let loopText: string | undefined;
    // In name order, servers that already failed in this trace last.
    const servers = [...cut.servers].sort(
      (a, b) => this.#failedRank(a) - this.#failedRank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    for (const ns of servers) {
      let addresses = ns.addresses;
      if (addresses === undefined) {
        const found = await this.#addressesOf(ns.name, ctx);
        if ('loop' in found) {
          loops++;
          loopText ??= found.loop;
          failures.push(`${ns.name}: ${found.loop}`);
          continue;
        }
        addresses = found.addresses;
        ns.addresses = addresses;
        if (addresses.length === 0) {
          failures.push(`${ns.name}: ${found.reason}`);
          continue;
        }
      }
      const usable = addresses
        .filter((a) => this.#family(a))
        .sort((a, b) => Number(this.#failed.has(a)) - Number(this.#failed.has(b)) || isIP(a) - isIP(b));
      if (usable.length === 0) {
        failures.push(`${ns.name}: no IPv${this.#c.family} address`);
        continue;
      }
      for (const address of usable) {
        const outcome = await this.#query(
          cut,
          { name: ns.name, address, port: this.#c.port },
          name,
          type,
          ctx,
        );
        if (outcome.ok) return outcome.value;
        this.#failed.add(address);
        failures.push(`${ns.name} (${address}): ${outcome.reason}`);
      }
    }
    const question = `${name} ${dnsTypeName(type)}`;
    if (loopText !== undefined && loops === failures.length) throw new TraceError(loopText, 'loop', cut.zone);
    throw new TraceError(
      `No server of ${cut.zone} answered ${question} (${failures.length} tried: ${failures.join('; ')})`,
      'no-servers',
      cut.zone,
    );
  }

  /** One query; classify the reply. */
  async #query(
    cut: Cut | undefined,
    server: TraceServer,
    name: string,
    type: number,
    ctx: Context,
  ): Promise<
    | { ok: true; value: ZoneAnswer | { referral: Cut; msg: DnsMessage } }
    | { ok: false; reason: string; retry: boolean }
  > {
    const step = this.#countStep(cut?.zone ?? '.');
    const base = {
      event: 'step' as const,
      step,
      depth: ctx.depth,
      purpose: ctx.purpose,
      ...(cut ? { zone: cut.zone } : {}),
      question: { name, type: dnsTypeName(type) },
      server,
    };
    const started = performance.now();
    const timeout = this.#deadline.cap(this.#c.tryTimeout) ?? this.#c.tryTimeout;
    let reply: Awaited<ReturnType<TraceTransport>>;
    try {
      reply = await this.#c.transport({
        address: server.address,
        port: server.port,
        name,
        type,
        recursionDesired: cut === undefined,
        dnssecOk: this.#c.dnssecOk || this.#c.validate,
        checkingDisabled: cut === undefined && this.#c.validate,
        timeout,
        signal: this.#signal,
      });
    } catch (err) {
      const e = toSoketError(err);
      if (e.code === 'SOKET_ABORTED') throw e;
      if (this.#deadline.expired()) throw this.#deadline.error();
      const message = e instanceof TimeoutError ? `no answer within ${timeout} ms` : e.message;
      this.#emit({
        ...base,
        elapsedMs: performance.now() - started,
        outcome: 'error',
        error: { code: e.code, message },
        answer: [],
        authority: [],
        additional: [],
      });
      return { ok: false, reason: message, retry: e instanceof TimeoutError };
    }
    const elapsedMs = performance.now() - started;
    const msg = reply.message;
    const sections = {
      rcode: msg.rcode,
      aa: msg.flags.aa,
      bytes: reply.bytes,
      transport: reply.transport,
      answer: msg.answer.map(traceRecord),
      authority: msg.authority.map(traceRecord),
      additional: msg.additional.map(traceRecord),
    };
    const fail = (outcome: 'lame' | 'error', code: string, message: string) => {
      this.#emit({ ...base, elapsedMs, outcome, error: { code, message }, ...sections });
      return { ok: false as const, reason: message, retry: false };
    };
    if (cut === undefined) {
      // A resolver: NOERROR and NXDOMAIN are answers; anything else fails the query.
      if (msg.rcode !== 'NOERROR' && msg.rcode !== 'NXDOMAIN')
        return fail('error', msg.rcode, `answered ${msg.rcode}`);
      this.#emit({ ...base, elapsedMs, outcome: this.#outcome(msg, name, type), ...sections });
      return { ok: true, value: { msg, zone: '.', server } };
    }
    if (msg.rcode !== 'NOERROR' && msg.rcode !== 'NXDOMAIN') {
      if (msg.rcode === 'REFUSED' || msg.rcode === 'NOTAUTH') {
        return fail('lame', 'LAME', `${msg.rcode}: not a server of ${cut.zone} (lame)`);
      }
      return fail('error', msg.rcode, `answered ${msg.rcode}`);
    }
    // A referral: no answer, NS records for a zone between this one and the name.
    const nsOwners = [
      ...new Set(msg.authority.filter((r) => r.type === 'NS').map((r) => canonicalName(r.name))),
    ];
    const hasAnswer = msg.answer.length > 0;
    if (
      !hasAnswer &&
      msg.rcode === 'NOERROR' &&
      nsOwners.length > 0 &&
      !msg.authority.some((r) => r.type === 'SOA')
    ) {
      const child = nsOwners.find(
        (z) =>
          isSubdomain(name, z) &&
          isSubdomain(z, cut.zone) &&
          !same(z, cut.zone) &&
          !(type === T.DS && same(z, name)),
      );
      if (child === undefined) {
        return fail('lame', 'LAME', `referral to ${nsOwners.join(', ')} is not below ${cut.zone} (lame)`);
      }
      const nameservers = [
        ...new Set(
          msg.authority
            .filter((r) => r.type === 'NS' && same(r.name, child))
            .map((r) => canonicalName(targetName(r))),
        ),
      ].sort();
      const glue: TraceServer[] = [];
      for (const r of msg.additional) {
        if ((r.type !== 'A' && r.type !== 'AAAA') || r.data.format !== (r.type === 'A' ? 'a' : 'aaaa'))
          continue;
        const owner = canonicalName(r.name);
        // Glue is believed only for names inside the zone that sent it (the bailiwick rule).
        if (nameservers.includes(owner) && isSubdomain(owner, cut.zone))
          glue.push({ name: owner, address: r.data.address, port: this.#c.port });
      }
      const servers: NameServer[] = nameservers.map((n) => {
        const addrs = glue.filter((g) => g.name === n).map((g) => g.address);
        return { name: n, addresses: addrs.length > 0 ? addrs : undefined };
      });
      this.#emit({
        ...base,
        elapsedMs,
        outcome: 'referral',
        ...sections,
        referral: { zone: child, nameservers, glue },
      });
      return { ok: true, value: { referral: { zone: child, servers }, msg } };
    }
    if (!msg.flags.aa) {
      return fail('lame', 'LAME', `not authoritative for ${cut.zone} (no AA flag, no referral: lame)`);
    }
    this.#emit({ ...base, elapsedMs, outcome: this.#outcome(msg, name, type), ...sections });
    return { ok: true, value: { msg, zone: cut.zone, server } };
  }

  #outcome(msg: DnsMessage, name: string, type: number): 'answer' | 'cname' | 'nxdomain' | 'nodata' {
    const qtype = dnsTypeName(type);
    if (msg.rcode === 'NXDOMAIN') return 'nxdomain';
    if (
      msg.answer.some((r) => r.type === qtype && same(r.name, name)) ||
      (qtype === 'ANY' && msg.answer.length > 0)
    ) {
      return 'answer';
    }
    return msg.answer.some((r) => r.type === 'CNAME' || r.type === 'DNAME') ? 'cname' : 'nodata';
  }

  /** Resolver mode: one question to the resolver, with retries; any answer it gives is taken. */
  async #askResolver(server: DnsServer, name: string, type: number, ctx: Context): Promise<ZoneAnswer> {
    const who: TraceServer = { name: server.address, address: server.address, port: server.port };
    let last = '';
    for (let attempt = 1; attempt <= this.#c.tries; attempt++) {
      const outcome = await this.#query(undefined, who, name, type, ctx);
      if (outcome.ok && !('referral' in outcome.value)) return outcome.value;
      last = outcome.ok ? 'a referral' : outcome.reason;
      if (outcome.ok || !outcome.retry) break;
    }
    throw new TraceError(
      `The resolver ${server.text} did not answer ${name} ${dnsTypeName(type)}: ${last}`,
      'no-servers',
      '.',
    );
  }

  /** The addresses of a name server named in a glue-less referral: resolved from the top, loops refused. */
  async #addressesOf(
    nsName: string,
    ctx: Context,
  ): Promise<{ addresses: string[]; reason: string } | { loop: string }> {
    const key = canonicalName(nsName);
    if (this.#resolvingNs.has(key)) {
      const path = [...this.#resolvingNs];
      return {
        loop: `Delegation loop: the address of ${path.join(' needs the address of ')} needs the address of ${key} again (no glue)`,
      };
    }
    if (ctx.depth >= TRACE_DEFAULTS.maxDepth) {
      return { addresses: [], reason: `glue-less lookups nested more than ${TRACE_DEFAULTS.maxDepth} deep` };
    }
    this.#resolvingNs.add(key);
    try {
      const types = this.#c.family === 6 ? [T.AAAA] : this.#c.family === 4 ? [T.A] : [T.A, T.AAAA];
      const addresses: string[] = [];
      let reason = 'no address records';
      for (const type of types) {
        try {
          let name = key;
          for (let hop = 0; hop <= TRACE_DEFAULTS.maxChain; hop++) {
            const got = await this.resolve(name, type, { depth: ctx.depth + 1, purpose: 'ns-address' });
            const walk = walkChain(got.msg, name, type, got.zone);
            for (const r of walk.records)
              if (r.data.format === 'a' || r.data.format === 'aaaa') addresses.push(r.data.address);
            if (walk.follow === undefined) break;
            name = walk.follow;
          }
        } catch (err) {
          const e = toSoketError(err);
          if (e instanceof TraceError && e.reason === 'loop') return { loop: e.message };
          if (
            e.code === 'SOKET_ABORTED' ||
            e.code === 'SOKET_TIMEOUT' ||
            (e instanceof TraceError && e.reason === 'step-limit')
          )
            throw e;
          reason = `cannot find its address: ${e.message}`;
        }
        if (addresses.length > 0 && this.#c.family === 0) break;
      }
      return { addresses, reason };
    } finally {
      this.#resolvingNs.delete(key);
    }
  }
}

function checkName(name: string): string {
  if (typeof name !== 'string' || name.trim() === '')
    throw new ValidationError('Invalid name: must not be empty');
  let text = name.trim();
  // Internationalised names travel in their ASCII (xn--) form.
  if ([...text].some((c) => c.charCodeAt(0) > 0x7f)) {
    const ascii = domainToASCII(text);
    if (!ascii)
      throw new ValidationError(`Invalid name '${text}': not a valid internationalised domain name`);
    text = ascii;
  }
  parseDnsName(text);
  return canonicalName(text);
}

/**
 * Trace the resolution of a name from the root, emitting each step as it happens.
 *
 * @param name - the name to resolve
 * @param options - type, root hints, family, timeouts, step limit, `validate`, trust anchors, signal
 * @returns an async iterable of {@link TraceEvent}s; the last is the {@link TraceResult}
 * @throws {ValidationError} for a bad name or option (when iteration starts)
 * @throws {TraceError} when no server of a zone answers, on a delegation loop, or past the step limit
 * @throws {TimeoutError} phase `overall` when `timeout` runs out
 * @example
 * ```ts
 * import { traceStream } from 'soket';
 * for await (const e of traceStream('www.example.test', { rootHints, validate: true })) {
 *   if (e.event === 'step') console.log(e.server.address, e.outcome);
 *   if (e.event === 'result') console.log(e.verdict?.status);
 * }
 * ```
 */
export async function* traceStream(name: string, options: TraceOptions = {}): AsyncGenerator<TraceEvent> {
  const target = checkName(name);
  const c = check(options);
  const queue: TraceEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  const tracer = new Tracer(
    c,
    target,
    (e) => {
      queue.push(e);
      wake?.();
    },
    options.signal,
  );
  const run = tracer.run(target).then(
    (result) => {
      queue.push(result);
      finished = true;
      wake?.();
    },
    (err) => {
      failure = err;
      finished = true;
      wake?.();
    },
  );
  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    await run;
    if (failure !== undefined) throw toSoketError(failure);
  } finally {
    wake = undefined;
  }
}

/**
 * Trace the resolution of a name from the root and return the result (the steps go to `onEvent`).
 *
 * @param name - the name to resolve
 * @param options - see {@link TraceOptions}; `onEvent` receives each step and DNSSEC finding
 * @returns the final answer, the server that gave it, and with `validate` the DNSSEC verdict
 * @throws {ValidationError} for a bad name or option
 * @throws {TraceError} when no server of a zone answers, on a delegation loop, or past the step limit
 * @throws {TimeoutError} phase `overall` when `timeout` runs out
 * @example
 * ```ts
 * import { trace } from 'soket';
 * const r = await trace('www.example.test', { type: 'AAAA', validate: true, rootHints });
 * r.verdict?.status; // 'secure'
 * ```
 */
export async function trace(
  name: string,
  options: TraceOptions & { onEvent?: (event: TraceStep | TraceDnssecEvent) => void } = {},
): Promise<TraceResult> {
  checkFunction(checkOptionsObject(options, 'trace options').onEvent, 'onEvent');
  let result: TraceResult | undefined;
  for await (const e of traceStream(name, options)) {
    if (e.event === 'result') result = e;
    else options.onEvent?.(e);
  }
  return result as TraceResult;
}

/**
 * A server as dig names it: `127.0.0.1#53(ns.example.)`.
 *
 * @example
 * ```ts
 * serverText({ name: 'ns.test.', address: '127.0.0.1', port: 53 }); // '127.0.0.1#53(ns.test.)'
 * ```
 */
export function serverText(server: TraceServer): string {
  return `${server.address}#${server.port}(${server.name})`;
}
