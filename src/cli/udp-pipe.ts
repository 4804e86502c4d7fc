/**
 * `soket udp listen --mode pipe`, like `nc -u -l`: every datagram goes to stdout unchanged; each stdin line
 * (with its newline, as netcat sends it; or a `--split` piece) goes back as one datagram to the most recent
 * sender (`--lock`: only ever to the first). Raw both ways: nothing is added, removed or escaped.
 *
 * Events (`--json`: one object per line): `listening`, `peer`, `datagram`, `stopped`.
 *
 * @module
 */
import { EventQueue } from '../core/event-queue.js';
import { HexDumper } from '../core/hexdump.js';
import { formatHostPort } from '../core/validate.js';
import { type DatagramSplit, splitDatagrams } from '../net/datagram-split.js';
import { UdpPipe, type UdpPipeOptions, type UdpPipeStats } from '../net/udp-pipe.js';
import { type Rendered, stream } from './command.js';
import { formatBytes } from './format.js';
import type { Io } from './io.js';

/** The events of `udp listen --mode pipe`. */
export type UdpPipeCliEvent =
  | {
      event: 'listening';
      address: string;
      port: number;
      family: 4 | 6;
      mode: 'pipe';
      lock: boolean;
      joined?: string[];
    }
  | { event: 'peer'; peer: string; locked: boolean }
  | { event: 'datagram'; peer: string; bytes: number; data: Buffer; hex?: string[] }
  | { event: 'sent'; peer: string; bytes: number; hex?: string[] }
  | ({ event: 'stopped' } & UdpPipeStats);

function statsLine(s: UdpPipeStats): string {
  return `${s.datagramsIn} datagram${s.datagramsIn === 1 ? '' : 's'} in (${formatBytes(s.bytesIn)}), ${s.datagramsOut} out (${formatBytes(s.bytesOut)}) with ${s.peers} peer${s.peers === 1 ? '' : 's'}${s.ignored ? `, ${s.ignored} ignored (--lock)` : ''}${s.denied ? `, ${s.denied} denied` : ''}${s.unsent ? `, ${s.unsent} never sent (no peer)` : ''}${s.dropped ? `, ${s.dropped} dropped (stdout behind)` : ''}`;
}

function render(e: UdpPipeCliEvent): Rendered {
  switch (e.event) {
    case 'listening':
      return {
        err: `Listening on ${formatHostPort(e.address, e.port)} (UDP, pipe mode: datagrams to stdout unchanged, stdin lines to ${e.lock ? 'the first' : 'the most recent'} sender)${e.joined?.length ? `; joined ${e.joined.join(', ')}` : ''}; Ctrl-C stops`,
      };
    case 'peer':
      return { err: e.locked ? `Locked to ${e.peer}` : `Peer ${e.peer}` };
    case 'datagram':
      return { out: e.data, ...(e.hex ? { err: e.hex.join('\n') } : {}) };
    case 'sent':
      return e.hex ? { err: e.hex.join('\n') } : undefined;
    case 'stopped':
      return { err: `Stopped: ${statsLine(e)}` };
  }
}

function json(e: UdpPipeCliEvent): unknown {
  if (e.event === 'datagram') {
    return {
      event: 'datagram',
      peer: e.peer,
      bytes: e.bytes,
      text: e.data.toString('utf8'),
      base64: e.data.toString('base64'),
    };
  }
  if (e.event === 'sent') return { event: 'sent', peer: e.peer, bytes: e.bytes };
  return e;
}

/**
 * Run the pipe listener.
 *
 * @param io - the process view
 * @param options - the server options and `lock`
 * @param split - how stdin becomes datagrams
 * @param hexDump - dump both directions on stderr
 * @returns the stream of events
 */
export async function udpPipeCommand(
  io: Io,
  options: UdpPipeOptions,
  split: DatagramSplit,
  hexDump: boolean,
) {
  const pipe = new UdpPipe({ ...options, signal: io.signal });
  const address = await pipe.listen();
  const hex = hexDump ? new HexDumper() : undefined;
  const queue = new EventQueue<UdpPipeCliEvent>();
  // stdin → the current peer. A line typed before anyone spoke is held for the first peer.
  void (async () => {
    try {
      for await (const d of splitDatagrams(io.stdin as AsyncIterable<Uint8Array>, {
        split,
        keepNewline: true,
      })) {
        if (!pipe.server.listening) return;
        const now = pipe.send(d);
        if (hex && now && pipe.peer) {
          queue.push({ event: 'sent', peer: pipe.peer.peer, bytes: d.length, hex: hex.lines('out', d) });
        }
      }
    } catch {
      // stdin closed or a line too long for a datagram: the listener carries on receiving
    }
  })();
  void (async () => {
    for await (const e of pipe) {
      switch (e.event) {
        case 'listening':
          queue.push({
            event: 'listening',
            ...address,
            mode: 'pipe',
            lock: e.lock,
            ...(pipe.server.joined.length ? { joined: pipe.server.joined } : {}),
          });
          break;
        case 'peer':
          queue.push({ event: 'peer', peer: e.peer, locked: e.locked });
          break;
        case 'datagram':
          // When stdout falls behind, stop taking from the pipe: its own bounded queue then drops (and
          // counts) what cannot be written.
          if (
            !queue.push({
              event: 'datagram',
              peer: e.from.peer,
              bytes: e.bytes,
              data: e.data,
              ...(hex ? { hex: hex.lines('in', e.data) } : {}),
            })
          ) {
            await new Promise<void>((r) => queue.onDrain(r));
          }
          break;
        case 'end': {
          const { event: _e, ...stats } = e;
          queue.push({ event: 'stopped', ...stats });
          queue.end();
          break;
        }
      }
    }
  })();
  return stream(queue, render, { json });
}
