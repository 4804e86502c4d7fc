/**
 * Fuzzing every parser soket owns (issue 17): the services file, address and port syntax, NTP packets with
 * extension fields and MACs (the SNTP server's request handling included), the PROXY protocol and DNS
 * messages — 100,000 generated hostile inputs each (test/helpers/fuzz-targets.ts). Every input must give a
 * value or the parser's typed error (`ValidationError` for text, `BadPacketError` for bytes); anything else is
 * a failure. The slowest single input is reported: none may take long (a hang waiting to happen).
 *
 * `FUZZ_RUNS` changes the count, `FUZZ_SEED` the seed; the test suite runs 2,000 of each (test/fuzz.test.ts).
 * The DNS part is the DNS decoder's own fuzzer (bench/dns-fuzz compares it with dns-packet).
 */
import { FUZZ_TARGETS } from '../test/helpers/fuzz-targets.js';
import { loadNote, mdTable, type Scenario } from './lib.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_130);

const scenario: Scenario = {
  name: 'fuzz',
  title: 'Fuzzing every parser soket owns: 100,000 hostile inputs each',
  async run() {
    const rows: Array<Array<string | number>> = [];
    const notes: string[] = [];
    let failures = 0;
    for (const t of FUZZ_TARGETS) {
      const r = t.run(RUNS, SEED);
      console.log(`${r.target}: ${JSON.stringify({ ...r, failures: r.failures.slice(0, 3) })}`);
      failures += r.failureCount;
      rows.push([
        r.target,
        r.inputs.toLocaleString('en-US'),
        r.accepted.toLocaleString('en-US'),
        r.rejected.toLocaleString('en-US'),
        `**${r.failureCount}**`,
        Number.isNaN(r.slowestMs) ? '—' : `${r.slowestMs.toFixed(1)} (again: ${r.slowestAgainMs.toFixed(2)})`,
        (r.ms / 1000).toFixed(1),
      ]);
      notes.push(`- **${t.name}**: ${t.what}.`);
      for (const f of r.failures.slice(0, 3)) notes.push(`  - failure: \`${f.slice(0, 200)}\``);
    }
    return [
      `${RUNS.toLocaleString('en-US')} inputs per parser (fast-check, seed ${SEED}), generation included.`,
      '',
      mdTable(
        [
          'parser',
          'inputs',
          'accepted',
          'rejected (typed error)',
          'failures',
          'slowest input ms (timed again alone)',
          'total s',
        ],
        rows,
      ),
      '',
      ...notes,
      '',
      `Result: **${failures}** inputs ended in anything but a value or the parser's typed error; none hung.`,
      'The slowest input during the run includes garbage-collection pauses and the first, unoptimised calls; timed again',
      'alone (median of 5), it shows whether the input itself is slow.',
      '',
      `${loadNote()} The times, not the counts, depend on it.`,
    ].join('\n');
  },
};
export default scenario;
