#!/bin/bash
# cmake/version.cmake, which writes the version the program prints at every build: in a scratch
# git repository it names the commit (8 hex digits), marks changed tracked files with *, follows a
# new commit without any reconfiguring, leaves the file untouched (same mtime) when nothing
# changed, and outside a git tree gives the bare version.
set -euo pipefail
: "${SF_SOURCE_DIR:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/sf-version.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
gen() { cmake -DSRC="$work/repo" -DOUT="$work/v.c" -DVERSION=9.8.7 -DGIT="$(command -v git)" \
	-P "$SF_SOURCE_DIR/cmake/version.cmake"; }
want() { grep -qxF "const char sf_version[] = \"$1\";" "$work/v.c" || fail "want \"$1\": $(cat "$work/v.c")"; }

mkdir "$work/repo"
gen
want "9.8.7"
git -C "$work/repo" init -q
git -C "$work/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m one
echo a >"$work/repo/f"
git -C "$work/repo" add f
git -C "$work/repo" -c user.name=t -c user.email=t@t commit -q -m two
rev=$(git -C "$work/repo" rev-parse --short=8 HEAD)
gen
want "9.8.7 ($rev)"
touch -d '2001-01-01' "$work/v.c"
gen
[ "$(stat -c %Y "$work/v.c")" = "$(date -d '2001-01-01' +%s)" ] || fail "rewritten though unchanged"
echo b >"$work/repo/f"
gen
want "9.8.7 ($rev*)"
git -C "$work/repo" -c user.name=t -c user.email=t@t commit -q -am three
rev3=$(git -C "$work/repo" rev-parse --short=8 HEAD)
[ "$rev3" != "$rev" ] || fail "the third commit has the second's id"
gen
want "9.8.7 ($rev3)"
grep -q '#include "lib/version.h"' "$work/v.c" || fail "no declaration included"
echo "version.cmake: bare 9.8.7 outside git, the commit, its * when changed, the next commit, no rewrite"
