import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Start `soket tcp listen ...` and wait for its "Listening on" line; returns the child and the port. */
async function listen(
  args: string[],
): Promise<{ child: ChildProcess; port: number; done: ReturnType<typeof collect> }> {
  const child = startCli(['tcp', 'listen', ...args]);
  children.push(child);
  const done = collect(child);
  const m = await waitForLine(child, /Listening on (?:127\.0\.0\.1|\[?::\]?):(\d+)/);
  return { child, port: Number(m[1]), done };
}

/** Connect, send, half-close, and collect the reply until the server closes. */
async function exchange(port: number, send: string | Buffer): Promise<Buffer> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (b: Buffer) => chunks.push(b));
  socket.on('end', () => socket.end());
  socket.end(send);
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

describe('soket tcp listen', () => {
  test('echo: logs each connection with bytes and reason; SIGINT stops gracefully with exit 0', async () => {
    const { child, port, done } = await listen(['0']);
    assert.equal((await exchange(port, 'hello')).toString(), 'hello');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0);
    assert.match(r.stderr, /Listening on 127\.0\.0\.1:\d+ \(TCP, echo mode\); Ctrl-C stops/);
    assert.match(r.stderr, /127\.0\.0\.1:\d+ connected \(1 open\)/);
    assert.match(r.stderr, /127\.0\.0\.1:\d+ closed: client closed; in 5 B, out 5 B, [\d.]+ (µs|ms)/);
    assert.match(
      r.stderr,
      /Stopped: 1 connection \(peak 1 open\), 0 refused; in 5 B, out 5 B; client closed 1/,
    );
  });

  test('SIGTERM with a client connected: lets it finish up to --close-timeout, then closes it', async () => {
    const { child, port, done } = await listen(['0', '--close-timeout', '300']);
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    const closed = once(c, 'close');
    await waitForLine(child, /connected/);
    child.kill('SIGTERM');
    await closed;
    const r = await done;
    assert.equal(r.code, 0);
    assert.match(r.stderr, /Stopping: letting 1 open connection finish \(up to 300 ms\)/);
    assert.match(r.stderr, /closed: server shutting down/);
  });

  test('reply mode with tcp connect --message: the reply on stdout, the connection on stderr', async () => {
    const { child, port, done } = await listen(['0', '--mode', 'reply', '--reply', 'message received']);
    const r = await runCli(['tcp', 'connect', '127.0.0.1', String(port), '--message', 'Hello, server!']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'message received\n');
    assert.match(
      r.stderr,
      new RegExp(
        `Connected to 127\\.0\\.0\\.1:${port} from 127\\.0\\.0\\.1:\\d+ in .*; sent 14 B, received 17 B .*the server closed the connection`,
      ),
    );
    const j = await runCli(['tcp', 'connect', '127.0.0.1', String(port), '--message', 'x', '--json']);
    const parsed = JSON.parse(j.stdout);
    assert.equal(parsed.reply, 'message received\n');
    assert.equal(parsed.remote.port, port);
    assert.equal(parsed.end, 'server closed');
    child.kill('SIGINT');
    assert.equal((await done).code, 0);
  });

  test('print mode --once: each line with the client address on stdout, exits after the client', async () => {
    const { port, done } = await listen(['0', '--mode', 'print', '--once']);
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const peer = `127.0.0.1:${socket.localPort}`;
    socket.end('first line\nsecond line\n');
    const r = await done;
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `[${peer}] first line\n[${peer}] second line\n`);
  });

  test('--max-conns refuses extra clients cleanly and counts them; --idle-timeout closes idle ones', async () => {
    const { child, port, done } = await listen(['0', '--max-conns', '1', '--idle-timeout', '300']);
    const first = net.connect(port, '127.0.0.1');
    first.on('error', () => {});
    const firstClosed = once(first, 'close');
    await waitForLine(child, /connected/);
    const second = await exchange(port, 'x');
    assert.equal(second.length, 0);
    await firstClosed; // idle timeout
    child.kill('SIGINT');
    const r = await done;
    assert.match(r.stderr, /127\.0\.0\.1:\d+ refused: 1 connections open/);
    assert.match(r.stderr, /closed: idle timeout \(no data for 300 ms\)/);
    assert.match(r.stderr, /Stopped: 1 connection \(peak 1 open\), 1 refused/);
  });

  test('--json: one JSON object per event on stdout', async () => {
    const child = startCli(['tcp', 'listen', '0', '--json']);
    children.push(child);
    const done = collect(child);
    const m = await waitForLine(child, /"event":"listening"[^\n]*"port":(\d+)/, 'stdout');
    const port = Number(m[1]);
    const disconnected = waitForLine(child, /"event":"disconnect"/, 'stdout');
    await exchange(port, 'abc');
    await disconnected;
    child.kill('SIGINT');
    const r = await done;
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      events.map((e) => e.event),
      ['listening', 'connect', 'disconnect', 'stopping', 'stopped'],
    );
    assert.equal(events[2].bytesIn, 3);
    assert.equal(events[2].reason, 'client-closed');
    assert.equal(events[4].accepted, 1);
  });

  test('--workers 2: every client served, totals over both workers, all processes stop', async () => {
    const { child, port, done } = await listen(['0', '--workers', '2']);
    // The workers' reports reach the primary over IPC a little after the clients are done: count them.
    let seen = 0;
    const reported = new Promise<void>((resolve) => {
      child.stderr?.on('data', (b: Buffer) => {
        seen += (b.toString().match(/ closed: /g) ?? []).length;
        if (seen >= 20) resolve();
      });
    });
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(port, `client ${i}`)));
    assert.deepEqual(
      replies.map(String),
      Array.from({ length: 20 }, (_, i) => `client ${i}`),
    );
    await reported;
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 workers sharing the port via (SO_REUSEPORT|cluster round-robin)/);
    assert.match(r.stderr, /Stopped: 20 connections .*in 170 B, out 170 B/);
  });

  test('socket option flags are applied to the listener', async () => {
    const { child, done } = await listen(['0', '--rcvbuf', '64k', '--keepalive']);
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0);
    assert.match(r.stderr, /"receiveBufferSize":131072/);
    assert.match(r.stderr, /"keepAlive":true/);
  });

  test('bad input exits 2 with one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['tcp', 'listen', '70000'], /Invalid port '70000'/],
      [['tcp', 'listen', '0', '--mode', 'bogus'], /Unknown mode 'bogus'/],
      [['tcp', 'listen', '0', '--mode', 'echo', '--reply', 'x'], /--reply needs --mode reply/],
      [['tcp', 'listen', '0', '--once', '--workers', '2'], /--once and --workers cannot be used together/],
      [['tcp', 'listen', '0', '--idle-timeout', 'soon'], /Invalid --idle-timeout 'soon'/],
      [['tcp', 'listen', '0', '--rcvbuf', '-5'], /Invalid --rcvbuf/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});

describe('soket tcp connect', () => {
  test('pipe: binary-safe both ways; at end of stdin it shuts down its side and reads to the end', async () => {
    const { child, port, done } = await listen(['0']);
    const input = randomBytes(1_000_000);
    const r = await runCli(['tcp', 'connect', '127.0.0.1', String(port)], { input });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdoutBytes.equals(input), `got ${r.stdoutBytes.length} of ${input.length} bytes back`);
    child.kill('SIGINT');
    await done;
  });

  test('--no-shutdown keeps the write side open after stdin ends', async () => {
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      let sawEnd = false;
      s.on('end', () => {
        sawEnd = true;
      });
      s.on('data', () => {
        setTimeout(() => s.end(sawEnd ? 'got FIN\n' : 'no FIN\n'), 300);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const kept = await runCli(['tcp', 'connect', '127.0.0.1', String(port), '--no-shutdown'], { input: 'x' });
    const shut = await runCli(['tcp', 'connect', '127.0.0.1', String(port)], { input: 'x' });
    server.close();
    assert.equal(kept.code, 0, kept.stderr);
    assert.equal(kept.stdout, 'no FIN\n');
    assert.equal(shut.stdout, 'got FIN\n');
  });

  test('--message to a server that closes without replying, or never replies: exit 1 with why', async () => {
    const discard = await listen(['0', '--mode', 'discard']);
    const r1 = await runCli(['tcp', 'connect', '127.0.0.1', String(discard.port), '--message', 'x']);
    assert.equal(r1.code, 1);
    assert.match(
      r1.stderr,
      new RegExp(`soket: 127\\.0\\.0\\.1:${discard.port} closed the connection without replying`),
    );
    const r2 = await runCli([
      'tcp',
      'connect',
      '127.0.0.1',
      String(discard.port),
      '--message',
      'x',
      '--no-shutdown',
      '--wait',
      '200',
    ]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /Waiting for a response from 127\.0\.0\.1:\d+ timed out after 200 ms/);
    discard.child.kill('SIGINT');
    await discard.done;
  });

  test('connection refused exits 1; bad input exits 2', async () => {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    probe.close();
    await once(probe, 'close');
    const refused = await runCli(['tcp', 'connect', '127.0.0.1', String(port), '--message', 'x']);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(`soket: Cannot reach 127\\.0\\.0\\.1:${port}: connection refused`),
    );
    const cases: Array<[string[], RegExp]> = [
      [['tcp', 'connect', '127.0.0.1', '0'], /Invalid port '0'/],
      [['tcp', 'connect', '127.0.0.1', '80', '-4', '-6'], /Options -4 and -6 cannot be used together/],
      [['tcp', 'connect', '127.0.0.1', '80', '--wait', '10'], /--wait needs --message/],
      [['tcp', 'connect', 'bad host', '80'], /Invalid host/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
    const json = await runCli(['tcp', 'connect', '127.0.0.1', '80', '-4', '-6', '--json']);
    assert.equal(json.code, 2);
    assert.match(JSON.parse(json.stdout).error.message, /Options -4 and -6 cannot be used together/);
  });
});
