/*
 * ntpflood: SNTP client requests from many loopback source addresses, for bench/ntp-flood.bench.ts.
 *
 *   ntpflood HOST PORT FIRST COUNT RATE [WAIT_MS]
 *
 * Sends COUNT 48-byte mode-3 requests to HOST:PORT at RATE per second, request k (FIRST <= k < FIRST+COUNT)
 * from its own source address 127.c.b.a (a = 1..250, never .0 or .255) chosen per packet with IP_PKTINFO on
 * one socket bound to 0.0.0.0, so the whole of 127/8 (local on Linux) can be used without binding an address
 * per source. Replies to any of those addresses reach the same socket. Every request carries its index in its
 * transmit timestamp; a reply counts when its origin timestamp matches: mode 4 with a non-zero stratum is an
 * answer, stratum 0 a kiss-o'-death. After the last send it waits WAIT_MS (default 1000) for stragglers and
 * prints one line of key=value pairs. Loopback only: HOST must be in 127.0.0.0/8.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t source_of(uint32_t k) {
  uint32_t a = k % 250 + 1, b = (k / 250) % 256, c = 1 + k / (250 * 256);
  return (127u << 24) | (c << 16) | (b << 8) | a;
}

static int cmp_u32(const void *x, const void *y) {
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: ntpflood HOST PORT FIRST COUNT RATE [WAIT_MS]\n");
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || (ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
    fprintf(stderr, "ntpflood: HOST must be an IPv4 loopback address\n");
    return 2;
  }
  uint32_t first = strtoul(argv[3], 0, 10), count = strtoul(argv[4], 0, 10);
  double rate = atof(argv[5]);
  int wait_ms = argc > 6 ? atoi(argv[6]) : 1000;
  if (count == 0 || rate <= 0 || first + count > 250u * 256 * 254) {
    fprintf(stderr, "ntpflood: bad COUNT, RATE or FIRST\n");
    return 2;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int big = 16 << 20;
  if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct sockaddr_in any = {.sin_family = AF_INET};
  if (bind(s, (struct sockaddr *)&any, sizeof any) < 0) {
    perror("bind");
    return 1;
  }
  uint8_t *state = calloc(count, 1);        /* 0 none, 1 answered, 2 kod */
  double *sent_at = calloc(count, sizeof(double));
  uint32_t *lat_us = calloc(count, sizeof(uint32_t));
  uint32_t nlat = 0, answered = 0, kod = 0, dup = 0, bad = 0, send_errors = 0;
  uint32_t magic = (uint32_t)getpid() * 2654435761u;
  uint8_t pkt[48];
  char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
  struct iovec iov = {.iov_base = pkt, .iov_len = sizeof pkt};
  struct msghdr mh = {.msg_name = &dst, .msg_namelen = sizeof dst, .msg_iov = &iov, .msg_iovlen = 1,
                      .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = IPPROTO_IP;
  cm->cmsg_type = IP_PKTINFO;
  cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
  struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(cm);

  double start = now_s(), end_send = 0;
  uint32_t next = 0;
  uint8_t rbuf[512];
  for (;;) {
    double t = now_s();
    if (next < count) {
      uint32_t due = (uint32_t)((t - start) * rate) + 1;
      if (due > count) due = count;
      while (next < due) {
        uint32_t k = first + next;
        memset(pkt, 0, sizeof pkt);
        pkt[0] = 0x23; /* LI 0, version 4, mode 3 */
        uint32_t hi = htonl(next), lo = htonl(magic);
        memcpy(pkt + 40, &hi, 4);
        memcpy(pkt + 44, &lo, 4);
        memset(pi, 0, sizeof *pi);
        pi->ipi_spec_dst.s_addr = htonl(source_of(k));
        sent_at[next] = now_s();
        if (sendmsg(s, &mh, 0) < 0) {
          if (errno == EAGAIN || errno == ENOBUFS) {
            struct pollfd pw = {.fd = s, .events = POLLOUT};
            poll(&pw, 1, 1);
            continue; /* retry the same request */
          }
          send_errors++;
        }
        next++;
      }
      if (next == count) end_send = now_s();
    } else if (t - end_send > wait_ms / 1000.0 || answered + kod == count) break;
    struct pollfd pr = {.fd = s, .events = POLLIN};
    poll(&pr, 1, 1);
    for (;;) {
      ssize_t n = recv(s, rbuf, sizeof rbuf, 0);
      if (n < 0) break;
      double tr = now_s();
      uint32_t hi, lo;
      if (n < 48) { bad++; continue; }
      memcpy(&hi, rbuf + 24, 4);
      memcpy(&lo, rbuf + 28, 4);
      uint32_t idx = ntohl(hi);
      if (ntohl(lo) != magic || idx >= count || (rbuf[0] & 7) != 4) { bad++; continue; }
      if (state[idx]) { dup++; continue; }
      if (rbuf[1] == 0) { state[idx] = 2; kod++; }
      else { state[idx] = 1; answered++; }
      lat_us[nlat++] = (uint32_t)((tr - sent_at[idx]) * 1e6);
    }
  }
  double send_s = end_send - start;
  qsort(lat_us, nlat, sizeof *lat_us, cmp_u32);
  printf("sent=%u answered=%u kod=%u lost=%u dup=%u bad=%u send_errors=%u send_s=%.3f rate=%.0f p50_us=%u p99_us=%u max_us=%u\n",
         count, answered, kod, count - answered - kod, dup, bad, send_errors, send_s,
         send_s > 0 ? count / send_s : 0, nlat ? lat_us[nlat / 2] : 0,
         nlat ? lat_us[(uint32_t)(nlat * 0.99)] : 0, nlat ? lat_us[nlat - 1] : 0);
  return 0;
}
