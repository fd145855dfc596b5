#!/bin/sh
# Regenerates the vectors into a temporary directory with gen/gen.sh and checks them:
# the deterministic parts must equal the committed files (generation time aside), kcp.json (a
# capture: its packets differ from run to run) must describe the same scenarios and name the same
# landmarks, and the unit tests given as arguments must pass when pointed ($SF_VECTORS_DIR) at
# the fresh files.
# Usage: check.sh UNIT_TEST_BINARY...   (CTest runs it as vectors.regenerate)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sfvectors-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

sh "$HERE/gen/gen.sh" "$WORK"

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

# kcp.json: the packets are a capture; what must not drift is what was captured (libraries,
# scenario descriptions and setup) and which landmarks the unit test replays against.
def kcp_shape(d):
    v = load(d, "kcp.json")
    return {"info": v["info"], "description": v["description"],
            "scenarios": [{"name": s["name"], "description": s["description"], "setup": s["setup"],
                           "replay": sorted(s["replay"])} for s in v["scenarios"]]}
same("kcp.json scenarios and landmarks", kcp_shape(committed), kcp_shape(fresh))
sys.exit(1 if failed else 0)
PY

for t in "$@"; do
	echo "check.sh: $(basename "$t") on the fresh vectors"
	SF_VECTORS_DIR=$WORK "$t"
done
echo "check.sh: ok"
