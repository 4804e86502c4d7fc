/**
 * unbound (Debian package, built with nghttp2) as a recursive resolver speaking UDP/TCP, DNS over TLS and DNS
 * over HTTPS (HTTP/2) on free loopback ports, for tests. It resolves only through stub zones pointing at a
 * test authoritative server on loopback — the root zone included, so nothing can leave the machine — and
 * uses a certificate made by openssl at start (a self-signed ECDSA certificate for `dns.soket.test` and
 * 127.0.0.1, which tests pass as the CA). NSID is `soket-unbound`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { findExecutable, requirePeer } from './peers.js';
import { freeTcpPort, freeTcpUdpPort } from './ports.js';

/** A running unbound. */
export interface Unbound {
  /** UDP/TCP: `127.0.0.1:PORT`. */
  server: string;
  /** DoT: `127.0.0.1:PORT`. */
  tlsServer: string;
  /** DoH: `https://127.0.0.1:PORT/dns-query`. */
  dohUrl: string;
  /** The certificate (PEM), to trust as the CA. */
  ca: string;
  /** The certificate's DNS name (also valid for 127.0.0.1). */
  servername: string;
  /** A second certificate that did not sign unbound's (for "untrusted" tests). */
  otherCa: string;
  log(): string;
  stop(): Promise<void>;
}

/** Options of {@link startUnbound}. */
export interface UnboundOptions {
  /** The authoritative server for everything (`127.0.0.1:PORT`). */
  upstream: string;
  /** Fixed ports (UDP/TCP, DoT, DoH) instead of free ones. */
  ports?: { dns: number; tls: number; https: number };
}

function makeCert(dir: string, name: string, cn: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
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
      key,
      '-out',
      cert,
      '-days',
      '30',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=DNS:${cn},IP:127.0.0.1`,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** Start unbound on free ports with DoT and DoH; resolves once it serves. */
export async function startUnbound(options: UnboundOptions): Promise<Unbound> {
  const dir = mkdtempSync(join(tmpdir(), 'soket-unbound-'));
  try {
    const servername = 'dns.soket.test';
    const { cert, key } = makeCert(dir, 'server', servername);
    const other = makeCert(dir, 'other', servername);
    const [upHost, upPort] = options.upstream.split(':') as [string, string];
    for (let attempt = 0; ; attempt++) {
      const port = options.ports?.dns ?? (await freeTcpUdpPort());
      const tlsPort = options.ports?.tls ?? (await freeTcpPort());
      const httpsPort = options.ports?.https ?? (await freeTcpPort());
      writeFileSync(
        join(dir, 'unbound.conf'),
        `server:
  interface: 127.0.0.1@${port}
  interface: 127.0.0.1@${tlsPort}
  interface: 127.0.0.1@${httpsPort}
  tls-port: ${tlsPort}
  https-port: ${httpsPort}
  tls-service-key: "${key}"
  tls-service-pem: "${cert}"
  http-endpoint: "/dns-query"
  http-notls-downstream: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${dir}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  do-ip6: no
  module-config: "iterator"
  qname-minimisation: no
  harden-referral-path: no
  target-fetch-policy: "0 0 0 0 0"
  nsid: "ascii_soket-unbound"
  num-threads: 1
  # unbound answers NXDOMAIN for the special-use test. domain (RFC 6761) unless told not to.
  local-zone: "test." nodefault
stub-zone:
  name: "."
  stub-addr: ${upHost}@${upPort}
stub-zone:
  name: "soket.test"
  stub-addr: ${upHost}@${upPort}
stub-zone:
  name: "nsec.test"
  stub-addr: ${upHost}@${upPort}
remote-control:
  control-enable: no
`,
      );
      const child = spawn('unbound', ['-d', '-c', join(dir, 'unbound.conf')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      const onData = (b: Buffer) => {
        if (log.length < 200_000) log += b.toString('utf8');
      };
      child.stdout.on('data', onData);
      const started = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 20_000);
        child.stderr.on('data', (b: Buffer) => {
          onData(b);
          if (/start of service/.test(log)) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      const stop = async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      };
      if (!started) {
        await stop();
        if (attempt < 3 && !options.ports && /address already in use|could not open ports/i.test(log))
          continue;
        throw new Error(`unbound did not start: ${log.slice(-2000)}`);
      }
      return {
        server: `127.0.0.1:${port}`,
        tlsServer: `127.0.0.1:${tlsPort}`,
        dohUrl: `https://127.0.0.1:${httpsPort}/dns-query`,
        ca: readFileSync(cert, 'utf8'),
        servername,
        otherCa: readFileSync(other.cert, 'utf8'),
        log: () => log,
        async stop() {
          await stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Skip (locally) or fail (CI) when unbound or openssl is missing; otherwise start it. */
export async function requireUnbound(t: TestContext, options: UnboundOptions): Promise<Unbound | undefined> {
  if (!requirePeer(t, 'unbound', 'apt-get install unbound')) return undefined;
  if (!requirePeer(t, 'openssl', 'apt-get install openssl')) return undefined;
  return startUnbound(options);
}

/** Whether unbound and openssl are installed. */
export function unboundMissing(): string | undefined {
  return ['unbound', 'openssl'].find((t) => !findExecutable(t));
}
