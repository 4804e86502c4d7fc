import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { asciiToRefId, decodeNtpPacket } from '../../src/codec/ntp.js';
import { sntpQuery } from '../../src/ntp/client.js';
import { ffiAvailable } from '../../src/platform/ffi.js';
import { readKernelClock } from '../../src/platform/kernel-clock.js';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

interface Served {
  child: ChildProcess;
  port: number;
  /** Stop with a signal; resolves with the exit code and everything written since the start. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = startCli(['ntp', 'serve', ...args], { env });
  children.push(child);
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b;
  });
  child.stdout?.on('data', (b: Buffer) => {
    stdout += b;
  });
  // With --json the events (listening first) are JSON lines on stdout; otherwise a log line on stderr.
  const m = args.includes('--json')
    ? await waitForLine(child, /"event":"listening"[^\n]*"address":"127\.0\.0\.1","port":(\d+)/, 'stdout')
    : await waitForLine(child, /SNTP server listening on 127\.0\.0\.1:(\d+) \(UDP\)/);
  return {
    child,
    port: Number(m[1]),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      child.kill(signal);
      await collect(child);
      return { code: child.exitCode, stdout, stderr };
    },
  };
}

/**
 * Send raw requests from one socket and collect the replies: waits for `expect` replies (2 s at most), then a
 * little longer so that an unexpected extra reply would be seen too.
 */
async function burst(port: number, count: number, expect = count): Promise<Buffer[]> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const replies: Buffer[] = [];
  let enough: () => void = () => {};
  const got = new Promise<void>((resolve) => {
    enough = resolve;
  });
  s.on('message', (b) => {
    replies.push(b);
    if (replies.length >= expect) enough();
  });
  for (let i = 0; i < count; i++) {
    const req = Buffer.alloc(48);
    req[0] = 0x23;
    randomBytes(8).copy(req, 40);
    s.send(req, port, '127.0.0.1');
  }
  await Promise.race([got, new Promise((r) => setTimeout(r, 2000))]);
  await new Promise((r) => setTimeout(r, 50));
  s.close();
  return replies;
}

describe('soket ntp serve', () => {
  test('port 0 prints the real port; answers; SIGTERM stops it with exit 0 and the counters', async () => {
    const srv = await serve(['0', '--leap', '0', '--stats', '0']);
    const { port } = srv;
    assert.ok(port > 0);
    const r = await sntpQuery('127.0.0.1', { port, timeout: 2000 });
    assert.equal(r.stratum, 10);
    assert.equal(r.referenceIdText, '127.127.1.1');
    assert.equal(r.leap, 0);
    const done = await srv.stop();
    assert.equal(done.code, 0);
    const err = done.stderr;
    assert.match(
      err,
      /^SNTP server listening on 127\.0\.0\.1:\d+ \(UDP\): stratum 10, reference 127\.127\.1\.1, leap 0 as configured, precision 2\^-\d+ s\n/,
    );
    assert.match(err, /\nRate limit: a burst of 8, then one request per 2000 ms per client address/);
    assert.match(
      err,
      /\nStopped: 1 received, 1 answered, 0 kiss-o'-death, 0 dropped \(0 malformed, 0 not client requests, 0 over the rate limit\)\n$/,
    );
    assert.equal(done.stdout, '');
  });

  test('--stratum, --refid, --json counters, SIGINT is a graceful stop too', async () => {
    const srv = await serve(['127.0.0.1:0', '--stratum', '1', '--refid', 'GPS', '--leap', '0', '--json']);
    const { port } = srv;
    const r = await sntpQuery(`127.0.0.1:${port}`, { timeout: 2000 });
    assert.equal(r.stratum, 1);
    assert.equal(r.referenceIdText, 'GPS');
    const done = await srv.stop('SIGINT');
    assert.equal(done.code, 0);
    // NDJSON: listening (what is announced), then stopped (the final counters); nothing on stderr.
    const events = done.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const listening = events[0];
    const stopped = events.at(-1);
    assert.equal(listening.event, 'listening');
    assert.equal(listening.port, port);
    assert.equal(listening.stratum, 1);
    assert.equal(listening.referenceId, 'GPS');
    assert.equal(stopped.event, 'stopped');
    assert.equal(stopped.answered, 1);
    assert.equal(done.stderr, '');
  });

  test('rate limit on by default (KoD RATE after the burst), configurable, or off', async () => {
    const srv = await serve(['0', '--leap', '0', '--stats', '0']);
    const replies = await burst(srv.port, 12, 9);
    const kods = replies.filter((b) => decodeNtpPacket(b).stratum === 0);
    assert.equal(replies.length - kods.length, 8, 'the default burst is answered');
    assert.equal(kods.length, 1, 'one kiss-o-death, then silence');
    assert.equal(decodeNtpPacket(kods[0] as Buffer).referenceId, asciiToRefId('RATE'));
    const done = await srv.stop();
    assert.match(
      done.stderr,
      /Stopped: 12 received, 8 answered, 1 kiss-o'-death, 3 dropped \(0 malformed, 0 not client requests, 3 over the rate limit\)/,
    );

    const small = await serve(['0', '--leap', '0', '--rate-burst', '2', '--rate-interval', '60s']);
    assert.equal((await burst(small.port, 5, 3)).length, 3);
    assert.match((await small.stop()).stderr, /a burst of 2, then one request per 60000 ms/);

    const off = await serve(['0', '--leap', '0', '--no-rate-limit']);
    assert.equal((await burst(off.port, 30)).length, 30);
    assert.match((await off.stop()).stderr, /Rate limit: off/);
  });

  test('leap from the kernel clock state by default; without FFI the fallback, with a warning', async () => {
    if (ffiAvailable().ok) {
      const k = readKernelClock();
      const srv = await serve(['0']);
      const [reply] = await burst(srv.port, 1);
      assert.ok(reply);
      assert.equal(decodeNtpPacket(reply).leap, k.leap);
      const done = await srv.stop();
      assert.match(done.stderr, new RegExp(`leap ${k.leap} from the kernel clock state`));
      if (k.leap === 3) assert.match(done.stderr, /Warning: the kernel says the clock is not synchronised/);
    }
    const srv = await serve(['0'], { SOKET_NO_FFI: '1' });
    const [reply] = await burst(srv.port, 1);
    assert.ok(reply);
    assert.equal(decodeNtpPacket(reply).leap, 0);
    const done = await srv.stop();
    assert.equal(done.code, 0);
    assert.match(done.stderr, /leap 0 fallback/);
    assert.match(
      done.stderr,
      /Warning: kernel clock state unreadable \(.*SOKET_NO_FFI=1\); announcing leap 0/,
    );
  });

  test('bad input exits 2; a port in use exits 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['ntp', 'serve'], /missing required argument/],
      [['ntp', 'serve', '70000'], /Invalid port '70000'/],
      [['ntp', 'serve', '0', '--stratum', '16'], /Invalid --stratum '16'/],
      [
        ['ntp', 'serve', '0', '--stratum', '2', '--refid', 'LOCL'],
        /Invalid reference ID 'LOCL' for stratum 2/,
      ],
      [['ntp', 'serve', '0', '--refid', 'TOOLONG'], /Invalid reference ID 'TOOLONG'/],
      [['ntp', 'serve', '0', '--leap', '5'], /Invalid --leap '5'/],
      [['ntp', 'serve', '0', '--no-rate-limit', '--rate-burst', '3'], /cannot be used together/],
      [['ntp', 'serve', 'example.com:0'], /Invalid listen address 'example\.com'/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const srv = await serve(['0', '--leap', '0']);
    const r = await runCli(['ntp', 'serve', String(srv.port)]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^soket: Cannot (listen on|bind) 127\\.0\\.0\\.1:${srv.port} \\(UDP\\): address already in use`,
      ),
    );
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    await srv.stop();
  });
});
