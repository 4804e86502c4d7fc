import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { AbortError, ValidationError } from '../../src/core/errors.js';
import {
  batchConcurrency,
  DNS_CONCURRENCY,
  type ResolveOutcome,
  resolveMany,
  reverseMany,
  systemLookupSlots,
} from '../../src/dns/batch.js';
import { startDnsResponder } from '../helpers/dns-responder.js';
import { type Dnsmasq, startDnsmasq, ZONE } from '../helpers/dnsmasq.js';
import { findExecutable, requirePeer, STRICT } from '../helpers/peers.js';

const COUNT = 2000;
const nameOf = (i: number) => `h${i}.batch.test`;
const addressOf = (i: number) => `10.${(i >> 8) & 255}.${i & 255}.1`;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('resolveMany / reverseMany against dnsmasq', () => {
  let dnsmasq: Dnsmasq | undefined;
  let dir = '';
  before(async () => {
    dir = mkdtempSync(`${os.tmpdir()}/soket-batch-`);
    const hosts = Array.from({ length: COUNT }, (_, i) => `${addressOf(i)} ${nameOf(i)}`).join('\n');
    writeFileSync(`${dir}/hosts`, `${hosts}\n`);
    if (findExecutable('dnsmasq')) {
      dnsmasq = await startDnsmasq({ addnHosts: `${dir}/hosts`, extraArgs: ['--local=/batch.test/'] });
    } else if (STRICT) throw new Error('Required peer missing under CI=true: dnsmasq');
  });
  after(async () => {
    await dnsmasq?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${COUNT} distinct names at the default concurrency: every answer right, no spurious failure`, async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const names = Array.from({ length: COUNT }, (_, i) => nameOf(i));
    const outcomes = await collect(resolveMany(names, { server: dnsmasq.server, type: 'A' }));
    assert.equal(outcomes.length, COUNT);
    const failures = outcomes.filter((o) => !o.ok);
    assert.deepEqual(
      failures.map((o) => `${o.query}: ${o.error?.message}`),
      [],
    );
    for (const o of outcomes) {
      assert.equal(o.query, nameOf(o.index));
      assert.deepEqual(
        o.result?.records.map((r) => r.data),
        [addressOf(o.index)],
      );
      assert.ok(o.elapsedMs >= 0);
    }
    assert.deepEqual(new Set(outcomes.map((o) => o.index)).size, COUNT);
  });

  test('ordered keeps input order; failures are outcomes, not exceptions', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const names = Array.from({ length: 300 }, (_, i) => (i % 10 === 3 ? ZONE.nxdomain : nameOf(i)));
    const outcomes = await collect(resolveMany(names, { server: dnsmasq.server, ordered: true, family: 4 }));
    assert.deepEqual(
      outcomes.map((o) => o.index),
      names.map((_, i) => i),
    );
    for (const o of outcomes) {
      if (o.index % 10 === 3) {
        assert.equal(o.ok, false);
        assert.equal(o.error?.code, 'ENOTFOUND');
      } else {
        assert.equal(o.ok, true, o.error?.message);
      }
    }
  });

  test('reverseMany over DNS', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const addresses = Array.from({ length: 500 }, (_, i) => addressOf(i));
    addresses.push(ZONE.wwwV6, ZONE.noPtrV4);
    const outcomes = await collect(reverseMany(addresses, { server: dnsmasq.server, ordered: true }));
    assert.equal(outcomes.length, addresses.length);
    outcomes.slice(0, 500).forEach((o, i) => {
      assert.deepEqual(o.result?.names, [nameOf(i)]);
    });
    assert.deepEqual(outcomes[500]?.result?.names, [ZONE.www]);
    assert.equal(outcomes[501]?.error?.code, 'ENOTFOUND');
  });

  test('every name is checked before the first query', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const responder = await startDnsResponder('silent');
    try {
      await assert.rejects(
        collect(resolveMany(['ok.example.test', 'bad..name'], { server: responder.server })),
        (e: unknown) => e instanceof ValidationError && /bad\.\.name/.test(e.message),
      );
      await assert.rejects(
        collect(reverseMany(['192.0.2.1', 'nope'], { server: responder.server })),
        ValidationError,
      );
      await assert.rejects(
        collect(resolveMany(['a.test'], { server: responder.server, concurrency: 0 })),
        /concurrency/,
      );
      assert.equal(responder.queries(), 0);
    } finally {
      await responder.close();
    }
  });
});

describe('bounded concurrency', () => {
  test('at most `concurrency` queries are in flight', async () => {
    // A server that never answers: every query stays in flight until its timeout.
    const silent = await startDnsResponder('silent');
    try {
      const names = Array.from({ length: 12 }, (_, i) => `n${i}.example.test`);
      const seen: number[] = [];
      const iterator = resolveMany(names, {
        server: silent.server,
        type: 'A',
        concurrency: 4,
        timeout: 250,
        tries: 1,
      });
      const sampler = setInterval(() => seen.push(silent.queries()), 20);
      const outcomes = await collect(iterator);
      clearInterval(sampler);
      assert.equal(outcomes.length, 12);
      assert.ok(outcomes.every((o) => !o.ok && o.error?.code === 'SOKET_TIMEOUT'));
      // Three waves of 4: the server never saw more than 4 queries before the first wave timed out.
      const firstWave = seen.filter((_, i) => (i + 1) * 20 < 200);
      assert.ok(firstWave.length > 0 && firstWave.every((n) => n <= 4), `queries seen: ${seen.join(',')}`);
      assert.equal(silent.queries(), 12, 'one query per name with tries: 1');
    } finally {
      await silent.close();
    }
  });

  test('the signal stops a batch with AbortError and cancels queries in flight', async () => {
    const silent = await startDnsResponder('silent');
    try {
      const controller = new AbortController();
      const names = Array.from({ length: 50 }, (_, i) => `n${i}.example.test`);
      const got: ResolveOutcome[] = [];
      setTimeout(() => controller.abort(), 50);
      const t0 = performance.now();
      await assert.rejects(async () => {
        for await (const o of resolveMany(names, {
          server: silent.server,
          concurrency: 5,
          timeout: 10_000,
          signal: controller.signal,
        }))
          got.push(o);
      }, AbortError);
      assert.ok(performance.now() - t0 < 5000);
      assert.equal(got.length, 0);
      await assert.rejects(collect(resolveMany(names, { signal: AbortSignal.abort() })), AbortError);
    } finally {
      await silent.close();
    }
  });
});

describe('system resolver batches', () => {
  test("concurrency is capped at what libuv's thread pool runs at once", () => {
    assert.equal(systemLookupSlots({}), 2);
    assert.equal(systemLookupSlots({ UV_THREADPOOL_SIZE: '16' }), 8);
    assert.equal(systemLookupSlots({ UV_THREADPOOL_SIZE: '1' }), 1);
    assert.equal(systemLookupSlots({ UV_THREADPOOL_SIZE: 'x' }), 2);
    assert.equal(batchConcurrency('dns', undefined), DNS_CONCURRENCY);
    assert.equal(batchConcurrency('dns', 500), 500);
    assert.equal(batchConcurrency('system', 1000), systemLookupSlots());
    assert.throws(() => batchConcurrency('dns', 5000), ValidationError);
  });

  test('localhost many times through getaddrinfo and getnameinfo', async () => {
    const outcomes = await collect(resolveMany(Array(40).fill('localhost'), { family: 4, ordered: true }));
    assert.ok(outcomes.every((o) => o.ok && o.result.records[0]?.data === '127.0.0.1'));
    const back = await collect(reverseMany(Array(10).fill('127.0.0.1')));
    assert.ok(back.every((o) => o.ok && o.result.names.length === 1));
  });
});
