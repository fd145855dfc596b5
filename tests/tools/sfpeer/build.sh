#!/bin/sh
# Builds sfpeer (tests/tools/gobuild.sh). Usage: build.sh OUTDIR   → OUTDIR/sfpeer
# SFPEER_TEST=1 also runs the Go unit tests (go test) before building.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
test_flag=""
[ "${SFPEER_TEST:-0}" != 1 ] || test_flag=--test
exec sh "$here/../gobuild.sh" sfpeer "$here" "$1/sfpeer" $test_flag
