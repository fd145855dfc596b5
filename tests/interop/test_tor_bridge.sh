# labels: tor
# timeout: 120
# shellcheck shell=bash
#
# Debian's tor, as a bridge on loopback in a network namespace of its own, runs SF_SERVER as its
# `snowflake` ServerTransportPlugin (--disable-tls). Checked from tor's own logs and the
# server's --log file:
#   1. default options: tor accepts the stdout protocol and registers the transport at the
#      configured address; the port is open; SIGTERM to tor ends the server with status 0 and
#      a logged "exiting" line (the status is seen through scripts/lib/pt-exit-status.py).
#   2. ServerTransportOptions num-turbotunnel=2: still registers; tor stops, server exits.
#   3. num-turbotunnel=0: tor logs the server's SMETHOD-ERROR and registers nothing; tor is
#      then SIGKILLed (a crash) and the server must still exit. It gets SIGTERM from the
#      kernel (tor sets PR_SET_PDEATHSIG=SIGTERM in its PT children) and stdin EOF at once.
# Needs root and `ip netns`; without them it FAILS (tor must never run outside a namespace).
# Environment: SF_SERVER (server binary), SF_SOURCE_DIR, SF_BUILD_DIR (unused).
set -u

DEADLINE=$((SECONDS + 95)) # below ctest's 120 s, leaving time for cleanup
TC_NAME=tor_bridge
# shellcheck source=tests/interop/tor_common.sh
. "$(dirname "$0")/tor_common.sh"
CASE_DIR=""

show_logs()
{
	[ -n "$CASE_DIR" ] || return 0
	echo "---- $CASE_DIR/tor-notice.log (last 30 lines)" >&2
	tail -n 30 "$CASE_DIR/tor-notice.log" >&2 2>/dev/null
	echo "---- managed proxy lines of $CASE_DIR/tor-info.log (first 30)" >&2
	grep -E "managed proxy|Managed proxy" "$CASE_DIR/tor-info.log" 2>/dev/null | head -n 30 >&2
	echo "---- $CASE_DIR/server.log (last 30 lines)" >&2
	tail -n 30 "$CASE_DIR/server.log" >&2 2>/dev/null
	echo "----" >&2
}

cleanup()
{
	sf_tb_cleanup
	tc_keep_or_remove_work
}

tc_need_server
tc_begin sf-torbridge

# Lines in tor's info log that mean tor did not like the server's stdout, or the server died.
BAD_LINES="ENV-ERROR|VERSION-ERROR|-> Broken|failed the configuration protocol|Unknown line"
BAD_LINES="$BAD_LINES|without TRANSPORT|terminated with status code|method error"
BAD_LINES="$BAD_LINES|didn't launch any pluggable transport"
# The server died or tor gave up on it: no use waiting any longer.
PT_DIED="terminated with status code|-> Broken|failed the configuration protocol"

# start_case NAME OR_PORT PT_PORT OPTIONS WRAP — writes the torrc and starts tor.
start_case()
{
	local name=$1 or_port=$2 pt_port=$3 options=$4 wrap=$5
	CASE_DIR=$WORK/$name
	mkdir -p "$CASE_DIR"
	local cmd=("$SERVER" --disable-tls --log "$CASE_DIR/server.log" "${TC_SANDBOX_ARGS[@]}")
	[ "$wrap" = yes ] && cmd=("$(command -v python3)" "$SRC/scripts/lib/pt-exit-status.py" "$CASE_DIR" "${cmd[@]}")
	sf_tor_write_torrc "$CASE_DIR" "127.0.0.1:$or_port" "127.0.0.1:$pt_port" "$options" \
		"${cmd[@]}" || fail "cannot write torrc"
	sf_tor_start "$CASE_DIR" || fail "cannot start tor"
	echo "[$name] tor pid $SF_TOR_PID, options '${options}'"
}

# Asserts tor registered snowflake at 127.0.0.1:$1 after reading exactly what it should.
expect_registered()
{
	local pt_port=$1 info=$CASE_DIR/tor-info.log line
	line="\\[notice\\] Registered server transport 'snowflake' at '127\\.0\\.0\\.1:$pt_port'"
	sf_tor_wait_log "$CASE_DIR/tor-notice.log" "$line" "$(budget 25)" "$PT_DIED" "$info" ||
		fail "tor did not register the snowflake transport at 127.0.0.1:$pt_port"
	grep -E "$line" "$CASE_DIR/tor-notice.log"
	sf_tor_wait_log "$info" "Server managed proxy '.*' configuration completed!" "$(budget 5)" ||
		fail "tor did not finish configuring the managed proxy"
	for line in '\(VERSION 1\)$' \
		'\(STATUS TYPE=version IMPLEMENTATION="snowflake-server" VERSION="[^"]*"\)$' \
		"\\(SMETHOD snowflake 127\\.0\\.0\\.1:$pt_port ARGS:tls=no\\)\$" \
		'\(SMETHODS DONE\)$'; do
		grep -Eq "Got a line from managed proxy '.*': $line" "$info" ||
			fail "tor's info log lacks the stdout line /$line/ from the server"
	done
	if grep -E "$BAD_LINES" "$info"; then
		fail "tor complained about the server (lines above)"
	fi
	# The registered port must really be open (inside the namespace).
	sf_netns_exec timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$pt_port" 2>/dev/null ||
		fail "nothing accepts TCP connections on the registered 127.0.0.1:$pt_port"
}

# Upstream installs its SIGTERM handler only after printing SMETHODS DONE; give the server a
# moment so that a stop right after registration tests shutdown, not that race.
settle() { sleep 0.5; }

# Echoes the pid of tor's only child: the server.
server_pid()
{
	local pids n
	pids=$(sf_tor_children)
	n=$(echo "$pids" | grep -c .)
	[ "$n" -eq 1 ] || fail "tor has $n children ($pids), expected exactly the server"
	tr '\0' '\n' <"/proc/$pids/cmdline" 2>/dev/null | grep -qxF "$SERVER" ||
		fail "tor's child $pids is not $SERVER: $(tr '\0' ' ' <"/proc/$pids/cmdline")"
	echo "$pids"
}

# expect_server_exit PID REGEX — the server must be gone soon and have logged REGEX.
expect_server_exit()
{
	local pid=$1 regex=$2
	sf_wait_pid_gone "$pid" "$(budget 10)" ||
		fail "server (pid $pid) still runs 10 s after tor went away"
	grep -Eq "$regex" "$CASE_DIR/server.log" ||
		fail "server log lacks a /$regex/ line"
	grep -E "$regex" "$CASE_DIR/server.log"
}

# ---- 1. default options, SIGTERM to tor, exit status observed
start_case default 9101 9102 "" yes
expect_registered 9102
tc_check_sandbox "$CASE_DIR/server.log"
pid=""
for ((i = 0; i < 50; i++)); do
	[ -s "$CASE_DIR/pt.pid" ] && pid=$(cat "$CASE_DIR/pt.pid") && break
	sleep 0.1
done
[ -n "$pid" ] || fail "the exit-status wrapper did not report the server's pid"
kill -0 "$pid" 2>/dev/null || fail "server (pid $pid) is not running after registration"
settle
sf_tor_stop "$(budget 10)" || fail "tor did not stop on SIGTERM"
[ "$SF_TOR_STATUS" -eq 0 ] || fail "tor exited with status $SF_TOR_STATUS after SIGTERM"
expect_server_exit "$pid" "exiting"
for ((i = 0; i < 30; i++)); do
	[ -s "$CASE_DIR/pt.status" ] && break
	sleep 0.1
done
[ -s "$CASE_DIR/pt.status" ] || fail "no exit status recorded for the server"
status=$(cat "$CASE_DIR/pt.status")
[ "$status" = 0 ] || fail "server exited with status $status after tor's SIGTERM, expected 0"
echo "[default] OK: registered, server exited with status 0"

# ---- 2. num-turbotunnel=2
start_case turbotunnel2 9111 9112 "num-turbotunnel=2" no
expect_registered 9112
pid=$(server_pid) || exit 1
tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "TOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:num-turbotunnel=2" ||
	fail "tor did not pass num-turbotunnel=2 to the server"
settle
sf_tor_stop "$(budget 10)" || fail "tor did not stop on SIGTERM"
expect_server_exit "$pid" "exiting"
echo "[turbotunnel2] OK: registered with num-turbotunnel=2, server exited"

# ---- 3. num-turbotunnel=0: SMETHOD-ERROR; then tor dies abruptly, the server must follow
start_case turbotunnel0 9121 9122 "num-turbotunnel=0" no
sf_tor_wait_log "$CASE_DIR/tor-notice.log" "didn't launch any pluggable transport listeners" \
	"$(budget 25)" "$PT_DIED" "$CASE_DIR/tor-info.log" ||
	fail "tor did not report a server without listeners"
want="[warn] Server managed proxy encountered a method error. (snowflake parsing num-turbotunnel: cannot be less than 1)"
grep -F "$want" "$CASE_DIR/tor-notice.log" || fail "tor's log lacks: $want"
if grep -F "Registered server transport" "$CASE_DIR/tor-notice.log"; then
	fail "tor registered a transport although num-turbotunnel=0 is invalid"
fi
pid=$(server_pid) || exit 1
settle
kill -KILL "$SF_TOR_PID"
wait "$SF_TOR_PID" 2>/dev/null
SF_TOR_PID=""
expect_server_exit "$pid" "exiting"
echo "[turbotunnel0] OK: SMETHOD-ERROR logged by tor, server exited after tor was killed"

CASE_DIR=""
PASSED=1
echo "PASS"
