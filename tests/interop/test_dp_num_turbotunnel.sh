# labels: dataplane
# timeout: 300
#
# num-turbotunnel (protocols.md §1.5, §4.6): the server runs N KCP engines and shards sessions
# by ClientID. With N=1 and N=4 (TOR_PT_SERVER_TRANSPORT_OPTIONS, as tor passes
# ServerTransportOptions), 20 sessions × 2 streams × 1 MB (× SF_TEST_SCALE) must all verify.
. "$(dirname "$0")/lib.sh"

dp_setup num_turbotunnel
dp_start_echo
bytes=$(dp_scale 1000000)
for n in 1 4; do
	dp_start_server "TOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:num-turbotunnel=$n"
	dp_client "tt$n" --sessions 20 --streams 2 --bytes "$bytes" --ramp 1s
	dp_expect_client_ok 20 2 "$bytes"
	dp_stop_server
done
dp_pass
