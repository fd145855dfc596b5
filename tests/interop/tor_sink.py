#!/usr/bin/env python3
"""A stand-in for tor's ORPort that an attacker would love: in "hold" mode it accepts connections
and never reads or closes them (with a small receive buffer, so what the server writes stays in
the server); in "echo" mode it echoes, for an innocent client's verified session. The mode is read
from --mode-file at each accept, so a test can switch between attack and check.

Prints {"event":"listening","addr":...} once, then keeps --status up to date with
{"accepted": N, "held": N}. Runs at most --lifetime seconds."""
import argparse
import json
import os
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--status", required=True)
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    end = time.time() + args.lifetime

    lst = socket.socket()
    # Inherited by accepted sockets: a small window and a small MSS (loopback's 64 KiB MSS would
    # let the server's send buffer grow to about a megabyte per connection) keep what the server
    # writes in the server, where the attack puts it.
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lst.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
    lst.bind(("127.0.0.1", 0))
    lst.listen(4096)
    lst.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lst, selectors.EVENT_READ, "accept")
    print(json.dumps({"event": "listening", "addr": "127.0.0.1:%d" % lst.getsockname()[1]}),
          flush=True)
    held = []
    accepted = 0
    reported = None
    while time.time() < end:
        for key, _ in sel.select(timeout=0.2):
            if key.data == "accept":
                while True:
                    try:
                        c, _ = lst.accept()
                    except (BlockingIOError, OSError):
                        break
                    accepted += 1
                    try:
                        mode = open(args.mode_file).read().strip()
                    except OSError:
                        mode = "hold"
                    if mode == "echo":
                        c.settimeout(10)
                        sel.register(c, selectors.EVENT_READ, "echo")
                    else:
                        held.append(c)
            else:
                c = key.fileobj
                try:
                    b = c.recv(65536)
                    if b:
                        c.sendall(b)
                        continue
                except OSError:
                    pass
                sel.unregister(c)
                c.close()
        status = (accepted, len(held))
        if status != reported:
            tmp = args.status + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"accepted": accepted, "held": len(held)}, f)
            os.replace(tmp, args.status)
            reported = status
    return 0


if __name__ == "__main__":
    sys.exit(main())
