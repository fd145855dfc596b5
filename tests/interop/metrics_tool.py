#!/usr/bin/env python3
"""Helpers of the metrics interop tests (test_metrics*.sh), stdlib only.

  metrics_tool.py scrape URL FILE          GET URL; 200 with the exposition content type, or exit 1;
                                           the body goes to FILE
  metrics_tool.py sum FILE NAME [L=V ...]  sum of the samples of NAME (exact name) whose labels
                                           include every L=V; "none" when there is no such sample
  metrics_tool.py query PROM EXPR          Prometheus HTTP API instant query; prints the sum of the
                                           result's values, "none" for an empty result
  metrics_tool.py status URL               the HTTP status of GET URL
  metrics_tool.py hostile HOST PORT N SECONDS STOPFILE
                                           N connections to the metrics port at once, for SECONDS
                                           or until STOPFILE exists:
                                           a third drip a request one byte at a time, a third send
                                           garbage, a third connect and say nothing; each one that
                                           is closed is opened again. Prints how many were made.
"""
import json
import os
import random
import re
import selectors
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(url, path):
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read()
        ctype = r.headers.get("Content-Type", "")
        if r.status != 200 or not ctype.startswith("text/plain; version=0.0.4"):
            print(f"scrape: status {r.status}, Content-Type {ctype!r}")
            sys.exit(1)
    with open(path, "wb") as f:
        f.write(body)


def samples(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                raise SystemExit(f"unparsable line: {line!r}")
            labels = dict(LABEL.findall(m.group(3) or ""))
            yield m.group(1), labels, float(m.group(4))


def total(path, name, wanted):
    found, s = False, 0.0
    for n, labels, v in samples(path):
        if n == name and all(labels.get(k) == val for k, val in wanted.items()):
            found, s = True, s + v
    return s if found else None


def fmt(v):
    if v is None:
        return "none"
    return str(int(v)) if v == int(v) else repr(v)


def query(prom, expr):
    url = prom.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        j = json.load(r)
    if j.get("status") != "success":
        raise SystemExit(f"query failed: {j}")
    res = j["data"]["result"]
    if not res:
        return None
    return sum(float(x["value"][1]) for x in res)


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def hostile(host, port, n, seconds, stopfile):
    """Keeps n hostile connections open for `seconds` or until stopfile exists."""
    sel = selectors.DefaultSelector()
    made = 0
    end = time.monotonic() + seconds
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 4000 + b"\r\n\r\n"

    def open_one(kind):
        nonlocal made
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        made += 1
        sel.register(s, selectors.EVENT_READ, {"kind": kind, "off": 0})

    kinds = ["drip", "garbage", "silent"]
    for i in range(n):
        open_one(kinds[i % 3])
    while time.monotonic() < end and not os.path.exists(stopfile):
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:  # closed by the server: replace it
                kind = key.data["kind"]
                sel.unregister(s)
                s.close()
                open_one(kind)
        for key in list(sel.get_map().values()):
            s, d = key.fileobj, key.data
            try:
                if d["kind"] == "drip" and d["off"] < len(request):
                    s.send(request[d["off"]:d["off"] + 1])
                    d["off"] += 1
                elif d["kind"] == "garbage":
                    s.send(os.urandom(random.randint(1, 512)))
            except OSError:
                pass
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print(made)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "scrape" and len(argv) == 4:
        scrape(argv[2], argv[3])
    elif cmd == "sum" and len(argv) >= 4:
        wanted = dict(a.split("=", 1) for a in argv[4:])
        print(fmt(total(argv[2], argv[3], wanted)))
    elif cmd == "query" and len(argv) == 4:
        print(fmt(query(argv[2], argv[3])))
    elif cmd == "status" and len(argv) == 3:
        print(status(argv[2]))
    elif cmd == "hostile" and len(argv) == 7:
        hostile(argv[2], int(argv[3]), int(argv[4]), float(argv[5]), argv[6])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
