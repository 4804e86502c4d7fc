/**
 * `soket ntp serve`: a safe SNTP server on the local clock.
 *
 * @module
 */
import type { Command } from 'commander';
import type { LeapIndicator } from '../../codec/ntp.js';
import { ValidationError } from '../../core/errors.js';
import { formatHostPort, parseDuration, parseHostPort, parseInteger } from '../../core/validate.js';
import { createSntpServer, type SntpServerOptions, type SntpServerStats } from '../../ntp/server.js';
import { EXIT, examples, type Runner } from '../command.js';
import type { Io } from '../io.js';

interface ServeOpts {
  stratum?: string;
  refid?: string;
  leap?: string;
  rateLimit?: boolean;
  rateInterval?: string;
  rateBurst?: string;
  stats?: string;
}

function statsLine(s: SntpServerStats): string {
  const dropped = s.dropped.malformed + s.dropped.notClient + s.dropped.rateLimited;
  return `${s.received} received, ${s.answered} answered, ${s.kod} kiss-o'-death, ${dropped} dropped (${s.dropped.malformed} malformed, ${s.dropped.notClient} not client requests, ${s.dropped.rateLimited} over the rate limit)${s.sendErrors ? `, ${s.sendErrors} send errors` : ''}`;
}

function parseLeap(value: string): 'kernel' | LeapIndicator {
  if (value === 'kernel') return 'kernel';
  if (/^[0-3]$/.test(value)) return Number(value) as LeapIndicator;
  throw new ValidationError(`Invalid --leap '${value}': expected kernel, 0, 1, 2 or 3`);
}

async function serve(io: Io, address: string, opts: ServeOpts): Promise<number> {
  const { host, port } = parseHostPort(address, { defaultHost: '127.0.0.1', allowZero: true });
  const options: SntpServerOptions = { host, port, signal: io.signal };
  if (opts.stratum !== undefined)
    options.stratum = parseInteger(opts.stratum, '--stratum', { min: 1, max: 15 });
  if (opts.refid !== undefined) options.referenceId = opts.refid;
  if (opts.leap !== undefined) options.leap = parseLeap(opts.leap);
  if (opts.rateLimit === false) {
    if (opts.rateInterval !== undefined || opts.rateBurst !== undefined) {
      throw new ValidationError(
        'Options --no-rate-limit and --rate-interval/--rate-burst cannot be used together',
      );
    }
    options.rateLimit = false;
  } else {
    options.rateLimit = {};
    if (opts.rateInterval !== undefined) {
      options.rateLimit.interval = parseDuration(opts.rateInterval, '--rate-interval', { allowZero: false });
    }
    if (opts.rateBurst !== undefined) {
      options.rateLimit.burst = parseInteger(opts.rateBurst, '--rate-burst', { min: 1, max: 1_000_000 });
    }
  }
  const statsEvery = opts.stats === undefined ? 60_000 : parseDuration(opts.stats, '--stats');

  const server = await createSntpServer(options);
  const where = formatHostPort(server.address.address, server.address.port);
  const leapFrom =
    server.leapSource === 'kernel'
      ? 'from the kernel clock state'
      : server.leapSource === 'option'
        ? 'as configured'
        : 'fallback';
  io.err(
    `SNTP server listening on ${where} (UDP): stratum ${server.stratum}, reference ${server.referenceIdText}, leap ${server.leap} ${leapFrom}, precision 2^${server.precision} s`,
  );
  if (options.rateLimit === false) io.err('Rate limit: off');
  else {
    const r = options.rateLimit ?? {};
    io.err(
      `Rate limit: a burst of ${r.burst ?? 8}, then one request per ${r.interval ?? 2000} ms per client address; over it, one RATE kiss-o'-death per interval`,
    );
  }
  if (server.leapSource === 'fallback') {
    io.err(
      `Warning: kernel clock state unreadable (${server.leapReason}); announcing leap ${server.leap} (see --leap)`,
    );
  } else if (server.leap === 3) {
    io.err(
      'Warning: the kernel says the clock is not synchronised, so replies carry leap indicator 3 and stratum 16 and clients will not use them (--leap 0 to announce it as synchronised)',
    );
  }
  io.err('Ctrl-C to stop');

  let last = '';
  const timer =
    statsEvery > 0
      ? setInterval(() => {
          const line = statsLine(server.stats());
          if (line !== last) io.err(`Counters: ${line}`);
          last = line;
        }, statsEvery)
      : undefined;
  await new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    else io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  if (timer) clearInterval(timer);
  await server.close();
  const stats = server.stats();
  io.err(`Stopped: ${statsLine(stats)}`);
  if (io.json) {
    io.printJson({
      address: server.address.address,
      port: server.address.port,
      stratum: server.stratum,
      referenceId: server.referenceIdText,
      leap: server.leap,
      leapSource: server.leapSource,
      stats,
    });
  }
  return EXIT.ok;
}

export function register(program: Command, run: Runner): void {
  const ntp = program.command('ntp').description('NTP tools: an SNTP server');
  ntp
    .command('serve')
    .description('answer SNTP client requests from the local clock (safe: rate-limited, never amplifies)')
    .argument('<[host:]port>', 'address to listen on; port 0 picks a free one (host defaults to 127.0.0.1)')
    .option('--stratum <n>', 'stratum to announce, 1 to 15 (default: 10)')
    .option(
      '--refid <id>',
      'reference ID: four ASCII characters for stratum 1 (GPS, LOCL), an IPv4/IPv6 address from stratum 2 (default: LOCL or 127.127.1.1)',
    )
    .option(
      '--leap <kernel|0-3>',
      'leap indicator: from the kernel clock state (adjtimex), or fixed (default: kernel; 0 when unreadable)',
    )
    .option('--no-rate-limit', 'answer every client request (no per-client limit, no kiss-o-death)')
    .option('--rate-interval <ms>', 'average time a client must leave between requests (default: 2000)')
    .option('--rate-burst <n>', 'requests a client may send at once before it is limited (default: 8)')
    .option(
      '--stats <ms>',
      'print the counters this often when they changed; 0 for only at the end (default: 60000)',
    )
    .addHelpText(
      'after',
      `
Answers only client requests (mode 3) with server replies (mode 4), copying the version, the poll and (into
the origin field) the request's transmit timestamp bit for bit. Replies are 48 bytes, never larger than the
request; malformed packets and other modes (control, private, symmetric, broadcast) are dropped and counted.
Logs and counters go to stderr; with --json the final counters are printed on stdout at exit.
${examples([
  'soket ntp serve 0',
  'soket ntp serve 127.0.0.1:11123 --stratum 2 --refid 192.0.2.1',
  'soket ntp serve [::1]:11123 --leap 0 --no-rate-limit',
  'soket ntp serve 11123 --rate-interval 8000 --rate-burst 4',
])}`,
    )
    .action(run(async (io, address: string, opts: ServeOpts) => serve(io, address, opts)));
}
