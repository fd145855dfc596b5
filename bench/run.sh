#!/bin/bash
# Benchmarks snowflake-server with shared/peer/bench.py (sfpeer as client and ORPort, a fresh
# server process per repetition, medians over --reps) and prints the markdown table that
# docs/performance.md records. Raw per-repetition records and summaries go to
# bench/results/<UTC time>-<label>.jsonl (gitignored); re-print a table with bench/table.py.
#
#   bench/run.sh [--build DIR] [--reps N] [--transport-options OPTS] [--server "CMD"]
#                [--label NAME] [SCENARIO...]
#
# SCENARIO: bulk200 multi50x2 idle1000 idle3000 ping200 setup (default: bulk200 multi50x2
# idle1000 ping200). --build defaults to $SF_BUILD_DIR, else <repo>/build; it must be a normal
# (not -DSF_SANITIZE=ON) build with src/snowflake-server built. sfpeer is built into
# <build>/sfpeer if missing. --server replaces "<build>/src/snowflake-server --disable-tls"
# (any managed server PT, e.g. the Go reference, for comparison).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
SHARED=${SF_SHARED_DIR:-$SRC/../shared}
BUILD=${SF_BUILD_DIR:-$SRC/build}
REPS=3
TOPTS=""
SERVER=""
LABEL=""
SCENARIOS=()

usage()
{
	sed -n '2,14s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift;;
	--reps) REPS=$2; shift;;
	--transport-options) TOPTS=$2; shift;;
	--server) SERVER=$2; shift;;
	--label) LABEL=$2; shift;;
	-h|--help) usage;;
	-*) echo "run.sh: unknown option $1" >&2; usage;;
	*) SCENARIOS+=("$1");;
	esac
	shift
done
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(bulk200 multi50x2 idle1000 ping200)
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --reps needs a positive number" >&2; exit 2; }
[ -f "$SHARED/peer/bench.py" ] || { echo "run.sh: no $SHARED/peer/bench.py (set SF_SHARED_DIR)" >&2; exit 1; }
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "run.sh: no build directory $BUILD" >&2; exit 1; }

# Sanitizers make every number meaningless.
if grep -q '^SF_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
	echo "run.sh: $BUILD is a sanitizer build (SF_SANITIZE=ON); benchmark a normal build" >&2
	exit 1
fi
if [ -z "$SERVER" ]; then
	[ -x "$BUILD/src/snowflake-server" ] || {
		echo "run.sh: $BUILD/src/snowflake-server is missing; build it first:" >&2
		echo "  cmake --build $BUILD --target snowflake-server" >&2
		exit 1
	}
	SERVER="$BUILD/src/snowflake-server --disable-tls"
	[ -n "$LABEL" ] || LABEL=snowflake-server
fi
[ -n "$LABEL" ] || LABEL=custom
[[ $LABEL =~ ^[A-Za-z0-9._-]+$ ]] || { echo "run.sh: --label: letters, digits, . _ - only" >&2; exit 2; }

SFPEER=$BUILD/sfpeer/sfpeer
if [ ! -x "$SFPEER" ]; then
	echo "run.sh: building sfpeer into $BUILD/sfpeer" >&2
	sh "$SHARED/peer/build.sh" "$BUILD/sfpeer" >&2
fi

mkdir -p "$HERE/results"
OUT=$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)-$LABEL.jsonl

# First record: what was measured, on what.
rev=$(git -C "$SRC" rev-parse --short=8 HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null)" ] && rev="$rev*"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
# An empty cache entry means the project default (CMakeLists.txt): RelWithDebInfo.
build_type=${build_type:-RelWithDebInfo}
python3 - "$OUT" "$LABEL" "$SERVER" "$TOPTS" "$REPS" "$rev" "$build_type" "${SCENARIOS[@]}" <<'EOF'
import json, os, platform, sys, time
out, label, server, topts, reps, rev, build_type, *scen = sys.argv[1:]
cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
except (OSError, StopIteration):
    pass
meta = {"label": label, "server": server, "transport_options": topts, "reps": int(reps),
        "git_rev": rev, "build_type": build_type, "scenarios": scen,
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()}
with open(out, "a") as f:
    f.write(json.dumps({"meta": meta}) + "\n")
EOF

args=(--server "$SERVER" --sfpeer "$SFPEER" --reps "$REPS" --out "$OUT")
[ -n "$TOPTS" ] && args+=(--transport-options "$TOPTS")
for s in "${SCENARIOS[@]}"; do
	args+=(--scenario "$s")
done
echo "run.sh: ${SCENARIOS[*]} × $REPS against: $SERVER${TOPTS:+ (options $TOPTS)}" >&2
echo "run.sh: results in $OUT" >&2
python3 "$SHARED/peer/bench.py" "${args[@]}"
echo
python3 "$HERE/table.py" "$OUT"
