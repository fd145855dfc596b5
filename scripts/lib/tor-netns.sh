# shellcheck shell=bash disable=SC2034
# Run Debian's tor as a Snowflake bridge inside a throwaway network namespace.
# Source from bash. See docs/tor-bridge.md for why the namespace and each torrc line exist.
#
# The namespace has only `lo` (up), no other interface and no route out, so the bridge can
# reach nothing but loopback: its directory fetches fail at once with "Network is unreachable".
# Every wait below is bounded. sf_tb_cleanup undoes everything and is safe to call twice:
# call it from an EXIT trap.
#
# State (globals, one namespace and one tor at a time):
#   SF_NETNS       namespace created by sf_netns_create
#   SF_TOR_PID     tor started by sf_tor_start (our direct child: `ip netns exec` execs tor)
#   SF_TOR_STATUS  tor's exit status, set by sf_tor_stop

SF_NETNS=""
SF_TOR_PID=""
SF_TOR_STATUS=""
SF_TOR_BIN=${SF_TOR_BIN:-tor}

sf_tb_err() { echo "tor-netns: $*" >&2; }

# Root, iproute2 with netns support and tor must be there; says which one is missing.
sf_netns_preflight()
{
	if [ "$(id -u)" -ne 0 ]; then
		sf_tb_err "must run as root (ip netns add needs CAP_SYS_ADMIN)"
		return 1
	fi
	if ! command -v ip >/dev/null 2>&1; then
		sf_tb_err "iproute2 (ip) not found; run scripts/install-deps.sh"
		return 1
	fi
	if ! command -v "$SF_TOR_BIN" >/dev/null 2>&1; then
		sf_tb_err "tor not found; run scripts/install-deps.sh"
		return 1
	fi
	if ! ip netns list >/dev/null 2>&1; then
		sf_tb_err "this ip has no netns support"
		return 1
	fi
	return 0
}

# Creates sf-<random> with lo up and checks it is isolated. Sets SF_NETNS.
sf_netns_create()
{
	local ns
	ns="sf-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
	if ! ip netns add "$ns"; then
		sf_tb_err "ip netns add $ns failed (no root, no netns support, or /run/netns not writable)"
		return 1
	fi
	SF_NETNS=$ns
	if ! ip -n "$ns" link set lo up; then
		sf_tb_err "cannot bring up lo in $ns"
		return 1
	fi
	# Refuse to go on if anything but lo exists or a default route slipped in.
	local links routes
	links=$(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
	routes=$(ip -n "$ns" route show default; ip -n "$ns" -6 route show default)
	if [ "$links" != "lo " ] || [ -n "$routes" ]; then
		sf_tb_err "namespace $ns is not isolated (links: $links; default routes: $routes)"
		return 1
	fi
	return 0
}

# Runs a command inside the namespace (in the foreground).
sf_netns_exec()
{
	ip netns exec "$SF_NETNS" "$@"
}

# Waits up to $2 seconds (default 10) for pid $1 to disappear. Works for non-children too.
sf_wait_pid_gone()
{
	local pid=$1 limit=${2:-10} i
	for ((i = 0; i < limit * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		# A zombie child of ours counts as gone.
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = "Z" ] && return 0
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && return 1
	return 0
}

# Ends whatever still runs in the namespace (only what we started there), then deletes it.
# Bounded: 5 s after SIGTERM, then SIGKILL and 2 s more.
sf_netns_delete()
{
	local ns=$SF_NETNS pids pid i
	[ -n "$ns" ] || return 0
	pids=$(ip netns pids "$ns" 2>/dev/null)
	if [ -n "$pids" ]; then
		for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
		for ((i = 0; i < 50; i++)); do
			[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
			sleep 0.1
		done
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		for ((i = 0; i < 20; i++)); do
			[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
			sleep 0.1
		done
	fi
	ip netns delete "$ns" 2>/dev/null
	SF_NETNS=""
	return 0
}

# sf_tor_write_torrc DIR OR_ADDR PT_ADDR PT_OPTIONS SERVER [SERVER_ARGS...]
# Writes DIR/torrc for a bridge on loopback whose only transport is `snowflake`, served by
# SERVER (run by tor as a managed PT). PT_OPTIONS: "" or "k=v [k=v...]" for
# ServerTransportOptions. tor logs to DIR/tor-notice.log, DIR/tor-info.log and (debug of
# the "net" domain: the ExtORPort USERADDR and DONE) DIR/tor-net-debug.log. DIR must not
# contain spaces:
# tor splits the ServerTransportPlugin line at whitespace.
sf_tor_write_torrc()
{
	local dir=$1 or_addr=$2 pt_addr=$3 pt_options=$4
	shift 4
	local arg
	for arg in "$dir" "$@"; do
		case $arg in
		*[[:space:]]*)
			sf_tb_err "path or argument with whitespace cannot go into a torrc: '$arg'"
			return 1;;
		esac
	done
	mkdir -p "$dir/data" && chmod 700 "$dir/data" || return 1
	# An empty defaults file keeps the system's torrc-defaults out.
	: >"$dir/torrc-defaults"
	{
		echo "# Written by scripts/lib/tor-netns.sh: a bridge on loopback in its own namespace."
		echo "RunAsDaemon 0"
		echo "DataDirectory $dir/data"
		echo "Nickname sfnetnsbridge"
		echo "ContactInfo none@example.invalid"
		echo "SocksPort 0"
		echo "BridgeRelay 1"
		echo "BridgeDistribution none"
		echo "ORPort $or_addr"
		# No reachability self-test and no descriptor upload: there is no network to do them.
		echo "AssumeReachable 1"
		echo "PublishServerDescriptor 0"
		# No GeoIP database is installed; counting clients by country only adds warnings.
		echo "BridgeRecordUsageByCountry 0"
		echo "DirReqStatistics 0"
		echo "ExtORPort auto"
		echo "ServerTransportPlugin snowflake exec $*"
		echo "ServerTransportListenAddr snowflake $pt_addr"
		[ -n "$pt_options" ] && echo "ServerTransportOptions snowflake $pt_options"
		# SIGINT (Ctrl-C) on a relay otherwise waits 30 s before exiting.
		echo "ShutdownWaitLength 0"
		# Only loopback and documentation addresses exist here; show them in the logs.
		echo "SafeLogging 0"
		echo "Log notice file $dir/tor-notice.log"
		echo "Log info file $dir/tor-info.log"
		echo "Log [net]debug file $dir/tor-net-debug.log"
	} >"$dir/torrc"
}

# sf_tor_start DIR — starts tor on DIR/torrc inside SF_NETNS, in the background. Sets SF_TOR_PID.
sf_tor_start()
{
	local dir=$1
	[ -n "$SF_NETNS" ] || { sf_tb_err "no namespace (call sf_netns_create first)"; return 1; }
	SF_TOR_STATUS=""
	ip netns exec "$SF_NETNS" "$SF_TOR_BIN" --defaults-torrc "$dir/torrc-defaults" \
		-f "$dir/torrc" </dev/null >"$dir/tor-stdout.log" 2>&1 &
	SF_TOR_PID=$!
	return 0
}

# sf_tor_wait_log FILE REGEX SECONDS [FAIL_REGEX [FAIL_FILE]] — waits until FILE has a line
# matching the extended REGEX (0). Gives up early when tor exits or when FAIL_FILE (default
# FILE) has a line matching FAIL_REGEX (2); 1 on timeout.
sf_tor_wait_log()
{
	local file=$1 regex=$2 limit=$3 fail_regex=${4:-} fail_file=${5:-$1} i
	for ((i = 0; i < limit * 10; i++)); do
		grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
		if [ -n "$fail_regex" ] && grep -Eq -- "$fail_regex" "$fail_file" 2>/dev/null; then
			sf_tb_err "while waiting for /$regex/: $(grep -E -m1 -- "$fail_regex" "$fail_file")"
			return 2
		fi
		if [ -n "$SF_TOR_PID" ] && ! kill -0 "$SF_TOR_PID" 2>/dev/null; then
			grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
			sf_tb_err "tor exited while waiting for /$regex/ in $file"
			return 1
		fi
		sleep 0.1
	done
	sf_tb_err "timed out after ${limit}s waiting for /$regex/ in $file"
	return 1
}

# Pids of tor's direct children (the managed PT).
sf_tor_children()
{
	[ -n "$SF_TOR_PID" ] || return 0
	pgrep -P "$SF_TOR_PID" 2>/dev/null
}

# sf_tor_stop [SECONDS] — SIGTERM to tor (it then SIGTERMs its PT and closes the PT's stdin),
# bounded wait, SIGKILL as a last resort. Sets SF_TOR_STATUS; fails if SIGKILL was needed.
sf_tor_stop()
{
	local limit=${1:-10} pid=$SF_TOR_PID rc=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	if ! sf_wait_pid_gone "$pid" "$limit"; then
		sf_tb_err "tor (pid $pid) ignored SIGTERM for ${limit}s; killing it"
		kill -KILL "$pid" 2>/dev/null
		rc=1
	fi
	wait "$pid" 2>/dev/null
	SF_TOR_STATUS=$?
	SF_TOR_PID=""
	return $rc
}

# Stops tor, ends what is left in the namespace, deletes it. For an EXIT trap.
sf_tb_cleanup()
{
	sf_tor_stop 5 2>/dev/null
	sf_netns_delete
}
