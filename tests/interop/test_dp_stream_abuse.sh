# labels: dataplane
# timeout: 180
#
# Attacks on the relay streams of a session, by hand-made clients (stream_attack.py) against an
# ORPort that holds every connection and never reads (tor_sink.py):
#  - SYN+FIN pairs: smux closes each stream at once, but every SYN started an ORPort dial; the
#    connections alive (dialing, or half-closed and waiting for tor) must stay within the
#    per-client cap, and dials within the per-client rate, whatever smux's own count says;
#  - SYN, ~1 MiB of PSH, FIN on 32 streams: the FIN closes the smux stream while its bytes still
#    wait for tor; they must stay counted in the 4 MiB session bucket, so the server stops taking
#    the client's bytes out of KCP (what KCP holds unread shows in the window it advertises).
# Meanwhile an innocent client's verified session must go through, and the log must say what was
# refused, scrubbed.
. "$(dirname "$0")/lib.sh"

dp_setup stream_abuse
here=$(dirname "$0")
echo hold >"$DP_WORK/sink.mode"
python3 "$here/tor_sink.py" --mode-file "$DP_WORK/sink.mode" --status "$DP_WORK/sink.status" \
	--lifetime "$(( DP_DEADLINE + DP_MARGIN - SECONDS ))" >"$DP_WORK/sink.out" 2>"$DP_WORK/sink.err" &
DP_PIDS+=("$!")
sink_pid=$!
dp_wait_line "$DP_WORK/sink.out" '"event": "listening"' "$(dp_budget 10)" "$sink_pid" ||
	dp_fail "tor_sink.py did not start: $(cat "$DP_WORK/sink.err")"
DP_ORPORT=$(sed -n 's/.*"addr": "\([^"]*\)".*/\1/p' "$DP_WORK/sink.out" | head -n 1)
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}

server_fds() { find "/proc/$DP_SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
sink_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DP_WORK/sink.status" "$1" 2>/dev/null || echo 0; }
json_field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]])' "$1" "$2"; }
# attack NAME ARGS... — starts stream_attack.py, holding its session open; waits for its report.
attack()
{
	local name=$1
	shift
	dp_say "stream_attack.py $*"
	python3 "$here/stream_attack.py" --addr "$addr" --timeout 60 --hold 100 "$@" \
		>"$DP_WORK/$name.out" 2>"$DP_WORK/$name.err" &
	DP_PIDS+=("$!")
	dp_wait_line "$DP_WORK/$name.out" '^\{' "$(dp_budget 90)" "$!" ||
		dp_fail "stream_attack.py $* gave no report: $(cat "$DP_WORK/$name.err")"
	dp_say "$(cat "$DP_WORK/$name.out")"
	dp_alive "$DP_SERVER_PID" || dp_fail "the server died during stream_attack.py $*"
}
# settle — waits (bounded) until the sink has seen no new connection for a second.
settle()
{
	local last=-1 now end=$((SECONDS + 10))
	while [ "$SECONDS" -lt "$end" ]; do
		now=$(sink_field accepted)
		[ "$now" = "$last" ] && return 0
		last=$now
		sleep 1
	done
}

fds0=$(server_fds)
pairs=2000
attack synfin synfin "$pairs"
settle
dials=$(sink_field accepted)
fds1=$(server_fds)
dp_say "after $pairs SYN+FIN pairs: $dials ORPort connections accepted by the sink, server fds $fds0 -> $fds1"
# The per-client cap is 64 streams alive, and a client may dial 32 at once, then 8 per second.
[ "$dials" -le 64 ] || dp_fail "one session made the server dial the ORPort $dials times"
[ $((fds1 - fds0)) -le 72 ] || dp_fail "one session holds $((fds1 - fds0)) more descriptors in the server"

streams=32
attack finflood finflood "$streams" $((1048576 - 4096))
acked=$(json_field "$DP_WORK/finflood.out" taken_bytes)
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DP_SERVER_PID/status")
dp_say "SYN+PSH+FIN on $streams streams: the server took $acked bytes; server RSS $rss kB"
# 4 MiB of bucket, plus one pump's read and what the tor sockets absorbed: far below the
# 32 MiB the streams carried.
[ "$acked" -le $((8 * 1048576)) ] || dp_fail "the server took $acked bytes past FINs; the session bucket is 4 MiB"

echo echo >"$DP_WORK/sink.mode"
dp_client innocent --sessions 2 --streams 2 --bytes 200000
dp_expect_client_ok 2 2 200000
grep -q "refusing new streams" "$DP_SERVER_DIR/server.log" || dp_fail "no log line about refused streams"
grep -q '127\.0\.0\.1' "$DP_SERVER_DIR/server.log" && dp_fail "the log shows an unscrubbed address"
dp_alive "$DP_SERVER_PID" || dp_fail "the server died"
dp_pass
