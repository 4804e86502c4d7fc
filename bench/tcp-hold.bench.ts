/**
 * 10,000 idle TCP connections held by an echo server: the server's resident memory. soket's server against
 * Node's `socket.pipe(socket)` (and the Python thread-per-client server, one thread per connection). socat is
 * left out: it forks a process per connection. Target: ≤ 1.1× Node's RSS.
 */
import { available, clientName, load, pause, rssKiB, type ServerKind, startServer } from './echo-servers.js';
import { mdTable, ratio, type Scenario } from './lib.js';

const CONNS = 10_000;
const HOLD_SECONDS = 3;
const KINDS: ServerKind[] = ['soket', 'node', 'python'];

const scenario: Scenario = {
  name: 'tcp-hold',
  title: 'TCP: 10,000 idle connections held — server memory',
  async run() {
    const kinds = KINDS.filter(available);
    const rows: Array<Array<string | number>> = [];
    const peak = new Map<ServerKind, number>();
    for (const kind of kinds) {
      const server = await startServer(kind, 'tcp');
      try {
        await pause(300);
        const idle = rssKiB(server.pid);
        let max = idle;
        const sampler = setInterval(() => {
          max = Math.max(max, rssKiB(server.pid));
        }, 50);
        const r = await load('tcp-hold', server.port, [
          '-c',
          String(CONNS),
          '-s',
          '64',
          '-d',
          String(HOLD_SECONDS),
        ]);
        clearInterval(sampler);
        peak.set(kind, max);
        rows.push([
          server.label,
          (idle / 1024).toFixed(1),
          (max / 1024).toFixed(1),
          (((max - idle) * 1024) / CONNS / 1024).toFixed(2),
          `${r.echo_before ?? '?'} / ${r.echo_after ?? '?'}`,
        ]);
      } finally {
        await server.stop();
      }
    }
    const base = peak.get('node') ?? 0;
    for (const [i, k] of kinds.entries()) rows[i]?.push(ratio(peak.get(k) ?? 0, base));
    return [
      `Client: ${clientName()} in tcp-hold mode: ${CONNS.toLocaleString('en-US')} connections, each echoes one 64-byte message, all held ${HOLD_SECONDS} s, each echoes again. RSS sampled every 50 ms; the peak is reported.`,
      '',
      mdTable(
        [
          'server',
          'idle RSS MiB',
          'peak RSS MiB',
          'KiB per connection',
          'echoed before / after hold',
          'peak vs Node',
        ],
        rows,
      ),
      '',
      `Result: soket's peak RSS is **${ratio(peak.get('soket') ?? 0, base)}** of Node's raw echo (target ≤ 1.1×).`,
    ].join('\n');
  },
};
export default scenario;
