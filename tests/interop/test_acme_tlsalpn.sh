# labels: acme
# timeout: 180
#
# Issuance by TLS-ALPN-01 (docs/acme.md "Behaviour", docs/tls.md "Certificates and the challenge
# registry"): the server's TLS listener is on the port
# pebble's VA dials for tls-alpn-01. Nothing is ordered before the first ClientHello; the first
# wss:// session for snowflake.test waits for the issuance and then carries 1 MB; pebble saw one
# order whose authorization was validated by tls-alpn-01 (read back from pebble's ACME API; pebble
# made no HTTP-01 request); the cache is 0700/0600 in autocert's layout with a chain to pebble's
# root; the certificate served is the cached one. The second name of --acme-hostnames gets its own
# order and cache entry the same way (one certificate per name, as autocert).
. "$(dirname "$0")/acme_lib.sh"

acme_setup tlsalpn
acme_pebble_up
dp_start_echo
ACME_HOSTNAMES=snowflake.test,b.test
acme_start_server
[ "$(acme_orders)" = 0 ] || dp_fail "the server placed an order before any ClientHello"

acme_expect_session_ok first snowflake.test
[ "$(acme_orders)" = 1 ] || dp_fail "pebble saw $(acme_orders) orders for one name, want 1"
acme_check_cache snowflake.test
[ ! -e "$ACME_CACHE/b.test" ] || dp_fail "b.test was issued without any ClientHello for it"
if grep -n 'Attempting to validate w/ HTTP' "$PEBBLE_LOG"; then
	dp_fail "pebble made HTTP-01 requests (above): tls-alpn-01 should have succeeded"
fi
authz=$(acme_authz) || exit 1
dp_say "authorizations: $authz"
[ "$(echo "$authz" | wc -l)" = 1 ] || dp_fail "want exactly one validated authorization"
echo "$authz" | grep -Eq '^[^ ]+ snowflake\.test valid (.*,)?tls-alpn-01=valid(,|$)' ||
	dp_fail "the authorization of snowflake.test was not validated by tls-alpn-01"

served=$(acme_served_serial snowflake.test)
cached=$(acme_cached_serial snowflake.test)
{ [ -n "$served" ] && [ "$served" = "$cached" ]; } ||
	dp_fail "served certificate serial '$served' is not the cached one '$cached'"
dp_say "served serial $served = cached"

acme_expect_session_ok second b.test
[ "$(acme_orders)" = 2 ] || dp_fail "pebble saw $(acme_orders) orders for two names, want 2"
acme_check_cache snowflake.test b.test
authz=$(acme_authz) || exit 1
[ "$(echo "$authz" | grep -Ec ' (snowflake|b)\.test valid (.*,)?tls-alpn-01=valid(,|$)')" = 2 ] ||
	dp_fail "both authorizations should be valid by tls-alpn-01: $authz"
[ "$(acme_served_serial b.test)" = "$(acme_cached_serial b.test)" ] ||
	dp_fail "the certificate served for b.test is not its cached one"

# One more session on the certificate now in memory: no new order.
acme_expect_session_ok third snowflake.test
[ "$(acme_orders)" = 2 ] || dp_fail "a session with a certificate in memory placed an order"
grep -q 'acme: obtained the ECDSA certificate of snowflake.test' "$DP_SERVER_DIR/server.log" ||
	dp_fail "the server did not log the issuance for snowflake.test"
dp_stop_server
dp_pass
