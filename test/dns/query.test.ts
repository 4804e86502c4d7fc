import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { DnsError, NetworkError, TimeoutError, ValidationError } from '../../src/core/errors.js';
import { DnsClient, dnsQuery, planServer } from '../../src/dns/query.js';
import {
  HOSTILE_ANSWER,
  type HostileMode,
  type HostileServer,
  startHostileServer,
} from '../helpers/dns-hostile.js';

const servers: HostileServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function hostile(mode: HostileMode): Promise<HostileServer> {
  const s = await startHostileServer(mode);
  servers.push(s);
  return s;
}

const question = { name: 'www.example.test', type: 'A' };
const answerOf = (r: Awaited<ReturnType<typeof dnsQuery>>) => r.message.answer.map((rr) => rr.data);

describe('dnsQuery against servers that misbehave', () => {
  test('a well-behaved reply: the whole message, one try, nothing ignored', async () => {
    const s = await hostile('ok');
    const r = await dnsQuery(question, { server: s.server });
    assert.equal(r.message.rcode, 'NOERROR');
    assert.deepEqual(answerOf(r), [{ format: 'a', address: HOSTILE_ANSWER.address }]);
    assert.equal(r.message.answer[0]?.ttl, HOSTILE_ANSWER.ttl);
    assert.equal(r.message.flags.aa, true);
    assert.deepEqual([r.transport, r.truncated, r.tries, r.ignored], ['udp', false, 1, 0]);
    assert.equal(r.size, r.bytes.length);
    assert.deepEqual(r.question, { name: 'www.example.test.', type: 'A', class: 'IN' });
  });

  test('wrong ID: ignored and counted; the right reply after it is taken', async () => {
    const s = await hostile('wrong-id-then-ok');
    const r = await dnsQuery(question, { server: s.server });
    assert.deepEqual([r.ignored, r.tries], [1, 1]);
    assert.deepEqual(answerOf(r), [{ format: 'a', address: HOSTILE_ANSWER.address }]);
  });

  test('wrong ID only: a timeout that says how many replies were ignored and why', async () => {
    const s = await hostile('wrong-id');
    await assert.rejects(
      dnsQuery(question, { server: s.server, timeout: 400 }),
      (e: Error) =>
        e instanceof TimeoutError &&
        /timed out after 400 ms \(2 tries; 2 replies ignored: ID \d+, which no query holds, from 127\.0\.0\.1:\d+\)/.test(
          e.message,
        ),
    );
  });

  test('wrong question: ignored and counted', async () => {
    const ok = await dnsQuery(question, { server: (await hostile('wrong-question-then-ok')).server });
    assert.equal(ok.ignored, 1);
    const s = await hostile('wrong-question');
    await assert.rejects(
      dnsQuery(question, { server: s.server, timeout: 300, tries: 1 }),
      (e: Error) =>
        e instanceof TimeoutError &&
        /1 reply ignored: question other\.example\.test\. A instead of www\.example\.test\. A/.test(
          e.message,
        ),
    );
  });

  test('a reply from another port: ignored and counted, never accepted', async () => {
    const ok = await dnsQuery(question, { server: (await hostile('other-port-then-ok')).server });
    assert.equal(ok.ignored, 1);
    const s = await hostile('other-port');
    await assert.rejects(
      dnsQuery(question, { server: s.server, timeout: 300, tries: 1 }),
      (e: Error) => e instanceof TimeoutError && /1 reply ignored: from 127\.0\.0\.1:\d+\)/.test(e.message),
    );
  });

  test('a query echoed back (QR=0) is not a response', async () => {
    const s = await hostile('not-a-response');
    await assert.rejects(
      dnsQuery(question, { server: s.server, timeout: 300, tries: 1 }),
      /ignored: a query, not a response/,
    );
  });

  for (const [mode, why] of [
    ['cut-short', /ANCOUNT is 1 but the message ends|runs past the end/],
    ['compression-loop', /points to \d+, not before \d+ \(a loop or a forward pointer\)/],
    ['pointer-past-end', /points to 16383/],
  ] as const) {
    test(`${mode}: a clear EBADRESP error naming the server and the question`, async () => {
      const s = await hostile(mode);
      await assert.rejects(
        dnsQuery(question, { server: s.server }),
        (e: Error) =>
          e instanceof DnsError &&
          e.code === 'EBADRESP' &&
          e.message.startsWith(
            `DNS server ${s.server} sent a malformed response to the A query for www.example.test.: `,
          ) &&
          why.test(e.message),
      );
    });
  }

  test('truncated UDP answer (TC): asked again over TCP', async () => {
    const s = await hostile('tc-then-tcp');
    const r = await dnsQuery(question, { server: s.server });
    assert.deepEqual([r.transport, r.truncated, s.udpQueries(), s.tcpQueries()], ['tcp', true, 1, 1]);
    assert.deepEqual(answerOf(r), [{ format: 'a', address: HOSTILE_ANSWER.address }]);
  });

  test('a UDP answer cut mid-record with TC set is a truncation (RFC 2181 §9), not malformed', async () => {
    const s = await hostile('tc-cut-then-tcp');
    const r = await dnsQuery(question, { server: s.server });
    assert.deepEqual([r.transport, r.truncated], ['tcp', true]);
  });

  test('without TCP fallback a truncated answer is returned as it came (TC set)', async () => {
    const s = await hostile('tc-then-tcp');
    const r = await dnsQuery(question, { server: s.server, tcpFallback: false });
    assert.deepEqual([r.transport, r.truncated, r.message.flags.tc, s.tcpQueries()], ['udp', false, true, 0]);
  });

  test('a 64 KiB answer over TCP, written in pieces, is read whole', async () => {
    const s = await hostile('big-tcp');
    const r = await dnsQuery(question, { server: s.server });
    assert.ok(r.size > 60_000 && r.size <= 65_535, String(r.size));
    assert.ok(r.message.answer.length > 200);
    assert.equal(r.transport, 'tcp');
  });

  test('TCP connection closed before the answer: ECONNRESET naming the server', async () => {
    const s = await hostile('tcp-close');
    await assert.rejects(
      dnsQuery(question, { server: s.server, transport: 'tcp' }),
      (e: Error) => e instanceof NetworkError && e.code === 'ECONNRESET' && e.message.includes(s.server),
    );
  });

  test('TCP connection closed mid-message: EBADRESP saying how many bytes came', async () => {
    const s = await hostile('tcp-partial');
    await assert.rejects(
      dnsQuery(question, { server: s.server, transport: 'tcp' }),
      (e: Error) =>
        e instanceof DnsError &&
        e.code === 'EBADRESP' &&
        /closed the connection after \d+ of \d+ bytes/.test(e.message),
    );
  });

  test('a silent server: TimeoutError after the tries, never a hang', async () => {
    const s = await hostile('silent');
    await assert.rejects(
      dnsQuery(question, { server: s.server, timeout: 300, tries: 3 }),
      (e: Error) =>
        e instanceof TimeoutError &&
        e.message ===
          `Name lookup of www.example.test. (A query to ${s.server}) timed out after 300 ms (3 tries)`,
    );
    assert.equal(s.udpQueries(), 3);
    await assert.rejects(
      dnsQuery(question, { server: s.server, transport: 'tcp', timeout: 300 }),
      TimeoutError,
    );
  });

  test('FORMERR without a question section is a valid answer', async () => {
    const r = await dnsQuery(question, { server: (await hostile('formerr-no-question')).server });
    assert.equal(r.message.rcode, 'FORMERR');
  });

  test('an AbortSignal cancels the query', async () => {
    const s = await hostile('silent');
    const ac = new AbortController();
    const p = dnsQuery(question, { server: s.server, signal: ac.signal, timeout: 0 });
    setImmediate(() => ac.abort());
    await assert.rejects(p, (e: Error) => (e as { code?: string }).code === 'SOKET_ABORTED');
  });
});

describe('DnsClient', () => {
  test('message IDs are random and unique among queries in flight', async () => {
    const s = await hostile('ok');
    const client = new DnsClient({ server: s.server });
    try {
      await Promise.all(Array.from({ length: 200 }, () => client.query(question)));
    } finally {
      client.close();
    }
    const ids = s.ids();
    assert.equal(ids.length, 200);
    assert.equal(new Set(ids).size, 200);
    const sequential = ids.slice(1).filter((id, i) => id === ((ids[i] as number) + 1) % 65536).length;
    assert.ok(sequential < 5, `${sequential} sequential IDs`);
  });

  test('over TCP, queries share one connection (pipelined)', async () => {
    const s = await hostile('ok');
    const client = new DnsClient({ server: s.server, transport: 'tcp' });
    try {
      const rs = await Promise.all(Array.from({ length: 20 }, () => client.query(question)));
      assert.ok(rs.every((r) => r.message.answer.length === 1 && r.transport === 'tcp'));
    } finally {
      client.close();
    }
    assert.deepEqual([s.tcpConnections(), s.tcpQueries()], [1, 20]);
  });
});

describe('checked input', () => {
  test('names: label over 63 bytes, name over 255, empty labels', async () => {
    const server = '127.0.0.1:9';
    await assert.rejects(
      dnsQuery({ name: `${'a'.repeat(64)}.test` }, { server }),
      /label 'a{64}' is 64 bytes, the limit is 63/,
    );
    const long = Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.');
    await assert.rejects(dnsQuery({ name: long }, { server }), /the limit is 255/);
    await assert.rejects(dnsQuery({ name: 'a..b' }, { server }), ValidationError);
  });

  test('types: unknown mnemonics are rejected; TYPEnnn is accepted', async () => {
    await assert.rejects(
      dnsQuery({ name: 'a.test', type: 'NOSUCH' }, { server: '127.0.0.1:9' }),
      /Unknown record type 'NOSUCH'/,
    );
    const s = await hostile('formerr-no-question');
    assert.equal(
      (await dnsQuery({ name: 'a.test', type: 'TYPE65280' }, { server: s.server })).question.type,
      'TYPE65280',
    );
  });

  test('servers: IP, IP:PORT, [v6]:PORT, URLs; names and bad URLs are rejected', () => {
    assert.deepEqual(planServer('127.0.0.1').text, '127.0.0.1:53');
    assert.deepEqual(planServer('127.0.0.1', 'tls').text, '127.0.0.1:853');
    assert.deepEqual(planServer('[::1]:5353').text, '[::1]:5353');
    assert.deepEqual(planServer({ address: '::1', port: 53 }).text, '[::1]:53');
    assert.equal(
      planServer('https://127.0.0.1:8443/dns-query{?dns}').text,
      'https://127.0.0.1:8443/dns-query',
    );
    assert.throws(
      () => planServer('ns1.example.test'),
      /expected an IP address \(a host name must be resolved first\)/,
    );
    assert.throws(
      () => planServer('http://127.0.0.1/dns-query'),
      /Invalid DoH URL .*the scheme must be https/,
    );
    assert.throws(() => planServer('https://'), /Invalid DoH URL/);
    assert.throws(() => planServer('https://u:p@127.0.0.1/'), /credentials/);
    assert.throws(() => planServer('127.0.0.1', 'https'), /needs a URL/);
    assert.throws(() => planServer('https://127.0.0.1/q', 'tcp'), /needs the https transport/);
  });

  test('conflicting options', () => {
    assert.throws(() => new DnsClient({ server: '127.0.0.1', edns: false, dnssecOk: true }), /needs EDNS/);
    assert.throws(() => new DnsClient({ server: '127.0.0.1', ca: 'x' }), /applies to TLS and HTTPS only/);
    assert.throws(() => new DnsClient({ server: '127.0.0.1', clientSubnet: '192.0.2.0/33' }), /at most \/32/);
  });
});
