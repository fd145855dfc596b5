# labels: cli
# timeout: 120
#
# logrotate's "move the file, then SIGHUP" (dist/snowflake-server.logrotate, docs/deploy.md):
# after the signal the server writes to a fresh file at the --log path (mode 0600), writes
# nothing more to the moved file, and keeps serving sessions. Then the same through logrotate
# itself, with the shipped rules (only the path, the user and the reload command replaced). A failed reopen (a directory in
# the way of the path: fails for root too) keeps the old file in use and the server running.
. "$(dirname "$0")/lib.sh"

dp_setup log_reopen
dp_start_echo
dp_start_server
log=$DP_SERVER_DIR/server.log
dp_wait_line "$log" 'listening with plain HTTP on ' 5 "$DP_SERVER_PID" || dp_fail "no start-up lines in $log"

dp_client before --sessions 2 --streams 2 --bytes 100000
dp_expect_client_ok 2 2 100000

mv "$log" "$log.moved"
kill -HUP "$DP_SERVER_PID"
dp_wait_line "$log" 'caught signal "hangup": reopened log file$' "$(dp_budget 10)" "$DP_SERVER_PID" ||
	dp_fail "no 'reopened log file' line in a new $log after SIGHUP"
[ "$(stat -c %a "$log")" = 600 ] || dp_fail "the reopened log file has mode $(stat -c %a "$log"), not 600"
grep -q 'hangup' "$log.moved" && dp_fail "the SIGHUP line went to the moved file"
moved_lines=$(wc -l <"$log.moved")
dp_say "SIGHUP: new $log, the moved file stays at $moved_lines lines"

# Still serving, and the lines about it land in the new file: the statistics line (SIGUSR1)
# counts the streams handed to the ORPort since the last one (none was logged before).
dp_client after --sessions 2 --streams 2 --bytes 100000
dp_expect_client_ok 2 2 100000
kill -USR1 "$DP_SERVER_PID"
dp_wait_line "$log" 'connections had client_ip$' "$(dp_budget 10)" "$DP_SERVER_PID" ||
	dp_fail "no statistics line in the new file after SIGUSR1"
grep -Eq 'in the past [0-9]+ s, [0-9]+/8 connections had client_ip$' "$log" ||
	dp_fail "statistics line: $(grep client_ip "$log")"

# logrotate with dist/snowflake-server.logrotate: rotates server.log to server.log.1 (not
# compressed yet: delaycompress), creates nothing (nocreate), then the reload (here kill -HUP).
command -v logrotate >/dev/null || dp_fail "logrotate is missing (Debian package logrotate)"
conf=$DP_WORK/logrotate.conf
sed -e "s#^/var/log/snowflake-server/\*\.log {#$log {#" -e "s/^\tsu .*/\tsu $(id -un) $(id -gn)/" \
	-e "s#systemctl reload snowflake-server.service#kill -HUP $DP_SERVER_PID#" \
	"$SF_SOURCE_DIR/dist/snowflake-server.logrotate" >"$conf"
grep -q "^$log {" "$conf" && grep -q "kill -HUP $DP_SERVER_PID" "$conf" ||
	dp_fail "cannot adapt dist/snowflake-server.logrotate: $(cat "$conf")"
before=$(grep -c 'reopened log file' "$log")
logrotate -f -s "$DP_WORK/logrotate.state" "$conf" >"$DP_WORK/logrotate.out" 2>&1 ||
	dp_fail "logrotate failed: $(cat "$DP_WORK/logrotate.out")"
[ -s "$log.1" ] || dp_fail "logrotate did not rotate $log to $log.1: $(ls "$DP_SERVER_DIR")"
[ "$(grep -c 'reopened log file' "$log.1")" = "$before" ] || dp_fail "reopen line in the rotated file"
dp_wait_line "$log" 'caught signal "hangup": reopened log file$' "$(dp_budget 10)" "$DP_SERVER_PID" ||
	dp_fail "no 'reopened log file' line in a new $log after logrotate"
dp_client rotated --sessions 1 --streams 1 --bytes 100000
dp_expect_client_ok 1 1 100000
dp_say "logrotate with the shipped rules: $log.1 rotated, new $log, still serving"

# A directory where the log file was: the reopen fails, the old descriptor stays in use.
tmp_dir=$DP_WORK/moved
mkdir "$tmp_dir"
mv "$log" "$tmp_dir/server.log"
mkdir "$log"
kill -HUP "$DP_SERVER_PID"
dp_wait_line "$tmp_dir/server.log" "can't reopen log file: open .*; still logging to the old file$" \
	"$(dp_budget 10)" "$DP_SERVER_PID" || dp_fail "a failed reopen was not logged to the old file"
rmdir "$log" 2>/dev/null
dp_client last --sessions 1 --streams 1 --bytes 100000
dp_expect_client_ok 1 1 100000

dp_stop_server
grep -q 'exited cleanly (signal)$' "$tmp_dir/server.log" || dp_fail "the exit line is not in the log file in use"
[ "$(wc -l <"$log.moved")" = "$moved_lines" ] || dp_fail "the moved file grew after SIGHUP"
dp_pass
