/**
 * fast-check arbitraries for DNS messages (every RDATA format soket parses, unknown types, EDNS options), a
 * record arbitrary encoded by dns-packet for differential tests, and the decoder fuzzer shared by the test
 * (a few thousand inputs) and bench/dns-fuzz.bench.ts (100,000 and more).
 */
import type { Answer } from 'dns-packet';
import fc from 'fast-check';
import {
  type DnsMessageInit,
  decodeDnsMessage,
  type EdnsOption,
  encodeDnsMessage,
  formatDnsName,
  type RData,
  type ResourceRecordInit,
  type SvcParam,
} from '../../src/codec/dns.js';
import { base32hex } from '../../src/codec/dns-wire.js';
import { BadPacketError } from '../../src/core/errors.js';

const bytes = (max: number, min = 0) => fc.uint8Array({ minLength: min, maxLength: max });
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Any label bytes (escapes in presentation), 1–20 bytes; up to 4 labels keeps names under 255 bytes. */
export const nameArbitrary = (): fc.Arbitrary<string> =>
  fc.array(bytes(20, 1), { maxLength: 4 }).map((labels) => formatDnsName(labels));

const v6 = bytes(16, 16).map((b) => {
  const words = Array.from({ length: 8 }, (_, i) => ((b[2 * i] as number) << 8) | (b[2 * i + 1] as number));
  return words.map((w) => w.toString(16)).join(':');
});

const text = (max: number) => fc.string({ unit: 'grapheme-ascii', maxLength: max });
const TYPES = [
  'A',
  'NS',
  'CNAME',
  'SOA',
  'MX',
  'TXT',
  'AAAA',
  'SRV',
  'DS',
  'RRSIG',
  'NSEC',
  'DNSKEY',
  'HTTPS',
  'CAA',
  'TYPE1234',
];

const svcParams: fc.Arbitrary<SvcParam[]> = fc
  .record(
    {
      mandatory: fc.constant<SvcParam>({ key: 'mandatory', keys: ['alpn', 'port'] }),
      alpn: fc
        .array(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 8 }), {
          minLength: 1,
          maxLength: 3,
        })
        .map((protocols): SvcParam => ({ key: 'alpn', protocols })),
      ndalpn: fc.constant<SvcParam>({ key: 'no-default-alpn' }),
      port: u16.map((port): SvcParam => ({ key: 'port', port })),
      ipv4hint: fc
        .array(fc.ipV4(), { minLength: 1, maxLength: 3 })
        .map((addresses): SvcParam => ({ key: 'ipv4hint', addresses })),
      ech: bytes(40).map((b): SvcParam => ({ key: 'ech', config: b64(b) })),
      ipv6hint: fc
        .array(v6, { minLength: 1, maxLength: 2 })
        .map((addresses): SvcParam => ({ key: 'ipv6hint', addresses })),
      dohpath: text(20).map((template): SvcParam => ({ key: 'dohpath', template })),
      ohttp: fc.constant<SvcParam>({ key: 'ohttp' }),
      generic: fc
        .tuple(fc.integer({ min: 9, max: 65535 }), bytes(10))
        .map(([k, v]): SvcParam => ({ key: `key${k}`, value: Buffer.from(v).toString('hex') })),
    },
    { requiredKeys: [] },
  )
  .map((r) => Object.values(r));

/** Typed RDATA of every parsed format, with a type that uses it. */
export const rdataArbitrary = (): fc.Arbitrary<{ type: string; data: RData }> =>
  fc.oneof(
    fc.ipV4().map((address) => ({ type: 'A', data: { format: 'a', address } as RData })),
    v6.map((address) => ({ type: 'AAAA', data: { format: 'aaaa', address } as RData })),
    fc
      .tuple(fc.constantFrom('NS', 'CNAME', 'DNAME', 'PTR'), nameArbitrary())
      .map(([type, target]) => ({ type, data: { format: 'name', target } as RData })),
    fc.tuple(u16, nameArbitrary()).map(([preference, exchange]) => ({
      type: 'MX',
      data: { format: 'mx', preference, exchange } as RData,
    })),
    fc
      .tuple(
        fc.constantFrom('TXT', 'SPF'),
        fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }), { minLength: 1, maxLength: 3 }),
      )
      .map(([type, strings]) => ({ type, data: { format: 'txt', strings } as RData })),
    fc
      .tuple(nameArbitrary(), nameArbitrary(), u32, u32, u32, u32, u32)
      .map(([mname, rname, serial, refresh, retry, expire, minimum]) => ({
        type: 'SOA',
        data: { format: 'soa', mname, rname, serial, refresh, retry, expire, minimum } as RData,
      })),
    fc.tuple(u16, u16, u16, nameArbitrary()).map(([priority, weight, port, target]) => ({
      type: 'SRV',
      data: { format: 'srv', priority, weight, port, target } as RData,
    })),
    fc
      .tuple(u8, fc.stringMatching(/^[a-z0-9]{1,15}$/), text(40))
      .map(([flags, tag, value]) => ({ type: 'CAA', data: { format: 'caa', flags, tag, value } as RData })),
    fc
      .tuple(u16, u16, text(5), text(20), text(30), nameArbitrary())
      .map(([order, preference, flags, services, regexp, replacement]) => ({
        type: 'NAPTR',
        data: { format: 'naptr', order, preference, flags, services, regexp, replacement } as RData,
      })),
    fc.tuple(u8, u8, bytes(32)).map(([algorithm, fingerprintType, f]) => ({
      type: 'SSHFP',
      data: { format: 'sshfp', algorithm, fingerprintType, fingerprint: hexOf(f) } as RData,
    })),
    fc
      .tuple(fc.constantFrom('TLSA', 'SMIMEA'), u8, u8, u8, bytes(40))
      .map(([type, usage, selector, matchingType, d]) => ({
        type,
        data: { format: 'tlsa', usage, selector, matchingType, data: hexOf(d) } as RData,
      })),
    fc
      .tuple(fc.constantFrom('SVCB', 'HTTPS'), u16, nameArbitrary(), svcParams)
      .map(([type, priority, target, params]) => ({
        type,
        data: { format: 'svcb', priority, target, params } as RData,
      })),
    fc
      .tuple(fc.constantFrom('DS', 'CDS'), u16, u8, u8, bytes(48))
      .map(([type, keyTag, algorithm, digestType, d]) => ({
        type,
        data: { format: 'ds', keyTag, algorithm, digestType, digest: hexOf(d) } as RData,
      })),
    fc
      .tuple(fc.constantFrom('DNSKEY', 'CDNSKEY'), u16, u8, u8, bytes(64))
      .map(([type, flags, protocol, algorithm, k]) => ({
        type,
        data: { format: 'dnskey', flags, protocol, algorithm, publicKey: b64(k), keyTag: 0 } as RData,
      })),
    fc
      .tuple(fc.constantFrom(...TYPES), u8, u8, u32, u32, u32, u16, nameArbitrary(), bytes(64))
      .map(([typeCovered, algorithm, labels, originalTtl, expiration, inception, keyTag, signerName, s]) => ({
        type: 'RRSIG',
        data: {
          format: 'rrsig',
          typeCovered,
          algorithm,
          labels,
          originalTtl,
          expiration,
          inception,
          keyTag,
          signerName,
          signature: b64(s),
        } as RData,
      })),
    fc
      .tuple(nameArbitrary(), fc.uniqueArray(fc.constantFrom(...TYPES), { maxLength: 6 }))
      .map(([nextName, types]) => ({ type: 'NSEC', data: { format: 'nsec', nextName, types } as RData })),
    fc
      .tuple(u8, u8, u16, bytes(8), bytes(20, 1), fc.uniqueArray(fc.constantFrom(...TYPES), { maxLength: 6 }))
      .map(([hashAlgorithm, flags, iterations, salt, hash, types]) => ({
        type: 'NSEC3',
        data: {
          format: 'nsec3',
          hashAlgorithm,
          flags,
          iterations,
          salt: salt.length ? hexOf(salt) : '-',
          nextHashedOwner: base32hex(hash),
          types,
        } as RData,
      })),
    fc.tuple(u8, u8, u16, bytes(8)).map(([hashAlgorithm, flags, iterations, salt]) => ({
      type: 'NSEC3PARAM',
      data: {
        format: 'nsec3param',
        hashAlgorithm,
        flags,
        iterations,
        salt: salt.length ? hexOf(salt) : '-',
      } as RData,
    })),
    fc
      .tuple(text(10), text(10))
      .map(([cpu, os]) => ({ type: 'HINFO', data: { format: 'hinfo', cpu, os } as RData })),
  );

const recordInit = (): fc.Arbitrary<ResourceRecordInit> =>
  fc.oneof(
    {
      weight: 9,
      arbitrary: fc
        .tuple(nameArbitrary(), u32, rdataArbitrary())
        .map(([name, ttl, r]) => ({ name, ttl, ...r })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(nameArbitrary(), u32, fc.integer({ min: 65280, max: 65534 }), bytes(30))
        .map(([name, ttl, t, rdata]) => ({ name, ttl, type: `TYPE${t}`, rdata })),
    },
  );

const ednsOption: fc.Arbitrary<EdnsOption> = fc.oneof(
  bytes(10).map(
    (b): EdnsOption => ({
      option: 'nsid',
      code: 3,
      data: Buffer.from(b).toString('hex'),
      text: Buffer.from(b).toString(),
    }),
  ),
  fc.tuple(fc.integer({ min: 0, max: 32 }), u8).map(
    ([p, s]): EdnsOption => ({
      option: 'ecs',
      code: 8,
      family: 1,
      sourcePrefixLength: p,
      scopePrefixLength: s % 33,
      address: '0.0.0.0',
    }),
  ),
  fc.tuple(bytes(8, 8), fc.oneof(fc.constant(new Uint8Array(0)), bytes(32, 8))).map(
    ([c, s]): EdnsOption => ({
      option: 'cookie',
      code: 10,
      client: Buffer.from(c).toString('hex'),
      server: Buffer.from(s).toString('hex'),
    }),
  ),
  fc.integer({ min: 0, max: 300 }).map((length): EdnsOption => ({ option: 'padding', code: 12, length })),
  fc
    .tuple(fc.integer({ min: 0, max: 30 }), text(20))
    .map(
      ([infoCode, extraText]): EdnsOption => ({ option: 'ede', code: 15, infoCode, purpose: '', extraText }),
    ),
  fc.tuple(fc.integer({ min: 20, max: 65000 }), bytes(10)).map(
    ([code, b]): EdnsOption => ({
      option: 'other',
      code,
      name: `OPT${code}`,
      data: Buffer.from(b).toString('hex'),
    }),
  ),
);

/** A whole message: header bits, a question, three sections of records, sometimes EDNS. */
export const messageArbitrary = (): fc.Arbitrary<DnsMessageInit> =>
  fc
    .record({
      id: u16,
      bits: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      rcode: fc.integer({ min: 0, max: 15 }),
      question: fc.array(
        fc
          .tuple(nameArbitrary(), fc.constantFrom('A', 'AAAA', 'ANY', 'TYPE65280', 'HTTPS'))
          .map(([name, type]) => ({ name, type })),
        { maxLength: 2 },
      ),
      answer: fc.array(recordInit(), { maxLength: 4 }),
      authority: fc.array(recordInit(), { maxLength: 2 }),
      additional: fc.array(recordInit(), { maxLength: 2 }),
      edns: fc.option(
        fc.record({ udpSize: u16, dnssecOk: fc.boolean(), options: fc.array(ednsOption, { maxLength: 3 }) }),
        { nil: undefined },
      ),
    })
    .map(({ bits, ...m }) => {
      const [qr, aa, tc, rd, ra, z, ad, cd] = bits as boolean[];
      return { ...m, flags: { qr, aa, tc, rd, ra, z, ad, cd } } as DnsMessageInit;
    });

/** A record dns-packet can encode correctly, and the presentation soket must give it. */
export interface PacketRecord {
  packet: Answer;
  text: string;
}

const plainLabel = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,9}$/);
const plainName = fc.array(plainLabel, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const safeText = fc.stringMatching(/^[A-Za-z0-9 =.:;_+-]{0,40}$/);
const TYPE_ORDER: Record<string, number> = {
  A: 1,
  NS: 2,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
};

function time(t: number): string {
  return new Date(t * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Records encoded by dns-packet (the types it writes correctly), for the differential test. */
export const recordArbitrary = (): fc.Arbitrary<PacketRecord> => {
  const rr = (type: string, name: string, ttl: number, data: unknown) =>
    ({ type, name, ttl, class: 'IN', data }) as Answer;
  const base = fc.tuple(plainName, fc.integer({ min: 0, max: 0x7fffffff }));
  return fc.oneof(
    fc.tuple(base, fc.ipV4()).map(([[n, t], a]) => ({ packet: rr('A', n, t, a), text: a })),
    fc
      .tuple(
        base,
        bytes(16, 16).filter((b) => b[0] !== 0),
      )
      .map(([[n, t], b]) => {
        const groups = Array.from({ length: 8 }, (_, i) =>
          (((b[2 * i] as number) << 8) | (b[2 * i + 1] as number)).toString(16),
        );
        // The WHATWG URL parser's IPv6 serializer (RFC 5952 compression) as the independent formatter.
        const a = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
        return { packet: rr('AAAA', n, t, a), text: a };
      }),
    fc
      .tuple(base, fc.constantFrom('CNAME', 'NS', 'PTR', 'DNAME'), plainName)
      .map(([[n, t], type, target]) => ({ packet: rr(type, n, t, target), text: `${target}.` })),
    fc.tuple(base, u16, plainName).map(([[n, t], preference, exchange]) => ({
      packet: rr('MX', n, t, { preference, exchange }),
      text: `${preference} ${exchange}.`,
    })),
    fc.tuple(base, fc.array(safeText, { minLength: 1, maxLength: 3 })).map(([[n, t], s]) => ({
      packet: rr(
        'TXT',
        n,
        t,
        s.map((x) => Buffer.from(x)),
      ),
      text: s.map((x) => `"${x}"`).join(' '),
    })),
    fc
      .tuple(base, plainName, plainName, u32, u32, u32, u32, u32)
      .map(([[n, t], mname, rname, serial, refresh, retry, expire, minimum]) => ({
        packet: rr('SOA', n, t, { mname, rname, serial, refresh, retry, expire, minimum }),
        text: `${mname}. ${rname}. ${serial} ${refresh} ${retry} ${expire} ${minimum}`,
      })),
    fc.tuple(base, u16, u16, u16, plainName).map(([[n, t], priority, weight, port, target]) => ({
      packet: rr('SRV', n, t, { priority, weight, port, target }),
      text: `${priority} ${weight} ${port} ${target}.`,
    })),
    fc
      .tuple(base, fc.constantFrom(0, 128), fc.constantFrom('issue', 'issuewild', 'iodef'), safeText)
      .map(([[n, t], flags, tag, value]) => ({
        packet: rr('CAA', n, t, { flags, tag, value }),
        text: `${flags} ${tag} "${value}"`,
      })),
    fc
      .tuple(base, u16, u16, safeText, safeText, safeText, plainName)
      .map(([[n, t], order, preference, flags, services, regexp, replacement]) => ({
        packet: rr('NAPTR', n, t, { order, preference, flags, services, regexp, replacement }),
        text: `${order} ${preference} "${flags}" "${services}" "${regexp}" ${replacement}.`,
      })),
    fc.tuple(base, u16, u8, u8, bytes(48, 1)).map(([[n, t], keyTag, algorithm, digestType, d]) => ({
      packet: rr('DS', n, t, { keyTag, algorithm, digestType, digest: Buffer.from(d) }),
      text: `${keyTag} ${algorithm} ${digestType} ${hexOf(d)}`,
    })),
    fc.tuple(base, u16, u8, bytes(64, 1)).map(([[n, t], flags, algorithm, k]) => ({
      packet: rr('DNSKEY', n, t, { flags, algorithm, key: Buffer.from(k) }),
      text: `${flags} 3 ${algorithm} ${b64(k)}`,
    })),
    fc.tuple(base, u8, u8, u8, bytes(40, 1)).map(([[n, t], usage, selector, matchingType, c]) => ({
      packet: rr('TLSA', n, t, { usage, selector, matchingType, certificate: Buffer.from(c) }),
      text: `${usage} ${selector} ${matchingType} ${hexOf(c)}`,
    })),
    fc.tuple(base, u8, fc.constantFrom(1, 2)).chain(([[n, t], algorithm, hash]) =>
      bytes(hash === 1 ? 20 : 32, hash === 1 ? 20 : 32).map((f) => ({
        packet: rr('SSHFP', n, t, { algorithm, hash, fingerprint: hexOf(f) }),
        text: `${algorithm} ${hash} ${hexOf(f)}`,
      })),
    ),
    fc
      .tuple(
        base,
        plainName,
        fc.uniqueArray(fc.constantFrom(...Object.keys(TYPE_ORDER)), { minLength: 1, maxLength: 5 }),
      )
      .map(([[n, t], next, types]) => ({
        packet: rr('NSEC', n, t, { nextDomain: next, rrtypes: types }),
        text: `${next}. ${[...types].sort((a, b) => (TYPE_ORDER[a] ?? 0) - (TYPE_ORDER[b] ?? 0)).join(' ')}`,
      })),
    fc
      .tuple(
        base,
        fc.constantFrom(...Object.keys(TYPE_ORDER)),
        u8,
        u8,
        u32,
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.integer({ min: 0, max: 0x7fffffff }),
        u16,
        plainName,
        bytes(64, 1),
      )
      .map(
        ([
          [n, t],
          typeCovered,
          algorithm,
          labels,
          originalTTL,
          expiration,
          inception,
          keyTag,
          signersName,
          s,
        ]) => ({
          packet: rr('RRSIG', n, t, {
            typeCovered,
            algorithm,
            labels,
            originalTTL,
            expiration,
            inception,
            keyTag,
            signersName,
            signature: Buffer.from(s),
          }),
          text: `${typeCovered} ${algorithm} ${labels} ${originalTTL} ${time(expiration)} ${time(inception)} ${keyTag} ${signersName}. ${b64(s)}`,
        }),
      ),
  );
};

/** What a fuzz run found. */
export interface FuzzReport {
  runs: number;
  /** Inputs that decoded to a message. */
  decoded: number;
  /** Inputs rejected with BadPacketError. */
  rejected: number;
  /** Anything else thrown (must stay empty): `message` of each. */
  otherErrors: string[];
  /** Rejections by kind (the message with numbers removed), most frequent first. */
  kinds: Array<[string, number]>;
  ms: number;
}

/**
 * Decode `runs` hostile messages: valid messages from {@link messageArbitrary} (compressed names, every
 * type), then mutated — bytes overwritten, cut short, a slice duplicated, counts raised, bytes appended — or
 * wholly random bytes. Every input must decode or throw `BadPacketError`.
 */
export function fuzzDnsDecoder(
  runs: number,
  seed: number,
  also?: (bytes: Uint8Array, soketDecoded: boolean) => void,
): FuzzReport {
  const report: FuzzReport = { runs, decoded: 0, rejected: 0, otherErrors: [], kinds: [], ms: 0 };
  const kinds = new Map<string, number>();
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: u8 }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('count' as const), at: fc.integer({ min: 4, max: 11 }), value: u8 }),
    fc.record({ kind: fc.constant('pointer' as const), at: fc.nat(), value: fc.nat(0x3fff) }),
  );
  const input = fc.oneof(
    {
      weight: 9,
      arbitrary: fc.tuple(messageArbitrary(), fc.array(mutation, { minLength: 1, maxLength: 5 })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constant(undefined), fc.constant([]))
        .chain(() => fc.tuple(bytes(600), fc.constant([]))),
    },
  );
  const t0 = performance.now();
  fc.assert(
    fc.property(input, ([m, muts]) => {
      let b = m instanceof Uint8Array ? m : encodeDnsMessage(m as DnsMessageInit);
      for (const mu of muts as Array<{ kind: string; at: number; value?: number; len?: number }>) {
        const at = b.length ? mu.at % b.length : 0;
        if (mu.kind === 'set') b[at] = mu.value as number;
        else if (mu.kind === 'cut') b = b.slice(0, at);
        else if (mu.kind === 'dup')
          b = Uint8Array.from([
            ...b.subarray(0, at),
            ...b.subarray(at, at + (mu.len as number)),
            ...b.subarray(at),
          ]);
        else if (mu.kind === 'count' && b.length > mu.at) b[mu.at] = mu.value as number;
        else if (mu.kind === 'pointer' && b.length > at + 1) {
          b[at] = 0xc0 | ((mu.value as number) >> 8);
          b[at + 1] = (mu.value as number) & 0xff;
        }
      }
      let ok = false;
      try {
        decodeDnsMessage(b);
        report.decoded++;
        ok = true;
      } catch (e) {
        if (e instanceof BadPacketError) {
          report.rejected++;
          const k = e.message
            .replace(/\d+/g, 'N')
            .replace(/'[^']*'/g, "'…'")
            .replace(/^DNS message: [^:]*: /, '');
          kinds.set(k, (kinds.get(k) ?? 0) + 1);
        } else {
          report.otherErrors.push(
            `${(e as Error).name}: ${(e as Error).message} on ${Buffer.from(b).toString('hex')}`,
          );
        }
      }
      also?.(b, ok);
    }),
    { numRuns: runs, seed },
  );
  report.ms = performance.now() - t0;
  report.kinds = [...kinds].sort((a, b) => b[1] - a[1]);
  return report;
}
