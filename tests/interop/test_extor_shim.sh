# labels: tor-haproxy
# timeout: 120
# shellcheck shell=bash
#
# tests/tools/extor_static_cookie.py, the shim test_tor_haproxy.sh puts in front of each tor,
# checked on its own (no tor, no namespace: everything on 127.0.0.1, ports picked by the kernel):
#
#   sfpeer client -> snowflake-server (static cookie) -> shim -> sfpeer extor (tor's cookie) -> echo
#
#   1. every byte of 4 sessions × 4 streams comes back verified; the shim logged each stream's
#      USERADDR/TRANSPORT and OKAY, and its byte counts; sfpeer extor got the same USERADDR and
#      TRANSPORT and authenticated the shim with its own cookie;
#   2. hostile clients of the shim (wrong cookie, wrong auth type, an oversized command body,
#      too many commands) each get one "error" log line and a closed connection, and a wrong
#      cookie gets status 0; the shim still serves afterwards;
#   3. when its stdin closes (tor went away) the shim exits and logs "exiting".
# shellcheck source=tests/interop/lib.sh
. "$(dirname "$0")/lib.sh"

SHIM=$DP_TOOLS/extor_static_cookie.py

dp_setup extor_shim
dp_start_extor

STATIC=$DP_WORK/static_cookie
SHIM_LOG=$DP_WORK/shim.log
python3 "$SHIM" --gen-cookie "$STATIC" || dp_fail "the shim cannot write a cookie"
[ "$(stat -c %a "$STATIC")" = 600 ] || dp_fail "the static cookie file is not mode 0600"
[ "$(stat -c %s "$STATIC")" = 64 ] || dp_fail "the static cookie file is not 64 bytes"

# The shim as tor runs it; its stdin is a pipe whose only writer ends when shim.eof appears
# (or this script is gone): nothing else inherits the write end.
# shellcheck disable=SC2031 # these TOR_PT_* are meant for the shim's subshell alone
(
	unset "${!TOR_PT_@}"
	export TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=snowflake
	export TOR_PT_SERVER_BINDADDR=snowflake-127.0.0.1:0 TOR_PT_EXIT_ON_STDIN_CLOSE=1
	export TOR_PT_EXTENDED_SERVER_PORT=$DP_EXTOR_ADDR TOR_PT_AUTH_COOKIE_FILE=$DP_EXTOR_COOKIE
	exec python3 "$SHIM" --cookie "$STATIC" --log "$SHIM_LOG"
) < <(exec 2>/dev/null; while kill -0 $$ && [ ! -e "$DP_WORK/shim.eof" ]; do sleep 0.1; done) \
	>"$DP_WORK/shim.stdout" 2>"$DP_WORK/shim.stderr" &
SHIM_PID=$!
DP_PIDS+=("$SHIM_PID")
dp_wait_line "$DP_WORK/shim.stdout" '^SMETHODS DONE$' "$(dp_budget 10)" "$SHIM_PID" ||
	dp_fail "the shim did not finish its managed-transport setup: $(cat "$DP_WORK"/shim.std*)"
head -n 1 "$DP_WORK/shim.stdout" | grep -qx "VERSION 1" || dp_fail "the shim's first line is not VERSION 1"
SHIM_ADDR=$(sed -n 's/^SMETHOD snowflake \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$DP_WORK/shim.stdout")
[ -n "$SHIM_ADDR" ] || dp_fail "no 'SMETHOD snowflake 127.0.0.1:PORT' line: $(cat "$DP_WORK/shim.stdout")"
dp_say "shim on $SHIM_ADDR (pid $SHIM_PID), tor's ExtORPort played by sfpeer extor"

# ---- 1. every byte through the shim
dp_start_server "TOR_PT_EXTENDED_SERVER_PORT=$SHIM_ADDR" "TOR_PT_AUTH_COOKIE_FILE=$STATIC"
dp_client bulk --sessions 4 --streams 4 --bytes 200000 --client-ip 192.0.2.44
dp_expect_client_ok 4 4 200000
n=$(grep -cx "conn [0-9]* useraddr=192\\.0\\.2\\.44:1 transport=snowflake reply=OKAY" "$SHIM_LOG")
[ "$n" = 16 ] || dp_fail "the shim logged $n USERADDR/TRANSPORT/OKAY lines, expected 16"
n=$(grep -F '"extor_conn"' "$DP_EXTOR_OUT" | grep -F '"auth":"ok"' |
	grep -F '"useraddr":"192.0.2.44:1"' | grep -F '"transport":"snowflake"' | grep -cF '"reply":"OKAY"')
[ "$n" = 16 ] || dp_fail "sfpeer extor saw $n authenticated connections with USERADDR 192.0.2.44:1, expected 16"
dp_say "16 streams relayed byte-exact; USERADDR and TRANSPORT reached the ExtORPort"

# ---- 2. hostile clients
python3 - "${SHIM_ADDR%:*}" "${SHIM_ADDR#*:}" "$STATIC" <<'EOF' || dp_fail "hostile clients (above)"
import hashlib, hmac, os, socket, struct, sys
host, port, cookie_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cookie = open(cookie_path, "rb").read()[32:]

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {n} bytes")
        data += chunk
    return data

def closed(s):
    """True when the shim closes the connection (EOF or reset) within 5 s."""
    s.settimeout(5)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True

def authenticate(key, auth_type=1):
    s = socket.create_connection((host, port), timeout=5)
    assert recv_exact(s, 2) == b"\x01\x00", "auth types are not [SAFE_COOKIE]"
    cn = os.urandom(32)
    s.sendall(bytes([auth_type]) + cn)
    if auth_type != 1:
        return s, None
    sh, sn = recv_exact(s, 32), recv_exact(s, 32)
    want = hmac.new(cookie, b"ExtORPort authentication server-to-client hash" + cn + sn, hashlib.sha256).digest()
    assert hmac.compare_digest(sh, want), "the shim's server hash is wrong"
    s.sendall(hmac.new(key, b"ExtORPort authentication client-to-server hash" + cn + sn, hashlib.sha256).digest())
    return s, recv_exact(s, 1)[0]

bad = 0
def check(name, ok):
    global bad
    print(f"{name}: {'ok' if ok else 'FAILED'}")
    bad += not ok

s, status = authenticate(os.urandom(32))
check("wrong cookie: status 0, then closed", status == 0 and closed(s))
s, _ = authenticate(cookie, auth_type=2)
check("auth type 2: closed", closed(s))
s, status = authenticate(cookie)
s.sendall(struct.pack(">HH", 2, 2000) + b"x" * 2000)
check("2000-byte TRANSPORT body: closed", status == 1 and closed(s))
s, status = authenticate(cookie)
s.sendall(struct.pack(">HH", 2, 9) + b"snowflake" + (struct.pack(">HH", 2, 9) + b"snowflake") * 16)
check("17 commands before DONE: closed", status == 1 and closed(s))
sys.exit(1 if bad else 0)
EOF
for line in "error: client hash does not match the static cookie" "error: client chose auth type 2" \
	"error: command 0x0002 with a 2000-byte body, over 1024" "error: more than 16 commands before DONE"; do
	dp_wait_line "$SHIM_LOG" "^conn [0-9]+ ${line//./\\.}\$" "$(dp_budget 5)" ||
		dp_fail "the shim's log lacks 'conn N $line'"
done
dp_client after --sessions 1 --streams 2 --bytes 100000 --client-ip 192.0.2.45
dp_expect_client_ok 1 2 100000
dp_say "hostile clients refused and logged; the shim still relays"

# ---- 3. stdin EOF ends the shim
# The server holds a stream's tor connection until its session ends; once it has stopped, the
# shim has logged the end of every relay with its byte counts.
dp_stop_server
for ((i = 0; i < 50; i++)); do
	[ "$(grep -c ' closed to_tor=' "$SHIM_LOG")" -ge 18 ] && break
	sleep 0.1
done
n=$(grep -cx "conn [0-9]* closed to_tor=200000 from_tor=200000" "$SHIM_LOG")
[ "$n" = 16 ] || dp_fail "the shim logged $n relays of 200000 bytes each way, expected 16"
n=$(grep -cx "conn [0-9]* closed to_tor=100000 from_tor=100000" "$SHIM_LOG")
[ "$n" = 2 ] || dp_fail "the shim logged $n relays of 100000 bytes each way, expected 2"
: >"$DP_WORK/shim.eof"
for ((i = 0; i < 50; i++)); do
	dp_alive "$SHIM_PID" || break
	sleep 0.1
done
dp_alive "$SHIM_PID" && dp_fail "the shim still runs 5 s after its stdin closed"
wait "$SHIM_PID"
status=$?
[ "$status" = 0 ] || dp_fail "the shim exited with status $status"
tail -n 1 "$SHIM_LOG" | grep -qx "exiting" || dp_fail "the shim's log does not end with 'exiting'"
dp_say "stdin closed: the shim exited with status 0"
dp_pass
