#!/bin/bash
# A real local Snowflake bridge, for a few seconds: Debian's tor as a bridge on loopback, with
# this snowflake-server (--disable-tls) as its ServerTransportPlugin, inside a network
# namespace of its own (only lo, no route out). Shows tor's registration line and the
# server's log, then a Snowflake client session whose stream reaches tor through the Extended
# ORPort: with sftlsprobe, a real TLS handshake answered by tor's ORPort (else, with sfpeer,
# test bytes that tor's TLS layer rejects). Stops everything by itself after --duration
# seconds (Ctrl-C also cleans up).
#
#   scripts/demo.sh [--duration SECONDS] [--build-dir DIR] [--keep]
#
# --duration: total run time, 5..600 s (default 15). --keep: leave tor's and the server's logs.
#
# SF_SERVER overrides <build-dir>/src/snowflake-server, SFTLSPROBE <build-dir>/sftlsprobe/sftlsprobe,
# SFPEER <build-dir>/sfpeer/sfpeer.
# Needs root for `ip netns` (re-runs itself with sudo when it can). See docs/tor-bridge.md.
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
DURATION=15
KEEP=0
BUILD_DIR=$SRC/build
while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=${2:-}; shift;;
	--build-dir) BUILD_DIR=${2:-}; shift;;
	--keep) KEEP=1;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
	*) echo "demo: unknown argument '$1' (try --help)" >&2; exit 2;;
	esac
	shift
done
if ! [[ $DURATION =~ ^[0-9]+$ ]] || [ "$DURATION" -lt 5 ] || [ "$DURATION" -gt 600 ]; then
	echo "demo: --duration must be 5..600 seconds" >&2
	exit 2
fi

SERVER=${SF_SERVER:-$BUILD_DIR/src/snowflake-server}
[ -x "$SERVER" ] || { echo "demo: no server binary at $SERVER (build first, or set SF_SERVER)" >&2; exit 1; }
SERVER=$(realpath "$SERVER")
PEER=${SFPEER:-$BUILD_DIR/sfpeer/sfpeer}
[ -x "$PEER" ] && PEER=$(realpath "$PEER") || PEER=""
PROBE=${SFTLSPROBE:-$BUILD_DIR/sftlsprobe/sftlsprobe}
[ -x "$PROBE" ] && PROBE=$(realpath "$PROBE") || PROBE=""

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		echo "demo: network namespaces need root; re-running with sudo" >&2
		keep=()
		[ "$KEEP" = 1 ] && keep=(--keep)
		exec sudo SF_SERVER="$SERVER" SFPEER="$PEER" SFTLSPROBE="$PROBE" bash "$0" --duration "$DURATION" \
			--build-dir "$BUILD_DIR" "${keep[@]}"
	fi
	echo "demo: needs root (for ip netns), and sudo is not available" >&2
	exit 1
fi

# shellcheck source=scripts/lib/tor-netns.sh
. "$SRC/scripts/lib/tor-netns.sh"
sf_netns_preflight || exit 1

OR_ADDR=127.0.0.1:9001
PT_ADDR=127.0.0.1:8080
CLIENT_IP=192.0.2.7 # documentation address the client claims via ?client_ip=
START=$SECONDS
WORK=""
ok=1

cleanup()
{
	trap '' INT TERM
	sf_tb_cleanup
	if [ -n "$WORK" ]; then
		if [ "$KEEP" = 1 ]; then
			echo "demo: logs kept in $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT
trap 'exit 143' TERM

left() { local l=$((START + DURATION - SECONDS)); [ "$l" -lt 1 ] && l=1; echo "$l"; }
step() { printf '\n== %s\n' "$*"; }
indent() { sed 's/^/   /'; }

WORK=$(mktemp -d /tmp/sf-demo.XXXXXX) || exit 1
sf_netns_create || exit 1
sf_tor_write_torrc "$WORK" "$OR_ADDR" "$PT_ADDR" "" \
	"$SERVER" --disable-tls --log "$WORK/server.log" || exit 1

step "tor $("$SF_TOR_BIN" --version | head -n1 | awk '{print $3}' | sed 's/\.$//') as a bridge in network namespace $SF_NETNS (links: $(ip -n "$SF_NETNS" -o link show | awk -F': ' '{print $2}'), no route out)"
grep -vE '^#|^Log |^(Nickname|ContactInfo) ' "$WORK/torrc" | indent
sf_tor_start "$WORK" || exit 1

step "waiting for tor to register the snowflake transport"
if ! sf_tor_wait_log "$WORK/tor-notice.log" "Registered server transport 'snowflake' at '$PT_ADDR'" \
	"$(left)" "terminated with status code|-> Broken|failed the configuration protocol|method error" \
	"$WORK/tor-info.log"; then
	echo "   tor did not register the transport. Managed-proxy lines from tor's log:"
	grep -E "managed proxy|Managed proxy" "$WORK/tor-info.log" | tail -n 20 | indent
	echo "   server log:"
	indent <"$WORK/server.log" 2>/dev/null
	exit 1
fi
grep -E "Registered server transport" "$WORK/tor-notice.log" | indent
echo "   what tor read on the server's stdout:"
grep -oE "Got a line from managed proxy .*" "$WORK/tor-info.log" | sed 's/^Got a line from managed proxy [^:]*: //' | indent

step "server log (--log $WORK/server.log)"
indent <"$WORK/server.log"

# tor's view of the stream: the ExtORPort handshake, the address it was told, and the OR
# connection the stream became.
show_tor_side()
{
	{
		grep -hE "Received USERADDR|Received DONE|with $CLIENT_IP:1" "$WORK/tor-net-debug.log"
		grep -hE "with $CLIENT_IP:1" "$WORK/tor-info.log"
	} 2>/dev/null | awk '!seen[$0]++' | head -n 6 | indent
}

if [ -n "$PROBE" ]; then
	step "a Snowflake client session: sftlsprobe --url ws://$PT_ADDR/ --client-ip $CLIENT_IP"
	echo "   (one turbotunnel session, KCP and smux v2 set up as the Snowflake client does; on its"
	echo "   one stream, a TLS client handshake with whatever is at the end: here tor's ORPort)"
	probe_limit=$(left)
	[ "$probe_limit" -gt 10 ] && probe_limit=10
	sf_netns_exec timeout -k 2 "$((probe_limit + 5))" "$PROBE" --url "ws://$PT_ADDR/" \
		--client-ip "$CLIENT_IP" --timeout "${probe_limit}s" >"$WORK/sftlsprobe.out" 2>&1
	probe_rc=$?
	echo "   sftlsprobe exit status $probe_rc:"
	indent <"$WORK/sftlsprobe.out"
	# "waiting for V3+ handshake" is tor's state for an OR connection once TLS is done.
	if [ "$probe_rc" = 0 ] &&
		sf_tor_wait_log "$WORK/tor-net-debug.log" "Received USERADDR.*'$CLIENT_IP:1'" 3 &&
		sf_tor_wait_log "$WORK/tor-net-debug.log" "\\(waiting for V3\\+ handshake\\) with $CLIENT_IP:1" 3; then
		echo "   tor, on the Extended ORPort connection the server opened for the stream:"
		show_tor_side
		echo "   => the client's stream went WebSocket -> turbotunnel -> KCP -> smux -> the server,"
		echo "      which passed tor's ExtORPort authentication, reported USERADDR $CLIENT_IP:1,"
		echo "      finished with DONE; tor's ORPort then completed a TLS handshake with the client"
		echo "      (which then closed it; a Tor client would go on with the link handshake)"
	else
		echo "   the TLS handshake with tor did not complete through the server. tor's side:"
		show_tor_side
		ok=0
	fi
elif [ -n "$PEER" ]; then
	step "a Snowflake client session: sfpeer client --url ws://$PT_ADDR/ --client-ip $CLIENT_IP --bytes 100000"
	echo "   (no sftlsprobe: build it with cmake --build <build-dir> --target sftlsprobe. tor's ORPort"
	echo "   speaks Tor's TLS, so nothing is echoed: the stream is expected to fail once tor sees"
	echo "   sfpeer's test bytes. What matters is that the stream reached tor, see below.)"
	peer_limit=$(left)
	[ "$peer_limit" -gt 10 ] && peer_limit=10
	sf_netns_exec timeout -k 2 "$((peer_limit + 2))" "$PEER" client --url "ws://$PT_ADDR/" \
		--client-ip "$CLIENT_IP" --bytes 100000 --timeout "${peer_limit}s" \
		>"$WORK/sfpeer.out" 2>&1
	echo "   sfpeer exit status $?:"
	grep -v '^{' "$WORK/sfpeer.out" | tail -n 5 | indent
	if sf_tor_wait_log "$WORK/tor-net-debug.log" "Received USERADDR.*'$CLIENT_IP:1'" 3; then
		echo "   tor, on the Extended ORPort connection the server opened for the stream:"
		show_tor_side
		echo "   => the client's stream went WebSocket -> turbotunnel -> KCP -> smux -> the server,"
		echo "      which passed tor's ExtORPort authentication, reported USERADDR $CLIENT_IP:1,"
		echo "      finished with DONE, and handed tor the stream's bytes (tor's TLS layer rejects"
		echo "      them: they are sfpeer's test pattern, not a Tor client's TLS handshake)"
	else
		echo "   tor saw no ExtORPort connection from the server: the client session did not get through"
		ok=0
	fi
else
	step "no sftlsprobe or sfpeer (build with: cmake --build <build-dir>); skipping the client session"
fi

rest=$((START + DURATION - SECONDS))
if [ "$rest" -gt 0 ]; then
	step "bridge stays up for the rest of the ${DURATION}s (${rest}s; Ctrl-C to stop now)"
	for ((i = 0; i < rest * 10; i++)); do
		kill -0 "$SF_TOR_PID" 2>/dev/null || { echo "   tor exited early"; ok=0; break; }
		sleep 0.1
	done
fi

step "stopping: SIGTERM to tor (tor then stops the server)"
server_pid=$(sf_tor_children | head -n1)
sf_tor_stop 10 || ok=0
echo "   tor exited with status $SF_TOR_STATUS"
if [ -n "$server_pid" ] && ! sf_wait_pid_gone "$server_pid" 10; then
	echo "   server (pid $server_pid) still running 10 s later"
	ok=0
fi
echo "   server log, last lines:"
tail -n 8 "$WORK/server.log" | indent
sf_netns_delete
echo "   namespace deleted"
[ "$ok" = 1 ] && { echo; echo "demo: OK"; exit 0; }
echo; echo "demo: something did not work (see above)"
exit 1
