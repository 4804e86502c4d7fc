/**
 * Fuzzing soket's DNS decoder (issue 14): 100,000 generated hostile messages — valid messages of every record
 * type soket parses (with compressed names and EDNS options), then mutated (bytes overwritten, cut short, a
 * slice duplicated, counts raised, compression pointers planted) or wholly random — must each decode or be
 * rejected with `BadPacketError`; anything else thrown is a bug. The same inputs go through dns-packet's
 * decoder, to show what soket adds over it (typed errors instead of `RangeError`s, and records whose RDATA
 * does not fit their RDLENGTH rejected instead of read across into the next record).
 *
 * The test suite runs the same fuzzer on 3,000 inputs (test/codec/dns.test.ts); `DNS_FUZZ_RUNS` changes the
 * count here.
 */
import dnsPacket from 'dns-packet';
import { fuzzDnsDecoder } from '../test/codec/dns-arbitraries.js';
import { mdTable, type Scenario } from './lib.js';

const RUNS = Number(process.env.DNS_FUZZ_RUNS ?? 100_000);
const SEED = 20_241_130;

const scenario: Scenario = {
  name: 'dns-fuzz',
  title: 'DNS decoder fuzzing: 100,000 hostile messages, soket and dns-packet',
  async run() {
    const dp = { ok: 0, typed: 0, rangeError: 0, other: 0, acceptedWhatSoketRejected: 0 };
    const dpKinds = new Map<string, number>();
    const report = fuzzDnsDecoder(RUNS, SEED, (bytes, soketOk) => {
      try {
        dnsPacket.decode(Buffer.from(bytes));
        dp.ok++;
        if (!soketOk) dp.acceptedWhatSoketRejected++;
      } catch (e) {
        const err = e as Error;
        if (err instanceof RangeError) dp.rangeError++;
        else if (err.constructor === Error) dp.typed++;
        else dp.other++;
        const k = `${err.constructor.name}: ${err.message.replace(/\d+/g, 'N').slice(0, 60)}`;
        dpKinds.set(k, (dpKinds.get(k) ?? 0) + 1);
      }
    });
    const pct = (n: number) => `${((n / RUNS) * 100).toFixed(1)}%`;
    const top = report.kinds.slice(0, 12).map(([k, n]) => [k, n.toLocaleString('en-US'), pct(n)]);
    const dpTop = [...dpKinds]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, n]) => [k, n.toLocaleString('en-US'), pct(n)]);
    return [
      `${RUNS.toLocaleString('en-US')} inputs (fast-check, seed ${SEED}) in ${(report.ms / 1000).toFixed(1)} s, generation included.`,
      '',
      mdTable(
        ['decoder', 'decoded', 'rejected with its typed error', 'other exceptions'],
        [
          [
            'soket `decodeDnsMessage`',
            report.decoded,
            `${report.rejected} (BadPacketError)`,
            report.otherErrors.length,
          ],
          [
            'dns-packet 5.6.1 `decode`',
            dp.ok,
            `${dp.typed} (plain Error)`,
            `${dp.rangeError} RangeError, ${dp.other} other`,
          ],
        ],
      ),
      '',
      `Result: **${report.otherErrors.length}** soket inputs ended in anything but a message or a \`BadPacketError\`` +
        `${report.otherErrors.length ? ` (first: ${report.otherErrors[0]})` : ''}; no input hung. dns-packet decoded ` +
        `**${dp.acceptedWhatSoketRejected.toLocaleString('en-US')}** inputs that soket rejects (records read past their ` +
        'RDLENGTH, names that are not names), and threw a bare `RangeError` for ' +
        `${pct(dp.rangeError)} of them.`,
      '',
      "soket's rejections by kind (numbers replaced by N):",
      '',
      mdTable(['reason', 'inputs', 'share'], top),
      '',
      "dns-packet's exceptions by kind:",
      '',
      mdTable(['exception', 'inputs', 'share'], dpTop),
    ].join('\n');
  },
};
export default scenario;
