#!/bin/bash
# Test fixture, not a server: speaks only the managed-PT stdout protocol the way snowflake-server
# does with --disable-tls (VERSION, STATUS, SMETHOD / SMETHOD-ERROR, SMETHODS DONE), listens on
# nothing, and exits 0 on SIGTERM or stdin close after logging "exiting". It lets the tor
# harness be checked on its own:
#   SF_SERVER=tests/interop/fake-snowflake-server.sh bash tests/interop/test_tor_bridge.sh
log=/dev/stderr
while [ $# -gt 0 ]; do
	case $1 in
	--log) log=$2; shift;;
	--disable-tls) ;;
	*) echo "fake-snowflake-server: unknown argument $1" >&2; exit 2;;
	esac
	shift
done
exec 3>>"$log"
say() { echo "$(date -u '+%Y/%m/%d %H:%M:%S') $*" >&3; }

say "fake-snowflake-server (test fixture)"
trap 'trap "" TERM; say "caught signal \"terminated\", exiting"; stop_listeners; exit 0' TERM
case ",$TOR_PT_MANAGED_TRANSPORT_VER," in
*,1,*) echo "VERSION 1";;
*) echo "VERSION-ERROR no-version"; exit 1;;
esac
echo 'STATUS TYPE=version IMPLEMENTATION="snowflake-server" VERSION="fixture"'

# A TCP listener that accepts and closes, so that "the port is open" can be checked.
listeners=""
listen()
{
	local line
	exec 4< <(exec python3 -c '
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
srv = socket.create_server((host.strip("[]"), int(port)))
srv.settimeout(1)
print("listening", flush=True)
end = time.time() + 600
while time.time() < end:
	try:
		srv.accept()[0].close()
	except socket.timeout:
		pass
' "$1")
	listeners="$listeners $!"
	read -r -t 5 -u 4 line && [ "$line" = listening ]
}
stop_listeners() { for pid in $listeners; do kill "$pid" 2>/dev/null; done; }

num=1
IFS=';' read -ra opts <<<"$TOR_PT_SERVER_TRANSPORT_OPTIONS"
for opt in "${opts[@]}"; do
	case $opt in snowflake:num-turbotunnel=*) num=${opt#snowflake:num-turbotunnel=};; esac
done
IFS=',' read -ra binds <<<"$TOR_PT_SERVER_BINDADDR"
for bind in "${binds[@]}"; do
	method=${bind%%-*}
	addr=${bind#*-}
	if [ "$method" != snowflake ]; then
		echo "SMETHOD-ERROR $method no such method"
	elif ! [[ $num =~ ^[+-]?[0-9]+$ ]]; then
		echo "SMETHOD-ERROR snowflake parsing num-turbotunnel: strconv.Atoi: parsing \"$num\": invalid syntax"
	elif [ "$num" -lt 1 ]; then
		echo "SMETHOD-ERROR snowflake parsing num-turbotunnel: cannot be less than 1"
	elif ! listen "$addr"; then
		echo "SMETHOD-ERROR snowflake fixture cannot listen on $addr"
	else
		echo "SMETHOD snowflake $addr ARGS:tls=no"
	fi
done
echo "SMETHODS DONE"

# Bounded: a fixture never outlives 10 minutes even if nobody stops it.
for ((i = 0; i < 600; i++)); do
	if [ "$TOR_PT_EXIT_ON_STDIN_CLOSE" = 1 ]; then
		read -r -t 1 _
		rc=$?
		if [ "$rc" -ne 0 ] && [ "$rc" -le 128 ]; then
			say "synthesizing SIGTERM because of stdin close"
			say "caught signal \"terminated\", exiting"
			stop_listeners
			exit 0
		fi
	else
		sleep 1
	fi
done
say "fixture lifetime over, exiting"
stop_listeners
exit 0
