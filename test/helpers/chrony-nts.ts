/**
 * chronyd with NTS and symmetric keys on loopback (recipes in ../shared/PEERS.md), for interop tests and
 * benchmarks: an NTS server (`ntsserverkey`/`ntsservercert` with a test certificate for IP 127.0.0.1, NTS-KE on
 * a free TCP port, NTP on a free UDP port, a `keyfile`), and one-shot strict clients (`chronyd -Q`) that use NTS
 * or a symmetric key against another server. Every instance has its own temporary directory, runs as root
 * (`-u root`: otherwise chronyd drops to _chrony and cannot read the key files), never touches the clock (`-x`
 * for servers, `-Q` for clients) and is stopped by the caller.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientRequest, rawNtpExchange } from './chrony.js';
import { freeTcpPort, freeUdpPort, waitListeningPassive } from './ports.js';

function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `soket-chrony-nts-${tag}-`));
  chmodSync(dir, 0o700);
  return dir;
}

/** A test certificate for IP 127.0.0.1 (and DNS nts.test) made with openssl: key, cert, and their paths. */
export interface TestCertificate {
  dir: string;
  keyFile: string;
  certFile: string;
  key: string;
  cert: string;
  remove(): void;
}

/** `openssl req -x509` an ECDSA P-256 certificate chrony's NTS client accepts for 127.0.0.1. */
export function makeTestCertificate(cn = 'nts.test'): TestCertificate {
  const dir = tempDir('cert');
  const keyFile = join(dir, 'k.pem');
  const certFile = join(dir, 'c.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '30',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=DNS:${cn},IP:127.0.0.1`,
    ],
    { stdio: 'ignore' },
  );
  return {
    dir,
    keyFile,
    certFile,
    key: readFileSync(keyFile, 'utf8'),
    cert: readFileSync(certFile, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A running chronyd NTS (and symmetric-key) server. */
export interface ChronyNtsServer {
  /** NTP (UDP) port. */
  ntpPort: number;
  /** NTS-KE (TCP) port. */
  ntsPort: number;
  /** The certificate it serves (trust it with `ca`). */
  certificate: TestCertificate;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Options of {@link startChronyNtsServer}. */
export interface ChronyNtsServerOptions {
  /** Keyfile contents (chrony format), for symmetric-key clients. */
  keys?: string;
  /** Extra chrony.conf lines. */
  extra?: string[];
  /** Stratum of its local clock. @default 7 */
  stratum?: number;
}

/** Start `chronyd -x -d -u root` as an NTS server and wait until NTP answers and NTS-KE listens. */
export async function startChronyNtsServer(
  chronyd: string,
  options: ChronyNtsServerOptions = {},
): Promise<ChronyNtsServer> {
  const dir = tempDir('server');
  const certificate = makeTestCertificate();
  const ntpPort = await freeUdpPort();
  const ntsPort = await freeTcpPort();
  const keyfile = join(dir, 'keys');
  writeFileSync(keyfile, options.keys ?? '', { mode: 0o600 });
  const conf = join(dir, 'chrony.conf');
  writeFileSync(
    conf,
    [
      `port ${ntpPort}`,
      'bindaddress 127.0.0.1',
      'allow 127.0.0.1',
      `local stratum ${options.stratum ?? 7}`,
      'cmdport 0',
      'bindcmdaddress /',
      `ntsport ${ntsPort}`,
      `ntsserverkey ${certificate.keyFile}`,
      `ntsservercert ${certificate.certFile}`,
      `ntsdumpdir ${dir}`,
      `keyfile ${keyfile}`,
      `pidfile ${join(dir, 'chronyd.pid')}`,
      ...(options.extra ?? []),
      '',
    ].join('\n'),
  );
  const child = spawn(chronyd, ['-f', conf, '-x', '-d', '-u', 'root'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    certificate.remove();
  };
  try {
    let up = false;
    for (let i = 0; i < 300 && child.exitCode === null; i++) {
      if (await rawNtpExchange(ntpPort, clientRequest(), 100)) {
        up = true;
        break;
      }
    }
    if (!up) throw new Error('no NTP answer');
    await waitListeningPassive(ntsPort, 30_000);
  } catch (err) {
    await stop();
    throw new Error(
      `chronyd NTS server did not start on 127.0.0.1:${ntpPort}/${ntsPort}: ${String(err)}: ${log}`,
    );
  }
  return { ntpPort, ntsPort, certificate, process: child, log: () => log, stop };
}

/** What `chronyd -Q` said. */
export interface ChronyQueryResult {
  code: number | null;
  output: string;
  /** From `System clock wrong by X seconds`, when chrony accepted the server. */
  offset: number | undefined;
}

/** Options of {@link runChronyAuthClient}. */
export interface ChronyAuthClientOptions {
  /** The NTP port of the server. */
  ntpPort: number;
  /** NTS: the NTS-KE port and the certificate (PEM text) to trust. */
  nts?: { ntsPort: number; cert: string };
  /** A symmetric key: its ID and the keyfile contents. */
  key?: { id: number; keys: string };
  /** chronyd's -t limit in seconds. @default 20 */
  timeoutS?: number;
}

/**
 * `chronyd -Q -u root` against 127.0.0.1 with NTS or a symmetric key. chrony prints `System clock wrong by`
 * only when it accepted authenticated replies.
 */
export async function runChronyAuthClient(
  chronyd: string,
  options: ChronyAuthClientOptions,
): Promise<ChronyQueryResult> {
  const dir = tempDir('client');
  const timeoutS = options.timeoutS ?? 20;
  const lines = [`pidfile ${join(dir, 'chronyd.pid')}`, 'cmdport 0', 'bindcmdaddress /'];
  if (options.nts) {
    const certFile = join(dir, 'trusted.pem');
    writeFileSync(certFile, options.nts.cert);
    lines.push(
      `server 127.0.0.1 port ${options.ntpPort} nts ntsport ${options.nts.ntsPort} iburst`,
      `ntstrustedcerts ${certFile}`,
      `ntsdumpdir ${dir}`,
    );
  } else if (options.key) {
    const keyfile = join(dir, 'keys');
    writeFileSync(keyfile, options.key.keys, { mode: 0o600 });
    lines.push(`server 127.0.0.1 port ${options.ntpPort} key ${options.key.id} iburst`, `keyfile ${keyfile}`);
  } else {
    lines.push(`server 127.0.0.1 port ${options.ntpPort} iburst`);
  }
  const conf = join(dir, 'chrony.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const child = spawn(chronyd, ['-Q', '-u', 'root', '-f', conf, '-t', String(timeoutS)], {
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
