#!/usr/bin/env python3
"""A tor Extended ORPort that misbehaves on demand, for the fault tests (test_fault_*.sh).
Written from torspec's ext-orport-spec.txt: SAFE_COOKIE only, then USERADDR/TRANSPORT/DONE,
OKAY, then the relay bytes.

    fault_extor.py --listen ADDR --cookie FILE --mode-file FILE --status FILE [--lifetime S]
                   [--small-rcvbuf]   (4 KiB receive buffers: for "slow")

The cookie file is read (it must exist: tor writes it before starting the transport), so a
restarted fault_extor on the same address takes the same cookie, and the server under test
never had to re-read it. The mode is read from --mode-file at each accept (a test switches the
behaviour between sessions), one of:

    echo              handshake, then echo every byte (an innocent tor)
    silent            accept, read and drop everything, never answer the handshake
    slow RATE         handshake, then read RATE bytes/s and drop them (a tiny receive buffer, so
                      the rest waits on the server's side); nothing is sent back
    close-first N     handshake and echo; the first connection accepted in this mode closes
                      (FIN) once it has echoed N bytes; later ones echo

Prints {"event":"listening","addr":...} on stdout, then keeps --status up to date with
{"accepted","handshakes_ok","active","closed_midstream","bytes_in","slow_in"} (bytes_in:
what was echoed; slow_in: what "slow" connections read). Every connection is one
thread; every blocking call has a timeout; the whole process ends after --lifetime seconds."""
import argparse
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import threading
import time

COOKIE_HEADER = b"! Extended ORPort Auth Cookie !\n"
S2C = b"ExtORPort authentication server-to-client hash"
C2S = b"ExtORPort authentication client-to-server hash"
CMD_DONE, CMD_USERADDR, CMD_TRANSPORT = 0, 1, 2
REPLY_OKAY = 0x1000

lock = threading.Lock()
status = dict(accepted=0, handshakes_ok=0, active=0, closed_midstream=0, bytes_in=0, slow_in=0)
status_path = ""
close_first_taken = [False]


def count(key, n=1):
    with lock:
        status[key] += n
        tmp = status_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(status, f)
        os.replace(tmp, status_path)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise ConnectionError("EOF in handshake")
        buf += b
    return buf


def handshake(s, cookie):
    s.sendall(bytes([1, 0]))            # auth types: SAFE_COOKIE, end of list
    if read_exact(s, 1) != b"\x01":
        raise ConnectionError("client chose another auth type")
    client_nonce = read_exact(s, 32)
    server_nonce = os.urandom(32)
    server_hash = hmac.new(cookie, S2C + client_nonce + server_nonce, hashlib.sha256).digest()
    s.sendall(server_hash + server_nonce)
    want = hmac.new(cookie, C2S + client_nonce + server_nonce, hashlib.sha256).digest()
    if not hmac.compare_digest(read_exact(s, 32), want):
        s.sendall(b"\x00")
        raise ConnectionError("wrong client hash")
    s.sendall(b"\x01")
    for _ in range(16):                 # bounded: USERADDR, TRANSPORT, DONE and a few others
        cmd, n = struct.unpack("!HH", read_exact(s, 4))
        read_exact(s, n)
        if cmd == CMD_DONE:
            s.sendall(struct.pack("!HH", REPLY_OKAY, 0))
            return
    raise ConnectionError("no DONE")


def serve(s, mode, cookie, end):
    count("active")
    try:
        s.settimeout(max(1.0, end - time.time()))
        if mode[0] == "silent":
            while time.time() < end and s.recv(4096):
                pass
            return
        handshake(s, cookie)
        count("handshakes_ok")
        if mode[0] == "slow":
            rate = int(mode[1])
            while time.time() < end:
                b = s.recv(max(1, rate // 10))
                if not b:
                    return
                count("slow_in", len(b))
                time.sleep(0.1)
            return
        limit = None
        if mode[0] == "close-first":
            with lock:
                if not close_first_taken[0]:
                    close_first_taken[0] = True
                    limit = int(mode[1])
        echoed = 0
        while time.time() < end:
            want = 65536 if limit is None else max(1, min(65536, limit - echoed))
            b = s.recv(want)
            if not b:
                s.shutdown(socket.SHUT_WR)  # the peer's FIN: echo half-closes too
                while time.time() < end and s.recv(4096):
                    pass
                return
            count("bytes_in", len(b))
            s.sendall(b)
            echoed += len(b)
            if limit is not None and echoed >= limit:
                count("closed_midstream")
                return                      # closing with unread bytes may send RST: fine too
    except (OSError, ConnectionError):
        pass
    finally:
        s.close()
        count("active", -1)


def main():
    global status_path
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--cookie", required=True)
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--status", required=True)
    ap.add_argument("--lifetime", type=float, default=120)
    ap.add_argument("--small-rcvbuf", action="store_true")
    args = ap.parse_args()
    end = time.time() + args.lifetime
    status_path = args.status
    with open(args.cookie, "rb") as f:
        data = f.read()
    if len(data) != 64 or not data.startswith(COOKIE_HEADER):
        sys.exit("bad cookie file")
    cookie = data[32:]
    count("accepted", 0)

    host, port = args.listen.rsplit(":", 1)
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.small_rcvbuf:
        # Inherited by accepted sockets: what a slow tor does not read stays in the server.
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lst.bind((host, int(port)))
    lst.listen(128)
    lst.settimeout(0.5)
    print(json.dumps(dict(event="listening", addr="%s:%d" % lst.getsockname()), separators=(",", ":")), flush=True)
    mode_seen = None
    while time.time() < end:
        try:
            s, _ = lst.accept()
        except socket.timeout:
            continue
        try:
            with open(args.mode_file) as f:
                mode = f.read().split()
        except OSError:
            mode = ["echo"]
        if mode != mode_seen:
            close_first_taken[0] = False
            mode_seen = mode
        count("accepted")
        threading.Thread(target=serve, args=(s, mode, cookie, end), daemon=True).start()


if __name__ == "__main__":
    main()
