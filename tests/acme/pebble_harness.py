#!/usr/bin/env python3
"""pebble (Let's Encrypt's test CA, Debian package `pebble`) on loopback for the ACME tests.

  pebble_harness.py up [options] STATE_DIR
      Starts pebble and pebble-challtestsrv (pebble's mock DNS: every name -> 127.0.0.1), each
      on a free 127.0.0.1 port, under a small supervisor process that owns and reaps them. When
      both answer, writes STATE_DIR/pebble.env (sh-sourceable KEY=value) and its JSON twin
      STATE_DIR/pebble.json, then exits 0; on any failure it stops what it started, exits 1.
  pebble_harness.py down STATE_DIR [--purge]
      Stops exactly the processes recorded in STATE_DIR/pebble.pids (PID and start time must
      both match, so a recycled PID is never signalled); --purge then removes STATE_DIR.

Nothing is fetched: pebble's config and the certificate of its HTTPS API (signed by a CA made
here, PEBBLE_CA_FILE) are generated with openssl. The API CA is kept across restarts in one
STATE_DIR (a client that cached it still trusts the restarted CA); the root that signs issued
certificates (PEBBLE_ROOT_FILE) is new on every start, as pebble makes it at start-up.

The supervisor stops pebble when --watch-pid's process exits, after --lifetime seconds, when
either child dies, or on SIGTERM (from `down`): no pebble outlives the test that started it.
"""
import argparse, json, os, re, signal, socket, ssl, subprocess, sys, time, urllib.request

SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+@%:,=-]+$")  # written unquoted into pebble.env
ROLES = ("supervisor", "challtestsrv", "pebble")


def say(args, msg):
    if not args.quiet:
        print(f"pebble_harness: {msg}", file=sys.stderr)


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep and not k.startswith("#"):
                env[k] = v
    return env


def start_time(pid):
    """Field 22 of /proc/PID/stat, or None when PID is gone or a zombie (holds nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def recorded(state):
    """[(role, pid, start time)] from STATE_DIR/pebble.pids."""
    try:
        with open(os.path.join(state, "pebble.pids")) as f:
            return [(r, int(p), st) for r, p, st in (line.split() for line in f if line.strip())]
    except FileNotFoundError:
        return []


def still_ours(pid, st):
    return start_time(pid) == st


def free_ports(n):
    """n distinct loopback ports free for TCP and UDP (the DNS port needs both); all are held
    until every one is chosen. They are free now, not reserved: the caller binds them soon."""
    held, ports = [], []
    try:
        for _ in range(20 * n):
            if len(ports) == n:
                break
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.bind(("127.0.0.1", 0))
            held.append(t)
            port = t.getsockname()[1]
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(u)
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
    finally:
        for s in held:
            s.close()
    if len(ports) < n:
        raise SystemExit("pebble_harness: no free loopback ports")
    return ports


def openssl(*argv):
    r = subprocess.run(["openssl", *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"pebble_harness: openssl {argv[0]} failed: {r.stderr.strip()}")


def api_certificate(state):
    """CA + certificate for pebble's HTTPS API (127.0.0.1). Reused while valid for a day more."""
    d = os.path.join(state, "tls")
    ca, key, cert = (os.path.join(d, n) for n in ("ca.pem", "api-key.pem", "api-cert.pem"))
    if all(os.path.exists(p) for p in (ca, key, cert)) and subprocess.run(
            ["openssl", "x509", "-in", cert, "-noout", "-checkend", "86400"],
            capture_output=True).returncode == 0:
        return ca, key, cert
    os.makedirs(d, exist_ok=True)
    ca_key, csr, ext = (os.path.join(d, n) for n in ("ca-key.pem", "api.csr", "api.ext"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "7",
            "-subj", f"/CN=pebble API CA (sf test harness {os.getpid()})",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-days", "7",
            "-set_serial", "0x" + os.urandom(8).hex(), "-extfile", ext, "-out", cert)
    for p in (ca_key, csr, ext):  # the CA signs nothing else: its key is not kept
        os.unlink(p)
    return ca, key, cert


def fetch(url, cafile=None, data=None, timeout=2):
    """One request on loopback, never through a proxy from the environment."""
    handlers = [urllib.request.ProxyHandler({})]
    if cafile:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    with urllib.request.build_opener(*handlers).open(url, data=data, timeout=timeout) as r:
        return r.read()


def cmd_up(args):
    state = os.path.realpath(args.state_dir)
    if not SAFE_PATH.match(state):
        raise SystemExit(f"pebble_harness: STATE_DIR {state!r} has characters pebble.env cannot hold")
    os.makedirs(state, exist_ok=True)
    for role, pid, st in recorded(state):
        if still_ours(pid, st):
            raise SystemExit(f"pebble_harness: {role} {pid} of {state} still runs: `down` it first")
    env_file = os.path.join(state, "pebble.env")
    if args.same_ports:  # "the same CA" after down: same directory URL and VA ports
        prev = read_env(env_file)
        ports = [int(prev[k]) for k in ("PEBBLE_ACME_PORT", "PEBBLE_MGMT_PORT", "PEBBLE_HTTP_PORT",
                                        "PEBBLE_TLS_PORT", "PEBBLE_DNS_PORT", "PEBBLE_CHALLTEST_PORT")]
    else:
        ports = free_ports(6)
    acme, mgmt, http, tls, dns, ct = ports
    for name in ("pebble.env", "pebble.json", "pebble.pids", "root.pem"):
        if os.path.exists(os.path.join(state, name)):
            os.unlink(os.path.join(state, name))
    t0 = time.monotonic()
    ca, key, cert = api_certificate(state)

    config = {"listenAddress": f"127.0.0.1:{acme}", "managementListenAddress": f"127.0.0.1:{mgmt}",
              "certificate": cert, "privateKey": key, "httpPort": http, "tlsPort": tls,
              "ocspResponderURL": "", "externalAccountBindingRequired": False}
    faults = []
    if args.nonce_reject:
        faults.append(f"nonce-reject={args.nonce_reject}%")
    if args.always_valid:
        faults.append("always-valid")
    if args.validity:
        config["certificateValidityPeriod"] = args.validity
        faults.append(f"validity={args.validity}s")
    if args.block:
        config["domainBlocklist"] = args.block
        faults.append("blocklist=" + ",".join(args.block))
    if args.strict:
        faults.append("strict")
    with open(os.path.join(state, "pebble-config.json"), "w") as f:
        json.dump({"pebble": config}, f, indent=2)

    # pebble's knobs, deterministic: no VA sleep, no authz reuse, badNonce only when asked for.
    # Nothing PEBBLE_* from the caller's environment leaks in.
    penv = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    penv.update(PEBBLE_VA_NOSLEEP="1", PEBBLE_AUTHZREUSE="0", PEBBLE_WFE_NONCEREJECT=str(args.nonce_reject))
    if args.always_valid:
        penv["PEBBLE_VA_ALWAYS_VALID"] = "1"
    plan = {
        "state": state, "watch_pid": args.watch_pid, "lifetime": args.lifetime, "env": penv,
        "challtestsrv": ["pebble-challtestsrv", "-management", f"127.0.0.1:{ct}",
                         "-dns01", f"127.0.0.1:{dns}", "-http01", "", "-https01", "", "-tlsalpn01", "",
                         "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
        "pebble": ["pebble", "-config", os.path.join(state, "pebble-config.json"),
                   "-dnsserver", f"127.0.0.1:{dns}"] + (["-strict"] if args.strict else []),
    }
    with open(os.path.join(state, "supervise.json"), "w") as f:
        json.dump(plan, f)
    with open(os.path.join(state, "supervisor.log"), "a") as log:
        sup = subprocess.Popen([sys.executable, os.path.abspath(__file__), "supervise", state],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    # From here on a failure (or SIGTERM from `timeout`) stops the supervisor, which stops both.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        root = wait_ready(args, state, sup, ca, acme, mgmt, dns, ct)
    except BaseException as e:
        sup.terminate()
        try:
            sup.wait(10)
        except subprocess.TimeoutExpired:
            sup.kill()
            sup.wait()
        for name in ("pebble.log", "challtestsrv.log", "supervisor.log"):
            tail = open(os.path.join(state, name), errors="replace").readlines()[-15:] \
                if os.path.exists(os.path.join(state, name)) else []
            print(f"---- {name}\n" + "".join(tail), file=sys.stderr)
        if isinstance(e, SystemExit):
            raise
        raise SystemExit(f"pebble_harness: start-up failed: {e}")
    pids = {r: p for r, p, _ in recorded(state)}
    out = {
        "PEBBLE_STATE_DIR": state,
        "PEBBLE_DIRECTORY_URL": f"https://127.0.0.1:{acme}/dir",
        "PEBBLE_CA_FILE": ca,
        "PEBBLE_ROOT_FILE": root,
        "PEBBLE_HTTP_PORT": http, "PEBBLE_TLS_PORT": tls,
        "PEBBLE_ACME_PORT": acme, "PEBBLE_MGMT_PORT": mgmt, "PEBBLE_DNS_PORT": dns, "PEBBLE_CHALLTEST_PORT": ct,
        "PEBBLE_FAULTS": ",".join(faults) or "none",
        "PEBBLE_LOG": os.path.join(state, "pebble.log"),
        "PEBBLE_PID": pids["pebble"], "PEBBLE_CHALLTESTSRV_PID": pids["challtestsrv"],
        "PEBBLE_SUPERVISOR_PID": pids["supervisor"],
    }
    out = {k: str(v) for k, v in out.items()}
    with open(env_file + ".tmp", "w") as f:
        f.write("# written by tests/acme/pebble_harness.py up; sh-sourceable\n")
        f.writelines(f"{k}={v}\n" for k, v in out.items())
    with open(os.path.join(state, "pebble.json"), "w") as f:
        json.dump(out, f, indent=1)
    os.rename(env_file + ".tmp", env_file)
    say(args, f"ready in {int((time.monotonic() - t0) * 1000)} ms: {out['PEBBLE_DIRECTORY_URL']}, "
              f"VA ports http {http} tls {tls}, faults {out['PEBBLE_FAULTS']}")
    return 0


def wait_ready(args, state, sup, ca, acme, mgmt, dns, ct):
    """Polls until the mock DNS and pebble answer; returns the path of pebble's issuing root."""
    deadline = time.monotonic() + args.timeout
    def recorded_all():
        if len(recorded(state)) != len(ROLES):
            raise ValueError("the supervisor has not recorded its children yet")

    steps = [
        recorded_all,
        # the management API answers: challtestsrv is up (the POST only restates the default)
        lambda: fetch(f"http://127.0.0.1:{ct}/set-default-ipv4", data=b'{"ip":"127.0.0.1"}'),
        lambda: socket.create_connection(("127.0.0.1", dns), timeout=2).close(),
        lambda: json.loads(fetch(f"https://127.0.0.1:{acme}/dir", ca))["newNonce"],
        lambda: fetch(f"https://127.0.0.1:{mgmt}/roots/0", ca),
    ]
    result = None
    for step in steps:
        while True:
            if sup.poll() is not None:
                raise RuntimeError(f"the supervisor exited ({sup.returncode}) during start-up")
            try:
                result = step()
                break
            except (OSError, ValueError, KeyError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {args.timeout} s")
                time.sleep(0.05)
    if b"BEGIN CERTIFICATE" not in result:
        raise RuntimeError("pebble's /roots/0 is not a PEM certificate")
    root = os.path.join(state, "root.pem")
    with open(root, "wb") as f:
        f.write(result)
    return root


def cmd_supervise(args):
    """The parent of pebble and challtestsrv until something says stop; then it stops and reaps
    them (so nothing is left as a zombie either) and exits."""
    state = args.state_dir
    with open(os.path.join(state, "supervise.json")) as f:
        plan = json.load(f)
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _: stop.append(signal.Signals(s).name))
    children = {}
    why = "start-up failed"
    try:
        for role in ("challtestsrv", "pebble"):
            with open(os.path.join(state, f"{role}.log"), "w") as log:
                children[role] = subprocess.Popen(plan[role], env=plan["env"], stdin=subprocess.DEVNULL,
                                                  stdout=log, stderr=subprocess.STDOUT)
        with open(os.path.join(state, "pebble.pids.tmp"), "w") as f:
            for role, pid in [("supervisor", os.getpid())] + [(r, c.pid) for r, c in children.items()]:
                f.write(f"{role} {pid} {start_time(pid)}\n")
        os.rename(os.path.join(state, "pebble.pids.tmp"), os.path.join(state, "pebble.pids"))
        why = watch_until_stop(plan, children, stop)
    finally:
        print(f"{time.strftime('%F %T')} supervisor {os.getpid()}: {why}; stopping", flush=True)
        for c in children.values():
            if c.poll() is None:
                c.terminate()
        for c in children.values():
            try:
                c.wait(3)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
    return 0


def watch_until_stop(plan, children, stop):
    """Returns why to stop: a signal, the watched process gone, the lifetime over, a child dead."""
    end = time.monotonic() + plan["lifetime"] if plan["lifetime"] else None
    watch = plan["watch_pid"]
    while True:
        dead = [f"{r} exited ({c.returncode})" for r, c in children.items() if c.poll() is not None]
        if stop:
            return f"{stop[0]} received"
        if watch and start_time(watch) is None:
            return f"watched process {watch} is gone"
        if end and time.monotonic() >= end:
            return f"lifetime of {plan['lifetime']} s over"
        if dead:
            return dead[0]
        time.sleep(0.2)


def cmd_down(args):
    state = args.state_dir
    procs = recorded(state)
    # The supervisor first: it stops and reaps its children. Then whatever is left, directly.
    for sig, wait_s in ((signal.SIGTERM, 8), (signal.SIGKILL, 3)):
        for role, pid, st in sorted(procs, key=lambda p: p[0] != "supervisor"):
            if still_ours(pid, st):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if role == "supervisor" and sig == signal.SIGTERM:
                wait_gone([(pid, st)], wait_s)
        left = wait_gone([(pid, st) for _, pid, st in procs], wait_s)
        if not left:
            break
    if left:
        print(f"pebble_harness: still running: {left}", file=sys.stderr)
        return 1
    if os.path.exists(os.path.join(state, "pebble.pids")):
        os.unlink(os.path.join(state, "pebble.pids"))
    if args.purge:
        subprocess.run(["rm", "-rf", "--", state], check=True)
    return 0


def wait_gone(procs, seconds):
    """Waits (bounded) until none of [(pid, start time)] runs; returns the PIDs still running."""
    end = time.monotonic() + seconds
    while True:
        left = [pid for pid, st in procs if still_ours(pid, st)]
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start pebble; writes STATE_DIR/pebble.env and pebble.json")
    up.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    up.add_argument("--watch-pid", type=int, help="stop pebble when this process exits")
    up.add_argument("--lifetime", type=int, default=3600, help="stop pebble after S seconds (0: never)")
    up.add_argument("--timeout", type=float, default=30, help="start-up limit in seconds")
    up.add_argument("--same-ports", action="store_true",
                    help="the ports of STATE_DIR's previous run: same directory URL after `down`")
    up.add_argument("--nonce-reject", type=int, default=0, choices=range(0, 100), metavar="PCT",
                    help="refuse PCT%% of valid nonces with badNonce")
    up.add_argument("--validity", type=int, help="lifetime of issued certificates in seconds")
    up.add_argument("--block", action="append", default=[], metavar="DOMAIN",
                    help="pebble's policy refuses DOMAIN (rejectedIdentifier); repeatable")
    up.add_argument("--strict", action="store_true", help="pebble -strict")
    up.add_argument("--always-valid", action="store_true", help="challenges pass without validation")
    up.add_argument("state_dir")
    down = sub.add_parser("down", help="stop the processes recorded in STATE_DIR")
    down.add_argument("--purge", action="store_true", help="then remove STATE_DIR")
    down.add_argument("state_dir")
    sup = sub.add_parser("supervise")  # internal: run by `up`
    sup.add_argument("state_dir")
    args = ap.parse_args()
    if args.cmd == "up" and args.watch_pid and start_time(args.watch_pid) is None:
        raise SystemExit(f"pebble_harness: --watch-pid {args.watch_pid} is not running")
    return {"up": cmd_up, "down": cmd_down, "supervise": cmd_supervise}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
