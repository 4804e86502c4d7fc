// contract: v2 (one result; main.ts renders it)
/**
 * `soket tls HOST[:PORT]`: inspect a TLS endpoint like a readable `openssl s_client`. Exit 0 when the
 * certificate verifies, 1 when it does not (the reason is in the output), 2 for bad input.
 *
 * @module
 */
import type { Command } from 'commander';
import { escapeControl } from '../../core/text.js';
import { parseDuration } from '../../core/validate.js';
import type { CertificateInfo } from '../../net/tls-cert.js';
import { parseAlpn, readPemFile } from '../../net/tls-config.js';
import {
  type InspectTlsOptions,
  inspectTls,
  TLS_INSPECT_DEFAULTS,
  type TlsInspection,
} from '../../net/tls-inspect.js';
import { EXIT, examples, type RenderContext, type Runner, result } from '../command.js';
import { formatMs } from '../format.js';
import type { Io } from '../io.js';

interface TlsFlags extends Record<string, unknown> {
  servername?: string;
  ca?: string;
  alpn?: string;
  cert?: string;
  key?: string;
  timeout?: string;
}

function certLines(c: CertificateInfo, i: number, ctx: RenderContext): string[] {
  const e = escapeControl;
  const days = c.expired
    ? ctx.color.red(`expired ${-c.daysLeft} days ago`)
    : c.notYetValid
      ? ctx.color.red('not yet valid')
      : c.daysLeft < 14
        ? ctx.color.yellow(`${c.daysLeft} days left`)
        : `${c.daysLeft} days left`;
  return [
    `  ${i} subject  ${ctx.color.bold(e(c.subject))}`,
    `    issuer   ${e(c.issuer)}${c.selfIssued ? ' (self-issued)' : ''}${c.ca ? ' [CA]' : ''}`,
    ...(c.subjectAltNames.length ? [`    SANs     ${e(c.subjectAltNames.join(', '))}`] : []),
    `    valid    ${c.validFrom} → ${c.validTo} (${days})`,
    `    key      ${c.keyType}, signed ${c.signatureAlgorithm}`,
    `    SHA-256  ${c.fingerprint256}`,
    `    SHA-1    ${c.fingerprint1}`,
    `    pin      ${c.pin}`,
  ];
}

function render(r: TlsInspection, ctx: RenderContext): string {
  const v = r.verification;
  const verified = v.ok
    ? ctx.color.green('yes')
    : `${ctx.color.red('no')}: ${escapeControl(v.reason ?? '')}${v.code ? ` (${v.code})` : ''}`;
  return [
    `TLS ${r.target}${r.address && r.address !== r.target ? ` (${r.address})` : ''}`,
    `  handshake  ${formatMs(r.handshakeMs)} (connect ${formatMs(r.connectMs)})`,
    `  protocol   ${r.protocol ?? 'unknown'}, cipher ${r.cipher}`,
    `  ALPN       ${r.alpn ?? 'none'}; SNI ${r.servername ? escapeControl(r.servername) : 'none (IP address)'}`,
    `  verified   ${verified}`,
    `Chain (${r.chain.length} certificate${r.chain.length === 1 ? '' : 's'}, as the server sent it):`,
    ...r.chain.flatMap((c, i) => certLines(c, i, ctx)),
  ].join('\n');
}

async function inspect(io: Io, target: string, flags: TlsFlags) {
  const options: InspectTlsOptions = { signal: io.signal };
  if (flags.servername !== undefined) options.servername = flags.servername;
  if (flags.ca !== undefined) options.ca = readPemFile(flags.ca, '--ca');
  if (flags.alpn !== undefined) options.alpn = parseAlpn(flags.alpn);
  if (flags.cert !== undefined) options.cert = readPemFile(flags.cert, '--cert');
  if (flags.key !== undefined) options.key = readPemFile(flags.key, '--key');
  if (flags.timeout !== undefined)
    options.timeout = parseDuration(flags.timeout, '--timeout', { allowZero: false });
  const r = await inspectTls(target, options);
  return result(r, render, { exitCode: r.verification.ok ? EXIT.ok : EXIT.failed });
}

export function register(program: Command, run: Runner): void {
  program
    .command('tls')
    .description(
      'inspect a TLS endpoint: protocol, cipher, ALPN, the certificate chain, and whether it verifies',
    )
    .argument(
      '<target>',
      `HOST, HOST:PORT, [v6]:PORT or unix:/path (port ${TLS_INSPECT_DEFAULTS.defaultPort} when none)`,
    )
    .option('--servername <name>', 'SNI and the name to verify (default: the host; none for an IP address)')
    .option('--ca <file>', 'verify against the CAs in FILE (PEM) instead of the system ones')
    .option('--alpn <list>', 'offer these protocols with ALPN, e.g. h2,http/1.1')
    .option('--cert <file>', 'client certificate (PEM), for servers that ask for one')
    .option('--key <file>', 'its key (PEM)')
    .option(
      '--timeout <ms>',
      `give up after MS, connect and handshake (default ${TLS_INSPECT_DEFAULTS.timeout})`,
    )
    .addHelpText(
      'after',
      `
Exit 0 when the chain leads to a trusted CA and the certificate is for the host, 1 when it does not (with
the reason: expired, self-signed, wrong host, unknown issuer, ...), 2 for bad input.
${examples([
  'soket tls 127.0.0.1:8443',
  'soket tls 127.0.0.1:8443 --servername example.test --ca ca.pem',
  'soket tls [::1]:443 --alpn h2,http/1.1 --json',
])}`,
    )
    .action(run(async (io, target: string, flags: TlsFlags) => inspect(io, target, flags)));
}
