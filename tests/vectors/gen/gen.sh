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

missing=""
for p in golang-go golang-github-xtaci-kcp-dev golang-github-xtaci-smux-dev \
	golang-snowflake-dev golang-goptlib-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "gen.sh: missing Debian packages:$missing (apt-get install$missing)" >&2
	exit 1
fi

# Imports with a major-version suffix (".../snowflake.git/v2/...", ".../kcp-go/v5") resolve in
# GOPATH mode only for a package that sits in a GOPATH and has a go.mod: build a copy in a
# private GOPATH placed before /usr/share/gocode.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sfvectors.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/gopath/src/sfvectors"
cp "$HERE"/*.go "$WORK/gopath/src/sfvectors/"
printf 'module sfvectors\n\ngo 1.19\n' >"$WORK/gopath/src/sfvectors/go.mod"
export GO111MODULE=off GOFLAGS= GOPATH="$WORK/gopath:/usr/share/gocode"
# Without HOME (some CI runners) Go has no default build cache.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
	export GOCACHE="$WORK/gocache"
fi
(cd "$WORK/gopath/src/sfvectors" && go vet . && go build -o "$WORK/sfvectors" .)
"$WORK/sfvectors" -out "$OUT" -only "$PARTS"
