// contract: v2 (issue 10: a batch is a stream of `result` events and a `summary`)
/**
 * `soket resolve`: what a name resolves to — through the system resolver (getaddrinfo, like `getent ahosts`)
 * or, with `--server` or `--type`, over the DNS protocol (like `dig`), for one name or a batch.
 *
 * @module
 */
import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import { exclusive, parseDuration, parseInteger } from '../../core/validate.js';
import {
  batchConcurrency,
  DNS_CONCURRENCY,
  resolveMany,
  SYSTEM_CONCURRENCY,
  systemLookupSlots,
} from '../../dns/batch.js';
import { type DnsRecord, parseRecordType } from '../../dns/records.js';
import {
  checkLookupName,
  planResolve,
  RESOLVE_DEFAULTS,
  type ResolveOptions,
  type ResolveResult,
} from '../../dns/resolve.js';
import { examples, type RenderContext, type Runner } from '../command.js';
import { batchStream, checkInputs, collect, parseConcurrency, readBatchInputs } from '../dns-batch.js';
import { formatMs } from '../format.js';

interface ResolveFlags {
  ipv4?: boolean;
  ipv6?: boolean;
  server?: string[];
  type?: string;
  dns?: boolean;
  timeout?: string;
  tries?: string;
  short?: boolean;
  file?: string;
  concurrency?: string;
  ordered?: boolean;
}

function recordText(r: DnsRecord, addressesOnly: boolean): string {
  const ttl = r.ttl === null ? '' : ` (ttl ${r.ttl})`;
  return `${addressesOnly ? '' : `${r.type} `}${r.data}${ttl}`;
}

/** One compact line: `www.example.test  192.0.2.10 (ttl 300), 2001:db8::10 (ttl 300)  0.8 ms`. */
function line(query: string, result: ResolveResult, width: number, ctx: RenderContext): string {
  const addressesOnly = result.types.every((t) => t === 'A' || t === 'AAAA');
  const records = result.records.length
    ? result.records.map((r) => recordText(r, addressesOnly)).join(', ')
    : ctx.color.dim('(no records)');
  return `${ctx.color.bold(query.padEnd(width))}  ${records}  ${ctx.color.dim(formatMs(result.elapsedMs))}`;
}

export function register(program: Command, run: Runner): void {
  program
    .command('resolve')
    .description('look up names: the system resolver (getaddrinfo), or any record type over DNS')
    .argument('[names...]', 'names to look up; - reads names from stdin')
    .option('-4, --ipv4', 'only IPv4 addresses (A)')
    .option('-6, --ipv6', 'only IPv6 addresses (AAAA)')
    .option('-s, --server <host[:port]>', 'ask this DNS server (repeatable; port 53 by default)', collect)
    .option('-t, --type <type>', 'record type: A AAAA CNAME MX NS TXT SOA SRV CAA PTR NAPTR ANY')
    .option('--dns', 'use the DNS protocol with the servers in /etc/resolv.conf')
    .option(
      '--timeout <ms>',
      `limit per name, all tries included (0: none) (default: ${RESOLVE_DEFAULTS.timeout})`,
    )
    .option('--tries <n>', `DNS queries per server before giving up (default: ${RESOLVE_DEFAULTS.tries})`)
    .option('--short', 'print only the values, one per line (like dig +short)')
    .option('-f, --file <path>', 'read names from a file (one or more per line, # comments; - for stdin)')
    .option(
      '-c, --concurrency <n>',
      `names in flight at once (default: ${DNS_CONCURRENCY} over DNS, ${SYSTEM_CONCURRENCY} with getaddrinfo)`,
    )
    .option('--ordered', 'print answers in input order instead of as they arrive')
    .addHelpText(
      'after',
      `
Without --server, --type or --dns the system resolver answers (getaddrinfo: /etc/hosts, then DNS, as
/etc/nsswitch.conf says), with every address an application would connect to. With them, soket asks DNS
servers directly (c-ares) and shows TTLs where the resolver reports them (A and AAAA). Each answer shows how
long it took; failures go to stderr, one line each, and make the exit code 1 while every success is printed.
Batches run with bounded concurrency; a summary goes to stderr, and a progress bar on a terminal.
--json prints one JSON object per line: {event: "result", query, ok, elapsedMs, name, types, resolver, server, records[]} (or {..., ok: false, error}) for each, then
{event: "summary", total, ok, failed, elapsedMs, perSecond, interrupted, via}.
${examples([
  'soket resolve localhost',
  'soket resolve example.com -4',
  'soket resolve example.com --server 127.0.0.1:5353 --type MX',
  'soket resolve _sip._udp.example.com -t SRV -s 192.0.2.53 --short',
  'soket resolve --file names.txt --server 127.0.0.1 --concurrency 128 > answers.txt',
  'cat names.txt | soket resolve - --json --ordered',
])}`,
    )
    .action(
      run(async (io, names: string[], flags: ResolveFlags) => {
        exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
        const family = flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0;
        const options: ResolveOptions = {
          family,
          timeout:
            flags.timeout === undefined
              ? RESOLVE_DEFAULTS.timeout
              : parseDuration(flags.timeout, '--timeout'),
          tries:
            flags.tries === undefined
              ? RESOLVE_DEFAULTS.tries
              : parseInteger(flags.tries, '--tries', { min: 1, max: 20 }),
        };
        if (flags.server !== undefined) options.server = flags.server;
        if (flags.type !== undefined) options.type = flags.type as ResolveOptions['type'] & string;
        if (flags.dns) options.resolver = 'dns';
        const wanted = parseConcurrency(flags.concurrency);
        if (family !== 0 && flags.type !== undefined) {
          const type = parseRecordType(flags.type);
          if (type !== (family === 4 ? 'A' : 'AAAA')) {
            throw new ValidationError(`Options -${family} and --type ${type} cannot be used together`);
          }
        }
        const plan = planResolve(options);
        if (plan.resolver === 'system') {
          // getaddrinfo runs on libuv's thread pool, (threads + 1) / 2 at a time. Size the pool for the batch
          // before anything uses it (it is created on first use), unless the user chose a size.
          if (io.env.UV_THREADPOOL_SIZE === undefined) {
            io.env.UV_THREADPOOL_SIZE = String(Math.min(128, 2 * (wanted ?? SYSTEM_CONCURRENCY)));
          }
        }
        const inputs = await readBatchInputs(io, names, flags.file, 'name');
        checkInputs(inputs, checkLookupName);
        const queries = inputs.map((i) => i.value);
        const concurrency = batchConcurrency(plan.resolver, wanted);
        const via =
          plan.resolver === 'system'
            ? `getaddrinfo, ${Math.min(concurrency, systemLookupSlots())} at a time`
            : `${plan.types.join('/')} via ${plan.server}, concurrency ${concurrency}`;
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
            describe: via,
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
