/**
 * An SNTP client (RFC 4330, with the checks of RFC 5905 §8 and the data minimisation of RFC 9109's client
 * guidance): one query to one server, done carefully.
 *
 * - The request carries nothing but the version, mode 3 and a random 64-bit transmit timestamp: a cookie. The
 *   local send time (T1) never leaves the machine.
 * - A reply is accepted only when it comes from the address and port asked (the socket is connected, and the
 *   source is checked again), is mode 4 with the version asked, has a non-zero transmit timestamp and an origin
 *   timestamp equal to a cookie this query sent, bit for bit. Anything else is ignored (counted) and the query
 *   keeps waiting, so a spoofed or stale packet can neither answer nor abort it.
 * - Stratum 0 is a kiss-o'-death: DENY and RSTR say stop asking this server, RATE says back off
 *   (`KissOfDeathError`). LI = 3 or stratum ≥ 16 means the server is not synchronised (`UnsynchronizedError`).
 * - T1 and T4 come from the injectable clock, by default `performance.timeOrigin + performance.now()`.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  decodeNtpPacket,
  encodeNtpPacket,
  KISS_CODES,
  kissCode,
  leapToText,
  NtpMode,
  refIdToText,
  stratumToText,
} from '../codec/ntp.js';
import {
  type NtpTimestamp,
  ntpOffsetDelay,
  ntpToUnixMs,
  unixMsToNs,
  unixMsToNtp,
} from '../codec/ntp-timestamp.js';
import { type Clock, systemClock } from '../core/clock.js';
import { abortError, Deadline, withTimeout } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import {
  KissOfDeathError,
  TimeoutError,
  toSoketError,
  UnsynchronizedError,
  ValidationError,
} from '../core/errors.js';
import { checkTimeout, formatHostPort, parseHostPort, parseInteger } from '../core/validate.js';

/** Options of {@link sntpQuery}. */
export interface SntpQueryOptions {
  /** Server port, used when the server is not given as `HOST:PORT`. @default 123 */
  port?: number;
  /** NTP version to send (1–4); the reply must carry the same. @default 4 */
  version?: number;
  /** Overall time limit in ms, shared by the name lookup and all tries; 0 for none. @default 5000 */
  timeout?: number;
  /** Extra tries after the first, each with a fresh cookie, spread evenly over the timeout. @default 2 */
  retries?: number;
  /** Address family: 4 or 6; by default whatever the name resolves to first. */
  family?: 4 | 6;
  /** Cancels the query. */
  signal?: AbortSignal;
  /** Where T1 and T4 come from. @default systemClock (`performance.timeOrigin + performance.now()`) */
  clock?: Clock;
}

/** The defaults of {@link SntpQueryOptions}, in one place. */
export const SNTP_QUERY_DEFAULTS = { port: 123, version: 4, timeout: 5000, retries: 2 } as const;

/** The outcome of one accepted exchange. */
export interface SntpResult {
  /** The server as asked (name or address). */
  server: string;
  /** The address that answered (the one asked: nothing else is accepted). */
  address: string;
  /** The port that answered. */
  port: number;
  /** 4 or 6. */
  family: 4 | 6;
  /** How far the server's clock is ahead of the local clock, in seconds (θ of RFC 5905). */
  offset: number;
  /** Round-trip network delay in seconds (δ), not counting the server's processing time. */
  delay: number;
  /** Bound on the error of `offset` from this exchange alone: half the delay, in seconds. */
  error: number;
  /** Root distance: `delay / 2 + rootDelay / 2 + rootDispersion`, the bound against the server's reference. */
  rootDistance: number;
  /** The estimated true time when the reply arrived, in ms since the Unix epoch (T4 + offset). */
  time: number;
  /** Leap indicator (0–3) and its text. */
  leap: number;
  leapText: string;
  /** The reply's version, mode (always 4), stratum and its text, poll and precision (signed log2 s). */
  version: number;
  mode: number;
  stratum: number;
  stratumText: string;
  poll: number;
  precision: number;
  /** Root delay and root dispersion in seconds. */
  rootDelay: number;
  rootDispersion: number;
  /** Reference ID (32-bit) and its text (`GPS`, `192.0.2.1`, ...). */
  referenceId: number;
  referenceIdText: string;
  /** Reference timestamp: when the server's clock was last set. */
  referenceTime: NtpTimestamp;
  /** T1: the local clock when the request left (the wire carried a random cookie instead). */
  originTime: NtpTimestamp;
  /** T2: the server's clock when the request arrived. */
  receiveTime: NtpTimestamp;
  /** T3: the server's clock when the reply left. */
  transmitTime: NtpTimestamp;
  /** T4: the local clock when the reply arrived. */
  destinationTime: NtpTimestamp;
  /** Requests sent before this reply was accepted (1 = the first). */
  tries: number;
  /** Datagrams received and ignored because they failed a check. */
  ignored: number;
}

interface Pending {
  t1Ms: number;
  attempt: number;
}

interface Target {
  server: string;
  host: string;
  address: string;
  port: number;
  family: 4 | 6;
  label: string;
}

/** A 64-bit random cookie, never zero. */
function cookie(): bigint {
  for (;;) {
    const v = randomBytes(8).readBigUInt64BE(0);
    if (v !== 0n) return v;
  }
}

/**
 * Check options and resolve the server once. Shared with getNetworkTime so that every sample of one server
 * goes to the same address.
 *
 * @internal
 */
export async function resolveServer(
  server: string,
  options: SntpQueryOptions,
  deadline: Deadline,
): Promise<Target> {
  const { host, port } = parseHostPort(server, {
    defaultPort: options.port ?? SNTP_QUERY_DEFAULTS.port,
  });
  const family = options.family;
  if (family !== undefined && family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid address family '${String(family)}': expected 4 or 6`);
  }
  const literal = isIP(host);
  let address = host;
  let fam: 4 | 6;
  if (literal !== 0) {
    if (family !== undefined && family !== literal) {
      throw new ValidationError(`Address ${host} is IPv${literal}, but IPv${family} was asked for`);
    }
    fam = literal as 4 | 6;
  } else {
    const found = await withTimeout(
      () => lookup(host, { family: family ?? 0 }),
      {
        ...(deadline.remaining() !== undefined ? { timeout: deadline.remaining() as number } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      { phase: 'lookup', target: host },
    ).catch((err: unknown) => {
      throw toSoketError(err, `Cannot resolve NTP server '${host}'`);
    });
    address = found.address;
    fam = found.family as 4 | 6;
  }
  return { server, host, address, port, family: fam, label: formatHostPort(address, port) };
}

/** @internal validated numeric options */
export function checkQueryOptions(options: SntpQueryOptions): {
  version: number;
  timeout: number | undefined;
  retries: number;
  clock: Clock;
} {
  const version = parseInteger(options.version ?? SNTP_QUERY_DEFAULTS.version, 'NTP version', {
    min: 1,
    max: 4,
  });
  const timeout = checkTimeout(options.timeout ?? SNTP_QUERY_DEFAULTS.timeout);
  const retries = parseInteger(options.retries ?? SNTP_QUERY_DEFAULTS.retries, 'retries', {
    min: 0,
    max: 20,
  });
  return { version, timeout, retries, clock: options.clock ?? systemClock };
}

/**
 * Ask one server for the time (one accepted exchange).
 *
 * @param server - a host name or address, optionally with a port: `time.example`, `127.0.0.1:11123`, `[::1]:123`
 * @param options - port, version, timeout, retries, family, signal, clock
 * @returns offset, delay and every field of the reply
 * @throws {ValidationError} for bad options or a server that is not a host
 * @throws {TimeoutError} when no acceptable reply came in time (message names the tries)
 * @throws {KissOfDeathError} for a kiss-o'-death: `DENY`/`RSTR` (stop asking), `RATE` (back off), ...
 * @throws {UnsynchronizedError} when the server says it is not synchronised (LI = 3 or stratum ≥ 16)
 * @throws {NetworkError} when the server cannot be reached (`ECONNREFUSED`, `ENETUNREACH`, ...)
 * @throws {AbortError} when the signal fires
 * @example
 * ```ts
 * import { sntpQuery } from 'soket';
 * const r = await sntpQuery('127.0.0.1', { port: 11123, timeout: 2000 });
 * console.log(`offset ${(r.offset * 1e3).toFixed(3)} ms ± ${(r.error * 1e3).toFixed(3)} ms, stratum ${r.stratum}`);
 * ```
 */
export async function sntpQuery(server: string, options: SntpQueryOptions = {}): Promise<SntpResult> {
  const checked = checkQueryOptions(options);
  const deadline = new Deadline(checked.timeout, server);
  const target = await resolveServer(server, options, deadline);
  return queryResolved(target, checked, options.signal, deadline);
}

type Checked = { version: number; timeout: number | undefined; retries: number; clock: Clock };

let primed: Promise<void> | undefined;

/**
 * The first query in a process runs code V8 has not compiled yet, between T1 and T4, which skews that sample by
 * a few hundred microseconds. So before it, one exchange runs against a responder inside this process on
 * 127.0.0.1 (nothing leaves the machine); failures there are ignored.
 */
function prime(): Promise<void> {
  primed ??= (async () => {
    const responder = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        responder.once('error', reject);
        responder.bind(0, '127.0.0.1', () => resolve());
      });
      responder.on('message', (msg, rinfo) => {
        if (msg.length < 48) return;
        const now = unixMsToNtp(systemClock.now());
        const reply = encodeNtpPacket({
          version: ((msg[0] as number) >>> 3) & 7,
          mode: NtpMode.server,
          stratum: 1,
          referenceId: 0x4c4f434c,
          originTimestamp: decodeNtpPacket(msg).transmitTimestamp,
          receiveTimestamp: now,
          transmitTimestamp: now,
        });
        responder.send(reply, rinfo.port, rinfo.address);
      });
      const port = responder.address().port;
      const local: Target = {
        server: 'prime',
        host: '127.0.0.1',
        address: '127.0.0.1',
        port,
        family: 4,
        label: 'prime',
      };
      const opts: Checked = { version: 4, timeout: 500, retries: 0, clock: systemClock };
      await exchange(local, opts, undefined, new Deadline(500, 'prime'));
    } catch (err) {
      debug('ntp', 'client warm-up failed (ignored)', { error: String(err) });
    } finally {
      responder.close();
    }
  })();
  return primed;
}

/** @internal one query to a resolved server */
export async function queryResolved(
  target: Target,
  opts: Checked,
  signal: AbortSignal | undefined,
  deadline: Deadline,
): Promise<SntpResult> {
  await prime();
  return exchange(target, opts, signal, deadline);
}

async function exchange(
  target: Target,
  opts: Checked,
  signal: AbortSignal | undefined,
  deadline: Deadline,
): Promise<SntpResult> {
  if (signal?.aborted) throw abortError(signal, `SNTP query to ${target.label}`);
  const { version, clock, retries } = opts;
  const tries = retries + 1;
  const total = deadline.remaining();
  const perTry = total === undefined ? undefined : Math.max(1, total / tries);
  const socket = dgram.createSocket({ type: target.family === 6 ? 'udp6' : 'udp4' });
  const pending = new Map<bigint, Pending>();
  let ignored = 0;
  let attempt = 0;

  try {
    return await new Promise<SntpResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (err: unknown, result?: SntpResult) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (result) resolve(result);
        else reject(err);
      };
      const onAbort = () => finish(abortError(signal as AbortSignal, `SNTP query to ${target.label}`));
      signal?.addEventListener('abort', onAbort, { once: true });

      const ignore = (reason: string, from: string) => {
        ignored++;
        debug('ntp', `ignored a datagram from ${from}: ${reason}`, { server: target.label });
      };

      socket.on('message', (msg, rinfo) => {
        const t4Ms = clock.now();
        const from = formatHostPort(rinfo.address, rinfo.port);
        if (rinfo.address !== target.address || rinfo.port !== target.port) {
          ignore('not from the server asked', from);
          return;
        }
        if (msg.length < 48) {
          ignore(`${msg.length} bytes, too short for NTP`, from);
          return;
        }
        const p = decodeNtpPacket(msg);
        if (p.mode !== NtpMode.server) return ignore(`mode ${p.mode}, expected 4 (server)`, from);
        if (p.version !== version) return ignore(`version ${p.version}, asked ${version}`, from);
        const sent = pending.get(p.originTimestamp);
        if (!sent) return ignore('origin timestamp does not match any request sent', from);
        if (p.transmitTimestamp === 0n) return ignore('transmit timestamp is zero', from);
        const kod = kissCode(p);
        if (kod !== undefined) {
          if (kod.startsWith('X') && KISS_CODES[kod] === undefined) {
            return ignore(`unknown experimental kiss code ${kod}`, from);
          }
          return finish(kissError(kod, target.label));
        }
        if (p.leap === 3 || p.stratum >= 16) {
          return finish(
            new UnsynchronizedError(
              `NTP server ${target.label} is not synchronised (${p.leap === 3 ? 'leap indicator 3' : `stratum ${p.stratum}`})`,
            ),
          );
        }
        const t1 = unixMsToNtp(sent.t1Ms);
        const t4 = unixMsToNtp(t4Ms);
        const { offset, delay } = ntpOffsetDelay(t1, p.receiveTimestamp, p.transmitTimestamp, t4);
        debug('ntp', `reply from ${target.label}`, { offset, delay, stratum: p.stratum, try: sent.attempt });
        finish(undefined, {
          server: target.server,
          address: target.address,
          port: target.port,
          family: target.family,
          offset,
          delay,
          error: Math.max(0, delay) / 2,
          rootDistance: Math.max(0, delay) / 2 + p.rootDelay / 2 + p.rootDispersion,
          time: t4Ms + offset * 1000,
          leap: p.leap,
          leapText: leapToText(p.leap),
          version: p.version,
          mode: p.mode,
          stratum: p.stratum,
          stratumText: stratumToText(p.stratum),
          poll: p.poll,
          precision: p.precision,
          rootDelay: p.rootDelay,
          rootDispersion: p.rootDispersion,
          referenceId: p.referenceId,
          referenceIdText: refIdToText(p.referenceId, p.stratum),
          referenceTime: p.referenceTimestamp,
          originTime: t1,
          receiveTime: p.receiveTimestamp,
          transmitTime: p.transmitTimestamp,
          destinationTime: t4,
          tries: attempt,
          ignored,
        });
      });

      socket.on('error', (err) => finish(toSoketError(err, `Cannot reach NTP server ${target.label}`)));

      const send = () => {
        if (done) return;
        attempt++;
        const c = cookie();
        const request = encodeNtpPacket({ version, mode: NtpMode.client, transmitTimestamp: c });
        const t1Ms = clock.now();
        pending.set(c, { t1Ms, attempt });
        socket.send(request, (err) => {
          if (err) finish(toSoketError(err, `Cannot send to NTP server ${target.label}`));
        });
        debug('ntp', `request ${attempt}/${tries} to ${target.label}`, { version });
        if (perTry !== undefined) {
          timer = setTimeout(() => {
            if (attempt < tries) send();
            else
              finish(
                new TimeoutError(
                  'response',
                  `NTP server ${target.label}`,
                  Math.round(opts.timeout ?? perTry * tries),
                  `(${tries} ${tries === 1 ? 'try' : 'tries'})`,
                ),
              );
          }, perTry);
        }
      };

      socket.connect(target.port, target.address, (err?: Error) => {
        if (err) finish(toSoketError(err, `Cannot reach NTP server ${target.label}`));
        else send();
      });
    });
  } finally {
    try {
      socket.close();
    } catch {
      // already closed
    }
  }
}

function kissError(code: string, server: string): KissOfDeathError {
  if (code === 'DENY' || code === 'RSTR') {
    return new KissOfDeathError(
      code,
      server,
      `access denied (${code === 'DENY' ? 'by the remote server' : 'by its policy'}); stop sending requests to this server`,
    );
  }
  if (code === 'RATE') {
    return new KissOfDeathError(code, server, 'rate exceeded; back off and query this server less often');
  }
  const meaning = KISS_CODES[code];
  return new KissOfDeathError(
    code,
    server,
    `${meaning ? `${meaning}; ` : ''}the reply carries no usable time`,
  );
}

/**
 * The server's times of a result as Unix milliseconds, unfolded around the local clock (right across 2036).
 *
 * @param result - a result of {@link sntpQuery}
 * @returns reference, receive and transmit times in ms since the Unix epoch
 * @example
 * ```ts
 * import { sntpQuery, sntpTimesMs } from 'soket';
 * const r = await sntpQuery('127.0.0.1', { port: 11123 });
 * new Date(sntpTimesMs(r).transmit).toISOString();
 * ```
 */
export function sntpTimesMs(result: SntpResult): { reference: number; receive: number; transmit: number } {
  const pivot = unixMsToNs(result.time);
  return {
    reference: result.referenceTime === 0n ? 0 : ntpToUnixMs(result.referenceTime, pivot),
    receive: ntpToUnixMs(result.receiveTime, pivot),
    transmit: ntpToUnixMs(result.transmitTime, pivot),
  };
}
