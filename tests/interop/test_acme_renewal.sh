# labels: acme
# timeout: 180
#
# Renewal (docs/acme.md "Behaviour") while traffic flows: pebble issues 90 s certificates and the
# server
# runs with --acme-renew-before 60s, so a certificate is due ~30 s after issuance (the server's
# renew jitter is a quarter of a short renew-before: U[0, 15 s), src/certs/certs.c). One wss://
# session pings (4 KiB echoed and verified every 50 ms) for 45 s; meanwhile the certificate served
# for new handshakes changes serial, the cache holds the new one (same private key, chain to
# pebble's root), the server logs the renewal, and the running session never notices (one
# WebSocket dial, no reconnect, every echo verified). A new session afterwards works.
. "$(dirname "$0")/acme_lib.sh"

acme_setup renewal
acme_pebble_up --validity 90
dp_start_echo
ACME_ARGS=(--acme-renew-before 60s)
acme_start_server

# The long session starts first: its ClientHello triggers the first issuance.
DP_URL="wss://snowflake.test:$ACME_PORT/"
DP_CLIENT_JSON=$DP_WORK/client-long.json
DP_CLIENT_ERR=$DP_WORK/client-long.err
dp_say "sfpeer client (background) --ping-interval 50ms --ping-size 4096 --duration 45s"
"$SFPEER" client --url "$DP_URL" --connect "127.0.0.1:$ACME_PORT" --ca "$PEBBLE_ROOT_FILE" --json \
	--ping-interval 50ms --ping-size 4096 --duration 45s --timeout "$(dp_budget 80)s" \
	>"$DP_CLIENT_JSON" 2>"$DP_CLIENT_ERR" &
client_pid=$!
DP_PIDS+=("$client_pid")

end=$((SECONDS + $(dp_budget 20)))
until [ -s "$ACME_CACHE/snowflake.test" ] || [ "$SECONDS" -ge "$end" ]; do
	sleep 0.2
done
first=$(acme_cached_serial snowflake.test)
[ -n "$first" ] || dp_fail "no certificate in the cache 20 s after the first ClientHello"
acme_check_cache snowflake.test
first_key=$(openssl x509 -in "$ACME_CACHE/snowflake.test" -noout -pubkey)
dp_say "first certificate $first: $(openssl x509 -in "$ACME_CACHE/snowflake.test" -noout -dates | tr '\n' ' ')"
served=$(acme_served_serial snowflake.test)
[ "$served" = "$first" ] || dp_fail "served serial '$served', want the first certificate $first"

# Due at notAfter - 60 s - U[0, 15 s), i.e. 14..29 s after issuance.
end=$((SECONDS + $(dp_budget 45)))
while [ "$SECONDS" -lt "$end" ]; do
	served=$(acme_served_serial snowflake.test)
	[ -n "$served" ] && [ "$served" != "$first" ] && break
	dp_alive "$client_pid" || break
	sleep 1
done
{ [ -n "$served" ] && [ "$served" != "$first" ]; } ||
	dp_fail "the served certificate is still '$served' (first $first) about 45 s after issuance"
dp_say "renewed: new handshakes get serial $served (was $first), $(acme_orders) orders so far"
dp_alive "$client_pid" || dp_fail "the long session ended before the renewal could be seen"
[ "$(acme_orders)" -ge 2 ] || dp_fail "renewed without a new order?"
grep -q 'acme: renewed the ECDSA certificate of snowflake.test' "$DP_SERVER_DIR/server.log" ||
	dp_fail "the server did not log the renewal"
now=$(acme_cached_serial snowflake.test)
[ "$now" != "$first" ] || dp_fail "the cache still holds the first certificate"
acme_check_cache snowflake.test
[ "$(openssl x509 -in "$ACME_CACHE/snowflake.test" -noout -pubkey)" = "$first_key" ] ||
	dp_fail "the renewed certificate has a new key (autocert renews with the same key)"

# The session that spans the renewal.
wait "$client_pid"
DP_CLIENT_RC=$?
dp_say "$(tail -n 1 "$DP_CLIENT_ERR") (exit status $DP_CLIENT_RC)"
dp_expect_client_ok 1 1
dp_check "$DP_CLIENT_JSON" "j['ws_dials'] == 1" "j['reconnects'] == 0" "j['latency_ms']['count'] > 100" ||
	dp_fail "the long session was interrupted"

acme_expect_session_ok after snowflake.test
dp_stop_server
dp_pass
