# labels: acme
# timeout: 150
#
# Bad input on the TLS port (docs/tls.md "Certificate selection", docs/logging.md), with a
# certificate already
# issued: a ClientHello for a name not in --acme-hostnames, one without SNI and one whose SNI is
# an IP address fail the handshake, place no order and are logged as Go's net/http logs them
# ("http: TLS handshake error from <addr>: ...") with every address scrubbed; random bytes, a TLS
# record header followed by garbage and a ClientHello cut short are closed (the last by the 10 s
# handshake deadline); a plaintext HTTP request gets Go's 400 answer. The server keeps serving:
# a wss:// session works afterwards, it is alive at the end and exits with status 0 on SIGTERM.
. "$(dirname "$0")/acme_lib.sh"

acme_setup bad_hello
acme_pebble_up
dp_start_echo
acme_start_server
acme_expect_session_ok first snowflake.test
orders=$(acme_orders)
log=$DP_SERVER_DIR/server.log

# hello_fails WHAT S_CLIENT_ARGS... — the handshake must fail (no server certificate).
hello_fails()
{
	local what=$1 out
	shift
	out=$(timeout 15 openssl s_client -connect "127.0.0.1:$ACME_PORT" "$@" </dev/null 2>&1)
	if echo "$out" | grep -q 'BEGIN CERTIFICATE\|^Server certificate'; then
		dp_fail "$what: the handshake succeeded: $(echo "$out" | head -n 20)"
	fi
	dp_say "$what: handshake refused ($(echo "$out" | grep -m1 -o 'alert [a-z ]*[0-9]*' || echo 'no certificate'))"
}
hello_fails "SNI evil.test" -servername evil.test
hello_fails "no SNI" -noservername
hello_fails "SNI 192.0.2.55" -servername 192.0.2.55
dp_wait_line "$log" 'http: TLS handshake error from .*evil\.test' 5 ||
	dp_fail "no handshake error logged for evil.test"
dp_wait_line "$log" 'http: TLS handshake error from .*missing server name' 5 ||
	dp_fail "no handshake error logged for the missing SNI"
grep -Eq '^[0-9/]+ [0-9:]+ http: TLS handshake error from \[scrubbed\]: .*host "evil\.test" not configured' "$log" ||
	dp_fail "the evil.test line is not 'http: TLS handshake error from [scrubbed]: ...host \"evil.test\" not configured...'"
[ "$(acme_orders)" = "$orders" ] || dp_fail "a refused name made the server place an order"
[ ! -e "$ACME_CACHE/evil.test" ] || dp_fail "a cache entry for evil.test appeared"

# probe NAME WAIT tool-args... — one raw connection; the result JSON in $DP_WORK/probe-NAME.
probe()
{
	local name=$1 wait=$2
	shift 2
	timeout "$((wait + 10))" python3 "$ACME_TOOL" probe --addr "127.0.0.1:$ACME_PORT" --wait "$wait" "$@" \
		>"$DP_WORK/probe-$name" 2>&1 || dp_fail "probe $name failed: $(cat "$DP_WORK/probe-$name")"
	dp_say "probe $name: $(cut -c1-200 "$DP_WORK/probe-$name")"
}
expect_closed()
{
	grep -Eq '"how": "(closed|reset)"' "$DP_WORK/probe-$1" ||
		dp_fail "probe $1: the server did not close the connection: $(cat "$DP_WORK/probe-$1")"
}
probe random 12 --send-random 700
expect_closed random
probe record 12 --send-hex "16030100c8$(head -c 200 /dev/urandom | od -An -tx1 | tr -d ' \n')"
expect_closed record
# The first 60 bytes of a ClientHello whose record announces 512, then silence: only the
# handshake deadline ends it.
probe cut 16 --send-hex "1603010200010001fc0303$(head -c 49 /dev/urandom | od -An -tx1 | tr -d ' \n')"
expect_closed cut
probe http 12 --send-text 'GET / HTTP/1.1\r\nHost: snowflake.test\r\nUser-Agent: test\r\n\r\n'
expect_closed http
python3 - "$DP_WORK/probe-http" <<'PY' || dp_fail "plaintext HTTP: not Go's 400 answer (above)"
import json, sys
r = json.load(open(sys.argv[1]))
want = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
if r["back_text"] != want:
    print(f"got {r['back_text']!r}, want {want!r}")
    sys.exit(1)
PY

dp_alive "$DP_SERVER_PID" || dp_fail "the server died during the bad input"
acme_expect_session_ok after snowflake.test
[ "$(acme_orders)" = "$orders" ] || dp_fail "the bad input made the server place an order"
dp_stop_server
for a in 127.0.0.1 192.0.2.55; do
	if grep -Fn -- "$a" "$log"; then
		dp_fail "the server log shows the address $a unscrubbed (lines above)"
	fi
done
dp_say "handshake errors logged: $(grep -c 'TLS handshake error' "$log")"
dp_pass
