#!/usr/bin/env python3
"""Small tools for the ACME end-to-end tests (test_acme_*.sh); python3 + python3-cryptography.

  acme_tool.py authz --env PEBBLE_ENV --account-key KEY AUTHZ_ID...
      Asks pebble (POST-as-GET, signed with the server's own account key, the kid found by
      newAccount onlyReturnExisting) for each authorization and prints one JSON line each:
      {"id", "status", "identifier", "challenges": [{"type", "status", "error"}]}
      (--text: "ID NAME STATUS type=status,type=status").
      pebble's log does not name the challenge type that validated; the ACME API does.

  acme_tool.py issue --env PEBBLE_ENV -d NAME [-d NAME...] --key ec256|rsa2048 --out DIR
      Another ACME client than the server: a fresh account, one order, HTTP-01 answered on
      127.0.0.1:PEBBLE_HTTP_PORT (nothing else may listen there meanwhile), finalize with a CSR
      for a new KEY, and writes DIR/key.pem (PKCS#8) and DIR/fullchain.pem (leaf first).
      Prints {"names", "key", "order", "certificate"}.

  acme_tool.py gopem --key KEY.pem --chain FULLCHAIN.pem --out FILE
      Writes an autocert DirCache entry exactly as Go writes it: the key as an
      "EC PRIVATE KEY" (SEC1) or "RSA PRIVATE KEY" (PKCS#1) block, then one CERTIFICATE
      block per certificate of the chain (leaf first), base64 in 64 columns, '\\n' only.

  acme_tool.py layout FILE
      Checks that FILE is in that layout (first block a *PRIVATE KEY*, then CERTIFICATEs,
      64-column base64, nothing else) and prints {"key_type", "certs"}; exit 1 if not.

  acme_tool.py probe --addr HOST:PORT --send-hex HEX|--send-random N|--send-text TEXT [--wait S]
      One TCP connection: sends the bytes, reads until the peer closes or --wait seconds pass,
      prints {"how": "closed"|"reset"|"open", "back_hex", "back_text"}.
"""
import argparse, base64, hashlib, http.server, json, os, re, socket, ssl, sys, threading, time
import urllib.error, urllib.request

from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


class Acme:
    """Just enough RFC 8555 (ES256 account keys) to read objects with the server's account and to
    get a certificate with a new one."""

    def __init__(self, directory_url, cafile, key):
        # loopback only: never through a proxy from the environment
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
        self.key = key
        self.nonce = None
        self.kid = None
        self.dir = json.loads(self.http("GET", directory_url)[2])

    def http(self, method, url, body=None, headers=None):
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=15) as r:
                status, hdrs, data = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, data = e.code, e.headers, e.read()
        if hdrs.get("Replay-Nonce"):
            self.nonce = hdrs["Replay-Nonce"]
        return status, hdrs, data

    def jwk(self):
        nums = self.key.public_key().public_numbers()
        return {"crv": "P-256", "kty": "EC",
                "x": b64u(nums.x.to_bytes(32, "big")), "y": b64u(nums.y.to_bytes(32, "big"))}

    def post(self, url, payload):
        for _ in range(20):  # badNonce retries (pebble may run with --nonce-reject)
            if not self.nonce:
                self.http("HEAD", self.dir["newNonce"])
            prot = {"alg": "ES256", "nonce": self.nonce, "url": url}
            if self.kid:
                prot["kid"] = self.kid
            else:
                prot["jwk"] = self.jwk()
            self.nonce = None
            p64 = b64u(json.dumps(prot).encode())
            pl64 = "" if payload is None else b64u(json.dumps(payload).encode())
            r, s = decode_dss_signature(self.key.sign(f"{p64}.{pl64}".encode(), ec.ECDSA(hashes.SHA256())))
            body = json.dumps({"protected": p64, "payload": pl64,
                               "signature": b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}).encode()
            status, hdrs, data = self.http("POST", url, body, {"Content-Type": "application/jose+json"})
            if status == 400 and b"badNonce" in data:
                continue
            return status, hdrs, data
        raise RuntimeError(f"too many badNonce answers for {url}")

    def thumbprint(self):
        """RFC 7638 thumbprint of the account key: the key authorization's second half."""
        canon = json.dumps(self.jwk(), sort_keys=True, separators=(",", ":")).encode()
        return b64u(hashlib.sha256(canon).digest())

    def get(self, url, what):
        """POST-as-GET of an object that must exist; returns it parsed."""
        status, _, data = self.post(url, None)
        if status != 200:
            raise RuntimeError(f"{what}: HTTP {status}: {data[:300]!r}")
        return json.loads(data)

    def poll(self, url, what, done, deadline):
        """POST-as-GET until done(obj) (pebble sends no Retry-After); 'invalid' is an error."""
        while True:
            obj = self.get(url, what)
            if done(obj):
                return obj
            if obj.get("status") == "invalid":
                raise RuntimeError(f"{what} is invalid: {json.dumps(obj)[:600]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} still {obj.get('status')} at the deadline")
            time.sleep(0.1)

    def register(self):
        status, hdrs, data = self.post(self.dir["newAccount"], {"termsOfServiceAgreed": True})
        if status not in (200, 201) or not hdrs.get("Location"):
            raise RuntimeError(f"newAccount: HTTP {status}: {data[:300]!r}")
        self.kid = hdrs["Location"]

    def login(self):
        status, hdrs, data = self.post(self.dir["newAccount"], {"onlyReturnExisting": True})
        if status not in (200, 201) or not hdrs.get("Location"):
            raise RuntimeError(f"account lookup: HTTP {status}: {data[:300]!r}")
        self.kid = hdrs["Location"]


def cmd_authz(a):
    env = read_env(a.env)
    with open(a.account_key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    c = Acme(env["PEBBLE_DIRECTORY_URL"], env["PEBBLE_CA_FILE"], key)
    c.login()
    base = env["PEBBLE_DIRECTORY_URL"].rsplit("/", 1)[0]
    rc = 0
    for ident in a.ids:
        status, _, data = c.post(f"{base}/authZ/{ident}", None)
        if status != 200:
            print(json.dumps({"id": ident, "error": f"HTTP {status}", "body": data.decode(errors="replace")}))
            rc = 1
            continue
        az = json.loads(data)
        chals = az.get("challenges", [])
        if a.text:
            print(ident, az.get("identifier", {}).get("value"), az.get("status"),
                  ",".join(f"{ch.get('type')}={ch.get('status')}" for ch in chals))
            continue
        print(json.dumps({
            "id": ident, "status": az.get("status"), "identifier": az.get("identifier", {}).get("value"),
            "challenges": [{"type": ch.get("type"), "status": ch.get("status"),
                            "error": (ch.get("error") or {}).get("detail")} for ch in chals],
        }))
    return rc


class Http01Answers(http.server.BaseHTTPRequestHandler):
    """GET /.well-known/acme-challenge/TOKEN -> its key authorization (the VA asks 3 times)."""
    answers = {}

    def do_GET(self):
        prefix = "/.well-known/acme-challenge/"
        body = self.answers.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write((body or "not found").encode())

    def log_message(self, *_):
        pass


def cmd_issue(a):
    env = read_env(a.env)
    deadline = time.monotonic() + a.timeout
    c = Acme(env["PEBBLE_DIRECTORY_URL"], env["PEBBLE_CA_FILE"], ec.generate_private_key(ec.SECP256R1()))
    c.register()  # a new account each time: pebble reuses authorizations only within one account
    status, hdrs, data = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": n} for n in a.domain]})
    if status != 201:
        raise RuntimeError(f"newOrder: HTTP {status}: {data[:300]!r}")
    order_url, order = hdrs["Location"], json.loads(data)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", int(env["PEBBLE_HTTP_PORT"])), Http01Answers)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        for authz_url in order["authorizations"]:
            authz = c.get(authz_url, "authorization")
            if authz["status"] == "valid":
                continue
            chal = next(ch for ch in authz["challenges"] if ch["type"] == "http-01")
            Http01Answers.answers[chal["token"]] = f"{chal['token']}.{c.thumbprint()}"
            status, _, data = c.post(chal["url"], {})
            if status != 200:
                raise RuntimeError(f"challenge: HTTP {status}: {data[:300]!r}")
            c.poll(authz_url, "authorization", lambda o: o["status"] == "valid", deadline)
    finally:
        httpd.shutdown()
        httpd.server_close()

    if a.key == "rsa2048":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, a.domain[0])]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in a.domain]), critical=False)
           .sign(key, hashes.SHA256()))
    c.poll(order_url, "order", lambda o: o["status"] == "ready", deadline)
    status, _, data = c.post(order["finalize"], {"csr": b64u(csr.public_bytes(serialization.Encoding.DER))})
    if status != 200:
        raise RuntimeError(f"finalize: HTTP {status}: {data[:300]!r}")
    order = c.poll(order_url, "order", lambda o: o["status"] == "valid", deadline)
    status, _, chain = c.post(order["certificate"], None)
    if status != 200 or b"BEGIN CERTIFICATE" not in chain:
        raise RuntimeError(f"certificate download: HTTP {status}: {chain[:300]!r}")

    os.makedirs(a.out, exist_ok=True)
    fd = os.open(os.path.join(a.out, "key.pem"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(a.out, "fullchain.pem"), "wb") as f:
        f.write(chain)
    print(json.dumps({"names": a.domain, "key": a.key, "order": order_url, "certificate": order["certificate"]}))
    return 0


def pem_block(kind, der):
    b = base64.b64encode(der).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return f"-----BEGIN {kind}-----\n" + "".join(l + "\n" for l in lines) + f"-----END {kind}-----\n"


def pem_blocks(text):
    """[(type, der)] of every block; raises on anything but blocks (whitespace between allowed)."""
    out, rest = [], text
    while rest.strip():
        rest = rest.lstrip("\n")
        head, _, rest = rest.partition("\n")
        if not (head.startswith("-----BEGIN ") and head.endswith("-----")):
            raise ValueError(f"not a PEM block: {head[:40]!r}")
        kind = head[len("-----BEGIN "):-5]
        body, sep, rest = rest.partition(f"-----END {kind}-----\n")
        if not sep:
            raise ValueError(f"unterminated {kind} block")
        out.append((kind, base64.b64decode("".join(body.split()))))
    return out


def cmd_gopem(a):
    with open(a.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        kind = "EC PRIVATE KEY"
    elif isinstance(key, rsa.RSAPrivateKey):
        kind = "RSA PRIVATE KEY"
    else:
        raise SystemExit("key must be ECDSA or RSA")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    with open(a.chain) as f:  # any text around the blocks is ignored here
        certs = [base64.b64decode("".join(b.split())) for b in
                 re.findall(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----", f.read(), re.S)]
    if not certs:
        raise SystemExit("no certificate in the chain file")
    text = pem_block(kind, der) + "".join(pem_block("CERTIFICATE", d) for d in certs)
    tmp = a.out + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.rename(tmp, a.out)
    print(json.dumps({"key_type": kind, "certs": len(certs), "bytes": len(text)}))
    return 0


def cmd_layout(a):
    with open(a.file) as f:
        text = f.read()
    bad = []
    try:
        blocks = pem_blocks(text)
    except ValueError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    if not blocks or "PRIVATE KEY" not in blocks[0][0]:
        bad.append("the first block is not a private key")
    if any(k != "CERTIFICATE" for k, _ in blocks[1:]):
        bad.append("a block after the key is not a CERTIFICATE")
    rebuilt = "".join(pem_block(k, d) for k, d in blocks)
    if rebuilt != text:
        bad.append("not byte-identical to Go's pem.Encode of the same blocks")
    print(json.dumps({"key_type": blocks[0][0] if blocks else None, "certs": len(blocks) - 1, "bad": bad}))
    return 1 if bad else 0


def cmd_probe(a):
    host, port = a.addr.rsplit(":", 1)
    if a.send_hex is not None:
        data = bytes.fromhex(a.send_hex)
    elif a.send_random is not None:
        data = os.urandom(a.send_random)
    else:
        data = a.send_text.encode().decode("unicode_escape").encode("latin-1")
    back, how = b"", "open"
    s = socket.create_connection((host, int(port)), timeout=5)
    try:
        s.sendall(data)
        end = time.monotonic() + a.wait
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                how = "reset"
                break
            if not chunk:
                how = "closed"
                break
            back += chunk
    finally:
        s.close()
    print(json.dumps({"how": how, "sent": len(data), "back_hex": back[:256].hex(),
                      "back_text": back[:512].decode("latin-1")}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("authz")
    p.add_argument("--env", required=True)
    p.add_argument("--account-key", required=True)
    p.add_argument("--text", action="store_true", help="one line each: ID NAME STATUS type=status,...")
    p.add_argument("ids", nargs="+")
    p = sub.add_parser("issue")
    p.add_argument("--env", required=True)
    p.add_argument("-d", "--domain", action="append", required=True, help="DNS name (repeatable)")
    p.add_argument("--key", choices=["ec256", "rsa2048"], default="ec256", help="the certificate's key")
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=60, help="seconds for the whole issuance")
    p = sub.add_parser("gopem")
    p.add_argument("--key", required=True)
    p.add_argument("--chain", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("layout")
    p.add_argument("file")
    p = sub.add_parser("probe")
    p.add_argument("--addr", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--send-hex")
    g.add_argument("--send-random", type=int)
    g.add_argument("--send-text")
    p.add_argument("--wait", type=float, default=12)
    a = ap.parse_args()
    return {"authz": cmd_authz, "issue": cmd_issue, "gopem": cmd_gopem, "layout": cmd_layout, "probe": cmd_probe}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
