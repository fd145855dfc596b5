# labels: acme
# timeout: 150
#
# A CA that refuses half of all valid nonces with badNonce (pebble --nonce-reject 50): the server
# retries with the nonce of the error reply (docs/acme.md "Nonces"), so both
# issuances (two names, TLS-ALPN-01) still succeed inside the first handshake of each name, and
# wss:// sessions work. How many POSTs pebble refused is printed (pebble logs every request it
# got, but only the accepted ones have effects: `POST /order-plz` vs `Added order`).
. "$(dirname "$0")/acme_lib.sh"

acme_setup nonce
acme_pebble_up --nonce-reject 50
dp_start_echo
ACME_HOSTNAMES=snowflake.test,b.test
acme_start_server

acme_expect_session_ok first snowflake.test
acme_expect_session_ok second b.test
acme_check_cache snowflake.test b.test
{ [ "$(acme_served_serial snowflake.test)" = "$(acme_cached_serial snowflake.test)" ] &&
	[ "$(acme_served_serial b.test)" = "$(acme_cached_serial b.test)" ]; } ||
	dp_fail "the served certificates are not the cached ones"
added=$(grep -c 'Added order' "$PEBBLE_LOG")
[ "$added" = 2 ] || dp_fail "pebble created $added orders for two names, want 2"
posts=$(grep -c 'POST /' "$PEBBLE_LOG")
order_posts=$(acme_orders)
accounts=$(grep -c 'POST /sign-me-up' "$PEBBLE_LOG")
dp_say "pebble got $posts POSTs for two issuances: newOrder $order_posts for 2 orders," \
	"newAccount $accounts for 1 account (the rest refused with badNonce and retried)"
if grep -q 'acme: obtaining .* failed' "$DP_SERVER_DIR/server.log"; then
	dp_fail "an issuance failed on the way: $(grep 'acme: obtaining' "$DP_SERVER_DIR/server.log")"
fi
dp_stop_server
dp_pass
