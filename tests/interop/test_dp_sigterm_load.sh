# labels: dataplane
# timeout: 120
#
# Fault: SIGTERM at full load. 16 sessions × 2 streams are moving bulk data through the server
# (KCP windows full, smux buffers, queues and tor-side sockets all busy) when SIGTERM comes. The
# server must exit promptly (within 5 s, as upstream exits at once) with status 0 and, in the
# sanitizer build, with no sanitizer or leak report.
. "$(dirname "$0")/lib.sh"

dp_setup sigterm-load
dp_start_echo
dp_start_server
bytes=$(dp_scale 400000000 100000000)
client_json=$DP_WORK/client-load.json
"$SFPEER" client --url "$DP_URL" --json --timeout "$(dp_budget 60)s" --sessions 16 --streams 2 \
	--bytes "$bytes" >"$client_json" 2>"$DP_WORK/client-load.err" &
client_pid=$!
DP_PIDS+=("$client_pid")

# Load means bytes moving: wait until the server has used a second of CPU on the transfer.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DP_SERVER_PID/stat"; }
hz=$(getconf CLK_TCK)
start_ticks=$(cpu_ticks)
for _ in $(seq 1 200); do
	[ $(($(cpu_ticks) - start_ticks)) -ge "$hz" ] && break
	dp_alive "$client_pid" || break
	sleep 0.1
done
[ $(($(cpu_ticks) - start_ticks)) -ge "$hz" ] ||
	dp_fail "the load never reached a second of server CPU: $(tail -n 3 "$DP_WORK/client-load.err")"
dp_alive "$client_pid" || dp_fail "the client finished before SIGTERM: make the transfer larger"

dp_say "under load (server CPU $(( ($(cpu_ticks) - start_ticks) * 1000 / hz )) ms); SIGTERM"
kill -TERM "$DP_SERVER_PID"
t0=$SECONDS
for _ in $(seq 1 50); do
	dp_alive "$DP_SERVER_PID" || break
	sleep 0.1
done
dp_alive "$DP_SERVER_PID" && dp_fail "the server still runs 5 s after SIGTERM at full load"
wait "$DP_SERVER_PID"
status=$?
dp_say "server exited with status $status after $((SECONDS - t0)) s"
[ "$status" = 0 ] || dp_fail "the server exited with status $status on SIGTERM under load"
grep -q "LeakSanitizer\|AddressSanitizer\|runtime error" "$DP_SERVER_DIR/stderr" &&
	dp_fail "sanitizer report on exit under load"
grep -q "caught signal \"terminated\", exiting" "$DP_SERVER_DIR/server.log" ||
	dp_fail "the log lacks the signal line"
# The client sees its connections end, and says so (it does not hang).
wait "$client_pid"
dp_say "client ended with status $? ($(tail -n 1 "$DP_WORK/client-load.err"))"
dp_pass
