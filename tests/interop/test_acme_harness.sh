# labels: acme
# timeout: 240
#
# The pebble harness itself (tests/acme/pebble_harness.py), the ground the other ACME tests stand
# on: `up` writes pebble.env and an identical pebble.json with every variable the tests read; all
# its processes listen on 127.0.0.1 only; a certificate from another ACME client (acme_tool.py
# issue: real HTTP-01 through the mock DNS) chains to PEBBLE_ROOT_FILE and not to the API CA and
# has the --validity lifetime; --block refuses a name; a second `up` on a live state dir is
# refused; `down` leaves nothing running and the URL refuses connections; --same-ports brings
# back the same URL and API CA with a new root. The safety nets: the supervisor stops everything
# when the --watch-pid process exits, when --lifetime is over, when pebble dies, and a start-up
# that fails (the ACME port taken) leaves nothing behind.
. "$(dirname "$0")/acme_lib.sh"

acme_setup harness

# running_of PID... — those of the PIDs that still run (zombies don't) a pebble-related program.
running_of()
{
	local pid
	for pid in "$@"; do
		dp_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q pebble && echo "$pid"
	done
	return 0
}

# procs_matching TEXT — PIDs of running processes whose command line contains TEXT (awk gets TEXT
# from its environment, so that it does not match itself).
procs_matching()
{
	ps -eo pid=,stat=,args= | TEXT=$1 awk 'index($0, ENVIRON["TEXT"]) && $2 !~ /^Z/ { print $1 }'
}

# expect_all_gone WHAT SECONDS — within SECONDS (a bounded wait), none of this pebble's processes
# runs, nor anything naming its state dir or its mock DNS's management port.
expect_all_gone()
{
	local end=$((SECONDS + $2)) left
	while :; do
		left="$(running_of "$PEBBLE_PID" "$PEBBLE_CHALLTESTSRV_PID" "$PEBBLE_SUPERVISOR_PID")"
		left+="$(procs_matching "$ACME_PEBBLE/")$(procs_matching "127.0.0.1:$PEBBLE_CHALLTEST_PORT ")"
		[ -z "$left" ] && break
		[ "$SECONDS" -ge "$end" ] && dp_fail "$1: still running: $left"
		sleep 0.2
	done
	curl -sS --max-time 5 --cacert "$PEBBLE_CA_FILE" -o /dev/null "$PEBBLE_DIRECTORY_URL" 2>/dev/null &&
		dp_fail "$1: the directory URL still answers"
	dp_say "$1: nothing of pebble runs, the directory URL refuses"
}

# 1. Up: the env file, its JSON twin, the processes, loopback only.
acme_pebble_up --validity 90 --block blocked.test --nonce-reject 20
env=$ACME_PEBBLE/pebble.env
for var in PEBBLE_DIRECTORY_URL PEBBLE_CA_FILE PEBBLE_ROOT_FILE PEBBLE_HTTP_PORT PEBBLE_TLS_PORT \
	PEBBLE_LOG PEBBLE_FAULTS PEBBLE_PID PEBBLE_CHALLTESTSRV_PID PEBBLE_SUPERVISOR_PID; do
	[ -n "${!var:-}" ] || dp_fail "pebble.env lacks $var"
done
[ "$PEBBLE_FAULTS" = "nonce-reject=20%,validity=90s,blocklist=blocked.test" ] ||
	dp_fail "PEBBLE_FAULTS=$PEBBLE_FAULTS"
python3 - "$env" "$ACME_PEBBLE/pebble.json" <<'EOF' || dp_fail "pebble.json is not pebble.env's twin"
import json, sys
env = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[1]) if "=" in l and not l.startswith("#"))
sys.exit(0 if json.load(open(sys.argv[2])) == env else 1)
EOF
[ "$PEBBLE_HTTP_PORT" != "$PEBBLE_TLS_PORT" ] || dp_fail "one port for HTTP-01 and TLS-ALPN-01"
for port in "$PEBBLE_HTTP_PORT" "$PEBBLE_TLS_PORT"; do # free for the server under test
	python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$port" ||
		dp_fail "VA port $port is not free"
done
[ "$(running_of "$PEBBLE_PID" "$PEBBLE_CHALLTESTSRV_PID" "$PEBBLE_SUPERVISOR_PID" | wc -l)" = 3 ] ||
	dp_fail "not all of pebble, challtestsrv and the supervisor run"
grep -qF "$ACME_PEBBLE/pebble-config.json" "/proc/$PEBBLE_PID/cmdline" || dp_fail "PEBBLE_PID is not our pebble"
for pid in "$PEBBLE_PID" "$PEBBLE_CHALLTESTSRV_PID"; do
	socks=$(ss -Htulnp 2>/dev/null | grep "pid=$pid," | awk '{print $5}')
	[ -n "$socks" ] || dp_fail "no listening socket of pid $pid (ss -p)"
	echo "$socks" | grep -qv '^127\.0\.0\.1:' && dp_fail "pid $pid listens beyond loopback: $socks"
	dp_say "pid $pid listens on $(echo "$socks" | sort -u | tr '\n' ' ')"
done
curl -fsS --max-time 5 --cacert "$PEBBLE_CA_FILE" "$PEBBLE_DIRECTORY_URL" | grep -q '"newOrder"' ||
	dp_fail "the directory does not answer over HTTPS with PEBBLE_CA_FILE"

# 2. A certificate from another client, by HTTP-01 through the mock DNS (snowflake.test -> 127.0.0.1).
python3 "$ACME_TOOL" issue --env "$env" -d snowflake.test --out "$DP_WORK/cert" >"$DP_WORK/issue.json" \
	2>"$DP_WORK/issue.err" || dp_fail "issuance failed: $(cat "$DP_WORK/issue.err")"
chain=$DP_WORK/cert/fullchain.pem
openssl verify -CAfile "$PEBBLE_ROOT_FILE" -untrusted "$chain" "$chain" >/dev/null ||
	dp_fail "the certificate does not chain to PEBBLE_ROOT_FILE"
openssl verify -CAfile "$PEBBLE_CA_FILE" -untrusted "$chain" "$chain" >/dev/null 2>&1 &&
	dp_fail "the certificate chains to the API CA"
grep -q "Attempting to validate w/ HTTP: http://snowflake.test:$PEBBLE_HTTP_PORT/" "$PEBBLE_LOG" ||
	dp_fail "pebble's log shows no HTTP-01 validation on PEBBLE_HTTP_PORT"
lifetime=$(python3 -W ignore - "$chain" <<'EOF'
import sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
print(int((c.not_valid_after - c.not_valid_before).total_seconds()))
EOF
)
[ "$lifetime" = 89 ] || dp_fail "--validity 90 gave a certificate valid for $lifetime s (want 89: notAfter inclusive)"
python3 "$ACME_TOOL" issue --env "$env" -d blocked.test --out "$DP_WORK/blocked" >/dev/null \
	2>"$DP_WORK/blocked.err" && dp_fail "--block blocked.test: an order for it was accepted"
grep -q rejectedIdentifier "$DP_WORK/blocked.err" || dp_fail "blocked.test: $(cat "$DP_WORK/blocked.err")"
dp_say "issued (lifetime $lifetime s, chain to PEBBLE_ROOT_FILE); blocked.test refused"

# 3. A second up on a live state dir is refused and harms nothing.
python3 "$ACME_HARNESS" up --quiet --lifetime 60 "$ACME_PEBBLE" 2>"$DP_WORK/second.err" &&
	dp_fail "a second up on a live state dir succeeded"
grep -q 'still runs' "$DP_WORK/second.err" || dp_fail "second up: $(cat "$DP_WORK/second.err")"
[ "$(running_of "$PEBBLE_PID" "$PEBBLE_CHALLTESTSRV_PID" "$PEBBLE_SUPERVISOR_PID" | wc -l)" = 3 ] ||
	dp_fail "the refused second up stopped the running pebble"

# 4. Down, then --same-ports: same URL and API CA, a new issuing root.
url=$PEBBLE_DIRECTORY_URL
cp "$PEBBLE_CA_FILE" "$DP_WORK/api-ca.pem"
cp "$PEBBLE_ROOT_FILE" "$DP_WORK/root-1.pem"
acme_pebble_down
expect_all_gone down 10
acme_pebble_up --same-ports
[ "$PEBBLE_DIRECTORY_URL" = "$url" ] || dp_fail "--same-ports: $PEBBLE_DIRECTORY_URL, want $url"
cmp -s "$PEBBLE_CA_FILE" "$DP_WORK/api-ca.pem" || dp_fail "--same-ports: the API CA changed"
cmp -s "$PEBBLE_ROOT_FILE" "$DP_WORK/root-1.pem" && dp_fail "--same-ports: the issuing root did not change"
[ "$PEBBLE_FAULTS" = none ] || dp_fail "the restart kept the faults: $PEBBLE_FAULTS"
curl -fsS --max-time 5 --cacert "$PEBBLE_CA_FILE" -o /dev/null "$PEBBLE_DIRECTORY_URL" ||
	dp_fail "the restarted CA does not answer"
acme_pebble_down
expect_all_gone "down after --same-ports" 10

# 5. Safety nets (the harness called directly, each on its own state dir).
# net NAME OPTIONS... — up with OPTIONS on $DP_WORK/NAME; sources its env.
net()
{
	ACME_PEBBLE=$DP_WORK/$1
	shift
	timeout "$(dp_budget 40)" python3 "$ACME_HARNESS" up --quiet "$@" "$ACME_PEBBLE" \
		2>"$ACME_PEBBLE.err" || dp_fail "up $*: $(tail -n 30 "$ACME_PEBBLE.err")"
	# shellcheck source=/dev/null
	. "$ACME_PEBBLE/pebble.env"
}
# the supervisor's log says why it stopped
expect_reason()
{
	grep -q "$2" "$ACME_PEBBLE/supervisor.log" || dp_fail "$1: supervisor.log: $(cat "$ACME_PEBBLE/supervisor.log")"
}

sleep 120 &
watched=$!
DP_PIDS+=("$watched")
net watch --watch-pid "$watched" --lifetime 120
kill "$watched"
wait "$watched" 2>/dev/null
expect_all_gone "--watch-pid exited" 15
expect_reason --watch-pid "watched process $watched is gone"

net lifetime --lifetime 20 --watch-pid $$
expect_all_gone "--lifetime 20" 40
expect_reason --lifetime "lifetime of 20 s over"

net crash --lifetime 120 --watch-pid $$
kill -KILL "$PEBBLE_PID"
expect_all_gone "pebble killed" 15
expect_reason "pebble killed" "pebble exited"

# A start-up that fails: the ACME port of a previous run is taken by someone else.
net taken --lifetime 120 --watch-pid $$
python3 "$ACME_HARNESS" down "$ACME_PEBBLE" || dp_fail "down of $ACME_PEBBLE failed"
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("ok", flush=True); time.sleep(60)' \
	"$PEBBLE_ACME_PORT" >"$DP_WORK/holder.out" &
holder=$!
DP_PIDS+=("$holder")
dp_wait_line "$DP_WORK/holder.out" '^ok$' 10 "$holder" || dp_fail "cannot hold port $PEBBLE_ACME_PORT"
timeout "$(dp_budget 40)" python3 "$ACME_HARNESS" up --quiet --same-ports --lifetime 120 --watch-pid $$ \
	"$ACME_PEBBLE" 2>"$DP_WORK/taken.err" && dp_fail "up succeeded with its ACME port taken"
grep -q "pebble exited" "$ACME_PEBBLE/supervisor.log" || dp_fail "failed up: $(cat "$DP_WORK/taken.err")"
dp_stop "$holder"
# the processes of the failed start, as its supervisor recorded them
read -r PEBBLE_SUPERVISOR_PID PEBBLE_CHALLTESTSRV_PID PEBBLE_PID < <(awk '{print $2}' "$ACME_PEBBLE/pebble.pids" | xargs)
[ -n "$PEBBLE_PID" ] || dp_fail "the failed start recorded no processes"
expect_all_gone "failed up" 10
dp_pass
