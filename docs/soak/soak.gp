
set terminal pngcairo size 1200,1050 font ",10"
set output "docs/soak/soak.png"
set datafile separator ","
set key autotitle columnhead top right opaque
set multiplot layout 3,1 title "snowflake-server soak, 1800 s: PASS  (RSS median 159.74 -> 160.18 MiB, unexplained fds 20.0 -> 20.0; dotted red: ORPort restarts)"
set grid
set xrange [0:1800.0]
set object 1 rect from 0, graph 0 to 900.0, graph 1 behind fc rgb "#e8e8e8" fs solid noborder
set label 1 "warm-up" at 450.0, graph 0.05 center
set arrow from 228.9, graph 0 to 228.9, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 457.1, graph 0 to 457.1, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 686.9, graph 0 to 686.9, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 915.8, graph 0 to 915.8, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1145.1, graph 0 to 1145.1, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1375.5, graph 0 to 1375.5, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1604.8, graph 0 to 1604.8, graph 1 nohead dt 3 lc rgb "#aa0000"
set ylabel "MiB"
set yrange [0:*]
plot "docs/soak/samples.csv" using 1:($2/1024) with lines lw 2 title "VmRSS", \
     "docs/soak/samples.csv" using 1:($3/1024) with lines dt 2 title "VmHWM (peak)"
set xlabel "seconds since start"
set ylabel "count"
plot "docs/soak/samples.csv" using 1:4 with lines lw 2 title "open fds", \
     "docs/soak/samples.csv" using 1:7 with lines title "sessions (metrics)", \
     "docs/soak/samples.csv" using 1:8 with lines title "streams (metrics)"
set ylabel "fds"
set yrange [0:140]
plot "docs/soak/samples.csv" using 1:((strcol(8) eq "" || strcol(9) eq "") ? NaN : $4 - $9 - $8) with points pt 7 ps 0.4 \
     title "fds - WebSockets - streams (judged; gaps: failed scrapes)"
unset multiplot
