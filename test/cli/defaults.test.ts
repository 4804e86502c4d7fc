/**
 * Defaults live once, in the library's exported `*_DEFAULTS` (issue 10): the CLI's help interpolates them and
 * never retypes a number. A static check over src/cli, and the help of each command against the values.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RESOLVE_DEFAULTS } from '../../src/dns/resolve.js';
import { PROBE_DEFAULTS } from '../../src/net/probe.js';
import { INSPECT_SOCKET_DEFAULTS } from '../../src/net/sockopt-inspect.js';
import { TCP_MODE_DEFAULTS } from '../../src/net/tcp-modes.js';
import { TCP_REQUEST_DEFAULTS } from '../../src/net/tcp-request.js';
import { TCP_SERVER_DEFAULTS } from '../../src/net/tcp-server.js';
import { UDP_REQUEST_DEFAULTS } from '../../src/net/udp-client.js';
import { SNTP_QUERY_DEFAULTS } from '../../src/ntp/client.js';
import { NETWORK_TIME_DEFAULTS } from '../../src/ntp/network-time.js';
import { RATE_LIMIT_DEFAULTS } from '../../src/ntp/rate-limit.js';
import { SNTP_SERVER_DEFAULTS } from '../../src/ntp/server.js';
import { WATCH_DEFAULTS } from '../../src/ntp/watch.js';
import { runCli } from '../helpers/cli.js';

const CLI_DIR = fileURLToPath(new URL('../../src/cli', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
  });
}

describe('defaults are written once', () => {
  it('no help text in src/cli retypes a default number, and no commander option carries one', () => {
    const offenders: string[] = [];
    for (const file of files(CLI_DIR)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        const code = line.trim();
        if (code.startsWith('*') || code.startsWith('/*') || code.startsWith('//')) return; // comments and TSDoc
        // "(default: 5000)", "default 2000", "(default: 64 over DNS" typed as digits, not ${...}
        if (/default:? \d/i.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
        // .option('--x <n>', 'help', '5000'): a default value given to commander
        if (/\.option\([^)]*,\s*'[^']*',\s*'\d+'\s*\)/.test(line))
          offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(
      offenders,
      [],
      `help text must interpolate the library's *_DEFAULTS:\n${offenders.join('\n')}`,
    );
  });

  const cases: Array<[string[], Array<string | number>]> = [
    [
      ['tcp', 'listen', '--help'],
      [TCP_SERVER_DEFAULTS.closeTimeout, TCP_SERVER_DEFAULTS.backlog, TCP_MODE_DEFAULTS.chatMaxQueue],
    ],
    [['tcp', 'connect', '--help'], [TCP_REQUEST_DEFAULTS.replyTimeout]],
    [
      ['udp', 'send', '--help'],
      [UDP_REQUEST_DEFAULTS.timeout, UDP_REQUEST_DEFAULTS.retries, UDP_REQUEST_DEFAULTS.bufferSize],
    ],
    [
      ['time', '--help'],
      [
        SNTP_QUERY_DEFAULTS.port,
        SNTP_QUERY_DEFAULTS.timeout,
        SNTP_QUERY_DEFAULTS.retries,
        NETWORK_TIME_DEFAULTS.interval,
        WATCH_DEFAULTS.interval,
        WATCH_DEFAULTS.minRemoteInterval,
      ],
    ],
    [
      ['ntp', 'serve', '--help'],
      [SNTP_SERVER_DEFAULTS.stratum, RATE_LIMIT_DEFAULTS.interval, RATE_LIMIT_DEFAULTS.burst],
    ],
    [
      ['resolve', '--help'],
      [RESOLVE_DEFAULTS.timeout, RESOLVE_DEFAULTS.tries],
    ],
    [
      ['probe', '--help'],
      [PROBE_DEFAULTS.timeout, PROBE_DEFAULTS.concurrency],
    ],
    [['sockopt', '--help'], [INSPECT_SOCKET_DEFAULTS.timeout]],
  ];
  for (const [args, values] of cases) {
    it(`soket ${args.slice(0, -1).join(' ')} --help shows the library's defaults`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 0);
      const help = r.stdout.replace(/\s+/g, ' ');
      for (const v of values) {
        assert.match(
          help,
          new RegExp(`default: [^)]*\\b${v}\\b`),
          `${args.join(' ')}: default ${v} not shown`,
        );
      }
    });
  }
});
