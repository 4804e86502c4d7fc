// contract: v2 (issue 10: a stream of `port` events and a `summary`; main.ts renders them)
/**
 * `soket probe HOST PORTS`: TCP connect checks — open, closed (refused) or filtered (timed out); with `--udp`,
 * UDP probes — open (a reply), closed (ICMP port unreachable), filtered (another ICMP error) or open|filtered
 * (silence). Every port is named with its service from the services database.
 *
 * A stream: one `port` event per port as its probe finishes, then a `summary` (also after Ctrl-C, with what
 * was found so far). Text: the table of ports (sorted) and the summary line, at the end; a progress bar on a
 * terminal meanwhile. `--json`: one JSON object per line.
 *
 * @module
 */
import type { Command } from 'commander';
import { AbortError, ValidationError } from '../../core/errors.js';
import { exclusive, parseDuration, parseInteger } from '../../core/validate.js';
import { portService } from '../../net/port-service.js';
import {
  type PortState,
  PROBE_DEFAULTS,
  type ProbeResult,
  parsePortList,
  probePorts,
} from '../../net/probe.js';
import { parseStreamAddress } from '../../net/stream-address.js';
import {
  parseHexPayload,
  parseRate,
  probeUdpPorts,
  UDP_PROBE_DEFAULTS,
  type UdpPortState,
  type UdpProbeResult,
} from '../../net/udp-probe.js';
import { EXIT, examples, type RenderContext, type Runner, stream } from '../command.js';
import { formatMs, table } from '../format.js';
import type { Io } from '../io.js';

interface ProbeFlags {
  udp?: boolean;
  payload?: string;
  rate?: string;
  tries?: string;
  timeout?: string;
  concurrency?: string;
  ipv4?: boolean;
  ipv6?: boolean;
  all?: boolean;
  open?: boolean;
  source?: string;
}

/** `--source ADDR[:PORT]`: bind before each connect. */
function parseSourceFlag(text: string): { localAddress: string; localPort?: number } {
  const a = parseStreamAddress(text, { defaultPort: 0, allowZero: true, what: '--source' });
  if (a.kind !== 'tcp' || a.tls)
    throw new ValidationError(`Invalid --source '${text}': expected ADDR or ADDR:PORT`);
  return a.port ? { localAddress: a.host, localPort: a.port } : { localAddress: a.host };
}

/** Lists up to this long show every port; longer ones hide closed ports unless --all. */
const SHOW_ALL_UP_TO = 24;

/** A TCP result with its service name. */
type TcpPortResult = ProbeResult & { service: string | null };

/** The events of `soket probe` (`protocol` says which kind of result a `port` event holds). */
export type ProbeEvent =
  | ({ event: 'port'; protocol: 'tcp' } & TcpPortResult)
  | ({ event: 'port'; protocol: 'udp' } & UdpProbeResult)
  | {
      event: 'summary';
      protocol: 'tcp' | 'udp';
      host: string;
      address: string;
      ports: number;
      elapsedMs: number;
      interrupted: boolean;
      summary: Partial<Record<PortState | UdpPortState, number>>;
      /** Every result, by port (text rendering only; not in the JSON line). */
      results: Array<TcpPortResult | UdpProbeResult>;
    };

function stateText(state: PortState | UdpPortState, ctx: RenderContext): string {
  const c = ctx.color;
  return state === 'open'
    ? c.green('open')
    : state === 'closed'
      ? c.dim('closed')
      : state === 'filtered' || state === 'open|filtered'
        ? c.yellow(state)
        : c.red('error');
}

function timeCell(r: TcpPortResult | UdpProbeResult): string {
  const ms = 'connectMs' in r ? r.connectMs : r.rttMs;
  return ms === null ? (r.state === 'error' ? (r.reason ?? '') : '') : formatMs(ms);
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
          [
            c.bold('PORT'),
            c.bold('STATE'),
            c.bold(e.protocol === 'udp' ? 'RTT' : 'CONNECT'),
            c.bold('SERVICE'),
          ],
          ...shown.map((r) => [String(r.port), stateText(r.state, ctx), timeCell(r), r.service ?? '']),
        ]),
      );
    }
    const hidden = results.length - shown.length;
    const target = e.address === e.host ? e.host : `${e.host} (${e.address})`;
    const done = e.interrupted
      ? `interrupted after ${results.length} of ${e.ports} ports`
      : `${results.length} ports`;
    const silent = e.protocol === 'udp' ? `, ${summary['open|filtered'] ?? 0} open|filtered` : '';
    lines.push(
      ctx.color.dim(
        `${target}: ${summary.open ?? 0} open, ${summary.closed ?? 0} closed, ${summary.filtered ?? 0} filtered${silent}` +
          `${summary.error ? `, ${summary.error} error` : ''} — ${done}${e.protocol === 'udp' ? ' (UDP)' : ''} in ${formatMs(e.elapsedMs)}` +
          `${hidden > 0 ? ` (${hidden} not listed; --all lists them)` : ''}`,
      ),
    );
    return lines.join('\n');
  };
}

interface UdpProbeFlagOptions {
  rate: number;
  tries: number;
  payload: Uint8Array | undefined;
}

async function* probeEvents(
  io: Io,
  host: string,
  ports: number[],
  options: {
    timeout: number;
    concurrency: number;
    family: 0 | 4 | 6;
    localAddress?: string;
    localPort?: number;
  },
  udp: UdpProbeFlagOptions | undefined,
  outcome: { code: number },
): AsyncGenerator<ProbeEvent> {
  const started = performance.now();
  const results: Array<TcpPortResult | UdpProbeResult> = [];
  let interrupted = false;
  try {
    if (udp) {
      const o = { ...options, rate: udp.rate, tries: udp.tries, signal: io.signal };
      for await (const r of probeUdpPorts(host, ports, udp.payload ? { ...o, payload: udp.payload } : o)) {
        results.push(r);
        yield { event: 'port', protocol: 'udp', ...r };
      }
    } else {
      for await (const p of probePorts(host, ports, { ...options, signal: io.signal })) {
        const r = { ...p, service: portService(p.port, 'tcp') };
        results.push(r);
        yield { event: 'port', protocol: 'tcp', ...r };
      }
    }
  } catch (err) {
    if (!(err instanceof AbortError && io.signal.aborted)) throw err;
    interrupted = true;
  }
  results.sort((a, b) => a.port - b.port);
  const summary: Partial<Record<PortState | UdpPortState, number>> = udp
    ? { open: 0, closed: 0, filtered: 0, 'open|filtered': 0, error: 0 }
    : { open: 0, closed: 0, filtered: 0, error: 0 };
  for (const r of results) summary[r.state] = (summary[r.state] ?? 0) + 1;
  outcome.code = interrupted ? EXIT.interrupted : (summary.open ?? 0) > 0 ? EXIT.ok : EXIT.failed;
  yield {
    event: 'summary',
    protocol: udp ? 'udp' : 'tcp',
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
    .description(
      'check TCP ports (open, closed, filtered) or, with --udp, UDP ports (open, closed, filtered, open|filtered)',
    )
    .argument('<host>', 'host name or IP address')
    .argument('<ports>', 'ports and ranges, e.g. 22,80,8000-8100')
    .option(
      '--timeout <ms>',
      `limit per port (TCP: its handshake, no answer is "filtered"; UDP: every try, silence is "open|filtered") (default: ${PROBE_DEFAULTS.timeout})`,
    )
    .option(
      '--source <addr[:port]>',
      'TCP: bind this local address (and port: one probe at a time) before each connect',
    )
    .option(
      '-c, --concurrency <n>',
      `ports probed at once (default: ${PROBE_DEFAULTS.concurrency}; UDP ${UDP_PROBE_DEFAULTS.concurrency})`,
    )
    .option('-4, --ipv4', 'resolve the host to IPv4')
    .option('-6, --ipv6', 'resolve the host to IPv6')
    .option('-a, --all', `list every port (by default lists longer than ${SHOW_ALL_UP_TO} hide closed ports)`)
    .option('--open', 'list only open ports')
    .option('-u, --udp', 'probe UDP ports: send a datagram, read what comes back')
    .option('--payload <hex>', 'UDP: send these bytes to every port instead of the per-port default')
    .option(
      '--rate <n/s>',
      `UDP: at most N datagrams per second, every try counted; 0 for no limit (default: ${UDP_PROBE_DEFAULTS.rate}/s)`,
    )
    .option('--tries <n>', `UDP: datagrams per silent port (default: ${UDP_PROBE_DEFAULTS.tries})`)
    .addHelpText(
      'after',
      `
Each port gets one TCP handshake (connect(2)), closed again at once without sending data. The host name is
resolved once. A refused connection (the host answered with a reset) is "closed"; no answer within the
timeout, or an ICMP unreachable, is "filtered". Exit code 0 when at least one port is open, 1 when none is
(like nc -z), 2 for bad input, 130 when interrupted (the summary of what was found is still printed). A
progress bar is drawn on a terminal for long lists.
With --udp each port gets a datagram (a DNS query on 53 and 5353, an SNTP request on 123, empty elsewhere;
--payload HEX for all): a reply is "open", ICMP port unreachable "closed", another ICMP error "filtered", and
silence after --tries datagrams within --timeout "open|filtered" (a service that ignores the probe and a
firewall that drops it look the same). Kernels rate-limit ICMP errors (Linux: per destination host, by default
a burst of 6 then 1 per second — loopback is exempt — and 1000/s in all), so probing faster than that turns
closed ports into open|filtered; --rate spaces the datagrams (the default suits loopback and local
namespaces; a remote Linux host needs about --rate 1/s to tell every closed port apart).
--json prints one JSON object per line: {event: "port", protocol, port, state, service, address, connectMs
(TCP) or rttMs, replyBytes, tries, payloadBytes (UDP), code, reason} for each port as it finishes, then
{event: "summary", protocol, host, address, ports, elapsedMs, interrupted, summary: {open, closed, filtered,
open|filtered (UDP), error}}.
${examples([
  'soket probe 127.0.0.1 22,80,443',
  'soket probe localhost 8000-8100 --timeout 300',
  'soket probe ::1 1-1024 --open',
  'soket probe 127.0.0.1 5432 --json',
  'soket probe --udp 127.0.0.1 53,123,161',
  'soket probe --udp 192.0.2.1 1-1024 --rate 1/s --timeout 3000',
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
            ? flags.udp
              ? UDP_PROBE_DEFAULTS.concurrency
              : PROBE_DEFAULTS.concurrency
            : parseInteger(flags.concurrency, '--concurrency', { min: 1, max: 10_000 });
        const family = flags.ipv4 ? 4 : flags.ipv6 ? 6 : 0;
        let udp: UdpProbeFlagOptions | undefined;
        if (flags.udp) {
          udp = {
            rate: flags.rate === undefined ? UDP_PROBE_DEFAULTS.rate : parseRate(flags.rate, '--rate'),
            tries:
              flags.tries === undefined
                ? UDP_PROBE_DEFAULTS.tries
                : parseInteger(flags.tries, '--tries', { min: 1, max: 10 }),
            payload: flags.payload === undefined ? undefined : parseHexPayload(flags.payload, '--payload'),
          };
        } else {
          for (const [flag, v] of [
            ['--payload', flags.payload],
            ['--rate', flags.rate],
            ['--tries', flags.tries],
          ] as const) {
            if (v !== undefined) throw new ValidationError(`Option ${flag} needs --udp`);
          }
        }
        const source = flags.source !== undefined ? parseSourceFlag(flags.source) : {};
        if (flags.source !== undefined && flags.udp)
          throw new ValidationError('Option --source applies to TCP probes');
        const outcome = { code: EXIT.failed as number };
        return stream(
          probeEvents(io, host, ports, { timeout, concurrency, family, ...source }, udp, outcome),
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
