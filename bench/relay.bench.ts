/**
 * Relay: echoload → relay → a fast echo server (Node's `socket.pipe(socket)`), for soket's `relay` (the real
 * CLI), socat (`TCP-LISTEN:…,fork,reuseaddr TCP:…`, a process per connection) and a minimal Node relay
 * (`net` + `pipe` both ways: the floor). Request/response with 64-byte messages on 50 connections, and one
 * connection streaming. Targets: ≥ 1.5× socat and ≥ 1.0× the Node floor on request/response; ≥ 1.0× socat
 * on the stream. The relays run one at a time, in interleaved rounds, against the same echo server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { freeTcpPort, waitListening } from '../test/helpers/ports.js';
import { clientName, cpuMicros, load, pause, type RunningServer, startServer } from './echo-servers.js';
import { have, loadNote, mdTable, median, ratio, type Scenario, SOKET_BIN, stopChild } from './lib.js';

const ROUNDS = 3;
const SECONDS = 4;
type Kind = 'soket' | 'node' | 'socat';

const NODE_RELAY = `
const net = require('node:net');
const [port, target] = process.argv.slice(1).map(Number);
const s = net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
  const u = net.connect({ port: target, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
  c.pipe(u); u.pipe(c);
});
s.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => console.log('ready'));
`;

const LABELS: Record<Kind, string> = {
  soket: 'soket relay',
  node: 'minimal Node relay (net + pipe)',
  socat: 'socat TCP-LISTEN fork',
};

async function startRelay(
  kind: Kind,
  target: number,
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freeTcpPort();
  let child: ChildProcess;
  if (kind === 'soket') {
    child = spawn(
      process.execPath,
      [SOKET_BIN, 'relay', `127.0.0.1:${port}`, `127.0.0.1:${target}`, '--backlog', '4096', '-q'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    child.stderr?.resume();
  } else if (kind === 'node') {
    child = spawn(process.execPath, ['-e', NODE_RELAY, String(port), String(target)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  } else {
    child = spawn(
      'socat',
      [`TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,backlog=4096`, `TCP:127.0.0.1:${target}`],
      {
        stdio: 'ignore',
      },
    );
  }
  await waitListening(port);
  return {
    port,
    pid: child.pid ?? 0,
    stop: () => stopChild(child),
  };
}

const scenario: Scenario = {
  name: 'relay',
  title: 'Relay: request/response (64 B × 50 connections) and one-connection stream through a relay',
  async run() {
    const kinds: Kind[] = (['soket', 'node', 'socat'] as Kind[]).filter(
      (k) => k !== 'socat' || have('socat'),
    );
    const rr = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    const p99 = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    const st = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    const cpu = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    const ok = new Map<Kind, boolean>(kinds.map((k) => [k, true]));
    const echo: RunningServer = await startServer('node', 'tcp');
    try {
      for (let round = 0; round < ROUNDS; round++) {
        for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
          const relay = await startRelay(kind, echo.port);
          try {
            await load('tcp-rr', relay.port, ['-c', '50', '-s', '64', '-d', '1']); // warm-up
            const c0 = cpuMicros(relay.pid);
            const r = await load('tcp-rr', relay.port, ['-c', '50', '-s', '64', '-d', String(SECONDS)]);
            await pause(300);
            const msgs = Number(r.msgs ?? 0);
            cpu.get(kind)?.push(msgs ? (cpuMicros(relay.pid) - c0) / msgs : 0);
            rr.get(kind)?.push(Number(r.msgs_per_s ?? 0));
            p99.get(kind)?.push(Number(r.p99_us ?? 0));
            if (r.failed || r.errors !== '0' || r.mismatches !== '0') ok.set(kind, false);
            const s = await load('tcp-stream', relay.port, ['-c', '1', '-d', String(SECONDS)]);
            st.get(kind)?.push(Number(s.mb_per_s ?? 0));
            if (s.mismatches !== '0' || (s.errors ?? '0') !== '0') ok.set(kind, false);
          } finally {
            await relay.stop();
          }
        }
      }
    } finally {
      await echo.stop();
    }
    const m = (map: Map<Kind, number[]>, k: Kind) => median(map.get(k) ?? []);
    const rows = kinds.map((k) => [
      LABELS[k],
      Math.round(m(rr, k)).toLocaleString('en-US'),
      Math.round(m(p99, k)),
      m(cpu, k).toFixed(2),
      m(st, k).toFixed(0),
      ok.get(k) ? 'yes' : 'NO',
    ]);
    const lines = [
      `Client: ${clientName()}. Echo server behind the relays: Node \`socket.pipe(socket)\`. ${ROUNDS} interleaved rounds of ${SECONDS} s per relay and load; medians. ${loadNote()}`,
      '',
      mdTable(
        ['relay', 'req/resp msgs/s', 'p99 µs', 'relay CPU µs/msg', 'stream MB/s', 'every byte right'],
        rows,
      ),
      '',
      `Result: request/response soket **${ratio(m(rr, 'soket'), m(rr, 'node'))}** of the Node floor (target ≥ 1.0×)${kinds.includes('socat') ? `, **${ratio(m(rr, 'soket'), m(rr, 'socat'))}** of socat (target ≥ 1.5×); stream **${ratio(m(st, 'soket'), m(st, 'socat'))}** of socat (target ≥ 1.0×)` : ''}, **${ratio(m(st, 'soket'), m(st, 'node'))}** of the Node floor.`,
    ];
    return lines.join('\n');
  },
};
export default scenario;
