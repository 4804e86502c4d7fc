// contract: v2 (issue 10: a batch is a stream of `result` events and a `summary`; the dig-like mode streams `answer` events)
/**
 * `soket resolve`: what a name resolves to — through the system resolver (getaddrinfo, like `getent ahosts`)
 * by default; as dig shows it, over the DNS protocol, with `--server`, `--type`, `--tcp`, `--tls`, `--https`,
 * `--dnssec`, ... (`cli/dns-view.ts`); or from the root with `--trace` / checked with `--validate`
 * (`cli/dns-trace.ts`).
 *
 * @module
 */
import type { Command } from 'commander';
import { exclusive, parseDuration } from '../../core/validate.js';
import { batchConcurrency, resolveMany, SYSTEM_CONCURRENCY, systemLookupSlots } from '../../dns/batch.js';
import { DNS_LOOKUP_DEFAULTS } from '../../dns/lookup.js';
import { DNS_QUERY_DEFAULTS } from '../../dns/query.js';
import type { DnsRecord } from '../../dns/records.js';
import {
  checkLookupName,
  RESOLVE_DEFAULTS,
  type ResolveOptions,
  type ResolveResult,
} from '../../dns/resolve.js';
import { examples, type RenderContext, type Runner } from '../command.js';
import { batchStream, checkInputs, collect, parseConcurrency, readBatchInputs } from '../dns-batch.js';
import { addTraceOptions, TRACE_HELP, type TraceFlags, traceOutput } from '../dns-trace.js';
import { addDigOptions, DIG_HELP, type DigFlags, digOutput, wantsDig } from '../dns-view.js';
import { formatMs } from '../format.js';

type ResolveFlags = DigFlags & Omit<TraceFlags, 'type'>;

/** One compact line: `www.example.test  192.0.2.10, 2001:db8::10  0.8 ms`. */
function line(query: string, result: ResolveResult, width: number, ctx: RenderContext): string {
  const records = result.records.length
    ? result.records.map((r: DnsRecord) => r.data).join(', ')
    : ctx.color.dim('(no records)');
  return `${ctx.color.bold(query.padEnd(width))}  ${records}  ${ctx.color.dim(formatMs(result.elapsedMs))}`;
}

export function register(program: Command, run: Runner): void {
  const cmd = program
    .command('resolve')
    .description('look up names: the system resolver (getaddrinfo), or any record type over DNS as dig does')
    .argument('[names...]', 'names to look up; - reads names from stdin')
    .option('-4, --ipv4', 'only IPv4 addresses (A); with DNS: A by default, IPv4 server addresses')
    .option('-6, --ipv6', 'only IPv6 addresses (AAAA); with DNS: AAAA by default, IPv6 server addresses')
    .option(
      '-s, --server <server>',
      'ask this DNS server: IP, IP:PORT, [IPv6]:PORT, a host name, or an https:// URL (repeatable)',
      collect,
    )
    .option('-t, --type <type>', 'record type, any by name or as TYPEnnn (repeatable; default A)', collect)
    .option('--dns', 'use the DNS protocol with the servers in /etc/resolv.conf')
    .option(
      '--timeout <ms>',
      `limit per question (per name with getaddrinfo), all tries included, 0 for none (default: ${RESOLVE_DEFAULTS.timeout})`,
    )
    .option('--tries <n>', `UDP queries per question before giving up (default: ${DNS_QUERY_DEFAULTS.tries})`)
    .option('--short', 'print only the data, one per line (like dig +short)')
    .option('-f, --file <path>', 'read names from a file (one or more per line, # comments; - for stdin)')
    .option(
      '-c, --concurrency <n>',
      `questions in flight at once (default: ${DNS_LOOKUP_DEFAULTS.concurrency} over DNS, ${SYSTEM_CONCURRENCY} with getaddrinfo)`,
    )
    .option('--ordered', 'print answers in input order instead of as they arrive');
  addDigOptions(cmd);
  addTraceOptions(cmd);
  cmd
    .addHelpText(
      'after',
      `
Without DNS flags the system resolver answers (getaddrinfo: /etc/hosts, then DNS, as /etc/nsswitch.conf
says), with every address an application would connect to; each answer shows how long it took, failures go
to stderr and make the exit code 1. --json prints one object per line: {event: "result", query, ok,
elapsedMs, name, types, resolver, server, records[]} (or {..., ok: false, error}) for each name, then {event:
"summary", total, ok, failed, elapsedMs, perSecond, interrupted, via}.

${DIG_HELP}

${TRACE_HELP}
${examples([
  'soket resolve localhost',
  'soket resolve example.com -4',
  'soket resolve example.com --server 127.0.0.1:5353 --type MX',
  'soket resolve example.com -t HTTPS -t SVCB --server ns1.example.com',
  'soket resolve example.com --dnssec --tls --server 127.0.0.1 --ca ca.pem --servername dns.example.com',
  'soket resolve example.com --https https://127.0.0.1:8443/dns-query --ca ca.pem',
  'soket resolve _sip._udp.example.com -t SRV -s 192.0.2.53 --short',
  'soket resolve --file names.txt --server 127.0.0.1 --concurrency 128 --json > answers.ndjson',
  'soket resolve example.com --trace --validate',
])}`,
    )
    .action(
      run(async (io, names: string[], flags: ResolveFlags) => {
        if (flags.trace || flags.validate) {
          exclusive({ '--trace/--validate': true, '--type (repeated)': (flags.type?.length ?? 0) > 1 });
          const { type, ...rest } = flags;
          return traceOutput(io, names, { ...rest, ...(type?.[0] !== undefined ? { type: type[0] } : {}) });
        }
        if (wantsDig(flags)) return digOutput(io, names, flags);
        exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
        const family = flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0;
        const options: ResolveOptions = {
          family,
          timeout:
            flags.timeout === undefined
              ? RESOLVE_DEFAULTS.timeout
              : parseDuration(flags.timeout, '--timeout'),
        };
        const wanted = parseConcurrency(flags.concurrency);
        // getaddrinfo runs on libuv's thread pool, (threads + 1) / 2 at a time. Size the pool for the batch
        // before anything uses it (it is created on first use), unless the user chose a size.
        if (io.env.UV_THREADPOOL_SIZE === undefined) {
          io.env.UV_THREADPOOL_SIZE = String(Math.min(128, 2 * (wanted ?? SYSTEM_CONCURRENCY)));
        }
        const inputs = await readBatchInputs(io, names, flags.file, 'name');
        checkInputs(inputs, checkLookupName);
        const queries = inputs.map((i) => i.value);
        const concurrency = batchConcurrency('system', wanted);
        return batchStream(
          io,
          queries,
          resolveMany(queries, {
            ...options,
            concurrency,
            ordered: flags.ordered ?? false,
            signal: io.signal,
          }),
          {
            label: 'resolve',
            nouns: 'names',
            describe: `getaddrinfo, ${Math.min(concurrency, systemLookupSlots())} at a time`,
            text: line,
            short: (r) => r.records.map((rec) => rec.data),
            json: (r) => ({
              name: r.name,
              types: r.types,
              resolver: r.resolver,
              server: r.server,
              records: r.records,
            }),
          },
          flags.short ?? false,
        );
      }),
    );
}
