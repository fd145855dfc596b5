# labels: dataplane
# timeout: 300
#
# num-turbotunnel (docs/pt.md "Start-up sequence", docs/turbotunnel.md "Map and shards"): the
# server runs N KCP engines and shards sessions
# by ClientID. With N=1 and N=4 (TOR_PT_SERVER_TRANSPORT_OPTIONS, as tor passes
# ServerTransportOptions), 20 sessions × 2 streams × 1 MB (× SF_TEST_SCALE) must all verify.
# N=100000 is valid for upstream (goroutines) but is cut to 4 shards per CPU here, with a log
# line; the traffic still verifies and the server stays small.
. "$(dirname "$0")/lib.sh"

dp_setup num_turbotunnel
dp_start_echo
bytes=$(dp_scale 1000000)
for n in 1 4 100000; do
	dp_start_server "TOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:num-turbotunnel=$n"
	dp_client "tt$n" --sessions 20 --streams 2 --bytes "$bytes" --ramp 1s
	dp_expect_client_ok 20 2 "$bytes"
	if [ "$n" = 100000 ]; then
		cpus=$(nproc)
		grep -q "num-turbotunnel=100000: running $((4 * cpus)) shards (at most 4 per CPU)" \
			"$DP_SERVER_DIR/server.log" || dp_fail "no log line about the shard cap"
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DP_SERVER_PID/status")
		dp_say "num-turbotunnel=100000: $((4 * cpus)) shards, RSS $rss KiB"
		[ "$rss" -lt 200000 ] || dp_fail "RSS $rss KiB with the shard cap"
	fi
	dp_stop_server
done
dp_pass
