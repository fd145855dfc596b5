#!/usr/bin/env python3
"""extor_static_cookie.py: the production shim between HAProxy and one tor, for the tests.

Upstream runs one extor-static-cookie per tor as that tor's managed server transport: every
snowflake-server instance authenticates to it with one static cookie (so HAProxy can send a
connection to any tor), and it re-authenticates to its own tor with that tor's cookie, which
tor rewrites at every start. Written for this repository from torspec's ext-orport-spec.txt.

    extor_static_cookie.py --gen-cookie FILE        writes a fresh cookie file (mode 0600)
    extor_static_cookie.py --cookie FILE --log FILE run by tor (ServerTransportPlugin ... exec)

As a managed transport it reads TOR_PT_MANAGED_TRANSPORT_VER, TOR_PT_SERVER_TRANSPORTS,
TOR_PT_SERVER_BINDADDR, TOR_PT_EXTENDED_SERVER_PORT and TOR_PT_AUTH_COOKIE_FILE, answers
VERSION / SMETHOD / SMETHODS DONE on stdout and exits when stdin closes or on SIGTERM: when its
tor goes away its port closes too, which is what HAProxy's health check sees.

Per connection, after the client's DONE: dial tor's ExtORPort, SAFE_COOKIE with tor's cookie
(read at every dial), forward USERADDR and TRANSPORT, send DONE, pass tor's reply back, then
relay bytes both ways. Log lines (--log), one per event, are what the tests count:
    conn 3 accepted
    conn 3 useraddr=192.0.2.7:1 transport=snowflake reply=OKAY
    conn 3 closed to_tor=517 from_tor=1234
    conn 4 error: <why>
Everything the client sends before DONE is bounded (size, count, time); bad input is one
"error" line and a closed connection.
"""

import argparse
import asyncio
import hashlib
import hmac
import os
import signal
import struct
import sys
import threading

COOKIE_HEADER = b"! Extended ORPort Auth Cookie !\n"
SERVER_CONST = b"ExtORPort authentication server-to-client hash"
CLIENT_CONST = b"ExtORPort authentication client-to-server hash"
AUTH_SAFE_COOKIE = 1
CMD_DONE, CMD_USERADDR, CMD_TRANSPORT = 0x0000, 0x0001, 0x0002
REPLY_OKAY, REPLY_DENY = 0x1000, 0x1001

HANDSHAKE_TIMEOUT = 10.0  # seconds for the client's whole handshake, and for tor's
MAX_COMMANDS = 16  # before DONE; a real server sends two
MAX_BODY = 1024  # USERADDR / TRANSPORT are tens of bytes
RELAY_CHUNK = 65536


class ShimError(Exception):
    pass


def read_cookie(path):
    with open(path, "rb") as f:
        data = f.read(len(COOKIE_HEADER) + 33)
    if len(data) != len(COOKIE_HEADER) + 32 or not data.startswith(COOKIE_HEADER):
        raise ShimError(f"{path} is not a 64-byte ExtORPort cookie file")
    return data[len(COOKIE_HEADER):]


def gen_cookie(path):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(COOKIE_HEADER + os.urandom(32))
    os.rename(tmp, path)


def auth_hashes(cookie, client_nonce, server_nonce):
    tail = client_nonce + server_nonce
    server = hmac.new(cookie, SERVER_CONST + tail, hashlib.sha256).digest()
    client = hmac.new(cookie, CLIENT_CONST + tail, hashlib.sha256).digest()
    return server, client


def command(cmd, body=b""):
    return struct.pack(">HH", cmd, len(body)) + body


async def read_command(reader):
    cmd, length = struct.unpack(">HH", await reader.readexactly(4))
    if length > MAX_BODY:
        raise ShimError(f"command 0x{cmd:04x} with a {length}-byte body, over {MAX_BODY}")
    return cmd, await reader.readexactly(length)


class Shim:
    def __init__(self, static_cookie, upstream, tor_cookie_path, log):
        self.static_cookie = static_cookie
        self.upstream_host, self.upstream_port = upstream
        self.tor_cookie_path = tor_cookie_path
        self.log_file = log
        self.next_id = 0

    def log(self, line):
        self.log_file.write(line + "\n")
        self.log_file.flush()

    async def accept_client(self, reader, writer):
        """Server side of SAFE_COOKIE with the static cookie; returns the commands before DONE."""
        writer.write(bytes([AUTH_SAFE_COOKIE, 0]))
        chosen = (await reader.readexactly(1))[0]
        if chosen != AUTH_SAFE_COOKIE:
            raise ShimError(f"client chose auth type {chosen}")
        client_nonce = await reader.readexactly(32)
        server_nonce = os.urandom(32)
        server_hash, want_client_hash = auth_hashes(self.static_cookie, client_nonce, server_nonce)
        writer.write(server_hash + server_nonce)
        client_hash = await reader.readexactly(32)
        ok = hmac.compare_digest(client_hash, want_client_hash)
        writer.write(bytes([1 if ok else 0]))
        await writer.drain()
        if not ok:
            raise ShimError("client hash does not match the static cookie")
        forwarded = []
        for _ in range(MAX_COMMANDS):
            cmd, body = await read_command(reader)
            if cmd == CMD_DONE:
                return forwarded
            if cmd in (CMD_USERADDR, CMD_TRANSPORT):
                forwarded.append((cmd, body))
            # Other commands (none defined today for this direction) are dropped, as tor does.
        raise ShimError(f"more than {MAX_COMMANDS} commands before DONE")

    async def dial_tor(self, forwarded):
        """Client side of SAFE_COOKIE with tor's cookie; returns the streams and tor's reply."""
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        try:
            types = []
            while True:
                t = (await reader.readexactly(1))[0]
                if t == 0:
                    break
                types.append(t)
                if len(types) > 255:
                    raise ShimError("tor sent no end to its auth type list")
            if AUTH_SAFE_COOKIE not in types:
                raise ShimError(f"tor offers auth types {types}, not SAFE_COOKIE")
            client_nonce = os.urandom(32)
            writer.write(bytes([AUTH_SAFE_COOKIE]) + client_nonce)
            server_hash = await reader.readexactly(32)
            server_nonce = await reader.readexactly(32)
            # Read now, not at start: tor writes a new cookie every time it starts.
            cookie = read_cookie(self.tor_cookie_path)
            want_server_hash, client_hash = auth_hashes(cookie, client_nonce, server_nonce)
            if not hmac.compare_digest(server_hash, want_server_hash):
                raise ShimError("tor's server hash does not match its cookie file")
            writer.write(client_hash)
            status = (await reader.readexactly(1))[0]
            if status != 1:
                raise ShimError(f"tor refused our authentication (status {status})")
            writer.write(b"".join(command(c, b) for c, b in forwarded) + command(CMD_DONE))
            reply, body = await read_command(reader)
            return reader, writer, reply, body
        except BaseException:
            writer.close()
            raise

    async def handle(self, reader, writer):
        self.next_id += 1
        conn = self.next_id
        self.log(f"conn {conn} accepted")
        tor_writer = None
        try:
            forwarded = await asyncio.wait_for(self.accept_client(reader, writer), HANDSHAKE_TIMEOUT)
            tor_reader, tor_writer, reply, body = await asyncio.wait_for(
                self.dial_tor(forwarded), HANDSHAKE_TIMEOUT)
            fields = {CMD_USERADDR: "useraddr", CMD_TRANSPORT: "transport"}
            desc = " ".join(f"{fields[c]}={b.decode('ascii', 'replace')}" for c, b in forwarded)
            name = {REPLY_OKAY: "OKAY", REPLY_DENY: "DENY"}.get(reply, f"0x{reply:04x}")
            self.log(f"conn {conn} {desc} reply={name}")
            writer.write(command(reply, body))
            await writer.drain()
            if reply != REPLY_OKAY:
                return
            up, down = await asyncio.gather(self.pipe(reader, tor_writer),
                                            self.pipe(tor_reader, writer))
            self.log(f"conn {conn} closed to_tor={up} from_tor={down}")
        except asyncio.TimeoutError:
            self.log(f"conn {conn} error: handshake not done in {HANDSHAKE_TIMEOUT:g} s")
        except asyncio.IncompleteReadError as e:
            self.log(f"conn {conn} error: EOF after {len(e.partial)} of {e.expected} bytes")
        except (ShimError, OSError) as e:
            self.log(f"conn {conn} error: {e}")
        finally:
            for w in (writer, tor_writer):
                if w is not None:
                    w.close()

    @staticmethod
    async def pipe(reader, writer):
        """Copies until EOF, then half-closes; returns the byte count."""
        total = 0
        try:
            while True:
                data = await reader.read(RELAY_CHUNK)
                if not data:
                    break
                total += len(data)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            writer.close()  # the other direction sees the reset and ends too
        return total


def parse_hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ShimError(f"not HOST:PORT: {text!r}")
    return host.strip("[]"), int(port)


def managed_env():
    """The managed-transport environment tor gives us; returns (bind, extor, tor cookie path)."""
    env = os.environ
    if "1" not in env.get("TOR_PT_MANAGED_TRANSPORT_VER", "").split(","):
        print("VERSION-ERROR no-version", flush=True)
        raise ShimError("TOR_PT_MANAGED_TRANSPORT_VER does not offer version 1")
    print("VERSION 1", flush=True)
    missing = [v for v in ("TOR_PT_SERVER_TRANSPORTS", "TOR_PT_EXTENDED_SERVER_PORT",
                           "TOR_PT_AUTH_COOKIE_FILE") if not env.get(v)]
    if missing:
        print(f"ENV-ERROR missing {' '.join(missing)}", flush=True)
        raise ShimError(f"missing {' '.join(missing)}")
    transport = env["TOR_PT_SERVER_TRANSPORTS"].split(",")[0]
    bind = "127.0.0.1:0"
    for pair in env.get("TOR_PT_SERVER_BINDADDR", "").split(","):
        name, sep, addr = pair.partition("-")
        if sep and name == transport:
            bind = addr
    return transport, bind, env["TOR_PT_EXTENDED_SERVER_PORT"], env["TOR_PT_AUTH_COOKIE_FILE"]


async def serve(args):
    transport, bind, extor, tor_cookie = managed_env()
    static_cookie = read_cookie(args.cookie)
    log = open(args.log, "a", buffering=1) if args.log else sys.stderr
    shim = Shim(static_cookie, parse_hostport(extor), tor_cookie, log)
    host, port = parse_hostport(bind)
    try:
        server = await asyncio.start_server(shim.handle, host, port)
    except OSError as e:
        print(f"SMETHOD-ERROR {transport} {e}", flush=True)
        raise ShimError(f"cannot listen on {bind}: {e}")
    addr = server.sockets[0].getsockname()
    print(f"SMETHOD {transport} {addr[0]}:{addr[1]}", flush=True)
    print("SMETHODS DONE", flush=True)
    shim.log(f"listening on {addr[0]}:{addr[1]}, tor's ExtORPort {extor}")

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # tor closes our stdin when it exits (TOR_PT_EXIT_ON_STDIN_CLOSE=1).
    if os.environ.get("TOR_PT_EXIT_ON_STDIN_CLOSE") == "1":
        def wait_stdin_eof():
            # os.read on the fd: a thread blocked in sys.stdin's buffered read would hold its
            # lock and abort the interpreter's shutdown.
            while os.read(0, 4096):
                pass
            loop.call_soon_threadsafe(stop.set)
        threading.Thread(target=wait_stdin_eof, daemon=True).start()
    await stop.wait()
    shim.log("exiting")
    server.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gen-cookie", metavar="FILE", help="write a fresh static cookie file and exit")
    p.add_argument("--cookie", metavar="FILE", help="the static cookie clients authenticate with")
    p.add_argument("--log", metavar="FILE", help="event log (default: stderr)")
    args = p.parse_args()
    try:
        if args.gen_cookie:
            gen_cookie(args.gen_cookie)
            return 0
        if not args.cookie:
            p.error("--cookie is required")
        asyncio.run(serve(args))
    except ShimError as e:
        print(f"extor_static_cookie: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
