/**
 * A small LAN of network namespaces for broadcast and multicast tests: N hosts, each with one veth interface
 * (`veth0`) plugged into a bridge that lives in its own namespace. Nothing is connected to the machine's real
 * interfaces, so a broadcast or multicast datagram can only reach these hosts.
 *
 * | host | veth0 IPv4        | veth0 IPv6 |
 * | ---- | ----------------- | ---------- |
 * | 0    | 10.77.0.1/24      | fd77::1/64 |
 * | 1    | 10.77.0.2/24      | fd77::2/64 |
 * | ...  | broadcast 10.77.0.255 |        |
 *
 * Each host has loopback up and a multicast route (224.0.0.0/4 dev veth0); IPv6 duplicate address detection
 * is off so addresses work at once. Bridge IGMP/MLD snooping is off (the bridge floods groups to every port).
 *
 * Two ways to run code on a host:
 * - a child process: `lan.spawn(host, cmd, args)` (`ip netns exec`);
 * - in this process: `await lan.on(host, () => bindSomething())` moves this thread into the host's namespace
 *   (setns(2) through koffi) while `fn` runs, so sockets created (bound) inside live on that host for good.
 *   Keep `fn` short and do not run two at once.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { libc } from '../../src/platform/ffi.js';
import { canUseNetns } from './netns.js';

/** One host of the LAN. */
export interface LanHost {
  /** Its namespace. */
  ns: string;
  /** Its interface name (`veth0`). */
  iface: string;
  /** Its IPv4 address. */
  ipv4: string;
  /** Its IPv6 (unique local) address. */
  ipv6: string;
}

/** A LAN made by {@link createLan}. */
export interface Lan {
  hosts: LanHost[];
  /** The IPv4 broadcast address of the LAN. */
  broadcast: string;
  /** Run `fn` with this thread in the host's namespace. */
  on<T>(host: LanHost, fn: () => Promise<T> | T): Promise<T>;
  /** Spawn a process on a host. */
  spawn(
    host: LanHost,
    command: string,
    args: string[],
    options?: { stdio?: 'pipe' | 'ignore' },
  ): ChildProcess;
  /** Run a command on a host and return its stdout (throws on failure). */
  exec(host: LanHost, command: string, args: string[]): string;
  /** Wait until at least `count` UDP sockets are bound to `port` on a host (polls ss there). */
  waitUdp(host: LanHost, port: number, count?: number): Promise<void>;
  /** Delete every namespace. */
  destroy(): void;
}

/** Whether LAN tests can run here (root, iproute2, namespaces, koffi for `on`). */
export function canUseLan(): { ok: boolean; reason: string } {
  const n = canUseNetns();
  if (!n.ok) return n;
  try {
    libc();
  } catch (err) {
    return { ok: false, reason: `FFI (koffi) is needed to enter namespaces: ${(err as Error).message}` };
  }
  return { ok: true, reason: '' };
}

const CLONE_NEWNET = 0x40000000;
let busy = false;

/**
 * Build a LAN of `count` hosts.
 *
 * @param tag - a short name for the namespaces (`bcast`)
 * @param count - how many hosts (2 or 3 is plenty)
 */
export function createLan(tag: string, count = 3): Lan {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const bridge = `soket-${tag}-br-${process.pid}`;
  const hosts: LanHost[] = [];
  const made: string[] = [];
  const destroy = () => {
    for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    made.length = 0;
    process.off('exit', destroy);
  };
  // Also when the test process ends without running after() (a test failed hard, or timed out).
  process.on('exit', destroy);
  try {
    ip('netns', 'add', bridge);
    made.push(bridge);
    ip('-n', bridge, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    ip('-n', bridge, 'link', 'set', 'br0', 'up');
    for (let i = 0; i < count; i++) {
      const ns = `soket-${tag}-h${i}-${process.pid}`;
      ip('netns', 'add', ns);
      made.push(ns);
      execFileSync(
        'ip',
        [
          'netns',
          'exec',
          ns,
          'sysctl',
          '-qw',
          'net.ipv6.conf.all.accept_dad=0',
          'net.ipv6.conf.default.accept_dad=0',
        ],
        { stdio: 'pipe' },
      );
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', bridge);
      ip('-n', bridge, 'link', 'set', `p${i}`, 'master', 'br0');
      ip('-n', bridge, 'link', 'set', `p${i}`, 'up');
      ip('-n', ns, 'addr', 'add', `10.77.0.${i + 1}/24`, 'brd', '10.77.0.255', 'dev', 'veth0');
      ip('-n', ns, 'addr', 'add', `fd77::${i + 1}/64`, 'dev', 'veth0', 'nodad');
      ip('-n', ns, 'link', 'set', 'veth0', 'up');
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'veth0');
      ip('-n', ns, 'route', 'add', 'default', 'dev', 'veth0');
      hosts.push({ ns, iface: 'veth0', ipv4: `10.77.0.${i + 1}`, ipv6: `fd77::${i + 1}` });
    }
  } catch (err) {
    destroy();
    throw err;
  }
  const { func } = libc();
  const setns = func('int setns(int fd, int nstype)') as (fd: number, type: number) => number;
  return {
    hosts,
    broadcast: '10.77.0.255',
    async on<T>(host: LanHost, fn: () => Promise<T> | T): Promise<T> {
      if (busy) throw new Error('lan.on: already inside a namespace');
      busy = true;
      const home = openSync('/proc/thread-self/ns/net', 'r');
      const there = openSync(`/run/netns/${host.ns}`, 'r');
      try {
        if (setns(there, CLONE_NEWNET) !== 0) throw new Error(`setns into ${host.ns} failed`);
        try {
          return await fn();
        } finally {
          if (setns(home, CLONE_NEWNET) !== 0) {
            // Never carry on in the wrong namespace.
            process.abort();
          }
        }
      } finally {
        closeSync(there);
        closeSync(home);
        busy = false;
      }
    },
    spawn(host, command, args, options = {}) {
      return spawn('ip', ['netns', 'exec', host.ns, command, ...args], { stdio: options.stdio ?? 'pipe' });
    },
    exec(host, command, args) {
      return execFileSync('ip', ['netns', 'exec', host.ns, command, ...args], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    },
    async waitUdp(host, port, count = 1) {
      for (let i = 0; i < 500; i++) {
        const out = execFileSync('ip', ['netns', 'exec', host.ns, 'ss', '-Hlun', `sport = :${port}`], {
          encoding: 'utf8',
        });
        if (out.trim().split('\n').filter(Boolean).length >= count) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`nothing bound UDP port ${port} on ${host.ns}`);
    },
    destroy,
  };
}
