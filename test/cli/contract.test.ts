/**
 * The output contract (issue 10): with --json, a one-shot command prints exactly one JSON document on stdout,
 * a long-running one (a server, --watch, a batch, a probe, the demo) one JSON object per line, each with an
 * `event` field, and an error is {"error":{"code","message"}}. Every command is run here once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoHandler } from '../../src/net/tcp-modes.js';
import type { TcpServer } from '../../src/net/tcp-server.js';
import { createTcpServer } from '../../src/net/tcp-server.js';
import type { UdpServer } from '../../src/net/udp-server.js';
import { createUdpServer, udpEchoHandler } from '../../src/net/udp-server.js';
import { createSntpServer, type SntpServer } from '../../src/ntp/server.js';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { hangingListener } from '../helpers/hanging-listener.js';
import { requirePeer } from '../helpers/peers.js';

/** One JSON document (pretty-printed or not) and nothing else. */
function oneDocument(stdout: string): Record<string, unknown> {
  const value = JSON.parse(stdout) as unknown;
  assert.equal(typeof value, 'object');
  assert.ok(value !== null && !Array.isArray(value), 'a document is an object');
  return value as Record<string, unknown>;
}

/** NDJSON: every line one object with an `event` field. */
function ndjson(stdout: string): Array<Record<string, unknown>> {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  assert.ok(lines.length > 0, 'at least one event');
  return lines.map((l) => {
    const v = JSON.parse(l) as Record<string, unknown>;
    assert.equal(typeof v.event, 'string', `every line has an event: ${l}`);
    return v;
  });
}

describe('--json follows one rule for every command', () => {
  let tcp: TcpServer;
  let udp: UdpServer;
  let sntp: SntpServer;
  before(async () => {
    tcp = await createTcpServer({ port: 0 }, echoHandler());
    udp = await createUdpServer({ port: 0 }, udpEchoHandler());
    sntp = await createSntpServer({ port: 0, leap: 0, rateLimit: false });
  });
  after(async () => {
    await Promise.all([tcp.close(), udp.close(), sntp.close()]);
  });

  const oneShot: Array<[string, () => string[]]> = [
    ['info', () => ['info', '--json']],
    ['service', () => ['service', 'http', '--json']],
    ['sockopt', () => ['sockopt', '--json']],
    ['udp send', () => ['udp', 'send', '127.0.0.1', String(udp.address.port), '--message', 'x', '--json']],
    [
      'tcp connect --message',
      () => ['tcp', 'connect', '127.0.0.1', String(tcp.address.port), '--message', 'x', '--json'],
    ],
    ['time', () => ['time', `127.0.0.1:${sntp.address.port}`, '--json']],
  ];
  for (const [name, args] of oneShot) {
    it(`${name}: one JSON document`, async () => {
      const r = await runCli(args());
      assert.equal(r.code, 0, r.stderr);
      const doc = oneDocument(r.stdout);
      assert.equal((doc.error as { code?: unknown } | undefined)?.code, undefined, 'not an error object');
    });
  }

  const streams: Array<[string, () => string[], string]> = [
    ['resolve', () => ['resolve', 'localhost', '--json'], 'summary'],
    ['reverse', () => ['reverse', '127.0.0.1', '--json'], 'summary'],
    ['probe', () => ['probe', '127.0.0.1', String(tcp.address.port), '--json'], 'summary'],
    ['demo', () => ['demo', '--only', 'services', '--json'], 'summary'],
    [
      'time --watch',
      () => ['time', `127.0.0.1:${sntp.address.port}`, '--watch', '--interval', '10', '--json'],
      'sample',
    ],
    [
      'tcp connect (pipe)',
      () => ['tcp', 'connect', '127.0.0.1', String(tcp.address.port), '--json'],
      'closed',
    ],
  ];
  for (const [name, args, last] of streams) {
    it(`${name}: NDJSON, one event per line`, async () => {
      if (name === 'time --watch') {
        const child = startCli(args());
        const done = collect(child);
        await waitForLine(child, /"event":"sample"/, 'stdout');
        child.kill('SIGINT');
        const r = await done;
        const events = ndjson(r.stdout);
        assert.ok(events.some((e) => e.event === last));
        return;
      }
      const r = await runCli(args(), { input: name.includes('pipe') ? 'hello' : '' });
      assert.equal(r.code, 0, r.stderr);
      const events = ndjson(r.stdout);
      assert.equal(events.at(-1)?.event, last);
    });
  }

  const servers: Array<[string, string[]]> = [
    ['tcp listen', ['tcp', 'listen', '0', '--json']],
    ['udp listen', ['udp', 'listen', '0', '--json']],
    ['ntp serve', ['ntp', 'serve', '0', '--json']],
  ];
  for (const [name, args] of servers) {
    it(`${name}: NDJSON from listening to stopped`, async () => {
      const child = startCli(args);
      const done = collect(child);
      await waitForLine(child, /"event":"listening"/, 'stdout');
      child.kill('SIGTERM');
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      const events = ndjson(r.stdout);
      assert.equal(events[0]?.event, 'listening');
      assert.equal(events.at(-1)?.event, 'stopped');
    });
  }

  it('an error is {"error":{"code","message"}} for a one-shot and a stream command alike', async () => {
    for (const args of [
      ['service', 'nosuchservice', '--json'],
      ['probe', '127.0.0.1', '0', '--json'],
      ['tcp', 'listen', 'x:y', '--json'],
      ['--json'],
    ]) {
      const r = await runCli(args);
      assert.ok(r.code === 1 || r.code === 2, `${args.join(' ')}: exit ${r.code}`);
      const doc = oneDocument(r.stdout) as { error?: { code?: unknown; message?: unknown } };
      assert.equal(typeof doc.error?.code, 'string', args.join(' '));
      assert.equal(typeof doc.error?.message, 'string', args.join(' '));
      assert.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr with --json`);
    }
  });

  it('--timeout is the whole operation: tcp connect gives up after it in all, not per phase', async (t) => {
    const python = requirePeer(t, 'python3', 'apt-get install python3');
    if (!python) return;
    const hanging = await hangingListener(python);
    try {
      for (const extra of [[], ['--message', 'x']]) {
        const r = await runCli([
          'tcp',
          'connect',
          '127.0.0.1',
          String(hanging.port),
          '--timeout',
          '400',
          ...extra,
        ]);
        assert.equal(r.code, 1);
        // The overall deadline names the whole operation and its one limit (not a per-phase one).
        assert.match(
          r.stderr,
          new RegExp(`^soket: Operation on 127\\.0\\.0\\.1:${hanging.port} timed out after 400 ms\n$`),
        );
      }
      const phase = await runCli([
        'tcp',
        'connect',
        '127.0.0.1',
        String(hanging.port),
        '--connect-timeout',
        '300',
      ]);
      assert.match(
        phase.stderr,
        new RegExp(`^soket: Connect to 127\\.0\\.0\\.1:${hanging.port} timed out after 300 ms\n$`),
      );
    } finally {
      hanging.close();
    }
  });
});
