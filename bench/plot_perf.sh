#!/usr/bin/env bash
# The performance plots of docs/performance.md, drawn with gnuplot from the CSV files that
# transcribe its tables (each CSV says which table it comes from; nothing is measured here):
#
#   docs/perf/cpu_per_gb.csv -> docs/perf/cpu_per_gb.png   server CPU-s per GB relayed, ours
#                                                          against Go v2.9.2, ws:// and wss://,
#                                                          bulk200 and multi50x2, one panel a run (the newest three)
#   docs/perf/scale.csv      -> docs/perf/scale.png        RSS per idle wss:// session and idle
#   docs/perf/scale_rate.csv                               CPU against the session count (up to
#                                                          9000 held; to 100 000 by packet rate)
#
#   bench/plot_perf.sh [--dir DIR]      (DIR: where the CSVs are and the PNGs go; docs/perf)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$HERE/../docs/perf
while [ $# -gt 0 ]; do
	case $1 in
	--dir) DIR=${2:?--dir needs a value}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "plot_perf.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
command -v gnuplot >/dev/null || { echo "plot_perf.sh: gnuplot is needed (gnuplot-nox)" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
for f in cpu_per_gb.csv scale.csv scale_rate.csv; do
	[ -r "$DIR/$f" ] || { echo "plot_perf.sh: $DIR/$f missing" >&2; exit 2; }
done

gnuplot <<EOF
set terminal pngcairo size 1700,520 font ",10"
set output "$DIR/cpu_per_gb.png"
set datafile separator ","
set multiplot layout 1,3 title "Server CPU-seconds per GB relayed (lower is better), medians of 3 (2 in the night run), same interleaved run for both servers; the three newest runs\n(docs/performance.md; 2 shared vCPUs)"
# plain boxes at computed places (a histogram style would not share its x axis with the value
# labels): case i = 2 * (wss://) + (multi50x2) at x = 3 i, ours at 3 i - 0.5, Go at 3 i + 0.5;
# a panel keeps the rows of its run (the others, and the header, plot as NaN: skipped)
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xrange [-1.5:10.5]
set yrange [0:16]
set ylabel "CPU-s per GB"
set key top left
set xtics nomirror scale 0 ("ws:// bulk200" 0, "ws:// multi50x2" 3, "wss:// bulk200" 6, "wss:// multi50x2" 9)
idx(dummy) = 2 * (strcol(2) eq "wss://") + (strcol(3) eq "multi50x2")
x(r, side) = strcol(1) eq r ? 3 * idx(0) + side : NaN
v(col) = sprintf("%.2f", column(col))
do for [run in "2026-12-07 2026-12-06n 2026-12-06"] {
    set title (run eq "2026-12-07" ? "2026-12-07 (3b76a04, the one-command run)" : run eq "2026-12-06n" ? "2026-12-06 night (8bfe0e5, our TLS 1.3 record layer; quiet machine, 2 reps)" : "2026-12-06 (3d567707, batched TLS path)")
    plot "$DIR/cpu_per_gb.csv" using (x(run, -0.5)):4 with boxes title "ours" lc rgb "#1f77b4", \
         "" using (x(run, 0.5)):5 with boxes title "Go v2.9.2" lc rgb "#d62728", \
         "" using (x(run, -0.5)):4:(v(4)) with labels offset 0,0.7 notitle, \
         "" using (x(run, 0.5)):5:(v(5)) with labels offset 0,0.7 notitle
}
unset multiplot

set terminal pngcairo size 1100,800 font ",10"
set output "$DIR/scale.png"
set multiplot layout 2,1 title "Idle wss:// sessions held by snowflake-loadgen: 1000 to 9000 held (hard descriptor limit 20000);\nbeyond that, 9000 sessions sending the keepalives of 20 000, 50 000 and 100 000 (loadgen-scale.py --rate-of). Nothing is extrapolated"
set grid
set logscale x
set xrange [700:140000]
set xtics ("1000" 1000, "2000" 2000, "5000" 5000, "9000" 9000, "20 000" 20000, "50 000" 50000, "100 000" 100000)
set key top left autotitle columnhead
set ylabel "KiB per session"
set yrange [0:30]
unset title
plot "$DIR/scale_rate.csv" every ::0::3 using 1:6 with linespoints lw 2 pt 7 title "server RSS growth per idle session (2026-12-07)", \
     "$DIR/scale.csv" using 1:2 with linespoints dt 2 pt 6 title "the same, 2026-12-06 night (load generator sending 5 packets a minute, not 12)", \
     "" using 1:6 with linespoints dt 3 pt 4 title "the same with OpenSSL's record layer (2026-12-06)", \
     "$DIR/scale_rate.csv" every ::0::3 using 1:6:(sprintf("%.1f", \$6)) with labels offset 0,1 notitle
set xlabel "sessions (held, or whose keepalive packet rate 9000 held sessions carry)"
set ylabel "% of one core"
set yrange [0:35]
plot 10 with lines dt 2 lw 1 lc rgb "red" title "issue 9's target at 100 000 sessions: 10 % of a core", \
     "$DIR/scale_rate.csv" every ::0::3 using 1:4 with linespoints lw 2 pt 7 title "server CPU while idle, sessions held (2026-12-07)", \
     "" every ::3::6 using 1:4 with linespoints lw 2 dt 4 pt 5 title "server CPU while idle, 9000 sessions at the packet rate of N", \
     "" using 1:5 with linespoints dt 2 pt 6 title "snowflake-loadgen CPU while idle (the client side)", \
     "" using 1:4:(sprintf("%.1f", \$4)) with labels offset 0,1 notitle, \
     "$DIR/scale.csv" using 1:3 with linespoints dt 3 pt 4 title "server CPU while idle, 2026-12-06 night (5 packets a minute per session)"
unset multiplot
EOF
echo "plot_perf.sh: wrote $DIR/cpu_per_gb.png and $DIR/scale.png"
