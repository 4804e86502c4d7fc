// contract: v2 (issue 10: a batch is a stream of `result` events and a `summary`)
/**
 * `soket reverse`: the names of IP addresses — the system's view (getnameinfo, which reads /etc/hosts too)
 * or PTR records over the DNS protocol (`--server`, `--dns`), for one address or a batch.
 *
 * @module
 */
import type { Command } from 'commander';
import { parseDuration, parseInteger } from '../../core/validate.js';
import {
  batchConcurrency,
  DNS_CONCURRENCY,
  reverseMany,
  SYSTEM_CONCURRENCY,
  systemLookupSlots,
} from '../../dns/batch.js';
import { RESOLVE_DEFAULTS } from '../../dns/resolve.js';
import {
  checkReverseAddress,
  planReverse,
  type ReverseOptions,
  type ReverseResult,
} from '../../dns/reverse.js';
import { examples, type RenderContext, type Runner } from '../command.js';
import { batchStream, checkInputs, collect, parseConcurrency, readBatchInputs } from '../dns-batch.js';
import { formatMs } from '../format.js';

interface ReverseFlags {
  server?: string[];
  dns?: boolean;
  timeout?: string;
  tries?: string;
  short?: boolean;
  file?: string;
  concurrency?: string;
  ordered?: boolean;
}

/** One compact line: `192.0.2.10  www.example.test  0.4 ms`. */
function line(query: string, result: ReverseResult, width: number, ctx: RenderContext): string {
  return `${ctx.color.bold(query.padEnd(width))}  ${result.names.join(', ')}  ${ctx.color.dim(formatMs(result.elapsedMs))}`;
}

export function register(program: Command, run: Runner): void {
  program
    .command('reverse')
    .description('find the names of IP addresses: the system view (getnameinfo) or PTR records over DNS')
    .argument('[addresses...]', 'IPv4 or IPv6 addresses; - reads addresses from stdin')
    .option(
      '-s, --server <host[:port]>',
      'ask this DNS server for PTR records (repeatable; port 53 by default)',
      collect,
    )
    .option('--dns', 'ask for PTR records over DNS with the servers in /etc/resolv.conf')
    .option(
      '--timeout <ms>',
      `limit per address, all tries included (0: none) (default: ${RESOLVE_DEFAULTS.timeout})`,
    )
    .option('--tries <n>', `DNS queries per server before giving up (default: ${RESOLVE_DEFAULTS.tries})`)
    .option('--short', 'print only the names, one per line')
    .option('-f, --file <path>', 'read addresses from a file (one or more per line, # comments; - for stdin)')
    .option(
      '-c, --concurrency <n>',
      `addresses in flight at once (default: ${DNS_CONCURRENCY} over DNS, ${SYSTEM_CONCURRENCY} with getnameinfo)`,
    )
    .option('--ordered', 'print answers in input order instead of as they arrive')
    .addHelpText(
      'after',
      `
Without --server or --dns the system answers (getnameinfo: /etc/hosts, then DNS, as /etc/nsswitch.conf says;
one name per address). With them, soket asks DNS servers for the PTR records of 4.3.2.1.in-addr.arpa or
…ip6.arpa (every name). Failures go to stderr and make the exit code 1; an invalid address is a usage error.
--json prints one JSON object per line: {event: "result", query, ok, elapsedMs, address, family, ptr, names[], resolver, server} (or {..., ok: false, error}) for each, then
{event: "summary", total, ok, failed, elapsedMs, perSecond, interrupted, via}.
${examples([
  'soket reverse 127.0.0.1',
  'soket reverse 192.0.2.10 2001:db8::10 --server 127.0.0.1:5353',
  'soket reverse --file addresses.txt --dns --ordered',
  'soket reverse ::1 --json',
])}`,
    )
    .action(
      run(async (io, addresses: string[], flags: ReverseFlags) => {
        const options: ReverseOptions = {
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
        if (flags.dns) options.resolver = 'dns';
        const wanted = parseConcurrency(flags.concurrency);
        const plan = planReverse(options);
        if (plan.resolver === 'system' && io.env.UV_THREADPOOL_SIZE === undefined) {
          // getnameinfo runs on libuv's thread pool; size it before its first use (see `soket resolve`).
          io.env.UV_THREADPOOL_SIZE = String(Math.min(128, 2 * (wanted ?? SYSTEM_CONCURRENCY)));
        }
        const inputs = await readBatchInputs(io, addresses, flags.file, 'address');
        checkInputs(inputs, checkReverseAddress);
        const queries = inputs.map((i) => i.value);
        const concurrency = batchConcurrency(plan.resolver, wanted);
        const via =
          plan.resolver === 'system'
            ? `getnameinfo, ${Math.min(concurrency, systemLookupSlots())} at a time`
            : `PTR via ${plan.server}, concurrency ${concurrency}`;
        return batchStream(
          io,
          queries,
          reverseMany(queries, {
            ...options,
            concurrency,
            ordered: flags.ordered ?? false,
            signal: io.signal,
          }),
          {
            label: 'reverse',
            nouns: 'addresses',
            describe: via,
            text: line,
            short: (r) => r.names,
            json: (r) => ({
              address: r.address,
              family: r.family,
              ptr: r.ptr,
              names: r.names,
              resolver: r.resolver,
              server: r.server,
            }),
          },
          flags.short ?? false,
        );
      }),
    );
}
