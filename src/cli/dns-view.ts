// contract: v2 (a stream of `answer` events and a `summary`)
/**
 * `soket resolve` in its dig-like mode (any of `--server`, `--type`, `--dns`, `--tcp`, `--tls`, `--https`,
 * `--dnssec`, ...): the flags, the lookups, and how answers look.
 *
 * Text: one question → the response as dig shows it (header, flags, OPT pseudo-section, question, answer,
 * authority, additional, query time, server, size); several → one compact line each (`--sections` for the
 * full view of each); `--short` → the answer's data only. Failures go to stderr, one line each; for more than
 * one question a summary goes to stderr. `--json`: one `answer` object per question, then a `summary`.
 * Exit code 1 when a question failed or its status is not NOERROR; 130 when interrupted.
 *
 * @module
 */
import type { Command } from 'commander';
import { ednsOptionText, type ResourceRecord, rdataText } from '../codec/dns.js';
import { AbortError, type SoketError, TimeoutError, toSoketError, ValidationError } from '../core/errors.js';
import { readInputFileSync } from '../core/input-file.js';
import { escapeControl } from '../core/text.js';
import { exclusive, formatHostPort, parseDuration, parseHostPort, parseInteger } from '../core/validate.js';
import {
  checkQueryName,
  DNS_LOOKUP_DEFAULTS,
  type DnsLookupOptions,
  type DnsLookupResult,
  openDnsLookups,
} from '../dns/lookup.js';
import { DNS_QUERY_DEFAULTS, type DnsTransport } from '../dns/query.js';
import { type CommandOutput, EXIT, type RenderContext, type Rendered, stream } from './command.js';
import { checkInputs, readBatchInputs } from './dns-batch.js';
import { formatMs } from './format.js';
import type { Io } from './io.js';

/** The flags of `soket resolve` this module reads. */
export interface DigFlags {
  server?: string[];
  type?: string[];
  class?: string;
  dns?: boolean;
  search?: boolean;
  tcp?: boolean;
  tls?: boolean;
  https?: string | boolean;
  get?: boolean;
  ca?: string;
  servername?: string;
  insecure?: boolean;
  dnssec?: boolean;
  cd?: boolean;
  recurse?: boolean;
  ednsSize?: string;
  edns?: boolean;
  nsid?: boolean;
  cookie?: boolean;
  subnet?: string;
  ignoreTc?: boolean;
  sections?: boolean;
  short?: boolean;
  timeout?: string;
  tries?: string;
  tryTimeout?: string;
  file?: string;
  concurrency?: string;
  ordered?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
}

/**
 * Declare the dig-like flags on the resolve command (`--server` and `--type` are declared by it).
 *
 * @example
 * ```ts
 * addDigOptions(program.command('resolve'));
 * ```
 */
export function addDigOptions(cmd: Command): Command {
  return cmd
    .option('--class <class>', 'query class: IN (default), CH, HS, CLASSnnn')
    .option(
      '--search',
      "apply resolv.conf's search list and ndots to names without a final dot (like dig +search)",
    )
    .option('--tcp', 'ask over TCP')
    .option('--tls', 'ask over TLS (DNS over TLS, port 853 by default)')
    .option('--https [url]', 'ask over HTTPS (RFC 8484): this URL, or https://SERVER/dns-query')
    .option('--get', 'DNS over HTTPS with GET instead of POST')
    .option('--ca <file>', 'TLS/HTTPS: trust the CA certificates in this PEM file')
    .option('--servername <name>', 'TLS/HTTPS: the name the certificate must be for (and SNI)')
    .option('--insecure', 'TLS/HTTPS: accept any certificate (it is still checked and reported)')
    .option('--dnssec', 'set DO: ask for DNSSEC records (RRSIG, NSEC, ...)')
    .option('--cd', 'set CD: ask a validating resolver not to validate')
    .option('--no-recurse', 'clear RD: ask without recursion')
    .option('--edns-size <bytes>', `EDNS UDP payload size (default: ${DNS_QUERY_DEFAULTS.udpSize})`)
    .option('--no-edns', 'send no EDNS OPT record')
    .option('--nsid', "ask for the server's NSID")
    .option('--cookie', 'send a DNS cookie')
    .option('--subnet <addr/prefix>', 'send an EDNS client subnet')
    .option('--ignore-tc', 'take a truncated UDP answer as it is (no retry over TCP)')
    .option('--sections', 'show every answer of a batch as dig does, not one line each');
}

/** Whether the flags ask for the dig-like mode (otherwise getaddrinfo answers). */
export function wantsDig(flags: DigFlags): boolean {
  return Boolean(
    flags.server ||
      flags.type ||
      flags.class ||
      flags.dns ||
      flags.search ||
      flags.tcp ||
      flags.tls ||
      flags.https ||
      flags.get ||
      flags.ca ||
      flags.servername ||
      flags.insecure ||
      flags.dnssec ||
      flags.cd ||
      flags.recurse === false ||
      flags.ednsSize ||
      flags.edns === false ||
      flags.nsid ||
      flags.cookie ||
      flags.subnet ||
      flags.ignoreTc ||
      flags.sections,
  );
}

/** Help for the epilogue of `soket resolve --help`. */
export const DIG_HELP = `With any of --server, --type, --dns, --tcp, --tls, --https, --dnssec, --cd, --no-recurse, --nsid, ... soket
asks DNS servers itself, as dig does, and shows the whole response: header flags and status, the OPT
pseudo-section, and the question, answer, authority and additional sections, each record with its TTL.
--server takes IP, IP:PORT, [IPv6]:PORT, a host name (looked up first with the system resolver, like dig's
@name) or an https:// URL (DoH); repeat it for servers to try in turn. Without it the name servers of
/etc/resolv.conf are asked. A truncated UDP answer is asked again over TCP. --type takes any record type by
name or as TYPEnnn (repeatable; default A, AAAA with -6). One question shows dig's sectioned view; several
show one line each (--sections for the full view); --short only the data. Exit code 1 when a question fails or
its status is not NOERROR. --json prints one object per line: {event: "answer", query, type, ok, elapsedMs,
server, transport, truncated, tries, ignored, size, status, id, opcode, flags, edns, question[], answer[],
authority[], additional[], tls?, httpVersion?} (records: {name, ttl, class, type, data, fields}) or {event:
"answer", query, type, ok: false, elapsedMs, error}, then {event: "summary", total, ok, failed, status, ignored,
elapsedMs, perSecond, interrupted, via}.`;

/** One question's outcome, or the closing summary. */
export type DigEvent =
  | {
      event: 'answer';
      query: string;
      type: string;
      ok: true;
      elapsedMs: number;
      /** When the answer arrived (ms since 1970), for RRSIG times and `WHEN`. */
      receivedAt: number;
      result: DnsLookupResult;
    }
  | { event: 'answer'; query: string; type: string; ok: false; elapsedMs: number; error: SoketError }
  | {
      event: 'summary';
      total: number;
      ok: number;
      failed: number;
      /** Answers by status (NOERROR, NXDOMAIN, ...). */
      status: Record<string, number>;
      ignored: number;
      elapsedMs: number;
      perSecond: number;
      interrupted: boolean;
      via: string;
    };

function readPem(path: string): string {
  try {
    // capped: a device or a huge file is refused, not read without end
    return readInputFileSync(path, { maxBytes: 4 * 1024 * 1024, what: '--ca' }).toString('utf8');
  } catch (err) {
    throw new ValidationError(`Cannot read --ca '${path}': ${toSoketError(err).message}`);
  }
}

/**
 * Check the flags and build the lookup options.
 *
 * @throws {ValidationError} for bad or conflicting flags
 * @internal
 */
export function digOptions(flags: DigFlags, io: Pick<Io, 'signal'>): DnsLookupOptions {
  exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
  exclusive({
    '--tcp': flags.tcp,
    '--tls': flags.tls,
    '--https': flags.https !== undefined && flags.https !== false,
  });
  if (flags.dns && flags.server)
    throw new ValidationError('Options --dns and --server cannot be used together');
  if (flags.short && flags.sections)
    throw new ValidationError('Options --short and --sections cannot be used together');
  const options: DnsLookupOptions = { signal: io.signal };
  let transport: DnsTransport | undefined = flags.tcp ? 'tcp' : flags.tls ? 'tls' : undefined;
  let servers = flags.server;
  if (flags.https !== undefined && flags.https !== false) {
    transport = 'https';
    if (typeof flags.https === 'string') {
      if (servers)
        throw new ValidationError('Give the DoH server once: --https URL, or --server HOST with --https');
      servers = [flags.https];
    } else {
      if (servers?.length !== 1) {
        throw new ValidationError(
          'Option --https needs a URL (--https URL), or one --server to build https://SERVER/dns-query from',
        );
      }
      const s = servers[0] as string;
      if (!/^https:\/\//i.test(s)) {
        const { host, port } = parseHostPort(s, { defaultPort: 443 });
        servers = [`https://${formatHostPort(host, port)}/dns-query`];
      }
    }
  } else if (servers?.some((s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s.trim()))) {
    if (transport !== undefined)
      throw new ValidationError(`A URL server is DNS over HTTPS; it cannot be used with --${transport}`);
    transport = 'https';
  }
  if (flags.get && transport !== 'https') throw new ValidationError('Option --get needs --https');
  if (transport !== undefined) options.transport = transport;
  if (servers) options.server = servers;
  const family = flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0;
  if (family) options.family = family;
  options.type = flags.type?.length ? flags.type : family === 6 ? 'AAAA' : DNS_LOOKUP_DEFAULTS.type;
  if (flags.class !== undefined) options.class = flags.class;
  if (flags.search) options.search = true;
  options.timeout =
    flags.timeout === undefined ? DNS_QUERY_DEFAULTS.timeout : parseDuration(flags.timeout, '--timeout');
  options.tries =
    flags.tries === undefined
      ? DNS_QUERY_DEFAULTS.tries
      : parseInteger(flags.tries, '--tries', { min: 1, max: 20 });
  if (flags.tryTimeout !== undefined)
    options.tryTimeout = parseDuration(flags.tryTimeout, '--try-timeout', { allowZero: false });
  if (flags.dnssec) options.dnssecOk = true;
  if (flags.cd) options.checkingDisabled = true;
  if (flags.recurse === false) options.recursionDesired = false;
  if (flags.edns === false) options.edns = false;
  if (flags.ednsSize !== undefined)
    options.udpSize = parseInteger(flags.ednsSize, '--edns-size', { min: 0, max: 65535 });
  if (flags.nsid) options.nsid = true;
  if (flags.cookie) options.cookie = true;
  if (flags.subnet !== undefined) options.clientSubnet = flags.subnet;
  if (flags.ignoreTc) options.tcpFallback = false;
  if (flags.get) options.method = 'GET';
  if (flags.ca !== undefined) options.ca = readPem(flags.ca);
  if (flags.servername !== undefined) options.servername = flags.servername;
  if (flags.insecure) options.insecure = true;
  return options;
}

/**
 * Run the dig-like mode: check everything, look up server names, then stream one `answer` per question and a
 * `summary`.
 *
 * @param io - stdin, env, signal
 * @param names - the arguments (`-` reads stdin)
 * @param flags - the resolve command's flags
 * @returns the stream
 * @throws {ValidationError} for bad flags, names or types (exit 2)
 * @throws {DnsError} when a --server name does not resolve (exit 1)
 * @example
 * ```ts
 * if (wantsDig(flags)) return digOutput(io, names, flags);
 * ```
 */
export async function digOutput(io: Io, names: string[], flags: DigFlags): Promise<CommandOutput> {
  const options = digOptions(flags, io);
  const inputs = await readBatchInputs(io, names, flags.file, 'name');
  checkInputs(inputs, checkQueryName);
  const concurrency =
    flags.concurrency === undefined
      ? DNS_LOOKUP_DEFAULTS.concurrency
      : parseInteger(flags.concurrency, '--concurrency', { min: 1, max: 1024 });
  const lookups = await openDnsLookups(options);
  const queries = inputs.map((i) => i.value);
  const total = queries.length * lookups.types.length;
  const view: View = flags.short ? 'short' : flags.sections || total === 1 ? 'sections' : 'lines';
  const width = Math.min(40, Math.max(...queries.map((q) => q.length)));
  let failed = 0;
  let notOk = 0;
  let interrupted = false;
  async function* events(): AsyncGenerator<DigEvent> {
    const started = performance.now();
    const status: Record<string, number> = {};
    let ok = 0;
    try {
      for await (const o of lookups.many(queries, { concurrency, ordered: flags.ordered ?? false })) {
        const elapsedMs = Math.round(o.elapsedMs * 1000) / 1000;
        if (o.ok) {
          ok++;
          const rcode = o.result.message.rcode;
          status[rcode] = (status[rcode] ?? 0) + 1;
          if (rcode !== 'NOERROR') notOk++;
          yield {
            event: 'answer',
            query: o.query,
            type: o.type,
            ok: true,
            elapsedMs,
            receivedAt: Date.now(),
            result: o.result,
          };
        } else {
          failed++;
          yield { event: 'answer', query: o.query, type: o.type, ok: false, elapsedMs, error: o.error };
        }
      }
    } catch (err) {
      if (!(err instanceof AbortError) || !io.signal.aborted) throw err;
      interrupted = true;
    } finally {
      lookups.close();
    }
    const elapsed = performance.now() - started;
    yield {
      event: 'summary',
      total,
      ok,
      failed,
      status,
      ignored: lookups.ignored(),
      elapsedMs: Math.round(elapsed * 1000) / 1000,
      perSecond: elapsed > 0 ? Math.round(((ok + failed) / elapsed) * 1000) : 0,
      interrupted,
      via: lookups.via,
    };
  }
  return stream(events(), (e, ctx) => renderDigEvent(e, ctx, view, width), {
    json: digEventJson,
    exitCode: () => (interrupted ? EXIT.interrupted : failed > 0 || notOk > 0 ? EXIT.failed : EXIT.ok),
    progress: {
      total,
      label: 'resolve',
      tick: (e) => (e.event === 'answer' ? e.ok && e.result.message.rcode === 'NOERROR' : undefined),
    },
  });
}

/** How answers are shown. */
export type View = 'sections' | 'lines' | 'short';

/** A record's data as dig shows it (RRSIG times read against when the answer came). */
function dataOf(rr: ResourceRecord, now: number): string {
  return rdataText(rr.data, rr.rdata, { now });
}

/**
 * Pad to a column the way BIND's master-file printer does (tab stops every 8; past the column, one space — or
 * a tab when that space would reach the next tab stop), so the columns line up as dig's do.
 */
function indent(col: number, to: number): [string, number] {
  const target = to < col + 1 ? col + 1 : to;
  const tabs = Math.max(0, Math.floor(target / 8) - Math.floor(col / 8));
  const spaces = tabs > 0 ? target % 8 : target - col;
  return [`${'\t'.repeat(tabs)}${' '.repeat(spaces)}`, target];
}

/** One record as a dig answer line: owner, TTL, class, type at columns 24, 32, 40, data from 48. */
export function recordLine(rr: ResourceRecord, now: number): string {
  let out = rr.name;
  let col = out.length;
  for (const [text, to] of [
    [String(rr.ttl), 24],
    [rr.class, 32],
    [rr.type, 40],
    [dataOf(rr, now), 48],
  ] as const) {
    const [pad, at] = indent(col, to);
    out += pad + text;
    col = at + text.length;
  }
  return out;
}

function questionLine(q: { name: string; type: string; class: string }): string {
  let out = `;${q.name}`;
  let col = out.length;
  for (const [text, to] of [
    ['', 24],
    [q.class, 32],
    [q.type, 40],
  ] as const) {
    const [pad, at] = indent(col, to);
    out += pad + text;
    col = at + text.length;
  }
  return out;
}

function serverText(r: DnsLookupResult): string {
  if (r.transport === 'https') return `${r.server} (HTTPS${r.httpVersion ? `, HTTP/${r.httpVersion}` : ''})`;
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(r.server);
  const where = m ? `${m[1]}#${m[2]}` : r.server;
  return `${where} (${r.transport.toUpperCase()})`;
}

/**
 * The response as dig shows it, with soket's notes (`;; Truncated ...`, `;; Ignored ...`, `;; TLS ...`).
 *
 * @param r - the lookup's result
 * @param receivedAt - when it arrived (ms since 1970)
 * @param ctx - colours
 * @returns the lines
 * @internal
 */
export function sectionsText(
  r: DnsLookupResult,
  receivedAt: number,
  ctx: Pick<RenderContext, 'color'>,
): string {
  const m = r.message;
  const c = ctx.color;
  const lines: string[] = [];
  for (const s of r.searched) lines.push(`;; Searched ${s}: no records`);
  for (const f of r.failedServers) lines.push(escapeControl(`;; ${f.server} failed: ${f.error}`));
  const status = m.rcode === 'NOERROR' ? c.green(m.rcode) : c.red(m.rcode);
  lines.push(`;; ->>HEADER<<- opcode: ${m.opcode}, status: ${status}, id: ${m.id}`);
  const flags = (['qr', 'aa', 'tc', 'rd', 'ra', 'ad', 'cd'] as const).filter((f) => m.flags[f]).join(' ');
  lines.push(
    `;; flags: ${flags}; QUERY: ${m.question.length}, ANSWER: ${m.answer.length}, AUTHORITY: ${m.authority.length}, ADDITIONAL: ${m.additional.length + (m.edns ? 1 : 0)}`,
  );
  if (m.flags.rd && !m.flags.ra && m.flags.qr)
    lines.push(';; WARNING: recursion requested but not available');
  if (m.edns) {
    const e = m.edns;
    lines.push('', ';; OPT PSEUDOSECTION:');
    lines.push(
      `; EDNS: version: ${e.version}, flags:${e.dnssecOk ? ' do' : ''};${e.z ? ` MBZ: 0x${e.z.toString(16).padStart(4, '0')},` : ''} udp: ${e.udpSize}`,
    );
    for (const o of e.options) lines.push(`; ${ednsOptionText(o)}`);
  }
  lines.push('', ';; QUESTION SECTION:');
  for (const q of m.question) lines.push(questionLine(q));
  for (const [title, records] of [
    ['ANSWER', m.answer],
    ['AUTHORITY', m.authority],
    ['ADDITIONAL', m.additional],
  ] as const) {
    if (records.length === 0) continue;
    lines.push('', `;; ${title} SECTION:`);
    for (const rr of records) lines.push(recordLine(rr, receivedAt));
  }
  lines.push('');
  lines.push(`;; Query time: ${formatMs(r.elapsedMs)}`);
  lines.push(`;; SERVER: ${serverText(r)}`);
  lines.push(`;; WHEN: ${new Date(receivedAt).toISOString()}`);
  lines.push(`;; MSG SIZE  rcvd: ${r.size}`);
  if (r.truncated) lines.push(';; Truncated over UDP (TC): asked again over TCP');
  if (r.tries > 1) lines.push(`;; Answered on try ${r.tries}`);
  if (r.ignored)
    lines.push(
      `;; Ignored ${r.ignored} ${r.ignored === 1 ? 'reply' : 'replies'} (another source, ID or question)`,
    );
  if (r.tls) {
    const t = r.tls;
    const cert =
      t.accepted === 'verified'
        ? 'certificate verified'
        : t.accepted === 'pinned'
          ? 'certificate pinned'
          : `certificate NOT verified: ${t.verifyReason ?? 'insecure'}`;
    lines.push(
      `;; TLS: ${t.protocol ?? '?'}, ${t.cipher}${t.alpn ? `, ALPN ${t.alpn}` : ''}, ${cert}${t.servername ? ` for ${t.servername}` : ''}`,
    );
  }
  // Records, names and options are in presentation form, where every byte that is not printable ASCII is a
  // \DDD escape; the tabs are dig's column layout. What else comes from outside is escaped where it is added.
  return lines.join('\n');
}

/** The data of the answer section, one per line (dig +short). */
function shortLines(r: DnsLookupResult, receivedAt: number): string[] {
  return r.message.answer.map((rr) => escapeControl(dataOf(rr, receivedAt)));
}

/** One compact line: `alias.example.test  A  CNAME www.example.test. (ttl 300), 192.0.2.10 (ttl 300)  0.9 ms`. */
function compactLine(e: Extract<DigEvent, { ok: true }>, width: number, ctx: RenderContext): string {
  const r = e.result;
  const m = r.message;
  const records = m.answer.map(
    (rr) => `${rr.type === e.type ? '' : `${rr.type} `}${dataOf(rr, e.receivedAt)} (ttl ${rr.ttl})`,
  );
  const body = records.length ? records.join(', ') : ctx.color.dim('(no records)');
  const status = m.rcode === 'NOERROR' ? '' : `  ${ctx.color.red(m.rcode)}`;
  const notes = `${r.truncated ? ' (TC→TCP)' : ''}`;
  return escapeControl(
    `${ctx.color.bold(e.query.padEnd(width))}  ${e.type.padEnd(5)}  ${body}${status}  ${ctx.color.dim(`${formatMs(e.elapsedMs)}${notes}`)}`,
  );
}

function failureLine(error: SoketError, elapsedMs: number): string {
  return error instanceof TimeoutError ? error.message : `${error.message} [${formatMs(elapsedMs)}]`;
}

/**
 * The text of one event.
 * @internal
 */
export function renderDigEvent(e: DigEvent, ctx: RenderContext, view: View, width: number): Rendered {
  if (e.event === 'summary') {
    if (e.total <= 1 && !e.interrupted) return undefined;
    const done = e.ok + e.failed;
    const statuses = Object.entries(e.status)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
    return {
      err:
        `${e.interrupted ? `interrupted after ${done} of ${e.total} questions` : `${e.total} questions`}: ` +
        `${statuses || '0 answered'}, ${e.failed} failed in ${formatMs(e.elapsedMs)} (${e.perSecond}/s; ${e.via}` +
        `${e.ignored ? `; ${e.ignored} replies ignored` : ''})`,
    };
  }
  if (!e.ok) return { err: `soket: ${escapeControl(failureLine(e.error, e.elapsedMs))}` };
  if (view === 'short') return shortLines(e.result, e.receivedAt).join('\n') || undefined;
  if (view === 'sections') return `${sectionsText(e.result, e.receivedAt, ctx)}\n`;
  return compactLine(e, width, ctx);
}

function recordJson(rr: ResourceRecord, now: number) {
  const { format: _format, ...fields } = rr.data;
  return { name: rr.name, ttl: rr.ttl, class: rr.class, type: rr.type, data: dataOf(rr, now), fields };
}

/**
 * The JSON line of one event (the documented schema).
 * @internal
 */
export function digEventJson(e: DigEvent): unknown {
  if (e.event === 'summary') return e;
  if (!e.ok)
    return {
      event: 'answer',
      query: e.query,
      type: e.type,
      ok: false,
      elapsedMs: e.elapsedMs,
      error: e.error.toJSON(),
    };
  const r = e.result;
  const m = r.message;
  const now = e.receivedAt;
  return {
    event: 'answer',
    query: e.query,
    type: e.type,
    ok: true,
    elapsedMs: e.elapsedMs,
    server: r.server,
    transport: r.transport,
    truncated: r.truncated,
    tries: r.tries,
    ignored: r.ignored,
    size: r.size,
    searched: r.searched,
    failedServers: r.failedServers,
    status: m.rcode,
    id: m.id,
    opcode: m.opcode,
    flags: m.flags,
    edns: m.edns ?? null,
    question: m.question,
    answer: m.answer.map((rr) => recordJson(rr, now)),
    authority: m.authority.map((rr) => recordJson(rr, now)),
    additional: m.additional.map((rr) => recordJson(rr, now)),
    ...(r.tls
      ? {
          tls: {
            protocol: r.tls.protocol,
            cipher: r.tls.cipher,
            alpn: r.tls.alpn,
            servername: r.tls.servername,
            verified: r.tls.verified,
            accepted: r.tls.accepted,
          },
        }
      : {}),
    ...(r.httpVersion ? { httpVersion: r.httpVersion } : {}),
  };
}
