/**
 * TCP echo, 64-byte messages, 50 connections, request/response: soket's server (the real CLI) against Node's
 * own `socket.pipe(socket)`, a Python thread-per-client server and socat, driven by the same client in the
 * same run, in interleaved rounds. Targets: ≥ 1.0× Node's raw echo and ≥ 2× the Python server (msgs/s).
 * Server CPU time per message is reported too: when the server's CPU use is well under one core, the run was
 * client-bound and the msgs/s ratio understates the difference.
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

interface Sample {
  rate: number;
  p50: number;
  p99: number;
  cpuPerMsg: number;
  cpuShare: number;
  ok: boolean;
}

const scenario: Scenario = {
  name: 'tcp-echo',
  title: 'TCP echo: 64-byte messages × 50 connections, request/response',
  async run() {
    const kinds = KINDS.filter(available);
    const samples = new Map<ServerKind, Sample[]>(kinds.map((k) => [k, []]));
    const labels = new Map<ServerKind, string>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
        const server = await startServer(kind, 'tcp');
        labels.set(kind, server.label);
        try {
          await load('tcp-rr', server.port, ['-c', '50', '-s', '64', '-d', '1']); // warm-up
          const c0 = cpuMicros(server.pid);
          const r = await load('tcp-rr', server.port, ['-c', '50', '-s', '64', '-d', String(SECONDS)]);
          await pause(300); // let socat reap its children so their CPU time is counted
          const cpu = cpuMicros(server.pid) - c0;
          const msgs = Number(r.msgs ?? 0);
          samples.get(kind)?.push({
            rate: Number(r.msgs_per_s ?? 0),
            p50: Number(r.p50_us ?? 0),
            p99: Number(r.p99_us ?? 0),
            cpuPerMsg: msgs ? cpu / msgs : 0,
            cpuShare: cpu / (SECONDS * 1e6),
            ok: !r.failed && r.errors === '0' && r.mismatches === '0',
          });
        } finally {
          await server.stop();
        }
      }
    }
    const med = (k: ServerKind, f: (s: Sample) => number) => median((samples.get(k) ?? []).map(f));
    const base = med('node', (s) => s.rate);
    const rows = kinds.map((k) => [
      labels.get(k) ?? k,
      Math.round(med(k, (s) => s.rate)).toLocaleString('en-US'),
      ratio(
        med(k, (s) => s.rate),
        base,
      ),
      Math.round(med(k, (s) => s.p50)),
      Math.round(med(k, (s) => s.p99)),
      med(k, (s) => s.cpuPerMsg).toFixed(2),
      `${Math.round(med(k, (s) => s.cpuShare) * 100)}%`,
      (samples.get(k) ?? []).every((s) => s.ok) ? 'yes' : 'NO',
    ]);
    const soket = med('soket', (s) => s.rate);
    const python = kinds.includes('python') ? med('python', (s) => s.rate) : Number.NaN;
    return [
      `Client: ${clientName()}. ${ROUNDS} interleaved rounds of ${SECONDS} s per server (after a 1 s warm-up); medians.`,
      'Server CPU is user + system time of the server process (and its reaped children) over the run.',
      '',
      mdTable(
        [
          'server',
          'msgs/s',
          'vs Node',
          'p50 µs',
          'p99 µs',
          'server CPU µs/msg',
          'server CPU use',
          'every byte right',
        ],
        rows,
      ),
      '',
      `Result: soket **${ratio(soket, base)}** of Node's raw echo (target ≥ 1.0×)${Number.isNaN(python) ? '' : `, **${ratio(soket, python)}** of the Python thread-per-client server (target ≥ 2×)`}; server CPU per message ${med('soket', (s) => s.cpuPerMsg).toFixed(2)} µs vs ${med('node', (s) => s.cpuPerMsg).toFixed(2)} µs for Node.`,
    ].join('\n');
  },
};
export default scenario;
