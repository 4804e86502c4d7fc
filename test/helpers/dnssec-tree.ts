/**
 * A private DNS tree for DNSSEC and `--trace` tests, offline: a root zone, two TLDs and leaf zones, signed at
 * build time with BIND's `dnssec-keygen`/`dnssec-signzone` (several algorithms, NSEC, NSEC3, NSEC3 opt-out),
 * served by Knot DNS (`knotd`, one per server address: 127.X.Y.n port 53, a random X.Y per run), plus a
 * non-validating recursive resolver (unbound, iterator only) for `delv` and `--validate --server`. A root hints
 * file and a matching trust anchor (soket's DS lines and delv's `trust-anchors` clause) come with it.
 *
 * Nothing here talks to anything outside 127.0.0.0/8: the resolver's only hints are the private root.
 *
 * Layout (n = last octet of the server's address):
 *
 * | zone | server | signed | what it exercises |
 * | --- | --- | --- | --- |
 * | `.` | 1 | RSASHA256 (8), NSEC | the trust anchor |
 * | `test.` | 2 | ECDSAP256SHA256 (13), NSEC3 salt+iterations | DS for most children, insecure and looping delegations |
 * | `example.` | 3 | RSASHA512 (10), NSEC3 opt-out | an opt-out unsigned delegation |
 * | `secure.test.` | 4 | ED25519 (15), NSEC, DS SHA-384 | secure answers, NXDOMAIN, NODATA, wildcard, DNAME, CNAME |
 * | `inner.secure.test.` | 4 | 13 | a child on its parent's server (answers without a referral) |
 * | `sub.secure.test.` | 5 | ECDSAP384SHA384 (14), NSEC3 | four levels deep; NSEC3 wildcard |
 * | `insecure.test.`, `unsigned.example.` | 4 | no | insecure delegations |
 * | `expired.test.`, `tampered.test.`, `badds.test.` | 4 | 13 | bogus: expired RRSIG, altered A, DS matching no key |
 * | `glueless.test.` | 5 | 13 | NS `ns.hosts.example.`: no glue in the referral |
 * | `hosts.example.` | 5 | 8, NSEC, DS SHA-1 and SHA-256 | the glue-less NS's zone, a CNAME target |
 * | `lame.test.` | 4 | 15 | NS at .7 (silent), .6 (refuses: lame), .4 (answers) |
 * | `loop1.test.`, `loop2.test.` | — | — | glue-less NS names that depend on each other |
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findExecutable } from './peers.js';

const run = promisify(execFile);

/** The executables the tree needs (bind9, bind9-utils, bind9-dnsutils). */
export const TREE_PEERS = [
  'knotd',
  'unbound',
  'dnssec-keygen',
  'dnssec-signzone',
  'dnssec-dsfromkey',
  'delv',
  'dig',
] as const;

/** The first missing executable, or undefined. */
export function missingTreePeer(): string | undefined {
  return TREE_PEERS.find((p) => !findExecutable(p));
}

/** A running tree. */
export interface DnssecTree {
  /** Temporary directory holding keys, zones, the config and the files below. */
  dir: string;
  /** Address of server `n`: `127.X.Y.n`. */
  addr(n: number): string;
  /** The root server's address. */
  root: string;
  /** The recursive (non-validating) resolver's address, for delv and `--validate --server`. */
  resolver: string;
  /** A root hints file naming the private root. */
  rootHints: string;
  /** Trust anchor for soket: the root KSK's DS in presentation form. */
  anchorFile: string;
  /** Trust anchor for the root as DNSKEY lines (the KSK), presentation form. */
  anchorKeyFile: string;
  /** The same anchor for delv: a `trust-anchors { . static-ds ...; };` clause. */
  delvAnchorFile: string;
  /** Key tag and algorithm of each signed zone's KSK, by zone name (`secure.test.`). */
  ksk: Map<string, { tag: number; algorithm: number }>;
  /** Stops the servers, removes the directory. */
  close(): Promise<void>;
}

interface ZoneSpec {
  name: string;
  server: number;
  /** dnssec-keygen algorithm name; absent for an unsigned zone. */
  algorithm?: string;
  /** dnssec-signzone NSEC3 options: salt ('-' for none), iterations, opt-out. */
  nsec3?: { salt: string; iterations: number; optOut: boolean };
  /** Extra dnssec-signzone arguments (validity window). */
  signArgs?: (now: Date) => string[];
  /** Digest types for the DS put in the parent (dnssec-dsfromkey -a). @default ['SHA-256'] */
  ds?: string[];
  /** No DS in the parent (an insecure delegation of a signed zone would be odd; this is for badds). */
  noDs?: boolean;
  /** The records, `{A}` replaced by the base address `127.X.Y.`. */
  records: string[];
  /** Rewrites the signed zone text (the tampered zone). */
  tamper?: (signed: string) => string;
}

function zoneSpecs(): ZoneSpec[] {
  return [
    {
      name: '.',
      server: 1,
      algorithm: 'RSASHA256',
      records: [
        '. SOA ns.root. hostmaster.root. 1 3600 600 86400 300',
        '. NS ns.root.',
        'ns.root. A {A}1',
        'test. NS ns.test.',
        'ns.test. A {A}2',
        'example. NS ns.example.',
        'ns.example. A {A}3',
      ],
    },
    {
      name: 'test.',
      server: 2,
      algorithm: 'ECDSAP256SHA256',
      nsec3: { salt: 'aabbccdd', iterations: 5, optOut: false },
      records: [
        'test. SOA ns.test. hostmaster.test. 1 3600 600 86400 300',
        'test. NS ns.test.',
        'ns.test. A {A}2',
        'secure.test. NS ns.secure.test.',
        'ns.secure.test. A {A}4',
        'insecure.test. NS ns.insecure.test.',
        'ns.insecure.test. A {A}4',
        'expired.test. NS ns.expired.test.',
        'ns.expired.test. A {A}4',
        'tampered.test. NS ns.tampered.test.',
        'ns.tampered.test. A {A}4',
        'badds.test. NS ns.badds.test.',
        'ns.badds.test. A {A}4',
        'glueless.test. NS ns.hosts.example.',
        'lame.test. NS ns1.lame.test.',
        'lame.test. NS ns2.lame.test.',
        'lame.test. NS ns3.lame.test.',
        'ns1.lame.test. A {A}7',
        'ns2.lame.test. A {A}6',
        'ns3.lame.test. A {A}4',
        'loop1.test. NS ns.loop2.test.',
        'loop2.test. NS ns.loop1.test.',
      ],
    },
    {
      name: 'example.',
      server: 3,
      algorithm: 'RSASHA512',
      nsec3: { salt: '-', iterations: 0, optOut: true },
      records: [
        'example. SOA ns.example. hostmaster.example. 1 3600 600 86400 300',
        'example. NS ns.example.',
        'ns.example. A {A}3',
        'unsigned.example. NS ns.unsigned.example.',
        'ns.unsigned.example. A {A}4',
        'hosts.example. NS ns.hosts.example.',
        'ns.hosts.example. A {A}5',
      ],
    },
    {
      name: 'secure.test.',
      server: 4,
      algorithm: 'ED25519',
      ds: ['SHA-384'],
      records: [
        'secure.test. SOA ns.secure.test. hostmaster.secure.test. 1 3600 600 86400 300',
        'secure.test. NS ns.secure.test.',
        'ns.secure.test. A {A}4',
        'www.secure.test. A 192.0.2.1',
        'www.secure.test. AAAA 2001:db8::1',
        'sub.secure.test. NS ns.sub.secure.test.',
        'ns.sub.secure.test. A {A}5',
        'alias.secure.test. CNAME www.hosts.example.',
        'dname.secure.test. DNAME sub.secure.test.',
        'inner.secure.test. NS ns.secure.test.',
        '*.wild.secure.test. A 192.0.2.9',
      ],
    },
    {
      name: 'sub.secure.test.',
      server: 5,
      algorithm: 'ECDSAP384SHA384',
      nsec3: { salt: '-', iterations: 0, optOut: false },
      records: [
        'sub.secure.test. SOA ns.sub.secure.test. hostmaster.sub.secure.test. 1 3600 600 86400 300',
        'sub.secure.test. NS ns.sub.secure.test.',
        'ns.sub.secure.test. A {A}5',
        'www.sub.secure.test. A 192.0.2.2',
        '*.wild.sub.secure.test. A 192.0.2.10',
      ],
    },
    {
      // On the same server as its parent: answers come from it without a referral.
      name: 'inner.secure.test.',
      server: 4,
      algorithm: 'ECDSAP256SHA256',
      records: [
        'inner.secure.test. SOA ns.secure.test. hostmaster.inner.secure.test. 1 3600 600 86400 300',
        'inner.secure.test. NS ns.secure.test.',
        'www.inner.secure.test. A 192.0.2.13',
      ],
    },
    {
      name: 'insecure.test.',
      server: 4,
      records: [
        'insecure.test. SOA ns.insecure.test. hostmaster.insecure.test. 1 3600 600 86400 300',
        'insecure.test. NS ns.insecure.test.',
        'ns.insecure.test. A {A}4',
        'www.insecure.test. A 192.0.2.3',
      ],
    },
    {
      name: 'unsigned.example.',
      server: 4,
      records: [
        'unsigned.example. SOA ns.unsigned.example. hostmaster.unsigned.example. 1 3600 600 86400 300',
        'unsigned.example. NS ns.unsigned.example.',
        'ns.unsigned.example. A {A}4',
        'www.unsigned.example. A 192.0.2.4',
      ],
    },
    {
      name: 'expired.test.',
      server: 4,
      algorithm: 'ECDSAP256SHA256',
      signArgs: (now) => ['-P', '-s', stamp(now, -30 * 86400), '-e', stamp(now, -86400)],
      records: [
        'expired.test. SOA ns.expired.test. hostmaster.expired.test. 1 3600 600 86400 300',
        'expired.test. NS ns.expired.test.',
        'ns.expired.test. A {A}4',
        'www.expired.test. A 192.0.2.11',
      ],
    },
    {
      name: 'tampered.test.',
      server: 4,
      algorithm: 'ECDSAP256SHA256',
      records: [
        'tampered.test. SOA ns.tampered.test. hostmaster.tampered.test. 1 3600 600 86400 300',
        'tampered.test. NS ns.tampered.test.',
        'ns.tampered.test. A {A}4',
        'www.tampered.test. A 192.0.2.5',
      ],
      tamper: (signed) =>
        signed.replace(/(www\.tampered\.test\.\s+\d+\s+IN\s+A\s+)192\.0\.2\.5/, '$1192.0.2.55'),
    },
    {
      name: 'badds.test.',
      server: 4,
      algorithm: 'ECDSAP256SHA256',
      noDs: true,
      records: [
        'badds.test. SOA ns.badds.test. hostmaster.badds.test. 1 3600 600 86400 300',
        'badds.test. NS ns.badds.test.',
        'ns.badds.test. A {A}4',
        'www.badds.test. A 192.0.2.12',
      ],
    },
    {
      name: 'glueless.test.',
      server: 5,
      algorithm: 'ECDSAP256SHA256',
      records: [
        'glueless.test. SOA ns.hosts.example. hostmaster.glueless.test. 1 3600 600 86400 300',
        'glueless.test. NS ns.hosts.example.',
        'www.glueless.test. A 192.0.2.6',
      ],
    },
    {
      name: 'hosts.example.',
      server: 5,
      algorithm: 'RSASHA256',
      ds: ['SHA-1', 'SHA-256'],
      records: [
        'hosts.example. SOA ns.hosts.example. hostmaster.hosts.example. 1 3600 600 86400 300',
        'hosts.example. NS ns.hosts.example.',
        'ns.hosts.example. A {A}5',
        'www.hosts.example. A 192.0.2.7',
      ],
    },
    {
      name: 'lame.test.',
      server: 4,
      algorithm: 'ED25519',
      records: [
        'lame.test. SOA ns3.lame.test. hostmaster.lame.test. 1 3600 600 86400 300',
        'lame.test. NS ns1.lame.test.',
        'lame.test. NS ns2.lame.test.',
        'lame.test. NS ns3.lame.test.',
        'ns1.lame.test. A {A}7',
        'ns2.lame.test. A {A}6',
        'ns3.lame.test. A {A}4',
        'www.lame.test. A 192.0.2.8',
      ],
    },
  ];
}

/** dnssec-signzone time: YYYYMMDDHHMMSS, `offset` seconds from `now`. */
function stamp(now: Date, offset: number): string {
  return new Date(now.getTime() + offset * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function fileName(zone: string): string {
  return zone === '.' ? 'root' : zone.slice(0, -1);
}

/** Children of a zone among the specs (one label below, or deeper with no spec in between). */
function childrenOf(zone: string, specs: ZoneSpec[]): ZoneSpec[] {
  const suffix = zone === '.' ? '' : zone;
  return specs.filter((s) => {
    if (s.name === zone || !s.name.endsWith(suffix) || s.name === '.') return false;
    // the nearest enclosing spec must be `zone`
    const enclosing = specs
      .filter((p) => p.name !== s.name && (p.name === '.' || s.name.endsWith(`.${p.name}`)))
      .sort((a, b) => b.name.length - a.name.length)[0];
    return enclosing?.name === zone;
  });
}

async function keygen(dir: string, zone: string, algorithm: string, ksk: boolean): Promise<string> {
  const args = ['-q', '-K', dir, '-a', algorithm, '-n', 'ZONE'];
  if (ksk) args.push('-f', 'KSK');
  if (algorithm.startsWith('RSA')) args.push('-b', '1024'); // small keys: quicker to make, fine for tests
  args.push(zone);
  const { stdout } = await run('dnssec-keygen', args);
  return stdout.trim();
}

function keyTagOf(keyName: string): { tag: number; algorithm: number } {
  const m = /\+(\d{3})\+(\d{5})$/.exec(keyName);
  if (!m) throw new Error(`Unexpected key file name ${keyName}`);
  return { algorithm: Number(m[1]), tag: Number(m[2]) };
}

/** Pick a random 127.X.Y. block whose .1 to .7 and .53 port 53 are free (UDP). */
async function pickBase(): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const base = `127.${100 + Math.floor(Math.random() * 150)}.${1 + Math.floor(Math.random() * 250)}.`;
    const ok = await udpFree(`${base}1`);
    if (ok) return base;
  }
  throw new Error('No free 127.X.Y.1:53 found for the DNSSEC tree');
}

function udpFree(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(53, address, () => s.close(() => resolve(true)));
  });
}

/** A UDP "server" that reads queries and never answers. */
async function silentServer(address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(53, address, () => resolve());
  });
  return s;
}

/**
 * Build, sign and serve the tree. Takes a few seconds (key generation and signing), so build it once per
 * test file in `before()`.
 */
export async function startDnssecTree(): Promise<DnssecTree> {
  const dir = mkdtempSync(join(tmpdir(), 'soket-dnssec-'));
  try {
    return await buildTree(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function buildTree(dir: string): Promise<DnssecTree> {
  const base = await pickBase();
  const addr = (n: number) => `${base}${n}`;
  const specs = zoneSpecs();
  const now = new Date();

  // Keys, in parallel: a KSK and a ZSK per signed zone, and a stray KSK for badds.test's DS.
  const keys = new Map<string, { ksk: string; zsk: string }>();
  await Promise.all(
    specs
      .filter((s) => s.algorithm)
      .map(async (s) => {
        const [ksk, zsk] = await Promise.all([
          keygen(dir, s.name, s.algorithm as string, true),
          keygen(dir, s.name, s.algorithm as string, false),
        ]);
        keys.set(s.name, { ksk, zsk });
      }),
  );
  const stray = await keygen(dir, 'badds.test.', 'ECDSAP256SHA256', true);

  // DS records for the parents.
  const dsFor = new Map<string, string[]>();
  for (const s of specs) {
    if (!s.algorithm) continue;
    const k = keys.get(s.name);
    if (!k) continue;
    const keyFile = join(dir, `${s.noDs ? stray : k.ksk}.key`);
    const lines: string[] = [];
    for (const digest of s.ds ?? ['SHA-256']) {
      const { stdout } = await run('dnssec-dsfromkey', ['-a', digest, keyFile]);
      lines.push(...stdout.trim().split('\n'));
    }
    dsFor.set(s.name, lines);
  }
  // The stray key must not end up in badds.test's zone: move it out of the key directory.
  for (const f of readdirSync(dir)) {
    if (f.startsWith(stray)) rmSync(join(dir, f));
  }

  // Zone files, then signing (in parallel).
  await Promise.all(
    specs.map(async (s) => {
      const lines = ['$TTL 3600', ...s.records.map((r) => r.replaceAll('{A}', base))];
      for (const child of childrenOf(s.name, specs)) lines.push(...(dsFor.get(child.name) ?? []));
      const k = keys.get(s.name);
      const file = join(dir, `${fileName(s.name)}.zone`);
      if (k) {
        const keyLines = [k.ksk, k.zsk].map((n) => `$INCLUDE ${join(dir, `${n}.key`)}`);
        writeFileSync(file, `${[...lines, ...keyLines].join('\n')}\n`);
        const args = ['-q', '-K', dir, '-o', s.name, '-f', `${file}.signed`];
        if (s.nsec3) {
          args.push('-3', s.nsec3.salt, '-H', String(s.nsec3.iterations));
          if (s.nsec3.optOut) args.push('-A');
        }
        if (s.signArgs) args.push(...s.signArgs(now));
        args.push(file);
        await run('dnssec-signzone', args, { cwd: dir });
        if (s.tamper) {
          const signed = readFileSync(`${file}.signed`, 'utf8');
          const altered = s.tamper(signed);
          if (altered === signed) throw new Error(`Tampering ${s.name} changed nothing`);
          writeFileSync(`${file}.signed`, altered);
        }
      } else {
        writeFileSync(`${file}.signed`, `${lines.join('\n')}\n`);
      }
    }),
  );

  // Hints and anchors.
  const rootHints = join(dir, 'root.hints');
  writeFileSync(rootHints, `.  3600000  NS  ns.root.\nns.root.  3600000  A  ${addr(1)}\n`);
  const rootKsk = keys.get('.')?.ksk as string;
  const { stdout: rootDs } = await run('dnssec-dsfromkey', ['-a', 'SHA-256', join(dir, `${rootKsk}.key`)]);
  const anchorFile = join(dir, 'anchor.ds');
  writeFileSync(anchorFile, `; the private root's KSK\n${rootDs.trim()}\n`);
  const anchorKeyFile = join(dir, 'anchor.key');
  const keyText = readFileSync(join(dir, `${rootKsk}.key`), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith(';'))
    .join('\n');
  writeFileSync(anchorKeyFile, `${keyText}\n`);
  const m = /^\S+\s+(?:\d+\s+)?IN\s+DS\s+(\d+)\s+(\d+)\s+(\d+)\s+(.+)$/.exec(
    rootDs.trim().split('\n')[0] ?? '',
  );
  if (!m) throw new Error(`Unexpected dnssec-dsfromkey output: ${rootDs}`);
  const delvAnchorFile = join(dir, 'delv.anchor');
  writeFileSync(
    delvAnchorFile,
    `trust-anchors {\n  "." static-ds ${m[1]} ${m[2]} ${m[3]} "${(m[4] as string).replace(/\s+/g, '')}";\n};\n`,
  );

  // Authoritative servers: one knotd per address (knotd binds exactly the addresses it is given; BIND's named
  // only listens on addresses configured on an interface). The root's knotd also answers on .6, where it is
  // lame for lame.test. (an upward referral). The resolver is unbound, iterating from the private root only.
  const servers = [...new Set(specs.map((s) => s.server))].sort();
  const silent = await silentServer(addr(7));
  const children: ChildProcess[] = [];
  const started = Promise.all(
    servers.map((n) => {
      const listen = n === 1 ? [addr(1), addr(6)] : [addr(n)];
      const zones = specs.filter((s) => s.server === n);
      const rundir = join(dir, `knot${n}`);
      mkdirSync(rundir);
      const conf = `server:
  rundir: "${rundir}"
  listen: [ ${listen.map((a) => `"${a}@53"`).join(', ')} ]
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "${rundir}"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "${dir}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
${zones.map((s) => `  - domain: "${s.name}"\n    file: "${fileName(s.name)}.zone.signed"`).join('\n')}
`;
      const confFile = join(rundir, 'knot.conf');
      writeFileSync(confFile, conf);
      return startDaemon('knotd', ['-c', confFile], /server started/, children);
    }),
  );
  const unboundConf = join(dir, 'unbound.conf');
  writeFileSync(
    unboundConf,
    `server:
  interface: ${addr(53)}
  port: 53
  do-ip6: no
  do-not-query-localhost: no
  root-hints: "${rootHints}"
  module-config: "iterator"
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${join(dir, 'unbound.pid')}"
  use-syslog: no
  logfile: ""
  verbosity: 1
  access-control: 127.0.0.0/8 allow
  qname-minimisation: no
  local-zone: "test." nodefault
  num-threads: 1
remote-control:
  control-enable: no
`,
  );
  try {
    await started;
    await startDaemon('unbound', ['-d', '-c', unboundConf], /start of service/, children);
  } catch (err) {
    await Promise.all(children.map(stopDaemon));
    silent.close();
    throw err;
  }

  const ksk = new Map<string, { tag: number; algorithm: number }>();
  for (const [zone, k] of keys) ksk.set(zone, keyTagOf(k.ksk));
  return {
    dir,
    addr,
    root: addr(1),
    resolver: addr(53),
    rootHints,
    anchorFile,
    anchorKeyFile,
    delvAnchorFile,
    ksk,
    async close() {
      await Promise.all(children.map(stopDaemon));
      await new Promise<void>((resolve) => silent.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Start a daemon in the foreground and wait for its "ready" log line on stderr. */
function startDaemon(
  cmd: string,
  args: string[],
  ready: RegExp,
  children: ChildProcess[],
): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      log += b.toString();
      if (ready.test(log)) {
        child.stderr?.off('data', onData);
        child.stdout?.off('data', onData);
        child.stderr?.resume();
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before it was ready:\n${log}`)));
    child.once('error', reject);
  });
}

function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A small unsigned tree reachable over IPv4 and IPv6, inside a network namespace of its own. */
export interface DualStackTree {
  /** The namespace: run clients with `ip netns exec <netns> ...`. */
  netns: string;
  /** Root hints naming the root server by an A and an AAAA record. */
  rootHints: string;
  /** IPv4 and IPv6 addresses of the root (`.1`) and the `test.` server (`.2`). */
  v4: [string, string];
  v6: [string, string];
  close(): Promise<void>;
}

/**
 * Two Knot DNS servers — the root and `test.` (with `www.test. A 192.0.2.1`) — each on an IPv4 and an IPv6
 * address inside a new network namespace (IPv6 loopback addresses cannot be added to the machine's own `lo`
 * without touching it). Needs root and iproute2.
 */
export async function startDualStackTree(): Promise<DualStackTree> {
  const { createNetns, deleteNetns } = await import('./netns.js');
  const { execFileSync } = await import('node:child_process');
  const netns = createNetns('dns6', true);
  const dir = mkdtempSync(join(tmpdir(), 'soket-dns6-'));
  const v4: [string, string] = ['127.0.0.1', '127.0.0.2'];
  const v6: [string, string] = ['fd00:53::1', 'fd00:53::2'];
  const children: ChildProcess[] = [];
  try {
    for (const a of v6) execFileSync('ip', ['-n', netns, 'addr', 'add', `${a}/128`, 'dev', 'lo', 'nodad']);
    const zones: Record<string, string[]> = {
      root: [
        '. SOA ns.root. host.root. 1 3600 600 86400 300',
        '. NS ns.root.',
        `ns.root. A ${v4[0]}`,
        `ns.root. AAAA ${v6[0]}`,
        'test. NS ns.test.',
        `ns.test. A ${v4[1]}`,
        `ns.test. AAAA ${v6[1]}`,
      ],
      test: [
        'test. SOA ns.test. host.test. 1 3600 600 86400 300',
        'test. NS ns.test.',
        `ns.test. A ${v4[1]}`,
        `ns.test. AAAA ${v6[1]}`,
        'www.test. A 192.0.2.1',
      ],
    };
    const rootHints = join(dir, 'root.hints');
    writeFileSync(
      rootHints,
      `. 3600000 NS ns.root.\nns.root. 3600000 A ${v4[0]}\nns.root. 3600000 AAAA ${v6[0]}\n`,
    );
    await Promise.all(
      (['root', 'test'] as const).map((zone, i) => {
        writeFileSync(join(dir, `${zone}.zone`), `$TTL 3600\n${(zones[zone] as string[]).join('\n')}\n`);
        const rundir = join(dir, `knot-${zone}`);
        mkdirSync(rundir);
        const conf = `server:
  rundir: "${rundir}"
  listen: [ "${v4[i]}@53", "${v6[i]}@53" ]
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "${rundir}"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "${dir}"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: "${zone === 'root' ? '.' : 'test.'}"
    file: "${zone}.zone"
`;
        writeFileSync(join(rundir, 'knot.conf'), conf);
        return startDaemon(
          'ip',
          ['netns', 'exec', netns, 'knotd', '-c', join(rundir, 'knot.conf')],
          /server started/,
          children,
        );
      }),
    );
    return {
      netns,
      rootHints,
      v4,
      v6,
      async close() {
        await Promise.all(children.map(stopDaemon));
        deleteNetns(netns);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(children.map(stopDaemon));
    deleteNetns(netns);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
