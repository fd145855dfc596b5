#!/usr/bin/env python3
"""One Snowflake client session (one WebSocket, one KCP conversation, one smux v2 session) that
lives across a test's faults and opens its streams one step at a time, built by hand from the wire
formats (helpers from flood.py). sfpeer opens all its streams at the start; the fault tests need
a session that outlives a broken tor and then opens a new stream in the same session.

    fault_session.py --addr 127.0.0.1:PORT [--timeout S] STEP...

Steps, run in order (stream ids 1, 3, 5, ... as smux clients use):
    echo:N          new stream: N random bytes, every byte echoed back and compared, then our FIN
                    and the server's FIN
    hold:N          new stream: N bytes echoed and compared, then left open (the "held" stream)
    cut:N           new stream: N bytes; the server must end it (FIN) after echoing a part of
                    them (tor closed the connection mid-stream); what came back is compared
    refused:T       new stream with 100 bytes: the server must end it (FIN) within T s, sending
                    nothing back (tor is unreachable)
    expect-fin:T    the held stream must end (FIN from the server) within T s
    touch:PATH      creates PATH (tells the test a point was reached)
    wait:PATH:T     waits up to T s for PATH (the test did something)
One JSON line per step on stdout ({"step","ok",...}); the first failed step ends the run with
status 1. Every step checks the WebSocket and the KCP session are still the same and open.
The ClientID, KCP conv and WebSocket never change: "the session survives" means exactly that.
Small streams only (a stream's whole data fits the initial smux window of 256 KiB)."""
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
PUSH, ACK = 0x51, 0x52
SYN, FIN, PSH = 0, 1, 2


class Session:
    def __init__(self, addr):
        self.sock = ws_connect(addr, 5)
        self.sock.settimeout(5)
        self.conv = struct.unpack("<I", os.urandom(4))[0]
        self.send_lock = threading.Lock()
        self.cond = threading.Condition()
        self.sn = 0
        self.rcv_nxt = 0
        self.held_segs = {}
        self.smux_buf = b""
        self.data = {}        # sid -> bytes received
        self.fin = {}         # sid -> time the server's FIN arrived
        self.closed = False
        self.errors = []
        self.ws_send(TOKEN + os.urandom(8))
        threading.Thread(target=self.reader, daemon=True).start()

    def ws_send(self, payload):
        with self.send_lock:
            self.sock.sendall(ws_frame_zero_mask(payload))

    def now_ms(self):
        return int(time.monotonic() * 1000) & 0xffffffff

    def send_smux(self, frames):
        msg = b""
        for off in range(0, len(frames), SEG_PAYLOAD):
            chunk = frames[off:off + SEG_PAYLOAD]
            msg += encap(struct.pack("<IBBHIIII", self.conv, PUSH, 0, 65535, self.now_ms(),
                                     self.sn, self.rcv_nxt, len(chunk)) + chunk)
            self.sn += 1
        self.ws_send(msg)

    # ---- what the server sends ----
    def reader(self):
        buf = b""
        while True:
            try:
                if not select.select([self.sock], [], [], 0.2)[0]:
                    continue
                b = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (OSError, ValueError):
                b = b""
            if not b:
                with self.cond:
                    self.closed = True
                    self.cond.notify_all()
                return
            buf += b
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
                opcode, payload = buf[0] & 0x0f, buf[off:off + n]
                buf = buf[off + n:]
                if opcode == 8:
                    with self.cond:
                        self.closed = True
                        self.cond.notify_all()
                    return
                if opcode == 2:
                    self.packets(payload)

    def packets(self, data):
        i, acks = 0, b""
        while i < len(data):
            b = first = data[i]
            i += 1
            length, more = b & 0x3f, b & 0x40
            while more and i < len(data):
                b = data[i]
                i += 1
                length = (length << 7) | (b & 0x7f)
                more = b & 0x80
            pkt, i = data[i:i + length], i + length
            if not first & 0x80:
                continue        # padding
            while len(pkt) >= 24:
                conv, cmd, frg, wnd, ts, sn, una, ln = struct.unpack("<IBBHIIII", pkt[:24])
                body, pkt = pkt[24:24 + ln], pkt[24 + ln:]
                if conv != self.conv or cmd != PUSH:
                    continue
                if sn >= self.rcv_nxt:
                    self.held_segs[sn] = body
                acks += struct.pack("<IBBHIIII", self.conv, ACK, 0, 65535, ts, sn, 0, 0)
        delivered = False
        while self.rcv_nxt in self.held_segs:
            self.smux_buf += self.held_segs.pop(self.rcv_nxt)
            self.rcv_nxt += 1
            delivered = True
        if acks:
            # una in every ACK segment: the receive state as it is after this batch
            acks = b"".join(a[:16] + struct.pack("<I", self.rcv_nxt) + a[20:]
                            for a in (acks[k:k + 24] for k in range(0, len(acks), 24)))
            try:
                self.ws_send(encap(acks))
            except OSError:
                pass
        if delivered:
            self.frames()

    def frames(self):
        with self.cond:
            while len(self.smux_buf) >= 8:
                ver, cmd, n, sid = struct.unpack("<BBHI", self.smux_buf[:8])
                if len(self.smux_buf) < 8 + n:
                    break
                body, self.smux_buf = self.smux_buf[8:8 + n], self.smux_buf[8 + n:]
                if cmd == PSH:
                    self.data[sid] = self.data.get(sid, b"") + body
                elif cmd == FIN:
                    self.fin[sid] = time.monotonic()
            self.cond.notify_all()

    def wait(self, pred, seconds):
        end = time.monotonic() + seconds
        with self.cond:
            while not pred() and not self.closed:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.2))
            return pred()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--timeout", type=float, default=50)
    ap.add_argument("steps", nargs="+")
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    s = Session(args.addr)
    next_sid, held = 1, None

    def left(t):
        return max(0.1, min(float(t), deadline - time.monotonic()))

    def open_stream(payload):
        nonlocal next_sid
        sid, next_sid = next_sid, next_sid + 2
        frames = smux(SYN, sid)
        for off in range(0, len(payload), 8192):
            frames += smux(PSH, sid, payload[off:off + 8192])
        s.send_smux(frames)
        return sid

    def echoed(sid, payload, t):
        s.wait(lambda: len(s.data.get(sid, b"")) >= len(payload) or sid in s.fin, left(t))
        got = s.data.get(sid, b"")
        return got == payload, len(got)

    for step in args.steps:
        kind, _, rest = step.partition(":")
        t0 = time.monotonic()
        r = dict(step=kind, ok=False)
        if kind in ("echo", "hold"):
            payload = os.urandom(int(rest))
            sid = open_stream(payload)
            r["sid"] = sid
            r["ok"], r["bytes_back"] = echoed(sid, payload, 20)
            if r["ok"] and kind == "echo":
                s.send_smux(smux(FIN, sid))
                r["ok"] = s.wait(lambda: sid in s.fin, left(10))
                r["fin"] = r["ok"]
            if kind == "hold":
                held = sid
        elif kind == "cut":
            payload = os.urandom(int(rest))
            sid = open_stream(payload)
            r["sid"] = sid
            r["fin"] = s.wait(lambda: sid in s.fin, left(20))
            got = s.data.get(sid, b"")
            r["bytes_back"] = len(got)
            r["ok"] = r["fin"] and 0 < len(got) < len(payload) and payload.startswith(got)
        elif kind == "refused":
            sid = open_stream(os.urandom(100))
            r["sid"] = sid
            r["fin"] = s.wait(lambda: sid in s.fin, left(rest))
            r["bytes_back"] = len(s.data.get(sid, b""))
            r["ok"] = r["fin"] and r["bytes_back"] == 0
        elif kind == "expect-fin":
            r["sid"] = held
            r["ok"] = held is not None and s.wait(lambda: held in s.fin, left(rest))
        elif kind == "touch":
            open(rest, "w").close()
            r["ok"] = True
        elif kind == "wait":
            path, _, t = rest.rpartition(":")
            end = time.monotonic() + left(t)
            while not os.path.exists(path) and time.monotonic() < end:
                time.sleep(0.05)
            r["ok"] = os.path.exists(path)
        else:
            r["error"] = "unknown step"
        r["s"] = round(time.monotonic() - t0, 3)
        r["ws_open"] = not s.closed
        r["ok"] = r["ok"] and not s.closed
        r["conv"] = s.conv
        print(json.dumps(r), flush=True)
        if not r["ok"]:
            sys.exit(1)
    s.sock.close()


if __name__ == "__main__":
    main()
