/**
 * `soket time` against servers on loopback only: chronyd, soket's own server, and small responders. Every
 * test names 127.0.0.1 and a port; the pool.ntp.org default is never used here.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { asciiToRefId } from '../../src/codec/ntp.js';
import { createSntpServer, type SntpServer } from '../../src/ntp/server.js';
import { startChronyServer } from '../helpers/chrony.js';
import { collect, runCli, startCli } from '../helpers/cli.js';
import { replyTo, startResponder } from '../helpers/ntp-responder.js';
import { requirePeer } from '../helpers/peers.js';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function soketServer(options: Parameters<typeof createSntpServer>[0] = {}): Promise<SntpServer> {
  const s = await createSntpServer({ port: 0, leap: 0, rateLimit: false, ...options });
  cleanups.push(() => s.close());
  return s;
}

async function responder(handler: Parameters<typeof startResponder>[0]) {
  const r = await startResponder(handler);
  cleanups.push(() => r.close());
  return r;
}

describe('soket time', () => {
  test('one server: one readable block (against chronyd)', async (t) => {
    const chronyd = requirePeer(t, 'chronyd', 'apt-get install chrony');
    if (!chronyd) return;
    const chrony = await startChronyServer(chronyd, { stratum: 7 });
    cleanups.push(() => chrony.stop());
    const r = await runCli(['time', `127.0.0.1:${chrony.port}`, '--samples', '3', '--interval', '50']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `Server         127.0.0.1:${chrony.port}`);
    assert.match(lines[1] ?? '', /^Time {11}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} [+-]\d\d:\d\d$/);
    assert.match(lines[2] ?? '', /^ {15}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.match(
      lines[3] ?? '',
      /^Offset {9}[+-]\d+\.\d µs ± \d+\.\d µs {2}\(the local clock is \d+\.\d µs (ahead|behind)\)$/,
    );
    assert.match(lines[4] ?? '', /^Delay {10}\d+\.\d µs$/);
    assert.equal(lines[5], 'Stratum        7 (secondary reference)');
    assert.equal(lines[6], 'Reference      127.127.1.1');
    assert.equal(lines[7], 'Leap           no warning');
    assert.equal(lines[8], 'Authenticated  no (the origin check only)');
    assert.equal(lines[9], 'Samples        3 (lowest delay used)');
    assert.equal(r.stderr, '');
  });

  test('--json: offsets in seconds, timestamps as NTP hex and ISO', async () => {
    const s = await soketServer({ stratum: 1, referenceId: 'GPS' });
    const r = await runCli(['time', '127.0.0.1', '--port', String(s.address.port), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(j), [
      'time',
      'offset',
      'error',
      'method',
      'agreed',
      'disagreed',
      'spread',
      'servers',
    ]);
    assert.equal(j.method, 'intersection');
    assert.deepEqual(j.agreed, ['127.0.0.1']);
    assert.equal(typeof j.offset, 'number');
    assert.ok(Math.abs(j.offset) < 0.05);
    const best = j.servers[0].best;
    assert.equal(best.stratum, 1);
    assert.equal(best.referenceIdText, 'GPS');
    assert.equal(best.port, s.address.port);
    assert.match(best.transmitTime.ntp, /^[0-9a-f]{16}$/);
    assert.match(best.transmitTime.iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal(j.servers[0].error, null);
  });

  test('several servers: one line each, the liar disagrees, a combined line', async () => {
    const a = await soketServer();
    const b = await soketServer();
    const liar = await responder((req, s) => s.send(req, replyTo(req, {}, 30_000)));
    const closed = await soketServer();
    await closed.close();
    const servers = [a, b].map((s) => `127.0.0.1:${s.address.port}`);
    const r = await runCli([
      'time',
      ...servers,
      `127.0.0.1:${liar.port}`,
      `127.0.0.1:${closed.address.port}`,
      '--timeout',
      '1000',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^${servers[0]} +offset [+-]\\S+ (µs|ms) ± .* agrees$`));
    assert.match(lines[1] ?? '', new RegExp(`^${servers[1]} .* agrees$`));
    assert.match(
      lines[2] ?? '',
      new RegExp(`^127\\.0\\.0\\.1:${liar.port} +offset \\+(29|30)\\.\\d{6} s .*disagrees$`),
    );
    assert.equal(
      lines[3],
      `127.0.0.1:${closed.address.port}  failed: Cannot reach NTP server 127.0.0.1:${closed.address.port}: connection refused`,
    );
    assert.match(
      lines[4] ?? '',
      /^Combined: offset [+-][\d.]+ (µs|ms) ± .* \(intersection of 2 of 4 servers, spread .*\)$/,
    );
    assert.match(lines[5] ?? '', /^Time: /);
  });

  test('--watch: a live series with a sparkline until Ctrl-C, then exit 0', async () => {
    const s = await soketServer();
    const child = startCli(['time', `127.0.0.1:${s.address.port}`, '--watch', '--interval', '100']);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (b: Buffer) => {
        out += b;
        if (out.split('\n').length > 3) resolve();
      });
    });
    child.kill('SIGINT');
    const r = await collect(child);
    assert.equal(r.code, 0, r.stderr);
    const lines = (out + r.stdout).trimEnd().split('\n');
    assert.ok(lines.length >= 3);
    for (const [i, line] of lines.entries()) {
      assert.match(
        line,
        /^\d\d:\d\d:\d\d {2}offset +[+-][\d.]+ (µs|ms) ± \S+ \S+ +delay \S+ \S+ +[▁▂▃▄▅▆▇█]+$/,
      );
      assert.equal(line.match(/[▁▂▃▄▅▆▇█]+$/)?.[0].length, i + 1, 'the sparkline grows with the series');
    }
    assert.match(r.stderr, /^Querying 127\.0\.0\.1:\d+ every 100 ms; Ctrl-C to stop\n/);
    assert.match(r.stderr, /\d+ samples, median offset [+-]/);
  });

  test('--watch --json: one JSON object per line', async () => {
    const s = await soketServer();
    const child = startCli(['time', `127.0.0.1:${s.address.port}`, '--watch', '--interval', '50', '--json']);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (b: Buffer) => {
        out += b;
        if (out.split('\n').length > 2) resolve();
      });
    });
    child.kill('SIGTERM');
    const r = await collect(child);
    assert.equal(r.code, 0);
    const objs = (out + r.stdout)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(objs.length >= 3);
    assert.deepEqual(Object.keys(objs[0]), ['event', 'round', 'time', 'offset', 'error', 'delay', 'agreed']);
    assert.equal(objs[0].event, 'sample');
    assert.equal(objs.at(-1).event, 'summary', 'after Ctrl-C the summary is the last line');
    assert.ok(objs.at(-1).samples >= 1);
  });

  test('operational failures exit 1 with one line: unsynchronised, kiss-o-death, timeout', async () => {
    const unsync = await soketServer({ leap: 3 });
    let r = await runCli(['time', `127.0.0.1:${unsync.address.port}`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `soket: NTP server 127.0.0.1:${unsync.address.port} is not synchronised (leap indicator 3)\n`,
    );
    const rate = await responder((req, s) =>
      s.send(req, replyTo(req, { leap: 3, stratum: 0, referenceId: asciiToRefId('RATE') })),
    );
    r = await runCli(['time', `127.0.0.1:${rate.port}`, '--json']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'SOKET_KOD');
    assert.match(JSON.parse(r.stdout).error.message, /Kiss-o'-Death RATE: rate exceeded; back off/);
    const silent = await responder(() => {});
    r = await runCli(['time', `127.0.0.1:${silent.port}`, '--timeout', '300', '--retries', '1']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `soket: Waiting for a response from NTP server 127.0.0.1:${silent.port} timed out after 300 ms (2 tries of 150 ms)\n`,
    );
  });

  test('bad input exits 2 before anything is sent', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['time', '127.0.0.1', '--port', '0'], /Invalid port '0'/],
      [['time', '127.0.0.1:123', '--samples', '0'], /Invalid --samples '0'/],
      [['time', '127.0.0.1:123', '-4', '-6'], /Options -4 and -6 cannot be used together/],
      [['time', '127.0.0.1:123', '--ntp-version', '5'], /Invalid --ntp-version '5'/],
      [['time', '127.0.0.1:123', '--timeout', 'soon'], /Invalid --timeout 'soon'/],
      [['time', '192.0.2.1:123', '--interval', '100'], /at least 1000 ms between queries to a remote server/],
      [
        ['time', '127.0.0.1:123', '--watch', '--samples', '2'],
        /--watch and --samples cannot be used together/,
      ],
      [['time', 'bad..host'], /Invalid host 'bad\.\.host'/],
      [['time', '::1', '-4'], /Address ::1 is IPv6, but IPv4 was asked for/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.split('\n').length, 2, 'one line');
    }
  });
});
