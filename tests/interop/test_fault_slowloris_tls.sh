# labels: dataplane
# timeout: 240
#
# Fault: thousands of slow-loris connections on the TLS port, each sending one more byte of a
# ClientHello every 2 s (test_fault_slowloris.sh does the same with plain HTTP). The server
# serves wss:// from a certificate cache written by bench/tls-cache.sh (no ACME CA is contacted).
#  - While they are held, a real session (sfpeer over wss://, chain verified) sets up and moves
#    its data, every byte verified.
#  - The server's memory grows by a bounded amount per connection.
#  - Every one is closed by the server at the 10 s TLS handshake deadline, and the TLS failure
#    counter says so; the descriptors come back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

dp_setup fault_slowloris_tls
command -v openssl >/dev/null || dp_fail "openssl is needed"
dp_start_echo
NAME=snowflake.test
sh "$FAULT_DIR/../../bench/tls-cache.sh" "$NAME" "$DP_WORK/tls" >/dev/null || dp_fail "tls-cache.sh failed"

# The server as tor runs it, with TLS: the cache in its state directory, the HTTP-01 listener on
# a free port (not 80), an ACME directory nobody answers (never needed: the cache has the name).
port=$(dp_free_port)
DP_SERVER_DIR=$DP_WORK/server
mkdir -p "$DP_SERVER_DIR/state/snowflake-certificate-cache"
chmod 700 "$DP_SERVER_DIR/state/snowflake-certificate-cache"
cp "$DP_WORK/tls/cache/$NAME" "$DP_SERVER_DIR/state/snowflake-certificate-cache/"
metrics_port=$(dp_free_port)
# shellcheck disable=SC2031 # the server's own environment, as in lib.sh's dp_spawn_server
(
	unset "${!TOR_PT_@}"
	export TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake
	export TOR_PT_SERVER_BINDADDR="snowflake-127.0.0.1:$port"
	export TOR_PT_STATE_LOCATION="$DP_SERVER_DIR/state" TOR_PT_EXIT_ON_STDIN_CLOSE=1
	export TOR_PT_ORPORT="$DP_ORPORT"
	exec "$SF_SERVER" --acme-hostnames "$NAME" --acme-directory "http://127.0.0.1:9/directory" \
		--acme-http-port "$(dp_free_port)" --metrics-addr "127.0.0.1:$metrics_port" \
		--log "$DP_SERVER_DIR/server.log"
) < <(exec 2>/dev/null; while kill -0 $$; do sleep 1; done) \
	>"$DP_SERVER_DIR/stdout" 2>"$DP_SERVER_DIR/stderr" &
DP_SERVER_PID=$!
DP_PIDS+=("$DP_SERVER_PID")
dp_wait_line "$DP_SERVER_DIR/stdout" '^SMETHODS DONE$' "$(dp_budget 60)" "$DP_SERVER_PID" ||
	dp_fail "no SMETHODS DONE from the TLS server"
grep -q "^SMETHOD snowflake 127.0.0.1:$port .*tls=yes" "$DP_SERVER_DIR/stdout" ||
	dp_fail "no TLS SMETHOD line for port $port"
DP_URL="wss://$NAME:$port/"
FAULT_ADDR=127.0.0.1:$port
TLS_ARGS=(--ca "$DP_WORK/tls/ca.pem" --connect "$FAULT_ADDR")
dp_say "TLS server at $DP_URL (pid $DP_SERVER_PID)"

BYTES=$(dp_scale 1000000 100000)
dp_client before --sessions 1 --streams 1 --bytes "$BYTES" "${TLS_ARGS[@]}"
dp_expect_client_ok 1 1 "$BYTES"
# sfpeer's stream may stay with its KCP session: count from here.
sleep 1
fds0=$(fault_fds)
timeouts()
{
	curl -s --max-time 5 "http://127.0.0.1:$metrics_port/metrics" |
		sed -n 's/^snowflake_tls_handshake_failures_total{reason="timeout"} \([0-9]*\).*/\1/p'
}
t0=$(timeouts)
t0=${t0:-0}

N=$(dp_scale 3000 200)
rss0=$(fault_rss_kb)
slowloris held "$N" --kind tls --hold 16 --wait-closed 40
sleep 1
held_fds=$(fault_fds)
rss1=$(fault_rss_kb)
dp_say "$N slow-loris TLS connections open: server holds $((held_fds - fds0)) more descriptors, RSS $rss0 -> $rss1 KiB"
# (Under load the attacker may take longer than the deadline to open them all: the first ones
# are closed already; memory is compared with what is held.)
held=$((held_fds - fds0))
[ "$held" -ge $((N / 4)) ] || dp_fail "the server holds only $held of $N connections"
dp_client during --sessions 1 --streams 2 --bytes "$BYTES" "${TLS_ARGS[@]}"
dp_expect_client_ok 1 2 "$BYTES"
rss2=$(fault_rss_kb)
wait "$LORIS_PID"
cat "$DP_WORK/held.json"
dp_check "$DP_WORK/held.json" "j['opened'] == $N" "j['closed_by_server'] == j['opened']" "j['bytes_sent'] > j['opened']" ||
	dp_fail "every slow-loris TLS connection should have been closed by the server at its deadline"
# Each holds an OpenSSL connection with its record buffer (measured: about 48 KiB per
# connection, 3000 of them +145 MB): 64 KiB each.
peak=$((rss1 > rss2 ? rss1 : rss2))
bound=$((64 * $(fault_mem_factor)))
[ "$((peak - rss0))" -le $((N * bound)) ] ||
	dp_fail "RSS grew by $((peak - rss0)) KiB for $N slow TLS connections (bound $bound KiB each)"
t1=$(timeouts)
closed=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["closed_by_server"])' "$DP_WORK/held.json")
[ "${t1:-0}" -ge $((t0 + closed)) ] ||
	dp_fail "snowflake_tls_handshake_failures_total{reason=\"timeout\"} went from $t0 to ${t1:-none}, expected +$closed"
fault_wait_fds_le $((fds0 + 2)) "$(dp_budget 10)" ||
	dp_fail "descriptors after the flood: $(fault_fds), expected at most $((fds0 + 2))"
dp_say "all $N closed at the handshake deadline (timeouts $t0 -> $t1); a session worked meanwhile; RSS +$((rss1 - rss0)) KiB for $held held, peak +$((peak - rss0))"

dp_stop_server
grep -q 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$DP_SERVER_DIR/stderr" &&
	dp_fail "sanitizer report"
dp_pass
