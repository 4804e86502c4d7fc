/**
 * `soket time`: what time it is according to NTP servers, and how far the local clock is off (SNTP, RFC 4330).
 *
 * @module
 */
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { formatNtpTimestamp, formatUnixNs, unixMsToNs } from '../../codec/ntp-timestamp.js';
import { sleep } from '../../core/deadline.js';
import { AbortError, KissOfDeathError, SoketError, ValidationError } from '../../core/errors.js';
import {
  exclusive,
  formatHostPort,
  parseDuration,
  parseHostPort,
  parseInteger,
  parsePort,
} from '../../core/validate.js';
import { isLoopback } from '../../net/host-info.js';
import type { SntpResult } from '../../ntp/client.js';
import { getNetworkTime, type NetworkTime, type NetworkTimeOptions } from '../../ntp/network-time.js';
import { EXIT, examples, type Runner } from '../command.js';
import { table } from '../format.js';
import type { Io } from '../io.js';

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
}

/** Used only when no server is given: never by tests, which always name 127.0.0.1 and a port. */
const DEFAULT_SERVER = 'pool.ntp.org';
const SAMPLE_INTERVAL_MS = 2000;
const WATCH_INTERVAL_MS = 8000;
const MIN_REMOTE_INTERVAL_MS = 1000;
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
  };
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

/** `name (address:port)` when a name was given, else `address:port`. */
function serverLabel(given: string, r: SntpResult): string {
  const where = formatHostPort(r.address, r.port);
  const host = parseHostPort(given, { defaultPort: r.port }).host;
  return host === r.address ? where : `${host} (${where})`;
}

function printBlock(io: Io, t: NetworkTime): void {
  const s = t.servers[0];
  const r = s?.best;
  if (!s || !r) return;
  const ahead = r.offset >= 0 ? 'behind' : 'ahead';
  const rows: string[][] = [
    ['Server', serverLabel(s.server, r)],
    ['Time', localTime(t.time)],
    ['', formatIsoMs(t.time)],
    [
      'Offset',
      `${formatOffset(r.offset)} ± ${formatOffset(r.error, false)}  ${io.color.dim(`(the local clock is ${formatOffset(Math.abs(r.offset), false)} ${ahead})`)}`,
    ],
    ['Delay', formatOffset(r.delay, false)],
    ['Stratum', `${r.stratum} (${r.stratumText.replace(/ \(\d+\)$/, '')})`],
    ['Reference', r.referenceIdText],
    ['Leap', r.leapText],
    ['Samples', `${s.samples.length}${s.samples.length > 1 ? ' (lowest delay used)' : ''}`],
  ];
  io.out(table(rows.map(([k, v]) => [io.color.bold(k ?? ''), v ?? ''])));
}

function printLines(io: Io, t: NetworkTime): void {
  const rows: string[][] = [];
  for (const s of t.servers) {
    const r = s.best;
    if (!r) continue;
    rows.push([
      serverLabel(s.server, r),
      `offset ${formatOffset(r.offset)} ± ${formatOffset(r.error, false)}`,
      `delay ${formatOffset(r.delay, false)}`,
      `stratum ${r.stratum}`,
      `ref ${r.referenceIdText}`,
      `leap ${r.leap}`,
      s.agreed ? io.color.green('agrees') : io.color.yellow('disagrees'),
    ]);
  }
  io.out(table(rows));
  for (const s of t.servers) {
    if (!s.best) io.out(`${s.server}  ${io.color.red(`failed: ${s.error?.message ?? 'no reply'}`)}`);
  }
  io.out(
    `Combined: offset ${formatOffset(t.offset)} ± ${formatOffset(t.error, false)} (${t.method} of ${t.agreed.length} of ${t.servers.length} servers, spread ${formatOffset(t.spread, false)})`,
  );
  io.out(`Time: ${localTime(t.time)}  ${formatIsoMs(t.time)}`);
}

async function watch(
  io: Io,
  servers: string[],
  options: NetworkTimeOptions,
  intervalMs: number,
): Promise<number> {
  const offsets: number[] = [];
  let interval = intervalMs;
  const width = Math.max(10, Math.min(60, io.columns - 60));
  if (!io.json) io.err(io.color.dim(`Querying ${servers.join(', ')} every ${interval} ms; Ctrl-C to stop`));
  for (;;) {
    try {
      const t = await getNetworkTime(servers, { ...options, samples: 1, interval: 0 });
      offsets.push(t.offset);
      const best = t.servers.find((s) => s.best)?.best;
      if (io.json) {
        io.out(
          JSON.stringify({
            time: formatIsoMs(t.time),
            offset: t.offset,
            error: t.error,
            delay: best?.delay ?? null,
            agreed: t.agreed,
          }),
        );
      } else {
        const clock = new Date(t.time).toTimeString().slice(0, 8);
        io.out(
          `${clock}  offset ${formatOffset(t.offset).padStart(12)} ± ${formatOffset(t.error, false).padEnd(10)}  delay ${formatOffset(best?.delay ?? 0, false).padEnd(10)}  ${sparkline(offsets.slice(-width))}`,
        );
      }
    } catch (err) {
      if (err instanceof AbortError || io.signal.aborted) break;
      const e = err instanceof SoketError ? err : new SoketError(String(err));
      if (e instanceof KissOfDeathError && (e.kissCode === 'DENY' || e.kissCode === 'RSTR')) throw e;
      if (e instanceof KissOfDeathError && e.kissCode === 'RATE') interval *= 2;
      if (io.json) io.out(JSON.stringify({ error: e.toJSON() }));
      else
        io.err(
          `soket: ${e.message}${e instanceof KissOfDeathError && e.kissCode === 'RATE' ? ` (interval now ${interval} ms)` : ''}`,
        );
    }
    try {
      await sleep(interval, io.signal);
    } catch {
      break;
    }
  }
  if (!io.json && offsets.length > 0) {
    const sorted = [...offsets].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    io.err(
      `${offsets.length} samples, median offset ${formatOffset(median)}, range ${formatOffset(sorted[0] as number)} .. ${formatOffset(sorted[sorted.length - 1] as number)}`,
    );
  }
  return offsets.length > 0 ? EXIT.ok : EXIT.failed;
}

export function register(program: Command, run: Runner): void {
  program
    .command('time')
    .description('ask NTP servers for the time and show how far the local clock is off (SNTP)')
    .argument('[server...]', `NTP servers, each HOST or HOST:PORT (default: ${DEFAULT_SERVER})`)
    .option('-p, --port <port>', 'server port when not given as HOST:PORT (default: 123)')
    .option('-n, --samples <n>', 'queries per server; the lowest-delay one is used (default: 1)')
    .option(
      '-i, --interval <ms>',
      `time between queries to one server (default: ${SAMPLE_INTERVAL_MS} ms between samples, ${WATCH_INTERVAL_MS} ms with --watch; at least ${MIN_REMOTE_INTERVAL_MS} ms unless every server is a loopback address)`,
    )
    .option('-t, --timeout <ms>', 'time limit per query, shared by its tries (default: 5000)')
    .option('-r, --retries <n>', 'extra tries per query (default: 2)')
    .option('--ntp-version <n>', 'NTP version to send, 1 to 4 (default: 4)')
    .option('-4, --ipv4', 'use IPv4 only')
    .option('-6, --ipv6', 'use IPv6 only')
    .option('-w, --watch', 'keep querying and show the offset as a live series until Ctrl-C')
    .addHelpText(
      'after',
      `
Each query sends a random transmit timestamp and accepts only a reply that echoes it bit for bit, from the
address and port asked, in mode 4 with the same version. A kiss-o'-death (RATE, DENY, RSTR) or an
unsynchronised server (leap indicator 3, stratum 16) is reported as an error. The offset is how far the
server's clock is ahead of this machine's; ± is half the round-trip delay.

With several servers, each line shows one server and the last line combines them (the intersection of their
intervals when a majority agrees, otherwise the median). --json prints offsets and delays in seconds.
${examples([
  'soket time',
  'soket time 127.0.0.1:11123',
  'soket time 127.0.0.1 --port 11123 --samples 4 --interval 200',
  'soket time time1.example time2.example time3.example --json',
  'soket time --watch',
])}`,
    )
    .action(
      run(async (io, given: string[], opts: TimeOpts) => {
        exclusive({ '-4': opts.ipv4, '-6': opts.ipv6 });
        const servers = given.length > 0 ? given : [DEFAULT_SERVER];
        const port = opts.port === undefined ? 123 : parsePort(opts.port);
        const hosts = servers.map((s) => parseHostPort(s, { defaultPort: port }).host);
        const samples =
          opts.samples === undefined ? 1 : parseInteger(opts.samples, '--samples', { min: 1, max: 100 });
        if (opts.watch && opts.samples !== undefined) {
          throw new ValidationError('Options --watch and --samples cannot be used together');
        }
        const allLoopback = hosts.every((h) => isIP(h) !== 0 && isLoopback(h));
        const interval =
          opts.interval === undefined
            ? opts.watch
              ? WATCH_INTERVAL_MS
              : SAMPLE_INTERVAL_MS
            : parseDuration(opts.interval, '--interval');
        if (interval < MIN_REMOTE_INTERVAL_MS && !allLoopback) {
          throw new ValidationError(
            `Invalid --interval '${opts.interval}': at least ${MIN_REMOTE_INTERVAL_MS} ms between queries to a remote server, to be polite`,
          );
        }
        const options: NetworkTimeOptions = {
          port,
          samples,
          interval,
          timeout:
            opts.timeout === undefined
              ? 5000
              : parseDuration(opts.timeout, '--timeout', { allowZero: false }),
          retries:
            opts.retries === undefined ? 2 : parseInteger(opts.retries, '--retries', { min: 0, max: 10 }),
          version:
            opts.ntpVersion === undefined
              ? 4
              : parseInteger(opts.ntpVersion, '--ntp-version', { min: 1, max: 4 }),
          signal: io.signal,
        };
        if (opts.ipv4) options.family = 4;
        if (opts.ipv6) options.family = 6;

        if (opts.watch) return watch(io, servers, options, interval);
        const t = await getNetworkTime(servers, options);
        if (io.json) io.printJson(resultJson(t));
        else if (servers.length === 1) printBlock(io, t);
        else printLines(io, t);
        return EXIT.ok;
      }),
    );
}
