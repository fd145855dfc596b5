# labels: tor-haproxy
# timeout: 150
# shellcheck shell=bash
#
# Several tors without HAProxy: the server spreads streams over the tors' ExtORPorts itself
# (transport option `extorport=ADDR,COOKIEFILE`, docs/tor.md "Several ExtORPorts"). The same
# checks as test_tor_haproxy.sh, with Debian's tor, all in a network namespace of its own:
#
#   sftlsprobe (127.0.0.1 and ::1) -> snowflake-server standalone on [::]:7000 (stdin closed,
#   hand-written TOR_PT_* env: TOR_PT_ORPORT and no TOR_PT_EXTENDED_SERVER_PORT, two
#   `extorport=` options, orport-srcaddr) -> tor I's ExtORPort with tor I's own cookie file,
#   I = 1, 2 (ExtORPort 0 and 1 in the server's log); both tors share one identity.
#
# Each probe is one Snowflake session whose one stream runs a TLS handshake with tor's ORPort
# and ends with close_notify (see test_tor_haproxy.sh). Asserted:
#   1. tor 1 and tor 2 have the same fingerprint and ed25519 identity;
#   2. 16 probes at once, half over IPv4, half over IPv6, each with its own client address: all
#      finish; the tors' ExtORPort logs together hold each client's USERADDR exactly once, each
#      tor got at least a quarter, and has a post-TLS OR connection with each of its clients;
#      the dials came from 127.0.2.0/24 (orport-srcaddr), so none went to the plain ORPort;
#   3. 8 more probes hold their stream open after the handshake (at least 2 on each tor);
#   4. probes keep starting while tor 1 is stopped: every probe that did not end up on tor 1
#      finishes, and every one that reached tor 2 finishes;
#   5. after tor 1's exit, 8 new probes all finish, all through tor 2; the server logged the
#      fail-over line `failed to connect to ExtORPort 0: ...; trying ExtORPort 1` and never
#      `failed to connect to ORPort` (no stream found both tors unusable);
#   6. then the held streams on tor 2 still carry a VERSIONS cell to tor and tor's VERSIONS cell
#      back, and close cleanly; those on tor 1 have ended;
#   7. the server never logged a client address, still runs, and exits cleanly on SIGTERM, with
#      no sanitizer report.
# Needs root, `ip netns` and tor; without them it FAILS (never skips).
# Environment (set by ctest): SF_SERVER, SFTLSPROBE, SF_SOURCE_DIR. SF_KEEP_WORK=1 keeps logs.
set -u

SRC=${SF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lib/tor-netns.sh
. "$SRC/scripts/lib/tor-netns.sh"
# shellcheck source=scripts/lib/tor-bridges.sh
. "$SRC/scripts/lib/tor-bridges.sh"

DEADLINE=$((SECONDS + 120)) # below ctest's 150 s, leaving time for cleanup
SERVER_PORT=7000            # fixed ports are fine: the namespace is ours alone
WORK=""
PASSED=0
SERVER_PID=""

say() { echo "[tor_multi_extor +${SECONDS}s] $*"; }

show_logs()
{
	[ -n "$WORK" ] || return 0
	local f
	for f in "$WORK"/tor*/tor-notice.log "$WORK/server.log" "$WORK/server.stderr"; do
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
	stop_pid "$SERVER_PID"
	sf_bridges_cleanup
	[ -n "$WORK" ] || return 0
	if [ "$PASSED" = 1 ] && [ "${SF_KEEP_WORK:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "work dir kept: $WORK" >&2
	fi
}

[ -n "${SF_SERVER:-}" ] || fail "SF_SERVER (path of snowflake-server) is not set"
[ -x "$SF_SERVER" ] || fail "SF_SERVER=$SF_SERVER is not an executable file"
[ -n "${SFTLSPROBE:-}" ] || fail "SFTLSPROBE (path of sftlsprobe) is not set"
[ -x "$SFTLSPROBE" ] || fail "SFTLSPROBE=$SFTLSPROBE is not an executable file (build target sftlsprobe)"
SERVER=$(realpath "$SF_SERVER")
PROBE=$(realpath "$SFTLSPROBE")
sf_netns_preflight || fail "this test needs root and 'ip netns' to run tor in a network" \
	"namespace of its own; it does not skip"

WORK=$(mktemp -d /tmp/sf-tormulti.XXXXXX) || fail "mktemp"
mkdir -p "$WORK/probes" "$WORK/state"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$WORK/sanitizer.asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$WORK/sanitizer.ubsan"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

sf_netns_create || fail "cannot create a network namespace (root and 'ip netns' needed)"
say "namespace $SF_NETNS, work dir $WORK"

# ---- 1. two tors, one identity, plain ExtORPorts, each writing its own cookie file
sf_bridges_start 2 "$WORK" || fail "the two tor bridges did not start"
for i in 1 2; do
	# tor logs its identity a little after opening its listeners.
	sf_bridge_wait_log "$i" tor-notice.log "identity key ed25519 fingerprint is 'sfbridge$i " "$(budget 20)" ||
		fail "tor $i logged no ed25519 identity"
	fp=$(awk '{ print $2 }' "${SF_BRIDGE_DIRS[i]}/data/fingerprint")
	[ "$fp" = "$SF_BRIDGE_FINGERPRINT" ] ||
		fail "tor $i has fingerprint '$fp', not the shared $SF_BRIDGE_FINGERPRINT"
	ed[i]=$(sed -n "s/.*identity key ed25519 fingerprint is 'sfbridge$i \\(.*\\)'$/\\1/p" \
		"${SF_BRIDGE_DIRS[i]}/tor-notice.log")
	[ -n "${ed[i]}" ] || fail "tor $i logged no ed25519 identity"
done
[ "${ed[1]}" = "${ed[2]}" ] || fail "the tors' ed25519 identities differ: ${ed[1]} ${ed[2]}"
cmp -s "${SF_BRIDGE_COOKIES[1]}" "${SF_BRIDGE_COOKIES[2]}" && fail "the two tors wrote the same cookie"
say "tor 1 (ExtORPort ${SF_BRIDGE_EXTORPORTS[1]}) and tor 2 (${SF_BRIDGE_EXTORPORTS[2]}) up," \
	"fingerprint $SF_BRIDGE_FINGERPRINT, each with its own cookie"

# extorport_option I — "extorport=ADDR,COOKIEFILE" for tor I, escaped as tor writes it in
# TOR_PT_SERVER_TRANSPORT_OPTIONS (':' ';' '\' get a backslash).
extorport_option()
{
	local v="${SF_BRIDGE_EXTORPORTS[$1]},${SF_BRIDGE_COOKIES[$1]}"
	v=${v//\\/\\\\}
	v=${v//:/\\:}
	v=${v//;/\\;}
	echo "snowflake:extorport=$v"
}

# ---- the server as production would run it: standalone, no tor parent, stdin closed. goptlib
# wants TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT; the extorport list replaces both (a stream
# sent to the plain ORPort would show no USERADDR in either tor's log, which 2. and 5. check).
(
	unset "${!TOR_PT_@}"
	export TOR_PT_MANAGED_TRANSPORT_VER=1
	export TOR_PT_SERVER_TRANSPORTS=snowflake
	export TOR_PT_SERVER_BINDADDR="snowflake-[::]:$SERVER_PORT"
	export TOR_PT_EXIT_ON_STDIN_CLOSE=0
	export TOR_PT_ORPORT=${SF_BRIDGE_ORPORTS[1]}
	export TOR_PT_STATE_LOCATION=$WORK/state
	TOR_PT_SERVER_TRANSPORT_OPTIONS="snowflake:orport-srcaddr=127.0.2.0/24;$(extorport_option 1);$(extorport_option 2)"
	export TOR_PT_SERVER_TRANSPORT_OPTIONS
	exec ip netns exec "$SF_NETNS" "$SERVER" --disable-tls --log "$WORK/server.log"
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
say "server pid $SERVER_PID on [::]:$SERVER_PORT, stdin closed, two extorport options"

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

# wait_probes NAME... — waits for them; echoes the names of those that did not finish.
wait_probes()
{
	local name
	for name in "$@"; do
		wait "${PROBE_PIDS[$name]}" 2>/dev/null
		probe_ok "$name" || echo "$name"
	done
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

# on_tor I NAME — tor I got probe NAME's USERADDR.
on_tor() { tor_useraddrs "$1" | grep -qxF "${PROBE_IPS[$2]}"; }

# ---- 2. 16 sessions at once over IPv4 and IPv6, spread over both tors by the server
names=()
for ((k = 1; k <= 8; k++)); do
	probe "v4-$k" "192.0.2.$k"
	probe "v6-$k" "2001:db8::$k"
	names+=("v4-$k" "v6-$k")
done
bad=$(wait_probes "${names[@]}")
[ -z "$bad" ] || fail "probes that did not finish a TLS handshake with tor: $bad"
want=$(for n in "${names[@]}"; do echo "${PROBE_IPS[$n]}"; done | sort)
got=$( (tor_useraddrs 1; tor_useraddrs 2) | sort)
[ "$got" = "$want" ] || fail "the tors' USERADDRs are not each client once: got '$got'"
for i in 1 2; do
	n=$(tor_useraddrs "$i" | grep -c .)
	say "tor $i got $n of 16 sessions"
	[ "$n" -ge 4 ] || fail "tor $i got $n of 16 sessions; the server did not spread them"
	for addr in $(tor_useraddrs "$i"); do
		[[ $addr == *:* ]] && addr="\\[$addr\\]"
		sf_bridge_wait_log "$i" tor-net-debug.log \
			"OR connection \\(waiting for V3\\+ handshake\\) with ${addr//./\\.}:1 " 5 ||
			fail "tor $i shows no post-TLS OR connection with $addr:1"
	done
done
# orport-srcaddr: the tors saw the server's ExtORPort dials come from 127.0.2.0/24.
n=$(cat "${SF_BRIDGE_DIRS[1]}/tor-net-debug.log" "${SF_BRIDGE_DIRS[2]}/tor-net-debug.log" |
	grep -cE "Received USERADDR.*We rewrite our address from '127\\.0\\.2\\.[0-9]+:[0-9]+' ")
[ "$n" = 16 ] || fail "the tors saw $n ExtORPort connections from 127.0.2.0/24 (orport-srcaddr), expected 16"
say "16 sessions (8 over 127.0.0.1, 8 over ::1) finished TLS with tor, spread over both tors"

# ---- 3. long-lived streams on both tors, held open across everything that follows
HOLD=$WORK/release-held-streams
held=()
for ((k = 1; k <= 4; k++)); do
	probe "held-v4-$k" "192.0.2.$((50 + k))" 100 --ready-file "$WORK/probes/held-v4-$k.ready" --hold-until "$HOLD"
	probe "held-v6-$k" "2001:db8::$((50 + k))" 100 --ready-file "$WORK/probes/held-v6-$k.ready" --hold-until "$HOLD"
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
held1=() held2=()
for n in "${held[@]}"; do
	if on_tor 1 "$n"; then
		held1+=("$n")
	elif on_tor 2 "$n"; then
		held2+=("$n")
	else
		fail "held probe $n is in neither tor's log"
	fi
done
if [ "${#held1[@]}" -lt 2 ] || [ "${#held2[@]}" -lt 2 ]; then
	fail "held streams: ${#held1[@]} on tor 1, ${#held2[@]} on tor 2; expected at least 2 on each"
fi
say "8 streams held open after their TLS handshake: ${#held1[@]} on tor 1, ${#held2[@]} on tor 2"

# ---- 4. tor 1 stops while sessions keep coming: only streams already on tor 1 may fail
before2=$(tor_useraddrs 2 | grep -c .)
names=()
# Sessions start every 50 ms before, during and after tor 1's shutdown (SIGTERM after the 8th);
# the wait for tor's exit comes after the last start.
for ((k = 1; k <= 24; k++)); do
	probe "stop-$k" "192.0.2.$((100 + k))"
	names+=("stop-$k")
	[ "$k" = 8 ] && kill -TERM "${SF_BRIDGE_PIDS[1]}"
	sleep 0.05
done
sf_bridge_stop 1 "$(budget 10)" || fail "tor 1 did not stop on SIGTERM"
[ "${SF_BRIDGE_STATUS[1]}" = 0 ] || fail "tor 1 exited with status ${SF_BRIDGE_STATUS[1]}"
say "tor 1 stopped amid 24 sessions"
wait_probes "${names[@]}" >/dev/null
through2=0 lost1=0
for n in "${names[@]}"; do
	if on_tor 2 "$n"; then
		# A dial that tor 1 dropped mid-handshake was redialed to tor 2: it counts here.
		through2=$((through2 + 1))
		probe_ok "$n" || fail "probe $n went through tor 2 and still failed while tor 1 stopped"
	elif on_tor 1 "$n"; then
		probe_ok "$n" || lost1=$((lost1 + 1))
	else
		fail "probe $n reached neither tor: $(cat "$WORK/probes/$n.json")"
	fi
done
[ "$through2" -ge 1 ] || fail "no session reached tor 2 while tor 1 stopped"
say "$through2 sessions reached tor 2 during tor 1's stop, every one finished;" \
	"$lost1 that were on tor 1 when it went ended with it"
[ "$(tor_useraddrs 2 | grep -c .)" -gt "$before2" ] || fail "tor 2 got nothing new"

# ---- 5. tor 1 is gone: every new session goes to tor 2, some after a failed dial to tor 1
before2=$(tor_useraddrs 2 | grep -c .)
names=()
for ((k = 1; k <= 4; k++)); do
	probe "after-v4-$k" "192.0.2.$((200 + k))"
	probe "after-v6-$k" "2001:db8::$((200 + k))"
	names+=("after-v4-$k" "after-v6-$k")
done
bad=$(wait_probes "${names[@]}")
[ -z "$bad" ] || fail "probes that failed with tor 2 alone: $bad"
for n in "${names[@]}"; do
	on_tor 2 "$n" || fail "probe $n did not go through tor 2"
done
[ "$(tor_useraddrs 2 | grep -c .)" = $((before2 + 8)) ] || fail "tor 2 did not get exactly the 8 new sessions"
grep -E "failed to connect to ExtORPort 0: .*; trying ExtORPort 1\$" "$WORK/server.log" | head -n 3 ||
	fail "the server never logged a fail-over from ExtORPort 0 (tor 1) to ExtORPort 1 (tor 2)"
if grep -n "failed to connect to ORPort" "$WORK/server.log"; then
	fail "a stream found neither tor usable (above) although tor 2 ran throughout"
fi
say "8 new sessions after tor 1's stop all finished through tor 2; fail-over lines: $(
	grep -c "failed to connect to ExtORPort 0: .*; trying ExtORPort 1" "$WORK/server.log")"

# ---- 6. the held streams: tor 2's still carry a VERSIONS cell and tor's answer; tor 1's are gone
: >"$HOLD"
wait_probes "${held[@]}" >/dev/null
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

# ---- 7. the server: alive, no client address logged, clean exit
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
