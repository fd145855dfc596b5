# labels: dataplane
# timeout: 240
#
# Several ExtORPorts (docs/tor.md, "Several ExtORPorts"): two sfpeer extor instances, each with
# its own cookie file, given as `extorport=ADDR,COOKIEFILE` transport options (tor's escaping),
# two shards. Every client stream is checked byte for byte (sfpeer client JSON).
#  1. 32 streams are spread over both (each shard takes the least loaded ExtORPort).
#  2. B is killed while 32 streams are open: exactly B's streams end, A's finish intact.
#  3. New streams all go to A; the first dials to the dead B fail over to A within the stream.
#  4. B comes back on the same port with a new cookie: after its backoff, streams reach it
#     again, the stale cookie costing one failed handshake per probing shard and no stream.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/extor_lib.sh"

dp_setup extor_spread
extor_start a
extor_start b
# TOR_PT_EXTENDED_SERVER_PORT stays A's (the single-ExtORPort default); the list replaces it.
DP_EXTOR_ADDR=${EXTOR_ADDR[a]}
DP_EXTOR_COOKIE=${EXTOR_COOKIE[a]}
DP_EXTOR_OUT=${EXTOR_OUT[a]}
dp_start_server \
	"TOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:num-turbotunnel=2;$(extor_option a);$(extor_option b)"
LOG=$DP_SERVER_DIR/server.log

SESSIONS=4
STREAMS=8
TOTAL=$((SESSIONS * STREAMS))
BYTES=$(dp_scale 200000 20000)

# 1. Spread.
dp_client spread --sessions "$SESSIONS" --streams "$STREAMS" --bytes "$BYTES"
dp_expect_client_ok "$SESSIONS" "$STREAMS" "$BYTES"
a1=$(extor_count a)
b1=$(extor_count b)
dp_say "streams per ExtORPort: A $a1, B $b1"
[ $((a1 + b1)) = "$TOTAL" ] || dp_fail "expected $TOTAL ExtORPort connections, A had $a1 and B $b1"
# Least loaded per shard: each shard alternates, so neither gets much more than half.
[ "$a1" -ge $((TOTAL / 4)) ] && [ "$b1" -ge $((TOTAL / 4)) ] ||
	dp_fail "streams not spread: A $a1, B $b1 of $TOTAL"
[ "$(extor_count a '!')" = 0 ] && [ "$(extor_count b '!')" = 0 ] ||
	dp_fail "a handshake failed (extor output above)"

# 2. Kill B while streams are open on both: idle streams, each echoing one byte when it opens
# and one more after the hold, so the kill falls between the two whatever the machine's speed.
DP_CLIENT_JSON=$DP_WORK/client-kill.json
ready=$DP_WORK/client-kill.ready
dp_say "sfpeer client (background): $SESSIONS × $STREAMS idle streams held 10 s"
"$SFPEER" client --url "$DP_URL" --json --timeout "$(dp_budget 90)s" --sessions "$SESSIONS" \
	--streams "$STREAMS" --idle --duration 10s --ready-file "$ready" \
	>"$DP_CLIENT_JSON" 2>"$DP_WORK/client-kill.err" &
client_pid=$!
DP_PIDS+=("$client_pid")
end=$((SECONDS + $(dp_budget 30)))
until [ -e "$ready" ]; do
	[ "$SECONDS" -lt "$end" ] && dp_alive "$client_pid" || dp_fail "the idle streams did not all open"
	sleep 0.05
done
extor_kill b
a2=$(($(extor_count a) - a1))
b2=$(($(extor_count b) - b1))
dp_say "open streams per ExtORPort when B died: A $a2, B $b2"
[ $((a2 + b2)) = "$TOTAL" ] || dp_fail "expected $TOTAL new ExtORPort connections: A $a2, B $b2"
[ "$a2" -gt 0 ] && [ "$b2" -gt 0 ] || dp_fail "both ExtORPorts should carry streams: A $a2, B $b2"
wait "$client_pid"
DP_CLIENT_RC=$?
dp_say "$(tail -n 1 "$DP_WORK/client-kill.err") (exit status $DP_CLIENT_RC)"
dp_check "$DP_CLIENT_JSON" \
	"j['idle']['established'] == $TOTAL" \
	"j['streams_ok'] == $a2" "j['streams_failed'] == $b2" \
	"j['verify_failures'] == 0" \
	"not any(k.startswith('verify') or k == 'echo_excess' for k in j['errors'])" \
	"not j['timed_out']" "j['kcp_client']['kcp_in_errors'] == 0" ||
	dp_fail "B's $b2 streams should have ended and A's $a2 finished intact"

# 3. Only A is left: every new stream works and lands there.
a3=$(extor_count a)
dp_client survivor --sessions 2 --streams "$STREAMS" --bytes "$BYTES"
dp_expect_client_ok 2 "$STREAMS" "$BYTES"
[ $(($(extor_count a) - a3)) = $((2 * STREAMS)) ] ||
	dp_fail "A should have taken all $((2 * STREAMS)) new streams, took $(($(extor_count a) - a3))"
grep -q "failed to connect to ExtORPort 1: .*connection refused; trying ExtORPort 0" "$LOG" ||
	dp_fail "no fail-over from the dead ExtORPort in the log"

# 4. B restarts on its port with a new cookie; bounded rounds until a stream reaches it again.
extor_start b "${EXTOR_ADDR[b]}"
for round in $(seq 1 20); do
	a4=$(extor_count a)
	dp_client "back-$round" --sessions 1 --streams "$STREAMS" --bytes "$BYTES"
	dp_expect_client_ok 1 "$STREAMS" "$BYTES"
	[ "$(extor_count b)" -gt 0 ] && break
	[ $(($(extor_count a) - a4)) = "$STREAMS" ] || dp_fail "streams lost while B was backing off"
	sleep 1
done
back=$(extor_count b)
stale=$(extor_count b '!')
dp_say "B is back: $back streams after $round rounds, $stale handshakes with the old cookie"
[ "$back" -gt 0 ] || dp_fail "no stream reached the restarted ExtORPort"
[ "$stale" -ge 1 ] && [ "$stale" -le 2 ] ||
	dp_fail "expected 1 failed handshake per probing shard (at most 2), saw $stale"
grep -q "ExtORPort 1: authentication failed; its auth cookie file has a new cookie" "$LOG" ||
	dp_fail "the cookie change is not in the log"

dp_stop_server
dp_pass
