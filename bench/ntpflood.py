#!/usr/bin/env python3
"""ntpflood fallback (same arguments and output as bench/ntpflood.c) for machines without a C compiler.

  ntpflood.py HOST PORT FIRST COUNT RATE [WAIT_MS]

Every request comes from its own 127.c.b.a source address, chosen per packet with IP_PKTINFO on one socket
bound to 0.0.0.0. Loopback only.
"""
import select
import socket
import struct
import sys
import time

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def source_of(k):
    a, b, c = k % 250 + 1, (k // 250) % 256, 1 + k // (250 * 256)
    return bytes([127, c, b, a])


def main():
    if len(sys.argv) < 6:
        print("usage: ntpflood.py HOST PORT FIRST COUNT RATE [WAIT_MS]", file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    if not host.startswith("127."):
        print("ntpflood: HOST must be an IPv4 loopback address", file=sys.stderr)
        return 2
    first, count, rate = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    wait = (int(sys.argv[6]) if len(sys.argv) > 6 else 1000) / 1000
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind(("0.0.0.0", 0))
    s.setblocking(False)
    magic = (hash(time.time()) & 0xFFFFFFFF) or 1
    state = bytearray(count)
    sent_at = [0.0] * count
    lat = []
    answered = kod = dup = bad = send_errors = 0
    start = time.monotonic()
    end_send = 0.0
    nxt = 0
    while True:
        t = time.monotonic()
        if nxt < count:
            due = min(count, int((t - start) * rate) + 1)
            while nxt < due:
                pkt = b"\x23" + bytes(39) + struct.pack("!II", nxt, magic)
                info = struct.pack("=i4s4s", 0, source_of(first + nxt), bytes(4))
                sent_at[nxt] = time.monotonic()
                try:
                    s.sendmsg([pkt], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, (host, port))
                except (BlockingIOError, InterruptedError):
                    select.select([], [s], [], 0.001)
                    continue
                except OSError:
                    send_errors += 1
                nxt += 1
            if nxt == count:
                end_send = time.monotonic()
        elif t - end_send > wait or answered + kod == count:
            break
        select.select([s], [], [], 0.001)
        while True:
            try:
                r = s.recv(512)
            except (BlockingIOError, InterruptedError):
                break
            tr = time.monotonic()
            if len(r) < 48:
                bad += 1
                continue
            idx, lo = struct.unpack("!II", r[24:32])
            if lo != magic or idx >= count or r[0] & 7 != 4:
                bad += 1
                continue
            if state[idx]:
                dup += 1
                continue
            if r[1] == 0:
                state[idx] = 2
                kod += 1
            else:
                state[idx] = 1
                answered += 1
            lat.append(int((tr - sent_at[idx]) * 1e6))
    send_s = end_send - start
    lat.sort()
    n = len(lat)
    print(
        f"sent={count} answered={answered} kod={kod} lost={count - answered - kod} dup={dup} bad={bad} "
        f"send_errors={send_errors} send_s={send_s:.3f} rate={count / send_s if send_s > 0 else 0:.0f} "
        f"p50_us={lat[n // 2] if n else 0} p99_us={lat[int(n * 0.99)] if n else 0} max_us={lat[-1] if n else 0}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
