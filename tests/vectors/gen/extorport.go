package main

// extorport.json: goptlib's DialOr (the Extended ORPort client every Go pluggable transport
// uses) against a scripted tor side on loopback, with a fixed cookie and fixed nonces; and the
// client_ip -> USERADDR table the reference server derives with the Go standard library.
// Deterministic.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"

	pt "git.torproject.org/pluggable-transports/goptlib.git"
)

// The cookie file is a fixed 32-byte header followed by the 32-byte cookie.
const cookieFileHeader = "! Extended ORPort Auth Cookie !\x0a"

var (
	extorCookie      = countingBytes(32, 0x00)
	extorClientNonce = countingBytes(32, 0x20)
	extorServerNonce = countingBytes(32, 0x40)
)

func extorHash(label string) []byte {
	m := hmac.New(sha256.New, extorCookie)
	m.Write([]byte(label))
	m.Write(extorClientNonce)
	m.Write(extorServerNonce)
	return m.Sum(nil)
}

type transcriptEntry struct {
	Dir  string   `json:"dir"`
	What string   `json:"what"`
	Hex  hexBytes `json:"hex"`
}

type extorCase struct {
	Name           string            `json:"name"`
	AddrArg        string            `json:"dialor_addr_arg"`
	MethodArg      string            `json:"dialor_method_arg"`
	ScriptedServer string            `json:"scripted_server"`
	Transcript     []transcriptEntry `json:"transcript"`
	Result         string            `json:"goptlib_result"`
}

type useraddrRow struct {
	Query           string   `json:"query"`
	ClientIPDecoded string   `json:"client_ip_decoded"`
	Useraddr        string   `json:"useraddr"`
	CommandHex      hexBytes `json:"useraddr_command_hex"`
}

type extorFile struct {
	Info           info              `json:"info"`
	Description    string            `json:"description"`
	CookieFileHex  hexBytes          `json:"cookie_file_hex"`
	CookieHex      hexBytes          `json:"cookie_hex"`
	ClientNonceHex hexBytes          `json:"client_nonce_hex"`
	ServerNonceHex hexBytes          `json:"server_nonce_hex"`
	ServerHashHex  hexBytes          `json:"server_hash_hex"`
	ClientHashHex  hexBytes          `json:"client_hash_hex"`
	ClientHashSent hexBytes          `json:"client_hash_sent_by_goptlib_hex"`
	CommandBytes   map[string]string `json:"command_bytes"`
	Cases          []extorCase       `json:"cases"`
	Useraddr       []useraddrRow     `json:"useraddr_from_client_ip"`
	UseraddrNote   string            `json:"useraddr_note"`
}

// A script says what the tor side does at each step.
type extorScript struct {
	offered   []byte // auth types, 0-terminated
	wrongHash bool   // ServerHash with its first bit flipped
	status    byte   // auth status after ClientHash
	reply     uint16 // command answered to DONE
}

func command(cmd uint16, body []byte) []byte {
	b := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint16(b, cmd)
	binary.BigEndian.PutUint16(b[2:], uint16(len(body)))
	return append(b, body...)
}

var commandNames = map[uint16]string{0: "DONE", 1: "USERADDR", 2: "TRANSPORT", 0x1000: "OKAY", 0x1001: "DENY"}

// torSide plays tor on one accepted connection and records both directions in send order.
type torSide struct {
	c   net.Conn
	log []transcriptEntry
}

func (t *torSide) send(what string, b []byte) error {
	t.log = append(t.log, transcriptEntry{"tor->pt", what, b})
	_, err := t.c.Write(b)
	return err
}

func (t *torSide) recv(what string, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(t.c, b); err != nil {
		return nil, fmt.Errorf("reading %s: %v", what, err)
	}
	t.log = append(t.log, transcriptEntry{"pt->tor", what, b})
	return b, nil
}

// recvUntilClosed records what the PT still sends before it closes the connection.
func (t *torSide) recvUntilClosed() {
	rest, _ := io.ReadAll(t.c)
	t.log = append(t.log, transcriptEntry{"pt->tor",
		fmt.Sprintf("connection closed by PT (%d bytes before EOF)", len(rest)), rest})
}

func (t *torSide) run(s extorScript) error {
	if err := t.send("auth types offered, 0-terminated", s.offered); err != nil {
		return err
	}
	if !bytes.Contains(s.offered[:len(s.offered)-1], []byte{1}) {
		t.recvUntilClosed()
		return nil
	}
	if _, err := t.recv("chosen auth type", 1); err != nil {
		return err
	}
	if _, err := t.recv("ClientNonce", 32); err != nil {
		return err
	}
	hash := extorHash("ExtORPort authentication server-to-client hash")
	what := "ServerHash | ServerNonce"
	if s.wrongHash {
		hash[0] ^= 0x01
		what = "ServerHash (first bit flipped: wrong) | ServerNonce"
	}
	if err := t.send(what, append(hash, extorServerNonce...)); err != nil {
		return err
	}
	if s.wrongHash {
		t.recvUntilClosed()
		return nil
	}
	if _, err := t.recv("ClientHash", 32); err != nil {
		return err
	}
	if err := t.send(fmt.Sprintf("auth status %d", s.status), []byte{s.status}); err != nil {
		return err
	}
	if s.status != 1 {
		t.recvUntilClosed()
		return nil
	}
	for {
		hdr := make([]byte, 4)
		if _, err := io.ReadFull(t.c, hdr); err != nil {
			return fmt.Errorf("reading a command: %v", err)
		}
		cmd := binary.BigEndian.Uint16(hdr)
		body := make([]byte, binary.BigEndian.Uint16(hdr[2:]))
		if _, err := io.ReadFull(t.c, body); err != nil {
			return fmt.Errorf("reading a command body: %v", err)
		}
		t.log = append(t.log, transcriptEntry{"pt->tor",
			fmt.Sprintf("%s %q", commandNames[cmd], body), append(hdr, body...)})
		if cmd == 0 {
			break
		}
	}
	name, ok := commandNames[s.reply]
	if !ok {
		name = fmt.Sprintf("unknown command 0x%04x", s.reply)
	}
	if err := t.send(name, command(s.reply, nil)); err != nil {
		return err
	}
	if s.reply != 0x1000 {
		t.recvUntilClosed()
	}
	return nil
}

// dialOr runs goptlib's DialOr against the script with the client nonce fixed.
func dialOr(dir, addr, method string, s extorScript) (extorCase, error) {
	c := extorCase{AddrArg: addr, MethodArg: method}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return c, err
	}
	defer ln.Close()
	torDone := make(chan error, 1)
	tor := &torSide{}
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			torDone <- err
			return
		}
		defer conn.Close()
		tor.c = conn
		torDone <- tor.run(s)
	}()
	saved := rand.Reader
	rand.Reader = bytes.NewReader(extorClientNonce)
	conn, err := pt.DialOr(&pt.ServerInfo{
		ExtendedOrAddr: ln.Addr().(*net.TCPAddr),
		AuthCookiePath: filepath.Join(dir, "cookie"),
	}, addr, method)
	rand.Reader = saved
	if err == nil {
		c.Result = "ok"
		conn.Close()
	} else {
		c.Result = "error: " + err.Error()
	}
	if err := <-torDone; err != nil {
		return c, err
	}
	c.Transcript = tor.log
	return c, nil
}

// useraddrFor is the reference server's client_ip handling: the query parameter, parsed by
// net.ParseIP; unparsable or unspecified means no USERADDR; otherwise IP:1.
func useraddrFor(query string) (decoded, useraddr string) {
	values, _ := url.ParseQuery(query)
	decoded = values.Get("client_ip")
	ip := net.ParseIP(decoded)
	if ip == nil || ip.IsUnspecified() {
		return decoded, ""
	}
	return decoded, (&net.TCPAddr{IP: ip, Port: 1}).String()
}

func writeExtorport(dir string) error {
	tmp, err := os.MkdirTemp("", "sfvectors-extor")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cookieFile := append([]byte(cookieFileHeader), extorCookie...)
	if err := os.WriteFile(filepath.Join(tmp, "cookie"), cookieFile, 0o600); err != nil {
		return err
	}
	f := extorFile{
		Info: newInfo("goptlib"),
		Description: "goptlib DialOr against a scripted tor side over loopback TCP. Integers big-endian. " +
			"The transcript lists what each side sent, in order (dir tor->pt or pt->tor); a command is " +
			"recorded with its header. The client nonce is fixed by swapping crypto/rand.Reader during the dial.",
		CookieFileHex:  cookieFile,
		CookieHex:      extorCookie,
		ClientNonceHex: extorClientNonce,
		ServerNonceHex: extorServerNonce,
		ServerHashHex:  extorHash("ExtORPort authentication server-to-client hash"),
		ClientHashHex:  extorHash("ExtORPort authentication client-to-server hash"),
		CommandBytes: map[string]string{
			"DONE":                     fmt.Sprintf("%x", command(0, nil)),
			"USERADDR 192.0.2.7:1":     fmt.Sprintf("%x", command(1, []byte("192.0.2.7:1"))),
			"USERADDR [2001:db8::1]:1": fmt.Sprintf("%x", command(1, []byte("[2001:db8::1]:1"))),
			"TRANSPORT snowflake":      fmt.Sprintf("%x", command(2, []byte("snowflake"))),
			"OKAY (tor->pt)":           fmt.Sprintf("%x", command(0x1000, nil)),
			"DENY (tor->pt)":           fmt.Sprintf("%x", command(0x1001, nil)),
		},
		UseraddrNote: "the reference server's rule, run with the Go standard library: url.ParseQuery, " +
			"Get(\"client_ip\"), net.ParseIP; nil or unspecified -> no USERADDR (useraddr \"\"); " +
			"otherwise net.TCPAddr{IP, Port: 1}.String()",
	}
	good := extorScript{offered: []byte{1, 0}, status: 1, reply: 0x1000}
	with := func(change func(*extorScript)) extorScript {
		s := good
		change(&s)
		return s
	}
	cases := []struct {
		name, addr, method, script string
		s                          extorScript
	}{
		{"ipv4 USERADDR", "192.0.2.7:1", "snowflake", "offers 01 00, right hash, status 1, OKAY", good},
		{"ipv6 USERADDR", "[2001:db8::1]:1", "snowflake", "offers 01 00, right hash, status 1, OKAY", good},
		{"no USERADDR", "", "snowflake", "offers 01 00, right hash, status 1, OKAY", good},
		{"several auth types offered", "198.51.100.20:1", "snowflake", "offers 03 01 02 00, right hash, status 1, OKAY",
			with(func(s *extorScript) { s.offered = []byte{3, 1, 2, 0} })},
		{"DENY", "192.0.2.7:1", "snowflake", "right handshake, answers DENY",
			with(func(s *extorScript) { s.reply = 0x1001 })},
		{"unknown reply", "192.0.2.7:1", "snowflake", "right handshake, answers command 0x1002 with no body",
			with(func(s *extorScript) { s.reply = 0x1002 })},
		{"wrong ServerHash", "192.0.2.7:1", "snowflake", "ServerHash with the first bit flipped",
			with(func(s *extorScript) { s.wrongHash = true })},
		{"auth rejected", "192.0.2.7:1", "snowflake", "right hash, status 0",
			with(func(s *extorScript) { s.status = 0 })},
		{"SAFE_COOKIE not offered", "192.0.2.7:1", "snowflake", "offers 02 00 only",
			with(func(s *extorScript) { s.offered = []byte{2, 0} })},
		{"ipv6 USERADDR, DENY", "[2001:db8::1]:1", "snowflake", "right handshake, answers DENY",
			with(func(s *extorScript) { s.reply = 0x1001 })},
	}
	for _, k := range cases {
		c, err := dialOr(tmp, k.addr, k.method, k.s)
		if err != nil {
			return fmt.Errorf("%s: %v", k.name, err)
		}
		c.Name, c.ScriptedServer = k.name, k.script
		f.Cases = append(f.Cases, c)
		if k.name == "ipv4 USERADDR" {
			for _, e := range c.Transcript {
				if e.What == "ClientHash" {
					f.ClientHashSent = e.Hex
				}
			}
		}
	}

	for _, q := range []string{
		"client_ip=192.0.2.7", "client_ip=2001%3Adb8%3A%3A1", "client_ip=2001:db8::1",
		"client_ip=2001:0DB8:0000:0000:0000:0000:0000:0001", "client_ip=2001:db8:0:0:1:0:0:1",
		"client_ip=2001:db8:0:1:0:0:0:1", "client_ip=%3A%3Affff%3A198.51.100.3", "client_ip=::ffff:c633:6403",
		"client_ip=0.0.0.0", "client_ip=%3A%3A", "client_ip=::ffff:0.0.0.0", "client_ip=", "",
		"client_ip=garbage", "client_ip=10.0.0.010", "client_ip=fe80::1%25eth0", "client_ip=127.0.0.1",
		"client_ip=::1", "client_ip=203.0.113.9&client_ip=192.0.2.1", "client_ip=+203.0.113.9",
		"client_ip=203.0.113.9:443", "client_ip=255.255.255.255", "client_ip=1::", "other=1&client_ip=192.0.2.200",
	} {
		dec, ua := useraddrFor(q)
		row := useraddrRow{Query: q, ClientIPDecoded: dec, Useraddr: ua, CommandHex: hexBytes{}}
		if ua != "" {
			row.CommandHex = command(1, []byte(ua))
		}
		f.Useraddr = append(f.Useraddr, row)
	}
	return writeFile(dir, "extorport.json", f)
}
