# labels: acme
# timeout: 120
#
# The HTTP-01 listener (--acme-http-port) of the whole server answers as autocert's
# HTTPHandler(nil) (docs/acme.md "Behaviour"): under /.well-known/acme-challenge/ a token found in
# the
# cache as "<token>+http-01" (as a Go instance sharing the cache would leave it) → 200 with its
# content, an unknown token → 404, a host not in --acme-hostnames → 403, each with autocert's error
# text; any other GET/HEAD → 302 to https://<host><request-URI> (":443" when Host had a port);
# other methods → 400 "Use HTTPS". None of it places an order. The 302 body must be Go's
# http.Redirect body (link HTML-escaped); that cosmetic check comes last.
. "$(dirname "$0")/acme_lib.sh"

acme_setup http_listener
acme_pebble_up
dp_start_echo
ACME_HOSTNAMES=a.test,b.test
mkdir -m 700 "$ACME_CACHE"
keyauth="tok-from-go.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
(umask 077 && printf '%s' "$keyauth" >"$ACME_CACHE/tok-from-go+http-01")
acme_start_server

http="http://127.0.0.1:$PEBBLE_HTTP_PORT"
# http_req NAME CURL_ARGS... — one request; the raw answer in $DP_WORK/NAME, without CRs in NAME.txt.
http_req()
{
	local name=$1
	shift
	curl -sS -i --max-time 10 "$@" >"$DP_WORK/$name" 2>"$DP_WORK/$name.err" ||
		dp_fail "curl $* failed: $(cat "$DP_WORK/$name.err")"
	tr -d '\r' <"$DP_WORK/$name" >"$DP_WORK/$name.txt"
}
# expect NAME STATUS_LINE [EXACT_BODY] — status line (and body) of the answer NAME.
expect()
{
	python3 - "$DP_WORK/$1" "$2" "${3-}" "$#" <<'PY' || dp_fail "$1: unexpected answer (above)"
import sys
raw = open(sys.argv[1], "rb").read()
head, _, body = raw.partition(b"\r\n\r\n")
status = head.split(b"\r\n", 1)[0].decode()
bad = []
if status != sys.argv[2]:
    bad.append(f"status {status!r}, want {sys.argv[2]!r}")
if sys.argv[4] == "3" and body != sys.argv[3].encode().decode("unicode_escape").encode("latin-1"):
    bad.append(f"body {body!r}, want {sys.argv[3]!r}")
if bad:
    print("\n".join(bad) + "\n" + raw.decode("latin-1"))
    sys.exit(1)
PY
}

http_req token "$http/.well-known/acme-challenge/tok-from-go" -H 'Host: a.test'
expect token 'HTTP/1.1 200 OK' "$keyauth"
grep -Fxq 'Content-Type: text/plain; charset=utf-8' "$DP_WORK/token.txt" ||
	dp_fail "token: want Content-Type text/plain; charset=utf-8: $(cat "$DP_WORK/token.txt")"
http_req token_head "$http/.well-known/acme-challenge/tok-from-go" -I -H 'Host: b.test'
expect token_head 'HTTP/1.1 200 OK' ''
http_req miss "$http/.well-known/acme-challenge/no-such-token" -H 'Host: a.test'
expect miss 'HTTP/1.1 404 Not Found' 'acme/autocert: certificate cache miss\n'
http_req host "$http/.well-known/acme-challenge/tok-from-go" -H 'Host: evil.test'
expect host 'HTTP/1.1 403 Forbidden' 'acme/autocert: host "evil.test" not configured in HostWhitelist\n'
dp_say "challenge path: 200 with the cached token, 404 for an unknown one, 403 for evil.test"

http_req get "$http/some/path?x=1&y=2" -H 'Host: a.test'
expect get 'HTTP/1.1 302 Found'
grep -Fxq 'Location: https://a.test/some/path?x=1&y=2' "$DP_WORK/get.txt" ||
	dp_fail "GET: wrong redirect: $(cat "$DP_WORK/get.txt")"
http_req get_port "$http/" -H 'Host: a.test:8080'
expect get_port 'HTTP/1.1 302 Found'
grep -Fxq 'Location: https://a.test:443/' "$DP_WORK/get_port.txt" ||
	dp_fail "GET with a port in Host: want Location https://a.test:443/: $(cat "$DP_WORK/get_port.txt")"
http_req head "$http/x" -I -H 'Host: b.test'
expect head 'HTTP/1.1 302 Found' ''
grep -Fxq 'Location: https://b.test/x' "$DP_WORK/head.txt" ||
	dp_fail "HEAD: want a redirect to https://b.test/x: $(cat "$DP_WORK/head.txt")"
http_req post "$http/x" -H 'Host: a.test' -d 'a=b'
expect post 'HTTP/1.1 400 Bad Request' 'Use HTTPS\n'
dp_say "other paths: 302 for GET/HEAD (:443 when Host had a port), 400 Use HTTPS for POST"

[ "$(acme_orders)" = 0 ] || dp_fail "the HTTP-01 listener made the server place an order"
dp_stop_server

# Last, as it is cosmetic: Go's http.Redirect body for that GET (the link is HTML-escaped).
expect get 'HTTP/1.1 302 Found' '<a href="https://a.test/some/path?x=1&amp;y=2">Found</a>.\n\n'
dp_pass
