// contract: v2 (issue 10: returns a result; the socket work is inspectSocketOptions() in net/)
/**
 * `soket sockopt`: show a loopback socket's options as the kernel reports them, apply the requested ones, show
 * them again, and explain what the kernel did (the work is `inspectSocketOptions()` in net/sockopt-inspect.ts).
 *
 * @module
 */
import type { Command } from 'commander';
import { exclusive, parseDuration } from '../../core/validate.js';
import type { SocketOptionsReport } from '../../net/sockopt.js';
import {
  INSPECT_SOCKET_DEFAULTS,
  inspectSocketOptions,
  type SockoptResult,
} from '../../net/sockopt-inspect.js';
import { examples, type RenderContext, type Runner, result } from '../command.js';
import { table } from '../format.js';
import { addSocketOptionFlags, socketOptionsFromFlags } from '../socket-flags.js';

interface SockoptFlags extends Record<string, unknown> {
  tcp?: boolean;
  udp?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
  timeout?: string;
}

function onOff(v: boolean | null): string {
  return v === null ? '-' : v ? 'on' : 'off';
}

function num(v: number | null): string {
  return v === null ? '-' : String(v);
}

const ROWS: Array<[string, (r: SocketOptionsReport) => string]> = [
  ['type / family', (r) => `${r.type} / IPv${r.family}`],
  ['SO_SNDBUF (bytes)', (r) => String(r.sendBufferSize)],
  ['SO_RCVBUF (bytes)', (r) => String(r.receiveBufferSize)],
  ['TCP_NODELAY', (r) => onOff(r.noDelay)],
  ['SO_KEEPALIVE', (r) => onOff(r.keepAlive)],
  ['TCP_KEEPIDLE (s)', (r) => num(r.keepAliveIdle)],
  ['TCP_KEEPINTVL (s)', (r) => num(r.keepAliveInterval)],
  ['TCP_KEEPCNT', (r) => num(r.keepAliveCount)],
  ['SO_REUSEADDR', (r) => onOff(r.reuseAddress)],
  ['SO_REUSEPORT', (r) => onOff(r.reusePort)],
  ['IP_TTL / hop limit', (r) => String(r.ttl)],
  ['SO_RCVTIMEO (ms)', (r) => (r.receiveTimeout ? String(r.receiveTimeout) : 'none')],
  ['SO_SNDTIMEO (ms)', (r) => (r.sendTimeout ? String(r.sendTimeout) : 'none')],
];

/** Word-wrap a paragraph to the terminal width; continuation lines are indented two more spaces. */
function wrap(text: string, indent: string, width: number): string {
  const max = Math.max(40, width - indent.length);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = `  ${word}`;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join('\n');
}

function render(r: SockoptResult, ctx: RenderContext): string {
  const c = ctx.color;
  const width = Math.min(ctx.columns, 110);
  const lines: string[] = [];
  const out = (line: string) => lines.push(line);
  if (r.protocol === 'tcp') {
    const client = r.sockets[0];
    out(
      c.bold(
        `TCP on loopback (IPv${r.family}): client ${client?.local} → ${client?.remote}, accepted socket`,
      ),
    );
  } else {
    out(c.bold(`UDP socket bound to ${r.sockets[0]?.local}`));
  }
  const applied = Object.keys(r.requested).length > 0;
  const head =
    r.protocol === 'tcp'
      ? ['', 'client before', applied ? 'client after' : '', 'accepted']
      : ['', 'before', applied ? 'after' : ''];
  const rows: string[][] = [head.filter((h, i) => h !== '' || i === 0).map((h) => c.dim(h))];
  for (const [label, get] of ROWS) {
    const first = r.sockets[0];
    if (!first) break;
    const b = get(first.before);
    const a = get(first.after);
    const row = [label, b];
    if (applied) row.push(a !== b ? `${c.bold(a)} *` : a);
    if (r.protocol === 'tcp' && r.sockets[1]) row.push(get(r.sockets[1].after));
    rows.push(row);
  }
  out('');
  out(table(rows, '  '));
  if (applied) out(c.dim('  * changed'));
  else out(c.dim('  (no options given: showing the defaults; try --sndbuf 65536 --nodelay)'));
  if (r.notes.length) {
    out('');
    out(c.bold('What the kernel did'));
    for (const n of r.notes) out(wrap(n, '  ', width));
  }
  out('');
  out(c.bold('Timeouts'));
  const d = r.timeouts.default;
  const giveUp =
    d.kernelConnectGiveUpSeconds === null
      ? 'until the kernel gives up'
      : `until the kernel gives up (net.ipv4.tcp_syn_retries ${r.limits.tcpSynRetries}: about ${d.kernelConnectGiveUpSeconds} s)`;
  out(
    wrap(
      `A fresh socket has none: Node's socket.timeout is undefined, SO_RCVTIMEO/SO_SNDTIMEO are 0 (a non-blocking socket ignores them anyway), and a connect to a silent host waits ${giveUp}`,
      '  ',
      width,
    ),
  );
  out(`  A timeout of ${r.timeouts.ms} ms, per phase (connectTcp options):`);
  out(
    table(
      r.timeouts.phases.map((p) => [p.phase, p.option, p.meaning]),
      '    ',
    ),
  );
  out(c.dim(`  e.g. TimeoutError: ${r.timeouts.phases[1]?.message}`));
  return lines.join('\n');
}

export function register(program: Command, run: Runner): void {
  const cmd = program
    .command('sockopt')
    .description(
      'show socket options (SO_SNDBUF, SO_RCVBUF, TCP_NODELAY, ...), set some, and explain the result',
    )
    .option('--tcp', 'a TCP client and the socket the listener accepted, on loopback (the default)')
    .option('--udp', 'a UDP socket bound on loopback')
    .option('-4, --ipv4', 'use 127.0.0.1 (the default)')
    .option('-6, --ipv6', 'use ::1')
    .option(
      '--timeout <ms>',
      `connect timeout for the pair, and the value the timeout table explains (default: ${INSPECT_SOCKET_DEFAULTS.timeout})`,
    );
  addSocketOptionFlags(cmd, 'any')
    .addHelpText(
      'after',
      `
Options are read and set with getsockopt/setsockopt through FFI (koffi); without it the command fails with
an explanation. On Linux the kernel doubles a buffer size you set and caps the request at net.core.wmem_max /
rmem_max, which are read from /proc/sys and shown in the explanation.
${examples([
  'soket sockopt',
  'soket sockopt --sndbuf 65536 --rcvbuf 64k --nodelay',
  'soket sockopt --keepalive --keepalive-idle 30 --keepalive-interval 5 --keepalive-count 3',
  'soket sockopt --udp --rcvbuf 1m --ttl 8',
  'soket sockopt -6 --ttl 5 --json',
  'soket sockopt --timeout 5000',
])}`,
    )
    .action(
      run(async (io, flags: SockoptFlags) => {
        exclusive({ '--tcp': flags.tcp, '--udp': flags.udp });
        exclusive({ '-4': flags.ipv4, '-6': flags.ipv6 });
        const socketOptions = socketOptionsFromFlags(flags);
        const timeout =
          flags.timeout === undefined
            ? INSPECT_SOCKET_DEFAULTS.timeout
            : parseDuration(flags.timeout, '--timeout', { allowZero: false });
        const r = await inspectSocketOptions({
          protocol: flags.udp ? 'udp' : 'tcp',
          family: flags.ipv6 ? 6 : 4,
          socketOptions,
          timeout,
          signal: io.signal,
        });
        return result(r, render);
      }),
    );
}
