/**
 * One TCP connection streaming through an echo server: MB/s echoed (every byte checked by the client).
 * soket's server against Node's `socket.pipe(socket)`, Python thread-per-client and socat. Target: ≥ 0.9× Node.
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
  name: 'tcp-stream',
  title: 'TCP echo: one connection streaming',
  async run() {
    const kinds = KINDS.filter(available);
    const rates = new Map<ServerKind, number[]>(kinds.map((k) => [k, []]));
    const cpuPerMb = new Map<ServerKind, number[]>(kinds.map((k) => [k, []]));
    const ok = new Map<ServerKind, boolean>(kinds.map((k) => [k, true]));
    const labels = new Map<ServerKind, string>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
        const server = await startServer(kind, 'tcp');
        labels.set(kind, server.label);
        try {
          const c0 = cpuMicros(server.pid);
          const r = await load('tcp-stream', server.port, ['-c', '1', '-d', String(SECONDS)]);
          await pause(300);
          const cpu = cpuMicros(server.pid) - c0;
          const mbps = Number(r.mb_per_s ?? 0);
          rates.get(kind)?.push(mbps);
          cpuPerMb.get(kind)?.push(mbps ? cpu / (mbps * SECONDS) : 0);
          // echoload counts the connection it closes at the end as live; only wrong bytes or errors fail.
          if (r.mismatches !== '0' || (r.errors ?? '0') !== '0') ok.set(kind, false);
        } finally {
          await server.stop();
        }
      }
    }
    const base = median(rates.get('node') ?? []);
    const rows = kinds.map((k) => [
      labels.get(k) ?? k,
      median(rates.get(k) ?? []).toFixed(0),
      ratio(median(rates.get(k) ?? []), base),
      median(cpuPerMb.get(k) ?? []).toFixed(0),
      ok.get(k) ? 'yes' : 'NO',
    ]);
    const soket = median(rates.get('soket') ?? []);
    return [
      `Client: ${clientName()}. ${ROUNDS} interleaved rounds of ${SECONDS} s per server; medians. MB/s counts the bytes echoed back.`,
      '',
      mdTable(['server', 'MB/s', 'vs Node', 'server CPU µs/MB', 'every byte right'], rows),
      '',
      `Result: soket streams **${ratio(soket, base)}** of Node's raw echo (target ≥ 0.9×).`,
    ].join('\n');
  },
};
export default scenario;
