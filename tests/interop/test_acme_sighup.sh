# labels: acme
# timeout: 200
#
# SIGHUP re-reads the certificate cache (docs/deploy.md section 7): while the server serves the
# certificate it obtained, another ACME client's certificate for the same name is written into the
# cache in Go autocert's layout (as another bridge sharing the cache, or a restored backup, would
# leave it). SIGHUP makes the server serve that one for new handshakes, with no order placed and
# no restart, and a wss:// session works over it. A second SIGHUP with nothing new changes nothing.
. "$(dirname "$0")/acme_lib.sh"

acme_setup sighup
acme_pebble_up
dp_start_echo
f=$ACME_CACHE/snowflake.test

# The other client first, while nothing else answers HTTP-01 on pebble's port.
timeout "$(dp_budget 60)" python3 "$ACME_TOOL" issue --env "$ACME_PEBBLE/pebble.env" \
	-d snowflake.test --key ec256 --out "$DP_WORK/other" >"$DP_WORK/other.json" 2>"$DP_WORK/other.err" ||
	dp_fail "acme_tool.py issue failed: $(cat "$DP_WORK/other.json" "$DP_WORK/other.err")"
other=$(openssl x509 -in "$DP_WORK/other/fullchain.pem" -noout -serial | sed -n 's/^serial=//p')

acme_start_server
acme_expect_session_ok first snowflake.test
own=$(acme_served_serial snowflake.test)
if [ -z "$own" ] || [ "$own" = "$other" ]; then
	dp_fail "served serial '$own' (the other client's is $other)"
fi
orders=$(acme_orders)

python3 "$ACME_TOOL" gopem --key "$DP_WORK/other/key.pem" --chain "$DP_WORK/other/fullchain.pem" \
	--out "$f" >/dev/null || dp_fail "cannot write the other client's certificate into the cache"
[ "$(acme_served_serial snowflake.test)" = "$own" ] || dp_fail "the cache was re-read before SIGHUP"

kill -HUP "$DP_SERVER_PID"
dp_wait_line "$DP_SERVER_DIR/server.log" 'acme: certificate cache re-read: 1 certificate replaced$' \
	"$(dp_budget 20)" "$DP_SERVER_PID" || dp_fail "no 'certificate cache re-read' line after SIGHUP"
grep -q 'acme: now serving the cached ECDSA certificate of snowflake.test' "$DP_SERVER_DIR/server.log" ||
	dp_fail "the server did not say which certificate it now serves"
served=$(acme_served_serial snowflake.test)
[ "$served" = "$other" ] || dp_fail "after SIGHUP: served serial '$served', want the cached $other"
acme_expect_session_ok after-sighup snowflake.test
[ "$(acme_orders)" = "$orders" ] || dp_fail "SIGHUP made the server place an order"
dp_say "SIGHUP: serving $other from the cache (was $own), no order"

kill -HUP "$DP_SERVER_PID"
dp_wait_line "$DP_SERVER_DIR/server.log" 'acme: certificate cache re-read: 0 certificates replaced$' \
	"$(dp_budget 20)" "$DP_SERVER_PID" || dp_fail "no second 'certificate cache re-read' line"
[ "$(acme_served_serial snowflake.test)" = "$other" ] || dp_fail "the second SIGHUP changed the certificate"
dp_stop_server
dp_pass
