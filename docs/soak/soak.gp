
set terminal pngcairo size 1200,800 font ",10"
set output "docs/soak/soak.png"
set datafile separator ","
set key autotitle columnhead top right opaque
set multiplot layout 2,1 title "snowflake-server soak, 1800 s: FAIL  (RSS median 143.56 -> 162.08 MiB, fds 787.5 -> 567.5; dotted red: ORPort restarts)"
set grid
set xrange [0:1800.0]
set object 1 rect from 0, graph 0 to 360.0, graph 1 behind fc rgb "#e8e8e8" fs solid noborder
set label 1 "warm-up" at 180.0, graph 0.05 center
set arrow from 231.4, graph 0 to 231.4, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 460.7, graph 0 to 460.7, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 688.6, graph 0 to 688.6, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 917.5, graph 0 to 917.5, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1146.8, graph 0 to 1146.8, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1378.4, graph 0 to 1378.4, graph 1 nohead dt 3 lc rgb "#aa0000"
set arrow from 1608.8, graph 0 to 1608.8, graph 1 nohead dt 3 lc rgb "#aa0000"
set ylabel "MiB"
set yrange [0:*]
plot "docs/soak/samples.csv" using 1:($2/1024) with lines lw 2 title "VmRSS", \
     "docs/soak/samples.csv" using 1:($3/1024) with lines dt 2 title "VmHWM (peak)"
set xlabel "seconds since start"
set ylabel "count"
plot "docs/soak/samples.csv" using 1:4 with lines lw 2 title "open fds", \
     "docs/soak/samples.csv" using 1:7 with lines title "sessions (metrics)", \
     "docs/soak/samples.csv" using 1:8 with lines title "streams (metrics)"
unset multiplot
