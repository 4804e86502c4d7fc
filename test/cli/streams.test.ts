import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSelfSignedCertificate } from '../../src/net/tls-cert.js';
import { collect, runCli, startCli } from '../helpers/cli.js';
import { requirePeer } from '../helpers/peers.js';
import { freeTcpPort, waitListening } from '../helpers/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'soket-cli-streams-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const logs = new WeakMap<ChildProcess, { stderr: string; stdout: Buffer[] }>();

/** Start soket; everything it prints is kept, so a wait never misses a line printed before it began. */
function start(args: string[], options: Parameters<typeof startCli>[1] = {}): ChildProcess {
  const c = startCli(args, options);
  children.push(c);
  const log = { stderr: '', stdout: [] as Buffer[] };
  logs.set(c, log);
  c.stderr?.on('data', (d) => {
    log.stderr += d;
  });
  c.stdout?.on('data', (d: Buffer) => {
    log.stdout.push(d);
  });
  return c;
}

/** Wait until the child's stderr (everything so far) matches. */
async function waitLog(c: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  for (;;) {
    const m = pattern.exec(logs.get(c)?.stderr ?? '');
    if (m) return m;
    if (c.exitCode !== null) throw new Error(`exited before ${pattern}: ${logs.get(c)?.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stop a started soket and return its output (stderr from the kept log). */
async function stop(c: ChildProcess, signal: NodeJS.Signals = 'SIGINT') {
  if (c.exitCode === null) c.kill(signal);
  const r = await collect(c);
  const log = logs.get(c);
  if (!log) return r;
  const bytes = Buffer.concat(log.stdout);
  return { ...r, stderr: log.stderr, stdout: bytes.toString('utf8'), stdoutBytes: bytes };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let cert: { cert: string; key: string; pin: string };
let other: { cert: string; key: string };
before(async () => {
  cert = await createSelfSignedCertificate({ hosts: ['127.0.0.1'] });
  other = await createSelfSignedCertificate({});
  writeFileSync(join(dir, 'c.pem'), cert.cert);
  writeFileSync(join(dir, 'k.pem'), cert.key);
  writeFileSync(join(dir, 'other.key'), other.key);
});

describe('tcp listen --mode pipe', () => {
  test('binary-safe both ways with a Python client; EOF on stdin half-closes; exits when the connection ends', async (t) => {
    const python = requirePeer(t, '/usr/bin/python3', 'apt-get install python3');
    if (!python) return;
    const port = await freeTcpPort();
    const toClient = randomBytes(300_000);
    const server = start(['tcp', 'listen', `127.0.0.1:${port}`, '--mode', 'pipe'], { input: toClient });
    await waitLog(server, /Listening on/);
    const script = `
import socket, hashlib, sys, os
s = socket.create_connection(('127.0.0.1', ${port}))
data = bytes.fromhex(sys.argv[1]) * 1000
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b''
while True:
    x = s.recv(65536)
    if not x: break
    got += x
print(hashlib.sha256(data).hexdigest(), hashlib.sha256(got).hexdigest(), len(got))
`;
    const chunk = randomBytes(200);
    const py = spawn(python, ['-c', script, chunk.toString('hex')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    py.stdout.on('data', (d) => {
      out += d;
    });
    const [r] = await Promise.all([stop(server, 'SIGCONT'), once(py, 'close')]);
    const [sent, received, n] = out.trim().split(' ');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(r.stdoutBytes), sent); // client → stdout, unchanged (\\xff stays \\xff)
    assert.equal(received, sha(toClient)); // stdin → client, unchanged
    assert.equal(Number(n), toClient.length);
    assert.match(r.stderr, /closed \(closed\): in 195\.3 KiB, out 293\.0 KiB/);
  });

  test('--keep serves clients one after another', async () => {
    const port = await freeTcpPort();
    const server = start(['tcp', 'listen', `127.0.0.1:${port}`, '--mode', 'pipe', '--keep'], { input: '' });
    await waitLog(server, /Listening on/);
    for (const word of ['first', 'second']) {
      const c = net.connect({ port, host: '127.0.0.1' });
      await once(c, 'connect');
      c.end(`${word}\n`);
      await once(c, 'close');
    }
    const r = await stop(server);
    assert.equal(r.stdout, 'first\nsecond\n');
  });
});

describe('--exec and --sh', () => {
  test("the connection is the program's stdin/stdout; peer in the environment; stderr and exit logged", async () => {
    const port = await freeTcpPort();
    const server = start([
      'tcp',
      'listen',
      `127.0.0.1:${port}`,
      '--sh',
      'echo "peer $SOKET_PEER_ADDR"; tr a-z A-Z; echo oops >&2; exit 3',
    ]);
    await waitLog(server, /Listening on/);
    const r = await runCli(['tcp', 'connect', '127.0.0.1', String(port)], { input: 'shout\n' });
    assert.equal(r.stdout, 'peer 127.0.0.1\nSHOUT\n');
    await waitLog(server, /exited with status 3/);
    const s = await stop(server);
    assert.match(s.stderr, /pid \d+\] oops/);
  });

  test('tcp connect --exec runs the program on the client side', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const port = (echo.address() as net.AddressInfo).port;
    // `head -c 5` sends nothing and reads 5 bytes: the server echoes what cat sends first.
    const r = await runCli([
      'tcp',
      'connect',
      '127.0.0.1',
      String(port),
      '--sh',
      'printf hello; head -c 5 >&2',
    ]);
    echo.close();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[pid \?\] hello|exited with status 0/);
  });

  test('a missing program is exit 2 before anything listens', async () => {
    const port = await freeTcpPort();
    const r = await runCli(['tcp', 'listen', `127.0.0.1:${port}`, '--exec', 'no-such-program-soket']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "soket: Program 'no-such-program-soket' not found on PATH (--exec)\n");
  });

  test('exec on a non-loopback address warns', async () => {
    const server = start(['tcp', 'listen', '0.0.0.0:0', '--exec', 'cat']);
    const [line] = await waitLog(server, /Warning: .*hands cat to anyone/);
    assert.ok(line);
    await stop(server);
  });
});

describe('TLS on tcp listen/connect', () => {
  test('self-signed listener prints its pin; a pinned client talks; an unpinned one fails with the reason', async () => {
    const port = await freeTcpPort();
    const server = start(['tcp', 'listen', `tls:127.0.0.1:${port}`]);
    const [, pin] = (await waitLog(server, /--pin (sha256:\S+)/)) as unknown as [string, string];
    const ok = await runCli(['tcp', 'connect', `tls:127.0.0.1:${port}`, '--pin', pin], { input: 'secure\n' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'secure\n');
    assert.match(ok.stderr, /TLSv1\.3 .* pinned/);
    const bad = await runCli(['tcp', 'connect', `tls:127.0.0.1:${port}`], { input: 'x' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not trusted: the certificate is self-signed/);
    const json = await runCli(
      ['tcp', 'connect', '127.0.0.1', String(port), '--tls', '--insecure', '--json'],
      {
        input: 'j',
      },
    );
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; tls?: { accepted: string } });
    assert.equal(events[0]?.tls?.accepted, 'insecure');
    assert.deepEqual(
      events.map((e) => e.event),
      ['connected', 'data', 'closed'],
    );
    await stop(server);
  });

  test('bad TLS input is exit 2 with one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['tcp', 'listen', '0', '--tls', '--cert', join(dir, 'missing.pem'), '--key', join(dir, 'k.pem')],
        /Cannot read --cert .*missing\.pem: no such file/,
      ],
      [
        ['tcp', 'listen', '0', '--tls', '--cert', join(dir, 'c.pem'), '--key', join(dir, 'other.key')],
        /does not match the certificate/,
      ],
      [['tcp', 'listen', '0', '--cert', join(dir, 'c.pem')], /needs --tls/],
      [['tcp', 'connect', 'tls:127.0.0.1:1', '--pin', 'sha256:nope'], /Invalid --pin 'sha256:nope'/],
      [['tcp', 'listen', '0', '--allow', '10.0.0.0/33'], /10\.0\.0\.0\/33/],
      [['tcp', 'listen', `unix:/tmp/${'x'.repeat(120)}`], /at most 107/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});

describe('Unix sockets with socat', () => {
  test('socat UNIX-CONNECT to tcp listen unix:, and tcp connect unix: to socat UNIX-LISTEN', async (t) => {
    const socat = requirePeer(t, 'socat', 'apt-get install socat');
    if (!socat) return;
    const path = join(dir, 'echo.sock');
    const server = start(['tcp', 'listen', `unix:${path}`, '--unix-perm', '0600']);
    await waitLog(server, /Listening on unix:/);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const s = spawn(socat, ['-', `UNIX-CONNECT:${path}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    s.stdin.end('via socat\n');
    const [d] = (await once(s.stdout, 'data')) as [Buffer];
    assert.equal(d.toString(), 'via socat\n');
    await stop(server);
    assert.throws(() => statSync(path)); // removed on exit

    const lpath = join(dir, 'socat.sock');
    const l = spawn(socat, [`UNIX-LISTEN:${lpath}`, 'PIPE'], { stdio: 'ignore' });
    children.push(l);
    while (
      !(() => {
        try {
          return statSync(lpath).isSocket();
        } catch {
          return false;
        }
      })()
    )
      await new Promise((r) => setTimeout(r, 20));
    const r = await runCli(['tcp', 'connect', `unix:${lpath}`], { input: 'to socat\n' });
    assert.equal(r.stdout, 'to socat\n', r.stderr);
  });
});

describe('--source', () => {
  test('tcp connect and probe bind the local address first', async () => {
    const seen: string[] = [];
    const server = net.createServer((c) => {
      c.on('error', () => {}); // the probe resets at once
      seen.push(c.remoteAddress ?? '');
      c.end('x');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const r = await runCli(['tcp', 'connect', '127.0.0.1', String(port), '--source', '127.0.0.2'], {
      input: '',
    });
    assert.match(r.stderr, /from 127\.0\.0\.2:\d+/);
    const p = await runCli(['probe', '127.0.0.1', String(port), '--source', '127.0.0.3', '--json']);
    assert.match(p.stdout, /"state":"open"/);
    server.close();
    assert.deepEqual(seen.slice(0, 2), ['127.0.0.2', '127.0.0.3']);
    const bad = await runCli(['tcp', 'connect', '127.0.0.1', String(port), '--source', 'not-an-ip']);
    assert.equal(bad.code, 2);
  });
});

describe('soket relay and soket tls', () => {
  test('relay logs one line per connection; a refusing target is logged and the relay keeps serving', async () => {
    const dead = await freeTcpPort();
    const port = await freeTcpPort();
    const relay = start(['relay', `127.0.0.1:${port}`, `127.0.0.1:${dead}`]);
    await waitLog(relay, /Relaying/);
    for (let i = 0; i < 2; i++) {
      const c = net.connect({ port, host: '127.0.0.1' });
      c.on('error', () => {});
      c.resume();
      await once(c, 'close');
    }
    await waitLog(relay, /#2 .*target-failed/);
    const r = await stop(relay);
    assert.match(
      r.stderr,
      /#1 127\.0\.0\.1:\d+ closed: target-failed \(Cannot reach 127\.0\.0\.1:\d+: connection refused\)/,
    );
    assert.match(r.stderr, /Stopped: 2 connections relayed .* 2 target failures/);
    assert.equal(r.code, 0);
  });

  test('tcp listen --hex dumps both directions in every mode (echo, reply, exec); not with --workers', async () => {
    for (const mode of [
      ['--mode', 'echo'],
      ['--mode', 'reply', '--reply', 'ok'],
      ['--exec', 'cat'],
    ]) {
      const port = await freeTcpPort();
      const server = start(['tcp', 'listen', `127.0.0.1:${port}`, ...mode, '--hex', '--json']);
      while (!Buffer.concat(logs.get(server)?.stdout ?? []).includes('"event":"listening"'))
        await new Promise((r) => setTimeout(r, 20));
      const c = net.connect({ port, host: '127.0.0.1' });
      c.end('hex me\n');
      c.resume();
      await once(c, 'close');
      const sent = mode.includes('reply') ? /\|ok\.?\|$/ : /\|hex me\.\|$/;
      const hexLines = () =>
        Buffer.concat(logs.get(server)?.stdout ?? [])
          .toString()
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { event: string; lines?: string[] })
          .filter((e) => e.event === 'hex')
          .flatMap((e) => e.lines ?? []);
      while (!hexLines().some((l) => l.startsWith('>'))) await new Promise((r) => setTimeout(r, 20));
      await stop(server);
      const lines = hexLines();
      assert.ok(
        lines.some((l) => l.startsWith('<') && /\|hex me\.\|$/.test(l)),
        `${mode.join(' ')}: received bytes dumped: ${lines.join(' / ')}`,
      );
      assert.ok(
        lines.some((l) => l.startsWith('>') && sent.test(l)),
        `${mode.join(' ')}: sent bytes dumped: ${lines.join(' / ')}`,
      );
    }
    const bad = await runCli(['tcp', 'listen', '0', '--hex', '--workers', '2']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--hex needs one process/);
    // a dump file that cannot be opened is a usage error before anything listens (it was lost silently)
    const noFile = await runCli(['tcp', 'listen', '0', '--hex-file', join(dir, 'missing', 'dump.txt')]);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /^soket: Cannot open --hex-file .*: no such directory\n$/);
  });

  test('tcp connect -q prints only the data: no Connected/Closed lines (plain TCP and Unix)', async () => {
    const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const port = (echo.address() as net.AddressInfo).port;
    const path = join(dir, 'quiet.sock');
    const uecho = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    uecho.listen(path);
    await once(uecho, 'listening');
    for (const target of [`127.0.0.1:${port}`, `unix:${path}`]) {
      const loud = await runCli(['tcp', 'connect', target], { input: 'quiet please\n' });
      assert.match(loud.stderr, /Connected to/);
      const r = await runCli(['tcp', 'connect', target, '-q'], { input: 'quiet please\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'quiet please\n');
      assert.equal(r.stderr, '', target);
    }
    echo.close();
    uecho.close();
  });

  test('relay --json is NDJSON; bad CIDR is exit 2', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const eport = (echo.address() as net.AddressInfo).port;
    const port = await freeTcpPort();
    const relay = start(['relay', `127.0.0.1:${port}`, `127.0.0.1:${eport}`, '--json', '--hex']);
    while (!Buffer.concat(logs.get(relay)?.stdout ?? []).includes('"event":"listening"'))
      await new Promise((r) => setTimeout(r, 20));
    const c = net.connect({ port, host: '127.0.0.1' });
    c.end('hex me');
    c.resume();
    await once(c, 'close');
    while (!Buffer.concat(logs.get(relay)?.stdout ?? []).includes('"event":"disconnect"'))
      await new Promise((r) => setTimeout(r, 20));
    const r = await stop(relay);
    echo.close();
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; lines?: string[] });
    assert.deepEqual(
      [...new Set(events.map((e) => e.event))],
      ['listening', 'connect', 'hex', 'disconnect', 'stopped'],
    );
    assert.match(events.find((e) => e.event === 'hex')?.lines?.[0] ?? '', /\|hex me\|$/);
    const bad = await runCli(['relay', '0', '127.0.0.1:1', '--deny', 'nonsense']);
    assert.equal(bad.code, 2);
  });

  test('soket tls: exit 1 for a self-signed certificate with the reason, 0 with --ca', async () => {
    const port = await freeTcpPort();
    const server = start([
      'tcp',
      'listen',
      `127.0.0.1:${port}`,
      '--tls',
      '--cert',
      join(dir, 'c.pem'),
      '--key',
      join(dir, 'k.pem'),
    ]);
    await waitListening(port);
    const r = await runCli(['tls', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /verified {3}no: the certificate is self-signed and not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/,
    );
    assert.match(r.stdout, /SANs {5}IP:127\.0\.0\.1/);
    const ok = await runCli(['tls', `127.0.0.1:${port}`, '--ca', join(dir, 'c.pem'), '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const doc = JSON.parse(ok.stdout) as { verification: { ok: boolean }; chain: Array<{ pin: string }> };
    assert.equal(doc.verification.ok, true);
    assert.equal(doc.chain[0]?.pin, cert.pin);
    await stop(server);
    assert.equal(readFileSync(join(dir, 'c.pem'), 'utf8'), cert.cert);
  });
});
