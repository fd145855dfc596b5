#!/bin/sh
# Installs everything the build, the tests and the demo need on Debian 12.
# Idempotent: packages already present are not touched, apt-get update runs only when needed.
set -eu
PKGS="build-essential cmake pkg-config libevent-dev libssl-dev libwslay-dev libhttp-parser-dev
libcmocka-dev libcurl4-openssl-dev libjansson-dev libseccomp-dev tor haproxy iproute2 python3 openssl curl procps
tcpdump
golang-go golang-github-xtaci-kcp-dev golang-github-xtaci-smux-dev
golang-github-gorilla-websocket-dev golang-snowflake-dev golang-goptlib-dev pebble
python3-cryptography prometheus gnuplot-nox
clang libclang-rt-14-dev llvm-14
systemd man-db groff-base logrotate debhelper dpkg-dev lintian"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing:$missing" >&2
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >&2
