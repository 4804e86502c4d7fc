import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readSocketLimits } from '../../src/net/sysctl.js';
import { runCli } from '../helpers/cli.js';

const limits = readSocketLimits();

describe('soket sockopt', () => {
  test('TCP pair: shows defaults, applies options, shows them again and explains the doubling', async () => {
    const r = await runCli(['sockopt', '--sndbuf', '65536', '--rcvbuf', '32k', '--nodelay', '--ttl', '9']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(
      r.stdout,
      /^TCP on loopback \(IPv4\): client 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+, accepted socket\n/,
    );
    assert.match(r.stdout, /client before {2}client after {2}accepted/);
    assert.match(r.stdout, /SO_SNDBUF \(bytes\) +\d+ +131072 \* +\d+/);
    assert.match(r.stdout, /TCP_NODELAY +off +on \* +off/);
    assert.match(r.stdout, /IP_TTL \/ hop limit +64 +9 \* +64/);
    // explanations are word-wrapped to the terminal: compare with the whitespace collapsed
    const flat = r.stdout.replace(/\s+/g, ' ');
    assert.match(
      flat,
      /SO_SNDBUF: asked for 65536, the kernel reports 131072: Linux doubles the size you set/,
    );
    assert.match(flat, new RegExp(`capped at net\\.core\\.wmem_max \\(${limits.wmemMax}\\)`));
    assert.match(flat, /SO_RCVBUF: asked for 32768, the kernel reports 65536/);
    assert.match(flat, /window scale was agreed before SO_RCVBUF changed/);
    assert.match(flat, /A fresh socket has none: Node's socket\.timeout is undefined/);
    assert.match(r.stdout, /connect +connectTimeout +the TCP handshake .* within 2000 ms/);
    assert.match(r.stdout, /e\.g\. TimeoutError: Connect to 127\.0\.0\.1:\d+ timed out after 2000 ms/);
  });

  test('--json: before and after as the kernel reports them, limits and timeouts', async () => {
    const r = await runCli([
      'sockopt',
      '--sndbuf',
      '4096',
      '--keepalive',
      '--keepalive-idle',
      '30',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.protocol, 'tcp');
    assert.equal(out.family, 4);
    assert.deepEqual(out.requested, { sendBufferSize: 4096, keepAlive: true, keepAliveIdle: 30 });
    assert.deepEqual(
      out.sockets.map((s: { role: string }) => s.role),
      ['client', 'accepted'],
    );
    const [client, accepted] = out.sockets;
    assert.equal(client.before.keepAlive, false);
    assert.equal(client.after.sendBufferSize, 8192);
    assert.equal(client.after.keepAlive, true);
    assert.equal(client.after.keepAliveIdle, 30);
    assert.equal(accepted.after.keepAlive, false, 'only the client was changed');
    assert.equal(out.limits.wmemMax, limits.wmemMax);
    assert.equal(out.timeouts.default.nodeSocketTimeout, null);
    assert.equal(out.timeouts.default.receiveTimeout, 0);
    assert.equal(out.timeouts.default.kernelConnectGiveUpSeconds, 2 ** ((limits.tcpSynRetries ?? 6) + 1) - 1);
    assert.deepEqual(
      out.timeouts.phases.map((p: { phase: string }) => p.phase),
      ['lookup', 'connect', 'idle', 'overall'],
    );
  });

  test('UDP, IPv6, and a request above rmem_max (capped, then doubled)', async () => {
    const max = limits.rmemMax as number;
    const r = await runCli([
      'sockopt',
      '--udp',
      '-6',
      '--rcvbuf',
      String(max + 1000),
      '--ttl',
      '3',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.protocol, 'udp');
    assert.equal(out.family, 6);
    assert.equal(out.sockets.length, 1);
    const [s] = out.sockets;
    assert.equal(s.role, 'bound');
    assert.match(s.local, /^\[::1\]:\d+$/);
    assert.equal(s.after.receiveBufferSize, 2 * max);
    assert.equal(s.after.ttl, 3);
    assert.equal(s.after.noDelay, null);
    assert.ok(
      out.notes.some((n: string) => n.includes(`capped at net.core.rmem_max (${max}), then doubled`)),
    );
  });

  test('an option the OS does not support on UDP: exit 1 with a clear message', async () => {
    const r = await runCli(['sockopt', '--udp', '--nodelay']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'soket: Option TCP_NODELAY is not supported on a UDP socket by this OS (ENOPROTOOPT from setsockopt)\n',
    );
    const j = await runCli(['sockopt', '--udp', '--nodelay', '--json']);
    assert.equal(j.code, 1);
    assert.equal(JSON.parse(j.stdout).error.code, 'SOKET_UNSUPPORTED');
  });

  test('bad input exits 2 with a one-line message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--sndbuf', '-1'], /Invalid --sndbuf '-1': expected a size in bytes from 1 to 2147483647/],
      [['--sndbuf', 'abc'], /Invalid --sndbuf 'abc'/],
      [['--rcvbuf', '0'], /Invalid --rcvbuf '0'/],
      [['--rcvbuf', '4g'], /Invalid --rcvbuf '4g'/],
      [['--ttl', '0'], /Invalid --ttl '0': expected an integer from 1 to 255/],
      [['--keepalive-count', 'x'], /Invalid --keepalive-count 'x'/],
      [['--tcp', '--udp'], /Options --tcp and --udp cannot be used together/],
      [['-4', '-6'], /Options -4 and -6 cannot be used together/],
      [['--timeout', '-5'], /Invalid --timeout '-5'/],
      [['--sndbuf'], /argument missing/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['sockopt', ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, args.join(' '));
    }
  });

  test('without FFI: exit 1 explaining why', async () => {
    const r = await runCli(['sockopt'], { env: { SOKET_NO_FFI: '1' } });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'soket: Socket options and kernel clock state need FFI (koffi), which is disabled by SOKET_NO_FFI=1\n',
    );
    // other commands are unaffected
    assert.equal((await runCli(['service', 'http'], { env: { SOKET_NO_FFI: '1' } })).code, 0);
  });
});
