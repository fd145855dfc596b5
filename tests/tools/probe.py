#!/usr/bin/env python3
"""Feeds malformed input to a Snowflake server's WebSocket port and reports how it reacts.

  probe.py --addr 127.0.0.1:PORT [--wait 12]

Each probe uses a connection of its own: it connects (and, for most probes, completes a
WebSocket upgrade with ?client_ip=192.0.2.55), sends its bad input, then watches the
connection for at most --wait seconds. One JSON line per probe on stdout:

  {"probe": NAME, "status": the HTTP status line of the upgrade ("" without upgrade),
   "closed_after_s": seconds until the server closed (null: still open after --wait),
   "how": "closed" | "open" | "error <ExceptionName>",
   "first_bytes_back": hex of the first 40 bytes the server sent after the upgrade}

or {"probe": NAME, "error": "..."} when the probe itself could not run. Loopback use only;
the exit status is 0 unless the arguments are wrong.
"""
import argparse
import base64
import json
import os
import socket
import struct
import time

# turbotunnel.Token: the 8 bytes that open every Snowflake client session.
TOKEN = bytes.fromhex("1293605d278175f5")
SHOWN_BYTES = 40

OP_TEXT, OP_BINARY, OP_RESERVED_3 = 0x1, 0x2, 0x3


def ws_frame(payload, opcode=OP_BINARY, masked=True):
    """One final WebSocket frame; clients must mask (RFC 6455 §5.3) unless we test that."""
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack(">H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack(">Q", size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def data_chunk(payload):
    """An encapsulation data chunk (snowflake common/encapsulation): 1-3 byte length prefix."""
    n = len(payload)
    if n < 1 << 6:
        prefix = bytes([0x80 | n])
    elif n < 1 << 13:
        prefix = bytes([0xc0 | n >> 7, n & 0x7f])
    else:
        prefix = bytes([0xc0 | (n >> 14) & 0x3f, 0x80 | (n >> 7) & 0x7f, n & 0x7f])
    return prefix + payload


class Connection:
    def __init__(self, addr, upgrade):
        host, port = addr.rsplit(":", 1)
        self.addr = addr
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.status = ""
        self.received = b""  # bytes after the HTTP response head
        if upgrade:
            self._upgrade()

    def _upgrade(self):
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            "GET /?client_ip=192.0.2.55 HTTP/1.1\r\n"
            f"Host: {self.addr}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            more = self.sock.recv(4096)
            if not more:
                break
            head += more
        head, _, self.received = head.partition(b"\r\n\r\n")
        self.status = head.split(b"\r\n", 1)[0].decode(errors="replace")

    def send(self, data):
        self.sock.sendall(data)

    def end_writing(self):
        self.sock.shutdown(socket.SHUT_WR)

    def watch(self, wait):
        """(seconds until closed or None, how, hex of the first bytes back)"""
        self.sock.settimeout(0.2)
        began = time.monotonic()
        while time.monotonic() - began < wait:
            try:
                more = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                return round(time.monotonic() - began, 2), f"error {type(e).__name__}", self._shown()
            if not more:
                return round(time.monotonic() - began, 2), "closed", self._shown()
            self.received += more
        return None, "open", self._shown()

    def _shown(self):
        return self.received[:SHOWN_BYTES].hex()

    def close(self):
        self.sock.close()


def probes(addr):
    """(name, upgrade first?, action on the connection). The names are what tests look up."""
    client_id = os.urandom(8)

    def no_upgrade(c):
        c.send(f"GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode())

    def eof_inside_client_id(c):
        c.send(ws_frame(TOKEN + client_id[:2]))
        c.end_writing()

    garbage = b"".join(data_chunk(os.urandom(30)) for _ in range(20))
    return [
        ("plain GET (no upgrade)", False, no_upgrade),
        ("upgrade, then silence", True, lambda c: None),
        ("wrong token", True, lambda c: c.send(ws_frame(bytes(8)))),
        ("token, then close before ClientID", True, eof_inside_client_id),
        ("token+ClientID, then silence", True, lambda c: c.send(ws_frame(TOKEN) + ws_frame(client_id))),
        # 0xc0 0x80 0x80 0x00: a data prefix whose third byte still has the continuation bit.
        ("4-byte length prefix (ErrTooLong)", True,
         lambda c: c.send(ws_frame(TOKEN + client_id + bytes([0xc0, 0x80, 0x80, 0x00])))),
        # 0xff 0xff 0x7f: a data chunk of 0xfffff bytes, of which only 10 follow.
        ("data chunk claiming 1 MB, 10 bytes sent", True,
         lambda c: c.send(ws_frame(TOKEN + client_id + bytes([0xff, 0xff, 0x7f]) + b"x" * 10))),
        ("garbage (non-KCP) packets", True, lambda c: c.send(ws_frame(TOKEN + client_id + garbage))),
        ("unmasked client frame", True, lambda c: c.send(ws_frame(TOKEN + client_id, masked=False))),
        # The token is not valid UTF-8; a Snowflake server reads text messages as bytes anyway.
        ("text frame with invalid UTF-8 token", True,
         lambda c: c.send(ws_frame(TOKEN + client_id, opcode=OP_TEXT))),
        ("reserved opcode 3", True, lambda c: c.send(ws_frame(TOKEN, opcode=OP_RESERVED_3))),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", required=True, help="HOST:PORT of the server's WebSocket listener")
    ap.add_argument("--wait", type=float, default=12, help="seconds to watch each connection")
    args = ap.parse_args()
    for name, upgrade, act in probes(args.addr):
        try:
            conn = Connection(args.addr, upgrade)
            try:
                act(conn)
                after, how, back = conn.watch(args.wait)
            finally:
                conn.close()
            line = {"probe": name, "status": conn.status, "closed_after_s": after, "how": how,
                    "first_bytes_back": back}
        except Exception as e:  # one broken probe must not hide the others' results
            line = {"probe": name, "error": repr(e)}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
