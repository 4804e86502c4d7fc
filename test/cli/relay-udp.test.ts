import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';

const sockets: dgram.Socket[] = [];
after(() => {
  for (const s of sockets) s.close();
});

async function socket(type: 'udp4' | 'udp6' = 'udp4', address = type === 'udp4' ? '127.0.0.1' : '::1') {
  const s = dgram.createSocket(type);
  s.bind(0, address);
  await once(s, 'listening');
  sockets.push(s);
  return s;
}

async function echo(type: 'udp4' | 'udp6' = 'udp4') {
  const s = await socket(type);
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
  return s.address().port;
}

async function ask(s: dgram.Socket, text: string, port: number, host: string): Promise<string> {
  const got = once(s, 'message') as Promise<[Buffer]>;
  s.send(text, port, host);
  return (await got)[0].toString();
}

describe('soket relay udp:', () => {
  test('relays each client through its own socket; per-client lines and totals at Ctrl-C', async () => {
    const target = await echo();
    const relay = startCli(['relay', 'udp:127.0.0.1:0', `udp:127.0.0.1:${target}`]);
    const [, port] = await waitForLine(relay, /Relaying udp:127\.0\.0\.1:(\d+) → udp:127\.0\.0\.1:\d+/);
    const done = collect(relay);
    const a = await socket();
    const b = await socket();
    assert.equal(await ask(a, 'a1', Number(port), '127.0.0.1'), 're:a1');
    assert.equal(await ask(b, 'b1', Number(port), '127.0.0.1'), 're:b1');
    assert.equal(await ask(a, 'a2', Number(port), '127.0.0.1'), 're:a2');
    relay.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `#1 127\\.0\\.0\\.1:${a.address().port} → 127\\.0\\.0\\.1:${target} via 127\\.0\\.0\\.1:\\d+`,
      ),
    );
    assert.match(
      r.stderr,
      new RegExp(
        `#1 127\\.0\\.0\\.1:${a.address().port} ended: shutdown; up 2 datagrams \\(4 B\\), down 2 \\(10 B\\)`,
      ),
    );
    assert.match(
      r.stderr,
      /Stopped: 2 clients \(peak 2\), 0 expired, 0 evicted, 0 datagrams denied; up 3 datagrams \(6 B\), down 3 \(15 B\)/,
    );
  });

  test('IPv6 to IPv4, --idle-timeout, --hex, --json', async () => {
    const target = await echo('udp4');
    const relay = startCli([
      'relay',
      'udp:[::1]:0',
      `udp:127.0.0.1:${target}`,
      '--idle-timeout',
      '200',
      '--hex',
      '--json',
    ]);
    const [, port] = await waitForLine(relay, /"listen":"udp:\[::1\]:(\d+)"/, 'stdout');
    const done = collect(relay);
    const a = await socket('udp6');
    const idle = waitForLine(relay, /"event":"expire".*"reason":"idle"/, 'stdout');
    assert.equal(await ask(a, 'six', Number(port), '::1'), 're:six');
    await idle;
    relay.kill('SIGINT');
    const r = await done;
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const stopped = events.at(-1);
    assert.equal(stopped.event, 'stopped');
    assert.equal(stopped.expired, 1);
    const hex = events.find((e) => e.event === 'hex' && e.direction === 'up');
    assert.match(hex.lines[0], /^< 00000000 {2}73 69 78 +\|six\|$/);
    const down = events.find((e) => e.event === 'hex' && e.direction === 'down');
    assert.match(down.lines[0], /^> 00000000 {2}72 65 3a 73 69 78 +\|re:six\|$/);
  });

  test('--max-conns bounds the client table: a new client evicts the one idle longest', async () => {
    const target = await echo();
    const relay = startCli(['relay', 'udp:127.0.0.1:0', `udp:127.0.0.1:${target}`, '--max-conns', '1']);
    const [, port] = await waitForLine(relay, /Relaying udp:127\.0\.0\.1:(\d+)/);
    const done = collect(relay);
    const b = await socket();
    const c = await socket();
    await ask(b, 'b', Number(port), '127.0.0.1');
    // c takes the only place in the table: b is evicted before c's datagram goes on.
    await ask(c, 'c', Number(port), '127.0.0.1');
    relay.kill('SIGINT');
    const r = await done;
    assert.match(r.stderr, new RegExp(`#1 127\\.0\\.0\\.1:${b.address().port} ended: evicted;`));
    assert.match(r.stderr, /Stopped: 2 clients \(peak 1\), 0 expired, 1 evicted/);
  });

  test('--deny drops a client', async () => {
    const target = await echo();
    const relay = startCli(['relay', 'udp:127.0.0.1:0', `udp:127.0.0.1:${target}`, '--deny', '127.0.0.7']);
    const [, port] = await waitForLine(relay, /Relaying udp:127\.0\.0\.1:(\d+)/);
    const done = collect(relay);
    const bad = await socket('udp4', '127.0.0.7');
    bad.send('x', Number(port), '127.0.0.1');
    await waitForLine(relay, /127\.0\.0\.7:\d+ denied \(deny 127\.0\.0\.7\/32\): its datagrams are dropped/);
    relay.kill('SIGINT');
    const r = await done;
    assert.match(r.stderr, /1 datagram denied/);
  });

  test('bad input exits 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['relay', 'udp:0', '127.0.0.1:80'], /Cannot relay between udp: and tcp:/],
      [
        ['relay', 'udp:0', 'udp:127.0.0.1:53', '--send-proxy', 'v1'],
        /Option --send-proxy does not apply to a udp: relay/,
      ],
      [['relay', 'udp:0', 'udp:127.0.0.1:0'], /Invalid port '0'/],
      [['relay', 'udp:0', 'udp4:[::1]:53'], /is not an IPv4 address/],
      [['relay', 'udp:0', 'udp:127.0.0.1:53', '--idle-timeout', '0'], /Invalid --idle-timeout '0'/],
      [['relay', 'udp:0', 'udp:127.0.0.1:53', '--allow', 'x'], /Invalid allow rule 'x'/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
  });
});
