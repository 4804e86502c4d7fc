import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { ValidationError } from '../../src/core/errors.js';
import { printable } from '../../src/core/text.js';
import {
  ChatRoom,
  discardHandler,
  echoHandler,
  MessageSplitter,
  type PrintedMessage,
  printHandler,
  replyHandler,
  tcpModeHandler,
} from '../../src/net/tcp-modes.js';
import { createTcpServer, type TcpConnectionSummary, type TcpServer } from '../../src/net/tcp-server.js';

const servers: TcpServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close({ timeout: 1 })));
});

async function start(handler: Parameters<typeof createTcpServer>[1]): Promise<TcpServer> {
  const s = await createTcpServer({}, handler);
  servers.push(s);
  return s;
}

/** Send, half-close, collect everything until the server closes its side. */
async function exchange(port: number, send: string | Buffer): Promise<Buffer> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (b: Buffer) => chunks.push(b));
  socket.on('end', () => socket.end());
  socket.end(send);
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

function connectClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Read from a socket until `pattern` has appeared in what it received. */
function readUntil(socket: net.Socket, pattern: RegExp): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (b: Buffer) => {
      text += b.toString('latin1');
      if (pattern.test(text)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
}

describe('MessageSplitter', () => {
  test('auto: lines, CR dropped, and the tail of a read is a message too', () => {
    const s = new MessageSplitter('auto');
    assert.deepEqual(s.push(Buffer.from('a\r\nb\nc')).map(String), ['a', 'b', 'c']);
    assert.deepEqual(s.push(Buffer.from('Hello, server!')).map(String), ['Hello, server!']);
    assert.equal(s.flush(), undefined);
  });

  test('line: a partial line waits for its LF, the end of the stream, or maxLineLength', () => {
    const s = new MessageSplitter('line', 8);
    assert.deepEqual(s.push(Buffer.from('ab')).map(String), []);
    assert.deepEqual(s.push(Buffer.from('c\nde')).map(String), ['abc']);
    assert.equal(String(s.flush()), 'de');
    // Never more than maxLineLength bytes in one message: whole pieces go out, the tail waits for its LF.
    assert.deepEqual(s.push(Buffer.from('0123456789')).map(String), ['01234567']);
    assert.deepEqual(s.push(Buffer.from('ab\n0123456789abcdefXY\n')).map(String), [
      '89ab',
      '01234567',
      '89abcdef',
      'XY',
    ]);
  });

  test('chunk: each read is one message', () => {
    const s = new MessageSplitter('chunk');
    assert.deepEqual(s.push(Buffer.from('a\nb\n')).map(String), ['a\nb\n']);
  });

  test('count() agrees with push() for any way a stream is cut into reads', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('auto' as const, 'line' as const, 'chunk' as const),
        fc.array(fc.array(fc.constantFrom(0x0a, 0x0d, 0x41, 0x42), { maxLength: 12 }), { maxLength: 8 }),
        (framing, reads) => {
          const a = new MessageSplitter(framing, 5);
          const b = new MessageSplitter(framing, 5);
          let pushed = 0;
          let counted = 0;
          for (const r of reads) {
            pushed += a.push(Buffer.from(r)).length;
            counted += b.count(Buffer.from(r));
          }
          if (a.flush()) pushed++;
          if (b.flushCount()) counted++;
          return pushed === counted;
        },
      ),
    );
  });

  test('printable escapes control characters but keeps text and tabs', () => {
    assert.equal(printable(Buffer.from('héllo\tworld\u0000\u001b[1m')), 'héllo\tworld\\x00\\x1b[1m');
  });
});

describe('TCP modes', () => {
  test('echo: every byte back in order; the client FIN is answered after the echo', async () => {
    const s = await start(echoHandler());
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    assert.ok((await exchange(s.address.port, payload)).equals(payload));
  });

  test('reply: "Hello, server!" without a newline gets its reply; one reply per line', async () => {
    const s = await start(replyHandler({ text: 'message received' }));
    const c = await connectClient(s.address.port);
    const closed = once(c, 'close');
    c.write('Hello, server!');
    assert.equal(await readUntil(c, /\n/), 'message received\n');
    c.end('one\ntwo\n');
    assert.equal(await readUntil(c, /received\n.*received\n/s), 'message received\nmessage received\n');
    await closed;
  });

  test('reply with line framing: a partial line is answered at the end of the stream', async () => {
    const s = await start(replyHandler({ text: 'ok', framing: 'line' }));
    assert.equal((await exchange(s.address.port, 'a\nb\npartial')).toString(), 'ok\nok\nok\n');
  });

  test('print: each message with the client address; the tail is printed at the end', async () => {
    const got: PrintedMessage[] = [];
    const s = await start(printHandler({ framing: 'line', onMessage: (m) => got.push(m) }));
    const echo = await exchange(s.address.port, 'first line\nsecond\u0001\nno newline');
    assert.equal(echo.length, 0, 'print mode sends nothing back');
    assert.deepEqual(
      got.map((m) => m.text),
      ['first line', 'second\\x01', 'no newline'],
    );
    assert.match(got[0]?.peer ?? '', /^127\.0\.0\.1:\d+$/);
  });

  test('discard: reads and drops, counts the bytes, closes cleanly', async () => {
    const s = await start(discardHandler());
    const closed = new Promise<TcpConnectionSummary>((r) => s.once('disconnect', r));
    assert.equal((await exchange(s.address.port, Buffer.alloc(100_000))).length, 0);
    const d = await closed;
    assert.equal(d.bytesIn, 100_000);
    assert.equal(d.bytesOut, 0);
    assert.equal(d.reason, 'client-closed');
  });

  test('tcpModeHandler checks its input', () => {
    assert.throws(() => tcpModeHandler('print'), ValidationError);
    assert.throws(() => tcpModeHandler('bogus' as 'echo'), ValidationError);
    assert.throws(() => replyHandler({ framing: 'words' as 'line' }), /Unknown framing 'words'/);
  });
});

describe('chat', () => {
  test('relays each line to every other client with the sender prefix', async () => {
    const room = new ChatRoom({ announce: true });
    const s = await start(room.handler());
    const a = await connectClient(s.address.port);
    const b = await connectClient(s.address.port);
    const c = await connectClient(s.address.port);
    while (room.size < 3) await new Promise((r) => setImmediate(r));
    const aPeer = `127.0.0.1:${a.localPort}`;
    const atB = readUntil(b, /hello all\n/);
    const atC = readUntil(c, /hello all\n/);
    let aGotOwn = false;
    a.on('data', (d: Buffer) => {
      if (d.includes('hello all')) aGotOwn = true;
    });
    a.write('hello all\n');
    assert.match(await atB, new RegExp(`\\[${aPeer.replaceAll('.', '\\.')}\\] hello all\\n`));
    assert.match(await atC, /\] hello all\n/);
    const leftAtB = readUntil(b, /left/);
    c.end();
    assert.match(await leftAtB, /\* 127\.0\.0\.1:\d+ left \(2 here\)/);
    assert.equal(aGotOwn, false, 'the sender does not get its own line');
    a.destroy();
    b.destroy();
  });

  test('a client that stops reading is dropped with a reason; the others keep flowing; memory stays bounded', async () => {
    const maxQueue = 64 * 1024;
    const room = new ChatRoom({ maxQueue, announce: false });
    const s = await start(room.handler());
    const drops: TcpConnectionSummary[] = [];
    s.on('disconnect', (d) => {
      if (d.reason === 'dropped') drops.push(d);
    });
    const sender = await connectClient(s.address.port);
    const reader = await connectClient(s.address.port);
    const stalled = await connectClient(s.address.port);
    stalled.on('error', () => {});
    stalled.pause(); // never reads: the kernel buffers fill, then the server's queue for it
    while (room.size < 3) await new Promise((r) => setImmediate(r));

    let readerBytes = 0;
    reader.on('data', (b: Buffer) => {
      readerBytes += b.length;
    });
    const line = `${'x'.repeat(1000)}\n`;
    let maxBuffered = 0;
    let sent = 0;
    // The sender goes at the pace of the reader that keeps up (everything runs in this one process, so an
    // unpaced sender would starve the reader too); the stalled client falls behind until it is dropped.
    const chunk = line.repeat(16);
    while (drops.length === 0 && sent < 200_000_000) {
      sender.write(chunk);
      sent += chunk.length;
      maxBuffered = Math.max(maxBuffered, s.stats().bufferedBytes);
      while (readerBytes < sent && drops.length === 0) await once(reader, 'data');
    }
    assert.equal(drops.length, 1, 'the stalled client was dropped');
    assert.match(drops[0]?.detail ?? '', /slow reader: \d+ bytes queued, over the 65536-byte cap/);
    assert.equal(drops[0]?.remotePort, stalled.localPort);
    assert.equal(room.dropped, 1);
    // The server never held much more than the cap for the stalled client plus what is in flight.
    assert.ok(maxBuffered < 4 * maxQueue + 512 * 1024, `server buffered at most ${maxBuffered} bytes`);
    // The reader still gets every line, including one sent after the drop.
    const marker = readUntil(reader, /after the drop\n/);
    sender.write('after the drop\n');
    await marker;
    assert.ok(readerBytes >= sent, `reader got ${readerBytes} of ${sent} bytes`);
    sender.destroy();
    reader.destroy();
  });
});
