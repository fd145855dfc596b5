# labels: dataplane
# timeout: 300
#
# --metrics-addr (docs/metrics.md): the server runs between sfpeer client and sfpeer extor with
# its metrics endpoint on; the scraped counters must equal what the client reports (bytes each
# way, streams, sessions, WebSockets, client addresses), the gauges must show idle sessions that
# are held open, a dead ExtORPort must show as dial errors of its backend, every page must pass
# `promtool check metrics`, and a real Prometheus (Debian's, loopback, scrape_interval 1s,
# temporary storage) queried through its HTTP API must see the counters move.
. "$(dirname "$0")/lib.sh"

TOOL="python3 $(dirname "$0")/metrics_tool.py"

dp_setup metrics
for bin in prometheus promtool; do
	command -v "$bin" >/dev/null || dp_fail "$bin is needed (Debian package prometheus; scripts/install-deps.sh)"
done
dp_start_extor
MPORT=$(dp_free_port)
METRICS="http://127.0.0.1:$MPORT/metrics"
DP_SERVER_ARGS=(--metrics-addr "127.0.0.1:$MPORT")
dp_start_server
grep -q "metrics: serving on" "$DP_SERVER_DIR/server.log" || dp_fail "no 'metrics: serving on' line in the log"

# scrape NAME — the page into $DP_WORK/NAME.prom, checked by promtool.
scrape()
{
	local f=$DP_WORK/$1.prom
	$TOOL scrape "$METRICS" "$f" || dp_fail "scrape $1 failed"
	promtool check metrics <"$f" >"$DP_WORK/$1.promtool" 2>&1 ||
		{ cat "$DP_WORK/$1.promtool"; dp_fail "promtool check metrics rejects scrape $1"; }
}
# val NAME METRIC [L=V...] — the sum of METRIC's samples in scrape NAME.
val() { local f=$DP_WORK/$1.prom; shift; $TOOL sum "$f" "$@"; }
# expect WHAT GOT WANT
expect() { [ "$2" = "$3" ] || dp_fail "$1: got $2, want $3"; dp_say "$1 = $2"; }
# expect_soon WHAT WANT SECONDS NAME METRIC [L=V...] — scrapes (into NAME) until METRIC's sum is
# WANT: gauges settle once the server has seen the last closes.
expect_soon()
{
	local what=$1 want=$2 end=$((SECONDS + $3)) name=$4 got
	shift 4
	while :; do
		scrape "$name"
		got=$(val "$name" "$@")
		[ "$got" = "$want" ] && { dp_say "$what = $got"; return 0; }
		[ "$SECONDS" -ge "$end" ] && dp_fail "$what: got $got, want $want within the bound"
		sleep 0.2
	done
}

scrape start
expect "accepted connections at start" "$(val start snowflake_connections_accepted_total)" 0
expect "bytes to tor at start" "$(val start snowflake_relay_bytes_total direction=to_tor)" 0
expect "dial errors at start" \
	"$(val start snowflake_tor_dial_errors_total backend="$DP_EXTOR_ADDR" kind=extorport)" 0
[ "$($TOOL status "http://127.0.0.1:$MPORT/")" = 404 ] || dp_fail "GET / is not 404"

# A real Prometheus scraping the endpoint every second.
PPORT=$(dp_free_port)
PROM="http://127.0.0.1:$PPORT"
cat >"$DP_WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: snowflake
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
promtool check config "$DP_WORK/prometheus.yml" >/dev/null || dp_fail "promtool rejects our prometheus.yml"
timeout "$(dp_lifetime)" prometheus --config.file="$DP_WORK/prometheus.yml" \
	--storage.tsdb.path="$DP_WORK/tsdb" --web.listen-address="127.0.0.1:$PPORT" \
	>"$DP_WORK/prometheus.log" 2>&1 &
PROM_PID=$!
DP_PIDS+=("$PROM_PID")
# prom_wait EXPR WANT SECONDS — until the query's value is WANT.
prom_wait()
{
	local end=$((SECONDS + $3)) got=""
	while [ "$SECONDS" -le "$end" ]; do
		got=$($TOOL query "$PROM" "$1" 2>/dev/null) && [ "$got" = "$2" ] && { dp_say "prometheus: $1 = $got"; return 0; }
		dp_alive "$PROM_PID" || { tail -n 20 "$DP_WORK/prometheus.log"; dp_fail "prometheus exited"; }
		sleep 0.5
	done
	tail -n 20 "$DP_WORK/prometheus.log"
	dp_fail "prometheus: $1 is '$got', want $2 within $3 s"
}
prom_wait 'up{job="snowflake"}' 1 "$(dp_budget 60)"
prom_wait 'sum(snowflake_relay_bytes_total{direction="to_tor"})' 0 "$(dp_budget 20)"

# Bulk traffic: 2 sessions x 2 streams, every byte echoed by the extor and verified.
bytes=$(dp_scale 2000000 1000)
dp_client bulk --sessions 2 --streams 2 --bytes "$bytes" --client-ip 192.0.2.7
dp_expect_client_ok 2 2 "$bytes"
total=$((2 * 2 * bytes))
dials=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ws_dials"])' "$DP_CLIENT_JSON")
# Every byte the client verified went to tor and came back: both counters are complete.
scrape bulk
expect "bytes to tor" "$(val bulk snowflake_relay_bytes_total direction=to_tor)" "$total"
expect "bytes from tor" "$(val bulk snowflake_relay_bytes_total direction=from_tor)" "$total"
expect "streams" "$(val bulk snowflake_streams_total)" 4
expect "streams with a client address" "$(val bulk snowflake_streams_with_client_ip_total)" 4
expect "sessions" "$(val bulk snowflake_sessions_total)" 2
expect "WebSockets handed to shards" "$(val bulk snowflake_websockets_total)" "$dials"
expect "accepted connections" "$(val bulk snowflake_connections_accepted_total)" "$dials"
expect "RTT samples > 0" "$(python3 -c 'import sys; print(int(float(sys.argv[1]) > 0))' \
	"$(val bulk snowflake_kcp_rtt_seconds_count)")" 1
expect "extor connections" "$(grep -c '"event":"extor_conn"' "$DP_EXTOR_OUT")" 4
prom_wait 'sum(snowflake_relay_bytes_total{direction="to_tor"})' "$total" "$(dp_budget 20)"
prom_wait 'sum(snowflake_streams_total)' 4 "$(dp_budget 20)"

# Gauges: idle sessions held open are active sessions with an open WebSocket each.
ready=$DP_WORK/idle.ready
"$SFPEER" client --url "$DP_URL" --json --idle --sessions 3 --streams 1 --duration 20s \
	--ready-file "$ready" --timeout "$(dp_budget 60)s" >"$DP_WORK/client-idle.json" 2>"$DP_WORK/client-idle.err" &
IDLE_PID=$!
DP_PIDS+=("$IDLE_PID")
end=$((SECONDS + $(dp_budget 30)))
while [ ! -e "$ready" ] && [ "$SECONDS" -le "$end" ] && dp_alive "$IDLE_PID"; do
	sleep 0.1
done
[ -e "$ready" ] || dp_fail "the idle client did not get ready: $(tail -n 3 "$DP_WORK/client-idle.err")"
# Held for 20 s: long enough for the checks below even on a loaded machine.
prom_wait 'sum(snowflake_websockets_open)' 3 "$(dp_budget 15)"
expect_soon "open WebSockets while 3 idle sessions are held" 3 5 idle snowflake_websockets_open
# The bulk client left without closing its sessions and streams: they live on in the server
# until smux's keepalive gives up on them, as upstream's do. So at least 3 here.
for g in sessions streams; do
	n=$(val idle "snowflake_${g}_active")
	[ "$n" -ge 3 ] || dp_fail "active $g while 3 idle sessions are held: $n"
	dp_say "active $g = $n (3 idle + what the bulk client left)"
done
wait "$IDLE_PID"
DP_CLIENT_RC=$?
DP_CLIENT_JSON=$DP_WORK/client-idle.json
DP_CLIENT_ERR=$DP_WORK/client-idle.err
dp_expect_client_ok 3 1
expect_soon "open WebSockets once the idle client is gone" 0 10 idle-gone snowflake_websockets_open

# A dead ExtORPort: the dial errors of its backend.
dp_stop "$DP_EXTOR_PID" 5
dp_client dead --sessions 1 --streams 1 --bytes 1000 --timeout 8s
[ "$DP_CLIENT_RC" != 0 ] || dp_fail "the client succeeded with no ExtORPort behind the server"
scrape dead
errors=$(val dead snowflake_tor_dial_errors_total backend="$DP_EXTOR_ADDR" kind=extorport)
[ "$errors" != none ] && [ "$errors" -ge 1 ] || dp_fail "dial errors of $DP_EXTOR_ADDR: $errors"
dp_say "dial errors of the dead ExtORPort = $errors"
prom_wait "sum(snowflake_tor_dial_errors_total) >= bool 1" 1 "$(dp_budget 20)"

# The endpoint logs nothing per request.
n=$(grep -c "metrics" "$DP_SERVER_DIR/server.log")
expect "log lines about metrics" "$n" 1
dp_stop "$PROM_PID" 10
dp_stop_server
dp_pass
