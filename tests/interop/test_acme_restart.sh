# labels: acme
# timeout: 200
#
# Restart with the certificate cache (docs/acme.md "Behaviour"): the server obtains a certificate,
# stops (SIGTERM, status 0) and starts again on the same state dir; then it places no new order
# (pebble's count of `POST /order-plz` is unchanged), serves the cached certificate and a wss://
# session works at once. The same after the cache entry is rewritten from its parts exactly as Go's
# autocert writes it (an "EC PRIVATE KEY" SEC1 block, then the chain, base64 in 64 columns), and
# with entries the server never wrote: an ECDSA certificate and an RSA one ("<name>+rsa") obtained
# by another ACME client (acme_tool.py issue) and stored in autocert's layout. The RSA entry
# is served to a ClientHello without ECDSA suites (docs/tls.md "Certificate selection").
. "$(dirname "$0")/acme_lib.sh"

acme_setup restart
acme_pebble_up
dp_start_echo
f=$ACME_CACHE/snowflake.test

# expect_restart_serves RUN SERIAL — restart, no new order, SERIAL served, a session works.
expect_restart_serves()
{
	local run=$1 serial=$2 orders served
	orders=$(acme_orders)
	acme_start_server
	served=$(acme_served_serial snowflake.test)
	[ "$served" = "$serial" ] || dp_fail "$run: served serial '$served', want the cached $serial"
	acme_expect_session_ok "$run" snowflake.test
	[ "$(acme_orders)" = "$orders" ] ||
		dp_fail "$run: the restarted server placed $(($(acme_orders) - orders)) order(s) despite its cache"
	grep -q 'acme: using the cached ECDSA certificate of snowflake.test' "$DP_SERVER_DIR/server.log" ||
		dp_fail "$run: the server did not log that it uses the cached certificate"
	dp_stop_server
	dp_say "$run: cached certificate $serial served, no new order"
}

# 1. First run: one issuance.
acme_start_server
acme_expect_session_ok first snowflake.test
[ "$(acme_orders)" = 1 ] || dp_fail "first run: $(acme_orders) orders, want 1"
acme_check_cache snowflake.test
serial=$(acme_cached_serial snowflake.test)
dp_stop_server

# 2. Restart on the cache as the server wrote it.
expect_restart_serves restart "$serial"

# 3. The entry rebuilt from its parts in Go's exact layout.
openssl pkey -in "$f" -out "$DP_WORK/parts.key" 2>/dev/null || dp_fail "cannot extract the key"
openssl crl2pkcs7 -nocrl -certfile "$f" | openssl pkcs7 -print_certs -out "$DP_WORK/parts.chain" ||
	dp_fail "cannot extract the chain"
cp "$f" "$DP_WORK/server-written"
python3 "$ACME_TOOL" gopem --key "$DP_WORK/parts.key" --chain "$DP_WORK/parts.chain" --out "$f" >/dev/null ||
	dp_fail "cannot write the Go layout"
if cmp -s "$f" "$DP_WORK/server-written"; then
	dp_say "the server's own entry was byte-identical to Go's layout"
else
	dp_say "the server's own entry differs from Go's layout of the same parts (see acme_check_cache)"
fi
expect_restart_serves go-layout "$serial"

# 4. Entries written by "another autocert": certificates from another ACME client (the server is
# stopped, so acme_tool.py can answer HTTP-01 itself on pebble's port), stored in Go's layout.
# other_client DIR KEY — a certificate for snowflake.test, new KEY (ec256|rsa2048), in $DP_WORK/DIR.
other_client()
{
	timeout "$(dp_budget 60)" python3 "$ACME_TOOL" issue --env "$ACME_PEBBLE/pebble.env" \
		-d snowflake.test --key "$2" --out "$DP_WORK/$1" \
		>"$DP_WORK/$1.json" 2>"$DP_WORK/$1.err" ||
		dp_fail "acme_tool.py issue failed: $(cat "$DP_WORK/$1.json" "$DP_WORK/$1.err")"
}
other_client other-ec ec256
other_client other-rsa rsa2048
python3 "$ACME_TOOL" gopem --key "$DP_WORK/other-ec/key.pem" --chain "$DP_WORK/other-ec/fullchain.pem" \
	--out "$f" >/dev/null || dp_fail "cannot write the foreign EC entry"
python3 "$ACME_TOOL" gopem --key "$DP_WORK/other-rsa/key.pem" --chain "$DP_WORK/other-rsa/fullchain.pem" \
	--out "$f+rsa" >/dev/null || dp_fail "cannot write the foreign RSA entry"
head -n 1 "$f+rsa" | grep -Fxq -- '-----BEGIN RSA PRIVATE KEY-----' || dp_fail "the +rsa entry is not PKCS#1"
other_ec=$(acme_cached_serial snowflake.test)
other_rsa=$(openssl x509 -in "$f+rsa" -noout -serial | sed -n 's/^serial=//p')
[ "$other_ec" != "$serial" ] || dp_fail "acme_tool.py's certificate has the server's serial?"
acme_check_cache snowflake.test
expect_restart_serves foreign "$other_ec"

# The RSA entry, for a TLS 1.2 ClientHello offering only ECDHE-RSA suites and RSA signatures.
orders=$(acme_orders)
acme_start_server
rsa_served=$(timeout 15 openssl s_client -connect "127.0.0.1:$ACME_PORT" -servername snowflake.test \
	-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -sigalgs RSA+SHA256 -CAfile "$PEBBLE_ROOT_FILE" \
	-verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -serial | sed -n 's/^serial=//p')
[ "$rsa_served" = "$other_rsa" ] || dp_fail "RSA-only hello: served serial '$rsa_served', want $other_rsa"
[ "$(acme_served_serial snowflake.test)" = "$other_ec" ] || dp_fail "the ECDSA entry is no longer served"
acme_expect_session_ok after-rsa snowflake.test
[ "$(acme_orders)" = "$orders" ] || dp_fail "the RSA hello made the server place an order"
grep -q 'acme: using the cached RSA certificate of snowflake.test' "$DP_SERVER_DIR/server.log" ||
	dp_fail "the server did not log that it uses the cached RSA certificate"
dp_say "RSA-only hello got the cached +rsa certificate $other_rsa, no order"
dp_stop_server
dp_pass
