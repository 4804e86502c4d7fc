/**
 * UDP port probes, reported as nmap's `-sU` reports them. UDP has no handshake, so a probe sends a datagram
 * and reads what comes back:
 *
 * | what comes back                                   | state           |
 * | ------------------------------------------------- | --------------- |
 * | a UDP reply (from that address and port)          | `open`          |
 * | ICMP port unreachable (`ECONNREFUSED`)            | `closed`        |
 * | another ICMP unreachable (host, net, prohibited)  | `filtered`      |
 * | nothing, after every try                          | `open|filtered` |
 *
 * Silence is ambiguous: a service that ignores the probe and a firewall that drops it look the same. Real
 * services answer well-formed requests, so the payload matters: a DNS query goes to port 53 (and 5353), an
 * SNTP request to 123, an empty datagram elsewhere; `payload` overrides it for every port.
 *
 * ## The kernel's ICMP rate limits
 * A closed port is only seen as closed if the target's kernel sends the ICMP error, and kernels limit those.
 * Linux limits ICMP errors per destination host (`net.ipv4.icmp_ratelimit`, default 1000 ms: a burst of 6,
 * then one per second) and in all (`net.ipv4.icmp_msgs_per_sec`, default 1000/s with a burst of 50);
 * loopback is exempt from the first but not the second. A probe faster than the limit gets silence for the
 * errors that were suppressed, so closed ports show up as `open|filtered`, never as `open`. `rate` spaces
 * the datagrams (every try counts) so that each one can be answered: 500/s by default suits loopback and a
 * host's own namespaces; against a remote Linux host only about 1/s tells closed from silent. Results are
 * only "closed" when an ICMP error really came back.
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import net from 'node:net';
import { runBounded } from '../core/bounded.js';
import { abortError, sleep, withTimeout } from '../core/deadline.js';
import { NetworkError, SoketError, TimeoutError, toSoketError, ValidationError } from '../core/errors.js';
import { exchange } from '../core/exchange.js';
import {
  checkOptionsObject,
  checkSignal,
  describeValue,
  formatHostPort,
  parseHost,
  parseInteger,
  parsePort,
} from '../core/validate.js';
import { portService } from './port-service.js';
import { MAX_PROBE_PORTS } from './probe.js';
import { parseSourceAddress, type SourceAddress } from './udp-connect.js';

/** What a UDP probe found. */
export type UdpPortState = 'open' | 'closed' | 'filtered' | 'open|filtered' | 'error';

/** The result for one port. */
export interface UdpProbeResult {
  /** The port probed. */
  port: number;
  /** See the table in the module documentation. */
  state: UdpPortState;
  /** The address probed. */
  address: string;
  /** The port's UDP service name in the services database (`domain`, `ntp`), or `null`. */
  service: string | null;
  /** Milliseconds from the last send to the reply (`open`) or the ICMP error (`closed`), else `null`. */
  rttMs: number | null;
  /** Bytes in the reply (`open`), else `null`. */
  replyBytes: number | null;
  /** Datagrams sent to this port. */
  tries: number;
  /** Bytes of the probe payload. */
  payloadBytes: number;
  /** The code behind a state other than `open`: `ECONNREFUSED`, `SOKET_TIMEOUT`, `EHOSTUNREACH`, ... */
  code: string | null;
  /** Human-readable detail for a state other than `open`. */
  reason: string | null;
}

/** Options of {@link probeUdpPorts} and {@link probeUdp}. Defaults in {@link UDP_PROBE_DEFAULTS}. */
export interface UdpProbeOptions {
  /** Milliseconds per port, every try included; silence for that long is `open|filtered`. @default 1000 */
  timeout?: number;
  /** Datagrams per port (1 + retransmissions of a probe that got no answer). @default 2 */
  tries?: number;
  /** Ports probed at once. @default 32 */
  concurrency?: number;
  /** Most datagrams per second in all (tries included); 0 for no limit. See the ICMP note. @default 500 */
  rate?: number;
  /** The payload for every port instead of the per-port default (bytes, or a hex string). */
  payload?: Uint8Array | string;
  /** Address family for the name lookup. @default 0 (any; the first address is used) */
  family?: 0 | 4 | 6;
  /** Milliseconds for the single name lookup. @default 5000 */
  lookupTimeout?: number;
  /** Local address (and port) to send from: `'10.0.0.2'`, `'[::1]:5000'`. */
  source?: string | SourceAddress;
  /** Stops the probe. */
  signal?: AbortSignal;
}

/** Every default of {@link UdpProbeOptions}. */
export const UDP_PROBE_DEFAULTS = {
  timeout: 1000,
  tries: 2,
  concurrency: 32,
  rate: 500,
  family: 0,
  lookupTimeout: 5000,
} as const;

/**
 * A DNS query (RFC 1035) for the root's NS records, recursion desired, with a random ID: 17 bytes that every
 * DNS server answers, even if only with REFUSED.
 */
function dnsQuery(): Uint8Array {
  const q = Buffer.from([0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x02, 0x00, 0x01]);
  randomFillSync(q, 0, 2);
  return q;
}

/** An SNTP client request (RFC 4330): 48 bytes, LI 0, version 4, mode 3, a random transmit timestamp. */
function sntpRequest(): Uint8Array {
  const p = Buffer.alloc(48);
  p[0] = 0x23;
  randomFillSync(p, 40, 8);
  return p;
}

/**
 * The default probe payload for a port: a DNS query for 53 and 5353, an SNTP request for 123, empty
 * otherwise.
 *
 * @param port - the port
 * @returns the payload
 * @example
 * ```ts
 * udpProbePayload(123).length; // 48
 * udpProbePayload(9).length; // 0
 * ```
 */
export function udpProbePayload(port: number): Uint8Array {
  parsePort(port);
  if (port === 53 || port === 5353) return dnsQuery();
  if (port === 123) return sntpRequest();
  return new Uint8Array(0);
}

/**
 * Parse a payload given as hex (`--payload`): pairs of hex digits, optionally separated by spaces or colons,
 * an optional `0x`.
 *
 * @param text - `0d0a`, `de:ad:be:ef`, `0x00ff`
 * @returns the bytes
 * @throws {ValidationError} for odd-length or non-hex text, or more than one datagram holds
 * @example
 * ```ts
 * parseHexPayload('de:ad'); // Uint8Array [0xde, 0xad]
 * ```
 */
export function parseHexPayload(text: string, what = 'payload'): Uint8Array {
  if (typeof text !== 'string') {
    throw new ValidationError(`Invalid ${what} '${describeValue(text)}': expected hex bytes such as 0d0a`);
  }
  const t = text.trim().replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(t)) {
    throw new ValidationError(`Invalid ${what} '${text}': expected hex bytes such as 0d0a or de:ad:be:ef`);
  }
  if (t.length / 2 > 65_507) {
    throw new ValidationError(`Invalid ${what}: ${t.length / 2} bytes, more than one datagram holds (65507)`);
  }
  return Buffer.from(t, 'hex');
}

/**
 * Parse a rate such as `--rate` takes it: `500`, `500/s`, `30/m`, `0` (no limit).
 *
 * @param text - the rate
 * @returns datagrams per second (fractions allowed, e.g. 0.5)
 * @throws {ValidationError} otherwise
 * @example
 * ```ts
 * parseRate('30/m'); // 0.5
 * ```
 */
export function parseRate(text: string | number, what = 'rate'): number {
  const valid = typeof text === 'string' || typeof text === 'number';
  const m = valid ? /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|m|min))?\s*$/i.exec(String(text)) : null;
  const n = m ? Number(m[1]) / (m[2] && /^m/i.test(m[2]) ? 60 : 1) : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || n > 1_000_000) {
    throw new ValidationError(
      `Invalid ${what} '${describeValue(text)}': expected datagrams per second such as 500, 500/s or 30/m (0: no limit)`,
    );
  }
  return n;
}

/** Spaces sends at most `rate` per second, shared by every probe of one run. */
class Pacer {
  #next = 0;
  readonly #gap: number;
  constructor(rate: number) {
    this.#gap = rate > 0 ? 1000 / rate : 0;
  }
  /** Wait for this send's turn. */
  async take(signal: AbortSignal | undefined): Promise<void> {
    if (this.#gap === 0) return;
    const now = performance.now();
    const at = Math.max(now, this.#next);
    this.#next = at + this.#gap;
    if (at > now) await sleep(at - now, signal);
  }
}

interface Checked {
  timeout: number;
  tries: number;
  concurrency: number;
  rate: number;
  payload: Uint8Array | undefined;
  family: 0 | 4 | 6;
  lookupTimeout: number;
  source: SourceAddress | undefined;
}

/** A source given as an object: `{ address?, port? }`. */
function checkSource(source: unknown): SourceAddress {
  const s = source as Partial<SourceAddress> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    (s.address !== undefined && typeof s.address !== 'string') ||
    (s.port !== undefined && typeof s.port !== 'number')
  ) {
    throw new ValidationError(
      `Invalid source '${describeValue(source)}': expected ADDRESS[:PORT] or { address, port }`,
    );
  }
  return s as SourceAddress;
}

function checkOptions(options: UdpProbeOptions): Checked {
  checkOptionsObject(options, 'UDP probe options');
  checkSignal(options.signal);
  const o = { ...UDP_PROBE_DEFAULTS, ...options };
  const ms = { min: 1, max: 2_147_483_647 };
  const family = o.family;
  if (family !== 0 && family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid family '${String(family)}': expected 0, 4 or 6`);
  }
  if (typeof o.rate !== 'number' || !Number.isFinite(o.rate) || o.rate < 0) {
    throw new ValidationError(
      `Invalid rate '${String(o.rate)}': expected datagrams per second, 0 for no limit`,
    );
  }
  const payload =
    options.payload === undefined
      ? undefined
      : typeof options.payload === 'string'
        ? parseHexPayload(options.payload)
        : options.payload instanceof Uint8Array
          ? options.payload
          : (() => {
              throw new ValidationError(
                `Invalid payload '${describeValue(options.payload)}': expected bytes or hex text`,
              );
            })();
  const source =
    options.source === undefined
      ? undefined
      : typeof options.source === 'string'
        ? parseSourceAddress(options.source, 'source')
        : checkSource(options.source);
  return {
    timeout: parseInteger(o.timeout, 'timeout', ms),
    tries: parseInteger(o.tries, 'tries', { min: 1, max: 10 }),
    concurrency: parseInteger(o.concurrency, 'concurrency', { min: 1, max: 10_000 }),
    rate: o.rate,
    payload,
    family,
    lookupTimeout: parseInteger(o.lookupTimeout, 'lookup timeout', ms),
    source,
  };
}

async function resolveTarget(host: string, c: Checked, signal?: AbortSignal): Promise<string> {
  if (net.isIP(host.split('%')[0] ?? '')) return host;
  const found = await withTimeout(
    () => dns.lookup(host, { family: c.family }),
    { timeout: c.lookupTimeout, ...(signal ? { signal } : {}) },
    { phase: 'lookup', target: `'${host}'` },
  ).catch((err: unknown) => {
    throw toSoketError(err, `Cannot resolve '${host}'`);
  });
  return found.address;
}

/** Milliseconds to the microsecond. */
function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

type Outcome =
  | { kind: 'reply'; bytes: number; rttMs: number }
  | { kind: 'icmp'; code: string; rttMs: number; message: string };

async function probeOne(
  address: string,
  port: number,
  c: Checked,
  pacer: Pacer,
  signal: AbortSignal | undefined,
): Promise<UdpProbeResult> {
  const family = net.isIP(address.split('%')[0] ?? '') === 6 ? 6 : 4;
  const payload = c.payload ?? udpProbePayload(port);
  const base = { port, address, service: portService(port, 'udp'), payloadBytes: payload.length };
  const where = formatHostPort(address, port);
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  let tries = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const onError = (err: Error) => {
        if (!settled) {
          settled = true;
          reject(err);
        }
      };
      socket.once('error', onError);
      const connect = () =>
        socket.connect(port, address, ((err?: Error) => {
          socket.off('error', onError);
          if (settled) return;
          settled = true;
          if (err) reject(err);
          else resolve();
        }) as () => void);
      if (c.source !== undefined) {
        const bind: dgram.BindOptions = { port: c.source.port };
        if (c.source.address !== undefined) bind.address = c.source.address;
        socket.bind(bind, connect);
      } else connect();
    });
    const tryTimeout = Math.max(1, Math.floor(c.timeout / c.tries));
    for (let attempt = 1; attempt <= c.tries; attempt++) {
      await pacer.take(signal);
      tries++;
      let sentAt = 0;
      try {
        const outcome = await exchange<Outcome>(
          { target: where, tries: 1, timeout: tryTimeout, signal },
          (ctl) => {
            const onMessage = (data: Buffer) =>
              ctl.resolve({ kind: 'reply', bytes: data.length, rttMs: round(performance.now() - sentAt) });
            const onError = (err: NodeJS.ErrnoException) =>
              ctl.resolve({
                kind: 'icmp',
                code: err.code ?? 'EIO',
                rttMs: performance.now() - sentAt,
                message: err.message,
              });
            socket.on('message', onMessage);
            socket.on('error', onError);
            return {
              send: () => {
                sentAt = performance.now();
                socket.send(payload, (err) => {
                  if (err) onError(err as NodeJS.ErrnoException);
                });
              },
              cleanup: () => {
                socket.off('message', onMessage);
                socket.off('error', onError);
              },
            };
          },
        );
        if (outcome.kind === 'reply') {
          return {
            ...base,
            state: 'open',
            rttMs: outcome.rttMs,
            replyBytes: outcome.bytes,
            tries,
            code: null,
            reason: null,
          };
        }
        return classifyIcmp(base, outcome, tries);
      } catch (err) {
        if (err instanceof TimeoutError) continue;
        throw err;
      }
    }
    return {
      ...base,
      state: 'open|filtered',
      rttMs: null,
      replyBytes: null,
      tries,
      code: 'SOKET_TIMEOUT',
      reason: `no reply within ${c.timeout} ms (${tries} ${tries === 1 ? 'try' : 'tries'})`,
    };
  } catch (err) {
    if (signal?.aborted) throw abortError(signal, `UDP probe of ${where}`);
    const e = err instanceof SoketError ? err : toSoketError(err, `UDP probe of ${where}`);
    return { ...base, state: 'error', rttMs: null, replyBytes: null, tries, code: e.code, reason: e.message };
  } finally {
    try {
      socket.close();
    } catch {
      // already closed
    }
  }
}

function classifyIcmp(
  base: Pick<UdpProbeResult, 'port' | 'address' | 'service' | 'payloadBytes'>,
  o: { code: string; rttMs: number; message: string },
  tries: number,
): UdpProbeResult {
  const r = { ...base, rttMs: o.rttMs, replyBytes: null, tries, code: o.code };
  if (o.code === 'ECONNREFUSED') return { ...r, state: 'closed', reason: 'ICMP port unreachable' };
  if (['EHOSTUNREACH', 'ENETUNREACH', 'EACCES', 'EPERM', 'ENOPROTOOPT'].includes(o.code)) {
    return { ...r, state: 'filtered', reason: `ICMP error: ${new NetworkError(o.message, o.code).message}` };
  }
  return { ...r, rttMs: null, state: 'error', reason: o.message };
}

/**
 * Probe UDP ports of one host, yielding each result as it completes.
 *
 * @param host - a host name or IP address (resolved once)
 * @param ports - ports to probe (see `parsePortList`)
 * @param options - see {@link UdpProbeOptions}
 * @returns results as they complete
 * @throws {ValidationError} for a bad host, port or option
 * @throws {NetworkError} when the host name cannot be resolved
 * @throws {AbortError} when the signal fires
 * @example
 * ```ts
 * import { probeUdpPorts } from 'soket';
 * for await (const r of probeUdpPorts('127.0.0.1', [53, 123, 9999], { timeout: 500 })) {
 *   console.log(r.port, r.service ?? '-', r.state);
 * }
 * ```
 */
export async function* probeUdpPorts(
  host: string,
  ports: readonly number[],
  options: UdpProbeOptions = {},
): AsyncGenerator<UdpProbeResult, void, undefined> {
  const target = parseHost(host);
  const c = checkOptions(options);
  if (!Array.isArray(ports) || ports.length === 0) throw new ValidationError('No ports to probe');
  if (ports.length > MAX_PROBE_PORTS) throw new ValidationError(`Too many ports: at most ${MAX_PROBE_PORTS}`);
  const list = ports.map((p) => parsePort(p));
  const signal = options.signal;
  const address = await resolveTarget(target, c, signal);
  const srcFamily = c.source?.address !== undefined ? net.isIP(c.source.address.split('%')[0] ?? '') : 0;
  const dstFamily = net.isIP(address.split('%')[0] ?? '');
  if (srcFamily !== 0 && srcFamily !== dstFamily) {
    throw new ValidationError(
      `The source ${c.source?.address} is IPv${srcFamily} but ${address} is IPv${dstFamily}`,
    );
  }
  const pacer = new Pacer(c.rate);
  yield* runBounded(
    list,
    (port) => {
      const result = probeOne(address, port, c, pacer, signal);
      return { result, settled: result };
    },
    {
      concurrency: c.concurrency,
      signal,
      map: (task) => {
        if (task.ok) return task.value;
        throw task.error;
      },
    },
  );
}

/**
 * Probe UDP ports of one host and return every result sorted by port.
 *
 * @param host - a host name or IP address
 * @param ports - ports to probe
 * @param options - see {@link UdpProbeOptions}
 * @returns one result per port
 * @example
 * ```ts
 * import { probeUdp } from 'soket';
 * const results = await probeUdp('127.0.0.1', [53, 123], { timeout: 300 });
 * console.log(results.map((r) => `${r.port}/udp ${r.state}`));
 * ```
 */
export async function probeUdp(
  host: string,
  ports: readonly number[],
  options: UdpProbeOptions = {},
): Promise<UdpProbeResult[]> {
  const out: UdpProbeResult[] = [];
  for await (const r of probeUdpPorts(host, ports, options)) out.push(r);
  return out.sort((a, b) => a.port - b.port);
}
