# labels: dist
# timeout: 120
#
# The deployment files (dist/, docs/deploy.md) against the program they describe:
#   - the systemd unit passes `systemd-analyze verify` without a single message, keeps the
#     hardening the deploy guide promises, and scores "OK" in `systemd-analyze security`;
#   - the production environment file, read the way systemd reads it, configures a server that
#     serves: only the endpoints are moved to this test's loopback peers (the transport
#     options, orport-srcaddr=127.0.1.0/24 included, are used as written), and the ExtORPort
#     peer sees every connection come from 127.0.1.0/24; its SNOWFLAKE_SERVER_ARGS parse;
#   - the man page renders without a groff warning, and documents exactly the flags of --help,
#     the transport options and the environment variables; its version is the program's.
. "$(dirname "$0")/lib.sh"

dp_setup dist
DIST=$SF_SOURCE_DIR/dist
SF_SERVER=$(readlink -f "$SF_SERVER") # the unit needs an absolute path
UNIT=$DIST/snowflake-server.service
ENVFILE=$DIST/snowflake-server.env
MAN=$DIST/snowflake-server.1

# --- the unit ------------------------------------------------------------------------------
command -v systemd-analyze >/dev/null || dp_fail "systemd-analyze is missing (Debian package systemd)"
# The installed paths do not exist here: point the unit at the built binary and the dist env
# file (scripts/package-test.sh verifies the installed unit as it is).
mkdir "$DP_WORK/unit"
sed -e "s#^ExecStart=/usr/bin/snowflake-server #ExecStart=$SF_SERVER #" \
	-e "s#^EnvironmentFile=/etc/default/snowflake-server\$#EnvironmentFile=$ENVFILE#" \
	"$UNIT" >"$DP_WORK/unit/snowflake-server.service"
grep -q "^ExecStart=$SF_SERVER " "$DP_WORK/unit/snowflake-server.service" || dp_fail "unit: no ExecStart=/usr/bin/snowflake-server line"
# verify's status stays 0 on an unparseable directive: it must print nothing at all.
systemd-analyze verify --man=no "$DP_WORK/unit/snowflake-server.service" >"$DP_WORK/verify.out" 2>&1
rc=$?
[ "$rc" = 0 ] && [ ! -s "$DP_WORK/verify.out" ] || dp_fail "systemd-analyze verify (status $rc): $(cat "$DP_WORK/verify.out")"
for d in 'User=_snowflake' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
	'AmbientCapabilities=CAP_NET_BIND_SERVICE' 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' \
	'LimitNOFILE=1048576' 'Restart=on-failure' 'StateDirectory=snowflake-server' \
	'LogsDirectory=snowflake-server' 'ExecReload=/bin/kill -HUP $MAINPID' \
	'EnvironmentFile=/etc/default/snowflake-server' 'SystemCallFilter=seccomp' \
	'ExecStart=/usr/bin/snowflake-server --seccomp $SNOWFLAKE_SERVER_ARGS'; do
	grep -Fxq -- "$d" "$UNIT" || dp_fail "unit lacks '$d'"
done
# Exposure score x10 (1.9 when written); above 2.5 a hardening line was lost.
systemd-analyze security --offline=yes --threshold=25 "$DP_WORK/unit/snowflake-server.service" >"$DP_WORK/security.out" 2>&1 ||
	dp_fail "systemd-analyze security: $(tail -n 3 "$DP_WORK/security.out")"
dp_say "unit: verify clean, hardening present, $(grep -o 'Overall exposure level.*' "$DP_WORK/security.out")"

# --- the environment file ------------------------------------------------------------------
# KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments, optional quotes); the
# dump is NUL-separated for bash.
python3 - "$ENVFILE" >"$DP_WORK/env.nul" <<'PY' || dp_fail "cannot parse $ENVFILE"
import re, sys
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line[0] in "#;":
        continue
    m = re.fullmatch(r'([A-Za-z_][A-Za-z0-9_]*)=(.*)', line)
    if not m:
        sys.exit(f"not KEY=VALUE: {line}")
    k, v = m.groups()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
    sys.stdout.write(f"{k}={v}\0")
PY
declare -A ENV
while IFS= read -r -d '' kv; do ENV[${kv%%=*}]=${kv#*=}; done <"$DP_WORK/env.nul"
for k in SNOWFLAKE_SERVER_ARGS TOR_PT_MANAGED_TRANSPORT_VER TOR_PT_SERVER_TRANSPORTS TOR_PT_SERVER_BINDADDR \
	TOR_PT_EXIT_ON_STDIN_CLOSE TOR_PT_EXTENDED_SERVER_PORT TOR_PT_AUTH_COOKIE_FILE TOR_PT_STATE_LOCATION \
	TOR_PT_SERVER_TRANSPORT_OPTIONS; do
	[ -n "${ENV[$k]:-}" ] || dp_fail "$ENVFILE does not set $k"
done
[ "${ENV[TOR_PT_SERVER_BINDADDR]}" = 'snowflake-[::]:443' ] && [ "${ENV[TOR_PT_EXIT_ON_STDIN_CLOSE]}" = 0 ] &&
	[ "${ENV[TOR_PT_EXTENDED_SERVER_PORT]}" = 127.0.0.1:10000 ] &&
	[ "${ENV[TOR_PT_SERVER_TRANSPORT_OPTIONS]}" = 'snowflake:orport-srcaddr=127.0.1.0/24;snowflake:num-turbotunnel=8' ] ||
	dp_fail "$ENVFILE no longer has the production values of docs/deploy.md"
# The flags parse (--version stops right after parsing; a wrong flag exits 2).
# shellcheck disable=SC2086 # split on spaces as systemd does for $SNOWFLAKE_SERVER_ARGS
"$SF_SERVER" ${ENV[SNOWFLAKE_SERVER_ARGS]} --version 2>"$DP_WORK/args.err" ||
	dp_fail "SNOWFLAKE_SERVER_ARGS do not parse: $(cat "$DP_WORK/args.err")"

dp_start_extor
# As written, except: the endpoints of this test, --disable-tls, exit with the test (stdin).
dp_start_server "TOR_PT_MANAGED_TRANSPORT_VER=${ENV[TOR_PT_MANAGED_TRANSPORT_VER]}" \
	"TOR_PT_SERVER_TRANSPORTS=${ENV[TOR_PT_SERVER_TRANSPORTS]}" \
	"TOR_PT_SERVER_TRANSPORT_OPTIONS=${ENV[TOR_PT_SERVER_TRANSPORT_OPTIONS]}"
dp_wait_line "$DP_SERVER_DIR/server.log" 'listening with plain HTTP' 5 "$DP_SERVER_PID" || dp_fail "no listening line"
dp_client env --sessions 3 --streams 2 --bytes 100000
dp_expect_client_ok 3 2 100000
python3 - "$DP_EXTOR_OUT" <<'PY' || dp_fail "ExtORPort connections not from orport-srcaddr (above)"
import ipaddress, json, sys
conns = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
conns = [c for c in conns if c.get("event") == "extor_conn"]
net = ipaddress.ip_network("127.0.1.0/24")
bad = [c for c in conns if ipaddress.ip_address(c["remote"].rsplit(":", 1)[0]) not in net or c.get("auth") != "ok"]
print(f"{len(conns)} ExtORPort connections, {len(bad)} not from {net} or not authenticated")
sys.exit(1 if len(conns) != 6 or bad else 0)
PY
dp_stop_server
dp_say "environment file: serves with its transport options, sources in 127.0.1.0/24"

# --- the man page --------------------------------------------------------------------------
groff -man -ww -z "$MAN" >"$DP_WORK/groff.out" 2>&1 && [ ! -s "$DP_WORK/groff.out" ] ||
	dp_fail "groff warnings: $(cat "$DP_WORK/groff.out")"
MANWIDTH=80 man --warnings -l "$MAN" >"$DP_WORK/man.txt" 2>"$DP_WORK/man.err" && [ ! -s "$DP_WORK/man.err" ] ||
	dp_fail "man -l warnings: $(cat "$DP_WORK/man.err")"
lexgrog "$MAN" | grep -q ': "snowflake-server - ' || dp_fail "lexgrog cannot read the NAME section"
for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'TRANSPORT OPTIONS' ENVIRONMENT FILES SIGNALS EXAMPLES; do
	grep -q "^$s\$" "$DP_WORK/man.txt" || dp_fail "man page lacks the section $s"
done
"$SF_SERVER" -h 2>"$DP_WORK/help.txt"
help_flags=$(sed -n 's/^  -\([a-z][a-z0-9-]*\).*/\1/p' "$DP_WORK/help.txt" | sort)
# OPTIONS entries: ".BI \-\-name ..." / ".B \-\-name" right after a .TP
man_flags=$(awk '/^\.SH OPTIONS/{on=1; next} /^\.SH/{on=0} on && prev==".TP" {print} {prev=$0}' "$MAN" |
	sed -n 's/^\.BI\{0,1\}R\{0,1\} \\-\\-\([a-z0-9\\-]*\).*/\1/p' | sed 's/\\-/-/g; s/"//g' | grep -v '^help$' | sort)
[ -n "$help_flags" ] && [ "$help_flags" = "$man_flags" ] ||
	dp_fail "flags of --help and of the man page's OPTIONS differ: $(diff <(echo "$help_flags") <(echo "$man_flags") | grep '^[<>]' | tr '\n' ' ')"
for t in num-turbotunnel orport-srcaddr TOR_PT_MANAGED_TRANSPORT_VER TOR_PT_SERVER_TRANSPORTS \
	TOR_PT_SERVER_BINDADDR TOR_PT_ORPORT TOR_PT_EXTENDED_SERVER_PORT TOR_PT_AUTH_COOKIE_FILE \
	TOR_PT_STATE_LOCATION TOR_PT_EXIT_ON_STDIN_CLOSE TOR_PT_SERVER_TRANSPORT_OPTIONS SIGHUP SIGUSR1; do
	grep -q -- "$t" "$DP_WORK/man.txt" || dp_fail "man page does not mention $t"
	case $t in SIG*) t=${t#SIG} ;; esac
	grep -q -- "$t" "$DP_WORK/help.txt" || dp_fail "--help does not mention $t"
done
man_version=$(sed -n 's/^\.TH .*"snowflake-server \([0-9.]*\)".*/\1/p' "$MAN")
"$SF_SERVER" --version 2>&1 | grep -q "^snowflake-server $man_version\( \|\$\)" ||
	dp_fail "man page version '$man_version' is not the program's: $("$SF_SERVER" --version 2>&1)"
dp_say "man page: no warnings, $(echo "$man_flags" | wc -l) flags = --help's, transport options and environment documented"
dp_pass
