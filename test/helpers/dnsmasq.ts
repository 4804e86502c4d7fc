/**
 * dnsmasq (Debian package) as a real DNS server for tests: a test zone of its own on a free loopback port
 * (or on 127.0.0.1:53 inside a network namespace), stopped afterwards. Names outside the zone are REFUSED
 * (no upstream servers), unknown names inside it are NXDOMAIN.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { requirePeer } from './peers.js';
import { freeTcpUdpPort } from './ports.js';

/** The test zone every dnsmasq started here serves. */
export const ZONE = {
  domain: 'example.test',
  www: 'www.example.test',
  wwwV4: '192.0.2.10',
  wwwV6: '2001:db8::10',
  v4only: 'v4only.example.test',
  v4onlyAddress: '192.0.2.11',
  v6only: 'v6only.example.test',
  v6onlyAddress: '2001:db8::11',
  alias: 'alias.example.test',
  mx: { priority: 10, exchange: 'mail.example.test' },
  txt: ['v=test', 'second chunk'],
  srvName: '_sip._udp.example.test',
  srv: { priority: 0, weight: 5, port: 5060, target: 'sip.example.test' },
  ns: 'ns1.example.test',
  soa: {
    nsname: 'ns1.example.test',
    hostmaster: 'hostmaster.example.test',
    serial: 2024010101,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minttl: 300,
  },
  caa: { flags: 0, tag: 'issue', value: 'ca.example.test' },
  naptr: {
    order: 100,
    preference: 10,
    flags: 'S',
    service: 'SIP+D2U',
    regexp: '',
    replacement: '_sip._udp.example.test',
  },
  /** An address with a PTR record and no forward record. */
  ptrOnlyV4: '192.0.2.20',
  ptrOnlyV4Name: 'ptr-only.example.test',
  ptrOnlyV6: '2001:db8::20',
  ptrOnlyV6Name: 'ptr6.example.test',
  /** An address in the zone's reverse domain without a PTR record (NXDOMAIN). */
  noPtrV4: '192.0.2.99',
  /** A name in the zone that does not exist (NXDOMAIN). */
  nxdomain: 'nosuch.example.test',
  /** A name outside the zone (REFUSED: dnsmasq has no upstream). */
  refused: 'www.outside.test',
  /** TTL of every record. */
  ttl: 300,
} as const;

function wire(name: string): string {
  return `${name
    .split('.')
    .map((l) => l.length.toString(16).padStart(2, '0') + Buffer.from(l).toString('hex'))
    .join('')}00`;
}

function u32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** dnsmasq arguments that serve {@link ZONE}. */
export function zoneArgs(): string[] {
  const z = ZONE;
  const soa =
    wire(z.soa.nsname) +
    wire(z.soa.hostmaster) +
    [z.soa.serial, z.soa.refresh, z.soa.retry, z.soa.expire, z.soa.minttl].map(u32).join('');
  return [
    `--local=/${z.domain}/`,
    '--local=/2.0.192.in-addr.arpa/',
    '--local=/8.b.d.0.1.0.0.2.ip6.arpa/',
    `--host-record=${z.www},${z.wwwV4},${z.wwwV6}`,
    `--host-record=${z.v4only},${z.v4onlyAddress}`,
    `--host-record=${z.v6only},${z.v6onlyAddress}`,
    `--cname=${z.alias},${z.www}`,
    `--mx-host=${z.domain},${z.mx.exchange},${z.mx.priority}`,
    `--txt-record=${z.domain},${z.txt.join(',')}`,
    `--srv-host=${z.srvName},${z.srv.target},${z.srv.port},${z.srv.priority},${z.srv.weight}`,
    `--ptr-record=${z.ptrOnlyV4.split('.').reverse().join('.')}.in-addr.arpa,${z.ptrOnlyV4Name}`,
    `--ptr-record=0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa,${z.ptrOnlyV6Name}`,
    `--caa-record=${z.domain},${z.caa.flags},${z.caa.tag},${z.caa.value}`,
    `--naptr-record=${z.domain},${z.naptr.order},${z.naptr.preference},${z.naptr.flags},${z.naptr.service},${z.naptr.regexp},${z.naptr.replacement}`,
    `--dns-rr=${z.domain},2,${wire(z.ns)}`,
    `--dns-rr=${z.domain},6,${soa}`,
    `--local-ttl=${z.ttl}`,
  ];
}

/** A running dnsmasq. */
export interface Dnsmasq {
  /** Listening address. */
  host: string;
  port: number;
  /** `127.0.0.1:PORT`, for `--server`. */
  server: string;
  /** What dnsmasq printed (it logs to stderr). */
  log(): string;
  stop(): Promise<void>;
}

/** Options for {@link startDnsmasq}. */
export interface DnsmasqOptions {
  /** Fixed port (inside a namespace: 53). @default a free port */
  port?: number;
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** A hosts-format file of extra names (`--addn-hosts`). */
  addnHosts?: string;
  /** Serve the test zone. @default true */
  zone?: boolean;
  /** More dnsmasq arguments. */
  extraArgs?: string[];
}

function waitStarted(child: ChildProcess, out: { text: string }): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      out.text += b.toString('utf8');
      if (/started, version/.test(out.text)) {
        cleanup();
        resolve(true);
      }
    };
    const onExit = () => {
      cleanup();
      if (/Address already in use/.test(out.text)) resolve(false);
      else reject(new Error(`dnsmasq exited before starting: ${out.text.trim()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`dnsmasq did not start within 10 s: ${out.text.trim()}`));
    }, 10_000);
    const cleanup = () => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Start dnsmasq serving {@link ZONE} on 127.0.0.1 (a free port unless `port` is given). Resolves once it
 * has bound its sockets.
 */
export async function startDnsmasq(options: DnsmasqOptions = {}): Promise<Dnsmasq> {
  for (let attempt = 0; ; attempt++) {
    const port = options.port ?? (await freeTcpUdpPort());
    const args = [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--pid-file=',
      '--user=root',
      '--log-facility=-',
      ...(options.zone === false ? [] : zoneArgs()),
      ...(options.addnHosts ? [`--addn-hosts=${options.addnHosts}`] : []),
      ...(options.extraArgs ?? []),
    ];
    const [cmd, ...pre] = options.netns ? ['ip', 'netns', 'exec', options.netns, 'dnsmasq'] : ['dnsmasq'];
    const child = spawn(cmd as string, [...pre, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const out = { text: '' };
    const started = await waitStarted(child, out);
    if (!started) {
      if (options.port !== undefined || attempt >= 5) throw new Error(`dnsmasq could not bind: ${out.text}`);
      continue;
    }
    child.stderr?.on('data', (b: Buffer) => {
      if (out.text.length < 100_000) out.text += b.toString('utf8');
    });
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    return {
      host: '127.0.0.1',
      port,
      server: `127.0.0.1:${port}`,
      log: () => out.text,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      },
    };
  }
}

/** Skip (locally) or fail (CI) when dnsmasq is missing; otherwise start it. */
export async function requireDnsmasq(
  t: TestContext,
  options: DnsmasqOptions = {},
): Promise<Dnsmasq | undefined> {
  if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq')) return undefined;
  return startDnsmasq(options);
}
