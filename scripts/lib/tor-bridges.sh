# shellcheck shell=bash disable=SC2034
# N tor bridges that share one identity, as a Snowflake bridge runs them behind HAProxy
# (upstream's "multiple tor instances" layout), inside the network namespace of tor-netns.sh.
# Source from bash after scripts/lib/tor-netns.sh; call sf_netns_create first.
#
#   sf_bridges_start N DIR [EXTRA_FN]   writes DIR/tor1..torN, shares tor1's keys, starts all
#   sf_bridge_stop I [SECONDS]          SIGTERM to bridge I (bounded), sets SF_BRIDGE_STATUS[I]
#   sf_bridges_cleanup                  stops every bridge, deletes the namespace (EXIT trap)
#
# Each bridge has a fixed ORPort and ExtORPort on 127.0.0.1 (the namespace is ours alone) and
# writes its ExtORPort cookie to a path we choose, so a server can be pointed at any of them
# by hand (TOR_PT_EXTENDED_SERVER_PORT / TOR_PT_AUTH_COOKIE_FILE). EXTRA_FN, if given, is
# called as `EXTRA_FN I DIR_I` and its output is appended to bridge I's torrc (e.g. a
# ServerTransportPlugin line). Logs per bridge: DIR_I/tor-notice.log, tor-info.log and
# tor-net-debug.log (the ExtORPort USERADDR / DONE lines), as in tor-netns.sh.
#
# Results, indexed 1..N:
#   SF_BRIDGE_DIRS[I]         the bridge's directory
#   SF_BRIDGE_PIDS[I]         tor's pid ("" once stopped)
#   SF_BRIDGE_ORPORTS[I]      127.0.0.1:PORT of its ORPort
#   SF_BRIDGE_EXTORPORTS[I]   127.0.0.1:PORT of its Extended ORPort
#   SF_BRIDGE_COOKIES[I]      its ExtORPort auth cookie file (rewritten at every start)
#   SF_BRIDGE_STATUS[I]       exit status after sf_bridge_stop
#   SF_BRIDGE_FINGERPRINT     the shared identity fingerprint
# Ports: ORPort SF_BRIDGE_PORT_BASE + 10*I + 1, ExtORPort SF_BRIDGE_PORT_BASE + 10*I + 2
# (SF_BRIDGE_PORT_BASE defaults to 9000).

SF_BRIDGE_DIRS=()
SF_BRIDGE_PIDS=()
SF_BRIDGE_ORPORTS=()
SF_BRIDGE_EXTORPORTS=()
SF_BRIDGE_COOKIES=()
SF_BRIDGE_STATUS=()
SF_BRIDGE_FINGERPRINT=""
SF_BRIDGE_COUNT=0
SF_BRIDGE_PORT_BASE=${SF_BRIDGE_PORT_BASE:-9000}

# sf_bridge_write_torrc I DIR_I [EXTRA_FN] — bridge I's torrc (see tor-netns.sh for each line).
sf_bridge_write_torrc()
{
	local i=$1 dir=$2 extra_fn=${3:-}
	case $dir in
	*[[:space:]]*) sf_tb_err "a torrc cannot hold the path '$dir'"; return 1;;
	esac
	mkdir -p "$dir/data" && chmod 700 "$dir/data" || return 1
	: >"$dir/torrc-defaults"
	{
		echo "# Written by scripts/lib/tor-bridges.sh: bridge $i of $SF_BRIDGE_COUNT, one identity."
		echo "RunAsDaemon 0"
		echo "DataDirectory $dir/data"
		echo "Nickname sfbridge$i"
		echo "ContactInfo none@example.invalid"
		echo "SocksPort 0"
		echo "BridgeRelay 1"
		echo "BridgeDistribution none"
		echo "ORPort ${SF_BRIDGE_ORPORTS[$i]}"
		echo "ExtORPort ${SF_BRIDGE_EXTORPORTS[$i]}"
		echo "ExtORPortCookieAuthFile ${SF_BRIDGE_COOKIES[$i]}"
		echo "AssumeReachable 1"
		echo "PublishServerDescriptor 0"
		echo "BridgeRecordUsageByCountry 0"
		echo "DirReqStatistics 0"
		echo "ShutdownWaitLength 0"
		echo "SafeLogging 0"
		echo "Log notice file $dir/tor-notice.log"
		echo "Log info file $dir/tor-info.log"
		echo "Log [net]debug file $dir/tor-net-debug.log"
		[ -z "$extra_fn" ] || "$extra_fn" "$i" "$dir"
	} >"$dir/torrc"
}

# sf_bridges_start N DIR [EXTRA_FN] — see the top of this file. Waits (bounded) until every
# bridge has opened its ORPort and ExtORPort; returns 1 if one did not.
sf_bridges_start()
{
	local n=$1 top=$2 extra_fn=${3:-} i dir fp
	[ -n "$SF_NETNS" ] || { sf_tb_err "no namespace (call sf_netns_create first)"; return 1; }
	SF_BRIDGE_COUNT=$n
	for ((i = 1; i <= n; i++)); do
		dir=$top/tor$i
		SF_BRIDGE_DIRS[i]=$dir
		SF_BRIDGE_ORPORTS[i]=127.0.0.1:$((SF_BRIDGE_PORT_BASE + 10 * i + 1))
		SF_BRIDGE_EXTORPORTS[i]=127.0.0.1:$((SF_BRIDGE_PORT_BASE + 10 * i + 2))
		SF_BRIDGE_COOKIES[i]=$dir/extor_auth_cookie
		SF_BRIDGE_PIDS[i]=""
		SF_BRIDGE_STATUS[i]=""
		sf_bridge_write_torrc "$i" "$dir" "$extra_fn" || return 1
	done
	# One identity for all: tor1 makes its keys (--list-fingerprint creates them and exits),
	# the others get a copy before their first start, as operators copy keys/ by hand.
	fp=$(sf_netns_exec timeout 30 "$SF_TOR_BIN" --defaults-torrc "$top/tor1/torrc-defaults" \
		-f "$top/tor1/torrc" --list-fingerprint --quiet 2>"$top/tor1/keygen.err") || {
		sf_tb_err "tor --list-fingerprint failed: $(tail -n 3 "$top/tor1/keygen.err")"
		return 1
	}
	SF_BRIDGE_FINGERPRINT=$(echo "$fp" | awk 'NF >= 2 { $1 = ""; gsub(/ /, ""); print; exit }')
	[ -n "$SF_BRIDGE_FINGERPRINT" ] || { sf_tb_err "no fingerprint in '$fp'"; return 1; }
	for ((i = 2; i <= n; i++)); do
		cp -a "$top/tor1/data/keys" "${SF_BRIDGE_DIRS[i]}/data/keys" || return 1
	done
	for ((i = 1; i <= n; i++)); do
		dir=${SF_BRIDGE_DIRS[i]}
		ip netns exec "$SF_NETNS" "$SF_TOR_BIN" --defaults-torrc "$dir/torrc-defaults" \
			-f "$dir/torrc" </dev/null >"$dir/tor-stdout.log" 2>&1 &
		SF_BRIDGE_PIDS[i]=$!
	done
	for ((i = 1; i <= n; i++)); do
		sf_bridge_wait_log "$i" tor-notice.log \
			"Opened Extended OR listener connection \\(ready\\) on ${SF_BRIDGE_EXTORPORTS[i]}" 30 ||
			return 1
		sf_bridge_wait_log "$i" tor-notice.log \
			"Opened OR listener connection \\(ready\\) on ${SF_BRIDGE_ORPORTS[i]}" 5 || return 1
		[ -s "${SF_BRIDGE_COOKIES[i]}" ] || { sf_tb_err "bridge $i wrote no cookie"; return 1; }
	done
	return 0
}

# sf_bridge_wait_log I FILE REGEX SECONDS — FILE in bridge I's directory gets a line matching
# REGEX; 1 on timeout or when that tor exits first.
sf_bridge_wait_log()
{
	local i=$1 file=${SF_BRIDGE_DIRS[$1]}/$2 regex=$3 limit=$4 k pid
	for ((k = 0; k < limit * 10; k++)); do
		grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
		pid=${SF_BRIDGE_PIDS[i]}
		if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
			grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
			sf_tb_err "bridge $i (tor) is not running; no /$regex/ in $file"
			return 1
		fi
		sleep 0.1
	done
	sf_tb_err "timed out after ${limit}s waiting for /$regex/ in $file"
	return 1
}

# sf_bridge_stop I [SECONDS] — SIGTERM, bounded wait, SIGKILL as a last resort (then 1).
sf_bridge_stop()
{
	local i=$1 limit=${2:-10} pid=${SF_BRIDGE_PIDS[$1]:-} rc=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	if ! sf_wait_pid_gone "$pid" "$limit"; then
		sf_tb_err "bridge $i (tor pid $pid) ignored SIGTERM for ${limit}s; killing it"
		kill -KILL "$pid" 2>/dev/null
		rc=1
	fi
	wait "$pid" 2>/dev/null
	SF_BRIDGE_STATUS[i]=$?
	SF_BRIDGE_PIDS[i]=""
	return $rc
}

# Stops every bridge and whatever else runs in the namespace, deletes it. For an EXIT trap.
sf_bridges_cleanup()
{
	local i
	for ((i = 1; i <= SF_BRIDGE_COUNT; i++)); do
		sf_bridge_stop "$i" 5 2>/dev/null
	done
	sf_tb_cleanup
}
