import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { runCli, SOKET_BIN } from '../helpers/cli.js';
import { requireCapability } from '../helpers/peers.js';

describe('soket service', () => {
  test('name → port, with aliases and source', async () => {
    const r = await runCli(['service', 'http']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^http {2}80\/tcp {2}aliases: www\n/);
    assert.match(r.stdout, /source: \/etc\/services/);
  });

  test('port → name, port/proto, name/proto, and every protocol without one', async () => {
    assert.match((await runCli(['service', '25'])).stdout, /^smtp {2}25\/tcp/);
    assert.match((await runCli(['service', '53/udp'])).stdout, /^domain {2}53\/udp\n/);
    assert.match((await runCli(['service', 'domain/udp'])).stdout, /^domain {2}53\/udp\n/);
    const both = await runCli(['service', 'domain']);
    assert.match(both.stdout, /^domain {2}53\/tcp\ndomain {2}53\/udp\n/);
    assert.match((await runCli(['service', 'http', '--protocol', 'tcp'])).stdout, /^http {2}80\/tcp/);
  });

  test('--json shapes', async () => {
    const one = JSON.parse((await runCli(['service', 'domain', '--json'])).stdout);
    assert.equal(one.source, '/etc/services');
    assert.equal(one.query, 'domain');
    assert.deepEqual(
      one.services.map((s: { port: number; protocol: string }) => `${s.port}/${s.protocol}`),
      ['53/tcp', '53/udp'],
    );
    assert.deepEqual(Object.keys(one.services[0]).sort(), ['aliases', 'name', 'port', 'protocol', 'source']);
    const many = JSON.parse((await runCli(['service', 'http', 'nosuch', '--json'])).stdout);
    assert.equal(many.results.length, 2);
    assert.equal(many.results[1].error.code, 'SOKET_NOT_FOUND');
    const list = JSON.parse(
      (await runCli(['service', '--list', '--search', 'http', '-p', 'tcp', '--json'])).stdout,
    );
    assert.equal(list.count, list.services.length);
    assert.ok(list.services.some((s: { name: string }) => s.name === 'http'));
  });

  test('--list with filters', async () => {
    const r = await runCli(['service', '--list', '--protocol', 'udp']);
    assert.equal(r.code, 0);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.length > 10);
    assert.ok(lines.slice(0, -1).every((l) => /\/udp/.test(l)));
  });

  test('bad input exits 2 with a clear one-line message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['service', '0'], /Invalid port '0'/],
      [['service', '65536'], /Invalid port '65536'/],
      [['service', '-1'], /Invalid port '-1'/],
      [['service', '--port', 'abc'], /Invalid port 'abc'/],
      [['service', '53/xyz'], /Unknown protocol 'xyz'/],
      [['service', 'http', '--protocol', 'bogus'], /Unknown protocol 'bogus'/],
      [['service', ''], /Invalid service name: must not be empty/],
      [['service'], /Give a service name or port/],
      [['service', '--search', 'x'], /--search needs --list/],
      [
        ['service', '--file', '/nonexistent/services', 'http'],
        /Cannot read services file '\/nonexistent\/services': no such file/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}`);
    }
  });

  test('an unknown service exits 1 naming what was asked', async () => {
    const r = await runCli(['service', 'no-such-service']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "soket: Service 'no-such-service' not found in /etc/services\n");
    const port = await runCli(['service', '9/sctp']);
    assert.equal(port.code, 1);
    assert.match(port.stderr, /No service on port 9\/sctp/);
    // several queries: the found ones are still printed
    const mixed = await runCli(['service', 'http', 'no-such-service']);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stdout, /^http {2}80\/tcp/);
  });

  test('--embedded uses the embedded table', async () => {
    const r = await runCli(['service', '80/tcp', '--embedded']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^http {2}80\/tcp {2}aliases: www\nsource: embedded table\n$/);
  });

  test('missing /etc/services: falls back to the embedded table (mount namespace)', async (t) => {
    const ok =
      process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0;
    if (!requireCapability(t, ok, 'needs root and unshare(1) to hide /etc/services in a mount namespace'))
      return;
    // An empty tmpfs over /etc: /etc/services is missing, as in a minimal container.
    const script = 'mount -t tmpfs none /etc && exec "$0" "$@"';
    const r = await runCli(['service', 'http', '--json'], {
      prefix: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, process.execPath, SOKET_BIN],
      env: { NODE_EXTRA_CA_CERTS: '' },
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.source, 'embedded');
    assert.match(out.fallbackReason, /\/etc\/services: no such file/);
    assert.equal(out.services[0].port, 80);
  });
});
