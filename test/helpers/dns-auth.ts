/**
 * BIND's `named` (Debian package bind9) as an authoritative DNS server for tests, on a free loopback port
 * (127.0.0.1 and ::1), serving two zones signed at start with BIND's own tools (`dnssec-keygen`,
 * `dnssec-signzone`, ECDSA P-256, signatures valid from a day ago for 30 days):
 *
 * - `soket.test` (NSEC3): every record type of issue 14 (A, AAAA, CNAME chain, DNAME, NS, PTR, MX, TXT with
 *   escapes, SOA, SRV, CAA, NAPTR, SSHFP, TLSA, SVCB, HTTPS, DS, DNSKEY, RRSIG, NSEC3, NSEC3PARAM, CDS, CDNSKEY,
 *   HINFO, an unknown type), a record set over 512 bytes that still fits 1232 (`medium`: truncated without
 *   EDNS), one over 1232 bytes (`big`: always truncated over UDP), and a delegation (`sub`, with glue and DS);
 * - `nsec.test` (NSEC): for NSEC records.
 *
 * `named` also answers NSID (`soket-auth`) and DNS cookies. Everything lives in a temporary directory, removed
 * by `stop()`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { findExecutable, requirePeer } from './peers.js';
import { freeTcpUdpPort } from './ports.js';

/** The test zones and the names tests ask for. */
export const AUTH_ZONE = {
  zone: 'soket.test',
  nsecZone: 'nsec.test',
  ttl: 300,
  nsid: 'soket-auth',
  www: 'www.soket.test',
  wwwV4: '192.0.2.10',
  wwwV6: '2001:db8::10',
  /** alias → alias2 → www: a CNAME chain. */
  alias: 'alias.soket.test',
  dname: 'dn.soket.test',
  /** Under the DNAME: synthesised into a CNAME to x.target.example. */
  underDname: 'x.dn.soket.test',
  /** Delegated to ns.sub.soket.test (glue 127.0.0.2) with a DS. */
  delegated: 'www.sub.soket.test',
  sub: 'sub.soket.test',
  /** 40 A records: 640+ bytes of answer, over 512 but under 1232. */
  medium: 'medium.soket.test',
  mediumCount: 40,
  /** 30 TXT records of 100 bytes: over 3 KB, truncated over UDP even with EDNS. */
  big: 'big.soket.test',
  bigCount: 30,
  nxdomain: 'nosuch.soket.test',
} as const;

/** Every (name, type) the cross-checks ask: the types of issue 14 plus a few more. */
export const AUTH_QUESTIONS: ReadonlyArray<readonly [string, string]> = [
  ['www.soket.test', 'A'],
  ['www.soket.test', 'AAAA'],
  ['alias.soket.test', 'A'],
  ['alias.soket.test', 'CNAME'],
  ['dn.soket.test', 'DNAME'],
  ['x.dn.soket.test', 'A'],
  ['soket.test', 'NS'],
  ['ptr.soket.test', 'PTR'],
  ['soket.test', 'MX'],
  ['soket.test', 'TXT'],
  ['esc.soket.test', 'TXT'],
  ['soket.test', 'SOA'],
  ['_sip._udp.soket.test', 'SRV'],
  ['soket.test', 'CAA'],
  ['soket.test', 'NAPTR'],
  ['soket.test', 'SSHFP'],
  ['_443._tcp.soket.test', 'TLSA'],
  ['svc.soket.test', 'SVCB'],
  ['svc-alias.soket.test', 'SVCB'],
  ['soket.test', 'HTTPS'],
  ['h3.soket.test', 'HTTPS'],
  ['sub.soket.test', 'DS'],
  ['soket.test', 'DNSKEY'],
  ['soket.test', 'CDS'],
  ['soket.test', 'CDNSKEY'],
  ['soket.test', 'NSEC3PARAM'],
  ['soket.test', 'RRSIG'],
  ['hinfo.soket.test', 'HINFO'],
  ['unk.soket.test', 'TYPE65280'],
  ['nsec.test', 'NSEC'],
  ['www.nsec.test', 'NSEC'],
  ['medium.soket.test', 'A'],
  ['big.soket.test', 'TXT'],
  ['nosuch.soket.test', 'A'],
  ['www.soket.test', 'MX'],
  ['www.sub.soket.test', 'A'],
  ['soket.test', 'ANY'],
];

const SOA = 'ns1.soket.test. hostmaster.soket.test. 2024010101 3600 600 86400 300';

function zoneText(): string {
  const medium = Array.from({ length: AUTH_ZONE.mediumCount }, (_, i) => `medium A 198.51.100.${i + 1}`);
  const big = Array.from(
    { length: AUTH_ZONE.bigCount },
    (_, i) => `big TXT "${String(i).padStart(2, '0')}${'x'.repeat(98)}"`,
  );
  return [
    `$TTL ${AUTH_ZONE.ttl}`,
    `@ SOA ${SOA}`,
    '@ NS ns1',
    'ns1 A 127.0.0.1',
    '@ MX 10 mail',
    'mail A 192.0.2.25',
    '@ TXT "v=test" "second chunk"',
    'esc TXT "quote\\" back\\\\slash" "caf\\195\\169" "tab\\009end" "semi;colon"',
    `www A ${AUTH_ZONE.wwwV4}`,
    `www AAAA ${AUTH_ZONE.wwwV6}`,
    'alias CNAME alias2',
    'alias2 CNAME www',
    'dn DNAME target.example.',
    'ptr PTR www.soket.test.',
    '_sip._udp SRV 0 5 5060 sip',
    'sip A 192.0.2.30',
    '@ CAA 0 issue "ca.soket.test"',
    '@ CAA 128 iodef "mailto:sec@soket.test"',
    '@ NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp.soket.test.',
    '@ SSHFP 1 1 123456789ABCDEF67890123456789ABCDEF67890',
    '@ SSHFP 4 2 123456789ABCDEF67890123456789ABCDEF67890123456789ABCDEF678901234',
    '_443._tcp TLSA 3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF',
    'svc SVCB 1 . mandatory=alpn,port alpn="h2,h3" port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1',
    'svc-alias SVCB 0 svc.soket.test.',
    '@ HTTPS 1 . alpn=h2 no-default-alpn ech=AEn+DQBFKwAgACABWIHUGj4u+PIggYXcR5JF0gYk3dCRioBW8uJq9H4mKAAIAAEAAQABAANAEnB1YmxpYy50bHMtZWNoLmRldgAA',
    'h3 HTTPS 1 . alpn="h3,h2" key65333="\\001\\002ab"',
    'hinfo HINFO "RFC" "8482"',
    'unk TYPE65280 \\# 4 0A000001',
    'sub NS ns.sub',
    'ns.sub A 127.0.0.2',
    'sub DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF',
    ...medium,
    ...big,
  ].join('\n');
}

function nsecZoneText(): string {
  return [
    `$TTL ${AUTH_ZONE.ttl}`,
    '@ SOA ns1.nsec.test. hostmaster.nsec.test. 1 3600 600 86400 300',
    '@ NS ns1',
    'ns1 A 127.0.0.1',
    'www A 192.0.2.40',
  ].join('\n');
}

/** Sign a zone in `dir`; returns the signed file's path. With `nsec3`, NSEC3 with a salt (and CDS/CDNSKEY). */
function signZone(dir: string, origin: string, text: string, nsec3: boolean): string {
  const keygen = (ksk: boolean) =>
    execFileSync(
      'dnssec-keygen',
      ['-q', '-K', dir, '-a', 'ECDSAP256SHA256', ...(ksk ? ['-f', 'KSK'] : []), '-n', 'ZONE', origin],
      {
        encoding: 'utf8',
      },
    ).trim();
  const ksk = keygen(true);
  const zsk = keygen(false);
  const kskRecord = readFileSync(join(dir, `${ksk}.key`), 'utf8')
    .split('\n')
    .find((l) => /\sDNSKEY\s/.test(l) && !l.startsWith(';')) as string;
  const extra = nsec3
    ? [
        // CDNSKEY: the KSK itself; CDS: its SHA-256 digest (what a child publishes for its parent, RFC 7344).
        kskRecord.replace(/\sDNSKEY\s/, ' CDNSKEY '),
        execFileSync('dnssec-dsfromkey', ['-2', '-C', join(dir, `${ksk}.key`)], { encoding: 'utf8' }).trim(),
      ]
    : [];
  const file = join(dir, `${origin}.zone`);
  writeFileSync(
    file,
    [text, ...extra, `$INCLUDE ${join(dir, `${ksk}.key`)}`, `$INCLUDE ${join(dir, `${zsk}.key`)}`, ''].join(
      '\n',
    ),
  );
  const now = Math.floor(Date.now() / 1000);
  execFileSync(
    'dnssec-signzone',
    [
      '-q',
      '-K',
      dir,
      '-o',
      origin,
      '-k',
      join(dir, ksk),
      '-s',
      String(now - 86400),
      '-e',
      String(now + 30 * 86400),
      ...(nsec3 ? ['-3', 'AABBCCDD', '-H', '0'] : []),
      '-f',
      `${file}.signed`,
      file,
      join(dir, zsk),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return `${file}.signed`;
}

/** A running authoritative server. */
export interface AuthServer {
  port: number;
  /** `127.0.0.1:PORT`. */
  server: string;
  /** `[::1]:PORT`. */
  server6: string;
  /** The signed zone files, for tests that read them. */
  dir: string;
  log(): string;
  stop(): Promise<void>;
}

/** Whether BIND's server and signing tools are all installed. */
export function authToolsMissing(): string | undefined {
  for (const tool of ['named', 'dnssec-keygen', 'dnssec-signzone', 'dnssec-dsfromkey']) {
    if (!findExecutable(tool)) return tool;
  }
  return undefined;
}

/** Start named with the two signed zones on a free port (or `port`). Resolves once it serves them. */
export async function startAuthServer(options: { port?: number } = {}): Promise<AuthServer> {
  const dir = mkdtempSync(join(tmpdir(), 'soket-named-'));
  try {
    const zone = signZone(dir, AUTH_ZONE.zone, zoneText(), true);
    const nsec = signZone(dir, AUTH_ZONE.nsecZone, nsecZoneText(), false);
    for (let attempt = 0; ; attempt++) {
      const port = options.port ?? (await freeTcpUdpPort());
      writeFileSync(
        join(dir, 'named.conf'),
        `options {
  directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 port ${port} { ::1; };
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  managed-keys-directory "${dir}";
  recursion no;
  dnssec-validation no;
  server-id "${AUTH_ZONE.nsid}";
  notify no;
};
controls { };
zone "${AUTH_ZONE.zone}" { type primary; file "${zone}"; };
zone "${AUTH_ZONE.nsecZone}" { type primary; file "${nsec}"; };
`,
      );
      const child = spawn('named', ['-g', '-u', 'root', '-c', join(dir, 'named.conf')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.resume();
      let log = '';
      const started = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 20_000);
        child.stderr.on('data', (b: Buffer) => {
          if (log.length < 200_000) log += b.toString('utf8');
          if (/all zones loaded/.test(log)) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      const stop = async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      };
      if (!started || !/zone soket\.test\/IN: loaded/.test(log)) {
        await stop();
        if (attempt < 3 && options.port === undefined && /address in use/i.test(log)) continue;
        throw new Error(`named did not start: ${log.slice(-2000)}`);
      }
      return {
        port,
        server: `127.0.0.1:${port}`,
        server6: `[::1]:${port}`,
        dir,
        log: () => log,
        async stop() {
          await stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Skip (locally) or fail (CI) when named or BIND's tools are missing; otherwise start it. */
export async function requireAuthServer(t: TestContext): Promise<AuthServer | undefined> {
  const missing = authToolsMissing();
  if (missing) {
    requirePeer(t, missing, 'apt-get install bind9 bind9-utils');
    return undefined;
  }
  return startAuthServer();
}

/** A record as dig prints it in +noall +answer. */
export interface DigRecord {
  name: string;
  ttl: number;
  class: string;
  type: string;
  data: string;
}

/** What `dig +noall +answer +comments` printed: header, flags, and the answer section's records. */
export interface DigAnswer {
  status: string;
  flags: string[];
  answer: DigRecord[];
  /** The OPT pseudo-section's `; EDNS: ...` line, if any. */
  edns: string | undefined;
}

/**
 * Ask dig (bind9-dnsutils) the same question soket asks: `dig @ADDR -p PORT +noall +answer +comments
 * +nosplit NAME TYPE` (and flags), parsed.
 */
export function dig(server: string, name: string, type: string, flags: string[] = []): DigAnswer {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(server);
  if (!m) throw new Error(`dig: bad server ${server}`);
  const out = execFileSync(
    'dig',
    [
      `@${m[1]}`,
      '-p',
      m[2] as string,
      '+noall',
      '+answer',
      '+comments',
      '+nosplit',
      '+tries=2',
      '+time=3',
      ...flags,
      name,
      type,
    ],
    {
      encoding: 'utf8',
    },
  );
  const status = /status: (\w+)/.exec(out)?.[1] ?? '';
  const flagText = /;; flags: ([^;]*);/.exec(out)?.[1] ?? '';
  const answer: DigRecord[] = [];
  let inAnswer = false;
  for (const line of out.split('\n')) {
    if (line.startsWith(';; ANSWER SECTION')) inAnswer = true;
    else if (line.startsWith(';;') || line.trim() === '') {
      if (inAnswer && line.trim() === '') inAnswer = false;
    } else if (!line.startsWith(';')) {
      const r = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line);
      if (r)
        answer.push({
          name: r[1] as string,
          ttl: Number(r[2]),
          class: r[3] as string,
          type: r[4] as string,
          data: (r[5] as string).trim(),
        });
    }
  }
  return {
    status,
    flags: flagText.trim().split(/\s+/).filter(Boolean),
    answer,
    edns: /; EDNS: (.*)/.exec(out)?.[1],
  };
}

/** Names of the files in the helper's directory (for debugging a failed start). @internal */
export function listDir(dir: string): string[] {
  return readdirSync(dir);
}
