/**
 * A network namespace in which the system resolver (getaddrinfo/getnameinfo) asks a test dnsmasq: its own
 * /etc/resolv.conf (`nameserver 127.0.0.1`) and /etc/hosts, which `ip netns exec` bind-mounts from
 * /etc/netns/<name>/ over the real ones for the commands it runs, and dnsmasq on 127.0.0.1:53 inside. The
 * machine's own /etc/resolv.conf and /etc/hosts are never touched. Needs root and iproute2.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { startDnsmasq } from './dnsmasq.js';
import { createNetns, deleteNetns } from './netns.js';

/** A running namespace with its resolver. */
export interface DnsNetns {
  name: string;
  /** Prefix to run a command inside: `['ip', 'netns', 'exec', name]`. */
  exec: string[];
  stop(): Promise<void>;
}

/** Options for {@link startDnsNetns}. */
export interface DnsNetnsOptions {
  /** Lines of the namespace's /etc/hosts. @default localhost on 127.0.0.1 and ::1 */
  hosts?: string[];
  /** Extra names for dnsmasq (`--addn-hosts`). */
  addnHosts?: string;
  /** More dnsmasq arguments. */
  extraArgs?: string[];
  /** resolv.conf `options` line. @default 'timeout:1 attempts:1' */
  resolvOptions?: string;
  /** resolv.conf `search` list. @default none */
  search?: string[];
  /** dnsmasq's port inside the namespace (not 53: something else answers for the system resolver). @default 53 */
  port?: number;
}

/** Create the namespace, its resolver files and its dnsmasq; `stop()` removes all of it. */
export async function startDnsNetns(tag: string, options: DnsNetnsOptions = {}): Promise<DnsNetns> {
  const name = createNetns(tag, true);
  const dir = `/etc/netns/${name}`;
  const cleanup = () => {
    deleteNetns(name);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      `${dir}/resolv.conf`,
      `nameserver 127.0.0.1\noptions ${options.resolvOptions ?? 'timeout:1 attempts:1'}\n${options.search ? `search ${options.search.join(' ')}\n` : ''}`,
    );
    writeFileSync(
      `${dir}/hosts`,
      `${(options.hosts ?? ['127.0.0.1 localhost', '::1 localhost ip6-localhost']).join('\n')}\n`,
    );
    const dnsmasq = await startDnsmasq({
      port: options.port ?? 53,
      netns: name,
      ...(options.addnHosts ? { addnHosts: options.addnHosts } : {}),
      ...(options.extraArgs ? { extraArgs: options.extraArgs } : {}),
    });
    return {
      name,
      exec: ['ip', 'netns', 'exec', name],
      async stop() {
        await dnsmasq.stop();
        cleanup();
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
