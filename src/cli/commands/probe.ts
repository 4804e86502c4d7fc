// contract: v2 (issue 10: a stream of `port` events and a `summary`; main.ts renders them)
/**
 * `soket probe HOST PORTS`: TCP connect checks — open, closed (refused) or filtered (timed out).
 *
 * A stream: one `port` event per port as its probe finishes, then a `summary` (also after Ctrl-C, with what
 * was found so far). Text: the table of ports (sorted) and the summary line, at the end; a progress bar on a
 * terminal meanwhile. `--json`: one JSON object per line.
 *
 * @module
 */
import type { Command } from 'commander';
import { AbortError } from '../../core/errors.js';
import { exclusive, parseDuration, parseInteger } from '../../core/validate.js';
import {
  type PortState,
  PROBE_DEFAULTS,
  type ProbeResult,
  parsePortList,
  probePorts,
} from '../../net/probe.js';
import { EXIT, examples, type RenderContext, type Runner, stream } from '../command.js';
import { formatMs, table } from '../format.js';
import type { Io } from '../io.js';

interface ProbeFlags {
  timeout?: string;
  concurrency?: string;
  ipv4?: boolean;
  ipv6?: boolean;
  all?: boolean;
  open?: boolean;
}

/** Lists up to this long show every port; longer ones hide closed ports unless --all. */
const SHOW_ALL_UP_TO = 24;

/** The events of `soket probe`. */
export type ProbeEvent =
  | ({ event: 'port' } & ProbeResult)
  | {
      event: 'summary';
      host: string;
      address: string;
      ports: number;
      elapsedMs: number;
      interrupted: boolean;
      summary: Record<PortState, number>;
      /** Every result, by port (text rendering only; not in the JSON line). */
      results: ProbeResult[];
    };

function stateText(state: PortState, ctx: RenderContext): string {
  const c = ctx.color;
  return state === 'open'
    ? c.green('open')
    : state === 'closed'
      ? c.dim('closed')
      : state === 'filtered'
        ? c.yellow('filtered')
        : c.red('error');
}

function summaryText(flags: ProbeFlags) {
  return (e: ProbeEvent, ctx: RenderContext): string | undefined => {
    if (e.event !== 'summary') return undefined;
    const { results, summary } = e;
    const showAll = flags.all || (!flags.open && e.ports <= SHOW_ALL_UP_TO);
    const shown = results.filter((r) =>
      flags.open ? r.state === 'open' : showAll ? true : r.state !== 'closed',
    );
    const lines: string[] = [];
    if (shown.length > 0) {
      const c = ctx.color;
      lines.push(
        table([
          [c.bold('PORT'), c.bold('STATE'), c.bold('CONNECT')],
          ...shown.map((r) => [
            String(r.port),
            stateText(r.state, ctx),
            r.connectMs === null ? (r.state === 'error' ? (r.reason ?? '') : '') : formatMs(r.connectMs),
          ]),
        ]),
      );
    }
    const hidden = results.length - shown.length;
    const target = e.address === e.host ? e.host : `${e.host} (${e.address})`;
    const done = e.interrupted
      ? `interrupted after ${results.length} of ${e.ports} ports`
      : `${results.length} ports`;
    lines.push(
      ctx.color.dim(
        `${target}: ${summary.open} open, ${summary.closed} closed, ${summary.filtered} filtered` +
          `${summary.error ? `, ${summary.error} error` : ''} — ${done} in ${formatMs(e.elapsedMs)}` +
          `${hidden > 0 ? ` (${hidden} not listed; --all lists them)` : ''}`,
      ),
    );
    return lines.join('\n');
  };
}

async function* probeEvents(
  io: Io,
  host: string,
  ports: number[],
  options: { timeout: number; concurrency: number; family: 0 | 4 | 6 },
  outcome: { code: number },
): AsyncGenerator<ProbeEvent> {
  const started = performance.now();
  const results: ProbeResult[] = [];
  let interrupted = false;
  try {
    for await (const r of probePorts(host, ports, { ...options, signal: io.signal })) {
      results.push(r);
      yield { event: 'port', ...r };
    }
  } catch (err) {
    if (!(err instanceof AbortError && io.signal.aborted)) throw err;
    interrupted = true;
  }
  results.sort((a, b) => a.port - b.port);
  const summary: Record<PortState, number> = { open: 0, closed: 0, filtered: 0, error: 0 };
  for (const r of results) summary[r.state]++;
  outcome.code = interrupted ? EXIT.interrupted : summary.open > 0 ? EXIT.ok : EXIT.failed;
  yield {
    event: 'summary',
    host,
    address: results[0]?.address ?? host,
    ports: ports.length,
    elapsedMs: Math.round((performance.now() - started) * 1000) / 1000,
    interrupted,
    summary,
    results,
  };
}

export function register(program: Command, run: Runner): void {
  program
    .command('probe')
    .description('check TCP ports: open (handshake completes), closed (refused) or filtered (no answer)')
    .argument('<host>', 'host name or IP address')
    .argument('<ports>', 'ports and ranges, e.g. 22,80,8000-8100')
    .option(
      '--timeout <ms>',
      `limit per port (its handshake); no answer in time is "filtered" (default: ${PROBE_DEFAULTS.timeout})`,
    )
    .option('-c, --concurrency <n>', `ports probed at once (default: ${PROBE_DEFAULTS.concurrency})`)
    .option('-4, --ipv4', 'resolve the host to IPv4')
    .option('-6, --ipv6', 'resolve the host to IPv6')
    .option('-a, --all', `list every port (by default lists longer than ${SHOW_ALL_UP_TO} hide closed ports)`)
    .option('--open', 'list only open ports')
    .addHelpText(
      'after',
      `
Each port gets one TCP handshake (connect(2)), closed again at once without sending data. The host name is
resolved once. A refused connection (the host answered with a reset) is "closed"; no answer within the
timeout, or an ICMP unreachable, is "filtered". Exit code 0 when at least one port is open, 1 when none is
(like nc -z), 2 for bad input, 130 when interrupted (the summary of what was found is still printed). A
progress bar is drawn on a terminal for long lists.
--json prints one JSON object per line: {event: "port", port, state, address, connectMs, code, reason} for each
port as it finishes, then {event: "summary", host, address, ports, elapsedMs, interrupted, summary: {open,
closed, filtered, error}}.
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
        const timeout =
          flags.timeout === undefined
            ? PROBE_DEFAULTS.timeout
            : parseDuration(flags.timeout, '--timeout', { allowZero: false });
        const concurrency =
          flags.concurrency === undefined
            ? PROBE_DEFAULTS.concurrency
            : parseInteger(flags.concurrency, '--concurrency', { min: 1, max: 10_000 });
        const family = flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0;
        const outcome = { code: EXIT.failed as number };
        return stream(
          probeEvents(io, host, ports, { timeout, concurrency, family }, outcome),
          summaryText(flags),
          {
            exitCode: () => outcome.code,
            json: (e) => {
              if (e.event !== 'summary') return e;
              const { results: _results, ...rest } = e;
              return rest;
            },
            progress: {
              total: ports.length,
              label: 'probe',
              minTotal: SHOW_ALL_UP_TO,
              tick: (e) => (e.event === 'port' ? e.state === 'open' : undefined),
            },
          },
        );
      }),
    );
}
