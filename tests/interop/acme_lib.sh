# shellcheck shell=bash
# Helpers for the TLS/ACME end-to-end tests (tests/interop/test_acme_*.sh): the whole server in
# TLS mode, getting its certificates from a local pebble (tests/acme/pebble_harness.py), between
# Go peers (sfpeer client over wss:// → server → sfpeer echo as the ORPort).
#
# Source it (it sources lib.sh), then call acme_setup NAME. Every test has its own pebble in its
# work dir (`pebble_harness.py up` with --lifetime and --watch-pid as safety nets, `down` from the
# EXIT trap) and never sees Let's Encrypt: the server always gets --acme-directory of that pebble.
# The server's TLS listener is usually on PEBBLE_TLS_PORT (TLS-ALPN-01 works) and its HTTP-01
# listener on PEBBLE_HTTP_PORT; both ports are picked free by the harness but not held.
#
# Globals: ACME_PEBBLE (pebble's state dir; its pebble.env is sourced: PEBBLE_*), ACME_STATE
# (the server's TOR_PT_STATE_LOCATION, kept across restarts), ACME_CACHE (its certificate
# cache), ACME_PORT (the server's TLS port), ACME_HOSTNAMES (--acme-hostnames), ACME_ARGS
# (array: more server flags), ACME_RUNS (server starts so far). lib.sh's DP_* apply as well.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ACME_PEBBLE=""
ACME_PEBBLE_RUNNING=0
ACME_STATE=""
ACME_CACHE=""
ACME_PORT=""
ACME_HOSTNAMES="snowflake.test"
ACME_ARGS=()
ACME_RUNS=0
ACME_TOOL="$(dirname "${BASH_SOURCE[0]}")/acme_tool.py"
ACME_HARNESS="$(dirname "${BASH_SOURCE[0]}")/../acme/pebble_harness.py"

acme_cleanup()
{
	local rc=$?
	if [ "$rc" != 0 ] && [ -n "$ACME_PEBBLE" ]; then
		dp_tail "$ACME_PEBBLE/pebble.log" 40 >&2
	fi
	if [ "$ACME_PEBBLE_RUNNING" = 1 ]; then
		python3 "$ACME_HARNESS" down "$ACME_PEBBLE" >/dev/null 2>&1
		ACME_PEBBLE_RUNNING=0
	fi
	dp_cleanup
}

# acme_setup NAME — dp_setup, the tools these tests need, the server's state dir.
acme_setup()
{
	dp_setup "$1"
	trap acme_cleanup EXIT
	local tool
	for tool in openssl curl; do
		command -v "$tool" >/dev/null || dp_fail "$tool is needed"
	done
	[ -f "$ACME_HARNESS" ] || dp_fail "no $ACME_HARNESS"
	for tool in pebble pebble-challtestsrv; do
		command -v "$tool" >/dev/null || dp_fail "$tool is not installed (scripts/install-deps.sh)"
	done
	python3 -c 'import cryptography' 2>/dev/null || dp_fail "python3-cryptography is needed"
	ACME_STATE=$DP_WORK/state
	ACME_CACHE=$ACME_STATE/snowflake-certificate-cache
	mkdir -p "$ACME_STATE"
}

# acme_pebble_up [`pebble_harness.py up` options] — starts this test's pebble, sources its env.
# shellcheck disable=SC2120 # arguments are optional
acme_pebble_up()
{
	ACME_PEBBLE=$DP_WORK/pebble
	mkdir -p "$ACME_PEBBLE"
	local lifetime=$((DP_DEADLINE + DP_MARGIN - SECONDS + 30))
	timeout "$(dp_budget 40)" python3 "$ACME_HARNESS" up --quiet --lifetime "$lifetime" \
		--watch-pid $$ "$@" "$ACME_PEBBLE" >/dev/null 2>"$DP_WORK/pebble-up.err" ||
		dp_fail "pebble_harness.py up $* failed: $(tail -n 40 "$DP_WORK/pebble-up.err")"
	ACME_PEBBLE_RUNNING=1
	# shellcheck source=/dev/null
	. "$ACME_PEBBLE/pebble.env"
	dp_say "pebble up: $PEBBLE_DIRECTORY_URL, VA ports http $PEBBLE_HTTP_PORT tls $PEBBLE_TLS_PORT," \
		"faults $PEBBLE_FAULTS"
}

acme_pebble_down()
{
	python3 "$ACME_HARNESS" down "$ACME_PEBBLE" >/dev/null 2>&1 ||
		dp_fail "pebble_harness.py down failed"
	ACME_PEBBLE_RUNNING=0
	dp_say "pebble down"
}

# acme_orders — newOrder requests pebble has seen so far.
acme_orders()
{
	grep -c 'POST /order-plz' "$PEBBLE_LOG"
}

# acme_start_server [PORT] — the server in TLS mode as tor runs it, on 127.0.0.1:PORT (default
# PEBBLE_TLS_PORT), ACME from this test's pebble, cache in ACME_STATE. Waits for SMETHODS DONE
# and checks the SMETHOD line (every --acme-hostnames entry as a hostname= argument, tls=yes).
# Sets ACME_PORT, DP_SERVER_PID, DP_SERVER_DIR (server-N: stdout, stderr, server.log).
# shellcheck disable=SC2120 # arguments are optional
acme_start_server()
{
	ACME_PORT=${1:-$PEBBLE_TLS_PORT}
	ACME_RUNS=$((ACME_RUNS + 1))
	DP_SERVER_DIR=$DP_WORK/server-$ACME_RUNS
	mkdir -p "$DP_SERVER_DIR"
	# shellcheck disable=SC2031 # the server's own environment, as in lib.sh's dp_spawn_server
	(
		unset "${!TOR_PT_@}"
		export TOR_PT_MANAGED_TRANSPORT_VER=1
		export TOR_PT_SERVER_TRANSPORTS=snowflake
		export TOR_PT_SERVER_BINDADDR="snowflake-127.0.0.1:$ACME_PORT"
		export TOR_PT_STATE_LOCATION="$ACME_STATE"
		export TOR_PT_EXIT_ON_STDIN_CLOSE=1
		export TOR_PT_ORPORT="$DP_ORPORT"
		exec "$SF_SERVER" --acme-hostnames "$ACME_HOSTNAMES" \
			--acme-directory "$PEBBLE_DIRECTORY_URL" --acme-ca-file "$PEBBLE_CA_FILE" \
			--acme-http-port "$PEBBLE_HTTP_PORT" --log "$DP_SERVER_DIR/server.log" "${DP_SANDBOX_ARGS[@]}" "${ACME_ARGS[@]}"
	) < <(exec 2>/dev/null; while kill -0 $$; do sleep 1; done) \
		>"$DP_SERVER_DIR/stdout" 2>"$DP_SERVER_DIR/stderr" &
	DP_SERVER_PID=$!
	DP_PIDS+=("$DP_SERVER_PID")
	dp_wait_line "$DP_SERVER_DIR/stdout" '^SMETHODS DONE$' "$(dp_budget 15)" "$DP_SERVER_PID" ||
		dp_fail "no SMETHODS DONE from the server (run $ACME_RUNS)"
	local args="" h
	local -a hosts
	IFS=, read -r -a hosts <<<"$ACME_HOSTNAMES"
	for h in "${hosts[@]}"; do
		args+="hostname=$h,"
	done
	grep -Fxq "SMETHOD snowflake 127.0.0.1:$ACME_PORT ARGS:${args}tls=yes" "$DP_SERVER_DIR/stdout" ||
		dp_fail "the server's stdout lacks 'SMETHOD snowflake 127.0.0.1:$ACME_PORT ARGS:${args}tls=yes'"
	dp_alive "$DP_SERVER_PID" || dp_fail "the server exited right after SMETHODS DONE"
	dp_say "server run $ACME_RUNS on 127.0.0.1:$ACME_PORT (pid $DP_SERVER_PID), hostnames $ACME_HOSTNAMES"
}

# acme_client RUN NAME [ARGS...] — sfpeer client to wss://NAME:ACME_PORT/ (dialled at 127.0.0.1,
# SNI and certificate name NAME, chain verified against pebble's current issuing root).
acme_client()
{
	local run=$1 name=$2
	shift 2
	DP_URL="wss://$name:$ACME_PORT/"
	dp_client "$run" --connect "127.0.0.1:$ACME_PORT" --ca "$PEBBLE_ROOT_FILE" "$@"
}

# acme_expect_session_ok RUN NAME — one 1 MB wss:// session through the server, all verified.
acme_expect_session_ok()
{
	acme_client "$1" "$2" --bytes 1000000
	dp_expect_client_ok 1 1 1000000
}

# acme_served_serial NAME [PORT] — serial (hex, as openssl prints it) of the certificate the
# server presents for SNI NAME, verified against pebble's root; empty if the handshake failed.
acme_served_serial()
{
	local name=$1 port=${2:-$ACME_PORT}
	timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername "$name" \
		-CAfile "$PEBBLE_ROOT_FILE" -verify_return_error </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | sed -n 's/^serial=//p'
}

# acme_cached_serial NAME — serial of the leaf in the cache entry of NAME.
acme_cached_serial()
{
	openssl x509 -in "$ACME_CACHE/$1" -noout -serial 2>/dev/null | sed -n 's/^serial=//p'
}

# acme_check_cache NAME... — the cache dir is 0700, every file 0600, and each NAME's entry is in
# autocert's layout (EC key block, then the chain) with a chain that verifies against pebble's
# root, for NAME (SAN), with the entry's own key.
acme_check_cache()
{
	local name f mode out
	[ -d "$ACME_CACHE" ] || dp_fail "no cache directory $ACME_CACHE"
	mode=$(stat -c %a "$ACME_CACHE")
	[ "$mode" = 700 ] || dp_fail "cache directory mode $mode, want 700"
	for f in "$ACME_CACHE"/* "$ACME_CACHE"/.[!.]*; do
		[ -e "$f" ] || continue
		mode=$(stat -c %a "$f")
		[ "$mode" = 600 ] || dp_fail "cache file $(basename "$f") has mode $mode, want 600"
	done
	[ -s "$ACME_CACHE/acme_account+key" ] || dp_fail "no acme_account+key in the cache"
	grep -q '^-----BEGIN EC PRIVATE KEY-----$' "$ACME_CACHE/acme_account+key" ||
		dp_fail "acme_account+key is not an EC PRIVATE KEY PEM"
	for name in "$@"; do
		f=$ACME_CACHE/$name
		[ -s "$f" ] || dp_fail "no cache entry $name"
		out=$(python3 "$ACME_TOOL" layout "$f") ||
			dp_fail "cache entry $name is not in autocert's layout: $out"
		case $out in
		*'"key_type": "EC PRIVATE KEY"'*) ;;
		*) dp_fail "cache entry $name: want an EC PRIVATE KEY first: $out" ;;
		esac
		out=$(openssl verify -CAfile "$PEBBLE_ROOT_FILE" -untrusted "$f" "$f" 2>&1) ||
			dp_fail "the chain of $name does not verify against pebble's root: $out"
		openssl x509 -in "$f" -noout -checkhost "$name" | grep -q 'does match' ||
			dp_fail "the cached certificate is not for $name"
		[ "$(openssl pkey -in "$f" -pubout 2>/dev/null)" = "$(openssl x509 -in "$f" -noout -pubkey)" ] ||
			dp_fail "the key of cache entry $name does not match its certificate"
		dp_say "cache entry $name: layout ok, chain verifies ($(openssl x509 -in "$f" -noout -serial))"
	done
	dp_say "cache dir 0700, files 0600: $(cd "$ACME_CACHE" && echo *)"
}

# acme_authz — one line per authorization pebble logged as validated (set VALID or INVALID by
# a completed challenge), in log order, as pebble's ACME API shows it now (read with the
# server's own account key): "ID NAME STATUS type=status,type=status". pebble's log itself
# does not say which challenge type was tried (it only logs HTTP-01 fetches).
acme_authz()
{
	local ids
	ids=$(sed -n 's/.*authz \([^ ]*\) set [A-Z]* by completed challenge.*/\1/p' "$PEBBLE_LOG")
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086 # one argument per id
	timeout 30 python3 "$ACME_TOOL" authz --text --env "$ACME_PEBBLE/pebble.env" \
		--account-key "$ACME_CACHE/acme_account+key" -- $ids ||
		dp_fail "cannot read the authorizations back from pebble"
}
