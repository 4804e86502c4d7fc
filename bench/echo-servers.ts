/**
 * Shared parts of the TCP/UDP echo benchmarks: start soket's server (the real CLI) and the references (Node's
 * own `socket.pipe(socket)` and dgram echo, a Python thread-per-client server, socat) on loopback, drive them
 * with the same client (echoload, or the Node fallback bench/echo-client.mjs), and read each server's CPU time
 * and memory from /proc.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freeTcpPort, waitListening } from '../test/helpers/ports.js';
import { echoload, have, parseKeyValues, SOKET_BIN, stopChild } from './lib.js';

const run = promisify(execFile);
const FALLBACK_CLIENT = fileURLToPath(new URL('./echo-client.mjs', import.meta.url));

/** Which server. */
export type ServerKind = 'soket' | 'node' | 'python' | 'socat';

/** A running server under test. */
export interface RunningServer {
  kind: ServerKind;
  label: string;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

const NODE_TCP = `
const net = require('node:net');
const s = net.createServer((c) => { c.on('error', () => {}); c.pipe(c); });
s.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => console.log(s.address().port));
`;
const NODE_UDP = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(0, '127.0.0.1', () => console.log(s.address().port));
`;
/** The thread-per-client Python echo server, shared with the interop tests. */
const PY_TCP_FILE = fileURLToPath(new URL('../test/fixtures/py_echo_server.py', import.meta.url));
/** The Python UDP echo loop, shared with the interop tests. */
const PY_UDP_FILE = fileURLToPath(new URL('../test/fixtures/py_udp_echo_server.py', import.meta.url));

export const LABELS: Record<ServerKind, { tcp: string; udp: string }> = {
  soket: { tcp: 'soket tcp listen --mode echo', udp: 'soket udp listen --mode echo' },
  node: { tcp: 'Node `socket.pipe(socket)`', udp: 'Node dgram echo' },
  python: { tcp: 'Python thread-per-client', udp: 'Python recvfrom/sendto loop' },
  socat: { tcp: 'socat fork PIPE', udp: 'socat UDP-RECVFROM fork PIPE' },
};

/** Whether a reference server can run here. */
export function available(kind: ServerKind): boolean {
  if (kind === 'python') return have('/usr/bin/python3') || have('python3');
  if (kind === 'socat') return have('socat');
  return true;
}

function firstLine(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const s = child[stream];
    const onData = (b: Buffer) => {
      buf += b.toString();
      const m = pattern.exec(buf);
      if (m) {
        s?.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    s?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`server exited (${code}) before reporting its port: ${buf}`)),
    );
  });
}

/**
 * Start a server on 127.0.0.1 and resolve once it serves.
 *
 * @param kind - which server
 * @param proto - TCP or UDP
 */
export async function startServer(kind: ServerKind, proto: 'tcp' | 'udp'): Promise<RunningServer> {
  let child: ChildProcess;
  let port: number;
  const python = have('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  switch (kind) {
    case 'soket':
      child = spawn(
        process.execPath,
        [
          SOKET_BIN,
          proto,
          'listen',
          '127.0.0.1:0',
          '--mode',
          'echo',
          ...(proto === 'tcp' ? ['--backlog', '4096'] : []),
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      port = await firstLine(child, 'stderr', /Listening on 127\.0\.0\.1:(\d+)/);
      // Keep draining the per-connection log so the server never blocks on a full pipe.
      child.stderr?.resume();
      break;
    case 'node':
      child = spawn(process.execPath, ['-e', proto === 'tcp' ? NODE_TCP : NODE_UDP], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      port = await firstLine(child, 'stdout', /(\d+)/);
      break;
    case 'python':
      // stderr ignored: the Python server prints a traceback for every client that resets at the end of a run.
      child = spawn(python, [proto === 'tcp' ? PY_TCP_FILE : PY_UDP_FILE], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      port = await firstLine(child, 'stdout', /(\d+)/);
      break;
    case 'socat': {
      port = await freeTcpPort();
      const addr =
        proto === 'tcp'
          ? `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,backlog=4096`
          : `UDP-RECVFROM:${port},bind=127.0.0.1,fork`;
      child = spawn('socat', [addr, 'PIPE'], { stdio: ['ignore', 'ignore', 'ignore'] });
      if (proto === 'tcp') await waitListening(port);
      else await new Promise((r) => setTimeout(r, 200));
      break;
    }
  }
  const pid = child.pid ?? 0;
  return {
    kind,
    label: LABELS[kind][proto],
    pid,
    port,
    stop: () => stopChild(child),
  };
}

let clkTck: number | undefined;

/**
 * CPU time (user + system, including reaped children such as socat's forks) of a process, in µs.
 *
 * @param pid - the process
 */
export function cpuMicros(pid: number): number {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
  return (ticks * 1e6) / clkTck;
}

/** Resident memory of a process in KiB. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Which client drives the load. */
export function clientName(): string {
  return echoload()
    ? 'echoload (C, epoll; checks every byte)'
    : 'bench/echo-client.mjs (Node fallback: no C compiler)';
}

/**
 * Run the load client once: `echoload MODE 127.0.0.1 PORT ARGS...` or the Node fallback with the same
 * arguments; returns its key=value result.
 */
export async function load(mode: string, port: number, args: string[]): Promise<Record<string, string>> {
  const bin = echoload();
  const [file, argv] = bin
    ? [bin, [mode, '127.0.0.1', String(port), ...args]]
    : [process.execPath, [FALLBACK_CLIENT, mode, '127.0.0.1', String(port), ...args]];
  try {
    const { stdout } = await run(file, argv, { timeout: 180_000, maxBuffer: 1 << 20 });
    return parseKeyValues(stdout);
  } catch (err) {
    const e = err as { stdout?: string; message: string };
    const kv = parseKeyValues(e.stdout ?? '');
    kv.failed = e.message.split('\n')[0] ?? 'failed';
    return kv;
  }
}

/** Sleep. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
