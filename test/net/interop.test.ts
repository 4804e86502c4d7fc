/**
 * Interop with real peers on loopback: Python's socket module as a client of soket's TCP and UDP servers and
 * as a thread-per-client server for soket's clients; socat and ncat as the other end of `soket tcp connect`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectTcp } from '../../src/net/tcp-client.js';
import { echoHandler, replyHandler } from '../../src/net/tcp-modes.js';
import { createTcpServer, type TcpServer } from '../../src/net/tcp-server.js';
import { udpRequest } from '../../src/net/udp-client.js';
import {
  createUdpServer,
  type UdpServer,
  udpEchoHandler,
  udpReplyHandler,
} from '../../src/net/udp-server.js';
import { runCli } from '../helpers/cli.js';
import { requirePeer } from '../helpers/peers.js';
import { freeTcpPort, waitListening, waitListeningPassive } from '../helpers/ports.js';

const run = promisify(execFile);
const PYTHON_INSTALL = 'apt-get install python3';
const closers: Array<() => unknown> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

function track<T extends TcpServer | UdpServer>(s: T): T {
  closers.push(() => s.close());
  return s;
}

function spawnTracked(file: string, args: string[]): ChildProcess {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  closers.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return child;
}

const PY_TCP_CLIENT = `
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
s.sendall(b"Hello, server!")
data = b""
while len(data) < int(sys.argv[2]):
    chunk = s.recv(1024)
    if not chunk:
        break
    data += chunk
s.close()
sys.stdout.write(data.decode())
`;

const PY_UDP_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"Hello, server!", ('127.0.0.1', int(sys.argv[1])))
data, addr = s.recvfrom(1024)
print(data.decode(), addr[0], addr[1])
`;

// The classic thread-per-client echo server (shared with the benchmarks); prints its port, serves until killed.
const PY_THREADED_ECHO = fileURLToPath(new URL('../fixtures/py_echo_server.py', import.meta.url));

const PY_UDP_ECHO = fileURLToPath(new URL('../fixtures/py_udp_echo_server.py', import.meta.url));

async function pythonServer(python: string, script: string): Promise<number> {
  const child = spawnTracked(python, [script]);
  const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  return Number(line.toString().trim());
}

describe('Python socket clients against soket servers', () => {
  test('TCP echo and reply servers answer "Hello, server!"', async (t) => {
    const python = requirePeer(t, '/usr/bin/python3', PYTHON_INSTALL);
    if (!python) return;
    const echo = track(await createTcpServer({}, echoHandler()));
    const r1 = await run(python, ['-c', PY_TCP_CLIENT, String(echo.address.port), '14']);
    assert.equal(r1.stdout, 'Hello, server!');
    const reply = track(await createTcpServer({}, replyHandler({ text: 'message received' })));
    const r2 = await run(python, ['-c', PY_TCP_CLIENT, String(reply.address.port), '17']);
    assert.equal(r2.stdout, 'message received\n');
  });

  test('UDP echo and reply servers answer at the client address', async (t) => {
    const python = requirePeer(t, '/usr/bin/python3', PYTHON_INSTALL);
    if (!python) return;
    const echo = track(await createUdpServer({}, udpEchoHandler()));
    const r1 = await run(python, ['-c', PY_UDP_CLIENT, String(echo.address.port)]);
    assert.equal(r1.stdout, `Hello, server! 127.0.0.1 ${echo.address.port}\n`);
    const reply = track(await createUdpServer({}, udpReplyHandler('message received')));
    const r2 = await run(python, ['-c', PY_UDP_CLIENT, String(reply.address.port)]);
    assert.equal(r2.stdout, `message received 127.0.0.1 ${reply.address.port}\n`);
  });
});

describe('soket clients against a Python thread-per-client server', () => {
  test('connectTcp streams 2 MiB through the Python echo server and back', async (t) => {
    const python = requirePeer(t, '/usr/bin/python3', PYTHON_INSTALL);
    if (!python) return;
    const port = await pythonServer(python, PY_THREADED_ECHO);
    const conn = await connectTcp({ host: '127.0.0.1', port, connectTimeout: 2000 });
    const payload = randomBytes(2 * 1024 * 1024);
    const got: Buffer[] = [];
    let n = 0;
    const done = new Promise<void>((resolve) => {
      conn.socket.on('data', (b: Buffer) => {
        got.push(b);
        n += b.length;
        if (n >= payload.length) resolve();
      });
    });
    conn.socket.write(payload);
    await done;
    conn.socket.destroy();
    assert.ok(Buffer.concat(got).equals(payload));
  });

  test('soket tcp connect --message and udpRequest against Python servers', async (t) => {
    const python = requirePeer(t, '/usr/bin/python3', PYTHON_INSTALL);
    if (!python) return;
    const tcpPort = await pythonServer(python, PY_THREADED_ECHO);
    const r = await runCli(['tcp', 'connect', '127.0.0.1', String(tcpPort), '--message', 'Hello, server!']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Hello, server!\n');
    assert.match(r.stderr, /the server closed the connection/);
    const udpPort = await pythonServer(python, PY_UDP_ECHO);
    const reply = await udpRequest({ host: '127.0.0.1', port: udpPort, message: 'Hello, server!' });
    assert.equal(reply.data.toString(), 'Hello, server!');
    assert.equal(reply.from.port, udpPort);
  });
});

describe('socat and ncat as the other end of soket tcp connect', () => {
  test('socat echo (fork, PIPE): 512 KiB of binary through the pipe mode, half-close ends it', async (t) => {
    const socat = requirePeer(t, 'socat', 'apt-get install socat');
    if (!socat) return;
    const port = await freeTcpPort();
    spawnTracked(socat, [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, 'PIPE']);
    await waitListening(port);
    const input = randomBytes(512 * 1024);
    const r = await runCli(['tcp', 'connect', '127.0.0.1', String(port)], { input });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdoutBytes.equals(input), `${r.stdoutBytes.length} of ${input.length} bytes came back`);
  });

  test('ncat as a receiving server gets every byte; it closes after our FIN and soket exits 0', async (t) => {
    const ncat = requirePeer(t, 'ncat', 'apt-get install ncat');
    if (!ncat) return;
    const port = await freeTcpPort();
    const child = spawnTracked(ncat, ['-l', '127.0.0.1', String(port), '--recv-only']);
    const received: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => received.push(b));
    const exited = once(child, 'exit');
    await waitListeningPassive(port); // ncat -l accepts one client: do not use it up with a probe
    const input = randomBytes(256 * 1024);
    const r = await runCli(['tcp', 'connect', '127.0.0.1', String(port), '--timeout', '3000'], { input });
    await exited;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Buffer.concat(received).equals(input), 'ncat received exactly the bytes soket sent');
  });
});
