# labels: acme
# timeout: 240
#
# The CA is down when the server starts (docs/acme.md "Failures"): with
# --acme-hostnames snowflake.test,b.test, the server first obtains snowflake.test and stops;
# pebble is stopped (its directory URL refuses connections) and the server started again on the
# same cache. It serves the cached snowflake.test at once (wss:// session verified against the
# root that issued it) without the CA; b.test, never issued, fails its handshake, the failure is
# logged and remembered (a second handshake within the minute fails without a new attempt), and
# snowflake.test keeps working. Then the CA comes back (`up --same-ports`: same URL, new
# state, new issuing root); once the failure memory (1 min) has passed, a handshake for b.test
# starts a new attempt, which registers the account again and gets the certificate.
. "$(dirname "$0")/acme_lib.sh"

acme_setup ca_down
acme_pebble_up
dp_start_echo
ACME_HOSTNAMES=snowflake.test,b.test
acme_start_server
acme_expect_session_ok first snowflake.test
acme_check_cache snowflake.test
serial=$(acme_cached_serial snowflake.test)
dp_stop_server

cp "$PEBBLE_ROOT_FILE" "$DP_WORK/root-1.pem"
acme_pebble_down
if curl -sS --max-time 5 --cacert "$PEBBLE_CA_FILE" -o /dev/null "$PEBBLE_DIRECTORY_URL" 2>/dev/null; then
	dp_fail "the directory URL still answers after pebble is down"
fi
PEBBLE_ROOT_FILE=$DP_WORK/root-1.pem # what signed the cached certificate

acme_start_server
log=$DP_SERVER_DIR/server.log
grep -q 'acme: using the cached ECDSA certificate of snowflake.test' "$log" ||
	dp_fail "the server did not load the cached certificate"
[ "$(acme_served_serial snowflake.test)" = "$serial" ] || dp_fail "the cached certificate is not served"
acme_expect_session_ok ca-down snowflake.test

# b.test needs the CA: its first handshake fails once the attempt has failed.
b_fails()
{
	local out
	out=$(timeout 20 openssl s_client -connect "127.0.0.1:$ACME_PORT" -servername b.test </dev/null 2>&1)
	if echo "$out" | grep -q 'BEGIN CERTIFICATE\|^Server certificate'; then
		dp_fail "b.test: a handshake succeeded while the CA is down"
	fi
}
b_fails
failed_at=$SECONDS
dp_wait_line "$log" 'acme: obtaining a ECDSA certificate for b\.test failed' 10 ||
	dp_wait_line "$log" 'acme: obtaining an ECDSA certificate for b\.test failed' 1 ||
	dp_fail "the failed issuance for b.test is not logged"
dp_wait_line "$log" 'http: TLS handshake error from \[scrubbed\]: .*b\.test' 5 ||
	dp_fail "the failed handshake for b.test is not logged"
dp_say "b.test while the CA is down: $(grep -m1 'for b.test failed' "$log" | cut -c21-)"
attempts=$(grep -c 'certificate for b\.test failed' "$log")
b_fails
sleep 1
[ "$(grep -c 'certificate for b\.test failed' "$log")" = "$attempts" ] ||
	dp_fail "a second handshake within the failure memory started a new attempt"
acme_expect_session_ok still-up snowflake.test
dp_alive "$DP_SERVER_PID" || dp_fail "the server died while the CA was down"

# The CA comes back: same URL, new state, new issuing root.
acme_pebble_up --same-ports
dp_say "CA back; waiting for b.test (failure memory: 1 min after $((SECONDS - failed_at)) s)"
end=$((SECONDS + $(dp_budget 100)))
got=""
while [ "$SECONDS" -lt "$end" ]; do
	got=$(acme_served_serial b.test)
	[ -n "$got" ] && break
	sleep 2
done
[ -n "$got" ] || dp_fail "no certificate for b.test within 100 s of the CA's return"
dp_say "b.test issued $((SECONDS - failed_at)) s after the first failure (serial $got)"
[ "$((SECONDS - failed_at))" -ge 55 ] ||
	dp_fail "b.test was retried before the failure memory ran out"
grep -q 'acme: obtained the ECDSA certificate of b.test' "$log" || dp_fail "the issuance of b.test is not logged"
acme_check_cache b.test
acme_expect_session_ok b-after b.test
# snowflake.test keeps its certificate from the first CA.
PEBBLE_ROOT_FILE=$DP_WORK/root-1.pem
[ "$(acme_served_serial snowflake.test)" = "$serial" ] || dp_fail "snowflake.test's certificate changed"
acme_expect_session_ok end snowflake.test
dp_stop_server
# One attempt while the CA was down; the handshakes polled during the failure memory made none.
[ "$(grep -c 'certificate for b\.test failed' "$log")" = 1 ] ||
	dp_fail "want exactly one failed attempt for b.test: $(grep 'for b.test failed' "$log")"
dp_pass
