# labels: dataplane
# timeout: 300
#
# Fault: a proxy-change storm. Every session drops its WebSocket every 100 ms (no Close frame, as
# a vanished proxy) and redials with the same ClientID, while its streams echo data: two rounds
# of 30 s each (× SF_TEST_SCALE, at least 10 s), ~2000 WebSockets a round. Every byte must come
# back verified and every session survive hundreds of WebSockets.
#
# Leaks: the sessions of a round outlive it on the server (a client that vanishes is forgotten
# after smux's 4-minute keepalive, as upstream; until then its KCP send buffer, streams and tor
# connections stay), so each round adds ~8 sessions' state (measured: 3–11 MiB, 8–9 fds). What
# must not happen is growth with the number of WebSockets: a WebSocket that left its socket, or a
# link with its buffers (≥ 8 KiB), behind would add ~2000 fds or ≥ 16 MiB a round. The sanitizer
# run adds LeakSanitizer's check of everything unreachable at exit.
. "$(dirname "$0")/lib.sh"

# ASan keeps freed memory in quarantine (256 MiB by default), which would read as growth.
[ -z "${ASAN_OPTIONS:-}" ] || export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8"

dp_setup proxy-storm
dp_start_echo
dp_start_server
secs=$(dp_scale 30 10)
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DP_SERVER_PID/status"; }
fds() { find "/proc/$DP_SERVER_PID/fd" -mindepth 1 | wc -l; }

storm_round()
{
	dp_client "storm$1" --sessions 8 --streams 2 --bytes 0 --duration "${secs}s" --write-size 4096 \
		--reconnect-every 100ms
	dp_expect_client_ok 8 2
	# 8 sessions × (secs × 10) drops: most of them must really have happened.
	# Each drop is followed by a new WebSocket (the last redial may be cut by the run's end).
	dp_check "$DP_CLIENT_JSON" "j['reconnects'] >= 8 * $secs * 10 // 2" \
		"j['reconnects'] <= j['ws_dials'] <= 8 + j['reconnects']" ||
		dp_fail "the sessions did not change WebSockets as often as asked"
	dp_alive "$DP_SERVER_PID" || dp_fail "the server died during the storm"
}

rss0=$(rss_kb)
storm_round 1
rss1=$(rss_kb)
fds1=$(fds)
storm_round 2
rss2=$(rss_kb)
fds2=$(fds)
dp_say "RSS ${rss0} → ${rss1} KiB after round 1 → ${rss2} KiB after round 2; fds $fds1 → $fds2"
[ $((rss2 - rss1)) -lt 24576 ] ||
	dp_fail "server RSS grew by $((rss2 - rss1)) KiB in the second round of the storm"
[ "$fds2" -le $((fds1 + 40)) ] || dp_fail "the server holds $fds2 fds after round 2, $fds1 after round 1"
dp_stop_server
dp_pass
