#!/usr/bin/env python3
"""Scale scenarios with snowflake-loadgen (tools/loadgen) against our server over wss://.

For each N: a fresh `sfpeer echo` (the ORPort) and a fresh server serving wss:// from a
tls-cache.sh certificate; `snowflake-loadgen idle` opens N sessions, each with one stream
(source addresses 127.0.0.2-127.0.0.9), and holds them. Once all are up (its ready file) and a
settle time passed, a quiet window measures the server's RSS per session, its idle CPU and the
load generator's CPU, and counts both processes' descriptors; then --active streams ping 1 KB
every --ping-interval seconds (1) for the rest of the hold (loadgen's latency p50/p99/max). The
sessions keep the Go client's smux NOP every 10 s unless --keepalive says otherwise. One JSON
record per N on stdout's results file, and a markdown table at the end.

    bench/loadgen-scale.py --sessions 1000,2000,5000,9000 [--active 1000] [--window 20]
                           [--reference /work/ref/snowflake-server-v2.9.2]
    bench/loadgen-scale.py --sessions 9000 --rate-of 100000

--rate-of M makes N sessions send the server what M Go-like clients would, for a host whose
descriptors cannot hold M: a NOP every 10 s x N / M per session, and M/10 pings of 1 KB a second
(the issue's 10 000 active of 100 000) over min(N, M/10) streams. What this shows is the CPU and
latency at M's packet rate with N sessions' state; the server's own NOP (once a minute per
session) still comes from N sessions only, and RSS is N's (docs/performance.md).

With --reference (the Go snowflake-server, bench/README.md), every N runs against our server and
against the reference, the same way: each serves wss:// from the same certificate through its
autocert cache, and opens its HTTP-01 listener on port 80 of a random 127.x.y.z. A second table
gives the ratios ours / reference. With --reps R each server runs R times per N, in the order
ours-reference, reference-ours, ..., and the tables give medians.

The server needs 2 descriptors per session (WebSocket + ORPort): with a hard RLIMIT_NOFILE of L,
about L/2 sessions is the most one host can show. Timings decide nothing here; a run whose
loadgen reports a failure is recorded as failed and the script exits 1.
"""
import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TLS_NAME = "snowflake.bench.test"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_line(proc, prefix, timeout):
    end = time.time() + timeout
    while time.time() < end:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line
    raise RuntimeError(f"no line starting {prefix!r}")


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_one(opts, n, work, impl="ours", rep=0):
    binary = opts.server if impl == "ours" else opts.reference
    rec = {"sessions": n, "active": min(opts.active, n), "ok": False, "impl": impl, "server": binary,
           "keepalive_ms": opts.keepalive, "ping_interval_s": opts.ping_interval}
    if opts.rate_of:
        # N sessions sending what rate_of Go-like clients would: NOPs every 10 s x N / rate_of,
        # and a tenth of rate_of pings a second (the 10 000 of 100 000), spread over
        # min(N, rate_of / 10) streams.
        rec["rate_of"] = opts.rate_of
        rec["keepalive_ms"] = max(20, round(10000 * n / opts.rate_of))
        rec["active"] = min(n, opts.rate_of // 10)
        rec["ping_interval_s"] = round(rec["active"] / (opts.rate_of / 10), 3)
    host = "127.%d.%d.%d" % (random.randint(64, 250), random.randint(0, 255), random.randint(2, 250))
    state = tempfile.mkdtemp(prefix=f"state-{n}-", dir=work)
    echo = srv = lg = None
    try:
        orport = free_port("127.0.0.1")
        echo = subprocess.Popen([opts.sfpeer, "echo", "--listen", f"127.0.0.1:{orport}", "--lifetime", "60m"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        wait_line(echo, "{", 15)
        port = free_port(host)
        env = dict(os.environ, TOR_PT_MANAGED_TRANSPORT_VER="1", TOR_PT_SERVER_TRANSPORTS="snowflake",
                   TOR_PT_SERVER_BINDADDR=f"snowflake-{host}:{port}", TOR_PT_ORPORT=f"127.0.0.1:{orport}",
                   TOR_PT_STATE_LOCATION=state)
        shutil.copytree(os.path.join(work, "tls", "cache"), os.path.join(state, "snowflake-certificate-cache"))
        # the same command line for both servers (Go's has no --acme-http-port: port 80 of host)
        srv = subprocess.Popen([binary, "--acme-hostnames", TLS_NAME,
                                "--log", os.path.join(work, f"server-{impl}-{n}-{rep}.log")],
                               env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
        wait_line(srv, "SMETHODS DONE", 20)
        time.sleep(1)
        rec["server_rss0_kb"] = status_kb(srv.pid, "VmRSS")
        ready = os.path.join(work, f"ready-{impl}-{n}-{rep}")  # one per run: the wait below
        quiet = opts.settle + opts.window
        hold = quiet + opts.ping_time
        cmd = [opts.loadgen, "idle", "--url", f"wss://{TLS_NAME}:{port}/", "--connect", f"{host}:{port}",
               "--ca", os.path.join(work, "tls", "ca.pem"), "--sessions", str(n),
               "--source", "127.0.0.2-127.0.0.9", "--ramp", str(opts.ramp), "--duration", str(hold),
               "--active", str(rec["active"]), "--ping-delay", str(quiet), "--ready-file", ready,
               "--keepalive", str(rec["keepalive_ms"]), "--interval", str(rec["ping_interval_s"]),
               "--timeout", str(n / opts.ramp + hold + 120)]
        rec["loadgen_cmd"] = " ".join(cmd)
        t0 = time.time()
        lg = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not os.path.exists(ready):
            if lg.poll() is not None or time.time() - t0 > n / opts.ramp + 120:
                raise RuntimeError("loadgen never got all sessions up: " + lg.stderr.read()[-2000:])
            time.sleep(0.2)
        rec["all_up_s"] = round(time.time() - t0, 2)
        time.sleep(opts.settle)
        s0, l0, w0 = cpu_s(srv.pid), cpu_s(lg.pid), time.time()
        rec["server_fds"], rec["loadgen_fds"] = fds(srv.pid), fds(lg.pid)
        time.sleep(opts.window)
        s1, l1, w1 = cpu_s(srv.pid), cpu_s(lg.pid), time.time()
        rec["server_rss_kb"] = status_kb(srv.pid, "VmRSS")
        rec["loadgen_rss_kb"] = status_kb(lg.pid, "VmRSS")
        rec["server_idle_cpu_pct"] = round(100 * (s1 - s0) / (w1 - w0), 2)
        rec["loadgen_idle_cpu_pct"] = round(100 * (l1 - l0) / (w1 - w0), 2)
        rec["server_rss_per_session_kb"] = round((rec["server_rss_kb"] - rec["server_rss0_kb"]) / n, 2)
        rec["loadgen_rss_per_session_kb"] = round(rec["loadgen_rss_kb"] / n, 2)
        time.sleep(1)  # into the ping phase
        p0, q0, t_p0 = cpu_s(srv.pid), cpu_s(lg.pid), time.time()
        out, err = lg.communicate(timeout=hold + 120)
        t_p1 = time.time()
        rec["server_ping_cpu_pct"] = round(100 * (cpu_s(srv.pid) - p0) / (t_p1 - t_p0), 2)
        res = json.loads(out.strip().splitlines()[-1])
        rec["result"] = res
        rec["loadgen_rc"] = lg.returncode
        rec["ok"] = lg.returncode == 0 and res["sessions_ok"] == n
        rec["loadgen_ping_cpu_pct"] = round(100 * (res["loadgen"]["cpu_s"] - q0) / (t_p1 - t_p0), 2)
        if not rec["ok"]:
            rec["error"] = err[-2000:]
    except Exception as e:  # a failed run is a record, not a crash
        rec["error"] = repr(e)
    finally:
        stop(lg)
        stop(srv)
        stop(echo)
    return rec


MEDIAN_KEYS = ["all_up_s", "server_rss_per_session_kb", "server_idle_cpu_pct", "loadgen_idle_cpu_pct",
               "server_fds", "loadgen_fds", "loadgen_rss_per_session_kb", "server_ping_cpu_pct"]


def medians(recs):
    """One record per (server, N): the median of each tabled number over its successful
    repetitions, or the first failed record when none succeeded."""
    out = []
    for key in dict.fromkeys((r["impl"], r["sessions"]) for r in recs):
        group = [r for r in recs if (r["impl"], r["sessions"]) == key]
        ok = [r for r in group if r.get("ok")]
        if len(ok) <= 1:
            out.append(ok[0] if ok else group[0])
            continue
        m = dict(ok[0])
        for k in MEDIAN_KEYS:
            v = statistics.median(r[k] for r in ok)
            m[k] = int(v) if float(v).is_integer() else round(v, 2)
        lats = [r["result"]["latency_ms"] for r in ok if r["result"]["latency_ms"]]
        m["result"] = dict(ok[0]["result"], latency_ms={
            q: round(statistics.median(lat[q] for lat in lats), 3) for q in ("p50", "p99", "max")}
            if lats else None)
        out.append(m)
    return out


def table(recs):
    rows = ["| sessions (keepalive ms) | all up (s) | server RSS/session (KiB) | server idle CPU % | loadgen idle CPU % "
            "| server fds | loadgen fds | loadgen RSS/session (KiB) | pinging | ping p50 / p99 / max (ms) "
            "| server CPU % while pinging |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        if not r.get("ok"):
            rows.append(f"| {r['sessions']} | failed: {r.get('error', '')[:80]} |")
            continue
        lat = r["result"]["latency_ms"] or {}
        rows.append(f"| {r['sessions']} ({r['keepalive_ms']}) | {r['all_up_s']} | {r['server_rss_per_session_kb']} | "
                    f"{r['server_idle_cpu_pct']} | {r['loadgen_idle_cpu_pct']} | {r['server_fds']} | "
                    f"{r['loadgen_fds']} | {r['loadgen_rss_per_session_kb']} | {r['active']} | "
                    f"{lat.get('p50')} / {lat.get('p99')} / {lat.get('max')} every {r['ping_interval_s']} s | {r['server_ping_cpu_pct']} |")
    return "\n".join(rows)


RATIOS = [("server RSS per idle session (KiB)", lambda r: r["server_rss_per_session_kb"]),
          ("server CPU while idle (% of a core)", lambda r: r["server_idle_cpu_pct"]),
          ("server descriptors", lambda r: r["server_fds"]),
          ("ping p50 (ms)", lambda r: (r["result"]["latency_ms"] or {}).get("p50")),
          ("ping p99 (ms)", lambda r: (r["result"]["latency_ms"] or {}).get("p99")),
          ("server CPU while pinging (% of a core)", lambda r: r["server_ping_cpu_pct"])]


def ratio_table(recs):
    rows = ["| sessions | metric | ours | reference | ours / reference |", "|---|---|---|---|---|"]
    by = {(r["impl"], r["sessions"]): r for r in recs}
    for n in sorted({r["sessions"] for r in recs}):
        a, b = by.get(("ours", n)), by.get(("reference", n))
        if not (a and b and a.get("ok") and b.get("ok")):
            rows.append(f"| {n} | (a run failed: no ratio) | | | |")
            continue
        for name, get in RATIOS:
            x, y = get(a), get(b)
            ratio = f"{x / y:.2f}" if isinstance(x, (int, float)) and isinstance(y, (int, float)) and y else "-"
            rows.append(f"| {n} | {name} | {x} | {y} | {ratio} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", default="1000,2000,5000,9000")
    ap.add_argument("--active", type=int, default=1000, help="streams pinging 1 KB/s after the quiet window")
    ap.add_argument("--ramp", type=float, default=500, help="sessions started per second")
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--window", type=float, default=20, help="quiet window (s)")
    ap.add_argument("--ping-time", type=float, default=20, help="seconds of pings")
    ap.add_argument("--ping-interval", type=float, default=1, help="seconds between a stream's pings")
    ap.add_argument("--keepalive", type=int, default=10000,
                    help="the sessions' smux NOP period in ms (the Go client's: 10000)")
    ap.add_argument("--rate-of", type=int, metavar="M",
                    help="every N sends the packets of M Go-like clients: keepalive 10 s x N / M, "
                         "M/10 pings a second over min(N, M/10) streams (overrides the three above)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--server")
    ap.add_argument("--reference", help="a second server run the same way for every N (Go's)")
    ap.add_argument("--loadgen")
    ap.add_argument("--sfpeer", default=os.environ.get("SFPEER"))
    ap.add_argument("--reps", type=int, default=1,
                    help="repetitions per N; with --reference they alternate ours-reference, "
                         "reference-ours, and the tables give medians")
    ap.add_argument("--out", help="JSONL results (default bench/results/<time>-loadgen-scale.jsonl)")
    opts = ap.parse_args()
    opts.server = opts.server or os.path.join(opts.build, "src", "snowflake-server")
    opts.loadgen = opts.loadgen or os.path.join(opts.build, "tools", "loadgen", "snowflake-loadgen")
    opts.sfpeer = opts.sfpeer or os.path.join(opts.build, "sfpeer", "sfpeer")
    out = opts.out or os.path.join(HERE, "results", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) +
                                   "-loadgen-scale.jsonl")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    work = tempfile.mkdtemp(prefix="sf-lgscale-")
    subprocess.run(["sh", os.path.join(HERE, "tls-cache.sh"), TLS_NAME, os.path.join(work, "tls")], check=True)
    recs = []
    with open(out, "a") as f:
        f.write(json.dumps({"meta": {"nofile_hard": hard, "cpus": os.cpu_count(),
                                     "loadavg": os.getloadavg(), "argv": sys.argv}}) + "\n")
        for n in [int(x) for x in opts.sessions.split(",")]:
            for rep in range(opts.reps):
                # A B, then B A: neither server always runs first (a warmer machine, a fuller
                # page cache) on every repetition.
                impls = ["ours"] + (["reference"] if opts.reference else [])
                for impl in impls if rep % 2 == 0 else impls[::-1]:
                    rec = run_one(opts, n, work, impl, rep)
                    rec["rep"] = rep
                    recs.append(rec)
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
                    print(f"{impl} {n} (repetition {rep + 1}): "
                          f"{'ok' if rec['ok'] else 'FAILED ' + rec.get('error', '')[:300]}", file=sys.stderr)
    if opts.reps > 1:
        print(f"Medians of {opts.reps} repetitions per cell (failed ones left out).\n")
    print(table(medians([r for r in recs if r["impl"] == "ours"])))
    if opts.reference:
        print("\nreference:\n")
        print(table(medians([r for r in recs if r["impl"] == "reference"])))
        print("\n" + ratio_table(medians(recs)))
    print(f"results: {out}; logs: {work}", file=sys.stderr)
    sys.exit(0 if all(r["ok"] for r in recs) else 1)


if __name__ == "__main__":
    main()
