# labels: dataplane
# timeout: 120
#
# Interactive traffic: 50 sessions, each stream sends 1 kB every 200 ms for 5 s and waits for the
# echo. Checks only that every ping came back intact (latency belongs to bench/).
. "$(dirname "$0")/lib.sh"

dp_setup ping
dp_start_echo
dp_start_server
dp_client ping --sessions 50 --streams 1 --ping-interval 200ms --duration 5s
dp_expect_client_ok 50 1
dp_check "$DP_CLIENT_JSON" "j['pings']['ok'] == j['pings']['sent']" "j['pings']['ok'] >= 50" ||
	dp_fail "pings were lost"
dp_stop_server
dp_pass
