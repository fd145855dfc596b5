#!/bin/sh
# Builds sfpeer with Debian's Go toolchain and Debian-packaged Go libraries, in GOPATH mode
# (no network besides apt). Usage: build.sh OUTDIR   → OUTDIR/sfpeer
# SFPEER_TEST=1 also runs the Go unit tests (go test) before building.
# Installs the needed Debian packages with apt-get if any is missing.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
OUT=$(cd "$1" && pwd)

PKGS="golang-go golang-github-xtaci-kcp-dev golang-github-xtaci-smux-dev \
golang-github-gorilla-websocket-dev golang-snowflake-dev golang-goptlib-dev"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "sfpeer/build.sh: installing:$missing" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing >&2
fi

# The imports ".../snowflake.git/v2/..." and "github.com/xtaci/kcp-go/v5" resolve in GOPATH
# mode only for a package that sits in a GOPATH and has a go.mod ("minimal module
# compatibility"): build a copy in a private GOPATH, next to /usr/share/gocode.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sfpeer-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/gopath/src/sfpeer"
cp "$HERE"/*.go "$WORK/gopath/src/sfpeer/"
printf 'module sfpeer\n\ngo 1.19\n' >"$WORK/gopath/src/sfpeer/go.mod"

cd "$WORK/gopath/src/sfpeer"
export GO111MODULE=off
export GOPATH="$WORK/gopath:/usr/share/gocode"
export GOFLAGS=
# Without HOME (e.g. some CI runners) Go has no default build cache.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
	export GOCACHE="$WORK/gocache"
fi
go vet . >&2
if [ "${SFPEER_TEST:-0}" = 1 ]; then
	go test -count=1 . >&2
fi
go build -o "$OUT/sfpeer.tmp" .
mv -f "$OUT/sfpeer.tmp" "$OUT/sfpeer"
echo "$OUT/sfpeer"
