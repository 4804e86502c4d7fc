/**
 * A small, deliberately misbehaving NTP responder for client tests: each test decides what (if anything) to
 * send back for each request, from which socket. Loopback only.
 */
import dgram from 'node:dgram';
import { decodeNtpPacket, encodeNtpPacket, type NtpPacket } from '../../src/codec/ntp.js';
import { unixMsToNtp } from '../../src/codec/ntp-timestamp.js';

export interface Request {
  bytes: Buffer;
  packet: NtpPacket;
  from: dgram.RemoteInfo;
}

export interface Responder {
  port: number;
  socket: dgram.Socket;
  requests: Request[];
  /** Send bytes to the client of `req`, from the responder's socket or another one. */
  send(req: Request, bytes: Uint8Array, from?: dgram.Socket): void;
  close(): Promise<void>;
}

export type Handler = (req: Request, r: Responder) => void;

/** Start a responder on 127.0.0.1 (or `host`), port 0. */
export async function startResponder(handler: Handler, host = '127.0.0.1'): Promise<Responder> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const r: Responder = {
    port: socket.address().port,
    socket,
    requests: [],
    send(req, bytes, from = socket) {
      from.send(bytes, req.from.port, req.from.address);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (bytes, from) => {
    const req = { bytes, packet: decodeNtpPacket(bytes), from };
    r.requests.push(req);
    handler(req, r);
  });
  return r;
}

/** Another UDP socket to send from (a different port, or a different loopback address). */
export async function otherSocket(host = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, host, resolve));
  return s;
}

/**
 * A well-formed reply to `req` from a server whose clock is `aheadMs` ahead of ours, with `override` applied
 * last (to break one thing at a time).
 */
export function replyTo(req: Request, override: Partial<NtpPacket> = {}, aheadMs = 0): Uint8Array {
  const now = performance.timeOrigin + performance.now() + aheadMs;
  return encodeNtpPacket({
    leap: 0,
    version: req.packet.version,
    mode: 4,
    stratum: 2,
    poll: req.packet.poll,
    precision: -20,
    rootDelay: 0.001,
    rootDispersion: 0.002,
    referenceId: 0xc0000201,
    referenceTimestamp: unixMsToNtp(now - 1000),
    originTimestamp: req.packet.transmitTimestamp,
    receiveTimestamp: unixMsToNtp(now),
    transmitTimestamp: unixMsToNtp(now),
    ...override,
  });
}
