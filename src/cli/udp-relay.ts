/**
 * The `udp:` branch of `soket relay`: `soket relay udp:LISTEN udp:TARGET` forwards datagrams, each client
 * through its own upstream socket (see `net/udp-relay.ts`). `commands/relay.ts` dispatches here when both
 * addresses are `udp:` (`udp4:`, `udp6:`).
 *
 * Events (stderr as text, NDJSON with `--json`): `listening`, `client` (a new client and the upstream port the
 * target sees), `expire` (a client left the table: idle, evicted or shutdown, with datagrams and bytes each
 * way and ICMP refusals), `deny`, `hex` (with `--hex`), `stopped` (the final counters).
 *
 * @module
 */
import { ValidationError } from '../core/errors.js';
import { EventQueue } from '../core/event-queue.js';
import { formatHostPort, parseDuration, parseHostPort, parseInteger } from '../core/validate.js';
import {
  UDP_RELAY_DEFAULTS,
  UdpRelay,
  type UdpRelayClientInfo,
  type UdpRelayClientSummary,
  type UdpRelayOptions,
  type UdpRelayStats,
} from '../net/udp-relay.js';
import { EXIT, type Rendered, stream } from './command.js';
import { formatBytes, formatMs } from './format.js';
import type { Io } from './io.js';
import { type AccessFlags, accessFromFlags, type HexFlags, hexFromFlags } from './stream-flags.js';

/** The relay flags this branch reads (the others are refused for `udp:`). */
export interface UdpRelayFlags extends AccessFlags, HexFlags, Record<string, unknown> {
  maxConns?: string;
  idleTimeout?: string;
  quiet?: boolean;
}

/** Flags of `soket relay` that have no meaning for datagrams. */
const STREAM_ONLY: ReadonlyArray<[string, string]> = [
  ['connectTimeout', '--connect-timeout'],
  ['closeTimeout', '--close-timeout'],
  ['sendProxy', '--send-proxy'],
  ['acceptProxy', '--accept-proxy'],
  ['unixPerm', '--unix-perm'],
  ['backlog', '--backlog'],
  ['tls', '--tls'],
  ['cert', '--cert'],
  ['key', '--key'],
  ['clientCa', '--client-ca'],
  ['alpn', '--alpn'],
  ['handshakeTimeout', '--handshake-timeout'],
  ['ca', '--ca'],
  ['insecure', '--insecure'],
  ['servername', '--servername'],
  ['pin', '--pin'],
  ['targetCert', '--target-cert'],
  ['targetKey', '--target-key'],
];

/** The events of `soket relay udp:… udp:…`. */
export type UdpRelayEvent =
  | { event: 'listening'; listen: string; target: string; idleTimeout: number; maxClients: number }
  | ({ event: 'client' } & UdpRelayClientInfo)
  | ({ event: 'expire' } & UdpRelayClientSummary)
  | { event: 'deny'; peer: string; rule: string }
  | { event: 'hex'; id: number; direction: 'up' | 'down'; lines: string[] }
  | ({ event: 'stopped' } & UdpRelayStats);

/**
 * Parse a `udp:` address: `udp:PORT`, `udp:HOST:PORT`, `udp:[v6]:PORT`; `udp4:`/`udp6:` also fix the family.
 *
 * @param text - the address
 * @param listen - a listening address (port 0 and a bare port allowed)
 * @returns host and port
 * @throws {ValidationError} for anything else
 * @example
 * ```ts
 * parseUdpAddress('udp:5353', true); // { host: '127.0.0.1', port: 5353 }
 * ```
 */
export function parseUdpAddress(text: string, listen: boolean): { host: string; port: number } {
  const what = listen ? 'listen address' : 'target';
  const m = /^(udp[46]?):(.*)$/i.exec(text.trim());
  if (!m) throw new ValidationError(`Invalid ${what} '${text}': expected udp:HOST:PORT`);
  const scheme = (m[1] as string).toLowerCase();
  const rest = m[2] as string;
  const hp = listen
    ? parseHostPort(rest, { defaultHost: scheme === 'udp6' ? '::1' : '127.0.0.1', allowZero: true })
    : parseHostPort(rest);
  const v6 = hp.host.includes(':');
  if ((scheme === 'udp4' && v6) || (scheme === 'udp6' && !v6 && /^\d+(\.\d+){3}$/.test(hp.host))) {
    throw new ValidationError(
      `Invalid ${what} '${text}': ${hp.host} is not an IPv${scheme === 'udp4' ? 4 : 6} address`,
    );
  }
  return hp;
}

function summaryLine(e: UdpRelayClientSummary): string {
  const why = e.detail ? `${e.reason} (${e.detail})` : e.reason;
  return `#${e.id} ${e.peer} ended: ${why}; up ${e.datagramsUp} datagram${e.datagramsUp === 1 ? '' : 's'} (${formatBytes(e.bytesUp)}), down ${e.datagramsDown} (${formatBytes(e.bytesDown)})${e.refused ? `, ${e.refused} refused by the target (ICMP port unreachable)` : ''}, ${formatMs(e.durationMs)}`;
}

function stoppedLine(s: UdpRelayStats): string {
  return `${s.clientsTotal} client${s.clientsTotal === 1 ? '' : 's'} (peak ${s.peak}), ${s.expired} expired, ${s.evicted} evicted, ${s.denied} datagram${s.denied === 1 ? '' : 's'} denied; up ${s.datagramsUp} datagram${s.datagramsUp === 1 ? '' : 's'} (${formatBytes(s.bytesUp)}), down ${s.datagramsDown} (${formatBytes(s.bytesDown)}); ${s.refused} refused by the target, ${s.sendErrors} send error${s.sendErrors === 1 ? '' : 's'}${s.dropped ? `, ${s.dropped} dropped while a client's socket was set up` : ''}`;
}

function renderer(quiet: boolean) {
  return (e: UdpRelayEvent): Rendered => {
    switch (e.event) {
      case 'listening':
        return {
          err: `Relaying ${e.listen} → ${e.target} (a socket per client; idle clients expire after ${formatMs(e.idleTimeout)}, at most ${e.maxClients}); Ctrl-C stops`,
        };
      case 'client':
        return quiet ? undefined : { err: `#${e.id} ${e.peer} → ${e.target} via ${e.via}` };
      case 'expire':
        return { err: summaryLine(e) };
      case 'deny':
        return quiet ? undefined : { err: `${e.peer} denied (${e.rule}): its datagrams are dropped` };
      case 'hex':
        return { err: e.lines.join('\n') };
      case 'stopped':
        return { err: `Stopped: ${stoppedLine(e)}` };
    }
  };
}

/**
 * Run `soket relay udp:LISTEN udp:TARGET`.
 *
 * @param io - the process view
 * @param listenText - `udp:…` to listen on
 * @param targetText - `udp:…` to forward to
 * @param flags - the relay's flags
 * @returns a stream of {@link UdpRelayEvent}s
 */
export async function udpRelayCommand(io: Io, listenText: string, targetText: string, flags: UdpRelayFlags) {
  for (const [key, flag] of STREAM_ONLY) {
    if (flags[key] !== undefined) throw new ValidationError(`Option ${flag} does not apply to a udp: relay`);
  }
  const listen = parseUdpAddress(listenText, true);
  const target = parseUdpAddress(targetText, false);
  const options: UdpRelayOptions = { listen, target, signal: io.signal };
  if (/^udp4:/i.test(targetText)) options.targetFamily = 4;
  if (/^udp6:/i.test(targetText)) options.targetFamily = 6;
  if (flags.maxConns !== undefined) {
    options.maxClients = parseInteger(flags.maxConns, '--max-conns', { min: 1, max: 1_000_000 });
  }
  if (flags.idleTimeout !== undefined) {
    options.idleTimeout = parseDuration(flags.idleTimeout, '--idle-timeout', { allowZero: false });
  }
  const access = accessFromFlags(flags);
  if (access) options.access = access;
  const queue = new EventQueue<UdpRelayEvent>({ limit: 4096 });
  const hex = hexFromFlags(flags);
  if (hex) {
    options.onData = (client, direction, data) => {
      const lines = hex.dumper(client.id).lines(direction === 'up' ? 'in' : 'out', data);
      if (hex.file) hex.file(lines);
      else queue.push({ event: 'hex', id: client.id, direction, lines });
    };
  }
  const relay = new UdpRelay(options);
  const address = await relay.listen();
  queue.push({
    event: 'listening',
    listen: `udp:${formatHostPort(address.address, address.port)}`,
    target: `udp:${relay.target}`,
    idleTimeout: options.idleTimeout ?? UDP_RELAY_DEFAULTS.idleTimeout,
    maxClients: options.maxClients ?? UDP_RELAY_DEFAULTS.maxClients,
  });
  // Per-client events are offered: a flood of new sources must not grow memory when stderr is slow.
  relay.on('client', (c) => queue.offer({ event: 'client', ...c }));
  relay.on('expire', (s) => {
    hex?.forget(s.id);
    queue.offer({ event: 'expire', ...s });
  });
  relay.on('deny', (d) => queue.offer({ event: 'deny', ...d }));
  void relay.finished.then((stats) => {
    hex?.close();
    queue.push({ event: 'stopped', ...stats });
    queue.end();
  });
  return stream(queue, renderer(Boolean(flags.quiet)), { exitCode: () => EXIT.ok });
}
