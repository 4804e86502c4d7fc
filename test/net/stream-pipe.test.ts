/**
 * pipeSession on real loopback sockets: half-close is one direction only, so a peer that finishes first still
 * gets the whole input; a terminal input ends the session with the peer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { pipeSession } from '../../src/net/stream-pipe.js';

/** A connected pair: [soket's side (allowHalfOpen, as soket's listeners make it), the peer]. */
async function pair(): Promise<[net.Socket, net.Socket, () => void]> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection');
  const peer = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const [ours] = (await accepted) as [net.Socket];
  await once(peer, 'connect');
  return [ours, peer, () => server.close()];
}

const sink = { push: () => true, onDrain: () => {} };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('pipeSession', () => {
  test('a peer that shuts down its side at once still receives every byte of the input', async () => {
    const [ours, peer, close] = await pair();
    // 8 MiB produced a little at a time: far from written when the peer's FIN arrives.
    const data = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
    let offset = 0;
    const input = new Readable({
      read() {
        setImmediate(() => {
          if (offset >= data.length) this.push(null);
          else {
            this.push(data.subarray(offset, offset + 16384));
            offset += 16384;
          }
        });
      },
    });
    const got: Buffer[] = [];
    peer.on('data', (d: Buffer) => got.push(d));
    peer.end(); // half-close before anything arrived
    const [r] = await Promise.all([pipeSession(ours, { input, sink }), once(peer, 'end')]);
    close();
    const received = Buffer.concat(got);
    assert.equal(received.length, data.length);
    assert.equal(sha(received), sha(data));
    assert.equal(r.bytesOut, data.length);
    assert.equal(r.end, 'closed');
  });

  test('with a terminal as input, the peer finishing ends the session', async () => {
    const [ours, peer, close] = await pair();
    const input = Object.assign(new PassThrough(), { isTTY: true });
    peer.resume();
    peer.end();
    const r = await pipeSession(ours, { input, sink });
    close();
    assert.equal(r.end, 'closed');
    assert.equal(input.listenerCount('data'), 0, 'the input is handed back');
  });

  test('shutdown: false keeps the write side open until the peer is done and the input ends', async () => {
    const [ours, peer, close] = await pair();
    const input = new PassThrough();
    const got: Buffer[] = [];
    peer.on('data', (d: Buffer) => got.push(d));
    const session = pipeSession(ours, { input, sink, shutdown: false });
    input.write('first ');
    peer.end();
    await once(ours, 'end');
    const peerDone = once(peer, 'end');
    input.end('last');
    const [r] = await Promise.all([session, peerDone]);
    close();
    assert.equal(Buffer.concat(got).toString(), 'first last');
    assert.equal(r.end, 'closed');
  });
});
