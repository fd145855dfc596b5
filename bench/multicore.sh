#!/usr/bin/env bash
# timeout: 600
#
# Does the data path scale with cores? On a server with its default shards (one per CPU), under
# sfpeer's 50 sessions × 2 streams × 4 MB over ws:// (every byte verified), this measures:
#   1. CPU per thread (/proc/PID/task/*/stat): the main thread (accept, HTTP upgrade, preamble,
#      TLS handshakes when on) against each sf-shard-N thread;
#   2. lock waits: every futex(2) call of every thread during a second, identical run, traced
#      with strace -f (a contended pthread mutex or condition variable ends in futex; an
#      uncontended one never enters the kernel), by thread name; epoll_wait(2) calls are
#      counted too, to show the trace saw the thread at all;
#   3. atomic read-modify-write instructions (x86 `lock` prefix) in the server binary, by
#      function: what could bounce a cache line between cores, whatever the load.
# Hardware counters (perf c2c, perf lock) need a PMU; this 2-vCPU VM has none ("cycles: not
# supported"), so 2 and 3 stand in for them. Results: docs/performance.md ("Several cores").
#
#   bench/multicore.sh [--build DIR] [--sessions N] [--bytes B]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${SF_BUILD_DIR:-$ROOT/build/release}
SESSIONS=50
BYTES=4000000
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2 ;;
	--sessions) SESSIONS=$2 ;;
	--bytes) BYTES=$2 ;;
	-h | --help) sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "multicore.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift 2
done
export SF_SERVER=${SF_SERVER:-$BUILD/src/snowflake-server}
export SFPEER=${SFPEER:-$BUILD/sfpeer/sfpeer}
command -v strace >/dev/null || { echo "multicore.sh: strace is needed (apt-get install strace)" >&2; exit 2; }
command -v objdump >/dev/null || { echo "multicore.sh: objdump is needed (binutils)" >&2; exit 2; }
# shellcheck source=tests/interop/lib.sh
. "$ROOT/tests/interop/lib.sh"

dp_setup multicore
dp_start_echo
dp_start_server
pid=$DP_SERVER_PID
hz=$(getconf CLK_TCK)

# "TID NAME TICKS" for every thread of the server (utime + stime; names have no spaces).
thread_ticks()
{
	local t
	for t in /proc/"$pid"/task/*; do
		[ -r "$t/stat" ] || continue
		echo "${t##*/} $(cat "$t/comm") $(sed 's/.*) //' "$t/stat" | awk '{ print $12 + $13 }')"
	done
}

run_load()
{
	dp_client "$1" --sessions "$SESSIONS" --streams 2 --bytes "$BYTES"
	dp_expect_client_ok "$SESSIONS" 2 "$BYTES"
}

# 1. CPU per thread
thread_ticks >"$DP_WORK/ticks0"
run_load cpu
thread_ticks >"$DP_WORK/ticks1"
echo
echo "CPU per thread, $SESSIONS sessions × 2 streams × $BYTES bytes each way, every byte verified:"
awk -v hz="$hz" 'NR == FNR { t0[$1] = $3; next }
	{ d = ($3 - t0[$1]) / hz; sum += d; cpu[$2] += d }
	END { for (n in cpu) printf "  %-16s %7.2f s  %5.1f %%\n", n, cpu[n], sum ? 100 * cpu[n] / sum : 0 }' \
	"$DP_WORK/ticks0" "$DP_WORK/ticks1" | sort
names=$(thread_ticks | awk '{ print $1, $2 }')

# 2. futex calls per thread, during a second run
strace -f -qq -e trace=futex,epoll_wait -o "$DP_WORK/futex.txt" -p "$pid" 2>"$DP_WORK/strace.err" &
spid=$!
# strace attaches to the threads one by one: wait (bounded) until each has it as tracer
for _ in $(seq 100); do
	untraced=$(grep -L "^TracerPid:[[:space:]]*$spid$" /proc/"$pid"/task/*/status 2>/dev/null | wc -l)
	[ "$untraced" = 0 ] && break
	sleep 0.1
done
[ "$untraced" = 0 ] || dp_fail "strace did not attach to every thread: $(cat "$DP_WORK/strace.err")"
run_load futex
kill -INT "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
echo
echo "system calls during the second run, by thread:   futex  epoll_wait"
unseen=0
while read -r tid name; do
	f=$(grep -c "^$tid futex(" "$DP_WORK/futex.txt")
	e=$(grep -c "^$tid epoll_wait(" "$DP_WORK/futex.txt")
	printf "  %-44s %6d  %10d\n" "$name" "$f" "$e" >>"$DP_WORK/syscalls"
	case $name in sf-shard-*) [ "$e" -gt 0 ] || unseen=$((unseen + 1)) ;; esac
done <<<"$names"
sort "$DP_WORK/syscalls"
# A shard thread that never waited in epoll was not traced: its futex count would mean nothing.
[ "$unseen" = 0 ] || dp_fail "$unseen shard thread(s) without a traced epoll_wait: the trace missed them"

# 3. lock-prefixed instructions in the binary, by function
echo
echo "functions of $(basename "$SF_SERVER") with a lock-prefixed (atomic read-modify-write) instruction:"
objdump -d --no-show-raw-insn "$SF_SERVER" |
	awk '/^[0-9a-f]+ <.*>:$/ { fn = $2 } /\tlock / { n[fn]++ } END { for (f in n) printf "  %-40s %d\n", f, n[f] }' |
	sort
dp_stop_server
dp_pass
