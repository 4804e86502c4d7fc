/**
 * Independent views of a socket, for checking what soket reads and sets against the kernel by another route:
 * - {@link pythonSockopt}: the system Python opens the same file descriptor (handed over as the child's fd 3)
 *   and reads the options with its own `socket.getsockopt`; it can also set some first.
 * - {@link ssSockets}: iproute2's `ss -tnmi` (sock_diag netlink): buffer sizes (skmem rb/tb), window scale and
 *   the peer's advertised window, per connection.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

/** Path of the system Python (Debian's, as PEERS.md asks). */
export const PYTHON = '/usr/bin/python3';

const PY_READ = `
import json, socket, sys
s = socket.socket(fileno=3)
S = socket
todo = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
v6 = s.family == S.AF_INET6
if 'ttl' in todo:
    s.setsockopt(S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS, todo['ttl']) if v6 else s.setsockopt(S.IPPROTO_IP, S.IP_TTL, todo['ttl'])
if 'sendBufferSize' in todo: s.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, todo['sendBufferSize'])
if 'receiveBufferSize' in todo: s.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, todo['receiveBufferSize'])
if 'noDelay' in todo: s.setsockopt(S.IPPROTO_TCP, S.TCP_NODELAY, int(todo['noDelay']))
tcp = s.type == S.SOCK_STREAM
g = s.getsockopt
out = {
  'type': 'tcp' if tcp else 'udp',
  'family': 6 if v6 else 4,
  'sendBufferSize': g(S.SOL_SOCKET, S.SO_SNDBUF),
  'receiveBufferSize': g(S.SOL_SOCKET, S.SO_RCVBUF),
  'noDelay': bool(g(S.IPPROTO_TCP, S.TCP_NODELAY)) if tcp else None,
  'keepAlive': bool(g(S.SOL_SOCKET, S.SO_KEEPALIVE)),
  'keepAliveIdle': g(S.IPPROTO_TCP, S.TCP_KEEPIDLE) if tcp else None,
  'keepAliveInterval': g(S.IPPROTO_TCP, S.TCP_KEEPINTVL) if tcp else None,
  'keepAliveCount': g(S.IPPROTO_TCP, S.TCP_KEEPCNT) if tcp else None,
  'reuseAddress': bool(g(S.SOL_SOCKET, S.SO_REUSEADDR)),
  'reusePort': bool(g(S.SOL_SOCKET, S.SO_REUSEPORT)),
  'ttl': g(S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS) if v6 else g(S.IPPROTO_IP, S.IP_TTL),
}
s.detach()
print(json.dumps(out))
`;

/** What Python reads on the fd; the same field names as soket's report. */
export interface PythonView {
  type: 'tcp' | 'udp';
  family: 4 | 6;
  sendBufferSize: number;
  receiveBufferSize: number;
  noDelay: boolean | null;
  keepAlive: boolean;
  keepAliveIdle: number | null;
  keepAliveInterval: number | null;
  keepAliveCount: number | null;
  reuseAddress: boolean;
  reusePort: boolean;
  ttl: number;
}

/**
 * Hand `fd` to a Python child (as its fd 3), optionally set `set` there first, and return what its
 * `getsockopt` reads.
 */
export function pythonSockopt(fd: number, set: Record<string, number | boolean> = {}): Promise<PythonView> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', PY_READ, JSON.stringify(set)], {
      stdio: ['ignore', 'pipe', 'pipe', fd],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`python exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as PythonView);
    });
  });
}

/** One TCP connection as `ss -tnmi` shows it. */
export interface SsSocket {
  local: string;
  localPort: number;
  peer: string;
  peerPort: number;
  /** skmem rb: sk_rcvbuf. */
  rb: number;
  /** skmem tb: sk_sndbuf. */
  tb: number;
  /** wscale:<snd>,<rcv>: the peer's window scale (from its SYN) and ours. */
  wscale: [number, number] | null;
  /** snd_wnd: the window the peer last advertised to us. */
  sndWnd: number | null;
  /** rcv_space: our current receive space estimate. */
  rcvSpace: number | null;
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), Number(s.slice(i + 1))];
}

/** Established TCP connections with `port` at either end, from `ss -tnmiH`. */
export async function ssSockets(port: number): Promise<SsSocket[]> {
  const { stdout } = await promisify(execFile)('ss', [
    '-tnmiH',
    'state',
    'established',
    `( sport = :${port} or dport = :${port} )`,
  ]);
  const result: SsSocket[] = [];
  let current: string[] = [];
  const flush = () => {
    if (current.length === 0) return;
    const text = current.join(' ');
    const cols = (current[0] ?? '').trim().split(/\s+/);
    // Recv-Q Send-Q Local Peer (with -H and a state filter, no State column)
    const [local, localPort] = splitHostPort(cols[2] ?? '');
    const [peer, peerPort] = splitHostPort(cols[3] ?? '');
    const skmem = /skmem:\(([^)]*)\)/.exec(text)?.[1] ?? '';
    const field = (name: string) => Number(new RegExp(`(?:^|,)${name}(\\d+)`).exec(skmem)?.[1] ?? Number.NaN);
    const ws = /wscale:(\d+),(\d+)/.exec(text);
    const num = (re: RegExp) => {
      const m = re.exec(text);
      return m ? Number(m[1]) : null;
    };
    result.push({
      local,
      localPort,
      peer,
      peerPort,
      rb: field('rb'),
      tb: field('tb'),
      wscale: ws ? [Number(ws[1]), Number(ws[2])] : null,
      sndWnd: num(/\bsnd_wnd:(\d+)/),
      rcvSpace: num(/\brcv_space:(\d+)/),
    });
    current = [];
  };
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (/^\s/.test(line)) current.push(line);
    else {
      flush();
      current.push(line);
    }
  }
  flush();
  return result;
}
