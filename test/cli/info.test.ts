import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';

describe('soket info', () => {
  test('--json prints the documented object', async () => {
    const r = await runCli(['info', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(info).sort(), [
      'fqdn',
      'hostname',
      'interfaces',
      'primary',
      'resolved',
      'warnings',
    ]);
    assert.equal(info.hostname, os.hostname());
    assert.deepEqual(Object.keys(info.primary.ipv4).sort(), ['address', 'interface', 'unavailable']);
    assert.deepEqual(Object.keys(info.resolved).sort(), ['addresses', 'loopback', 'unavailable']);
    assert.deepEqual(Object.keys(info.interfaces[0]).sort(), [
      'address',
      'cidr',
      'family',
      'internal',
      'mac',
      'name',
      'netmask',
      'scopeId',
    ]);
  });

  test('text output has the headed block and the interface table', async () => {
    const r = await runCli(['info']);
    assert.equal(r.code, 0);
    for (const label of ['Host name', 'FQDN', 'Resolves to', 'Primary IPv4', 'Primary IPv6', 'Interfaces']) {
      assert.match(r.stdout, new RegExp(`^${label}`, 'm'));
    }
    assert.match(r.stdout, /^ {2}lo +IPv4 +127\.0\.0\.1\/8/m);
  });

  test('a bad --timeout is a usage error', async () => {
    const r = await runCli(['info', '--timeout', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^soket: Invalid --timeout 'soon'/);
  });
});
