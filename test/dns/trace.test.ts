/**
 * `trace` and DNSSEC validation against a private signed DNS tree (test/helpers/dnssec-tree.ts: Knot DNS
 * serving a root, two TLDs and leaf zones on 127.X.Y.n, unbound as a resolver), checked case by case against
 * BIND's `delv` run on the same tree with the same trust anchor. Every query soket sends is checked to go to
 * 127.0.0.0/8 (the transport below refuses anything else), and the root hints always name the private root.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { AbortError, TimeoutError, TraceError, ValidationError } from '../../src/core/errors.js';
import {
  parseRootHints,
  type RootHint,
  type TraceEvent,
  type TraceOptions,
  type TraceStep,
  trace,
  traceStream,
} from '../../src/dns/trace.js';
import { queryOnce, type TraceTransport } from '../../src/dns/trace-transport.js';
import { parseTrustAnchors, type TrustAnchor } from '../../src/dnssec/trust-anchor.js';
import { type DnssecTree, missingTreePeer, startDnssecTree } from '../helpers/dnssec-tree.js';
import { STRICT } from '../helpers/peers.js';

const run = promisify(execFile);

/** Loopback only: a query to any other address fails the test instead of leaving the machine. */
const asked: string[] = [];
const loopbackOnly: TraceTransport = (q) => {
  asked.push(q.address);
  if (!q.address.startsWith('127.')) throw new Error(`a query to ${q.address} would leave loopback`);
  return queryOnce(q);
};

type Verdict = 'secure' | 'insecure' | 'bogus' | 'failed';

/** delv's verdict on the same tree, through the tree's resolver, with the same anchor. */
async function delvVerdict(
  tree: DnssecTree,
  name: string,
  type: string,
): Promise<{ verdict: Verdict; text: string }> {
  const args = [`@${tree.resolver}`, '-a', tree.delvAnchorFile, '+root=.', name, type];
  let text: string;
  try {
    const r = await run('delv', args, { timeout: 20_000 });
    text = r.stdout + r.stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    text = (e.stdout ?? '') + (e.stderr ?? '');
  }
  if (/; (negative response, )?fully validated/.test(text)) return { verdict: 'secure', text };
  if (/; (negative response, )?unsigned answer/.test(text)) return { verdict: 'insecure', text };
  if (
    /broken trust chain|RRSIG failed|no valid signature|insecurity proof failed|validating .*: /.test(text)
  ) {
    return { verdict: 'bogus', text };
  }
  return { verdict: 'failed', text };
}

let tree: DnssecTree | undefined;
let rootHints: RootHint[] = [];
let trustAnchors: TrustAnchor[] = [];
let skipReason = '';

function ready(t: TestContext): DnssecTree | undefined {
  if (tree) return tree;
  if (STRICT) throw new Error(`DNSSEC tree unavailable under CI=true: ${skipReason}`);
  t.skip(skipReason);
  return undefined;
}

function options(extra: TraceOptions = {}): TraceOptions {
  return { rootHints, trustAnchors, transport: loopbackOnly, validate: true, ...extra };
}

async function soketVerdict(name: string, type: string, mode: 'trace' | 'resolver'): Promise<Verdict> {
  try {
    const extra: TraceOptions =
      mode === 'trace' ? { type, tryTimeout: 1000 } : { type, server: (tree as DnssecTree).resolver };
    if (mode === 'resolver') {
      const { rootHints: _r, ...rest } = options(extra);
      const r = await trace(name, rest);
      return r.verdict?.status ?? 'failed';
    }
    const r = await trace(name, options(extra));
    return r.verdict?.status ?? 'failed';
  } catch (err) {
    if (err instanceof TraceError) return 'failed';
    throw err;
  }
}

describe('trace and DNSSEC validation against a private signed tree', () => {
  before(async () => {
    const missing = missingTreePeer();
    if (missing) {
      skipReason = `${missing} not installed (apt-get install knot unbound bind9-utils bind9-dnsutils)`;
      return;
    }
    if (process.getuid?.() !== 0) {
      skipReason = 'the tree listens on port 53 of 127.X.Y.n: needs root';
      return;
    }
    tree = await startDnssecTree();
    rootHints = parseRootHints(readFileSync(tree.rootHints, 'utf8'), tree.rootHints);
    trustAnchors = parseTrustAnchors(readFileSync(tree.anchorFile, 'utf8'), tree.anchorFile);
  });

  after(async () => {
    await tree?.close();
    assert.ok(
      asked.every((a) => a.startsWith('127.')),
      'every query went to loopback',
    );
  });

  const cases: { name: string; type: string; expect: Verdict; what: string }[] = [
    {
      name: 'www.sub.secure.test',
      type: 'A',
      expect: 'secure',
      what: 'a secure name four levels deep (RSA, P-256, Ed25519, P-384)',
    },
    { name: 'www.secure.test', type: 'AAAA', expect: 'secure', what: 'a secure name' },
    {
      name: 'www.insecure.test',
      type: 'A',
      expect: 'insecure',
      what: 'an insecure delegation (NSEC3 without DS)',
    },
    {
      name: 'www.unsigned.example',
      type: 'A',
      expect: 'insecure',
      what: 'an insecure delegation in an NSEC3 opt-out span',
    },
    { name: 'nosuch.secure.test', type: 'A', expect: 'secure', what: 'NXDOMAIN proved with NSEC' },
    { name: 'nosuch.test', type: 'A', expect: 'secure', what: 'NXDOMAIN proved with NSEC3' },
    { name: 'nosuch.example', type: 'A', expect: 'secure', what: 'NXDOMAIN proved with NSEC3 opt-out' },
    { name: 'nosuch.unsigned.example', type: 'A', expect: 'insecure', what: 'NXDOMAIN in an unsigned zone' },
    { name: 'www.secure.test', type: 'TXT', expect: 'secure', what: 'NODATA proved with NSEC' },
    { name: 'www.sub.secure.test', type: 'TXT', expect: 'secure', what: 'NODATA proved with NSEC3' },
    {
      name: 'x.wild.secure.test',
      type: 'A',
      expect: 'secure',
      what: 'a wildcard expansion with its NSEC proof',
    },
    {
      name: 'x.wild.sub.secure.test',
      type: 'A',
      expect: 'secure',
      what: 'a wildcard expansion with its NSEC3 proof',
    },
    { name: 'www.expired.test', type: 'A', expect: 'bogus', what: 'an expired signature' },
    { name: 'www.tampered.test', type: 'A', expect: 'bogus', what: 'a record altered after signing' },
    { name: 'www.badds.test', type: 'A', expect: 'bogus', what: 'a DS that matches no key' },
    { name: 'www.glueless.test', type: 'A', expect: 'secure', what: 'a glue-less delegation' },
    {
      name: 'www.lame.test',
      type: 'A',
      expect: 'secure',
      what: 'a delegation to a silent and a lame server first',
    },
    { name: 'alias.secure.test', type: 'A', expect: 'secure', what: 'a CNAME into another zone' },
    { name: 'www.dname.secure.test', type: 'A', expect: 'secure', what: 'a DNAME into a child zone' },
    {
      name: 'www.inner.secure.test',
      type: 'A',
      expect: 'secure',
      what: "a child zone on its parent's server",
    },
    { name: 'www.loop1.test', type: 'A', expect: 'failed', what: 'a glue-less delegation loop' },
  ];

  for (const c of cases) {
    it(`${c.name} ${c.type} (${c.what}): ${c.expect}, as delv says, traced and through the resolver`, async (t) => {
      const tr = ready(t);
      if (!tr) return;
      const delv = await delvVerdict(tr, c.name, c.type);
      assert.equal(delv.verdict, c.expect, `delv said:\n${delv.text}`);
      assert.equal(await soketVerdict(c.name, c.type, 'trace'), delv.verdict, 'trace');
      assert.equal(await soketVerdict(c.name, c.type, 'resolver'), delv.verdict, 'through the resolver');
    });
  }

  it('shows each referral with its DS and the DNSSEC finding, then the answer and the verdict', async (t) => {
    if (!ready(t)) return;
    const events: TraceEvent[] = [];
    for await (const e of traceStream('www.sub.secure.test', options())) events.push(e);
    const referrals = events.filter((e): e is TraceStep => e.event === 'step' && e.outcome === 'referral');
    assert.deepEqual(
      referrals.map((r) => r.referral?.zone),
      ['test.', 'secure.test.', 'sub.secure.test.'],
    );
    assert.ok(referrals.every((r) => r.authority.some((a) => a.type === 'DS')));
    const delegations = events.filter((e) => e.event === 'dnssec' && e.kind === 'delegation');
    assert.deepEqual(
      delegations.map((e) => (e.event === 'dnssec' && e.kind === 'delegation' ? [e.child, e.result] : [])),
      [
        ['test.', 'signed'],
        ['secure.test.', 'signed'],
        ['sub.secure.test.', 'signed'],
      ],
    );
    const keys = events.filter((e) => e.event === 'dnssec' && e.kind === 'keys');
    assert.equal(keys.length, 4);
    const result = events.at(-1);
    assert.ok(result?.event === 'result');
    assert.equal(result.rcode, 'NOERROR');
    assert.deepEqual(
      result.answer.filter((a) => a.type === 'A').map((a) => a.data),
      ['192.0.2.2'],
    );
    assert.equal(result.verdict?.status, 'secure');
    assert.deepEqual(
      result.verdict?.chain.map((z) => z.zone),
      ['.', 'test.', 'secure.test.', 'sub.secure.test.'],
    );
    assert.equal(result.server.address, (tree as DnssecTree).addr(5));
  });

  it('says where the chain becomes insecure', async (t) => {
    if (!ready(t)) return;
    const r = await trace('www.insecure.test', options());
    assert.equal(r.verdict?.status, 'insecure');
    assert.equal(r.verdict?.insecureAt, 'insecure.test.');
    assert.match(r.verdict?.reason ?? '', /test\. proves insecure\.test\. is delegated without DS/);
  });

  it('names the expired signature and the DS without a key', async (t) => {
    if (!ready(t)) return;
    const expired = await trace('www.expired.test', options());
    assert.match(
      expired.verdict?.reason ?? '',
      /RRSIG DNSKEY expired\.test\. by expired\.test\. key \d+ \(ECDSAP256SHA256\) expired at /,
    );
    const badds = await trace('www.badds.test', options());
    assert.match(badds.verdict?.reason ?? '', /no DNSKEY of badds\.test\. matches the DS in test\./);
    const tampered = await trace('www.tampered.test', options());
    assert.match(
      tampered.verdict?.reason ?? '',
      /RRSIG A www\.tampered\.test\. by tampered\.test\. key \d+ .* does not verify/,
    );
  });

  it('reports the silent and the lame server, each with its own try, then asks the next', async (t) => {
    const tr = ready(t);
    if (!tr) return;
    const steps: TraceStep[] = [];
    const r = await trace('www.lame.test', {
      ...options({ validate: false, tryTimeout: 1000 }),
      onEvent: (e) => e.event === 'step' && steps.push(e),
    });
    assert.equal(r.rcode, 'NOERROR');
    const silent = steps.find((s) => s.server.address === tr.addr(7));
    assert.equal(silent?.outcome, 'error');
    assert.match(silent?.error?.message ?? '', /no answer within 1000 ms/);
    const lame = steps.find((s) => s.server.address === tr.addr(6));
    assert.equal(lame?.outcome, 'lame');
    assert.match(lame?.error?.message ?? '', /lame/);
    assert.equal(r.server.address, tr.addr(4));
  });

  it('looks up a glue-less name server first (nested steps), and refuses a delegation loop', async (t) => {
    if (!ready(t)) return;
    const steps: TraceStep[] = [];
    const r = await trace('www.glueless.test', {
      ...options({ validate: false }),
      onEvent: (e) => e.event === 'step' && steps.push(e),
    });
    assert.equal(r.rcode, 'NOERROR');
    const nested = steps.filter((s) => s.purpose === 'ns-address');
    assert.ok(nested.length >= 1);
    assert.ok(nested.every((s) => s.depth === 1 && s.question.name === 'ns.hosts.example.'));
    await assert.rejects(trace('www.loop1.test', options({ validate: false })), (err) => {
      assert.ok(err instanceof TraceError);
      assert.equal(err.reason, 'loop');
      assert.match(err.message, /Delegation loop: .*ns\.loop2\.test\..*ns\.loop1\.test\./);
      return true;
    });
  });

  it('follows a CNAME into another zone, starting again from the closest known cut', async (t) => {
    if (!ready(t)) return;
    const r = await trace('alias.secure.test', options());
    assert.deepEqual(r.names, ['alias.secure.test.', 'www.hosts.example.']);
    assert.deepEqual(
      r.answer.filter((a) => a.type !== 'RRSIG').map((a) => `${a.name} ${a.type} ${a.data}`),
      ['alias.secure.test. CNAME www.hosts.example.', 'www.hosts.example. A 192.0.2.7'],
    );
  });

  it('validates ANY, DNSKEY, DS and the root itself; takes internationalised names', async (t) => {
    if (!ready(t)) return;
    for (const [name, type] of [
      ['www.secure.test', 'ANY'],
      ['secure.test', 'DNSKEY'],
      ['test', 'DS'],
      ['.', 'SOA'],
    ] as const) {
      const r = await trace(name, options({ type }));
      assert.equal(r.verdict?.status, 'secure', `${name} ${type}: ${r.verdict?.reason}`);
    }
    const idn = await trace('bücher.secure.test', options());
    assert.equal(idn.name, 'xn--bcher-kva.secure.test.');
    assert.equal(idn.rcode, 'NXDOMAIN');
  });

  it('answers NXDOMAIN and NODATA as results, not errors', async (t) => {
    if (!ready(t)) return;
    assert.equal((await trace('nosuch.secure.test', options({ validate: false }))).rcode, 'NXDOMAIN');
    const nodata = await trace('www.secure.test', options({ type: 'TXT', validate: false }));
    assert.equal(nodata.rcode, 'NOERROR');
    assert.deepEqual(nodata.answer, []);
  });

  it('stops at the step limit, at the overall timeout, and when aborted', async (t) => {
    if (!ready(t)) return;
    await assert.rejects(trace('www.sub.secure.test', options({ maxSteps: 2 })), (err) => {
      assert.ok(err instanceof TraceError);
      assert.equal(err.reason, 'step-limit');
      assert.match(err.message, /stopped after 2 queries/);
      return true;
    });
    // The silent server never answers: a 5 s try cannot finish inside a 200 ms trace.
    await assert.rejects(
      trace('www.lame.test', options({ validate: false, tryTimeout: 5000, timeout: 200 })),
      (err) => {
        assert.ok(err instanceof TimeoutError);
        assert.equal(err.phase, 'overall');
        return true;
      },
    );
    const controller = new AbortController();
    const pending = trace(
      'www.lame.test',
      options({ validate: false, tryTimeout: 5000, signal: controller.signal }),
    );
    controller.abort();
    await assert.rejects(pending, AbortError);
  });

  it('checks its options', async (t) => {
    if (!ready(t)) return;
    await assert.rejects(
      trace('www.secure.test', options({ family: 6 })),
      /No IPv6 address among the root hints/,
    );
    await assert.rejects(trace('', options()), ValidationError);
    await assert.rejects(trace('x.test', options({ type: 'NOSUCHTYPE' })), ValidationError);
    await assert.rejects(
      trace('x.test', { ...options(), server: '127.0.0.1' }),
      /either a resolver \(server\) or root hints/,
    );
  });

  it('through a resolver: asks it for the answer, then each DS and DNSKEY, with DO and CD', async (t) => {
    const tr = ready(t);
    if (!tr) return;
    const seen: { type: number; rd: boolean; cd: boolean; dnssecOk: boolean }[] = [];
    const spy: TraceTransport = (q) => {
      seen.push({ type: q.type, rd: q.recursionDesired, cd: q.checkingDisabled, dnssecOk: q.dnssecOk });
      return loopbackOnly(q);
    };
    const { rootHints: _r, ...rest } = options({ transport: spy, server: tr.resolver });
    const r = await trace('www.sub.secure.test', rest);
    assert.equal(r.verdict?.status, 'secure');
    assert.ok(seen.every((s) => s.rd && s.cd && s.dnssecOk));
    assert.deepEqual(
      [...new Set(seen.map((s) => s.type))].sort((a, b) => a - b),
      [1, 43, 48],
    );
  });
});
