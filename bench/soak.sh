#!/usr/bin/env bash
# The soak (docs/soak.md): the server under a mix of verified clients, reconnects, attacks and
# ORPort restarts for --duration seconds, its RSS and descriptors sampled all along; fails if
# RSS or the descriptors not held by WebSockets and relay streams grow after the warm-up, if a
# client saw a wrong byte, or if the server died or (a sanitizer build) reported anything.
# Everything runs on loopback; every child is ours and is stopped by PID on exit.
#
#   bench/soak.sh [--duration S] [--interval S] [--build DIR] [--out DIR] [--restart-every S]
#                 [--warmup-s S | --warmup-frac F] [--rss-tol-pct P] [--rss-tol-mib M]
#                 [--fd-tol-pct P] [--fd-tol N] [--sfpeer BIN]
#
#   --duration       seconds of load (1800)        --interval   seconds between samples (5)
#   --build          build tree (build/release; $SF_SERVER wins if set)
#   --out            results: samples.csv, clients.jsonl, attacks.jsonl, restarts.jsonl,
#                    summary.json, soak.png, logs/ (default bench/results/soak-<UTC time>)
#   --restart-every  seconds between ORPort restarts (max(25, duration / 8))
#   --warmup-s, --warmup-frac, --rss-tol-pct, --rss-tol-mib, --fd-tol-pct, --fd-tol:
#                    bench/soak_verdict.py (warm-up by default min(960 s, half the run))
# sfpeer: --sfpeer, else $SFPEER, else the build tree's SF_SFPEER_BIN, else <build>/sfpeer/sfpeer.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
INTEROP=$ROOT/tests/interop

DURATION=1800
INTERVAL=5
BUILD=$ROOT/build/release
OUT=""
RESTART_EVERY=""
VERDICT_ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=$2 ;;
	--interval) INTERVAL=$2 ;;
	--build) BUILD=$2 ;;
	--out) OUT=$2 ;;
	--restart-every) RESTART_EVERY=$2 ;;
	--sfpeer) SFPEER=$2 ;;
	--warmup-s | --warmup-frac | --rss-tol-pct | --rss-tol-mib | --fd-tol-pct | --fd-tol) VERDICT_ARGS+=("$1" "$2") ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift 2 || { echo "soak.sh: $1 needs a value" >&2; exit 2; }
done
[ -n "$RESTART_EVERY" ] || RESTART_EVERY=$(( DURATION / 8 > 25 ? DURATION / 8 : 25 ))
export SF_SERVER=${SF_SERVER:-$BUILD/src/snowflake-server}
if [ -z "${SFPEER:-}" ]; then
	SFPEER=$(sed -n 's/^SF_SFPEER_BIN:FILEPATH=\(.\+\)$/\1/p' "$BUILD/CMakeCache.txt" 2>/dev/null)
	[ -n "$SFPEER" ] || SFPEER=$BUILD/sfpeer/sfpeer
fi
export SFPEER
[ -n "$OUT" ] || OUT=$ROOT/bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT/logs" || exit 2
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/{samples.csv,clients.jsonl,attacks.jsonl,restarts.jsonl,quiesce.json,summary.json,soak.png}
command -v gnuplot >/dev/null || { echo "soak.sh: gnuplot is needed (gnuplot-nox)" >&2; exit 2; }

# lib.sh: the server as tor starts it, sfpeer's peers, bounded waits, the EXIT trap that stops
# every PID in DP_PIDS. Its deadline is the soak's length plus room to start and stop.
# shellcheck source=tests/interop/lib.sh
. "$INTEROP/lib.sh"
# shellcheck source=tests/interop/extor_lib.sh
. "$INTEROP/extor_lib.sh"
dp_setup soak
DP_DEADLINE=$((SECONDS + DURATION + 120))
cp /dev/null "$OUT/clients.jsonl"
cp /dev/null "$OUT/attacks.jsonl"
cp /dev/null "$OUT/restarts.jsonl"

# The ORPort is a fake ExtORPort that echoes after its handshake (sfpeer extor), as tor's.
extor_start orport
DP_EXTOR_ADDR=${EXTOR_ADDR[orport]}
DP_EXTOR_COOKIE=${EXTOR_COOKIE[orport]}
MPORT=$(dp_free_port)
DP_SERVER_ARGS=(--metrics-addr "127.0.0.1:$MPORT")
dp_start_server
ADDR=${DP_URL#ws://}
ADDR=${ADDR%/}
IDLE_FDS=$(find "/proc/$DP_SERVER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
T0=$EPOCHREALTIME
END=$((SECONDS + DURATION))
# now — seconds since T0, one decimal, without a python start-up (the machine may be loaded)
now() { local us=$(( ${EPOCHREALTIME/./} - ${T0/./} )); printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000)); }
dp_say "soak: $DURATION s, samples every $INTERVAL s, ORPort restart every $RESTART_EVERY s, out $OUT"
dp_say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 "$HERE/soak_sample.py" --pid "$DP_SERVER_PID" --out "$OUT/samples.csv" \
	--interval "$INTERVAL" --t0 "$T0" --until "$(python3 -c "print($T0 + $DURATION)")" \
	--metrics "http://127.0.0.1:$MPORT/metrics" --phase-file "$DP_WORK/attack.now" \
	2>"$OUT/logs/sampler.err" &
SAMPLER_PID=$!
DP_PIDS+=("$SAMPLER_PID")

# A loop runs its commands (its pauses too) in the background and waits, so that SIGTERM (the
# end of the soak, or the EXIT trap) interrupts the wait at once and stops the command running
# too: kill its child, then exit.
LOOP_CHILD=""
loop_trap() { trap '[ -n "$LOOP_CHILD" ] && kill -TERM "$LOOP_CHILD" 2>/dev/null; exit 0' TERM; }
loop_run() { "$@" & LOOP_CHILD=$!; wait "$LOOP_CHILD"; local rc=$?; LOOP_CHILD=""; return $rc; }
left() { echo $((END - SECONDS)); }

# client_loop KIND SECONDS_NEEDED PAUSE ARGS... — sfpeer client runs, PAUSE seconds apart,
# while at least SECONDS_NEEDED of the soak are left; each run's result goes to clients.jsonl.
client_loop()
{
	local kind=$1 need=$2 pause=$3 n=0 start json
	shift 3
	loop_trap
	while [ "$(left)" -ge "$need" ]; do
		n=$((n + 1))
		json=$OUT/logs/client-$kind-$n.json
		start=$EPOCHREALTIME
		# shellcheck disable=SC2046 # the per-run arguments are words
		loop_run "$SFPEER" client --url "$DP_URL" --json "$@" $(client_extra "$kind" "$n") \
			>"$json" 2>"$OUT/logs/client-$kind-$n.err"
		rc=$?
		python3 "$HERE/soak_verdict.py" record "$kind" "$T0" "$start" "$EPOCHREALTIME" "$rc" "$json" \
			>>"$OUT/clients.jsonl"
		# a failed run is kept for the diagnosis; a good one is only a line in clients.jsonl
		[ "$rc" = 0 ] && rm -f "$json" "$OUT/logs/client-$kind-$n.err"
		loop_run sleep "$pause"
	done
}

# What changes from run to run: bulk alternates plain and fragmented/padded WebSocket messages;
# reconnect looks like a new proxy each time (another client_ip).
client_extra()
{
	case $1 in
	bulk) [ $(($2 % 2)) = 0 ] && echo "--fragment --pad 64" ;;
	reconnect) echo "--client-ip 192.0.2.$(($2 % 250 + 1))" ;;
	esac
}

# attack_loop — the attacks in turn, one at a time, with a quiet pause between them; each one
# bounded by `timeout`, its name in attack.now meanwhile (the sampler records it).
attack_loop()
{
	local i=0 name start rc
	loop_trap
	local -a rounds=(
		"kcp-far:python3 $INTEROP/kcp_attack.py --addr $ADDR --timeout 8 far 300"
		"kcp-hoard:python3 $INTEROP/kcp_attack.py --addr $ADDR --timeout 8 hoard 8 2"
		"synfin:python3 $INTEROP/stream_attack.py --addr $ADDR --timeout 20 --hold 5 synfin 300"
		"slowloris:python3 $HERE/soak_slowloris.py --addr $ADDR --conns 50 --seconds 12"
		"finflood:python3 $INTEROP/stream_attack.py --addr $ADDR --timeout 20 --hold 5 finflood 16 65536"
		"pingflood:python3 $INTEROP/pingflood.py --addr $ADDR --pid $DP_SERVER_PID --conns 16 --seconds 5 --hold 2"
		"clientids:python3 $INTEROP/flood.py --addr $ADDR --timeout 20 clientids 300"
		"garbage:python3 $INTEROP/flood.py --addr $ADDR --timeout 20 badkcp"
		"metrics-hostile:python3 $INTEROP/metrics_tool.py hostile 127.0.0.1 $MPORT 30 8 $DP_WORK/no-such-file"
		"streams:python3 $INTEROP/flood.py --addr $ADDR --timeout 20 streams 300"
		"badsmux:python3 $INTEROP/flood.py --addr $ADDR --timeout 20 badsmux"
		"preauth-probes:python3 $ROOT/tests/tools/probe.py --addr $ADDR --wait 2"
		"bigrecord:python3 $INTEROP/flood.py --addr $ADDR --timeout 20 bigrecord 4"
	)
	# the kcp attacks hold their sessions until stdin closes: stdin is a FIFO this loop keeps
	# open for writing (never written), so it closes only when the loop ends
	mkfifo "$DP_WORK/attack.stdin"
	# shellcheck disable=SC2034 # held, never used
	exec {hold}<>"$DP_WORK/attack.stdin"
	while [ "$(left)" -ge 15 ]; do
		name=${rounds[$((i % ${#rounds[@]}))]%%:*}
		echo "$name" >"$DP_WORK/attack.now"
		start=$(now)
		# shellcheck disable=SC2086 # the command line is words
		loop_run timeout 40 ${rounds[$((i % ${#rounds[@]}))]#*:} \
			<"$DP_WORK/attack.stdin" >>"$OUT/logs/attack-$name.out" 2>>"$OUT/logs/attack-$name.err"
		rc=$?
		printf '{"attack": "%s", "start": %s, "end": %s, "rc": %d}\n' "$name" "$start" "$(now)" "$rc" >>"$OUT/attacks.jsonl"
		: >"$DP_WORK/attack.now"
		i=$((i + 1))
		loop_run sleep 5
	done
}

# The load: bulk with verification (12 MB a run; bulk saturates a core of this shared machine,
# hence the pause), pings, idle sessions held, and pinging sessions whose WebSocket is dropped
# every second (they redial with the same ClientID, as through a new proxy: a new client_ip).
client_loop bulk 20 4 --sessions 2 --streams 2 --bytes 3000000 --timeout 90s &
DP_PIDS+=($!)
client_loop ping 25 1 --sessions 16 --ping-interval 250ms --duration 20s --timeout 60s &
DP_PIDS+=($!)
client_loop idle 30 1 --idle --sessions 40 --duration 20s --timeout 60s &
DP_PIDS+=($!)
client_loop reconnect 25 1 --sessions 4 --ping-interval 100ms --duration 15s --reconnect-every 1s --timeout 60s &
DP_PIDS+=($!)
LOOPS=("${DP_PIDS[@]: -4}")
attack_loop &
DP_PIDS+=($!)
LOOPS+=($!)

# ORPort restarts, from this shell (extor_start records the new PID for the EXIT trap): tor
# crashes (SIGKILL), is away for 3 s, comes back on the same port with a new cookie. Sessions
# stay; their streams die, and the loops start new ones.
next_restart=$((SECONDS + RESTART_EVERY))
while [ "$SECONDS" -lt "$END" ]; do
	dp_alive "$DP_SERVER_PID" || break
	if [ "$SECONDS" -ge "$next_restart" ] && [ $((END - SECONDS)) -gt $((RESTART_EVERY / 2)) ]; then
		down=$(now)
		extor_kill orport
		sleep 3
		extor_start orport "${EXTOR_ADDR[orport]}"
		printf '{"down": %s, "up": %s}\n' "$down" "$(now)" >>"$OUT/restarts.jsonl"
		next_restart=$((SECONDS + RESTART_EVERY))
	fi
	sleep 1
done

dp_say "load over; stopping the loops"
for pid in "${LOOPS[@]}"; do
	kill -TERM "$pid" 2>/dev/null
done
for pid in "${LOOPS[@]}"; do
	dp_stop "$pid" 10
done
wait "$SAMPLER_PID" 2>/dev/null
# The server still serves after all that: one more verified bulk run, alone.
if dp_alive "$DP_SERVER_PID"; then
	start=$EPOCHREALTIME
	"$SFPEER" client --url "$DP_URL" --json --sessions 2 --streams 2 --bytes 1000000 --timeout 60s \
		>"$OUT/logs/client-final.json" 2>"$OUT/logs/client-final.err"
	rc=$?
	python3 "$HERE/soak_verdict.py" record final "$T0" "$start" "$EPOCHREALTIME" "$rc" \
		"$OUT/logs/client-final.json" >>"$OUT/clients.jsonl"
	dp_say "final run: $(tail -n 1 "$OUT/logs/client-final.err") (exit status $rc)"
fi
# Descriptors given back: every load process is gone now.
if dp_alive "$DP_SERVER_PID"; then
	python3 "$HERE/soak_sample.py" --pid "$DP_SERVER_PID" --quiesce "$IDLE_FDS" --quiesce-wait 30 \
		--metrics "http://127.0.0.1:$MPORT/metrics" >"$OUT/quiesce.json"
	dp_say "after the load: $(cat "$OUT/quiesce.json")"
fi
server_ok=1
if dp_alive "$DP_SERVER_PID"; then
	dp_stop "$DP_SERVER_PID" 15
	[ "$DP_STOP_KILLED" = 0 ] && [ "$DP_STOP_STATUS" = 0 ] || server_ok=0
	dp_say "server stopped (status $DP_STOP_STATUS)"
else
	server_ok=0
	dp_say "the server died during the soak"
fi
sanitizer=$(grep -cE 'Sanitizer|runtime error:' "$DP_SERVER_DIR/stderr" 2>/dev/null)
cp "$DP_SERVER_DIR/stderr" "$OUT/logs/server.stderr" 2>/dev/null
tail -n 200 "$DP_SERVER_DIR/server.log" >"$OUT/logs/server.log.tail" 2>/dev/null
grep -c . "$DP_SERVER_DIR/server.log" >"$OUT/logs/server.log.lines" 2>/dev/null
dp_say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 "$HERE/soak_verdict.py" judge "$OUT" --duration "$DURATION" --server-ok "$server_ok" \
	--sanitizer-lines "${sanitizer:-0}" "${VERDICT_ARGS[@]}"
rc=$?
[ "$rc" = 0 ] && DP_PASSED=1
exit "$rc"
