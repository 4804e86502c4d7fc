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
  ChainValidator,
  connectStream,
  createRelay,
  createSelfSignedCertificate,
  createSntpServer,
  DnsClient,
  dnsLookup,
  dnsLookupMany,
  dnsQuery,
  getServiceByName,
  inspectTls,
  parseResolvConf,
  parseTrustAnchors,
  pipeSession,
  prepareExec,
  prepareTlsClient,
  probe,
  readResolvConf,
  resolve,
  resolveMany,
  runExec,
  sntpEngineHandler,
  sntpQuery,
  startTls,
  trace,
  traceStream,
  UdpPipe,
  udpReplyHandler,
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

  test('the last exports checked: a wrong type is a ValidationError before any socket or lookup', async () => {
    assert.throws(() => parseResolvConf(123 as never), ValidationError);
    await assert.rejects(readResolvConf(123 as never), ValidationError);
    // it used to look up 'x', '.', 't', ... as dnsLookupMany's names
    await assert.rejects(dnsLookupMany('x.test' as never).next(), ValidationError);
    await assert.rejects(
      dnsLookup('x.test', { server: '127.0.0.1', recursionDesired: 'yes' as never }),
      ValidationError,
    );
    await assert.rejects(dnsQuery({ name: 'x.test' }, { server: 53 as never }), ValidationError);
    const client = new DnsClient({ server: '127.0.0.1' });
    await assert.rejects(client.query(null as never), ValidationError);
    await assert.rejects(client.query({ name: 'x.test', type: true as never }), ValidationError);
    client.close();
    assert.throws(() => prepareExec(null as never), ValidationError);
    await assert.rejects(
      runExec({ file: '/bin/cat', args: [], display: 'cat' }, {} as never),
      ValidationError,
    );
    await assert.rejects(
      pipeSession({} as never, { sink: { push: () => true, onDrain: () => {} } }),
      ValidationError,
    );
    await assert.rejects(startTls({} as never, { target: 'x', tls: prepareTlsClient() }), ValidationError);
    await assert.rejects(connectStream(null as never), ValidationError);
    await assert.rejects(
      createRelay({ listen: '127.0.0.1:0', target: '127.0.0.1:9', onData: 5 as never }),
      ValidationError,
    );
    // it used to make a certificate for the names 'a', 'b' and 'c'
    await assert.rejects(createSelfSignedCertificate({ hosts: 'abc' as never }), ValidationError);
    assert.throws(() => prepareTlsClient({ alpn: 'h2' as never }), ValidationError);
    assert.throws(() => prepareTlsClient({ insecure: 'yes' as never }), ValidationError);
    await assert.rejects(inspectTls('127.0.0.1:9', 5 as never), ValidationError);
    await assert.rejects(trace('x.test', { onEvent: 5 as never }), ValidationError);
    await assert.rejects(traceStream('x.test', 5 as never).next(), ValidationError);
    assert.throws(() => parseTrustAnchors(null as never), ValidationError);
    assert.throws(() => new ChainValidator({} as never), ValidationError);
    assert.throws(() => sntpEngineHandler({ stratum: 'abc' as never }), ValidationError);
    assert.throws(() => udpReplyHandler(123 as never), ValidationError);
    // it used to bind with IPV6_V6ONLY on an IPv4 address (EINVAL)
    assert.throws(() => new UdpPipe({ port: 0, ipv6Only: 'yes' as never }), ValidationError);
  });

  test('server flags are booleans, not anything truthy (the walker stops at the missing handler first)', async () => {
    const handler = soket.echoHandler();
    for (const flag of ['ipv6Only', 'once', 'noDelay', 'reusePort', 'exclusive']) {
      await assert.rejects(
        soket.createTcpServer({ port: 0, [flag]: 'no' } as never, handler),
        (e: Error) => e instanceof ValidationError && e.message.includes(flag),
        flag,
      );
    }
    await assert.rejects(
      soket.createUdpRelay({ listen: '127.0.0.1:0', target: '127.0.0.1:9', ipv6Only: 1 } as never),
      ValidationError,
    );
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
      .filter((c) => EXCEPTIONS[c.export] === undefined)
      .map((c) => `${c.export} ${c.where} = ${c.value}: ${c.outcome}`);
    assert.deepEqual(unexpected, []);
    const exports = new Set(calls.map((c) => c.export));
    t.diagnostic(`${calls.length} calls to ${exports.size} exports`);
  });
});
