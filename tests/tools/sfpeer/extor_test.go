package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pt "git.torproject.org/pluggable-transports/goptlib.git"
)

// extorUnderTest serves extor on a loopback port; each connection's report arrives on reports.
func extorUnderTest(t *testing.T, b *extorBehaviour) (addr *net.TCPAddr, reports <-chan extorReport) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan extorReport, 8)
	go func() {
		var ctr serverCounters
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				extorConn(c, b, &ctr, func(r extorReport) { ch <- r })
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr), ch
}

func nextReport(t *testing.T, reports <-chan extorReport) extorReport {
	t.Helper()
	select {
	case r := <-reports:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no report from extor within 10 s")
	}
	return extorReport{}
}

func cookieFor(t *testing.T) (path string, secret []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "cookie")
	secret, err := newCookieFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, secret
}

func TestCookieFileLayout(t *testing.T) {
	path, secret := cookieFor(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 64 || string(raw[:32]) != cookieHeader || !bytes.Equal(raw[32:], secret) {
		t.Fatalf("cookie file is %q", raw)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("cookie file mode %v, want 0600", st.Mode().Perm())
	}
	// A second extor replaces the cookie.
	again, err := newCookieFile(path)
	if err != nil || bytes.Equal(again, secret) {
		t.Fatalf("rewrite: %v (same secret: %v)", err, bytes.Equal(again, secret))
	}
}

func TestExtorAcceptsGoptlibDialOr(t *testing.T) {
	path, secret := cookieFor(t)
	addr, reports := extorUnderTest(t, &extorBehaviour{secret: secret})
	info := &pt.ServerInfo{ExtendedOrAddr: addr, AuthCookiePath: path}

	conn, err := pt.DialOr(info, "192.0.2.1:1", "snowflake")
	if err != nil {
		t.Fatalf("DialOr: %v", err)
	}
	defer conn.Close()
	r := nextReport(t, reports)
	if r.Event != "extor_conn" || r.Auth != "ok" || r.Reply != "OKAY" || r.Error != "" ||
		r.UserAddr == nil || *r.UserAddr != "192.0.2.1:1" || r.Transport == nil || *r.Transport != "snowflake" {
		t.Fatalf("report %+v", r)
	}
	msg := []byte("cells after the ExtORPort handshake")
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, back); err != nil || !bytes.Equal(back, msg) {
		t.Fatalf("echo %q, %v", back, err)
	}

	// Without a client address goptlib sends no USERADDR: the report says null.
	conn2, err := pt.DialOr(info, "", "snowflake")
	if err != nil {
		t.Fatalf("DialOr without address: %v", err)
	}
	conn2.Close()
	if r := nextReport(t, reports); r.Auth != "ok" || r.UserAddr != nil {
		t.Fatalf("report %+v", r)
	}
}

func TestExtorErrorPathsAgainstGoptlib(t *testing.T) {
	path, secret := cookieFor(t)
	otherPath, _ := cookieFor(t)
	cases := []struct {
		name       string
		behaviour  extorBehaviour
		cookie     string
		dialErr    string
		check      func(r extorReport) bool
		reportWant string
	}{
		{"deny", extorBehaviour{secret: secret, deny: true}, path, "DENY",
			func(r extorReport) bool { return r.Auth == "ok" && r.Reply == "DENY" }, "auth ok, reply DENY"},
		{"bad-auth", extorBehaviour{secret: secret, badAuth: true}, path, "",
			func(r extorReport) bool { return r.Auth == "client_rejected_server_hash" }, "client_rejected_server_hash"},
		{"client has another cookie", extorBehaviour{secret: secret}, otherPath, "",
			func(r extorReport) bool {
				return r.Auth == "incomplete" && strings.HasPrefix(r.Error, "read client hash: ")
			}, "auth incomplete, error read client hash: ..."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr, reports := extorUnderTest(t, &c.behaviour)
			conn, err := pt.DialOr(&pt.ServerInfo{ExtendedOrAddr: addr, AuthCookiePath: c.cookie}, "192.0.2.1:1", "snowflake")
			if err == nil {
				conn.Close()
				t.Fatal("DialOr succeeded")
			}
			if !strings.Contains(err.Error(), c.dialErr) {
				t.Fatalf("DialOr error %q, want it to mention %q", err, c.dialErr)
			}
			if r := nextReport(t, reports); !c.check(r) {
				t.Fatalf("report %+v, want %s", r, c.reportWant)
			}
		})
	}
}

// rawClient speaks the client side by hand, for what goptlib never does.
func rawClient(t *testing.T, addr *net.TCPAddr, secret []byte, spoilHash bool, commands ...[]byte) {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	types := make([]byte, 2)
	clientNonce := make([]byte, 32)
	rand.Read(clientNonce)
	serverPart := make([]byte, 64)
	if _, err := io.ReadFull(c, types); err != nil || !bytes.Equal(types, []byte{1, 0}) {
		t.Fatalf("auth types %x, %v", types, err)
	}
	c.Write(append([]byte{1}, clientNonce...))
	if _, err := io.ReadFull(c, serverPart); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(serverPart[:32], cookieMAC(secret, serverToClientConst, clientNonce, serverPart[32:])) {
		t.Fatal("wrong server hash")
	}
	clientHash := cookieMAC(secret, clientToServerConst, clientNonce, serverPart[32:])
	if spoilHash {
		clientHash[0] ^= 1
	}
	c.Write(clientHash)
	status := make([]byte, 1)
	if _, err := io.ReadFull(c, status); err != nil {
		t.Fatal(err)
	}
	if spoilHash {
		if status[0] != 0 {
			t.Fatalf("auth status %d for a wrong client hash", status[0])
		}
		return
	}
	for _, cmd := range commands {
		c.Write(cmd)
	}
	reply := make([]byte, 4)
	if _, err := io.ReadFull(c, reply); err != nil || !bytes.Equal(reply, []byte{0x10, 0, 0, 0}) {
		t.Fatalf("reply %x, %v", reply, err)
	}
}

func command(kind uint16, body string) []byte {
	b := binary.BigEndian.AppendUint16(nil, kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func TestExtorReportsUnknownCommandsAndBadClientHash(t *testing.T) {
	_, secret := cookieFor(t)
	addr, reports := extorUnderTest(t, &extorBehaviour{secret: secret})

	rawClient(t, addr, secret, false, command(0x1234, "\x01\x02"), command(cmdTransport, "snowflake"), command(cmdDone, ""))
	r := nextReport(t, reports)
	if r.Auth != "ok" || r.UserAddr != nil || len(r.OtherCmds) != 1 || r.OtherCmds[0] != "0x1234:0102" {
		t.Fatalf("report %+v", r)
	}

	rawClient(t, addr, secret, true)
	if r := nextReport(t, reports); r.Auth != "bad_client_hash" || r.Error == "" {
		t.Fatalf("report %+v", r)
	}
}
