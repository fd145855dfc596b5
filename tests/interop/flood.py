#!/usr/bin/env python3
"""Hostile load for a Snowflake server, built by hand from the wire formats (docs/net-http-ws.md,
docs/turbotunnel.md, docs/kcp.md, docs/smux.md):
WebSocket client frames, the turbotunnel preamble, encapsulation, KCP segments and smux frames.

  flood.py --addr 127.0.0.1:PORT clientids N     N WebSockets, each a fresh ClientID whose first
                                                 KCP packet opens a smux stream; all held open
                                                 together, then closed
  flood.py --addr 127.0.0.1:PORT streams N       one session opening N smux streams
  flood.py --addr 127.0.0.1:PORT badsmux         a session whose smux frames have a bad version
  flood.py --addr 127.0.0.1:PORT badkcp          KCP packets with wrong lengths/cmds, and a conv
                                                 change with sn != 0
  flood.py --addr 127.0.0.1:PORT bigrecord N     a data record of the largest encodable length
                                                 (1048575 bytes) whose first 1400 bytes are valid
                                                 KCP (smux SYN + PSH "before"), then a normal
                                                 record (PSH "after"): sent in one WebSocket frame
                                                 if N is 1, else in frames of 64 KiB

Prints one JSON line with what it did and saw. Every socket operation has a timeout; the whole run
is bounded by --timeout seconds."""
import argparse
import base64
import json
import os
import socket
import struct
import sys
import time

TOKEN = bytes.fromhex("1293605d278175f5")


def ws_connect(addr, timeout, rcvbuf=None):
    """A WebSocket after its 101; rcvbuf: a small receive buffer set before connecting, so that
    what the server sends and we do not read stays on the server."""
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during upgrade")
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"upgrade refused: {buf[:40]!r}")
    return s


def ws_frame_zero_mask(payload):
    """A masked binary frame with the all-zero masking key (valid, and no per-byte work)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x82, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x82, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x82, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


def ws_frame(payload, opcode=2):
    mask = os.urandom(4)
    n = len(payload)
    if n > 4096:  # XOR as one big integer: a byte loop over a megabyte takes seconds
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        return struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n) + mask + masked
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def encap(pkt):
    n = len(pkt)
    if n < 64:
        return bytes([0x80 | n]) + pkt
    if n < 8192:
        return bytes([0xc0 | (n >> 7), n & 0x7f]) + pkt
    return bytes([0xc0 | (n >> 14), 0x80 | ((n >> 7) & 0x7f), n & 0x7f]) + pkt


def kcp_push(conv, sn, payload, una=0):
    return struct.pack("<IBBHIIII", conv, 0x51, 0, 65535, 0, sn, una, len(payload)) + payload


def smux(cmd, sid, payload=b"", ver=2):
    return struct.pack("<BBHI", ver, cmd, len(payload), sid) + payload


def preamble(clientid):
    return ws_frame(TOKEN + clientid)


def drain(s, seconds):
    """Reads what the server sends for a while; returns (bytes, closed)."""
    end = time.time() + seconds
    got = 0
    s.settimeout(0.2)
    while time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return got, True
        if not b:
            return got, True
        got += len(b)
    return got, False


def flood_clientids(args, out):
    socks = []
    errors = 0
    for i in range(args.n):
        try:
            s = ws_connect(args.addr, 5)
            cid = os.urandom(8)
            conv = struct.unpack("<I", os.urandom(4))[0]
            pkt = kcp_push(conv, 0, smux(0, 3))
            s.sendall(preamble(cid) + ws_frame(encap(pkt)))
            socks.append(s)
        except OSError:
            errors += 1
        if time.time() > args.deadline:
            break
    time.sleep(1)
    answered = 0
    for s in socks:
        s.settimeout(0.5)
        try:
            if s.recv(4096):
                answered += 1
        except OSError:
            pass
    for s in socks:
        s.close()
    out.update(opened=len(socks), errors=errors, answered=answered)


def flood_streams(args, out):
    s = ws_connect(args.addr, 5)
    cid = os.urandom(8)
    conv = 0x1234567
    s.sendall(preamble(cid))
    sn = 0
    sid = 3
    sent = 0
    while sent < args.n and time.time() < args.deadline:
        segs = b""
        while len(segs) + 32 <= 1400 and sent < args.n:
            segs += kcp_push(conv, sn, smux(0, sid))
            sn += 1
            sid += 2
            sent += 1
        s.sendall(ws_frame(encap(segs)))
    got, closed = drain(s, 2)
    s.close()
    out.update(streams_opened=sent, bytes_back=got, closed=closed)


def bad_smux(args, out):
    s = ws_connect(args.addr, 5)
    s.sendall(preamble(os.urandom(8)))
    conv = 0x7654321
    s.sendall(ws_frame(encap(kcp_push(conv, 0, smux(0, 3, ver=1)))))
    got, closed = drain(s, 2)
    s.close()
    out.update(bytes_back=got, closed=closed)


def bad_kcp(args, out):
    s = ws_connect(args.addr, 5)
    s.sendall(preamble(os.urandom(8)))
    conv = 0x1111
    good = kcp_push(conv, 0, smux(0, 3))
    lies = bytearray(kcp_push(conv, 1, b"x" * 10))
    struct.pack_into("<I", lies, 20, 5000)          # len beyond the packet
    badcmd = bytearray(kcp_push(conv, 2, b""))
    badcmd[4] = 0x99                                 # no such cmd
    newconv = kcp_push(conv + 1, 7, smux(0, 5))      # conv change with sn != 0: dropped
    short = b"\x01\x02\x03"
    for pkt in (good, bytes(lies), bytes(badcmd), newconv, short, os.urandom(1400)):
        s.sendall(ws_frame(encap(pkt)))
    got, closed = drain(s, 2)
    s.close()
    out.update(bytes_back=got, closed=closed)


def big_record(args, out):
    """Upstream reads a data record into a 2048-byte buffer, skips the rest of it and cuts the
    packet to the 1400-byte MTU: the session must go on in sync after the record."""
    s = ws_connect(args.addr, 10)
    s.sendall(preamble(os.urandom(8)))
    conv = 0x2468ace
    first = kcp_push(conv, 0, smux(0, 3)) + kcp_push(conv, 1, smux(2, 3, b"before"))
    # A third segment fills the MTU exactly, so the cut falls on a segment boundary.
    pad = 1400 - len(first) - 24 - 8
    first += kcp_push(conv, 2, smux(2, 3, b"-" * pad))
    assert len(first) == 1400
    body = first + b"\xff" * (0xFFFFF - len(first))
    record = encap(body)
    assert len(record) == 0xFFFFF + 3
    after = encap(kcp_push(conv, 3, smux(2, 3, b"after")))
    if args.n == 1:
        s.sendall(ws_frame(record) + ws_frame(after))
    else:
        for i in range(0, len(record), 65536):
            s.sendall(ws_frame(record[i:i + 65536]))
        s.sendall(ws_frame(after))
    seen = b""
    closed = False
    end = time.time() + 5
    s.settimeout(0.2)
    while time.time() < end and b"after" not in seen:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
        if not b:
            closed = True
            break
        seen += b
    s.close()
    out.update(echoed_before=b"before" in seen, echoed_after=b"after" in seen, closed=closed,
               bytes_back=len(seen))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("mode", choices=["clientids", "streams", "badsmux", "badkcp", "bigrecord"])
    ap.add_argument("n", type=int, nargs="?", default=0)
    args = ap.parse_args()
    args.deadline = time.time() + args.timeout
    out = {"mode": args.mode}
    {"clientids": flood_clientids, "streams": flood_streams, "badsmux": bad_smux,
     "badkcp": bad_kcp, "bigrecord": big_record}[args.mode](args, out)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
