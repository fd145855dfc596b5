# labels: sandbox
# timeout: 200
#
# ACME with the sandbox on (docs/security.md "Sandbox"): started as root with --user nobody and
# --seccomp, the server obtains its certificate from pebble (account key and certificate written
# into the cache by nobody, libcurl's connections and lookups within the allow-list), serves a
# wss:// session over it, and re-reads the cache on SIGHUP. The state directory belongs to
# nobody, as docs/deploy.md asks. A sanitizer build refuses --seccomp: --user alone there.
. "$(dirname "$0")/acme_lib.sh"

acme_setup sandbox_acme
[ "$(id -u)" = 0 ] || dp_fail "this test starts the server as root (tests run as root here)"
nobody_uid=$(id -u nobody) || dp_fail "no user nobody"
sandbox=(--user nobody --seccomp)
dp_sanitizer_build && sandbox=(--user nobody)
chmod 711 "$DP_WORK"
chown nobody "$ACME_STATE"
acme_pebble_up
dp_start_echo
ACME_ARGS=("${sandbox[@]}")
acme_start_server
dp_wait_line "$DP_SERVER_DIR/server.log" 'running as user nobody$' 5 "$DP_SERVER_PID" ||
	dp_fail "no 'running as user nobody' line"
for status in /proc/"$DP_SERVER_PID"/task/*/status; do
	grep -qxP "Uid:\t$nobody_uid\t$nobody_uid\t$nobody_uid\t$nobody_uid" "$status" ||
		dp_fail "$status: $(grep Uid: "$status")"
	if [ "${#sandbox[@]}" = 3 ]; then
		grep -qxP "Seccomp:\t2" "$status" || dp_fail "$status: $(grep Seccomp: "$status")"
	fi
done

acme_expect_session_ok first snowflake.test
[ -n "$(acme_served_serial snowflake.test)" ] || dp_fail "no certificate served for snowflake.test"
[ -f "$ACME_CACHE/snowflake.test" ] || dp_fail "no certificate in the cache: $(ls -la "$ACME_CACHE" 2>&1)"
owners=$(stat -c %u "$ACME_CACHE" "$ACME_CACHE"/* | sort -u)
[ "$owners" = "$nobody_uid" ] || dp_fail "cache files not all nobody's: $(ls -ln "$ACME_CACHE")"
dp_say "certificate obtained and cached by nobody (${sandbox[*]})"

kill -HUP "$DP_SERVER_PID"
dp_wait_line "$DP_SERVER_DIR/server.log" 'acme: certificate cache re-read: 0 certificates replaced$' \
	"$(dp_budget 20)" "$DP_SERVER_PID" || dp_fail "no 'certificate cache re-read' line after SIGHUP"
acme_expect_session_ok after-hup snowflake.test
dp_stop_server
dp_pass
