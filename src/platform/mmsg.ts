/**
 * Batched datagram I/O on one UDP socket: recvmmsg(2) and sendmmsg(2) over one fixed block of native memory
 * (koffi.alloc), laid out once and reused for every batch. Nothing is marshalled per call: the struct fields
 * are written and read through typed arrays over that block, and the calls take its address.
 *
 * Layout (64-bit Linux: `struct mmsghdr` 64 bytes = `struct msghdr` 56 + `msg_len` 4 + padding;
 * `struct iovec` 16; `struct cmsghdr` 16 + data, 8-aligned), B = batch size, S = slot size:
 *
 * ```
 * rx mmsghdr[B] | tx mmsghdr[B] | rx iovec[B] | tx iovec[B] | sockaddr[B] (32 each) | control[B] (128 each)
 * | rx data[B] (S each) | tx data[B] (S each) | tx-stamp request cmsg (24) | error-queue msghdr (64) + control (128)
 * ```
 *
 * Receive timestamps come as SCM_TIMESTAMPING (`ts[0]`, software) or SCM_TIMESTAMPNS control messages. A reply
 * can carry a per-message SO_TIMESTAMPING request for a software transmit timestamp ({@link BatchIo.requestTxStamp});
 * the kernel queues it on the socket's error queue, read by {@link BatchIo.readTxStamp}.
 *
 * A reply that is a view of the receive slot (echo, SNTP's in-place reply) is sent from there without a copy;
 * any other reply is copied into the transmit slot. Replies go to the address in the receive slot's sockaddr.
 *
 * @module
 */
import { UnsupportedError } from '../core/errors.js';
import { isLinux64, linuxConstants } from './constants.js';
import { libc } from './ffi.js';
import type { PacketTime } from './realtime.js';

const MMSG = 64;
const IOV = 16;
const NAME = 32;
const CTRL = 128;
const TXREQ = 24;
const ERRHDR = 64;
const ERRCTRL = 128;
const SOL_SOCKET = 1;

type RawCall = (...args: number[]) => number;

/** Options of {@link BatchIo}. */
export interface BatchIoOptions {
  /** Datagrams per call, 1 to 64. */
  batch: number;
  /** Bytes per datagram slot; a longer datagram is truncated (and reported by {@link BatchIo.truncated}). */
  slotSize: number;
}

/**
 * recvmmsg/sendmmsg over one socket and one native buffer. One per thread.
 *
 * @example
 * ```ts
 * const io = new BatchIo(fd, { batch: 64, slotSize: 2048 });
 * const n = io.receive(true);
 * for (let i = 0; i < n; i++) io.reply(i, io.request(i)); // echo
 * io.flush();
 * ```
 */
export class BatchIo {
  readonly batch: number;
  readonly slotSize: number;
  /** The native block as bytes (requests are views of it). */
  readonly bytes: Uint8Array;
  readonly #u32: Uint32Array;
  readonly #base: number;
  readonly #buffer: ArrayBuffer;
  readonly #fd: number;
  readonly #recvmmsg: RawCall;
  readonly #sendmmsg: RawCall;
  readonly #errno: () => number;
  readonly #waitForOne: number;
  readonly #dontWait: number;
  readonly #truncFlag: number;
  readonly #stampType: number;
  readonly #ovflType: number;
  readonly #rxHdr: number;
  readonly #txHdr: number;
  readonly #rxIov: number;
  readonly #txIov: number;
  readonly #names: number;
  readonly #ctrl: number;
  readonly #rxData: number;
  readonly #txData: number;
  readonly #txReq: number;
  readonly #errHdr: number;
  readonly #recvmsg: (fd: number, msg: number, flags: number) => number;
  readonly #errQueue: number;
  readonly #timestampingType: number;
  #requested = -1;
  #pending = 0;
  #pendingBytes = 0;
  #received = 0;
  #memory: unknown;

  /**
   * @param fd - a bound UDP socket
   * @param options - batch and slot size
   * @throws {UnsupportedError} off 64-bit Linux, or without FFI
   */
  constructor(fd: number, options: BatchIoOptions) {
    const lc = linuxConstants();
    if (!isLinux64() || !lc) {
      throw new UnsupportedError(
        `Batched UDP needs 64-bit Linux (recvmmsg/sendmmsg), not ${process.platform}/${process.arch}`,
      );
    }
    const { koffi, lib } = libc();
    this.#fd = fd;
    this.batch = options.batch;
    this.slotSize = options.slotSize;
    const B = this.batch;
    const S = this.slotSize;
    this.#rxHdr = 0;
    this.#txHdr = B * MMSG;
    this.#rxIov = 2 * B * MMSG;
    this.#txIov = this.#rxIov + B * IOV;
    this.#names = this.#txIov + B * IOV;
    this.#ctrl = this.#names + B * NAME;
    this.#rxData = this.#ctrl + B * CTRL;
    this.#txData = this.#rxData + B * S;
    this.#txReq = this.#txData + B * S;
    this.#errHdr = this.#txReq + TXREQ;
    const size = this.#errHdr + ERRHDR + ERRCTRL;
    this.#memory = koffi.alloc('uint8_t', size);
    this.#base = Number(koffi.address(this.#memory));
    this.#buffer = koffi.view(this.#memory, size);
    this.bytes = new Uint8Array(this.#buffer);
    this.#u32 = new Uint32Array(this.#buffer);
    this.#recvmmsg = lib.func('recvmmsg', 'int', [
      'int',
      'uintptr_t',
      'uint',
      'int',
      'uintptr_t',
    ]) as unknown as RawCall;
    this.#sendmmsg = lib.func('sendmmsg', 'int', ['int', 'uintptr_t', 'uint', 'int']) as unknown as RawCall;
    this.#recvmsg = lib.func('recvmsg', 'long', ['int', 'uintptr_t', 'int']) as unknown as (
      fd: number,
      msg: number,
      flags: number,
    ) => number;
    this.#errQueue = lc.MSG_ERRQUEUE;
    this.#timestampingType = lc.SO_TIMESTAMPING;
    this.#errno = () => koffi.errno();
    this.#waitForOne = lc.MSG_WAITFORONE;
    this.#dontWait = 0x40;
    this.#truncFlag = 0x20;
    this.#stampType = lc.SO_TIMESTAMPNS;
    this.#ovflType = lc.SO_RXQ_OVFL;
    for (let i = 0; i < B; i++) {
      const rx = this.#rxHdr + i * MMSG;
      this.#ptr(rx, this.#base + this.#names + i * NAME);
      this.#ptr(rx + 16, this.#base + this.#rxIov + i * IOV);
      this.#ptr(rx + 24, 1);
      this.#ptr(rx + 32, this.#base + this.#ctrl + i * CTRL);
      this.#ptr(this.#rxIov + i * IOV, this.#base + this.#rxData + i * S);
      this.#ptr(this.#rxIov + i * IOV + 8, S);
      const tx = this.#txHdr + i * MMSG;
      this.#ptr(tx + 16, this.#base + this.#txIov + i * IOV);
      this.#ptr(tx + 24, 1);
      this.#ptr(tx + 32, 0);
      this.#ptr(tx + 40, 0);
    }
    this.#resetRx(B);
    // The transmit-stamp request: cmsg { len 20, SOL_SOCKET, SO_TIMESTAMPING, u32 SOF_TIMESTAMPING_TX_SOFTWARE }
    this.#ptr(this.#txReq, 20);
    this.#u32[(this.#txReq + 8) >>> 2] = SOL_SOCKET;
    this.#u32[(this.#txReq + 12) >>> 2] = lc.SO_TIMESTAMPING;
    this.#u32[(this.#txReq + 16) >>> 2] = lc.SOF_TIMESTAMPING_TX_SOFTWARE;
  }

  /** Write a 64-bit pointer or size (< 2^53) at a byte offset. */
  #ptr(offset: number, value: number): void {
    this.#u32[offset >>> 2] = value % 4294967296;
    this.#u32[(offset >>> 2) + 1] = Math.floor(value / 4294967296);
  }

  #resetRx(n: number): void {
    const u32 = this.#u32;
    for (let i = 0; i < n; i++) {
      const w = (this.#rxHdr + i * MMSG) >>> 2;
      u32[w + 2] = NAME; // msg_namelen
      u32[w + 10] = CTRL; // msg_controllen (low word; the high word stays 0)
      u32[w + 12] = 0; // msg_flags
    }
  }

  /**
   * Receive a batch: block until at least one datagram is there (or the socket's receive timeout passes),
   * then take what is queued, up to the batch size.
   *
   * @param block - wait for the first datagram (else return at once)
   * @returns the number received, or minus the errno (`-EAGAIN` on a timeout)
   */
  receive(block: boolean): number {
    this.#resetRx(this.#received);
    const n = this.#recvmmsg(
      this.#fd,
      this.#base + this.#rxHdr,
      this.batch,
      block ? this.#waitForOne : this.#dontWait,
      0,
    );
    if (n < 0) {
      this.#received = 0;
      return -this.#errno();
    }
    this.#received = n;
    return n;
  }

  /** Bytes received in datagram `i`. */
  length(i: number): number {
    return this.#u32[(this.#rxHdr + i * MMSG + 56) >>> 2] as number;
  }

  /** Whether datagram `i` was longer than the slot (only its first `slotSize` bytes are there). */
  truncated(i: number): boolean {
    return ((this.#u32[(this.#rxHdr + i * MMSG + 48) >>> 2] as number) & this.#truncFlag) !== 0;
  }

  /** Length of the sender's sockaddr of datagram `i` (0 for a wake-up after shutdown). */
  nameLength(i: number): number {
    return this.#u32[(this.#rxHdr + i * MMSG + 8) >>> 2] as number;
  }

  /** Byte offset of datagram `i`'s sockaddr in {@link bytes}. */
  nameOffset(i: number): number {
    return this.#names + i * NAME;
  }

  /** Byte offset of datagram `i`'s payload in {@link bytes}. */
  dataOffset(i: number): number {
    return this.#rxData + i * this.slotSize;
  }

  /** The payload of datagram `i`, as a view of the native buffer (valid until the next receive). */
  request(i: number): Uint8Array {
    return new Uint8Array(this.#buffer, this.#rxData + i * this.slotSize, this.length(i));
  }

  /**
   * Read datagram `i`'s control messages: the kernel receive timestamp (SCM_TIMESTAMPNS) into `time`, and
   * the receive queue's drop counter (SO_RXQ_OVFL).
   *
   * @returns whether a kernel timestamp was found; the drop counter via `drops.value` (-1 when absent)
   */
  control(i: number, time: PacketTime, drops: { value: number }): boolean {
    const u32 = this.#u32;
    const w0 = (this.#rxHdr + i * MMSG + 40) >>> 2;
    const len = u32[w0] as number;
    const start = this.#ctrl + i * CTRL;
    let off = 0;
    let found = false;
    drops.value = -1;
    while (off + 16 <= len) {
      const w = (start + off) >>> 2;
      const cmsgLen = u32[w] as number;
      if (cmsgLen < 16) break;
      if (u32[w + 2] === SOL_SOCKET) {
        const type = u32[w + 3];
        if (
          (type === this.#stampType && cmsgLen >= 32) ||
          (type === this.#timestampingType && cmsgLen >= 64)
        ) {
          // SCM_TIMESTAMPNS: a timespec; SCM_TIMESTAMPING: timespec[3], [0] the software stamp
          time.sec = (u32[w + 4] as number) + (u32[w + 5] as number) * 4294967296;
          time.nsec = u32[w + 6] as number;
          found = true;
        } else if (type === this.#ovflType && cmsgLen >= 20) {
          drops.value = u32[w + 4] as number;
        }
      }
      off += (cmsgLen + 7) & ~7;
    }
    return found;
  }

  /**
   * Queue a reply to datagram `i`'s sender. A view of the native buffer is sent in place; other bytes are
   * copied into the transmit slot.
   *
   * @returns the byte offset of the reply in {@link bytes} (for late stamping), or -1 when it is larger than
   *   a slot (not queued)
   */
  reply(i: number, data: Uint8Array): number {
    const k = this.#pending;
    let offset: number;
    if (data.buffer === this.#buffer) {
      offset = data.byteOffset;
    } else {
      if (data.byteLength > this.slotSize) return -1;
      offset = this.#txData + k * this.slotSize;
      this.bytes.set(data, offset);
    }
    const tx = this.#txHdr + k * MMSG;
    this.#ptr(tx, this.#base + this.#names + i * NAME);
    this.#u32[(tx + 8) >>> 2] = this.nameLength(i);
    const iov = this.#txIov + k * IOV;
    this.#ptr(iov, this.#base + offset);
    this.#ptr(iov + 8, data.byteLength);
    this.#pending = k + 1;
    this.#pendingBytes += data.byteLength;
    return offset;
  }

  /**
   * Ask the kernel for a software transmit timestamp of queued reply `k` (its index among the replies of this
   * batch, 0-based); read it after {@link flush} with {@link readTxStamp}. One per batch.
   */
  requestTxStamp(k: number): void {
    if (k < 0 || k >= this.#pending) return;
    const tx = this.#txHdr + k * MMSG;
    this.#ptr(tx + 32, this.#base + this.#txReq);
    this.#ptr(tx + 40, TXREQ);
    this.#requested = k;
  }

  /**
   * Read the socket's error queue (without waiting) for the transmit timestamp asked for; drains the queue.
   *
   * @returns whether one was there; the time in `out`
   */
  readTxStamp(out: PacketTime): boolean {
    const u32 = this.#u32;
    const h = this.#errHdr;
    let found = false;
    for (let i = 0; i < 8; i++) {
      u32.fill(0, h >>> 2, (h + ERRHDR) >>> 2);
      this.#ptr(h + 32, this.#base + h + ERRHDR);
      this.#ptr(h + 40, ERRCTRL);
      if (this.#recvmsg(this.#fd, this.#base + h, this.#errQueue | this.#dontWait) < 0) break;
      const len = u32[(h + 40) >>> 2] as number;
      for (let off = 0; off + 16 <= len; ) {
        const w = (h + ERRHDR + off) >>> 2;
        const cmsgLen = u32[w] as number;
        if (cmsgLen < 16) break;
        if (u32[w + 2] === SOL_SOCKET && u32[w + 3] === this.#timestampingType && cmsgLen >= 64) {
          const sec = (u32[w + 4] as number) + (u32[w + 5] as number) * 4294967296;
          const nsec = u32[w + 6] as number;
          if (sec !== 0 || nsec !== 0) {
            out.sec = sec;
            out.nsec = nsec;
            found = true;
          }
        }
        off += (cmsgLen + 7) & ~7;
      }
    }
    return found;
  }

  /** Replies queued and not yet sent. */
  get pending(): number {
    return this.#pending;
  }

  /** Payload bytes of the replies queued. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Send the queued replies with sendmmsg (again after a partial send; a reply the kernel refuses is skipped
   * and counted).
   *
   * @returns how many were sent and how many failed
   */
  flush(): { sent: number; failed: number; bytes: number } {
    const m = this.#pending;
    this.#pending = 0;
    this.#pendingBytes = 0;
    let off = 0;
    let failed = 0;
    let bytes = 0;
    while (off < m) {
      const r = this.#sendmmsg(this.#fd, this.#base + this.#txHdr + off * MMSG, m - off, 0);
      if (r < 0) {
        const errno = this.#errno();
        if (errno === 4) continue; // EINTR
        failed++;
        off++;
        continue;
      }
      for (let k = off; k < off + r; k++) bytes += this.#u32[(this.#txHdr + k * MMSG + 56) >>> 2] as number;
      off += r;
    }
    if (this.#requested >= 0) {
      this.#ptr(this.#txHdr + this.#requested * MMSG + 40, 0); // no control message on the next batch
      this.#requested = -1;
    }
    return { sent: m - failed, failed, bytes };
  }

  /** Release the native buffer. */
  free(): void {
    if (this.#memory === undefined) return;
    libc().koffi.free(this.#memory);
    this.#memory = undefined;
  }
}
