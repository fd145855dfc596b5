# Shared by the tests of the production shape with real tors (test_tor_haproxy.sh,
# test_tor_multi_extor.sh): the work dir and namespace, logs on failure, the standalone server,
# sftlsprobe sessions and what the tors saw. Source it, then call ts_setup NAME WORKPREFIX.
# Everything runs in one network namespace of its own (scripts/lib/tor-netns.sh).
# Environment (set by ctest): SF_SERVER, SFTLSPROBE, SF_SOURCE_DIR. SF_KEEP_WORK=1 keeps logs.
# shellcheck shell=bash

DEADLINE=$((SECONDS + 120)) # below ctest's 150 s, leaving time for cleanup
# shellcheck source=tests/interop/tor_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/tor_common.sh"
# shellcheck source=scripts/lib/tor-bridges.sh
. "$SRC/scripts/lib/tor-bridges.sh"

SERVER_PORT=7000            # fixed ports are fine: the namespace is ours alone
SERVER_PID=""
TS_EXTRA_LOGS=()            # a test's own logs to show on failure (globs allowed)
TS_EXTRA_PIDS=()            # a test's own processes, stopped at exit before the tors

show_logs()
{
	[ -n "$WORK" ] || return 0
	local f
	# shellcheck disable=SC2068 # the globs in TS_EXTRA_LOGS are meant to expand
	for f in "$WORK"/tor*/tor-notice.log ${TS_EXTRA_LOGS[@]} "$WORK/server.log" "$WORK/server.stderr"; do
		[ -s "$f" ] && { echo "---- $f (last 15 lines)" >&2; tail -n 15 "$f" >&2; }
	done
	for f in "$WORK"/probes/*.json; do
		[ -e "$f" ] || continue
		grep -q '"handshake":"ok"' "$f" || echo "---- failed probe $f: $(cat "$f")" >&2
	done
	for f in "$WORK"/sanitizer.*; do
		[ -s "$f" ] && { echo "---- $f" >&2; head -n 60 "$f" >&2; }
	done
	echo "----" >&2
}

stop_pid()
{
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	sf_wait_pid_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

cleanup()
{
	local pid
	stop_pid "$SERVER_PID"
	for pid in "${TS_EXTRA_PIDS[@]}"; do
		stop_pid "$pid"
	done
	sf_bridges_cleanup
	tc_keep_or_remove_work
}

# ts_setup NAME WORKPREFIX — checks what the test needs, makes the work dir (no spaces: it goes
# into torrc lines), installs the traps and creates the namespace.
ts_setup()
{
	TC_NAME=$1
	tc_need_server probe
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	tc_begin "$2" sanitizer-logs
	mkdir -p "$WORK/probes" "$WORK/state"
}

# ts_check_identity — tor 1 and tor 2 have the shared fingerprint and the same ed25519 identity
# (tor logs the latter a little after opening its listeners).
ts_check_identity()
{
	local i fp
	local -a ed
	for i in 1 2; do
		sf_bridge_wait_log "$i" tor-notice.log "identity key ed25519 fingerprint is 'sfbridge$i " \
			"$(budget 20)" || fail "tor $i logged no ed25519 identity"
		fp=$(awk '{ print $2 }' "${SF_BRIDGE_DIRS[i]}/data/fingerprint")
		[ "$fp" = "$SF_BRIDGE_FINGERPRINT" ] ||
			fail "tor $i has fingerprint '$fp', not the shared $SF_BRIDGE_FINGERPRINT"
		ed[i]=$(sed -n "s/.*identity key ed25519 fingerprint is 'sfbridge$i \\(.*\\)'$/\\1/p" \
			"${SF_BRIDGE_DIRS[i]}/tor-notice.log")
		[ -n "${ed[i]}" ] || fail "tor $i logged no ed25519 identity"
	done
	[ "${ed[1]}" = "${ed[2]}" ] || fail "the tors' ed25519 identities differ: ${ed[1]} ${ed[2]}"
}

# ts_start_server NAME=VALUE... — the server as production runs it: standalone (no tor parent),
# hand-written TOR_PT_* environment plus the given variables, bound on [::]:SERVER_PORT, stdin
# closed yet TOR_PT_EXIT_ON_STDIN_CLOSE=0. Sets SERVER_PID.
ts_start_server()
{
	local i
	(
		unset "${!TOR_PT_@}"
		export TOR_PT_MANAGED_TRANSPORT_VER=1
		export TOR_PT_SERVER_TRANSPORTS=snowflake
		export TOR_PT_SERVER_BINDADDR="snowflake-[::]:$SERVER_PORT"
		export TOR_PT_EXIT_ON_STDIN_CLOSE=0
		export TOR_PT_STATE_LOCATION=$WORK/state
		for kv in "$@"; do
			export "${kv?}"
		done
		exec ip netns exec "$SF_NETNS" "$SERVER" --disable-tls --log "$WORK/server.log" \
			"${TC_SANDBOX_ARGS[@]}"
	) </dev/null >"$WORK/server.stdout" 2>"$WORK/server.stderr" &
	SERVER_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -qx "SMETHODS DONE" "$WORK/server.stdout" 2>/dev/null && break
		kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited: $(cat "$WORK/server.stdout")"
		sleep 0.1
	done
	grep -qx "SMETHODS DONE" "$WORK/server.stdout" || fail "no SMETHODS DONE from the server in 10 s"
	grep -qxF "SMETHOD snowflake [::]:$SERVER_PORT ARGS:tls=no" "$WORK/server.stdout" ||
		fail "the server's stdout lacks 'SMETHOD snowflake [::]:$SERVER_PORT ARGS:tls=no'"
	sleep 1 # stdin is closed, yet TOR_PT_EXIT_ON_STDIN_CLOSE=0: it must keep running
	kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited although TOR_PT_EXIT_ON_STDIN_CLOSE=0"
	tc_check_sandbox "$WORK/server.log"
}

# probe NAME CLIENT_IP [SECONDS [ARGS...]] — one sftlsprobe in the background, over IPv6 for a
# client address with ':' (to ::1), else over IPv4 (to 127.0.0.1); it gives up after SECONDS
# (default 30). Its pid goes to PROBE_PIDS[NAME].
declare -A PROBE_PIDS=()
declare -A PROBE_IPS=()
probe()
{
	local name=$1 ip=$2 host=127.0.0.1 limit
	[[ $ip == *:* ]] && host="[::1]"
	limit=$(budget "${3:-30}")
	sf_netns_exec timeout -k 2 "$((limit + 3))" "$PROBE" --url "ws://$host:$SERVER_PORT/" \
		--client-ip "$ip" --timeout "${limit}s" "${@:4}" \
		>"$WORK/probes/$name.json" 2>"$WORK/probes/$name.err" &
	PROBE_PIDS[$name]=$!
	PROBE_IPS[$name]=$ip
}

# wait_probes NAME... — waits for them; BAD_PROBES gets the names of those that did not finish.
# (Not for $(...): a subshell cannot wait for this shell's children, and would look too early.)
BAD_PROBES=""
wait_probes()
{
	local name
	BAD_PROBES=""
	for name in "$@"; do
		wait "${PROBE_PIDS[$name]}" 2>/dev/null
		probe_ok "$name" || BAD_PROBES="$BAD_PROBES $name"
	done
	BAD_PROBES=${BAD_PROBES# }
}

# probe_ok NAME — finished TLS handshake with tor, and tor closed after our close_notify.
probe_ok()
{
	grep -q '"handshake":"ok"' "$WORK/probes/$1.json" 2>/dev/null &&
		grep -q '"peer_closed":true' "$WORK/probes/$1.json"
}

# The client addresses tor I received in ExtORPort USERADDR commands (one line each).
tor_useraddrs()
{
	sed -n "s/.*Received USERADDR.*We rewrite our address from '.*' to '\\(.*\\):1'\\.\$/\\1/p" \
		"${SF_BRIDGE_DIRS[$1]}/tor-net-debug.log" 2>/dev/null | tr -d '[]' | sort
}

# ts_probe_pairs PREFIX FIRST COUNT WHY — COUNT sessions over IPv4 (192.0.2.FIRST+k) and COUNT
# over IPv6 (2001:db8::FIRST+k) at once; all must finish, else the test fails with WHY. Sets names.
ts_probe_pairs()
{
	local k
	names=()
	for ((k = 1; k <= $3; k++)); do
		probe "$1v4-$k" "192.0.2.$(($2 + k))"
		probe "$1v6-$k" "2001:db8::$(($2 + k))"
		names+=("$1v4-$k" "$1v6-$k")
	done
	wait_probes "${names[@]}"
	[ -z "$BAD_PROBES" ] || fail "$4: $BAD_PROBES"
}

# ts_hold_probes HOLDFILE — 8 sessions (4 over IPv4, 4 over IPv6) whose streams stay open after
# their TLS handshake with tor until HOLDFILE exists; returns once all 8 are ready. Sets held.
held=() held1=() held2=()
ts_hold_probes()
{
	local hold=$1 k n
	for ((k = 1; k <= 4; k++)); do
		probe "held-v4-$k" "192.0.2.$((50 + k))" 100 --ready-file "$WORK/probes/held-v4-$k.ready" --hold-until "$hold"
		probe "held-v6-$k" "2001:db8::$((50 + k))" 100 --ready-file "$WORK/probes/held-v6-$k.ready" --hold-until "$hold"
		held+=("held-v4-$k" "held-v6-$k")
	done
	for n in "${held[@]}"; do
		for ((k = 0; k < 10 * $(budget 30); k++)); do
			[ -e "$WORK/probes/$n.ready" ] && break
			kill -0 "${PROBE_PIDS[$n]}" 2>/dev/null || fail "held probe $n ended early: $(cat "$WORK/probes/$n.json")"
			sleep 0.1
		done
		[ -e "$WORK/probes/$n.ready" ] || fail "held probe $n did not finish its TLS handshake"
	done
}

# ts_split_held WHERE — sorts the held sessions into held1 / held2 by tor; `WHERE I` prints the
# client addresses that reached tor I (one a line). At least 2 must be on each.
ts_split_held()
{
	local n
	for n in "${held[@]}"; do
		if "$1" 1 | grep -qxF "${PROBE_IPS[$n]}"; then
			held1+=("$n")
		elif "$1" 2 | grep -qxF "${PROBE_IPS[$n]}"; then
			held2+=("$n")
		else
			fail "held probe $n reached neither tor"
		fi
	done
	if [ "${#held1[@]}" -lt 2 ] || [ "${#held2[@]}" -lt 2 ]; then
		fail "held streams: ${#held1[@]} on tor 1, ${#held2[@]} on tor 2; expected at least 2 on each"
	fi
	say "8 streams held open after their TLS handshake: ${#held1[@]} on tor 1, ${#held2[@]} on tor 2"
}

# ts_held_streams_survive HOLDFILE — releases the held sessions: those on tor 2 must still carry
# a VERSIONS cell and tor's answer (tor 1's stop did not disturb them), those on tor 1 have ended.
ts_held_streams_survive()
{
	local n
	: >"$1"
	wait_probes "${held[@]}"
	for n in "${held2[@]}"; do
		if ! probe_ok "$n" || ! grep -q '"tor_versions":\[[0-9,]*\]' "$WORK/probes/$n.json"; then
			fail "held stream $n on tor 2 was disturbed by tor 1's stop: $(cat "$WORK/probes/$n.json")"
		fi
	done
	for n in "${held1[@]}"; do
		grep -Eq '"stage":"versions_(write|read)"' "$WORK/probes/$n.json" ||
			fail "held stream $n on tor 1 did not end with tor 1: $(cat "$WORK/probes/$n.json")"
	done
	say "after tor 1's stop, ${#held2[@]} held streams on tor 2 exchanged VERSIONS cells; ${#held1[@]} on tor 1 had ended"
}

# ts_stop_tor1_amid_sessions — 24 sessions start every 50 ms before, during and after tor 1's
# shutdown (SIGTERM after the 8th); the wait for tor's exit comes after the last start. Waits
# for the sessions; sets names to theirs.
ts_stop_tor1_amid_sessions()
{
	local k
	names=()
	for ((k = 1; k <= 24; k++)); do
		probe "stop-$k" "192.0.2.$((100 + k))"
		names+=("stop-$k")
		[ "$k" = 8 ] && kill -TERM "${SF_BRIDGE_PIDS[1]}"
		sleep 0.05
	done
	sf_bridge_stop 1 "$(budget 10)" || fail "tor 1 did not stop on SIGTERM"
	[ "${SF_BRIDGE_STATUS[1]}" = 0 ] || fail "tor 1 exited with status ${SF_BRIDGE_STATUS[1]}"
	say "tor 1 stopped amid 24 sessions"
	wait_probes "${names[@]}"
}

# ts_server_exits_cleanly — alive, no client address logged, status 0 on SIGTERM, no sanitizer
# report; then the test has passed.
ts_server_exits_cleanly()
{
	local status f
	kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died"
	if grep -En "192\\.0\\.2\\.|2001:db8" "$WORK/server.log"; then
		fail "the server logged a client address (above) without --unsafe-logging"
	fi
	sleep 0.5
	kill -TERM "$SERVER_PID"
	sf_wait_pid_gone "$SERVER_PID" "$(budget 10)" || fail "the server did not exit on SIGTERM"
	wait "$SERVER_PID"
	status=$?
	SERVER_PID=""
	[ "$status" = 0 ] || fail "the server exited with status $status on SIGTERM"
	grep -q "exited cleanly" "$WORK/server.log" || fail "the server's log lacks 'exited cleanly'"
	for f in "$WORK"/sanitizer.*; do
		[ -e "$f" ] && fail "sanitizer report from the server: $f"
	done
	say "server exited cleanly, no sanitizer report"
	PASSED=1
	say "PASS"
}
