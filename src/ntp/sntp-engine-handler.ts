/**
 * The SNTP server as a datagram handler for the UDP engine ({@link DatagramHandlerFactory}): each worker runs
 * its own {@link SntpResponder} (so each has its own rate limiter: the kernel's SO_REUSEPORT hash keeps a
 * client on one worker), on the engine's clock, with the kernel's timestamps:
 *
 * - T2 (receive) is the kernel's receive timestamp of the request (SO_TIMESTAMPNS), written exactly (ns → NTP
 *   fraction), not a clock read after the event loop woke up;
 * - T3 (transmit) is read just before the batch goes to sendmmsg ({@link DatagramHandlerContext.stampTransmit}).
 *
 * An authenticated reply (longer than the 48-byte header: NTS or a MAC) keeps the times the responder wrote
 * before sealing it; rewriting them would break the authenticator. A kiss-o'-death is left as it is.
 *
 * Authentication reaches the workers as plain data: NTS cookie keys as their {@link NtsCookieKeys.state} (the
 * master secret, and the manual rotations in shared memory, so `rotate()` on the main thread's keys is in force
 * in every worker at once), symmetric keys as a Map of `{ id, type, key }`. Each worker rebuilds them in its
 * responder; its `auth.*` counters are summed with the others.
 *
 * Name it with {@link sntpEngineHandler}.
 *
 * @module
 */
import { NTP_HEADER_LENGTH } from '../codec/ntp.js';
import { checkOptionsObject, parseInteger } from '../core/validate.js';
import type {
  DatagramHandlerFactory,
  DatagramHandlerInstance,
  DatagramHandlerSpec,
} from '../platform/datagram-handler.js';
import { packetTimeMs, writeNtpTime } from '../platform/realtime.js';
import { workerModuleUrl } from '../platform/udp-engine-shared.js';
import { NtsCookieKeys } from './nts-cookies.js';
import { SntpResponder, type SntpResponderOptions, type SntpServerStats } from './sntp-responder.js';
import type { SymmetricKey } from './symmetric-key.js';

/** Most warm-up requests. */
const MAX_WARM_UP = 100_000;

/** What each worker's responder is made with: the responder's options, without the clock (the engine's). */
export type SntpEngineConfig = Omit<SntpResponderOptions, 'clock'> & {
  /** Requests answered before serving to warm the reply path up (not counted). @default 200 */
  warmUp?: number;
};

/** The responder's counters, flat (`dropped.malformed`, `auth.nts`), as the engine merges them. */
export function flattenSntpStats(s: SntpServerStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(s)) {
    if (typeof value === 'number') out[key] = value;
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v === 'number') out[`${key}.${k}`] = v;
      }
    }
  }
  return out;
}

/**
 * The engine's merged handler counters back in the responder's shape.
 *
 * @param handler - `stats().handler` of the engine
 * @param sendErrors - `stats().sendErrors` of the engine
 * @example
 * ```ts
 * const e = engine.stats();
 * const stats = sntpStatsFromEngine(e.handler, e.sendErrors);
 * ```
 */
export function sntpStatsFromEngine(handler: Record<string, number>, sendErrors: number): SntpServerStats {
  const out: Record<string, unknown> = {
    received: 0,
    answered: 0,
    kod: 0,
    dropped: { malformed: 0, notClient: 0, rateLimited: 0 },
  };
  for (const [name, value] of Object.entries(handler)) {
    const dot = name.indexOf('.');
    if (dot === -1) out[name] = value;
    else {
      const group = name.slice(0, dot);
      if (out[group] === undefined) out[group] = {};
      (out[group] as Record<string, number>)[name.slice(dot + 1)] = value;
    }
  }
  out.sendErrors = sendErrors;
  return out as unknown as SntpServerStats;
}

/**
 * The factory each engine worker calls.
 *
 * @example
 * ```ts
 * await createUdpEngine({ port: 0, workers: 2 }, sntpEngineHandler({ leap: 0 }));
 * ```
 */
export const sntp: DatagramHandlerFactory<SntpEngineConfig> = (config, context): DatagramHandlerInstance => {
  const { warmUp = 200, ...options } = config ?? {};
  const real = context.clock;
  // For a plain 48-byte request the responder's own transmit time is overwritten just before the send, so it
  // need not read the clock: during such a request its clock returns the receive time. Authenticated replies
  // are sealed with the responder's transmit time inside it, so for those it reads the real clock.
  let cached = Number.NaN;
  const clock = {
    now: () => (Number.isNaN(cached) ? real.now() : cached),
    monotonic: () => real.monotonic(),
  };
  // The cookie keys count their periods on the system clock, as the NTS-KE server's do (no FFI call per
  // cookie; periods are a day by default, a second at least).
  const nts =
    options.nts === undefined || options.nts instanceof NtsCookieKeys
      ? options.nts
      : NtsCookieKeys.fromState(options.nts);
  const responder = new SntpResponder({ ...options, ...(nts ? { nts } : {}), clock });
  // Run the reply path before serving, so V8 has compiled it before a client's first request (which would
  // otherwise be answered late); these requests are neither counted nor rate-limited.
  const probe = new Uint8Array(NTP_HEADER_LENGTH);
  for (let i = 0; i < warmUp; i++) {
    probe.fill(0);
    probe[0] = 0x23;
    probe[47] = i & 0xff;
    responder.respond(probe, '127.0.0.1', 1, real.now(), false);
  }
  responder.resetStats();
  const timer = setInterval(() => responder.refresh(), 1000);
  timer.unref();
  // Without a rate limit the client's address is not needed: do not build its text.
  const limited = responder.rateInterval !== undefined;
  const flat: Record<string, number> = {};
  const dotted = new Map<string, Map<string, string>>();
  const name = (key: string, k: string): string => {
    let group = dotted.get(key);
    if (group === undefined) {
      group = new Map();
      dotted.set(key, group);
    }
    let n = group.get(k);
    if (n === undefined) {
      n = `${key}.${k}`;
      group.set(k, n);
    }
    return n;
  };
  return {
    handle(request, peer, received) {
      const rxMs = packetTimeMs(received);
      const plain = request.byteLength === NTP_HEADER_LENGTH;
      if (plain) cached = rxMs;
      let reply: Uint8Array | undefined;
      try {
        reply = responder.respond(request, limited ? peer.address : '', peer.port, rxMs);
      } finally {
        cached = Number.NaN;
      }
      // A plain answer (not a KoD, which has stratum 0; not sealed, which is longer): exact T2, late T3.
      if (reply && reply.byteLength === NTP_HEADER_LENGTH && reply[1] !== 0) {
        writeNtpTime(reply, 32, received);
        context.stampTransmit(40);
      }
      return reply;
    },
    counters: () => {
      const s = responder.stats as unknown as Record<string, unknown>;
      for (const key in s) {
        const v = s[key];
        if (typeof v === 'number') flat[key] = v;
        else if (v && typeof v === 'object') {
          const inner = v as Record<string, unknown>;
          for (const k in inner) if (typeof inner[k] === 'number') flat[name(key, k)] = inner[k] as number;
        }
      }
      return flat;
    },
    close: () => clearInterval(timer),
  };
};

/** A clock that reads 0, for checking options without timing anything. */
const STILL_CLOCK = { now: () => 0, monotonic: () => 0 };

/** NTS cookie keys as their state and symmetric keys as plain objects: what a worker thread can be given. */
function plainAuth(config: SntpEngineConfig): SntpEngineConfig {
  const { nts, keys } = config;
  if (!(nts instanceof NtsCookieKeys) && !(keys instanceof Map)) return config;
  const out: SntpEngineConfig = { ...config };
  if (nts instanceof NtsCookieKeys) out.nts = nts.state();
  if (keys instanceof Map) {
    out.keys = new Map(
      [...(keys as Map<number, SymmetricKey>)].map(([id, k]) => [id, { id: k.id, type: k.type, key: k.key }]),
    );
  }
  return out;
}

/**
 * The handler spec of the SNTP server, for {@link createUdpEngine}.
 *
 * @param config - the responder's options (stratum, reference ID, leap, rate limit, NTS cookie keys or their
 *   state, symmetric keys, ...), no clock
 * @throws {ValidationError} for options the responder refuses, or a bad `warmUp`: checked here, before any
 *   worker starts
 * @example
 * ```ts
 * const engine = await createUdpEngine({ port: 0 }, sntpEngineHandler({ leap: 0, rateLimit: false }));
 * ```
 */
export function sntpEngineHandler(config: SntpEngineConfig = {}): DatagramHandlerSpec<SntpEngineConfig> {
  const { warmUp, ...options } = checkOptionsObject(config, 'SNTP engine config');
  if (warmUp !== undefined) parseInteger(warmUp, 'warmUp', { min: 0, max: MAX_WARM_UP });
  // The responder checks the rest, as each worker's will. Here it gets a still clock and, unless the leap
  // indicator is fixed, 0: neither the clock's precision nor the kernel's state is read for a check.
  const leap = options.leap === undefined || options.leap === 'kernel' ? 0 : options.leap;
  new SntpResponder({ ...options, leap, precision: options.precision ?? 0, clock: STILL_CLOCK });
  return { module: workerModuleUrl('ntp/sntp-engine-handler'), export: 'sntp', config: plainAuth(config) };
}
