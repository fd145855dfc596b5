# labels: dataplane
# timeout: 180
#
# Attacker: WebSocket clients that send Pings and never read (tiny receive buffers), half before
# and half after the turbotunnel preamble. The server must stop reading them while their Pongs
# wait (or close them), so its memory stays bounded instead of queueing up to the 4 MiB output cap
# per connection; meanwhile an innocent session relays normally. (Before the fix: ~4 MiB of Pongs
# queued per connection.)
. "$(dirname "$0")/lib.sh"

dp_setup pingbp
# RSS must show live memory: under ASan, freed Pong buffers would otherwise sit in its quarantine.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
dp_start_echo
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}
# Not scaled down for the sanitizer run: 16 idle sockets cost nothing, and the allocator's fixed
# start-up growth (~4 MiB under ASan) must be spread over enough connections to be told apart.
conns=16
ready=$DP_WORK/flooded
timeout "$(dp_budget 90)" python3 "$(dirname "$0")/pingflood.py" --addr "$addr" --pid "$DP_SERVER_PID" \
	--conns "$conns" --seconds 8 --hold 30 --ready-file "$ready" \
	>"$DP_WORK/pingflood.out" 2>"$DP_WORK/pingflood.err" &
flood_pid=$!
for _ in $(seq 1 600); do
	[ -e "$ready" ] && break
	kill -0 "$flood_pid" 2>/dev/null || break
	sleep 0.1
done
[ -e "$ready" ] || dp_fail "pingflood.py did not finish flooding: $(cat "$DP_WORK/pingflood.err")"
dp_alive "$DP_SERVER_PID" || dp_fail "the server died during the ping flood"
# the attackers are still connected
dp_client innocent --sessions 1 --streams 1 --bytes 1000000
dp_expect_client_ok 1 1 1000000
wait "$flood_pid" || dp_fail "pingflood.py failed: $(cat "$DP_WORK/pingflood.err")"
tail -n 1 "$DP_WORK/pingflood.out"
# Each attacker pushed far more Pings than the bound (else the test proves nothing) ...
dp_check "$DP_WORK/pingflood.out" "j['min_pinged_kb'] >= 512" ||
	dp_fail "the flood was too small to show anything"
# ... yet the server grew by less than 512 KiB per connection plus 4 MiB of allocator start-up
# (unbounded: ~4 MiB each, 64 MiB in all).
dp_check "$DP_WORK/pingflood.out" "j['rss_growth_kb'] < 4096 + j['conns'] * 512" ||
	dp_fail "the server queued the Pongs of clients that do not read"
dp_alive "$DP_SERVER_PID" || dp_fail "the server died"
dp_pass
