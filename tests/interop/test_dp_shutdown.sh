# labels: dataplane
# timeout: 90
#
# SIGTERM while WebSockets are live (one with a KCP session and a smux stream to the ORPort, one
# that only sent its preamble): the server must close them and exit with status 0, and under the
# sanitizer build report no leak (LeakSanitizer makes the exit status non-zero and prints to
# stderr). The live connections must be closed by the server, not left open.
. "$(dirname "$0")/lib.sh"

dp_setup shutdown
dp_start_echo
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}

hold_out=$DP_WORK/hold.out
timeout "$(dp_budget 40)" python3 - "$addr" "$(dirname "$0")" >"$hold_out" 2>"$DP_WORK/hold.err" <<'PY' &
import os, socket, sys, time
sys.path.insert(0, sys.argv[2])
from flood import ws_connect, ws_frame, encap, kcp_push, smux, preamble
a = ws_connect(sys.argv[1], 10)
a.sendall(preamble(os.urandom(8)) + ws_frame(encap(kcp_push(0x13579, 0, smux(0, 3) + smux(2, 3, b"hi")))))
b = ws_connect(sys.argv[1], 10)
b.sendall(preamble(os.urandom(8)))
time.sleep(1)
print("ready", flush=True)
closed = set()
end = time.time() + 30
for s in (a, b):
    s.settimeout(0.2)
while time.time() < end and len(closed) < 2:
    for name, s in (("a", a), ("b", b)):
        if name in closed:
            continue
        try:
            if not s.recv(65536):
                closed.add(name)
        except socket.timeout:
            pass
        except OSError:
            closed.add(name)
print("closed", len(closed), flush=True)
PY
hold_pid=$!
DP_PIDS+=("$hold_pid")
dp_wait_line "$hold_out" '^ready$' "$(dp_budget 20)" "$hold_pid" ||
	dp_fail "the WebSockets did not open: $(cat "$hold_out" "$DP_WORK/hold.err")"
dp_say "two live WebSockets; SIGTERM"
dp_stop_server
grep -q "LeakSanitizer\|AddressSanitizer" "$DP_SERVER_DIR/stderr" && dp_fail "sanitizer report on exit"
wait "$hold_pid"
grep -q '^closed 2$' "$hold_out" || dp_fail "the server left a WebSocket open: $(cat "$hold_out")"
dp_pass
