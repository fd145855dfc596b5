package main

// wsLink carries KCP packets over one WebSocket connection the way the Snowflake client does:
// the connection starts with turbotunnel.Token and the ClientID, then every packet is one
// encapsulation data chunk (optionally after encapsulation padding). Incoming messages are
// read as one byte stream, so the server may cut its messages anywhere too.

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/encapsulation"
	"github.com/gorilla/websocket"
)

// heldFlushDelay: with --fragment, bytes held back are sent after this long if no packet follows.
const heldFlushDelay = 2 * time.Millisecond

// fixedAddr is the address of either end of a tunnel: turbotunnel identifies the client by its
// ClientID, not by any network address.
type fixedAddr string

func (a fixedAddr) Network() string { return "sfpeer" }
func (a fixedAddr) String() string  { return string(a) }

// wireStats counts the WebSocket traffic of a whole client run (updated atomically).
type wireStats struct {
	msgsOut, bytesOut int64
	msgsIn, bytesIn   int64
	pktsOut, pktsIn   int64
}

// framing says how packets are put into WebSocket messages.
type framing struct {
	messageType int  // websocket.BinaryMessage or websocket.TextMessage
	pad         int  // bytes of encapsulation padding before each packet
	fragment    bool // cut the byte stream into messages at random places
}

// messageReader presents the data messages of a WebSocket as one stream of bytes.
type messageReader struct {
	ws    *websocket.Conn
	cur   io.Reader
	stats *wireStats
}

func (m *messageReader) Read(p []byte) (int, error) {
	for {
		if m.cur == nil {
			_, r, err := m.ws.NextReader()
			if err != nil {
				return 0, err
			}
			atomic.AddInt64(&m.stats.msgsIn, 1)
			m.cur = r
		}
		n, err := m.cur.Read(p)
		if err == io.EOF {
			m.cur = nil
			err = nil
		}
		if n > 0 || err != nil {
			atomic.AddInt64(&m.stats.bytesIn, int64(n))
			return n, err
		}
	}
}

type wsLink struct {
	ws    *websocket.Conn
	how   framing
	stats *wireStats
	in    *bufio.Reader

	mu     sync.Mutex // one writer at a time (gorilla's rule); guards the fields below
	enc    bytes.Buffer
	split  *splitter
	timer  *time.Timer
	closed bool

	closeOnce sync.Once
}

// newWSLink sends the session's preamble (token, ClientID) and returns the link.
func newWSLink(ws *websocket.Conn, how framing, stats *wireStats, preamble ...[]byte) (*wsLink, error) {
	l := &wsLink{ws: ws, how: how, stats: stats}
	l.in = bufio.NewReaderSize(&messageReader{ws: ws, stats: stats}, 64<<10)
	if how.fragment {
		l.split = newSplitter(time.Now().UnixNano())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if how.fragment {
		// The preamble joins the cut-up byte stream like any packet.
		return l, l.sendLocked(bytes.Join(preamble, nil))
	}
	for _, p := range preamble {
		if err := l.sendLocked(p); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *wsLink) message(p []byte) error {
	atomic.AddInt64(&l.stats.msgsOut, 1)
	atomic.AddInt64(&l.stats.bytesOut, int64(len(p)))
	return l.ws.WriteMessage(l.how.messageType, p)
}

// sendLocked sends b as one message, or through the splitter with --fragment.
func (l *wsLink) sendLocked(b []byte) error {
	if l.split == nil {
		return l.message(b)
	}
	for _, m := range l.split.feed(b) {
		if err := l.message(m); err != nil {
			return err
		}
	}
	if len(l.split.held) > 0 {
		if l.timer == nil {
			l.timer = time.AfterFunc(heldFlushDelay, l.flushHeld)
		} else {
			l.timer.Reset(heldFlushDelay)
		}
	}
	return nil
}

func (l *wsLink) flushHeld() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if rest := l.split.drain(); rest != nil {
		if l.message(rest) != nil {
			l.ws.Close() // the RedialPacketConn notices on its next read or write
		}
	}
}

// ReadFrom returns the next data chunk; encapsulation.ReadData skips padding.
func (l *wsLink) ReadFrom(p []byte) (int, net.Addr, error) {
	chunk, err := encapsulation.ReadData(l.in)
	if err != nil {
		return 0, nil, err
	}
	atomic.AddInt64(&l.stats.pktsIn, 1)
	return copy(p, chunk), fixedAddr("server"), nil
}

func (l *wsLink) WriteTo(p []byte, _ net.Addr) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, net.ErrClosed
	}
	l.enc.Reset()
	if l.how.pad > 0 {
		if _, err := encapsulation.WritePadding(&l.enc, l.how.pad); err != nil {
			return 0, err
		}
	}
	if _, err := encapsulation.WriteData(&l.enc, p); err != nil {
		return 0, err
	}
	atomic.AddInt64(&l.stats.pktsOut, 1)
	if err := l.sendLocked(l.enc.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close drops the connection without a Close frame, as a vanishing proxy does. The socket goes
// first so that a writer blocked on a full send buffer lets go of the lock.
func (l *wsLink) Close() error {
	l.closeOnce.Do(func() {
		l.ws.Close()
		l.mu.Lock()
		l.closed = true
		if l.timer != nil {
			l.timer.Stop()
		}
		l.mu.Unlock()
	})
	return nil
}

func (l *wsLink) LocalAddr() net.Addr                { return fixedAddr("client") }
func (l *wsLink) SetDeadline(t time.Time) error      { return nil }
func (l *wsLink) SetReadDeadline(t time.Time) error  { return nil }
func (l *wsLink) SetWriteDeadline(t time.Time) error { return nil }
