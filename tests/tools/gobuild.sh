#!/bin/sh
# Builds one Go program of this repository with Debian's Go toolchain and Debian-packaged Go
# libraries, in GOPATH mode (no network besides apt): the test peer, the TLS probe, the vector
# generator. Usage: gobuild.sh NAME SRCDIR OUTFILE [--test]
#   NAME     package/module name of the private copy      SRCDIR  folder holding its *.go files
#   OUTFILE  the binary to write (atomically)             --test  run `go test` first
# Installs the Debian packages it needs when one is missing (GOBUILD_NO_INSTALL=1: only say so).
set -eu
[ $# -ge 3 ] || { echo "usage: $0 NAME SRCDIR OUTFILE [--test]" >&2; exit 2; }
name=$1
src=$(cd "$2" && pwd)
mkdir -p "$(dirname "$3")"
out=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
run_tests=${4:-}

PKGS="golang-go golang-github-xtaci-kcp-dev golang-github-xtaci-smux-dev
golang-github-gorilla-websocket-dev golang-snowflake-dev golang-goptlib-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "${GOBUILD_NO_INSTALL:-0}" = 1 ]; then
		echo "gobuild.sh: missing Debian packages:$missing" >&2
		exit 1
	fi
	echo "gobuild.sh ($name): installing:$missing" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -q >&2
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing >&2
fi

# The imports ".../snowflake.git/v2/..." and "github.com/xtaci/kcp-go/v5" resolve in GOPATH mode
# only for a package that sits in a GOPATH and has a go.mod ("minimal module compatibility"):
# build a copy in a private GOPATH placed before /usr/share/gocode.
work=$(mktemp -d "${TMPDIR:-/tmp}/$name-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/gopath/src/$name"
cp "$src"/*.go "$work/gopath/src/$name/"
printf 'module %s\n\ngo 1.19\n' "$name" >"$work/gopath/src/$name/go.mod"
cd "$work/gopath/src/$name"
export GO111MODULE=off GOFLAGS= GOPATH="$work/gopath:/usr/share/gocode"
# Without HOME (some CI runners) Go has no default build cache.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
	export GOCACHE="$work/gocache"
fi
go vet . >&2
[ "$run_tests" != --test ] || go test -count=1 . >&2
go build -o "$out.tmp" .
mv -f "$out.tmp" "$out"
echo "$out"
