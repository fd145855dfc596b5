#!/usr/bin/env python3
"""The layering of docs/architecture.md, checked on every #include of src/.

Each layer folder may include its own headers, the layers listed for it below and the listed
third-party headers; the protocol layers (http, ws, turbotunnel, kcp, smux) and pt see nothing of
the I/O world. Exit status 1 and one line per violation when a file includes what its layer may
not know. Usage: layers.py SRC_DIR | --self-test
"""
import os
import re
import sys

# layer -> (project layers it may include, third-party header roots it may include)
ALLOWED = {
    "lib": (set(), set()),
    "pt": ({"lib"}, set()),
    "kcp": ({"lib"}, set()),
    "smux": ({"lib"}, set()),
    "http": ({"lib"}, {"http_parser.h", "openssl"}),
    "ws": ({"lib"}, {"wslay"}),
    "turbotunnel": ({"lib"}, {"openssl", "sanitizer"}),
    "tor": ({"lib", "net"}, {"event2", "openssl"}),
    "net": ({"lib"}, {"event2"}),
    "tls": ({"lib", "net"}, {"event2", "openssl"}),
    "metrics": ({"lib", "net"}, {"event2"}),
    "acme": ({"lib"}, {"curl", "jansson.h", "openssl"}),
    "shard": ({"lib", "net", "ws", "turbotunnel", "kcp", "smux", "tor"}, {"event2"}),
    "certs": ({"lib", "net", "tls", "acme", "metrics", "snowflake"}, {"event2", "http_parser.h"}),
    "server": ({"lib", "net", "http", "ws", "turbotunnel", "shard", "tor", "tls", "certs",
                "metrics", "snowflake"}, {"event2", "openssl", "http_parser.h"}),
    "sandbox": ({"lib", "snowflake"}, {"seccomp.h"}),
    # main.c: the public headers (include/snowflake/), pt and lib; nothing of the layers below.
    "main.c": ({"snowflake", "pt", "lib"}, {"event2"}),
}
# Third-party roots nobody in src/ may include (a new dependency is a decision, not an accident).
THIRD_PARTY = {"event2", "openssl", "curl", "wslay", "jansson.h", "http_parser.h", "sanitizer",
               "seccomp.h"}
LAYERS = set(ALLOWED) - {"main.c"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def check_file(path, layer, errors):
    own_layers, third = ALLOWED[layer]
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, target = m.groups()
            root = target.split("/")[0]
            if kind == '"':
                if "/" not in target:
                    errors.append(f"{path}:{lineno}: project include without a layer folder: {target}")
                elif root not in LAYERS | {"snowflake"}:
                    errors.append(f"{path}:{lineno}: unknown folder in include: {target}")
                elif root != layer and root not in own_layers:
                    errors.append(f"{path}:{lineno}: layer {layer} must not include {target}")
            elif root in THIRD_PARTY and root not in third:
                errors.append(f"{path}:{lineno}: layer {layer} must not include <{target}>")


def self_test():
    """The checker itself: a clean tree passes, each kind of violation is found."""
    import tempfile
    cases = [
        ({"kcp/a.c": '#include "kcp/a.h"\n#include "lib/log.h"\n'}, 0),
        ({"kcp/a.c": '#include "net/conn.h"\n'}, 1),
        ({"smux/a.c": '#include <event2/event.h>\n'}, 1),
        ({"ws/a.c": '#include "a.h"\n'}, 1),
        ({"extra/a.c": ''}, 1),
        ({"main.c": '#include "shard/shard.h"\n'}, 1),
        ({"main.c": '#include "snowflake/server.h"\n#include "pt/env.h"\n'}, 0),
    ]
    for files, want in cases:
        with tempfile.TemporaryDirectory() as d:
            for name, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
                with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                    f.write(text)
            errors = []
            scan(d, errors)
            got = 1 if errors else 0
            if got != want:
                print(f"self-test: {files} gave {errors or 'no violation'}")
                return 1
    print(f"layers self-test: {len(cases)} cases passed")
    return 0


def scan(src, errors):
    checked = 0
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if os.path.isdir(path):
            if entry not in LAYERS:
                errors.append(f"{path}: a folder of src/ that is not a known layer")
                continue
            for name in sorted(os.listdir(path)):
                if name.endswith((".c", ".h")):
                    check_file(os.path.join(path, name), entry, errors)
                    checked += 1
        elif entry == "main.c":
            check_file(path, "main.c", errors)
            checked += 1
    return checked


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src = sys.argv[1]
    errors = []
    checked = scan(src, errors)
    for e in errors:
        print(e)
    print(f"layers: {checked} files checked, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
