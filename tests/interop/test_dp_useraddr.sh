# labels: dataplane
# timeout: 180
#
# client_ip → ExtORPort USERADDR (docs/tor.md, docs/net-http-ws.md "Listener", docs/turbotunnel.md
# "Map and shards"). The ORPort is sfpeer extor (tor's
# Extended ORPort: SAFE_COOKIE auth, then USERADDR/TRANSPORT/DONE). One client at a time, so
# that extor's JSON lines (one per ORPort connection = per smux stream) belong to it:
#   ?client_ip=192.0.2.7   → every stream's USERADDR is "192.0.2.7:1"
#   ?client_ip=2001:db8::1 → "[2001:db8::1]:1" (the proxy sends it percent-encoded)
#   no client_ip           → no USERADDR command at all (extor reports null)
# TRANSPORT is "snowflake" and the handshake ends in OKAY every time. The server's log must not
# show the client addresses (scrubbed by default).
. "$(dirname "$0")/lib.sh"

dp_setup useraddr
dp_start_extor
dp_start_server

STREAMS=2
seen=0 # extor_conn lines already checked

# expect_conns NAME USERADDR_PYTHON_LITERAL — the last client's STREAMS connections reached
# extor with that USERADDR.
expect_conns()
{
	local name=$1 want=$2
	dp_client "$name" "${@:3}" --sessions 1 --streams "$STREAMS" --bytes 100000
	dp_expect_client_ok 1 "$STREAMS" 100000
	# extor prints a connection's line when its handshake ends, before any data is echoed, so
	# all lines are there once the client has its echo back.
	python3 - "$DP_EXTOR_OUT" "$seen" "$STREAMS" "$want" <<'PY' || dp_fail "$name: wrong ExtORPort metadata (above)"
import ast, json, sys
path, skip, count, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), ast.literal_eval(sys.argv[4])
conns = [json.loads(l) for l in open(path) if l.startswith("{")]
conns = [c for c in conns if c.get("event") == "extor_conn"][skip:]
bad = 0
if len(conns) != count:
    print(f"expected {count} new extor connections, got {len(conns)}: {conns}")
    bad += 1
for c in conns:
    for key, val in (("auth", "ok"), ("reply", "OKAY"), ("transport", "snowflake"), ("useraddr", want)):
        if c.get(key) != val:
            print(f"extor connection {c}: {key} is {c.get(key)!r}, expected {val!r}")
            bad += 1
    if c.get("other_cmds"):
        print(f"extor connection {c}: unexpected extra commands")
        bad += 1
sys.exit(1 if bad else 0)
PY
	dp_say "$name: $STREAMS ExtORPort connections with USERADDR $want, TRANSPORT snowflake, OKAY"
	seen=$((seen + STREAMS))
}

expect_conns ipv4 "'192.0.2.7:1'" --client-ip 192.0.2.7
expect_conns ipv6 "'[2001:db8::1]:1'" --client-ip 2001:db8::1
expect_conns none "None"

dp_stop_server
log=$DP_SERVER_DIR/server.log
for addr in 192.0.2.7 2001:db8::1 2001%3Adb8%3A%3A1 127.0.0.1; do
	if grep -Fn -- "$addr" "$log"; then
		dp_fail "the server log shows the address $addr unscrubbed (lines above)"
	fi
done
dp_pass
