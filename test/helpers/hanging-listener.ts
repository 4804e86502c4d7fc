/**
 * A TCP port whose SYNs are dropped, on loopback: Python listens with backlog 0 and never calls accept();
 * one connection fills the accept queue and a second one sits in SYN-SENT, after which the kernel drops
 * further SYNs, so a connect hangs (what a firewall's DROP looks like from outside).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

export interface HangingListener {
  port: number;
  close(): void;
}

/** Start one; `python` is the interpreter path (from requirePythonModule/requirePeer). */
export async function hangingListener(python: string): Promise<HangingListener> {
  const py: ChildProcess = spawn(
    python,
    [
      '-c',
      "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const [line] = (await once(py.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  const port = Number(String(line).trim());
  const sockets: net.Socket[] = [];
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => {});
  sockets.push(filler);
  await once(filler, 'connect'); // completes into the accept queue, which is now full
  const second = net.connect(port, '127.0.0.1'); // its SYNs are dropped from now on
  second.on('error', () => {});
  sockets.push(second);
  return {
    port,
    close() {
      for (const s of sockets) s.destroy();
      py.kill();
    },
  };
}
