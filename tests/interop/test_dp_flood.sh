# labels: dataplane
# timeout: 240
#
# Floods and bogus protocol frames built by hand (flood.py): 2000 fresh ClientIDs held open at
# once, each opening a smux stream (so 2000 KCP sessions and 2000 ORPort dials); one session
# opening 1500 streams (smux refuses past its per-session cap with FIN); smux frames with a bad
# version (the session is closed, as upstream's protocol error); KCP packets with lying lengths,
# an unknown cmd, a conv change with sn != 0, a short and a random packet. After each, the server
# must be alive, within a memory bound, and serve a normal client; the log must say what it
# refused, scrubbed.
. "$(dirname "$0")/lib.sh"

dp_setup flood
dp_start_echo
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}
flood() {
	dp_say "flood.py $*"
	timeout "$(dp_budget 90)" python3 "$(dirname "$0")/flood.py" --addr "$addr" --timeout 80 "$@" \
		>>"$DP_WORK/flood.out" 2>"$DP_WORK/flood.err" || dp_fail "flood.py $* failed: $(cat "$DP_WORK/flood.err")"
	tail -n 1 "$DP_WORK/flood.out"
	dp_alive "$DP_SERVER_PID" || dp_fail "the server died during flood.py $*"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DP_SERVER_PID/status"; }

n=$(dp_scale 2000)
flood clientids "$n"
python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); sys.exit(0 if d["opened"] >= int(sys.argv[2]) * 0.95 else 1)' \
	"$DP_WORK/flood.out" "$n" || dp_fail "the server refused too many of the $n WebSockets"
rss=$(rss_kb)
dp_say "RSS after $n ClientIDs: $rss kB"
# Each record, KCP+smux session and ORPort connection is a few KB; 200 MB means a leak or no cap.
[ "$rss" -lt 204800 ] || dp_fail "RSS $rss kB after the ClientID flood"

flood streams 1500
grep -q "refus" "$DP_SERVER_DIR/server.log" || dp_fail "no log line about refused streams"

flood badsmux
grep -q "smux: protocol error" "$DP_SERVER_DIR/server.log" || dp_fail "no log line about the smux protocol error"

flood badkcp
grep -q "malformed KCP packet: segment length beyond the packet or the MSS" "$DP_SERVER_DIR/server.log" || dp_fail "no log line about the malformed KCP packet"
python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); sys.exit(0 if d["closed"] else 1)' \
	"$DP_WORK/flood.out" || dp_fail "the WebSocket that sent malformed KCP packets was not closed"

# A request that never ends is dropped at the 10 s deadline (upstream's ReadTimeout), and one
# whose header block is too big gets 431; meanwhile others are served.
python3 - "$addr" <<'PY' || dp_fail "slow or oversize HTTP request not handled"
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
slow = socket.create_connection((host, int(port)), timeout=20)
slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
big = socket.create_connection((host, int(port)), timeout=20)
big.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
reply = big.recv(100)
assert reply.startswith(b"HTTP/1.1 431"), reply
start = time.time()
assert slow.recv(100) == b"", "the slow request got an answer"
took = time.time() - start
assert took > 5, f"closed after {took:.1f} s, before the deadline"
print(f"slow request closed after {took:.1f} s; oversize header got 431")
PY
dp_client after --sessions 4 --streams 2 --bytes 2000000
dp_expect_client_ok 4 2 2000000
grep -q '127\.0\.0\.1' "$DP_SERVER_DIR/server.log" && dp_fail "the log shows an unscrubbed address"
dp_pass
