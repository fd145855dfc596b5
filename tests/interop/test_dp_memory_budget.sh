# labels: dataplane
# timeout: 300
#
# The memory budget (docs/security.md, "Memory budget"): a server with --memory-budget 64MiB is
# flooded with every attacker at once while a verified session keeps going:
#  - stream_attack.py finflood (SYN + ~1 MiB + FIN on 32 streams, several clients) against an
#    ORPort that never reads (tor_sink.py): bytes waiting for tor;
#  - kcp_attack.py hoard (sessions holding out-of-order KCP data): KCP memory;
#  - pingflood.py (Pings, never reading the Pongs; before and after the preamble): output buffers;
#  - slowloris.py (HTTP requests a byte every 2 s): connections in handshake.
# Asserted: the verified session (sfpeer ping workload, every message checked) succeeds; the
# server's RSS stays under the budget plus its idle RSS; new clients were refused and stalled
# ones evicted (log lines and metrics); the server stops on SIGTERM in time, status 0.
# SF_TEST_MEMORY_BUDGET overrides the budget (e.g. 64GiB: the policy never acts and the test
# fails, which is how it was checked to fail without it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

dp_setup dp_memory_budget
# RSS must show live memory: under ASan, freed buffers would otherwise sit in its quarantine.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
here=$(dirname "$0")
BUDGET=${SF_TEST_MEMORY_BUDGET:-64MiB}
BUDGET_KB=$((64 * 1024))

echo echo >"$DP_WORK/sink.mode"
python3 "$here/tor_sink.py" --mode-file "$DP_WORK/sink.mode" --status "$DP_WORK/sink.status" \
	--lifetime "$(( DP_DEADLINE + DP_MARGIN - SECONDS ))" >"$DP_WORK/sink.out" 2>"$DP_WORK/sink.err" &
DP_PIDS+=("$!")
dp_wait_line "$DP_WORK/sink.out" '"event": "listening"' "$(dp_budget 10)" "$!" ||
	dp_fail "tor_sink.py did not start: $(cat "$DP_WORK/sink.err")"
DP_ORPORT=$(sed -n 's/.*"addr": "\([^"]*\)".*/\1/p' "$DP_WORK/sink.out" | head -n 1)
mport=$(dp_free_port)
DP_SERVER_ARGS=(--memory-budget "$BUDGET" --metrics-addr "127.0.0.1:$mport")
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}
LOG=$DP_SERVER_DIR/server.log
grep -q 'memory budget: 64 MiB' "$LOG" || [ -n "${SF_TEST_MEMORY_BUDGET:-}" ] ||
	dp_fail "the budget is not logged at start: $(grep 'memory budget' "$LOG")"
sink_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DP_WORK/sink.status" "$1" 2>/dev/null || echo 0; }
# metric NAME — the sum over shards of a series on the metrics page.
metric()
{
	python3 - "$mport" "$1" <<'PY'
import sys, urllib.request
page = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
print(sum(int(float(l.split()[-1])) for l in page.splitlines() if l.startswith(sys.argv[2] + "{")))
PY
}

sleep 1
rss_idle=$(fault_rss_kb)
dp_say "idle RSS $rss_idle KiB; budget $BUDGET"
[ "$(metric snowflake_memory_budget_bytes)" -gt 0 ] || dp_fail "no snowflake_memory_budget_bytes"

# The peak RSS, sampled until the end.
(
	peak=0
	while kill -0 "$DP_SERVER_PID" 2>/dev/null; do
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DP_SERVER_PID/status" 2>/dev/null || echo 0)
		[ "${r:-0}" -gt "$peak" ] && { peak=$r; echo "$peak" >"$DP_WORK/peak.tmp"; mv "$DP_WORK/peak.tmp" "$DP_WORK/peak"; }
		sleep 0.2
	done
) &
DP_PIDS+=("$!")

# The verified session: established first (its ClientID is known when the pressure starts).
VERIFY_S=$(dp_scale 60 30)
DP_CLIENT_JSON=$DP_WORK/client-verified.json
dp_say "sfpeer client (background) --ping-interval 50ms --duration ${VERIFY_S}s"
"$SFPEER" client --url "$DP_URL" --json --ping-interval 50ms --ping-size 2048 \
	--duration "${VERIFY_S}s" --timeout "$(dp_budget 200)s" \
	>"$DP_CLIENT_JSON" 2>"$DP_WORK/client-verified.err" &
verified_pid=$!
DP_PIDS+=("$verified_pid")
for _ in $(seq 1 100); do
	[ "$(sink_field accepted)" -ge 1 ] && break
	sleep 0.1
done
[ "$(sink_field accepted)" -ge 1 ] || dp_fail "the verified session opened no stream"
echo hold >"$DP_WORK/sink.mode"

# 1. Bytes for a tor that never reads, several clients.
# Eight clients, whatever the scale: each holds its share (bytes for tor plus unread KCP data),
# so that at least one shard passes its eviction mark however the ClientIDs fall.
FLOODERS=8
FLOOD_STREAMS=$(dp_scale 32 8)
flooder_pids=()
for i in $(seq 1 "$FLOODERS"); do
	python3 "$here/stream_attack.py" --addr "$addr" --timeout 60 --hold 200 finflood "$FLOOD_STREAMS" $((1048576 - 4096)) \
		>"$DP_WORK/finflood$i.out" 2>"$DP_WORK/finflood$i.err" &
	DP_PIDS+=("$!")
	flooder_pids+=("$!")
done
# 2. Connections in handshake, past the front's share.
slowloris loris "$(dp_scale 2000 1000)" --kind http --hold 30
# 3. Pings never read, before and after the preamble.
timeout "$(dp_budget 120)" python3 "$here/pingflood.py" --addr "$addr" --pid "$DP_SERVER_PID" \
	--conns 16 --seconds 8 --hold 40 >"$DP_WORK/pingflood.out" 2>"$DP_WORK/pingflood.err" &
DP_PIDS+=("$!")
for i in $(seq 1 "$FLOODERS"); do
	dp_wait_line "$DP_WORK/finflood$i.out" '^\{' "$(dp_budget 90)" "${flooder_pids[$((i - 1))]}" ||
		dp_fail "stream_attack.py $i gave no report: $(cat "$DP_WORK/finflood$i.err")"
done
dp_say "used after the stream floods: $(metric snowflake_memory_used_bytes) bytes"
# 4. KCP hoarders, in two waves: the second meets the refusal mark.
for wave in 1 2; do
	mkfifo "$DP_WORK/hoard$wave.in"
	timeout "$(dp_budget 150)" python3 "$here/kcp_attack.py" --addr "$addr" --timeout 140 \
		hoard "$(dp_scale 24 8)" 3 <"$DP_WORK/hoard$wave.in" >"$DP_WORK/hoard$wave.out" \
		2>"$DP_WORK/hoard$wave.err" &
	DP_PIDS+=("$!")
	exec {hold}>"$DP_WORK/hoard$wave.in"
	dp_wait_line "$DP_WORK/hoard$wave.out" '"sent": true' "$(dp_budget 120)" "$!" ||
		dp_fail "kcp_attack.py wave $wave did not finish: $(cat "$DP_WORK/hoard$wave.err")"
	dp_say "hoard wave $wave: $(cat "$DP_WORK/hoard$wave.out"); used $(metric snowflake_memory_used_bytes) bytes"
done
dp_alive "$DP_SERVER_PID" || dp_fail "the server died under the flood"
# 5. New clients while a shard is past its refusal mark: they must be turned away. (Eviction
# brings a shard back under the mark, so wait for one to be over it, bounded.)
for _ in $(seq 1 60); do
	[ "$(metric snowflake_memory_refused_total)" -gt 0 ] && break
	if python3 - "$mport" <<'PY'
import sys, urllib.request
page = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
val = {}
for l in page.splitlines():
    if l.startswith("snowflake_memory_"):
        name, v = l.rsplit(" ", 1)
        val[name] = float(v)
over = [k for k in val if k.startswith("snowflake_memory_used_bytes")
        and val[k] >= 0.75 * val[k.replace("used", "budget")]]
sys.exit(0 if over else 1)
PY
	then
		timeout "$(dp_budget 30)" python3 "$here/kcp_attack.py" --addr "$addr" --timeout 1 far 16 \
			</dev/null >>"$DP_WORK/late.out" 2>>"$DP_WORK/late.err"
		dp_say "new clients while a shard is past its refusal mark: $(tail -n 1 "$DP_WORK/late.out")"
	fi
	sleep 0.5
done

wait "$verified_pid"
DP_CLIENT_RC=$?
dp_say "$(tail -n 1 "$DP_WORK/client-verified.err") (exit status $DP_CLIENT_RC)"
dp_expect_client_ok 1 1

refused=$(metric snowflake_memory_refused_total)
evicted=$(metric snowflake_memory_evicted_total)
peak=$(cat "$DP_WORK/peak")
dp_say "peak RSS $peak KiB (idle $rss_idle KiB); refused $refused new clients, evicted $evicted"
limit=$BUDGET_KB
dp_sanitizer_build && limit=$((BUDGET_KB * 2))
[ $((peak - rss_idle)) -lt "$limit" ] ||
	dp_fail "RSS grew by $((peak - rss_idle)) KiB, over the budget ($limit KiB)"
[ "$refused" -gt 0 ] || dp_fail "no new client was refused (snowflake_memory_refused_total)"
[ "$evicted" -gt 0 ] || dp_fail "no client was evicted (snowflake_memory_evicted_total)"
grep -q 'memory budget: .* refused [0-9]* WebSockets of new clients' "$LOG" ||
	dp_fail "no log line about refused clients"
grep -q 'memory budget: over the eviction mark .* closed [0-9]* clients' "$LOG" ||
	dp_fail "no log line about evicted clients"
grep -q 'connections in handshake: closing the oldest' "$LOG" ||
	dp_fail "the slow-loris flood did not meet the front's share"
grep -q '127\.0\.0\.1' "$LOG" && dp_fail "the log shows an unscrubbed address"

exec {hold}>&-
dp_stop_server
grep -q 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$DP_SERVER_DIR/stderr" &&
	dp_fail "sanitizer report"
dp_pass
