/**
 * chronyd on loopback for interop tests and benchmarks (recipes in ../shared/PEERS.md): as an SNTP server
 * (`-x`: it never touches the clock) and as a one-shot strict client (`-Q`) of another server. Every instance
 * gets its own temporary directory, binds 127.0.0.1 only, and is stopped by the caller (`stop()` in `after()`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpPort } from './ports.js';

export { freeUdpPort };

function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `soket-chrony-${tag}-`));
  // chronyd drops privileges to _chrony and must still remove its pid file
  chmodSync(dir, 0o777);
  return dir;
}

/** One raw SNTP request; resolves with the reply bytes, or undefined after `timeoutMs`. */
export async function rawNtpExchange(
  port: number,
  request: Uint8Array,
  timeoutMs = 200,
): Promise<{ reply: Buffer; t1: number; t4: number } | undefined> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      let t1 = 0;
      s.on('message', (reply) => {
        const t4 = performance.timeOrigin + performance.now();
        clearTimeout(timer);
        resolve({ reply, t1, t4 });
      });
      s.on('error', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      s.connect(port, '127.0.0.1', () => {
        t1 = performance.timeOrigin + performance.now();
        s.send(request);
      });
    });
  } finally {
    s.close();
  }
}

/** A 48-byte version-4 client request with a random transmit timestamp. */
export function clientRequest(): Buffer {
  const b = Buffer.alloc(48);
  b[0] = 0x23;
  randomBytes(8).copy(b, 40);
  return b;
}

/** A running chronyd server. */
export interface ChronyServer {
  port: number;
  process: ChildProcess;
  /** chronyd's stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Options for {@link startChronyServer}. */
export interface ChronyServerOptions {
  /** Stratum of its local clock. @default 7 */
  stratum?: number;
  /** Extra chrony.conf lines (e.g. `ratelimit interval 1 burst 4`). */
  extra?: string[];
}

/**
 * Start `chronyd -x -d` serving NTP on a free loopback port with its local clock (`local stratum N`), and
 * wait until it answers.
 */
export async function startChronyServer(
  chronyd: string,
  options: ChronyServerOptions = {},
): Promise<ChronyServer> {
  const dir = tempDir('server');
  const port = await freeUdpPort();
  const conf = join(dir, 'chrony.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bindaddress 127.0.0.1',
      'allow 127.0.0.1',
      `local stratum ${options.stratum ?? 7}`,
      'cmdport 0',
      'bindcmdaddress /',
      `pidfile ${join(dir, 'chronyd.pid')}`,
      ...(options.extra ?? []),
      '',
    ].join('\n'),
  );
  const child = spawn(chronyd, ['-f', conf, '-x', '-d'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString('utf8');
  });
  // 'close', not 'exit': by then stderr has been read to the end, so `log()` is complete
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await rawNtpExchange(port, clientRequest(), 100))
      return { port, process: child, log: () => log, stop };
  }
  await stop();
  throw new Error(`chronyd did not start answering on 127.0.0.1:${port}: ${log}`);
}

/** What `chronyd -Q` said about a server. */
export interface ChronyClientResult {
  code: number | null;
  output: string;
  /** From `System clock wrong by X seconds (ignored)`, when chrony accepted the server's replies. */
  offset: number | undefined;
}

/**
 * Run `chronyd -Q` (measure once, set nothing) against 127.0.0.1:port, waiting at most `timeoutS` seconds.
 * chrony checks every reply strictly (origin timestamp, mode, leap, stratum, distances) and only prints
 * "System clock wrong by" when it accepted the server.
 */
export async function runChronyClient(
  chronyd: string,
  port: number,
  timeoutS = 20,
): Promise<ChronyClientResult> {
  const dir = tempDir('client');
  const conf = join(dir, 'chrony.conf');
  writeFileSync(
    conf,
    [
      `server 127.0.0.1 port ${port} iburst`,
      `pidfile ${join(dir, 'chronyd.pid')}`,
      'cmdport 0',
      'bindcmdaddress /',
      '',
    ].join('\n'),
  );
  const child = spawn(chronyd, ['-Q', '-f', conf, '-t', String(timeoutS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => {
    output += b.toString('utf8');
  });
  child.stderr?.on('data', (b: Buffer) => {
    output += b.toString('utf8');
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 10) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(killer);
  rmSync(dir, { recursive: true, force: true });
  const m = /System clock wrong by (-?[\d.]+) seconds/.exec(output);
  return { code, output, offset: m ? Number(m[1]) : undefined };
}
