# labels: dataplane
# timeout: 240
#
# Fault: tor restarts while sessions run: every ExtORPort connection drops at once (SIGKILL), the
# port is closed for a while, then tor listens again on the same port.
#  - The streams open at the crash end (smux FIN to the client); their sockets are closed.
#  - The sessions survive (KCP and smux do not depend on tor): same WebSocket, same KCP
#    conversation; a stream opened while tor is down is refused cleanly (FIN, nothing back).
#  - Once tor is back, new streams in the same sessions are relayed, every byte compared, and
#    new sessions work (sfpeer, bulk).
#  - Descriptors return to the count before the sessions; SIGTERM exits 0 (ASan: no report).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

dp_setup fault_tor_restart
fault_use_extor "127.0.0.1:$(dp_free_port)"
fault_extor_start
dp_start_server
LOG=$DP_SERVER_DIR/server.log
fds0=$(fault_fds)
DOWN_S=3
N=3 # sessions that live through the restart

for i in $(seq 1 $N); do
	fault_session "s$i" echo:100000 hold:50000 touch:"$DP_WORK/ready$i" wait:"$DP_WORK/killed":90 \
		expect-fin:10 refused:10 touch:"$DP_WORK/down$i" wait:"$DP_WORK/up":90 echo:100000 \
		echo:100000
	eval "S$i=$FAULT_SESSION_PID SOUT$i=$FAULT_SESSION_OUT"
done
for i in $(seq 1 $N); do
	FAULT_SESSION_PID=$(eval echo "\$S$i") FAULT_SESSION_OUT=$(eval echo "\$SOUT$i")
	fault_await "$DP_WORK/ready$i"
done
[ "$(fault_status active)" -eq "$N" ] ||
	dp_fail "the ExtORPort has $(fault_status active) connections, expected $N held streams"
dp_say "$N sessions, each with a held stream; tor crashes"

fault_extor_kill
touch "$DP_WORK/killed"
for i in $(seq 1 $N); do
	FAULT_SESSION_PID=$(eval echo "\$S$i") FAULT_SESSION_OUT=$(eval echo "\$SOUT$i")
	fault_await "$DP_WORK/down$i"
done
# The held streams ended and the refused ones never got a socket: the WebSockets are all left.
fault_wait_fds $((fds0 + N)) "$(dp_budget 5)" ||
	dp_fail "descriptors with tor down: $(fault_fds), expected $((fds0 + N)) (one WebSocket per session)"
dp_say "streams ended and refused while tor is down; sessions open; waiting ${DOWN_S}s"
sleep "$DOWN_S"

fault_extor_start
touch "$DP_WORK/up"
for i in $(seq 1 $N); do
	FAULT_SESSION_PID=$(eval echo "\$S$i") FAULT_SESSION_OUT=$(eval echo "\$SOUT$i")
	fault_session_end
	dp_check "$FAULT_SESSION_OUT" "j['step'] == 'echo' and j['ok']" || dp_fail "session s$i"
	python3 -c 'import json, sys
convs = {json.loads(l)["conv"] for l in open(sys.argv[1])}
sys.exit(0 if len(convs) == 1 else 1)' "$FAULT_SESSION_OUT" || dp_fail "session s$i changed its KCP conversation"
done
dp_say "the same $N sessions relay new streams after the restart"
# Their last streams were closed by both sides and their WebSockets are gone. (The KCP sessions
# wait for their clients to come back, holding no descriptor.)
fault_wait_fds "$fds0" "$(dp_budget 5)" ||
	dp_fail "descriptors after every session closed: $(fault_fds), expected $fds0"

# New sessions too. (sfpeer ends without closing its last streams: they stay with their KCP
# session until it expires, so the descriptor count is not checked after it.)

BYTES=$(dp_scale 1000000 100000)
dp_client after --sessions 2 --streams 2 --bytes "$BYTES"
dp_expect_client_ok 2 2 "$BYTES"
grep -Eq 'handleConn: failed to connect to ORPort: .*connection refused' "$LOG" ||
	dp_fail "no log line for the dials refused while tor was down"

dp_stop_server
grep -q 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$DP_SERVER_DIR/stderr" &&
	dp_fail "sanitizer report"
dp_pass
