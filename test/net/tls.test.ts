import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TlsError, ValidationError } from '../../src/core/errors.js';
import { createRelay } from '../../src/net/relay.js';
import { createSelfSignedCertificate, describeCertificate, parsePin } from '../../src/net/tls-cert.js';
import { connectTls } from '../../src/net/tls-client.js';
import { prepareTlsClient, prepareTlsServer } from '../../src/net/tls-config.js';
import { inspectTls } from '../../src/net/tls-inspect.js';
import { requirePeer } from '../helpers/peers.js';
import { freeTcpPort, waitListening } from '../helpers/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'soket-tls-'));
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
});

/** Run a peer to completion without blocking the event loop (the servers under test live in this process). */
function runPeer(cmd: string, args: string[], input: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', () => {
      clearTimeout(t);
      resolve({ stdout, stderr });
    });
    p.stdin.end(input);
  });
}

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

let good: { cert: string; key: string; pin: string };
let expired: { cert: string; key: string };
let other: { certFile: string; keyFile: string } | undefined;
let expiredLeaf: { ca: string; cert: string; key: string };

/** A valid CA and a leaf it signed that expired last week (OpenSSL reports CERT_HAS_EXPIRED for it). */
async function expiredLeafFromCa(): Promise<{ ca: string; cert: string; key: string }> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const { webcrypto } = await import('node:crypto');
  const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  type Keys = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as Keys;
  const leafKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as Keys;
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=soket test CA',
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 86_400_000),
      signingAlgorithm: alg,
      keys: caKeys,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    },
    crypto,
  );
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '02',
      subject: 'CN=127.0.0.1',
      issuer: ca.subject,
      notBefore: new Date(now - 10 * 86_400_000),
      notAfter: new Date(now - 7 * 86_400_000),
      signingAlgorithm: alg,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
    },
    crypto,
  );
  const pkcs8 = await webcrypto.subtle.exportKey(
    'pkcs8',
    leafKeys.privateKey as unknown as Parameters<typeof webcrypto.subtle.exportKey>[1],
  );
  return {
    ca: ca.toString('pem'),
    cert: leaf.toString('pem'),
    key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
  };
}

before(async () => {
  good = await createSelfSignedCertificate({ hosts: ['127.0.0.1', 'soket.test'] });
  expired = await createSelfSignedCertificate({ now: new Date(Date.now() - 10 * 86_400_000), days: 2 });
  expiredLeaf = await expiredLeafFromCa();
  file('good.pem', good.cert);
  file('good.key', good.key);
  file('expired.pem', expired.cert);
  file('expired.key', expired.key);
  file('leaf-expired.pem', expiredLeaf.cert);
  file('leaf-expired.key', expiredLeaf.key);
  // A certificate for another host only (openssl, so it carries no localhost SAN).
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    join(dir, 'other.key'),
    '-out',
    join(dir, 'other.pem'),
    '-subj',
    '/CN=other.test',
    '-addext',
    'subjectAltName=DNS:other.test',
  ]);
  if (r.status === 0) other = { certFile: join(dir, 'other.pem'), keyFile: join(dir, 'other.key') };
});

/** openssl s_server on a free port (echoes nothing; -rev reverses lines, which proves the data path). */
async function sServer(
  cert: string,
  key: string,
  extra: string[] = [],
): Promise<{ port: number; child: ChildProcess }> {
  const port = await freeTcpPort();
  const child = spawn(
    'openssl',
    ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', cert, '-key', key, '-rev', '-quiet', ...extra],
    {
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  cleanups.push(() => child.kill('SIGKILL'));
  await waitListening(port);
  return { port, child };
}

describe('TLS client against openssl s_server', () => {
  test('verifies with --ca, reports protocol, cipher and the certificate', async (t) => {
    if (!requirePeer(t, 'openssl', 'apt-get install openssl')) return;
    const { port } = await sServer(join(dir, 'good.pem'), join(dir, 'good.key'));
    const c = await connectTls({ host: '127.0.0.1', port, ca: good.cert });
    assert.equal(c.tls.verified, true);
    assert.equal(c.tls.accepted, 'verified');
    assert.match(c.tls.protocol ?? '', /^TLSv1\.[23]$/);
    assert.ok(c.tls.cipher.length > 0);
    assert.equal(c.tls.certificate?.pin, good.pin);
    assert.deepEqual(c.tls.certificate?.subjectAltNames.slice(0, 2), ['IP:127.0.0.1', 'DNS:soket.test']);
    c.socket.write('abc\n');
    const [d] = (await once(c.socket, 'data')) as [Buffer];
    assert.equal(d.toString(), 'cba\n');
    c.socket.destroy();
  });

  test('untrusted, expired and wrong-host certificates fail with the reason; a pin accepts exactly one', async (t) => {
    if (!requirePeer(t, 'openssl', 'apt-get install openssl')) return;
    const { port } = await sServer(join(dir, 'good.pem'), join(dir, 'good.key'));
    await assert.rejects(connectTls({ host: '127.0.0.1', port }), (e: unknown) => {
      return (
        e instanceof TlsError && e.reason === 'DEPTH_ZERO_SELF_SIGNED_CERT' && /self-signed/.test(e.message)
      );
    });
    const pinned = await connectTls({ host: '127.0.0.1', port, pin: good.pin });
    assert.equal(pinned.tls.accepted, 'pinned');
    pinned.socket.destroy();
    const hex = `sha256:${parsePin(good.pin)
      .toString('hex')
      .replace(/(..)(?=.)/g, '$1:')}`;
    (await connectTls({ host: '127.0.0.1', port, pin: hex })).socket.destroy();
    await assert.rejects(connectTls({ host: '127.0.0.1', port, pin: `sha256:${'A'.repeat(43)}=` }), {
      code: 'SOKET_TLS',
      reason: 'PIN_MISMATCH',
    });
    const insecure = await connectTls({ host: '127.0.0.1', port, insecure: true });
    assert.equal(insecure.tls.accepted, 'insecure');
    assert.equal(insecure.tls.verified, false); // still checked and reported
    insecure.socket.destroy();

    const old = await sServer(join(dir, 'leaf-expired.pem'), join(dir, 'leaf-expired.key'));
    await assert.rejects(connectTls({ host: '127.0.0.1', port: old.port, ca: expiredLeaf.ca }), {
      reason: 'CERT_HAS_EXPIRED',
      message: /has expired/,
    });
    if (other) {
      const o = await sServer(other.certFile, other.keyFile);
      await assert.rejects(
        connectTls({ host: '127.0.0.1', port: o.port, ca: readFileSync(other.certFile, 'utf8') }),
        { reason: 'ERR_TLS_CERT_ALTNAME_INVALID', message: /not for 127\.0\.0\.1/ },
      );
      const named = await connectTls({
        host: '127.0.0.1',
        port: o.port,
        ca: readFileSync(other.certFile, 'utf8'),
        servername: 'other.test',
      });
      assert.equal(named.tls.verified, true);
      assert.equal(named.tls.servername, 'other.test');
      named.socket.destroy();
    }
  });

  test('inspectTls reports instead of throwing, with the chain and ALPN', async (t) => {
    if (!requirePeer(t, 'openssl', 'apt-get install openssl')) return;
    const { port } = await sServer(join(dir, 'expired.pem'), join(dir, 'expired.key'), [
      '-alpn',
      'h2,http/1.1',
    ]);
    const r = await inspectTls(`127.0.0.1:${port}`, { alpn: ['h2'], ca: expired.cert });
    assert.equal(r.verification.ok, false);
    assert.equal(r.verification.code, 'CERT_HAS_EXPIRED');
    assert.equal(r.alpn, 'h2');
    assert.equal(r.chain.length, 1);
    assert.equal(r.chain[0]?.expired, true);
    assert.ok((r.chain[0]?.daysLeft ?? 0) < 0);
    assert.equal(r.chain[0]?.keyType, 'EC P-256');
  });
});

describe('TLS settings are checked before anything listens', () => {
  test('bad input is a ValidationError naming it', async () => {
    await assert.rejects(prepareTlsServer({ cert: good.cert }), /needs its key/);
    await assert.rejects(prepareTlsServer({ cert: good.cert, key: expired.key }), (e: unknown) => {
      return e instanceof ValidationError && /does not match the certificate/.test(e.message);
    });
    await assert.rejects(prepareTlsServer({ cert: 'not pem', key: good.key }), /no PEM certificate/);
    await assert.rejects(prepareTlsServer({ cert: good.cert, key: 'junk' }), /no usable PEM private key/);
    assert.throws(() => prepareTlsClient({ pin: 'sha1:abc' }), /Invalid --pin/);
    assert.throws(() => prepareTlsClient({ pin: 'sha256:zz' }), /Invalid --pin/);
    assert.throws(() => prepareTlsClient({ pin: good.pin, insecure: true }), /cannot be used together/);
    assert.throws(() => prepareTlsClient({ alpn: [''] }), /1 to 255 bytes/);
    const { readPemFile } = await import('../../src/net/tls-config.js');
    assert.throws(() => readPemFile(join(dir, 'missing.pem'), '--cert'), /Cannot read --cert .*no such file/);
    const expiredServer = await prepareTlsServer({ cert: expired.cert, key: expired.key });
    assert.match(expiredServer.warnings[0] ?? '', /expired/);
    const made = await prepareTlsServer({ selfSignedHosts: ['192.0.2.7'] });
    assert.equal(made.selfSigned, true);
    assert.ok(made.certificate.subjectAltNames.includes('IP:192.0.2.7'));
    assert.equal(describeCertificate(made.secure.cert as string).keyType, 'EC P-256');
  });
});

describe('TLS relay with real peers', () => {
  test('openssl s_client verifies the relay (-verify_return_error), data flows', async (t) => {
    if (!requirePeer(t, 'openssl', 'apt-get install openssl')) return;
    // s_client sends no FIN at the end of its input: the target answers the first chunk and closes.
    const echo = net.createServer((s) => s.once('data', (d: Buffer) => s.end(d)));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    cleanups.push(() => echo.close());
    const relay = await createRelay({
      listen: 'tls:127.0.0.1:0',
      target: `127.0.0.1:${(echo.address() as net.AddressInfo).port}`,
      listenTls: { cert: good.cert, key: good.key, alpn: ['soket'] },
    });
    cleanups.push(() => relay.close({ timeout: 0 }));
    const port = (relay.address as { port: number }).port;
    const r = await runPeer(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-servername',
        'soket.test',
        '-CAfile',
        join(dir, 'good.pem'),
        '-verify_return_error',
        '-alpn',
        'soket',
        '-quiet',
      ],
      'through s_client\n',
    );
    assert.equal(r.stdout, 'through s_client\n', r.stderr);
  });

  test('ncat --ssl both ways', async (t) => {
    const ncat = requirePeer(t, 'ncat', 'apt-get install ncat');
    if (!ncat) return;
    // ncat --ssl client → soket TLS relay → echo
    const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    cleanups.push(() => echo.close());
    const relay = await createRelay({
      listen: 'tls:127.0.0.1:0',
      target: `127.0.0.1:${(echo.address() as net.AddressInfo).port}`,
      listenTls: { cert: good.cert, key: good.key },
    });
    cleanups.push(() => relay.close({ timeout: 0 }));
    const port = (relay.address as { port: number }).port;
    // (ncat 7.93 checks DNS names only, not IP SANs, so it cannot verify a certificate for 127.0.0.1)
    const r = await runPeer(ncat, ['--ssl', '127.0.0.1', String(port)], 'via ncat\n');
    assert.equal(r.stdout, 'via ncat\n', r.stderr);
    // ncat --ssl -l as the server ← soket's TLS client, pinned
    const nport = await freeTcpPort();
    const srv = spawn(
      ncat,
      [
        '--ssl',
        '--ssl-cert',
        join(dir, 'good.pem'),
        '--ssl-key',
        join(dir, 'good.key'),
        '-l',
        '127.0.0.1',
        String(nport),
      ],
      {
        stdio: ['pipe', 'pipe', 'ignore'],
      },
    );
    cleanups.push(() => srv.kill('SIGKILL'));
    const { waitListeningPassive } = await import('../helpers/ports.js');
    await waitListeningPassive(nport);
    const c = await connectTls({ host: '127.0.0.1', port: nport, pin: good.pin });
    c.socket.end('hello ncat\n');
    const [got] = (await once(srv.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    assert.equal(got.toString(), 'hello ncat\n');
  });

  test('client certificates: --client-ca refuses a client without one', async () => {
    const client = await createSelfSignedCertificate({ commonName: 'client' });
    const echo = net.createServer((s) => s.pipe(s));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    cleanups.push(() => echo.close());
    const relay = await createRelay({
      listen: 'tls:127.0.0.1:0',
      target: `127.0.0.1:${(echo.address() as net.AddressInfo).port}`,
      listenTls: { cert: good.cert, key: good.key, clientCa: client.cert },
    });
    cleanups.push(() => relay.close({ timeout: 0 }));
    const port = (relay.address as { port: number }).port;
    const failed = once(relay, 'tls-error');
    const bare = await connectTls({ host: '127.0.0.1', port, pin: good.pin }).catch((e: Error) => e);
    if (!(bare instanceof Error)) {
      // TLS 1.3: the server's refusal arrives after the client's handshake finished.
      bare.socket.on('error', () => {});
      bare.socket.write('x');
    }
    await failed;
    const ok = await connectTls({
      host: '127.0.0.1',
      port,
      pin: good.pin,
      cert: client.cert,
      key: client.key,
    });
    ok.socket.write('with cert');
    const [d] = (await once(ok.socket, 'data')) as [Buffer];
    assert.equal(d.toString(), 'with cert');
    ok.socket.destroy();
  });

  test('a checksummed stream through TLS termination and origination (32 MiB; SOKET_SOAK=1: 1 GiB)', async () => {
    const size = process.env.SOKET_SOAK === '1' ? 1024 * 1024 * 1024 : 32 * 1024 * 1024;
    const sink = net.createServer({ allowHalfOpen: true }, (s) => {
      const h = createHash('sha256');
      let n = 0;
      s.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
    });
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    cleanups.push(() => sink.close());
    const term = await createRelay({
      listen: 'tls:127.0.0.1:0',
      target: `127.0.0.1:${(sink.address() as net.AddressInfo).port}`,
      listenTls: { cert: good.cert, key: good.key },
    });
    cleanups.push(() => term.close({ timeout: 0 }));
    const orig = await createRelay({
      listen: '127.0.0.1:0',
      target: `tls:127.0.0.1:${(term.address as { port: number }).port}`,
      targetTls: { ca: good.cert },
    });
    cleanups.push(() => orig.close({ timeout: 0 }));
    const c = net.connect({
      port: (orig.address as { port: number }).port,
      host: '127.0.0.1',
      allowHalfOpen: true,
    });
    await once(c, 'connect');
    const h = createHash('sha256');
    const block = randomBytes(1024 * 1024);
    let sent = 0;
    const reply: Buffer[] = [];
    c.on('data', (d: Buffer) => reply.push(d));
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (sent < size) {
          const b = Buffer.from(block.subarray(0, Math.min(block.length, size - sent)));
          h.update(b);
          sent += b.length;
          // Vary the block so a reordering would show.
          block[0] = (block[0] as number) + 1;
          if (!c.write(b)) {
            c.once('drain', pump);
            return;
          }
        }
        c.end();
        resolve();
      };
      pump();
    });
    await once(c, 'end');
    assert.equal(Buffer.concat(reply).toString(), `${size} ${h.digest('hex')}`);
  });
});
