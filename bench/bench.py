#!/usr/bin/env python3
"""Benchmark snowflake-server, optionally against a reference server (the upstream Go one),
over ws:// and wss://, on loopback.

  bench/bench.py [--server BIN] [--reference GO_BIN] [--modes ws,wss] [--reps N]
                 [--sfpeer BIN] [--out FILE.jsonl] [--transport-options OPTS] [SCENARIO ...]
  bench/bench.py --table FILE.jsonl         # print the tables of a results file again

Every repetition starts a fresh ORPort (`sfpeer echo`) and a fresh server process, runs one
`sfpeer client` against it and stops both. With --reference the servers take turns (ours, Go,
ours, Go, ...), so that slow drift of a shared machine hits both alike. Server CPU comes from
/proc/PID/stat (utime + stime of all threads), memory from /proc/PID/status. The client verifies
every byte; a repetition whose client or server fails is recorded as an error and left out of
the medians, and the exit status is 1.

Scenarios (default: bulk200 multi50x2 ping200 ping200short setup idle1000):
  bulk<MB>      1 session x 1 stream x MB megabytes (bulk200: 200 MB)
  multi50x2     50 sessions x 2 streams x 4 MB
  ping200       200 sessions, 1 KB every 200 ms for 20 s: round-trip p50/p99
  ping200short  the same for 6 s: the p99 then includes the start-up spike
  setup         20 sessions started 200 ms apart: WebSocket dial -> first echoed byte
  idle<N>       N idle sessions: RSS per session and idle CPU

wss:// runs both servers with --acme-hostnames NAME and a certificate that tls-cache.sh wrote
into each fresh TOR_PT_STATE_LOCATION/snowflake-certificate-cache (Go autocert's DirCache
layout), so no ACME CA is contacted; the client checks the chain against the cache's own CA.
Both servers also open an HTTP-01 listener on port 80 of the bind address: each repetition
binds to a random 127.x.y.z so that port is free.
"""
import argparse
import glob
import json
import os
import queue
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
TLS_NAME = "snowflake.bench.test"
DEFAULT_SCENARIOS = ["bulk200", "multi50x2", "ping200", "ping200short", "setup", "idle1000"]


class Scenario:
    """What the client does and which numbers the table shows for it."""

    def __init__(self, name, kind, client_args, sessions, streams=1, nbytes=0):
        self.name, self.kind, self.client_args = name, kind, client_args
        self.sessions, self.streams, self.nbytes = sessions, streams, nbytes


def make_scenario(name, idle_settle, idle_window):
    m = re.fullmatch(r"bulk([1-9][0-9]*)", name)
    if m:
        n = int(m.group(1)) * 1000000
        return Scenario(name, "bulk", ["--sessions", "1", "--streams", "1", "--bytes", str(n),
                                       "--timeout", "600s"], 1, 1, n)
    if name == "multi50x2":
        return Scenario(name, "bulk", ["--sessions", "50", "--streams", "2", "--bytes", "4000000",
                                       "--timeout", "600s"], 50, 2, 4000000)
    m = re.fullmatch(r"ping200(short)?", name)
    if m:
        secs = 6 if m.group(1) else 20
        return Scenario(name, "ping", ["--sessions", "200", "--streams", "1", "--ping-interval", "200ms",
                                       "--ping-size", "1024", "--duration", f"{secs}s", "--ramp", "2s",
                                       "--timeout", "180s"], 200)
    if name == "setup":
        return Scenario(name, "setup", ["--sessions", "20", "--streams", "1", "--bytes", "1",
                                        "--ramp", "4s", "--timeout", "120s"], 20, 1, 1)
    m = re.fullmatch(r"idle([1-9][0-9]*)", name)
    if m:
        n = int(m.group(1))
        ramp = max(1, n // 200)
        # The client holds the sessions from the moment the last one is up: long enough for the
        # settle pause and the CPU window, with a margin.
        hold = idle_settle + idle_window + 3
        return Scenario(name, "idle", ["--sessions", str(n), "--streams", "1", "--idle",
                                       "--duration", f"{hold}s", "--ramp", f"{ramp}s",
                                       "--timeout", f"{hold + ramp + 240}s"], n, 1, 2)
    raise ValueError(f"unknown scenario {name!r}")


# ---------------------------------------------------------------------------- processes

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def memory_kb(pid):
    mem = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                mem[key] = int(value.split()[0])
    return mem


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def read_line_starting(proc, prefix, timeout):
    """Lines of proc's stdout up to the first that starts with prefix; bounded by timeout.
    A thread reads, because select() cannot see lines already sitting in Python's buffer."""
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
            if line.startswith(prefix):
                return
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line.startswith(prefix):
            return seen
    raise RuntimeError(f"no line starting with {prefix!r} within {timeout} s; got {seen!r}")


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------- one repetition

def start_echo(sfpeer):
    """A fresh ORPort: `sfpeer echo` on a free loopback port, once it listens. (proc, port)"""
    orport = free_port("127.0.0.1")
    echo = subprocess.Popen([sfpeer, "echo", "--listen", f"127.0.0.1:{orport}", "--lifetime", "30m"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    read_line_starting(echo, "{", 15)
    return echo, orport


def pt_env(host, port, orport, state):
    """The environment tor gives a managed server transport: snowflake on host:port, the ORPort
    on loopback, the state directory."""
    return dict(os.environ, TOR_PT_MANAGED_TRANSPORT_VER="1", TOR_PT_SERVER_TRANSPORTS="snowflake",
                TOR_PT_SERVER_BINDADDR=f"snowflake-{host}:{port}", TOR_PT_ORPORT=f"127.0.0.1:{orport}",
                TOR_PT_STATE_LOCATION=state)


def server_command(binary, mode):
    if mode == "ws":
        return [binary, "--disable-tls"]
    return [binary, "--acme-hostnames", TLS_NAME]


def run_once(opts, impl, binary, mode, scen, rep, workdir):
    """One repetition: fresh echo, fresh server, one client. Returns the record."""
    tag = f"{mode}-{scen.name}-{impl}-{rep}"
    # A random loopback address per repetition: the wss:// servers open port 80 on it.
    host = "127.%d.%d.%d" % (random.randint(64, 250), random.randint(0, 255), random.randint(2, 250))
    state = os.path.join(workdir, f"state-{tag}")
    os.makedirs(state, mode=0o700)
    rec = {"impl": impl, "mode": mode, "scenario": scen.name, "rep": rep,
           "server": " ".join(server_command(binary, mode)),
           "transport_options": opts.transport_options, "failures": []}
    echo = srv = None
    try:
        echo, orport = start_echo(opts.sfpeer)
        port = free_port(host)
        env = pt_env(host, port, orport, state)
        if opts.transport_options:
            env["TOR_PT_SERVER_TRANSPORT_OPTIONS"] = "snowflake:" + opts.transport_options
        if mode == "wss":
            shutil.copytree(os.path.join(opts.tls_dir, "cache"),
                            os.path.join(state, "snowflake-certificate-cache"))
        with open(os.path.join(workdir, f"server-{tag}.log"), "w") as log:
            srv = subprocess.Popen(server_command(binary, mode), env=env, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=log, text=True)
        read_line_starting(srv, "SMETHODS DONE", 20)
        time.sleep(0.5)
        rss0 = memory_kb(srv.pid)["VmRSS"]
        cpu0 = cpu_seconds(srv.pid)

        cmd = [opts.sfpeer, "client", "--json"]
        if mode == "ws":
            cmd += ["--url", f"ws://{host}:{port}/"]
        else:
            cmd += ["--url", f"wss://{TLS_NAME}:{port}/", "--connect", f"{host}:{port}",
                    "--ca", os.path.join(opts.tls_dir, "ca.pem")]
        cmd += scen.client_args
        ready = os.path.join(workdir, f"ready-{tag}")
        if scen.kind == "idle":
            cmd += ["--ready-file", ready]
        rec["client"] = " ".join(cmd[1:])
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if scen.kind == "idle":
            measure_idle(opts, srv, client, ready, rec)
        try:
            out, err = client.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            client.kill()
            out, err = client.communicate()
            rec["failures"].append("client did not finish within 900 s")
        wall = time.monotonic() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if srv.poll() is not None:
            rec["failures"].append(f"server exited with status {srv.returncode} during the run")
        else:
            cpu1 = cpu_seconds(srv.pid)
            mem = memory_kb(srv.pid)
            rec.update({"server_cpu_s": cpu1 - cpu0, "server_cpu_pct": 100 * (cpu1 - cpu0) / wall,
                        "rss0_kb": rss0, "rss_end_kb": mem["VmRSS"], "hwm_kb": mem["VmHWM"]})
        rec.update({"wall_s": wall, "client_rc": client.returncode,
                    "client_cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
                    "client_summary": (err.strip().splitlines() or [""])[-1]})
        results = [line for line in out.splitlines() if line.startswith("{")]
        if not results:
            rec["failures"].append("client printed no JSON result")
        else:
            rec["result"] = json.loads(results[-1])
        check_client(scen, rec)
        derive(scen, rec)
    except (RuntimeError, OSError, ValueError) as e:
        rec["failures"].append(f"{type(e).__name__}: {e}")
    finally:
        stop(srv)
        stop(echo)
    rec["ok"] = not rec["failures"]
    return rec


def measure_idle(opts, srv, client, ready, rec):
    """Wait for every idle session, let them settle, then sample RSS and CPU over a window."""
    deadline = time.monotonic() + 600
    while not os.path.exists(ready) and client.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if not os.path.exists(ready):
        rec["failures"].append("idle sessions never all established")
        return
    time.sleep(opts.idle_settle)
    if srv.poll() is not None or client.poll() is not None:
        rec["failures"].append("a process exited while the sessions were idle")
        return
    rss = memory_kb(srv.pid)["VmRSS"]
    c1, t1 = cpu_seconds(srv.pid), time.monotonic()
    time.sleep(opts.idle_window)
    if srv.poll() is not None:
        return  # reported after the client finishes
    c2, t2 = cpu_seconds(srv.pid), time.monotonic()
    rec.update({"rss_idle_kb": rss, "idle_cpu_pct": 100 * (c2 - c1) / (t2 - t1)})
    if client.poll() is not None:
        rec["failures"].append("the client ended before the idle window did")


def check_client(scen, rec):
    """The client must report every session and stream done and every byte verified."""
    r = rec.get("result")
    if r is None:
        return
    f = rec["failures"]
    if rec["client_rc"] != 0:
        f.append(f"client exit status {rec['client_rc']}: {rec['client_summary']}")
    if r.get("verify_failures"):
        f.append(f"{r['verify_failures']} verification failures")
    if r.get("sessions_ok") != scen.sessions or r.get("sessions_failed"):
        f.append(f"sessions ok {r.get('sessions_ok')}/{scen.sessions}")
    if r.get("streams_ok") != scen.sessions * scen.streams or r.get("streams_failed"):
        f.append(f"streams ok {r.get('streams_ok')}/{scen.sessions * scen.streams}")
    if r.get("errors"):
        f.append(f"client errors {r['errors']}")
    if scen.kind in ("bulk", "setup"):
        want = scen.sessions * scen.streams * scen.nbytes
        if r.get("bytes_verified") != want:
            f.append(f"bytes verified {r.get('bytes_verified')} of {want}")
    if scen.kind == "ping":
        # A ping either comes back verified or fails its stream: every one sent must be ok.
        pings = r.get("pings") or {}
        if not pings.get("ok") or pings.get("ok") != pings.get("sent"):
            f.append(f"pings {pings}")
        elif r.get("bytes_verified") != pings["ok"] * 1024:
            f.append(f"bytes verified {r.get('bytes_verified')} for {pings['ok']} pings of 1 KB")
    if scen.kind == "idle" and (r.get("idle") or {}).get("established") != scen.sessions:
        f.append(f"idle sessions established {(r.get('idle') or {}).get('established')}/{scen.sessions}")


def derive(scen, rec):
    """The numbers the table shows, computed once per record."""
    r = rec.get("result") or {}
    m = {}
    if scen.kind == "bulk":
        m["mb_per_s"] = r.get("mb_per_s")
        if r.get("bytes_verified") and "server_cpu_s" in rec:
            # relayed = client->ORPort plus ORPort->client payload = 2 x bytes verified
            m["cpu_s_per_gb"] = rec["server_cpu_s"] / (2 * r["bytes_verified"] / 1e9)
        if "hwm_kb" in rec:
            m["peak_rss_mb"] = rec["hwm_kb"] / 1024
    if scen.kind == "ping" and r.get("latency_ms"):
        m["ping_p50_ms"] = r["latency_ms"]["p50"]
        m["ping_p99_ms"] = r["latency_ms"]["p99"]
        m["server_cpu_pct"] = rec.get("server_cpu_pct")
    if scen.kind in ("setup", "ping") and r.get("setup_ms"):
        m["setup_p50_ms"] = r["setup_ms"]["p50"]
    if scen.kind == "idle" and "rss_idle_kb" in rec:
        m["rss_kb_per_session"] = (rec["rss_idle_kb"] - rec["rss0_kb"]) / scen.sessions
        m["idle_rss_mb"] = rec["rss_idle_kb"] / 1024
        m["idle_cpu_pct"] = rec["idle_cpu_pct"]
    rec["metrics"] = {k: v for k, v in m.items() if v is not None}


# ---------------------------------------------------------------------------- tables

METRICS = [  # key, label, format, which way is better
    ("mb_per_s", "MB/s", "{:.1f}"),
    ("cpu_s_per_gb", "server CPU-s per GB relayed", "{:.2f}"),
    ("peak_rss_mb", "server peak RSS (MiB)", "{:.1f}"),
    ("ping_p50_ms", "ping p50 (ms)", "{:.2f}"),
    ("ping_p99_ms", "ping p99 (ms)", "{:.2f}"),
    ("server_cpu_pct", "server CPU %", "{:.1f}"),
    ("setup_p50_ms", "setup p50 (ms)", "{:.1f}"),
    ("rss_kb_per_session", "RSS per idle session (KiB)", "{:.1f}"),
    ("idle_rss_mb", "idle RSS (MiB)", "{:.1f}"),
    ("idle_cpu_pct", "idle CPU %", "{:.2f}"),
]
SHOWN = {"bulk": ["mb_per_s", "cpu_s_per_gb", "peak_rss_mb"],
         "ping": ["ping_p50_ms", "ping_p99_ms", "server_cpu_pct"],
         "setup": ["setup_p50_ms"],
         "idle": ["rss_kb_per_session", "idle_rss_mb", "idle_cpu_pct"]}


def kind_of(name):
    return make_scenario(name, 0, 0).kind


def tables(records):
    """Markdown: one table per mode; rows = scenario x metric; medians of the ok repetitions."""
    impls = list(dict.fromkeys(r["impl"] for r in records))
    lines = []
    for mode in dict.fromkeys(r["mode"] for r in records):
        recs = [r for r in records if r["mode"] == mode]
        scheme = "ws://" if mode == "ws" else "wss:// (TLS)"
        head = ["scenario", "metric"] + [f"{i} (median)" for i in impls]
        if len(impls) == 2:
            head.append(f"{impls[0]} / {impls[1]}")
        lines += [f"#### {scheme}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for scen in dict.fromkeys(r["scenario"] for r in recs):
            runs = {i: [r for r in recs if r["scenario"] == scen and r["impl"] == i] for i in impls}
            for key in SHOWN[kind_of(scen)]:
                label, fmt = next((lb, f) for k, lb, f in METRICS if k == key)
                meds = []
                row = [scen, label]
                for i in impls:
                    ok = [r["metrics"][key] for r in runs[i] if r["ok"] and key in r.get("metrics", {})]
                    bad = sum(1 for r in runs[i] if not r["ok"])
                    med = statistics.median(ok) if ok else None
                    meds.append(med)
                    text = "-" if med is None else fmt.format(med)
                    if bad:
                        text += f" ({bad} of {len(runs[i])} failed)"
                    row.append(text)
                if len(impls) == 2:
                    a, b = meds
                    cell = "-"
                    if a is not None and b:
                        cell = f"{a / b:.2f}"
                        pairs = paired_ratios(runs[impls[0]], runs[impls[1]], key)
                        if len(pairs) >= 2:
                            cell += f" ({min(pairs):.2f}–{max(pairs):.2f})"
                    row.append(cell)
                lines.append("| " + " | ".join(row) + " |")
        n = max(len([r for r in recs if r["impl"] == i and r["scenario"] == recs[0]["scenario"]]) for i in impls)
        lines += ["", f"Medians of {n} repetitions per cell; ratio < 1 means ours is lower "
                  "(better for CPU, RSS, latency; worse for MB/s)."]
        if len(impls) == 2 and n >= 2:
            lines.append("In brackets: the lowest and highest ratio of one repetition to the "
                         "other server's repetition of the same number (the two ran back to back).")
        lines.append("")
    return "\n".join(lines)


def paired_ratios(runs_a, runs_b, key):
    """a/b for every repetition number both servers completed (b not 0)."""
    def by_rep(runs):
        return {r["rep"]: r["metrics"][key] for r in runs if r["ok"] and key in r.get("metrics", {})}
    a, b = by_rep(runs_a), by_rep(runs_b)
    return [a[k] / b[k] for k in sorted(a.keys() & b.keys()) if b[k]]


def load_records(path):
    with open(path) as f:
        return [rec for rec in map(json.loads, f) if "scenario" in rec]


# ---------------------------------------------------------------------------- main

def default_sfpeer():
    if os.environ.get("SFPEER"):
        return os.environ["SFPEER"]
    found = sorted(glob.glob(os.path.join(REPO, "build", "*", "sfpeer", "sfpeer")),
                   key=lambda p: "/release/" not in p)
    return found[0] if found else os.path.join(REPO, "build", "release", "sfpeer", "sfpeer")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO")
    ap.add_argument("--server", default=os.path.join(REPO, "build", "release", "src", "snowflake-server"),
                    help="our snowflake-server binary (default: build/release/src/snowflake-server)")
    ap.add_argument("--reference", help="a reference server binary (the Go snowflake-server)")
    ap.add_argument("--modes", default="ws", help="ws, wss or ws,wss")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sfpeer", default=default_sfpeer(),
                    help="sfpeer binary (default: $SFPEER, else build/*/sfpeer/sfpeer)")
    ap.add_argument("--out", help="append every repetition's record (JSON lines) here")
    ap.add_argument("--transport-options", default="", help="ServerTransportOptions, e.g. num-turbotunnel=2")
    ap.add_argument("--pause", type=float, default=2.0, help="seconds between repetitions")
    ap.add_argument("--idle-settle", type=float, default=5.0, help="idle: seconds after the last session before sampling")
    ap.add_argument("--idle-window", type=float, default=20.0, help="idle: seconds over which idle CPU is measured")
    ap.add_argument("--table", metavar="FILE", help="only print the tables of a results file")
    opts = ap.parse_args()

    if opts.table:
        print(tables(load_records(opts.table)))
        return 0
    modes = [m for m in opts.modes.split(",") if m]
    if not modes or any(m not in ("ws", "wss") for m in modes):
        ap.error("--modes: ws, wss or ws,wss")
    if opts.reps < 1:
        ap.error("--reps must be positive")
    try:
        scenarios = [make_scenario(s, opts.idle_settle, opts.idle_window)
                     for s in (opts.scenarios or DEFAULT_SCENARIOS)]
    except ValueError as e:
        ap.error(str(e))
    servers = [("ours", os.path.abspath(opts.server))]
    if opts.reference:
        servers.append(("go", os.path.abspath(opts.reference)))
    for what, path in servers + [("sfpeer", opts.sfpeer)]:
        if not os.access(path, os.X_OK):
            ap.error(f"{what}: {path} is not an executable")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # idle runs hold many sockets
    workdir = tempfile.mkdtemp(prefix="sfbench-")
    if "wss" in modes:
        opts.tls_dir = os.path.join(workdir, "tls")
        subprocess.run(["sh", os.path.join(HERE, "tls-cache.sh"), TLS_NAME, opts.tls_dir],
                       check=True, stdout=subprocess.DEVNULL)
    records = []
    for mode in modes:
        for scen in scenarios:
            for rep in range(opts.reps):
                for impl, binary in servers:
                    rec = run_once(opts, impl, binary, mode, scen, rep, workdir)
                    records.append(rec)
                    if opts.out:
                        with open(opts.out, "a") as f:
                            f.write(json.dumps(rec) + "\n")
                    shown = " ".join(f"{k}={v:.3g}" for k, v in rec.get("metrics", {}).items())
                    status = "ok" if rec["ok"] else "FAILED: " + "; ".join(rec["failures"])
                    print(f"bench: {mode} {scen.name} {impl} rep {rep}: {status} {shown}",
                          file=sys.stderr, flush=True)
                    time.sleep(opts.pause)
    print(tables(records))
    print(f"bench: server logs in {workdir}", file=sys.stderr)
    return 0 if all(r["ok"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
