// contract: v2 (a stream of `step`, `dnssec` and `result` events)
/**
 * `soket resolve NAME --trace` (iterative resolution from the root, like `dig +trace`) and `--validate`
 * (DNSSEC, like `delv`: with `--trace` at every step, or alone through a recursive resolver `--server`). The
 * resolve command hands its flags here when either is given.
 *
 * Text: each response as dig +trace prints it (the records of its answer and authority sections, then
 * `;; Received N bytes from ADDR#53(NAME) in T ms`), servers that failed or were lame, the DNSSEC findings
 * (`;; DNSSEC ...`), and the final answer with its verdict. `--json`: one object per line (`step`, `dnssec`,
 * then `result`). Exit code 1 when the verdict is bogus.
 *
 * @module
 */

import { getServers } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { toSoketError, ValidationError } from '../core/errors.js';
import { readInputFileSync } from '../core/input-file.js';
import { escapeControl } from '../core/text.js';
import { exclusive, formatHostPort, parseDuration, parseHostPort, parseInteger } from '../core/validate.js';
import {
  parseRootHints,
  serverText,
  TRACE_DEFAULTS,
  type TraceEvent,
  type TraceOptions,
  type TraceRecord,
  type TraceResult,
  type TraceStep,
  traceStream,
} from '../dns/trace.js';
import { algorithmText } from '../dnssec/records.js';
import { parseTrustAnchors } from '../dnssec/trust-anchor.js';
import { type CommandOutput, EXIT, type RenderContext, type Rendered, stream } from './command.js';
import { formatMs } from './format.js';
import type { Io } from './io.js';

/** The flags of `soket resolve` this module reads. */
export interface TraceFlags {
  trace?: boolean;
  validate?: boolean;
  trustAnchor?: string;
  rootHints?: string;
  maxSteps?: string;
  tryTimeout?: string;
  ipv4?: boolean;
  ipv6?: boolean;
  server?: string[];
  type?: string;
  timeout?: string;
  tries?: string;
  short?: boolean;
  file?: string;
  dns?: boolean;
  dnssec?: boolean;
}

/**
 * Declare `--trace`, `--validate`, `--trust-anchor`, `--root-hints`, `--max-steps` and `--try-timeout` on the
 * resolve command.
 *
 * @example
 * ```ts
 * addTraceOptions(program.command('resolve'));
 * ```
 */
export function addTraceOptions(cmd: Command): Command {
  return cmd
    .option('--trace', 'resolve iteratively from the root servers and show every step (like dig +trace)')
    .option(
      '--validate',
      'validate the answer with DNSSEC (like delv): each step with --trace, else via --server',
    )
    .option('--trust-anchor <file>', 'DS or DNSKEY records to trust (default: the root KSKs built in)')
    .option(
      '--root-hints <file>',
      'root servers to start from, in zone-file form (default: the IANA root servers)',
    )
    .option('--max-steps <n>', `most queries a --trace may send (default: ${TRACE_DEFAULTS.maxSteps})`)
    .option(
      '--try-timeout <ms>',
      `how long one query waits before the next try or server (default: ${TRACE_DEFAULTS.tryTimeout} with --trace/--validate, --timeout / --tries otherwise)`,
    );
}

/** Whether the flags ask for a trace or validation. */
export function wantsTrace(flags: TraceFlags): boolean {
  return Boolean(flags.trace || flags.validate);
}

/** Help lines for the resolve command's epilogue. */
export const TRACE_HELP = `With --trace, soket walks from the root servers down the referrals to the name (glue-less name servers are
looked up first; lame and silent servers are reported and the next one asked); --validate checks DNSSEC at
every step from the root trust anchor and ends with a verdict: secure, insecure (and the unsigned delegation)
or bogus (and exactly why; exit code 1). --validate without --trace asks --server (a recursive resolver; DO
and CD are set) for the answer and every DS and DNSKEY on the way. -4/-6 choose the servers' address family.
--json prints one object per step: {event: "step", step, depth, purpose, zone, question, server, elapsedMs,
outcome, rcode, answer[], authority[], additional[], referral?, error?}, {event: "dnssec", kind, ...}, then
{event: "result", name, type, rcode, answer[], names, server, steps, elapsedMs, verdict?}.`;

function readText(path: string, what: string): string {
  try {
    // capped: a device or a huge file is refused, not read without end
    return readInputFileSync(path, { maxBytes: 4 * 1024 * 1024, what }).toString('utf8');
  } catch (err) {
    throw new ValidationError(`Cannot read ${what} '${path}': ${toSoketError(err).message}`);
  }
}

/** Check the flags and build the trace options. */
export function traceOptions(flags: TraceFlags, io: Pick<Io, 'signal'>): TraceOptions {
  exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
  if (flags.file !== undefined)
    throw new ValidationError('Options --trace/--validate and --file cannot be used together');
  if (flags.short)
    throw new ValidationError('Options --trace/--validate and --short cannot be used together');
  if (flags.dns) throw new ValidationError('Options --trace/--validate and --dns cannot be used together');
  if (flags.trace && flags.server !== undefined) {
    throw new ValidationError(
      'Options --trace and --server cannot be used together (a trace starts at the root servers)',
    );
  }
  if (!flags.trace && flags.rootHints !== undefined)
    throw new ValidationError('Option --root-hints needs --trace');
  if (!flags.trace && flags.maxSteps !== undefined)
    throw new ValidationError('Option --max-steps needs --trace');
  if (flags.trace && flags.tries !== undefined) {
    throw new ValidationError(
      'Option --tries applies to --validate --server (a trace asks each server once)',
    );
  }
  // The dig-mode flags that mean nothing here: refuse them rather than ignore them.
  const given = flags as Record<string, unknown>;
  const digOnly: [string, string][] = [
    ['class', '--class'],
    ['search', '--search'],
    ['tcp', '--tcp'],
    ['tls', '--tls'],
    ['https', '--https'],
    ['get', '--get'],
    ['ca', '--ca'],
    ['servername', '--servername'],
    ['insecure', '--insecure'],
    ['cd', '--cd'],
    ['ednsSize', '--edns-size'],
    ['nsid', '--nsid'],
    ['cookie', '--cookie'],
    ['subnet', '--subnet'],
    ['ignoreTc', '--ignore-tc'],
    ['sections', '--sections'],
    ['concurrency', '--concurrency'],
    ['ordered', '--ordered'],
  ];
  for (const [key, option] of digOnly) {
    if (given[key] !== undefined && given[key] !== false) {
      throw new ValidationError(`Options --trace/--validate and ${option} cannot be used together`);
    }
  }
  if (given.recurse === false)
    throw new ValidationError('Options --trace/--validate and --no-recurse cannot be used together');
  if (given.edns === false)
    throw new ValidationError('Options --trace/--validate and --no-edns cannot be used together');
  if (!flags.validate && flags.trustAnchor !== undefined)
    throw new ValidationError('Option --trust-anchor needs --validate');
  if ((flags.server?.length ?? 0) > 1) throw new ValidationError('Option --validate takes one --server');
  const options: TraceOptions = {
    type: flags.type ?? TRACE_DEFAULTS.type,
    family: flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0,
    validate: flags.validate ?? false,
    // --trace --dnssec: DNSSEC records in every step, like dig +trace +dnssec, without validating.
    dnssecOk: Boolean(flags.validate || flags.dnssec),
    timeout: flags.timeout === undefined ? TRACE_DEFAULTS.timeout : parseDuration(flags.timeout, '--timeout'),
  };
  if (io.signal) options.signal = io.signal;
  if (flags.maxSteps !== undefined)
    options.maxSteps = parseInteger(flags.maxSteps, '--max-steps', { min: 1, max: 10_000 });
  if (flags.tryTimeout !== undefined) {
    options.tryTimeout = parseDuration(flags.tryTimeout, '--try-timeout');
    if (options.tryTimeout === 0)
      throw new ValidationError("Invalid --try-timeout '0': expected a positive duration");
  }
  if (flags.rootHints !== undefined) {
    options.rootHints = parseRootHints(readText(flags.rootHints, 'root hints file'), flags.rootHints);
  }
  if (flags.trustAnchor !== undefined) {
    options.trustAnchors = parseTrustAnchors(
      readText(flags.trustAnchor, 'trust anchor file'),
      flags.trustAnchor,
    );
  }
  if (!flags.trace) {
    options.server = flags.server?.[0] ?? systemResolver();
    if (flags.tries !== undefined) options.tries = parseInteger(flags.tries, '--tries', { min: 1, max: 10 });
  }
  return options;
}

/** `--server` given as a host name (like dig's `@name`): looked up first, its first address asked. */
async function serverAddress(server: string): Promise<string> {
  const { host, port } = parseHostPort(server, { defaultPort: 53 });
  if (isIP(host.split('%')[0] ?? host) !== 0) return server;
  let address: string;
  try {
    address = (await lookup(host)).address;
  } catch (err) {
    throw toSoketError(err, `Cannot resolve the server name ${host}`);
  }
  return formatHostPort(address, port);
}

function systemResolver(): string {
  const first = getServers()[0];
  if (!first)
    throw new ValidationError('Option --validate needs --server: no name server in /etc/resolv.conf');
  return first;
}

/** Shorten base64 blobs (keys, signatures, NSEC3 hashes stay) unless verbose, as dig's +nocrypto does. */
function shortData(r: TraceRecord, verbose: boolean): string {
  if (verbose) return r.data;
  if (r.type === 'RRSIG') return r.data.replace(/^((?:\S+ ){8})\S.*$/, '$1[…]');
  if (r.type === 'DNSKEY' || r.type === 'CDNSKEY') return r.data.replace(/^((?:\S+ ){3})\S.*$/, '$1[…]');
  return r.data;
}

function recordLine(r: TraceRecord, verbose: boolean): string {
  const name = escapeControl(r.name);
  return `${name.padEnd(Math.max(24, name.length + 1))}${String(r.ttl).padEnd(8)}${r.class.padEnd(4)}${r.type.padEnd(8)}${escapeControl(shortData(r, verbose))}`;
}

function stepText(e: TraceStep, ctx: RenderContext): string {
  const indent = '  '.repeat(e.depth);
  const from = serverText(e.server);
  const took = formatMs(e.elapsedMs);
  const q = `${escapeControl(e.question.name)} ${e.question.type}`;
  if (e.outcome === 'error' || e.outcome === 'lame') {
    const what = e.outcome === 'lame' ? ctx.color.yellow('lame') : ctx.color.red('failed');
    return `${indent};; ${what}: ${from} for ${q}: ${escapeControl(e.error?.message ?? '')}; asking the next server`;
  }
  if (e.purpose !== 'resolve' || e.depth > 0) {
    const summary =
      e.outcome === 'referral'
        ? `referral to ${e.referral?.zone}`
        : e.outcome === 'answer'
          ? `${e.answer.filter((r) => r.type === e.question.type).length} ${e.question.type}`
          : (e.rcode ?? e.outcome);
    const label = e.purpose === 'ns-address' ? '(name server address) ' : '';
    return ctx.color.dim(`${indent};; ${label}${q} from ${from} in ${took}: ${summary}`);
  }
  const lines = [...e.answer, ...e.authority].map((r) => recordLine(r, ctx.verbose));
  if (ctx.verbose) lines.push(...e.additional.map((r) => recordLine(r, true)));
  const status = e.outcome === 'nxdomain' ? ' (NXDOMAIN)' : e.outcome === 'nodata' ? ' (NODATA)' : '';
  lines.push(
    ctx.color.dim(
      `;; Received ${e.bytes ?? 0} bytes from ${from} in ${took}${status}${e.transport === 'tcp' ? ' over TCP' : ''}`,
    ),
    '',
  );
  return lines.join('\n');
}

function statusColor(status: string, ctx: RenderContext): string {
  if (status === 'secure' || status === 'signed') return ctx.color.green(status);
  if (status === 'bogus') return ctx.color.red(status);
  if (status === 'insecure' || status === 'unsigned') return ctx.color.yellow(status);
  return status;
}

function resultText(r: TraceResult, ctx: RenderContext): string {
  const lines = [
    `;; ${r.type === 'A' && r.names.length === 1 ? 'Answer' : `Answer for ${escapeControl(r.name)} ${r.type}`} (${r.rcode}) from ${serverText(r.server)}:`,
  ];
  const records = r.answer.filter((a) => ctx.verbose || a.type !== 'RRSIG');
  if (records.length === 0) lines.push(ctx.color.dim(';; (no records)'));
  lines.push(...records.map((a) => recordLine(a, ctx.verbose)));
  if (r.verdict) {
    const v = r.verdict;
    const at =
      v.status === 'insecure' && v.insecureAt ? ` (unsigned delegation: ${escapeControl(v.insecureAt)})` : '';
    lines.push(`;; DNSSEC: ${ctx.color.bold(statusColor(v.status, ctx))}${at}: ${escapeControl(v.reason)}`);
  }
  lines.push(
    ctx.color.dim(`;; ${r.steps} ${r.steps === 1 ? 'query' : 'queries'} in ${formatMs(r.elapsedMs)}`),
  );
  return lines.join('\n');
}

/**
 * The text of one trace event.
 *
 * @example
 * ```ts
 * renderTraceEvent(event, { color, verbose: false, columns: 80 });
 * ```
 */
export function renderTraceEvent(e: TraceEvent, ctx: RenderContext): Rendered {
  if (e.event === 'step') return stepText(e, ctx);
  if (e.event === 'result') return resultText(e, ctx);
  if (e.kind === 'keys') {
    const keys = e.keys
      .map((k) => `${k.keyTag}/${algorithmText(k.algorithm)}${k.flags & 1 ? ' KSK' : ''}`)
      .join(', ');
    return `;; DNSSEC: DNSKEY ${escapeControl(e.zone)} ${statusColor(e.status, ctx)}${keys ? ` [${keys}]` : ''}: ${escapeControl(e.reason)}`;
  }
  if (e.result === 'not-a-cut' || e.result === 'nonexistent') {
    return ctx.verbose ? ctx.color.dim(`;; DNSSEC: ${escapeControl(e.reason)}`) : undefined;
  }
  return `;; DNSSEC: delegation to ${escapeControl(e.child)} ${statusColor(e.result, ctx)}: ${escapeControl(e.reason)}`;
}

/**
 * `soket resolve NAME --trace|--validate`: the stream of steps and the verdict.
 *
 * @param io - the command's Io
 * @param names - the names given (exactly one)
 * @param flags - the resolve command's flags
 * @throws {ValidationError} for bad or conflicting flags, unreadable files, more than one name
 * @example
 * ```ts
 * return traceOutput(io, names, flags);
 * ```
 */
export async function traceOutput(io: Io, names: string[], flags: TraceFlags): Promise<CommandOutput> {
  if (names.length !== 1 || names[0] === '-') {
    throw new ValidationError(
      `Options --trace/--validate take exactly one name (got ${names.length === 1 ? "'-'" : names.length})`,
    );
  }
  const name = names[0] as string;
  const options = traceOptions(flags, io);
  if (options.server !== undefined) options.server = await serverAddress(options.server);
  let bogus = false;
  async function* events(): AsyncGenerator<TraceEvent> {
    for await (const e of traceStream(name, options)) {
      if (e.event === 'result' && e.verdict?.status === 'bogus') bogus = true;
      yield e;
    }
  }
  return stream(events(), renderTraceEvent, { exitCode: () => (bogus ? EXIT.failed : EXIT.ok) });
}
