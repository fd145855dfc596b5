#!/bin/bash
# bench/run.sh's arguments, through --dry-run (which prints the bench.py and loadgen-scale.py
# command lines it would run and does nothing else): which driver gets which scenario, the
# options each is given, and the refusals of malformed scenarios. Nothing is built or run.
set -euo pipefail
: "${SF_SOURCE_DIR:?}"
RUN=$SF_SOURCE_DIR/bench/run.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/sf-run-args.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
nobuild=$work/never-built

# every kind at once: bench.py's scenarios, two scale lists merged, one scale<N>as<M>
bash "$RUN" --dry-run --build "$nobuild" --sfpeer /p/sfpeer --reference /x/ref --reps 2 \
	--modes ws,wss bulk2 scale10,20 idle5 scale30 scale9000as100000 >"$work/all" ||
	fail "dry run exit status $?"
[ "$(wc -l <"$work/all")" = 3 ] || fail "want 3 commands: $(cat "$work/all")"
l1=$(sed -n 1p "$work/all") l2=$(sed -n 2p "$work/all") l3=$(sed -n 3p "$work/all")
[[ $l1 == *"/bench/bench.py --server $nobuild/src/snowflake-server --sfpeer /p/sfpeer "* ]] ||
	fail "bench.py line: $l1"
[[ $l1 == *" --reference /x/ref --reps 2 --modes ws,wss bulk2 idle5" ]] || fail "bench.py args: $l1"
[[ $l2 == *"/bench/loadgen-scale.py --build $nobuild --sfpeer /p/sfpeer --sessions 10,20,30 "* ]] ||
	fail "scale line: $l2"
[[ $l2 == *" --reference /x/ref --reps 2" ]] || fail "scale args: $l2"
[[ $l3 == *" --sessions 9000 --rate-of 100000 "*" --reference /x/ref --reps 2" ]] ||
	fail "scale-as line: $l3"
[ ! -e "$nobuild" ] || fail "--dry-run touched the build directory"

# scale alone: no bench.py; no --reps given, none passed (loadgen-scale.py's default, 1)
bash "$RUN" --dry-run --build "$nobuild" --sfpeer /p/sfpeer scale10 >"$work/scale"
[ "$(wc -l <"$work/scale")" = 1 ] && grep -q 'loadgen-scale.py .*--sessions 10 ' "$work/scale" &&
	! grep -q -- '--reps\|--reference' "$work/scale" || fail "scale alone: $(cat "$work/scale")"
# no scenario: bench.py with its defaults
bash "$RUN" --dry-run --build "$nobuild" --sfpeer /p/sfpeer >"$work/none"
[ "$(wc -l <"$work/none")" = 1 ] && grep -q 'bench.py .*--out [^ ]*\.jsonl$' "$work/none" ||
	fail "no scenario: $(cat "$work/none")"

# malformed: usage errors (2), nothing printed on stdout
for bad in scale5as scale10,x scaleas7 "--label a/b"; do
	rc=0
	# shellcheck disable=SC2086 # "--label a/b" is two words on purpose
	bash "$RUN" --dry-run --build "$nobuild" $bad >"$work/bad" 2>/dev/null || rc=$?
	[ "$rc" = 2 ] && [ ! -s "$work/bad" ] || fail "'$bad': exit status $rc, stdout $(cat "$work/bad")"
done
echo "run.sh: scenarios go to their drivers with --reference/--reps; malformed ones refused"
