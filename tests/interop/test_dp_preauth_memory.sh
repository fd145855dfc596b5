# labels: dataplane
# timeout: 120
#
# Attacker: many TCP connections that send nothing (or one byte) and sit in the 10 s before the
# HTTP request is complete. The server must not allocate its request buffer (16 KiB) for them
# before bytes arrive: memory per such connection stays a few KiB. (Before: ~17 KiB each.)
. "$(dirname "$0")/lib.sh"

dp_setup preauth
dp_start_echo
dp_start_server
addr=${DP_URL#ws://}
addr=${addr%/}
n=$(dp_scale 1000)
timeout "$(dp_budget 60)" python3 - "$addr" "$DP_SERVER_PID" "$n" >"$DP_WORK/preauth.out" 2>"$DP_WORK/preauth.err" <<'PY' ||
import socket, sys, time
addr, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host, port = addr.rsplit(":", 1)
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
time.sleep(0.5)
r0 = rss()
socks = []
for i in range(n):
    s = socket.create_connection((host, int(port)), timeout=5)
    socks.append(s)
time.sleep(1.5)
r1 = rss()
print(f'{{"conns": {n}, "rss_growth_kb": {r1 - r0}}}')
for s in socks:
    s.close()
PY
	dp_fail "the idle-connection script failed: $(cat "$DP_WORK/preauth.err")"
tail -n 1 "$DP_WORK/preauth.out"
dp_alive "$DP_SERVER_PID" || dp_fail "the server died"
dp_check "$DP_WORK/preauth.out" "j['rss_growth_kb'] < j['conns'] * 8" ||
	dp_fail "connections that sent nothing cost 8 KiB or more each"
dp_client after --sessions 1 --streams 1 --bytes 100000
dp_expect_client_ok 1 1 100000
dp_pass
