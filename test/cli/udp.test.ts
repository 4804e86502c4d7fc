import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

async function listen(
  args: string[],
): Promise<{ child: ChildProcess; port: number; done: ReturnType<typeof collect> }> {
  const child = startCli(['udp', 'listen', ...args]);
  children.push(child);
  const done = collect(child);
  const m = await waitForLine(child, /Listening on (?:127\.0\.0\.1|\[::\]):(\d+)/);
  return { child, port: Number(m[1]), done };
}

/** A UDP socket on loopback that answers with `respond` (or not at all). */
async function rawServer(respond?: (msg: Buffer) => Buffer): Promise<{ port: number; close: () => void }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (m, r) => {
    if (respond) socket.send(respond(m), r.port, r.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { port: socket.address().port, close: () => socket.close() };
}

describe('soket udp', () => {
  test('listen echo + send: the reply on stdout, who sent it on stderr; counters at stop', async () => {
    const { child, port, done } = await listen(['0']);
    const r = await runCli(['udp', 'send', '127.0.0.1', String(port), '--message', 'Hello, server!']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Hello, server!\n');
    assert.match(
      r.stderr,
      new RegExp(
        `^Reply from 127\\.0\\.0\\.1:${port}: 14 B in .* \\(try 1 of 3; sent 14 B from 127\\.0\\.0\\.1:\\d+\\)`,
      ),
    );
    child.kill('SIGINT');
    const s = await done;
    assert.equal(s.code, 0);
    assert.match(s.stderr, /Listening on 127\.0\.0\.1:\d+ \(UDP, echo mode\); Ctrl-C stops/);
    assert.match(s.stderr, /Stopped: 1 datagram in \(14 B\), 1 out \(14 B\), 0 send errors/);
  });

  test('reply mode, --json, and a payload from stdin', async () => {
    const { child, port, done } = await listen(['0', '--mode', 'reply', '--reply', 'message received']);
    const j = await runCli(['udp', 'send', '127.0.0.1', String(port), '--message', 'x', '--json']);
    const parsed = JSON.parse(j.stdout);
    assert.equal(parsed.reply, 'message received');
    assert.deepEqual(parsed.from, { address: '127.0.0.1', port, family: 4 });
    assert.equal(parsed.truncated, false);
    assert.equal(parsed.attempts, 1);
    const piped = await runCli(['udp', 'send', '127.0.0.1', String(port)], { input: 'from stdin' });
    assert.equal(piped.stdout, 'message received\n');
    assert.match(piped.stderr, /sent 10 B/);
    child.kill('SIGTERM');
    assert.equal((await done).code, 0);
  });

  test('print mode: each datagram with the sender address; --log logs it on stderr', async () => {
    const { child, port, done } = await listen(['0', '--mode', 'print', '--log']);
    const c = dgram.createSocket('udp4');
    c.bind(0, '127.0.0.1');
    await once(c, 'listening');
    c.send('hello there', port, '127.0.0.1');
    await waitForLine(child, /hello there/, 'stdout');
    const peer = `127.0.0.1:${c.address().port}`;
    c.close();
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.stdout, `[${peer}] hello there\n`);
    assert.match(r.stderr, new RegExp(`${peer.replaceAll('.', '\\.')} sent 11 B`));
  });

  test('failures exit 1: no reply (with tries), port unreachable, truncated reply', async () => {
    const silent = await rawServer();
    const t = await runCli([
      'udp',
      'send',
      '127.0.0.1',
      String(silent.port),
      '--message',
      'x',
      '--timeout',
      '300',
      '--retries',
      '1',
    ]);
    silent.close();
    assert.equal(t.code, 1);
    assert.match(
      t.stderr,
      new RegExp(
        `soket: Waiting for a response from 127\\.0\\.0\\.1:${silent.port} timed out after 300 ms \\(2 tries of 150 ms\\)`,
      ),
    );

    const refused = await runCli(['udp', 'send', '127.0.0.1', String(silent.port), '--message', 'x']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /connection refused \(ICMP port unreachable/);

    const big = await rawServer(() => Buffer.alloc(3000, 0x62));
    const tr = await runCli([
      'udp',
      'send',
      '127.0.0.1',
      String(big.port),
      '--message',
      'x',
      '--buffer-size',
      '1000',
    ]);
    big.close();
    assert.equal(tr.code, 1);
    assert.equal(tr.stdoutBytes.length, 1001, 'the 1000 bytes the buffer kept, and a newline');
    assert.match(
      tr.stderr,
      /Warning: the reply from 127\.0\.0\.1:\d+ was truncated: 3000 bytes arrived, the 1000-byte buffer kept 1000/,
    );
  });

  test('bad input exits 2: payload too large, bad options', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['udp', 'send', '127.0.0.1', '9', '--message', 'a'.repeat(65_508)],
        /UDP payload of 65508 bytes is too large: IPv4 allows at most 65507 bytes/,
      ],
      [['udp', 'send', '127.0.0.1', '9', '--message', 'x', '--retries', 'many'], /Invalid --retries 'many'/],
      [
        ['udp', 'send', '127.0.0.1', '9', '--message', 'x', '--buffer-size', '0'],
        /Invalid --buffer-size '0'/,
      ],
      [['udp', 'listen', '0', '--mode', 'chat'], /Unknown mode 'chat'/],
      [['udp', 'listen', '0', '--mode', 'echo', '--reply', 'x'], /--reply needs --mode reply/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ').slice(0, 80)}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
  });
});
