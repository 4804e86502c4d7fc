import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createAccessList } from '../../src/core/cidr.js';
import type { UnixAddress } from '../../src/core/lifecycle.js';
import { connectStream } from '../../src/net/stream-connect.js';
import { echoHandler, replyHandler } from '../../src/net/tcp-modes.js';
import { TcpServer } from '../../src/net/tcp-server.js';
import { prepareTlsServer } from '../../src/net/tls-config.js';

const dir = mkdtempSync(join(tmpdir(), 'soket-streams-'));
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
});

async function talk(target: string, data: string, tlsPin?: string): Promise<string> {
  const c = await connectStream(target, tlsPin ? { tlsOptions: { pin: tlsPin } } : {});
  const chunks: Buffer[] = [];
  c.socket.on('data', (d: Buffer) => chunks.push(d));
  c.socket.end(data);
  await once(c.socket, 'close');
  return Buffer.concat(chunks).toString();
}

describe('every listen mode over TLS and Unix sockets', () => {
  test('echo over TLS (self-signed, pinned) on TCP', async () => {
    const tls = await prepareTlsServer({ selfSignedHosts: ['127.0.0.1'] });
    const server = new TcpServer({ port: 0, tls }, echoHandler());
    cleanups.push(() => server.close({ timeout: 0 }));
    const { port } = await server.listen();
    assert.equal(await talk(`tls:127.0.0.1:${port}`, 'secret\n', tls.certificate.pin), 'secret\n');
    const stats = await server.close();
    assert.equal(stats.accepted, 1);
  });

  test('reply mode on a Unix socket with a mode, removed on close; a live socket is not replaced', async () => {
    const path = join(dir, 'reply.sock');
    const server = new TcpServer<UnixAddress>({ path, unixPerm: 0o600 }, replyHandler({ text: 'ok' }));
    cleanups.push(() => server.close({ timeout: 0 }));
    const a = await server.listen();
    assert.deepEqual(a, { family: 'unix', path, abstract: false });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const peers: string[] = [];
    server.on('connect', (c) => peers.push(c.peer));
    assert.equal(await talk(`unix:${path}`, 'hi\n'), 'ok\n');
    assert.deepEqual(peers, ['unix']);
    await assert.rejects(new TcpServer({ path }, echoHandler()).listen(), { code: 'EADDRINUSE' });
    await server.close();
    assert.throws(() => statSync(path), { code: 'ENOENT' });
  });

  test('TLS on an abstract Unix socket', async () => {
    const tls = await prepareTlsServer({});
    const name = `@soket-test-${process.pid}`;
    const server = new TcpServer({ path: name, tls }, echoHandler());
    cleanups.push(() => server.close({ timeout: 0 }));
    await server.listen();
    assert.equal(await talk(`tls:unix:${name}`, 'abstract\n', tls.certificate.pin), 'abstract\n');
  });

  test('allow/deny at accept', async () => {
    const server = new TcpServer(
      { port: 0, access: createAccessList({ allow: '10.0.0.0/8' }) },
      echoHandler(),
    );
    cleanups.push(() => server.close({ timeout: 0 }));
    const { port } = await server.listen();
    const denied = once(server, 'deny');
    const c = net.connect({ port, host: '127.0.0.1' });
    c.on('error', () => {});
    const [d] = (await denied) as [{ peer: string; rule: string }];
    assert.match(d.rule, /not in the allow list/);
    assert.equal(server.stats().denied, 1);
    assert.equal(server.stats().accepted, 0);
  });
});
