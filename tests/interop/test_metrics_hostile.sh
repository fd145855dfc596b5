# labels: dataplane
# timeout: 200
#
# The metrics endpoint under attack (docs/metrics.md "Hostile clients"): 300 connections at once
# to the metrics port — requests dripped a byte at a time, random garbage, silent sockets, each
# replaced as soon as the server closes it — while a verified bulk transfer runs through the
# server. The transfer must complete, the server must hold no more than its cap of metrics
# connections (its descriptor count stays bounded), log nothing about them, and serve a valid
# page once the attack ends.
. "$(dirname "$0")/lib.sh"

TOOL="python3 $(dirname "$0")/metrics_tool.py"
MAX_CONNS=16 # SF_METRICS_MAX_CONNS

dp_setup metrics_hostile
command -v promtool >/dev/null || dp_fail "promtool is needed (Debian package prometheus)"
dp_start_echo
MPORT=$(dp_free_port)
METRICS="http://127.0.0.1:$MPORT/metrics"
DP_SERVER_ARGS=(--metrics-addr "127.0.0.1:$MPORT")
dp_start_server
fds() { find "/proc/$DP_SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
base_fds=$(fds)

attack_s=$(dp_budget 100)
stop=$DP_WORK/stop-attack
$TOOL hostile 127.0.0.1 "$MPORT" 300 "$attack_s" "$stop" >"$DP_WORK/hostile.out" 2>"$DP_WORK/hostile.err" &
ATTACK_PID=$!
DP_PIDS+=("$ATTACK_PID")
sleep 2
dp_alive "$ATTACK_PID" || dp_fail "the attacker died: $(cat "$DP_WORK/hostile.err")"

# Descriptors while under attack: the cap, the bulk client's WebSockets and ORPort connections
# (2 sessions x 2 streams: 2 + 4) and a margin for the listener's churn.
max_fds=0
( while dp_alive "$ATTACK_PID"; do fds; sleep 0.2; done ) >"$DP_WORK/fds" &
SAMPLER_PID=$!
DP_PIDS+=("$SAMPLER_PID")

bytes=$(dp_scale 20000000 100000)
dp_client bulk --sessions 2 --streams 2 --bytes "$bytes"
dp_expect_client_ok 2 2 "$bytes"
dp_alive "$ATTACK_PID" || dp_fail "the attack ended before the transfer did (raise attack_s)"
touch "$stop"
wait "$ATTACK_PID"
wait "$SAMPLER_PID"
made=$(cat "$DP_WORK/hostile.out")
[ "${made:-0}" -gt 300 ] || dp_fail "the attacker made only ${made:-0} connections"
max_fds=$(sort -n "$DP_WORK/fds" | tail -n 1)
limit=$((base_fds + MAX_CONNS + 6 + 10))
dp_say "attacker made $made connections; server descriptors: $base_fds before, at most $max_fds during (limit $limit)"
[ "$max_fds" -le "$limit" ] || dp_fail "the server held $max_fds descriptors under attack (limit $limit)"

# After the attack: a normal scrape, valid, with the transfer's bytes.
end=$((SECONDS + $(dp_budget 15)))
until $TOOL scrape "$METRICS" "$DP_WORK/after.prom" 2>/dev/null; do
	[ "$SECONDS" -lt "$end" ] || dp_fail "no scrape succeeded after the attack"
	sleep 0.5
done
promtool check metrics <"$DP_WORK/after.prom" || dp_fail "promtool rejects the page after the attack"
got=$($TOOL sum "$DP_WORK/after.prom" snowflake_relay_bytes_total direction=to_tor)
[ "$got" = $((4 * bytes)) ] || dp_fail "bytes to tor after the attack: $got, want $((4 * bytes))"
n=$(grep -c "metrics" "$DP_SERVER_DIR/server.log")
[ "$n" = 1 ] || dp_fail "the server logged about metrics connections ($n lines)"
dp_stop_server
dp_pass
