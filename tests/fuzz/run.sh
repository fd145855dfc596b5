#!/bin/sh
# One bounded libFuzzer run, as CTest does it: run.sh <fuzz executable> <seed dir> <work dir>.
# The seeds are only read; new inputs go to <work dir>/corpus and crashes to <work dir>/ (both
# in the build tree). SF_FUZZ_SECONDS sets the run time (default 15).
set -eu
exe=$1 seeds=$2 work=$3
mkdir -p "$work/corpus"
# The input timeout catches hangs; with ASan a single input taking 10 s is already a bug.
exec "$exe" -max_total_time="${SF_FUZZ_SECONDS:-15}" -rss_limit_mb=1024 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds"
