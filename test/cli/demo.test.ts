import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import type { CommandOutput, Runner, StreamOutput } from '../../src/cli/command.js';
import { register } from '../../src/cli/commands/demo.js';
import type { Io } from '../../src/cli/io.js';
import { runCli, SOKET_BIN } from '../helpers/cli.js';
import { canUseNetns, createNetns, deleteNetns } from '../helpers/netns.js';
import { requireCapability } from '../helpers/peers.js';

const SECTIONS = ['host', 'dns', 'services', 'sockopt', 'tcp', 'udp', 'ntp', 'tls', 'nts', 'probe'];

// biome-ignore lint/suspicious/noExplicitAny: JSON lines checked field by field below
function parseLines(stdout: string): Array<Record<string, any>> {
  const events = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  // NDJSON: the sections, then one summary line.
  assert.equal(events.at(-1)?.event, 'summary');
  return events.filter((e) => e.event === 'section');
}

describe('soket demo', () => {
  test('runs every section and says so', async () => {
    const r = await runCli(['demo']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const headings = [...r.stdout.matchAll(/^== (\d+)\. (.+)$/gm)].map((m) => m[2]);
    assert.deepEqual(headings, [
      'Host information',
      'Name resolution',
      'Services',
      'Socket options and timeouts',
      'TCP server and clients',
      'UDP server and client',
      'SNTP time',
      'TLS relay',
      'Authenticated time (NTS)',
      'Port probe',
    ]);
    assert.match(r.stdout, /one client sent "Hello, server!", got "message received"/);
    assert.match(
      r.stdout,
      /100 clients connected at once \(100 held by the server\), then all sent: 100\/100 correct replies/,
    );
    assert.match(r.stdout, /SO_SNDBUF after setting 4096: 8192 bytes/);
    assert.match(r.stdout, /10\/10 sections ok in .*; every server the demo started is closed/);
    assert.equal(r.stderr, '');
  });

  test('--json: one object per section with the results', async () => {
    const r = await runCli(['demo', '--json']);
    assert.equal(r.code, 0, r.stdout);
    const lines = parseLines(r.stdout);
    assert.deepEqual(
      lines.map((l) => l.section),
      SECTIONS,
    );
    for (const l of lines) {
      assert.equal(l.ok, true, `${l.section}: ${JSON.stringify(l.error)}`);
      assert.equal(typeof l.socketLevel, 'string');
      assert.equal(typeof l.elapsedMs, 'number');
    }
    const by = Object.fromEntries(lines.map((l) => [l.section, l.result]));
    assert.deepEqual(
      by.services.services.map((s: { name: string }) => s.name),
      ['http', 'smtp', 'domain'],
    );
    assert.ok(by.dns.forward.addresses.includes('127.0.0.1'));
    assert.equal(by.sockopt.defaultTimeoutMs, null);
    assert.equal(by.sockopt.sendBuffer.after, 8192);
    assert.equal(by.tcp.first.reply, 'message received');
    assert.deepEqual([by.tcp.concurrent.held, by.tcp.concurrent.ok], [100, 100]);
    assert.equal(by.udp.reply, 'message received');
    assert.equal(by.udp.from.port, by.udp.port);
    assert.equal(by.ntp.stratum, 2);
    assert.equal(by.tls.target, by.tcp.port, 'the TLS relay forwards to the TCP server');
    assert.equal(by.tls.reply, 'message received');
    assert.equal(by.tls.accepted, 'pinned');
    assert.equal(by.tls.protocol, 'TLSv1.3');
    assert.equal(by.nts.authenticated, 'nts');
    assert.deepEqual(by.nts.keyExchanged, [true, false]);
    assert.equal(by.nts.auth.nts, 2);
    assert.ok(Math.abs(by.ntp.offsetMs) < 50, `loopback offset ${by.ntp.offsetMs} ms`);
    assert.deepEqual(
      by.probe.results.map((p: { port: number; state: string }) => [p.port === by.tcp.port, p.state]).sort(),
      [
        [false, 'closed'],
        [true, 'open'],
      ],
    );
  });

  test('--only picks sections; an unknown one is a usage error', async () => {
    const r = await runCli(['demo', '--only', 'udp,services', '--json']);
    assert.equal(r.code, 0);
    assert.deepEqual(
      parseLines(r.stdout).map((l) => l.section),
      ['services', 'udp'],
    );
    const bad = await runCli(['demo', '--only', 'tcp,nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^soket: Unknown demo section 'nope'/);
  });

  test('offline: it runs in a network namespace with nothing but loopback', async (t) => {
    const can = canUseNetns();
    if (!requireCapability(t, can.ok, can.reason)) return;
    const ns = createNetns('demo', true);
    try {
      const r = await runCli(['demo', '--json'], {
        prefix: ['ip', 'netns', 'exec', ns, process.execPath, SOKET_BIN],
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const lines = parseLines(r.stdout);
      assert.ok(lines.every((l) => l.ok));
      const host = lines.find((l) => l.section === 'host')?.result;
      assert.equal(host.primaryIPv4, null, 'no route out in the namespace');
    } finally {
      deleteNetns(ns);
    }
  });

  test('interrupted mid-way, it still closes every server it started', async () => {
    const controller = new AbortController();
    const io: Io = {
      json: false,
      verbose: false,
      stdin: process.stdin,
      stdinIsTTY: false,
      signal: controller.signal,
      env: {},
    };
    const program = new Command('soket').exitOverride();
    let output: CommandOutput | undefined;
    const run: Runner =
      (fn) =>
      async (...args) => {
        output = await fn(io, ...args);
      };
    register(program, run);
    await program.parseAsync(['demo'], { from: 'user' });
    const events = (
      output as unknown as StreamOutput<{ event: string; section?: string; result?: { port?: number } }>
    ).events;
    let tcpPort: number | undefined;
    const seen: string[] = [];
    try {
      for await (const e of events) {
        if (e.section) seen.push(e.section);
        if (e.section === 'tcp') {
          tcpPort = e.result?.port;
          controller.abort(new Error('test interrupt'));
        }
      }
    } catch {
      // the interrupt ends the stream with an error
    }
    assert.ok(tcpPort, `the TCP section ran: ${seen.join(', ')}`);
    assert.ok(!seen.includes('udp'), 'no section ran after the interrupt');
    const probe = net.connect(tcpPort as number, '127.0.0.1');
    const [err] = (await once(probe, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED', 'the demo TCP server is closed');
  });
});
