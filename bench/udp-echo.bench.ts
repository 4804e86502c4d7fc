/**
 * UDP echo, 64-byte datagrams, 32 in flight: soket's server (the real CLI) against Node's own dgram echo, a
 * Python recvfrom/sendto loop and socat, same client, same run, interleaved rounds. Target: ≥ 1.0× Node's dgram.
 */
import {
  available,
  clientName,
  cpuMicros,
  load,
  pause,
  type ServerKind,
  startServer,
} from './echo-servers.js';
import { mdTable, median, ratio, type Scenario } from './lib.js';

const ROUNDS = 3;
const SECONDS = 4;
const KINDS: ServerKind[] = ['soket', 'node', 'python', 'socat'];

const scenario: Scenario = {
  name: 'udp-echo',
  title: 'UDP echo: 64-byte datagrams, 32 in flight',
  async run() {
    const kinds = KINDS.filter(available);
    const rate = new Map<ServerKind, number[]>(kinds.map((k) => [k, []]));
    const p99 = new Map<ServerKind, number[]>(kinds.map((k) => [k, []]));
    const cpu = new Map<ServerKind, number[]>(kinds.map((k) => [k, []]));
    const lost = new Map<ServerKind, number>(kinds.map((k) => [k, 0]));
    const labels = new Map<ServerKind, string>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
        const server = await startServer(kind, 'udp');
        labels.set(kind, server.label);
        try {
          await load('udp-rr', server.port, ['-c', '32', '-s', '64', '-d', '1']); // warm-up
          const c0 = cpuMicros(server.pid);
          const r = await load('udp-rr', server.port, ['-c', '32', '-s', '64', '-d', String(SECONDS)]);
          await pause(300);
          const used = cpuMicros(server.pid) - c0;
          const msgs = Number(r.msgs ?? 0);
          rate.get(kind)?.push(Number(r.msgs_per_s ?? 0));
          p99.get(kind)?.push(Number(r.p99_us ?? 0));
          cpu.get(kind)?.push(msgs ? used / msgs : 0);
          lost.set(kind, (lost.get(kind) ?? 0) + Number(r.lost ?? 0));
        } finally {
          await server.stop();
        }
      }
    }
    const base = median(rate.get('node') ?? []);
    const rows = kinds.map((k) => [
      labels.get(k) ?? k,
      Math.round(median(rate.get(k) ?? [])).toLocaleString('en-US'),
      ratio(median(rate.get(k) ?? []), base),
      Math.round(median(p99.get(k) ?? [])),
      median(cpu.get(k) ?? []).toFixed(2),
      lost.get(k) ?? 0,
    ]);
    const soket = median(rate.get('soket') ?? []);
    return [
      `Client: ${clientName()}. ${ROUNDS} interleaved rounds of ${SECONDS} s per server (after a 1 s warm-up); medians. A datagram without a reply in 200 ms counts as lost.`,
      '',
      mdTable(['server', 'msgs/s', 'vs Node', 'p99 µs', 'server CPU µs/msg', 'lost (all rounds)'], rows),
      '',
      `Result: soket **${ratio(soket, base)}** of Node's dgram echo (target ≥ 1.0×); server CPU per datagram ${median(cpu.get('soket') ?? []).toFixed(2)} µs vs ${median(cpu.get('node') ?? []).toFixed(2)} µs for Node.`,
    ].join('\n');
  },
};
export default scenario;
