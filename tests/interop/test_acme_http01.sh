# labels: acme
# timeout: 180
#
# Issuance by HTTP-01 (docs/acme.md "Behaviour"): the server's TLS listener is NOT on the port
# pebble's VA dials for tls-alpn-01, so tls-alpn-01 fails (connection refused) and the server starts
# a second order with http-01, as autocert does; pebble fetches the token from the server's HTTP-01
# listener (its log shows the requests). Then as for TLS-ALPN-01: cache 0700/0600 in autocert's
# layout, chain to pebble's root, the cached certificate served, a 1 MB wss:// session, no token
# left in the cache. Also: the SMETHOD line lists both --acme-hostnames entries. (The listener's
# other answers: test_acme_http_listener.sh.)
. "$(dirname "$0")/acme_lib.sh"

acme_setup http01
acme_pebble_up
dp_start_echo
ACME_HOSTNAMES=a.test,b.test
acme_start_server "$(dp_free_port)" # also checks ARGS:hostname=a.test,hostname=b.test,tls=yes
[ "$ACME_PORT" != "$PEBBLE_TLS_PORT" ] || dp_fail "picked pebble's tls-alpn-01 port"

acme_expect_session_ok first a.test
[ "$(acme_orders)" = 2 ] ||
	dp_fail "pebble saw $(acme_orders) orders, want 2 (tls-alpn-01 fails, then a new order for http-01)"
grep -q "Attempting to validate w/ HTTP: http://a.test:$PEBBLE_HTTP_PORT/.well-known/acme-challenge/" \
	"$PEBBLE_LOG" || dp_fail "pebble's log shows no HTTP-01 validation request"
grep -q 'set INVALID by invalid authz' "$PEBBLE_LOG" || dp_fail "pebble's log shows no failed first order"
authz=$(acme_authz) || exit 1
dp_say "authorizations:"$'\n'"$authz"
[ "$(echo "$authz" | wc -l)" = 2 ] || dp_fail "want two validated authorizations (one failed, one valid)"
echo "$authz" | sed -n 1p | grep -Eq '^[^ ]+ a\.test invalid (.*,)?tls-alpn-01=invalid(,|$)' ||
	dp_fail "the first authorization should have failed by tls-alpn-01"
echo "$authz" | sed -n 2p | grep -Eq '^[^ ]+ a\.test valid (.*,)?http-01=valid(,|$)' ||
	dp_fail "the second authorization should be valid by http-01"
acme_check_cache a.test
[ "$(acme_served_serial a.test)" = "$(acme_cached_serial a.test)" ] ||
	dp_fail "the certificate served for a.test is not the cached one"
for t in "$ACME_CACHE"/*+http-01; do
	[ -e "$t" ] && dp_fail "a finished HTTP-01 token is left in the cache: $t"
done

acme_expect_session_ok again a.test
[ "$(acme_orders)" = 2 ] || dp_fail "a session with a certificate in memory placed an order"
dp_stop_server
dp_pass
