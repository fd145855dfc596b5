package main

// sfpeer extor: the server side of tor's Extended ORPort (ext-orport-spec.txt), enough for a
// pluggable transport's client side (goptlib's DialOr, or the server under test):
//
//	server: auth types {1 = SAFE_COOKIE} 0
//	client: 1, ClientNonce[32]
//	server: ServerHash[32] ServerNonce[32]   HMAC-SHA256(cookie, "...server-to-client hash" | CN | SN)
//	client: ClientHash[32]                   HMAC-SHA256(cookie, "...client-to-server hash" | CN | SN)
//	server: 1 (or 0 when ClientHash is wrong)
//	client: commands (type[2] length[2] body), ending with DONE; server: OKAY (or DENY)
//
// Each connection is reported as one JSON line once the handshake has ended either way; then
// the connection echoes (or sinks) like sfpeer echo.

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

const (
	cookieHeader        = "! Extended ORPort Auth Cookie !\x0a"
	cookieSecretLen     = 32
	serverToClientConst = "ExtORPort authentication server-to-client hash"
	clientToServerConst = "ExtORPort authentication client-to-server hash"
	authSafeCookie      = 1

	cmdDone      = 0x0000
	cmdUserAddr  = 0x0001
	cmdTransport = 0x0002
	replyOkay    = 0x1000
	replyDeny    = 0x1001

	extorHandshakeLimit = 10 * time.Second
	extorMaxCommands    = 64 // before DONE; more is a misbehaving client
)

// newCookieFile writes a fresh cookie to path (header + 32 random bytes, mode 0600), replacing
// any file there in one rename so that a reader never sees half a cookie. Returns the secret.
func newCookieFile(path string) ([]byte, error) {
	secret := make([]byte, cookieSecretLen)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sfpeer-cookie-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = tmp.Write(append([]byte(cookieHeader), secret...))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, err
	}
	return secret, nil
}

func cookieMAC(secret []byte, constant string, clientNonce, serverNonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(constant))
	m.Write(clientNonce)
	m.Write(serverNonce)
	return m.Sum(nil)
}

// extorBehaviour: the secret, and the misbehaviours that test a PT's error paths.
type extorBehaviour struct {
	secret  []byte
	sink    bool
	deny    bool // answer DONE with DENY
	badAuth bool // send a wrong ServerHash
}

// extorReport is the JSON line of one connection. useraddr/transport are null when the
// client did not send the command.
type extorReport struct {
	Event       string   `json:"event"` // "extor_conn"
	Remote      string   `json:"remote"`
	Auth        string   `json:"auth"` // ok, incomplete, bad_type, bad_client_hash, client_rejected_server_hash
	UserAddr    *string  `json:"useraddr"`
	Transport   *string  `json:"transport"`
	OtherCmds   []string `json:"other_cmds,omitempty"` // "0xTTTT:hexbody" of commands we do not know
	Reply       string   `json:"reply,omitempty"`      // OKAY or DENY
	Error       string   `json:"error,omitempty"`
	HandshakeMs float64  `json:"handshake_ms"`
}

// extorHandshake runs the server side on conn. It fills rep as it goes and, on success,
// returns a reader positioned at the first byte after DONE.
func extorHandshake(conn net.Conn, b *extorBehaviour, rep *extorReport) (*bufio.Reader, error) {
	in := bufio.NewReader(conn)
	read := func(what string, n int) ([]byte, error) {
		buf := make([]byte, n)
		if _, err := io.ReadFull(in, buf); err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		return buf, nil
	}
	write := func(what string, p []byte) error {
		if _, err := conn.Write(p); err != nil {
			return fmt.Errorf("write %s: %w", what, err)
		}
		return nil
	}

	if err := write("auth types", []byte{authSafeCookie, 0}); err != nil {
		return nil, err
	}
	choice, err := read("auth type", 1)
	if err != nil {
		return nil, err
	}
	if choice[0] != authSafeCookie {
		rep.Auth = "bad_type"
		return nil, fmt.Errorf("the client chose auth type %d", choice[0])
	}
	clientNonce, err := read("client nonce", 32)
	if err != nil {
		return nil, err
	}
	serverNonce := make([]byte, 32)
	if _, err := rand.Read(serverNonce); err != nil {
		return nil, err
	}
	serverHash := cookieMAC(b.secret, serverToClientConst, clientNonce, serverNonce)
	if b.badAuth {
		serverHash[31] ^= 0x80
	}
	if err := write("server hash", append(serverHash, serverNonce...)); err != nil {
		return nil, err
	}
	clientHash, err := read("client hash", 32)
	if err != nil {
		if b.badAuth {
			rep.Auth = "client_rejected_server_hash" // as it should
		}
		return nil, err
	}
	if !hmac.Equal(clientHash, cookieMAC(b.secret, clientToServerConst, clientNonce, serverNonce)) {
		rep.Auth = "bad_client_hash"
		conn.Write([]byte{0})
		return nil, errors.New("wrong client hash")
	}
	if err := write("auth result", []byte{1}); err != nil {
		return nil, err
	}
	rep.Auth = "ok"

	for n := 0; n < extorMaxCommands; n++ {
		head, err := read("command", 4)
		if err != nil {
			return nil, err
		}
		body, err := read("command body", int(binary.BigEndian.Uint16(head[2:])))
		if err != nil {
			return nil, err
		}
		switch cmd := binary.BigEndian.Uint16(head); cmd {
		case cmdUserAddr:
			s := string(body)
			rep.UserAddr = &s
		case cmdTransport:
			s := string(body)
			rep.Transport = &s
		case cmdDone:
			reply, name := uint16(replyOkay), "OKAY"
			if b.deny {
				reply, name = replyDeny, "DENY"
			}
			rep.Reply = name
			if err := write("reply", binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, reply), 0)); err != nil {
				return nil, err
			}
			if b.deny {
				return nil, errors.New("denied (--deny)")
			}
			return in, nil
		default: // the spec says to ignore unknown commands; report them
			rep.OtherCmds = append(rep.OtherCmds, fmt.Sprintf("%#04x:%s", cmd, hex.EncodeToString(body)))
		}
	}
	return nil, fmt.Errorf("no DONE within %d commands", extorMaxCommands)
}

func extorCommand(args []string) int {
	fs := flag.NewFlagSet("extor", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "TCP address to listen on (port 0: any free port)")
	cookiePath := fs.String("cookie", "", "write a fresh auth cookie to this file (required)")
	sink := fs.Bool("sink", false, "after the handshake, count and discard instead of echoing")
	deny := fs.Bool("deny", false, "answer DONE with DENY")
	badAuth := fs.Bool("bad-auth", false, "send a wrong server hash")
	lifetime := fs.Duration("lifetime", 0, "exit after this long (0: only on SIGINT/SIGTERM)")
	fs.Parse(args)
	if *cookiePath == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "sfpeer extor: --cookie FILE is required, and no other arguments")
		return 2
	}
	secret, err := newCookieFile(*cookiePath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sfpeer extor: cookie file: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sfpeer extor: %v\n", err)
		return 1
	}
	printLine(listeningLine{Event: "listening", Mode: "extor", Addr: ln.Addr().String(), Cookie: *cookiePath})
	behaviour := &extorBehaviour{secret: secret, sink: *sink, deny: *deny, badAuth: *badAuth}
	var ctr serverCounters
	serve(ln, "extor", *lifetime, &ctr, func(c net.Conn) { extorConn(c, behaviour, &ctr, printExtorReport) })
	return 0
}

func printExtorReport(r extorReport) { printLine(r) }

// extorConn runs one connection: the handshake (bounded in time), its report, then the data.
func extorConn(c net.Conn, b *extorBehaviour, ctr *serverCounters, report func(extorReport)) {
	rep := extorReport{Event: "extor_conn", Remote: c.RemoteAddr().String(), Auth: "incomplete"}
	began := time.Now()
	c.SetDeadline(began.Add(extorHandshakeLimit))
	data, err := extorHandshake(c, b, &rep)
	rep.HandshakeMs = msOf(time.Since(began))
	if err != nil {
		rep.Error = err.Error()
		if rep.Auth != "ok" {
			atomic.AddInt64(&ctr.AuthFails, 1)
		}
		report(rep)
		return
	}
	c.SetDeadline(time.Time{})
	report(rep)
	relay(c, data, b.sink, ctr)
}
