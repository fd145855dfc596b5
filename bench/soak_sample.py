#!/usr/bin/env python3
"""The soak's sampler (bench/soak.sh): every --interval seconds, one CSV row about the server
process --pid, read from /proc, plus (with --metrics URL) the gauges of its metrics endpoint:

  t_s        seconds since --t0 (Unix time, the soak's start)
  rss_kib    VmRSS                    hwm_kib   VmHWM (peak RSS)
  fds        entries of /proc/PID/fd  threads   Threads
  cpu_s      utime + stime of every thread, seconds
  sessions, streams, websockets, clients   sums over shards of snowflake_sessions_active,
             snowflake_streams_active, snowflake_websockets_open, snowflake_clients ("" without
             --metrics or when a scrape fails: a scrape must never stop the sampling)
  load1      the machine's 1-minute load average (the machine is shared: context for the plot)
  attack     the attack running at that moment (the first line of --phase-file, "" if none)

With --quiesce N (after the load): see quiesce() below.

Stops at --until (Unix time) or when the process is gone (then writes a last row with
fds = -1, so the verdict sees the death even if nobody else does). Rows are flushed one by one:
the CSV is complete up to the moment anything kills the sampler."""
import argparse
import json
import os
import re
import sys
import time
import urllib.request

GAUGES = {
    "sessions": "snowflake_sessions_active",
    "streams": "snowflake_streams_active",
    "websockets": "snowflake_websockets_open",
    "clients": "snowflake_clients",
}
COLUMNS = ["t_s", "rss_kib", "hwm_kib", "fds", "threads", "cpu_s"] + list(GAUGES) + [
    "load1", "attack"]
TICKS = os.sysconf("SC_CLK_TCK")


def status_fields(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the ")": state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12
    return (int(fields[11]) + int(fields[12])) / TICKS


def scrape(url):
    """{gauge: sum over its samples}; {} when the endpoint does not answer in 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            body = r.read().decode("utf-8", "replace")
    except Exception:
        return {}
    sums = {}
    for column, name in GAUGES.items():
        pattern = re.compile(r"^" + re.escape(name) + r"(\{[^}]*\})?\s+(\S+)$", re.M)
        values = [float(m.group(2)) for m in pattern.finditer(body)]
        if values:
            sums[column] = int(sum(values))
    return sums


def phase(path):
    if not path:
        return ""
    try:
        with open(path) as f:
            return f.readline().strip().replace(",", ";")
    except OSError:
        return ""


def sample(args):
    pid = args.pid
    try:
        st = status_fields(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        cpu = cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return None
    row = {"rss_kib": st.get("VmRSS", 0), "hwm_kib": st.get("VmHWM", 0), "fds": fds,
           "threads": st.get("Threads", 0), "cpu_s": f"{cpu:.2f}"}
    metrics = scrape(args.metrics) if args.metrics else {}
    for column in GAUGES:
        row[column] = metrics.get(column, "")
    return row


def quiesce(args):
    """After the load: waits (at most --quiesce-wait s) until the server's descriptors are all
    explained: fds - open WebSockets - active relay streams (each holds its tor socket) back at
    the idle server's count --quiesce (listeners, log, eventfds...). Sessions whose client
    vanished outlive it by the smux keepalive timeout (4 min), but hold no descriptor of their
    own. Prints one JSON line; the verdict judges it."""
    end = time.time() + args.quiesce_wait
    while True:
        try:
            fds = len(os.listdir(f"/proc/{args.pid}/fd"))
        except OSError:
            fds = -1
        m = scrape(args.metrics)
        unexplained = fds - m.get("websockets", 0) - m.get("streams", 0) if m and fds >= 0 else None
        done = unexplained is not None and unexplained <= args.quiesce
        if done or time.time() >= end or fds < 0:
            print(json.dumps({"idle_fds_at_start": args.quiesce, "fds": fds,
                              "websockets": m.get("websockets"), "streams": m.get("streams"),
                              "unexplained_fds": unexplained, "settled": done,
                              "waited_s": round(args.quiesce_wait - (end - time.time()), 1)}))
            return 0
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--quiesce", type=int, default=None)
    ap.add_argument("--quiesce-wait", type=float, default=30)
    ap.add_argument("--out", default="")
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--t0", type=float, default=0)
    ap.add_argument("--until", type=float, default=0)
    ap.add_argument("--metrics", default="")
    ap.add_argument("--phase-file", default="")
    args = ap.parse_args()
    if args.quiesce is not None:
        return quiesce(args)
    with open(args.out, "w") as out:
        out.write(",".join(COLUMNS) + "\n")
        next_at = time.time()
        while True:
            row = sample(args)
            if row is None:  # the server is gone
                row = {c: "" for c in COLUMNS}
                row["fds"] = -1
            row["t_s"] = f"{time.time() - args.t0:.1f}"
            row["load1"] = f"{os.getloadavg()[0]:.2f}"
            row["attack"] = phase(args.phase_file)
            out.write(",".join(str(row[c]) for c in COLUMNS) + "\n")
            out.flush()
            if row["fds"] == -1:
                return 0
            next_at += args.interval
            if next_at >= args.until:
                return 0
            time.sleep(max(0.0, next_at - time.time()))


if __name__ == "__main__":
    sys.exit(main())
