// contract: v2 (issue 10: returns a result)
/**
 * `soket info`: host name, FQDN, what the host name resolves to, primary addresses and interfaces.
 *
 * @module
 */
import type { Command } from 'commander';
import { escapeControl } from '../../core/text.js';
import { parseDuration } from '../../core/validate.js';
import { HOST_INFO_DEFAULTS, type HostInfo, hostInfo } from '../../net/host-info.js';
import { examples, type RenderContext, type Runner, result } from '../command.js';
import { table } from '../format.js';

function render(info: HostInfo, ctx: RenderContext): string {
  const c = ctx.color;
  const primary = (p: HostInfo['primary']['ipv4']) =>
    p.address
      ? `${c.green(p.address)}${p.interface ? ` (${p.interface})` : ''}`
      : c.dim(`unavailable: ${p.unavailable}`);
  const resolved = info.resolved.unavailable
    ? c.dim(`unavailable: ${info.resolved.unavailable}`)
    : info.resolved.addresses.join(', ') + (info.resolved.loopback ? c.yellow('  (loopback)') : '');
  const lines = [
    table([
      [c.bold('Host name'), escapeControl(info.hostname)],
      [c.bold('FQDN'), escapeControl(info.fqdn)],
      [c.bold('Resolves to'), resolved],
      [c.bold('Primary IPv4'), primary(info.primary.ipv4)],
      [c.bold('Primary IPv6'), primary(info.primary.ipv6)],
    ]),
    '',
    c.bold('Interfaces'),
    info.interfaces.length === 0
      ? c.dim('  none')
      : table(
          info.interfaces.map((i) => [
            i.name,
            i.family,
            i.cidr ?? i.address,
            i.mac,
            i.internal ? c.dim('internal') : '',
          ]),
          '  ',
        ),
  ];
  for (const w of info.warnings) lines.push('', c.yellow(`Warning: ${w}`));
  return lines.join('\n');
}

export function register(program: Command, run: Runner): void {
  program
    .command('info')
    .description('show host name, FQDN, primary IPv4/IPv6 addresses and every interface')
    .option(
      '--timeout <ms>',
      `limit of the whole lookup (the host name and the FQDN) (default: ${HOST_INFO_DEFAULTS.timeout})`,
    )
    .addHelpText(
      'after',
      `
The primary address is the one the kernel would use for outbound traffic, found by connecting a UDP socket
(no packet is sent) — not the 127.0.1.1 that gethostbyname(gethostname()) gives on Debian.
${examples(['soket info', 'soket info --json | jq .primary.ipv4.address'])}`,
    )
    .action(
      run(async (io, opts: { timeout?: string }) => {
        const timeout =
          opts.timeout === undefined ? HOST_INFO_DEFAULTS.timeout : parseDuration(opts.timeout, '--timeout');
        return result(await hostInfo({ timeout, signal: io.signal }), render);
      }),
    );
}
