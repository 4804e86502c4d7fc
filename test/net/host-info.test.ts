import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { describe, test } from 'node:test';
import { hostInfo, isLoopback, listInterfaces, primaryAddress } from '../../src/net/host-info.js';
import { runCli, SOKET_BIN } from '../helpers/cli.js';
import { canUseNetns, createNetns, deleteNetns } from '../helpers/netns.js';
import { findExecutable, requireCapability } from '../helpers/peers.js';

function kernelRouteSource(family: 4 | 6, dest: string): string | null {
  try {
    const out = execFileSync('ip', [`-${family}`, '-j', 'route', 'get', dest], { encoding: 'utf8' });
    const [route] = JSON.parse(out) as Array<{ prefsrc?: string }>;
    return route?.prefsrc ?? null;
  } catch {
    return null;
  }
}

describe('hostInfo', () => {
  test('host name, interfaces and resolver answer', async () => {
    const info = await hostInfo();
    assert.equal(info.hostname, os.hostname());
    assert.ok(info.fqdn.startsWith(info.hostname.split('.')[0] ?? ''));
    assert.ok(
      info.interfaces.some((i) => i.internal && i.address === '127.0.0.1'),
      'loopback listed',
    );
    for (const i of info.interfaces) {
      assert.ok(i.family === 'IPv4' || i.family === 'IPv6');
      assert.match(i.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      assert.ok(i.cidr === null || i.cidr.startsWith(i.address));
    }
    assert.equal(info.resolved.loopback, info.resolved.addresses.some(isLoopback));
    if (info.resolved.loopback) {
      assert.ok(
        info.warnings.some((w) => /resolves to loopback/.test(w)),
        'loopback warning given',
      );
    }
  });

  test('primary addresses agree with the kernel route table (ip route get)', async (t) => {
    if (!requireCapability(t, Boolean(findExecutable('ip')), 'iproute2 (ip) not installed')) return;
    for (const [family, dest] of [
      [4, '192.0.2.1'],
      [6, '2001:db8::1'],
    ] as const) {
      const ours = await primaryAddress(family, dest);
      const kernel = kernelRouteSource(family, dest);
      assert.equal(ours.address, kernel, `IPv${family}`);
      if (ours.address) {
        assert.equal(ours.unavailable, null);
        const iface = listInterfaces().find((i) => i.address === ours.address);
        assert.equal(ours.interface, iface?.name);
      } else {
        assert.match(ours.unavailable ?? '', /IPv/);
      }
    }
  });

  test('without a default route or IPv6 it still answers and says why (in a network namespace)', async (t) => {
    const can = canUseNetns();
    if (!requireCapability(t, can.ok, can.reason)) return;
    const ns = createNetns('noroute');
    try {
      const r = await runCli(['info', '--json'], {
        prefix: ['ip', 'netns', 'exec', ns, process.execPath, SOKET_BIN],
      });
      assert.equal(r.code, 0, r.stderr);
      const info = JSON.parse(r.stdout);
      assert.equal(info.primary.ipv4.address, null);
      assert.match(info.primary.ipv4.unavailable, /no IPv4 default route/);
      assert.equal(info.primary.ipv6.address, null);
      assert.match(info.primary.ipv6.unavailable, /IPv6/);
      assert.deepEqual(info.interfaces, []);
      const text = await runCli(['info'], {
        prefix: ['ip', 'netns', 'exec', ns, process.execPath, SOKET_BIN],
      });
      assert.equal(text.code, 0);
      assert.match(text.stdout, /Primary IPv4 +unavailable: no IPv4 default route/);
    } finally {
      deleteNetns(ns);
    }
  });
});
