# labels: dataplane
# timeout: 180
#
# The embedding API (include/snowflake/server.h) on its own: examples/embed.c, a program that
# includes nothing of src/, runs the server on a loopback port with sfpeer echo as the ORPort and
# two shards. 10 sessions × 2 streams × 1 MB (× SF_TEST_SCALE) go through it, every byte
# verified; SIGTERM stops it with status 0.
. "$(dirname "$0")/lib.sh"

dp_setup embed
[ -x "${SF_EMBED_EXAMPLE:-}" ] || dp_fail "SF_EMBED_EXAMPLE is not set (run through ctest)"
if grep -n '#include "' "$SF_SOURCE_DIR/examples/embed.c"; then
	dp_fail "examples/embed.c includes private headers (above)"
fi
dp_start_echo
port=$(dp_free_port) || dp_fail "cannot pick a free port"
"$SF_EMBED_EXAMPLE" "$port" "${DP_ORPORT##*:}" 2 >"$DP_WORK/embed.out" 2>"$DP_WORK/embed.err" &
pid=$!
DP_PIDS+=("$pid")
dp_wait_line "$DP_WORK/embed.out" "^listening on 127.0.0.1:$port\$" "$(dp_budget 10)" "$pid" ||
	dp_fail "the example did not start: $(cat "$DP_WORK/embed.out" "$DP_WORK/embed.err")"
DP_URL="ws://127.0.0.1:$port/"
bytes=$(dp_scale 1000000)
dp_client embed --sessions 10 --streams 2 --bytes "$bytes"
dp_expect_client_ok 10 2 "$bytes"
dp_stop "$pid" 10
[ "$DP_STOP_KILLED" = 0 ] && [ "$DP_STOP_STATUS" = 0 ] ||
	dp_fail "the example did not exit cleanly on SIGTERM (status $DP_STOP_STATUS, killed $DP_STOP_KILLED): $(cat "$DP_WORK/embed.err")"
dp_say "stopped by SIGTERM, status 0"
dp_pass
