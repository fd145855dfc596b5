#!/bin/bash
# Benchmarks snowflake-server with bench/bench.py: builds a Release tree if it is missing,
# then runs the scenarios (fresh ORPort echo and fresh server per repetition, every byte
# verified by sfpeer) and prints the markdown tables that docs/performance.md records.
# Every repetition's record goes to bench/results/<UTC time>-<label>.jsonl (gitignored);
# `bench/bench.py --table FILE` prints the tables of such a file again.
#
#   bench/run.sh [--build DIR] [--reference GO_BIN] [--modes ws,wss] [--reps N]
#                [--sfpeer BIN] [--transport-options OPTS] [--label NAME] [--dry-run]
#                [SCENARIO...]
#
# SCENARIO: bulk<MB> multi50x2 ping200 ping200short setup idle<N> (default: bulk200
# multi50x2 ping200 ping200short setup idle1000), and scale<N>[,<N>...]: that many idle wss://
# sessions from snowflake-loadgen (bench/loadgen-scale.py, after the others; the same
# --reference; 2 descriptors per session, so N is bounded by half the hard RLIMIT_NOFILE), and
# scale<N>as<M>: N such sessions sending the keepalives and pings of M (loadgen-scale.py
# --rate-of M: the packet rate of more sessions than the descriptors allow).
# Every scenario of docs/performance.md in one command:
#   bench/run.sh --reference GO_BIN --modes ws,wss bulk200 multi50x2 ping200 ping200short \
#       setup idle1000 scale1000,5000 scale9000as100000
# --build: default $SF_BUILD_DIR, else build/release (configured -DCMAKE_BUILD_TYPE=Release,
# and what is missing of snowflake-server and snowflake-loadgen built). --reference: a second
# server to run interleaved with ours (the Go snowflake-server; bench/README.md says how to
# build v2.9.2). --modes: ws (default), wss, or ws,wss. --reps: repetitions of each scenario
# (default 3 for bench.py's, 1 for the scale ones; given, it applies to both, and the scale
# runs alternate ours-reference, reference-ours). --sfpeer: default $SFPEER, else the tree's
# SF_SFPEER_BIN, else <build>/sfpeer/sfpeer. --dry-run: print the bench.py and loadgen-scale.py
# command lines, one per line, and do nothing else.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${SF_BUILD_DIR:-$SRC/build/release}
LABEL=""
SFPEER_BIN=${SFPEER:-}
PASS=()
SCENARIOS=()
SCALE=""
DENSE=()	# N:M of every scale<N>as<M>
SCALE_REPS=()
DRY_RUN=""
DENSE_NAMES=()
REFERENCE=()

usage()
{
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift;;
	--label) LABEL=$2; shift;;
	--dry-run) DRY_RUN=1;;
	--sfpeer) SFPEER_BIN=$2; shift;;
	--reference) PASS+=("$1" "$2"); REFERENCE=("$1" "$2"); shift;;
	--reps) PASS+=("$1" "$2"); SCALE_REPS=("$1" "$2"); shift;;
	--modes|--transport-options) PASS+=("$1" "$2"); shift;;
	-h|--help) usage;;
	-*) echo "run.sh: unknown option $1" >&2; usage;;
	scale*as*)
		[[ $1 =~ ^scale([0-9]+)as([0-9]+)$ ]] || { echo "run.sh: $1: scale<N>as<M>" >&2; exit 2; }
		DENSE+=("${BASH_REMATCH[1]}:${BASH_REMATCH[2]}")
		DENSE_NAMES+=("$1");;
	scale*)
		[[ $1 =~ ^scale[0-9]+(,[0-9]+)*$ ]] || { echo "run.sh: $1: scale<N>[,<N>...]" >&2; exit 2; }
		SCALE=${SCALE:+$SCALE,}${1#scale};;
	*) SCENARIOS+=("$1");;
	esac
	shift
done
[ -n "$LABEL" ] || LABEL=snowflake-server
[[ $LABEL =~ ^[A-Za-z0-9._-]+$ ]] || { echo "run.sh: --label: letters, digits, . _ - only" >&2; exit 2; }

# --dry-run: the commands below are printed, not run; nothing is built, checked or written.
prepare()
{
	# Sanitizers make every number meaningless.
	if grep -q '^SF_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
		echo "run.sh: $BUILD is a sanitizer build (SF_SANITIZE=ON); benchmark a normal build" >&2
		exit 1
	fi
	need=(snowflake-server)
	loadgen=""
	{ [ -z "$SCALE" ] && [ ${#DENSE[@]} -eq 0 ]; } || { loadgen=1; need+=(snowflake-loadgen); }
	if [ ! -x "$BUILD/src/snowflake-server" ] ||
		{ [ -n "$loadgen" ] && [ ! -x "$BUILD/tools/loadgen/snowflake-loadgen" ]; }; then
		echo "run.sh: building ${need[*]} (Release) in $BUILD" >&2
		[ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >&2
		cmake --build "$BUILD" -j2 --target "${need[@]}" >&2
	fi
	build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
	if [ "$build_type" != Release ]; then
		echo "run.sh: note: $BUILD is a ${build_type:-default (RelWithDebInfo)} build, not Release" >&2
	fi
	if [ -z "$SFPEER_BIN" ]; then
		# A tree configured with -DSF_SFPEER_BIN=... uses that prebuilt peer; else the sfpeer
		# target builds one into <build>/sfpeer.
		SFPEER_BIN=$(sed -n 's/^SF_SFPEER_BIN:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
		if [ -z "$SFPEER_BIN" ]; then
			SFPEER_BIN=$BUILD/sfpeer/sfpeer
			if [ ! -x "$SFPEER_BIN" ]; then
				echo "run.sh: building sfpeer into $BUILD/sfpeer" >&2
				cmake --build "$BUILD" --target sfpeer >&2
			fi
		fi
	fi

	mkdir -p "$HERE/results"
	OUT=$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)-$LABEL.jsonl

	# First record: what was measured, on what.
	rev=$(git -C "$SRC" rev-parse --short=8 HEAD 2>/dev/null || echo unknown)
	[ -n "$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null)" ] && rev="$rev*"
	python3 - "$OUT" "$LABEL" "$rev" "${build_type:-RelWithDebInfo}" "${PASS[@]}" \
		"${SCENARIOS[@]}" ${SCALE:+"scale$SCALE"} ${DENSE_NAMES[@]+"${DENSE_NAMES[@]}"} <<-'EOF'
	import json, os, platform, sys, time
	out, label, rev, build_type, *args = sys.argv[1:]
	cpu = "unknown"
	try:
	    with open("/proc/cpuinfo") as f:
	        cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
	except (OSError, StopIteration):
	    pass
	with open("/proc/loadavg") as f:
	    load = f.read().split()[:3]
	meta = {"label": label, "git_rev": rev, "build_type": build_type, "args": args,
	        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
	        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "loadavg": load}
	with open(out, "a") as f:
	    f.write(json.dumps({"meta": meta}) + "\n")
	EOF
}
if [ -n "$DRY_RUN" ]; then
	SFPEER_BIN=${SFPEER_BIN:-SFPEER}
	OUT=$HERE/results/TIME-$LABEL.jsonl
else
	prepare
fi

[ -n "$DRY_RUN" ] || echo "run.sh: results in $OUT" >&2
rc=0
# run CMD...: runs it (a failure sets the exit status, the next command still runs), or prints it.
run()
{
	if [ -n "$DRY_RUN" ]; then
		echo "$*"
	else
		"$@" || rc=$?
	fi
}
if [ ${#SCENARIOS[@]} -gt 0 ] || { [ -z "$SCALE" ] && [ ${#DENSE[@]} -eq 0 ]; }; then
	run python3 "$HERE/bench.py" --server "$BUILD/src/snowflake-server" --sfpeer "$SFPEER_BIN" \
		--out "$OUT" "${PASS[@]}" "${SCENARIOS[@]}"
fi
# loadgen-scale.py once for the scale<N> lists, once per scale<N>as<M> (N:M); its records (one
# per N and server) go to a file of their own: another shape.
SCALE_RUNS=()
[ -z "$SCALE" ] || SCALE_RUNS+=("$SCALE")
SCALE_RUNS+=(${DENSE[@]+"${DENSE[@]}"})
for r in ${SCALE_RUNS[@]+"${SCALE_RUNS[@]}"}; do
	rate=()
	[[ $r != *:* ]] || rate=(--rate-of "${r#*:}")
	run python3 "$HERE/loadgen-scale.py" --build "$BUILD" --sfpeer "$SFPEER_BIN" \
		--sessions "${r%%:*}" ${rate[@]+"${rate[@]}"} --out "${OUT%.jsonl}-scale.jsonl" \
		${REFERENCE[@]+"${REFERENCE[@]}"} ${SCALE_REPS[@]+"${SCALE_REPS[@]}"}
done
exit "$rc"
