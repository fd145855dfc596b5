# labels: dataplane
# timeout: 240
#
# Malformed input (tests/tools/probe.py, each probe on its own connection, bounded by 12 s) must
# be handled sanely (docs/net-http-ws.md "Upgrade", docs/turbotunnel.md): no upgrade → an HTTP
# 4xx; a wrong
# token, a ClientID cut short by EOF, a 4-byte length prefix, an unmasked client frame and a
# reserved opcode → the server closes that WebSocket (with a Close frame, if it sends anything);
# the others get their 101 and garbage does no harm; a text frame carrying token+ClientID is
# accepted like binary. Afterwards the server must still be running and serve a normal 1 MB
# echo, and its log (scrubbed by default) must not show any client or local address.
. "$(dirname "$0")/lib.sh"

dp_setup bad_input
dp_start_echo
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}
probe_out=$DP_WORK/probe.out
dp_say "probe.py --addr $addr --wait 12"
timeout "$(dp_budget 200)" python3 "$DP_TOOLS/probe.py" --addr "$addr" --wait 12 \
	>"$probe_out" 2>"$DP_WORK/probe.err" || dp_fail "probe.py failed: $(cat "$DP_WORK/probe.err")"
cat "$probe_out"

python3 - "$probe_out" <<'PY' || dp_fail "the server's reactions to bad input are not as expected (above)"
import json, sys
SWITCH = "HTTP/1.1 101 Switching Protocols"
# probe name -> what must happen: "4xx", "closed" (after the 101), "open" (after the 101),
# or "any" (after the 101).
EXPECT = {
    "plain GET (no upgrade)": "4xx",
    "upgrade, then silence": "any",
    "wrong token": "closed",
    "token, then close before ClientID": "closed",
    "token+ClientID, then silence": "any",
    "4-byte length prefix (ErrTooLong)": "closed",
    "data chunk claiming 1 MB, 10 bytes sent": "any",
    "garbage (non-KCP) packets": "any",
    "unmasked client frame": "closed",
    "text frame with invalid UTF-8 token": "open",
    "reserved opcode 3": "closed",
}
results = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        results[r["probe"]] = r
bad = []
for name, want in EXPECT.items():
    r = results.get(name)
    if r is None:
        bad.append(f"{name}: no result from probe.py")
        continue
    if "error" in r:
        bad.append(f"{name}: the probe itself failed: {r['error']}")
        continue
    back = bytes.fromhex(r["first_bytes_back"])
    closed = r["how"] == "closed" or r["how"].startswith("error")
    if want == "4xx":
        if not (back.startswith(b"HTTP/1.") and back[9:10] == b"4"):
            bad.append(f"{name}: expected an HTTP 4xx response, got {back!r}")
        continue
    if r["status"] != SWITCH:
        bad.append(f"{name}: expected {SWITCH!r}, got {r['status']!r}")
        continue
    if want == "closed":
        if not closed:
            bad.append(f"{name}: the server did not close the connection within the wait ({r['how']})")
        elif back and back[0] != 0x88:
            bad.append(f"{name}: the server sent {back.hex()} before closing, expected nothing or a Close frame (88 ..)")
    elif want == "open" and r["how"] != "open":
        bad.append(f"{name}: the server closed a valid connection ({r['how']} after {r['closed_after_s']} s)")
for b in bad:
    print("bad:", b)
sys.exit(1 if bad else 0)
PY
dp_say "all $(grep -c '^{' "$probe_out") probes handled as expected"

dp_alive "$DP_SERVER_PID" || dp_fail "the server died during the probes"
dp_client after --bytes 1000000
dp_expect_client_ok 1 1 1000000
dp_stop_server
log=$DP_SERVER_DIR/server.log
for a in 127.0.0.1 192.0.2.55; do
	if grep -Fn -- "$a" "$log"; then
		dp_fail "the server log shows the address $a unscrubbed (lines above)"
	fi
done
dp_pass
