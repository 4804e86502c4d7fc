/**
 * `soket udp connect HOST PORT`, like `nc -u HOST PORT`: a connected UDP socket; each stdin line is one
 * datagram (`--split` for other framings), replies are printed as they arrive, an ICMP port unreachable is
 * reported as "refused", and after stdin ends soket waits `--linger` ms for late replies.
 *
 * Events (`--json`: one object per line): `connected`, `sent`, `datagram`, `refused`, `end`.
 *
 * @module
 */
import type { Command } from 'commander';
import { HexDumper } from '../core/hexdump.js';
import { printable } from '../core/text.js';
import { exclusive, formatHostPort, parseDuration, parseHost, parsePort } from '../core/validate.js';
import { parseDatagramSplit, splitDatagrams } from '../net/datagram-split.js';
import {
  UDP_CONNECT_DEFAULTS,
  type UdpConnectEvent,
  type UdpConnectionStats,
  type UdpConnectOptions,
  type UdpEndpoint,
  udpConnect,
} from '../net/udp-connect.js';
import { EXIT, examples, type Rendered, type Runner, stream } from './command.js';
import { formatBytes, formatMs } from './format.js';
import type { Io } from './io.js';
import { addSocketOptionFlags, hasSocketOptions, socketOptionsFromFlags } from './socket-flags.js';
import { addUdpSendFlags, type UdpSendFlags, udpSendOptionsFromFlags, withoutTtl } from './udp-flags.js';

interface ConnectFlags extends UdpSendFlags, Record<string, unknown> {
  split?: string;
  binary?: boolean;
  linger?: string;
  idleTimeout?: string;
  hex?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
}

/** The events of `udp connect`. */
export type UdpConnectCliEvent =
  | { event: 'connected'; local: UdpEndpoint; remote: UdpEndpoint; connected: boolean }
  | { event: 'sent'; datagram: number; bytes: number; hex?: string[] }
  | { event: 'datagram'; from: UdpEndpoint; bytes: number; data: Buffer; connected: boolean; hex?: string[] }
  | { event: 'refused'; remote: UdpEndpoint; afterDatagrams: number; message: string }
  | { event: 'end'; reason: string; stats: UdpConnectionStats };

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Text of a datagram: without one trailing newline, control characters escaped, one line per datagram. */
function datagramText(data: Buffer): string {
  let end = data.length;
  if (end > 0 && data[end - 1] === 0x0a) end--;
  if (end > 0 && data[end - 1] === 0x0d) end--;
  return printable(data.subarray(0, end));
}

function renderer(binary: boolean) {
  return (e: UdpConnectCliEvent): Rendered => {
    switch (e.event) {
      case 'connected': {
        const to = formatHostPort(e.remote.address, e.remote.port);
        const from = formatHostPort(e.local.address, e.local.port);
        return {
          err: e.connected
            ? `Connected to ${to} from ${from} (UDP): each line of stdin is one datagram; replies are printed as they arrive`
            : `Sending to ${to} from ${from} (UDP, unconnected: a group or broadcast address; answers from anyone are shown with their address)`,
        };
      }
      case 'sent':
        return e.hex ? { err: e.hex.join('\n') } : undefined;
      case 'datagram': {
        const err = e.hex?.join('\n');
        if (binary) return { out: e.data, ...(err ? { err } : {}) };
        const prefix = e.connected ? '' : `[${formatHostPort(e.from.address, e.from.port)}] `;
        return { out: `${prefix}${datagramText(e.data)}`, ...(err ? { err } : {}) };
      }
      case 'refused':
        return { err: e.message };
      case 'end': {
        const s = e.stats;
        return {
          err: `Sent ${plural(s.datagramsOut, 'datagram')} (${formatBytes(s.bytesOut)}), received ${s.datagramsIn} (${formatBytes(s.bytesIn)})${s.refused ? `, refused ${s.refused} time${s.refused === 1 ? '' : 's'} (ICMP port unreachable)` : ''}${s.dropped ? `, ${s.dropped} dropped (stdout behind)` : ''} in ${formatMs(s.durationMs)}`,
        };
      }
    }
  };
}

function json(e: UdpConnectCliEvent): unknown {
  if (e.event === 'datagram') {
    return {
      event: 'datagram',
      from: e.from,
      bytes: e.bytes,
      text: e.data.toString('utf8'),
      base64: e.data.toString('base64'),
    };
  }
  if (e.event === 'sent') return { event: 'sent', datagram: e.datagram, bytes: e.bytes };
  return e;
}

async function connect(io: Io, hostArg: string, portArg: string, flags: ConnectFlags) {
  const host = parseHost(hostArg);
  const port = parsePort(portArg);
  exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
  const split = parseDatagramSplit(flags.split ?? 'line', '--split');
  const linger =
    flags.linger !== undefined ? parseDuration(flags.linger, '--linger') : UDP_CONNECT_DEFAULTS.linger;
  const sendOptions = udpSendOptionsFromFlags(flags, host);
  const socketOptions = socketOptionsFromFlags(withoutTtl(flags));
  if (sendOptions.ttl !== undefined) socketOptions.ttl = sendOptions.ttl;
  const { ttl: _ttl, ...groupOptions } = sendOptions;
  const options: UdpConnectOptions = {
    host,
    port,
    linger,
    family: flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0,
    signal: io.signal,
    input: splitDatagrams(io.stdin as AsyncIterable<Uint8Array>, { split }),
    ...groupOptions,
    ...(hasSocketOptions(socketOptions) ? { socketOptions } : {}),
  };
  if (flags.idleTimeout !== undefined) {
    options.idleTimeout = parseDuration(flags.idleTimeout, '--idle-timeout', { allowZero: false });
  }
  const conn = await udpConnect(options);
  const hex = flags.hex ? new HexDumper() : undefined;
  let received = 0;
  let refused = 0;
  async function* events(): AsyncGenerator<UdpConnectCliEvent> {
    for await (const e of conn as AsyncIterable<UdpConnectEvent>) {
      switch (e.event) {
        case 'connected':
          yield { event: 'connected', local: e.local, remote: e.remote, connected: conn.connected };
          break;
        case 'sent':
          yield {
            event: 'sent',
            datagram: e.datagram,
            bytes: e.bytes,
            ...(hex ? { hex: hex.lines('out', e.data) } : {}),
          };
          break;
        case 'datagram':
          received++;
          yield {
            event: 'datagram',
            from: e.from,
            bytes: e.bytes,
            data: e.data,
            connected: conn.connected,
            ...(hex ? { hex: hex.lines('in', e.data) } : {}),
          };
          break;
        case 'refused':
          refused++;
          yield { event: 'refused', remote: e.remote, afterDatagrams: e.afterDatagrams, message: e.message };
          break;
        case 'end':
          yield { event: 'end', reason: e.reason, stats: e.stats };
          break;
      }
    }
  }
  return stream(events(), renderer(Boolean(flags.binary)), {
    json,
    // Like nc -u: refused with nothing received means nothing listens there.
    exitCode: () => (refused > 0 && received === 0 ? EXIT.failed : EXIT.ok),
  });
}

/**
 * Add `udp connect` to the `udp` command.
 *
 * @param udp - the `soket udp` command
 * @param run - the action wrapper
 */
export function addUdpConnectCommand(udp: Command, run: Runner): void {
  const cmd = udp
    .command('connect')
    .description(
      'a connected UDP socket like nc -u: stdin lines out as datagrams, replies printed as they arrive',
    )
    .argument('<host>', 'host name or address (a multicast group or, with --broadcast, a broadcast address)')
    .argument('<port>', 'port')
    .option(
      '--split <how>',
      'how stdin becomes datagrams: line (each line, without its newline), none (all of stdin), or BYTES (fixed size)',
      'line',
    )
    .option('--binary', 'write replies to stdout byte for byte (no newline added, nothing escaped)')
    .option(
      '--linger <ms>',
      `after stdin ends, wait MS for late replies (default: ${UDP_CONNECT_DEFAULTS.linger})`,
    )
    .option('--idle-timeout <ms>', 'end after MS without a datagram either way')
    .option('--hex', 'dump both directions as hex on stderr (> sent, < received)')
    .option('-4, --ipv4', 'IPv4 only')
    .option('-6, --ipv6', 'IPv6 only');
  addUdpSendFlags(cmd);
  addSocketOptionFlags(cmd, 'udp')
    .addHelpText(
      'after',
      `
connect(2) on a UDP socket sends nothing: it fixes the peer, so the kernel delivers only that peer's datagrams
and reports an ICMP port unreachable as "refused" (the session carries on: a server may start later). Replies
are printed one per line, control characters escaped (--binary: unchanged). To a multicast group, or a
broadcast address with --broadcast, the socket stays unconnected and answers from every member are shown with
their address. Exit 1 when the peer refused and nothing was received.
${examples([
  'soket udp connect 127.0.0.1 9000',
  'printf "a\\nb\\n" | soket udp connect 127.0.0.1 9000 --linger 500',
  'soket udp connect ::1 9000 --source [::1]:5000 --hex',
  'soket udp connect 239.1.2.3 5000 --ttl 1 --multicast-iface eth0',
  'soket udp connect 10.0.0.255 5000 --broadcast',
])}`,
    )
    .action(
      run(async (io, host: string, port: string, flags: ConnectFlags) => connect(io, host, port, flags)),
    );
}
