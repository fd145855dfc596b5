# labels: dataplane
# timeout: 240
#
# KCP memory attacks against the real server (docs/security.md, "KCP"), with the per-thread
# KCP budget lowered to 16 MiB (so each session's share is 2 MiB):
#  1. many sessions each sending one 24-byte PUSH at sn 65534: the server's memory (VmData and
#     RSS) must grow by far less than the old 512 KiB ring per session;
#  2. 24 sessions hoarding out-of-order data (3 MiB each, sn 0 never sent; more than the
#     budget of every shard thread even when spread over several): an innocent,
#     verified session must still get its data through, the hoarders must be closed with a
#     log line, and RSS must stay bounded.
. "$(dirname "$0")/lib.sh"

dp_setup kcp_attack
dp_start_echo
export SF_KCP_BUDGET_MB=16
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DP_SERVER_PID/status"; }

# attack NAME ARGS... — starts kcp_attack.py holding its sessions open; waits until it sent.
attack() {
	local name=$1
	shift
	dp_say "kcp_attack.py $*"
	mkfifo "$DP_WORK/$name.in"
	timeout "$(dp_budget 150)" python3 "$(dirname "$0")/kcp_attack.py" --addr "$addr" \
		--timeout 140 "$@" <"$DP_WORK/$name.in" >"$DP_WORK/$name.out" 2>"$DP_WORK/$name.err" &
	DP_PIDS+=($!)
	exec {hold}>"$DP_WORK/$name.in"
	dp_wait_line "$DP_WORK/$name.out" '"sent": true' "$(dp_budget 120)" "$!" ||
		dp_fail "kcp_attack.py $* did not finish sending: $(cat "$DP_WORK/$name.err")"
	dp_alive "$DP_SERVER_PID" || dp_fail "the server died during kcp_attack.py $*"
}

data_kb() { awk '/^VmData:/ {print $2}' "/proc/$DP_SERVER_PID/status"; }

base=$(rss_kb)
base_data=$(data_kb)
n=$(dp_scale 2000 100)
attack far far "$n"
sleep 1
grown=$(($(rss_kb) - base))
grown_data=$(($(data_kb) - base_data))
dp_say "RSS grew by $grown kB, VmData by $grown_data kB with $n sessions each holding one far PUSH"
# Each session costs its WebSocket, ClientID record and idle KCP/smux state (about 10 kB); the
# old ring was a 512 KiB allocation per session (mostly untouched pages, so VmData shows it
# where RSS barely does).
[ "$grown_data" -lt $((n * 64)) ] || dp_fail "VmData grew by $grown_data kB for $n far PUSHes"
# RSS is only reported: a sanitizer build spends ~50 kB of it per session on its own.
exec {hold}>&-

base=$(rss_kb)
attack hoard hoard 24 3
dp_client innocent --sessions 1 --streams 1 --bytes 2000000 --timeout 60s
dp_expect_client_ok 1 1 2000000
grown=$(($(rss_kb) - base))
dp_say "RSS grew by $grown kB with 24 hoarding sessions and one innocent one"
# The budget is 16 MiB of KCP memory per shard thread; allocator slack and the innocent's buffers
# come on top (a sanitizer build doubles it). Without shares, the 72 MiB sent is all kept.
limit=65536
dp_sanitizer_build && limit=131072
[ "$grown" -lt "$limit" ] || dp_fail "RSS grew by $grown kB under the hoarding attack"
dp_wait_line "$DP_SERVER_DIR/server.log" 'KCP memory over budget: closed' "$(dp_budget 15)" ||
	dp_fail "no log line about closing hoarding sessions"
exec {hold}>&-
grep -q '127\.0\.0\.1' "$DP_SERVER_DIR/server.log" && dp_fail "the log shows an unscrubbed address"
dp_pass
