#!/bin/bash
# pt-exit-status.sh DIR SERVER [ARGS...]
# Goes between tor and a managed PT so that a test can see how the PT ended: tor does not wait
# for its PT when it exits, and the orphan's exit status is lost. Runs SERVER with our stdin,
# stdout, stderr and environment (all from tor), forwards SIGTERM/SIGINT to it, writes its pid
# to DIR/pt.pid and, once it is gone, its exit status to DIR/pt.status (128+N if killed by
# signal N).
dir=$1
shift
term=""
forward() { term=$1; [ -n "$child" ] && kill "-$1" "$child" 2>/dev/null; }
child=""
trap 'forward TERM' TERM
trap 'forward INT' INT
# A background job would get /dev/null as stdin; the PT needs tor's pipe (stdin-close exit).
"$@" <&0 &
child=$!
echo "$child" >"$dir/pt.pid"
[ -n "$term" ] && kill "-$term" "$child" 2>/dev/null
# A trapped signal would interrupt `wait "$child"` (and bash may then lose the status), so
# poll until the child is gone and collect it once, when `wait` returns at once. Waiting on a
# background sleep lets a trap run (and forward the signal) at once.
while kill -0 "$child" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$child/stat" 2>/dev/null)" != Z ]; do
	sleep 0.1 &
	wait $!
done
wait "$child"
rc=$?
echo "$rc" >"$dir/pt.status"
exit "$rc"
