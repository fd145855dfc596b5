#!/usr/bin/env python3
"""The soak's bookkeeping and verdict (bench/soak.sh, docs/soak.md).

  soak_verdict.py record KIND T0 START END RC JSON    one compact JSON line for a client run
                                                      (times relative to T0, Unix seconds)
  soak_verdict.py judge DIR [options]                 reads DIR/samples.csv, clients.jsonl,
                                                      attacks.jsonl, restarts.jsonl; writes
                                                      DIR/summary.json and DIR/soak.png;
                                                      exit 1 if the soak failed
  soak_verdict.py self-test                           the verdict on made-up series: a flat one
                                                      passes, each kind of failure fails

What fails a soak (memory, descriptors and correctness; never timing):
  * growth, judged after the warm-up (--warmup-s, or --warmup-frac of the run; by default
    min(960 s, half the run), see warmup_seconds()) on the median of the last quarter of the
    samples against the median of the first quarter:
      - RSS may grow by max(--rss-tol-pct % of the first median, --rss-tol-mib MiB);
      - the descriptors that nothing explains, fds - open WebSockets - active relay streams
        (each stream holds its socket to tor), may grow by max(--fd-tol-pct %, --fd-tol). The
        raw fd count is reported, not judged: it follows the relay streams, which pile up
        between ORPort restarts and fall at each one, so its quarter medians measure where the
        restarts fall, not a leak. Samples whose metrics scrape failed (empty gauges) are left
        out; fewer than 8 with gauges after the warm-up fails (nothing judged is no pass);
  * descriptors not given back: once the load is over, the server's fds less its open WebSockets
    and relay streams must come back to the idle server's count within 30 s (quiesce.json,
    written by soak_sample.py --quiesce); this holds for the shortest run, as sessions left by
    vanished clients linger 4 min (smux keepalive) but hold no descriptor;
  * the server died (a sample without the process), did not exit 0 on SIGTERM, or a sanitizer
    wrote to its stderr (--server-ok 0, --sanitizer-lines N);
  * a client saw a wrong byte (verify_failures) or a KCP packet it could not parse
    (kcp_in_errors): anything else a client reports (a stream cut by an ORPort restart, a
    timeout under attack) is counted, not failed;
  * the final run failed: once the load is over (the ORPort restarted, every attack done) one
    more verified bulk client (kind "final") must fully succeed.
Reported, not judged (on a loaded machine a run may take the whole window): runs and fully
successful runs per kind, and how many ORPort restarts a fully successful run followed."""
import argparse
import json
import os
import statistics
import subprocess
import sys


def record(args):
    with open(args.json) as f:
        text = f.read()
    try:
        j = json.loads(text[text.index("{"):])
    except ValueError:
        j = {}
    t0 = float(args.t0)
    print(json.dumps({
        "kind": args.kind, "start": round(float(args.start) - t0, 1),
        "end": round(float(args.end) - t0, 1), "rc": int(args.rc),
        "ok": int(args.rc) == 0 and bool(j) and not j.get("timed_out", True),
        "sessions": j.get("sessions"), "sessions_ok": j.get("sessions_ok"),
        "streams_ok": j.get("streams_ok"), "streams_failed": j.get("streams_failed"),
        "bytes_verified": j.get("bytes_verified", 0),
        "verify_failures": j.get("verify_failures", 0),
        "kcp_in_errors": (j.get("kcp_client") or {}).get("kcp_in_errors", 0),
        "reconnects": j.get("reconnects", 0), "errors": j.get("errors") or {},
    }))


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_samples(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [dict(zip(header, line.rstrip("\n").split(","))) for line in f if line.strip()]
    return rows


def growth(series, tol_pct, tol_abs):
    """(first median, last median, allowed growth, grew too much) of a post-warm-up series."""
    q = max(1, len(series) // 4)
    first, last = statistics.median(series[:q]), statistics.median(series[-q:])
    allowed = max(first * tol_pct / 100.0, tol_abs)
    return first, last, allowed, last - first > allowed


def slope_per_hour(ts, ys):
    """Least-squares slope, per hour (reported, not judged)."""
    if len(ts) < 2:
        return 0.0
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return 0.0 if den == 0 else 3600 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den


# The longest life of a session whose client vanished: the smux keepalive checks every 4 min and
# closes a session idle for a whole period, so it goes 4 to 8 min after its last packet
# (src/smux/smux.h, SF_SMUX_KEEPALIVE_TIMEOUT_MS).
SESSION_LINGER_MAX_S = 480


def warmup_seconds(opts):
    """The warm-up: --warmup-frac of the run if given, else --warmup-s if given, else two
    session lifetimes (960 s) but at most half the run. Why two: under a steady mix the state of
    vanished clients (sessions, their KCP and smux buffers) fills for one lifetime; the RSS then
    tracks the peak of that state (the allocator keeps what was freed), and the peak rises until
    the bursts of the load (attack rounds of 300 sessions, a cycle of a few minutes) have met a
    full lifetime of lingering state: one lifetime plus a cycle, 12-14 min in the runs of
    docs/soak.md."""
    if opts.warmup_frac is not None:
        return opts.warmup_frac * opts.duration
    if opts.warmup_s is not None:
        return opts.warmup_s
    return min(2 * SESSION_LINGER_MAX_S, opts.duration / 2)


def unexplained_fds(row):
    """fds - WebSockets - relay streams, or None when the metrics scrape of that sample failed."""
    if row.get("websockets", "") == "" or row.get("streams", "") == "":
        return None
    return int(row["fds"]) - int(row["websockets"]) - int(row["streams"])


def growth_summary(ts, series, pct, absolute):
    """(summary dict, grew too much, first median, last median, allowed growth)."""
    first, last, allowed, bad = growth(series, pct, absolute)
    return {"first_quarter_median": round(first, 2), "last_quarter_median": round(last, 2),
            "allowed_growth": round(allowed, 2), "min": min(series), "max": max(series),
            "slope_per_hour": round(slope_per_hour(ts, series), 2),
            "last_quarter_slope_per_hour": round(slope_per_hour(
                ts[-len(ts) // 4:], series[-len(ts) // 4:]), 2)}, bad, first, last, allowed


def verdict(samples, clients, attacks, restarts, opts):
    """(summary dict, list of failure strings)."""
    fails = []
    alive = [r for r in samples if int(r["fds"]) >= 0]
    if len(alive) < len(samples):
        fails.append("the server died (the sampler found no process at t=%s s)" % samples[-1]["t_s"])
    if not opts.server_ok:
        fails.append("the server did not exit with status 0 on SIGTERM")
    if opts.sanitizer_lines:
        fails.append(f"the sanitizer reported {opts.sanitizer_lines} line(s) on the server's stderr")
    q = opts.quiesce
    if q is not None:
        if not q.get("settled"):
            fails.append(f"descriptors not given back after the load: {q.get('unexplained_fds')} not "
                         f"explained by WebSockets and streams, {q.get('idle_fds_at_start')} when idle "
                         f"at the start (fds {q.get('fds')}, waited {q.get('waited_s')} s)")
    warm = warmup_seconds(opts)
    after = [r for r in alive if float(r["t_s"]) >= warm]
    gauged = [r for r in after if unexplained_fds(r) is not None]
    summary = {"duration_s": opts.duration, "warmup_s": warm, "samples": len(samples),
               "samples_after_warmup": len(after), "samples_after_warmup_with_gauges": len(gauged),
               "quiesce": q}
    if len(after) < 8:
        fails.append(f"only {len(after)} samples after the warm-up (at least 8 needed)")
    else:
        ts = [float(r["t_s"]) for r in after]
        rss = [int(r["rss_kib"]) / 1024 for r in after]
        fds = [int(r["fds"]) for r in after]
        summary["rss_mib"], bad, first, last, allowed = growth_summary(
            ts, rss, opts.rss_tol_pct, opts.rss_tol_mib)
        if bad:
            fails.append(f"rss_mib grew from {first:.1f} to {last:.1f} MiB (median of the first vs "
                         f"the last quarter after the warm-up; allowed +{allowed:.1f})")
        # reported only: the raw count follows the relay streams (see the docstring)
        summary["fds"] = growth_summary(ts, fds, opts.fd_tol_pct, opts.fd_tol)[0]
        summary["fds"]["judged"] = False
        summary["rss_mib"]["start"] = round(int(alive[0]["rss_kib"]) / 1024, 2)
        summary["rss_mib"]["end"] = round(rss[-1], 2)
        summary["fds"]["start"] = int(alive[0]["fds"])
        summary["fds"]["end"] = fds[-1]
        summary["peak_rss_mib"] = round(max(int(r["hwm_kib"]) for r in alive) / 1024, 2)
        summary["cpu_s"] = float(alive[-1]["cpu_s"])
        summary["load1_median"] = statistics.median(float(r["load1"]) for r in samples)
    if len(gauged) < 8:
        fails.append(f"only {len(gauged)} samples with the metrics gauges after the warm-up (at "
                     f"least 8 needed to judge the descriptors)")
    else:
        un = [unexplained_fds(r) for r in gauged]
        summary["unexplained_fds"], bad, first, last, allowed = growth_summary(
            [float(r["t_s"]) for r in gauged], un, opts.fd_tol_pct, opts.fd_tol)
        if bad:
            fails.append(f"descriptors not explained by WebSockets and relay streams grew from "
                         f"{first:.1f} to {last:.1f} (median of the first vs the last quarter after "
                         f"the warm-up; allowed +{allowed:.1f})")
    kinds = {}
    for c in clients:
        k = kinds.setdefault(c["kind"], {"runs": 0, "ok": 0, "bytes_verified": 0,
                                         "sessions_ok": 0, "verify_failures": 0,
                                         "kcp_in_errors": 0, "reconnects": 0})
        k["runs"] += 1
        k["ok"] += 1 if c["ok"] else 0
        for key in ("bytes_verified", "sessions_ok", "verify_failures", "kcp_in_errors",
                    "reconnects"):
            k[key] += c.get(key) or 0
    summary["clients"] = kinds
    for kind, k in sorted(kinds.items()):
        if k["verify_failures"]:
            fails.append(f"{kind}: {k['verify_failures']} verification failure(s) (wrong bytes)")
        if k["kcp_in_errors"]:
            fails.append(f"{kind}: {k['kcp_in_errors']} KCP packet(s) the client could not parse")
    if not kinds.get("final", {}).get("ok"):
        fails.append("the final verified run after the load did not fully succeed")
    names = {}
    for a in attacks:
        names[a["attack"]] = names.get(a["attack"], 0) + 1
    summary["attacks"] = {"rounds": len(attacks), "by_name": names}
    recovered = 0
    for r in restarts:
        if any(c["ok"] and c["start"] >= r["up"] for c in clients):
            recovered += 1
    summary["orport_restarts"] = {"count": len(restarts), "followed_by_success": recovered}
    summary["verdict"] = "FAIL" if fails else "PASS"
    summary["failures"] = fails
    return summary, fails


GNUPLOT = """
set terminal pngcairo size 1200,1050 font ",10"
set output "{png}"
set datafile separator ","
set key autotitle columnhead top right opaque
set multiplot layout 3,1 title "{title}"
set grid
set xrange [0:{xmax}]
set object 1 rect from 0, graph 0 to {warm}, graph 1 behind fc rgb "#e8e8e8" fs solid noborder
set label 1 "warm-up" at {warm_mid}, graph 0.05 center
{restarts}
set ylabel "MiB"
set yrange [0:*]
plot "{csv}" using 1:($2/1024) with lines lw 2 title "VmRSS", \\
     "{csv}" using 1:($3/1024) with lines dt 2 title "VmHWM (peak)"
set xlabel "seconds since start"
set ylabel "count"
plot "{csv}" using 1:4 with lines lw 2 title "open fds", \\
     "{csv}" using 1:7 with lines title "sessions (metrics)", \\
     "{csv}" using 1:8 with lines title "streams (metrics)"
set ylabel "fds"
set yrange [0:{unexplained_ymax}]
plot "{csv}" using 1:((strcol(8) eq "" || strcol(9) eq "") ? NaN : $4 - $9 - $8) with points pt 7 ps 0.4 \\
     title "fds - WebSockets - streams (judged; gaps: failed scrapes)"
unset multiplot
"""


def plot(directory, summary, restarts, opts):
    csv = os.path.join(directory, "samples.csv")
    png = os.path.join(directory, "soak.png")
    lines = "\n".join(f'set arrow from {r["up"]}, graph 0 to {r["up"]}, graph 1 nohead dt 3 lc rgb "#aa0000"'
                      for r in restarts)
    rss = summary.get("rss_mib", {})
    fds = summary.get("unexplained_fds", {})
    title = (f"snowflake-server soak, {opts.duration:.0f} s: {summary['verdict']}  "
             f"(RSS median {rss.get('first_quarter_median', '?')} -> {rss.get('last_quarter_median', '?')} MiB, "
             f"unexplained fds {fds.get('first_quarter_median', '?')} -> {fds.get('last_quarter_median', '?')}; "
             f"dotted red: ORPort restarts)")
    script = GNUPLOT.format(png=png, csv=csv, title=title, xmax=opts.duration,
                            warm=summary["warmup_s"], warm_mid=summary["warmup_s"] / 2,
                            restarts=lines, unexplained_ymax=max(100, 2 * fds.get("max", 0)))
    with open(os.path.join(directory, "soak.gp"), "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", os.path.join(directory, "soak.gp")], capture_output=True, text=True)
    if r.returncode != 0:
        print("gnuplot failed: " + r.stderr.strip(), file=sys.stderr)
        return False
    return True


def judge(args):
    d = args.dir
    samples = read_samples(os.path.join(d, "samples.csv"))
    if not samples:
        print("FAIL: no samples")
        return 1
    qpath = os.path.join(d, "quiesce.json")
    args.quiesce = read_jsonl(qpath)[-1] if os.path.exists(qpath) and read_jsonl(qpath) else None
    if args.quiesce is None:
        args.quiesce = {"settled": False, "unexplained_fds": "unknown (no quiesce.json)"}
    summary, fails = verdict(samples, read_jsonl(os.path.join(d, "clients.jsonl")),
                             read_jsonl(os.path.join(d, "attacks.jsonl")),
                             read_jsonl(os.path.join(d, "restarts.jsonl")), args)
    if not args.no_plot and not plot(d, summary, read_jsonl(os.path.join(d, "restarts.jsonl")), args):
        fails.append("no plot")
        summary["verdict"] = "FAIL"
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    for line in fails:
        print("FAIL: " + line)
    print(f"soak: {summary['verdict']}")
    return 1 if fails else 0


def options(**over):
    o = argparse.Namespace(duration=600.0, warmup_frac=0.2, warmup_s=None, rss_tol_pct=10.0,
                           rss_tol_mib=8.0, fd_tol_pct=10.0, fd_tol=16, server_ok=True,
                           sanitizer_lines=0, quiesce=None)
    vars(o).update(over)
    return o


def soak_like(rnd, rss_leak_mib_per_min=0.0, fd_leak_per_min=0.0, gauges=True):
    """A made-up 30-minute run shaped like docs/soak.md's (samples every 5 s): RSS climbing in
    steps to a plateau at 14 min (the peak of lingering state), one new peak near the end; relay
    streams piling up between ORPort restarts (every 225 s) and falling at each one, by 800 at
    first and 1200 at the end (more client runs get through as the machine's load changes), the
    fds following them; a 50-connection slowloris every 165 s (12 s of unexplained fds);
    a failed metrics scrape now and then (empty gauges). Leaks are added on top."""
    rows = []
    for i in range(361):
        t = i * 5.0
        steps = min(7, int(t // 120))  # a new peak of state every 2 min until 14 min
        rss_mib = 20 + 20 * steps + (4 if t >= 1700 else 0) + rnd.uniform(-0.5, 0.5)
        rss_mib += rss_leak_mib_per_min * t / 60
        into_period = t % 225
        streams = int((800 + 400 * t / 1800) * into_period / 225) + rnd.randint(0, 20)
        websockets = 60 + rnd.randint(-10, 10)
        unexplained = 20 + (50 if t % 165 < 12 else 0) + int(fd_leak_per_min * t / 60)
        scraped = gauges and i % 33 != 5
        rows.append({"t_s": str(t), "rss_kib": str(int(rss_mib * 1024)),
                     "hwm_kib": str(int(rss_mib * 1024)), "fds": str(unexplained + websockets + streams),
                     "cpu_s": str(t / 10), "load1": "20.0",
                     "streams": str(streams) if scraped else "",
                     "websockets": str(websockets) if scraped else ""})
    return rows


def self_test():
    """The verdict on made-up series: each case must come out as stated."""
    import random
    rnd = random.Random(7)

    def series(rss_leak_kib_per_s=0.0, fd_leak_per_min=0.0, die_at=None):
        rows = []
        for i in range(121):  # every 5 s for 600 s
            t = i * 5.0
            if die_at is not None and t >= die_at:
                rows.append({"t_s": str(t), "rss_kib": "", "hwm_kib": "", "fds": "-1", "cpu_s": "",
                             "load1": "1.0", "streams": "", "websockets": ""})
                break
            rss = 40000 + rnd.randint(-3000, 3000) + int(rss_leak_kib_per_s * t)
            streams, websockets = 10 + rnd.randint(-5, 5), 30 + rnd.randint(-5, 5)
            fds = 20 + rnd.randint(-10, 10) + streams + websockets + int(fd_leak_per_min * t / 60)
            rows.append({"t_s": str(t), "rss_kib": str(rss), "hwm_kib": str(rss + 5000),
                         "fds": str(fds), "cpu_s": str(t / 10), "load1": "1.0",
                         "streams": str(streams), "websockets": str(websockets)})
        return rows

    good = [{"kind": "bulk", "start": 100.0, "ok": True, "verify_failures": 0, "kcp_in_errors": 0,
             "bytes_verified": 10, "sessions_ok": 1},
            {"kind": "final", "start": 600.0, "ok": True, "verify_failures": 0, "kcp_in_errors": 0,
             "bytes_verified": 10, "sessions_ok": 1}]
    # 30-minute cases with the default warm-up (min(960 s, half the run) = 900 s)
    run30 = options(duration=1800.0, warmup_frac=None)
    cases = [
        ("flat, noisy", series(), good, [], options(), True),
        ("RSS leak 40 KiB/s", series(rss_leak_kib_per_s=40), good, [], options(), False),
        ("fd leak 10/min", series(fd_leak_per_min=10), good, [], options(), False),
        ("server died", series(die_at=300), good, [], options(), False),
        ("sanitizer output", series(), good, [], options(sanitizer_lines=3), False),
        ("verification failure", series(),
         good + [dict(good[0], ok=False, verify_failures=1)], [], options(), False),
        ("final run failed", series(), [good[0], dict(good[1], ok=False)], [], options(), False),
        ("no final run", series(), good[:1], [], options(), False),
        ("load runs failed, final ok", series(), [dict(good[0], ok=False), good[1]],
         [{"up": 200.0}], options(), True),
        ("fds given back", series(), good, [], options(quiesce={"settled": True}), True),
        ("fds kept after the load", series(), good, [],
         options(quiesce={"settled": False, "unexplained_fds": 90}), False),
        ("30 min: RSS filling to a plateau by 14 min, fds following the relay streams",
         soak_like(rnd), good, [], run30, True),
        ("30 min: as above plus 3 unexplained fds a minute",
         soak_like(rnd, fd_leak_per_min=3), good, [], run30, False),
        ("30 min: as above plus a slow RSS leak, 2.5 MiB a minute",
         soak_like(rnd, rss_leak_mib_per_min=2.5), good, [], run30, False),
        ("30 min: no metrics scrape ever answered (fds cannot be judged)",
         soak_like(rnd, gauges=False), good, [], run30, False),
    ]
    bad = 0
    for name, samples, clients, restarts, opts, want_pass in cases:
        summary, fails = verdict(samples, clients, [], restarts, opts)
        got_pass = not fails
        print(f"{'ok  ' if got_pass == want_pass else 'BAD '} {name}: {summary['verdict']} {fails}")
        bad += got_pass != want_pass
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    for a in ("kind", "t0", "start", "end", "rc", "json"):
        r.add_argument(a)
    j = sub.add_parser("judge")
    j.add_argument("dir")
    j.add_argument("--duration", type=float, required=True)
    j.add_argument("--warmup-frac", type=float, default=None)
    j.add_argument("--warmup-s", type=float, default=None)
    j.add_argument("--rss-tol-pct", type=float, default=10.0)
    j.add_argument("--rss-tol-mib", type=float, default=8.0)
    j.add_argument("--fd-tol-pct", type=float, default=10.0)
    j.add_argument("--fd-tol", type=float, default=16)
    j.add_argument("--server-ok", type=int, default=1)
    j.add_argument("--sanitizer-lines", type=int, default=0)
    j.add_argument("--no-plot", action="store_true")
    sub.add_parser("self-test")
    args = ap.parse_args()
    if args.cmd == "record":
        record(args)
        return 0
    if args.cmd == "judge":
        return judge(args)
    return self_test()


if __name__ == "__main__":
    sys.exit(main())
