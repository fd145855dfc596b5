#!/bin/bash
# bench-smoke: keeps bench/bench.py and bench/loadgen-scale.py from rotting. Runs bench.py on
# tiny scenarios (1 session x 2 MB, 5 idle sessions) over ws:// and wss:// against our server,
# and asserts that it wrote one complete, verified record per run and a table without failures;
# that the ratio table of a two-server results file gives the per-repetition ranges; then that a
# server that accepts nobody gives an error record and exit status 1, not a number.
# Then loadgen-scale.py with 20 sessions, our server standing in as the reference too, 2
# repetitions: four complete records in the order A B B A, and the ratio table of medians; and
# with --rate-of (scale<N>as<M>): the keepalive and ping rates it derives reach the load
# generator. Last, latency_breakdown.py: its split of a capture written here with known times,
# then a real capture of 3 setups and 3 sessions pinging (every session and ping found in it).
# No timing is asserted.
# Needs SF_SERVER, SFPEER, SF_LOADGEN, SF_SOURCE_DIR (tests/CMakeLists.txt sets them), and
# tcpdump with the right to capture on lo (root or CAP_NET_RAW): without them it fails.
set -euo pipefail
: "${SF_SERVER:?}" "${SFPEER:?}" "${SF_LOADGEN:?}" "${SF_SOURCE_DIR:?}"
BENCH=$SF_SOURCE_DIR/bench/bench.py
work=$(mktemp -d "${TMPDIR:-/tmp}/sf-bench-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
tiny=(--sfpeer "$SFPEER" --reps 1 --pause 0 --idle-settle 1 --idle-window 1)

python3 "$BENCH" "${tiny[@]}" --server "$SF_SERVER" --modes ws,wss --out "$work/runs.jsonl" \
	bulk2 idle5 >"$work/table.md" 2>"$work/log" || { cat "$work/log" "$work/table.md" >&2; exit 1; }

python3 - "$work/runs.jsonl" "$work/table.md" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
table = open(sys.argv[2]).read()
want = {(m, s) for m in ("ws", "wss") for s in ("bulk2", "idle5")}
got = {(r["mode"], r["scenario"]) for r in recs}
assert got == want and len(recs) == 4, f"records for {sorted(got)}, want {sorted(want)}"
for r in recs:
    where = f'{r["mode"]} {r["scenario"]}'
    res = r["result"]
    assert r["ok"] and not r["failures"], f"{where}: {r['failures']}"
    assert r["client_rc"] == 0 and res["verify_failures"] == 0 and not res["errors"], where
    assert res["sessions_ok"] == res["sessions"] and res["streams_failed"] == 0, where
    assert r["server_cpu_s"] >= 0 and r["rss0_kb"] > 0 and r["hwm_kb"] >= r["rss0_kb"], where
    assert res["url"].startswith(r["mode"] + "://"), f'{where}: client used {res["url"]}'
    if r["scenario"] == "bulk2":
        assert res["bytes_verified"] == 2000000, f'{where}: {res["bytes_verified"]} bytes verified'
        assert set(r["metrics"]) == {"mb_per_s", "cpu_s_per_gb", "peak_rss_mb"}, f'{where}: {r["metrics"]}'
    else:
        assert res["idle"]["established"] == 5, f'{where}: {res["idle"]}'
        assert set(r["metrics"]) == {"rss_kb_per_session", "idle_rss_mb", "idle_cpu_pct"}, f'{where}: {r["metrics"]}'
for head in ("#### ws://", "#### wss:// (TLS)"):
    assert head in table, f"no {head} table"
for row in ("| bulk2 | MB/s |", "| bulk2 | server CPU-s per GB relayed |", "| idle5 | RSS per idle session (KiB) |"):
    assert table.count(row) == 2, f"row {row!r} not in both tables"
assert "failed" not in table, table
print("bench-smoke: 4 complete, verified records and both tables")
PY

# The ratio table of a two-server results file (bench.py --table, nothing run): the ratio of the
# medians, and in brackets the range of the per-repetition ratios, only where two or more pairs
# exist (a pair whose reference repetition failed does not count).
python3 - "$BENCH" "$work/pairs.jsonl" <<'PY'
import json, subprocess, sys
bench, path = sys.argv[1], sys.argv[2]
def rec(impl, rep, cpu, ok=True, scen="bulk2"):
    m = {"mb_per_s": 10.0, "cpu_s_per_gb": cpu, "peak_rss_mb": 5.0} if ok else {}
    return {"impl": impl, "mode": "ws", "scenario": scen, "rep": rep, "ok": ok, "metrics": m}
recs = [rec("ours", 0, 1.2), rec("go", 0, 6.0), rec("ours", 1, 1.8), rec("go", 1, 6.0),
        rec("ours", 0, 2.0, scen="bulk3"), rec("go", 0, 4.0, scen="bulk3"),
        rec("ours", 1, 3.2, scen="bulk3"), rec("go", 1, 0, ok=False, scen="bulk3")]
with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in recs)
table = subprocess.run([sys.executable, bench, "--table", path], check=True,
                       capture_output=True, text=True).stdout
for row in ("| bulk2 | server CPU-s per GB relayed | 1.50 | 6.00 | 0.25 (0.20–0.30) |",
            "| bulk3 | server CPU-s per GB relayed | 2.60 | 4.00 (1 of 2 failed) | 0.65 |"):
    assert row in table, f"no row {row!r} in:\n{table}"
print("bench-smoke: the ratio table gives the per-repetition range only for complete pairs")
PY

# A "server" that announces a listener nobody serves: the client fails, so the driver must
# record an error (no metrics) and exit 1.
cat >"$work/deaf-server" <<'SH'
#!/bin/sh
printf 'VERSION 1\nSMETHOD snowflake 127.0.0.1:9\nSMETHODS DONE\n'
exec sleep 120
SH
chmod +x "$work/deaf-server"
rc=0
python3 "$BENCH" "${tiny[@]}" --server "$work/deaf-server" --modes ws --out "$work/deaf.jsonl" \
	bulk2 >"$work/deaf.md" 2>"$work/deaf.log" || rc=$?
python3 - "$work/deaf.jsonl" "$work/deaf.md" "$rc" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert int(sys.argv[3]) == 1, f"bench.py exit status {sys.argv[3]} for a failed run, want 1"
assert len(recs) == 1 and not recs[0]["ok"] and recs[0]["failures"], recs
assert "(1 of 1 failed)" in open(sys.argv[2]).read()
print("bench-smoke: a failed run is an error record:", recs[0]["failures"][0][:80])
PY

# The scale scenario (bench/run.sh scale<N>): 20 idle wss:// sessions, 5 of them pinging, twice
# against our server and twice against it again as the "reference" (the Go server in real runs),
# in the order ours, reference, reference, ours.
# Its work directory goes under $work (TMPDIR) so the trap removes it.
rc=0
TMPDIR=$work python3 "$SF_SOURCE_DIR/bench/loadgen-scale.py" --server "$SF_SERVER" \
	--reference "$SF_SERVER" --loadgen "$SF_LOADGEN" --sfpeer "$SFPEER" --sessions 20 --reps 2 \
	--active 5 --ramp 200 --settle 1 --window 1 --ping-time 2 --out "$work/scale.jsonl" \
	>"$work/scale.md" 2>"$work/scale.log" || rc=$?
python3 - "$work/scale.jsonl" "$work/scale.md" "$rc" "$work/scale.log" <<'PY'
import json, sys
path, md, rc, log = sys.argv[1:]
assert rc == "0", f"loadgen-scale.py exit status {rc}: {open(log).read()[-2000:]}"
recs = [json.loads(l) for l in open(path)]
assert "meta" in recs[0] and recs[0]["meta"]["nofile_hard"] > 0, recs[0]
runs = recs[1:]
assert [(r["impl"], r["rep"]) for r in runs] == [("ours", 0), ("reference", 0), ("reference", 1),
                                                 ("ours", 1)], [(r.get("impl"), r.get("rep")) for r in runs]
for r in runs:
    res = r["result"]
    where = r["impl"]
    assert r["ok"] and r["loadgen_rc"] == 0 and r["sessions"] == 20, f"{where}: {r}"
    assert res["sessions_ok"] == 20 and res["streams_ok"] == 20 and res["streams_failed"] == 0, where
    assert res["verify_failures"] == 0 and sum(res["errors"].values()) == 0, f"{where}: {res['errors']}"
    assert res["idle"]["established"] == 20, f"{where}: {res['idle']}"
    assert res["pings"]["sent"] > 0 and res["pings"]["ok"] == res["pings"]["sent"], f"{where}: {res['pings']}"
    # a WebSocket and an ORPort connection per session, beside the listeners
    assert r["server_fds"] >= 40, f"{where}: {r['server_fds']} server descriptors for 20 sessions"
    assert r["server_rss_per_session_kb"] > 0 and r["server_idle_cpu_pct"] >= 0, where
table = open(md).read()
assert "| sessions | metric | ours | reference | ours / reference |" in table, table
assert "Medians of 2 repetitions per cell" in table, table
# each run waits for its own load generator's ready file, not one an earlier run left behind
ready = {r["loadgen_cmd"].split("--ready-file ")[1].split()[0] for r in runs}
assert len(ready) == 4, ready
for row in ("| 20 | server RSS per idle session (KiB) |", "| 20 | server descriptors |",
            "| 20 | ping p99 (ms) |"):
    assert row in table, f"no row {row!r} in the ratio table"
print("bench-smoke: loadgen-scale.py gave 4 complete records, alternating, and the ratio table of medians")
PY

# scale<N>as<M> (loadgen-scale.py --rate-of): 10 sessions sending what 200 would, i.e. a NOP every
# 500 ms each and 20 pings a second over the 10 streams (every 0.5 s).
rc=0
TMPDIR=$work python3 "$SF_SOURCE_DIR/bench/loadgen-scale.py" --server "$SF_SERVER" \
	--loadgen "$SF_LOADGEN" --sfpeer "$SFPEER" --sessions 10 --rate-of 200 --ramp 200 \
	--settle 1 --window 1 --ping-time 2 --out "$work/dense.jsonl" \
	>"$work/dense.md" 2>"$work/dense.log" || rc=$?
python3 - "$work/dense.jsonl" "$work/dense.md" "$rc" "$work/dense.log" <<'PY'
import json, sys
path, md, rc, log = sys.argv[1:]
assert rc == "0", f"loadgen-scale.py --rate-of exit status {rc}: {open(log).read()[-2000:]}"
(r,) = [json.loads(l) for l in open(path)][1:]
res = r["result"]
assert r["ok"] and r["rate_of"] == 200 and r["sessions"] == 10, r
assert (r["keepalive_ms"], r["active"], r["ping_interval_s"]) == (500, 10, 0.5), r
assert "--keepalive 500 " in r["loadgen_cmd"] and "--interval 0.5 " in r["loadgen_cmd"], r["loadgen_cmd"]
assert res["keepalive_ms"] == 500 and res["sessions_ok"] == 10, res
assert res["pings"]["sent"] > 0 and res["pings"]["ok"] == res["pings"]["sent"], res["pings"]
# held ~4 s with a NOP every 500 ms: well over 3 packets per session beyond the pings
assert res["wire"]["pkts_out"] >= res["pings"]["sent"] + 10 * 3, res["wire"]
assert "| 10 (500) |" in open(md).read(), open(md).read()
print("bench-smoke: loadgen-scale.py --rate-of 200 with 10 sessions: NOPs every 500 ms, pings every 0.5 s")
PY

# bench/latency_breakdown.py. First its arithmetic, on a capture written here with known times
# (µs): one session's setup and one ping, each packet where the comments say.
python3 - "$SF_SOURCE_DIR/bench/latency_breakdown.py" "$work/synthetic.pcap" <<'PY'
import json, struct, subprocess, sys
tool, path = sys.argv[1:]
WS, OR, CLI, DIAL = 8080, 9000, 40000, 50000
def pkt(t_us, sport, dport, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0, 64, 6, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    frame = bytes(12) + b"\x08\x00" + ip + tcp + payload
    return struct.pack("<IIII", 1000 + t_us // 1000000, t_us % 1000000, len(frame), len(frame)) + frame
def masked(body, key=b"\x11\x22\x33\x44"):
    return b"\x82\xfe" + struct.pack("!H", len(body)) + key + bytes(b ^ key[i & 3] for i, b in enumerate(body))
ping = bytes((7 * i + 3) & 0xFF for i in range(1024))
S, SA, A, PA = 0x02, 0x12, 0x10, 0x18
pkts = [
    pkt(0, CLI, WS, S), pkt(100, WS, CLI, SA), pkt(150, CLI, WS, A),
    pkt(300, CLI, WS, PA, b"G" * 100),         # connect 300
    pkt(500, WS, CLI, PA, b"H" * 129),         # upgrade 200
    pkt(800, CLI, WS, PA, b"p" * 28),
    pkt(1000, CLI, WS, PA, b"k" * 79),         # client 500
    pkt(1300, DIAL, OR, S),                    # dial 300
    pkt(1400, OR, DIAL, SA), pkt(1450, DIAL, OR, A),
    pkt(1600, DIAL, OR, PA, b"x"),             # dial_to_data 300
    pkt(1700, OR, DIAL, PA, b"x"),             # orport 100
    pkt(1750, WS, CLI, PA, b"r" * 36),         # back 50, total 1750
    # a ping: the client's message at 10 000, written to the ORPort 200 later; back from the
    # ORPort at 10 300 and in the server's message 80 later
    pkt(10000, CLI, WS, PA, masked(b"h" * 40 + ping)),
    pkt(10200, DIAL, OR, PA, ping),
    pkt(10300, OR, DIAL, PA, ping),
    pkt(10380, WS, CLI, PA, b"\x82\x7e" + struct.pack("!H", 1064) + b"s" * 40 + ping),
]
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"".join(pkts))
def analyze(kind):
    out = subprocess.run([sys.executable, tool, "--analyze", path, "--ws-port", str(WS),
                          "--orport", str(OR), kind], check=True, capture_output=True, text=True).stdout
    return json.loads(out)
setup = analyze("setup")
want = {"connect": 300, "upgrade": 200, "client": 500, "dial": 300, "dial_to_data": 300,
        "orport": 100, "back": 50, "total": 1750}
assert setup["n"] == 1 and setup["parts_us"] == want, setup
ping_parts = analyze("ping")
assert ping_parts["n"] == {"up": 1, "down": 1}, ping_parts
assert ping_parts["parts_us"]["up_p50"] == 200 and ping_parts["parts_us"]["down_p99"] == 80, ping_parts
print("bench-smoke: latency_breakdown.py splits a synthetic capture into the parts it was built from")
PY

# Then for real (tcpdump on lo: needs root or CAP_NET_RAW, and fails without): 3 sessions' setup
# and 3 sessions pinging for 2 s against our server, every session and every ping found in the
# capture.
rc=0
python3 "$SF_SOURCE_DIR/bench/latency_breakdown.py" --server "$SF_SERVER" --sfpeer "$SFPEER" \
	--reps 1 --workdir "$work/latency" --out "$work/latency.jsonl" setup3 ping3x2 \
	>"$work/latency.md" 2>"$work/latency.log" || rc=$?
python3 - "$work/latency.jsonl" "$work/latency.md" "$rc" "$work/latency.log" <<'PY'
import json, sys
path, md, rc, log = sys.argv[1:]
assert rc == "0", f"latency_breakdown.py exit status {rc}: {open(log).read()[-2000:]}"
setup, ping = [json.loads(l) for l in open(path)]
assert setup["ok"] and setup["sessions_seen"] == 3, setup
assert set(setup["parts_us"]) == {"connect", "upgrade", "client", "dial", "dial_to_data", "orport",
                                  "back", "total"}, setup
assert all(v >= 0 for v in setup["parts_us"].values()), setup
assert ping["ok"] and ping["pings_ok"] > 0, ping
assert ping["pings_matched"] == {"up": ping["pings_ok"], "down": ping["pings_ok"]}, ping
assert ping["pings_unmatched"] == 0, ping
table = open(md).read()
for row in ("#### setup3", "| dial |", "#### ping3x2", "| down_p99 |"):
    assert row in table, f"no {row!r} in:\n{table}"
print(f"bench-smoke: latency_breakdown.py found 3 setups and all {ping['pings_ok']} pings in a real capture")
PY
