// contract: v2 (issue 10: `ntp serve` returns a stream of events; main.ts renders them)
/**
 * `soket ntp serve`: a safe SNTP server on the local clock. A stream of events: `listening`, `counters`
 * (every `--stats` ms when they changed), `stopped` — logged on stderr as text, one JSON object per line with
 * `--json`.
 *
 * @module
 */
import type { Command } from 'commander';
import type { LeapIndicator } from '../../codec/ntp.js';
import { sleep } from '../../core/deadline.js';
import { ValidationError } from '../../core/errors.js';
import { formatHostPort, parseDuration, parseHostPort, parseInteger } from '../../core/validate.js';
import { RATE_LIMIT_DEFAULTS } from '../../ntp/rate-limit.js';
import {
  type LeapSource,
  SNTP_SERVER_DEFAULTS,
  SntpServer,
  type SntpServerOptions,
  type SntpServerStats,
} from '../../ntp/server.js';
import { examples, type RenderContext, type Rendered, type Runner, stream } from '../command.js';
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

/** How often the counters are printed by default, in ms. */
const STATS_EVERY_MS = 60_000;

/** The events of `ntp serve`. */
export type NtpServeEvent =
  | {
      event: 'listening';
      address: string;
      port: number;
      family: 4 | 6;
      stratum: number;
      referenceId: string;
      leap: LeapIndicator;
      leapSource: LeapSource;
      leapReason?: string;
      precision: number;
      rateLimit: { interval: number; burst: number } | false;
    }
  | ({ event: 'counters' } & SntpServerStats)
  | ({ event: 'stopped' } & SntpServerStats);

function statsLine(s: SntpServerStats): string {
  const dropped = s.dropped.malformed + s.dropped.notClient + s.dropped.rateLimited;
  return `${s.received} received, ${s.answered} answered, ${s.kod} kiss-o'-death, ${dropped} dropped (${s.dropped.malformed} malformed, ${s.dropped.notClient} not client requests, ${s.dropped.rateLimited} over the rate limit)${s.sendErrors ? `, ${s.sendErrors} send errors` : ''}`;
}

function parseLeap(value: string): 'kernel' | LeapIndicator {
  if (value === 'kernel') return 'kernel';
  if (/^[0-3]$/.test(value)) return Number(value) as LeapIndicator;
  throw new ValidationError(`Invalid --leap '${value}': expected kernel, 0, 1, 2 or 3`);
}

function serveText(e: NtpServeEvent, ctx: RenderContext): Rendered {
  switch (e.event) {
    case 'listening': {
      const where = formatHostPort(e.address, e.port);
      const leapFrom =
        e.leapSource === 'kernel'
          ? 'from the kernel clock state'
          : e.leapSource === 'option'
            ? 'as configured'
            : 'fallback';
      const lines = [
        `SNTP server listening on ${where} (UDP): stratum ${e.stratum}, reference ${e.referenceId}, leap ${e.leap} ${leapFrom}, precision 2^${e.precision} s`,
        e.rateLimit === false
          ? 'Rate limit: off'
          : `Rate limit: a burst of ${e.rateLimit.burst}, then one request per ${e.rateLimit.interval} ms per client address; over it, one RATE kiss-o'-death per interval`,
      ];
      if (e.leapSource === 'fallback') {
        lines.push(
          ctx.color.yellow(
            `Warning: kernel clock state unreadable (${e.leapReason}); announcing leap ${e.leap} (see --leap)`,
          ),
        );
      } else if (e.leap === 3) {
        lines.push(
          ctx.color.yellow(
            'Warning: the kernel says the clock is not synchronised, so replies carry leap indicator 3 and stratum 16 and clients will not use them (--leap 0 to announce it as synchronised)',
          ),
        );
      }
      lines.push('Ctrl-C to stop');
      return { err: lines.join('\n') };
    }
    case 'counters':
      return { err: `Counters: ${statsLine(e)}` };
    case 'stopped':
      return { err: `Stopped: ${statsLine(e)}` };
  }
}

async function* serveEvents(
  server: SntpServer,
  statsEvery: number,
  signal: AbortSignal,
): AsyncGenerator<NtpServeEvent> {
  const r = server.responder;
  yield {
    event: 'listening',
    ...server.address,
    stratum: server.stratum,
    referenceId: server.referenceIdText,
    leap: server.leap,
    leapSource: server.leapSource,
    ...(server.leapReason !== undefined ? { leapReason: server.leapReason } : {}),
    precision: server.precision,
    rateLimit:
      r.rateInterval === undefined ? false : { interval: r.rateInterval, burst: r.rateBurst as number },
  };
  let last = '';
  const finished = server.finished.then(() => 'finished' as const);
  while (statsEvery > 0 && !signal.aborted) {
    const woke = await Promise.race([
      sleep(statsEvery, signal).then(
        () => 'tick' as const,
        () => 'abort' as const,
      ),
      finished,
    ]);
    if (woke !== 'tick') break;
    const stats = server.stats();
    const line = statsLine(stats);
    if (line !== last) yield { event: 'counters', ...stats };
    last = line;
  }
  const stats = await server.finished;
  yield { event: 'stopped', ...stats };
}

async function serve(io: Io, address: string, opts: ServeOpts) {
  const { host, port } = parseHostPort(address, { defaultHost: SNTP_SERVER_DEFAULTS.host, allowZero: true });
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
  const statsEvery = opts.stats === undefined ? STATS_EVERY_MS : parseDuration(opts.stats, '--stats');
  const server = new SntpServer(options);
  await server.listen();
  return stream(serveEvents(server, statsEvery, io.signal), serveText);
}

export function register(program: Command, run: Runner): void {
  const ntp = program.command('ntp').description('NTP tools: an SNTP server');
  ntp
    .command('serve')
    .description('answer SNTP client requests from the local clock (safe: rate-limited, never amplifies)')
    .argument(
      '<[host:]port>',
      `address to listen on; port 0 picks a free one (host defaults to ${SNTP_SERVER_DEFAULTS.host})`,
    )
    .option('--stratum <n>', `stratum to announce, 1 to 15 (default: ${SNTP_SERVER_DEFAULTS.stratum})`)
    .option(
      '--refid <id>',
      'reference ID: four ASCII characters for stratum 1 (GPS, LOCL), an IPv4/IPv6 address from stratum 2 (default: LOCL or 127.127.1.1)',
    )
    .option(
      '--leap <kernel|0-3>',
      `leap indicator: from the kernel clock state (adjtimex), or fixed (default: ${SNTP_SERVER_DEFAULTS.leap}; ${SNTP_SERVER_DEFAULTS.fallbackLeap} when unreadable)`,
    )
    .option('--no-rate-limit', 'answer every client request (no per-client limit, no kiss-o-death)')
    .option(
      '--rate-interval <ms>',
      `average time a client must leave between requests (default: ${RATE_LIMIT_DEFAULTS.interval})`,
    )
    .option(
      '--rate-burst <n>',
      `requests a client may send at once before it is limited (default: ${RATE_LIMIT_DEFAULTS.burst})`,
    )
    .option(
      '--stats <ms>',
      `print the counters this often when they changed; 0 for only at the end (default: ${STATS_EVERY_MS})`,
    )
    .addHelpText(
      'after',
      `
Answers only client requests (mode 3) with server replies (mode 4), copying the version, the poll and (into
the origin field) the request's transmit timestamp bit for bit. Replies are 48 bytes, never larger than the
request; malformed packets and other modes (control, private, symmetric, broadcast) are dropped and counted.
Logs and counters go to stderr; with --json stdout has one JSON object per event: listening, counters,
stopped (with the final counters). Ctrl-C, SIGTERM or SIGHUP stops it.
${examples([
  'soket ntp serve 0',
  'soket ntp serve 127.0.0.1:11123 --stratum 2 --refid 192.0.2.1',
  'soket ntp serve [::1]:11123 --leap 0 --no-rate-limit',
  'soket ntp serve 11123 --rate-interval 8000 --rate-burst 4',
])}`,
    )
    .action(run(async (io, address: string, opts: ServeOpts) => serve(io, address, opts)));
}
