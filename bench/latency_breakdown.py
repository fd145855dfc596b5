#!/usr/bin/env python3
"""Where a session's setup time and a ping's round trip go, from a packet capture.

bench.py measures setup and ping times at the client (sfpeer): everything counts, the client's
own work and the machine's scheduling included. This tool runs the same scenarios over ws://
under tcpdump (loopback only) and splits each time into the parts that happen in the server
and the parts that do not, from the packets' capture times:

  setup (one WebSocket and one ORPort connection per session, sessions started 200 ms apart,
  matched in the order of their SYNs):
    connect      client SYN -> the client's HTTP request            (client, kernel)
    upgrade      HTTP request -> the server's 101 response          (server)
    client       101 -> the client's last packet before the ORPort dial (client: preamble,
                 KCP, smux SYN, first byte)
    dial         that packet -> the server's SYN to the ORPort       (server)
    dial_to_data SYN to the ORPort -> the first byte written to it  (kernel handshake, server)
    orport       first byte to the ORPort -> first byte back        (the echo ORPort)
    back         first byte back -> the next server message to the client (server)
    total        client SYN -> that message
  ping (each 1024-byte ping is found by its first 24 bytes):
    up           the client's WebSocket message carrying it -> its write to the ORPort (server)
    down         the echo's bytes from the ORPort -> the server's message carrying them (server)

Only ws://: over wss:// the payloads are encrypted. Timings go to docs/performance.md, never to a
pass/fail test; tests/bench/smoke.sh runs this tool on a tiny scenario so that it cannot rot.

  latency_breakdown.py --server BIN [--reference BIN] [--sfpeer BIN] [--reps N]
                       [--out FILE.jsonl] SCENARIO...
  latency_breakdown.py --analyze PCAP --ws-port P --orport Q setup|ping
  latency_breakdown.py --table FILE.jsonl

SCENARIO: setup (20 sessions, 200 ms apart), setup<N> (N sessions), ping200 (200 sessions,
a 1 KiB ping every 200 ms for 20 s), ping<N>x<S> (N sessions for S seconds). Runs alternate
ours and the reference (ours first in even repetitions). Needs tcpdump and the right to capture
on lo (root or CAP_NET_RAW).
"""
import argparse
import bisect
import json
import os
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (start_echo, pt_env, free_port, read_line_starting, stop, default_sfpeer)

SETUP_PARTS = ["connect", "upgrade", "client", "dial", "dial_to_data", "orport", "back", "total"]
PING_PARTS = ["up", "down"]
SYN, ACK = 0x02, 0x10

# ---------------------------------------------------------------------------- capture reading


def read_pcap(path):
    """(time, sport, dport, flags, payload) of every TCP packet in a classic pcap file (Ethernet
    or Linux cooked link type, IPv4 or IPv6); payload is what was captured of it."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = struct.unpack("<I", head[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        magic = struct.unpack(endian + "I", head[:4])[0]
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            raise ValueError(f"{path}: not a pcap file")
        scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
        link = struct.unpack(endian + "I", head[20:24])[0]
        if link == 1:
            l2, type_at = 14, 12         # Ethernet
        elif link == 113:
            l2, type_at = 16, 14         # Linux cooked (tcpdump -i any)
        else:
            raise ValueError(f"{path}: link type {link}, want Ethernet (1) or Linux cooked (113)")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            if len(data) < l2 + 20:
                continue
            ethertype = struct.unpack("!H", data[type_at:type_at + 2])[0]
            if ethertype == 0x0800:
                ihl = (data[l2] & 0x0F) * 4
                if data[l2 + 9] != 6:
                    continue
                end = l2 + struct.unpack("!H", data[l2 + 2:l2 + 4])[0]
                tcp = l2 + ihl
            elif ethertype == 0x86DD:
                if data[l2 + 6] != 6:
                    continue
                end = l2 + 40 + struct.unpack("!H", data[l2 + 4:l2 + 6])[0]
                tcp = l2 + 40
            else:
                continue
            if len(data) < tcp + 20:
                continue
            sport, dport = struct.unpack("!HH", data[tcp:tcp + 4])
            doff = (data[tcp + 12] >> 4) * 4
            yield sec + frac * scale, sport, dport, data[tcp + 13], data[tcp + doff:end], end - tcp - doff


def connections(packets, port):
    """Connections to port, by the peer's port: SYN time and the payload packets each way
    (time, captured bytes, length)."""
    conns = {}
    for t, sport, dport, flags, payload, length in packets:
        if dport == port:
            c = conns.setdefault(sport, {"syn": None, "in": [], "out": []})
            if flags & SYN and not flags & ACK and c["syn"] is None:
                c["syn"] = t
            if length:
                c["in"].append((t, payload, length))
        elif sport == port and length:
            conns.setdefault(dport, {"syn": None, "in": [], "out": []})["out"].append((t, payload, length))
    return sorted((c for c in conns.values() if c["syn"] is not None), key=lambda c: c["syn"])


# ---------------------------------------------------------------------------- analysis


def analyze_setup(packets, ws_port, orport):
    """One dict of SETUP_PARTS (seconds) per session whose packets are all there."""
    packets = list(packets)
    ws, tor = connections(packets, ws_port), connections(packets, orport)
    rows = []
    for w, o in zip(ws, tor):
        if len(w["in"]) < 2 or not w["out"] or not o["in"] or not o["out"]:
            continue
        get, r101 = w["in"][0][0], w["out"][0][0]
        before_dial = [t for t, _, _ in w["in"] if t <= o["syn"]]
        to_orport, from_orport = o["in"][0][0], o["out"][0][0]
        back = [t for t, _, _ in w["out"] if t >= from_orport]
        if not before_dial or not back:
            continue
        last = before_dial[-1]
        rows.append({"connect": get - w["syn"], "upgrade": r101 - get, "client": last - r101,
                     "dial": o["syn"] - last, "dial_to_data": to_orport - o["syn"],
                     "orport": from_orport - to_orport, "back": back[0] - from_orport,
                     "total": back[0] - w["syn"]})
    return rows


def unmask_frames(b):
    """The payloads of the masked WebSocket frames that start b (a client's TCP segment)."""
    out, off = [], 0
    while off + 2 <= len(b) and b[off] & 0x0F in (1, 2) and b[off + 1] & 0x80:
        n, h = b[off + 1] & 0x7F, 2
        if n == 126:
            if off + 4 > len(b):
                break
            n, h = struct.unpack("!H", b[off + 2:off + 4])[0], 4
        elif n == 127:
            break
        key = b[off + h:off + h + 4]
        if len(key) < 4:
            break
        body = b[off + h + 4:off + h + 4 + n]
        out.append(bytes(x ^ key[i & 3] for i, x in enumerate(body)))
        off += h + 4 + n
    return b"".join(out)


def analyze_ping(packets, ws_port, orport, key_len=24, window=400):
    """Per-ping server times: {"up": [...], "down": [...], "unmatched": n} (seconds)."""
    ws_in, ws_out, to_tor, from_tor = [], [], [], []
    for t, sport, dport, _, payload, length in packets:
        if not length:
            continue
        if dport == ws_port and length > 600:
            ws_in.append((t, unmask_frames(payload)))
        elif sport == ws_port and length > 600:
            ws_out.append((t, payload))
        elif dport == orport:
            to_tor.append((t, payload))
        elif sport == orport:
            from_tor.append((t, payload))
    res = {"up": [], "down": [], "unmatched": 0}
    # up: the client's message is before the write to the ORPort; down: the reply after the read.
    for tor_list, ws_list, part, after in ((to_tor, ws_in, "up", False), (from_tor, ws_out, "down", True)):
        times = [t for t, _ in ws_list]
        for t, payload in tor_list:
            key = payload[:key_len]
            if len(key) < key_len:
                continue
            lo = bisect.bisect_left(times, t)
            cand = range(lo, min(lo + window, len(ws_list))) if after else range(lo - 1, max(lo - window, 0) - 1, -1)
            for j in cand:
                if key in ws_list[j][1]:
                    res[part].append(abs(ws_list[j][0] - t))
                    break
            else:
                res["unmatched"] += 1
    return res


def pct(ordered, q):
    """The q-quantile of an ascending list (the value at rank q * n)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(kind, analysis):
    """Microseconds: p50 of every setup part, or p50/p90/p99 of each ping direction."""
    if kind == "setup":
        return {part: round(statistics.median(r[part] for r in analysis) * 1e6) for part in SETUP_PARTS} \
            if analysis else {}
    out = {}
    for part in PING_PARTS:
        ordered = sorted(analysis[part])
        for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
            if ordered:
                out[f"{part}_{name}"] = round(pct(ordered, q) * 1e6)
    return out


# ---------------------------------------------------------------------------- runs


def scenario(name):
    m = re.fullmatch(r"setup([1-9][0-9]*)?", name)
    if m:
        n = int(m.group(1) or 20)
        return "setup", ["--sessions", str(n), "--streams", "1", "--bytes", "1",
                         "--ramp", f"{n * 200}ms", "--timeout", "120s"], n
    m = re.fullmatch(r"ping([1-9][0-9]*)(?:x([1-9][0-9]*))?", name)
    if m:
        n, secs = int(m.group(1)), int(m.group(2) or 20)
        return "ping", ["--sessions", str(n), "--streams", "1", "--ping-interval", "200ms",
                        "--ping-size", "1024", "--duration", f"{secs}s", "--ramp", "2s",
                        "--timeout", "180s"], n
    raise ValueError(f"unknown scenario {name!r}")


def run_once(opts, impl, binary, name, rep, workdir):
    kind, client_args, sessions = scenario(name)
    tag = f"{name}-{impl}-{rep}"
    state = os.path.join(workdir, f"state-{tag}")
    os.makedirs(state, mode=0o700)
    pcap = os.path.join(workdir, f"{tag}.pcap")
    rec = {"impl": impl, "scenario": name, "kind": kind, "rep": rep, "server": binary, "failures": []}
    echo = srv = dump = None
    try:
        echo, orport = bench.start_echo(opts.sfpeer)
        port = bench.free_port("127.0.0.1")
        env = bench.pt_env("127.0.0.1", port, orport, state)
        with open(os.path.join(workdir, f"server-{tag}.log"), "w") as log:
            srv = subprocess.Popen([binary, "--disable-tls"], env=env, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=log, text=True)
        bench.read_line_starting(srv, "SMETHODS DONE", 20)
        # Headers and the first 2 KiB of payload: enough to find a ping's first bytes.
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-B", "65536", "-s", "2048", "-w", pcap,
                                 f"tcp port {port} or tcp port {orport}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        listening, said = wait_for_capture(dump)
        if not listening:
            raise RuntimeError("tcpdump did not start: " + said)
        # It says so a little before its filter sees packets (a connection right after was
        # missed in a test); what the capture lacks is checked below in any case.
        time.sleep(1)
        cmd = [opts.sfpeer, "client", "--json", "--url", f"ws://127.0.0.1:{port}/"] + client_args
        client = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        # tcpdump gets packets from the kernel in blocks, handed over when full or a second
        # old; stopped earlier, it loses the last block.
        time.sleep(1.5)
        bench.stop(dump)
        dump = None
        lines = [line for line in client.stdout.splitlines() if line.startswith("{")]
        if client.returncode != 0 or not lines:
            raise RuntimeError(f"client exited {client.returncode}: {client.stderr.strip()[-300:]}")
        result = json.loads(lines[-1])
        rec["client_summary"] = (client.stderr.strip().splitlines() or [""])[-1]
        if result.get("verify_failures") or result.get("sessions_ok") != sessions:
            rec["failures"].append(f"client: {rec['client_summary']}")
        if kind == "setup":
            rows = analyze_setup(read_pcap(pcap), port, orport)
            rec["sessions_seen"] = len(rows)
            rec["client_setup_p50_us"] = round(result["setup_ms"]["p50"] * 1000)
            if len(rows) != sessions:
                rec["failures"].append(f"{len(rows)} of {sessions} sessions found in the capture")
            rec["parts_us"] = summarize(kind, rows)
        else:
            res = analyze_ping(read_pcap(pcap), port, orport)
            rec["pings_matched"] = {p: len(res[p]) for p in PING_PARTS}
            rec["pings_unmatched"] = res["unmatched"]
            rec["client_rtt_us"] = {q: round(result["latency_ms"][q] * 1000) for q in ("p50", "p99")}
            rec["pings_ok"] = result["pings"]["ok"]
            if not res["up"] or not res["down"]:
                rec["failures"].append("no ping found in the capture")
            rec["parts_us"] = summarize(kind, res)
    except (RuntimeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        rec["failures"].append(f"{type(e).__name__}: {e}")
    finally:
        for p in (dump, srv, echo):
            if p:
                bench.stop(p)
        if os.path.exists(pcap) and not opts.keep_captures:
            os.unlink(pcap)
    rec["ok"] = not rec["failures"]
    return rec


def wait_for_capture(dump, timeout=10):
    """tcpdump says "listening on" (on stderr) once it captures; the file itself is buffered."""
    deadline = time.monotonic() + timeout
    seen = b""
    fd = dump.stderr.fileno()
    while time.monotonic() < deadline and b"listening on" not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
    return b"listening on" in seen, seen.decode(errors="replace").strip()[-300:]


def table(records):
    """Markdown: per scenario, the median over repetitions of each part, ours and the reference,
    and their ratio."""
    out = []
    for name in dict.fromkeys(r["scenario"] for r in records if "scenario" in r):
        runs = [r for r in records if r.get("scenario") == name]
        impls = list(dict.fromkeys(r["impl"] for r in runs))
        ok = {i: [r for r in runs if r["impl"] == i and r["ok"]] for i in impls}
        failed = sum(1 for r in runs if not r["ok"])
        kind = runs[0]["kind"]
        keys = SETUP_PARTS + ["client_setup_p50"] if kind == "setup" else \
            [f"{p}_{q}" for p in PING_PARTS for q in ("p50", "p90", "p99")] + ["client_rtt_p50", "client_rtt_p99"]
        out.append(f"#### {name} (µs, medians of {max((len(v) for v in ok.values()), default=0)} "
                   f"repetitions{'; ' + str(failed) + ' failed' if failed else ''})\n")
        out.append("| part | " + " | ".join(impls) + (" | ratio |" if len(impls) == 2 else " |"))
        out.append("|---|" + "---:|" * (len(impls) + (1 if len(impls) == 2 else 0)))
        for k in keys:
            meds = []
            for i in impls:
                vals = [value_of(r, k) for r in ok[i]]
                vals = [v for v in vals if v is not None]
                meds.append(statistics.median(vals) if vals else None)
            cells = ["—" if m is None else f"{m:.0f}" for m in meds]
            if len(impls) == 2:
                cells.append(f"{meds[0] / meds[1]:.2f}" if None not in meds and meds[1] else "—")
            out.append(f"| {k} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def value_of(rec, key):
    if key == "client_setup_p50":
        return rec.get("client_setup_p50_us")
    if key.startswith("client_rtt_"):
        return rec.get("client_rtt_us", {}).get(key[len("client_rtt_"):])
    return rec.get("parts_us", {}).get(key)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server")
    ap.add_argument("--reference")
    ap.add_argument("--sfpeer")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out")
    ap.add_argument("--keep-captures", action="store_true", help="keep the pcap files (in --workdir)")
    ap.add_argument("--workdir")
    ap.add_argument("--analyze", metavar="PCAP")
    ap.add_argument("--ws-port", type=int)
    ap.add_argument("--orport", type=int)
    ap.add_argument("--table", metavar="FILE")
    ap.add_argument("scenarios", nargs="*")
    opts = ap.parse_args()

    if opts.table:
        with open(opts.table) as f:
            print(table([json.loads(line) for line in f if line.strip()]))
        return 0
    if opts.analyze:
        if not opts.ws_port or not opts.orport or opts.scenarios not in (["setup"], ["ping"]):
            ap.error("--analyze PCAP --ws-port P --orport Q setup|ping")
        kind = opts.scenarios[0]
        pk = read_pcap(opts.analyze)
        a = analyze_setup(pk, opts.ws_port, opts.orport) if kind == "setup" else \
            analyze_ping(pk, opts.ws_port, opts.orport)
        n = len(a) if kind == "setup" else {p: len(a[p]) for p in PING_PARTS}
        print(json.dumps({"kind": kind, "n": n, "parts_us": summarize(kind, a)}))
        return 0
    if not opts.server or not opts.scenarios:
        ap.error("--server BIN and at least one SCENARIO")
    for name in opts.scenarios:
        scenario(name)
    opts.sfpeer = opts.sfpeer or bench.default_sfpeer()
    if not opts.sfpeer or not shutil.which("tcpdump"):
        ap.error("needs sfpeer (--sfpeer) and tcpdump")
    impls = [("ours", opts.server)] + ([("reference", opts.reference)] if opts.reference else [])
    workdir = opts.workdir or tempfile.mkdtemp(prefix="sf-latency-")
    os.makedirs(workdir, exist_ok=True)
    records = []
    out = open(opts.out, "a") if opts.out else None
    try:
        for name in opts.scenarios:
            for rep in range(opts.reps):
                order = impls if rep % 2 == 0 else impls[::-1]
                for impl, binary in order:
                    rec = run_once(opts, impl, binary, name, rep, workdir)
                    records.append(rec)
                    print(f"{name} {impl} rep {rep}: {'ok' if rec['ok'] else 'FAILED ' + '; '.join(rec['failures'])}",
                          file=sys.stderr)
                    if out:
                        out.write(json.dumps(rec) + "\n")
                        out.flush()
    finally:
        if out:
            out.close()
        if not opts.workdir and not opts.keep_captures:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(records))
    return 0 if all(r["ok"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
