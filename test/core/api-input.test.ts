/**
 * Issue 17, item 12: every function and class exported by `soket` checks its arguments at the boundary and
 * throws `ValidationError` for a value of the wrong type — from plain JavaScript, where TypeScript is not
 * there to help. test/fixtures/api-walker.ts walks every export with wrong-typed arguments (chosen from the
 * declared types, one parameter or option at a time) inside a network namespace of its own, since a call
 * that accepts nonsense may try to use the network.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../src/core/deadline.js';
import { ValidationError } from '../../src/core/errors.js';
import { parsePort } from '../../src/core/validate.js';
import * as soket from '../../src/index.js';
import {
  createSntpServer,
  getServiceByName,
  probe,
  resolve,
  resolveMany,
  sntpQuery,
  udpRequest,
} from '../../src/index.js';
import { canUseNetns, createNetns, deleteNetns } from '../helpers/netns.js';
import { STRICT } from '../helpers/peers.js';

const WALKER = fileURLToPath(new URL('../fixtures/api-walker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Exports that are not argument-checked boundaries, and why (besides every Error subclass: see isErrorClass). */
const EXCEPTIONS: Record<string, string> = {
  // Made by the servers around a live socket; exported for `instanceof` and types, not for `new`.
  TcpServerConnection: 'made by TcpServer for each accepted socket',
  UdpConnection: 'made by udpConnect around its socket',
  // Refuses to run outside a worker process before it looks at anything else (a SoketError saying so).
  runTcpWorker: 'only runs in a worker started by startTcpWorkers',
};

/**
 * Exports whose checks are not done yet: each still lets some wrong-typed argument through or fails with a
 * TypeError. Remove an entry when its module checks its arguments (the test says when one can go).
 */
const PENDING: Record<string, string> = {
  dnsLookup: 'dns/lookup.ts (DNS client, issue 14)',
  dnsLookupMany: 'dns/lookup.ts (DNS client, issue 14)',
  openDnsLookups: 'dns/lookup.ts (DNS client, issue 14)',
  DnsClient: 'dns/query.ts (DNS client, issue 14)',
  dnsQuery: 'dns/query.ts (DNS client, issue 14)',
  parseResolvConf: 'dns/resolv-conf.ts (issue 14)',
  readResolvConf: 'dns/resolv-conf.ts (issue 14)',
  prepareExec: 'net/exec.ts (streams)',
  runExec: 'net/exec.ts (streams)',
  createRelay: 'net/relay.ts (streams)',
  RelayServer: 'net/relay.ts (streams)',
  connectStream: 'net/stream-connect.ts (streams)',
  pipeSession: 'net/pipe-session.ts (streams)',
  createSelfSignedCertificate: 'net/tls-cert.ts (TLS)',
  connectTls: 'net/tls-config.ts (TLS)',
  startTls: 'net/tls-config.ts (TLS)',
  prepareTlsClient: 'net/tls-config.ts (TLS)',
  prepareTlsServer: 'net/tls-config.ts (TLS)',
  inspectTls: 'net/tls-inspect.ts (TLS)',
  parseRootHints: 'dns/trace.ts (DNS trace, issue 14)',
  trace: 'dns/trace.ts (DNS trace, issue 14)',
  traceStream: 'dns/trace.ts (DNS trace, issue 14)',
  parseTrustAnchors: 'dnssec (issue 14)',
  ChainValidator: 'dnssec (issue 14)',
  sntpEngineHandler: 'ntp/sntp-engine-handler.ts (batched UDP engine)',
  UdpPipe: 'net/udp-server.ts: ipv6Only/allow/deny/access/join options of the UDP server (lead, in progress)',
  udpReplyHandler: 'net/udp-server.ts (lead, in progress)',
};

/** Error classes take any message and details: they are thrown by soket, and constructing one must not throw. */
function isErrorClass(name: string): boolean {
  const value = (soket as Record<string, unknown>)[name];
  return typeof value === 'function' && value.prototype instanceof Error;
}

interface Call {
  export: string;
  where: string;
  value: string;
  outcome: string;
}

describe('every export checks its arguments (issue 17, item 12)', () => {
  test('the calls of the issue are ValidationErrors', async () => {
    assert.throws(() => parsePort(null as never), ValidationError);
    assert.throws(() => getServiceByName(123 as never), ValidationError);
    await assert.rejects(probe(null as never, [1]), ValidationError);
    await assert.rejects(sntpQuery(123 as never), ValidationError);
    await assert.rejects(udpRequest(null as never), ValidationError);
    await assert.rejects(resolve('x.test', { server: 5 as never }), ValidationError);
    // it used to bind port 123 (a string is not an options object)
    await assert.rejects(createSntpServer('x' as never), ValidationError);
    await assert.rejects(sleep('abc' as never), ValidationError);
    // it used to look up 'x', '.', 't', ...
    await assert.rejects(resolveMany('x.test' as never).next(), ValidationError);
  });

  const netns = canUseNetns();
  let ns: string | undefined;
  after(() => {
    if (ns) deleteNetns(ns);
  });

  test('a walk of every export with wrong-typed arguments meets only ValidationErrors', {
    timeout: 600_000,
  }, (t) => {
    if (!netns.ok) {
      if (STRICT) throw new Error(`network namespaces needed under CI=true: ${netns.reason}`);
      t.skip(netns.reason);
      return;
    }
    ns = createNetns('walk', true);
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', WALKER], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 256 << 20,
      timeout: 540_000,
    });
    const calls = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Call);
    assert.ok(calls.length > 1000, `${calls.length} calls`);
    const failing = calls.filter((c) => c.outcome !== 'ValidationError');
    const unexpected = failing
      .filter((c) => !isErrorClass(c.export))
      .filter((c) => EXCEPTIONS[c.export] === undefined && PENDING[c.export] === undefined)
      .map((c) => `${c.export} ${c.where} = ${c.value}: ${c.outcome}`);
    assert.deepEqual(unexpected, []);
    const stillPending = new Set(failing.map((c) => c.export));
    const done = Object.keys(PENDING).filter((name) => !stillPending.has(name));
    if (done.length) t.diagnostic(`now checked, remove from PENDING: ${done.join(', ')}`);
    t.diagnostic(
      `${calls.length} calls; ${Object.keys(PENDING).length} exports pending: ${Object.keys(PENDING).join(', ')}`,
    );
  });
});
