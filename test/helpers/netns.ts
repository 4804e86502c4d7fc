/**
 * Network namespaces for tests that need a host without routes (or a second host): created with
 * `ip netns add`, always deleted afterwards. Needs root and iproute2.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { findExecutable } from './peers.js';

/** Whether this process can create network namespaces (root, iproute2 present, netns permitted). */
export function canUseNetns(): { ok: boolean; reason: string } {
  const ip = findExecutable('ip');
  if (!ip) return { ok: false, reason: 'iproute2 (ip) not installed' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root' };
  const probe = `soket-probe-${process.pid}`;
  const r = spawnSync(ip, ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, reason: `ip netns add failed: ${r.stderr.trim()}` };
  spawnSync(ip, ['netns', 'del', probe]);
  return { ok: true, reason: '' };
}

/** Create a namespace (with only a loopback interface, down unless `loopbackUp`); returns its name. */
export function createNetns(tag: string, loopbackUp = false): string {
  const name = `soket-${tag}-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  if (loopbackUp) execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Delete a namespace made by createNetns. */
export function deleteNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
}
