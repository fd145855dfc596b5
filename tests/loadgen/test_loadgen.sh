#!/bin/bash
# snowflake-loadgen against the real server (release build) and the Go ExtORPort peer
# (sfpeer extor, which echoes), over ws:// and wss://, small N. Asserts results, never timings:
#   1. bulk: every byte verified, and the Go ExtORPort peer counted exactly those bytes both
#      ways; the same scenario with the Go client (sfpeer client) moves the same byte counts.
#   2. idle (from several source addresses, some streams pinging), ping, setup: all sessions up,
#      every ping and final byte back.
#   3. a flipped byte (--corrupt-at) makes loadgen report a verification failure and exit 1;
#      --keepalive changes the NOP period (more packets out), and a too short one is refused.
#   4. wss:// with the certificate checked (--ca), and without; a wrong CA fails the run.
# Needs SF_SERVER, SFPEER, SF_LOADGEN, SF_SOURCE_DIR (tests/CMakeLists.txt sets them).
# timeout: 360
. "$SF_SOURCE_DIR/tests/interop/lib.sh"

[ -x "${SF_LOADGEN:-}" ] || { echo "SF_LOADGEN is not an executable file"; exit 1; }
dp_setup loadgen

LG_RC=""
LG_JSON=""
# lg_run NAME MODE [ARGS...] — loadgen against DP_URL; sets LG_RC and LG_JSON.
lg_run()
{
	local name=$1
	shift
	LG_JSON=$DP_WORK/lg-$name.json
	dp_say "snowflake-loadgen $*"
	"$SF_LOADGEN" "$@" --url "$DP_URL" --timeout "$(dp_budget 60)" ${LG_ARGS[@]+"${LG_ARGS[@]}"} \
		>"$LG_JSON" 2>"$DP_WORK/lg-$name.err"
	LG_RC=$?
	dp_say "$(tail -n 1 "$DP_WORK/lg-$name.err") (exit status $LG_RC)"
}
LG_ARGS=()

# lg_get EXPR — the value of EXPR (Python over j) in the last run's result.
lg_get()
{
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$LG_JSON" "$1"
}

# lg_expect_ok SESSIONS STREAMS [EXPR...] — exit 0, every session and stream done, nothing
# failed, and each EXPR (Python over j, the result) true. One python per run: a loaded machine
# takes seconds to start one.
lg_expect_ok()
{
	local s=$1 m=$2
	shift 2
	[ "$LG_RC" = 0 ] || dp_fail "loadgen exited with $LG_RC: $(cat "$LG_JSON")"
	dp_check "$LG_JSON" "j['sessions_ok'] == $s" "j['streams_ok'] == $s * $m" \
		"j['streams_failed'] == 0" "j['verify_failures'] == 0" "not j['timed_out']" \
		"j['kcp_client']['kcp_in_errors'] == 0" "sum(j['errors'].values()) == 0" "$@" ||
		dp_fail "loadgen run not clean: $(cat "$LG_JSON")"
}

# stop_pair — stops the server (status 0 on SIGTERM) and the extor; prints the extor's final
# counters as "conns bytes_in bytes_out".
EXTOR_COUNTS=""
PAIRS=0
stop_pair()
{
	dp_stop_server
	dp_stop "$DP_EXTOR_PID" 10
	EXTOR_COUNTS=$(sed -n 's/.*"extor_exit".*"conns":\([0-9]*\),.*"bytes_in":\([0-9]*\),"bytes_out":\([0-9]*\).*/\1 \2 \3/p' \
		"$DP_EXTOR_OUT")
	[ -n "$EXTOR_COUNTS" ] || dp_fail "sfpeer extor printed no final counters"
	# the next extor writes a fresh file (waiting on the old one would find its address)
	PAIRS=$((PAIRS + 1))
	mv "$DP_EXTOR_OUT" "$DP_WORK/extor-$PAIRS.out"
	DP_EXTOR_ADDR=""
}

# 1. bulk, checked by the Go ExtORPort peer, then the Go client on the same scenario.
dp_start_extor
dp_start_server
lg_run bulk bulk --sessions 3 --streams 2 --bytes 300000 --write-size 7000
lg_expect_ok 3 2 "j['bytes_verified'] == 1800000" "j['bytes_sent'] == 1800000"
stop_pair
lg_counts=$EXTOR_COUNTS
[ "$lg_counts" = "6 1800000 1800000" ] ||
	dp_fail "the Go ExtORPort peer saw conns/in/out '$lg_counts' from loadgen, want '6 1800000 1800000'"
dp_say "loadgen bulk: the Go ExtORPort peer relayed $lg_counts (conns, bytes in, bytes out)"

dp_start_extor
dp_start_server
dp_client gobulk --sessions 3 --streams 2 --bytes 300000
dp_expect_client_ok 3 2 300000
stop_pair
[ "$EXTOR_COUNTS" = "$lg_counts" ] ||
	dp_fail "the Go client's run relayed '$EXTOR_COUNTS', loadgen's '$lg_counts'"
dp_say "sfpeer client bulk: the same counts ($EXTOR_COUNTS)"

# 2. idle (three source addresses), ping, setup; 3. a flipped byte.
dp_start_extor
dp_start_server
lg_run idle idle --sessions 24 --source 127.0.0.2-127.0.0.4 --duration 2 --active 6 \
	--ready-file "$DP_WORK/ready"
lg_expect_ok 24 1 "j['idle']['established'] == 24" "j['pings']['ok'] >= 6" \
	"j['pings']['ok'] == j['pings']['sent']" "j['latency_ms']['count'] == j['pings']['ok']" \
	"j['bytes_verified'] == 24 * 2 + 1024 * j['pings']['ok']"
[ -e "$DP_WORK/ready" ] || dp_fail "idle: no ready file"
grep -q '"event":"ready","established":24' "$DP_WORK/lg-idle.err" || dp_fail "idle: no ready event"
lg_run ping ping --sessions 4 --streams 2 --duration 2 --interval 0.25 --ping-size 1000
lg_expect_ok 4 2 "j['pings']['ok'] >= 8" "j['pings']['ok'] == j['pings']['sent']" \
	"j['bytes_verified'] == 8 * 2 + 1000 * j['pings']['ok']"
# --keepalive: the smux NOP period of every session. Held 2 s, two sessions send no NOP with the
# Go client's 10 s period and about 10 each with 200 ms; a period under two ticks is refused.
lg_run ka-default idle --sessions 2 --duration 2
lg_expect_ok 2 1 "j['keepalive_ms'] == 10000"
ka_base=$(lg_get "j['wire']['pkts_out']")
lg_run ka-200 idle --sessions 2 --duration 2 --keepalive 200
lg_expect_ok 2 1 "j['keepalive_ms'] == 200" "j['wire']['pkts_out'] >= $ka_base + 2 * 6"
dp_say "--keepalive 200: $ka_base packets out with the default period, $(lg_get "j['wire']['pkts_out']") with 200 ms"
lg_run ka-bad idle --sessions 1 --keepalive 5
[ "$LG_RC" = 2 ] || dp_fail "--keepalive 5: loadgen exited with $LG_RC, want 2 (usage)"
lg_run setup setup --sessions 10 --ramp 50
lg_expect_ok 10 1 "j['setup_ms']['count'] == 10" "j['bytes_verified'] == 10"
lg_run corrupt bulk --sessions 1 --bytes 100000 --corrupt-at 54321
[ "$LG_RC" = 1 ] || dp_fail "a flipped byte: loadgen exited with $LG_RC, want 1"
dp_check "$LG_JSON" "j['verify_failures'] == 1" "j['errors']['verify_mismatch'] == 1" \
	"j['sessions_ok'] == 0" "j['bytes_verified'] < 54321 + 1" ||
	dp_fail "a flipped byte was not reported as a verification failure"
dp_say "a flipped byte at offset 54321: verification failure, exit status 1"
stop_pair

# 4. wss:// from the certificate cache (bench/tls-cache.sh), verified and not.
name=loadgen.test
sh "$SF_SOURCE_DIR/bench/tls-cache.sh" "$name" "$DP_WORK/tls" || dp_fail "tls-cache.sh failed"
sh "$SF_SOURCE_DIR/bench/tls-cache.sh" other.test "$DP_WORK/tls-other" || dp_fail "tls-cache.sh failed"
dp_start_extor
port=$(dp_free_port)
http_port=$(dp_free_port)
DP_SERVER_DIR=$DP_WORK/server-tls
mkdir -p "$DP_SERVER_DIR/state"
cp -r "$DP_WORK/tls/cache" "$DP_SERVER_DIR/state/snowflake-certificate-cache"
(
	unset "${!TOR_PT_@}"
	export TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake
	export TOR_PT_SERVER_BINDADDR="snowflake-127.0.0.1:$port"
	export TOR_PT_STATE_LOCATION="$DP_SERVER_DIR/state" TOR_PT_EXIT_ON_STDIN_CLOSE=1
	export TOR_PT_EXTENDED_SERVER_PORT="$DP_EXTOR_ADDR" TOR_PT_AUTH_COOKIE_FILE="$DP_EXTOR_COOKIE"
	exec "$SF_SERVER" --acme-hostnames "$name" --acme-http-port "$http_port" \
		--log "$DP_SERVER_DIR/server.log"
) < <(exec 2>/dev/null; while kill -0 $$; do sleep 1; done) \
	>"$DP_SERVER_DIR/stdout" 2>"$DP_SERVER_DIR/stderr" &
DP_SERVER_PID=$!
DP_PIDS+=("$DP_SERVER_PID")
dp_wait_line "$DP_SERVER_DIR/stdout" '^SMETHODS DONE$' "$(dp_budget 15)" "$DP_SERVER_PID" ||
	dp_fail "the TLS server did not start: $(cat "$DP_SERVER_DIR/stdout" "$DP_SERVER_DIR/stderr")"
grep -q "^SMETHOD snowflake 127.0.0.1:$port ARGS:.*tls=yes" "$DP_SERVER_DIR/stdout" ||
	dp_fail "no TLS SMETHOD line: $(cat "$DP_SERVER_DIR/stdout")"
DP_URL="wss://$name:$port/"
LG_ARGS=(--connect "127.0.0.1:$port")
lg_run wss-bulk bulk --sessions 2 --streams 2 --bytes 200000 --ca "$DP_WORK/tls/ca.pem"
lg_expect_ok 2 2 "j['bytes_verified'] == 800000" "j['url'].startswith('wss://')"
lg_run wss-idle idle --sessions 12 --duration 1 --active 3
lg_expect_ok 12 1
lg_run wss-badca setup --sessions 1 --ca "$DP_WORK/tls-other/ca.pem"
[ "$LG_RC" = 1 ] || dp_fail "a certificate from another CA: loadgen exited with $LG_RC, want 1"
dp_check "$LG_JSON" "j['errors']['dial'] == 1" "j['sessions_ok'] == 0" ||
	dp_fail "a wrong CA was not reported as a failed dial"
stop_pair
dp_pass
