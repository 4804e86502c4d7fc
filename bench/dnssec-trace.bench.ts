/**
 * Trace and validate a name four levels deep (www.sub.secure.test: root → test. → secure.test. →
 * sub.secure.test., signed with RSA/SHA-256, ECDSA P-256, Ed25519 and ECDSA P-384) in the private signed tree
 * of the tests (Knot DNS on 127.X.Y.n, unbound as a resolver), as whole processes, in the same run:
 *
 * - `soket resolve NAME --trace --validate` — iterates from the private root itself and validates every step;
 * - `soket resolve NAME --validate --server RESOLVER` — delv's way: the answer, DS and DNSKEY records from a
 *   resolver, validated locally;
 * - `delv @RESOLVER +vtrace NAME` — BIND's validator, through the same resolver (its cache warm after the first
 *   run, so delv's queries are answered from memory);
 * - `dig @ROOT +trace +dnssec NAME` — the same walk from the root, without validation.
 *
 * The commands run alternately (A, B, C, D, A, B, ...) so a noisy moment on a shared machine hits all alike;
 * medians of the wall times are compared. Target: soket --trace --validate no slower than delv.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRootHints, trace } from '../src/dns/trace.js';
import { parseTrustAnchors } from '../src/dnssec/trust-anchor.js';
import { missingTreePeer, startDnssecTree } from '../test/helpers/dnssec-tree.js';
import { loadNote, mdTable, median, percentile, ratio, type Scenario, SOKET_BIN } from './lib.js';

const RUNS = 30;
const WARMUP = 3;
const NAME = 'www.sub.secure.test';

const scenario: Scenario = {
  name: 'dnssec-trace',
  title: 'DNSSEC: trace and validate a name four levels deep — soket vs delv and dig +trace',
  async run() {
    const missing = missingTreePeer();
    if (missing) return `Skipped: ${missing} is not installed.`;
    const tree = await startDnssecTree();
    try {
      const node = process.execPath;
      // dig +trace looks up each name server's address through the system resolver (even with glue at hand):
      // it runs in a mount namespace whose /etc/resolv.conf names the tree's resolver, so nothing leaves loopback.
      const resolvConf = join(tree.dir, 'resolv.conf');
      writeFileSync(resolvConf, `nameserver ${tree.resolver}\n`);
      const withPrivateResolver = (command: string) => [
        '-m',
        'sh',
        '-c',
        `mount --bind ${resolvConf} /etc/resolv.conf && ${command}`,
      ];
      const commands: Array<[label: string, file: string, args: string[], check: RegExp]> = [
        [
          'soket resolve --trace --validate',
          node,
          [
            SOKET_BIN,
            'resolve',
            NAME,
            '--trace',
            '--validate',
            '--root-hints',
            tree.rootHints,
            '--trust-anchor',
            tree.anchorFile,
          ],
          /DNSSEC: secure/,
        ],
        [
          'soket resolve --validate --server (resolver)',
          node,
          [
            SOKET_BIN,
            'resolve',
            NAME,
            '--validate',
            '--server',
            tree.resolver,
            '--trust-anchor',
            tree.anchorFile,
          ],
          /DNSSEC: secure/,
        ],
        [
          'delv +vtrace (resolver)',
          'delv',
          [`@${tree.resolver}`, '-a', tree.delvAnchorFile, '+root=.', '+vtrace', NAME],
          /fully validated/,
        ],
        [
          'dig +trace +dnssec (no validation)',
          'unshare',
          withPrivateResolver(`exec dig @${tree.root} +trace +dnssec ${NAME}`),
          /192\.0\.2\.2/,
        ],
        [
          "(dig's wrapper alone: unshare, mount, exec true)",
          'unshare',
          withPrivateResolver('exec true'),
          /^$/,
        ],
        ["(start-up floor: node -e '')", node, ['-e', ''], /^$/],
        [
          '(start-up of the resolve bundle: soket resolve localhost)',
          node,
          [SOKET_BIN, 'resolve', 'localhost'],
          /127\.0\.0\.1|::1/,
        ],
        [
          'soket resolve --trace (no validation)',
          node,
          [SOKET_BIN, 'resolve', NAME, '--trace', '--root-hints', tree.rootHints],
          /192\.0\.2\.2/,
        ],
      ];
      const samples = commands.map(() => [] as number[]);
      for (let i = 0; i < RUNS + WARMUP; i++) {
        for (const [k, [label, file, args, check]] of commands.entries()) {
          const t0 = performance.now();
          const r = spawnSync(file, args, { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
          const ms = performance.now() - t0;
          const out = `${r.stdout}${r.stderr}`;
          if (r.status !== 0 || !check.test(out))
            throw new Error(`${label} failed (exit ${r.status}):\n${out}`);
          if (i >= WARMUP) samples[k]?.push(ms);
        }
      }
      const rows = commands.map(([label], k) => {
        const s = samples[k] ?? [];
        return { label, median: median(s), min: Math.min(...s), p90: percentile(s, 90) };
      });
      // The same trace and validation inside this process: the work itself, without a process start-up.
      const options = {
        validate: true,
        rootHints: parseRootHints(readFileSync(tree.rootHints, 'utf8')),
        trustAnchors: parseTrustAnchors(readFileSync(tree.anchorFile, 'utf8')),
      };
      const inProcess: number[] = [];
      for (let i = 0; i < RUNS + WARMUP; i++) {
        const t0 = performance.now();
        const r = await trace(NAME, options);
        const ms = performance.now() - t0;
        if (r.verdict?.status !== 'secure') throw new Error(`in-process trace: ${r.verdict?.reason}`);
        if (i >= WARMUP) inProcess.push(ms);
      }
      const work = {
        label: '`trace(name, { validate: true })` in-process (no start-up)',
        median: median(inProcess),
        min: Math.min(...inProcess),
        p90: percentile(inProcess, 90),
      };
      rows.push(work);
      const delv = rows[2] as (typeof rows)[number];
      const soket = rows[0] as (typeof rows)[number];
      return [
        `Wall time of whole processes, ${RUNS} runs each after ${WARMUP} warm-ups, the commands alternating. The tree`,
        'is the one the tests build (test/helpers/dnssec-tree.ts); every server is on loopback, so the times are',
        "the tools' own work: start-up, queries, and (soket, delv) the signature checks.",
        loadNote(),
        '',
        mdTable(
          ['command', 'median ms', 'min ms', 'p90 ms', 'vs delv (median)'],
          rows.map((r) => [
            r.label,
            r.median.toFixed(1),
            r.min.toFixed(1),
            r.p90.toFixed(1),
            ratio(r.median, delv.median),
          ]),
        ),
        '',
        `Result: \`soket resolve --trace --validate\` takes **${ratio(soket.median, delv.median)}** of delv's time as a whole process`,
        `(median; target ≤ 1.00×), while walking the tree from the root itself where delv reads a warm resolver cache.`,
        `The trace and validation themselves take ${ratio(work.median, delv.median)} of delv's run (in-process row); the rest is`,
        'process start-up: Node itself and loading the resolve command bundle (the start-up rows), which is what a',
        'faster CLI start would have to cut.',
      ].join('\n');
    } finally {
      await tree.close();
    }
  },
};
export default scenario;
