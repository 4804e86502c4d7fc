// contract: v2 (issue 10: `ntp serve` returns a stream of events; main.ts renders them)
/**
 * `soket ntp serve`: a safe SNTP server on the local clock. A stream of events: `listening`, `counters`
 * (every `--stats` ms when they changed), `stopped` — logged on stderr as text, one JSON object per line with
 * `--json`. With `--nts` it also runs an NTS-KE server (RFC 8915) whose cookies the NTP server accepts; with
 * `--keyfile` it answers MAC-authenticated requests (chrony's keyfile format).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { LeapIndicator } from '../../codec/ntp.js';
import { sleep } from '../../core/deadline.js';
import { toSoketError, ValidationError } from '../../core/errors.js';
import { formatHostPort, parseDuration, parseHostPort, parseInteger } from '../../core/validate.js';
import { NTS_COOKIE_DEFAULTS, NtsCookieKeys } from '../../ntp/nts-cookies.js';
import { NTS_KE_SERVER_DEFAULTS, NtsKeServer, type NtsKeServerStats } from '../../ntp/nts-ke-server.js';
import { RATE_LIMIT_DEFAULTS } from '../../ntp/rate-limit.js';
import {
  type LeapSource,
  SNTP_SERVER_DEFAULTS,
  SntpServer,
  type SntpServerOptions,
  type SntpServerStats,
} from '../../ntp/server.js';
import { readKeyFile } from '../../ntp/symmetric-key.js';
import type { Datapath } from '../../platform/datagram-handler.js';
import { UDP_ENGINE_LIMITS } from '../../platform/udp-engine.js';
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
  nts?: boolean;
  ntsPort?: string;
  cert?: string;
  key?: string;
  ntsKeyRotate?: string;
  keyfile?: string;
  workers?: string;
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
      /** `batched` (recvmmsg/sendmmsg worker threads, kernel timestamps) or `dgram` (Node's socket). */
      datapath: Datapath;
      workers: number;
      /** The NTS-KE server, with `--nts`. */
      nts?: {
        address: string;
        port: number;
        selfSigned: boolean;
        fingerprint256: string;
        pin: string;
        keyRotateMs: number;
      };
      /** How many symmetric keys were loaded, with `--keyfile`. */
      keys?: number;
    }
  | ({ event: 'counters'; ke?: NtsKeServerStats } & SntpServerStats)
  | ({ event: 'stopped'; ke?: NtsKeServerStats } & SntpServerStats);

function statsLine(s: SntpServerStats & { ke?: NtsKeServerStats }): string {
  const dropped = s.dropped.malformed + s.dropped.notClient + s.dropped.rateLimited + (s.auth?.failed ?? 0);
  const auth =
    s.auth && (s.auth.nts || s.auth.symmetric || s.auth.naks || s.auth.failed || s.ke)
      ? `; authenticated: ${s.auth.nts} NTS, ${s.auth.symmetric} MAC, ${s.auth.naks} NTS NAK, ${s.auth.failed} failed`
      : '';
  const ke = s.ke
    ? `; NTS-KE: ${s.ke.keyExchanges} key exchange${s.ke.keyExchanges === 1 ? '' : 's'}, ${s.ke.errorResponses + s.ke.refused} refused, ${Object.values(s.ke.failed).reduce((a, b) => a + b, 0)} failed`
    : '';
  return `${s.received} received, ${s.answered} answered, ${s.kod} kiss-o'-death, ${dropped} dropped (${s.dropped.malformed} malformed, ${s.dropped.notClient} not client requests, ${s.dropped.rateLimited} over the rate limit${s.auth?.failed ? `, ${s.auth.failed} failed authentication` : ''})${s.sendErrors ? `, ${s.sendErrors} send errors` : ''}${auth}${ke}`;
}

function parseLeap(value: string): 'kernel' | LeapIndicator {
  if (value === 'kernel') return 'kernel';
  if (/^[0-3]$/.test(value)) return Number(value) as LeapIndicator;
  throw new ValidationError(`Invalid --leap '${value}': expected kernel, 0, 1, 2 or 3`);
}

/** `24 h`, `90 min`, `30 s`, `1500 ms`: the largest whole unit. */
function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
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
        e.datapath === 'batched'
          ? `Datapath: batched (recvmmsg/sendmmsg), ${e.workers} worker${e.workers === 1 ? '' : 's'}, kernel receive timestamps`
          : 'Datapath: dgram (one Node socket; -v says why)',
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
      if (e.nts) {
        lines.push(
          `NTS-KE listening on ${formatHostPort(e.nts.address, e.nts.port)} (TCP, TLS 1.3, ALPN ntske/1); the cookie key changes every ${duration(e.nts.keyRotateMs)}`,
          `Certificate${e.nts.selfSigned ? ' (ephemeral, self-signed)' : ''}: SHA-256 ${e.nts.fingerprint256}; clients can pin ${e.nts.pin}`,
        );
      }
      if (e.keys !== undefined) lines.push(`Symmetric keys: ${e.keys} (MAC-authenticated requests answered)`);
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
  extra: { ke?: NtsKeServer; keys?: number } = {},
): AsyncGenerator<NtpServeEvent> {
  const r = server.responder;
  const { ke } = extra;
  const keStats = () => (ke ? { ke: ke.stats() } : {});
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
    datapath: server.datapath,
    workers: server.stats().workers,
    ...(ke
      ? {
          nts: {
            address: ke.address.address,
            port: ke.address.port,
            selfSigned: ke.certificate.selfSigned,
            fingerprint256: ke.certificate.fingerprint256,
            pin: ke.certificate.pin,
            keyRotateMs: ke.cookieKeys.rotateMs,
          },
        }
      : {}),
    ...(extra.keys !== undefined ? { keys: extra.keys } : {}),
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
    const stats = { ...server.stats(), ...keStats() };
    const line = statsLine(stats);
    if (line !== last) yield { event: 'counters', ...stats };
    last = line;
  }
  const stats = await server.finished;
  const keFinal = ke ? { ke: await ke.close() } : {};
  yield { event: 'stopped', ...stats, ...keFinal };
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw toSoketError(err, `Cannot read ${what} ${path}`);
  }
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
  if (opts.workers !== undefined) {
    options.workers = parseInteger(opts.workers, '--workers', { min: 0, max: UDP_ENGINE_LIMITS.workers });
  }
  if (!opts.nts) {
    for (const [flag, value] of [
      ['--nts-port', opts.ntsPort],
      ['--cert', opts.cert],
      ['--key', opts.key],
      ['--nts-key-rotate', opts.ntsKeyRotate],
    ] as const) {
      if (value !== undefined) throw new ValidationError(`Option ${flag} needs --nts`);
    }
  }
  if ((opts.cert === undefined) !== (opts.key === undefined)) {
    throw new ValidationError(
      'Options --cert and --key go together (or neither, for a self-signed certificate)',
    );
  }
  const ke =
    opts.ntsPort === undefined
      ? { host, port: NTS_KE_SERVER_DEFAULTS.port }
      : parseHostPort(opts.ntsPort, { defaultHost: host, allowZero: true });
  const rotate =
    opts.ntsKeyRotate === undefined
      ? NTS_COOKIE_DEFAULTS.rotate
      : parseDuration(opts.ntsKeyRotate, '--nts-key-rotate', { allowZero: false });
  if (rotate < 1000)
    throw new ValidationError(`Invalid --nts-key-rotate '${opts.ntsKeyRotate}': at least 1000 ms`);
  const cookieKeys = opts.nts ? new NtsCookieKeys({ rotate }) : undefined;
  if (cookieKeys) options.nts = cookieKeys;
  if (opts.keyfile !== undefined) options.keys = await readKeyFile(opts.keyfile);
  const tls =
    opts.cert !== undefined && opts.key !== undefined
      ? { cert: await readPem(opts.cert, 'certificate'), key: await readPem(opts.key, 'key') }
      : {};
  const server = new SntpServer(options);
  await server.listen();
  let keServer: NtsKeServer | undefined;
  if (cookieKeys) {
    keServer = new NtsKeServer({
      host: ke.host,
      port: ke.port,
      cookieKeys,
      ntpPort: server.address.port,
      signal: io.signal,
      ...tls,
    });
    try {
      await keServer.listen();
    } catch (err) {
      await server.close();
      throw err;
    }
  }
  return stream(
    serveEvents(server, statsEvery, io.signal, {
      ...(keServer ? { ke: keServer } : {}),
      ...(options.keys ? { keys: options.keys.size } : {}),
    }),
    serveText,
  );
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
      '--workers <n>',
      `worker threads of the batched datapath (FFI), each its own socket and rate limiter; 0 for one per core (default: ${SNTP_SERVER_DEFAULTS.workers})`,
    )
    .option(
      '--stats <ms>',
      `print the counters this often when they changed; 0 for only at the end (default: ${STATS_EVERY_MS})`,
    )
    .option('--nts', 'also serve NTS (RFC 8915): an NTS-KE server whose cookies authenticate NTP requests')
    .option(
      '--nts-port <[host:]port>',
      `where NTS-KE listens (TCP; default: the same host, port ${NTS_KE_SERVER_DEFAULTS.port})`,
    )
    .option('--cert <file>', 'NTS-KE certificate chain, PEM (default: an ephemeral self-signed certificate)')
    .option('--key <file>', 'private key of --cert, PEM')
    .option(
      '--nts-key-rotate <ms>',
      `how often the cookie key changes; the ${NTS_COOKIE_DEFAULTS.keep} before it stay valid (default: ${NTS_COOKIE_DEFAULTS.rotate})`,
    )
    .option(
      '--keyfile <file>',
      'symmetric keys (chrony keyfile: ID TYPE HEX:KEY): answer MAC-authenticated requests',
    )
    .addHelpText(
      'after',
      `
Answers only client requests (mode 3) with server replies (mode 4), copying the version, the poll and (into
the origin field) the request's transmit timestamp bit for bit. Replies are 48 bytes, never larger than the
request; malformed packets and other modes (control, private, symmetric, broadcast) are dropped and counted.
A tail after the header must be well-formed extension fields or a MAC (RFC 7822), or the request is dropped.

--nts adds Network Time Security: clients get keys and cookies from the NTS-KE server (TLS 1.3) and each
reply is authenticated and carries fresh cookies, padded to the request's length (the client's cookie
placeholders pay for them). A cookie the server cannot open gets an NTS NAK. Without --cert/--key the
certificate is self-signed: its SHA-256 fingerprint and pin are printed for clients to trust. --keyfile
answers requests MAC'd with a listed key (MD5, SHA1, SHA256, AES128, AES256, ...) with the same key's MAC;
any other MAC is dropped.

Logs and counters go to stderr; with --json stdout has one JSON object per event: listening, counters,
stopped (with the final counters). Ctrl-C, SIGTERM or SIGHUP stops it.
${examples([
  'soket ntp serve 0',
  'soket ntp serve 127.0.0.1:11123 --stratum 2 --refid 192.0.2.1',
  'soket ntp serve [::1]:11123 --leap 0 --no-rate-limit',
  'soket ntp serve 11123 --rate-interval 8000 --rate-burst 4',
  'soket ntp serve 11123 --leap 0 --nts --nts-port 4460',
  'soket ntp serve 123 --nts --cert cert.pem --key key.pem --keyfile /etc/chrony/chrony.keys',
])}`,
    )
    .action(run(async (io, address: string, opts: ServeOpts) => serve(io, address, opts)));
}
