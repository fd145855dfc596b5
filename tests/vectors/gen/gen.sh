#!/bin/sh
# Builds the vector generator (Debian's Go and Debian-packaged Go libraries, GOPATH mode, no
# network) and runs it. Usage:
#   gen.sh [OUTDIR [PARTS]]
# OUTDIR defaults to tests/vectors (the committed files); PARTS is a comma-separated subset of
# encapsulation,extorport,smux,kcp (default: all). A run takes about 25 s: the parts run side by
# side and wait on real timers (smux keepalive 10 s, KCP window probes 7 s and 17.5 s); a KCP
# capture that lacks a landmark the unit test needs is taken again (see ../README.md).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/..}
PARTS=${2:-encapsulation,extorport,smux,kcp}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sfvectors.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
GOBUILD_NO_INSTALL=1 sh "$HERE/../../tools/gobuild.sh" sfvectors "$HERE" "$WORK/sfvectors" >/dev/null
"$WORK/sfvectors" -out "$OUT" -only "$PARTS"
