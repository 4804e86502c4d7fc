/**
 * `soket resolve --trace` and `--validate` as users run them (dist/soket.cjs), against the private signed tree
 * (Knot DNS + unbound on 127.X.Y.n): the verdict equals delv's, the exit code is 1 exactly when it is bogus, the
 * text looks like dig +trace, --json is one object per step then the result; -4/-6 in a dual-stack namespace;
 * bad input exits 2 with one line. Every run passes --root-hints (the private root) or --server (the private
 * resolver): nothing is asked outside loopback.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { runCli, SOKET_BIN } from '../helpers/cli.js';
import {
  type DnssecTree,
  type DualStackTree,
  missingTreePeer,
  startDnssecTree,
  startDualStackTree,
} from '../helpers/dnssec-tree.js';
import { canUseNetns } from '../helpers/netns.js';
import { STRICT } from '../helpers/peers.js';

const run = promisify(execFile);

let tree: DnssecTree | undefined;
let skipReason = '';

function ready(t: TestContext): DnssecTree | undefined {
  if (tree) return tree;
  if (STRICT) throw new Error(`DNSSEC tree unavailable under CI=true: ${skipReason}`);
  t.skip(skipReason);
  return undefined;
}

async function delv(tr: DnssecTree, name: string): Promise<string> {
  try {
    const r = await run('delv', [`@${tr.resolver}`, '-a', tr.delvAnchorFile, '+root=.', name], {
      timeout: 20_000,
    });
    return r.stdout + r.stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return (e.stdout ?? '') + (e.stderr ?? '');
  }
}

function delvVerdict(text: string): string {
  if (/; (negative response, )?fully validated/.test(text)) return 'secure';
  if (/; (negative response, )?unsigned answer/.test(text)) return 'insecure';
  return 'bogus';
}

function traceArgs(tr: DnssecTree, name: string, ...extra: string[]): string[] {
  return [
    'resolve',
    name,
    '--trace',
    '--validate',
    '--root-hints',
    tr.rootHints,
    '--trust-anchor',
    tr.anchorFile,
    ...extra,
  ];
}

function ndjson(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('soket resolve --trace / --validate', () => {
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
  });
  after(async () => {
    await tree?.close();
  });

  for (const [name, what] of [
    ['www.sub.secure.test', 'secure, four levels deep'],
    ['www.insecure.test', 'insecure delegation'],
    ['nosuch.test', 'NXDOMAIN with NSEC3'],
    ['www.tampered.test', 'tampered record'],
    ['www.badds.test', 'DS matching no key'],
  ] as const) {
    it(`${name} (${what}): the same verdict as delv, traced and through the resolver; exit 1 only when bogus`, async (t) => {
      const tr = ready(t);
      if (!tr) return;
      const expected = delvVerdict(await delv(tr, name));
      const traced = await runCli(traceArgs(tr, name, '--json'));
      const result = ndjson(traced.stdout).at(-1) as { event: string; verdict: { status: string } };
      assert.equal(result.event, 'result', traced.stdout);
      assert.equal(result.verdict.status, expected);
      assert.equal(traced.code, expected === 'bogus' ? 1 : 0, traced.stderr);
      const viaResolver = await runCli([
        'resolve',
        name,
        '--validate',
        '--server',
        tr.resolver,
        '--trust-anchor',
        tr.anchorFile,
      ]);
      assert.match(viaResolver.stdout, new RegExp(`;; DNSSEC: ${expected}`));
      assert.equal(viaResolver.code, expected === 'bogus' ? 1 : 0, viaResolver.stderr);
    });
  }

  it('text: each referral like dig +trace, the DNSSEC findings, the answer and the verdict', async (t) => {
    const tr = ready(t);
    if (!tr) return;
    const r = await runCli(traceArgs(tr, 'www.sub.secure.test'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^test\.\s+3600\s+IN\s+NS\s+ns\.test\.$/m);
    assert.match(r.stdout, /^test\.\s+3600\s+IN\s+DS\s+\d+ 13 2 [0-9A-F]+$/m);
    assert.match(
      r.stdout,
      new RegExp(`;; Received \\d+ bytes from ${tr.root.replaceAll('.', '\\.')}#53\\(ns\\.root\\.\\) in `),
    );
    assert.match(
      r.stdout,
      /;; DNSSEC: delegation to secure\.test\. signed: DS secure\.test\. verified with test\. key \d+/,
    );
    assert.match(r.stdout, /;; DNSSEC: DNSKEY sub\.secure\.test\. secure \[.*ECDSAP384SHA384 KSK.*\]/);
    assert.match(r.stdout, /^www\.sub\.secure\.test\.\s+3600\s+IN\s+A\s+192\.0\.2\.2$/m);
    assert.match(
      r.stdout,
      /;; DNSSEC: secure: A www\.sub\.secure\.test\. signed by sub\.secure\.test\. key \d+ \(ECDSAP384SHA384\)/,
    );
    assert.match(r.stdout, /;; 8 queries in /);
    assert.equal(r.stderr, '');
  });

  it('text: a bogus verdict names the key and why; the lame server is reported', async (t) => {
    const tr = ready(t);
    if (!tr) return;
    const bogus = await runCli(traceArgs(tr, 'www.expired.test'));
    assert.equal(bogus.code, 1);
    assert.match(
      bogus.stdout,
      /;; DNSSEC: bogus: RRSIG DNSKEY expired\.test\. by expired\.test\. key \d+ \(ECDSAP256SHA256\) expired at /,
    );
    const lame = await runCli(traceArgs(tr, 'www.lame.test', '--try-timeout', '500'));
    assert.equal(lame.code, 0, lame.stderr);
    assert.match(
      lame.stdout,
      new RegExp(
        `;; failed: ${tr.addr(7).replaceAll('.', '\\.')}#53\\(ns1\\.lame\\.test\\.\\) .*no answer within 500 ms; asking the next server`,
      ),
    );
    assert.match(lame.stdout, /;; lame: .*\(ns2\.lame\.test\.\)/);
  });

  it('--json: a step per query (with purpose, server, outcome), dnssec findings, then the result', async (t) => {
    const tr = ready(t);
    if (!tr) return;
    const r = await runCli(traceArgs(tr, 'alias.secure.test', '--json'));
    assert.equal(r.code, 0, r.stderr);
    const events = ndjson(r.stdout);
    const steps = events.filter((e) => e.event === 'step');
    assert.ok(steps.length >= 8);
    for (const s of steps) {
      assert.ok(['resolve', 'dnskey', 'ds', 'ns-address'].includes(s.purpose as string));
      assert.match((s.server as { address: string }).address, /^127\./);
    }
    assert.ok(events.some((e) => e.event === 'dnssec' && e.kind === 'delegation'));
    const result = events.at(-1) as {
      event: string;
      names: string[];
      verdict: { status: string; chain: unknown[] };
    };
    assert.equal(result.event, 'result');
    assert.deepEqual(result.names, ['alias.secure.test.', 'www.hosts.example.']);
    assert.equal(result.verdict.status, 'secure');
  });

  it('a delegation loop is one line on stderr and exit 1; --trace without --validate has no verdict', async (t) => {
    const tr = ready(t);
    if (!tr) return;
    const loop = await runCli(['resolve', 'www.loop1.test', '--trace', '--root-hints', tr.rootHints]);
    assert.equal(loop.code, 1);
    assert.match(loop.stderr, /^soket: Delegation loop: .*\n$/);
    const plain = await runCli([
      'resolve',
      'www.secure.test',
      '--trace',
      '--root-hints',
      tr.rootHints,
      '--type',
      'AAAA',
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /2001:db8::1/);
    assert.doesNotMatch(plain.stdout, /DNSSEC/);
  });

  it('bad input: exit 2 with one line naming the option', async (t) => {
    const tr = ready(t);
    if (!tr) return;
    const badAnchor = join(tr.dir, 'bad.anchor');
    writeFileSync(badAnchor, '. IN A 192.0.2.1\n');
    const cases: [string[], RegExp][] = [
      [
        ['resolve', 'x.test', '--trace', '--server', '127.0.0.1', '--root-hints', tr.rootHints],
        /--trace and --server cannot be used together/,
      ],
      [
        ['resolve', 'x.test', '--root-hints', tr.rootHints, '--validate', '--server', tr.resolver],
        /--root-hints needs --trace/,
      ],
      [['resolve', 'x.test', 'y.test', '--trace', '--root-hints', tr.rootHints], /exactly one name/],
      [
        ['resolve', 'x.test', '--trace', '--root-hints', join(tr.dir, 'nosuch')],
        /Cannot read root hints file/,
      ],
      [
        [
          'resolve',
          'x.test',
          '--trace',
          '--validate',
          '--root-hints',
          tr.rootHints,
          '--trust-anchor',
          badAnchor,
        ],
        /line 1: expected a DS or DNSKEY record/,
      ],
      [['resolve', 'x.test', '--trace', '--root-hints', tr.rootHints, '--type', 'NOSUCH'], /record type/i],
      [['resolve', 'x.test', '--trace', '--root-hints', tr.rootHints, '--max-steps', '0'], /--max-steps/],
      [['resolve', 'x.test', '--trace', '-4', '-6', '--root-hints', tr.rootHints], /-4.*-6|-6.*-4/],
      [
        ['resolve', 'x.test', '--trace', '--tcp', '--root-hints', tr.rootHints],
        /--trace\/--validate and --tcp cannot be used together/,
      ],
      [
        ['resolve', 'x.test', '--trace', '--tries', '3', '--root-hints', tr.rootHints],
        /--tries applies to --validate --server/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});

describe('soket resolve --trace -4/-6 (a dual-stack tree in a network namespace)', () => {
  let dual: DualStackTree | undefined;
  let reason = '';
  before(async () => {
    const missing = missingTreePeer();
    const netns = canUseNetns();
    if (missing) reason = `${missing} not installed`;
    else if (!netns.ok) reason = netns.reason;
    else dual = await startDualStackTree();
  });
  after(async () => {
    await dual?.close();
  });

  for (const family of ['-4', '-6'] as const) {
    it(`${family}: every server asked is an IPv${family.slice(1)} address`, async (t) => {
      if (!dual) {
        if (STRICT) throw new Error(`dual-stack tree unavailable under CI=true: ${reason}`);
        t.skip(reason);
        return;
      }
      const r = await runCli(
        ['resolve', 'www.test', '--trace', family, '--root-hints', dual.rootHints, '--json'],
        {
          prefix: ['ip', 'netns', 'exec', dual.netns, process.execPath, SOKET_BIN],
        },
      );
      assert.equal(r.code, 0, r.stderr);
      const events = ndjson(r.stdout);
      const servers = events
        .filter((e) => e.event === 'step')
        .map((e) => (e.server as { address: string }).address);
      assert.deepEqual(servers, family === '-4' ? dual.v4 : dual.v6);
      const result = events.at(-1) as { answer: { data: string }[] };
      assert.deepEqual(
        result.answer.map((a) => a.data),
        ['192.0.2.1'],
      );
    });
  }
});
