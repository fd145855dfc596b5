#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from the unit tests' byte vectors and
tests/vectors/*.json. Run it from anywhere after changing a vector: python3 tests/fuzz/seeds.py.
Each seed is a small real input in the format the target's comment describes."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors")
SEEDS = {}


def seed(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    SEEDS.setdefault(target, {})[name] = data


def vectors(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


# ---- http_upgrade: segment size byte, then the request.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
WS = ("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: " + KEY + "\r\n")
seed("http_upgrade", "gorilla", b"\x3f" + (
    "GET /?client_ip=2001%3Adb8%3A%3A1 HTTP/1.1\r\nHost: snowflake.torproject.net\r\n"
    "User-Agent: Go-http-client/1.1\r\n" + WS + "\r\n").encode())
seed("http_upgrade", "ipv4_split", b"\x02GET /?client_ip=192.0.2.7&x=%41+b HTTP/1.1\r\nHost: x\r\n"
     + WS.encode() + b"\r\n")
seed("http_upgrade", "bare_lf", b"\x10GET / HTTP/1.1\nhost:\nCONNECTION: upgrade\n"
     b"upgrade: websocket\nsec-websocket-version: 13\nsec-websocket-key: " + KEY.encode() + b"\n\n")
seed("http_upgrade", "data_after", b"\x3fGET /?client_ip=%5B::1%5D HTTP/1.1\r\nHost: x\r\n"
     + WS.encode() + b"\r\n\x82\x80abcd")
seed("http_upgrade", "not_get", b"\x07POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")

# ---- ws_frames: segment size byte, then client frames (masked with key 37 fa 21 3d).
def ws_frame(op, payload, fin=True, mask=b"\x37\xfa\x21\x3d"):
    n = len(payload)
    hdr = bytes([(0x80 if fin else 0) | op])
    if n < 126:
        hdr += bytes([0x80 | n])
    elif n < 65536:
        hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


seed("ws_frames", "binary", b"\xff" + ws_frame(2, b"\x12\x93\x60\x5d\x27\x81\x75\xf5hello"))
seed("ws_frames", "fragmented_ping", b"\x03" + ws_frame(2, b"ab", fin=False) + ws_frame(9, b"p")
     + ws_frame(0, b"cd"))
seed("ws_frames", "close_code", b"\x10" + ws_frame(1, b"text") + ws_frame(8, b"\x03\xe8bye"))
seed("ws_frames", "len16", b"\x7f" + ws_frame(2, bytes(range(256)) * 2) + ws_frame(10, b""))
seed("ws_frames", "unmasked", b"\x00" + b"\x82\x02ab")

# ---- turbotunnel_encap: segment size / stop byte, then token + ClientID + chunks.
ENC = vectors("encapsulation.json")
PREAMBLE = bytes.fromhex(ENC["turbotunnel_upstream_example"]["token_hex"]
                         + ENC["turbotunnel_upstream_example"]["client_id_hex"])
seed("turbotunnel_encap", "upstream_example",
     b"\x7f" + bytes.fromhex(ENC["turbotunnel_upstream_example"]["stream_hex"]))
for i, case in enumerate(ENC["decode"]):
    if case["input_hex"] and i % 3 == 1:
        seed("turbotunnel_encap", "decode_%02d" % i,
             bytes([0x85 if i % 2 else 0x07]) + PREAMBLE + bytes.fromhex(case["input_hex"])[:300])
seed("turbotunnel_encap", "bad_token", b"\x03" + b"GET / HT" + PREAMBLE[8:])

# ---- tor_extor: flags byte, then what tor sends (transcripts of tests/vectors/extorport.json).
EXT = vectors("extorport.json")
for i, case in enumerate(EXT["cases"]):
    tor = b"".join(bytes.fromhex(t["hex"]) for t in case["transcript"] if t["dir"] == "tor->pt")
    flags = [0x3f, 0x40, 0x00, 0x07][i % 4] | (0x80 if not case.get("dialor_addr_arg") else 0)
    seed("tor_extor", "case_%02d" % i, bytes([flags]) + tor)

# ---- tls_hello: sigalgs, groups, ciphers lengths and bodies, then server_name = ALPN bytes.
def tls_hello(sigalgs, groups, ciphers, rest):
    return bytes([len(sigalgs), len(groups), len(ciphers)]) + sigalgs + groups + ciphers + rest


SNI = b"\x00\x0e\x00\x00\x0bexample.com"
ECDSA_SIGALGS = b"\x00\x04\x04\x03\x08\x04"
P256 = b"\x00\x02\x00\x17"
seed("tls_hello", "ecdsa", tls_hello(ECDSA_SIGALGS, P256, b"\x13\x01\xc0\x2b\xc0\x2f", SNI))
seed("tls_hello", "rsa_only", tls_hello(b"\x00\x02\x08\x04", b"", b"\xc0\x2f\xc0\x30\xcc\xa8",
                                        b"\x00\x0a\x07\x00\x02xy\x00\x00\x02ab"))
seed("tls_hello", "alpn_acme", tls_hello(b"", b"", b"\x13\x01\x13\x02\x13\x03\x00\xff",
                                         b"\x0aacme-tls/1"))
seed("tls_hello", "alpn_two", tls_hello(b"", P256, b"", b"\x08http/1.1\x0aacme-tls/1"))
seed("tls_hello", "sni_upper_dot", tls_hello(b"", b"", b"",
                                             b"\x00\x11\x00\x00\x0eSnowFlake.Org."))


# ---- kcp_session: records [op][dt][len u16 LE][packet] of the client packets of kcp.json.
KCP = vectors("kcp.json")
for si, sc in enumerate(KCP["scenarios"]):
    for part, op in ((0, 0x01), (1, 0x23)):
        rec, last = b"", None
        pkts = [p for p in sc["packets"] if p["dir"] == "c2s"][part * 12:part * 12 + 12]
        for p in pkts:
            t = p["t_ms"]
            dt = 0 if last is None else min(255, int(t - last))
            last = t
            pkt = bytes.fromhex(p["hex"])
            rec += bytes([op, dt]) + struct.pack("<H", len(pkt)) + pkt
        seed("kcp_session", "scenario%d_part%d" % (si, part), rec)


# ---- smux_session: records [op][dt][len u16 LE][stream bytes] of the client streams of smux.json.
SMUX = vectors("smux.json")
EXCH = SMUX["exchange"]["client_to_server"]
for name, op in (("exchange_consume", 0x33), ("exchange_close", 0x0d)):
    rec = b""
    for i, w in enumerate(EXCH["writes"]):
        chunk = bytes.fromhex(w["hex"])
        rec += bytes([op, i]) + struct.pack("<H", len(chunk)) + chunk
    seed("smux_session", name, rec)
whole = bytes.fromhex(EXCH["stream_hex"])
seed("smux_session", "exchange_whole", bytes([0x01, 0]) + struct.pack("<H", len(whole)) + whole)
frames = [bytes.fromhex(v["hex"]) for v in SMUX["frame_vectors"]][:12]
seed("smux_session", "frames_idle", b"".join(bytes([0x02, 200]) + struct.pack("<H", len(f)) + f
                                            for f in frames))


# ---- pt_env: NAME=value lines, as tor sets them (tests/unit/test_pt_env.c).
BASE = ("TOR_PT_MANAGED_TRANSPORT_VER=1\nTOR_PT_SERVER_TRANSPORTS=snowflake\n"
        "TOR_PT_SERVER_BINDADDR=snowflake-0.0.0.0:443\n")
seed("pt_env", "extorport", BASE + "TOR_PT_EXTENDED_SERVER_PORT=127.0.0.1:9999\n"
     "TOR_PT_AUTH_COOKIE_FILE=/var/lib/tor/extended_orport_auth_cookie\nTOR_PT_ORPORT=127.0.0.1:9001\n"
     "TOR_PT_EXIT_ON_STDIN_CLOSE=1\n")
seed("pt_env", "options_v6", BASE.replace("0.0.0.0:443", "[::]:8443,other-127.0.0.1:1")
     + "TOR_PT_ORPORT=[::1]:9001\nTOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:num-turbotunnel=2;"
     "snowflake:k=a\\;b;other:x=\\\\\n")
seed("pt_env", "bad_version", "TOR_PT_MANAGED_TRANSPORT_VER=2,3\nTOR_PT_ORPORT=1.2.3.4:5\n")
seed("pt_env", "star", BASE.replace("=snowflake\n", "=*\n") + "TOR_PT_ORPORT=[::ffff:1.2.3.4]:0\n")

# ---- pt_options: one string for the options, num-turbotunnel and address parsers.
for name, text in (("options", "snowflake:num-turbotunnel=2;snowflake:a=b\\=c;t:k=v"),
                   ("escape", "t:k=v\\;w\\\\;u:x=\\:"), ("number", "+00012"),
                   ("v4", "192.0.2.7:443"), ("v6", "[2001:db8::1]:65535"), ("v6_bare", "::1:80"),
                   ("mapped", "[::ffff:10.0.0.1]:0")):
    seed("pt_options", name, text)

# ---- lib_flags: NUL-separated arguments.
for name, argv in (("typical", ["-acme-hostnames", "snowflake.example.org", "--acme-email=a@b",
                                "-log", "/var/log/sf.log", "-unsafe-logging"]),
                   ("bool_values", ["-disable-tls=false", "-x=0", "-version=T", "--", "rest"]),
                   ("positional", ["-d", "dir", "-", "-log"]),
                   ("help", ["-unsafe-logging=yes", "-h"]),
                   ("undefined", ["-nope=1"])):
    seed("lib_flags", name, "\0".join(argv))


# ---- acme_client: the CA's answers [status index][flags][len u16 LE][body], one per request.
def acme_answer(status, body=b"", ctype=0, flags=0):
    idx = {200: 0, 201: 1, 204: 2, 400: 3, 403: 4, 404: 5, 429: 6, 500: 7, 503: 8}[status]
    if isinstance(body, (dict, list)):
        body = json.dumps(body, separators=(",", ":")).encode()
    return bytes([idx, ctype | flags]) + struct.pack("<H", len(body)) + body


CA = "https://ca.test"
DIRECTORY = acme_answer(200, {"newNonce": CA + "/nonce", "newAccount": CA + "/acct",
                              "newOrder": CA + "/order", "revokeCert": CA + "/revoke",
                              "keyChange": CA + "/kc", "meta": {"termsOfService": CA + "/tos"}})
NONCE = acme_answer(204, ctype=3)
ACCOUNT = acme_answer(201, {"status": "valid", "contact": ["mailto:admin@example.org"]})
IDENT = {"type": "dns", "value": "snowflake.example.org"}
ORDER = acme_answer(201, {"status": "pending", "identifiers": [IDENT],
                          "authorizations": [CA + "/authz/1"], "finalize": CA + "/finalize/1"})
CHALLENGES = [{"type": "tls-alpn-01", "url": CA + "/chal/1/tls", "token": "tok-Alpn_1",
               "status": "pending"},
              {"type": "http-01", "url": CA + "/chal/1/http", "token": "tokHttp1", "status": "pending"}]
AUTHZ = acme_answer(200, {"status": "pending", "identifier": IDENT, "challenges": CHALLENGES})
CHAL = acme_answer(200, {"type": "tls-alpn-01", "status": "processing"})
AUTHZ_VALID = acme_answer(200, {"status": "valid", "identifier": IDENT, "challenges": CHALLENGES})
ORDER_VALID = acme_answer(200, {"status": "valid", "identifiers": [IDENT],
                                "authorizations": [CA + "/authz/1"], "finalize": CA + "/finalize/1",
                                "certificate": CA + "/cert/1"})
PROBLEM = acme_answer(429, {"type": "urn:ietf:params:acme:error:rateLimited",
                            "detail": "too many certificates", "status": 429}, ctype=1, flags=4)
BAD_NONCE = acme_answer(400, {"type": "urn:ietf:params:acme:error:badNonce", "detail": "stale"},
                        ctype=1)


def self_signed_pem():
    """A real certificate chain for the download (made with the openssl command once)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                        "-subj", "/CN=snowflake.example.org", "-days", "90",
                        "-addext", "subjectAltName=DNS:snowflake.example.org"],
                       check=True, capture_output=True)
        with open(key, "rb") as f:
            key_pem = f.read()
        with open(crt, "rb") as f:
            return key_pem, f.read()


def cached_pem(name):
    """The generated PEM kept in the corpus, so that seeds stay the same across runs."""
    path = os.path.join(HERE, "corpus", "acme_cert", name)
    if os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    return None


KEY_PEM = cached_pem("ec_key_and_cert")
if KEY_PEM is None:
    k, c = self_signed_pem()
    KEY_PEM = k + c
CERT_PEM = KEY_PEM[KEY_PEM.index(b"-----BEGIN CERTIFICATE-----"):]
CERT = acme_answer(200, CERT_PEM + CERT_PEM, ctype=2)
seed("acme_client", "issue_tls_alpn", DIRECTORY + NONCE + ACCOUNT + ORDER + AUTHZ + CHAL
     + AUTHZ_VALID + ORDER_VALID + ORDER_VALID + CERT)
seed("acme_client", "bad_nonce_then_rate_limited", DIRECTORY + NONCE + BAD_NONCE + ACCOUNT + PROBLEM)
seed("acme_client", "authz_invalid", DIRECTORY + NONCE + ACCOUNT + ORDER + AUTHZ + CHAL
     + acme_answer(200, {"status": "invalid", "identifier": IDENT, "challenges": [
         dict(CHALLENGES[0], status="invalid", error={
             "type": "urn:ietf:params:acme:error:unauthorized", "detail": "no",
             "subproblems": [{"type": "urn:ietf:params:acme:error:dns", "detail": "x"}]})]}))

# ---- acme_pem / acme_cert: PEM text as the cache and the CA hold it.
seed("acme_cert", "ec_key_and_cert", KEY_PEM)
seed("acme_cert", "garbage_after", KEY_PEM + b"leftover\n")
seed("acme_cert", "cert_only", CERT_PEM)
seed("acme_pem", "chain", CERT_PEM + CERT_PEM)
seed("acme_pem", "headers", b"junk\n-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\nAAEC\n"
     b"-----END X-----\n-----BEGIN Y-----\nAA==\n-----END Y-----")
seed("acme_pem", "key", KEY_PEM[:KEY_PEM.index(b"-----BEGIN CERTIFICATE-----")])


# ---- shard_pipeline: [segment size][ms per read], then WebSocket frames (zero mask) carrying
# the turbotunnel stream of the client packets of kcp.json.
def tt_record(pkt):
    n = len(pkt)
    if n < 0x80:
        return bytes([0x80 | n]) + pkt
    if n < 0x2000:
        return bytes([0xc0 | (n >> 7), n & 0x7f]) + pkt
    raise ValueError(n)


for si, sc in enumerate(KCP["scenarios"]):
    pkts = [bytes.fromhex(p["hex"]) for p in sc["packets"] if p["dir"] == "c2s"][:24]
    stream = PREAMBLE + b"".join(tt_record(p) for p in pkts)
    frames = b"".join(ws_frame(2, stream[i:i + 600], mask=b"\0\0\0\0")
                      for i in range(0, len(stream), 600))
    seed("shard_pipeline", "scenario%d" % si, bytes([0x10 + si * 0x30, 3]) + frames)


# ---- shard_live: [tor byte count, LE16][tor bytes], then WebSocket frames (zero mask) carrying
# the turbotunnel records that follow the preamble: the client packets of kcp.json (their smux
# SYN makes the shard dial tor, which answers with the tor bytes).
TOR_REPLY = b"tor says hello, and then some more bytes for the client" * 4
for si, sc in enumerate(KCP["scenarios"]):
    pkts = [bytes.fromhex(p["hex"]) for p in sc["packets"] if p["dir"] == "c2s"][:24]
    stream = b"".join(tt_record(p) for p in pkts)
    frames = b"".join(ws_frame(2, stream[i:i + 600], mask=b"\0\0\0\0")
                      for i in range(0, len(stream), 600))
    reply = TOR_REPLY if si % 2 == 0 else b""
    seed("shard_live", "scenario%d" % si, struct.pack("<H", len(reply)) + reply + frames)


def main():
    for target, files in SEEDS.items():
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
