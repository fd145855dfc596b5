# Shared by every test that runs a real tor in a network namespace of its own
# (test_tor_datapath.sh, test_tor_bridge.sh, and through tor_shape_lib.sh the production-shape
# tests): failing with the test's logs, bounded waits, the checks of what the test needs, and
# the work dir with its traps. A test sets DEADLINE and TC_NAME, sources this file, defines
# show_logs (what to print on failure) and cleanup (its EXIT trap), then calls tc_need_server
# and tc_begin. Every wait is bounded by DEADLINE, below ctest's timeout.
# shellcheck shell=bash

SRC=${SF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=scripts/lib/tor-netns.sh
. "$SRC/scripts/lib/tor-netns.sh"

WORK=""
PASSED=0
# SF_TEST_SECCOMP=1 (scripts/test.sh's release stage): the server under tor runs in the sandbox
# too, as every server of lib.sh does. A sanitizer build refuses --seccomp; that stage never
# sets it.
TC_SANDBOX_ARGS=()
[ "${SF_TEST_SECCOMP:-0}" = 1 ] && TC_SANDBOX_ARGS=(--seccomp)

say() { echo "[${TC_NAME:-tor} +${SECONDS}s] $*"; }

fail()
{
	echo "FAIL: $*" >&2
	show_logs
	exit 1
}

# Seconds left for a wait: at most $1, never past DEADLINE, at least 1.
budget()
{
	local left=$((DEADLINE - SECONDS))
	[ "$left" -lt 1 ] && left=1
	[ "$left" -lt "$1" ] && { echo "$left"; return; }
	echo "$1"
}

# tc_need_server [probe] — SF_SERVER (and SFTLSPROBE with "probe") are set to executables; sets
# SERVER (and PROBE) to their real paths: tor and the namespace see them by those.
# shellcheck disable=SC2120 # the argument is optional
tc_need_server()
{
	[ -n "${SF_SERVER:-}" ] || fail "SF_SERVER (path of snowflake-server) is not set"
	[ -x "$SF_SERVER" ] || fail "SF_SERVER=$SF_SERVER is not an executable file"
	# shellcheck disable=SC2034 # used by the test that sources this file
	SERVER=$(realpath "$SF_SERVER")
	[ "${1:-}" = probe ] || return 0
	[ -n "${SFTLSPROBE:-}" ] || fail "SFTLSPROBE (path of sftlsprobe) is not set"
	[ -x "$SFTLSPROBE" ] || fail "SFTLSPROBE=$SFTLSPROBE is not an executable file (build target sftlsprobe)"
	# shellcheck disable=SC2034 # used by the test that sources this file
	PROBE=$(realpath "$SFTLSPROBE")
}

# tc_begin WORKPREFIX [sanitizer-logs] — root and `ip netns` (the test fails without them: tor
# never runs outside a namespace), the work dir in WORK (/tmp/WORKPREFIX.XXXXXX: no spaces, it
# goes into torrc lines), the traps (cleanup on EXIT), the namespace. With "sanitizer-logs", a
# sanitizer build writes its reports into the work dir (tor passes the variables on to the PT).
tc_begin()
{
	sf_netns_preflight || fail "this test needs root and 'ip netns' to run tor in a network" \
		"namespace of its own; it does not skip"
	WORK=$(mktemp -d "/tmp/$1.XXXXXX") || fail "mktemp"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ "${2:-}" = sanitizer-logs ]; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$WORK/sanitizer.asan"
		export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$WORK/sanitizer.ubsan"
	fi
	sf_netns_create || fail "cannot create a network namespace (root and 'ip netns' needed)"
	say "namespace $SF_NETNS, work dir $WORK"
}

# tc_check_sandbox LOG — with SF_TEST_SECCOMP=1, the server said in LOG that its sandbox is on
# (bounded wait: it says so right after binding).
tc_check_sandbox()
{
	[ "${#TC_SANDBOX_ARGS[@]}" -gt 0 ] || return 0
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q 'seccomp sandbox on' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "SF_TEST_SECCOMP=1 but no 'seccomp sandbox on' in $1"
}

# tc_keep_or_remove_work — at exit: the work dir goes once the test passed (unless
# SF_KEEP_WORK=1), else it stays for a look and is named.
tc_keep_or_remove_work()
{
	[ -n "$WORK" ] || return 0
	if [ "$PASSED" = 1 ] && [ "${SF_KEEP_WORK:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "work dir kept: $WORK" >&2
	fi
}
