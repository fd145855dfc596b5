# shellcheck shell=bash
# Helpers for the data-path interop tests (tests/interop/test_dp_*.sh): they run the real server
# between Go peers built from the upstream libraries (sfpeer, tests/tools/sfpeer/README.md):
#
#   sfpeer client --WebSocket--> snowflake-server --TCP--> sfpeer echo | sfpeer extor
#
# Source it, then call dp_setup. Every wait is bounded, every process is ours and is stopped by
# PID from the EXIT trap; the server also gets tor's stdin-close signal when the test dies.
# Tests may run in parallel (ctest -j): each has its own work dir, and the peers listen on
# port 0 (the kernel picks); only the server's port is picked in advance, with retries.
#
# Environment (CTest sets the first four):
#   SF_SERVER      server binary            SFPEER        sfpeer binary
#   SF_SOURCE_DIR, SF_BUILD_DIR (informational)
#   SF_TEST_SCALE  factor for byte counts (default 1 = full size; e.g. 0.25 for slow ASan runs)
#   SF_KEEP_WORK=1 keep the work dir even when the test passes
#   SF_TEST_SECCOMP=1 every server started here (and by acme_lib.sh) runs with --seccomp
#
# DP_TOOLS is tests/tools (probe.py, sfpeer's sources).
#
# Results (globals): DP_WORK work dir, DP_URL ws://127.0.0.1:PORT/ of the server,
# DP_ORPORT (echo address), DP_EXTOR_ADDR / DP_EXTOR_OUT (extor address / its JSON lines),
# DP_SERVER_PID, DP_CLIENT_RC / DP_CLIENT_JSON (last client run).

set -uo pipefail

DP_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)

DP_NAME=""
DP_WORK=""
DP_DEADLINE=0
DP_PIDS=()
DP_PASSED=0
DP_ORPORT=""
DP_ECHO_PID=""
DP_EXTOR_ADDR=""
DP_EXTOR_COOKIE=""
DP_EXTOR_OUT=""
DP_EXTOR_PID=""
DP_SERVER_PID=""
DP_SERVER_DIR=""
DP_URL=""
DP_CLIENT_RC=""
DP_CLIENT_JSON=""
DP_CLIENT_ERR=""

# Seconds kept back from the ctest timeout for stopping everything and printing diagnostics.
DP_MARGIN=25

dp_say() { echo "[$DP_NAME +${SECONDS}s] $*"; }

# dp_sanitizer_build — true when $SF_SERVER is an ASan build. Reads ldd's whole output first:
# with pipefail, `ldd | grep -q` fails whenever grep leaves before ldd has written everything
# (a race that once sent --seccomp to an ASan server in CI).
dp_sanitizer_build()
{
	local libs
	libs=$(ldd "$SF_SERVER" 2>/dev/null)
	case $libs in *libasan*) return 0 ;; *) return 1 ;; esac
}

# dp_fail MSG... — prints MSG and everything useful for a diagnosis, then exits 1.
dp_fail()
{
	echo "FAIL: $*" >&2
	dp_diagnostics >&2
	exit 1
}

dp_tail()
{
	[ -s "$1" ] || return 0
	echo "---- $1 (last ${2:-30} lines)"
	tail -n "${2:-30}" "$1"
}

dp_diagnostics()
{
	if [ -n "$DP_SERVER_DIR" ]; then
		dp_tail "$DP_SERVER_DIR/stdout" 20
		dp_tail "$DP_SERVER_DIR/server.log" 40
		dp_tail "$DP_SERVER_DIR/stderr" 60 # sanitizer reports land here
	fi
	if [ -n "$DP_CLIENT_JSON" ] && [ -s "$DP_CLIENT_JSON" ]; then
		echo "---- sfpeer client JSON ($DP_CLIENT_JSON), exit status $DP_CLIENT_RC"
		cat "$DP_CLIENT_JSON"
		dp_tail "$DP_CLIENT_ERR" 10
	fi
	[ -n "$DP_EXTOR_OUT" ] && dp_tail "$DP_EXTOR_OUT" 20
	echo "----"
}

# dp_budget MAX — seconds a wait may take: at most MAX, never past the deadline, at least 1.
dp_budget()
{
	local left=$((DP_DEADLINE - SECONDS))
	[ "$left" -lt 1 ] && left=1
	[ "$left" -lt "$1" ] && { echo "$left"; return; }
	echo "$1"
}

# dp_scale N [MIN] — N × SF_TEST_SCALE, rounded, at least MIN (default 1).
dp_scale()
{
	python3 -c 'import sys; print(max(int(sys.argv[3]), round(int(sys.argv[1]) * float(sys.argv[2]))))' \
		"$1" "${SF_TEST_SCALE:-1}" "${2:-1}"
}

dp_free_port()
{
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# dp_alive PID — running (an exited child not yet reaped, a zombie, does not count).
dp_alive()
{
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]
}

# dp_wait_line FILE ERE SECONDS [PID] — until a line of FILE matches ERE; gives up early when
# PID (the process writing FILE) has exited.
dp_wait_line()
{
	local file=$1 re=$2 end=$((SECONDS + $3)) pid=${4:-}
	while [ "$SECONDS" -le "$end" ]; do
		grep -Eq -- "$re" "$file" 2>/dev/null && return 0
		if [ -n "$pid" ] && ! dp_alive "$pid"; then
			grep -Eq -- "$re" "$file" 2>/dev/null && return 0
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# dp_stop PID [SECONDS] — SIGTERM, bounded wait, then SIGKILL. Sets DP_STOP_STATUS (the exit
# status as `wait` reports it: 128+N for signal N) and DP_STOP_KILLED=1 if SIGKILL was needed.
dp_stop()
{
	local pid=$1 end=$((SECONDS + ${2:-5}))
	DP_STOP_STATUS=""
	DP_STOP_KILLED=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	while dp_alive "$pid" && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.1
	done
	if dp_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		DP_STOP_KILLED=1
	fi
	wait "$pid" 2>/dev/null
	DP_STOP_STATUS=$?
}

dp_cleanup()
{
	local pid
	for pid in "${DP_PIDS[@]}"; do
		dp_alive "$pid" && dp_stop "$pid" 5
	done
	[ -n "$DP_WORK" ] || return 0
	if [ "$DP_PASSED" = 1 ] && [ "${SF_KEEP_WORK:-0}" != 1 ]; then
		rm -rf "$DP_WORK"
	else
		echo "work dir kept: $DP_WORK" >&2
	fi
}

# dp_setup NAME — checks the environment, makes the work dir, installs the traps and takes the
# deadline from this script's "# timeout: N" line (the ctest timeout).
dp_setup()
{
	DP_NAME=$1
	local var timeout
	for var in SF_SERVER SFPEER; do
		[ -n "${!var:-}" ] || dp_fail "$var is not set (run through ctest, or export it)"
	done
	[ -x "$SF_SERVER" ] || dp_fail "SF_SERVER=$SF_SERVER is not an executable file"
	[ -x "$SFPEER" ] || dp_fail "SFPEER=$SFPEER is not an executable file (build target sfpeer)"
	command -v python3 >/dev/null || dp_fail "python3 is needed"
	python3 -c 'import sys; f = float(sys.argv[1]); sys.exit(0 if f > 0 else 1)' \
		"${SF_TEST_SCALE:-1}" 2>/dev/null || dp_fail "SF_TEST_SCALE must be a number > 0"
	timeout=$(sed -n 's/^# timeout: \([0-9]\+\)$/\1/p' "$0" | head -n 1)
	[ -n "$timeout" ] || timeout=300
	DP_DEADLINE=$((SECONDS + timeout - DP_MARGIN))
	# Hundreds of sessions need more descriptors than the usual soft limit of 1024 (tor too
	# raises its limit, and its children inherit it).
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	DP_WORK=$(mktemp -d "${TMPDIR:-/tmp}/sf-dp-$DP_NAME.XXXXXX") || dp_fail "mktemp failed"
	trap dp_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	dp_say "server $SF_SERVER, scale ${SF_TEST_SCALE:-1}, work dir $DP_WORK"
}

# dp_pass — marks the test passed (the work dir is then removed) and exits 0.
dp_pass()
{
	DP_PASSED=1
	dp_say "PASS"
	exit 0
}

# Background helpers run at most until the ctest timeout, even if nothing stops them.
dp_lifetime() { echo "$((DP_DEADLINE + DP_MARGIN - SECONDS + 5))s"; }

# dp_start_echo [ARGS...] — sfpeer echo as the ORPort. Sets DP_ORPORT, DP_ECHO_PID.
# shellcheck disable=SC2120 # arguments are optional
dp_start_echo()
{
	local out=$DP_WORK/echo.out
	: >"$out" # now, not in the background job: a restart must not find the last run's lines
	"$SFPEER" echo --listen 127.0.0.1:0 --lifetime "$(dp_lifetime)" "$@" >"$out" 2>"$DP_WORK/echo.err" &
	DP_ECHO_PID=$!
	DP_PIDS+=("$DP_ECHO_PID")
	dp_wait_line "$out" '"event":"listening"' "$(dp_budget 10)" "$DP_ECHO_PID" ||
		dp_fail "sfpeer echo did not start: $(cat "$out" "$DP_WORK/echo.err" 2>/dev/null)"
	DP_ORPORT=$(sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' "$out" | head -n 1)
	[ -n "$DP_ORPORT" ] || dp_fail "cannot parse sfpeer echo's address: $(cat "$out")"
	dp_say "sfpeer echo on $DP_ORPORT (pid $DP_ECHO_PID)"
}

# dp_start_extor [ARGS...] — sfpeer extor as the Extended ORPort; it writes the auth cookie.
# Sets DP_EXTOR_ADDR, DP_EXTOR_COOKIE, DP_EXTOR_OUT (one JSON line per connection), DP_EXTOR_PID.
# shellcheck disable=SC2120 # arguments are optional
dp_start_extor()
{
	DP_EXTOR_OUT=$DP_WORK/extor.out
	DP_EXTOR_COOKIE=$DP_WORK/extor_auth_cookie
	# Emptied now: the background job's own redirection may come after dp_wait_line has read
	# the previous run's "listening" line (a restart on the same port did, in CI).
	: >"$DP_EXTOR_OUT"
	"$SFPEER" extor --listen 127.0.0.1:0 --cookie "$DP_EXTOR_COOKIE" --lifetime "$(dp_lifetime)" "$@" \
		>"$DP_EXTOR_OUT" 2>"$DP_WORK/extor.err" &
	DP_EXTOR_PID=$!
	DP_PIDS+=("$DP_EXTOR_PID")
	dp_wait_line "$DP_EXTOR_OUT" '"event":"listening"' "$(dp_budget 10)" "$DP_EXTOR_PID" ||
		dp_fail "sfpeer extor did not start: $(cat "$DP_EXTOR_OUT" "$DP_WORK/extor.err" 2>/dev/null)"
	DP_EXTOR_ADDR=$(sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' "$DP_EXTOR_OUT" | head -n 1)
	[ -n "$DP_EXTOR_ADDR" ] || dp_fail "cannot parse sfpeer extor's address: $(cat "$DP_EXTOR_OUT")"
	dp_say "sfpeer extor on $DP_EXTOR_ADDR (pid $DP_EXTOR_PID)"
}

# dp_start_server [NAME=VALUE...] — the server as tor runs it: managed PT env, --disable-tls,
# --log, stdin a pipe that closes when this script ends (TOR_PT_EXIT_ON_STDIN_CLOSE=1). The
# ORPort is the extor if one was started, else the echo. NAME=VALUE arguments are added to
# (or override) the server's environment; DP_SERVER_ARGS (array) adds command-line flags.
# Waits for SMETHODS DONE and checks the SMETHOD line. Sets DP_URL, DP_SERVER_PID, DP_SERVER_DIR.
# shellcheck disable=SC2120 # arguments are optional
dp_start_server()
{
	local attempt port
	for attempt in 1 2 3; do
		port=$(dp_free_port) || dp_fail "cannot pick a free port"
		DP_SERVER_DIR=$DP_WORK/server-$port
		mkdir -p "$DP_SERVER_DIR/state"
		dp_spawn_server "$port" "$@"
		if dp_wait_line "$DP_SERVER_DIR/stdout" '^SMETHODS DONE$' "$(dp_budget 10)" "$DP_SERVER_PID"; then
			if grep -q "^SMETHOD-ERROR snowflake .*address already in use" "$DP_SERVER_DIR/stdout"; then
				dp_say "port $port was taken meanwhile (attempt $attempt); retrying"
				dp_stop "$DP_SERVER_PID" 5
				continue
			fi
			break
		fi
		dp_alive "$DP_SERVER_PID" || dp_fail "the server exited before SMETHODS DONE"
		dp_fail "no SMETHODS DONE on the server's stdout within 10 s"
	done
	grep -Fxq "SMETHOD snowflake 127.0.0.1:$port ARGS:tls=no" "$DP_SERVER_DIR/stdout" ||
		dp_fail "the server's stdout lacks 'SMETHOD snowflake 127.0.0.1:$port ARGS:tls=no'"
	dp_alive "$DP_SERVER_PID" || dp_fail "the server exited right after SMETHODS DONE"
	DP_URL="ws://127.0.0.1:$port/"
	dp_say "server at $DP_URL (pid $DP_SERVER_PID)"
}

dp_spawn_server()
{
	local port=$1 kv
	shift
	(
		unset "${!TOR_PT_@}"
		export TOR_PT_MANAGED_TRANSPORT_VER=1
		export TOR_PT_SERVER_TRANSPORTS=snowflake
		export TOR_PT_SERVER_BINDADDR="snowflake-127.0.0.1:$port"
		export TOR_PT_STATE_LOCATION="$DP_SERVER_DIR/state"
		export TOR_PT_EXIT_ON_STDIN_CLOSE=1
		if [ -n "$DP_EXTOR_ADDR" ]; then
			export TOR_PT_EXTENDED_SERVER_PORT="$DP_EXTOR_ADDR"
			export TOR_PT_AUTH_COOKIE_FILE="$DP_EXTOR_COOKIE"
		else
			export TOR_PT_ORPORT="$DP_ORPORT"
		fi
		for kv in "$@"; do
			export "${kv?}"
		done
		exec "$SF_SERVER" --disable-tls --log "$DP_SERVER_DIR/server.log" "${DP_SANDBOX_ARGS[@]}" \
			"${DP_SERVER_ARGS[@]}"
	) < <(exec 2>/dev/null; while kill -0 $$; do sleep 1; done) \
		>"$DP_SERVER_DIR/stdout" 2>"$DP_SERVER_DIR/stderr" &
	DP_SERVER_PID=$!
	DP_PIDS+=("$DP_SERVER_PID")
}
DP_SERVER_ARGS=()
# SF_TEST_SECCOMP=1 (scripts/test.sh's release stage): the whole suite once with the sandbox on.
DP_SANDBOX_ARGS=()
[ "${SF_TEST_SECCOMP:-0}" = 1 ] && DP_SANDBOX_ARGS=(--seccomp)

# dp_stop_server — the server must still be running, and must exit with status 0 on SIGTERM.
dp_stop_server()
{
	dp_alive "$DP_SERVER_PID" || { wait "$DP_SERVER_PID"; dp_fail "the server died during the test (status $?)"; }
	dp_stop "$DP_SERVER_PID" "$(dp_budget 15)"
	[ "$DP_STOP_KILLED" = 0 ] || dp_fail "the server did not exit within 15 s of SIGTERM"
	[ "$DP_STOP_STATUS" = 0 ] || dp_fail "the server exited with status $DP_STOP_STATUS on SIGTERM"
	dp_say "server stopped by SIGTERM, status 0"
}

# dp_client NAME [ARGS...] — runs sfpeer client against the server; its --timeout ends before
# the test's deadline (a later --timeout in ARGS wins). Never fails by itself: sets
# DP_CLIENT_RC and DP_CLIENT_JSON (the JSON result), prints sfpeer's summary line.
dp_client()
{
	local name=$1
	shift
	DP_CLIENT_JSON=$DP_WORK/client-$name.json
	DP_CLIENT_ERR=$DP_WORK/client-$name.err
	dp_say "sfpeer client $*"
	"$SFPEER" client --url "$DP_URL" --json --timeout "$(dp_budget 100000)s" "$@" \
		>"$DP_CLIENT_JSON" 2>"$DP_CLIENT_ERR"
	DP_CLIENT_RC=$?
	dp_say "$(tail -n 1 "$DP_CLIENT_ERR") (exit status $DP_CLIENT_RC)"
}

# dp_check FILE EXPR... — each EXPR is a Python expression over j, the last JSON object in
# FILE; returns 1 (printing the failed ones) if any is false or cannot be evaluated.
dp_check()
{
	python3 - "$@" <<'EOF'
import json, sys
path, exprs = sys.argv[1], sys.argv[2:]
try:
    with open(path) as f:
        j = json.loads([l for l in f if l.startswith("{")][-1])
except Exception as e:
    print(f"check: no JSON object in {path}: {e!r}")
    sys.exit(1)
bad = 0
for e in exprs:
    try:
        ok = eval(e, {"j": j})
    except Exception as x:
        ok, e = False, f"{e}  ({x!r})"
    if not ok:
        print(f"check failed: {e}")
        bad += 1
sys.exit(1 if bad else 0)
EOF
}

# dp_expect_client_ok SESSIONS STREAMS [BYTES] — the last client run succeeded completely:
# exit status 0, every session and stream ok, no verification failure, no mangled KCP packet,
# and (bulk) exactly SESSIONS×STREAMS×BYTES bytes verified, else at least one.
dp_expect_client_ok()
{
	local s=$1 m=$2 b=${3:-} bytes_check
	if [ -n "$b" ]; then
		bytes_check="j['bytes_verified'] == $s * $m * $b"
	else
		bytes_check="j['bytes_verified'] > 0"
	fi
	[ "$DP_CLIENT_RC" = 0 ] || dp_fail "sfpeer client exited with status $DP_CLIENT_RC"
	dp_check "$DP_CLIENT_JSON" \
		"j['sessions_ok'] == $s" "j['sessions_failed'] == 0" \
		"j['streams_ok'] == $s * $m" "j['streams_failed'] == 0" \
		"j['verify_failures'] == 0" "$bytes_check" \
		"j['kcp_client']['kcp_in_errors'] == 0" \
		"not j['timed_out']" ||
		dp_fail "sfpeer client's result is not a complete success"
}
