#!/bin/sh
# Builds sftlsprobe (tests/tools/gobuild.sh). Usage: build.sh OUTDIR   → OUTDIR/sftlsprobe
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/../gobuild.sh" sftlsprobe "$here" "$1/sftlsprobe"
