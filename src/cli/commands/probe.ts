/**
 * `soket probe HOST PORTS`: TCP connect checks — open, closed (refused) or filtered (timed out).
 *
 * @module
 */
import type { Command } from 'commander';
import { exclusive, parseDuration, parseInteger } from '../../core/validate.js';
import { type PortState, type ProbeResult, parsePortList, probePorts } from '../../net/probe.js';
import { EXIT, examples, type Runner } from '../command.js';
import { formatMs, table } from '../format.js';
import type { Io } from '../io.js';
import { createProgress } from '../progress.js';

interface ProbeFlags {
  timeout: string;
  concurrency: string;
  ipv4?: boolean;
  ipv6?: boolean;
  all?: boolean;
  open?: boolean;
}

/** Lists up to this long show every port; longer ones hide closed ports unless --all. */
const SHOW_ALL_UP_TO = 24;

function stateText(state: PortState, io: Io): string {
  const c = io.color;
  return state === 'open'
    ? c.green('open')
    : state === 'closed'
      ? c.dim('closed')
      : state === 'filtered'
        ? c.yellow('filtered')
        : c.red('error');
}

export function register(program: Command, run: Runner): void {
  program
    .command('probe')
    .description('check TCP ports: open (handshake completes), closed (refused) or filtered (no answer)')
    .argument('<host>', 'host name or IP address')
    .argument('<ports>', 'ports and ranges, e.g. 22,80,8000-8100')
    .option('--timeout <ms>', 'connect timeout per port; no answer in time is "filtered"', '1000')
    .option('-c, --concurrency <n>', 'ports probed at once', '100')
    .option('-4, --ipv4', 'resolve the host to IPv4')
    .option('-6, --ipv6', 'resolve the host to IPv6')
    .option('-a, --all', 'list every port (by default lists longer than 24 hide closed ports)')
    .option('--open', 'list only open ports')
    .addHelpText(
      'after',
      `
Each port gets one TCP handshake (connect(2)), closed again at once without sending data. The host name is
resolved once. A refused connection (the host answered with a reset) is "closed"; no answer within the
timeout, or an ICMP unreachable, is "filtered". Exit code 0 when at least one port is open, 1 when none is
(like nc -z), 2 for bad input. A progress bar is drawn on a terminal for long lists.
--json prints {host, address, elapsedMs, summary: {open, closed, filtered, error}, results: [{port, state,
address, connectMs, code, reason}]}.
${examples([
  'soket probe 127.0.0.1 22,80,443',
  'soket probe localhost 8000-8100 --timeout 300',
  'soket probe ::1 1-1024 --open',
  'soket probe 127.0.0.1 5432 --json',
])}`,
    )
    .action(
      run(async (io, host: string, spec: string, flags: ProbeFlags) => {
        exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
        exclusive({ '--all': flags.all, '--open': flags.open });
        const ports = parsePortList(spec);
        const timeout = parseDuration(flags.timeout, '--timeout', { allowZero: false });
        const concurrency = parseInteger(flags.concurrency, '--concurrency', { min: 1, max: 10_000 });
        const family = flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0;
        const started = performance.now();
        const bar = createProgress(io, { total: ports.length, label: 'probe', minTotal: SHOW_ALL_UP_TO });
        const results: ProbeResult[] = [];
        try {
          for await (const r of probePorts(host, ports, {
            timeout,
            concurrency,
            family,
            signal: io.signal,
          })) {
            results.push(r);
            bar.tick(r.state === 'open');
          }
        } finally {
          bar.done();
        }
        results.sort((a, b) => a.port - b.port);
        const elapsedMs = Math.round((performance.now() - started) * 1000) / 1000;
        const summary = { open: 0, closed: 0, filtered: 0, error: 0 };
        for (const r of results) summary[r.state]++;
        const address = results[0]?.address ?? host;
        const code = summary.open > 0 ? EXIT.ok : EXIT.failed;
        if (io.json) {
          io.printJson({ host, address, elapsedMs, summary, results });
          return code;
        }
        const showAll = flags.all || (!flags.open && ports.length <= SHOW_ALL_UP_TO);
        const shown = results.filter((r) =>
          flags.open ? r.state === 'open' : showAll ? true : r.state !== 'closed',
        );
        if (shown.length > 0) {
          io.out(
            table([
              [io.color.bold('PORT'), io.color.bold('STATE'), io.color.bold('CONNECT')],
              ...shown.map((r) => [
                String(r.port),
                stateText(r.state, io),
                r.connectMs === null ? (r.state === 'error' ? (r.reason ?? '') : '') : formatMs(r.connectMs),
              ]),
            ]),
          );
        }
        const hidden = results.length - shown.length;
        const target = address === host ? host : `${host} (${address})`;
        io.out(
          io.color.dim(
            `${target}: ${summary.open} open, ${summary.closed} closed, ${summary.filtered} filtered` +
              `${summary.error ? `, ${summary.error} error` : ''} — ${results.length} ports in ${formatMs(elapsedMs)}` +
              `${hidden > 0 ? ` (${hidden} not listed; --all lists them)` : ''}`,
          ),
        );
        return code;
      }),
    );
}
