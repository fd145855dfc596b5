# labels: dataplane
# timeout: 240
#
# Fault: a slow tor.
#  1. Its ExtORPort accepts but never answers the authentication handshake: the dial gives up
#     at the handshake deadline (SF_TOR_HANDSHAKE_TIMEOUT_MS, 5 s, as goptlib's), the stream is
#     ended (FIN, nothing back), the log says "i/o timeout", the socket is closed, and the same
#     session relays a new stream once tor answers again.
#  2. It authenticates, then reads at 10 KB/s while a client sends as fast as it can: the server
#     must pass the back-pressure to the client instead of buffering: what the client got to
#     send stays within a few MiB of what tor read, the server's memory stays bounded, and
#     another session moves its data meanwhile, every byte verified.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

dp_setup fault_extor_slow
fault_use_extor "127.0.0.1:$(dp_free_port)"
fault_extor_start --small-rcvbuf
dp_start_server
LOG=$DP_SERVER_DIR/server.log
fds0=$(fault_fds)

# 1. A handshake never answered.
fault_mode silent
fault_session hs refused:20 touch:"$DP_WORK/timedout" wait:"$DP_WORK/answering":90 echo:100000
fault_await "$DP_WORK/timedout"
head -n 1 "$FAULT_SESSION_OUT"
grep -Eq 'handleConn: failed to connect to ORPort: read tcp .*: i/o timeout' "$LOG" ||
	dp_fail "no log line for the ExtORPort handshake that timed out"
fault_wait_fds $((fds0 + 1)) "$(dp_budget 5)" ||
	dp_fail "descriptors: $(fault_fds) with one session and no stream, expected $((fds0 + 1))"
fault_mode echo
touch "$DP_WORK/answering"
fault_session_end
dp_check "$FAULT_SESSION_OUT" "j['step'] == 'echo' and j['ok']" || dp_fail "last step"
fault_wait_fds "$fds0" "$(dp_budget 5)" ||
	dp_fail "descriptors after the session closed: $(fault_fds), expected $fds0"
dp_say "an unanswered handshake ends its stream at the deadline; the session goes on"

# 2. A tor that reads 10 KB/s.
RATE=10000
HOLD_S=15
rss0=$(fault_rss_kb)
fault_mode slow $RATE
ok0=$(fault_status handshakes_ok)
SLOW_JSON=$DP_WORK/client-slow.json
"$SFPEER" client --url "$DP_URL" --json --sessions 1 --streams 1 --bytes 500000000 \
	--timeout "${HOLD_S}s" >"$SLOW_JSON" 2>"$DP_WORK/client-slow.err" &
slow_pid=$!
DP_PIDS+=("$slow_pid")
end=$((SECONDS + $(dp_budget 15)))
while [ "$(fault_status handshakes_ok)" -le "$ok0" ] && [ "$SECONDS" -lt "$end" ]; do
	sleep 0.1
done
[ "$(fault_status handshakes_ok)" -gt "$ok0" ] || dp_fail "the slow client's stream never reached tor"
fault_mode echo
dp_say "a client sends as fast as it can to a tor reading ${RATE} B/s"

# Memory while it pushes: sampled every half second; another session works meanwhile.
python3 - "$DP_SERVER_PID" "$slow_pid" >"$DP_WORK/rss.out" <<'PY' &
import os, sys, time
pid, client = int(sys.argv[1]), int(sys.argv[2])
peak = 0
for _ in range(120):   # at most 60 s
    try:
        with open(f"/proc/{pid}/status") as f:
            peak = max(peak, next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")))
        os.kill(client, 0)
    except (OSError, StopIteration):
        break
    time.sleep(0.5)
print(peak)
PY
rss_pid=$!
sleep 2
BYTES=$(dp_scale 1000000 200000)
dp_client innocent --sessions 1 --streams 2 --bytes "$BYTES"
dp_expect_client_ok 1 2 "$BYTES"
wait "$slow_pid"
wait "$rss_pid"
peak=$(cat "$DP_WORK/rss.out")
tor_in=$(fault_status slow_in)
sent=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["bytes_sent"])' \
	"$SLOW_JSON") || dp_fail "no JSON from the slow client: $(tail -n 3 "$DP_WORK/client-slow.err")"
dp_say "slow client: sent $sent bytes, tor read $tor_in in ${HOLD_S}s; server RSS $rss0 -> peak $peak KiB"
dp_check "$SLOW_JSON" "j['timed_out'] or j['errors'].get('timeout', 0) == 1" "j['verify_failures'] == 0" ||
	dp_fail "the slow client should only have run out of time"
# What the server may hold for one stream: the smux stream window (1 MiB) and what KCP and the
# sockets have in flight. Buffering without bound would let the client send hundreds of MB.
[ "$sent" -le $((tor_in + 8 * 1024 * 1024)) ] ||
	dp_fail "the client sent $sent bytes while tor read $tor_in: the server buffered more than 8 MiB"
[ "$peak" -le $((rss0 + 64 * 1024)) ] ||
	dp_fail "the server's RSS grew by $((peak - rss0)) KiB behind one slow stream (bound 64 MiB)"

dp_stop_server
grep -q 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$DP_SERVER_DIR/stderr" &&
	dp_fail "sanitizer report"
dp_pass
