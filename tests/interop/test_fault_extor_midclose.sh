# labels: dataplane
# timeout: 180
#
# Fault: tor closes one ExtORPort connection in the middle of a transfer (after echoing part of
# it), while the other streams of the same session are moving data.
#  - That stream ends: the client reads an end of stream (smux FIN), not a hang and not wrong
#    bytes (every byte it did get back is compared).
#  - The other streams of the session finish, every byte compared; the session stays usable
#    (the hand-made session opens a new stream after the cut one).
#  - No descriptor is left behind once the session is closed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

dp_setup fault_extor_midclose
fault_use_extor "127.0.0.1:$(dp_free_port)"
fault_extor_start
dp_start_server
STREAMS=4
BYTES=$(dp_scale 2000000 400000)
CUT=$((BYTES / 4))

# 1. sfpeer (the Go client stack): 4 bulk streams; the first ExtORPort connection accepted
# closes after echoing CUT bytes. (sfpeer stops reading a stream whose write failed, so how much
# of the cut stream it verified is not checked.)
fault_mode close-first "$CUT"
dp_client cut --sessions 1 --streams "$STREAMS" --bytes "$BYTES" --timeout 40s
[ "$(fault_status closed_midstream)" -eq 1 ] || dp_fail "the ExtORPort did not cut a connection"
dp_check "$DP_CLIENT_JSON" \
	"j['streams_ok'] == $STREAMS - 1" "j['streams_failed'] == 1" \
	"j['verify_failures'] == 0" "j['errors'].get('verify_mismatch', 0) == 0" \
	"j['errors'].get('timeout', 0) == 0" "not j['timed_out']" \
	"j['bytes_verified'] >= ($STREAMS - 1) * $BYTES" \
	"j['bytes_verified'] < $STREAMS * $BYTES" ||
	dp_fail "expected exactly one stream ended early (no timeout, no wrong byte) and the others complete"
dp_say "one stream cut after $CUT bytes; the other $((STREAMS - 1)) complete, every byte verified"

# 2. The hand-made session: its stream is cut by tor after 30000 bytes; the same session
# opens new streams after it.
fault_mode close-first 30000
# (sfpeer ended without closing its last streams: they stay with its KCP session until it
# expires, so the count starts here.)
fds0=$(fault_fds)
fault_session hs cut:60000 echo:100000 echo:100000
fault_session_end
dp_check "$FAULT_SESSION_OUT" "j['step'] == 'echo' and j['ok']" || dp_fail "last step"
python3 -c 'import json, sys
cut = json.loads(open(sys.argv[1]).readline())
sys.exit(0 if cut["bytes_back"] == 30000 else 1)' "$FAULT_SESSION_OUT" ||
	dp_fail "the cut stream should give back exactly the 30000 bytes tor echoed"
dp_say "the hand-made session: cut stream ended with its 30000 echoed bytes, new streams work"
fault_wait_fds "$fds0" "$(dp_budget 5)" ||
	dp_fail "descriptors after the session closed: $(fault_fds), expected $fds0"

dp_stop_server
grep -q 'ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:' "$DP_SERVER_DIR/stderr" &&
	dp_fail "sanitizer report"
dp_pass
