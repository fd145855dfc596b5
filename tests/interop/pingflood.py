#!/usr/bin/env python3
"""WebSocket Pings from clients that never read (the Pongs pile up unless the server stops
reading them). Opens N WebSockets with a tiny receive buffer, half of them past the turbotunnel
preamble (so handed to a shard), floods Pings for --seconds without reading, samples the server's
RSS, then keeps the sockets open for --hold seconds and prints one JSON line."""
import argparse
import json
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flood import TOKEN, ws_connect, ws_frame  # noqa: E402


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--hold", type=float, default=0)
    ap.add_argument("--ready-file", default=None)
    args = ap.parse_args()
    socks = []
    for i in range(args.conns):
        s = ws_connect(args.addr, 10, rcvbuf=4096)
        if i % 2:
            s.sendall(ws_frame(TOKEN + os.urandom(8)))
        s.setblocking(False)
        socks.append(s)
    rss0 = rss_kb(args.pid)
    pings = b"".join(ws_frame(b"p" * 125, opcode=9) for _ in range(500))  # 65 500 bytes
    sent = {s: 0 for s in socks}
    offset = {s: 0 for s in socks}
    closed = set()
    end = time.time() + args.seconds
    while time.time() < end:
        live = [s for s in socks if s not in closed]
        if not live:
            break
        _, w, _ = select.select([], live, [], 0.2)
        for s in w:
            try:
                n = s.send(pings[offset[s]:])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                closed.add(s)
                continue
            sent[s] += n
            offset[s] = (offset[s] + n) % len(pings)
    time.sleep(1)
    rss1 = rss_kb(args.pid)
    if args.ready_file:
        open(args.ready_file, "w").close()
    time.sleep(args.hold)
    for s in socks:
        s.close()
    print(json.dumps({"conns": len(socks), "pinged_mb": round(sum(sent.values()) / 1e6, 1),
                      "min_pinged_kb": min(sent.values()) // 1000, "closed_by_server": len(closed),
                      "rss_growth_kb": rss1 - rss0}))


if __name__ == "__main__":
    main()
