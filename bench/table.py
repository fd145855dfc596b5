#!/usr/bin/env python3
"""Print the markdown table of one or more bench/run.sh result files (JSON lines written by
shared/peer/bench.py, plus run.sh's {"meta": ...} record). One table per file.

  bench/table.py bench/results/20251125T120000Z-snowflake-server.jsonl [...]

Columns are bench.py's medians over the repetitions; "-" = not measured by that scenario.
CPU-s/GB counts payload relayed in both directions (2 x bytes verified).
"""
import json
import sys

COLUMNS = [
    # header, summary key, format
    ("MB/s", "mb_per_s", "{:.1f}"),
    ("server CPU-s per GB relayed", "server_cpu_s_per_gb_relayed", "{:.2f}"),
    ("RSS growth per idle session (KiB)", "rss_growth_kb_per_session", "{:.1f}"),
    ("idle RSS (MiB)", "rss_idle_mb", "{:.1f}"),
    ("idle CPU %", "idle_cpu_pct", "{:.2f}"),
    ("ping p50 (ms)", "p50_ms", "{:.2f}"),
    ("ping p99 (ms)", "p99_ms", "{:.2f}"),
    ("setup p50 (ms)", "setup_p50_ms", "{:.1f}"),
    ("server CPU %", "server_cpu_pct", "{:.1f}"),
]


def cell(summary, key, fmt):
    v = summary.get(key)
    return "-" if v is None else fmt.format(v)


def verdict(s):
    """ok = every repetition exited 0 with no failed stream and no verification failure."""
    if all(rc == 0 for rc in s["rc"]) and not any(s["verify_failures"]) and not any(s["streams_failed"]):
        return "ok"
    return (f"FAIL (rc {s['rc']}, streams failed {s['streams_failed']}, "
            f"verify failures {s['verify_failures']})")


def table(path):
    meta, summaries = {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if "meta" in rec:
                meta = rec["meta"]
            elif isinstance(rec.get("summary"), dict):  # per-rep records hold sfpeer's line there
                summaries.append(rec["summary"])
    out = []
    if meta:
        opts = meta.get("transport_options") or "none"
        out.append(f"**{meta.get('label')}** `{meta.get('server')}` (git {meta.get('git_rev')}, "
                   f"{meta.get('build_type') or 'default'} build), transport options: {opts}; "
                   f"median of {meta.get('reps')} reps; {meta.get('cpu')}, {meta.get('cores')} cores, "
                   f"Linux {meta.get('kernel')}, {meta.get('date_utc')} UTC")
        out.append("")
    if not summaries:
        out.append(f"(no finished scenario in {path})")
        return "\n".join(out)
    out.append("| scenario | result | " + " | ".join(c[0] for c in COLUMNS) + " |")
    out.append("|---|---|" + "---:|" * len(COLUMNS))
    for s in summaries:
        cells = [s["scenario"], verdict(s)] + [cell(s, key, fmt) for _, key, fmt in COLUMNS]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    print("\n\n".join(table(p) for p in sys.argv[1:]))


if __name__ == "__main__":
    main()
