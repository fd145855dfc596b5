# labels: cli
# timeout: 120
#
# The program as tor and an operator see it (docs/pt.md): Go-style flags, --version, usage,
# the managed-proxy stdout lines for good and bad environments, SMETHOD-ERROR per failed
# bindaddr, --log (append, 0600), scrubbing, the statistics line (SIGUSR1 asks for it now), and
# a clean exit on SIGTERM, SIGINT and stdin close.
set -uo pipefail
: "${SF_SERVER:?}" "${SFPEER:?}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sf-cli.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.out "$WORK"/*.err "$WORK"/*.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done >&2; exit 1; }
pass() { echo "ok: $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run_pt NAME ENV... -- ARGS...: runs the server with a PT environment and a stdin pipe that is
# already at EOF, so with TOR_PT_EXIT_ON_STDIN_CLOSE=1 it exits right after setup (at most 5 s);
# stdout/stderr/status in $WORK/NAME.*
run_pt() {
	local name=$1; shift
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	env -i PATH="$PATH" "${envs[@]}" timeout -s TERM 5 "$SF_SERVER" "$@" < <(true) \
		>"$WORK/$name.out" 2>"$WORK/$name.err"
	echo $? >"$WORK/$name.rc"
}
rc() { cat "$WORK/$1.rc"; }
PT=(TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake TOR_PT_ORPORT=127.0.0.1:9 "TOR_PT_STATE_LOCATION=$WORK/state" TOR_PT_EXIT_ON_STDIN_CLOSE=1)

# --- flags -------------------------------------------------------------------------------
"$SF_SERVER" --version >"$WORK/v.out" 2>"$WORK/v.err"; [ $? = 0 ] || fail "--version status"
grep -Eq '^snowflake-server 2\.11\.0( \([0-9a-f]{8}\*?\))?$' "$WORK/v.err" || fail "--version text: $(cat "$WORK/v.err")"
[ -s "$WORK/v.out" ] && fail "--version wrote to stdout"
"$SF_SERVER" -version 2>/dev/null && "$SF_SERVER" -version=true 2>/dev/null && "$SF_SERVER" --version=1 2>/dev/null || fail "Go bool forms of -version"
pass "--version, -version, -version=true, --version=1"

"$SF_SERVER" --no-such-flag >"$WORK/u.out" 2>"$WORK/u.err"; [ $? = 2 ] || fail "unknown flag must exit 2"
grep -q '^flag provided but not defined: -no-such-flag$' "$WORK/u.err" || fail "unknown flag message"
grep -q '^Usage: ' "$WORK/u.err" && grep -q -- '-acme-hostnames string' "$WORK/u.err" || fail "usage after an unknown flag"
"$SF_SERVER" -h >"$WORK/h.out" 2>"$WORK/h.err"; [ $? = 0 ] || fail "-h must exit 0"
for f in acme-email acme-hostnames disable-tls log unsafe-logging version; do
	grep -q -- "^  -$f" "$WORK/h.err" || fail "usage lacks -$f"
done
"$SF_SERVER" --log >/dev/null 2>"$WORK/m.err"; [ $? = 2 ] || fail "missing value must exit 2"
grep -q '^flag needs an argument: -log$' "$WORK/m.err" || fail "missing value message"
"$SF_SERVER" -disable-tls=maybe >/dev/null 2>"$WORK/b.err"; [ $? = 2 ] || fail "bad bool must exit 2"
grep -q 'invalid boolean value "maybe" for -disable-tls' "$WORK/b.err" || fail "bad bool message"
pass "unknown flag, -h, missing value, bad bool"

run_pt nohost "${PT[@]}" TOR_PT_SERVER_BINDADDR=snowflake-127.0.0.1:1 --
[ "$(rc nohost)" = 1 ] || fail "TLS mode without --acme-hostnames must exit 1"
[ -s "$WORK/nohost.out" ] && fail "nothing may reach stdout before the --acme-hostnames check"
grep -q 'the --acme-hostnames option is required' "$WORK/nohost.err" || fail "--acme-hostnames message"
pass "--acme-hostnames required without --disable-tls, before any stdout line"

# --- managed-proxy environment ------------------------------------------------------------
run_pt nover TOR_PT_MANAGED_TRANSPORT_VER=2 -- --disable-tls
[ "$(rc nover)" = 1 ] && [ "$(cat "$WORK/nover.out")" = "VERSION-ERROR no-version" ] || fail "VERSION-ERROR: $(cat "$WORK/nover.out")"
run_pt nobind TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake TOR_PT_ORPORT=127.0.0.1:9 -- --disable-tls
[ "$(rc nobind)" = 1 ] || fail "missing BINDADDR must exit 1"
diff <(printf 'VERSION 1\nENV-ERROR no TOR_PT_SERVER_BINDADDR environment variable\n') "$WORK/nobind.out" >/dev/null ||
	fail "missing BINDADDR lines: $(cat "$WORK/nobind.out")"
run_pt badopt "${PT[@]}" TOR_PT_SERVER_BINDADDR=snowflake-127.0.0.1:1 'TOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:num-turbotunnel' -- --disable-tls
[ "$(rc badopt)" = 1 ] && grep -q '^ENV-ERROR TOR_PT_SERVER_TRANSPORT_OPTIONS: ' "$WORK/badopt.out" || fail "bad options ENV-ERROR"
pass "VERSION-ERROR, ENV-ERROR (missing BINDADDR, bad options)"

busy=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(8)' "$busy" &
PIDS+=($!)
sleep 0.3
p1=$(free_port)
run_pt methods "${PT[@]}" \
	"TOR_PT_SERVER_TRANSPORTS=snowflake,obfs4" \
	"TOR_PT_SERVER_BINDADDR=obfs4-127.0.0.1:$p1,snowflake-127.0.0.1:$busy" -- --disable-tls
cat >"$WORK/methods.want" <<EOF
VERSION 1
STATUS TYPE=version IMPLEMENTATION="snowflake-server" VERSION="$(sed 's/^snowflake-server //' "$WORK/v.err")"
SMETHOD-ERROR obfs4 no such method
SMETHOD-ERROR snowflake listen tcp 127.0.0.1:$busy: bind: address already in use
SMETHODS DONE
EOF
diff "$WORK/methods.want" "$WORK/methods.out" || fail "stdout for an unknown method and a busy port"
for bad in "num-turbotunnel=0|parsing num-turbotunnel: cannot be less than 1" \
	"num-turbotunnel=x|parsing num-turbotunnel: strconv.Atoi: parsing \"x\": invalid syntax" \
	"orport-srcaddr=foo|parsing srcaddr: invalid CIDR address: foo"; do
	opt=${bad%%|*}
	want=${bad#*|}
	run_pt opt "${PT[@]}" "TOR_PT_SERVER_BINDADDR=snowflake-127.0.0.1:$(free_port)" \
		"TOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:$opt" -- --disable-tls
	grep -qxF "SMETHOD-ERROR snowflake $want" "$WORK/opt.out" || fail "$opt: $(cat "$WORK/opt.out")"
	[ "$(rc opt)" = 0 ] || fail "$opt: a failed bindaddr must not end the process (status $(rc opt))"
	tail -n 1 "$WORK/opt.out" | grep -qx 'SMETHODS DONE' || fail "$opt: no SMETHODS DONE"
done
run_pt port0 "${PT[@]}" TOR_PT_SERVER_BINDADDR=snowflake-127.0.0.1:0 -- --disable-tls
grep -qxF "SMETHOD-ERROR snowflake cannot listen on port 0; configure a port using ServerTransportListenAddr" "$WORK/port0.out" || fail "port 0"
pass "SMETHOD-ERROR: unknown method, bind in use, port 0, num-turbotunnel, orport-srcaddr"

# --- a running server: --log, statistics, scrubbing, signals --------------------------------
"$SFPEER" echo --listen 127.0.0.1:0 --lifetime 100s >"$WORK/echo.out" 2>"$WORK/echo.err" &
PIDS+=($!)
for _ in $(seq 50); do grep -q '"listening"' "$WORK/echo.out" && break; sleep 0.1; done
orport=$(sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' "$WORK/echo.out" | head -n 1)
[ -n "$orport" ] || fail "sfpeer echo did not start"

# start_server NAME [extra env...]: runs in the background with stdin a FIFO we hold open.
start_server() {
	local name=$1; shift
	local port
	port=$(free_port)
	mkfifo "$WORK/$name.stdin"
	echo "abc" >"$WORK/$name.log"
	chmod 0644 "$WORK/$name.log"
	env -i PATH="$PATH" TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake \
		"TOR_PT_SERVER_BINDADDR=snowflake-127.0.0.1:$port" "TOR_PT_ORPORT=$orport" "$@" \
		"$SF_SERVER" -disable-tls -log="$WORK/$name.log" <"$WORK/$name.stdin" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	exec {HOLD}>"$WORK/$name.stdin"
	for _ in $(seq 100); do grep -q '^SMETHODS DONE$' "$WORK/$name.out" && break; sleep 0.05; done
	grep -qx "SMETHOD snowflake 127.0.0.1:$port ARGS:tls=no" "$WORK/$name.out" || fail "$name: no SMETHOD"
	URL="ws://127.0.0.1:$port/"
}
# wait_exit PID: sets STATUS to its exit status, or "alive" after 10 s (not in a subshell:
# only this shell can wait for its child).
wait_exit() {
	STATUS=alive
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || { wait "$1"; STATUS=$?; return; }; sleep 0.1; done
}

start_server a TOR_PT_EXIT_ON_STDIN_CLOSE=1
[ "$(head -n 1 "$WORK/a.log")" = abc ] || fail "--log must append"
[ "$(stat -c %a "$WORK/a.log")" = 644 ] || fail "--log changed an existing file's mode"
"$SFPEER" client --url "$URL" --client-ip 192.0.2.7 --bytes 1000 --timeout 20s >/dev/null 2>&1 || fail "client with client_ip"
"$SFPEER" client --url "$URL" --bytes 1000 --timeout 20s >/dev/null 2>&1 || fail "client without client_ip"
kill -USR1 "$SERVER_PID"
for _ in $(seq 50); do grep -q 'connections had client_ip' "$WORK/a.log" && break; sleep 0.1; done
grep -Eq '^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} in the past [0-9]+ s, 1/2 connections had client_ip$' "$WORK/a.log" ||
	fail "statistics line: $(grep client_ip "$WORK/a.log")"
grep -q '127\.0\.0\.1\|192\.0\.2\.7' "$WORK/a.log" && fail "the log shows an address (scrubbing is on by default)"
grep -q 'listening with plain HTTP on \[scrubbed\]' "$WORK/a.log" || fail "listening line"
exec {HOLD}>&-
wait_exit "$SERVER_PID"; [ "$STATUS" = 0 ] || fail "stdin close: exit status"
grep -q 'synthesizing SIGTERM because of stdin close' "$WORK/a.log" && grep -q 'caught signal "terminated", exiting' "$WORK/a.log" ||
	fail "stdin close log lines"
pass "--log appends, statistics 1/2 with client_ip, scrubbed log, exit 0 on stdin close"

rm -f "$WORK/b.log"
start_server b
[ "$(stat -c %a "$WORK/b.log")" = 644 ] || true
kill -TERM "$SERVER_PID"
wait_exit "$SERVER_PID"; [ "$STATUS" = 0 ] || fail "SIGTERM: exit status"
grep -q 'caught signal "terminated", exiting' "$WORK/b.log" || fail "SIGTERM log line"
exec {HOLD}>&-

rm -f "$WORK/c.log"
port=$(free_port)
env -i PATH="$PATH" TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake \
	"TOR_PT_SERVER_BINDADDR=snowflake-127.0.0.1:$port" "TOR_PT_ORPORT=$orport" \
	"$SF_SERVER" --disable-tls --unsafe-logging --log "$WORK/c.log" </dev/null >"$WORK/c.out" 2>"$WORK/c.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for _ in $(seq 100); do grep -q '^SMETHODS DONE$' "$WORK/c.out" && break; sleep 0.05; done
[ "$(stat -c %a "$WORK/c.log")" = 600 ] || fail "a new --log file must have mode 0600"
grep -q "listening with plain HTTP on 127.0.0.1:$port" "$WORK/c.log" || fail "--unsafe-logging must keep addresses"
kill -INT "$SERVER_PID"
wait_exit "$SERVER_PID"; [ "$STATUS" = 0 ] || fail "SIGINT: exit status"
grep -q 'caught signal "interrupt", exiting' "$WORK/c.log" || fail "SIGINT log line"
pass "SIGTERM and SIGINT exit 0, new log file 0600, --unsafe-logging"
echo "all CLI checks passed"
