#!/usr/bin/env python3
"""Slow-loris against the WebSocket listener, for the soak (bench/soak.sh): --conns connections
that each send a request line and then drip header bytes, one every --drip seconds, never ending
the header; a connection the server closes is opened again, until --seconds are over. The server
must close them (its header deadline) and keep nothing of them afterwards. Prints one JSON line:
connections opened, closed by the server, still open at the end."""
import argparse
import json
import socket
import sys
import time

HEADER = b"X-Slow: " + b"a" * 4096


def open_conn(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.setblocking(False)
    s.send(b"GET / HTTP/1.1\r\nHost: soak\r\n")
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--drip", type=float, default=0.5)
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    port = int(port)
    end = time.time() + args.seconds
    opened = closed = 0
    conns = {}  # socket -> bytes of HEADER sent
    while time.time() < end:
        while len(conns) < args.conns and time.time() < end:
            try:
                conns[open_conn(host, port)] = 0
                opened += 1
            except OSError:
                break
        for s in list(conns):
            try:
                s.send(HEADER[conns[s]:conns[s] + 1])
                conns[s] = (conns[s] + 1) % len(HEADER)
                # a closed connection shows as EOF (or a reset) on read
                if s.recv(4096) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                del conns[s]
                closed += 1
        time.sleep(args.drip)
    for s in conns:
        s.close()
    print(json.dumps({"opened": opened, "closed_by_server": closed, "open_at_end": len(conns)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
