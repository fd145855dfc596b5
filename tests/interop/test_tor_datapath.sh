# labels: tor
# timeout: 150
# shellcheck shell=bash
#
# The whole data path into a real tor. Debian's tor runs as a bridge on loopback in a network
# namespace of its own (only lo: it can never reach out), with SF_SERVER (--disable-tls) as its
# `snowflake` ServerTransportPlugin and `ExtORPort auto`. Inside the namespace, sftlsprobe opens
# one Snowflake session (WebSocket ?client_ip=192.0.2.7, turbotunnel token + ClientID, KCP,
# smux v2, as the Snowflake client sets them up) and runs a TLS client handshake on one stream.
# Asserted:
#   1. sftlsprobe reports a finished handshake (TLS 1.2/1.3, at least one peer certificate):
#      tor's ORPort answered through WebSocket -> KCP -> smux -> server -> ExtORPort; and after
#      the probe's close_notify, tor's close came back as the end of the stream (peer_closed);
#   2. tor's net debug log: the ExtORPort USERADDR rewrite to '192.0.2.7:1', then DONE, then the
#      OR connection with 192.0.2.7:1 in state "waiting for V3+ handshake" (tor's state after
#      its TLS handshake); tor's info log has no TLS error for 192.0.2.7:1;
#   3. the server survived the session, logged no client address, and when tor is SIGTERMed
#      it exits, logging "exited cleanly", with no sanitizer report (ASAN_OPTIONS and
#      UBSAN_OPTIONS get a log_path in the work dir; tor passes its environment on to the PT,
#      which is checked). Its exit status is test_tor_bridge.sh's business: seen through
#      scripts/lib/pt-exit-status.py it is racy (see docs/tor-bridge.md).
# Needs root and `ip netns`; without them it FAILS (tor must never run outside a namespace).
# Environment (set by ctest): SF_SERVER, SFTLSPROBE, SF_SOURCE_DIR. SF_KEEP_WORK=1 keeps logs.
set -u

DEADLINE=$((SECONDS + 120)) # below ctest's 150 s, leaving time for cleanup
TC_NAME=tor_datapath
# shellcheck source=tests/interop/tor_common.sh
. "$(dirname "$0")/tor_common.sh"
CLIENT_IP=192.0.2.7
OR_ADDR=127.0.0.1:9001 # fixed ports are fine: the namespace is ours alone
PT_ADDR=127.0.0.1:8080

show_logs()
{
	[ -n "$WORK" ] || return 0
	local f
	for f in probe.json probe.err; do
		[ -s "$WORK/$f" ] && { echo "---- $WORK/$f" >&2; cat "$WORK/$f" >&2; }
	done
	echo "---- $WORK/tor-notice.log (last 20 lines)" >&2
	tail -n 20 "$WORK/tor-notice.log" >&2 2>/dev/null
	echo "---- ExtORPort / OR lines of $WORK/tor-net-debug.log" >&2
	grep -E "Extended OR|ext_or|OR connection|192\.0\.2\.7" "$WORK/tor-net-debug.log" 2>/dev/null |
		head -n 30 >&2
	echo "---- managed proxy lines of $WORK/tor-info.log (last 20)" >&2
	grep -E "managed proxy|Managed proxy" "$WORK/tor-info.log" 2>/dev/null | tail -n 20 >&2
	echo "---- $WORK/server.log (last 30 lines)" >&2
	tail -n 30 "$WORK/server.log" >&2 2>/dev/null
	for f in "$WORK"/sanitizer.*; do
		[ -s "$f" ] && { echo "---- $f" >&2; head -n 60 "$f" >&2; }
	done
	echo "----" >&2
}

cleanup()
{
	sf_tb_cleanup
	tc_keep_or_remove_work
}

tc_need_server probe
command -v python3 >/dev/null || fail "python3 is needed"
# A sanitizer build reports into files we can check (a plain build ignores these variables).
tc_begin sf-tordp sanitizer-logs
sf_tor_write_torrc "$WORK" "$OR_ADDR" "$PT_ADDR" "" \
	"$SERVER" --disable-tls --log "$WORK/server.log" "${TC_SANDBOX_ARGS[@]}" || fail "cannot write torrc"
sf_tor_start "$WORK" || fail "cannot start tor"
say "tor pid $SF_TOR_PID"

PT_DIED="terminated with status code|-> Broken|failed the configuration protocol|method error"
sf_tor_wait_log "$WORK/tor-notice.log" "Registered server transport 'snowflake' at '$PT_ADDR'" \
	"$(budget 30)" "$PT_DIED" "$WORK/tor-info.log" ||
	fail "tor did not register the snowflake transport at $PT_ADDR"
sf_tor_wait_log "$WORK/tor-info.log" "Server managed proxy '.*' configuration completed!" \
	"$(budget 5)" || fail "tor did not finish configuring the managed proxy"
server_pid=$(sf_tor_children)
[ "$(echo "$server_pid" | grep -c .)" = 1 ] ||
	fail "tor has children '$server_pid', expected exactly the server"
tr '\0' '\n' <"/proc/$server_pid/cmdline" | grep -qxF "$SERVER" ||
	fail "tor's child $server_pid is not $SERVER"
tr '\0' '\n' <"/proc/$server_pid/environ" | grep -qxF "ASAN_OPTIONS=$ASAN_OPTIONS" ||
	fail "tor did not pass ASAN_OPTIONS on to the server: its sanitizer reports would be missed"
say "snowflake registered at $PT_ADDR, server pid $server_pid"

# ---- 1. one session, one stream, a TLS handshake with tor's ORPort
limit=$(budget 40)
[ "$limit" -gt 5 ] && limit=$((limit - 5))
say "sftlsprobe --url ws://$PT_ADDR/ --client-ip $CLIENT_IP --timeout ${limit}s"
sf_netns_exec timeout -k 2 "$((limit + 5))" "$PROBE" --url "ws://$PT_ADDR/" \
	--client-ip "$CLIENT_IP" --timeout "${limit}s" >"$WORK/probe.json" 2>"$WORK/probe.err"
rc=$?
say "sftlsprobe exit status $rc: $(cat "$WORK/probe.json")"
[ "$rc" = 0 ] || fail "sftlsprobe exited with status $rc"
python3 - "$WORK/probe.json" <<'PY' || fail "sftlsprobe's result is not a finished handshake (above)"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
if len(lines) != 1:
    sys.exit(f"expected exactly one JSON line, got {len(lines)}")
j = json.loads(lines[0])
bad = []
if j.get("handshake") != "ok":
    bad.append(f"handshake is {j.get('handshake')!r}")
if j.get("version") not in ("TLS 1.2", "TLS 1.3"):
    bad.append(f"version is {j.get('version')!r}")
if not j.get("cipher"):
    bad.append("no cipher")
if not isinstance(j.get("peer_certs"), int) or j["peer_certs"] < 1:
    bad.append(f"peer_certs is {j.get('peer_certs')!r}")
if j.get("peer_closed") is not True:
    bad.append(f"peer_closed is {j.get('peer_closed')!r} (tor's close after our close_notify did not come back)")
for b in bad:
    print("check failed:", b)
sys.exit(1 if bad else 0)
PY

# ---- 2. tor's side: the ExtORPort metadata, then a TLS connection from the client's address
net=$WORK/tor-net-debug.log
useraddr="Received USERADDR\\.We rewrite our address from '127\\.0\\.0\\.1:[0-9]+' to '192\\.0\\.2\\.7:1'\\."
sf_tor_wait_log "$net" "$useraddr" "$(budget 10)" ||
	fail "tor's net debug log lacks the USERADDR rewrite to $CLIENT_IP:1"
grep -E "Received USERADDR" "$net"
[ "$(grep -cE "Received USERADDR" "$net")" = 1 ] ||
	fail "expected exactly one ExtORPort USERADDR (one stream)"
grep -Eq "connection_ext_or_process_inbuf\(\): Received DONE\.$" "$net" ||
	fail "tor's net debug log lacks 'Received DONE.' (ExtORPort handshake not finished)"
# tor names the OR connection by the rewritten address; "waiting for V3+ handshake" is its state
# once TLS is done (OR_CONN_STATE_SERVER_VERSIONS_WAIT). It shows in the line tor logs when the
# probe closes the connection.
sf_tor_wait_log "$net" "OR connection \\(waiting for V3\\+ handshake\\) with 192\\.0\\.2\\.7:1 " \
	"$(budget 10)" || fail "tor's net debug log shows no post-TLS OR connection with $CLIENT_IP:1"
grep -E "OR connection \\(waiting for V3\\+ handshake\\) with 192\\.0\\.2\\.7:1 " "$net"
if grep -E "TLS error.* with 192\\.0\\.2\\.7:1" "$WORK/tor-info.log" "$net"; then
	fail "tor logged a TLS error for the probe's connection (above)"
fi
if grep -E "$PT_DIED" "$WORK/tor-info.log"; then
	fail "tor reports a problem with the server (above)"
fi

# ---- 3. the server: alive, no client address in its log, clean exit when tor stops
tc_check_sandbox "$WORK/server.log"
kill -0 "$server_pid" 2>/dev/null || fail "the server (pid $server_pid) died during the session"
sleep 0.5 # let the server log the session's end before it is stopped
sf_tor_stop "$(budget 10)" || fail "tor did not stop on SIGTERM"
sf_wait_pid_gone "$server_pid" "$(budget 15)" ||
	fail "the server (pid $server_pid) still runs 15 s after tor went away"
grep -Eq "exited cleanly" "$WORK/server.log" ||
	fail "the server's log lacks 'exited cleanly' after tor's SIGTERM"
if grep -Fn -- "$CLIENT_IP" "$WORK/server.log"; then
	fail "the server's log shows the client address $CLIENT_IP (it must be scrubbed)"
fi
for f in "$WORK"/sanitizer.*; do
	[ -e "$f" ] && fail "sanitizer report from the server: $f"
done
say "server exited cleanly, no sanitizer report"

PASSED=1
say "PASS"
