// sftlsprobe opens one Snowflake (turbotunnel) session to a snowflake-server,
// set up the way the Snowflake client sets up its own, opens one smux stream and
// runs a TLS client handshake over it. Behind a real tor bridge the stream ends
// at tor's ORPort, so a finished handshake proves the whole data path:
// WebSocket -> turbotunnel -> KCP -> smux -> server -> ExtORPort -> tor.
//
//	sftlsprobe --url ws://HOST:PORT/ [--client-ip IP] [--timeout 20s]
//	           [--ready-file FILE --hold-until FILE]
//
// With --hold-until, the stream is held open after the handshake (--ready-file is
// created then) until that file exists; then a VERSIONS cell goes to tor, whose
// VERSIONS cell must come back before the close: a long-lived stream that still
// carries a request and its answer both ways.
//
// Prints one JSON line on stdout and exits 0 only if the handshake finished:
//
//	{"handshake":"ok","version":"TLS 1.3","cipher":"TLS_AES_256_GCM_SHA384","peer_certs":1,...}
//	{"handshake":"error","stage":"tls","error":"EOF",...}
//
// Exit status: 0 handshake done (and, with --hold-until, tor's VERSIONS cell received),
// 1 any failure (including the timeout; "handshake" is then "error"), 2 usage.
// Everything is bounded by --timeout; a watchdog ends the process shortly after
// it even if some library call does not return.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/encapsulation"
	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/turbotunnel"
	"github.com/gorilla/websocket"
	"github.com/xtaci/kcp-go/v5"
	"github.com/xtaci/smux"
)

// The Snowflake client's settings (client/lib/snowflake.go, newSession).
const (
	kcpWindow        = 65535 // packets, send and receive
	kcpMTU           = 1400  // kcp-go's default, which the client keeps
	smuxKeepAlive    = 10 * time.Minute
	smuxMaxStreamBuf = 1 << 20
)

// Bounds on what the server may make us hold.
const (
	maxMessageSize = 1 << 20 // one WebSocket message
	incomingQueue  = 512     // decoded packets waiting for KCP (as turbotunnel's queueSize)
	watchdogGrace  = 3 * time.Second
	closeWait      = 5 * time.Second // at most, for the far end to close after close_notify
)

type result struct {
	Handshake   string  `json:"handshake"` // "ok" or "error"
	Version     string  `json:"version,omitempty"`
	Cipher      string  `json:"cipher,omitempty"`
	PeerCerts   int     `json:"peer_certs,omitempty"`
	PeerSubject string  `json:"peer_subject,omitempty"`
	Stage       string  `json:"stage,omitempty"` // where it failed
	Error       string  `json:"error,omitempty"`
	ClientID    string  `json:"client_id,omitempty"`
	PeerClosed  *bool   `json:"peer_closed,omitempty"`  // the far end closed after our close_notify
	HeldMs      float64 `json:"held_ms,omitempty"`      // --hold-until: how long the stream was held
	TorVersions []int   `json:"tor_versions,omitempty"` // --hold-until: link versions tor answered
	WSConnectMs float64 `json:"ws_connect_ms,omitempty"`
	TLSMs       float64 `json:"tls_ms,omitempty"`
	ElapsedMs   float64 `json:"elapsed_ms"`
}

var (
	start      = time.Now()
	reportOnce sync.Once
)

// report prints the one JSON line and exits; the first caller wins (main or the watchdog).
func report(r result) {
	reportOnce.Do(func() {
		r.ElapsedMs = msSince(start)
		line, err := json.Marshal(r)
		if err != nil {
			line = []byte(`{"handshake":"error","stage":"output","error":"cannot encode result"}`)
		}
		os.Stdout.Write(append(line, '\n'))
		if r.Handshake == "ok" {
			os.Exit(0)
		}
		os.Exit(1)
	})
	select {} // the other caller is exiting the process
}

func msSince(t time.Time) float64 {
	return float64(time.Since(t).Microseconds()) / 1000
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "sftlsprobe: %s\nusage: sftlsprobe --url ws://HOST:PORT/ [--client-ip IP] [--timeout DUR] [--ready-file FILE --hold-until FILE]\n", msg)
	os.Exit(2)
}

func main() {
	rawURL := flag.String("url", "", "server URL, ws://HOST:PORT/ (wss:// skips certificate checks)")
	clientIP := flag.String("client-ip", "", "add ?client_ip=IP, as a Snowflake proxy does")
	timeout := flag.Duration("timeout", 20*time.Second, "limit for the whole run")
	flag.StringVar(&hold.readyFile, "ready-file", "", "with --hold-until: created once the handshake is done")
	flag.StringVar(&hold.untilFile, "hold-until", "", "hold the stream until this file exists, then exchange VERSIONS cells")
	flag.Parse()
	if flag.NArg() != 0 {
		usage("unexpected argument " + flag.Arg(0))
	}
	if (hold.readyFile != "") != (hold.untilFile != "") {
		usage("--ready-file and --hold-until go together")
	}
	if *timeout <= 0 || *timeout > time.Hour {
		usage("--timeout must be in (0, 1h]")
	}
	target, err := buildURL(*rawURL, *clientIP)
	if err != nil {
		usage(err.Error())
	}

	deadline := start.Add(*timeout)
	time.AfterFunc(*timeout+watchdogGrace, func() {
		report(result{Handshake: "error", Stage: "watchdog",
			Error: fmt.Sprintf("still running %v after --timeout", watchdogGrace)})
	})
	report(probe(target, deadline))
}

func buildURL(raw, clientIP string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", errors.New("--url must be ws://HOST:PORT/ or wss://HOST:PORT/")
	}
	if clientIP != "" {
		if net.ParseIP(clientIP) == nil {
			return "", errors.New("--client-ip is not an IP address")
		}
		q := u.Query()
		q.Set("client_ip", clientIP)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// probe runs the session and the handshake; every step is bounded by deadline.
func probe(target string, deadline time.Time) result {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	fail := func(stage string, err error) result {
		return result{Handshake: "error", Stage: stage, Error: err.Error()}
	}

	dialer := websocket.Dialer{
		HandshakeTimeout: time.Until(deadline),
		TLSClientConfig:  &tls.Config{InsecureSkipVerify: true},
	}
	wsStart := time.Now()
	ws, resp, err := dialer.DialContext(ctx, target, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%v (HTTP %s)", err, resp.Status)
		}
		return fail("ws_dial", err)
	}
	wsConnectMs := msSince(wsStart)
	ws.SetReadLimit(maxMessageSize)
	ws.SetReadDeadline(deadline)
	ws.SetWriteDeadline(deadline)

	// The client opts into turbotunnel with the token, then names its session.
	clientID := turbotunnel.NewClientID()
	for _, msg := range [][]byte{turbotunnel.Token[:], clientID[:]} {
		if err := ws.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			ws.Close()
			return fail("ws_write", err)
		}
	}
	pconn := newWSPacketConn(ws)
	defer pconn.Close()

	kconn, err := kcp.NewConn2(serverAddr{}, nil, 0, 0, pconn)
	if err != nil {
		return fail("kcp", err)
	}
	defer kconn.Close()
	kconn.SetStreamMode(true)
	kconn.SetWindowSize(kcpWindow, kcpWindow)
	kconn.SetNoDelay(0, 0, 0, 1) // nc=1: no congestion window
	kconn.SetMtu(kcpMTU)

	cfg := smux.DefaultConfig()
	cfg.Version = 2
	cfg.KeepAliveTimeout = smuxKeepAlive
	cfg.MaxStreamBuffer = smuxMaxStreamBuf
	sess, err := smux.Client(kconn, cfg)
	if err != nil {
		return fail("smux", err)
	}
	defer sess.Close()
	stream, err := sess.OpenStream()
	if err != nil {
		return fail("stream", err)
	}
	defer stream.Close()
	stream.SetDeadline(deadline)

	// tor's link certificates are self-signed: nothing to verify against.
	tlsStart := time.Now()
	tc := tls.Client(stream, &tls.Config{InsecureSkipVerify: true})
	if err := tc.HandshakeContext(ctx); err != nil {
		r := fail("tls", err)
		if perr := pconn.readError(); perr != nil {
			r.Error += " (WebSocket: " + perr.Error() + ")"
		}
		return r
	}
	st := tc.ConnectionState()
	r := result{
		Handshake:   "ok",
		Version:     tlsVersionName(st.Version),
		Cipher:      tls.CipherSuiteName(st.CipherSuite),
		PeerCerts:   len(st.PeerCertificates),
		ClientID:    clientID.String(),
		WSConnectMs: wsConnectMs,
		TLSMs:       msSince(tlsStart),
	}
	if len(st.PeerCertificates) > 0 {
		r.PeerSubject = st.PeerCertificates[0].Subject.String()
	}
	if hold.untilFile != "" {
		holdStart := time.Now()
		versions, stage, err := holdThenVersions(tc, deadline)
		r.HeldMs = msSince(holdStart)
		r.TorVersions = versions
		if err != nil {
			r.Handshake, r.Stage, r.Error = "error", stage, err.Error()
			return r
		}
	}
	closed := closeGracefully(tc, stream, deadline)
	r.PeerClosed = &closed
	return r
}

// closeGracefully sends close_notify and waits (bounded) until the far end closes the
// stream: then everything we sent has arrived, and tearing the session down cannot lose
// it. (Closing the WebSocket's TCP socket with unread input makes the kernel send RST.)
func closeGracefully(tc *tls.Conn, stream *smux.Stream, deadline time.Time) bool {
	if err := tc.CloseWrite(); err != nil {
		return false
	}
	limit := time.Now().Add(closeWait)
	if limit.After(deadline) {
		limit = deadline
	}
	stream.SetReadDeadline(limit)
	var buf [4096]byte
	for {
		if _, err := tc.Read(buf[:]); err != nil {
			return err == io.EOF
		}
	}
}

// tls.VersionName only exists from Go 1.21.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS 1.0"
	case tls.VersionTLS11:
		return "TLS 1.1"
	case tls.VersionTLS12:
		return "TLS 1.2"
	case tls.VersionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// serverAddr names the one peer of the packet connection; kcp-go drops packets
// whose source differs from the first one's, so it must always be the same.
type serverAddr struct{}

func (serverAddr) Network() string { return "snowflake" }
func (serverAddr) String() string  { return "snowflake-server" }

// wsPacketConn is the net.PacketConn KCP runs on: each outgoing KCP packet is
// encapsulated (snowflake's common/encapsulation) and sent as one WebSocket
// message. Incoming messages are one byte stream of encapsulated packets whose
// boundaries need not match the messages', so they are decoded as a stream.
type wsPacketConn struct {
	ws        *websocket.Conn
	writeMu   sync.Mutex // gorilla allows one writer at a time
	incoming  chan []byte
	done      chan struct{} // closed when reading stopped or Close was called
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error // why reading stopped
}

func newWSPacketConn(ws *websocket.Conn) *wsPacketConn {
	c := &wsPacketConn{ws: ws, incoming: make(chan []byte, incomingQueue), done: make(chan struct{})}
	go c.readLoop()
	return c
}

func (c *wsPacketConn) readLoop() {
	r := bufio.NewReader(&messageStream{ws: c.ws})
	for {
		pkt, err := encapsulation.ReadData(r)
		if err != nil {
			c.stop(err)
			return
		}
		select {
		case c.incoming <- pkt:
		case <-c.done:
			return
		default:
			// KCP is behind: drop, as a full UDP socket would; KCP resends.
		}
	}
}

func (c *wsPacketConn) stop(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
	c.closeOnce.Do(func() { close(c.done) })
}

func (c *wsPacketConn) readError() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err == net.ErrClosed {
		return nil
	}
	return c.err
}

func (c *wsPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case pkt := <-c.incoming:
		return copy(p, pkt), serverAddr{}, nil
	case <-c.done:
		c.errMu.Lock()
		defer c.errMu.Unlock()
		return 0, nil, c.err
	}
}

func (c *wsPacketConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	var buf bytes.Buffer
	buf.Grow(len(p) + 3)
	if _, err := encapsulation.WriteData(&buf, p); err != nil {
		return 0, err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, buf.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a WebSocket close frame (bounded) and closes the TCP connection.
func (c *wsPacketConn) Close() error {
	c.stop(net.ErrClosed)
	c.writeMu.Lock()
	c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	return c.ws.Close()
}

func (c *wsPacketConn) LocalAddr() net.Addr { return serverAddr{} }

// Deadlines on the WebSocket itself are set once, to the end of the run; kcp-go
// sets none on its packet connection.
func (c *wsPacketConn) SetDeadline(time.Time) error      { return nil }
func (c *wsPacketConn) SetReadDeadline(time.Time) error  { return nil }
func (c *wsPacketConn) SetWriteDeadline(time.Time) error { return nil }

// messageStream reads the payloads of consecutive WebSocket messages as one stream.
type messageStream struct {
	ws  *websocket.Conn
	cur io.Reader
}

func (m *messageStream) Read(p []byte) (int, error) {
	for {
		if m.cur == nil {
			_, r, err := m.ws.NextReader()
			if err != nil {
				return 0, err
			}
			m.cur = r
		}
		n, err := m.cur.Read(p)
		if err == io.EOF {
			m.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}
