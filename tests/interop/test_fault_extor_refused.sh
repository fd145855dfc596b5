# labels: dataplane
# timeout: 180
#
# Fault: tor's ExtORPort is down from the start (nothing listens: connection refused).
#  - A client's stream is ended (smux FIN, no byte back) promptly, not left hanging; the server
#    logs the failed dial; its tor-side descriptor is gone; the session itself stays (same
#    WebSocket, same KCP conversation).
#  - When tor comes up, a new stream in that same session is relayed, every byte compared.
#  - When the session's WebSocket closes, the server is back to its descriptor count.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

dp_setup fault_extor_refused
fault_use_extor "127.0.0.1:$(dp_free_port)"
dp_start_server
LOG=$DP_SERVER_DIR/server.log
fds0=$(fault_fds)

fault_session main refused:10 refused:10 touch:"$DP_WORK/down" wait:"$DP_WORK/up":90 \
	echo:100000 echo:100000
fault_await "$DP_WORK/down"
dp_say "two streams refused while the ExtORPort is down"
grep -Eq 'handleConn: failed to connect to ORPort: .*connection refused' "$LOG" ||
	dp_fail "no log line for the refused ExtORPort dial"
# Only the session's WebSocket is left: the failed dials' sockets are closed.
fault_wait_fds $((fds0 + 1)) "$(dp_budget 5)" ||
	dp_fail "descriptors: $(fault_fds) with one session and no stream, expected $((fds0 + 1))"

fault_extor_start
touch "$DP_WORK/up"
fault_session_end
dp_check "$FAULT_SESSION_OUT" "j['step'] == 'echo' and j['ok']" || dp_fail "last step"
[ "$(fault_status handshakes_ok)" -eq 2 ] ||
	dp_fail "the ExtORPort saw $(fault_status handshakes_ok) handshakes, expected 2"
dp_say "the same session relays new streams once the ExtORPort is up"

fault_wait_fds "$fds0" "$(dp_budget 5)" ||
	dp_fail "descriptors after the session closed: $(fault_fds), expected $fds0"
dp_stop_server
grep -q 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$DP_SERVER_DIR/stderr" &&
	dp_fail "sanitizer report"
dp_pass
