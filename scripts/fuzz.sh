#!/bin/sh
# Long fuzzing runs (docs/security.md "Fuzzing"): builds the libFuzzer targets in build/fuzz
# and runs each for a while, keeping a corpus that grows from run to run outside the repository.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     e.g. scripts/fuzz.sh 3600 kcp_session smux_session
#
# TARGET is a name of tests/fuzz/corpus/ (all of them when none is given); each runs SECONDS.
# SF_FUZZ_DIR (default ~/.cache/snowflake-fuzz) holds <target>/corpus and <target>/crash-*.
# Crashes found are listed at the end, and the exit status is 1 if there are any: turn each one
# into a test in tests/unit/ (the input as bytes) and fix the parser (see docs/security.md).
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
seconds=$1
shift
dir=${SF_FUZZ_DIR:-$HOME/.cache/snowflake-fuzz}
targets=$*
[ -n "$targets" ] || targets=$(ls tests/fuzz/corpus)

# Several fuzz.sh may run at once (different targets): one of them builds at a time.
mkdir -p build
flock build/.fuzz-build.lock sh -c 'CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug \
	-DSF_FUZZ=ON >/dev/null && cmake --build build/fuzz --target fuzz_all -j "$(nproc)" >/dev/null'

for t in $targets; do
	exe=build/fuzz/tests/fuzz/fuzz_$t
	[ -x "$exe" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
	mkdir -p "$dir/$t/corpus"
	echo "fuzz.sh: $t for $seconds s, corpus $dir/$t/corpus" >&2
	# A crash stops this target's run but not the others.
	"$exe" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$dir/$t/" "$dir/$t/corpus" "tests/fuzz/corpus/$t" \
		>"$dir/$t/last.log" 2>&1 || true
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' \
		"$dir/$t/last.log" >&2 || true
done

found=0
for t in $targets; do
	for f in "$dir/$t"/crash-* "$dir/$t"/leak-* "$dir/$t"/timeout-* "$dir/$t"/oom-*; do
		[ -e "$f" ] || continue
		found=1
		echo "FOUND $t: $f (reproduce: build/fuzz/tests/fuzz/fuzz_$t $f)"
	done
done
[ "$found" -eq 0 ] && echo "fuzz.sh: no crash found" >&2
exit "$found"
