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

# shellcheck source=tests/interop/tor_shape_lib.sh
. "$(dirname "$0")/tor_shape_lib.sh"
ts_setup tor_multi_extor sf-tormulti

# ---- 1. two tors, one identity, plain ExtORPorts, each writing its own cookie file
sf_bridges_start 2 "$WORK" || fail "the two tor bridges did not start"
ts_check_identity
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
ts_start_server TOR_PT_ORPORT="${SF_BRIDGE_ORPORTS[1]}" \
	TOR_PT_SERVER_TRANSPORT_OPTIONS="snowflake:orport-srcaddr=127.0.2.0/24;$(extorport_option 1);$(extorport_option 2)"
say "server pid $SERVER_PID on [::]:$SERVER_PORT, stdin closed, two extorport options"

# on_tor I NAME — tor I got probe NAME's USERADDR.
on_tor() { tor_useraddrs "$1" | grep -qxF "${PROBE_IPS[$2]}"; }

# ---- 2. 16 sessions at once over IPv4 and IPv6, spread over both tors by the server
ts_probe_pairs "" 0 8 "probes that did not finish a TLS handshake with tor"
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
ts_hold_probes "$HOLD"
ts_split_held tor_useraddrs

# ---- 4. tor 1 stops while sessions keep coming: only streams already on tor 1 may fail
before2=$(tor_useraddrs 2 | grep -c .)
ts_stop_tor1_amid_sessions
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
ts_probe_pairs after- 200 4 "probes that failed with tor 2 alone"
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
ts_held_streams_survive "$HOLD"

# ---- 7. the server: alive, no client address logged, clean exit
ts_server_exits_cleanly
