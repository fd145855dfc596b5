#!/bin/sh
# The Debian package as an operator gets it: builds the .deb from a copy of this tree (without
# build directories or git metadata; dpkg-buildpackage writes its output next to the source, so
# both live in a temporary directory), installs it with apt, checks what it installed, runs
# lintian (errors fail, warnings are printed), then purges it. As root on Debian 12, after
# scripts/install-deps.sh. About 1-2 minutes on 2 cores.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "package-test: run as root (it installs the package)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/sf-package.XXXXXX")
installed=0
cleanup() {
	[ "$installed" = 1 ] && DEBIAN_FRONTEND=noninteractive apt-get purge -y -q snowflake-server >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)
say() { echo "package-test [+$(($(date +%s) - start))s]: $*"; }
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }

mkdir "$work/snowflake-server"
# What .gitignore ignores is left out too (build trees, bench results, bytecode).
tar -C . --exclude='./build*' --exclude='./.git' --exclude='./bench/results' --exclude='__pycache__' \
	--exclude='*.pyc' -cf - . |
	tar -C "$work/snowflake-server" -xf -
say "building the .deb in $work"
if ! (cd "$work/snowflake-server" &&
	DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -n 60 "$work/build.log" >&2
	fail "dpkg-buildpackage failed"
fi
deb=$(ls "$work"/snowflake-server_*.deb)
say "built $(basename "$deb"), Depends: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb --contents "$deb" | awk '{ print "  " $1 " " $6 ($7 ? " " $7 " " $8 : "") }'

# Refuses to install over an existing snowflake-server package from elsewhere.
dpkg-query -W -f='${Status}' snowflake-server 2>/dev/null | grep -q "install ok installed" &&
	fail "a snowflake-server package is already installed; remove it first"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log" >&2; fail "apt-get install of the .deb failed"; }
say "installed"

v=$(snowflake-server --version 2>&1) || fail "snowflake-server --version failed"
echo "$v" | grep -Eq '^snowflake-server [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version printed: $v"
say "--version: $v"
page=$(man -w snowflake-server) || fail "man -w snowflake-server found no page"
[ "$page" = /usr/share/man/man1/snowflake-server.1.gz ] || fail "man page at $page"
MANWIDTH=80 man --warnings snowflake-server 2>"$work/man.err" >/dev/null || fail "man snowflake-server failed"
[ -s "$work/man.err" ] && { cat "$work/man.err" >&2; fail "man page warnings"; }
say "man page: $page (no warnings)"

unit=/lib/systemd/system/snowflake-server.service
[ -f "$unit" ] || fail "no $unit"
state=$(systemctl is-enabled snowflake-server.service 2>&1 || true)
[ "$state" = disabled ] || fail "the unit must be installed disabled, is '$state'"
getent passwd _snowflake >/dev/null || fail "the package did not create the system user _snowflake"
for f in /etc/default/snowflake-server /etc/logrotate.d/snowflake-server; do
	[ -f "$f" ] || fail "no $f"
	dpkg-query -W -f='${Conffiles}\n' snowflake-server | grep -q " $f " || fail "$f is not a conffile"
done
# The logrotate rules parse (dry run; the user in their `su` line exists now).
logrotate -d /etc/logrotate.d/snowflake-server >"$work/logrotate.out" 2>&1 ||
	{ cat "$work/logrotate.out" >&2; fail "logrotate -d /etc/logrotate.d/snowflake-server"; }
grep -qi 'error' "$work/logrotate.out" && { cat "$work/logrotate.out" >&2; fail "logrotate rules: errors"; }
# Installed for real now: the binary, the user and the man page the unit names all exist.
systemd-analyze verify "$unit" >"$work/verify.out" 2>&1 || true
[ -s "$work/verify.out" ] && { cat "$work/verify.out" >&2; fail "systemd-analyze verify $unit"; }
say "unit: disabled, user _snowflake, conffiles in /etc, logrotate rules parse, systemd-analyze verify clean"

say "lintian (errors fail; warnings and info are reported):"
set +e
lintian --info --fail-on error "$deb" >"$work/lintian.out" 2>&1
lintian_rc=$?
set -e
sed 's/^/  /' "$work/lintian.out"
[ "$lintian_rc" = 0 ] || fail "lintian found errors (status $lintian_rc)"
say "PASS"
