# labels: dataplane
# timeout: 300
#
# Turbotunnel's point: the client abruptly closes its WebSocket every 200 ms during a transfer
# and redials with the same ClientID; the KCP session (and its smux streams) must carry on over
# the new WebSocket with no byte lost. 4 sessions × 2 streams × 20 MB (× SF_TEST_SCALE, but at
# least 5 MB, so that the transfer outlasts a few reconnect periods even on a fast machine).
. "$(dirname "$0")/lib.sh"

dp_setup reconnect
dp_start_echo
dp_start_server
bytes=$(dp_scale 20000000 5000000)
dp_client reconnect --sessions 4 --streams 2 --bytes "$bytes" --reconnect-every 200ms
dp_expect_client_ok 4 2 "$bytes"
dp_check "$DP_CLIENT_JSON" "j['reconnects'] > 0" ||
	dp_fail "the client did not reconnect during the transfer: the scenario did not run"
dp_stop_server
dp_pass
