# labels: acme
# timeout: 180
#
# The TLS and ACME metrics (docs/metrics.md) of a server in TLS mode with --metrics-addr, its
# certificates from a local pebble: before any ClientHello no attempt and no certificate; after
# a wss:// session one successful attempt and the expiry of the ECDSA certificate equal to the
# cached certificate's NotAfter; a plaintext HTTP request on the TLS port and a ClientHello for a
# name not in --acme-hostnames counted under their reasons; every page passes promtool.
. "$(dirname "$0")/acme_lib.sh"

TOOL="python3 $(dirname "$0")/metrics_tool.py"

acme_setup metrics
command -v promtool >/dev/null || dp_fail "promtool is needed (Debian package prometheus)"
acme_pebble_up
dp_start_echo
MPORT=$(dp_free_port)
METRICS="http://127.0.0.1:$MPORT/metrics"
ACME_ARGS=(--metrics-addr "127.0.0.1:$MPORT")
acme_start_server

scrape()
{
	$TOOL scrape "$METRICS" "$DP_WORK/$1.prom" || dp_fail "scrape $1 failed"
	promtool check metrics <"$DP_WORK/$1.prom" || dp_fail "promtool rejects scrape $1"
}
val() { local f=$DP_WORK/$1.prom; shift; $TOOL sum "$f" "$@"; }
expect() { [ "$2" = "$3" ] || dp_fail "$1: got $2, want $3"; dp_say "$1 = $2"; }

scrape start
expect "ACME successes before any ClientHello" "$(val start snowflake_acme_attempts_total result=success)" 0
expect "certificates before any ClientHello" \
	"$(val start snowflake_acme_certificate_expiry_timestamp_seconds)" none
expect "TLS failures at start" "$(val start snowflake_tls_handshake_failures_total)" 0

acme_expect_session_ok first snowflake.test
scrape issued
expect "ACME successes" "$(val issued snowflake_acme_attempts_total result=success)" 1
expect "ACME failures" "$(val issued snowflake_acme_attempts_total result=failure)" 0
expect "last attempt of snowflake.test" \
	"$(val issued snowflake_acme_last_attempt_success hostname=snowflake.test key_type=ecdsa)" 1
not_after=$(openssl x509 -in "$ACME_CACHE/snowflake.test" -noout -enddate | sed 's/^notAfter=//')
want=$(date -u -d "$not_after" +%s) || dp_fail "cannot parse the cached certificate's NotAfter"
expect "expiry of snowflake.test (ecdsa)" \
	"$(val issued snowflake_acme_certificate_expiry_timestamp_seconds hostname=snowflake.test key_type=ecdsa)" \
	"$want"

# Failed handshakes, by reason.
before_http=$(val issued snowflake_tls_handshake_failures_total reason=plaintext_http)
printf 'GET / HTTP/1.1\r\nHost: snowflake.test\r\n\r\n' |
	timeout 10 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.stdin.buffer.read())
print(s.recv(200).split(b"\r\n")[0].decode())' "$ACME_PORT" >"$DP_WORK/http.out" 2>&1
grep -q "400 Bad Request" "$DP_WORK/http.out" || dp_fail "plaintext HTTP on the TLS port: $(cat "$DP_WORK/http.out")"
timeout 15 openssl s_client -connect "127.0.0.1:$ACME_PORT" -servername evil.test </dev/null >/dev/null 2>&1
end=$((SECONDS + $(dp_budget 10)))
while :; do
	scrape failures
	http=$(val failures snowflake_tls_handshake_failures_total reason=plaintext_http)
	nocert=$(val failures snowflake_tls_handshake_failures_total reason=no_certificate)
	[ "$http" = $((before_http + 1)) ] && [ "$nocert" -ge 1 ] && break
	[ "$SECONDS" -lt "$end" ] || dp_fail "TLS failures: plaintext_http $http (want $((before_http + 1))), no_certificate $nocert (want >= 1)"
	sleep 0.2
done
dp_say "TLS failures: plaintext_http $http, no_certificate $nocert"
expect "ACME attempts after the refused name" \
	"$(val failures snowflake_acme_attempts_total)" 1
grep -q "evil" "$DP_WORK/failures.prom" && dp_fail "a name the client chose appears in the metrics"
dp_stop_server
dp_pass
