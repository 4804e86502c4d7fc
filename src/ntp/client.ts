// contract: v2 (issue 10: the shared exchange helper; reply checks in the pure checkReply())
/**
 * An SNTP client (RFC 4330, with the checks of RFC 5905 §8 and the data minimisation of RFC 9109's client
 * guidance): one query to one server, done carefully.
 *
 * - The request carries nothing but the version, mode 3 and a random 64-bit transmit timestamp: a cookie. The
 *   local send time (T1) never leaves the machine.
 * - A reply is accepted only when it comes from the address and port asked (the socket is connected, and the
 *   source is checked again), is mode 4 with the version asked, has an origin timestamp equal to a cookie this
 *   query sent, bit for bit, and passes RFC 5905's sanity tests ({@link checkReply}): non-zero receive and
 *   transmit timestamps, a reference time that is set and not after the transmit time, a server that did not
 *   send before it received, a round-trip delay that is not negative beyond the clocks' precision, and a root
 *   distance below 16 s. Anything else is ignored (counted) and the query keeps waiting, so a spoofed, stale
 *   or insane packet can neither answer nor abort it.
 * - Stratum 0 is a kiss-o'-death: DENY and RSTR say stop asking this server, RATE says back off
 *   (`KissOfDeathError`). LI = 3 or stratum ≥ 16 means the server is not synchronised (`UnsynchronizedError`).
 * - T1 and T4 come from the kernel where FFI works, as chrony takes them: T4 is the kernel's receive timestamp
 *   of the reply (SIOCGSTAMPNS), T1 its software transmit timestamp of the request (SO_TIMESTAMPING), both
 *   CLOCK_REALTIME, so the time the event loop takes to wake up is not counted as network delay. Otherwise (no
 *   FFI, or an injected `clock`) they are read from the clock right before the send and first thing on
 *   arrival; the default clock is CLOCK_REALTIME through FFI, else `performance.timeOrigin + performance.now()`.
 * - Tries and timing come from the shared exchange helper: `timeout` bounds the whole query (name lookup
 *   included), each try gets `tryTimeout` (by default an even share of the timeout).
 * - The origin check stops blind spoofing, not an attacker on the path, who sees the request and can answer it
 *   with any time. Against that, `nts` (Network Time Security, RFC 8915) or `key` (a symmetric key, RFC 5905
 *   MAC / RFC 8573 CMAC) authenticate each reply before any other check: one that fails is dropped and counted
 *   (`authFailures`), never used. With NTS the server given is the NTS-KE server; an NTS NAK runs NTS-KE again.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  type DecodedNtpPacket,
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
import type { Clock } from '../core/clock.js';
import { Deadline, withTimeout } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import {
  KissOfDeathError,
  type SoketError,
  toSoketError,
  UnsynchronizedError,
  ValidationError,
} from '../core/errors.js';
import { exchange } from '../core/exchange.js';
import {
  checkTimeout,
  describeValue,
  formatHostPort,
  parseHostPort,
  parseInteger,
  parsePort,
} from '../core/validate.js';
import { dgramKernelStamps } from '../platform/dgram-timestamps.js';
import { realtimeClock } from '../platform/realtime.js';
import { type NtsClient, type NtsClientOptions, NtsNakError, ntsClientFor } from './nts-client.js';
import type { AuthMode, ReplyAuthCheck, RequestAuthenticator } from './request-auth.js';
import { type SymmetricKey, symmetricAuthenticator } from './symmetric-key.js';

/** Options of {@link sntpQuery}. */
export interface SntpQueryOptions {
  /** Server port, used when the server is not given as `HOST:PORT`. @default 123 */
  port?: number;
  /** NTP version to send (1–4); the reply must carry the same. @default 4 */
  version?: number;
  /** Limit of the whole query in ms, shared by the name lookup and all tries; 0 for none. @default 5000 */
  timeout?: number;
  /** Limit of one try in ms. @default an even share of the time left after the lookup */
  tryTimeout?: number;
  /** Extra tries after the first, each with a fresh cookie. @default 2 */
  retries?: number;
  /** Address family: 4 or 6; by default whatever the name resolves to first. */
  family?: 4 | 6;
  /** Cancels the query. */
  signal?: AbortSignal;
  /**
   * Where T1 and T4 come from when the kernel cannot stamp packets; giving a clock turns kernel stamps off.
   * @default realtimeClock() (CLOCK_REALTIME through FFI, else `performance.timeOrigin + performance.now()`)
   */
  clock?: Clock;
  /**
   * Network Time Security (RFC 8915). The server given is then the NTS-KE server (`HOST[:PORT]`, port 4460 by
   * default, or `port`), which names the NTP server and port. `true` or TLS options (`ca`, `servername`, `pin`)
   * make a client (kept for the same options object, so its cookies are reused); an {@link NtsClient} keeps its
   * cookies across calls. The key exchange counts against `timeout`. @default none
   */
  nts?: true | NtsClientOptions | NtsClient;
  /** A symmetric key (see `parseSymmetricKey`, `readKeyFile`): requests carry its MAC, replies must too. */
  key?: SymmetricKey;
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
  /** How the reply was authenticated: `none` (the origin check only), `nts` or `symmetric`. */
  authenticated: 'none' | AuthMode;
  /** The key's ID, when `symmetric`. */
  keyId?: number;
  /** Replies dropped because they failed authentication (counted in `ignored` too). */
  authFailures: number;
  /** With NTS: the NTS-KE server, whether this query ran a key exchange and how long it took, cookies left. */
  nts?: NtsQueryInfo;
}

/** What an NTS query reports about NTS. */
export interface NtsQueryInfo {
  /** The NTS-KE server, `HOST:PORT`. */
  keServer: string;
  /** Whether NTS-KE ran for this query (no cookies yet, or after an NTS NAK). */
  keyExchanged: boolean;
  /** How long NTS-KE took, in ms, when it ran. */
  keyExchangeMs?: number;
  /** Cookies left in the jar after this query. */
  cookies: number;
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
    defaultPort: options.port === undefined ? SNTP_QUERY_DEFAULTS.port : parsePort(options.port),
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
export function checkQueryOptions(options: SntpQueryOptions): Checked {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid SNTP options: expected an object');
  }
  const version = parseInteger(options.version ?? SNTP_QUERY_DEFAULTS.version, 'NTP version', {
    min: 1,
    max: 4,
  });
  const timeout = checkTimeout(options.timeout ?? SNTP_QUERY_DEFAULTS.timeout);
  const tryTimeout = checkTimeout(options.tryTimeout, { what: 'tryTimeout' });
  const retries = parseInteger(options.retries ?? SNTP_QUERY_DEFAULTS.retries, 'retries', {
    min: 0,
    max: 20,
  });
  const clock = options.clock ?? realtimeClock();
  if (typeof clock?.now !== 'function' || typeof clock.monotonic !== 'function') {
    throw new ValidationError('Invalid clock: expected an object with now() and monotonic()');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ValidationError('Invalid signal: expected an AbortSignal');
  }
  const checked: Checked = {
    version,
    timeout,
    tryTimeout,
    retries,
    clock,
    kernelStamps: options.clock === undefined,
  };
  const { nts, key } = options;
  if (nts !== undefined && key !== undefined) {
    throw new ValidationError('Options nts and key cannot be used together: choose NTS or a symmetric key');
  }
  if (key !== undefined) checked.auth = symmetricAuthenticator(key);
  if (nts !== undefined) {
    if (nts !== true && (typeof nts !== 'object' || nts === null)) {
      throw new ValidationError(
        'Invalid nts option: expected true, TLS options ({ ca, servername, pin }) or an NtsClient',
      );
    }
    if (version !== 4) throw new ValidationError(`NTS needs NTP version 4, not ${version}`);
    checked.nts = nts;
  }
  return checked;
}

/**
 * Ask one server for the time (one accepted exchange).
 *
 * @param server - a host name or address, optionally with a port: `time.example`, `127.0.0.1:11123`, `[::1]:123`
 * @param options - port, version, timeout, tryTimeout, retries, family, signal, clock
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
  if (typeof server !== 'string') {
    throw new ValidationError(`Invalid NTP server '${String(server)}': expected a host name or address`);
  }
  const checked = checkQueryOptions(options);
  const deadline = new Deadline(checked.timeout, server);
  if (checked.nts) {
    return queryNts(ntsClientFor(server, checked.nts, options.port), checked, options, deadline);
  }
  const target = await resolveServer(server, options, deadline);
  return queryResolved(target, checked, options.signal, deadline);
}

/**
 * One NTS-protected query: a session from the client (NTS-KE when it has no cookie), the NTP server it names,
 * then the query with each request sealed and each reply verified. An NTS NAK forgets the session and runs
 * NTS-KE once more.
 *
 * @internal shared with getNetworkTime
 */
export async function queryNts(
  client: NtsClient,
  opts: Checked,
  options: Pick<SntpQueryOptions, 'family' | 'signal'>,
  deadline: Deadline,
): Promise<SntpResult> {
  const signal = options.signal;
  for (let round = 0; ; round++) {
    const t0 = performance.now();
    const left = deadline.remaining();
    const { session, keyExchanged } = await client.ensureSession({
      ...(left !== undefined ? { timeout: left } : {}),
      ...(signal ? { signal } : {}),
    });
    const keyExchangeMs = keyExchanged ? performance.now() - t0 : undefined;
    const ntp = formatHostPort(session.ke.ntpServer, session.ke.ntpPort);
    const target = await resolveServer(ntp, { ...options, port: session.ke.ntpPort }, deadline);
    try {
      const r = await queryResolved(
        { ...target, server: client.keServer },
        opts,
        signal,
        deadline,
        client.authenticator(),
      );
      return {
        ...r,
        nts: {
          keServer: client.keServer,
          keyExchanged,
          ...(keyExchangeMs !== undefined ? { keyExchangeMs } : {}),
          cookies: client.session?.cookies.length ?? 0,
        },
      };
    } catch (err) {
      if (!(err instanceof NtsNakError)) throw err;
      client.reset();
      if (round > 0 || keyExchanged) {
        throw new NtsNakError(
          `${err.message}, even with cookies from a fresh key exchange with ${client.keServer}`,
        );
      }
      debug('ntp', `NTS NAK from ${target.label}: running NTS-KE again`, { keServer: client.keServer });
    }
  }
}

/** @internal checked options of one query */
export interface Checked {
  version: number;
  timeout: number | undefined;
  tryTimeout: number | undefined;
  retries: number;
  clock: Clock;
  /** T1 and T4 from the kernel's packet timestamps where it can (only with the default clock). */
  kernelStamps?: boolean;
  /** Seals requests and verifies replies (a symmetric key). */
  auth?: RequestAuthenticator;
  /** NTS, as given. */
  nts?: true | NtsClientOptions | NtsClient;
}

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
        const now = unixMsToNtp(realtimeClock().now());
        const reply = encodeNtpPacket({
          version: ((msg[0] as number) >>> 3) & 7,
          mode: NtpMode.server,
          stratum: 1,
          referenceId: 0x4c4f434c,
          referenceTimestamp: now,
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
      const opts: Checked = {
        version: 4,
        timeout: 500,
        tryTimeout: undefined,
        retries: 0,
        clock: realtimeClock(),
        kernelStamps: true,
      };
      await query(local, opts, undefined, new Deadline(500, 'prime'));
    } catch (err) {
      debug('ntp', 'client warm-up failed (ignored)', { error: String(err) });
    } finally {
      responder.close();
    }
  })();
  return primed;
}

/** @internal one query to a resolved server (`auth`: NTS for this query; else the options' key, if any) */
export async function queryResolved(
  target: Target,
  opts: Checked,
  signal: AbortSignal | undefined,
  deadline: Deadline,
  auth: RequestAuthenticator | undefined = opts.auth,
): Promise<SntpResult> {
  await prime();
  return query(target, opts, signal, deadline, auth);
}

/** The outcome of checking one datagram against the query it may answer. */
export type ReplyCheck =
  | { kind: 'accept'; t1Ms: number; attempt: number; offset: number; delay: number }
  | { kind: 'ignore'; reason: string }
  | { kind: 'fail'; error: SoketError };

/** What a reply is checked against. */
export interface ReplyExpectation {
  /** The version the requests carried. */
  version: number;
  /** The cookies sent (transmit timestamps of the requests), with their T1 and attempt number. */
  pending: ReadonlyMap<bigint, { t1Ms: number; attempt: number }>;
  /** T4: when the datagram arrived, in Unix ms on the clock T1 came from. */
  t4Ms: number;
  /** The server, for messages: `127.0.0.1:123`. */
  label: string;
  /** The local clock's precision in seconds (how far a delay may look negative from rounding). @default 1e-6 */
  localPrecision?: number;
}

const PACKET_NUMBERS = [
  'leap',
  'version',
  'mode',
  'stratum',
  'poll',
  'precision',
  'rootDelay',
  'rootDispersion',
  'referenceId',
] as const;
const PACKET_TIMESTAMPS = [
  'referenceTimestamp',
  'originTimestamp',
  'receiveTimestamp',
  'transmitTimestamp',
] as const;

/** An object from plain JavaScript with finite numbers and bigint timestamps where the type says so. */
function checkFields(
  value: unknown,
  what: string,
  numbers: readonly string[],
  stamps: readonly string[],
): void {
  if (value === null || typeof value !== 'object') {
    throw new ValidationError(`Invalid ${what} '${describeValue(value)}': expected an object`);
  }
  const o = value as Record<string, unknown>;
  for (const k of numbers) {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) {
      throw new ValidationError(`Invalid ${what}: ${k} '${describeValue(o[k])}' is not a finite number`);
    }
  }
  for (const k of stamps) {
    if (typeof o[k] !== 'bigint') {
      throw new ValidationError(
        `Invalid ${what}: ${k} '${describeValue(o[k])}' is not a 64-bit NTP timestamp`,
      );
    }
  }
}

/** RFC 5905's MAXDISP: a root distance at or beyond 16 s means the server's time is useless. */
const MAX_ROOT_DISTANCE_S = 16;

/**
 * Check a decoded reply against the query it may answer: RFC 5905's packet and peer tests, pure (no sockets,
 * no clock). `ignore` keeps the query waiting (a stale, spoofed or insane packet), `fail` ends it (a
 * kiss-o'-death or an unsynchronised server), `accept` gives the offset and delay.
 *
 * @param p - the decoded datagram
 * @param expect - the cookies sent, T4, the version asked
 * @returns the verdict
 * @example
 * ```ts
 * const verdict = checkReply(decodeNtpPacket(bytes), { version: 4, pending, t4Ms, label: '127.0.0.1:123' });
 * if (verdict.kind === 'accept') console.log(verdict.offset);
 * ```
 */
export function checkReply(p: DecodedNtpPacket, expect: ReplyExpectation): ReplyCheck {
  checkFields(p, 'reply packet', PACKET_NUMBERS, PACKET_TIMESTAMPS);
  checkFields(expect, 'reply expectation', ['version', 't4Ms'], []);
  if (!(expect.pending instanceof Map)) {
    throw new ValidationError(
      `Invalid pending '${describeValue(expect.pending)}': expected a Map of sent cookies`,
    );
  }
  if (typeof expect.label !== 'string') {
    throw new ValidationError(`Invalid label '${describeValue(expect.label)}': expected a string`);
  }
  if (expect.localPrecision !== undefined && typeof expect.localPrecision !== 'number') {
    throw new ValidationError(
      `Invalid localPrecision '${describeValue(expect.localPrecision)}': expected seconds`,
    );
  }
  if (p.mode !== NtpMode.server) return { kind: 'ignore', reason: `mode ${p.mode}, expected 4 (server)` };
  if (p.version !== expect.version) {
    return { kind: 'ignore', reason: `version ${p.version}, asked ${expect.version}` };
  }
  const sent = expect.pending.get(p.originTimestamp);
  if (!sent) return { kind: 'ignore', reason: 'origin timestamp does not match any request sent' };
  if (p.transmitTimestamp === 0n) return { kind: 'ignore', reason: 'transmit timestamp is zero' };
  const kod = kissCode(p);
  if (kod !== undefined) {
    if (kod.startsWith('X') && KISS_CODES[kod] === undefined) {
      return { kind: 'ignore', reason: `unknown experimental kiss code ${kod}` };
    }
    return { kind: 'fail', error: kissError(kod, expect.label) };
  }
  if (p.leap === 3 || p.stratum >= 16) {
    return {
      kind: 'fail',
      error: new UnsynchronizedError(
        `NTP server ${expect.label} is not synchronised (${p.leap === 3 ? 'leap indicator 3' : `stratum ${p.stratum}`})`,
      ),
    };
  }
  if (p.receiveTimestamp === 0n) return { kind: 'ignore', reason: 'receive timestamp is zero' };
  if (p.referenceTimestamp === 0n) {
    return { kind: 'ignore', reason: 'reference timestamp is zero (the server was never synchronised)' };
  }
  // Compare NTP timestamps across an era boundary: a difference is what counts, as a signed 64-bit value.
  if (signed64(p.referenceTimestamp - p.transmitTimestamp) > 0n) {
    return { kind: 'ignore', reason: 'reference timestamp is later than the transmit timestamp' };
  }
  if (signed64(p.transmitTimestamp - p.receiveTimestamp) < 0n) {
    return { kind: 'ignore', reason: 'transmit timestamp is earlier than the receive timestamp (T3 < T2)' };
  }
  if (p.rootDelay / 2 + p.rootDispersion >= MAX_ROOT_DISTANCE_S) {
    return {
      kind: 'ignore',
      reason: `root distance ${(p.rootDelay / 2 + p.rootDispersion).toFixed(3)} s is ${MAX_ROOT_DISTANCE_S} s or more`,
    };
  }
  const t1 = unixMsToNtp(sent.t1Ms);
  const t4 = unixMsToNtp(expect.t4Ms);
  const { offset, delay } = ntpOffsetDelay(t1, p.receiveTimestamp, p.transmitTimestamp, t4);
  const tolerance = 2 ** p.precision + (expect.localPrecision ?? 1e-6);
  if (delay < -tolerance) {
    return { kind: 'ignore', reason: `negative round-trip delay ${(delay * 1e6).toFixed(1)} µs` };
  }
  return { kind: 'accept', t1Ms: sent.t1Ms, attempt: sent.attempt, offset, delay };
}

function signed64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

async function query(
  target: Target,
  opts: Checked,
  signal: AbortSignal | undefined,
  deadline: Deadline,
  auth?: RequestAuthenticator,
): Promise<SntpResult> {
  const { version, clock, retries } = opts;
  const socket = dgram.createSocket({ type: target.family === 6 ? 'udp6' : 'udp4' });
  const pending = new Map<
    bigint,
    { t1Ms: number; attempt: number; verify?: (reply: Uint8Array) => ReplyAuthCheck }
  >();
  let ignored = 0;
  let authFailures = 0;
  let lastAuthFailure = '';
  let closed = false;
  const closeSocket = () => {
    if (closed) return;
    closed = true;
    try {
      socket.close();
    } catch {
      // already closed
    }
  };
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(target.port, target.address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  try {
    await connected;
  } catch (err) {
    closeSocket();
    throw toSoketError(err, `Cannot reach NTP server ${target.label}`);
  }
  // Kernel timestamps for T1 and T4 (same clock as `realtimeClock`), where FFI and the kernel allow.
  const stamps = opts.kernelStamps ? dgramKernelStamps(socket) : undefined;

  return exchange<SntpResult>(
    {
      target: `NTP server ${target.label}`,
      tries: retries + 1,
      deadline,
      tryTimeout: opts.tryTimeout,
      signal,
      timeoutDetail: () =>
        authFailures > 0
          ? `; ${authFailures} ${authFailures === 1 ? 'reply' : 'replies'} failed authentication: ${lastAuthFailure}`
          : '',
    },
    (ctl) => {
      const ignore = (reason: string, from: string) => {
        ignored++;
        debug('ntp', `ignored a datagram from ${from}: ${reason}`, { server: target.label });
      };
      socket.on('message', (msg, rinfo) => {
        const t4Ms = stamps?.received() ?? clock.now(); // first thing: this datagram's kernel timestamp
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
        if (auth) {
          // Authentication first: nothing an unauthenticated reply says (not even a kiss-o'-death) is used.
          const sent = pending.get(p.originTimestamp);
          if (!sent?.verify) return ignore('origin timestamp does not match any request sent', from);
          const a = sent.verify(msg);
          if (!a.ok) {
            if (a.nak) {
              return ctl.reject(
                new NtsNakError(
                  `NTP server ${target.label} answered NTS NAK (it does not accept the cookie)`,
                ),
              );
            }
            authFailures++;
            lastAuthFailure = a.reason;
            return ignore(`failed authentication: ${a.reason}`, from);
          }
        }
        const verdict = checkReply(p, { version, pending, t4Ms, label: target.label });
        if (verdict.kind === 'ignore') return ignore(verdict.reason, from);
        if (verdict.kind === 'fail') return ctl.reject(verdict.error);
        const { offset, delay } = verdict;
        debug('ntp', `reply from ${target.label}`, {
          offset,
          delay,
          stratum: p.stratum,
          try: verdict.attempt,
        });
        ctl.resolve({
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
          originTime: unixMsToNtp(verdict.t1Ms),
          receiveTime: p.receiveTimestamp,
          transmitTime: p.transmitTimestamp,
          destinationTime: unixMsToNtp(t4Ms),
          tries: ctl.attempt,
          ignored,
          authenticated: auth?.mode ?? 'none',
          ...(auth?.keyId !== undefined ? { keyId: auth.keyId } : {}),
          authFailures,
        });
      });
      socket.on('error', (err) => ctl.reject(toSoketError(err, `Cannot reach NTP server ${target.label}`)));
      return {
        send(attempt) {
          const c = cookie();
          const header = encodeNtpPacket({ version, mode: NtpMode.client, transmitTimestamp: c });
          const sealed = auth?.seal(header);
          const request = sealed?.packet ?? header;
          const entry = { t1Ms: clock.now(), attempt, ...(sealed ? { verify: sealed.verify } : {}) };
          pending.set(c, entry);
          socket.send(request, (err) => {
            if (err) ctl.reject(toSoketError(err, `Cannot send to NTP server ${target.label}`));
          });
          // The kernel's transmit timestamp, when it stamped the datagram during the send.
          const tx = stamps?.sent();
          if (tx !== undefined) entry.t1Ms = tx;
          debug('ntp', `request ${attempt}/${retries + 1} to ${target.label}`, {
            version,
            timestamps: stamps ? (tx !== undefined ? 'kernel' : 'kernel receive, clock transmit') : 'clock',
          });
        },
        cleanup: closeSocket,
      };
    },
  );
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
  checkFields(result, 'SNTP result', ['time'], ['referenceTime', 'receiveTime', 'transmitTime']);
  const pivot = unixMsToNs(result.time);
  return {
    reference: result.referenceTime === 0n ? 0 : ntpToUnixMs(result.referenceTime, pivot),
    receive: ntpToUnixMs(result.receiveTime, pivot),
    transmit: ntpToUnixMs(result.transmitTime, pivot),
  };
}
