/**
 * TLS echo: soket's `tcp listen --tls --mode echo` (the real CLI) against a minimal Node `tls.createServer`
 * whose sockets are piped to themselves, request/response (64 B × 50 connections) and one connection
 * streaming. echoload speaks plain TCP, so it drives both servers through the same minimal Node TLS
 * originator (`net` server piping each connection into `tls.connect`): the client side costs the same for
 * both, every byte is still checked end to end, and the originator's share of the CPU dilutes the ratio
 * towards 1 (the server CPU per message shows the difference undiluted). Target: ≥ 1.0×.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSelfSignedCertificate } from '../src/net/tls-cert.js';
import { freeTcpPort, waitListening } from '../test/helpers/ports.js';
import { clientName, cpuMicros, load, pause } from './echo-servers.js';
import { loadNote, mdTable, median, ratio, type Scenario, SOKET_BIN, stopChild } from './lib.js';

const ROUNDS = 3;
const SECONDS = 4;
type Kind = 'soket' | 'node';

const NODE_TLS_ECHO = `
const tls = require('node:tls'); const fs = require('node:fs');
const [port, cert, key] = process.argv.slice(1);
const s = tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), allowHalfOpen: true }, (c) => { c.on('error', () => {}); c.pipe(c); });
s.listen({ host: '127.0.0.1', port: Number(port), backlog: 4096 });
`;
const ORIGINATOR = `
const net = require('node:net'); const tls = require('node:tls');
const [port, target] = process.argv.slice(1).map(Number);
net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
  const u = tls.connect({ port: target, host: '127.0.0.1', rejectUnauthorized: false, allowHalfOpen: true });
  u.setNoDelay(true);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
  c.pipe(u); u.pipe(c);
}).listen({ host: '127.0.0.1', port, backlog: 4096 });
`;

function spawnNode(args: string[], stderr: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  const c = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', stderr] });
  c.stderr?.resume();
  return c;
}

const scenario: Scenario = {
  name: 'tls',
  title: 'TLS echo: 64-byte messages × 50 connections and one connection streaming',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'soket-tls-bench-'));
    const cert = await createSelfSignedCertificate({ hosts: ['127.0.0.1'] });
    writeFileSync(join(dir, 'c.pem'), cert.cert);
    writeFileSync(join(dir, 'k.pem'), cert.key);
    const kinds: Kind[] = ['soket', 'node'];
    const rr = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    const st = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    const cpu = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    const ok = new Map<Kind, boolean>(kinds.map((k) => [k, true]));
    try {
      for (let round = 0; round < ROUNDS; round++) {
        for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
          const port = await freeTcpPort();
          const server =
            kind === 'soket'
              ? spawnNode(
                  [
                    SOKET_BIN,
                    'tcp',
                    'listen',
                    `127.0.0.1:${port}`,
                    '--tls',
                    '--cert',
                    join(dir, 'c.pem'),
                    '--key',
                    join(dir, 'k.pem'),
                    '--backlog',
                    '4096',
                    '-q',
                  ],
                  'pipe',
                )
              : spawnNode(['-e', NODE_TLS_ECHO, String(port), join(dir, 'c.pem'), join(dir, 'k.pem')]);
          await waitListening(port);
          const oport = await freeTcpPort();
          const originator = spawnNode(['-e', ORIGINATOR, String(oport), String(port)]);
          await waitListening(oport);
          try {
            await load('tcp-rr', oport, ['-c', '50', '-s', '64', '-d', '1']);
            const c0 = cpuMicros(server.pid ?? 0);
            const r = await load('tcp-rr', oport, ['-c', '50', '-s', '64', '-d', String(SECONDS)]);
            await pause(200);
            const msgs = Number(r.msgs ?? 0);
            cpu.get(kind)?.push(msgs ? (cpuMicros(server.pid ?? 0) - c0) / msgs : 0);
            rr.get(kind)?.push(Number(r.msgs_per_s ?? 0));
            if (r.failed || r.errors !== '0' || r.mismatches !== '0') ok.set(kind, false);
            const s = await load('tcp-stream', oport, ['-c', '1', '-d', String(SECONDS)]);
            st.get(kind)?.push(Number(s.mb_per_s ?? 0));
            if (s.mismatches !== '0' || (s.errors ?? '0') !== '0') ok.set(kind, false);
          } finally {
            await stopChild(originator);
            await stopChild(server);
          }
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const m = (map: Map<Kind, number[]>, k: Kind) => median(map.get(k) ?? []);
    const rows = kinds.map((k) => [
      k === 'soket' ? 'soket tcp listen --tls (echo)' : 'Node tls.createServer + pipe',
      Math.round(m(rr, k)).toLocaleString('en-US'),
      m(cpu, k).toFixed(2),
      m(st, k).toFixed(0),
      ok.get(k) ? 'yes' : 'NO',
    ]);
    return [
      `Client: ${clientName()} through one minimal Node TLS originator (net → tls.connect pipe) shared by both servers. ${ROUNDS} interleaved rounds of ${SECONDS} s; medians; TLS 1.3, ECDSA P-256. ${loadNote()}`,
      '',
      mdTable(['server', 'req/resp msgs/s', 'server CPU µs/msg', 'stream MB/s', 'every byte right'], rows),
      '',
      `Result: request/response **${ratio(m(rr, 'soket'), m(rr, 'node'))}** of Node's TLS pipe, stream **${ratio(m(st, 'soket'), m(st, 'node'))}** (target ≥ 1.0× both); server CPU per message ${m(cpu, 'soket').toFixed(2)} µs vs ${m(cpu, 'node').toFixed(2)} µs.`,
    ].join('\n');
  },
};
export default scenario;
