# labels: dataplane
# timeout: 120
#
# A turbotunnel data record of the largest encodable length (1048575 bytes, docs/turbotunnel.md "Worked example")
# is what upstream reads into its 2048-byte buffer: the rest of the record is skipped and the
# packet cut to the 1400-byte MTU, and the WebSocket reads on in sync (encapsulation.ReadData,
# io.ErrShortBuffer ignored). The record's first 1400 bytes are valid KCP opening a smux stream
# to the echo ORPort; after the record comes a normal one. Both words must come back through
# the same WebSocket, whether the record arrives in one WebSocket frame or in many.
. "$(dirname "$0")/lib.sh"

dp_setup big_record
dp_start_echo
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}

for frames in 1 many; do
	n=1
	[ "$frames" = many ] && n=16
	dp_say "flood.py bigrecord ($frames WebSocket frame(s))"
	timeout "$(dp_budget 60)" python3 "$(dirname "$0")/flood.py" --addr "$addr" --timeout 30 \
		bigrecord "$n" >"$DP_WORK/big-$frames.out" 2>"$DP_WORK/big-$frames.err" ||
		dp_fail "flood.py bigrecord failed: $(cat "$DP_WORK/big-$frames.err")"
	cat "$DP_WORK/big-$frames.out"
	dp_check "$DP_WORK/big-$frames.out" 'j["echoed_before"]' 'j["echoed_after"]' 'not j["closed"]' ||
		dp_fail "the session did not survive a 1048575-byte record in $frames frame(s)"
	dp_alive "$DP_SERVER_PID" || dp_fail "the server died"
done

dp_stop_server
dp_pass
