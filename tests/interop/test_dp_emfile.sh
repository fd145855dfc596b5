# labels: dataplane
# timeout: 90
#
# Out of file descriptors: with a limit of 128 (soft and hard, set with prlimit once it runs) and more connections waiting than
# the server can accept, the listener must not spin (CPU time over 3 s well under the wall time;
# the bound is generous, a spinning accept loop takes a whole core) and a session opened before
# must still work. First, the server raises its soft limit to the hard one at start (as Go does)
# and logs it.
. "$(dirname "$0")/lib.sh"

dp_setup emfile
dp_start_echo
ulimit -Sn 512 || dp_fail "cannot lower the soft descriptor limit"
dp_start_server
read -r soft hard < <(awk '/^Max open files/ {print $4, $5}' "/proc/$DP_SERVER_PID/limits")
[ "$soft" = "$hard" ] || dp_fail "the server kept its soft descriptor limit $soft (hard $hard)"
grep -q "raised the open file limit from 512 to $hard" "$DP_SERVER_DIR/server.log" ||
	dp_fail "no log line about the raised descriptor limit"
prlimit --pid "$DP_SERVER_PID" --nofile=128:128 || dp_fail "cannot lower the server's descriptor limit"
addr=${DP_URL#ws://}
addr=${addr%/}

out=$DP_WORK/emfile.out
timeout "$(dp_budget 40)" python3 - "$addr" "$(dirname "$0")" "$DP_SERVER_PID" >"$out" 2>"$DP_WORK/emfile.err" <<'PY'
import json, os, socket, sys, time
sys.path.insert(0, sys.argv[2])
from flood import ws_connect, ws_frame, encap, kcp_push, smux, preamble
addr, pid = sys.argv[1], sys.argv[3]
host, port = addr.rsplit(":", 1)

def cpu_s():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def wait_for(s, word, seconds):
    seen, end = b"", time.time() + seconds
    s.settimeout(0.2)
    while time.time() < end and word not in seen:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        if not b:
            break
        seen += b
    return word in seen

conv = 0x5eed
a = ws_connect(addr, 10)
a.sendall(preamble(os.urandom(8)) + ws_frame(encap(kcp_push(conv, 0, smux(0, 3) + smux(2, 3, b"first")))))
first = wait_for(a, b"first", 10)
hold = []
for _ in range(300):
    try:
        hold.append(socket.create_connection((host, int(port)), timeout=2))
    except OSError:
        break
time.sleep(1)
c0, t0 = cpu_s(), time.time()
time.sleep(3)
c1, t1 = cpu_s(), time.time()
a.sendall(ws_frame(encap(kcp_push(conv, 1, smux(2, 3, b"again"), una=0))))
again = wait_for(a, b"again", 10)
print(json.dumps({"first": first, "again": again, "held": len(hold),
                  "cpu_share": round((c1 - c0) / (t1 - t0), 3)}))
PY
cat "$out"
dp_check "$out" 'j["first"]' 'j["held"] >= 200' 'j["cpu_share"] < 0.3' 'j["again"]' ||
	dp_fail "the server spun or stopped serving when out of descriptors: $(cat "$DP_WORK/emfile.err")"
grep -q "accept" "$DP_SERVER_DIR/server.log" || dp_fail "no log line about the failing accept"
dp_stop_server
dp_pass
