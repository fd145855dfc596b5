# labels: dataplane
# timeout: 180
#
# The ExtORPort auth cookie is read once (docs/tor.md, "Cookie"), with the single ExtORPort tor
# gives (TOR_PT_EXTENDED_SERVER_PORT + TOR_PT_AUTH_COOKIE_FILE), one shard:
#  1. An unreadable cookie file fails start-up at once: SMETHOD-ERROR with the reason.
#  2. Streams work; rewriting the cookie file with garbage changes nothing (no read per dial).
#  3. tor "restarts" on the same port with a new cookie: the first stream's handshake fails
#     authentication, the file is re-read, that stream is redialed and works: exactly one failed
#     handshake, no failed stream, and every later stream uses the new cookie.
. "$(dirname "$0")/lib.sh"

dp_setup extor_cookie
dp_start_extor

# 1. Start-up with a cookie file that is not there.
port=$(dp_free_port)
DP_SERVER_DIR=$DP_WORK/server-badcookie
mkdir -p "$DP_SERVER_DIR/state"
dp_spawn_server "$port" "TOR_PT_AUTH_COOKIE_FILE=$DP_WORK/no-such-cookie"
dp_wait_line "$DP_SERVER_DIR/stdout" '^SMETHODS DONE$' "$(dp_budget 10)" "$DP_SERVER_PID" ||
	dp_fail "no SMETHODS DONE with a missing cookie file"
grep -Fq "SMETHOD-ERROR snowflake error reading TOR_PT_AUTH_COOKIE_FILE \"$DP_WORK/no-such-cookie\": open $DP_WORK/no-such-cookie: no such file or directory" \
	"$DP_SERVER_DIR/stdout" || dp_fail "a missing cookie file should be an SMETHOD-ERROR naming it"
grep -q "^SMETHOD snowflake " "$DP_SERVER_DIR/stdout" && dp_fail "SMETHOD despite the missing cookie file"
dp_stop "$DP_SERVER_PID" 5
dp_say "missing cookie file: SMETHOD-ERROR at start"

# ... the same for an extorport option, and for one without its cookie file.
for case in "missing:$DP_WORK/no-cookie-2" "bad:"; do
	port=$(dp_free_port)
	DP_SERVER_DIR=$DP_WORK/server-${case%%:*}
	mkdir -p "$DP_SERVER_DIR/state"
	if [ "${case%%:*}" = missing ]; then
		opt="snowflake:extorport=${DP_EXTOR_ADDR//:/\\:},${case#*:}"
		want="SMETHOD-ERROR snowflake error reading TOR_PT_AUTH_COOKIE_FILE \"${case#*:}\": open ${case#*:}: no such file or directory"
	else
		opt="snowflake:extorport=${DP_EXTOR_ADDR//:/\\:}"
		want="SMETHOD-ERROR snowflake parsing extorport: \"$DP_EXTOR_ADDR\": want ADDR,COOKIEFILE"
	fi
	dp_spawn_server "$port" "TOR_PT_SERVER_TRANSPORT_OPTIONS=$opt"
	dp_wait_line "$DP_SERVER_DIR/stdout" '^SMETHODS DONE$' "$(dp_budget 10)" "$DP_SERVER_PID" ||
		dp_fail "no SMETHODS DONE with extorport case ${case%%:*}"
	grep -Fxq "$want" "$DP_SERVER_DIR/stdout" || dp_fail "expected: $want"
	dp_stop "$DP_SERVER_PID" 5
done
dp_say "extorport option errors: SMETHOD-ERROR at start"

dp_start_server "TOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:num-turbotunnel=1"
LOG=$DP_SERVER_DIR/server.log
STREAMS=4
BYTES=$(dp_scale 100000 10000)

# ok_lines / bad_lines — extor connections of the current run with/without a good handshake.
ok_lines() { grep '"event":"extor_conn"' "$DP_EXTOR_OUT" | grep -c '"auth":"ok"'; }
bad_lines() { grep '"event":"extor_conn"' "$DP_EXTOR_OUT" | grep -vc '"auth":"ok"'; }

# 2. The file changes under a running server: nothing reads it.
dp_client first --sessions 1 --streams "$STREAMS" --bytes "$BYTES"
dp_expect_client_ok 1 "$STREAMS" "$BYTES"
cp "$DP_EXTOR_COOKIE" "$DP_WORK/cookie.saved"
head -c 64 /dev/zero >"$DP_EXTOR_COOKIE"
dp_client garbage-file --sessions 1 --streams "$STREAMS" --bytes "$BYTES"
dp_expect_client_ok 1 "$STREAMS" "$BYTES"
[ "$(ok_lines)" = $((2 * STREAMS)) ] && [ "$(bad_lines)" = 0 ] ||
	dp_fail "expected $((2 * STREAMS)) good handshakes and no bad one"
cp "$DP_WORK/cookie.saved" "$DP_EXTOR_COOKIE"

# 3. tor restarts on the same port and writes a new cookie.
old_addr=$DP_EXTOR_ADDR
dp_stop "$DP_EXTOR_PID" 5
dp_start_extor --listen "$old_addr"
[ "$DP_EXTOR_ADDR" = "$old_addr" ] || dp_fail "extor came back on $DP_EXTOR_ADDR, not $old_addr"
cmp -s "$DP_WORK/cookie.saved" "$DP_EXTOR_COOKIE" && dp_fail "the restarted extor kept the cookie"
# The cookie is re-read at most once a second: let a second pass since start-up (a lower
# bound, so a slow machine only makes it safer).
sleep 1.2
dp_client one-stream --sessions 1 --streams 1 --bytes "$BYTES"
dp_expect_client_ok 1 1 "$BYTES"
[ "$(bad_lines)" = 1 ] || dp_fail "expected exactly 1 failed handshake, saw $(bad_lines)"
[ "$(ok_lines)" = 1 ] || dp_fail "expected the stream's redial to succeed, saw $(ok_lines)"
grep -q "ExtORPort 0: authentication failed; its auth cookie file has a new cookie" "$LOG" ||
	dp_fail "the cookie change is not in the log"
dp_client after --sessions 1 --streams "$STREAMS" --bytes "$BYTES"
dp_expect_client_ok 1 "$STREAMS" "$BYTES"
[ "$(bad_lines)" = 1 ] && [ "$(ok_lines)" = $((1 + STREAMS)) ] ||
	dp_fail "later streams should all use the new cookie: $(ok_lines) good, $(bad_lines) bad"

dp_stop_server
dp_pass
