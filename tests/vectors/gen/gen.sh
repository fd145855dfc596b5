#!/bin/sh
# Builds the vector generator (Debian's Go and Debian-packaged Go libraries, GOPATH mode, no
# network) and runs it. Usage:
#   gen.sh [OUTDIR [PARTS]]
# OUTDIR defaults to tests/vectors (the committed files); PARTS is a comma-separated subset of
# encapsulation,extorport,smux (default; kcp is unfinished: see ../README.md). A run takes
# about 20 s: the smux keepalive (10 s) is a real timer.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/..}
PARTS=${2:-encapsulation,extorport,smux}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sfvectors.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
GOBUILD_NO_INSTALL=1 sh "$HERE/../../tools/gobuild.sh" sfvectors "$HERE" "$WORK/sfvectors" >/dev/null
"$WORK/sfvectors" -out "$OUT" -only "$PARTS"
