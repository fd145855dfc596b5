#!/bin/sh
# Regenerates the vectors into a temporary directory with gen/gen.sh and checks them:
# the deterministic parts must equal the committed files (generation time aside), and the unit
# tests given as arguments must pass when pointed ($SF_VECTORS_DIR) at the fresh files.
# Usage: check.sh UNIT_TEST_BINARY...   (CTest runs it as vectors.regenerate)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sfvectors-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

sh "$HERE/gen/gen.sh" "$WORK"
# kcp.json is not regenerated yet (README.md): the tests read the committed one.
cp "$HERE/kcp.json" "$WORK/kcp.json"

python3 - "$HERE" "$WORK" <<'PY'
import json, sys
committed, fresh = sys.argv[1], sys.argv[2]

def load(d, name):
    with open(f"{d}/{name}") as f:
        v = json.load(f)
    v["info"].pop("generated_utc", None)
    return v

failed = False
def same(what, a, b):
    global failed
    if a != b:
        print(f"check.sh: {what} differs from the committed file", file=sys.stderr)
        failed = True
    else:
        print(f"check.sh: {what}: same as committed")

for name in ("encapsulation.json", "extorport.json"):
    same(name, load(committed, name), load(fresh, name))
# smux.json: the frame encodings are deterministic, the captures are not.
same("smux.json frame_vectors", load(committed, "smux.json")["frame_vectors"],
     load(fresh, "smux.json")["frame_vectors"])
sys.exit(1 if failed else 0)
PY

for t in "$@"; do
	echo "check.sh: $(basename "$t") on the fresh vectors"
	SF_VECTORS_DIR=$WORK "$t"
done
echo "check.sh: ok"
