#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from the unit tests' byte vectors and
tests/vectors/*.json. Run it from anywhere after changing a vector: python3 tests/fuzz/seeds.py.
Each seed is a small real input in the format the target's comment describes."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors")
SEEDS = {}


def seed(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    SEEDS.setdefault(target, {})[name] = data


def vectors(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


# ---- http_upgrade: segment size byte, then the request.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
WS = ("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: " + KEY + "\r\n")
seed("http_upgrade", "gorilla", b"\x3f" + (
    "GET /?client_ip=2001%3Adb8%3A%3A1 HTTP/1.1\r\nHost: snowflake.torproject.net\r\n"
    "User-Agent: Go-http-client/1.1\r\n" + WS + "\r\n").encode())
seed("http_upgrade", "ipv4_split", b"\x02GET /?client_ip=192.0.2.7&x=%41+b HTTP/1.1\r\nHost: x\r\n"
     + WS.encode() + b"\r\n")
seed("http_upgrade", "bare_lf", b"\x10GET / HTTP/1.1\nhost:\nCONNECTION: upgrade\n"
     b"upgrade: websocket\nsec-websocket-version: 13\nsec-websocket-key: " + KEY.encode() + b"\n\n")
seed("http_upgrade", "data_after", b"\x3fGET /?client_ip=%5B::1%5D HTTP/1.1\r\nHost: x\r\n"
     + WS.encode() + b"\r\n\x82\x80abcd")
seed("http_upgrade", "not_get", b"\x07POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")

def main():
    for target, files in SEEDS.items():
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
