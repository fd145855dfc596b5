# labels: dataplane
# timeout: 300
#
# Bulk echo: one session, one stream, 100 MB (× SF_TEST_SCALE) through the server to sfpeer echo
# (the ORPort) and back, every byte verified by sfpeer client. Downstream, the packets of one KCP
# flush leave as one WebSocket message: the client receives far fewer messages than packets.
. "$(dirname "$0")/lib.sh"

dp_setup bulk
dp_start_echo
dp_start_server
bytes=$(dp_scale 100000000)
dp_client bulk --bytes "$bytes"
dp_expect_client_ok 1 1 "$bytes"
dp_check "$DP_CLIENT_JSON" "j['wire']['msgs_in'] * 2 < j['wire']['pkts_in']" ||
	dp_fail "downstream packets were not batched into WebSocket messages"
dp_say "downstream: $(python3 -c 'import json, sys; w = json.load(open(sys.argv[1]))["wire"]
print(w["pkts_in"], "packets in", w["msgs_in"], "WebSocket messages")' "$DP_CLIENT_JSON")"
dp_stop_server
dp_pass
