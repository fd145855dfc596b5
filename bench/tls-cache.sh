#!/bin/sh
# Writes a throw-away certificate for NAME where a server that reads Go autocert's DirCache finds
# it, so both snowflake servers serve wss:// from the cache and never contact an ACME CA:
#
#   bench/tls-cache.sh NAME OUTDIR  ->  OUTDIR/ca.pem           (the client's --ca)
#                                       OUTDIR/cache/NAME       (copy into each server's
#                                       TOR_PT_STATE_LOCATION/snowflake-certificate-cache/)
#
# The cache file holds what autocert stores: the private key as a SEC 1 "EC PRIVATE KEY" block,
# then the chain, leaf first (here leaf + the test CA). ECDSA P-256, like Let's Encrypt's
# default for autocert. The leaf lives 89 days, like an ACME one: no server wants to renew it yet.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 NAME OUTDIR" >&2; exit 2; }
name=$1
out=$2
case $name in
*/* | .* | "") echo "tls-cache.sh: bad name '$name'" >&2; exit 2;;
esac
command -v openssl >/dev/null || { echo "tls-cache.sh: openssl is needed" >&2; exit 1; }

mkdir -p "$out/cache"
chmod 700 "$out/cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Test CA (self-signed, only for this cache).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca-key.pem" 2>/dev/null
openssl req -new -x509 -key "$tmp/ca-key.pem" -days 90 -subj "/CN=snowflake bench CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
	-out "$tmp/ca.pem" 2>/dev/null

# Leaf for NAME, signed by the CA.
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/leaf-key.pem" 2>/dev/null
openssl req -new -key "$tmp/leaf-key.pem" -subj "/CN=$name" -out "$tmp/leaf.csr" 2>/dev/null
cat > "$tmp/leaf.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$name
EXT
openssl x509 -req -in "$tmp/leaf.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca-key.pem" \
	-set_serial "0x$(openssl rand -hex 8)" -days 89 -extfile "$tmp/leaf.ext" \
	-out "$tmp/leaf.pem" 2>/dev/null

cp "$tmp/ca.pem" "$out/ca.pem"
umask 077
cat "$tmp/leaf-key.pem" "$tmp/leaf.pem" "$tmp/ca.pem" > "$out/cache/$name"
echo "$out/cache/$name"
