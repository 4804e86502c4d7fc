/**
 * The tracer against servers that misbehave, played by a transport function (no sockets): upward and sideways
 * referrals, answers without authority, glue out of bailiwick, endless CNAMEs, referrals that never end. Each
 * is a reported step and a clear error or a next server — never a hang or a crash.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeDnsMessage, encodeDnsMessage, type ResourceRecordInit } from '../../src/codec/dns.js';
import { TraceError } from '../../src/core/errors.js';
import { type TraceStep, trace } from '../../src/dns/trace.js';
import type { TraceQuery, TraceTransport } from '../../src/dns/trace-transport.js';

interface Reply {
  aa?: boolean;
  rcode?: string;
  answer?: ResourceRecordInit[];
  authority?: ResourceRecordInit[];
  additional?: ResourceRecordInit[];
}

/** A transport answering from a table: (server address, query) → reply. */
function fake(answer: (q: TraceQuery) => Reply | 'silent'): TraceTransport & { asked: string[] } {
  const asked: string[] = [];
  const t = async (q: TraceQuery) => {
    asked.push(`${q.address} ${q.name}`);
    const r = answer(q);
    if (r === 'silent') throw new TraceError('no answer', 'no-servers', '.');
    const bytes = encodeDnsMessage({
      id: 1,
      flags: { qr: true, aa: r.aa ?? false },
      rcode: r.rcode ?? 'NOERROR',
      question: [{ name: q.name, type: q.type }],
      answer: r.answer ?? [],
      authority: r.authority ?? [],
      additional: r.additional ?? [],
    });
    return { message: decodeDnsMessage(bytes), bytes: bytes.length, transport: 'udp' as const };
  };
  return Object.assign(t, { asked });
}

const NS = (owner: string, target: string): ResourceRecordInit => ({
  name: owner,
  type: 'NS',
  ttl: 60,
  data: { format: 'name', target },
});
const A = (owner: string, address: string): ResourceRecordInit => ({
  name: owner,
  type: 'A',
  ttl: 60,
  data: { format: 'a', address },
});
const CNAME = (owner: string, target: string): ResourceRecordInit => ({
  name: owner,
  type: 'CNAME',
  ttl: 60,
  data: { format: 'name', target },
});

const rootHints = [{ name: 'root.', address: '127.0.0.1' }];

describe('trace against misbehaving servers', () => {
  it('an upward referral is lame; the next server is asked', async () => {
    const t = fake((q) => {
      if (q.address === '127.0.0.1') {
        return {
          authority: [NS('test.', 'a.test.'), NS('test.', 'b.test.')],
          additional: [A('a.test.', '127.0.0.2'), A('b.test.', '127.0.0.3')],
        };
      }
      if (q.address === '127.0.0.2') return { authority: [NS('.', 'root.')] };
      return { aa: true, answer: [A('www.test.', '192.0.2.1')] };
    });
    const steps: TraceStep[] = [];
    const r = await trace('www.test', {
      rootHints,
      transport: t,
      onEvent: (e) => e.event === 'step' && steps.push(e),
    });
    assert.deepEqual(
      r.answer.map((a) => a.data),
      ['192.0.2.1'],
    );
    assert.deepEqual(
      steps.map((s) => [s.server.address, s.outcome]),
      [
        ['127.0.0.1', 'referral'],
        ['127.0.0.2', 'lame'],
        ['127.0.0.3', 'answer'],
      ],
    );
    assert.match(steps[1]?.error?.message ?? '', /referral to \. is not below test\./);
  });

  it('an answer without the AA flag is lame; glue outside the zone that sent it is not believed', async () => {
    const t = fake((q) => {
      if (q.address === '127.0.0.1') {
        // The root gives glue for a name in another zone too: only in-bailiwick glue counts (all glue is here).
        return { authority: [NS('test.', 'ns.test.')], additional: [A('ns.test.', '127.0.0.2')] };
      }
      if (q.address === '127.0.0.2' && q.name === 'www.test.') {
        return { authority: [NS('sub.www.test.', 'ns.other.')], additional: [A('ns.other.', '127.0.0.66')] };
      }
      return { answer: [A(q.name, '192.0.2.1')] }; // no AA
    });
    await assert.rejects(trace('x.sub.www.test', { rootHints, transport: t }), (err) => {
      assert.ok(err instanceof TraceError);
      return true;
    });
    assert.ok(!t.asked.some((a) => a.startsWith('127.0.0.66')), 'the out-of-bailiwick glue was not used');
  });

  it('a CNAME chain across zones that loops stops with chain-limit', async () => {
    const t = fake((q) => {
      if (q.address === '127.0.0.1') {
        const zone = q.name.endsWith('a.') ? 'a.' : 'b.';
        return {
          authority: [NS(zone, `ns.${zone}`)],
          additional: [A(`ns.${zone}`, zone === 'a.' ? '127.0.0.2' : '127.0.0.3')],
        };
      }
      return { aa: true, answer: [CNAME(q.name, q.name.endsWith('a.') ? 'x.b.' : 'x.a.')] };
    });
    await assert.rejects(trace('x.a', { rootHints, transport: t }), (err) => {
      assert.ok(err instanceof TraceError);
      assert.equal(err.reason, 'chain-limit');
      assert.match(err.message, /loops at x\.a\./);
      return true;
    });
  });

  it('referrals that keep going stop at the name (never above it) or the step limit', async () => {
    let n = 0;
    const t = fake((q) => {
      n++;
      const labels = q.name.split('.').filter(Boolean);
      // Always refer one label further down, with glue.
      const depth = Math.min(labels.length, n);
      const zone = `${labels.slice(labels.length - depth).join('.')}.`;
      return { authority: [NS(zone, `ns.${zone}`)], additional: [A(`ns.${zone}`, '127.0.0.9')] };
    });
    await assert.rejects(trace('a.b.c.d.e.f.test', { rootHints, transport: t, maxSteps: 50 }), TraceError);
    assert.ok(t.asked.length <= 50);
  });

  it('every server silent: no-servers, naming each failure', async () => {
    const t = fake(() => 'silent');
    await assert.rejects(
      trace('www.test', {
        rootHints: [...rootHints, { name: 'root2.', address: '127.0.0.2' }],
        transport: t,
      }),
      (err) => {
        assert.ok(err instanceof TraceError);
        assert.equal(err.reason, 'no-servers');
        assert.match(
          err.message,
          /No server of \. answered www\.test\. A \(2 tried: root\. \(127\.0\.0\.1\): .*; root2\. \(127\.0\.0\.2\): /,
        );
        return true;
      },
    );
  });
});
