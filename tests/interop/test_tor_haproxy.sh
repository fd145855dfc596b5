# labels: tor-haproxy
# timeout: 150
# shellcheck shell=bash
#
# The production shape of a Snowflake bridge, with Debian's tor and HAProxy, all in a network
# namespace of its own (only lo):
#
#   sftlsprobe (127.0.0.1 and ::1) -> snowflake-server standalone on [::]:7000 (stdin closed,
#   hand-written TOR_PT_* env, static cookie, orport-srcaddr) -> HAProxy 127.0.0.1:10000
#   (tcp, roundrobin, health checks) -> extor_static_cookie.py on 127.0.0.1:1000I, each the
#   managed transport of its tor -> tor I's ExtORPort, I = 1, 2; both tors share one identity.
#
# Each probe is one Snowflake session whose one stream runs a TLS handshake with tor's ORPort
# (the TLS Finished messages check every byte of the handshake both ways) and ends with
# close_notify. Asserted:
#   1. tor 1 and tor 2 have the same fingerprint; each registered its shim;
#   2. 16 probes at once, half over IPv4, half over IPv6, each with its own client address: all
#      finish; the two shims' logs together hold each client's USERADDR exactly once, and each
#      shim got at least a quarter; each tor's net log has that same USERADDR set and a
#      post-TLS OR connection with each of those clients;
#   3. 8 more probes hold their stream open after the handshake (at least 2 on each tor);
#   4. probes keep starting while tor 1 is stopped: every probe that shim 2 took finishes;
#   5. once HAProxy marks tor 1 down, 8 new probes all finish, all through tor 2;
#   6. then the held streams on tor 2 still carry a VERSIONS cell to tor and tor's VERSIONS cell
#      back, and close cleanly (tor 1's stop did not disturb them); those on tor 1 have ended;
#   7. the server never logged a client address, still runs, and exits cleanly on SIGTERM, with
#      no sanitizer report.
# Needs root, `ip netns`, tor and haproxy; without them it FAILS (never skips).
# Environment (set by ctest): SF_SERVER, SFTLSPROBE, SF_SOURCE_DIR. SF_KEEP_WORK=1 keeps logs.
set -u

# shellcheck source=tests/interop/tor_shape_lib.sh
. "$(dirname "$0")/tor_shape_lib.sh"
HAPROXY_ADDR=127.0.0.1:10000
SHIM=$SRC/tests/tools/extor_static_cookie.py
command -v haproxy >/dev/null || fail "haproxy is needed (scripts/install-deps.sh)"
PYTHON=$(command -v python3) || fail "python3 is needed"
ts_setup tor_haproxy sf-torhap
TS_EXTRA_LOGS=("$WORK/tor*/shim.log" "$WORK/haproxy.log") # globs: expanded when shown
TS_EXTRA_PIDS=()

# ---- 1. two tors, one identity, each with its shim as its managed transport
STATIC_COOKIE=$WORK/static_extor_cookie
"$PYTHON" "$SHIM" --gen-cookie "$STATIC_COOKIE" || fail "cannot write the static cookie"

shim_port() { echo $((10000 + $1)); }
shim_torrc()
{
	echo "ServerTransportPlugin snowflake exec $PYTHON $SHIM --cookie $STATIC_COOKIE --log $2/shim.log"
	echo "ServerTransportListenAddr snowflake 127.0.0.1:$(shim_port "$1")"
}
sf_bridges_start 2 "$WORK" shim_torrc || fail "the two tor bridges did not start"
for i in 1 2; do
	sf_bridge_wait_log "$i" tor-notice.log \
		"Registered server transport 'snowflake' at '127\\.0\\.0\\.1:$(shim_port "$i")'" "$(budget 20)" ||
		fail "tor $i did not register its extor_static_cookie shim"
done
ts_check_identity

say "tor 1 and tor 2 up with fingerprint $SF_BRIDGE_FINGERPRINT, shims on :10001 and :10002"

# ---- HAProxy: what a bridge operator runs in front of the tors
cat >"$WORK/haproxy.cfg" <<EOF
global
	log stdout format raw local0 info
	maxconn 4096
defaults
	mode tcp
	log global
	option tcplog
	timeout connect 2s
	# A connection refused by a dead shim is retried once, then on the other tor.
	retries 2
	option redispatch 1
	timeout client 10m
	timeout server 10m
frontend extorport
	bind $HAPROXY_ADDR
	default_backend tors
backend tors
	balance roundrobin
	# A stopped tor takes its shim with it: two failed connects in a row mark it down.
	default-server check inter 300ms fall 2 rise 2
	server tor1 127.0.0.1:$(shim_port 1)
	server tor2 127.0.0.1:$(shim_port 2)
EOF
sf_netns_exec haproxy -db -f "$WORK/haproxy.cfg" </dev/null >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
TS_EXTRA_PIDS+=("$HAPROXY_PID")
for ((i = 0; i < 50; i++)); do
	sf_netns_exec timeout 2 bash -c "exec 3<>/dev/tcp/${HAPROXY_ADDR%:*}/${HAPROXY_ADDR#*:}" 2>/dev/null && break
	kill -0 "$HAPROXY_PID" 2>/dev/null || fail "haproxy exited: $(cat "$WORK/haproxy.log")"
	sleep 0.1
done
((i < 50)) || fail "haproxy does not accept on $HAPROXY_ADDR"
say "haproxy pid $HAPROXY_PID on $HAPROXY_ADDR"

# ---- the server as production runs it: standalone, no tor parent, stdin closed
ts_start_server TOR_PT_EXTENDED_SERVER_PORT="$HAPROXY_ADDR" TOR_PT_AUTH_COOKIE_FILE="$STATIC_COOKIE" \
	TOR_PT_SERVER_TRANSPORT_OPTIONS="snowflake:orport-srcaddr=127.0.2.0/24"
say "server pid $SERVER_PID on [::]:$SERVER_PORT, stdin closed"

# The client addresses shim I passed on to its tor (one line each).
shim_useraddrs()
{
	sed -n 's/^conn [0-9]* useraddr=\(.*\):1 transport=snowflake reply=OKAY$/\1/p' \
		"${SF_BRIDGE_DIRS[$1]}/shim.log" 2>/dev/null | tr -d '[]' | sort
}


# ---- 2. 16 sessions at once over IPv4 and IPv6, spread over both tors
ts_probe_pairs "" 0 8 "probes that did not finish a TLS handshake with tor"
want=$(for n in "${names[@]}"; do echo "${PROBE_IPS[$n]}"; done | sort)
got=$( (shim_useraddrs 1; shim_useraddrs 2) | sort)
[ "$got" = "$want" ] || fail "the shims' USERADDRs are not each client once: got '$got'"
for i in 1 2; do
	n=$(shim_useraddrs "$i" | grep -c .)
	say "shim $i passed $n of 16 sessions to tor $i"
	[ "$n" -ge 4 ] || fail "tor $i got $n of 16 sessions; HAProxy did not spread them"
	sf_bridge_wait_log "$i" tor-net-debug.log "Received USERADDR" 5 || fail "tor $i saw no USERADDR"
	[ "$(tor_useraddrs "$i")" = "$(shim_useraddrs "$i")" ] ||
		fail "tor $i's USERADDRs ($(tor_useraddrs "$i" | tr '\n' ' ')) differ from its shim's"
	for addr in $(shim_useraddrs "$i"); do
		[[ $addr == *:* ]] && addr="\\[$addr\\]"
		sf_bridge_wait_log "$i" tor-net-debug.log \
			"OR connection \\(waiting for V3\\+ handshake\\) with ${addr//./\\.}:1 " 5 ||
			fail "tor $i shows no post-TLS OR connection with $addr:1"
	done
done
# orport-srcaddr: HAProxy saw the server's ExtORPort dials come from 127.0.2.0/24.
n=$(grep -cE '^127\.0\.2\.[0-9]+:[0-9]+ .* extorport tors/tor[12] ' "$WORK/haproxy.log")
[ "$n" -ge 16 ] || fail "haproxy logged $n connections from 127.0.2.0/24 (orport-srcaddr), expected 16"
say "16 sessions (8 over 127.0.0.1, 8 over ::1) finished TLS with tor, spread over both tors"

# ---- 3. long-lived streams on both tors, held open across everything that follows
HOLD=$WORK/release-held-streams
ts_hold_probes "$HOLD"
ts_split_held shim_useraddrs

# ---- 4. tor 1 stops while sessions keep coming: those that reach tor 2 are not disturbed
before2=$(shim_useraddrs 2 | grep -c .)
ts_stop_tor1_amid_sessions
through2=0
for n in "${names[@]}"; do
	shim_useraddrs 2 | grep -qxF "${PROBE_IPS[$n]}" || continue
	through2=$((through2 + 1))
	probe_ok "$n" || fail "probe $n went through tor 2 and still failed while tor 1 stopped"
done
[ "$through2" -ge 1 ] || fail "no session reached tor 2 while tor 1 stopped"
say "$through2 sessions reached tor 2 during tor 1's stop, every one finished"
[ "$(shim_useraddrs 2 | grep -c .)" -gt "$before2" ] || fail "tor 2 got nothing new"

# ---- 5. once HAProxy has marked tor 1 down, every new session goes to tor 2
for ((k = 0; k < 10 * $(budget 10); k++)); do
	grep -Eq "Server tors/tor1 is DOWN" "$WORK/haproxy.log" && break
	sleep 0.1
done
grep -E "Server tors/tor1 is DOWN" "$WORK/haproxy.log" || fail "haproxy never marked tor 1 down"
before2=$(shim_useraddrs 2 | grep -c .)
ts_probe_pairs after- 200 4 "probes that failed with tor 2 alone"
for n in "${names[@]}"; do
	shim_useraddrs 2 | grep -qxF "${PROBE_IPS[$n]}" || fail "probe $n did not go through tor 2"
done
[ "$(shim_useraddrs 2 | grep -c .)" = $((before2 + 8)) ] || fail "tor 2 did not get exactly the 8 new sessions"
say "8 new sessions after tor 1's stop all finished through tor 2"

# ---- 6. the held streams: tor 2's still carry a VERSIONS cell and tor's answer; tor 1's are gone
ts_held_streams_survive "$HOLD"

# ---- 7. the server: alive, no client address logged, clean exit
ts_server_exits_cleanly
