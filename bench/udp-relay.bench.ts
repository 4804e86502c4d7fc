/**
 * UDP relay: echoload udp-rr (64-byte datagrams, 32 in flight, each from its own socket, so the relay holds
 * 32 clients) through a relay to the Python recvfrom/sendto echo loop (the fastest reference UDP echo here),
 * for `soket relay udp:… udp:…` (the real CLI), socat in the form the issue names (`UDP4-RECVFROM:…,fork
 * UDP4-SENDTO:…`: a process per datagram) and in its fastest working form (`UDP4-LISTEN:…,fork UDP4:…`: a
 * process per client), and a minimal Node dgram relay (a Map of per-client upstream sockets: the floor).
 * Same client, same target, same run, interleaved rounds. Targets: soket ≥ 2× socat, ≥ 1.0× the Node floor,
 * 0 lost.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freeUdpPort } from '../test/helpers/ports.js';
import { clientName, cpuMicros, load, pause } from './echo-servers.js';
import { have, loadNote, mdTable, median, ratio, type Scenario, SOKET_BIN, stopChild } from './lib.js';

const ROUNDS = 3;
const SECONDS = 4;
const PY_UDP_FILE = fileURLToPath(new URL('../test/fixtures/py_udp_echo_server.py', import.meta.url));

type RelayKind = 'soket' | 'node' | 'socat' | 'socat-recvfrom';
const LABELS: Record<RelayKind, string> = {
  soket: '`soket relay udp:… udp:…`',
  node: 'minimal Node dgram relay (floor)',
  socat: 'socat `UDP4-LISTEN:…,fork UDP4:…` (a process per client)',
  'socat-recvfrom': 'socat `UDP4-RECVFROM:…,fork UDP4-SENDTO:…` (a process per datagram)',
};

/** The floor: per-client upstream sockets in a Map, nothing else. */
const NODE_RELAY = `
const dgram = require('node:dgram');
const target = Number(process.argv[1]);
const s = dgram.createSocket('udp4');
const clients = new Map();
s.on('message', (m, r) => {
  const key = r.address + ':' + r.port;
  let u = clients.get(key);
  if (!u) {
    u = dgram.createSocket('udp4');
    u.on('message', (d) => s.send(d, r.port, r.address));
    clients.set(key, u);
  }
  u.send(m, target, '127.0.0.1');
});
s.bind(0, '127.0.0.1', () => console.log(s.address().port));
`;

interface Running {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

function firstMatch(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const s = child[stream];
    const onData = (b: Buffer) => {
      buf += b.toString();
      const m = re.exec(buf);
      if (m) {
        s?.off('data', onData);
        s?.resume();
        resolve(Number(m[1]));
      }
    };
    s?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before it was ready: ${buf}`)));
  });
}

async function startTarget(): Promise<Running> {
  const python = have('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const child = spawn(python, [PY_UDP_FILE], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await firstMatch(child, 'stdout', /(\d+)/);
  return { pid: child.pid ?? 0, port, stop: () => stopChild(child) };
}

async function startRelay(kind: RelayKind, target: number): Promise<Running> {
  let child: ChildProcess;
  let port: number;
  switch (kind) {
    case 'soket':
      child = spawn(
        process.execPath,
        [SOKET_BIN, 'relay', 'udp:127.0.0.1:0', `udp:127.0.0.1:${target}`, '-q'],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      port = await firstMatch(child, 'stderr', /Relaying udp:127\.0\.0\.1:(\d+)/);
      break;
    case 'node':
      child = spawn(process.execPath, ['-e', NODE_RELAY, String(target)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      port = await firstMatch(child, 'stdout', /(\d+)/);
      break;
    case 'socat':
    case 'socat-recvfrom':
      port = await freeUdpPort();
      child = spawn(
        'socat',
        kind === 'socat'
          ? [`UDP4-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UDP4:127.0.0.1:${target}`]
          : ['-T', '1', `UDP4-RECVFROM:${port},bind=127.0.0.1,fork`, `UDP4-SENDTO:127.0.0.1:${target}`],
        { stdio: ['ignore', 'ignore', 'ignore'], detached: true },
      );
      await pause(300);
      return { pid: child.pid ?? 0, port, stop: () => stopChild(child, { group: true }) };
  }
  return { pid: child.pid ?? 0, port, stop: () => stopChild(child) };
}

const scenario: Scenario = {
  name: 'udp-relay',
  title: 'UDP relay: 64-byte datagrams, 32 clients in flight, through a relay to a UDP echo',
  async run() {
    const kinds: RelayKind[] = have('socat')
      ? ['soket', 'node', 'socat', 'socat-recvfrom']
      : ['soket', 'node'];
    const rate = new Map<RelayKind, number[]>(kinds.map((k) => [k, []]));
    const p99 = new Map<RelayKind, number[]>(kinds.map((k) => [k, []]));
    const cpu = new Map<RelayKind, number[]>(kinds.map((k) => [k, []]));
    const lost = new Map<RelayKind, number>(kinds.map((k) => [k, 0]));
    const direct: number[] = [];
    const target = await startTarget();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const d = await load('udp-rr', target.port, ['-c', '32', '-s', '64', '-d', '2']);
        direct.push(Number(d.msgs_per_s ?? 0));
        for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
          const relay = await startRelay(kind, target.port);
          try {
            await load('udp-rr', relay.port, ['-c', '32', '-s', '64', '-d', '1']); // warm-up: clients and sockets exist
            const c0 = cpuMicros(relay.pid);
            const r = await load('udp-rr', relay.port, ['-c', '32', '-s', '64', '-d', String(SECONDS)]);
            await pause(300);
            const used = cpuMicros(relay.pid) - c0;
            const msgs = Number(r.msgs ?? 0);
            rate.get(kind)?.push(Number(r.msgs_per_s ?? 0));
            p99.get(kind)?.push(Number(r.p99_us ?? 0));
            cpu.get(kind)?.push(msgs ? used / msgs : 0);
            lost.set(kind, (lost.get(kind) ?? 0) + Number(r.lost ?? 0) + Number(r.mismatches ?? 0));
          } finally {
            await relay.stop();
          }
        }
      }
    } finally {
      await target.stop();
    }
    const floor = median(rate.get('node') ?? []);
    const socat = median(rate.get('socat') ?? []);
    const socatNamed = median(rate.get('socat-recvfrom') ?? []);
    const soket = median(rate.get('soket') ?? []);
    const rows = kinds.map((k) => [
      LABELS[k],
      Math.round(median(rate.get(k) ?? [])).toLocaleString('en-US'),
      ratio(median(rate.get(k) ?? []), floor),
      Math.round(median(p99.get(k) ?? [])),
      median(cpu.get(k) ?? []).toFixed(2),
      lost.get(k) ?? 0,
    ]);
    return [
      `Client: ${clientName()}, 32 sockets each with one 64-byte datagram in flight; target: the Python recvfrom/sendto echo loop (${Math.round(median(direct)).toLocaleString('en-US')} msgs/s when asked directly). ${ROUNDS} interleaved rounds of ${SECONDS} s per relay (after a 1 s warm-up); medians. A datagram without a reply in 200 ms counts as lost (wrong replies are counted there too). Relay CPU per round trip covers both directions (socat's: its parent only, see below). ${loadNote()}`,
      '',
      mdTable(
        ['relay', 'round trips/s', 'vs Node floor', 'p99 µs', 'relay CPU µs/round trip', 'lost (all rounds)'],
        rows,
      ),
      '',
      `Result: soket **${ratio(soket, floor)}** of the Node floor (target ≥ 1.0×), ${lost.get('soket') ?? 0} lost (target 0)${socat ? `; **${ratio(soket, socatNamed)}** of socat in the form the issue names (target ≥ 2×), **${ratio(soket, socat)}** of socat's process-per-client form` : ''}.`,
      '',
      "Why socat's process-per-client form is fast: 32 forked C processes, each with a connected socket for its one client, spread the work over both cores with a blocking read/write each; soket's relay (like the Node floor) is one event loop doing a receive callback and a send per datagram in each direction. socat's CPU figure misses its children (they are still running when it is read, and /proc counts a child's time only once it has been reaped).",
    ].join('\n');
  },
};
export default scenario;
