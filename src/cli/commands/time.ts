// contract: v2 (issue 10: a result, or with --watch a stream; polling and back-off are watchNetworkTime())
/**
 * `soket time`: what time it is according to NTP servers, and how far the local clock is off (SNTP, RFC 4330).
 * One result; with `--watch` a stream of `sample` and `failure` events.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatNtpTimestamp, formatUnixNs, unixMsToNs } from '../../codec/ntp-timestamp.js';
import { toSoketError, ValidationError } from '../../core/errors.js';
import { escapeControl } from '../../core/text.js';
import {
  exclusive,
  formatHostPort,
  parseDuration,
  parseHostPort,
  parseInteger,
  parsePort,
} from '../../core/validate.js';
import { SNTP_QUERY_DEFAULTS, type SntpResult } from '../../ntp/client.js';
import {
  getNetworkTime,
  NETWORK_TIME_DEFAULTS,
  type NetworkTime,
  type NetworkTimeOptions,
} from '../../ntp/network-time.js';
import { NTS_KE_DEFAULTS } from '../../ntp/nts-ke-client.js';
import { parseSymmetricKey, readKeyFile } from '../../ntp/symmetric-key.js';
import { checkPollInterval, WATCH_DEFAULTS, type WatchEvent, watchNetworkTime } from '../../ntp/watch.js';
import {
  EXIT,
  examples,
  type RenderContext,
  type Rendered,
  type Runner,
  result,
  stream,
} from '../command.js';
import { table } from '../format.js';

interface TimeOpts {
  port?: string;
  samples?: string;
  interval?: string;
  timeout?: string;
  retries?: string;
  ntpVersion?: string;
  ipv4?: boolean;
  ipv6?: boolean;
  watch?: boolean;
  nts?: boolean;
  ca?: string;
  servername?: string;
  pin?: string;
  key?: string;
  keyfile?: string;
  keyId?: string;
}

/** Used only when no server is given: never by tests, which always name 127.0.0.1 and a port. */
const DEFAULT_SERVER = 'pool.ntp.org';
/** The same for `--nts`: a public NTS server. */
const DEFAULT_NTS_SERVER = 'time.cloudflare.com';
/** Queries per server without --samples (the library's getNetworkTime takes more by default). */
const CLI_SAMPLES = 1;
const SPARK = '▁▂▃▄▅▆▇█';

/** A signed duration in seconds for people: `+12.5 µs`, `-3.250 ms`, `+1.500000 s`. */
export function formatOffset(seconds: number, signed = true): string {
  const sign = signed ? (seconds < 0 ? '-' : '+') : seconds < 0 ? '-' : '';
  const abs = Math.abs(seconds);
  if (abs < 1e-3) return `${sign}${(abs * 1e6).toFixed(1)} µs`;
  if (abs < 1) return `${sign}${(abs * 1e3).toFixed(3)} ms`;
  return `${sign}${abs.toFixed(6)} s`;
}

/** Local wall time with microseconds and the UTC offset: `2026-11-22 00:35:00.123456 +01:00`. */
function localTime(ms: number): string {
  const d = new Date(Math.floor(ms));
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const micro = Math.floor((ms - Math.floor(ms / 1000) * 1000) * 1000);
  const tz = -d.getTimezoneOffset();
  const tzText = `${tz < 0 ? '-' : '+'}${p(Math.floor(Math.abs(tz) / 60))}:${p(Math.abs(tz) % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(micro, 6)} ${tzText}`;
}

/** An ISO timestamp with nanoseconds from Unix ms. */
function formatIsoMs(ms: number): string {
  return formatUnixNs(unixMsToNs(ms));
}

/** A sparkline of values, scaled to their own range. */
export function sparkline(values: number[]): string {
  if (values.length === 0) return '';
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min;
  return values
    .map((v) => SPARK[span === 0 ? 3 : Math.min(7, Math.floor(((v - min) / span) * 8))] ?? '')
    .join('');
}

function sampleJson(r: SntpResult): Record<string, unknown> {
  const pivot = unixMsToNs(r.time);
  const ts = (t: bigint) => ({ ntp: t.toString(16).padStart(16, '0'), iso: formatNtpTimestamp(t, pivot) });
  return {
    address: r.address,
    port: r.port,
    offset: r.offset,
    delay: r.delay,
    error: r.error,
    rootDistance: r.rootDistance,
    leap: r.leap,
    leapText: r.leapText,
    version: r.version,
    mode: r.mode,
    stratum: r.stratum,
    stratumText: r.stratumText,
    poll: r.poll,
    precision: r.precision,
    rootDelay: r.rootDelay,
    rootDispersion: r.rootDispersion,
    referenceId: r.referenceId,
    referenceIdText: r.referenceIdText,
    referenceTime: ts(r.referenceTime),
    originTime: ts(r.originTime),
    receiveTime: ts(r.receiveTime),
    transmitTime: ts(r.transmitTime),
    destinationTime: ts(r.destinationTime),
    tries: r.tries,
    authenticated: r.authenticated,
    ...(r.keyId !== undefined ? { keyId: r.keyId } : {}),
    authFailures: r.authFailures,
    ...(r.nts ? { nts: r.nts } : {}),
  };
}

/** How a sample was authenticated, for people. */
function authText(r: SntpResult): string {
  if (r.authenticated === 'nts') {
    const ke = r.nts?.keyExchanged
      ? `NTS-KE with ${r.nts.keServer} in ${formatOffset((r.nts.keyExchangeMs ?? 0) / 1000, false)}`
      : `cookies from an earlier NTS-KE with ${r.nts?.keServer}`;
    return `NTS (${ke}; ${r.nts?.cookies ?? 0} cookies left)`;
  }
  if (r.authenticated === 'symmetric') return `symmetric key ${r.keyId}`;
  return 'no (the origin check only)';
}

function resultJson(t: NetworkTime): Record<string, unknown> {
  return {
    time: formatIsoMs(t.time),
    offset: t.offset,
    error: t.error,
    method: t.method,
    agreed: t.agreed,
    disagreed: t.disagreed,
    spread: t.spread,
    servers: t.servers.map((s) => ({
      server: s.server,
      samples: s.samples.length,
      failures: s.failures,
      agreed: s.agreed,
      best: s.best ? sampleJson(s.best) : null,
      error: s.error ? s.error.toJSON() : null,
    })),
  };
}

/** `name (address:port)` when a name was given, else `address:port`; with NTS, the NTS-KE server too. */
function serverLabel(given: string, r: SntpResult): string {
  const where = formatHostPort(r.address, r.port);
  if (r.nts) return `${where} (NTS-KE ${r.nts.keServer})`;
  const host = parseHostPort(given, { defaultPort: r.port }).host;
  return host === r.address ? where : `${host} (${where})`;
}

function renderBlock(t: NetworkTime, ctx: RenderContext): string {
  const s = t.servers[0];
  const r = s?.best;
  if (!s || !r) return '';
  const ahead = r.offset >= 0 ? 'behind' : 'ahead';
  const rows: string[][] = [
    ['Server', serverLabel(s.server, r)],
    ['Time', localTime(t.time)],
    ['', formatIsoMs(t.time)],
    [
      'Offset',
      `${formatOffset(r.offset)} ± ${formatOffset(r.error, false)}  ${ctx.color.dim(`(the local clock is ${formatOffset(Math.abs(r.offset), false)} ${ahead})`)}`,
    ],
    ['Delay', formatOffset(r.delay, false)],
    ['Stratum', `${r.stratum} (${r.stratumText.replace(/ \(\d+\)$/, '')})`],
    ['Reference', escapeControl(r.referenceIdText)],
    ['Leap', r.leapText],
    ['Authenticated', authText(r)],
    ['Samples', `${s.samples.length}${s.samples.length > 1 ? ' (lowest delay used)' : ''}`],
  ];
  const rejected = s.samples.reduce((n, x) => n + x.authFailures, 0);
  if (rejected > 0) {
    rows.push([
      'Rejected',
      `${rejected} ${rejected === 1 ? 'reply' : 'replies'} failed authentication (dropped)`,
    ]);
  }
  return table(rows.map(([k, v]) => [ctx.color.bold(k ?? ''), v ?? '']));
}

function renderLines(t: NetworkTime, ctx: RenderContext): string {
  const io = ctx;
  const out: string[] = [];
  const rows: string[][] = [];
  for (const s of t.servers) {
    const r = s.best;
    if (!r) continue;
    rows.push([
      serverLabel(s.server, r),
      `offset ${formatOffset(r.offset)} ± ${formatOffset(r.error, false)}`,
      `delay ${formatOffset(r.delay, false)}`,
      `stratum ${r.stratum}`,
      `ref ${escapeControl(r.referenceIdText)}`,
      `leap ${r.leap}`,
      r.authenticated === 'none' ? 'unauthenticated' : r.authenticated === 'nts' ? 'NTS' : `key ${r.keyId}`,
      s.agreed ? io.color.green('agrees') : io.color.yellow('disagrees'),
    ]);
  }
  out.push(table(rows));
  for (const s of t.servers) {
    if (!s.best) {
      out.push(`${s.server}  ${io.color.red(escapeControl(`failed: ${s.error?.message ?? 'no reply'}`))}`);
    }
  }
  out.push(
    `Combined: offset ${formatOffset(t.offset)} ± ${formatOffset(t.error, false)} (${t.method} of ${t.agreed.length} of ${t.servers.length} servers, spread ${formatOffset(t.spread, false)})`,
  );
  out.push(`Time: ${localTime(t.time)}  ${formatIsoMs(t.time)}`);
  return out.join('\n');
}

/** A `--watch` event: a round of the watch, or the summary after Ctrl-C. */
type WatchCliEvent =
  | WatchEvent
  | {
      event: 'summary';
      samples: number;
      medianOffset: number | null;
      minOffset: number | null;
      maxOffset: number | null;
    };

function watchJson(e: WatchCliEvent): unknown {
  if (e.event === 'summary') return e;
  if (e.event === 'failure') {
    return {
      event: 'failure',
      round: e.round,
      error: e.error.toJSON(),
      intervalMs: e.intervalMs,
      backedOff: e.backedOff,
    };
  }
  const best = e.time.servers.find((s) => s.best)?.best;
  return {
    event: 'sample',
    round: e.round,
    time: formatIsoMs(e.time.time),
    offset: e.time.offset,
    error: e.time.error,
    delay: best?.delay ?? null,
    agreed: e.time.agreed,
  };
}

/** A watch: one line per round with a sparkline of the offsets so far, and a summary after Ctrl-C. */
function watchStream(servers: string[], options: NetworkTimeOptions, interval: number) {
  let samples = 0;
  const events = (async function* (): AsyncGenerator<WatchCliEvent> {
    const offsets: number[] = [];
    for await (const e of watchNetworkTime(servers, { ...options, interval })) {
      if (e.event === 'sample') {
        samples++;
        offsets.push(e.time.offset);
      }
      yield e;
    }
    const sorted = [...offsets].sort((a, b) => a - b);
    yield {
      event: 'summary',
      samples: offsets.length,
      medianOffset: sorted.length ? (sorted[Math.floor(sorted.length / 2)] as number) : null,
      minOffset: sorted[0] ?? null,
      maxOffset: sorted.at(-1) ?? null,
    };
  })();
  const offsets: number[] = [];
  const text = (e: WatchCliEvent, ctx: RenderContext): Rendered => {
    if (e.event === 'summary') {
      if (e.samples === 0 || e.medianOffset === null) return undefined;
      return {
        err: `${e.samples} samples, median offset ${formatOffset(e.medianOffset)}, range ${formatOffset(e.minOffset ?? 0)} .. ${formatOffset(e.maxOffset ?? 0)}`,
      };
    }
    if (e.event === 'failure') {
      const more = e.backedOff ? ` (interval now ${e.intervalMs} ms)` : '';
      return { err: `soket: ${escapeControl(e.error.message)}${more}` };
    }
    const t = e.time;
    offsets.push(t.offset);
    const width = Math.max(10, Math.min(60, ctx.columns - 60));
    const best = t.servers.find((s) => s.best)?.best;
    const clock = new Date(t.time).toTimeString().slice(0, 8);
    const line = `${clock}  offset ${formatOffset(t.offset).padStart(12)} ± ${formatOffset(t.error, false).padEnd(10)}  delay ${formatOffset(best?.delay ?? 0, false).padEnd(10)}  ${sparkline(offsets.slice(-width))}`;
    return e.round === 1
      ? {
          out: line,
          err: ctx.color.dim(`Querying ${servers.join(', ')} every ${e.intervalMs} ms; Ctrl-C to stop`),
        }
      : line;
  };
  return stream(events, text, {
    json: watchJson,
    exitCode: () => (samples > 0 ? EXIT.ok : EXIT.failed),
  });
}

export function register(program: Command, run: Runner): void {
  program
    .command('time')
    .description('ask NTP servers for the time and show how far the local clock is off (SNTP)')
    .argument('[server...]', `NTP servers, each HOST or HOST:PORT (default: ${DEFAULT_SERVER})`)
    .option(
      '-p, --port <port>',
      `server port when not given as HOST:PORT (default: ${SNTP_QUERY_DEFAULTS.port})`,
    )
    .option('-n, --samples <n>', `queries per server; the lowest-delay one is used (default: ${CLI_SAMPLES})`)
    .option(
      '-i, --interval <ms>',
      `time between queries to one server (default: ${NETWORK_TIME_DEFAULTS.interval} ms between samples, ${WATCH_DEFAULTS.interval} ms with --watch; at least ${WATCH_DEFAULTS.minRemoteInterval} ms unless every server is a loopback address)`,
    )
    .option(
      '-t, --timeout <ms>',
      `time limit of each query (one server, one sample), its tries included (default: ${SNTP_QUERY_DEFAULTS.timeout})`,
    )
    .option('-r, --retries <n>', `extra tries per query (default: ${SNTP_QUERY_DEFAULTS.retries})`)
    .option('--ntp-version <n>', `NTP version to send, 1 to 4 (default: ${SNTP_QUERY_DEFAULTS.version})`)
    .option('-4, --ipv4', 'use IPv4 only')
    .option('-6, --ipv6', 'use IPv6 only')
    .option('-w, --watch', 'keep querying and show the offset as a live series until Ctrl-C')
    .option(
      '--nts',
      `authenticate with Network Time Security (RFC 8915): each server is then an NTS-KE server, HOST[:PORT] (port ${NTS_KE_DEFAULTS.port})`,
    )
    .option('--ca <file>', 'with --nts: trust these certificates (PEM) instead of the system CAs')
    .option('--servername <name>', 'with --nts: the name the certificate must carry (default: the host)')
    .option(
      '--pin <sha256:…>',
      'with --nts: accept exactly this certificate (its SHA-256, as ntp serve prints it)',
    )
    .option(
      '--key <id:type:hex>',
      'authenticate with a symmetric key, e.g. 1:SHA1:… (types MD5 SHA1 SHA256 AES128 AES256)',
    )
    .option('--keyfile <file>', 'with --key-id: take the key from a chrony keyfile')
    .option('--key-id <id>', 'the key to use from --keyfile')
    .addHelpText(
      'after',
      `
Each query sends a random transmit timestamp and accepts only a reply that echoes it bit for bit, from the
address and port asked, in mode 4 with the same version. A kiss-o'-death (RATE, DENY, RSTR) or an
unsynchronised server (leap indicator 3, stratum 16) is reported as an error. The offset is how far the
server's clock is ahead of this machine's; ± is half the round-trip delay.

The origin check stops blind spoofing, not an attacker on the path, who sees the request. --nts (NTS-KE
over TLS 1.3, then authenticated NTP with cookies) or --key/--keyfile (a MAC shared with the server) make
every reply prove where it came from; one that does not is dropped and counted, never used.

With several servers, each line shows one server and the last line combines them (the intersection of their
intervals when a majority agrees, otherwise the median). --json prints offsets and delays in seconds.
${examples([
  'soket time',
  'soket time 127.0.0.1:11123',
  'soket time 127.0.0.1 --port 11123 --samples 4 --interval 200',
  'soket time time1.example time2.example time3.example --json',
  'soket time --watch',
  'soket time --nts 127.0.0.1:4460 --ca cert.pem',
  'soket time 127.0.0.1:11123 --key 1:SHA1:b2159c05d6a219673a3b7e896b6de07f6a440995',
  'soket time 127.0.0.1:11123 --keyfile /etc/chrony/chrony.keys --key-id 1',
])}`,
    )
    .action(
      run(async (io, given: string[], opts: TimeOpts) => {
        exclusive({ '-4': opts.ipv4, '-6': opts.ipv6 });
        exclusive({
          '--nts': opts.nts,
          '--key': opts.key !== undefined,
          '--keyfile': opts.keyfile !== undefined,
        });
        if (!opts.nts) {
          for (const [flag, v] of [
            ['--ca', opts.ca],
            ['--servername', opts.servername],
            ['--pin', opts.pin],
          ] as const) {
            if (v !== undefined) throw new ValidationError(`Option ${flag} needs --nts`);
          }
        }
        if ((opts.keyfile === undefined) !== (opts.keyId === undefined)) {
          throw new ValidationError('Options --keyfile and --key-id go together');
        }
        const servers = given.length > 0 ? given : [opts.nts ? DEFAULT_NTS_SERVER : DEFAULT_SERVER];
        const defaultPort = opts.nts ? NTS_KE_DEFAULTS.port : SNTP_QUERY_DEFAULTS.port;
        const port = opts.port === undefined ? defaultPort : parsePort(opts.port);
        for (const s of servers) parseHostPort(s, { defaultPort: port });
        const samples =
          opts.samples === undefined
            ? CLI_SAMPLES
            : parseInteger(opts.samples, '--samples', { min: 1, max: 100 });
        if (opts.watch && opts.samples !== undefined) {
          throw new ValidationError('Options --watch and --samples cannot be used together');
        }
        const interval =
          opts.interval === undefined
            ? opts.watch
              ? WATCH_DEFAULTS.interval
              : NETWORK_TIME_DEFAULTS.interval
            : parseDuration(opts.interval, '--interval');
        checkPollInterval(interval, servers, '--interval');
        const options: NetworkTimeOptions = {
          port,
          samples,
          interval,
          timeout:
            opts.timeout === undefined
              ? SNTP_QUERY_DEFAULTS.timeout
              : parseDuration(opts.timeout, '--timeout', { allowZero: false }),
          retries:
            opts.retries === undefined
              ? SNTP_QUERY_DEFAULTS.retries
              : parseInteger(opts.retries, '--retries', { min: 0, max: 10 }),
          version:
            opts.ntpVersion === undefined
              ? SNTP_QUERY_DEFAULTS.version
              : parseInteger(opts.ntpVersion, '--ntp-version', { min: 1, max: 4 }),
          signal: io.signal,
        };
        if (opts.ipv4) options.family = 4;
        if (opts.ipv6) options.family = 6;
        if (opts.key !== undefined) options.key = parseSymmetricKey(opts.key, '--key');
        if (opts.keyfile !== undefined) {
          const id = parseInteger(opts.keyId as string, '--key-id', { min: 1, max: 0xffff_ffff });
          const key = (await readKeyFile(opts.keyfile)).get(id);
          if (!key) throw new ValidationError(`Invalid --key-id '${id}': no key ${id} in ${opts.keyfile}`);
          options.key = key;
        }
        if (opts.nts) {
          let ca: string | undefined;
          if (opts.ca !== undefined) {
            try {
              ca = await readFile(opts.ca, 'utf8');
            } catch (err) {
              throw toSoketError(err, `Cannot read --ca ${opts.ca}`);
            }
          }
          // one options object for the whole run: a --watch keeps each server's cookies between rounds
          options.nts = {
            ...(ca !== undefined ? { ca } : {}),
            ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
            ...(opts.pin !== undefined ? { pin: opts.pin } : {}),
            ...(options.family ? { family: options.family } : {}),
          };
        }

        if (opts.watch) return watchStream(servers, options, interval);
        const t = await getNetworkTime(servers, options);
        return result(t, servers.length === 1 ? renderBlock : renderLines, { json: resultJson });
      }),
    );
}
