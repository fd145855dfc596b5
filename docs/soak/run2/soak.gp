
set terminal pngcairo size 1200,800 font ",10"
set output "docs/soak/run2/soak.png"
set datafile separator ","
set key autotitle columnhead top right opaque
set multiplot layout 2,1 title "snowflake-server soak, 1800 s: FAIL  (RSS median 112.13 -> 115.31 MiB, fds 220 -> 327; dotted red: ORPort restarts)"
set grid
set xrange [0:1800.0]
set object 1 rect from 0, graph 0 to 900.0, graph 1 behind fc rgb "#e8e8e8" fs solid noborder
set label 1 "warm-up" at 450.0, graph 0.05 center
set arrow from 233.5, graph 0 to 233.5, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 469.8, graph 0 to 469.8, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 701.7, graph 0 to 701.7, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 947.3, graph 0 to 947.3, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1184.1, graph 0 to 1184.1, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1416.0, graph 0 to 1416.0, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1648.4, graph 0 to 1648.4, graph 1 nohead dt 3 lc rgb "#aa0000"
set ylabel "MiB"
set yrange [0:*]
plot "docs/soak/run2/samples.csv" using 1:($2/1024) with lines lw 2 title "VmRSS", \
     "docs/soak/run2/samples.csv" using 1:($3/1024) with lines dt 2 title "VmHWM (peak)"
set xlabel "seconds since start"
set ylabel "count"
plot "docs/soak/run2/samples.csv" using 1:4 with lines lw 2 title "open fds", \
     "docs/soak/run2/samples.csv" using 1:7 with lines title "sessions (metrics)", \
     "docs/soak/run2/samples.csv" using 1:8 with lines title "streams (metrics)"
unset multiplot
