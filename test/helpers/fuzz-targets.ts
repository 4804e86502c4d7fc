/**
 * Fuzzers for every parser soket owns (issue 17), shared by the always-on sample in test/fuzz.test.ts and the
 * 100,000-input runs of bench/fuzz.bench.ts. Each target feeds generated hostile input (valid input mutated,
 * near-miss syntax, random bytes, values of the wrong type) to one parser and sorts every outcome:
 *
 * - `accepted`: a value came back (and passed the target's own consistency checks, e.g. a round trip);
 * - `rejected`: the parser's documented typed error (`ValidationError` for text a user typed,
 *   `BadPacketError` for bytes from the network);
 * - anything else (a `TypeError`, a `RangeError`, a wrong round trip, an amplifying reply) is a failure,
 *   listed with the input that caused it.
 *
 * The slowest single input is reported too: a parser that can be made to take long on one input is a hang
 * waiting to happen.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { decodeNtpPacket, encodeNtpPacket } from '../../src/codec/ntp.js';
import {
  decodeNtpExtensions,
  encodeNtpExtensionField,
  encodeNtpExtensions,
  ntpTailError,
} from '../../src/codec/ntp-extensions.js';
import {
  decodeProxyHeader,
  encodeProxyHeader,
  type ProxyHeader,
  readProxyHeader,
} from '../../src/codec/proxy-protocol.js';
import { formatServices, parseServices, SERVICES_LIMITS } from '../../src/codec/services.js';
import { parseCidr } from '../../src/core/cidr.js';
import { manualClock } from '../../src/core/clock.js';
import { BadPacketError, ValidationError } from '../../src/core/errors.js';
import {
  parseAddress,
  parseDuration,
  parseHost,
  parseHostPort,
  parseInteger,
  parsePort,
} from '../../src/core/validate.js';
import { parseDnsServers } from '../../src/dns/server-address.js';
import { parseStreamAddress } from '../../src/net/stream-address.js';
import { SntpResponder } from '../../src/ntp/sntp-responder.js';
import { appendMac, parseKeyFile } from '../../src/ntp/symmetric-key.js';
import { fuzzDnsDecoder } from '../codec/dns-arbitraries.js';

/** What a fuzz run found. */
export interface FuzzResult {
  target: string;
  inputs: number;
  accepted: number;
  rejected: number;
  /** Failures: anything but a value or the typed error, with the input (first 20 kept). */
  failures: string[];
  failureCount: number;
  /** The slowest single input, in ms (a pause of the garbage collector or the scheduler counts too). */
  slowestMs: number;
  /** That input timed again, alone (median of 5 runs), in ms: large only for an input that is really slow. */
  slowestAgainMs: number;
  ms: number;
}

/** One fuzz target. */
export interface FuzzTarget {
  name: string;
  /** What it feeds, for the report. */
  what: string;
  run(inputs: number, seed: number): FuzzResult;
}

const u8 = fc.integer({ min: 0, max: 255 });

/** Byte mutations: overwrite, cut, duplicate a slice, insert random bytes. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: u8 }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 48 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 24 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(input: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  for (const m of muts) {
    const at = b.length ? m.at % (b.length + 1) : 0;
    if (m.kind === 'set') {
      if (b.length) b[at % b.length] = m.value;
    } else if (m.kind === 'cut') b = b.slice(0, at);
    else if (m.kind === 'dup') b = concat(b.subarray(0, at), b.subarray(at, at + m.len), b.subarray(at));
    else b = concat(b.subarray(0, at), m.bytes, b.subarray(at));
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Valid bytes, mutated 1–4 times (most inputs), or returned as they are. */
const mutated = (valid: fc.Arbitrary<Uint8Array>) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 4 })) },
    { weight: 2, arbitrary: fc.tuple(valid, fc.constant([] as Mutation[])) },
  );

/** Text made mostly of the characters a grammar uses, so generated strings come near the valid ones. */
function grammarText(alphabet: string, maxLength: number): fc.Arbitrary<string> {
  const chars = [...alphabet];
  const char = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...chars) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
    { weight: 1, arbitrary: fc.constantFrom('\0', '\r', '\n', '\t', '\u00a0', '\u2028', '\ufeff', '\x1b') },
  );
  return fc.array(char, { maxLength }).map((cs) => cs.join(''));
}

/** Every value type a caller from plain JavaScript can pass. */
const anyValue = fc.oneof(
  fc.constantFrom(null, undefined, true, false, Number.NaN, Number.POSITIVE_INFINITY, -0, 1.5, -1, 2 ** 53),
  fc.integer(),
  fc.bigInt(),
  fc.object({ maxDepth: 1 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.constant(Symbol('x')),
);

function show(value: unknown): string {
  if (value instanceof Uint8Array) return `hex ${Buffer.from(value).toString('hex').slice(0, 400)}`;
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 300));
  if (typeof value === 'symbol' || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value)?.slice(0, 300) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Run `check` on `inputs` generated values. `check` returns normally for an accepted input, throws the
 * expected error class for a rejected one, and throws anything else (or returns a string: a consistency
 * failure) for a bug.
 */
function fuzz<T>(
  target: string,
  inputs: number,
  seed: number,
  arbitrary: fc.Arbitrary<T>,
  expected: new (...args: never[]) => Error,
  check: (value: T) => string | undefined,
): FuzzResult {
  const r: FuzzResult = {
    target,
    inputs,
    accepted: 0,
    rejected: 0,
    failures: [],
    failureCount: 0,
    slowestMs: 0,
    slowestAgainMs: 0,
    ms: 0,
  };
  let slowest: { value: T } | undefined;
  const fail = (why: string, value: unknown) => {
    r.failureCount++;
    if (r.failures.length < 20) r.failures.push(`${why} on ${show(value)}`);
  };
  const t0 = performance.now();
  fc.check(
    fc.property(arbitrary, (value) => {
      const s = performance.now();
      try {
        const problem = check(value);
        if (problem === undefined) r.accepted++;
        else fail(problem, value);
      } catch (err) {
        if (err instanceof expected) r.rejected++;
        else fail(`${(err as Error)?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`, value);
      }
      const took = performance.now() - s;
      if (took > r.slowestMs) {
        r.slowestMs = took;
        slowest = { value };
      }
      return true;
    }),
    { numRuns: inputs, seed, endOnFailure: true },
  );
  r.ms = performance.now() - t0;
  if (slowest) {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      try {
        check(slowest.value);
      } catch {
        // its outcome was counted already
      }
      times.push(performance.now() - s);
    }
    r.slowestAgainMs = times.sort((a, b) => a - b)[2] as number;
  }
  return r;
}

// --- services(5) files -----------------------------------------------------------------------------------

let systemServices = '';
try {
  systemServices = readFileSync('/etc/services', 'utf8');
} catch {
  systemServices = 'http 80/tcp www # WorldWideWeb HTTP\ndomain 53/udp\nntp 123/udp\n';
}
const serviceLines = systemServices.split('\n');

const servicesText = fc.oneof(
  // lines of the real file, shuffled and mutated as text
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.array(fc.constantFrom(...serviceLines), { minLength: 1, maxLength: 30 }),
        fc.array(mutation, { maxLength: 4 }),
      )
      .map(([lines, muts]) => Buffer.from(mutate(Buffer.from(lines.join('\n')), muts)).toString('utf8')),
  },
  // near-miss syntax
  { weight: 4, arbitrary: grammarText('abcxyz-_.0123456789/ \t#\ntcpudp65536', 400) },
  // long lines and many aliases
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 0, max: 70_000 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 6000 }),
      )
      .map(([port, aliases, pad]) =>
        [`svc ${port}/tcp ${'a '.repeat(aliases)}`, `${'x'.repeat(pad)} 1/udp`].join('\n'),
      ),
  },
);

const servicesTarget: FuzzTarget = {
  name: 'services file',
  what: 'parseServices (codec/services.ts): mutated lines of /etc/services, near-miss syntax, long lines; round trip through formatServices',
  run: (inputs, seed) =>
    fuzz('services file', inputs, seed, servicesText, ValidationError, (text) => {
      const { records } = parseServices(text);
      for (const rec of records) {
        if (!Number.isInteger(rec.port) || rec.port < 0 || rec.port > 65535) return `port ${rec.port}`;
        if (rec.protocol !== rec.protocol.toLowerCase()) return 'protocol not lower-cased';
        if (rec.aliases.length > SERVICES_LIMITS.maxAliases) return `${rec.aliases.length} aliases`;
      }
      const again = parseServices(formatServices(records)).records;
      if (JSON.stringify(again) !== JSON.stringify(records))
        return 'round trip through formatServices differs';
      return undefined;
    }),
};

// --- address and port syntax ----------------------------------------------------------------------------

const addressText = fc.oneof(
  { weight: 6, arbitrary: grammarText('0123456789abcdefABCDEF:.[]%/@ -+lo_xn', 60) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()),
        fc.integer({ min: -5, max: 70_000 }),
        fc.constantFrom('', ':', '[', ']', '%eth0', '/24', 'unix:', 'tcp:', 'tls:', '@'),
      )
      .map(([h, p, extra]) => (h.includes(':') ? `[${h}]:${p}${extra}` : `${extra}${h}:${p}`)),
  },
);
const addressInput = fc.oneof({ weight: 9, arbitrary: addressText }, { weight: 1, arbitrary: anyValue });

const PARSERS: Array<[string, (v: unknown) => unknown]> = [
  ['parsePort', (v) => parsePort(v as string)],
  ['parsePort(allowZero)', (v) => parsePort(v as string, { allowZero: true })],
  ['parseInteger', (v) => parseInteger(v as string, 'count', { min: 1, max: 1000 })],
  ['parseDuration', (v) => parseDuration(v as string)],
  ['parseHost', (v) => parseHost(v as string)],
  ['parseAddress', (v) => parseAddress(v as string)],
  ['parseHostPort', (v) => parseHostPort(v as string)],
  [
    'parseHostPort(defaults)',
    (v) => parseHostPort(v as string, { defaultHost: '127.0.0.1', defaultPort: 9 }),
  ],
  ['parseStreamAddress', (v) => parseStreamAddress(v as string)],
  ['parseCidr', (v) => parseCidr(v as string)],
  ['parseDnsServers', (v) => parseDnsServers(v as string)],
];

const addressTarget: FuzzTarget = {
  name: 'address and port syntax',
  what: `${PARSERS.map(([n]) => n).join(', ')} (core/validate.ts, net/stream-address.ts, ...): near-miss text and values of every type`,
  run: (inputs, seed) =>
    fuzz(
      'address and port syntax',
      inputs,
      seed,
      fc.tuple(fc.nat(PARSERS.length - 1), addressInput),
      ValidationError,
      ([i, v]) => {
        const [name, parse] = PARSERS[i] as [string, (v: unknown) => unknown];
        const out = parse(v);
        if (name.startsWith('parsePort') && (typeof out !== 'number' || out < 0 || out > 65535))
          return `port ${out}`;
        return undefined;
      },
    ),
};

// --- NTP packets with extension fields and MACs ---------------------------------------------------------

const KEYS = parseKeyFile(
  '1 SHA1 HEX:B2159C05D6A219673A3B7E896B6DE07F6A440995\n2 MD5 ASCII:AVeryLongPassword\n',
);

const ntpHeader = fc
  .record({
    leap: fc.integer({ min: 0, max: 3 }),
    version: fc.integer({ min: 1, max: 4 }),
    mode: fc.integer({ min: 0, max: 7 }),
    stratum: u8,
    poll: fc.integer({ min: -128, max: 127 }),
    transmit: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  })
  .map((h) =>
    encodeNtpPacket({
      leap: h.leap as 0,
      version: h.version,
      mode: h.mode,
      stratum: h.stratum,
      poll: h.poll,
      transmitTimestamp: h.transmit,
    }),
  );
const ntpPacket = fc
  .tuple(
    ntpHeader,
    fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 60 }),
        fc.constantFrom(16, 28),
      ),
      { maxLength: 3 },
    ),
    fc.constantFrom(undefined, 1, 2),
  )
  .map(([header, fields, key]) => {
    let p: Uint8Array = header;
    // extension fields exist from NTPv4 on; the encoder refuses them in older versions
    if (fields.length && ((header[0] as number) >>> 3) % 8 === 4) {
      p = encodeNtpExtensions(
        p,
        fields.map(([type, body, min]) => ({
          type,
          body: encodeNtpExtensionField(type, body, min).subarray(4),
        })),
      );
    }
    const k = key === undefined ? undefined : KEYS.get(key);
    return k ? appendMac(p, k) : p;
  });
const ntpInput = fc.oneof(
  { weight: 8, arbitrary: mutated(ntpPacket).map(([p, m]) => mutate(p, m)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }) },
);

const responder = new SntpResponder({
  leap: 0,
  rateLimit: false,
  clock: manualClock(1_700_000_000_000),
  precision: -20,
  keys: KEYS,
});

const ntpTarget: FuzzTarget = {
  name: 'NTP packets, extension fields, MACs',
  what: "decodeNtpPacket, decodeNtpExtensions, ntpTailError (codec/ntp*.ts) and the SNTP server's request handling (SntpResponder.respond): valid packets with fields and MACs, mutated, and random bytes; no reply larger than its request",
  run: (inputs, seed) =>
    fuzz('NTP packets, extension fields, MACs', inputs, seed, ntpInput, BadPacketError, (bytes) => {
      // the server never throws and never amplifies
      const reply = responder.respond(Buffer.from(bytes), '127.0.0.1', 40000, 1_700_000_000_000);
      if (reply && reply.length > bytes.length) return `reply of ${reply.length} bytes to ${bytes.length}`;
      if (bytes.length >= 48) {
        const tailError = ntpTailError(bytes);
        let decoded = true;
        try {
          decodeNtpExtensions(bytes);
        } catch (err) {
          if (!(err instanceof BadPacketError)) throw err;
          decoded = false;
        }
        if (decoded !== (tailError === undefined)) return 'ntpTailError and decodeNtpExtensions disagree';
      }
      decodeNtpPacket(bytes);
      return undefined;
    }),
};

// --- PROXY protocol ---------------------------------------------------------------------------------------

const inet = fc.record({ address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) });
const inet6 = fc.record({ address: fc.ipV6(), port: fc.integer({ min: 0, max: 65535 }) });
const proxyHeader: fc.Arbitrary<ProxyHeader> = fc.oneof(
  fc.record({
    version: fc.constant(1 as const),
    command: fc.constant('proxy' as const),
    family: fc.constant('inet' as const),
    transport: fc.constant('stream' as const),
    source: inet,
    destination: inet,
  }),
  fc.record({
    version: fc.constant(1 as const),
    command: fc.constant('proxy' as const),
    family: fc.constant('inet6' as const),
    transport: fc.constant('stream' as const),
    source: inet6,
    destination: inet6,
  }),
  fc
    .record({
      command: fc.constantFrom('proxy' as const, 'local' as const),
      transport: fc.constantFrom('stream' as const, 'dgram' as const),
      v6: fc.boolean(),
      tlvs: fc.array(
        fc.record({ type: fc.integer({ min: 0x20, max: 0xff }), value: fc.uint8Array({ maxLength: 40 }) }),
        {
          maxLength: 3,
        },
      ),
    })
    .chain((h) =>
      fc.record({
        version: fc.constant(2 as const),
        command: fc.constant(h.command),
        family: fc.constant(h.v6 ? ('inet6' as const) : ('inet' as const)),
        transport: fc.constant(h.transport),
        source: h.v6 ? inet6 : inet,
        destination: h.v6 ? inet6 : inet,
        tlvs: fc.constant(h.tlvs),
      }),
    ),
);
const proxyInput = fc.oneof(
  {
    weight: 7,
    arbitrary: mutated(
      fc
        .tuple(proxyHeader, fc.boolean())
        .map(([h, crc]) => encodeProxyHeader(h, h.version === 2 ? { crc32c: crc } : {})),
    ).map(([b, m]) => mutate(b, m)),
  },
  {
    weight: 2,
    arbitrary: grammarText('PROXY TCP4 TCP6 UNKNOWN 0123456789.:abcdef\r\n', 120).map((s) => Buffer.from(s)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

const proxyTarget: FuzzTarget = {
  name: 'PROXY protocol',
  what: 'readProxyHeader, decodeProxyHeader (codec/proxy-protocol.ts): v1 and v2 headers with TLVs and CRC32c, mutated; v1-like text; random bytes; a decoded header re-encodes to the same bytes',
  run: (inputs, seed) =>
    fuzz('PROXY protocol', inputs, seed, proxyInput, BadPacketError, (bytes) => {
      const read = readProxyHeader(bytes);
      if (read === undefined) return undefined;
      if (read.length < 1 || read.length > bytes.length)
        return `header length ${read.length} of ${bytes.length}`;
      const exact = bytes.subarray(0, read.length);
      const header = decodeProxyHeader(exact);
      if (header.version === 2) {
        const again = encodeProxyHeader(header);
        if (Buffer.compare(Buffer.from(again), Buffer.from(exact)) !== 0)
          return 'v2 header does not re-encode to its bytes';
      }
      return undefined;
    }),
};

// --- DNS messages (the DNS engineer's fuzzer, issue 14) ---------------------------------------------------

const dnsTarget: FuzzTarget = {
  name: 'DNS messages',
  what: 'decodeDnsMessage (codec/dns.ts), through fuzzDnsDecoder (test/codec/dns-arbitraries.ts): messages of every type, mutated, and random bytes',
  run: (inputs, seed) => {
    const report = fuzzDnsDecoder(inputs, seed);
    return {
      target: 'DNS messages',
      inputs,
      accepted: report.decoded,
      rejected: report.rejected,
      failures: report.otherErrors.slice(0, 20),
      failureCount: report.otherErrors.length,
      slowestMs: Number.NaN,
      slowestAgainMs: Number.NaN,
      ms: report.ms,
    };
  },
};

/** Every parser soket owns. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  servicesTarget,
  addressTarget,
  ntpTarget,
  proxyTarget,
  dnsTarget,
];
