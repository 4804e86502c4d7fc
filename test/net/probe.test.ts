import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { ValidationError } from '../../src/core/errors.js';
import { parsePortList, probe, probePorts } from '../../src/net/probe.js';
import { hangingListener } from '../helpers/hanging-listener.js';
import { requirePeer } from '../helpers/peers.js';
import { freeTcpPort } from '../helpers/ports.js';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups.splice(0)) c();
});

async function openPort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer((s) => s.destroy());
  server.listen(0, host);
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

describe('parsePortList', () => {
  test('lists, ranges, duplicates', () => {
    assert.deepEqual(parsePortList('22,80,8000-8002'), [22, 80, 8000, 8001, 8002]);
    assert.deepEqual(parsePortList('80, 80 ,79-81'), [80, 79, 81]);
    assert.equal(parsePortList('1-65535').length, 65535);
  });

  test('bad lists are ValidationErrors', () => {
    for (const bad of ['', '0', '65536', 'x', '80,', '10-5', '1-2-3', '-5', '80,,81', '1-70000']) {
      assert.throws(() => parsePortList(bad), ValidationError, bad);
    }
    assert.throws(() => parsePortList('10-5'), /10 is greater than 5/);
  });
});

describe('probe', () => {
  test('open and closed ports on loopback, sorted, with connect times for open ones', async () => {
    const open = await openPort();
    const closed = await freeTcpPort();
    const results = await probe('127.0.0.1', [closed, open], { timeout: 2000 });
    assert.deepEqual(
      results.map((r) => [r.port, r.state]),
      [
        [open, 'open'],
        [closed, 'closed'],
      ].sort((a, b) => (a[0] as number) - (b[0] as number)),
    );
    const o = results.find((r) => r.port === open);
    assert.equal(typeof o?.connectMs, 'number');
    const c = results.find((r) => r.port === closed);
    assert.equal(c?.code, 'ECONNREFUSED');
    assert.equal(c?.connectMs, null);
  });

  test('a port whose SYNs are dropped is filtered after the timeout', async (t) => {
    const python = requirePeer(t, 'python3', 'apt-get install python3');
    if (!python) return;
    const hanging = await hangingListener(python);
    cleanups.push(() => hanging.close());
    const [r] = await probe('127.0.0.1', [hanging.port], { timeout: 300 });
    assert.equal(r?.state, 'filtered');
    assert.equal(r?.code, 'SOKET_TIMEOUT');
    assert.match(r?.reason ?? '', /no answer within 300 ms/);
  });

  test('a name is resolved once; IPv6 loopback works', async () => {
    const open = await openPort('::1');
    const [r] = await probe('::1', [open]);
    assert.equal(r?.state, 'open');
    assert.equal(r?.address, '::1');
    const [viaName] = await probe('localhost', [await openPort()], { family: 4 });
    assert.equal(viaName?.state, 'open');
    assert.equal(viaName?.address, '127.0.0.1');
  });

  test('many ports with bounded concurrency all get an answer', async () => {
    const open = await Promise.all([openPort(), openPort(), openPort()]);
    const closed = await Promise.all(Array.from({ length: 200 }, () => freeTcpPort()));
    const results = await probe('127.0.0.1', [...open, ...closed], { concurrency: 16 });
    assert.equal(results.length, new Set([...open, ...closed]).size);
    assert.deepEqual(
      results
        .filter((r) => r.state === 'open')
        .map((r) => r.port)
        .sort(),
      [...open].sort(),
    );
    assert.ok(results.filter((r) => r.state !== 'open').every((r) => r.state === 'closed'));
  });

  test('bad input and abort', async () => {
    await assert.rejects(probe('127.0.0.1', []), /No ports to probe/);
    await assert.rejects(probe('bad host', [80]), ValidationError);
    await assert.rejects(probe('127.0.0.1', [80], { concurrency: 0 }), ValidationError);
    await assert.rejects(probe('127.0.0.1', [0]), ValidationError);
    const ac = new AbortController();
    ac.abort();
    const it = probePorts('127.0.0.1', [await freeTcpPort()], { signal: ac.signal });
    await assert.rejects(it.next(), /aborted/);
  });
});
