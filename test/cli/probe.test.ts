import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { hangingListener } from '../helpers/hanging-listener.js';
import { requirePeer } from '../helpers/peers.js';
import { freeTcpPort } from '../helpers/ports.js';

const servers: net.Server[] = [];
const cleanups: Array<() => void> = [];
after(() => {
  for (const s of servers) s.close();
  for (const c of cleanups) c();
});

async function listen(): Promise<number> {
  const s = net.createServer((c) => c.destroy());
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  servers.push(s);
  return (s.address() as net.AddressInfo).port;
}

describe('soket probe', () => {
  test('open and closed ports, a table and a summary, exit 0', async () => {
    const open = await listen();
    const closed = await freeTcpPort();
    const r = await runCli(['probe', '127.0.0.1', `${open},${closed}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^PORT +STATE +CONNECT +SERVICE\n/);
    assert.match(r.stdout, new RegExp(`^${open} +open +[\\d.]+ (µs|ms)$`, 'm'));
    assert.match(r.stdout, new RegExp(`^${closed} +closed$`, 'm'));
    assert.match(r.stdout, /127\.0\.0\.1: 1 open, 1 closed, 0 filtered — 2 ports in /);
    assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
  });

  test('--json shape; exit 1 when no port is open', async () => {
    const closed = await freeTcpPort();
    const r = await runCli(['probe', 'localhost', String(closed), '-4', '--json']);
    assert.equal(r.code, 1);
    // NDJSON: one `port` event per port, then the `summary`.
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      events.map((e) => e.event),
      ['port', 'summary'],
    );
    const [port, out] = events;
    assert.equal(out.address, '127.0.0.1');
    assert.equal(out.interrupted, false);
    assert.deepEqual(out.summary, { open: 0, closed: 1, filtered: 0, error: 0 });
    assert.equal(out.results, undefined, 'the summary line does not repeat the ports');
    assert.deepEqual(
      { ...port, service: undefined },
      {
        event: 'port',
        protocol: 'tcp',
        port: closed,
        state: 'closed',
        address: '127.0.0.1',
        connectMs: null,
        code: 'ECONNREFUSED',
        reason: 'connection refused',
        service: undefined,
      },
    );
  });

  test('long lists hide closed ports unless --all; --open shows only open ones', async () => {
    const open = await listen();
    const lo = Math.max(1, open - 15);
    const spec = `${lo}-${lo + 30},${open}`;
    const r = await runCli(['probe', '127.0.0.1', spec]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^${open} +open`, 'm'));
    assert.doesNotMatch(r.stdout, / closed$/m);
    assert.match(r.stdout, /not listed; --all lists them/);
    const all = await runCli(['probe', '127.0.0.1', spec, '--all']);
    assert.ok(all.stdout.split('\n').filter((l) => / closed$/.test(l)).length >= 25);
    const onlyOpen = await runCli(['probe', '127.0.0.1', spec, '--open']);
    assert.doesNotMatch(onlyOpen.stdout, / closed$/m);
  });

  test('a port whose SYNs are dropped is filtered', async (t) => {
    const python = requirePeer(t, 'python3', 'apt-get install python3');
    if (!python) return;
    const hanging = await hangingListener(python);
    cleanups.push(() => hanging.close());
    const r = await runCli(['probe', '127.0.0.1', String(hanging.port), '--timeout', '300']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^${hanging.port} +filtered$`, 'm'));
  });

  test('invalid ports, ranges and options are usage errors (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['probe', '127.0.0.1', '0'], /Invalid port '0'/],
      [['probe', '127.0.0.1', '70000'], /Invalid port '70000'/],
      [['probe', '127.0.0.1', '10-5'], /Invalid port range '10-5': 10 is greater than 5/],
      [['probe', '127.0.0.1', '80,,81'], /Invalid port list/],
      [['probe', '127.0.0.1', 'http'], /Invalid port 'http'/],
      [['probe', 'bad host', '80'], /not an IP address or a valid host name/],
      [['probe', '127.0.0.1', '80', '--timeout', '0'], /Invalid --timeout '0'/],
      [['probe', '127.0.0.1', '80', '--concurrency', '0'], /Invalid --concurrency '0'/],
      [['probe', '127.0.0.1', '80', '-4', '-6'], /-4 and -6 cannot be used together/],
      [['probe', '127.0.0.1'], /missing required argument 'ports'/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});
