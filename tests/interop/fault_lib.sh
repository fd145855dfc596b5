# shellcheck shell=bash
# Helpers for the fault tests (test_fault_*.sh), on top of lib.sh: a misbehaving ExtORPort
# (fault_extor.py), a hand-made session that lives across faults (fault_session.py), and the
# server's descriptor and memory counts.

FAULT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAULT_EXTOR_PID=""
FAULT_MODE=""
FAULT_STATUS=""

# fault_cookie FILE — a fresh ExtORPort auth cookie, as tor writes it before starting the PT.
fault_cookie()
{
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, b"! Extended ORPort Auth Cookie !\n" + os.urandom(32))' "$1" ||
		dp_fail "cannot write the cookie file $1"
}

# fault_use_extor ADDR — the server started next dials ADDR as its ExtORPort, with the cookie
# $DP_WORK/cookie (written here). Nothing needs to listen there yet.
fault_use_extor()
{
	DP_EXTOR_ADDR=$1
	DP_EXTOR_COOKIE=$DP_WORK/cookie
	[ -s "$DP_EXTOR_COOKIE" ] || fault_cookie "$DP_EXTOR_COOKIE"
	FAULT_MODE=$DP_WORK/extor.mode
	FAULT_STATUS=$DP_WORK/extor.status
	[ -e "$FAULT_MODE" ] || echo echo >"$FAULT_MODE"
}

# fault_mode MODE... — the behaviour of the ExtORPort's next connections (fault_extor.py).
fault_mode() { echo "$*" >"$FAULT_MODE"; }

# fault_extor_start [ARGS...] — fault_extor.py on $DP_EXTOR_ADDR (after fault_use_extor).
# shellcheck disable=SC2120 # arguments are optional
fault_extor_start()
{
	local out
	out=$(mktemp "$DP_WORK/extor.XXXXXX.out") # a fresh file: a restart never reads an old one
	python3 "$FAULT_DIR/fault_extor.py" --listen "$DP_EXTOR_ADDR" --cookie "$DP_EXTOR_COOKIE" \
		--mode-file "$FAULT_MODE" --status "$FAULT_STATUS" \
		--lifetime "$((DP_DEADLINE + DP_MARGIN - SECONDS + 5))" "$@" >"$out" 2>"$out.err" &
	FAULT_EXTOR_PID=$!
	DP_PIDS+=("$FAULT_EXTOR_PID")
	dp_wait_line "$out" '"event":"listening"' "$(dp_budget 60)" "$FAULT_EXTOR_PID" ||
		dp_fail "fault_extor.py did not start: $(cat "$out" "$out.err" 2>/dev/null)"
	dp_say "fault_extor.py on $DP_EXTOR_ADDR (pid $FAULT_EXTOR_PID, mode $(cat "$FAULT_MODE"))"
}

# fault_extor_kill — SIGKILL, as a crashing tor: the kernel closes its connections.
fault_extor_kill()
{
	kill -KILL "$FAULT_EXTOR_PID" 2>/dev/null
	wait "$FAULT_EXTOR_PID" 2>/dev/null
	dp_say "fault_extor.py killed"
}

# fault_status KEY — a counter of the ExtORPort's status file (0 before it wrote one).
fault_status()
{
	# sed, not python: it runs in wait loops, and python alone can take seconds to start on a
	# loaded machine
	local v
	v=$(sed -n "s/.*\"$1\": \([0-9-]*\).*/\1/p" "$FAULT_STATUS" 2>/dev/null)
	echo "${v:-0}"
}

# fault_fds — descriptors the server holds now.
fault_fds() { find "/proc/$DP_SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# fault_wait_fds N SECONDS — until the server holds N descriptors (they close asynchronously).
fault_wait_fds()
{
	local end=$((SECONDS + $2))
	while [ "$(fault_fds)" -ne "$1" ] && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.1
	done
	[ "$(fault_fds)" -eq "$1" ] && return 0
	echo "---- the server's descriptors and sockets" >&2
	ls -l "/proc/$DP_SERVER_PID/fd" >&2
	ss -tanpe 2>/dev/null | grep "pid=$DP_SERVER_PID," >&2
	return 1
}

# fault_wait_fds_le N SECONDS — until the server holds at most N descriptors.
fault_wait_fds_le()
{
	local end=$((SECONDS + $2))
	while [ "$(fault_fds)" -gt "$1" ] && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.2
	done
	[ "$(fault_fds)" -le "$1" ]
}

# fault_mem_factor — 2 for a sanitizer build (redzones, shadow memory and the quarantine inflate
# every allocation: measured 30 KiB per slow HTTP connection instead of 19), else 1.
fault_mem_factor()
{
	if dp_sanitizer_build; then echo 2; else echo 1; fi
}

# fault_rss_kb — the server's resident memory.
fault_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DP_SERVER_PID/status"; }

# fault_session NAME STEP... — fault_session.py in the background against the server; its
# JSON lines go to $DP_WORK/session-NAME.out. Sets FAULT_SESSION_PID.
fault_session()
{
	local name=$1
	shift
	FAULT_SESSION_OUT=$DP_WORK/session-$name.out
	python3 "$FAULT_DIR/fault_session.py" --addr "$(fault_addr)" --timeout "$(dp_budget 100000)" "$@" \
		>"$FAULT_SESSION_OUT" 2>"$FAULT_SESSION_OUT.err" &
	FAULT_SESSION_PID=$!
	DP_PIDS+=("$FAULT_SESSION_PID")
}

# fault_session_end — waits for the session's script; fails the test unless every step passed.
fault_session_end()
{
	local rc
	wait "$FAULT_SESSION_PID"
	rc=$?
	cat "$FAULT_SESSION_OUT"
	[ "$rc" = 0 ] || dp_fail "fault_session.py failed (status $rc): $(tail -n 5 "$FAULT_SESSION_OUT.err")"
}

# fault_await FILE — the session reached a point (it touched FILE); fails if it died first.
fault_await()
{
	local end=$((SECONDS + $(dp_budget 60)))
	while [ ! -e "$1" ] && [ "$SECONDS" -lt "$end" ]; do
		dp_alive "$FAULT_SESSION_PID" || break
		sleep 0.05
	done
	[ -e "$1" ] || { cat "$FAULT_SESSION_OUT" >&2; dp_fail "the session did not reach $(basename "$1"): $(tail -n 5 "$FAULT_SESSION_OUT.err")"; }
}

# slowloris NAME CONNS [ARGS...] — slowloris.py in the background against $(fault_addr); returns
# once its connections are open. JSON to $DP_WORK/NAME.json; sets LORIS_PID.
slowloris()
{
	local name=$1 n=$2
	shift 2
	rm -f "$DP_WORK/$name.ready"
	python3 "$FAULT_DIR/slowloris.py" --addr "$(fault_addr)" --conns "$n" --ready "$DP_WORK/$name.ready" \
		"$@" >"$DP_WORK/$name.json" 2>"$DP_WORK/$name.err" &
	LORIS_PID=$!
	DP_PIDS+=("$LORIS_PID")
	local end=$((SECONDS + $(dp_budget 60)))
	while [ ! -e "$DP_WORK/$name.ready" ] && [ "$SECONDS" -lt "$end" ] && dp_alive "$LORIS_PID"; do
		sleep 0.1
	done
	[ -e "$DP_WORK/$name.ready" ] || dp_fail "slowloris.py did not open its connections: $(cat "$DP_WORK/$name.err")"
}

# fault_addr — HOST:PORT of the server's WebSocket listener (FAULT_ADDR if set, e.g. for wss://).
fault_addr()
{
	[ -n "${FAULT_ADDR:-}" ] && { echo "$FAULT_ADDR"; return; }
	local a=${DP_URL#ws://}
	echo "${a%/}"
}
