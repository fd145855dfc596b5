#!/bin/bash
# Host CPU of two ways to put one snowflake-server in front of two tors, for the same load
# (docs/performance.md, "Several tors: built-in spreading against HAProxy + shims"):
#
#   A  haproxy: server -> HAProxy (tcp, roundrobin) -> 2 x extor_static_cookie.py -> 2 ExtORPorts
#   B  direct:  server -> 2 ExtORPorts (transport option extorport=ADDR,COOKIEFILE, twice)
#
# The ExtORPorts are `sfpeer extor` (tor's ExtORPort handshake with its own cookie, then an
# echo: a real tor would not echo), the load is one `sfpeer client` run (bulk, every byte
# verified). CPU = utime + stime from /proc/PID/stat of every process of the chain (server,
# haproxy, shims, extor endpoints; the client is left out), read just before and just after the
# client runs, divided by the GB the client verified (payload echoed, one direction). Shapes
# run interleaved A B A B ..., fresh processes each time, all inside one network namespace of
# their own (only lo): HAProxy never touches the host's network.
#
#   sudo bench/extor-shapes.sh [--build DIR] [--sfpeer BIN] [--reps N] [--sessions S]
#                              [--streams M] [--bytes PER_STREAM]
#
# Defaults: build/release, <build>/sfpeer/sfpeer, 3 reps, 8 sessions x 2 streams x 25 MB
# (400 MB verified per run). Needs root, `ip netns`, haproxy, python3. Prints one line per run
# and a markdown table; keeps logs in the /tmp/sf-extor-shapes.* directory it names.
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$SRC/build/release
SFPEER=""
REPS=3
SESSIONS=8
STREAMS=2
BYTES=25000000
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift 2;;
	--sfpeer) SFPEER=$2; shift 2;;
	--reps) REPS=$2; shift 2;;
	--sessions) SESSIONS=$2; shift 2;;
	--streams) STREAMS=$2; shift 2;;
	--bytes) BYTES=$2; shift 2;;
	*) echo "usage: $0 [--build DIR] [--sfpeer BIN] [--reps N] [--sessions S] [--streams M] [--bytes B]" >&2
		exit 2;;
	esac
done
SERVER=$BUILD/src/snowflake-server
SFPEER=${SFPEER:-$BUILD/sfpeer/sfpeer}
SHIM=$SRC/tests/tools/extor_static_cookie.py

die() { echo "extor-shapes: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (ip netns)"
[ -x "$SERVER" ] || die "no $SERVER (build a Release tree first)"
[ -x "$SFPEER" ] || die "no sfpeer at $SFPEER (--sfpeer)"
command -v haproxy >/dev/null || die "haproxy is needed"
PYTHON=$(command -v python3) || die "python3 is needed"
HZ=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/sf-extor-shapes.XXXXXX) || die "mktemp"
NS=sfbench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
PIDS=()

# Stops what this script started, by pid, then the namespace.
cleanup()
{
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	PIDS=()
	# Anything still in the namespace is ours too (a run cut short by an error).
	for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
	ip netns delete "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS" || die "cannot create network namespace $NS"
ip -n "$NS" link set lo up || die "cannot bring up lo in $NS"
# Not for background jobs: `$!` of a backgrounded function is a subshell, not the program.
in_ns() { ip netns exec "$NS" "$@"; }

# wait_for FILE REGEX PID — bounded (10 s) wait for a line; fails if PID exits first.
wait_for()
{
	local k
	for ((k = 0; k < 100; k++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	grep -Eq -- "$2" "$1" 2>/dev/null
}

# cpu_ticks PID — utime + stime (fields 14 and 15, counted after the ")" that ends comm).
cpu_ticks()
{
	local stat
	stat=$(cat "/proc/$1/stat") || die "process $1 is gone"
	stat=${stat##*) }
	# shellcheck disable=SC2086 # split into fields on purpose
	set -- $stat
	echo $((${12} + ${13}))
}

# start_extor I DIR — sfpeer extor I on 127.0.0.1:900I with DIR/cookieI.
start_extor()
{
	ip netns exec "$NS" "$SFPEER" extor --listen "127.0.0.1:900$1" --cookie "$2/cookie$1" \
		>"$2/extor$1.out" 2>"$2/extor$1.err" &
	PIDS+=($!)
	ROLE[$!]=extor
	wait_for "$2/extor$1.out" '"event":"listening"' $! || die "sfpeer extor $1 did not start"
}

# start_shim I DIR — the static-cookie shim of extor I, as a standalone managed transport.
start_shim()
{
	env -i PATH="$PATH" TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake \
		TOR_PT_SERVER_BINDADDR="snowflake-127.0.0.1:1000$1" \
		TOR_PT_EXTENDED_SERVER_PORT="127.0.0.1:900$1" TOR_PT_AUTH_COOKIE_FILE="$2/cookie$1" \
		ip netns exec "$NS" "$PYTHON" "$SHIM" --cookie "$2/static_cookie" --log "$2/shim$1.log" \
		</dev/null >"$2/shim$1.out" 2>"$2/shim$1.err" &
	PIDS+=($!)
	ROLE[$!]=shims
	wait_for "$2/shim$1.out" '^SMETHODS DONE$' $! || die "shim $1 did not start: $(cat "$2/shim$1."*)"
}

start_haproxy()
{
	# What an operator runs, without per-connection logging (identical in every run).
	cat >"$1/haproxy.cfg" <<EOF
global
	maxconn 4096
defaults
	mode tcp
	timeout connect 2s
	timeout client 10m
	timeout server 10m
frontend extorport
	bind 127.0.0.1:10000
	default_backend tors
backend tors
	balance roundrobin
	default-server check inter 2s
	server tor1 127.0.0.1:10001
	server tor2 127.0.0.1:10002
EOF
	ip netns exec "$NS" haproxy -db -f "$1/haproxy.cfg" </dev/null >"$1/haproxy.log" 2>&1 &
	PIDS+=($!)
	ROLE[$!]=haproxy
	local k
	for ((k = 0; k < 50; k++)); do
		in_ns timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/10000' 2>/dev/null && return 0
		sleep 0.1
	done
	die "haproxy does not accept on 127.0.0.1:10000: $(cat "$1/haproxy.log")"
}

# start_server DIR EXTORPORT COOKIE [OPTIONS] — standalone, stdin closed, ws:// on 127.0.0.1:7000.
start_server()
{
	mkdir -p "$1/state"
	env -i PATH="$PATH" TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake \
		TOR_PT_SERVER_BINDADDR=snowflake-127.0.0.1:7000 TOR_PT_EXIT_ON_STDIN_CLOSE=0 \
		TOR_PT_EXTENDED_SERVER_PORT="$2" TOR_PT_AUTH_COOKIE_FILE="$3" \
		TOR_PT_STATE_LOCATION="$1/state" TOR_PT_SERVER_TRANSPORT_OPTIONS="${4:-}" \
		ip netns exec "$NS" "$SERVER" --disable-tls --log "$1/server.log" \
		</dev/null >"$1/server.out" 2>"$1/server.err" &
	PIDS+=($!)
	ROLE[$!]=server
	wait_for "$1/server.out" '^SMETHODS DONE$' $! || die "the server did not start: $(cat "$1/server.out")"
	grep -q '^SMETHOD snowflake ' "$1/server.out" || die "server: $(cat "$1/server.out")"
}

# run_shape SHAPE REP — one run; appends "SHAPE REP GB MB/s server haproxy shims extor" (CPU
# seconds) to $WORK/results.
run_shape()
{
	local shape=$1 rep=$2 dir=$WORK/$1-$2 pid role json n
	declare -gA ROLE=()
	mkdir -p "$dir"
	start_extor 1 "$dir"
	start_extor 2 "$dir"
	if [ "$shape" = haproxy ]; then
		"$PYTHON" "$SHIM" --gen-cookie "$dir/static_cookie" || die "cannot write the static cookie"
		start_shim 1 "$dir"
		start_shim 2 "$dir"
		start_haproxy "$dir"
		start_server "$dir" 127.0.0.1:10000 "$dir/static_cookie"
	else
		start_server "$dir" 127.0.0.1:9001 "$dir/cookie1" \
			"snowflake:extorport=127.0.0.1\\:9001,$dir/cookie1;snowflake:extorport=127.0.0.1\\:9002,$dir/cookie2"
	fi
	declare -A before=()
	for pid in "${PIDS[@]}"; do before[$pid]=$(cpu_ticks "$pid"); done
	in_ns "$SFPEER" client --url ws://127.0.0.1:7000/ --client-ip 192.0.2.1 --json \
		--sessions "$SESSIONS" --streams "$STREAMS" --bytes "$BYTES" --timeout 600s \
		>"$dir/client.json" 2>"$dir/client.err"
	declare -A cpu=([server]=0 [haproxy]=0 [shims]=0 [extor]=0)
	for pid in "${PIDS[@]}"; do
		role=${ROLE[$pid]}
		cpu[$role]=$((cpu[$role] + $(cpu_ticks "$pid") - before[$pid]))
	done
	json=$("$PYTHON" - "$dir/client.json" "$((SESSIONS * STREAMS))" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
ok = j["streams_ok"] == int(sys.argv[2]) and j["verify_failures"] == 0 and not j["timed_out"]
print("ok" if ok else "FAIL", j["bytes_verified"] / 1e9, j["mb_per_s"] or 0)
EOF
	) || die "cannot read $dir/client.json"
	# shellcheck disable=SC2086 # three fields
	set -- $json
	[ "$1" = ok ] || die "$shape run $rep: the client did not verify every stream: $(cat "$dir/client.err")"
	# Both endpoints must have carried streams, or the run measured one tor, not two.
	for n in 1 2; do
		grep -q '"auth":"ok"' "$dir/extor$n.out" || die "$shape run $rep: endpoint $n got no stream"
	done
	cleanup_run
	echo "$shape $rep $2 $3 $(for r in server haproxy shims extor; do
		awk -v t="${cpu[$r]}" -v hz="$HZ" 'BEGIN { printf "%.3f ", t / hz }'; done)" |
		tee -a "$WORK/results"
}

# Ends this run's processes (the namespace stays for the next run).
cleanup_run()
{
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	PIDS=()
	[ -z "$(ip netns pids "$NS")" ] || die "processes outlived their run: $(ip netns pids "$NS" | tr '\n' ' ')"
}

echo "# extor-shapes $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)," \
	"$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $SESSIONS x $STREAMS x $BYTES B per run, logs in $WORK"
echo "# shape rep GB MB/s cpu-s:server haproxy shims extor"
for ((rep = 1; rep <= REPS; rep++)); do
	run_shape haproxy "$rep"
	run_shape direct "$rep"
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$WORK/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append([float(x) for x in f[2:]])
names = {"haproxy": "A: server → HAProxy → 2 shims → 2 ExtORPorts",
         "direct": "B: server → 2 ExtORPorts (`extorport=` ×2)"}
print()
print("| shape | runs | MB/s | CPU-s/GB, whole chain (median; min–max) | server | HAProxy | shims | ExtORPort endpoints |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
med = {}
for shape in ("haproxy", "direct"):
    rs = rows.get(shape, [])
    if not rs:
        continue
    per_gb = lambda r, i: r[i] / r[0]
    total = [sum(r[2:]) / r[0] for r in rs]
    med[shape] = statistics.median(total)
    parts = [statistics.median(per_gb(r, i) for r in rs) for i in range(2, 6)]
    print(f"| {names[shape]} | {len(rs)} | {statistics.median(r[1] for r in rs):.1f} | "
          f"{med[shape]:.2f}; {min(total):.2f}–{max(total):.2f} | "
          + " | ".join(f"{p:.2f}" for p in parts) + " |")
if len(med) == 2:
    print(f"\nB uses {100 * (1 - med['direct'] / med['haproxy']):.0f} % less CPU per GB than A (medians).")
EOF
