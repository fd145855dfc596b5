# shellcheck shell=bash
# Helpers for the tests with several ExtORPorts (test_dp_extor_*.sh), on top of lib.sh.

# extor_start NAME [LISTEN] — one more sfpeer extor, listening on LISTEN (default: a port the
# kernel picks; pass the old address to restart one "in place"), with its own cookie file,
# written afresh at start as tor does. Sets EXTOR_ADDR[NAME], EXTOR_COOKIE[NAME],
# EXTOR_OUT[NAME] (its JSON lines; a restart starts a new file NAME.N) and EXTOR_PID[NAME].
declare -A EXTOR_ADDR EXTOR_COOKIE EXTOR_OUT EXTOR_PID EXTOR_RUNS
extor_start()
{
	local name=$1 listen=${2:-127.0.0.1:0} run out
	run=$(( ${EXTOR_RUNS[$name]:-0} + 1 ))
	EXTOR_RUNS[$name]=$run
	out=$DP_WORK/extor-$name.$run.out
	EXTOR_COOKIE[$name]=$DP_WORK/extor-$name.cookie
	EXTOR_OUT[$name]=$out
	"$SFPEER" extor --listen "$listen" --cookie "${EXTOR_COOKIE[$name]}" --lifetime "$(dp_lifetime)" \
		>"$out" 2>"$out.err" &
	EXTOR_PID[$name]=$!
	DP_PIDS+=("${EXTOR_PID[$name]}")
	dp_wait_line "$out" '"event":"listening"' "$(dp_budget 10)" "${EXTOR_PID[$name]}" ||
		dp_fail "sfpeer extor $name did not start: $(cat "$out" "$out.err" 2>/dev/null)"
	EXTOR_ADDR[$name]=$(sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' "$out" | head -n 1)
	[ -n "${EXTOR_ADDR[$name]}" ] || dp_fail "cannot parse sfpeer extor $name's address: $(cat "$out")"
	dp_say "sfpeer extor $name on ${EXTOR_ADDR[$name]} (pid ${EXTOR_PID[$name]}, run $run)"
}

# extor_kill NAME — SIGKILL, as a crashing tor: the kernel closes its connections.
extor_kill()
{
	kill -KILL "${EXTOR_PID[$1]}" 2>/dev/null
	wait "${EXTOR_PID[$1]}" 2>/dev/null
	dp_say "sfpeer extor $1 killed"
}

# extor_count NAME [!] — connections of NAME's current run whose handshake succeeded ("auth":
# "ok"); with "!", those whose handshake failed. grep, not python: it runs in wait loops.
extor_count()
{
	local n
	if [ "${2:-}" = "!" ]; then
		n=$(grep '"event":"extor_conn"' "${EXTOR_OUT[$1]}" | grep -vc '"auth":"ok"')
	else
		n=$(grep '"event":"extor_conn"' "${EXTOR_OUT[$1]}" | grep -c '"auth":"ok"')
	fi
	echo "${n:-0}"
}

# extor_option NAME — "extorport=ADDR,COOKIEFILE" escaped as tor writes it in
# TOR_PT_SERVER_TRANSPORT_OPTIONS (':' ';' '\' get a backslash).
extor_option()
{
	local v="${EXTOR_ADDR[$1]},${EXTOR_COOKIE[$1]}"
	v=${v//\\/\\\\}
	v=${v//:/\\:}
	v=${v//;/\\;}
	echo "snowflake:extorport=$v"
}
