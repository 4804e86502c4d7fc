/**
 * TCP connect probes: is a port open (the handshake completes), closed (the host answers with a reset:
 * connection refused) or filtered (nothing comes back before the timeout, or an ICMP unreachable)? The host
 * name is resolved once; ports are tried with bounded concurrency through {@link connectTcp}.
 *
 * @module
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import { runBounded } from '../core/bounded.js';
import { withTimeout } from '../core/deadline.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import {
  checkOptionsObject,
  checkSignal,
  checkString,
  describeValue,
  parseAddress,
  parseHost,
  parseInteger,
  parsePort,
} from '../core/validate.js';
import { freeDescriptors } from './fd-limit.js';
import { probeTcpPort } from './tcp-probe.js';

/** What a probe found. */
export type PortState = 'open' | 'closed' | 'filtered' | 'error';

/** The result for one port. */
export interface ProbeResult {
  /** The port probed. */
  port: number;
  /** `open`, `closed` (refused), `filtered` (timed out or unreachable) or `error` (anything else). */
  state: PortState;
  /** The address connected to. */
  address: string;
  /** Handshake time in ms for an open port, otherwise `null`. */
  connectMs: number | null;
  /**
   * The error code behind a non-open state (`ECONNREFUSED`, `SOKET_TIMEOUT`, `EHOSTUNREACH`, ...; a TCP
   * self-connect, which is `closed`, has `SOKET_SELF_CONNECT`), or `null`.
   */
  code: string | null;
  /** Human-readable detail for a non-open state, or `null`. */
  reason: string | null;
}

/** Options for {@link probePorts} and {@link probe}. */
export interface ProbeOptions {
  /**
   * Connect timeout per port in ms, counted from the moment its SYN is sent (not from when it was queued); a
   * port that does not answer in time is `filtered` (on loopback, only after a second try). @default 1000
   */
  timeout?: number;
  /** Ports probed at once; never more than the open-files limit (`ulimit -n`) leaves room for. @default 100 */
  concurrency?: number;
  /** Address family for the name lookup. @default 0 (any; the first address is used) */
  family?: 0 | 4 | 6;
  /** Timeout of the single name lookup in ms. @default 5000 */
  lookupTimeout?: number;
  /** Stops the probe. */
  signal?: AbortSignal;
  /** Bind this local address (and port) before each connect (`--source`); it must match the target's family. */
  localAddress?: string;
  /** With `localAddress`: the local port. Only one probe at a time can use a fixed port. */
  localPort?: number;
}

/** The defaults of {@link ProbeOptions}, in one place. */
export const PROBE_DEFAULTS = {
  timeout: 1000,
  concurrency: 100,
  family: 0 as 0 | 4 | 6,
  lookupTimeout: 5000,
};
const DEFAULTS = PROBE_DEFAULTS;

/** Most ports one probe accepts (every TCP port once). */
export const MAX_PROBE_PORTS = 65535;

/**
 * Parse a port list: numbers and ranges separated by commas, e.g. `22,80,8000-8100`. Duplicates are removed;
 * the order of first appearance is kept.
 *
 * @param spec - the list
 * @returns the ports
 * @throws {ValidationError} for an empty list, a bad port, or a reversed range
 * @example
 * ```ts
 * parsePortList('22,80,8000-8002'); // [22, 80, 8000, 8001, 8002]
 * ```
 */
export function parsePortList(spec: string): number[] {
  checkString(spec, 'port list');
  const parts = spec.split(',').map((p) => p.trim());
  if (spec.trim() === '' || parts.some((p) => p === '')) {
    throw new ValidationError(`Invalid port list '${spec}': expected ports and ranges like 22,80,8000-8100`);
  }
  const seen = new Set<number>();
  for (const part of parts) {
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(part);
    if (range) {
      const lo = parsePort(range[1] as string);
      const hi = parsePort(range[2] as string);
      if (lo > hi) throw new ValidationError(`Invalid port range '${part}': ${lo} is greater than ${hi}`);
      for (let p = lo; p <= hi; p++) seen.add(p);
    } else {
      seen.add(parsePort(part));
    }
  }
  return [...seen];
}

function checkOptions(options: ProbeOptions) {
  checkOptionsObject(options, 'probe options');
  checkSignal(options.signal);
  const timeout = parseInteger(options.timeout ?? DEFAULTS.timeout, 'timeout', {
    min: 1,
    max: 2_147_483_647,
  });
  const concurrency = parseInteger(options.concurrency ?? DEFAULTS.concurrency, 'concurrency', {
    min: 1,
    max: 10_000,
  });
  const lookupTimeout = parseInteger(options.lookupTimeout ?? DEFAULTS.lookupTimeout, 'lookup timeout', {
    min: 1,
    max: 2_147_483_647,
  });
  const family = options.family ?? DEFAULTS.family;
  if (family !== 0 && family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid family '${String(family)}': expected 0, 4 or 6`);
  }
  const local: { localAddress?: string; localPort?: number } = {};
  if (options.localAddress !== undefined) {
    const a = parseAddress(options.localAddress, 'local address');
    if (family !== 0 && a.family !== family) {
      throw new ValidationError(`Local address ${a.address} is IPv${a.family}, the probe is IPv${family}`);
    }
    local.localAddress = a.address;
  }
  if (options.localPort !== undefined) {
    local.localPort = parsePort(options.localPort, { what: 'local port', allowZero: true });
  }
  return { timeout, concurrency: local.localPort ? 1 : concurrency, lookupTimeout, family, local };
}

/**
 * Resolve the host once: an IP address is used as is; a name goes through the system resolver.
 */
async function resolveTarget(host: string, family: 0 | 4 | 6, timeout: number, signal?: AbortSignal) {
  if (net.isIP(host)) return host;
  const found = await withTimeout(
    () => dns.lookup(host, { family }),
    { timeout, ...(signal ? { signal } : {}) },
    { phase: 'lookup', target: `'${host}'` },
  ).catch((err: unknown) => {
    throw toSoketError(err, `Cannot resolve '${host}'`);
  });
  return found.address;
}

/**
 * Probe ports of one host, yielding each result as it completes (with `ordered: true`-like order from
 * {@link probe}). Only a handshake is made; the connection is closed at once without sending data.
 *
 * @param host - a host name or IP address
 * @param ports - ports to try (see {@link parsePortList})
 * @param options - per-port `timeout`, `concurrency`, `family`, `lookupTimeout`, `signal`
 * @returns results as they complete
 * @throws {ValidationError} for a bad host, port or option
 * @throws {NetworkError} when the host name cannot be resolved
 * @throws {AbortError} when the signal fires
 * @example
 * ```ts
 * import { probePorts } from 'soket';
 * for await (const r of probePorts('127.0.0.1', [22, 80], { timeout: 500 })) {
 *   console.log(r.port, r.state, r.connectMs);
 * }
 * ```
 */
export async function* probePorts(
  host: string,
  ports: readonly number[],
  options: ProbeOptions = {},
): AsyncGenerator<ProbeResult, void, undefined> {
  const target = parseHost(host);
  const checked = checkOptions(options);
  if (!Array.isArray(ports)) {
    throw new ValidationError(`Invalid ports '${describeValue(ports)}': expected an array of port numbers`);
  }
  if (ports.length === 0) throw new ValidationError('No ports to probe');
  if (ports.length > MAX_PROBE_PORTS) throw new ValidationError(`Too many ports: at most ${MAX_PROBE_PORTS}`);
  const list = ports.map((p) => parsePort(p));
  const address = await resolveTarget(target, checked.family, checked.lookupTimeout, options.signal);
  const signal = options.signal;
  // one descriptor per probe in flight: never more than the open-files limit leaves (`ulimit -n`)
  const room = freeDescriptors();
  const concurrency = room === undefined ? checked.concurrency : Math.min(checked.concurrency, room);
  yield* runBounded(
    list,
    (port) => {
      const result = probeOne(address, port, checked.timeout, signal, checked.local);
      return { result, settled: result };
    },
    {
      concurrency,
      signal,
      // probeOne turns every failure into a result; only an abort reaches here as an error.
      map: (task) => {
        if (task.ok) return task.value;
        throw task.error;
      },
    },
  );
}

function probeOne(
  address: string,
  port: number,
  timeout: number,
  signal?: AbortSignal,
  local?: { localAddress?: string | undefined; localPort?: number | undefined },
): Promise<ProbeResult> {
  return probeTcpPort(address, port, { timeout, signal, ...local });
}

/**
 * Probe ports of one host and return every result sorted by port.
 *
 * @param host - a host name or IP address
 * @param ports - ports to try
 * @param options - see {@link ProbeOptions}
 * @returns one result per port, by port number
 * @example
 * ```ts
 * import { probe } from 'soket';
 * const results = await probe('127.0.0.1', [22, 80, 443], { timeout: 300 });
 * console.log(results.filter((r) => r.state === 'open').map((r) => r.port));
 * ```
 */
export async function probe(
  host: string,
  ports: readonly number[],
  options: ProbeOptions = {},
): Promise<ProbeResult[]> {
  const out: ProbeResult[] = [];
  for await (const r of probePorts(host, ports, options)) out.push(r);
  return out.sort((a, b) => a.port - b.port);
}
